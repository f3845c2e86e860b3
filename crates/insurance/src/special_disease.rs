//! 门诊慢特病备案 — a person's registration for special-disease outpatient benefits (门特/门诊大病):
//! 2503 registers (人员慢特病备案), 2504 revokes (人员慢特病备案撤销), 5301 lists (人员慢特病备案查询),
//! as the national interface numbers them. An approved registration in force is what lets a
//! med_type 14 visit settle (`settle` checks `OnlineRecords::special_disease_on`).
//!
//! Sandbox conventions (not the national interface): the decision is made at once by a rule —
//! approved when the code is in the policy's `special_diseases`, else declined with the reason —
//! and the reply carries it (`dcla_stas`, `memo`); 9905 is the operator's manual review (sent by
//! `/sandbox/special-diseases/{sn}/decision`, never accepted from a hospital's gateway key).

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{check_same, opt_text, req_text};
use crate::lookup::{insured, not_found};
use crate::online::{OpspRegistration, OpspStatus};
use crate::state::State;
use serde_json::{json, Value};
use wugan_policy::Date;

/// The infno of the operator's manual decision (sandbox only).
pub const OPERATOR_DECISION_INFNO: &str = "9905";

/// 2503: records the registration and decides it by the sandbox's rule.
pub fn register(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = req_text(data, "psn_no")?;
    let account = insured(state, &psn_no)?;
    check_same(data, "insutype", &account.person.insutype)?;
    let code = req_text(data, "opsp_dise_code")?;
    let begndate = date(data, "begndate")?;
    let fixmedins_code = opt_text(data, "fixmedins_code").unwrap_or_else(|| ctx.env.fixmedins_code.clone());
    let standing =
        state.online.registrations.iter().find(|r| r.psn_no == psn_no && r.opsp_dise_code == code && r.status == OpspStatus::Approved);
    if let Some(r) = standing {
        return Err(TxError::new(
            "该病种已备案",
            format!("{psn_no} already holds the approved registration {} for {code}", r.trt_dcla_detl_sn),
        ));
    }
    let (name, status) = match ctx.policy.special_diseases.get(&code) {
        Some(name) => (name.clone(), OpspStatus::Approved),
        None => {
            let name = opt_text(data, "opsp_dise_name").unwrap_or_default();
            (
                name,
                OpspStatus::Declined(format!(
                    "病种 {code} 不在本统筹区门诊慢特病病种目录 / {code} is not on the region's special-disease list"
                )),
            )
        }
    };
    let sn = format!("{}{}{:010}", ctx.admdvs, ctx.now.compact(), state.next_seq());
    let registration = OpspRegistration {
        trt_dcla_detl_sn: sn,
        psn_no,
        opsp_dise_code: code,
        opsp_dise_name: name,
        fixmedins_code,
        begndate,
        status,
        decided_by: "rule",
    };
    let reply = json!({"data": wire(&registration)});
    state.online.registrations.push(registration);
    Ok(reply)
}

/// 2504: ends an approved registration; later med_type 14 visits no longer settle.
pub fn revoke(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let sn = req_text(data, "trt_dcla_detl_sn")?;
    let registration = state.online.registration_mut(&sn).ok_or_else(|| unknown(&sn))?;
    check_same(data, "psn_no", &registration.psn_no)?;
    if registration.status != OpspStatus::Approved {
        return Err(TxError::new("备案不在有效状态，不能撤销", format!("registration {sn} is {}", registration.status.wire())));
    }
    registration.status = OpspStatus::Revoked;
    Ok(json!({"data": wire(registration)}))
}

/// 5301: a person's registrations, oldest first.
pub fn query(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = req_text(data, "psn_no")?;
    state.accounts.get(&psn_no).ok_or_else(not_found)?;
    let list: Vec<Value> = state.online.registrations.iter().filter(|r| r.psn_no == psn_no).map(wire).collect();
    Ok(json!({"feedetail": list}))
}

/// 9905 (sandbox): the operator approves or declines a registration after review.
pub fn decide(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let sn = req_text(data, "trt_dcla_detl_sn")?;
    let approve = match req_text(data, "decision")?.as_str() {
        "approve" => true,
        "decline" => false,
        other => return Err(TxError::new("decision 取值错误", format!("decision '{other}' is not approve or decline"))),
    };
    let reason = opt_text(data, "reason");
    let registration = state.online.registration_mut(&sn).ok_or_else(|| unknown(&sn))?;
    if registration.status == OpspStatus::Revoked {
        return Err(TxError::new("备案已撤销", format!("registration {sn} is revoked")));
    }
    registration.status = match (approve, reason) {
        (true, _) => OpspStatus::Approved,
        (false, Some(reason)) => OpspStatus::Declined(reason),
        (false, None) => return Err(TxError::missing("reason")),
    };
    registration.decided_by = "operator";
    Ok(json!({"data": wire(registration)}))
}

fn wire(r: &OpspRegistration) -> Value {
    json!({
        "trt_dcla_detl_sn": r.trt_dcla_detl_sn, "psn_no": r.psn_no, "opsp_dise_code": r.opsp_dise_code,
        "opsp_dise_name": r.opsp_dise_name, "fixmedins_code": r.fixmedins_code,
        "begndate": format!("{:04}-{:02}-{:02}", r.begndate.year, r.begndate.month, r.begndate.day),
        // A real platform's 5301 carries the registration's end; the sandbox's have none.
        "enddate": "",
        "dcla_stas": r.status.wire(), "memo": r.status.reason().unwrap_or(""), "decided_by": r.decided_by,
    })
}

fn date(data: &Value, key: &str) -> Result<Date, TxError> {
    let text = req_text(data, key)?;
    Date::parse(&text).ok_or_else(|| TxError::new(&format!("{key} 格式错误"), format!("{key} '{text}' is not yyyy-MM-dd")))
}

fn unknown(sn: &str) -> TxError {
    TxError::new("备案记录不存在", format!("no registration {sn}"))
}
