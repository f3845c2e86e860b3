//! Dispatch by infno: the one place that knows which module handles which transaction (交易).
//! The handlers never come back here; see the layering in `lib.rs`.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::state::State;
use crate::{identify, inpatient, outpatient, repayment, settle};
use serde_json::Value;

/// Runs the transaction the envelope names; an unknown infno is refused.
pub fn dispatch(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    match ctx.env.infno.as_str() {
        "9001" => identify::sign_in(state, ctx),
        "1101" => identify::person_info(state, ctx),
        "2201" => outpatient::register(state, ctx),
        "2202" => outpatient::cancel_registration(state, ctx),
        "2204" => outpatient::upload_fees(state, ctx),
        "2205" => outpatient::cancel_fees(state, ctx),
        "2206" => settle::pre_settle(state, ctx, Kind::Outpatient),
        "2207" => settle::settle(state, ctx, Kind::Outpatient),
        "2208" => settle::cancel(state, ctx, Kind::Outpatient),
        "2401" => inpatient::admit(state, ctx),
        "2402" => inpatient::discharge(state, ctx),
        "2404" => inpatient::cancel_admission(state, ctx),
        "2405" => inpatient::cancel_discharge(state, ctx),
        "2301" => inpatient::upload_fees(state, ctx),
        "2302" => inpatient::cancel_fees(state, ctx),
        "2303" => settle::pre_settle(state, ctx, Kind::Inpatient),
        "2304" => settle::settle(state, ctx, Kind::Inpatient),
        "2305" => settle::cancel(state, ctx, Kind::Inpatient),
        "2203" | "2203A" => outpatient::upload_visit_info(state, ctx),
        "5203" => settle::query(state, ctx),
        "9901" => repayment::repay(state, ctx),
        "9902" => repayment::cancel(state, ctx),
        other => Err(TxError::new(&format!("不支持的交易编号 {other}"), format!("unsupported transaction (infno) {other}"))),
    }
}
