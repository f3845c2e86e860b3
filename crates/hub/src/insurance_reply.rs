//! How the hub reads what real insurance platforms write, where they differ from the national
//! text (review r21, a platform's replies replayed against the hub):
//!
//! - ids as JSON numbers longer than a `u64` (`"setl_id": 440300202612030321520006`): serde_json
//!   would keep them as an `f64` and write `4.4030020261203034e+23`, so that every 20-digit
//!   `psn_no` of a region reads the same. [`quote_long_integers`] turns such a number into the
//!   string of its digits before the reply is parsed.
//! - amounts as JSON floats with noise from a `double` (`677.400000000001`): [`amount`] takes a
//!   float within a millionth of a yuan of a whole fen as that fen; text is read exactly, as ever.
//! - `setlinfo` as an array of one record ([`setlinfo_record`]), and 5203 (结算信息查询) listing
//!   every settlement of a visit, cancelled ones included ([`settlement_in_force`]).
//! - 5201 (就诊信息查询) as a list of a person's visits, or one record, or a refusal saying it found
//!   none ([`registration_among`], [`finds_none`]): which of them a registration was; and an
//!   admission's record there, to read a cancellation (2404) or a discharge's undoing (2405) back
//!   ([`visit_record`], [`in_hospital`]).
//! - 5204 (费用明细查询) as a visit's fee lines under one node or another ([`fee_lines_listed`]), to
//!   read a withdrawal (2205) back ([`withdrawal_took_effect`]).

use crate::insurance_client::{text, InsuranceError};
use serde_json::{json, Value};
use std::borrow::Cow;
use wugan_domain::money::Fen;

/// Digits from which an integer literal is read as text: `u64` holds every 19-digit number, but a
/// 19-digit one above `i64::MAX` is as much an id as a 20-digit one, and text reads both exactly.
const LONG_INTEGER_DIGITS: usize = 19;

/// `body` with every integer literal of 19 digits or more (outside strings) written as a string of
/// the same digits; `body` itself when it has none (the usual case costs one scan).
pub fn quote_long_integers(body: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied) = (0, 0);
    while i < body.len() {
        match body[i] {
            b'"' => i = string_end(body, i),
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < body.len() && matches!(body[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
                let token = &body[start..i];
                let digits = token.strip_prefix(b"-").unwrap_or(token);
                if digits.len() >= LONG_INTEGER_DIGITS && digits.iter().all(u8::is_ascii_digit) {
                    let out = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 16));
                    out.extend_from_slice(&body[copied..start]);
                    out.push(b'"');
                    out.extend_from_slice(token);
                    out.push(b'"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(&body[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(body),
    }
}

/// The index just past the string that opens at `start` (its escapes skipped).
fn string_end(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    body.len()
}

/// Yuan in `v[field]` as fen: text or a number, `null`/absent as zero. A JSON float that is not a
/// whole fen but within a millionth of a yuan of one is that fen (a platform's `double`); any other
/// third decimal is refused, as in text.
pub fn amount(v: &Value, field: &str) -> Result<Fen, InsuranceError> {
    let raw = v.get(field).unwrap_or(&Value::Null);
    match Fen::from_json_yuan(raw) {
        Ok(fen) => Ok(fen.unwrap_or(Fen::ZERO)),
        Err(e) => float_noise_fen(raw).ok_or_else(|| InsuranceError::BadReply(format!("{field}: {e}"))),
    }
}

fn float_noise_fen(raw: &Value) -> Option<Fen> {
    let f = raw.as_number().filter(|n| !n.is_i64() && !n.is_u64())?.as_f64()?;
    let fen = (f * 100.0).round();
    // |f × 100 − fen| < 10⁻⁴ fen is a millionth of a yuan; i64's range as well.
    ((f * 100.0 - fen).abs() < 1e-4 && fen.abs() < 9.0e15).then_some(Fen(fen as i64))
}

/// A reply's `setlinfo` record: the object, or the one record of an array (a record that is not
/// cancelled when an array lists several); `None` when there is none.
pub fn setlinfo_record(output: &Value) -> Option<&Value> {
    match output.get("setlinfo")? {
        Value::Array(records) if records.len() == 1 => records.first(),
        Value::Array(records) => records.iter().find(|r| !reversed(r)).or(records.first()),
        record @ Value::Object(_) => Some(record),
        _ => None,
    }
}

/// A record that no longer stands: flagged as refunded/cancelled (`refd_setl_flag` 1, as text or
/// a number), invalid (`vali_flag` 0), or the reversal itself (negative total).
fn reversed(record: &Value) -> bool {
    let negative = amount(record, "medfee_sumamt").map(|f| f.is_negative()).unwrap_or(false);
    text(record, "refd_setl_flag") == "1" || text(record, "vali_flag") == "0" || negative
}

/// From a 5203 reply (one record, or a visit's every settlement), the settlement of the visit in
/// force: not reversed, and not one of `dead` (setl_ids this visit's earlier attempts hold as
/// cancelled, whatever the platform's flags say). `Ok(None)`: none stands, so 2207 never took
/// effect. Several in force is an answer the hub cannot act on.
pub fn settlement_in_force(output: &Value, dead: &[String]) -> Result<Option<Value>, InsuranceError> {
    let records: Vec<&Value> = match output.get("setlinfo") {
        Some(Value::Array(records)) => records.iter().collect(),
        Some(record @ Value::Object(_)) => vec![record],
        _ => Vec::new(),
    };
    let standing: Vec<&Value> = records.into_iter().filter(|r| !reversed(r) && !dead.contains(&text(r, "setl_id"))).collect();
    let record = match standing.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        several => {
            return Err(InsuranceError::BadReply(format!("5203 lists {} settlements in force for this visit", several.len())));
        }
    };
    let setl_id = text(record, "setl_id");
    // The fund lines of that settlement: those naming it, or all when none names one.
    let detail: Vec<&Value> = match output.get("setldetail") {
        Some(Value::Array(lines)) => lines.iter().collect(),
        Some(line @ Value::Object(_)) => vec![line],
        _ => Vec::new(),
    };
    let named = detail.iter().any(|d| !text(d, "setl_id").is_empty());
    let detail: Vec<&Value> = detail.into_iter().filter(|d| !named || text(d, "setl_id") == setl_id).collect();
    Ok(Some(json!({"setlinfo": record, "setldetail": detail})))
}

/// Whether a 5203 reply lists any settlement record at all (one, or a list of them).
pub fn lists_settlements(output: &Value) -> bool {
    match output.get("setlinfo") {
        Some(Value::Array(records)) => !records.is_empty(),
        Some(Value::Object(record)) => !record.is_empty(),
        _ => false,
    }
}

/// From a 5203 reply, whether the settlement `setl_id` still stands: listed and not reversed. A
/// settlement the reply does not list (a platform that lists only what is in force) stands no more.
pub fn settlement_stands(output: &Value, setl_id: &str) -> bool {
    let records: Vec<&Value> = match output.get("setlinfo") {
        Some(Value::Array(records)) => records.iter().collect(),
        Some(record @ Value::Object(_)) => vec![record],
        _ => Vec::new(),
    };
    records.into_iter().any(|r| text(r, "setl_id") == setl_id && !reversed(r))
}

/// A registration (2201) or admission (2401) the hub sent and was refused: whose, under which
/// number (门诊号 or 住院号), begun when (`begntime` as sent, national form).
pub struct Asked<'a> {
    pub psn_no: &'a str,
    pub number: &'a str,
    pub begntime: &'a str,
}

/// From a 5201 reply (`mdtrtinfo`: a list, or one record), the `mdtrt_id` of the visit `asked`
/// registered: the person's (when the record names one), under the same number, begun at the
/// same time (to the second; to the day when the record gives only a date; any time when it gives
/// none), not marked invalid (`vali_flag` 0). `Ok(None)`: none listed, so the refusal stands. A
/// record without a number is never taken: the hub does not guess a visit. Several different
/// visits that fit is an answer the hub cannot act on.
pub fn registration_among(output: &Value, asked: &Asked) -> Result<Option<String>, InsuranceError> {
    let records: Vec<&Value> = match output.get("mdtrtinfo") {
        Some(Value::Array(records)) => records.iter().collect(),
        Some(record @ Value::Object(_)) => vec![record],
        _ => Vec::new(),
    };
    let fits = |r: &&Value| {
        let (psn_no, begntime) = (text(r, "psn_no"), text(r, "begntime"));
        let begun_then = match crate::clock::national_datetime(&begntime) {
            Some(t) => t == asked.begntime,
            None if begntime.is_empty() => true,
            None => begntime.get(..10).is_some_and(|day| Some(day) == asked.begntime.get(..10)),
        };
        (psn_no.is_empty() || psn_no == asked.psn_no)
            && text(r, "ipt_otp_no").trim() == asked.number
            && begun_then
            && text(r, "vali_flag") != "0"
            && !text(r, "mdtrt_id").trim().is_empty()
    };
    let mut ids: Vec<String> = records.into_iter().filter(fits).map(|r| text(r, "mdtrt_id").trim().to_string()).collect();
    ids.dedup();
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => Err(InsuranceError::BadReply(format!("5201 lists {} visits under this number begun at that time", several.len()))),
    }
}

/// Whether a refusal of a query (5201, 5203, 5204) says it found nothing (some platforms answer an
/// empty query with infcode -1 and "未查询到就诊信息" or "该就诊无结算记录" rather than an empty
/// list): read as an empty list. Any other refusal of a query says nothing of what it asked.
pub fn finds_none(err_msg: &str) -> bool {
    [
        "未查询到",
        "未查到",
        "未找到",
        "查询结果为空",
        "无就诊",
        "无结算",
        "无数据",
        "无记录",
        "没有",
        "不存在",
        "not found",
        "no visit",
        "no settlement",
    ]
    .iter()
    .any(|words| err_msg.contains(words))
}

/// Whether a refusal of 5201 says the platform does not offer the transaction (不支持的交易, 未开通):
/// it will never tell, so the registration's refusal is believed as it was before 5201 was asked.
pub fn not_offered(err_msg: &str) -> bool {
    ["不支持", "未开通", "无此交易", "交易不存在", "unsupported", "not supported"].iter().any(|words| err_msg.contains(words))
}

/// From a 5201 reply (`mdtrtinfo`: a list, or one record), the record of the visit `mdtrt_id`, not
/// marked invalid (`vali_flag` 0); `None` when the reply does not list it.
pub fn visit_record<'a>(output: &'a Value, mdtrt_id: &str) -> Option<&'a Value> {
    let records: Vec<&Value> = match output.get("mdtrtinfo") {
        Some(Value::Array(records)) => records.iter().collect(),
        Some(record @ Value::Object(_)) => vec![record],
        _ => Vec::new(),
    };
    records.into_iter().find(|r| text(r, "mdtrt_id").trim() == mdtrt_id && text(r, "vali_flag") != "0")
}

/// Whether an admission's 5201 record says the patient is in hospital (a discharge undone):
/// `inhosp_stas` 1 in hospital, 0 discharged; without it, no discharge `endtime`. Another status is
/// an answer the hub cannot read.
pub fn in_hospital(record: &Value) -> Result<bool, InsuranceError> {
    match text(record, "inhosp_stas").trim() {
        "1" => Ok(true),
        "0" => Ok(false),
        "" => Ok(text(record, "endtime").trim().is_empty()),
        other => Err(InsuranceError::BadReply(format!("5201 gives the admission an unknown 在院状态 inhosp_stas {other}"))),
    }
}

/// From a 5204 reply (费用明细查询), the `feedetl_sn` of every fee line the center lists live (not
/// `vali_flag` 0). The lines come under `feedetail` (the reference center's node), `data`, `result`
/// or `list`, or as the whole output, each a list or one record; a null output or node lists none.
/// A reply of another shape, or a record without its `feedetl_sn`, is unreadable: "no lines" is
/// never read from a shape the hub does not know.
pub fn fee_lines_listed(output: &Value) -> Result<Vec<String>, InsuranceError> {
    let unreadable = |why: &str| InsuranceError::BadReply(format!("5204 {why}"));
    let node = match output {
        Value::Array(_) | Value::Null => output,
        _ => ["feedetail", "data", "result", "list"]
            .iter()
            .find_map(|name| output.get(*name))
            .ok_or_else(|| unreadable("lists no fee lines under a node the hub knows (feedetail, data, result, list)"))?,
    };
    let records: Vec<&Value> = match node {
        Value::Array(records) => records.iter().collect(),
        record @ Value::Object(_) => vec![record],
        Value::Null => Vec::new(),
        _ => return Err(unreadable("fee lines that are neither a list nor a record")),
    };
    let mut live = Vec::with_capacity(records.len());
    for r in records.into_iter().filter(|r| text(r, "vali_flag") != "0") {
        match text(r, "feedetl_sn").trim() {
            "" => return Err(unreadable("lists a fee line without its feedetl_sn")),
            sn => live.push(sn.to_string()),
        }
    }
    Ok(live)
}

/// Whether a withdrawal of `lines` (2205) took effect, by the lines the center lists live: `Ok(true)`
/// when none of them is listed, `Ok(false)` when every one is (the refusal is the answer). Some
/// gone and some not is no withdrawal the hub sent: an answer it cannot act on.
pub fn withdrawal_took_effect(listed: &[String], lines: &[String]) -> Result<bool, InsuranceError> {
    let still = lines.iter().filter(|sn| listed.contains(sn)).count();
    match still {
        0 => Ok(true),
        n if n == lines.len() => Ok(false),
        n => Err(InsuranceError::BadReply(format!("5204 still lists {n} of the {} fee lines withdrawn", lines.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_is_the_persons_visit_under_the_number_begun_when_it_was_sent() {
        let asked = Asked { psn_no: "P1", number: "MZ1", begntime: "2026-12-03 09:00:00" };
        let found = |records: Value| registration_among(&json!({"mdtrtinfo": records}), &asked).map_err(|_| "several");
        let visit =
            |id: &str, number: &str, begntime: &str| json!({"mdtrt_id": id, "psn_no": "P1", "ipt_otp_no": number, "begntime": begntime});
        for (records, expect) in [
            (json!([visit("M1", "MZ1", "2026-12-03 09:00:00")]), Ok(Some("M1"))),
            (visit("M1", "MZ1", "2026-12-03T09:00:00+08:00"), Ok(Some("M1"))),
            (json!([visit("M0", "MZ0", "2026-12-03 09:00:00"), visit("M1", " MZ1 ", "2026-12-03 09:00:00")]), Ok(Some("M1"))),
            (json!([{"mdtrt_id": 440300202612030001u64, "ipt_otp_no": "MZ1", "begntime": "2026-12-03"}]), Ok(Some("440300202612030001"))),
            (json!([{"mdtrt_id": "M1", "ipt_otp_no": "MZ1"}]), Ok(Some("M1"))),
            (json!([visit("M1", "MZ1", "2026-12-02 09:00:00")]), Ok(None)),
            (json!([visit("M1", "MZ1", "2026-12-03 09:00:01")]), Ok(None)),
            (json!([{"mdtrt_id": "M1", "psn_no": "P2", "ipt_otp_no": "MZ1", "begntime": "2026-12-03 09:00:00"}]), Ok(None)),
            (json!([{"mdtrt_id": "M1", "psn_no": "P1", "begntime": "2026-12-03 09:00:00"}]), Ok(None)),
            (json!([{"mdtrt_id": "M1", "ipt_otp_no": "MZ1", "vali_flag": "0"}]), Ok(None)),
            (json!([]), Ok(None)),
            (Value::Null, Ok(None)),
            (json!([visit("M1", "MZ1", "2026-12-03 09:00:00"), visit("M1", "MZ1", "2026-12-03 09:00:00")]), Ok(Some("M1"))),
            (json!([visit("M1", "MZ1", "2026-12-03"), visit("M2", "MZ1", "2026-12-03 09:00:00")]), Err("several")),
        ] {
            assert_eq!(found(records.clone()), expect.map(|id| id.map(str::to_string)), "{records}");
        }
        assert!(finds_none("未查询到就诊信息") && finds_none("该人员无就诊记录"));
        assert!(!finds_none("系统繁忙，请稍后重试[服务调用超时]"));
        assert!(not_offered("不支持的交易编号 5201 / unsupported transaction (infno) 5201") && !not_offered("系统繁忙"));
    }

    #[test]
    fn an_admission_reads_back_as_listed_in_hospital_or_discharged() {
        let output = json!({"mdtrtinfo": [
            {"mdtrt_id": "M0", "inhosp_stas": "1"},
            {"mdtrt_id": 440300202612030001u64, "inhosp_stas": 0, "endtime": "2026-12-03 10:00:00"},
            {"mdtrt_id": "M2", "vali_flag": "0", "inhosp_stas": "1"},
        ]});
        assert!(visit_record(&output, "M0").is_some() && visit_record(&output, "440300202612030001").is_some());
        assert!(visit_record(&output, "M2").is_none(), "an invalid record is no admission");
        assert!(visit_record(&output, "M9").is_none() && visit_record(&json!({"mdtrtinfo": []}), "M0").is_none());
        assert!(visit_record(&json!({"mdtrtinfo": {"mdtrt_id": "M0"}}), "M0").is_some(), "one record as an object");
        for (record, expect) in [
            (json!({"inhosp_stas": "1", "endtime": "2026-12-03 10:00:00"}), Ok(true)),
            (json!({"inhosp_stas": 1}), Ok(true)),
            (json!({"inhosp_stas": "0"}), Ok(false)),
            (json!({"endtime": ""}), Ok(true)),
            (json!({"endtime": null}), Ok(true)),
            (json!({"endtime": "2026-12-03 10:00:00"}), Ok(false)),
            (json!({"inhosp_stas": "9"}), Err(())),
        ] {
            assert_eq!(in_hospital(&record).map_err(|_| ()), expect, "{record}");
        }
    }

    #[test]
    fn a_withdrawal_reads_back_as_its_lines_gone_or_all_still_listed() {
        let sns = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let line = |sn: &str| json!({"feedetl_sn": sn, "setl_id": ""});
        for (output, expect) in [
            (json!({"feedetail": [line("1"), line("2")]}), Ok(sns(&["1", "2"]))),
            (json!({"feedetail": line("1")}), Ok(sns(&["1"]))),
            (json!({"data": [line("1"), {"feedetl_sn": 2, "vali_flag": "0"}]}), Ok(sns(&["1"]))),
            (json!({"result": [{"feedetl_sn": " 7 "}]}), Ok(sns(&["7"]))),
            (json!([line("3")]), Ok(sns(&["3"]))),
            (json!({"feedetail": []}), Ok(sns(&[]))),
            (json!({"feedetail": null}), Ok(sns(&[]))),
            (Value::Null, Ok(sns(&[]))),
            (json!({}), Err(())),
            (json!({"rows": [line("1")]}), Err(())),
            (json!({"feedetail": [{"setl_id": ""}]}), Err(())),
            (json!({"feedetail": "1,2"}), Err(())),
        ] {
            assert_eq!(fee_lines_listed(&output).map_err(|_| ()), expect, "{output}");
        }
        let withdrawn = sns(&["1", "2"]);
        assert_eq!(withdrawal_took_effect(&sns(&["3"]), &withdrawn).ok(), Some(true), "gone: it took effect");
        assert_eq!(withdrawal_took_effect(&sns(&["2", "1", "3"]), &withdrawn).ok(), Some(false), "all there: refused");
        assert!(withdrawal_took_effect(&sns(&["1"]), &withdrawn).is_err(), "half gone: no answer");
    }

    fn parsed(body: &str) -> Value {
        serde_json::from_slice(&quote_long_integers(body.as_bytes())).expect("json")
    }

    #[test]
    fn a_long_numeric_id_keeps_every_digit() {
        let v = parsed(r#"{"setl_id": 440300202612030321520006, "psn_no":44030000000000000003,"n":-12345678901234567890}"#);
        assert_eq!(v["setl_id"], "440300202612030321520006");
        assert_eq!(v["psn_no"], "44030000000000000003");
        assert_eq!(v["n"], "-12345678901234567890");
    }

    #[test]
    fn amounts_short_numbers_and_strings_are_left_as_they_are() {
        let body = r#"{"a": 677.4, "b": 1234567890123456.78, "c": 12, "s": "440300202612030321520006 \" 4403002026120303215", "e": 1e300}"#;
        assert!(matches!(quote_long_integers(body.as_bytes()), Cow::Borrowed(_)));
        assert_eq!(parsed(body)["c"], 12);
    }

    #[test]
    fn a_float_from_a_double_reads_as_its_fen_and_a_real_third_decimal_is_refused() {
        let v = json!({"noise": 677.400000000001, "under": 0.07999999999999999, "real": 677.405, "text": "677.401", "whole": 5});
        assert_eq!(amount(&v, "noise").unwrap(), Fen(67740));
        assert_eq!(amount(&v, "under").unwrap(), Fen(8));
        assert_eq!(amount(&v, "whole").unwrap(), Fen(500));
        assert_eq!(amount(&v, "absent").unwrap(), Fen::ZERO);
        assert!(amount(&v, "real").is_err());
        assert!(amount(&v, "text").is_err(), "text is read exactly");
    }

    #[test]
    fn the_settlement_in_force_is_the_one_neither_flagged_nor_known_cancelled() {
        let output = json!({
            "setlinfo": [
                {"setl_id": "S1", "medfee_sumamt": 1405, "refd_setl_flag": 1},
                {"setl_id": "S1R", "medfee_sumamt": -1405},
                {"setl_id": "S2", "medfee_sumamt": "1405.00", "refd_setl_flag": "0"},
                {"setl_id": "S3", "medfee_sumamt": "1405.00"},
            ],
            "setldetail": [{"setl_id": "S1", "fund_payamt": 1}, {"setl_id": "S3", "fund_payamt": 2}],
        });
        let found = settlement_in_force(&output, &["S2".to_string()]).unwrap().expect("one stands");
        assert_eq!(found["setlinfo"]["setl_id"], "S3");
        assert_eq!(found["setldetail"], json!([{"setl_id": "S3", "fund_payamt": 2}]));
        assert!(settlement_in_force(&output, &[]).is_err(), "two in force: the hub cannot tell which");
        assert_eq!(settlement_in_force(&output, &["S2".into(), "S3".into()]).unwrap(), None);
        let one = json!({"setlinfo": {"setl_id": "S1", "refd_setl_flag": 1}});
        assert_eq!(settlement_in_force(&one, &[]).unwrap(), None, "a numeric flag cancels too");
        assert_eq!(settlement_in_force(&json!({"setlinfo": null}), &[]).unwrap(), None);
    }

    #[test]
    fn an_array_of_one_record_is_that_record() {
        let output = json!({"setlinfo": [{"setl_id": "S1"}]});
        assert_eq!(setlinfo_record(&output).unwrap()["setl_id"], "S1");
        let two = json!({"setlinfo": [{"setl_id": "S0", "refd_setl_flag": "1"}, {"setl_id": "S1"}]});
        assert_eq!(setlinfo_record(&two).unwrap()["setl_id"], "S1");
    }
}
