use super::*;
use crate::ledger::{apply as post, is_balanced, AccountBalance, AccountLimit, TransferKind};
use crate::settlement::tests::{parties, split};
use std::collections::HashMap;

type Ledger = HashMap<String, AccountBalance>;

fn post_all(ledger: &mut Ledger, pending: &mut HashMap<String, Fen>, transfers: &[Transfer]) {
    for t in transfers {
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
}

fn net(ledger: &Ledger, account: &str) -> i64 {
    ledger.get(account).map(|a| a.net_posted().0).unwrap_or(0)
}

/// A settlement paid as `paid` (the bank captured `captured` of its cash share), refunded keeping
/// lines worth `remaining`, re-settled by insurance as `again`. Every call first answered
/// unknown (which changes nothing), then as scripted. → (calls, bank refund, hospital's net,
/// the bank agreement's net, the fund's net).
fn refund(paid: InsuranceSplit, captured: i64, remaining: i64, again: InsuranceSplit) -> (usize, i64, i64, i64, i64) {
    let (mut ledger, mut pending) = (Ledger::new(), HashMap::new());
    let original_parties = parties();
    let mut original: Vec<Transfer> = (captured > 0).then(|| original_parties.hold(Fen(captured))).into_iter().collect();
    original.extend(original_parties.settlement_transfers(&paid, Fen(captured), Fen(captured)));
    post_all(&mut ledger, &mut pending, &original);

    let p = Parties { settlement_id: "rfd-1", ..parties() };
    let mut stage = begin(Original { setl_id: "S1".into(), split: paid, captured: Fen(captured) }, Fen(remaining)).unwrap();
    let mut calls = 0;
    while let Some(call) = next_call(&stage) {
        let unchanged = apply(&stage, &p, &call, RefundOutcome::Unknown).unwrap();
        assert_eq!((&unchanged.stage, unchanged.transfers.len()), (&stage, 0), "an unknown outcome changes nothing");
        let reply = match call {
            RefundCall::ReverseInsurance => RefundReply::Reversed,
            RefundCall::Reupload => RefundReply::Reuploaded,
            RefundCall::Resettle => RefundReply::Resettled(Resettled { setl_id: "S2".into(), split: again }),
            RefundCall::BankRefund { .. } => RefundReply::Refunded,
        };
        let step = apply(&stage, &p, &call, RefundOutcome::Done(reply)).unwrap();
        post_all(&mut ledger, &mut pending, &step.transfers);
        stage = step.stage;
        calls += 1;
    }
    let RefundStage::Refunded(done) = &stage else { panic!("{stage:?}") };
    assert!(is_balanced(ledger.values()) && pending.is_empty());
    assert_eq!(net(&ledger, "hospital:H1") + net(&ledger, "hospital_unpaid:H1"), done.kept().0, "the hospital keeps the remaining lines");
    assert_eq!(net(&ledger, "hospital_unpaid:H1"), done.owed().0, "the bill in force is what the ledger says is owed");
    (
        calls,
        done.bank_refund.0,
        net(&ledger, "hospital:H1"),
        net(&ledger, &crate::settlement::accounts::bank_agreement(p.bank_code, p.bank_agreement_id)),
        net(&ledger, "insurance_fund:440300:310"),
    )
}

#[test]
fn a_partial_refund_returns_exactly_the_difference_to_the_source_that_paid() {
    // 100 yuan: 60 fund, 10 account, 30 cash from the line. Two lines worth 40 come back; the
    // remaining 60 settle as 36 fund, 6 account, 18 cash: the line gets 12 back.
    let (calls, refunded, hospital, bank, fund) = refund(split(6000, 1000, 3000), 3000, 6000, split(3600, 600, 1800));
    assert_eq!((calls, refunded, hospital, bank, fund), (4, 1200, 6000, -1800, -3600));
    // Nothing the bank paid: the re-settlement only moves insurance's shares.
    assert_eq!(refund(split(9000, 1000, 0), 0, 5000, split(4500, 500, 0)), (3, 0, 5000, 0, -4500));
    // The remaining lines' cash share is the whole capture: nothing to refund at the bank.
    assert_eq!(refund(split(0, 0, 5000), 5000, 4000, split(0, 0, 4000)), (4, 1000, 4000, -4000, 0));
}

#[test]
fn a_bill_left_unpaid_by_the_click_is_owed_only_for_the_lines_kept() {
    // 100 yuan: 60 fund, 10 account, 30 cash the line could not pay (a bill of 30). Lines worth 40
    // come back: the remaining 60 settle as 36 / 6 / 18, so 18 is owed, and no bank call is made.
    let (calls, refunded, ..) = refund(split(6000, 1000, 3000), 0, 6000, split(3600, 600, 1800));
    assert_eq!((calls, refunded), (3, 0));
    let owed = |captured: i64, again: InsuranceSplit| {
        let done = Refunded {
            original: Original { setl_id: "S1".into(), split: split(6000, 1000, 3000), captured: Fen(captured) },
            resettled: Some(Resettled { setl_id: "S2".into(), split: again }),
            bank_refund: Fen::ZERO,
        };
        done.owed().0
    };
    assert_eq!(owed(0, split(3600, 600, 1800)), 1800);
    assert_eq!(owed(1000, split(3600, 600, 1800)), 800, "the part the bank paid still counts");
    assert_eq!(owed(3000, split(3600, 600, 1800)), 0, "paid in full: nothing owed");
    // A full refund owes nothing, whatever the click left unpaid.
    assert_eq!(refund(split(6000, 1000, 3000), 0, 0, split(0, 0, 0)), (1, 0, 0, 0, 0));
}

#[test]
fn a_full_refund_reverses_insurance_and_returns_the_whole_capture() {
    assert_eq!(refund(split(6000, 1000, 3000), 3000, 0, split(0, 0, 0)), (2, 3000, 0, 0, 0));
    assert_eq!(refund(split(6000, 1000, 0), 0, 0, split(0, 0, 0)), (1, 0, 0, 0, 0), "nothing captured: 2208 alone");
}

#[test]
fn a_refund_that_keeps_everything_or_a_partner_that_refuses_changes_nothing() {
    let original = Original { setl_id: "S1".into(), split: split(6000, 1000, 3000), captured: Fen(3000) };
    assert!(matches!(begin(original.clone(), Fen(10_000)), Err(RefundError::NothingReturned { .. })));
    let p = Parties { settlement_id: "rfd-1", ..parties() };
    let requested = begin(original.clone(), Fen(6000)).unwrap();
    let no = || RefundOutcome::Refused { code: "-1".into(), message: "no".into() };
    let kept = apply(&requested, &p, &RefundCall::ReverseInsurance, no()).unwrap();
    assert_eq!((kept.stage.state(), kept.transfers.len()), ("refused", 0), "insurance keeps it: so does the hub");
    let resettled = RefundStage::Resettled { original, resettled: Resettled { setl_id: "S2".into(), split: split(3600, 600, 1800) } };
    let refused = apply(&resettled, &p, &RefundCall::BankRefund { amount: Fen(1200) }, no());
    assert!(matches!(refused, Err(RefundError::RefusedUnrefusable { .. })), "a refund owed: a person must look");
    let bad = RefundStage::Reuploaded { original: begin_original(), remaining: Fen(6000) };
    let figures = RefundOutcome::Done(RefundReply::Resettled(Resettled { setl_id: "S2".into(), split: split(3600, 600, 1801) }));
    assert!(matches!(apply(&bad, &p, &RefundCall::Resettle, figures), Err(RefundError::Figures(_))));
}

fn begin_original() -> Original {
    Original { setl_id: "S1".into(), split: split(6000, 1000, 3000), captured: Fen(3000) }
}

#[test]
fn an_insurance_only_refund_never_calls_the_bank_and_the_hospital_returns_the_cash_itself() {
    // 100 yuan: 60 fund, 10 account, 30 cash collected at the hospital's window. Lines worth 40
    // come back (re-settled 36 / 6 / 18): the hospital hands back 12 itself, and a full refund 30.
    for (remaining, again, calls, collected) in [(6000, split(3600, 600, 1800), 3, 1800), (0, split(0, 0, 0), 1, 0)] {
        let paid = split(6000, 1000, 3000);
        let (mut ledger, mut pending) = (Ledger::new(), HashMap::new());
        let original = Parties { cash_at_hospital: true, ..parties() };
        post_all(&mut ledger, &mut pending, &original.settlement_transfers(&paid, Fen(0), Fen(0)));
        assert_eq!(net(&ledger, "cash_outside:H1"), -3000, "the cash share was collected at the hospital");

        let p = Parties { settlement_id: "rfd-1", ..original };
        let mut stage = begin(Original { setl_id: "S1".into(), split: paid, captured: Fen(0) }, Fen(remaining)).unwrap();
        let mut made = 0;
        loop {
            let step = match next_call(&stage) {
                Some(RefundCall::BankRefund { .. }) => panic!("an insurance-only refund asked the bank"),
                Some(call) => {
                    made += 1;
                    let reply = match call {
                        RefundCall::ReverseInsurance => RefundReply::Reversed,
                        RefundCall::Reupload => RefundReply::Reuploaded,
                        _ => RefundReply::Resettled(Resettled { setl_id: "S2".into(), split: again }),
                    };
                    apply(&stage, &p, &call, RefundOutcome::Done(reply)).unwrap()
                }
                None => match finish_without_call(&stage, &p) {
                    Some(step) => step,
                    None => break,
                },
            };
            post_all(&mut ledger, &mut pending, &step.transfers);
            stage = step.stage;
        }
        let RefundStage::Refunded(done) = &stage else { panic!("{stage:?}") };
        assert_eq!((made, done.bank_refund.0), (calls, 0));
        assert!(is_balanced(ledger.values()));
        assert_eq!(net(&ledger, "hospital:H1"), remaining, "the hospital keeps the remaining lines");
        assert_eq!((net(&ledger, "cash_outside:H1"), net(&ledger, "hospital_unpaid:H1")), (-collected, 0), "no bill, ever");
    }
}
