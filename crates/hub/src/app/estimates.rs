//! 预结算复用: an estimate (2206) the HIS or the patient asked for stands in for the doctor's
//! click's own 2206 while nothing it was computed from has changed: the same 2206 input (visit,
//! insurance, total, batch, whether the personal account pays) and the same open fee lines, asked
//! within [`REUSE_WITHIN_S`]. A 2206 changes nothing at the center, and the click takes only two
//! things from it: the split's check against the fees, and the four amounts 2207 must carry back
//! (`fulamt_ownpay_amt` …), which depend on the lines and the policy, not on the account's balance.
//! The money moves on 2207's own split. A click resumed after an unknown outcome sends its own.

use crate::model::FeeLineRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use wugan_domain::settlement::InsuranceSplit;

/// How long an estimate stands in for the click's 2206: a consultation's length, well inside the
/// day (a policy year or a tariff never turns within it unnoticed: the digest holds the date too).
pub const REUSE_WITHIN_S: i64 = 30 * 60;

/// An estimate as the visit keeps it (`visits.last_estimate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptEstimate {
    pub digest: String,
    pub split: InsuranceSplit,
    /// The 2206 reply's amounts 2207 carries back, as the platform sent them.
    pub echo: Option<Value>,
    pub at_unix_s: i64,
}

/// What an estimate was computed from: the 2206 input without the certificate number (personal
/// data, and no part of the answer) and every open fee line (serial number, batch, amount), with
/// the China-time day it was asked on.
pub fn digest(input: &Value, lines: &[FeeLineRow], day: &str) -> String {
    let mut sent = input.clone();
    if let Some(data) = sent.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("mdtrt_cert_no");
    }
    let mut hasher = Sha256::new();
    hasher.update(day.as_bytes());
    hasher.update(sent.to_string().as_bytes());
    for l in lines {
        hasher.update(format!("\n{}|{}|{}", l.feedetl_sn, l.chrg_bchno, l.amount.0).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The kept estimate, if it stands for a click whose 2206 would be computed from `digest` at
/// `now_unix_s`.
pub fn reusable(kept: Option<&str>, digest: &str, now_unix_s: i64) -> Option<KeptEstimate> {
    let kept: KeptEstimate = serde_json::from_str(kept?).ok()?;
    let age = now_unix_s - kept.at_unix_s;
    (kept.digest == digest && (0..=REUSE_WITHIN_S).contains(&age)).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wugan_domain::money::Fen;

    fn line(sn: &str, fen: i64) -> FeeLineRow {
        FeeLineRow {
            feedetl_sn: sn.into(),
            chrg_bchno: "B1".into(),
            amount: Fen(fen),
            upload_msgid: "m".into(),
            uploaded: true,
            detail_json: "{}".into(),
            result_json: None,
        }
    }

    #[test]
    fn an_estimate_stands_for_the_click_only_on_the_same_fees_the_same_day_and_within_its_time() {
        let input = |fee: &str, cert: &str| json!({"data": {"mdtrt_id": "M1", "medfee_sumamt": fee, "mdtrt_cert_no": cert}});
        let lines = [line("1", 2500), line("2", 120_000)];
        let d = digest(&input("1225.00", "EC1"), &lines, "2026-12-02");
        let kept = KeptEstimate { digest: d.clone(), split: InsuranceSplit::default(), echo: None, at_unix_s: 1_000 };
        let text = serde_json::to_string(&kept).unwrap();
        assert_eq!(reusable(Some(&text), &d, 1_000 + REUSE_WITHIN_S), Some(kept.clone()));
        assert_eq!(reusable(Some(&text), &d, 1_001 + REUSE_WITHIN_S), None, "too old");
        assert_eq!(reusable(Some(&text), &d, 999), None, "from the future: a clock set back");
        assert_eq!(reusable(None, &d, 1_000), None);
        assert_eq!(reusable(Some("{not json"), &d, 1_000), None);
        // The certificate number is no part of it (another token for the same person and visit).
        assert_eq!(digest(&input("1225.00", "EC2"), &lines, "2026-12-02"), d);
        // Anything else that changed is another estimate.
        let other = [
            digest(&input("1225.01", "EC1"), &lines, "2026-12-02"),
            digest(&input("1225.00", "EC1"), &lines[..1], "2026-12-02"),
            digest(&input("1225.00", "EC1"), &[line("1", 2500), line("3", 120_000)], "2026-12-02"),
            digest(&input("1225.00", "EC1"), &lines, "2026-12-03"),
        ];
        assert!(other.iter().all(|o| reusable(Some(&text), o, 1_000).is_none()));
    }
}
