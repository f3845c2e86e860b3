//! 清算 and 结算划付: what each bank owes each hospital, and the payout that settles it.
//!
//! A capture posts `bank_share` (bank agreement → `hospital:H`), a refund `bank_refund` (back);
//! the payout the bank makes on a clearing day posts `bank_payout` (`hospital:H` →
//! `hospital_paid:H:bank:B`): the hospital's receivable becomes money paid. So what a bank still
//! owes a hospital is a fold of those three kinds of transfer, and the clearing day's payout is
//! that fold over the transfers before the day's end (China time) — never negative: when refunds
//! outrun captures the hospital owes the bank, and the next day's captures net it off.
//!
//! Pure: the hub reads the transfers and calls the bank; this file decides amounts and names.

use crate::ledger::{Transfer, TransferKind};
use crate::money::Fen;
use crate::settlement::accounts;
use std::collections::BTreeMap;

/// The ledger codes this file reads, as the settlement posts them.
pub const BANK_SHARE: &str = "bank_share";
pub const BANK_REFUND: &str = "bank_refund";
pub const BANK_PAYOUT: &str = "bank_payout";
/// A piece of an inpatient stay's hold captured (`inpatient`): the bank's money for the hospital too.
pub const STAY_CAPTURE: &str = "hold_post";

/// One ledger transfer as clearing sees it.
#[derive(Clone, Copy, Debug)]
pub struct Moved<'a> {
    pub code: &'a str,
    pub debit_account: &'a str,
    pub credit_account: &'a str,
    pub amount: Fen,
}

/// A bank and a hospital: who pays whom.
pub type Pair = (String, String);

/// `bank:{B}:{agreement}` → `B`.
fn bank_of(account: &str) -> Option<&str> {
    account.strip_prefix("bank:")?.split(':').next()
}

/// `hospital:{H}` → `H`.
fn hospital_of(account: &str) -> Option<&str> {
    account.strip_prefix("hospital:")
}

/// `hospital_paid:{H}:bank:{B}` → `(B, H)`.
fn payout_pair(account: &str) -> Option<(&str, &str)> {
    let (hospital, bank) = account.strip_prefix("hospital_paid:")?.split_once(":bank:")?;
    Some((bank, hospital))
}

/// What each bank owes each hospital after the transfers given: captures less refunds less
/// payouts. Transfers of other kinds are ignored. A pair can be negative (refunds of earlier
/// days outran this day's captures).
pub fn owed<'a>(transfers: impl IntoIterator<Item = Moved<'a>>) -> BTreeMap<Pair, Fen> {
    let mut owed: BTreeMap<Pair, Fen> = BTreeMap::new();
    for t in transfers {
        let (pair, signed) = match t.code {
            BANK_SHARE | STAY_CAPTURE => (bank_of(t.debit_account).zip(hospital_of(t.credit_account)), t.amount),
            BANK_REFUND => (bank_of(t.credit_account).zip(hospital_of(t.debit_account)), -t.amount),
            BANK_PAYOUT => (payout_pair(t.credit_account), -t.amount),
            _ => continue,
        };
        if let Some((bank, hospital)) = pair {
            *owed.entry((bank.to_string(), hospital.to_string())).or_default() += signed;
        }
    }
    owed
}

/// The payout of a clearing day: what is owed, if positive.
pub fn payout_due(owed: Fen) -> Option<Fen> {
    owed.is_positive().then_some(owed)
}

/// The bank request id of a day's payout to a hospital: one instruction per bank, hospital and
/// day, so a repeat (a lost answer, a second run of the day) is the same instruction.
pub fn payout_request_id(bank_code: &str, hospital_code: &str, business_date: &str) -> String {
    format!("payout:{bank_code}:{hospital_code}:{business_date}")
}

/// The transfer a payout posts once the bank has paid: the receivable becomes money paid.
pub fn payout_transfer(bank_code: &str, hospital_code: &str, business_date: &str, amount: Fen) -> Transfer {
    Transfer {
        id: payout_request_id(bank_code, hospital_code, business_date),
        debit_account: accounts::hospital(hospital_code),
        credit_account: accounts::hospital_paid(hospital_code, bank_code),
        amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: BANK_PAYOUT.to_string(),
    }
}

/// What a hospital claims from the fund for a month and clearing type (3203): the standing
/// settlements of the period, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimTotals {
    /// 清算人次: settlements counted.
    pub psntime: i64,
    pub medfee: Fen,
    pub fund: Fen,
    pub personal_account: Fen,
    pub cash: Fen,
}

impl ClaimTotals {
    pub fn add(&mut self, medfee: Fen, fund: Fen, personal_account: Fen, cash: Fen) {
        self.psntime += 1;
        self.medfee += medfee;
        self.fund += fund;
        self.personal_account += personal_account;
        self.cash += cash;
    }

    /// What the insurance side pays the hospital for it: the fund and the personal accounts.
    pub fn insurance_share(&self) -> Fen {
        self.fund + self.personal_account
    }
}

/// 清算年月 `yyyyMM` of a settlement time (the center's or the hub's), if it is one: `yyyy-MM-dd…`
/// (or `yyyy/MM/dd…`), or compact `yyyyMMdd…` as many platforms write it (`20261203100000`).
pub fn setlym_of(time: &str) -> Option<String> {
    let time = time.trim();
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let month_at = if digits(0..4) && matches!(b.get(4), Some(b'-' | b'/')) && digits(5..7) {
        5
    } else if digits(0..8) {
        4
    } else {
        return None;
    };
    let month = &time[month_at..month_at + 2];
    matches!(month.parse::<u8>(), Ok(1..=12)).then(|| format!("{}{month}", &time[..4]))
}

/// The transfer an accepted clearing application posts: the insurance share of the hospital's
/// receivable becomes money the fund settled. Its id is the center's application id, so a
/// withdrawn and re-applied month posts anew.
pub fn insurance_clearing_transfer(clr_appy_evt_id: &str, hospital_code: &str, amount: Fen) -> Transfer {
    Transfer {
        id: format!("clearing:{clr_appy_evt_id}"),
        debit_account: accounts::hospital(hospital_code),
        credit_account: accounts::hospital_paid_by_insurance(hospital_code),
        amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: "insurance_clearing".to_string(),
    }
}

/// The reversal of [`insurance_clearing_transfer`] when the application is withdrawn (3204).
pub fn insurance_clearing_withdrawal(clr_appy_evt_id: &str, hospital_code: &str, amount: Fen) -> Transfer {
    Transfer {
        id: format!("clearing:{clr_appy_evt_id}:withdrawn"),
        debit_account: accounts::hospital_paid_by_insurance(hospital_code),
        credit_account: accounts::hospital(hospital_code),
        amount,
        kind: TransferKind::Posted,
        pending_id: None,
        code: "insurance_clearing_withdrawn".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(code: &'static str, debit: &'static str, credit: &'static str, yuan: i64) -> Moved<'static> {
        Moved { code, debit_account: debit, credit_account: credit, amount: Fen::yuan(yuan) }
    }

    #[test]
    fn a_bank_owes_a_hospital_its_captures_less_refunds_less_payouts() {
        let day = [
            moved("bank_share", "bank:B1:agr-1", "hospital:H1", 100),
            moved("bank_share", "bank:B1:agr-2", "hospital:H1", 40),
            moved("bank_share", "bank:B2:agr-9", "hospital:H1", 7),
            moved("bank_share", "bank:B1:agr-1", "hospital:H2", 30),
            moved("hold_post", "bank:B1:agr-3", "hospital:H2", 12),
            moved("bank_refund", "hospital:H1", "bank:B1:agr-2", 40),
            moved("fund_share", "insurance_fund:440300:310", "hospital:H1", 500),
            moved("bank_payout", "hospital:H1", "hospital_paid:H1:bank:B1", 60),
        ];
        let owed = owed(day);
        let of = |b: &str, h: &str| owed.get(&(b.to_string(), h.to_string())).copied();
        assert_eq!(of("B1", "H1"), Some(Fen::yuan(40)), "100 + 40 − 40 refunded − 60 paid");
        assert_eq!(of("B2", "H1"), Some(Fen::yuan(7)));
        assert_eq!(of("B1", "H2"), Some(Fen::yuan(42)), "an inpatient stay's capture too");
        assert_eq!(owed.len(), 3, "the fund's share is not the bank's to pay");
    }

    #[test]
    fn a_months_claim_sums_its_settlements_and_names_its_month() {
        let mut claim = ClaimTotals::default();
        claim.add(Fen::yuan(100), Fen::yuan(60), Fen::yuan(10), Fen::yuan(30));
        claim.add(Fen::yuan(50), Fen::yuan(20), Fen::ZERO, Fen::yuan(30));
        assert_eq!((claim.psntime, claim.medfee, claim.insurance_share()), (2, Fen::yuan(150), Fen::yuan(90)));
        assert_eq!(setlym_of("2026-11-30 23:59:59"), Some("202611".to_string()));
        assert_eq!(setlym_of("2026-11-30T15:59:59Z"), Some("202611".to_string()));
        assert_eq!(setlym_of("30/11/2026"), None);
        let check = |time: &str, expect: Option<&str>| assert_eq!(setlym_of(time).as_deref(), expect, "{time}");
        check("20261203100000", Some("202612"));
        check("20261203", Some("202612"));
        check(" 2026/12/03 10:00:00", Some("202612"));
        check("2026-13-01", None);
        check("20261303100000", None);
        check("202612", None);
        check("2026-1", None);
        check("", None);
        let t = insurance_clearing_transfer("CLR1", "H1", Fen::yuan(90));
        let back = insurance_clearing_withdrawal("CLR1", "H1", Fen::yuan(90));
        assert_eq!((t.debit_account.as_str(), back.credit_account.as_str()), ("hospital:H1", "hospital:H1"));
        assert_eq!(t.credit_account, back.debit_account);
        assert_ne!(t.id, back.id);
    }

    #[test]
    fn a_day_whose_refunds_outrun_its_captures_pays_nothing() {
        let owed = owed([moved("bank_refund", "hospital:H1", "bank:B1:agr-1", 5)]);
        let net = owed[&("B1".to_string(), "H1".to_string())];
        assert_eq!(net, Fen::yuan(-5));
        assert_eq!(payout_due(net), None);
        assert_eq!(payout_due(Fen(1)), Some(Fen(1)));
    }

    #[test]
    fn a_payout_moves_the_receivable_to_paid_under_the_instruction_id() {
        let t = payout_transfer("B1", "H1", "2026-11-30", Fen::yuan(40));
        assert_eq!(t.id, "payout:B1:H1:2026-11-30");
        assert_eq!((t.debit_account.as_str(), t.credit_account.as_str()), ("hospital:H1", "hospital_paid:H1:bank:B1"));
        // Folded back, the payout settles what was owed.
        let share = moved("bank_share", "bank:B1:agr-1", "hospital:H1", 40);
        let paid =
            Moved { code: "bank_payout", debit_account: "hospital:H1", credit_account: "hospital_paid:H1:bank:B1", amount: t.amount };
        assert_eq!(owed([share, paid])[&("B1".to_string(), "H1".to_string())], Fen::ZERO);
    }
}
