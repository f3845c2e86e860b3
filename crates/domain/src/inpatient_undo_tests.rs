//! The ward undoing in the ward: an interim settlement cancelled (2305, its bank share refunded)
//! so that a drug returned after it can be uploaded and settled with the rest, and fee lines
//! withdrawn (2302). Driven by the same scripted partners and ledger as the stay's other stories.

use super::*;

fn cancel(stay: &mut Stay, n: u32) {
    stay.stage = begin_cancel_interim(&stay.stage, n, format!("m2305-{n}")).unwrap();
    stay.run();
}

fn ward(stay: &Stay) -> &Ward {
    match &stay.stage {
        StayStage::InWard(w) => w,
        other => panic!("not in the ward: {other:?}"),
    }
}

#[test]
fn a_drug_returned_after_an_interim_settlement_is_refunded_once_that_settlement_is_cancelled() {
    // Fees 1 (1,380.00, a drug) and 2 (50.00) settled in the middle: 1,000 fund, 430 cash
    // captured from the 3,000-yuan hold, 2,570 held again.
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(138_000);
    stay.upload(5_000);
    stay.interim(&["l1", "l2"], split(100_000, 0, 43_000));
    let reheld = ward(&stay).held();
    assert_eq!((reheld, stay.net("hospital:H1"), stay.net("bank:B1:A1")), (Fen(257_000), 143_000, -43_000));

    // The drug comes back: the ward cancels the interim settlement. 2305, then the bank share refunded.
    let before = stay.calls.len();
    cancel(&mut stay, 1);
    assert_eq!(stay.calls[before..], [StayCall::CancelInterim { n: 1 }, StayCall::RefundInterim { n: 1, amount: Fen(43_000) }]);
    let w = ward(&stay);
    assert_eq!((w.interims.len(), w.undone.cancelled_interims.len(), w.held()), (0, 1, reheld), "the hold now is untouched");
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1"), stay.held_in_ledger()), (0, 0, 257_000));
    assert_eq!(stay.net("insurance_fund:440300:310"), 0, "the fund's share back");
    assert!(is_balanced(stay.ledger.values()));
    assert_eq!(unsettled_charges(&stay.stage, stay.charges), Fen(143_000), "its lines are unsettled again");
    assert!(stay.posted.iter().any(|id| id == "stay:ipt-1:bank_refund:interim:1:S1"), "{:?}", stay.posted);

    // The return (line 3, -1,380.00) goes up; the next interim settlement takes 1, 2 and 3 under
    // a number of its own (its bank requests never the cancelled one's).
    stay.upload(-138_000);
    stay.interim(&["l1", "l2", "l3"], split(2_000, 0, 3_000));
    assert!(stay.calls.contains(&StayCall::InterimCapture { n: 2, amount: Fen(3_000) }), "{:?}", stay.calls);
    let w = ward(&stay);
    assert_eq!((w.interims[0].n, w.interims[0].lines.len(), w.next_interim_n()), (2, 3, 3));
    assert_eq!(w.last_reheld().map(|i| i.n), Some(2));
    // The bedside click with nothing since closes the stay: every fen once, the drug not charged.
    stay.discharge();
    assert_eq!(stay.stage.state(), "settled_by_interims");
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1"), stay.held_in_ledger()), (5_000, -3_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn only_the_latest_interim_settlement_in_force_is_cancelled_as_the_center_cancels_newest_first() {
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(20_000);
    stay.interim(&["l1"], split(10_000, 0, 10_000));
    stay.upload(30_000);
    stay.interim(&["l1", "l2"], split(20_000, 0, 10_000));
    let refusal = |stage: &StayStage, n: u32| begin_cancel_interim(stage, n, "m".into()).unwrap_err();
    assert_eq!(refusal(&stay.stage, 1), InterimCancelRefusal::NotLatest { n: 1, latest: 2 });
    assert_eq!(refusal(&stay.stage, 3), InterimCancelRefusal::Unknown { n: 3 });
    // Insurance refuses 2305: the stay stays as it was, saying why, nothing posted.
    let stage = begin_cancel_interim(&stay.stage, 2, "m".into()).unwrap();
    assert_eq!(
        (stage.state(), stage.open_hold(), next_call(&stage)),
        ("cancelling_interim", stay.stage.open_hold(), Some(StayCall::CancelInterim { n: 2 }))
    );
    assert!(
        begin_discharge(&stage, &stay.lines).is_err() && begin_interim(&stage, &[("l9".into(), Fen(100))], ids("r9")).is_err(),
        "one at a time"
    );
    let no = StayOutcome::Refused { code: "-1".into(), message: "请先撤销该住院的后续结算".into() };
    let step = apply(&stage, &parties(), Fen::ZERO, &StayCall::CancelInterim { n: 2 }, no).unwrap();
    let StayStage::InWard(kept) = &step.stage else { panic!("{:?}", step.stage) };
    assert_eq!((kept.interims.len(), step.transfers.len()), (2, 0));
    assert!(kept.undone.refusal.as_ref().is_some_and(|f| f.message.contains("interim settlement 2 (2305)")), "{kept:?}");
    // Newest first: 2, then 1; each once.
    cancel(&mut stay, 2);
    assert_eq!(refusal(&stay.stage, 2), InterimCancelRefusal::AlreadyCancelled { n: 2 });
    cancel(&mut stay, 1);
    let w = ward(&stay);
    assert_eq!((w.interims.len(), w.undone.cancelled_interims.iter().map(|i| i.n).collect::<Vec<_>>()), (0, vec![2, 1]));
    assert_eq!((w.next_interim_n(), w.last_reheld().map(|i| i.n), w.undone.refusal.clone()), (3, Some(2), None));
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1"), stay.net("insurance_fund:440300:310")), (0, 0, 0));
    assert!(is_balanced(stay.ledger.values()));
    // Outside the ward nothing is cancelled in the middle.
    stay.partners.split = split(30_000, 0, 20_000);
    stay.discharge();
    assert_eq!(stay.stage.state(), "settled");
    assert!(matches!(refusal(&stay.stage, 1), InterimCancelRefusal::NotNow(_)));
}

#[test]
fn an_interim_settlement_left_with_a_bill_or_with_no_cash_share_is_cancelled_whole() {
    // The line covers only the 100-yuan deposit: the interim captures it, 100 yuan a bill.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    stay.interim(&["l1"], split(10_000, 0, 20_000));
    assert_eq!((stay.net("hospital_unpaid:H1"), stay.net("bank:B1:A1")), (10_000, -10_000));
    let before = stay.calls.len();
    cancel(&mut stay, 1);
    assert_eq!(stay.calls[before..], [StayCall::CancelInterim { n: 1 }, StayCall::RefundInterim { n: 1, amount: Fen(10_000) }]);
    assert_eq!(
        (stay.net("hospital_unpaid:H1"), stay.net("patient_unpaid:P1"), stay.net("bank:B1:A1"), stay.net("hospital:H1")),
        (0, 0, 0, 0)
    );
    assert_eq!((stay.stage.state(), stay.stage.owed()), ("deposit_short", Fen::ZERO), "it still holds nothing; nothing owed");
    assert!(is_balanced(stay.ledger.values()));

    // A settlement the fund paid whole took nothing from the line: 2305 alone.
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(20_000);
    stay.interim(&["l1"], split(20_000, 0, 0));
    let before = stay.calls.len();
    cancel(&mut stay, 1);
    assert_eq!(stay.calls[before..], [StayCall::CancelInterim { n: 1 }]);
    assert_eq!((stay.net("hospital:H1"), stay.held_in_ledger()), (0, 300_000));
}

fn record(sn: &str, returns: Option<&str>) -> LineOnRecord {
    LineOnRecord { feedetl_sn: sn.into(), returns: returns.map(Into::into), uploaded: true }
}

#[test]
fn unsettled_fee_lines_are_withdrawn_with_their_returns_and_a_settled_one_is_refused() {
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(20_000);
    let on_record = [record("l1", None), record("l2", None), record("l3", Some("l2"))];
    let begin = |stage: &StayStage, asked: WithdrawFees| begin_withdraw_fees(stage, &on_record, &asked, "w1".into(), "m2302".into());
    let lines = |asked: &[&str]| WithdrawFees::Lines(asked.iter().map(|s| s.to_string()).collect());
    assert_eq!(begin(&stay.stage, lines(&["l9"])), Err(WithdrawRefusal::UnknownLine("l9".into())));
    let in_doubt = [record("l1", None), LineOnRecord { uploaded: false, ..record("l2", None) }];
    let asked = lines(&["l1"]);
    assert_eq!(begin_withdraw_fees(&stay.stage, &in_doubt, &asked, "w".into(), "m".into()), Err(WithdrawRefusal::UploadInProgress));

    // Line 2 goes, and its return (line 3) with it, as the center deletes them.
    let stage = begin(&stay.stage, lines(&["l2"])).unwrap();
    let StayStage::WithdrawingFees(w) = &stage else { panic!("{stage:?}") };
    assert_eq!(
        (stage.state(), w.withdrawal.lines.clone(), next_call(&stage)),
        ("withdrawing_fees", vec!["l2".into(), "l3".into()], Some(StayCall::WithdrawFees))
    );
    assert!(begin_discharge(&stage, &stay.lines).is_err() && begin_cancel_admission(&stage).is_err(), "one at a time");
    let unknown = apply(&stage, &parties(), Fen::ZERO, &StayCall::WithdrawFees, StayOutcome::Unknown).unwrap();
    assert_eq!((&unknown.stage, lines_withdrawn(&stage, &unknown.stage)), (&stage, &[][..]), "in doubt: resent as it is");
    let done = apply(&stage, &parties(), Fen::ZERO, &StayCall::WithdrawFees, StayOutcome::Done(StayReply::FeesWithdrawn)).unwrap();
    assert_eq!(
        (done.stage.state(), done.transfers.len(), lines_withdrawn(&stage, &done.stage)),
        ("in_ward", 0, &["l2".to_string(), "l3".into()][..])
    );
    assert_eq!(done.stage.ward().and_then(|w| w.undone.withdrawn_by.as_deref()), Some("w1"));
    // Refused: the lines stay, the ward is told why.
    let no = StayOutcome::Refused { code: "-1".into(), message: "已结算明细不能撤销".into() };
    let kept = apply(&stage, &parties(), Fen::ZERO, &StayCall::WithdrawFees, no).unwrap();
    assert_eq!((kept.stage.state(), lines_withdrawn(&stage, &kept.stage)), ("in_ward", &[][..]));
    assert!(kept.stage.ward().and_then(|w| w.undone.refusal.as_ref()).is_some_and(|f| f.message.contains("2302")));

    // Once an interim settlement took line 1, it is refused by name; "every unsettled line" leaves it.
    stay.interim(&["l1"], split(10_000, 0, 10_000));
    assert_eq!(begin(&stay.stage, lines(&["l1"])), Err(WithdrawRefusal::Settled { line: "l1".into(), n: 1 }));
    let StayStage::WithdrawingFees(w) = begin(&stay.stage, WithdrawFees::Unsettled).unwrap() else { panic!() };
    assert_eq!(w.withdrawal.lines, ["l2", "l3"]);
    let all_settled = [record("l1", None)];
    let none = begin_withdraw_fees(&stay.stage, &all_settled, &WithdrawFees::Unsettled, "w".into(), "m".into());
    assert_eq!(none, Err(WithdrawRefusal::NothingToWithdraw));
    stay.discharge();
    assert!(matches!(begin(&stay.stage, lines(&["l2"])), Err(WithdrawRefusal::NotNow(_))));
}

#[test]
fn a_ward_stored_before_anything_was_undone_reads_and_writes_the_same_text() {
    // The stored stage is the guard of every save: a ward that undid nothing must write as before.
    let old = r#"{"state":"in_ward","mdtrt_id":"M1","pieces":[23000],"raises_sent":0,"raising":null,"short":null,"piece_base":1,"interims":[{"n":1,"setl_id":"S1","split":{"medfee":20000,"fund":13000,"personal_account":0,"cash":7000,"hospital_part":0},"captured":7000,"reheld":23000,"decline_code":null,"lines":["D1"],"request":"r1"}]}"#;
    let stage: StayStage = serde_json::from_str(old).unwrap();
    assert_eq!(serde_json::to_string(&stage).unwrap(), old);
    let w = stage.ward().unwrap();
    assert_eq!((w.undone.clone(), w.next_interim_n(), w.interims[0].bank_operation()), (Undone::default(), 2, "capture"));
}
