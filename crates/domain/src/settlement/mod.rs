//! The doctor's click (医生点击结算) as a persisted state machine, and the ledger transfers each
//! outcome posts. Pure: the hub's orchestrator does the I/O and asks this module what comes next
//! and what to write.

pub mod cash_only;
pub mod fund_pay;
pub mod saga;

use crate::ledger::{Transfer, TransferKind};
use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// Where a settlement stands. A state is written before the external call it leads to when
/// redoing that call is not safe (`saga::durable_before`: insurance's calls, the refund), and
/// whenever a run stops on it; a crash is resumed from the stored state, with the same request
/// ids, redoing only calls that are safe to redo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Row written; next: insurance pre-settlement (2206) for the cash estimate.
    Started,
    /// Estimate known; next: hold the estimated cash share at the bank.
    PreSettled,
    /// Hold placed or declined; next: insurance settlement (2207).
    Authorized,
    /// Insurance settled (秒报销); next: capture the cash share at the bank.
    InsuranceSettled,
    /// Everything paid; the hospital has the whole visit total.
    Settled,
    /// Insurance settled, but the cash share (or part) could not be charged: an explicit bill.
    SettledUnpaid,
    /// Insurance refused the settlement; nothing moved (any hold is voided).
    Failed,
    /// Cancellation requested; next: insurance cancel (2208), then the bank refund.
    Cancelling,
    /// Insurance reversed, bank refunded, ledger reversed.
    Cancelled,
}

impl SettlementState {
    pub const ALL: [SettlementState; 9] = [
        SettlementState::Started,
        SettlementState::PreSettled,
        SettlementState::Authorized,
        SettlementState::InsuranceSettled,
        SettlementState::Settled,
        SettlementState::SettledUnpaid,
        SettlementState::Failed,
        SettlementState::Cancelling,
        SettlementState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SettlementState::Started => "started",
            SettlementState::PreSettled => "pre_settled",
            SettlementState::Authorized => "authorized",
            SettlementState::InsuranceSettled => "insurance_settled",
            SettlementState::Settled => "settled",
            SettlementState::SettledUnpaid => "settled_unpaid",
            SettlementState::Failed => "failed",
            SettlementState::Cancelling => "cancelling",
            SettlementState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<SettlementState> {
        use SettlementState::*;
        [Started, PreSettled, Authorized, InsuranceSettled, Settled, SettledUnpaid, Failed, Cancelling, Cancelled]
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    /// A final state: nothing more happens without a new request.
    pub fn is_final(self) -> bool {
        matches!(self, SettlementState::Settled | SettlementState::SettledUnpaid | SettlementState::Failed | SettlementState::Cancelled)
    }

    /// Money moved and stands: the only states a cancellation may start from.
    pub fn is_cancellable(self) -> bool {
        matches!(self, SettlementState::Settled | SettlementState::SettledUnpaid)
    }
}

/// The insurance center's split of a visit (from 2207's `setlinfo`), in fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceSplit {
    /// 医疗费总额 medfee_sumamt
    pub medfee: Fen,
    /// 基金支付总额 fund_pay_sumamt
    pub fund: Fen,
    /// 个人账户支出 acct_pay
    pub personal_account: Fen,
    /// 个人现金支出 psn_cash_pay: what the bank pays
    pub cash: Fen,
    /// 医院负担金额 hosp_part_amt
    pub hospital_part: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error(
        "insurance split does not add up: medfee {medfee} ≠ fund {fund} + personal account {acct} + cash {cash} + hospital part {hosp}"
    )]
    DoesNotAddUp { medfee: Fen, fund: Fen, acct: Fen, cash: Fen, hosp: Fen },
    #[error("insurance split has a negative share")]
    Negative,
    #[error("insurance total {insurance} differs from the fees uploaded {uploaded}")]
    TotalMismatch { insurance: Fen, uploaded: Fen },
}

impl InsuranceSplit {
    /// A self-paid visit's split (自费): no fund, no personal account, all of it cash.
    pub fn self_pay(medfee: Fen) -> InsuranceSplit {
        InsuranceSplit { medfee, cash: medfee, ..InsuranceSplit::default() }
    }

    /// Checks the national interface's invariants 2 and 3 (docs/national-interface.md §2) before a
    /// single fen is posted: a partner's arithmetic is validated, never trusted.
    pub fn validate(&self, uploaded: Fen) -> Result<(), SplitError> {
        let parts = [self.medfee, self.fund, self.personal_account, self.cash, self.hospital_part];
        if parts.iter().any(|p| p.is_negative()) {
            return Err(SplitError::Negative);
        }
        if self.fund + self.personal_account + self.cash + self.hospital_part != self.medfee {
            return Err(SplitError::DoesNotAddUp {
                medfee: self.medfee,
                fund: self.fund,
                acct: self.personal_account,
                cash: self.cash,
                hosp: self.hospital_part,
            });
        }
        if self.medfee != uploaded {
            return Err(SplitError::TotalMismatch { insurance: self.medfee, uploaded });
        }
        Ok(())
    }
}

/// Names of the ledger accounts, in one place so every caller spells them alike.
pub mod accounts {
    /// The insurance fund pool of a region and insurance type (统筹基金).
    pub fn insurance_fund(insuplc_admdvs: &str, insutype: &str) -> String {
        format!("insurance_fund:{insuplc_admdvs}:{insutype}")
    }
    /// A person's insurance personal account (个人账户), as the hub sees its debits.
    pub fn personal_account(psn_no: &str) -> String {
        format!("personal_account:{psn_no}")
    }
    /// The bank side of a patient's agreement (credit line or debit card).
    pub fn bank_agreement(bank_code: &str, bank_agreement_id: &str) -> String {
        format!("bank:{bank_code}:{bank_agreement_id}")
    }
    /// Money the hospital has received for its visits.
    pub fn hospital(hospital_code: &str) -> String {
        format!("hospital:{hospital_code}")
    }
    /// What a bank has paid a hospital on clearing days (结算划付, `clearing`).
    pub fn hospital_paid(hospital_code: &str, bank_code: &str) -> String {
        format!("hospital_paid:{hospital_code}:bank:{bank_code}")
    }
    /// What the insurance side has settled with a hospital by monthly clearing (3203).
    pub fn hospital_paid_by_insurance(hospital_code: &str) -> String {
        format!("hospital_paid:{hospital_code}:insurance")
    }
    /// What patients still owe a hospital (unpaid bills), hospital side.
    pub fn hospital_unpaid(hospital_code: &str) -> String {
        format!("hospital_unpaid:{hospital_code}")
    }
    /// What a patient still owes (unpaid bills), patient side.
    pub fn patient_unpaid(psn_no: &str) -> String {
        format!("patient_unpaid:{psn_no}")
    }
    /// 医院负担: the part of a visit the hospital writes off (`hosp_part_amt`), never charged to the
    /// patient. Credited like `hospital`, so that received + unpaid + written off = medfee.
    pub fn hospital_writeoff(hospital_code: &str) -> String {
        format!("hospital_writeoff:{hospital_code}")
    }
    /// Insurance paid to the hospital outside the hub (the hospital settled insurance itself: the
    /// cash-only settlement type).
    pub fn insurance_outside(hospital_code: &str) -> String {
        format!("insurance_outside:{hospital_code}")
    }
    /// The hospital's own funds that bear its write-offs (the debit side of `hospital_writeoff`).
    pub fn hospital_burden(hospital_code: &str) -> String {
        format!("hospital_burden:{hospital_code}")
    }
    /// The patient's cash share the hospital collected itself, at its window or its own channel,
    /// outside the hub (the insurance-only settlement type, HI): the mirror of `insurance_outside`.
    pub fn cash_outside(hospital_code: &str) -> String {
        format!("cash_outside:{hospital_code}")
    }
    /// 转账还款: what patients repaid their credit lines at the bank itself (a transfer, the
    /// bank's app), as the bank's events tell the hub: the payer side of those repayments.
    pub fn repaid_at_bank(bank_code: &str) -> String {
        format!("repaid_at_bank:{bank_code}")
    }
}

/// The ledger code of a repayment made at the bank (`bank_transfer_repayment_transfer`).
pub const BANK_TRANSFER_REPAYMENT: &str = "bank_transfer_repayment";

/// 转账还款: a repayment the patient made at the bank (not from the personal account), booked
/// from the bank's `repayment_posted` event so that the bank agreement's balance follows the
/// line's debt whichever way it was repaid. The id is the bank's event (`seq` is unique and
/// never reused in a bank's outbox), so reading the events again books nothing twice. The
/// amount is what the bank applied (interest included, as a personal-account repayment is).
pub fn bank_transfer_repayment_transfer(bank_code: &str, event_seq: u64, bank_agreement_id: &str, amount: Fen) -> Transfer {
    Transfer {
        id: format!("bank_repayment:{bank_code}:{event_seq}"),
        debit_account: accounts::repaid_at_bank(bank_code),
        credit_account: accounts::bank_agreement(bank_code, bank_agreement_id),
        amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: BANK_TRANSFER_REPAYMENT.into(),
    }
}

/// 个人账户还款: the insurance personal account repays the patient's credit line. The payer is the
/// personal account, the payee the bank agreement (whose balance is minus the patient's debt).
pub fn account_repayment_transfer(repayment_id: &str, psn_no: &str, bank_code: &str, bank_agreement_id: &str, amount: Fen) -> Transfer {
    Transfer {
        id: format!("repay:{repayment_id}"),
        debit_account: accounts::personal_account(psn_no),
        credit_account: accounts::bank_agreement(bank_code, bank_agreement_id),
        amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: "personal_account_repayment".into(),
    }
}

/// Who is involved in a settlement, for naming accounts.
#[derive(Clone, Debug)]
pub struct Parties<'a> {
    pub settlement_id: &'a str,
    pub hospital_code: &'a str,
    pub psn_no: &'a str,
    pub insuplc_admdvs: &'a str,
    pub insutype: &'a str,
    pub bank_code: &'a str,
    pub bank_agreement_id: &'a str,
    /// Insurance only (setl_type HI): the hospital collects the cash share itself, so what the
    /// bank did not capture (all of it: the bank is never asked) is booked as collected at the
    /// hospital (`cash_outside` → `hospital`), not as the patient's bill.
    pub cash_at_hospital: bool,
}

impl Parties<'_> {
    fn transfer(&self, step: &str, debit: String, credit: String, amount: Fen, kind: TransferKind) -> Transfer {
        Transfer {
            id: format!("settle:{}:{step}", self.settlement_id),
            debit_account: debit,
            credit_account: credit,
            amount,
            kind,
            pending_id: None,
            code: step.to_string(),
        }
    }

    /// The hold on the patient's bank agreement for the estimated cash share (a pending transfer).
    pub fn hold(&self, amount: Fen) -> Transfer {
        let bank = accounts::bank_agreement(self.bank_code, self.bank_agreement_id);
        self.transfer("bank_hold", bank, accounts::hospital(self.hospital_code), amount, TransferKind::Pending)
    }

    /// Releases the hold without capturing anything.
    pub fn void_hold(&self) -> Transfer {
        let mut t = self.hold(Fen::ZERO);
        t.id = format!("settle:{}:bank_hold_void", self.settlement_id);
        t.code = "bank_hold_void".into();
        t.kind = TransferKind::VoidPending;
        t.pending_id = Some(self.hold(Fen::ZERO).id);
        t
    }

    /// The transfers a completed insurance settlement posts, given what the bank captured on the
    /// hold (`captured` ≤ held). Whatever of the cash share was not captured becomes an unpaid bill.
    /// With no hold, what was captured is already posted (a refund's re-settlement) or is posted
    /// by [`Parties::charged_settlement_transfers`]. Zero amounts post nothing.
    pub fn settlement_transfers(&self, split: &InsuranceSplit, held: Fen, captured: Fen) -> Vec<Transfer> {
        let hospital = accounts::hospital(self.hospital_code);
        let mut out = Vec::new();
        if split.fund.is_positive() {
            let fund = accounts::insurance_fund(self.insuplc_admdvs, self.insutype);
            out.push(self.transfer("fund_share", fund, hospital.clone(), split.fund, TransferKind::Posted));
        }
        if split.personal_account.is_positive() {
            let acct = accounts::personal_account(self.psn_no);
            out.push(self.transfer("personal_account_share", acct, hospital.clone(), split.personal_account, TransferKind::Posted));
        }
        if held.is_positive() {
            if captured.is_positive() {
                let mut post = self.hold(captured);
                post.id = format!("settle:{}:bank_share", self.settlement_id);
                post.code = "bank_share".into();
                post.kind = TransferKind::PostPending;
                post.pending_id = Some(self.hold(Fen::ZERO).id);
                out.push(post);
            } else {
                out.push(self.void_hold());
            }
        }
        let unpaid = split.cash - captured;
        if unpaid.is_positive() && self.cash_at_hospital {
            let outside = accounts::cash_outside(self.hospital_code);
            out.push(self.transfer("cash_at_hospital", outside, hospital, unpaid, TransferKind::Posted));
        } else if unpaid.is_positive() {
            let debit = accounts::patient_unpaid(self.psn_no);
            out.push(self.transfer("unpaid_bill", debit, accounts::hospital_unpaid(self.hospital_code), unpaid, TransferKind::Posted));
        }
        out.extend(self.writeoff_transfer(split));
        out
    }

    /// 扣款: a settlement whose cash share the bank took in one call, with no hold: the bank's
    /// share (`charged`) is posted at once, under the same id and code a capture posts it.
    pub fn charged_settlement_transfers(&self, split: &InsuranceSplit, charged: Fen) -> Vec<Transfer> {
        let mut out = self.settlement_transfers(split, Fen::ZERO, charged);
        if charged.is_positive() {
            let (bank, hospital) =
                (accounts::bank_agreement(self.bank_code, self.bank_agreement_id), accounts::hospital(self.hospital_code));
            out.push(self.transfer("bank_share", bank, hospital, charged, TransferKind::Posted));
        }
        out
    }

    /// 医院负担 (`hosp_part_amt`): the hospital writes that part off; nobody pays it.
    pub fn writeoff_transfer(&self, split: &InsuranceSplit) -> Option<Transfer> {
        let (burden, writeoff) = (accounts::hospital_burden(self.hospital_code), accounts::hospital_writeoff(self.hospital_code));
        split
            .hospital_part
            .is_positive()
            .then(|| self.transfer("hospital_writeoff", burden, writeoff, split.hospital_part, TransferKind::Posted))
    }

    /// The write-off reversed with its settlement (2208).
    pub fn cancel_writeoff_transfer(&self, split: &InsuranceSplit) -> Option<Transfer> {
        let (burden, writeoff) = (accounts::hospital_burden(self.hospital_code), accounts::hospital_writeoff(self.hospital_code));
        split
            .hospital_part
            .is_positive()
            .then(|| self.transfer("cancel_hospital_writeoff", writeoff, burden, split.hospital_part, TransferKind::Posted))
    }

    /// The reversal of a settlement (结算撤销): new transfers the other way, never edits. Both
    /// halves: what insurance reversed and what the bank refunded.
    pub fn cancellation_transfers(&self, split: &InsuranceSplit, captured: Fen) -> Vec<Transfer> {
        let mut out = self.reversal_transfers(split, captured);
        out.extend(self.refund_transfer(captured));
        out
    }

    /// What the bank refunded, back to the patient's agreement (posted when the refund is done).
    pub fn refund_transfer(&self, captured: Fen) -> Option<Transfer> {
        let (hospital, bank) = (accounts::hospital(self.hospital_code), accounts::bank_agreement(self.bank_code, self.bank_agreement_id));
        captured.is_positive().then(|| self.transfer("bank_refund", hospital, bank, captured, TransferKind::Posted))
    }

    /// What insurance reversed (2208): the fund's and the personal account's shares, and the bill
    /// for what the bank did not pay, posted as soon as insurance has reversed, so the ledger
    /// follows the insurance center even while the bank refund is still to come.
    pub fn reversal_transfers(&self, split: &InsuranceSplit, captured: Fen) -> Vec<Transfer> {
        let hospital = accounts::hospital(self.hospital_code);
        let mut out = Vec::new();
        if split.fund.is_positive() {
            let fund = accounts::insurance_fund(self.insuplc_admdvs, self.insutype);
            out.push(self.transfer("cancel_fund_share", hospital.clone(), fund, split.fund, TransferKind::Posted));
        }
        if split.personal_account.is_positive() {
            let acct = accounts::personal_account(self.psn_no);
            out.push(self.transfer("cancel_personal_account_share", hospital.clone(), acct, split.personal_account, TransferKind::Posted));
        }
        let unpaid = split.cash - captured;
        if unpaid.is_positive() && self.cash_at_hospital {
            let outside = accounts::cash_outside(self.hospital_code);
            out.push(self.transfer("cancel_cash_at_hospital", hospital, outside, unpaid, TransferKind::Posted));
        } else if unpaid.is_positive() {
            let credit = accounts::patient_unpaid(self.psn_no);
            out.push(self.transfer(
                "cancel_unpaid_bill",
                accounts::hospital_unpaid(self.hospital_code),
                credit,
                unpaid,
                TransferKind::Posted,
            ));
        }
        out.extend(self.cancel_writeoff_transfer(split));
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ledger::{apply, is_balanced, AccountBalance, AccountLimit};
    use std::collections::HashMap;

    /// The parties of every test settlement (the saga's tests use them too).
    pub(crate) fn parties() -> Parties<'static> {
        Parties {
            settlement_id: "s1",
            hospital_code: "H1",
            psn_no: "P1",
            insuplc_admdvs: "440300",
            insutype: "310",
            bank_code: "B",
            bank_agreement_id: "A1",
            cash_at_hospital: false,
        }
    }

    /// Posts transfers into an in-memory ledger, the way the store does.
    fn post(ledger: &mut HashMap<String, AccountBalance>, pending: &mut HashMap<String, Fen>, transfers: &[Transfer]) {
        for t in transfers {
            let held = t.pending_id.as_ref().and_then(|p| pending.remove(p));
            let mut debit = ledger.remove(&t.debit_account).unwrap_or_default();
            let mut credit = ledger.remove(&t.credit_account).unwrap_or_default();
            apply(t, &mut debit, AccountLimit::None, &mut credit, held).unwrap();
            if t.kind == TransferKind::Pending {
                pending.insert(t.id.clone(), t.amount);
            }
            ledger.insert(t.debit_account.clone(), debit);
            ledger.insert(t.credit_account.clone(), credit);
        }
    }

    pub(crate) fn split(fund: i64, acct: i64, cash: i64) -> InsuranceSplit {
        InsuranceSplit {
            medfee: Fen(fund + acct + cash),
            fund: Fen(fund),
            personal_account: Fen(acct),
            cash: Fen(cash),
            hospital_part: Fen(0),
        }
    }

    /// (fund, acct, cash, held, captured) → (hospital received, unpaid)
    fn check(case: (i64, i64, i64, i64, i64), expect: (i64, i64)) {
        let (fund, acct, cash, held, captured) = case;
        check_split(split(fund, acct, cash), (held, captured), (expect.0, expect.1, 0));
    }

    /// (held, captured) → (hospital received, unpaid, written off); received + unpaid + written
    /// off is always medfee, and a cancellation returns every account to zero.
    fn check_split(s: InsuranceSplit, bank: (i64, i64), expect: (i64, i64, i64)) {
        let (held, captured) = bank;
        let case = (s, bank);
        let p = parties();
        let (mut ledger, mut pending) = (HashMap::new(), HashMap::new());
        if held > 0 {
            post(&mut ledger, &mut pending, &[p.hold(Fen(held))]);
        }
        post(&mut ledger, &mut pending, &p.settlement_transfers(&s, Fen(held), Fen(captured)));
        assert!(pending.is_empty(), "no hold stays open after settlement: {case:?}");
        assert!(is_balanced(ledger.values()));
        let hospital = ledger.get("hospital:H1").map(|a| a.net_posted()).unwrap_or_default();
        let unpaid = ledger.get("hospital_unpaid:H1").map(|a| a.net_posted()).unwrap_or_default();
        let written_off = ledger.get("hospital_writeoff:H1").map(|a| a.net_posted()).unwrap_or_default();
        assert_eq!((hospital, unpaid, written_off), (Fen(expect.0), Fen(expect.1), Fen(expect.2)), "case {case:?}");
        assert_eq!(hospital + unpaid + written_off, s.medfee, "received + unpaid + written off = medfee: {case:?}");

        post(&mut ledger, &mut pending, &p.cancellation_transfers(&s, Fen(captured)));
        assert!(is_balanced(ledger.values()));
        assert!(ledger.values().all(|a| a.net_posted() == Fen(0)), "a cancellation returns every account to zero: {case:?}");
    }

    #[test]
    fn settlement_outcomes_post_what_the_hospital_is_owed() {
        check((7000, 2000, 1000, 1000, 1000), (10000, 0)); // paid in full
        check((7000, 2000, 1000, 1200, 1000), (10000, 0)); // hold above the final cash share
        check((7000, 2000, 1000, 0, 0), (9000, 1000)); // hold declined: an unpaid bill
        check((7000, 2000, 1000, 600, 600), (9600, 400)); // partial hold: the rest unpaid
        check((7000, 3000, 0, 0, 0), (10000, 0)); // nothing for the bank to pay
        check((0, 0, 500, 500, 500), (500, 0)); // all cash
    }

    #[test]
    fn the_hospital_part_is_written_off_and_reversed_with_its_settlement() {
        let with_part = |fund: i64, acct: i64, cash: i64, hosp: i64| InsuranceSplit {
            medfee: Fen(fund + acct + cash + hosp),
            hospital_part: Fen(hosp),
            ..split(fund, acct, cash)
        };
        check_split(with_part(6000, 1000, 1000, 2000), (1000, 1000), (8000, 0, 2000)); // paid in full
        check_split(with_part(6000, 1000, 1000, 2000), (0, 0), (7000, 1000, 2000)); // declined: a bill
        check_split(with_part(0, 0, 0, 300), (0, 0), (0, 0, 300)); // all borne by the hospital
    }

    #[test]
    fn a_split_that_does_not_add_up_is_refused() {
        let mut s = split(100, 0, 0);
        assert!(s.validate(Fen(100)).is_ok());
        assert!(s.validate(Fen(101)).is_err());
        s.fund = Fen(99);
        assert!(s.validate(Fen(100)).is_err());
        assert!(split(-1, 1, 0).validate(Fen(0)).is_err());
    }

    #[test]
    fn states_round_trip_through_text() {
        use SettlementState::*;
        for s in [Started, PreSettled, Authorized, InsuranceSettled, Settled, SettledUnpaid, Failed, Cancelling, Cancelled] {
            assert_eq!(SettlementState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SettlementState::parse("nope"), None);
    }
}
