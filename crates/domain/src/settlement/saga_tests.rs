use super::*;
use crate::ledger::{apply as post, is_balanced, AccountBalance, AccountLimit, TransferKind};
use crate::settlement::tests::{parties, split};
use std::collections::HashMap;

/// What each scripted partner says to each call.
#[derive(Clone)]
struct Script {
    estimate: InsuranceSplit,
    final_split: InsuranceSplit,
    hold: Option<i64>, // None: declined
    settle_refused: bool,
    capture_refused: bool,
}

fn reply(call: &Call, s: &Script) -> Outcome {
    let refused = |code: &str| Outcome::Refused { code: code.into(), message: "no".into() };
    match call {
        Call::PreSettle => Outcome::Done(Reply::Estimated { split: s.estimate }),
        Call::Authorize { .. } => match s.hold {
            Some(amount) => Outcome::Done(Reply::Held { amount: Fen(amount) }),
            None => refused("insufficient_limit"),
        },
        Call::SettleInsurance if s.settle_refused => refused("-1"),
        Call::SettleInsurance => Outcome::Done(Reply::Insured(Insured { setl_id: "S".into(), split: s.final_split })),
        Call::Capture { .. } if s.capture_refused => refused("agreement_frozen"),
        Call::Capture { .. } => Outcome::Done(Reply::Captured),
        Call::Charge { .. } if s.capture_refused => refused("insufficient_credit"),
        Call::Charge { .. } => Outcome::Done(Reply::Charged),
        Call::Void => Outcome::Done(Reply::Voided),
        Call::ReverseInsurance => Outcome::Done(Reply::Reversed),
        Call::Refund { .. } => Outcome::Done(Reply::Refunded),
    }
}

/// Runs the saga to a final stage, an unknown outcome before every call (the caller retries),
/// posting every step's transfers into an in-memory ledger.
fn run(
    s: &Script,
    mut stage: Stage,
    ledger: &mut HashMap<String, AccountBalance>,
    pending: &mut HashMap<String, Fen>,
) -> (Stage, Vec<Call>) {
    let p = parties();
    let mut calls = Vec::new();
    while let Some(call) = next_call(&stage) {
        let unchanged = apply(&stage, &p, s.final_split.medfee, &call, Outcome::Unknown).unwrap();
        assert_eq!(unchanged.stage, stage, "an unknown outcome changes nothing");
        assert!(unchanged.transfers.is_empty());
        let step = apply(&stage, &p, s.final_split.medfee, &call, reply(&call, s)).unwrap();
        for t in &step.transfers {
            let held = t.pending_id.as_ref().and_then(|id| pending.remove(id));
            let mut d = ledger.remove(&t.debit_account).unwrap_or_default();
            let mut c = ledger.remove(&t.credit_account).unwrap_or_default();
            post(t, &mut d, AccountLimit::None, &mut c, held).unwrap();
            if t.kind == TransferKind::Pending {
                pending.insert(t.id.clone(), t.amount);
            }
            ledger.insert(t.debit_account.clone(), d);
            ledger.insert(t.credit_account.clone(), c);
        }
        calls.push(call);
        stage = step.stage;
    }
    (stage, calls)
}

fn net(ledger: &HashMap<String, AccountBalance>, account: &str) -> i64 {
    ledger.get(account).map(|a| a.net_posted().0).unwrap_or(0)
}

/// (script) → (final state, hospital received, unpaid, bank captured, calls made), from the start.
fn check(s: Script, expect: (SettlementState, i64, i64, i64, usize)) {
    check_from(Stage::Started, s, expect)
}

fn check_from(start: Stage, s: Script, expect: (SettlementState, i64, i64, i64, usize)) {
    let (mut ledger, mut pending) = (HashMap::new(), HashMap::new());
    let (stage, calls) = run(&s, start, &mut ledger, &mut pending);
    assert!(is_balanced(ledger.values()));
    assert!(pending.is_empty(), "no hold outlives its settlement: {stage:?}");
    assert_eq!(stage.open_hold(), Fen::ZERO);
    let captured = stage.paid().map(|p| p.captured.0).unwrap_or(0);
    let got = (stage.state(), net(&ledger, "hospital:H1"), net(&ledger, "hospital_unpaid:H1"), captured, calls.len());
    assert_eq!(got, expect, "{calls:?}");

    // Every settled outcome cancels back to zero.
    if let Some(cancelling) = begin_cancel(&stage) {
        let (stage, _) = run(&s, cancelling, &mut ledger, &mut pending);
        assert_eq!(stage.state(), SettlementState::Cancelled);
        assert!(ledger.values().all(|a| a.net_posted() == Fen(0)), "a cancellation returns every account to zero");
    }
}

fn script(fund: i64, acct: i64, cash: i64) -> Script {
    Script {
        estimate: split(fund, acct, cash),
        final_split: split(fund, acct, cash),
        hold: Some(cash),
        settle_refused: false,
        capture_refused: false,
    }
}

#[test]
fn a_signed_patient_is_settled_at_the_doctors_click() {
    use SettlementState::*;
    // Paid in full: 2206, 2207, and the cash share charged in one bank call.
    check(script(7000, 2000, 1000), (Settled, 10000, 0, 1000, 3));
    // Nothing for the bank: no charge.
    check(script(7000, 3000, 0), (Settled, 10000, 0, 0, 2));
    // The bank declines the charge: insurance has settled, the cash share becomes a bill.
    check(Script { capture_refused: true, ..script(7000, 2000, 1000) }, (SettledUnpaid, 9000, 1000, 0, 3));
    // The final cash share differs from the estimate: the final one is charged, whichever it is.
    let lower = Script { final_split: split(7500, 2000, 500), ..script(7000, 2000, 1000) };
    check(lower, (Settled, 10000, 0, 500, 3));
    let higher = Script { final_split: split(6500, 2000, 1500), ..script(7000, 2000, 1000) };
    check(higher, (Settled, 10000, 0, 1500, 3));
    // Estimate had cash, the final has none: the bank is never called.
    let none = Script { final_split: split(8000, 2000, 0), ..script(7000, 2000, 1000) };
    check(none, (Settled, 10000, 0, 0, 2));
    // Insurance refuses: nothing was held, nothing moves.
    check(Script { settle_refused: true, ..script(7000, 2000, 1000) }, (Failed, 0, 0, 0, 2));
}

#[test]
fn a_settlement_begun_on_the_hold_path_resumes_on_it() {
    use SettlementState::*;
    // Stored by a version that held the estimate before 2207: it goes on as it began.
    let pre_settled = || Stage::PreSettled { estimate_cash: Fen(1000) };
    check_from(pre_settled(), script(7000, 2000, 1000), (Settled, 10000, 0, 1000, 3));
    // The bank declines the hold: insurance still settles, the cash share becomes a bill.
    check_from(pre_settled(), Script { hold: None, ..script(7000, 2000, 1000) }, (SettledUnpaid, 9000, 1000, 0, 2));
    // A partial hold: the rest is a bill.
    check_from(pre_settled(), Script { hold: Some(600), ..script(7000, 2000, 1000) }, (SettledUnpaid, 9600, 400, 600, 3));
    // The final cash share is below the estimate: capture the final share, release the rest.
    let lower = Script { final_split: split(7500, 2000, 500), ..script(7000, 2000, 1000) };
    check_from(pre_settled(), lower, (Settled, 10000, 0, 500, 3));
    // The final cash share is above the hold: capture the hold, bill the rest.
    let higher = Script { final_split: split(6500, 2000, 1500), ..script(7000, 2000, 1000) };
    check_from(pre_settled(), higher, (SettledUnpaid, 9500, 500, 1000, 3));
    // Estimate had cash, the final has none: the hold is voided.
    let none = Script { final_split: split(8000, 2000, 0), ..script(7000, 2000, 1000) };
    check_from(pre_settled(), none, (Settled, 10000, 0, 0, 3));
    // Insurance refuses after the hold: the hold is voided, nothing moves.
    check_from(pre_settled(), Script { settle_refused: true, ..script(7000, 2000, 1000) }, (Failed, 0, 0, 0, 3));
    // The bank refuses the capture: the hold is voided, the cash share is a bill.
    check_from(pre_settled(), Script { capture_refused: true, ..script(7000, 2000, 1000) }, (SettledUnpaid, 9000, 1000, 0, 4));
}

#[test]
fn insurance_figures_that_do_not_add_up_post_nothing() {
    let p = parties();
    let mut bad = split(7000, 2000, 1000);
    bad.fund = Fen(6999);
    let err = apply(&Stage::Started, &p, Fen(10000), &Call::PreSettle, Outcome::Done(Reply::Estimated { split: bad }));
    assert!(matches!(err, Err(SagaError::Figures(_))));
    let authorized = Stage::Authorized { hold: Hold::NotAsked, refusal: None };
    let insured = Insured { setl_id: "S".into(), split: split(7000, 2000, 1001) };
    let err = apply(&authorized, &p, Fen(10000), &Call::SettleInsurance, Outcome::Done(Reply::Insured(insured)));
    assert!(matches!(err, Err(SagaError::Figures(_))), "total differs from the fees uploaded");
}

#[test]
fn a_call_out_of_turn_or_a_reply_to_another_call_is_refused() {
    let p = parties();
    assert!(matches!(apply(&Stage::Started, &p, Fen(1), &Call::SettleInsurance, Outcome::Unknown), Err(SagaError::NotNext { .. })));
    let held = apply(&Stage::Started, &p, Fen(1), &Call::PreSettle, Outcome::Done(Reply::Held { amount: Fen(1) }));
    assert!(matches!(held, Err(SagaError::UnexpectedReply { .. })));
    let over = apply(
        &Stage::PreSettled { estimate_cash: Fen(100) },
        &p,
        Fen(100),
        &Call::Authorize { amount: Fen(100) },
        Outcome::Done(Reply::Held { amount: Fen(101) }),
    );
    assert!(matches!(over, Err(SagaError::OverHold { .. })));
    let cancelling = begin_cancel(&Stage::Settled(Paid {
        hold: Hold::Approved { amount: Fen(5) },
        insured: Insured { setl_id: "S".into(), split: split(0, 0, 5) },
        captured: Fen(5),
        decline_code: None,
        at_hospital: Fen(0),
    }))
    .unwrap();
    let reversed = apply(&cancelling, &p, Fen(5), &Call::ReverseInsurance, Outcome::Done(Reply::Reversed)).unwrap().stage;
    let refused =
        apply(&reversed, &p, Fen(5), &Call::Refund { amount: Fen(5) }, Outcome::Refused { code: "x".into(), message: "y".into() });
    assert!(matches!(refused, Err(SagaError::RefusedUnrefusable { .. })), "a refund is owed: a person must look");
}

#[test]
fn a_cancellation_insurance_refuses_leaves_the_settlement_as_it_was() {
    let p = parties();
    let paid = Paid {
        hold: Hold::NotAsked,
        insured: Insured { setl_id: "S".into(), split: split(10, 0, 0) },
        captured: Fen(0),
        decline_code: None,
        at_hospital: Fen(0),
    };
    let cancelling = begin_cancel(&Stage::Settled(paid.clone())).unwrap();
    let step =
        apply(&cancelling, &p, Fen(10), &Call::ReverseInsurance, Outcome::Refused { code: "-1".into(), message: "no".into() }).unwrap();
    assert_eq!(step.stage, Stage::Settled(paid));
    assert!(step.transfers.is_empty());
    assert!(begin_cancel(&Stage::Started).is_none());
}

#[test]
fn a_self_paying_patient_pays_the_whole_total_from_the_bank_and_a_cancel_refunds_it() {
    use SettlementState::{Cancelled, Settled};
    let p = parties();
    let medfee = Fen(8200);
    // Insurance calls are answered by `self_pay_outcome`, bank calls by the bank.
    let bank = |call: &Call| match call {
        Call::Charge { .. } => Outcome::Done(Reply::Charged),
        Call::Refund { .. } => Outcome::Done(Reply::Refunded),
        other => panic!("{other} is an insurance call"),
    };
    let mut stage = Stage::Started;
    let mut posted = Vec::new();
    let mut run = |stage: &mut Stage| {
        while let Some(call) = next_call(stage) {
            let outcome = self_pay_outcome(&call, medfee).unwrap_or_else(|| bank(&call));
            let step = apply(stage, &p, medfee, &call, outcome).unwrap();
            posted.extend(step.transfers.iter().map(|t| (t.code.clone(), t.amount)));
            *stage = step.stage;
        }
    };
    run(&mut stage);
    let paid = stage.paid().cloned().unwrap();
    assert_eq!((stage.state(), paid.captured, paid.unpaid()), (Settled, medfee, Fen::ZERO));
    assert_eq!(paid.insured.split, InsuranceSplit { medfee, cash: medfee, ..InsuranceSplit::default() });
    stage = begin_cancel(&stage).unwrap();
    run(&mut stage);
    assert_eq!(stage.state(), Cancelled);
    let codes: Vec<(&str, Fen)> = posted.iter().map(|(c, a)| (c.as_str(), *a)).collect();
    assert_eq!(codes, [("bank_share", medfee), ("bank_refund", medfee)], "no fund, no account: the bank alone");
    assert_eq!(self_pay_outcome(&Call::Void, medfee), None);
}

/// Runs an insurance-only settlement to a final stage against a scripted insurance center (a bank
/// call panics), posting into `ledger`; returns the codes posted.
fn run_insurance_only(stage: &mut Stage, p: &Parties<'_>, s: InsuranceSplit, ledger: &mut HashMap<String, AccountBalance>) -> Vec<String> {
    let insurance = |call: &Call| match call {
        Call::PreSettle => Outcome::Done(Reply::Estimated { split: s }),
        Call::SettleInsurance => Outcome::Done(Reply::Insured(Insured { setl_id: "S".into(), split: s })),
        Call::ReverseInsurance => Outcome::Done(Reply::Reversed),
        bank => panic!("{bank} was asked of the bank for an insurance-only settlement"),
    };
    let mut codes = Vec::new();
    while let Some(call) = next_call(stage) {
        let step = apply(stage, p, s.medfee, &call, insurance(&call)).unwrap();
        for t in &step.transfers {
            assert!(t.pending_id.is_none() && t.kind == TransferKind::Posted, "no hold: {t:?}");
            let (mut debit, mut credit) =
                (ledger.remove(&t.debit_account).unwrap_or_default(), ledger.remove(&t.credit_account).unwrap_or_default());
            post(t, &mut debit, AccountLimit::None, &mut credit, None).unwrap();
            ledger.insert(t.debit_account.clone(), debit);
            ledger.insert(t.credit_account.clone(), credit);
            codes.push(t.code.clone());
        }
        *stage = step.stage;
    }
    codes
}

#[test]
fn insurance_only_never_asks_the_bank_and_the_hospital_collects_the_cash_share() {
    use SettlementState::{Cancelled, Settled};
    let p = Parties { cash_at_hospital: true, ..parties() };
    let s = split(7000, 2000, 1000);
    let mut ledger = HashMap::new();
    let mut stage = Stage::Started;
    let mut codes = run_insurance_only(&mut stage, &p, s, &mut ledger);
    let paid = stage.paid().cloned().unwrap();
    assert_eq!((stage.state(), paid.captured, paid.at_hospital, paid.unpaid()), (Settled, Fen(0), Fen(1000), Fen(0)));
    assert_eq!(ledger["hospital:H1"].net_posted(), s.medfee, "the hospital has the whole total: insurance's and its own window's");
    assert_eq!(ledger["cash_outside:H1"].net_posted(), Fen(-1000));
    stage = begin_cancel(&stage).unwrap();
    codes.extend(run_insurance_only(&mut stage, &p, s, &mut ledger));
    assert_eq!(stage.state(), Cancelled);
    assert!(is_balanced(ledger.values()) && ledger.values().all(|a| a.net_posted() == Fen(0)), "a cancellation undoes every share");
    assert_eq!(
        codes,
        [
            "fund_share",
            "personal_account_share",
            "cash_at_hospital",
            "cancel_fund_share",
            "cancel_personal_account_share",
            "cancel_cash_at_hospital"
        ]
    );
}

/// The calls a run makes from `stage` to the end, and the stage each is made from.
fn walk(s: &Script, mut stage: Stage) -> Vec<(Stage, Call)> {
    let mut made = Vec::new();
    while let Some(call) = next_call(&stage) {
        let next = apply(&stage, &parties(), s.final_split.medfee, &call, reply(&call, s)).unwrap().stage;
        made.push((stage, call));
        stage = next;
    }
    made
}

#[test]
fn a_run_that_stops_anywhere_resumes_from_its_last_durable_stage_without_a_second_pre_settlement() {
    let cash = script(7000, 2000, 1000);
    let scripts = [
        cash.clone(),
        script(7000, 3000, 0),
        Script { hold: None, ..cash.clone() },
        Script { settle_refused: true, ..cash.clone() },
        Script { capture_refused: true, ..cash.clone() },
        Script { final_split: split(8000, 2000, 0), ..cash.clone() },
    ];
    // From the start (charged in one call), and on the hold path of a settlement stored before.
    let starts = |s: &Script| {
        let hold_path = s.estimate.cash.is_positive().then_some(Stage::PreSettled { estimate_cash: s.estimate.cash });
        [Some(Stage::Started), hold_path].into_iter().flatten().map(|start| (s.clone(), start)).collect::<Vec<_>>()
    };
    for (s, start) in scripts.iter().flat_map(starts) {
        let settled = walk(&s, start);
        let cancelled = begin_cancel(
            &settled
                .last()
                .map(|(stage, call)| apply(stage, &parties(), s.final_split.medfee, call, reply(call, &s)).unwrap().stage)
                .unwrap(),
        );
        let mut runs = vec![settled];
        runs.extend(cancelled.map(|c| walk(&s, c)));
        for made in runs {
            // The run is killed after its k-th call; the stage kept is the last one made durable.
            for k in 0..made.len() {
                let durable = made[..=k].iter().rev().find(|(_, call)| durable_before(call)).map(|(stage, _)| stage.clone());
                let Some(durable) = durable else { continue };
                let redone = walk(&s, durable.clone());
                let sent_2207 = made[..=k].iter().any(|(_, c)| *c == Call::SettleInsurance);
                assert!(!(sent_2207 && redone.iter().any(|(_, c)| *c == Call::PreSettle)), "{durable:?}: a 2206 after the 2207");
                // Only bank calls (asked about by request id before they are sent again) and the
                // pre-settlement, which changes nothing, are redone from a stage not kept.
                let since_durable = made[..=k].iter().skip_while(|(stage, _)| *stage != durable).skip(1);
                for (_, call) in since_durable {
                    let bank_or_2206 = matches!(call, Call::Authorize { .. } | Call::Capture { .. } | Call::Charge { .. } | Call::Void);
                    assert!(bank_or_2206 || *call == Call::PreSettle, "{call}");
                }
            }
        }
    }
}
