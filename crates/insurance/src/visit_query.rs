//! 5201 就诊信息查询: a person's visits (registrations 2201 and admissions 2401) at the asking
//! hospital that began within a time window. A read: it changes nothing and is not journaled.
//!
//! Input `data` (docs/national-interface.md §2 "5201"): `psn_no` and `begntime` required,
//! `endtime` (default: now), `med_type` and `mdtrt_id` narrowing the list. Output `mdtrtinfo`: a
//! list, oldest first, empty when nothing matches (a platform may answer "未查询到" with infcode
//! -1 instead: the hub reads both). Each record carries the spec's visit fields the center keeps;
//! the person's name and certificate, which the spec also lists, are left out (nobody here reads
//! them). Assumed [A]: only the asking hospital's visits are listed, cancelled ones (2202 / 2404)
//! are not, and the window selects by the visit's `begntime`.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{national_time, opt_text, req_text};
use crate::state::{State, Visit};
use serde_json::{json, Value};

/// 5201: the person's live visits at this hospital whose `begntime` falls in the window.
pub fn visits(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let psn_no = req_text(data, "psn_no")?;
    let from = window_end(data, "begntime")?.ok_or_else(|| TxError::missing("begntime"))?;
    let to = window_end(data, "endtime")?.unwrap_or_else(|| ctx.now.datetime());
    let (med_type, mdtrt_id) = (opt_text(data, "med_type"), opt_text(data, "mdtrt_id"));
    let mut found: Vec<(&String, &Visit)> = (state.visits.iter())
        .filter(|(id, v)| {
            v.psn_no == psn_no
                && v.fixmedins_code == ctx.env.fixmedins_code
                && !v.cancelled
                && (from.as_str()..=to.as_str()).contains(&v.begntime.as_str())
                && mdtrt_id.as_ref().is_none_or(|wanted| wanted == *id)
                && med_type.as_ref().is_none_or(|wanted| *wanted == med_type_of(v))
        })
        .collect();
    found.sort_by(|a, b| (&a.1.begntime, a.0).cmp(&(&b.1.begntime, b.0)));
    Ok(json!({"mdtrtinfo": found.into_iter().map(|(id, v)| record(state, id, v)).collect::<Vec<_>>()}))
}

/// A bound of the window in national form; a bound that is not a time is refused.
fn window_end(data: &Value, field: &str) -> Result<Option<String>, TxError> {
    match opt_text(data, field) {
        None => Ok(None),
        Some(t) => national_time(&t)
            .map(Some)
            .ok_or_else(|| TxError::new(&format!("{field} 格式错误"), format!("{field} '{t}' is not yyyy-MM-dd HH:mm:ss"))),
    }
}

/// The visit's 医疗类别: 2203's or 2401's, else 11 (普通门诊), as settlement reads it.
fn med_type_of(v: &Visit) -> String {
    v.med_type.clone().unwrap_or_else(|| "11".into())
}

/// One `mdtrtinfo` record: the spec's fields the center keeps.
fn record(state: &State, mdtrt_id: &str, v: &Visit) -> Value {
    let person = state.accounts.get(&v.psn_no).map(|a| &a.person);
    let admission = v.admission.as_ref();
    // 在院状态: 1 in hospital, 0 discharged; an outpatient visit has none.
    let inhosp_stas = admission.map(|a| if a.discharged.is_some() { "0" } else { "1" });
    json!({
        "mdtrt_id": mdtrt_id, "psn_no": v.psn_no, "insutype": v.insutype,
        "psn_type": person.map(|p| p.psn_type.as_str()), "begntime": v.begntime,
        "endtime": admission.and_then(|a| a.discharged.as_deref()), "mdtrt_cert_type": v.mdtrt_cert_type,
        "med_type": med_type_of(v), "ipt_otp_no": v.ipt_otp_no, "adm_dept_codg": admission.and_then(|a| a.adm_dept_codg.as_deref()),
        "dscg_maindiag_code": admission.and_then(|a| a.dscg_maindiag_code.as_deref()), "inhosp_stas": inhosp_stas,
    })
}
