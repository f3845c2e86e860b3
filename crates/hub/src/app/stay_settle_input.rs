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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::recovery::tests::an_app_without_partners;
    use wugan_domain::inpatient::Ward;

    #[tokio::test]
    async fn a_2304_sends_the_certificate_and_its_2303_amounts_and_one_pre_settled_before_them_goes_as_it_went() {
        let (app, dir) = an_app_without_partners("settle-input").await;
        let key = &app.config.data_key;
        let mut stay = StayRow {
            id: "ipt-1".into(),
            hospital_code: "H1".into(),
            ipt_no: "ZY1".into(),
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            mdtrt_cert_type: "01".into(),
            mdtrt_cert_no_enc: key.seal("EC1").expect("sealed"),
            med_type: "21".into(),
            agreement_id: "agr-1".into(),
            state: "discharged".into(),
            stage_json: String::new(),
            admit_msgid: "m2401".into(),
            discharge_msgid: "m2402".into(),
            presettle_msgid: "m2303".into(),
            settle_msgid: "m2304".into(),
            cancel_msgid: None,
            idem_key: None,
            created_at: app.now(),
            updated_at: app.now(),
            presettle_echo: None,
            admission_info: None,
            discharge_info: None,
        };
        let agreement = AgreementRow {
            id: "agr-1".into(),
            psn_no: "P1".into(),
            insutype: "310".into(),
            insuplc_admdvs: "440300".into(),
            name_enc: String::new(),
            certno_enc: String::new(),
            certno_index: String::new(),
            use_personal_account: true,
            payment_method: PaymentMethod::CreditLine,
            bank_code: "BANK01".into(),
            bank_agreement_id: "L1".into(),
            status: AgreementStatus::Active,
            suspended_reason: None,
            created_at: app.now(),
        };
        let stage = StayStage::Discharged { ward: Ward { mdtrt_id: "M1".into(), ..Ward::default() }, refusal: None };
        let input = |stay: &StayRow, settle: bool| app.stay_settle_input(stay, &stage, Fen(97_400), &agreement, settle).expect("input");

        let presettle = json!({"data": {"psn_no": "P1", "mdtrt_cert_type": "01", "mdtrt_cert_no": "EC1", "mdtrt_id": "M1",
            "medfee_sumamt": "974.00", "psn_setlway": "01", "mid_setl_flag": "0", "acct_used_flag": "1", "insutype": "310"}});
        assert_eq!(input(&stay, false), presettle);
        // Kept from the 2303 reply, as the platform sent them.
        let reply = json!({"setlinfo": {"medfee_sumamt": "974.00", "fulamt_ownpay_amt": "150.00", "overlmt_selfpay": 0,
            "preselfpay_amt": "0.00", "inscp_scp_amt": "824.00", "psn_cash_pay": "383.40"}});
        stay.presettle_echo = Some(kept_echo(&reply));
        let mut settle = presettle.clone();
        for (field, value) in [("fulamt_ownpay_amt", json!("150.00")), ("overlmt_selfpay", json!(0)), ("preselfpay_amt", json!("0.00"))] {
            settle["data"][field] = value;
        }
        settle["data"]["inscp_scp_amt"] = json!("824.00");
        assert_eq!(input(&stay, true), settle);
        // A reply without them: the 2303 input again.
        stay.presettle_echo = Some(kept_echo(&json!({"setlinfo": {"medfee_sumamt": "974.00"}})));
        assert_eq!((stay.presettle_echo.as_deref(), input(&stay, true)), (Some("{}"), presettle.clone()));
        // Pre-settled before migration 0032: the 2304 goes as it went then (it may be resent).
        stay.presettle_echo = None;
        let mut before = presettle;
        for field in ["mdtrt_cert_type", "mdtrt_cert_no"] {
            before["data"].as_object_mut().expect("data").remove(field);
        }
        assert_eq!(input(&stay, true), before);
        let _ = std::fs::remove_dir_all(dir);
    }
}
