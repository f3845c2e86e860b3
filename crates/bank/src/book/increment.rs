//! 增量授权: an open hold raised by an amount, as a hospital raises an inpatient deposit when the
//! charges approach it. The raise is judged exactly as a new hold of that amount would be (status,
//! and what is available), so approving it can never take the agreement past its limit or
//! balance; declined, the hold stands as it was. The hold keeps its expiry, and a capture, void
//! or expiry later closes the whole raised amount.

use super::{check_amount, check_optional_text, fingerprint, BankBook, BookError, Effect, Reply, ReplyShape, RequestKey};
use crate::wire::{IncrementRequest, OperationKind, OperationStatus};

impl BankBook {
    pub fn increment(&mut self, client: &str, req: IncrementRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        let fingerprint = fingerprint("increment", &req);
        self.idempotent(client, &req.request_id, fingerprint, now_unix_s, ReplyShape::Operation, |book| {
            check_amount(req.amount_fen)?;
            check_optional_text("memo", req.memo.as_deref())?;
            let (agreement_id, _) = book.open_hold(client, &req.authorization_request_id)?;
            let agreement = book.agreement_state_mut(&agreement_id)?;
            let decline = agreement.decline_reason(req.amount_fen);
            if decline.is_none() {
                agreement.held_fen += req.amount_fen;
                let key = RequestKey::new(client, &req.authorization_request_id);
                if let Some(hold) = book.authorizations.get_mut(&key) {
                    hold.amount_fen += req.amount_fen;
                }
            }
            let status = if decline.is_none() { OperationStatus::Approved } else { OperationStatus::Declined };
            let effect = Effect::new(OperationKind::Increment, status, req.amount_fen, &agreement_id);
            Ok(Effect { decline_code: decline, ..effect.referring_to(&req.authorization_request_id) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BookConfig;
    use crate::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest, DeclineCode, Operation};
    use crate::ErrorCode;
    use wugan_domain::money::Fen;

    const NOW: i64 = 1_767_225_600;

    /// A 5,000-yuan line with a 2,000-yuan hold on it.
    fn book_with_hold() -> BankBook {
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
        let hold = AuthorizationRequest {
            request_id: "stay-1:hold".into(),
            agreement_id: "agr-1".into(),
            amount_fen: Fen(200_000),
            merchant_id: "H1".into(),
            memo: None,
            expires_in_s: None,
        };
        book.authorize("hub", hold, NOW).expect("held");
        book
    }

    fn raise(book: &mut BankBook, id: &str, amount: i64) -> Result<Operation, BookError> {
        let req =
            IncrementRequest { request_id: id.into(), authorization_request_id: "stay-1:hold".into(), amount_fen: Fen(amount), memo: None };
        match book.increment("hub", req, NOW + 60)? {
            Reply::Operation(op) => Ok(op),
            other => panic!("an increment answers with an operation, not {other:?}"),
        }
    }

    fn held(book: &BankBook) -> (Fen, Fen) {
        let a = book.agreement("agr-1").expect("the line");
        (a.held_fen, a.available_fen)
    }

    #[test]
    fn a_hold_is_raised_within_the_line_and_captured_whole_or_declined_and_left_as_it_was() {
        let mut book = book_with_hold();
        let op = raise(&mut book, "stay-1:raise:1", 150_000).expect("raised");
        assert_eq!(
            (op.kind, op.status, op.reference_request_id.as_deref()),
            (OperationKind::Increment, OperationStatus::Approved, Some("stay-1:hold"))
        );
        assert_eq!(held(&book), (Fen(350_000), Fen(150_000)));
        // A retry replays; the same id with another amount is refused.
        assert_eq!(raise(&mut book, "stay-1:raise:1", 150_000), Ok(op));
        assert_eq!(raise(&mut book, "stay-1:raise:1", 1).map_err(|e| e.code()), Err(ErrorCode::RequestIdReused));
        // More than is left on the line: declined, nothing changes.
        let declined = raise(&mut book, "stay-1:raise:2", 150_001).expect("answered");
        assert_eq!((declined.status, declined.decline_code), (OperationStatus::Declined, Some(DeclineCode::InsufficientCredit)));
        assert_eq!(held(&book), (Fen(350_000), Fen(150_000)));
        // The capture may take up to the raised hold; the rest is released with it.
        let capture = CaptureRequest {
            request_id: "stay-1:capture".into(),
            authorization_request_id: "stay-1:hold".into(),
            amount_fen: Fen(350_000),
        };
        book.capture("hub", capture, NOW + 120).expect("captured");
        assert_eq!(held(&book), (Fen::ZERO, Fen(150_000)));
        assert_eq!(raise(&mut book, "stay-1:raise:3", 1).map_err(|e| e.code()), Err(ErrorCode::AuthorizationNotOpen));
        assert_eq!(book.check_invariants(), Ok(()));
    }

    #[test]
    fn a_raise_of_nothing_or_of_an_unknown_hold_is_refused() {
        let mut book = book_with_hold();
        assert_eq!(raise(&mut book, "r-0", 0).map_err(|e| e.code()), Err(ErrorCode::BadRequest));
        let unknown =
            IncrementRequest { request_id: "r-1".into(), authorization_request_id: "nope".into(), amount_fen: Fen(1), memo: None };
        assert_eq!(book.increment("hub", unknown, NOW).map_err(|e| e.code()), Err(ErrorCode::UnknownAuthorization));
        assert_eq!(held(&book), (Fen(200_000), Fen(300_000)));
    }
}
