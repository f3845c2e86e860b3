use super::*;
use crate::ledger::{apply as post, is_balanced, AccountBalance, AccountLimit};
use std::collections::{HashMap, HashSet};

fn parties() -> StayParties<'static> {
    StayParties {
        stay_id: "ipt-1",
        hospital_code: "H1",
        psn_no: "P1",
        insuplc_admdvs: "440300",
        insutype: "310",
        bank_code: "B1",
        bank_agreement_id: "A1",
    }
}

fn split(fund: i64, acct: i64, cash: i64) -> InsuranceSplit {
    InsuranceSplit {
        medfee: Fen(fund + acct + cash),
        fund: Fen(fund),
        personal_account: Fen(acct),
        cash: Fen(cash),
        hospital_part: Fen::ZERO,
    }
}

/// The partners of a stay, scripted: what the line can still cover, and the final split.
struct Partners {
    /// What is left on the line for holds and raises.
    available: Fen,
    split: InsuranceSplit,
    /// The capture is declined (the hold expired before the bedside click).
    hold_expired: bool,
    /// Settlements made so far (each has its own setl_id).
    settled: u32,
    /// The center refuses the discharge (2402).
    refuse_discharge: bool,
}

impl Partners {
    fn answer(&mut self, call: &StayCall) -> StayOutcome {
        let decline = || StayOutcome::Refused { code: "insufficient_credit".into(), message: "no".into() };
        StayOutcome::Done(match call {
            StayCall::Admit => StayReply::Admitted { mdtrt_id: "M1".into() },
            StayCall::RaiseHold { .. } if self.hold_expired => {
                return StayOutcome::Refused { code: "hold_expired".into(), message: "expired".into() }
            }
            StayCall::HoldDeposit { amount } | StayCall::RaiseHold { amount, .. } | StayCall::PlaceHold { amount, .. } => {
                if *amount > self.available {
                    return decline();
                }
                self.available -= *amount;
                StayReply::Held { amount: *amount }
            }
            StayCall::Discharge if self.refuse_discharge => {
                return StayOutcome::Refused { code: "-1".into(), message: "该住院已办理出院".into() }
            }
            StayCall::Discharge => StayReply::Discharged,
            StayCall::PreSettle => StayReply::Estimated { split: self.split },
            StayCall::Settle => {
                self.settled += 1;
                StayReply::Insured { setl_id: format!("S{}", self.settled), split: self.split }
            }
            StayCall::Capture { .. } if self.hold_expired => {
                return StayOutcome::Refused { code: "hold_expired".into(), message: "expired".into() }
            }
            StayCall::Capture { .. } => StayReply::Captured,
            // The one-call charge of a stay that holds nothing: judged as a hold of the amount.
            StayCall::Charge { amount } | StayCall::InterimCharge { amount, .. } => {
                if *amount > self.available {
                    return decline();
                }
                self.available -= *amount;
                StayReply::Captured
            }
            StayCall::Void if self.hold_expired => return StayOutcome::Refused { code: "hold_expired".into(), message: "gone".into() },
            StayCall::Void => StayReply::Voided,
            StayCall::UndoDischarge => StayReply::DischargeUndone,
            StayCall::CancelSettlement => StayReply::SettlementCancelled,
            StayCall::Refund { .. } | StayCall::RefundInterim { .. } => StayReply::Refunded,
            StayCall::CancelInterim { .. } => StayReply::SettlementCancelled,
            StayCall::WithdrawFees => StayReply::FeesWithdrawn,
            StayCall::CancelAdmission => StayReply::AdmissionCancelled,
            StayCall::InterimPreSettle => StayReply::Estimated { split: self.split },
            StayCall::InterimSettle => {
                self.settled += 1;
                StayReply::Insured { setl_id: format!("S{}", self.settled), split: self.split }
            }
            StayCall::InterimCapture { .. } if self.hold_expired => {
                return StayOutcome::Refused { code: "hold_expired".into(), message: "expired".into() }
            }
            StayCall::InterimCapture { .. } => StayReply::Captured,
            StayCall::InterimVoid { .. } => return StayOutcome::Refused { code: "hold_expired".into(), message: "gone".into() },
            StayCall::InterimHold { amount, .. } => {
                if *amount > self.available {
                    return decline();
                }
                self.available -= *amount;
                StayReply::Held { amount: *amount }
            }
        })
    }
}

/// A stay driven call by call, each outcome first tried as unknown (which must change nothing),
/// every transfer posted to a ledger as the hub's store would.
struct Stay {
    stage: StayStage,
    partners: Partners,
    ledger: HashMap<String, AccountBalance>,
    pending: HashMap<String, Fen>,
    /// Every transfer id posted: the store refuses one posted again with other values.
    posted: HashSet<String>,
    charges: Fen,
    /// The fee lines uploaded (`l1`, `l2`, …), as the hub has them on record.
    lines: Vec<String>,
    calls: Vec<StayCall>,
}

impl Stay {
    fn admit(deposit: i64, available: i64, split: InsuranceSplit) -> Stay {
        let partners = Partners { available: Fen(available), split, hold_expired: false, settled: 0, refuse_discharge: false };
        let mut stay = Stay {
            stage: StayStage::Admitting { deposit: Fen(deposit) },
            partners,
            ledger: HashMap::new(),
            pending: HashMap::new(),
            posted: HashSet::new(),
            charges: Fen::ZERO,
            lines: vec![],
            calls: vec![],
        };
        stay.run();
        stay
    }

    fn run(&mut self) {
        let p = parties();
        while let Some(call) = next_call(&self.stage) {
            let charges = unsettled_charges(&self.stage, self.charges);
            let unchanged = apply(&self.stage, &p, charges, &call, StayOutcome::Unknown).unwrap();
            assert_eq!((&unchanged.stage, unchanged.transfers.len()), (&self.stage, 0), "an unknown outcome changes nothing");
            let outcome = self.partners.answer(&call);
            let step = apply(&self.stage, &p, charges, &call, outcome).unwrap();
            for t in &step.transfers {
                assert!(self.posted.insert(t.id.clone()), "transfer {} posted twice", t.id);
                let held = t.pending_id.as_ref().and_then(|id| self.pending.remove(id));
                let mut d = self.ledger.remove(&t.debit_account).unwrap_or_default();
                let mut c = self.ledger.remove(&t.credit_account).unwrap_or_default();
                post(t, &mut d, AccountLimit::None, &mut c, held).unwrap();
                if t.kind == TransferKind::Pending {
                    self.pending.insert(t.id.clone(), t.amount);
                }
                self.ledger.insert(t.debit_account.clone(), d);
                self.ledger.insert(t.credit_account.clone(), c);
            }
            self.calls.push(call);
            self.stage = step.stage;
        }
    }

    /// A day's fees uploaded (negative for returned drugs); the rule may raise the hold.
    fn upload(&mut self, fen: i64) {
        self.charges += Fen(fen);
        self.lines.push(format!("l{}", self.lines.len() + 1));
        if let Some(raising) = plan_raise(&self.stage, &DepositRule::default(), self.charges) {
            self.stage = raising;
            self.run();
        }
    }

    /// The bedside click, with the lines on record.
    fn discharge(&mut self) {
        self.stage = begin_discharge(&self.stage, &self.lines).unwrap();
        self.run();
    }

    fn then(&mut self, begin: fn(&StayStage) -> Result<StayStage, StayError>) {
        self.stage = begin(&self.stage).unwrap();
        self.run();
    }

    fn net(&self, account: &str) -> i64 {
        self.ledger.get(account).map(|a| a.net_posted().0).unwrap_or(0)
    }

    fn held_in_ledger(&self) -> i64 {
        self.pending.values().map(|f| f.0).sum()
    }
}

#[test]
fn the_rule_raises_a_hold_when_the_charges_approach_it() {
    let rule = DepositRule::default();
    // (held, charges) → the raise due
    for (held, charges, expect) in
        [(10_000, 7_999, None), (10_000, 8_000, Some(2_000)), (10_000, 12_000, Some(8_000)), (0, 1, Some(2)), (10_000, 0, None)]
    {
        assert_eq!(rule.raise_for(Fen(held), Fen(charges)), expect.map(Fen), "held {held}, charges {charges}");
    }
}

#[test]
fn a_five_day_stay_with_a_drug_return_is_settled_at_the_bedside() {
    // 2,000-yuan deposit on a 50,000-yuan line; five days of fees, one returned drug.
    let total = 120_000 + 150_000 + 80_000 + 90_000 - 12_000 + 60_000;
    let mut stay = Stay::admit(200_000, 5_000_000, split(400_000, 20_000, total - 420_000));
    assert_eq!((stay.stage.state(), stay.held_in_ledger()), ("in_ward", 200_000));
    for day in [120_000, 150_000, 80_000, 90_000, -12_000, 60_000] {
        stay.upload(day);
        let w = stay.stage.ward().unwrap();
        assert!(w.held() >= stay.charges, "day by day the hold stays ahead of the charges: {w:?}");
    }
    let held = stay.stage.open_hold();
    assert_eq!(Fen(stay.held_in_ledger()), held, "each piece of the hold is pending in the ledger");
    assert!(stay.stage.ward().unwrap().pieces.len() > 1, "the hold was raised as the charges grew");

    stay.discharge();
    assert_eq!(stay.stage.state(), "settled");
    let paid = match &stay.stage {
        StayStage::Settled(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!((paid.captured, paid.unpaid()), (Fen(total - 420_000), Fen::ZERO));
    assert_eq!(stay.net("hospital:H1"), total, "the hospital has the whole stay");
    assert_eq!(stay.net("bank:B1:A1"), -(total - 420_000), "the line carries the patient's share, no more");
    assert_eq!((stay.held_in_ledger(), stay.stage.open_hold()), (0, Fen::ZERO), "nothing held after the bedside click");
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_deposit_too_small_is_raised_and_what_the_line_cannot_cover_is_a_bill() {
    // A 300-yuan deposit on a line with 1,000 yuan free; the stay costs 2,000, 1,500 of it cash.
    let mut stay = Stay::admit(30_000, 100_000, split(50_000, 0, 150_000));
    stay.upload(50_000); // past 80% of 30,000: raised to 150% of the charges, 75,000
    assert_eq!(stay.stage.state(), "in_ward");
    assert_eq!(stay.stage.open_hold(), Fen(75_000));
    stay.upload(150_000); // wants 300,000: the line has 25,000 left → declined, deposit_short
    assert_eq!(stay.stage.state(), "deposit_short");
    assert_eq!(stay.stage.open_hold(), Fen(75_000), "a refused raise leaves the hold as it was, never an overdraft");
    stay.discharge();
    let StayStage::SettledUnpaid(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid()), (Fen(75_000), Fen(75_000)));
    assert_eq!(stay.net("hospital_unpaid:H1"), 75_000, "the rest is an explicit bill");
    assert_eq!(stay.held_in_ledger(), 0);
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_deposit_the_line_declines_leaves_the_stay_in_the_ward_as_short() {
    let mut stay = Stay::admit(30_000, 10_000, split(1_000, 0, 9_000));
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("deposit_short", Fen::ZERO));
    stay.upload(10_000); // no hold to raise: nothing is sent
    assert_eq!(stay.calls.len(), 2);
    // The 90-yuan share fits the 100 yuan the line has: charged in one call, no bill.
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen(9_000), Fen::ZERO, None));
    assert_eq!(stay.calls.last(), Some(&StayCall::Charge { amount: Fen(9_000) }));
    assert_eq!((stay.net("bank:B1:A1"), stay.net("hospital:H1"), stay.held_in_ledger()), (-9_000, 10_000, 0));
    assert!(is_balanced(stay.ledger.values()));
    // The line has less than the share: the bank's decline is the bill's reason.
    let mut stay = Stay::admit(30_000, 10_000, split(1_000, 0, 9_000));
    stay.upload(10_000);
    stay.partners.available = Fen(8_999);
    stay.discharge();
    let StayStage::SettledUnpaid(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen::ZERO, Fen(9_000), Some("insufficient_credit")));
    assert_eq!((stay.net("hospital_unpaid:H1"), stay.net("bank:B1:A1")), (9_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_discharge_is_undone_and_an_admission_cancelled_releases_the_hold() {
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 0, 20_000));
    stay.upload(30_000);
    // Insurance refuses the settlement: the stay waits, discharged; undone, it is back in the ward.
    stay.stage = begin_discharge(&stay.stage, &stay.lines).unwrap();
    let step = apply(&stay.stage, &parties(), stay.charges, &StayCall::Discharge, StayOutcome::Done(StayReply::Discharged)).unwrap();
    let refused = StayOutcome::Refused { code: "-1".into(), message: "fees do not match".into() };
    let step = apply(&step.stage, &parties(), stay.charges, &StayCall::PreSettle, refused).unwrap();
    assert_eq!((step.stage.state(), next_call(&step.stage)), ("settlement_refused", None));
    stay.stage = step.stage;
    stay.then(begin_undo_discharge);
    assert_eq!(stay.stage.state(), "in_ward");
    stay.then(begin_cancel_admission);
    assert_eq!((stay.stage.state(), stay.held_in_ledger()), ("cancelled", 0));
    assert_eq!(stay.calls.last(), Some(&StayCall::Void));
    assert!(stay.ledger.values().all(|a| a.net_posted() == Fen::ZERO), "nothing moved");
}

#[test]
fn a_confused_partner_or_caller_changes_nothing() {
    let p = parties();
    let admitting = StayStage::Admitting { deposit: Fen(100) };
    let wrong = apply(&admitting, &p, Fen::ZERO, &StayCall::Discharge, StayOutcome::Unknown);
    assert!(matches!(wrong, Err(StayError::NotNext { .. })));
    let over = apply(
        &StayStage::Admitted { mdtrt_id: "M".into(), deposit: Fen(100) },
        &p,
        Fen::ZERO,
        &StayCall::HoldDeposit { amount: Fen(100) },
        StayOutcome::Done(StayReply::Held { amount: Fen(101) }),
    );
    assert!(matches!(over, Err(StayError::OverHold { .. })));
    let ward = Ward { mdtrt_id: "M".into(), pieces: vec![Fen(100)], ..Ward::default() };
    let discharged = StayStage::Discharged { ward: ward.clone(), refusal: None };
    let bad = StayOutcome::Done(StayReply::Estimated { split: split(1, 1, 1) });
    assert!(matches!(apply(&discharged, &p, Fen(4), &StayCall::PreSettle, bad), Err(StayError::Figures(_))), "figures are checked");
    assert!(begin_discharge(&StayStage::Admitting { deposit: Fen(1) }, &[]).is_err());
    let raising = StayStage::InWard(Ward { raising: Some(Fen(5)), ..ward });
    assert!(begin_discharge(&raising, &[]).is_err(), "a raise in flight is answered first");
    assert_eq!(plan_raise(&raising, &DepositRule::default(), Fen(1_000)), None);
}

#[test]
fn a_settled_stay_is_cancelled_refunded_and_settled_again_under_new_names() {
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 2_000, 20_000));
    stay.upload(32_000);
    stay.discharge();
    assert_eq!((stay.stage.state(), stay.net("hospital:H1")), ("settled", 32_000));
    stay.then(begin_cancel_settlement);
    assert_eq!(stay.stage.state(), "settlement_cancelled");
    assert_eq!(stay.calls[stay.calls.len() - 2..], [StayCall::CancelSettlement, StayCall::Refund { amount: Fen(20_000) }]);
    assert!(stay.ledger.values().all(|a| a.net_posted() == Fen::ZERO), "every share went back");
    // Clicked again (insurance answers a new settlement): the capture closed the hold, so the cash
    // share is charged to the line in one call, named afresh: nothing owed.
    let StayStage::SettlementCancelled(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((w.resettled, w.settle_scope().as_str(), w.held()), (1, "resettle:1:", Fen::ZERO));
    stay.partners.available = Fen(100_000); // the released hold and the refund are free again
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.setl_id.as_str(), paid.captured, paid.unpaid(), stay.stage.owed()), ("S2", Fen(20_000), Fen::ZERO, Fen::ZERO));
    assert_eq!(stay.calls.last(), Some(&StayCall::Charge { amount: Fen(20_000) }));
    assert_eq!((stay.net("bank:B1:A1"), stay.net("hospital:H1"), stay.net("hospital_unpaid:H1")), (-20_000, 32_000, 0));
    assert_eq!(stay.held_in_ledger(), 0);
    assert!(is_balanced(stay.ledger.values()));
    // Cancelled again: the charge is refunded under the second settlement's own names.
    stay.then(begin_cancel_settlement);
    assert_eq!(stay.calls.last(), Some(&StayCall::Refund { amount: Fen(20_000) }));
    assert!(stay.posted.contains("stay:ipt-1:bank_refund:resettle:1:S2"), "{:?}", stay.posted);
    assert!(stay.ledger.values().all(|a| a.net_posted() == Fen::ZERO), "every share went back again");
    let StayStage::SettlementCancelled(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!(w.settle_scope(), "resettle:2:");
    assert!(begin_cancel_settlement(&StayStage::Cancelled).is_err());
}

#[test]
fn a_fresh_hold_after_a_cancelled_settlement_and_an_undone_discharge_is_a_new_piece() {
    let mut stay = Stay::admit(50_000, 500_000, split(10_000, 2_000, 20_000));
    stay.upload(32_000);
    stay.discharge();
    stay.then(begin_cancel_settlement);
    stay.then(begin_undo_discharge);
    let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert!(!w.has_hold() && w.piece_base >= 1, "back in the ward with nothing held, numbered past the admission's piece: {w:?}");
    // The ward asks for a fresh deposit: held under a piece of its own, and posted (the admission's
    // piece 0 is closed and would refuse it).
    stay.stage = begin_place_hold(&stay.stage, Fen(30_000)).unwrap();
    stay.run();
    let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!(w.held(), Fen(30_000), "{w:?}");
    assert_eq!(stay.held_in_ledger(), 30_000, "the fresh hold is in the ledger");
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_share_above_the_hold_is_raised_within_the_line_then_captured_in_one() {
    // A 300-yuan deposit, no fees that trigger the rule, then a 2304 cash share of 450 yuan:
    // the 150 above the hold is raised (raise 0), and the whole share captured at once.
    let mut stay = Stay::admit(30_000, 100_000, split(5_000, 0, 45_000));
    stay.charges = Fen(50_000);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.ward.pieces.clone()), (Fen(45_000), Fen::ZERO, vec![Fen(30_000), Fen(15_000)]));
    let tail = &stay.calls[stay.calls.len() - 2..];
    assert_eq!(tail, [StayCall::RaiseHold { n: 0, amount: Fen(15_000) }, StayCall::Capture { amount: Fen(45_000) }]);
    assert_eq!(stay.net("bank:B1:A1"), -45_000, "the line carries the whole share");
    assert_eq!((stay.net("hospital_unpaid:H1"), stay.held_in_ledger()), (0, 0), "no bill, nothing held");
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_share_above_the_hold_the_line_cannot_cover_is_a_bill_naming_the_decline() {
    // 300 held, 100 left on the line, a 450-yuan share: the raise of 150 is declined.
    let mut stay = Stay::admit(30_000, 40_000, split(5_000, 0, 45_000));
    stay.charges = Fen(50_000);
    stay.discharge();
    let StayStage::SettledUnpaid(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen(30_000), Fen(15_000), Some("insufficient_credit")));
    assert_eq!(stay.calls.last(), Some(&StayCall::Capture { amount: Fen(30_000) }));
    assert_eq!(stay.net("hospital_unpaid:H1"), 15_000, "the rest is an explicit bill, a receivable");
    assert_eq!(stay.held_in_ledger(), 0);
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_stage_stored_before_the_share_above_the_hold_reads_as_untried() {
    let ward = Ward { mdtrt_id: "M".into(), pieces: vec![Fen(100)], ..Ward::default() };
    let old = serde_json::json!({"state": "insurance_settled", "ward": ward, "setl_id": "S1", "split": split(0, 0, 150),
                                 "capture_declined": null});
    let stage: StayStage = serde_json::from_value(old).unwrap();
    assert_eq!(next_call(&stage), Some(StayCall::RaiseHold { n: 0, amount: Fen(50) }));
}

fn ids(request: &str) -> InterimIds {
    InterimIds { request: request.into(), presettle_msgid: "m2303".into(), settle_msgid: "m2304".into() }
}

impl Stay {
    /// 中途结算 of the lines uploaded so far (`lines` names them), with insurance answering `split`.
    fn interim(&mut self, lines: &[&str], split: InsuranceSplit) {
        self.partners.split = split;
        let uploaded: Vec<(String, Fen)> = lines.iter().map(|l| (l.to_string(), Fen(100))).collect();
        self.stage = begin_interim(&self.stage, &uploaded, ids("r1")).unwrap();
        self.run();
    }
}

#[test]
fn a_long_stay_is_settled_in_the_middle_and_the_final_settlement_takes_only_the_rest() {
    // A 3,000-yuan deposit; 2,000 yuan of fees by day 5, settled in the middle: 1,200 fund,
    // 100 account, 700 cash captured from the hold, 2,300 held again.
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(200_000);
    stay.interim(&["d1", "d2"], split(120_000, 10_000, 70_000));
    let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((w.held(), w.piece_base, w.interims.len()), (Fen(230_000), 1, 1), "the rest of the hold is held again");
    assert_eq!((w.interims[0].captured, w.interims[0].reheld, w.interims[0].lines.len()), (Fen(70_000), Fen(230_000), 2));
    assert_eq!(
        stay.calls[stay.calls.len() - 4..],
        [
            StayCall::InterimPreSettle,
            StayCall::InterimSettle,
            StayCall::InterimCapture { n: 1, amount: Fen(70_000) },
            StayCall::InterimHold { n: 1, amount: Fen(230_000) }
        ]
    );
    assert_eq!((stay.net("hospital:H1"), stay.held_in_ledger()), (200_000, 230_000));
    // The same lines again: nothing to settle.
    let again = [("d1".to_string(), Fen(100)), ("d2".to_string(), Fen(100))];
    assert!(matches!(begin_interim(&stay.stage, &again, ids("r2")), Err(StayError::NothingToSettle)));
    // A charge and its full return since: they add up to nothing, no settlement of zero.
    let nothing = [again[0].clone(), again[1].clone(), ("b".to_string(), Fen(5_000)), ("rb".to_string(), Fen(-5_000))];
    assert!(matches!(begin_interim(&stay.stage, &nothing, ids("r2")), Err(StayError::NothingToSettle)));
    // The center refuses 2404 once a settlement stands.
    assert!(begin_cancel_admission(&stay.stage).is_err());
    // Days 6–10: 1,000 yuan more; the final settlement covers those only.
    stay.upload(100_000);
    assert_eq!(unsettled_charges(&stay.stage, stay.charges), Fen(100_000));
    stay.partners.split = split(60_000, 0, 40_000);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.split.medfee, paid.captured, paid.ward.interims.len()), (Fen(100_000), Fen(40_000), 1));
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1")), (300_000, -110_000), "every fen once");
    assert_eq!(stay.held_in_ledger(), 0, "the rest of the hold is released");
    assert!(is_balanced(stay.ledger.values()));
    // 2305 reverses the final settlement only: the interim one stands, with what it captured.
    stay.then(begin_cancel_settlement);
    let StayStage::SettlementCancelled(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((w.interims.len(), unsettled_charges(&stay.stage, stay.charges)), (1, Fen(100_000)));
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1")), (200_000, -70_000));
}

#[test]
fn an_interim_share_above_the_hold_is_raised_and_a_declined_capture_held_again() {
    // A line with nothing free: the share above the hold cannot be raised onto it; the hold is
    // captured whole, the rest is a bill, and nothing is left to hold again.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    assert_eq!(stay.stage.state(), "deposit_short", "the rule's raise was declined");
    stay.interim(&["d1"], split(10_000, 0, 20_000));
    let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    let paid = &w.interims[0];
    assert_eq!((w.held(), w.short.as_deref()), (Fen::ZERO, Some("deposit_used_up")));
    assert_eq!((paid.captured, paid.unpaid(), paid.decline_code.as_deref()), (Fen(10_000), Fen(10_000), Some("insufficient_credit")));
    assert!(matches!(stay.calls[stay.calls.len() - 2], StayCall::RaiseHold { amount: Fen(10_000), .. }));
    assert_eq!((stay.net("hospital_unpaid:H1"), stay.held_in_ledger()), (10_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn an_interim_settlement_insurance_refuses_leaves_the_stay_in_the_ward_saying_why_until_the_next_or_the_click() {
    let mut stay = Stay::admit(50_000, 100_000, split(0, 0, 0));
    stay.upload(30_000);
    let ward = stay.stage.ward().cloned();
    let refused = |call: StayCall, stage: &StayStage| {
        let no = StayOutcome::Refused { code: "-1".into(), message: "已出院，请做出院结算".into() };
        apply(stage, &parties(), Fen(30_000), &call, no).unwrap().stage
    };
    let pre_settling = begin_interim(&stay.stage, &[("l1".into(), Fen(30_000))], ids("r2")).unwrap();
    let settling = StayStage::Interim(match &pre_settling {
        StayStage::Interim(i) => Interim { step: InterimStep::Settling, ..i.clone() },
        other => panic!("{other:?}"),
    });
    for (stage, said) in [
        (refused(StayCall::InterimPreSettle, &pre_settling), "the interim pre-settlement (2303) refused (-1): 已出院，请做出院结算"),
        (refused(StayCall::InterimSettle, &settling), "the interim settlement (2304) refused (-1): 已出院，请做出院结算"),
    ] {
        let StayStage::InWard(w) = &stage else { panic!("{stage:?}") };
        let why = w.interim_refusal.clone().expect("the reason is kept for the ward");
        assert_eq!(
            (why.code.as_str(), why.message.as_str(), Failure::center_words(&why.message)),
            ("insurance_refused", said, "已出院，请做出院结算")
        );
        assert_eq!(Some(Ward { interim_refusal: None, ..w.clone() }), ward, "the hold untouched, nothing else changed");
        // The next interim settlement clears it, as does the bedside click (which settles every line).
        let next = begin_interim(&stage, &[("l1".into(), Fen(30_000))], ids("r3")).unwrap();
        let click = begin_discharge(&stage, &["l1".into()]).unwrap();
        assert_eq!([&next, &click].map(|s| s.ward().map(|w| w.interim_refusal.is_none())), [Some(true); 2]);
    }
    assert_eq!(Failure::center_words("no prefix (here): whole"), "no prefix (here): whole", "another message whole");
}

#[test]
fn a_hold_used_up_in_the_middle_is_placed_afresh_and_the_stay_settles_on_it() {
    // The interim captures the whole 100-yuan hold: nothing is left to hold again.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    stay.interim(&["d1"], split(10_000, 0, 20_000));
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("deposit_short", Fen::ZERO));
    // The patient frees credit; the ward asks for 200 yuan: the fresh hold `{stay}:hold:1`.
    stay.partners.available = Fen(15_000);
    assert!(begin_place_hold(&stay.stage, Fen::ZERO).is_err());
    stay.stage = begin_place_hold(&stay.stage, Fen(20_000)).unwrap();
    assert_eq!((stay.stage.state(), next_call(&stay.stage)), ("raising_deposit", Some(StayCall::PlaceHold { n: 1, amount: Fen(20_000) })));
    assert!(
        begin_discharge(&stay.stage, &stay.lines).is_err() && begin_place_hold(&stay.stage, Fen(1)).is_err(),
        "one in flight at a time"
    );
    stay.run();
    assert_eq!((stay.stage.state(), stay.stage.open_hold()), ("deposit_short", Fen::ZERO), "declined: the line has 150 yuan");
    // Asked again for 150 yuan: `{stay}:hold:2`, approved, the stay back in the ward.
    stay.stage = begin_place_hold(&stay.stage, Fen(15_000)).unwrap();
    assert_eq!(next_call(&stay.stage), Some(StayCall::PlaceHold { n: 2, amount: Fen(15_000) }));
    stay.run();
    let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((w.held(), w.placed, w.piece_base, w.short.as_deref()), (Fen(15_000), Some(2), 1, None));
    assert_eq!((stay.stage.state(), stay.held_in_ledger()), ("in_ward", 15_000));
    assert!(begin_place_hold(&stay.stage, Fen(1)).is_err(), "a stay that holds something is raised, not held again");
    // The bedside click settles the 80 yuan since on the fresh hold.
    stay.upload(8_000);
    stay.partners.split = split(2_000, 0, 6_000);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((paid.captured, stay.held_in_ledger()), (Fen(6_000), 0));
    assert_eq!(stay.net("bank:B1:A1"), -(10_000 + 6_000), "the interim's capture and the final one");
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_stay_the_interim_settlements_took_whole_is_discharged_and_its_hold_released_never_settled_again() {
    // 2,000 yuan of fees, all settled in the middle: 700 cash captured, 2,300 held again.
    let mut stay = Stay::admit(300_000, 5_000_000, split(0, 0, 0));
    stay.upload(200_000);
    stay.interim(&["l1"], split(120_000, 10_000, 70_000));
    let settled_so_far = stay.calls.len();
    // The bedside click with no fee since: 2402, then the hold released; no 2303/2304.
    stay.stage = begin_discharge(&stay.stage, &stay.lines).unwrap();
    assert_eq!((stay.stage.state(), next_call(&stay.stage)), ("discharging", Some(StayCall::Discharge)));
    stay.run();
    assert_eq!(stay.calls[settled_so_far..], [StayCall::Discharge, StayCall::Void]);
    let StayStage::SettledByInterims(w) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!((w.interims.len(), w.held(), w.piece_base), (1, Fen::ZERO, 2), "the interim stands, nothing held");
    assert_eq!((stay.stage.state(), stay.stage.is_final(), next_call(&stay.stage)), ("settled_by_interims", true, None));
    assert_eq!((stay.stage.open_hold(), stay.held_in_ledger()), (Fen::ZERO, 0), "the rest of the hold is released");
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1")), (200_000, -70_000), "charged once, by the interim");
    assert!(is_balanced(stay.ledger.values()));
    // Nothing more to do at the bedside, and no final settlement to cancel.
    assert!(begin_discharge(&stay.stage, &stay.lines).is_err() && begin_cancel_settlement(&stay.stage).is_err());
    // A charge that comes after the discharge (出院后补录): the discharge is undone (2405), as after
    // a final settlement's cancellation (review r25 ward F5: it was a dead end). Back in the ward
    // with nothing held, the next click settles the late line and charges its share in one call.
    stay.stage = begin_undo_discharge(&stay.stage).unwrap();
    stay.run();
    assert_eq!(stay.stage.state(), "in_ward");
    stay.upload(10_000);
    stay.partners.split = split(5_000, 0, 5_000);
    stay.discharge();
    let StayStage::Settled(paid) = &stay.stage else { panic!("{:?}", stay.stage) };
    assert_eq!(paid.captured, Fen(5_000));
    assert_eq!((stay.net("hospital:H1"), stay.net("bank:B1:A1"), stay.held_in_ledger()), (210_000, -75_000, 0));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_hold_used_up_in_the_middle_or_placed_afresh_is_released_at_a_discharge_with_nothing_to_settle() {
    // The interim captures the whole 100-yuan hold: the click only discharges.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    stay.interim(&["l1"], split(10_000, 0, 20_000));
    let mut fresh = stay_like(&stay);
    let before = stay.calls.len();
    stay.discharge();
    assert_eq!((stay.calls[before..].to_vec(), stay.stage.state()), (vec![StayCall::Discharge], "settled_by_interims"));
    assert_eq!(stay.stage.ward().map(|w| w.short.clone()), Some(None), "closed, nothing is short any more");
    assert_eq!((stay.net("bank:B1:A1"), stay.net("hospital_unpaid:H1"), stay.held_in_ledger()), (-10_000, 10_000, 0));
    assert!(is_balanced(stay.ledger.values()));

    // The same stay with a fresh 150-yuan deposit placed after the interim: released, not captured.
    fresh.partners.available = Fen(15_000);
    fresh.stage = begin_place_hold(&fresh.stage, Fen(15_000)).unwrap();
    fresh.run();
    assert_eq!((fresh.stage.state(), fresh.held_in_ledger()), ("in_ward", 15_000));
    let before = fresh.calls.len();
    fresh.discharge();
    assert_eq!(fresh.calls[before..], [StayCall::Discharge, StayCall::Void]);
    assert_eq!((fresh.stage.state(), fresh.stage.open_hold(), fresh.held_in_ledger()), ("settled_by_interims", Fen::ZERO, 0));
    assert_eq!(fresh.net("bank:B1:A1"), -10_000, "the interim's capture only: the fresh hold is not spent");
    assert!(is_balanced(fresh.ledger.values()));
}

/// `like` as it stands (its ledger, lines and partners), for a second path from the same point.
fn stay_like(like: &Stay) -> Stay {
    let p = &like.partners;
    Stay {
        stage: like.stage.clone(),
        partners: Partners {
            available: p.available,
            split: p.split,
            hold_expired: p.hold_expired,
            settled: p.settled,
            refuse_discharge: p.refuse_discharge,
        },
        ledger: like.ledger.clone(),
        pending: like.pending.clone(),
        posted: like.posted.clone(),
        charges: like.charges,
        lines: like.lines.clone(),
        calls: like.calls.clone(),
    }
}

#[test]
fn a_discharge_settles_when_any_line_is_left_and_closes_a_stay_stuck_for_want_of_lines() {
    let mut stay = Stay::admit(50_000, 100_000, split(0, 0, 0));
    stay.upload(30_000);
    // No interim settlement: the click settles, even with nothing on record.
    assert!(matches!(begin_discharge(&stay.stage, &[]), Ok(StayStage::Discharging(_))));
    stay.interim(&["l1"], split(10_000, 0, 20_000));
    // A line since, or one whose upload is in doubt: the final settlement takes it.
    let later = [stay.lines.clone(), vec!["l2".to_string()]].concat();
    assert!(matches!(begin_discharge(&stay.stage, &later), Ok(StayStage::Discharging(_))));
    // 2402 refused: back in the ward, the hold as it was.
    let closing = begin_discharge(&stay.stage, &stay.lines).unwrap();
    let refused = StayOutcome::Refused { code: "-1".into(), message: "no".into() };
    let step = apply(&closing, &parties(), Fen::ZERO, &StayCall::Discharge, refused).unwrap();
    assert_eq!((step.stage.state(), step.stage.open_hold(), step.transfers.len()), ("in_ward", Fen(30_000), 0));
    // A stay the old click left discharged with a 2303 refused for want of lines: the click again
    // releases its hold (it is discharged already) and closes it.
    let Some(ward) = stay.stage.ward().cloned() else { panic!("{:?}", stay.stage) };
    let failure = Failure { code: "insurance_refused".into(), message: "无待结算的费用明细".into() };
    stay.stage = StayStage::Discharged { ward, refusal: Some(failure) };
    let before = stay.calls.len();
    stay.discharge();
    assert_eq!((stay.calls[before..].to_vec(), stay.stage.state()), (vec![StayCall::Void], "settled_by_interims"));
    assert_eq!((stay.held_in_ledger(), stay.net("bank:B1:A1")), (0, -20_000));
    assert!(is_balanced(stay.ledger.values()));
}

#[test]
fn a_discharge_insurance_refuses_leaves_the_stay_in_the_ward_saying_why_until_a_click_succeeds() {
    // Two stays: one with its fees to settle at the bedside, one an interim settlement took whole
    // (the click only discharges and releases the hold). The center refuses 2402 for both.
    let mut settles = Stay::admit(50_000, 100_000, split(0, 0, 0));
    settles.upload(30_000);
    let mut closes = stay_like(&settles);
    closes.interim(&["l1"], split(10_000, 0, 20_000));
    settles.partners.split = split(10_000, 0, 20_000);
    for (stay, ends) in [(&mut settles, "settled"), (&mut closes, "settled_by_interims")] {
        let Some(ward) = stay.stage.ward().cloned() else { panic!("{:?}", stay.stage) };
        let (calls, pending) = (stay.calls.len(), stay.pending.clone());
        stay.partners.refuse_discharge = true;
        stay.discharge();
        assert_eq!(stay.calls[calls..], [StayCall::Discharge], "nothing after the refused 2402");
        let StayStage::InWard(w) = &stay.stage else { panic!("{:?}", stay.stage) };
        assert_eq!((stay.stage.state(), next_call(&stay.stage)), ("in_ward", None), "back in the ward, waiting for it");
        assert_eq!((w.held(), &stay.pending), (ward.held(), &pending), "the hold untouched, nothing posted");
        let why = w.discharge_refusal.clone().expect("the reason is kept for the ward");
        assert_eq!((why.code.as_str(), why.message.as_str()), ("insurance_refused", "the discharge (2402) refused (-1): 该住院已办理出院"));
        assert_eq!(Ward { discharge_refusal: None, ..w.clone() }, ward, "nothing else about the stay changed");
        // The next click clears the reason; the center accepts it and the stay ends as it would have.
        let again = begin_discharge(&stay.stage, &stay.lines).unwrap();
        assert_eq!((again.state(), again.ward().map(|w| w.discharge_refusal.is_none())), ("discharging", Some(true)));
        stay.partners.refuse_discharge = false;
        stay.discharge();
        assert_eq!(stay.stage.state(), ends);
        assert_eq!((stay.stage.ward().map(|w| w.discharge_refusal.is_none()), stay.held_in_ledger()), (Some(true), 0));
        assert!(is_balanced(stay.ledger.values()));
    }
    assert_eq!((settles.net("hospital:H1"), settles.net("bank:B1:A1")), (30_000, -20_000), "settled to the fen, once");
    assert_eq!((closes.net("hospital:H1"), closes.net("bank:B1:A1")), (30_000, -20_000), "the interim's, and nothing more");
}

#[test]
fn a_ward_stored_before_discharge_refusals_reads_with_none() {
    let old = serde_json::json!({"state": "in_ward", "mdtrt_id": "M", "pieces": [100], "raises_sent": 0, "raising": null,
                                 "short": null});
    let stage: StayStage = serde_json::from_value(old).unwrap();
    assert_eq!(stage.ward().map(|w| w.discharge_refusal.clone()), Some(None));
    let unchanged = serde_json::to_value(&stage).unwrap();
    assert!(unchanged.get("discharge_refusal").is_none(), "written as before while there is none: {unchanged}");
}

#[test]
fn a_stay_owes_what_no_line_covered_once_it_is_over_the_interim_shares_with_the_last() {
    // A 100-yuan deposit on a line with nothing more free: the interim settlement's 200-yuan cash
    // share takes the hold and leaves 100 unpaid, while the patient is still in the ward.
    let mut stay = Stay::admit(10_000, 10_000, split(0, 0, 0));
    stay.upload(30_000);
    stay.interim(&["d1"], split(10_000, 0, 20_000));
    assert_eq!(stay.stage.ward().unwrap().interims[0].unpaid(), Fen(10_000));
    assert_eq!((stay.stage.state(), stay.stage.owed()), ("deposit_short", Fen::ZERO), "nothing is collected while in the ward");
    // Two more days, 50 yuan cash, and nothing on the line: the bedside settlement leaves it all.
    stay.upload(5_000);
    stay.partners.split = split(0, 0, 5_000);
    stay.discharge();
    assert_eq!((stay.stage.state(), stay.stage.owed()), ("settled_unpaid", Fen(15_000)), "the interim's share and the last one's");
    assert_eq!(stay.net("hospital_unpaid:H1"), 15_000, "what is owed is the receivable the ledger carries");
    // A cancelled settlement owes nothing until the stay is settled again.
    stay.then(begin_cancel_settlement);
    assert_eq!((stay.stage.state(), stay.stage.owed()), ("settlement_cancelled", Fen::ZERO));
    stay.discharge();
    assert_eq!((stay.stage.owed(), stay.net("hospital_unpaid:H1")), (Fen(15_000), 15_000));
    assert!(is_balanced(stay.ledger.values()));
    // A stay the line covered whole owes nothing.
    let mut stay = Stay::admit(50_000, 100_000, split(10_000, 0, 20_000));
    stay.upload(30_000);
    stay.discharge();
    assert_eq!((stay.stage.state(), stay.stage.owed()), ("settled", Fen::ZERO));
}

#[path = "inpatient_charge_tests.rs"]
mod charge_tests;
#[path = "inpatient_expiry_tests.rs"]
mod expiry_tests;

#[path = "inpatient_undo_tests.rs"]
mod undo;
