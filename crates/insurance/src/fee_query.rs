//! 5204 费用明细查询: the fee lines (费用明细) a visit or admission holds at the center, so that a
//! caller who was refused a withdrawal (2205 / 2302) reads whether the lines are gone. A read: it
//! changes nothing and is not journaled.
//!
//! Input `data` (docs/national-interface.md §2 "5204"): `psn_no` and `mdtrt_id` required, `setl_id`
//! narrowing the list to one settlement's lines. Output `feedetail`: a list in upload order, one
//! record per live line with the spec's fields the center keeps (the 2204 split of the line, its
//! `mdtrt_id`, `setl_id` ("" while unsettled) and `med_type`). Assumed [A]: the node's name, that
//! unsettled lines are listed (with an empty `setl_id`), and that a line withdrawn (2205 / 2302) or
//! returned by a cancelled settlement is not. Only the asking hospital's visits are read: another's
//! is "not found", as an unknown one.

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::input::{mismatch, opt_text, req_text};
use crate::state::{FeeRecord, FeeStatus, State, Visit};
use serde_json::{json, Value};

/// 5204: the visit's live fee lines, or one settlement's.
pub fn fee_lines(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    let data = ctx.env.data()?;
    let (psn_no, mdtrt_id) = (req_text(data, "psn_no")?, req_text(data, "mdtrt_id")?);
    let visit = (state.visits.get(&mdtrt_id))
        .filter(|v| v.fixmedins_code == ctx.env.fixmedins_code)
        .ok_or_else(|| TxError::new("未查询到就诊信息", format!("unknown mdtrt_id {mdtrt_id}")))?;
    if psn_no != visit.psn_no {
        return Err(mismatch("psn_no", &psn_no, &visit.psn_no));
    }
    let setl_id = opt_text(data, "setl_id");
    let lines = (visit.fees.iter())
        .filter_map(|f| Some((f, settled_by(f)?)))
        .filter(|(_, by)| setl_id.as_ref().is_none_or(|wanted| wanted == by))
        .map(|(f, by)| record(&mdtrt_id, visit, f, by))
        .collect::<Vec<_>>();
    Ok(json!({"feedetail": lines}))
}

/// The settlement that took a live line ("" while unsettled); `None` for a line that is gone.
fn settled_by(f: &FeeRecord) -> Option<&str> {
    match &f.status {
        FeeStatus::Unsettled => Some(""),
        FeeStatus::Settled(setl_id) => Some(setl_id),
        FeeStatus::Cancelled => None,
    }
}

/// One `feedetail` record: the line's split as 2204 / 2301 answered it, with the visit's fields.
fn record(mdtrt_id: &str, visit: &Visit, f: &FeeRecord, setl_id: &str) -> Value {
    let mut record = serde_json::to_value(&f.result).unwrap_or_else(|_| json!({}));
    if let Some(fields) = record.as_object_mut() {
        fields.insert("feedetl_sn".into(), json!(f.feedetl_sn));
        fields.insert("mdtrt_id".into(), json!(mdtrt_id));
        fields.insert("setl_id".into(), json!(setl_id));
        fields.insert("med_type".into(), json!(visit.med_type.clone().unwrap_or_else(|| "11".into())));
        fields.insert("init_feedetl_sn".into(), json!(f.init_feedetl_sn));
    }
    record
}
