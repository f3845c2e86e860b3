//! Dispatch by infno: the one place that knows which module handles which transaction (交易), and
//! which transactions only read.
//! The handlers never come back here; see the layering in `lib.rs`.

use crate::ctx::{Ctx, Kind};
use crate::error::TxError;
use crate::state::State;
use crate::{
    clearing, fee_query, identify, inpatient, manual_claim, outpatient, reconcile, repayment, settle, special_disease, visit_query,
};
use serde_json::Value;

/// Runs the transaction the envelope names; an unknown infno is refused.
pub fn dispatch(state: &mut State, ctx: &Ctx) -> Result<Value, TxError> {
    match ctx.env.infno.as_str() {
        "9001" => identify::sign_in(state, ctx),
        "9002" => identify::sign_out(state, ctx),
        "1101" => identify::person_info(state, ctx),
        "2201" => outpatient::register(state, ctx),
        "2202" => outpatient::cancel_registration(state, ctx),
        "2204" => outpatient::upload_fees(state, ctx),
        "2205" => outpatient::cancel_fees(state, ctx),
        "2206" => settle::pre_settle(state, ctx, Kind::Outpatient),
        "2207" => settle::settle(state, ctx, Kind::Outpatient),
        "2208" => settle::cancel(state, ctx, Kind::Outpatient),
        "2601" => settle::reverse(state, ctx),
        "2401" => inpatient::admit(state, ctx),
        "2402" => inpatient::discharge(state, ctx),
        "2403" => inpatient::change_admission(state, ctx),
        "2404" => inpatient::cancel_admission(state, ctx),
        "2405" => inpatient::cancel_discharge(state, ctx),
        "2301" => inpatient::upload_fees(state, ctx),
        "2302" => inpatient::cancel_fees(state, ctx),
        "2303" => settle::pre_settle(state, ctx, Kind::Inpatient),
        "2304" => settle::settle(state, ctx, Kind::Inpatient),
        "2305" => settle::cancel(state, ctx, Kind::Inpatient),
        "2203" | "2203A" => outpatient::upload_visit_info(state, ctx),
        "5201" => visit_query::visits(state, ctx),
        "5203" => settle::query(state, ctx),
        "5204" => fee_query::fee_lines(state, ctx),
        "9901" => repayment::repay(state, ctx),
        "9902" => repayment::cancel(state, ctx),
        "3201" => reconcile::totals(state, ctx),
        "3202" => reconcile::detail(state, ctx),
        "9101" => reconcile::upload(state, ctx),
        "9102" => reconcile::download(state, ctx),
        "3203" => clearing::apply(state, ctx),
        "3204" => clearing::cancel(state, ctx),
        "2503" => special_disease::register(state, ctx),
        "2504" => special_disease::revoke(state, ctx),
        "5301" => special_disease::query(state, ctx),
        special_disease::OPERATOR_DECISION_INFNO => special_disease::decide(state, ctx),
        "9903" => manual_claim::submit(state, ctx),
        "9904" => manual_claim::query(state, ctx),
        other => Err(TxError::new(&format!("不支持的交易编号 {other}"), format!("unsupported transaction (infno) {other}"))),
    }
}

/// Whether a transaction may change the center's state. Only the reads do not: 1101 person, 2206 /
/// 2303 pre-settlement, 5201 visit query, 5203 settlement query, 5204 fee lines, 3201 totals, 9102 download (3202 and 9101 store files),
/// 5301 special-disease registrations, 9904 a manual claim. Everything else — refusals and unknown infnos
/// included, whose replies msgid replay must keep — is journaled by a persistent center.
pub fn changes_state(infno: &str) -> bool {
    !matches!(infno, "1101" | "2206" | "2303" | "5201" | "5203" | "5204" | "3201" | "9102" | "5301" | "9904")
}
