//! The T+1 statement file (对账单): what the bank's own book says one client's money did on one
//! settlement date, in the format of `wugan_bank_protocol::statement`.
//!
//! Pure: a read over the book's append-only journal. The settlement date of an operation is its
//! China-time day (cut-off 00:00 China time); an operation recorded at 00:00:01 belongs to the next
//! day's file, which is why the hub treats its own records near midnight as in transit.
//! Agreement openings and closings, limit requests and declined authorizations move no money and
//! are not listed. The transaction id is the operation's place in the journal, stable across a
//! replay (the journal replays in order).

use super::BankBook;
use crate::calendar::Day;
use crate::wire::{OperationKind, OperationStatus};
use wugan_bank_protocol::statement::{EntryType, Statement, StatementLine};

impl BankBook {
    /// The statement of `client`'s operations whose China-time day is `day`, in recorded order.
    pub fn statement(&self, client: &str, day: Day) -> Statement {
        let settlement_date = day.to_string();
        let lines = self
            .journal
            .iter()
            .enumerate()
            .filter(|(_, (owner, op))| owner == client && Day::of_unix_s(op.recorded_at_unix_s) == day)
            .filter_map(|(index, (_, op))| {
                let entry_type = entry_type_of(op.kind, op.status)?;
                // An expiry is recorded under its own id; the hub knows the authorization's.
                let request_id = match entry_type {
                    EntryType::Expiry => op.reference_request_id.clone().unwrap_or_else(|| op.request_id.clone()),
                    _ => op.request_id.clone(),
                };
                let transaction_id = format!("B{index:012}");
                let (time_unix_s, amount_fen, settlement_date) = (op.recorded_at_unix_s, op.amount_fen, settlement_date.clone());
                Some(StatementLine { transaction_id, request_id, time_unix_s, entry_type, amount_fen, settlement_date })
            })
            .collect();
        Statement { lines }
    }
}

/// How an operation shows on the statement, if it moved money.
fn entry_type_of(kind: OperationKind, status: OperationStatus) -> Option<EntryType> {
    match kind {
        OperationKind::Authorization if status == OperationStatus::Approved => Some(EntryType::Authorization),
        OperationKind::Capture => Some(EntryType::Capture),
        // A charge is a hold and its capture at once: on the file it is the capture.
        OperationKind::Charge if status == OperationStatus::Captured => Some(EntryType::Capture),
        OperationKind::Void => Some(EntryType::Void),
        OperationKind::Refund => Some(EntryType::Refund),
        OperationKind::Repayment => Some(EntryType::Repayment),
        OperationKind::Expiry => Some(EntryType::Expiry),
        _ => None,
    }
}

/// `YYYY-MM-DD` as a China-time day, if it is a real date.
pub fn parse_day(text: &str) -> Option<Day> {
    if !wugan_bank_protocol::statement::is_date(text) {
        return None;
    }
    let year: i64 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    let parsed = Day::from_ymd(year, month, day);
    (parsed.to_string() == text && (1..=12).contains(&month) && (1..=31).contains(&day)).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BookConfig;
    use crate::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest, RefundRequest};
    use wugan_domain::money::Fen;

    const HUB: &str = "hub-key";
    /// 2026-12-01 10:00 China time.
    const MORNING: i64 = 1_796_090_400 + 2 * 3600;

    fn open_line(book: &mut BankBook, now: i64) -> String {
        let req = CreateAgreementRequest {
            request_id: "open-1".into(),
            kind: AgreementKind::CreditLine,
            customer_ref: "patient-1".into(),
            holder_name: None,
            limit_fen: None,
            card_no: None,
            opening_balance_fen: None,
        };
        match book.open_agreement(HUB, req, "AG1", now) {
            Ok(super::super::Reply::Agreement(a)) => a.agreement_id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_days_statement_lists_the_money_moves_of_that_day_and_no_other() {
        let mut book = BankBook::new(BookConfig::default());
        let day = Day::of_unix_s(MORNING);
        let agreement_id = open_line(&mut book, MORNING);
        let auth = |id: &str, fen| AuthorizationRequest {
            request_id: id.into(),
            agreement_id: agreement_id.clone(),
            amount_fen: Fen(fen),
            merchant_id: "H001".into(),
            memo: None,
            expires_in_s: None,
        };
        let capture =
            |id: &str, of: &str, fen| CaptureRequest { request_id: id.into(), authorization_request_id: of.into(), amount_fen: Fen(fen) };
        book.authorize(HUB, auth("auth-1", 12_000), MORNING).expect("authorized");
        book.capture(HUB, capture("cap-1", "auth-1", 11_000), MORNING + 5).expect("captured");
        let refund = RefundRequest { request_id: "ref-1".into(), capture_request_id: "cap-1".into(), amount_fen: Fen(1_000) };
        book.refund(HUB, refund, MORNING + 60).expect("refunded");
        book.authorize(HUB, auth("auth-2", 90_000_000), MORNING + 70).expect("declined, still an answer");
        // The next day's capture belongs to the next day's file.
        book.authorize(HUB, auth("auth-3", 500), MORNING + 13 * 3600).expect("authorized");

        let statement = book.statement(HUB, day);
        let seen: Vec<(&str, EntryType, i64)> =
            statement.lines.iter().map(|l| (l.request_id.as_str(), l.entry_type, l.amount_fen.0)).collect();
        assert_eq!(
            seen,
            [("auth-1", EntryType::Authorization, 12_000), ("cap-1", EntryType::Capture, 11_000), ("ref-1", EntryType::Refund, 1_000)]
        );
        assert!(statement.lines.iter().all(|l| l.settlement_date == "2026-12-01"));
        assert_eq!(book.statement(HUB, day.plus_days(1)).lines.len(), 1);
        assert!(book.statement("another-client", day).lines.is_empty(), "a client sees only its own operations");
    }

    #[test]
    fn only_real_dates_name_a_day() {
        assert_eq!(parse_day("2026-12-01").map(|d| d.to_string()).as_deref(), Some("2026-12-01"));
        for bad in ["2026-13-01", "2026-02-30", "2026-12-1", "20261201", "2026/12/01", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
