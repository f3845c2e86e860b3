//! A hold the bank let expire (`inpatient_expiry.rs`): a raise or a capture answered
//! `hold_expired` empties the hold, and the cash share is charged to the line in one call under a
//! request id of its own; only the bank's decline of that charge leaves a bill.

use super::*;

/// The stay admitted with a 500-yuan deposit on a 1,000-yuan line, 300 yuan of fees (no raise
/// due yet), and then the bank lets the hold expire.
fn expired_stay() -> Stay {
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 0, 20_000));
    stay.upload(30_000);
    stay.partners.hold_expired = true;
    stay
}

#[test]
fn a_raise_on_an_expired_hold_empties_the_hold_and_the_ward_may_place_a_fresh_one() {
    let mut stay = expired_stay();
    // 150 yuan more reach 80% of the hold: the rule's raise finds it expired.
    stay.upload(15_000);
    assert_eq!(stay.calls.last(), Some(&StayCall::RaiseHold { n: 0, amount: Fen(17_500) }));
    let w = stay.stage.ward().unwrap().clone();
    assert_eq!(
        (stay.stage.state(), w.short.as_deref(), w.held(), stay.stage.open_hold()),
        ("deposit_short", Some(HOLD_EXPIRED), Fen::ZERO, Fen::ZERO)
    );
    assert_eq!((w.raises_sent, w.piece_base, stay.held_in_ledger()), (1, 1, 0), "the piece released in the ledger, numbered past");
    assert!(stay.posted.contains("stay:ipt-1:hold_void:0"), "{:?}", stay.posted);
    assert_eq!(plan_raise(&stay.stage, &DepositRule::default(), Fen(90_000)), None, "nothing to raise");

    // Left as it is, the bedside click charges the share in one call, under the capture's id
    // (no capture was sent): settled, never a bill the line could pay.
    stay.partners.split = split(25_000, 0, 20_000);
    let mut charged = stay_like(&stay);
    charged.discharge();
    let StayStage::Settled(paid) = &charged.stage else { panic!("{:?}", charged.stage) };
    assert_eq!((paid.captured, paid.decline_code.as_deref(), paid.ward.settle_scope()), (Fen(20_000), None, String::new()));
    assert_eq!(charged.calls.last(), Some(&StayCall::Charge { amount: Fen(20_000) }));
    assert!(charged.posted.contains("stay:ipt-1:hold_post:1"), "{:?}", charged.posted);
    assert_eq!((charged.net("bank:B1:A1"), charged.net("hospital:H1"), charged.held_in_ledger()), (-20_000, 45_000, 0));
    assert!(is_balanced(charged.ledger.values()));

    // The ward places a fresh deposit (补交押金): a new hold, captured at the bedside.
    // The bank freed the expired hold's money.
    (stay.partners.hold_expired, stay.partners.available) = (false, Fen(100_000));
    stay.stage = begin_place_hold(&stay.stage, Fen(60_000)).unwrap();
    stay.run();
    assert_eq!((stay.stage.state(), stay.stage.open_hold(), stay.held_in_ledger()), ("in_ward", Fen(60_000), 60_000));
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, stay.calls.last()), (Fen(20_000), Some(&StayCall::Capture { amount: Fen(20_000) })));
    assert_eq!((stay.net("bank:B1:A1"), stay.held_in_ledger()), (-20_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_raise_at_the_bedside_on_an_expired_hold_charges_the_whole_share() {
    // A 100-yuan deposit on a line with nothing more: 300 yuan of fees, the rule's raise declined.
    let mut stay = Stay::admit(10_000, 10_000, split(10_000, 0, 20_000));
    stay.upload(30_000);
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("deposit_short", Fen(10_000)));
    // The patient repays; at the bedside the share (200) is above the hold, whose raise finds it expired.
    (stay.partners.available, stay.partners.hold_expired) = (Fen(100_000), true);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen(20_000), Fen::ZERO, None));
    let n = stay.calls.len();
    assert_eq!(stay.calls[n - 2..], [StayCall::RaiseHold { n: 1, amount: Fen(10_000) }, StayCall::Charge { amount: Fen(20_000) }]);
    assert_eq!((stay.net("bank:B1:A1"), stay.held_in_ledger()), (-20_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_capture_on_an_expired_hold_charges_the_share_under_the_next_scope_or_bills_the_decline() {
    let mut stay = expired_stay();
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen(20_000), Fen::ZERO, None));
    let n = stay.calls.len();
    assert_eq!(stay.calls[n - 2..], [StayCall::Capture { amount: Fen(20_000) }, StayCall::Charge { amount: Fen(20_000) }]);
    // The capture's request id is spent: the charge is the next scope's, `{stay}:resettle:1:capture`.
    assert_eq!((paid.ward.resettled, paid.ward.settle_scope()), (1, "resettle:1:".to_string()));
    assert!(
        stay.posted.contains("stay:ipt-1:hold_void:0") && stay.posted.contains("stay:ipt-1:hold_post:resettle:1:1"),
        "{:?}",
        stay.posted
    );
    assert_eq!((stay.net("bank:B1:A1"), stay.net("hospital:H1"), stay.held_in_ledger()), (-20_000, 30_000, 0));
    assert!(is_balanced(stay.ledger.values()));
    // Its 2305 refunds the charge under that scope; a later settlement is named past it.
    stay.then(begin_cancel_settlement);
    assert_eq!(stay.calls.last(), Some(&StayCall::Refund { amount: Fen(20_000) }));
    assert!(stay.posted.contains("stay:ipt-1:bank_refund:resettle:1:S1"), "{:?}", stay.posted);
    assert_eq!(stay.stage.ward().map(Ward::settle_scope).as_deref(), Some("resettle:2:"));

    // The line cannot cover the charge: the bank's decline is the bill's reason.
    let mut stay = expired_stay();
    stay.partners.available = Fen(19_999);
    stay.discharge();
    let StayStage::SettledUnpaid(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen::ZERO, Fen(20_000), Some("insufficient_credit")));
    assert_eq!((stay.net("hospital_unpaid:H1"), stay.net("bank:B1:A1"), stay.held_in_ledger()), (20_000, 0, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn an_interim_capture_on_an_expired_hold_charges_the_share_and_leaves_the_ward_holding_nothing() {
    let mut stay = expired_stay();
    stay.interim(&["d1"], split(10_000, 0, 20_000));
    let n = stay.calls.len();
    assert_eq!(
        stay.calls[n - 2..],
        [StayCall::InterimCapture { n: 1, amount: Fen(20_000) }, StayCall::InterimCharge { n: 1, amount: Fen(20_000) }]
    );
    let w = stay.stage.ward().unwrap().clone();
    let paid = &w.interims[0];
    assert_eq!((paid.captured, paid.unpaid(), paid.reheld, paid.decline_code.as_deref()), (Fen(20_000), Fen::ZERO, Fen::ZERO, None));
    assert_eq!((stay.stage.state(), w.short.as_deref(), w.held()), ("deposit_short", Some(HOLD_EXPIRED), Fen::ZERO));
    // Booked under a scope of its own (the bank request `{stay}:interim:1:charge`).
    assert!(stay.posted.contains("stay:ipt-1:hold_void:interim:1:0"), "{:?}", stay.posted);
    assert!(stay.posted.contains("stay:ipt-1:hold_post:interim:1:charge:1"), "{:?}", stay.posted);
    assert_eq!((stay.net("bank:B1:A1"), stay.held_in_ledger()), (-20_000, 0));
    assert!(is_balanced(stay.ledger.values()));
    // The ward may place a fresh deposit.
    assert!(begin_place_hold(&stay.stage, Fen(30_000)).is_ok());
}

#[test]
fn a_lost_answer_of_the_charge_after_an_expiry_is_asked_for_again_as_the_same_call() {
    // The bedside: the capture found the hold expired; the charge's answer is lost.
    let mut stay = expired_stay();
    stay.stage = begin_discharge(&stay.stage, &stay.lines).unwrap();
    for call in [StayCall::Discharge, StayCall::PreSettle, StayCall::Settle, StayCall::Capture { amount: Fen(20_000) }] {
        assert_eq!(next_call(&stay.stage).as_ref(), Some(&call));
        let outcome = stay.partners.answer(&call);
        stay.stage = apply(&stay.stage, &parties(), stay.charges, &call, outcome).unwrap().stage;
    }
    let charge = next_call(&stay.stage).unwrap();
    assert_eq!(charge, StayCall::Charge { amount: Fen(20_000) });
    let lost = apply(&stay.stage, &parties(), stay.charges, &charge, StayOutcome::Unknown).unwrap();
    assert_eq!((&lost.stage, lost.transfers.len(), next_call(&lost.stage)), (&stay.stage, 0, Some(charge.clone())));
    assert_eq!(lost.stage.ward().map(Ward::settle_scope).as_deref(), Some("resettle:1:"), "the same id when asked again");
    let done = apply(&lost.stage, &parties(), stay.charges, &charge, StayOutcome::Done(StayReply::Captured)).unwrap();
    assert_eq!(done.stage.state(), "settled");

    // The interim: the same.
    let mut stay = expired_stay();
    stay.partners.split = split(10_000, 0, 20_000);
    stay.stage = begin_interim(&stay.stage, &[("d1".into(), Fen(100))], ids("r1")).unwrap();
    for call in [StayCall::InterimPreSettle, StayCall::InterimSettle, StayCall::InterimCapture { n: 1, amount: Fen(20_000) }] {
        let outcome = stay.partners.answer(&call);
        stay.stage = apply(&stay.stage, &parties(), stay.charges, &call, outcome).unwrap().stage;
    }
    let charge = next_call(&stay.stage).unwrap();
    assert_eq!(charge, StayCall::InterimCharge { n: 1, amount: Fen(20_000) });
    let lost = apply(&stay.stage, &parties(), stay.charges, &charge, StayOutcome::Unknown).unwrap();
    assert_eq!((&lost.stage, lost.transfers.len(), next_call(&lost.stage)), (&stay.stage, 0, Some(charge)));
}

#[test]
fn a_refusal_that_is_not_an_expiry_keeps_the_hold_as_before() {
    // A capture declined for another reason: the hold is voided and the share billed, as ever.
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 0, 20_000));
    stay.upload(30_000);
    stay.stage = begin_discharge(&stay.stage, &stay.lines).unwrap();
    for call in [StayCall::Discharge, StayCall::PreSettle, StayCall::Settle] {
        let outcome = stay.partners.answer(&call);
        stay.stage = apply(&stay.stage, &parties(), stay.charges, &call, outcome).unwrap().stage;
    }
    let frozen = StayOutcome::Refused { code: "agreement_frozen".into(), message: "frozen".into() };
    let step = apply(&stay.stage, &parties(), stay.charges, &StayCall::Capture { amount: Fen(20_000) }, frozen).unwrap();
    assert_eq!((step.stage.open_hold(), next_call(&step.stage)), (Fen(50_000), Some(StayCall::Void)));
}
