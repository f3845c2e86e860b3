//! 扣款: a hold and its capture in one request, for an amount already final (the doctor's click
//! charges the cash share once insurance has settled). Judged exactly as a hold of that amount
//! would be, so a charge can never take an agreement past its limit or balance; approved, the
//! money is spent at once and the charge stands as a capture (a refund names it), declined it
//! changes nothing but the record of the decline. One request id, one journal entry: a retry
//! replays the first answer and a status query finds it, as for every other operation.

use super::{check_amount, check_optional_text, check_text, fingerprint, BankBook, BookError, CaptureState, Effect, Reply, ReplyShape};
use super::{RequestKey, MAX_REQUEST_ID_CHARS};
use crate::wire::{AgreementKind, ChargeRequest, OperationKind, OperationStatus};
use wugan_domain::money::Fen;

impl BankBook {
    pub fn charge(&mut self, client: &str, req: ChargeRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("charge", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            check_text("merchant_id", &req.merchant_id, 1, MAX_REQUEST_ID_CHARS)?;
            check_optional_text("memo", req.memo.as_deref())?;
            let agreement = book.agreement_state_mut(&req.agreement_id)?;
            let decline = agreement.decline_reason(req.amount_fen);
            if decline.is_none() {
                match agreement.kind {
                    AgreementKind::CreditLine => agreement.spend_on_credit(req.amount_fen),
                    AgreementKind::DebitCard => agreement.balance_fen -= req.amount_fen,
                }
                let (agreement_id, merchant_id) = (req.agreement_id.clone(), req.merchant_id.clone());
                let captured = CaptureState { agreement_id, merchant_id, captured_fen: req.amount_fen, refunded_fen: Fen::ZERO };
                book.captures.insert(RequestKey::new(client, &req.request_id), captured);
            }
            let status = if decline.is_none() { OperationStatus::Captured } else { OperationStatus::Declined };
            Ok(Effect { decline_code: decline, ..Effect::new(OperationKind::Charge, status, req.amount_fen, &req.agreement_id) })
        })
    }

    /// The merchant a hold was for ("" for a hold the book does not know, which a capture never names).
    pub(super) fn merchant_of(&self, client: &str, authorization_request_id: &str) -> String {
        let key = RequestKey::new(client, authorization_request_id);
        self.authorizations.get(&key).map(|a| a.merchant_id.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookConfig, Command};
    use crate::wire::{CreateAgreementRequest, DeclineCode, Operation, RefundRequest};
    use crate::ErrorCode;

    const NOW: i64 = 1_767_225_600;

    /// A 5,000-yuan credit line.
    fn book() -> BankBook {
        let mut book = BankBook::new(BookConfig::default());
        let open = CreateAgreementRequest {
            request_id: "open-1".into(),
            kind: AgreementKind::CreditLine,
            customer_ref: "c1".into(),
            holder_name: None,
            card_no: None,
            limit_fen: Some(Fen(500_000)),
            opening_balance_fen: None,
        };
        book.open_agreement("hub", open, "agr-1", NOW).expect("opened");
        book
    }

    fn charge(id: &str, fen: i64) -> ChargeRequest {
        ChargeRequest { request_id: id.into(), agreement_id: "agr-1".into(), amount_fen: Fen(fen), merchant_id: "H1".into(), memo: None }
    }

    fn operation(reply: Result<Reply, BookError>) -> Operation {
        match reply.expect("answered") {
            Reply::Operation(op) => op,
            other => panic!("not an operation: {other:?}"),
        }
    }

    #[test]
    fn a_charge_spends_at_once_holds_nothing_and_is_owed_to_its_merchant() {
        let mut book = book();
        let op = operation(book.charge("hub", charge("s1:capture", 12_345), NOW));
        assert_eq!((op.kind, op.status, op.amount_fen), (OperationKind::Charge, OperationStatus::Captured, Fen(12_345)));
        let line = book.agreement("agr-1").expect("agreement");
        assert_eq!((line.used_fen, line.held_fen, line.available_fen), (Fen(12_345), Fen::ZERO, Fen(500_000 - 12_345)));
        assert_eq!(book.merchant_due("hub", "H1"), Fen(12_345));
        assert_eq!(book.merchant_due("hub", "H2"), Fen::ZERO);
        // A retry replays the first answer; the status query finds it.
        assert_eq!(operation(book.charge("hub", charge("s1:capture", 12_345), NOW + 5)), op);
        assert_eq!(book.operation("hub", "s1:capture").expect("recorded"), op);
        assert_eq!(book.agreement("agr-1").expect("agreement").used_fen, Fen(12_345), "charged once");
        // The same id for another amount is refused, not charged.
        assert_eq!(book.charge("hub", charge("s1:capture", 1), NOW).expect_err("reused").code(), ErrorCode::RequestIdReused);
        book.check_invariants().expect("invariants");
    }

    #[test]
    fn a_charge_is_refunded_as_a_capture_and_listed_as_one() {
        let mut book = book();
        operation(book.charge("hub", charge("s1:capture", 10_000), NOW));
        let refund = RefundRequest { request_id: "s1:refund".into(), capture_request_id: "s1:capture".into(), amount_fen: Fen(4_000) };
        operation(book.refund("hub", refund, NOW + 60));
        assert_eq!(book.agreement("agr-1").expect("agreement").used_fen, Fen(6_000));
        assert_eq!(book.merchant_due("hub", "H1"), Fen(6_000));
        let too_much = RefundRequest { request_id: "s1:refund2".into(), capture_request_id: "s1:capture".into(), amount_fen: Fen(6_001) };
        assert_eq!(book.refund("hub", too_much, NOW + 60).expect_err("over").code(), ErrorCode::RefundExceedsCapture);
        let lines = book.statement("hub", crate::calendar::Day::of_unix_s(NOW)).lines;
        let kinds: Vec<_> = lines.iter().map(|l| (l.request_id.as_str(), l.entry_type.as_str(), l.amount_fen.0)).collect();
        assert_eq!(kinds, [("s1:capture", "capture", 10_000), ("s1:refund", "refund", 4_000)]);
        book.check_invariants().expect("invariants");
    }

    #[test]
    fn a_charge_over_what_is_available_is_declined_and_changes_nothing() {
        let mut book = book();
        let op = operation(book.charge("hub", charge("s1:capture", 500_001), NOW));
        assert_eq!((op.status, op.decline_code), (OperationStatus::Declined, Some(DeclineCode::InsufficientCredit)));
        assert_eq!(book.agreement("agr-1").expect("agreement").used_fen, Fen::ZERO);
        assert_eq!(book.merchant_due("hub", "H1"), Fen::ZERO);
        assert!(book.statement("hub", crate::calendar::Day::of_unix_s(NOW)).lines.is_empty(), "a decline moves no money");
        // A declined charge is not a capture: nothing to refund.
        let refund = RefundRequest { request_id: "s1:refund".into(), capture_request_id: "s1:capture".into(), amount_fen: Fen(1) };
        assert_eq!(book.refund("hub", refund, NOW).expect_err("nothing captured").code(), ErrorCode::UnknownCapture);
        // It replays through the journal as the same command.
        let command = Command::Charge { client: "hub".into(), request: charge("s2:capture", 100) };
        assert!(book.apply(&command, NOW).changed);
        book.check_invariants().expect("invariants");
    }
}
