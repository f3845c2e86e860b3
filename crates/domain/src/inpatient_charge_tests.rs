//! A settlement of a stay that holds nothing (`inpatient_charge.rs`): the cash share charged to
//! the line in one call, or the bank's decline billed; each bedside settlement after a 2305 under
//! names of its own.

use super::*;

#[test]
fn a_stay_clicked_again_after_its_settlement_was_cancelled_charges_the_line_or_bills_its_decline() {
    // Admitted with a 500-yuan deposit on a 1,000-yuan line; 320 yuan of fees, 200 of it cash.
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 2_000, 20_000));
    stay.upload(32_000);
    stay.discharge();
    stay.then(begin_cancel_settlement);
    // The ward undoes the discharge (2405), sends a corrected fee, and clicks: the stay holds
    // nothing (the first capture closed the hold), so the new share is charged.
    stay.then(begin_undo_discharge);
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("in_ward", Fen::ZERO));
    stay.upload(3_000);
    assert_eq!(stay.stage.state(), "in_ward", "no hold to raise");
    stay.partners.split = split(10_000, 2_000, 23_000);
    stay.partners.available = Fen(100_000);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.decline_code.as_deref(), paid.ward.resettled), (Fen(23_000), None, 1));
    assert_eq!(stay.calls.last(), Some(&StayCall::Charge { amount: Fen(23_000) }));
    assert_eq!((stay.net("bank:B1:A1"), stay.net("hospital:H1")), (-23_000, 35_000));
    // Booked as the bank does it: a piece of its own, numbered past the admission's, posted at once.
    assert!(stay.posted.contains("stay:ipt-1:hold:1") && stay.posted.contains("stay:ipt-1:hold_post:resettle:1:1"), "{:?}", stay.posted);
    assert_eq!(stay.held_in_ledger(), 0);
    assert!(is_balanced(stay.ledger.values()));

    // The line frozen or short when clicked again: the bank declines, and only then is it a bill.
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 2_000, 20_000));
    stay.upload(32_000);
    stay.discharge();
    stay.then(begin_cancel_settlement);
    stay.partners.available = Fen(19_999);
    stay.discharge();
    let StayStage::SettledUnpaid(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen::ZERO, Fen(20_000), Some("insufficient_credit")));
    assert_eq!((stay.stage.owed(), stay.net("hospital_unpaid:H1"), stay.net("bank:B1:A1")), (Fen(20_000), 20_000, 0));
    assert!(is_balanced(stay.ledger.values()));

    // A charge whose answer is lost is asked for again, the same call: never another.
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 2_000, 20_000));
    stay.upload(32_000);
    stay.discharge();
    stay.then(begin_cancel_settlement);
    stay.stage = begin_discharge(&stay.stage, &stay.lines).unwrap();
    for call in [StayCall::PreSettle, StayCall::Settle] {
        let outcome = stay.partners.answer(&call);
        stay.stage = apply(&stay.stage, &parties(), stay.charges, &call, outcome).unwrap().stage;
    }
    let charge = next_call(&stay.stage).unwrap();
    assert_eq!(charge, StayCall::Charge { amount: Fen(20_000) });
    let lost = apply(&stay.stage, &parties(), stay.charges, &charge, StayOutcome::Unknown).unwrap();
    assert_eq!((lost.stage.state(), lost.transfers.len(), next_call(&lost.stage)), ("insurance_settled", 0, Some(charge)));
}

#[test]
fn an_interim_settlement_of_a_stay_holding_nothing_charges_the_line() {
    // The first interim captures the whole 100-yuan hold: the stay holds nothing.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    stay.interim(&["d1"], split(10_000, 0, 20_000));
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("deposit_short", Fen::ZERO));
    // The patient repays; the second interim's 60-yuan share is charged, nothing held again.
    stay.partners.available = Fen(50_000);
    stay.upload(8_000);
    stay.interim(&["d1", "d2"], split(2_000, 0, 6_000));
    assert_eq!(stay.calls.last(), Some(&StayCall::InterimCharge { n: 2, amount: Fen(6_000) }));
    let w = stay.stage.ward().unwrap();
    assert_eq!(
        (w.interims[1].captured, w.interims[1].unpaid(), w.interims[1].reheld, w.held()),
        (Fen(6_000), Fen::ZERO, Fen::ZERO, Fen::ZERO)
    );
    assert!(stay.posted.contains("stay:ipt-1:hold_post:interim:2:1"), "the charge stands as interim 2's capture: {:?}", stay.posted);
    // The third finds the line short: a bill naming the decline, settled at discharge.
    stay.partners.available = Fen::ZERO;
    stay.upload(1_000);
    stay.interim(&["d1", "d2", "d3"], split(0, 0, 1_000));
    let w = stay.stage.ward().unwrap();
    assert_eq!((w.interims[2].captured, w.interims[2].decline_code.as_deref()), (Fen::ZERO, Some("insufficient_credit")));
    assert_eq!(stay.net("bank:B1:A1"), -(10_000 + 6_000));
    assert_eq!(stay.held_in_ledger(), 0);
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_ward_stored_before_resettlements_reads_as_the_first_settlement() {
    let ward = Ward { mdtrt_id: "M".into(), pieces: vec![Fen(100)], ..Ward::default() };
    let written = serde_json::to_value(&ward).unwrap();
    assert!(written.get("resettled").is_none(), "written as before until a settlement is cancelled: {written}");
    let read: Ward = serde_json::from_value(written).unwrap();
    assert_eq!((read.resettled, read.settle_scope()), (0, String::new()));
}
