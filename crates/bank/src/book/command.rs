//! Every change to the book as a value: a [`Command`] and the time it is applied at. The HTTP
//! layer builds commands from requests, [`BankBook::apply`] runs them, and the journal
//! (`crate::journal`) stores the ones that changed something and replays them through this same
//! function at start-up. The book is deterministic, so the same commands at the same times give
//! the same book, the same answers and the same event feed.

use super::{BankBook, BookConfig, BookError, Reply};
use crate::wire::{
    AuthorizationRequest, CaptureRequest, ChargeRequest, CloseAgreementRequest, CreateAgreementRequest, IncrementRequest,
    LimitIncreaseRequest, PayoutRequest, RefundRequest, RepaymentRequest, VoidRequest,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One change to the book. `client` is the key id of the caller: request ids are scoped to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Brings statements, interest and overdue status up to the day of the time it is applied at.
    Bill,
    /// The defaults and credit terms from now on; the first entry of every journal, so that a
    /// replay never depends on what the defaults of a later version are.
    Configure {
        config: BookConfig,
    },
    /// `new_agreement_id` is drawn by the caller (the book draws nothing at random).
    OpenAgreement {
        client: String,
        new_agreement_id: String,
        request: CreateAgreementRequest,
    },
    CloseAgreement {
        client: String,
        agreement_id: String,
        request: CloseAgreementRequest,
    },
    Authorize {
        client: String,
        request: AuthorizationRequest,
    },
    Capture {
        client: String,
        request: CaptureRequest,
    },
    /// 扣款: a hold and its capture in one request (`book/charge.rs`).
    Charge {
        client: String,
        request: ChargeRequest,
    },
    /// 增量授权: raise an open hold (`book/increment.rs`).
    Increment {
        client: String,
        request: IncrementRequest,
    },
    Void {
        client: String,
        request: VoidRequest,
    },
    Refund {
        client: String,
        request: RefundRequest,
    },
    Repay {
        client: String,
        agreement_id: String,
        request: RepaymentRequest,
    },
    IncreaseLimit {
        client: String,
        agreement_id: String,
        request: LimitIncreaseRequest,
    },
    /// 结算划付 to a merchant (`book/payout.rs`).
    Payout {
        client: String,
        request: PayoutRequest,
    },
    /// Bank staff: 冻结 / 解冻.
    SetFrozen {
        agreement_id: String,
        frozen: bool,
    },
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The reply of a request; `None` for billing and configuration, which answer nothing.
    pub answer: Result<Option<Reply>, BookError>,
    /// Whether the book changed: only such commands need to be journaled.
    pub changed: bool,
}

/// Everything a change leaves a trace in: the operations journal (expiries included), the event
/// outbox and the last billing day. A command that moves none of them changed nothing (the book's own rule: a
/// rejected request changes nothing, a retry only replays).
#[derive(Debug, PartialEq, Eq)]
struct ChangeMark {
    operations: usize,
    events: usize,
    billed_through: Option<crate::calendar::Day>,
}

impl BankBook {
    /// Applies one command at `now_unix_s`: the one entry point for live requests and replay.
    pub fn apply(&mut self, command: &Command, now_unix_s: i64) -> Applied {
        let before = self.change_mark();
        // Every command first releases the holds that have expired by its time (`book/expiry.rs`).
        self.expire_holds(now_unix_s);
        let answer = self.dispatch(command.clone(), now_unix_s);
        let changed = matches!(command, Command::Configure { .. }) || self.change_mark() != before;
        Applied { answer, changed }
    }

    fn dispatch(&mut self, command: Command, now: i64) -> Result<Option<Reply>, BookError> {
        let reply = match command {
            Command::Bill => {
                self.run_billing(now);
                return Ok(None);
            }
            Command::Configure { config } => {
                self.config = config;
                return Ok(None);
            }
            Command::OpenAgreement { client, new_agreement_id, request } => {
                self.open_agreement(&client, request, &new_agreement_id, now)?
            }
            Command::CloseAgreement { client, agreement_id, request } => self.close_agreement(&client, &agreement_id, request, now)?,
            Command::Authorize { client, request } => self.authorize(&client, request, now)?,
            Command::Capture { client, request } => self.capture(&client, request, now)?,
            Command::Charge { client, request } => self.charge(&client, request, now)?,
            Command::Increment { client, request } => self.increment(&client, request, now)?,
            Command::Void { client, request } => self.void(&client, request, now)?,
            Command::Refund { client, request } => self.refund(&client, request, now)?,
            Command::Repay { client, agreement_id, request } => self.repay(&client, &agreement_id, request, now)?,
            Command::IncreaseLimit { client, agreement_id, request } => {
                self.request_limit_increase(&client, &agreement_id, request, now)?
            }
            Command::Payout { client, request } => self.payout(&client, request, now)?,
            Command::SetFrozen { agreement_id, frozen } => Reply::Agreement(self.set_frozen(&agreement_id, frozen, now)?),
        };
        Ok(Some(reply))
    }

    fn change_mark(&self) -> ChangeMark {
        ChangeMark { operations: self.journal.len(), events: self.events.len(), billed_through: self.billed_through }
    }

    pub fn config(&self) -> &BookConfig {
        &self.config
    }

    /// The sequence number of the newest event in the outbox (0 when empty).
    pub fn last_event_seq(&self) -> u64 {
        self.events.len() as u64
    }

    /// Everything the book holds, as canonical text (maps in key order): two books with the same
    /// dump are the same book. For tests comparing a restarted bank with its twin.
    pub fn state_dump(&self) -> String {
        let authorizations: BTreeMap<_, _> = self.authorizations.iter().collect();
        let captures: BTreeMap<_, _> = self.captures.iter().collect();
        let records: BTreeMap<_, _> = self.records.iter().collect();
        format!(
            "{:#?}",
            (&self.config, &self.agreements, authorizations, captures, records, &self.journal, self.billed_through, &self.events)
        )
    }
}

/// An answer as the journal keeps it, to check on replay that the book still answers the same.
pub fn answer_text(answer: &Result<Option<Reply>, BookError>) -> String {
    let value = match answer {
        Ok(None) => serde_json::Value::Null,
        Ok(Some(Reply::Agreement(agreement))) => serde_json::json!({ "agreement": agreement }),
        Ok(Some(Reply::Operation(operation))) => serde_json::json!({ "operation": operation }),
        Err(e) => serde_json::json!({ "error": e.code(), "message": e.to_string() }),
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::AgreementKind;

    const NOW: i64 = 1_767_225_600;

    fn open(request_id: &str) -> Command {
        let request = CreateAgreementRequest {
            request_id: request_id.into(),
            kind: AgreementKind::CreditLine,
            customer_ref: "c1".into(),
            holder_name: None,
            card_no: None,
            limit_fen: None,
            opening_balance_fen: None,
        };
        Command::OpenAgreement { client: "hub".into(), new_agreement_id: "agr-1".into(), request }
    }

    #[test]
    fn only_commands_that_change_the_book_say_so() {
        let mut book = BankBook::new(BookConfig::default());
        let check = |book: &mut BankBook, command: &Command, now: i64, expect_changed: bool| {
            let applied = book.apply(command, now);
            assert_eq!(applied.changed, expect_changed, "{command:?} → {:?}", applied.answer);
        };
        check(&mut book, &Command::Bill, NOW, true); // the first billing day is set
        check(&mut book, &Command::Bill, NOW + 60, false); // the same day
        check(&mut book, &open("open-1"), NOW, true);
        check(&mut book, &open("open-1"), NOW, false); // a retry replays
        check(&mut book, &open("bad id"), NOW, false); // rejected
        let freeze = Command::SetFrozen { agreement_id: "agr-1".into(), frozen: true };
        check(&mut book, &freeze, NOW, true);
        check(&mut book, &freeze, NOW, false); // already frozen
        check(&mut book, &Command::Bill, NOW + 86_400, true); // a new day
        check(&mut book, &Command::Configure { config: BookConfig::default() }, NOW, true);
    }

    #[test]
    fn commands_read_back_as_written() {
        let commands = [Command::Bill, open("open-1"), Command::SetFrozen { agreement_id: "agr-1".into(), frozen: false }];
        for command in commands {
            let text = serde_json::to_string(&command).expect("serializes");
            assert_eq!(serde_json::from_str::<Command>(&text).expect("parses"), command, "{text}");
        }
    }

    #[test]
    fn answers_are_kept_as_json() {
        let mut book = BankBook::new(BookConfig::default());
        assert_eq!(answer_text(&book.apply(&Command::Bill, NOW).answer), "null");
        let opened = answer_text(&book.apply(&open("open-1"), NOW).answer);
        assert!(opened.starts_with(r#"{"agreement":{"agreement_id":"agr-1""#), "{opened}");
        let rejected = answer_text(&book.apply(&open("bad id"), NOW).answer);
        assert!(rejected.starts_with(r#"{"error":"bad_request","message":"#), "{rejected}");
    }
}
