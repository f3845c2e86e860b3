//! A random workload against two banks: a twin in memory that never stops, and a bank on its
//! journal that is stopped, or killed (its files copied as a crash leaves them), at random points
//! and started again. Every answer of the restarted bank is the twin's, and so is its whole book,
//! right after every restart and at the end: a restart changes nothing anyone can see.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wugan_bank::book::Reply;
use wugan_bank::wire::{
    AgreementKind, AuthorizationRequest, CaptureRequest, CloseAgreementRequest, CreateAgreementRequest, LimitIncreaseRequest,
    RefundRequest, RepaymentRequest, RepaymentSource, VoidRequest,
};
use wugan_bank::{ApplyError, Bank, BankConfig, Command, ManualClock};
use wugan_domain::money::Fen;

/// The key the journal is sealed with (the same at every opening).
fn journal_key() -> wugan_bank::SealKey {
    wugan_bank::SealKey::from_hex(&"b4".repeat(32)).expect("a key")
}

/// 2026-01-25T00:00:00Z: a week before the first statement day.
const START_UNIX_S: i64 = 1_769_299_200;

#[derive(Clone, Debug)]
enum Step {
    Open {
        debit: bool,
    },
    Authorize {
        agreement: usize,
        amount: i64,
    },
    /// `hold` picks one of the authorizations sent so far.
    Capture {
        hold: usize,
        amount: i64,
    },
    Void {
        hold: usize,
    },
    /// `capture` picks one of the captures sent so far.
    Refund {
        capture: usize,
        amount: i64,
    },
    Repay {
        agreement: usize,
        amount: i64,
    },
    RaiseLimit {
        agreement: usize,
        requested: i64,
    },
    Freeze {
        agreement: usize,
        frozen: bool,
    },
    Close {
        agreement: usize,
    },
    /// Sends one of the earlier commands again, unchanged.
    Retry {
        step: usize,
    },
    /// The clock moves on; billing runs.
    Wait {
        hours: i64,
    },
    /// `crash`: killed (the files as they are) rather than stopped cleanly.
    Restart {
        crash: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let pick = any::<usize>();
    let amount = prop_oneof![1i64..5_000, 4_000i64..30_000, -10i64..=0];
    prop_oneof![
        3 => any::<bool>().prop_map(|debit| Step::Open { debit }),
        6 => (pick, amount.clone()).prop_map(|(agreement, amount)| Step::Authorize { agreement, amount }),
        5 => (pick, amount.clone()).prop_map(|(hold, amount)| Step::Capture { hold, amount }),
        2 => pick.prop_map(|hold| Step::Void { hold }),
        3 => (pick, amount.clone()).prop_map(|(capture, amount)| Step::Refund { capture, amount }),
        3 => (pick, amount).prop_map(|(agreement, amount)| Step::Repay { agreement, amount }),
        1 => (pick, 0i64..60_000).prop_map(|(agreement, requested)| Step::RaiseLimit { agreement, requested }),
        1 => (pick, any::<bool>()).prop_map(|(agreement, frozen)| Step::Freeze { agreement, frozen }),
        1 => pick.prop_map(|agreement| Step::Close { agreement }),
        3 => pick.prop_map(|step| Step::Retry { step }),
        4 => prop_oneof![1i64..48, 200i64..400, 600i64..1_000].prop_map(|hours| Step::Wait { hours }),
        1 => any::<bool>().prop_map(|crash| Step::Restart { crash }),
    ]
}

/// A workload with at least one restart, at a random point.
fn workload() -> impl Strategy<Value = Vec<Step>> {
    (prop::collection::vec(step(), 1..60), any::<prop::sample::Index>(), any::<bool>()).prop_map(|(mut steps, at, crash)| {
        steps.insert(at.index(steps.len() + 1), Step::Restart { crash });
        steps
    })
}

fn config() -> BankConfig {
    BankConfig { default_credit_limit_fen: Fen(20_000), default_debit_balance_fen: Fen(15_000), ..BankConfig::default() }
}

struct World {
    twin: Bank,
    twin_clock: Arc<ManualClock>,
    bank: Bank,
    clock: Arc<ManualClock>,
    /// The restarted bank's files; a crash moves it to a copy.
    db: PathBuf,
    folder: PathBuf,
    restarts: usize,
    agreements: Vec<String>,
    holds: Vec<String>,
    captures: Vec<String>,
    sent: Vec<Command>,
    now: i64,
}

impl World {
    async fn new(folder: &Path) -> World {
        let (twin_clock, clock) = (Arc::new(ManualClock::new(START_UNIX_S)), Arc::new(ManualClock::new(START_UNIX_S)));
        let db = folder.join("0").join("bank.db");
        World {
            twin: Bank::with_clock(config(), twin_clock.clone()),
            twin_clock,
            bank: Bank::with_clock(config(), clock.clone()).with_journal(&db, journal_key()).await.expect("opens"),
            clock,
            db,
            folder: folder.to_path_buf(),
            restarts: 0,
            agreements: vec![],
            holds: vec![],
            captures: vec![],
            sent: vec![],
            now: START_UNIX_S,
        }
    }

    fn pick(list: &[String], index: usize) -> String {
        if list.is_empty() {
            "nothing".to_string()
        } else {
            list[index % list.len()].clone()
        }
    }

    fn fresh(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.sent.len())
    }

    /// The command a step sends; `None` for steps that are not one.
    fn command_for(&mut self, step: &Step) -> Option<Command> {
        let client = "hub".to_string();
        let command = match *step {
            Step::Open { debit } => {
                let (kind, card_no) = match debit {
                    true => (AgreementKind::DebitCard, Some("6222020000001234".to_string())),
                    false => (AgreementKind::CreditLine, None),
                };
                let new_agreement_id = format!("agr-{}", self.agreements.len());
                self.agreements.push(new_agreement_id.clone());
                let request = CreateAgreementRequest {
                    request_id: self.fresh("open"),
                    kind,
                    customer_ref: new_agreement_id.clone(),
                    holder_name: None,
                    card_no,
                    limit_fen: None,
                    opening_balance_fen: None,
                };
                Command::OpenAgreement { client, new_agreement_id, request }
            }
            Step::Authorize { agreement, amount } => {
                let request_id = self.fresh("auth");
                self.holds.push(request_id.clone());
                let agreement_id = World::pick(&self.agreements, agreement);
                let merchant_id = "H44010600001".to_string();
                let request =
                    AuthorizationRequest { request_id, agreement_id, amount_fen: Fen(amount), merchant_id, memo: None, expires_in_s: None };
                Command::Authorize { client, request }
            }
            Step::Capture { hold, amount } => {
                let request_id = self.fresh("capture");
                self.captures.push(request_id.clone());
                let authorization_request_id = World::pick(&self.holds, hold);
                Command::Capture { client, request: CaptureRequest { request_id, authorization_request_id, amount_fen: Fen(amount) } }
            }
            Step::Void { hold } => {
                let request = VoidRequest { request_id: self.fresh("void"), authorization_request_id: World::pick(&self.holds, hold) };
                Command::Void { client, request }
            }
            Step::Refund { capture, amount } => {
                let capture_request_id = World::pick(&self.captures, capture);
                Command::Refund {
                    client,
                    request: RefundRequest { request_id: self.fresh("refund"), capture_request_id, amount_fen: Fen(amount) },
                }
            }
            Step::Repay { agreement, amount } => {
                let request = RepaymentRequest {
                    request_id: self.fresh("repay"),
                    amount_fen: Fen(amount),
                    source: RepaymentSource::BankTransfer,
                    reference: None,
                };
                Command::Repay { client, agreement_id: World::pick(&self.agreements, agreement), request }
            }
            Step::RaiseLimit { agreement, requested } => {
                let request = LimitIncreaseRequest { request_id: self.fresh("raise"), requested_limit_fen: Fen(requested) };
                Command::IncreaseLimit { client, agreement_id: World::pick(&self.agreements, agreement), request }
            }
            Step::Freeze { agreement, frozen } => Command::SetFrozen { agreement_id: World::pick(&self.agreements, agreement), frozen },
            Step::Close { agreement } => {
                let request = CloseAgreementRequest { request_id: self.fresh("close") };
                Command::CloseAgreement { client, agreement_id: World::pick(&self.agreements, agreement), request }
            }
            Step::Retry { step } if !self.sent.is_empty() => self.sent[step % self.sent.len()].clone(),
            Step::Wait { hours } => {
                self.now += hours * 3_600;
                Command::Bill
            }
            Step::Retry { .. } | Step::Restart { .. } => return None,
        };
        self.sent.push(command.clone());
        Some(command)
    }

    /// Sends the command to both banks: they must answer alike.
    async fn send(&mut self, command: Command) -> Result<Option<Reply>, TestCaseError> {
        self.twin_clock.set(self.now);
        self.clock.set(self.now);
        let expected: Result<Option<Reply>, ApplyError> = self.twin.apply(command.clone(), None).await;
        let got = self.bank.apply(command.clone(), None).await;
        prop_assert_eq!(&got, &expected, "{:?}", command);
        Ok(got.ok().flatten())
    }

    async fn restart(&mut self, crash: bool) -> Result<(), TestCaseError> {
        self.restarts += 1;
        if crash {
            // The old process is gone without a word; the next one starts on what is on disk.
            self.db = crash_image(&self.db, &self.folder.join(self.restarts.to_string()));
        } else {
            self.bank.close().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        self.bank = Bank::with_clock(config(), self.clock.clone())
            .with_journal(&self.db, journal_key())
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        self.same_books().await
    }

    async fn same_books(&self) -> Result<(), TestCaseError> {
        let (twin, bank) = (self.twin.state_dump().await, self.bank.state_dump().await);
        prop_assert_eq!(bank, twin);
        prop_assert_eq!(self.bank.check_invariants().await, Ok(()));
        Ok(())
    }

    async fn run(&mut self, steps: Vec<Step>) -> Result<(), TestCaseError> {
        for step in steps {
            if let Step::Restart { crash } = step {
                self.restart(crash).await?;
            } else if let Some(command) = self.command_for(&step) {
                self.send(command).await?;
            }
        }
        self.same_books().await?;
        self.bank.close().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(())
    }
}

/// Copies the database and its WAL (if there is one yet) as a crash leaves them.
fn crash_image(db: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).expect("folder");
    let copy = into.join("bank.db");
    std::fs::copy(db, &copy).expect("copy the database");
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", copy.display())).expect("copy the WAL");
    }
    copy
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn a_restart_at_any_point_changes_nothing(steps in workload()) {
        let folder = std::env::temp_dir().join(format!("wugan-bank-props-{}", uuid::Uuid::new_v4().simple()));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let outcome = runtime.block_on(async {
            let mut world = World::new(&folder).await;
            world.run(steps).await
        });
        let _ = std::fs::remove_dir_all(&folder);
        outcome?;
    }
}
