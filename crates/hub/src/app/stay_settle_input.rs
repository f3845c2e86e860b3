//! The input of a stay's 2303 (住院预结算) and 2304 (住院结算), final or interim (中途结算), as
//! the national interface marks it required: `psn_no`, `mdtrt_cert_type`, `mdtrt_cert_no`,
//! `medfee_sumamt` (the lines this settlement covers), `psn_setlway` 01, `mdtrt_id`,
//! `acct_used_flag`, `insutype`, `mid_setl_flag` (1 interim, 0 final). 2304 sends 2303's input
//! plus the four amounts of the 2303 reply (`fulamt_ownpay_amt`, `overlmt_selfpay`,
//! `preselfpay_amt`, `inscp_scp_amt`, `InsuranceClient::presettle_echo`), kept on the stay
//! between the calls (`StayRow::presettle_echo`, migration 0032) as the click keeps 2206's for 2207.

use super::settlement::with_presettle_echo;
use super::*;
use crate::store::StayRow;
use wugan_domain::inpatient::StayStage;

/// What a stay keeps of a 2303 reply for its 2304: the four amounts as the platform sent them,
/// `{}` when it sent none (never `None`, which means "pre-settled before migration 0032").
pub(super) fn kept_echo(output: &Value) -> String {
    InsuranceClient::presettle_echo(output).unwrap_or_else(|| json!({})).to_string()
}

impl App {
    /// 2303's input (`settle` false) or 2304's (`settle` true) for `charges`, the fee lines this
    /// settlement covers. A 2304 whose 2303 was answered before migration 0032 (no echo kept)
    /// goes in the shape it had then: it may be in doubt, resent under its msgid.
    pub(super) fn stay_settle_input(
        &self,
        s: &StayRow,
        stage: &StayStage,
        charges: Fen,
        agreement: &AgreementRow,
        settle: bool,
    ) -> Result<Value, AppError> {
        let mdtrt_id = stage.ward().map(|w| w.mdtrt_id.clone()).unwrap_or_default();
        let mid = if matches!(stage, StayStage::Interim(_)) { "1" } else { "0" };
        let mut input = json!({"data": {"psn_no": s.psn_no, "mdtrt_id": mdtrt_id, "medfee_sumamt": charges.to_yuan_string(),
            "psn_setlway": "01", "mid_setl_flag": mid, "acct_used_flag": if agreement.use_personal_account { "1" } else { "0" },
            "insutype": s.insutype}});
        if settle && s.presettle_echo.is_none() {
            return Ok(input);
        }
        if let Some(data) = input.get_mut("data").and_then(Value::as_object_mut) {
            data.insert("mdtrt_cert_type".into(), json!(s.mdtrt_cert_type));
            data.insert("mdtrt_cert_no".into(), json!(self.config.data_key.open(&s.mdtrt_cert_no_enc)?));
        }
        Ok(if settle { with_presettle_echo(input, s.presettle_echo.as_deref()) } else { input })
    }
}
