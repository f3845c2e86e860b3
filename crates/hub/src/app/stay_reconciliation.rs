//! Inpatient stays (住院) in the daily reconciliation and the monthly clearing
//! (docs/reconciliation.md §"Inpatient stays"). Each stay settlement (2304) the hub booked becomes
//! a reconciliation row like an outpatient settlement's, in the 清算类别 21 buckets, on the day
//! the hub booked it; a 2305 since makes it `cancelled` (refd_setl_flag 1), as the center lists
//! it. A stay whose 2304 answer the hub has not heard (`pre_settled`) sends its group to the
//! detail reconciliation; the differences the center's file shows are resolved by resuming the
//! stay (its calls go again under the msgids fixed for them, so the center replays its answer),
//! or parked with the evidence. `app/reconciliation.rs` calls in here where a row is a stay's.

use super::*;
use crate::store::{ReconSettlement, StayRow, StaySettlementRow};
use wugan_domain::inpatient::{StayPaid, StayStage};
use wugan_domain::reconcile::Record;
use wugan_domain::settlement::InsuranceSplit;

/// 清算类别 of every stay settlement: 21 (住院). The center's 2304 answers `clr_type` 21 for
/// every inpatient settlement (crates/insurance/src/settle.rs); the hub's stay stage does not
/// keep the answer's `setlinfo`, so this is the bucket it reconciles and clears under.
pub(super) const STAY_CLR_TYPE: &str = "21";

/// A stay's row state while its 2304 was sent and not answered: the group is detailed.
const STAY_IN_DOUBT: &str = "pre_settled";

/// Stays' ids (`ipt_…`), the rows reconciliation resolves through the stay's machine.
pub(super) fn is_stay(id: &str) -> bool {
    id.starts_with("ipt_")
}

/// The bank request a stay's ledger transfer (`stay:{stay}:{code}:{rest}`) books, `suffix` its
/// kind (`capture`, `refund`): `{stay}:{suffix}` for the first bedside settlement, scoped as the
/// transfer is for an interim settlement (`{stay}:interim:{n}:{suffix}`) or a settlement after a
/// cancelled one (`{stay}:resettle:{n}:{suffix}`): each is its own bank operation.
pub(super) fn stay_bank_key(transfer_id: &str, stay_id: &str, suffix: &str) -> String {
    let after_code = transfer_id.strip_prefix("stay:").and_then(|r| r.strip_prefix(stay_id)).and_then(|r| r.strip_prefix(':'));
    let rest = after_code.and_then(|r| r.split_once(':')).map_or("", |(_, rest)| rest);
    for scope in ["interim", "resettle"] {
        let n = rest.strip_prefix(scope).and_then(|r| r.strip_prefix(':')).and_then(|r| r.split(':').next());
        if let Some(n) = n.filter(|n| n.parse::<u32>().is_ok()) {
            // An interim capture the bank refused for an expired hold was charged instead, under
            // its own id (`inpatient_expiry`): the bank records it as `…:interim:{n}:charge`.
            let charged = scope == "interim" && rest.strip_prefix(&format!("interim:{n}:")).is_some_and(|r| r.starts_with("charge:"));
            return format!("{stay_id}:{scope}:{n}:{}", if charged { "charge" } else { suffix });
        }
    }
    format!("{stay_id}:{suffix}")
}

/// A 2207 or 2304 the hub sent and has no answer for: the center may have settled it.
pub(super) fn settlement_in_doubt(s: &ReconSettlement) -> bool {
    s.setl_id.is_none() && (s.state == "authorized" || s.state == STAY_IN_DOUBT)
}

/// The setlinfo a stay row carries for the clearing type (see [`STAY_CLR_TYPE`]).
fn stay_setlinfo() -> Option<String> {
    Some(json!({ "clr_type": STAY_CLR_TYPE }).to_string())
}

fn stage_of(s: &StayRow) -> Result<StayStage, AppError> {
    serde_json::from_str(&s.stage_json).map_err(|e| AppError::internal(format!("stay {} is in no stage the hub knows: {e}", s.id)))
}

/// A stay's settlement as the stage names it: its setl_id, split, and whether 2305 reversed it.
fn settled_facts(stage: &StayStage) -> Option<(&str, InsuranceSplit, bool)> {
    match stage {
        StayStage::InsuranceSettled { setl_id, split, .. } => Some((setl_id, *split, false)),
        StayStage::Settled(p) | StayStage::SettledUnpaid(p) => Some((&p.setl_id, p.split, false)),
        StayStage::CancellingSettlement { paid, insurance_reversed } => Some((&paid.setl_id, paid.split, *insurance_reversed)),
        _ => None,
    }
}

/// A reconciliation row for a stay, its shares from `split`.
fn stay_row(s: &StaySettlementRow, paid: &StayPaid, state: &str) -> ReconSettlement {
    let split = paid.split;
    ReconSettlement {
        id: s.stay_id.clone(),
        visit_id: s.stay_id.clone(),
        hospital_code: s.hospital_code.clone(),
        state: state.to_string(),
        setl_id: Some(s.setl_id.clone()),
        medfee_fen: split.medfee.0,
        fund_fen: Some(split.fund.0),
        acct_fen: Some(split.personal_account.0),
        cash_fen: Some(split.cash.0),
        hosp_part_fen: Some(split.hospital_part.0),
        captured_fen: paid.captured.0,
        unpaid_fen: paid.unpaid().0,
        collected_fen: 0,
        setlinfo_json: stay_setlinfo(),
        created_at: s.settled_at.clone(),
        mdtrt_id: paid.ward.mdtrt_id.clone(),
        psn_no: s.psn_no.clone(),
        insutype: s.insutype.clone(),
        insuplc_admdvs: s.insuplc_admdvs.clone(),
        setl_type: "ALL".into(),
    }
}

/// A booked stay settlement as reconciliation sees it: `cancelled` once 2305 was booked,
/// `cancelling` while it is on its way (the center may have reversed it already).
fn booked_row(s: &StaySettlementRow) -> Result<ReconSettlement, AppError> {
    let paid: StayPaid = serde_json::from_str(&s.paid_json)
        .map_err(|e| AppError::internal(format!("stay {} settlement {} is unreadable: {e}", s.stay_id, s.setl_id)))?;
    // An interim settlement (中途结算) stands beside the final one; 2305 is about the final one.
    let interim = paid.ward.interims.iter().any(|i| i.setl_id == paid.setl_id);
    let state = match (s.reversed, s.stay_state.as_str()) {
        (true, _) => "cancelled",
        // A stay has one standing final settlement at a time: the one its 2305 is about; in the
        // ward, the ward cancels its latest interim settlement (the center may have reversed it).
        (false, "cancelling_settlement") if !interim => "cancelling",
        (false, "cancelling_interim") if interim => "cancelling",
        (false, _) if paid.unpaid().0 > 0 => "settled_unpaid",
        (false, _) => "settled",
    };
    Ok(stay_row(s, &paid, state))
}

/// A stay between 2304 and its booking: in doubt (`pre_settled`, no setl_id yet) or answered
/// (`insurance_settled`, with the center's setl_id and split).
fn settling_row(s: &StayRow) -> Result<ReconSettlement, AppError> {
    let stage = stage_of(s)?;
    let Some(ward) = stage.ward() else { return Err(AppError::internal(format!("stay {} settles without a ward", s.id))) };
    let (setl_id, split) = match settled_facts(&stage) {
        Some((setl_id, split, _)) => (Some(setl_id.to_string()), split),
        None => (None, InsuranceSplit::default()),
    };
    let paid = StayPaid { ward: ward.clone(), setl_id: String::new(), split, captured: Fen(0), decline_code: None };
    let booked = StaySettlementRow {
        stay_id: s.id.clone(),
        hospital_code: s.hospital_code.clone(),
        psn_no: s.psn_no.clone(),
        insutype: s.insutype.clone(),
        insuplc_admdvs: s.insuplc_admdvs.clone(),
        stay_state: s.state.clone(),
        setl_id: String::new(),
        paid_json: String::new(),
        settled_at: s.updated_at.clone(),
        reversed: false,
    };
    Ok(ReconSettlement { setl_id, ..stay_row(&booked, &paid, &s.state) })
}

fn facts_evidence(setl_id: &str, split: &InsuranceSplit, reversed: bool) -> String {
    format!("{setl_id}: medfee {} fund {} acct {} reversed {reversed}", split.medfee, split.fund, split.personal_account)
}

impl App {
    /// The stays' settlements in `[from, to)` (stored times) as reconciliation rows: those booked,
    /// then those between 2304 and their booking.
    pub(super) async fn stay_recon_settlements(&self, from: &str, to: &str) -> Result<Vec<ReconSettlement>, AppError> {
        let mut rows = Vec::new();
        for s in self.store.stay_settlements(from, to).await? {
            rows.push(booked_row(&s)?);
        }
        for s in self.store.stays_settling(from, to).await? {
            rows.push(settling_row(&s)?);
        }
        self.with_stay_collections(&mut rows).await?;
        Ok(rows)
    }

    /// A stay's bill collected from the line later (`app/unpaid_bills.rs`, one collection for what
    /// the stay owes in all) read onto its rows, as `collected_fen` is for a visit's settlement:
    /// each standing row takes what it left unpaid, oldest first, until the collection is spent.
    async fn with_stay_collections(&self, rows: &mut [ReconSettlement]) -> Result<(), AppError> {
        let mut left: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for row in rows.iter_mut().filter(|r| r.state == "settled_unpaid" && r.unpaid_fen > 0) {
            if !left.contains_key(&row.id) {
                let collected = self.store.bill_collection(&row.id).await?.filter(|c| c.state == "collected").map_or(0, |c| c.amount.0);
                left.insert(row.id.clone(), collected);
            }
            let remaining = left.get_mut(&row.id).expect("inserted above");
            row.collected_fen = row.unpaid_fen.min(*remaining);
            *remaining -= row.collected_fen;
        }
        Ok(())
    }

    /// Resumes a stay the way the recovery worker does (its calls under their fixed msgids) and
    /// answers its stage as it ends; an unknown outcome again is `Err`.
    async fn resume_stay_for_reconciliation(&self, stay_id: &str) -> Result<StayStage, String> {
        let found = self.store.stay(stay_id).await.map_err(|e| e.to_string())?;
        let s = found.ok_or_else(|| format!("stay {stay_id} vanished"))?;
        self.store.unpark_stay(stay_id).await.map_err(|e| e.to_string())?;
        let s = self.advance_stay(s, true).await.map_err(|e| format!("resuming stay {stay_id} failed: {e}"))?;
        self.invoice_stay_after(&s.id).await;
        stage_of(&s).map_err(|e| e.to_string())
    }

    /// 医保单边 for a stay: the center settled a 2304 the hub did not hear back from. Resuming the
    /// stay sends 2304 again under its msgid; the center replays the settlement and the hub books it.
    pub(super) async fn stay_insurance_only(&self, partner: &Record<(i64, i64, i64, bool)>, stay_id: &str) -> Result<String, String> {
        let stage = self.resume_stay_for_reconciliation(stay_id).await?;
        let interims = stage.ward().map(|w| w.interims.as_slice()).unwrap_or_default();
        if let Some(i) = interims.iter().find(|i| i.setl_id == partner.key) {
            return Ok(format!("stay {stay_id}'s interim settlement {} was in doubt; resumed, it is booked: {}", i.n, stage.state()));
        }
        match settled_facts(&stage) {
            Some((setl_id, _, _)) if setl_id == partner.key => {
                Ok(format!("stay {stay_id}'s 2304 was in doubt; resumed under its msgid, the center's answer is booked: {}", stage.state()))
            }
            Some((setl_id, split, reversed)) => Err(format!(
                "stay {stay_id} ({}) stands on another settlement, {}: reverse the center's with 2305 or book it",
                stage.state(),
                facts_evidence(setl_id, &split, reversed)
            )),
            None => Err(format!("stay {stay_id} is {} without this setl_id: reverse it with 2305 or book it", stage.state())),
        }
    }

    /// 长款 of a stay: the bank captured (or refunded) what the hub has not booked. A stay whose
    /// capture or 2305 refund is still in doubt is resumed (the bank answers a request id it knows
    /// with its record); resolved when the stay then books exactly that.
    pub(super) async fn stay_bank_only(&self, bank_code: &str, stay_id: &str, capture: bool, amount_fen: i64) -> Result<String, String> {
        let long = |why: String| format!("长款 at {bank_code}: the bank moved {amount_fen} fen for stay {stay_id} that {why}");
        // `{stay}:interim:{n}`: an interim settlement's capture; `{stay}:resettle:{n}`: the capture
        // (or charge) of a settlement after the n-th cancelled one.
        let (stay_id, interim) = match stay_id.split_once(":interim:") {
            Some((stay, n)) => (stay, n.parse::<u32>().ok()),
            None => (stay_id, None),
        };
        let (stay_id, resettled) = match stay_id.split_once(":resettle:") {
            Some((stay, n)) => (stay, n.parse::<u32>().unwrap_or(u32::MAX)),
            None => (stay_id, 0),
        };
        let stage = self.resume_stay_for_reconciliation(stay_id).await.map_err(long)?;
        let interims = stage.ward().map(|w| w.interims.as_slice()).unwrap_or_default();
        let cancelled = stage.ward().map(|w| w.undone.cancelled_interims.as_slice()).unwrap_or_default();
        let this_settlement = |p: &StayPaid| p.ward.resettled == resettled && p.captured.0 == amount_fen;
        let this_interim = |i: &&wugan_domain::inpatient::InterimPaid| Some(i.n) == interim && i.captured.0 == amount_fen;
        let booked = match (&stage, capture) {
            // An interim settlement's capture, standing or cancelled since; the refund of a cancelled one's.
            _ if interim.is_some() && capture => interims.iter().chain(cancelled).any(|i| this_interim(&i)),
            _ if interim.is_some() => cancelled.iter().any(|i| this_interim(&i)),
            (StayStage::Settled(p) | StayStage::SettledUnpaid(p), true) => this_settlement(p),
            (StayStage::CancellingSettlement { paid, .. }, true) => this_settlement(paid),
            (StayStage::SettlementCancelled(_), false) => true,
            _ => false,
        };
        match booked {
            true => Ok(format!("stay {stay_id} was in doubt; resumed, the bank's record is booked: {}", stage.state())),
            false => Err(long(format!("the hub has not booked ({}): book it to the stay or refund it", stage.state()))),
        }
    }

    /// A stay settlement whose amounts or refund flag differ. One still on its way (its capture,
    /// or a 2305 the center did and the hub has not booked) is resumed; if it then agrees, resolved.
    pub(super) async fn stay_difference(
        &self,
        hub: &Record<(i64, i64, i64, bool)>,
        partner: &Record<(i64, i64, i64, bool)>,
        row: &ReconSettlement,
    ) -> Result<String, String> {
        let review = "the stay's settlement differs from the center's in amounts or the refund flag: review both records".to_string();
        if !matches!(row.state.as_str(), "cancelling" | "insurance_settled") {
            return Err(review);
        }
        let stage = self.resume_stay_for_reconciliation(&row.id).await.map_err(|e| format!("{review} ({e})"))?;
        let now = match settled_facts(&stage) {
            Some((setl_id, split, reversed)) if setl_id == hub.key => (split.medfee.0, split.fund.0, split.personal_account.0, reversed),
            // Its 2305 is booked now: the stay waits for the ward with that settlement reversed
            // (or, an interim settlement's, is in the ward with it cancelled).
            _ if row.state == "cancelling" && matches!(stage, StayStage::SettlementCancelled(_)) => {
                (hub.amounts.0, hub.amounts.1, hub.amounts.2, true)
            }
            _ if row.state == "cancelling"
                && stage.ward().is_some_and(|w| w.undone.cancelled_interims.iter().any(|i| i.setl_id == hub.key)) =>
            {
                (hub.amounts.0, hub.amounts.1, hub.amounts.2, true)
            }
            _ => return Err(format!("{review} (stay {} resumed, now {})", row.id, stage.state())),
        };
        match now == partner.amounts {
            true => Ok(format!("stay {} was on its way; resumed, it agrees with the center: {}", row.id, stage.state())),
            false => Err(format!("{review} (stay {} resumed, now {})", row.id, stage.state())),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A stay's ledger transfer → the bank request reconciliation expects for it.
    #[test]
    fn each_settlement_of_a_stay_is_its_own_bank_operation() {
        for (transfer, suffix, expect) in [
            ("stay:ipt_1:hold_post:0", "capture", "ipt_1:capture"),
            ("stay:ipt_1:hold_post:interim:2:3", "capture", "ipt_1:interim:2:capture"),
            ("stay:ipt_1:hold_post:resettle:1:4", "capture", "ipt_1:resettle:1:capture"),
            ("stay:ipt_1:hold_post:interim:2:charge:0", "capture", "ipt_1:interim:2:charge"),
            ("stay:ipt_1:bank_refund:S1", "refund", "ipt_1:refund"),
            ("stay:ipt_1:bank_refund:interim:2:S2", "refund", "ipt_1:interim:2:refund"),
            ("stay:ipt_1:bank_refund:resettle:2:S3", "refund", "ipt_1:resettle:2:refund"),
            ("stay:ipt_1:bank_refund:resettled", "refund", "ipt_1:refund"),
        ] {
            assert_eq!(super::stay_bank_key(transfer, "ipt_1", suffix), expect, "{transfer}");
        }
    }
}
