//! Holds expire (授权有效期). An approved authorization carries an expiry time fixed when it is
//! made: the request may name one within [`MIN_HOLD_S`]..=[`MAX_HOLD_S`], else [`DEFAULT_HOLD_S`].
//! A hold nobody captures or voids (its settlement stranded by a partner that never answers)
//! gives the customer's money back by itself.
//!
//! Expiry is lazy and deterministic: every command first releases the holds whose `expires_at`
//! is at or before the time it is applied at ([`BankBook::expire_holds`]), so the journal of
//! commands and their times replays to the same book; no timer the journal would not see. Each
//! release is recorded as an operation of its own (`expiry`, naming the authorization), so the
//! agreement's journal still rebuilds its totals. A capture or void of an expired hold is
//! `hold_expired`, a business decline; a status query of the authorization says `expired`.

use super::{BankBook, BookError, HoldState, RequestKey};
use crate::calendar::{Day, CHINA_OFFSET_S};
use crate::wire::{Operation, OperationKind, OperationStatus};

/// An outpatient hold lasts 7 days unless the request asks otherwise.
pub const DEFAULT_HOLD_S: i64 = 7 * 86_400;
/// The shortest hold a request may ask for: one hour.
pub const MIN_HOLD_S: i64 = 3_600;
/// The longest hold a request may ask for: 90 days, an inpatient deposit (住院押金) held from
/// admission to discharge.
pub const MAX_HOLD_S: i64 = 90 * 86_400;

impl BankBook {
    /// When a hold approved at `now_unix_s` expires: `None` on a book whose holds never expire (a
    /// journal from before expiry); a requested duration outside the bounds is a bad request.
    pub(super) fn hold_expiry(&self, expires_in_s: Option<i64>, now_unix_s: i64) -> Result<Option<i64>, BookError> {
        let hold_s = expires_in_s.unwrap_or(DEFAULT_HOLD_S);
        if !(MIN_HOLD_S..=MAX_HOLD_S).contains(&hold_s) {
            return Err(BookError::BadRequest(format!("expires_in_s must be in {MIN_HOLD_S}..={MAX_HOLD_S}")));
        }
        Ok(self.config.holds_expire.then(|| now_unix_s.saturating_add(hold_s)))
    }

    /// Releases every open hold whose expiry is at or before `now_unix_s`, soonest first, each
    /// recorded as an `expiry` operation. Idempotent: a second call at the same time does nothing.
    pub(super) fn expire_holds(&mut self, now_unix_s: i64) {
        while let Some((at, key)) = self.expiring.first().cloned() {
            if at > now_unix_s {
                return;
            }
            self.expiring.pop_first();
            self.expire_hold(at, key, now_unix_s);
        }
    }

    fn expire_hold(&mut self, at: i64, key: RequestKey, now_unix_s: i64) {
        let Some(auth) = self.authorizations.get_mut(&key) else { return };
        if auth.state != HoldState::Open {
            return; // closed holds leave `expiring` when they close; kept for safety
        }
        auth.state = HoldState::Expired;
        let (agreement_id, amount_fen) = (auth.agreement_id.clone(), auth.amount_fen);
        let Some(agreement) = self.agreements.get_mut(&agreement_id) else { return };
        agreement.held_fen -= amount_fen;
        let operation = Operation {
            request_id: format!("{}:expired", key.request_id),
            kind: OperationKind::Expiry,
            status: OperationStatus::Expired,
            decline_code: None,
            amount_fen,
            agreement_id,
            reference_request_id: Some(key.request_id.clone()),
            available_fen_after: agreement.available_fen(),
            recorded_at_unix_s: now_unix_s,
            expires_at: Some(rfc3339_china(at)),
        };
        agreement.journal.push(self.journal.len());
        self.journal.push((key.client, operation));
    }

    /// A recorded operation as a status query shows it: an approved authorization whose hold has
    /// since expired says `expired` (a retry of the request itself still replays its first reply).
    pub(super) fn as_it_stands(&self, key: &RequestKey, mut operation: Operation) -> Operation {
        let expired = self.authorizations.get(key).is_some_and(|a| a.state == HoldState::Expired);
        if operation.kind == OperationKind::Authorization && expired {
            operation.status = OperationStatus::Expired;
        }
        operation
    }
}

/// A unix instant as RFC 3339 in China time, the bank's time zone: `2026-01-08T08:00:00+08:00`.
pub fn rfc3339_china(unix_s: i64) -> String {
    let day = Day::of_unix_s(unix_s);
    let (year, month, date) = day.ymd();
    let seconds = (unix_s.clamp(0, i64::MAX - CHINA_OFFSET_S) + CHINA_OFFSET_S).rem_euclid(86_400);
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    format!("{year:04}-{month:02}-{date:02}T{hour:02}:{minute:02}:{second:02}+08:00")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookConfig, Reply};
    use crate::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest, VoidRequest};
    use crate::ErrorCode;
    use wugan_domain::money::Fen;

    /// 2026-01-01T08:00:00+08:00.
    const NOW: i64 = 1_767_225_600;

    #[test]
    fn times_are_written_in_china_time() {
        assert_eq!(rfc3339_china(NOW), "2026-01-01T08:00:00+08:00");
        assert_eq!(rfc3339_china(NOW + DEFAULT_HOLD_S + 59), "2026-01-08T08:00:59+08:00");
        assert_eq!(rfc3339_china(1_767_196_799), "2025-12-31T23:59:59+08:00");
        assert_eq!(rfc3339_china(0), "1970-01-01T08:00:00+08:00");
    }

    fn book_with_a_line() -> BankBook {
        let mut book = BankBook::new(BookConfig::default());
        let open = CreateAgreementRequest {
            request_id: "open-1".into(),
            kind: AgreementKind::CreditLine,
            customer_ref: "c1".into(),
            holder_name: None,
            card_no: None,
            limit_fen: Some(Fen(10_000)),
            opening_balance_fen: None,
        };
        book.open_agreement("hub", open, "agr-1", NOW).expect("opens");
        book
    }

    fn hold(book: &mut BankBook, request_id: &str, amount: i64, expires_in_s: Option<i64>, now: i64) -> Result<Operation, BookError> {
        let req = AuthorizationRequest {
            request_id: request_id.into(),
            agreement_id: "agr-1".into(),
            amount_fen: Fen(amount),
            merchant_id: "H1".into(),
            memo: None,
            expires_in_s,
        };
        match book.authorize("hub", req, now)? {
            Reply::Operation(op) => Ok(op),
            other => panic!("an authorization answers with an operation, not {other:?}"),
        }
    }

    fn capture(book: &mut BankBook, auth: &str, now: i64) -> Result<Reply, BookError> {
        let req = CaptureRequest { request_id: format!("{auth}:capture"), authorization_request_id: auth.into(), amount_fen: Fen(100) };
        book.capture("hub", req, now)
    }

    fn available(book: &BankBook) -> Fen {
        book.agreement("agr-1").expect("the line").available_fen
    }

    #[test]
    fn a_hold_lapses_at_its_expiry_and_frees_the_credit() {
        let mut book = book_with_a_line();
        let op = hold(&mut book, "s1:auth", 3_000, None, NOW).expect("approved");
        assert_eq!(op.expires_at.as_deref(), Some("2026-01-08T08:00:00+08:00"));
        assert_eq!(available(&book), Fen(7_000));
        // One second before: still held, and capturable.
        hold(&mut book, "s2:auth", 1_000, None, NOW).expect("approved");
        assert!(capture(&mut book, "s2:auth", NOW + DEFAULT_HOLD_S - 1).is_ok());
        // At the expiry: released by the next command, whatever it is, and recorded.
        let capture_late = capture(&mut book, "s1:auth", NOW + DEFAULT_HOLD_S).expect_err("expired");
        assert_eq!((capture_late.code(), capture_late.code().is_business_decline()), (ErrorCode::HoldExpired, true));
        assert_eq!(available(&book), Fen(10_000 - 100));
        let void = VoidRequest { request_id: "s1:void".into(), authorization_request_id: "s1:auth".into() };
        assert_eq!(book.void("hub", void, NOW + DEFAULT_HOLD_S).map_err(|e| e.code()), Err(ErrorCode::HoldExpired));
        let ops = book.operations_for("agr-1").expect("the line");
        let expiry = ops.iter().find(|op| op.kind == OperationKind::Expiry).expect("an expiry is recorded");
        assert_eq!((expiry.amount_fen, expiry.reference_request_id.as_deref()), (Fen(3_000), Some("s1:auth")));
        // The status query says it expired; the retried request replays its first answer.
        assert_eq!(book.operation("hub", "s1:auth").map(|op| op.status), Ok(OperationStatus::Expired));
        let retried = hold(&mut book, "s1:auth", 3_000, None, NOW + DEFAULT_HOLD_S).expect("replays");
        assert_eq!(retried.status, OperationStatus::Approved);
        assert_eq!(book.operation("hub", "s2:auth").map(|op| op.status), Ok(OperationStatus::Approved));
        assert_eq!(book.check_invariants(), Ok(()));
    }

    #[test]
    fn a_request_may_ask_for_a_hold_within_the_bounds() {
        let check = |expires_in_s: Option<i64>, expect: Result<i64, ErrorCode>| {
            let mut book = book_with_a_line();
            let got = hold(&mut book, "s1:auth", 100, expires_in_s, NOW).map(|op| op.expires_at).map_err(|e| e.code());
            assert_eq!(got, expect.map(|s| Some(rfc3339_china(NOW + s))), "{expires_in_s:?}");
        };
        check(None, Ok(DEFAULT_HOLD_S));
        check(Some(MIN_HOLD_S), Ok(MIN_HOLD_S));
        check(Some(MAX_HOLD_S), Ok(MAX_HOLD_S));
        check(Some(MIN_HOLD_S - 1), Err(ErrorCode::BadRequest));
        check(Some(MAX_HOLD_S + 1), Err(ErrorCode::BadRequest));
        check(Some(-1), Err(ErrorCode::BadRequest));
        check(Some(i64::MAX), Err(ErrorCode::BadRequest));
    }

    #[test]
    fn a_declined_hold_has_no_expiry_and_a_journal_from_before_expiry_keeps_its_holds() {
        let mut book = book_with_a_line();
        let declined = hold(&mut book, "s1:auth", 20_000, None, NOW).expect("answered");
        assert_eq!((declined.status, declined.expires_at), (OperationStatus::Declined, None));
        // The configuration an older bank journaled has no `holds_expire`.
        let text = serde_json::to_string(&BookConfig::default()).expect("writes").replace(r#","holds_expire":true"#, "");
        let old: BookConfig = serde_json::from_str(&text).expect("an old configuration reads");
        assert!(!old.holds_expire, "{text}");
        let mut book = book_with_a_line();
        book.apply(&crate::book::Command::Configure { config: old }, NOW);
        let op = hold(&mut book, "s2:auth", 100, None, NOW).expect("approved");
        assert_eq!(op.expires_at, None, "answered as before expiry existed");
        assert!(capture(&mut book, "s2:auth", NOW + MAX_HOLD_S * 2).is_ok());
    }

    #[test]
    fn every_command_releases_what_has_expired_and_the_journal_sees_it() {
        let mut book = book_with_a_line();
        hold(&mut book, "s1:auth", 3_000, Some(MIN_HOLD_S), NOW).expect("approved");
        let bill = crate::book::Command::Bill;
        assert!(!book.apply(&bill, NOW + MIN_HOLD_S - 1).changed);
        let applied = book.apply(&bill, NOW + MIN_HOLD_S);
        assert!(applied.changed, "an expiry is a change to journal");
        assert_eq!(available(&book), Fen(10_000));
        assert!(!book.apply(&bill, NOW + MIN_HOLD_S).changed, "released once");
    }
}
