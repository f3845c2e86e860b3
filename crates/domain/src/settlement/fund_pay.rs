//! `setldetail`'s `fund_pay_type` (基金支付类型, docs/national-interface.md §Code tables) as an open
//! set: real platforms send local sub-codes (310201, 330101) beside the national ones, so a code is
//! classed by its family and an unknown one is kept as it came and never counted as fund.

use crate::money::Fen;
use serde::{Deserialize, Serialize};

/// What a `fund_pay_type` code pays with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundPayClass {
    /// A pooled fund (统筹, 大额, 公务员补助, 大病, 医疗救助, …): part of `fund_pay_sumamt`.
    Fund,
    /// The person's own account (310200 and its local sub-codes): `acct_pay`, not fund.
    PersonalAccount,
    /// Borne by the hospital (999996 医院垫付/医院负担): `hosp_part_amt`, not fund.
    HospitalBorne,
    /// A code this profile does not know: kept, not counted as fund.
    Unknown,
}

/// The national fund families, by their first four digits (310100 and 310101 are both 3101).
const FUND_FAMILIES: &[&str] = &["3101", "3201", "3301", "3401", "3501", "3701", "3901", "3902", "5101", "6101", "9999"];

impl FundPayClass {
    pub fn of(code: &str) -> FundPayClass {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return FundPayClass::Unknown;
        }
        match code {
            "999996" => FundPayClass::HospitalBorne,
            "999997" => FundPayClass::Fund, // 其他基金
            c if c.starts_with("3102") => FundPayClass::PersonalAccount,
            c if c.starts_with("9999") => FundPayClass::Unknown,
            c if FUND_FAMILIES.contains(&&c[..4]) => FundPayClass::Fund,
            _ => FundPayClass::Unknown,
        }
    }
}

/// One `setldetail` entry as the platform sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundPayment {
    pub fund_pay_type: String,
    pub amount: Fen,
}

/// The sum of the entries that are pooled fund: never more than `fund_pay_sumamt` in a reply the
/// hub accepts (entries for the account, the hospital or unknown codes are left out).
pub fn fund_total(detail: &[FundPayment]) -> Fen {
    detail.iter().filter(|d| FundPayClass::of(&d.fund_pay_type) == FundPayClass::Fund).map(|d| d.amount).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classed_by_family_and_unknown_ones_are_not_fund() {
        for (code, class) in [
            ("310100", FundPayClass::Fund),
            ("310101", FundPayClass::Fund),
            ("330101", FundPayClass::Fund),
            ("390200", FundPayClass::Fund),
            ("610100", FundPayClass::Fund),
            ("999997", FundPayClass::Fund),
            ("310200", FundPayClass::PersonalAccount),
            ("310201", FundPayClass::PersonalAccount),
            ("999996", FundPayClass::HospitalBorne),
            ("880100", FundPayClass::Unknown),
            ("999998", FundPayClass::Unknown),
            ("31010", FundPayClass::Unknown),
            ("", FundPayClass::Unknown),
        ] {
            assert_eq!(FundPayClass::of(code), class, "{code}");
        }
        let detail = [("310100", 5000), ("310201", 700), ("999996", 300), ("880100", 90), ("330101", 1000)]
            .map(|(c, a)| FundPayment { fund_pay_type: c.into(), amount: Fen(a) });
        assert_eq!(fund_total(&detail), Fen(6000));
    }
}
