//! Reconciliation while traffic flows (review r22 F2). A run reads the hub's side of the day
//! once, before it fetches the partners' files (3201/9101/3202/9102, the bank's statement):
//! seconds later. A click, refund or cancellation that commits in between is in the partner's
//! file and not in that read, and would be filed as a difference (partner-only with the advice to
//! reverse a good settlement with 2208). So before a difference is declared, the hub's record of
//! that key is read again, after the partner's file was fetched, and only a difference that still
//! holds goes on; one that no longer holds is matched. No timing window: a difference that holds
//! on the second read is filed whatever its age. Only the keys that differ are read again.
//!
//! Hub-only differences are not read again: the hub's record was read before the partner's file
//! was fetched, so the partner had it to list (a refund that reverses it later keeps it listed,
//! as cancelled). A stay's settlement the center lists and the day's read did not have (a 2304
//! that committed in between) is read again with the stays' rows; an amounts difference of a
//! stay's is left to `stay_difference`.

use super::reconciliation::{hub_bank_records, insurance_record, BankAmounts, InsuranceRecord, SetlAmounts};
use super::refunds::{book_refund, stage_of};
use super::stay_reconciliation::is_stay;
use super::*;
use crate::store::ReconSettlement;
use std::collections::{BTreeSet, HashMap};
use wugan_domain::reconcile::{Day, Mismatch, Record, Report};
use wugan_domain::refund::RefundStage;

/// The most visits (or bank operations) of one group read again; beyond it the rest are filed
/// as they stand (a day with that many differences is not one of traffic in flight).
const MAX_RECHECKED: usize = 1_000;

/// What the second read says of one difference.
enum Again<A> {
    /// The hub's record now agrees with the partner's.
    Agrees,
    /// The hub's record now differs in amounts (a partner-only key the hub has since booked).
    Differs(Record<A>),
    /// As the day's read had it.
    Holds,
}

fn again<A: PartialEq + Clone>(partner: &Record<A>, now: Option<&Record<A>>) -> Again<A> {
    match now {
        Some(hub) if hub.amounts == partner.amounts => Again::Agrees,
        Some(hub) => Again::Differs(hub.clone()),
        None => Again::Holds,
    }
}

/// Keeps the differences that still hold against `now` (the hub's records read again, by key):
/// one that agrees is matched; a partner-only one the hub has since booked with other amounts
/// is an amounts difference against the record as it now is.
fn keep_holding<A: PartialEq + Clone>(report: &mut Report<A>, now: &HashMap<String, Record<A>>) {
    let mut kept = Vec::with_capacity(report.mismatches.len());
    for m in report.mismatches.drain(..) {
        let partner = match &m {
            Mismatch::PartnerOnly { partner } | Mismatch::AmountsDiffer { partner, .. } => partner,
            Mismatch::HubOnly { .. } => {
                kept.push(m);
                continue;
            }
        };
        match again(partner, now.get(&partner.key)) {
            Again::Agrees => report.matched += 1,
            Again::Differs(hub) => {
                let partner = partner.clone();
                kept.push(Mismatch::AmountsDiffer { hub, partner });
            }
            Again::Holds => kept.push(m),
        }
    }
    report.mismatches = kept;
}

/// The stored time the day's read of settlements starts at (a 2207 retried across midnight).
fn day_read_start(day: Day) -> Result<String, AppError> {
    let from = day.hub_range_unix_s().0 - 86_400;
    let t = time::OffsetDateTime::from_unix_timestamp(from).map_err(|e| AppError::internal(format!("time out of range: {e}")))?;
    Ok(crate::clock::timestamp(t))
}

impl App {
    /// The insurance side: the visits behind the differing `setl_id`s (the center's `mdtrt_id`
    /// for one only it lists, the hub's for one whose amounts differ) are read again, their
    /// settlements with their refunds as the day's read builds them (`with_refunds`). Answers the
    /// rows read, for resolving what still differs against the hub as it now is.
    pub(super) async fn recheck_insurance(
        &self,
        report: &mut Report<SetlAmounts>,
        day: Day,
        hospital: &str,
        center_visits: &HashMap<String, String>,
        ours: &[&InsuranceRecord<'_>],
    ) -> Result<Vec<ReconSettlement>, AppError> {
        let (mut visits, mut center_only) = (BTreeSet::new(), BTreeSet::new());
        for m in &report.mismatches {
            let mdtrt_id = match m {
                Mismatch::PartnerOnly { partner } => {
                    let mdtrt_id = center_visits.get(&partner.key).map(String::as_str);
                    center_only.extend(mdtrt_id.filter(|m| !m.is_empty()));
                    mdtrt_id
                }
                Mismatch::AmountsDiffer { hub, .. } => {
                    ours.iter().find(|r| r.setl_id == hub.key && !is_stay(&r.row.id)).map(|r| r.row.mdtrt_id.as_str())
                }
                Mismatch::HubOnly { .. } => None,
            };
            visits.extend(mdtrt_id.filter(|m| !m.is_empty()));
        }
        let since = day_read_start(day)?;
        let mut rows = Vec::new();
        for mdtrt_id in visits.into_iter().take(MAX_RECHECKED) {
            let of_visit = self.store.reconciliation_settlements_of_visit(hospital, mdtrt_id).await?;
            rows.extend(self.visit_with_refunds(of_visit, &since).await?);
        }
        // A stay's 2304 (an interim or the bedside settlement) that committed meanwhile: the
        // stays' rows are read again too, those of the admissions only the center listed.
        if !center_only.is_empty() {
            let until = time::OffsetDateTime::from_unix_timestamp(day.hub_range_unix_s().1)
                .map(crate::clock::timestamp)
                .map_err(|e| AppError::internal(format!("time out of range: {e}")))?;
            let stays = self.stay_recon_settlements(&since, &until).await?;
            rows.extend(stays.into_iter().filter(|r| r.hospital_code == hospital && center_only.contains(r.mdtrt_id.as_str())));
        }
        let now: HashMap<String, Record<SetlAmounts>> = rows
            .iter()
            .filter_map(|row| insurance_record(row, day))
            .map(|r: InsuranceRecord| (r.setl_id.clone(), Record { key: r.setl_id, amounts: r.amounts, at_unix_s: r.at_unix_s }))
            .collect();
        keep_holding(report, &now);
        Ok(rows)
    }

    /// One visit's settlements after its refunds finished since `since`: the same rows
    /// `with_refunds` (app/refunds.rs) makes of a day, for one visit's refunds (a reversed
    /// settlement cancelled, a re-settlement a row of its own dated when the refund finished).
    async fn visit_with_refunds(&self, mut rows: Vec<ReconSettlement>, since: &str) -> Result<Vec<ReconSettlement>, AppError> {
        let Some(visit_id) = rows.first().map(|r| r.visit_id.clone()) else { return Ok(rows) };
        let mut refunds: Vec<_> = self
            .store
            .refunds_of_visit(&visit_id)
            .await?
            .into_iter()
            .filter(|r| r.state == "refunded" && r.updated_at.as_str() >= since)
            .collect();
        refunds.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        for r in refunds {
            let RefundStage::Refunded(done) = stage_of(&r)? else { continue };
            let Some(click) = rows.iter().find(|row| row.id == r.settlement_id).cloned() else { continue };
            book_refund(&mut rows, &r, done, click);
        }
        Ok(rows)
    }

    /// The bank side: the ledger's captures and refunds of the settlement (or stay) behind each
    /// differing request id are read again over the day's range, and booked as the day's read
    /// books them (`hub_bank_records`).
    pub(super) async fn recheck_bank(&self, report: &mut Report<BankAmounts>, bank_code: &str, day: Day) -> Result<(), AppError> {
        let mut prefixes = BTreeSet::new();
        for m in &report.mismatches {
            let key = match m {
                Mismatch::PartnerOnly { partner } => &partner.key,
                Mismatch::AmountsDiffer { hub, .. } => &hub.key,
                Mismatch::HubOnly { .. } => continue,
            };
            let owner = key.split(':').next().unwrap_or_default();
            if owner.is_empty() {
                continue;
            }
            prefixes.insert(if is_stay(owner) { format!("stay:{owner}:") } else { format!("settle:{owner}:") });
        }
        if prefixes.is_empty() {
            return Ok(());
        }
        let (from, to) = day.hub_range_unix_s();
        let stored = |unix_s: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix_s)
                .map(crate::clock::timestamp)
                .map_err(|e| AppError::internal(format!("time out of range: {e}")))
        };
        let (from, to) = (stored(from)?, stored(to)?);
        let mut transfers = Vec::new();
        for prefix in prefixes.iter().take(MAX_RECHECKED) {
            transfers.extend(self.store.bank_transfers_under(prefix, &from, &to).await?);
        }
        let now = hub_bank_records(bank_code, &transfers).into_iter().map(|r| (r.key.clone(), r)).collect();
        keep_holding(report, &now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, amount: i64) -> Record<i64> {
        Record { key: key.into(), amounts: amount, at_unix_s: 0 }
    }

    /// Each difference against the hub read again: (the difference, the hub's record now, the
    /// class left or `None` when matched).
    #[test]
    fn only_a_difference_that_still_holds_is_kept() {
        let check = |m: Mismatch<i64>, now: Option<Record<i64>>, expect: Option<(&str, i64)>| {
            let mut report = Report { records: 1, matched: 0, in_transit: Vec::new(), mismatches: vec![m] };
            let now: HashMap<String, Record<i64>> = now.into_iter().map(|r| (r.key.clone(), r)).collect();
            keep_holding(&mut report, &now);
            let left = report.mismatches.first().map(|m| {
                let hub = match m {
                    Mismatch::HubOnly { hub } | Mismatch::AmountsDiffer { hub, .. } => hub.amounts,
                    Mismatch::PartnerOnly { .. } => -1,
                };
                (m.class().as_str(), hub)
            });
            assert_eq!(left, expect);
            assert_eq!(report.matched + report.mismatches.len() as u64, 1, "every difference ends once");
        };
        // Booked since the day's read, as the partner has it: matched.
        check(Mismatch::PartnerOnly { partner: record("a", 5) }, Some(record("a", 5)), None);
        // Booked since, with other amounts: a difference of amounts against the record now.
        check(Mismatch::PartnerOnly { partner: record("a", 5) }, Some(record("a", 4)), Some(("amounts_differ", 4)));
        // Still absent: partner-only, as before.
        check(Mismatch::PartnerOnly { partner: record("a", 5) }, None, Some(("partner_only", -1)));
        // Refunded since the day's read: now agrees.
        check(Mismatch::AmountsDiffer { hub: record("a", 4), partner: record("a", 5) }, Some(record("a", 5)), None);
        // A real difference stays one.
        check(Mismatch::AmountsDiffer { hub: record("a", 4), partner: record("a", 5) }, Some(record("a", 4)), Some(("amounts_differ", 4)));
        // The hub's record of another key says nothing of this one.
        check(Mismatch::AmountsDiffer { hub: record("a", 4), partner: record("a", 5) }, Some(record("b", 5)), Some(("amounts_differ", 4)));
        // Hub-only is never read again.
        check(Mismatch::HubOnly { hub: record("a", 4) }, Some(record("a", 4)), Some(("hub_only", 4)));
    }
}
