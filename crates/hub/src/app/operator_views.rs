//! What an operator looks at when a hospital or a patient calls about a payment: one visit whole
//! (its fee lines, every settlement attempt with its tries and the ledger transfers it posted), and
//! the ledger's journal between two times, page by page. Read-only.

use super::*;
use crate::store::{DayFiguresRow, JournalEntry, MAX_JOURNAL_PAGE};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A visit as an operator sees it: any hospital's, with everything the hub recorded about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorVisitView {
    pub visit: VisitView,
    /// The open fee lines (lines a cancelled attempt closed are not shown).
    pub fee_lines: Vec<OperatorFeeLineView>,
    /// Every settlement attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorFeeLineView {
    pub feedetl_sn: String,
    pub amount_fen: i64,
    /// Accepted by the insurance center (false while its 2204's outcome is unknown).
    pub uploaded: bool,
}

/// One settlement attempt: where it stands, how often a partner left it in doubt, and the
/// transfers each step posted (their `created_at` is when the step was saved).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub settlement: SettlementView,
    /// Runs that stopped on a partner's unknown answer.
    pub failed_tries: i64,
    /// Why the recovery worker parked it in the exceptions queue, if it did.
    pub parked_reason: Option<String>,
    pub transfers: Vec<JournalEntry>,
}

/// A page of the ledger's journal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JournalView {
    pub from: String,
    pub to: String,
    pub entries: Vec<JournalEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// The journal's query: `from` and `to` (RFC 3339; default the beginning and now), `after` (the
/// previous page's `next_after`), `limit` (default 100, at most 500).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

const DEFAULT_JOURNAL_PAGE: i64 = 100;
/// `after` is a transfer id (`settle:{settlement}:{step}`): far shorter than this.
const MAX_CURSOR_CHARS: usize = 200;

impl App {
    /// Any hospital's visit, whole (operators only).
    pub async fn operator_visit(&self, visit_id: &str) -> Result<OperatorVisitView, AppError> {
        let v = self.store.visit(visit_id).await?.ok_or_else(|| AppError::not_found("visit_not_found", format!("no visit {visit_id}")))?;
        let fee_lines = self.store.fee_lines(&v.id).await?;
        let mut attempts = Vec::new();
        for s in self.store.settlements_of_visit(&v.id).await? {
            let transfers = self.store.transfers_of_settlement(&s.id).await?;
            attempts.push(AttemptView {
                failed_tries: s.attempts,
                parked_reason: s.parked_reason.clone(),
                settlement: SettlementView::of(&s),
                transfers,
            });
        }
        let visit = self.visit_view(&v).await?;
        // The latest attempt as the visit reads it: its bill and its settlement in force after refunds.
        if let Some(latest) = visit.settlement.as_ref() {
            attempts.iter_mut().filter(|a| a.settlement.id == latest.id).for_each(|a| a.settlement = latest.clone());
        }
        Ok(OperatorVisitView {
            visit,
            fee_lines: fee_lines
                .iter()
                .map(|l| OperatorFeeLineView { feedetl_sn: l.feedetl_sn.clone(), amount_fen: l.amount.0, uploaded: l.uploaded })
                .collect(),
            attempts,
        })
    }

    /// A page of the ledger's journal between two times.
    pub async fn journal(&self, query: JournalQuery) -> Result<JournalView, AppError> {
        let from = query.from.as_deref().map(|t| stored_time("from", t)).transpose()?.unwrap_or_default();
        let to = match query.to.as_deref() {
            Some(t) => stored_time("to", t)?,
            // Later than any time stored now.
            None => crate::clock::timestamp(self.store.clock.now_utc() + Duration::from_secs(1)),
        };
        if from >= to && query.from.is_some() {
            return Err(AppError::invalid("bad_time_range", "from must be earlier than to"));
        }
        if query.after.as_ref().is_some_and(|a| a.chars().count() > MAX_CURSOR_CHARS) {
            return Err(AppError::bad_request("bad_query", format!("after is a transfer id of at most {MAX_CURSOR_CHARS} characters")));
        }
        let limit = query.limit.unwrap_or(DEFAULT_JOURNAL_PAGE);
        if !(1..=MAX_JOURNAL_PAGE).contains(&limit) {
            return Err(AppError::invalid("bad_limit", format!("limit must be 1 to {MAX_JOURNAL_PAGE}")));
        }
        // One more than asked, to know whether another page follows.
        let mut entries = self.store.journal(&from, &to, query.after.as_deref(), limit + 1).await?;
        let next_after = match entries.len() as i64 > limit {
            true => {
                entries.truncate(limit as usize);
                entries.last().map(|e| e.id.clone())
            }
            false => None,
        };
        Ok(JournalView { from: query.from.unwrap_or_default(), to: query.to.unwrap_or_default(), entries, next_after })
    }
}

impl App {
    /// The business day `day` (`YYYY-MM-DD`, China time) for the operator's totals, per hospital
    /// and bank, with the same figures as each hospital's statement (`hospital_statement`):
    /// settlements made in the day (visits' and stays' booked at the bedside), what patients
    /// still owe (a bill collected since is paid), and the bank's refunds of the day.
    pub async fn operator_day(&self, day: &str) -> Result<Vec<DayFiguresRow>, AppError> {
        let span = business_day(day)?;
        let stored = |unix_s: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix_s).map(crate::clock::timestamp).map_err(|e| AppError::internal(e.to_string()))
        };
        let (from, before) = (stored(span.start_unix_s)?, stored(span.end_unix_s)?);
        let mut rows = self.store.day_figures(&from, &before).await?;
        // Refunds as the statement applies them (`App::day_in_force`): the clicks they reversed
        // counted out, their re-settlements counted in, on the days the statement puts them.
        rows.extend(self.refund_day_figures(&from, &before).await?);
        // Stays as the statement counts them: booked at the bedside in the day (one between its
        // 2304 and its booking is not the hospital's money yet).
        for s in self.stay_recon_settlements(&from, &before).await? {
            let (standing, cancelled) = (matches!(s.state.as_str(), "settled" | "settled_unpaid"), s.state == "cancelled");
            if !standing && !cancelled {
                continue;
            }
            let bank_code = match self.store.stay(&s.visit_id).await? {
                Some(stay) => self.store.agreement(&stay.agreement_id).await?.map(|a| a.bank_code),
                None => None,
            };
            let owed = s.unpaid_fen - s.collected_fen;
            let paid = |fen: i64| if standing { fen } else { 0 };
            rows.push(DayFiguresRow {
                hospital_code: s.hospital_code.clone(),
                bank_code,
                settled: i64::from(standing),
                stays_settled: i64::from(standing),
                medfee_fen: paid(s.medfee_fen),
                fund_fen: paid(s.fund_fen.unwrap_or(0)),
                account_fen: paid(s.acct_fen.unwrap_or(0)),
                bank_fen: paid(s.captured_fen),
                unpaid_bills: i64::from(standing && owed > 0),
                unpaid_fen: paid(owed),
                collected_fen: paid(s.collected_fen),
                cancelled: i64::from(cancelled),
                ..DayFiguresRow::default()
            });
        }
        Ok(rows)
    }
}

impl App {
    /// What the refunds change in the day figures `store::day_figures` sums from the settlements
    /// as they were made: a row per line a refund touched, negative for a click it reversed,
    /// positive for a re-settlement in force (one a later refund reversed never counted).
    async fn refund_day_figures(&self, from: &str, before: &str) -> Result<Vec<DayFiguresRow>, AppError> {
        let refunded: std::collections::HashSet<String> =
            self.store.refunds_finished_of(None, from, &self.now()).await?.into_iter().map(|r| r.settlement_id).collect();
        if refunded.is_empty() {
            return Ok(Vec::new());
        }
        let clicks: Vec<_> =
            self.store.reconciliation_settlements(from, before).await?.into_iter().filter(|c| refunded.contains(&c.id)).collect();
        let day = self.day_in_force(None, &clicks, from, before).await?;
        let mut rows = Vec::new();
        for line in &day.lines {
            let in_force = matches!(line.state.as_str(), "settled" | "settled_unpaid");
            let sign = match (line.refund_id.is_some(), in_force) {
                (true, true) => 1,
                // A click the sums counted as it was made, reversed since.
                (false, false) if line.reversed_by_refund_id.is_some() => -1,
                _ => continue,
            };
            // The sums count a click as made: its bill, less what was collected of it.
            let counted = match sign {
                1 => line.clone(),
                _ => match clicks.iter().find(|c| c.id == line.settlement_id) {
                    Some(click) => super::hospital_statements::line_of(click),
                    None => continue,
                },
            };
            let click = self.store.settlement(&line.settlement_id).await?;
            let bank_code = match click {
                Some(c) if !c.agreement_id.is_empty() => self.store.agreement(&c.agreement_id).await?.map(|a| a.bank_code),
                _ => None,
            };
            let hospital_code = match clicks.iter().find(|c| c.id == line.settlement_id) {
                Some(c) => c.hospital_code.clone(),
                None => self.store.reconciliation_settlement(&line.settlement_id).await?.map(|c| c.hospital_code).unwrap_or_default(),
            };
            rows.push(DayFiguresRow {
                hospital_code,
                bank_code,
                settled: sign,
                medfee_fen: sign * counted.medfee_fen,
                fund_fen: sign * counted.fund_fen,
                account_fen: sign * counted.personal_account_fen,
                bank_fen: sign * counted.bank_fen,
                unpaid_bills: sign * i64::from(counted.unpaid_fen > 0),
                unpaid_fen: sign * counted.unpaid_fen,
                collected_fen: sign * counted.collected_fen,
                ..DayFiguresRow::default()
            });
        }
        Ok(rows)
    }
}

/// An RFC 3339 time as the store writes times (UTC, fixed width), so that text order is time order.
fn stored_time(field: &str, text: &str) -> Result<String, AppError> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|_| AppError::invalid("bad_time", format!("{field} must be an RFC 3339 time, like 2026-01-31T08:00:00+08:00")))?;
    Ok(crate::clock::timestamp(t))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_read_in_any_offset_and_compared_in_utc() {
        assert_eq!(super::stored_time("from", "2026-01-31T08:00:00+08:00").ok().as_deref(), Some("2026-01-31T00:00:00.000000Z"));
        assert_eq!(super::stored_time("to", "2026-01-31T00:00:00Z").ok().as_deref(), Some("2026-01-31T00:00:00.000000Z"));
        for bad in ["2026-01-31", "yesterday", "2026-01-31 08:00:00"] {
            assert_eq!(super::stored_time("from", bad).map_err(|e| e.code()), Err("bad_time"), "{bad}");
        }
    }
}
