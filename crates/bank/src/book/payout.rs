//! 结算划付: the bank pays a hospital (its merchant) what it collected for it. The hub's clearing
//! sends one instruction per bank, hospital and business day; the bank checks it against its own
//! book — captures for the merchant, less refunds, less what it paid out already — and refuses
//! more (`payout_exceeds_due`), so a hub that miscounts can never drain money it was not owed.
//!
//! A payout is an operation like the others (recorded once, replayed under its request id, seen
//! by the status query), but on no agreement: its `agreement_id` is `merchant:<merchant_id>`. It
//! is not a line of the T+1 transaction file (`book/statement.rs`), which lists what patients'
//! agreements did; the payout is the bank's settlement with the merchant.

use super::{bad, check_amount, check_request_id, check_text, fingerprint, BankBook, BookError, Reply, RequestKey};
use crate::wire::{Operation, OperationKind, OperationStatus, PayoutRequest};
use std::collections::HashMap;
use wugan_domain::money::Fen;

/// The pseudo-agreement a payout is recorded on.
pub fn merchant_account(merchant_id: &str) -> String {
    format!("merchant:{merchant_id}")
}

impl BankBook {
    pub fn payout(&mut self, client: &str, req: PayoutRequest, now_unix_s: i64) -> Result<Reply, BookError> {
        // As every request: holds due by now are released first, billing brought up to today.
        self.expire_holds(now_unix_s);
        self.run_billing(now_unix_s);
        check_request_id(&req.request_id)?;
        let key = RequestKey::new(client, &req.request_id);
        let fingerprint = fingerprint("payout", &req);
        if let Some(record) = self.records.get(&key) {
            return match record.fingerprint == fingerprint {
                true => Ok(record.reply.clone()),
                false => Err(BookError::RequestIdReused(req.request_id)),
            };
        }
        check_amount(req.amount_fen)?;
        check_text("merchant_id", &req.merchant_id, 1, super::MAX_REQUEST_ID_CHARS)?;
        if let Some(account) = &req.payee_account {
            check_text("payee_account", account, 1, super::MAX_REQUEST_ID_CHARS)?;
        }
        if !wugan_bank_protocol::statement::is_date(&req.business_date) {
            return Err(bad("business_date must be YYYY-MM-DD"));
        }
        let due = self.merchant_due(client, &req.merchant_id);
        if req.amount_fen > due {
            return Err(BookError::PayoutExceedsDue { amount: req.amount_fen, due });
        }
        let operation = Operation {
            request_id: req.request_id.clone(),
            kind: OperationKind::Payout,
            status: OperationStatus::PaidOut,
            decline_code: None,
            amount_fen: req.amount_fen,
            agreement_id: merchant_account(&req.merchant_id),
            reference_request_id: None,
            available_fen_after: due - req.amount_fen,
            recorded_at_unix_s: now_unix_s,
            expires_at: None,
        };
        let reply = Reply::Operation(operation.clone());
        // `record`, the one write path: journaled once, replayed under its request id.
        self.record(key, fingerprint, reply.clone(), operation);
        Ok(reply)
    }

    /// What the bank owes `merchant_id` for `client`'s operations: captured for it, less refunded,
    /// less paid out. One pass over the journal (a clearing-day call, not a per-visit one).
    pub fn merchant_due(&self, client: &str, merchant_id: &str) -> Fen {
        let account = merchant_account(merchant_id);
        let mut captures_for_merchant: HashMap<&str, bool> = HashMap::new();
        let mut due = Fen::ZERO;
        for (owner, op) in self.journal.iter().filter(|(owner, _)| owner == client) {
            let reference = op.reference_request_id.as_deref().unwrap_or_default();
            match op.kind {
                OperationKind::Capture | OperationKind::Charge if op.status == OperationStatus::Captured => {
                    let capture = self.captures.get(&RequestKey::new(owner, &op.request_id));
                    let ours = capture.is_some_and(|c| c.merchant_id == merchant_id);
                    captures_for_merchant.insert(op.request_id.as_str(), ours);
                    if ours {
                        due += op.amount_fen;
                    }
                }
                OperationKind::Refund if captures_for_merchant.get(reference) == Some(&true) => due -= op.amount_fen,
                OperationKind::Payout if op.agreement_id == account => due -= op.amount_fen,
                _ => {}
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookConfig, Command};
    use crate::wire::{AgreementKind, AuthorizationRequest, CaptureRequest, CreateAgreementRequest, RefundRequest};

    const NOW: i64 = 1_767_225_600;

    fn operation(applied: Result<Option<Reply>, BookError>) -> Operation {
        match applied {
            Ok(Some(Reply::Operation(op))) => op,
            other => panic!("expected an operation, got {other:?}"),
        }
    }

    /// A line that paid 100 yuan to hospital H1 and 30 to H2, and had 20 of H1's refunded.
    fn book_with_captures() -> BankBook {
        let mut book = BankBook::new(BookConfig::default());
        let open = CreateAgreementRequest {
            request_id: "open".into(),
            kind: AgreementKind::CreditLine,
            customer_ref: "p1".into(),
            holder_name: None,
            card_no: None,
            limit_fen: None,
            opening_balance_fen: None,
        };
        let agreement =
            match book.apply(&Command::OpenAgreement { client: "hub".into(), new_agreement_id: "agr-1".into(), request: open }, NOW).answer
            {
                Ok(Some(Reply::Agreement(a))) => a.agreement_id,
                other => panic!("{other:?}"),
            };
        for (id, merchant, yuan) in [("v1", "H1", 100), ("v2", "H2", 30)] {
            let auth = AuthorizationRequest {
                request_id: format!("{id}:auth"),
                agreement_id: agreement.clone(),
                amount_fen: Fen::yuan(yuan),
                merchant_id: merchant.into(),
                memo: None,
                expires_in_s: None,
            };
            operation(book.apply(&Command::Authorize { client: "hub".into(), request: auth }, NOW).answer);
            let capture = CaptureRequest {
                request_id: format!("{id}:capture"),
                authorization_request_id: format!("{id}:auth"),
                amount_fen: Fen::yuan(yuan),
            };
            operation(book.apply(&Command::Capture { client: "hub".into(), request: capture }, NOW).answer);
        }
        let refund = RefundRequest { request_id: "v1:refund".into(), capture_request_id: "v1:capture".into(), amount_fen: Fen::yuan(20) };
        operation(book.apply(&Command::Refund { client: "hub".into(), request: refund }, NOW).answer);
        book
    }

    fn payout(id: &str, merchant: &str, yuan: i64) -> Command {
        let request = PayoutRequest {
            request_id: id.into(),
            merchant_id: merchant.into(),
            amount_fen: Fen::yuan(yuan),
            business_date: "2026-01-01".into(),
            payee_account: None,
        };
        Command::Payout { client: "hub".into(), request }
    }

    #[test]
    fn a_merchant_is_paid_what_was_captured_for_it_less_refunds_and_never_more() {
        let mut book = book_with_captures();
        assert_eq!(book.merchant_due("hub", "H1"), Fen::yuan(80));
        assert_eq!(book.merchant_due("hub", "H2"), Fen::yuan(30));
        assert_eq!(book.merchant_due("someone-else", "H1"), Fen::ZERO, "due is per client");

        let over = book.apply(&payout("p:H1:1", "H1", 81), NOW);
        assert_eq!(over.answer, Err(BookError::PayoutExceedsDue { amount: Fen::yuan(81), due: Fen::yuan(80) }));
        assert!(!over.changed, "a refused payout changes nothing");

        let paid = operation(book.apply(&payout("p:H1:1", "H1", 50), NOW).answer);
        assert_eq!((paid.kind, paid.status, paid.agreement_id.as_str()), (OperationKind::Payout, OperationStatus::PaidOut, "merchant:H1"));
        assert_eq!(paid.available_fen_after, Fen::yuan(30));
        assert_eq!(book.merchant_due("hub", "H1"), Fen::yuan(30));

        // The same instruction again (a lost answer): the same answer, paid once.
        let again = book.apply(&payout("p:H1:1", "H1", 50), NOW + 60);
        assert_eq!(operation(again.answer), paid);
        assert!(!again.changed);
        assert_eq!(book.merchant_due("hub", "H1"), Fen::yuan(30));
        // The same id for another amount is a reused id, not a second payout.
        assert_eq!(book.apply(&payout("p:H1:1", "H1", 10), NOW).answer, Err(BookError::RequestIdReused("p:H1:1".into())));
        assert_eq!(book.operation("hub", "p:H1:1"), Ok(paid));
        assert_eq!(book.check_invariants(), Ok(()));
    }
}
