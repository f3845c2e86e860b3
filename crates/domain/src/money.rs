//! Money is integer fen (分, 1/100 yuan) in an `i64`, never a float.
//!
//! Partners speak yuan with two decimals, as JSON numbers *or* strings (real national-platform replies
//! send both, and `null`). This module is the one place where such text becomes fen, exactly: a JSON
//! number is read through its shortest round-trip decimal text, so `25.1` is 2510 fen and never 2509.
//!
//! Rounding rule used everywhere a product is taken (`Ratio::apply`): **round half up on the absolute
//! value** (四舍五入 to the fen), the rule the national platform's outputs follow.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// An amount of money in fen (分). Serialized as a plain integer of fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not a decimal amount")]
    NotADecimal(String),
    #[error("'{text}' has more than {scale} decimal places")]
    TooPrecise { text: String, scale: u32 },
    #[error("'{0}' is out of range")]
    OutOfRange(String),
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn fen(self) -> i64 {
        self.0
    }

    /// Whole yuan to fen, for configuration defaults such as "5,000 yuan".
    pub const fn yuan(yuan: i64) -> Fen {
        Fen(yuan * 100)
    }

    /// Parses yuan text ("25", "25.1", "25.10", "-3.5") into fen. More than two decimals is an error
    /// unless the extra digits are zeros ("25.100" is fine).
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        parse_scaled(text, 2).map(Fen)
    }

    /// Reads yuan from a JSON value as partners send it: number, string, `null` or `""` (→ `None`).
    pub fn from_json_yuan(value: &serde_json::Value) -> Result<Option<Fen>, MoneyError> {
        scaled_from_json(value, 2).map(|v| v.map(Fen))
    }

    /// Yuan text with exactly two decimals, as the national interface writes amounts.
    pub fn to_yuan_string(self) -> String {
        format_scaled(self.0, 2)
    }

    pub fn min(self, other: Fen) -> Fen {
        Fen(self.0.min(other.0))
    }

    pub fn max(self, other: Fen) -> Fen {
        Fen(self.0.max(other.0))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.to_yuan_string())
    }
}

// Fen's arithmetic is plain i64 arithmetic: an overflow panics (debug builds, and release builds by
// the workspace's `overflow-checks = true`), never wraps. `checked_add` is for sums of untrusted input.
impl Add for Fen {
    type Output = Fen;
    fn add(self, o: Fen) -> Fen {
        Fen(self.0 + o.0)
    }
}
impl Sub for Fen {
    type Output = Fen;
    fn sub(self, o: Fen) -> Fen {
        Fen(self.0 - o.0)
    }
}
impl Neg for Fen {
    type Output = Fen;
    fn neg(self) -> Fen {
        Fen(-self.0)
    }
}
impl AddAssign for Fen {
    fn add_assign(&mut self, o: Fen) {
        self.0 += o.0
    }
}
impl SubAssign for Fen {
    fn sub_assign(&mut self, o: Fen) {
        self.0 -= o.0
    }
}
impl Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

/// A ratio in basis points (1/10,000), the precision of the national interface's `selfpay_prop`
/// and `pool_prop_selfpay` (5,4). `Ratio(9000)` is 90 %.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ratio(pub i64);

impl Ratio {
    pub const ZERO: Ratio = Ratio(0);
    pub const ONE: Ratio = Ratio(10_000);

    pub fn basis_points(self) -> i64 {
        self.0
    }

    /// Parses "0.1", "0.10", "1", "0.9250" into basis points; more than four decimals is an error.
    pub fn parse(text: &str) -> Result<Ratio, MoneyError> {
        parse_scaled(text, 4).map(Ratio)
    }

    pub fn from_json(value: &serde_json::Value) -> Result<Option<Ratio>, MoneyError> {
        scaled_from_json(value, 4).map(|v| v.map(Ratio))
    }

    pub fn to_decimal_string(self) -> String {
        format_scaled(self.0, 4)
    }

    pub fn complement(self) -> Ratio {
        Ratio(10_000 - self.0)
    }

    /// `amount × ratio`, rounded half up on the absolute value to the fen (四舍五入).
    pub fn apply(self, amount: Fen) -> Fen {
        let product = amount.0 as i128 * self.0 as i128;
        let magnitude = (product.abs() + 5_000) / 10_000;
        Fen((magnitude * product.signum()) as i64)
    }
}

/// Scale of a unit price on the national interface (`pric`, 6 decimals of a yuan).
pub const PRICE_SCALE: u32 = 6;
/// Scale of a quantity on the national interface (`cnt`, 4 decimals).
pub const QUANTITY_SCALE: u32 = 4;

/// `pric × cnt` in fen: the one rounding rule for a fee line's amount, half up on the absolute
/// value (四舍五入), as [`Ratio::apply`]. `price_micro_yuan` is `pric` scaled by 10^6 and
/// `quantity_scaled` is `cnt` scaled by 10^4, so the product is in 10^-10 yuan = 10^-8 fen.
pub fn price_times_quantity(price_micro_yuan: i64, quantity_scaled: i64) -> Fen {
    let product = price_micro_yuan as i128 * quantity_scaled as i128;
    let magnitude = (product.abs() + 50_000_000) / 100_000_000;
    let fen = magnitude * product.signum();
    Fen(fen.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Parses a decimal text into an integer scaled by 10^scale, exactly.
pub fn parse_scaled(text: &str, scale: u32) -> Result<i64, MoneyError> {
    let t = text.trim();
    let not_decimal = || MoneyError::NotADecimal(text.to_string());
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(not_decimal());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_decimal());
    }
    let scale_usize = scale as usize;
    if frac_part.len() > scale_usize && frac_part[scale_usize..].bytes().any(|b| b != b'0') {
        return Err(MoneyError::TooPrecise { text: text.to_string(), scale });
    }
    let mut frac: String = frac_part.chars().take(scale_usize).collect();
    while frac.len() < scale_usize {
        frac.push('0');
    }
    let out_of_range = || MoneyError::OutOfRange(text.to_string());
    // At most 15 integer digits keeps every scaled value far inside i64 and below 10^15 yuan.
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() > 15 {
        return Err(out_of_range());
    }
    let int_value: i64 = if int_trimmed.is_empty() { 0 } else { int_trimmed.parse().map_err(|_| out_of_range())? };
    let frac_value: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| not_decimal())? };
    let value = int_value.checked_mul(10i64.pow(scale)).and_then(|v| v.checked_add(frac_value)).ok_or_else(out_of_range)?;
    Ok(if negative { -value } else { value })
}

/// Reads a scaled decimal from a JSON number or string; `null` and `""` are `None`.
pub fn scaled_from_json(value: &serde_json::Value, scale: u32) -> Result<Option<i64>, MoneyError> {
    use serde_json::Value;
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => parse_scaled(s, scale).map(Some),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                // Through the text rule, so that one limit holds whatever the form.
                return parse_scaled(&i.to_string(), scale).map(Some);
            }
            // A float: its Display is the shortest text that round-trips, never in exponent form,
            // so 25.1 reads as "25.1" and parses exactly.
            let f = n.as_f64().ok_or_else(|| MoneyError::NotADecimal(n.to_string()))?;
            if !f.is_finite() {
                return Err(MoneyError::NotADecimal(n.to_string()));
            }
            parse_scaled(&format!("{f}"), scale).map(Some)
        }
        other => Err(MoneyError::NotADecimal(other.to_string())),
    }
}

pub fn format_scaled(value: i64, scale: u32) -> String {
    let divisor = 10i64.pow(scale) as i128;
    let v = value as i128;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.abs();
    format!("{sign}{}.{:0width$}", a / divisor, a % divisor, width = scale as usize)
}

/// Serde adapters for yuan on the wire: written as "12.30", read from number, string or null.
pub mod yuan {
    use super::*;

    pub fn serialize<S: Serializer>(fen: &Fen, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fen.to_yuan_string())
    }

    /// `null` or `""` reads as zero; use [`yuan_opt`] where absence must stay visible.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fen, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Fen::from_json_yuan(&v).map_err(serde::de::Error::custom)?.unwrap_or(Fen::ZERO))
    }
}

/// Like [`yuan`] for `Option<Fen>`: `null`/`""`/missing are `None`.
pub mod yuan_opt {
    use super::*;

    pub fn serialize<S: Serializer>(fen: &Option<Fen>, s: S) -> Result<S::Ok, S::Error> {
        match fen {
            Some(f) => s.serialize_str(&f.to_yuan_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fen>, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Fen::from_json_yuan(&v).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for ratios on the wire: written as "0.1000", read from number, string or null (→ 0).
pub mod ratio {
    use super::*;

    pub fn serialize<S: Serializer>(r: &Ratio, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&r.to_decimal_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ratio, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Ratio::from_json(&v).map_err(serde::de::Error::custom)?.unwrap_or(Ratio::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_parse(text: &str, expect: Result<i64, ()>) {
        assert_eq!(Fen::parse_yuan(text).map(|f| f.0).map_err(|_| ()), expect, "parsing {text:?}");
    }

    #[test]
    fn yuan_text_parses_exactly() {
        check_parse("25", Ok(2500));
        check_parse("25.0", Ok(2500));
        check_parse("25.1", Ok(2510));
        check_parse("25.10", Ok(2510));
        check_parse("25.100", Ok(2510));
        check_parse("0.01", Ok(1));
        check_parse(".5", Ok(50));
        check_parse("-3.5", Ok(-350));
        check_parse(" 7.00 ", Ok(700));
        check_parse("25.123", Err(()));
        check_parse("abc", Err(()));
        check_parse("", Err(()));
        check_parse("1e5", Err(()));
        check_parse("1.2.3", Err(()));
        check_parse("9999999999999999", Err(()));
    }

    #[test]
    fn json_numbers_strings_and_nulls() {
        assert_eq!(Fen::from_json_yuan(&json!(25.1)).unwrap(), Some(Fen(2510)));
        assert_eq!(Fen::from_json_yuan(&json!(0.07)).unwrap(), Some(Fen(7)));
        assert_eq!(Fen::from_json_yuan(&json!(25)).unwrap(), Some(Fen(2500)));
        assert_eq!(Fen::from_json_yuan(&json!("25.10")).unwrap(), Some(Fen(2510)));
        assert_eq!(Fen::from_json_yuan(&json!(null)).unwrap(), None);
        assert_eq!(Fen::from_json_yuan(&json!("")).unwrap(), None);
        assert!(Fen::from_json_yuan(&json!(true)).is_err());
        assert!(Fen::from_json_yuan(&json!(0.001)).is_err());
        // One limit whatever the form (found by fuzz/money): 10^15 yuan and more is out of range
        // as a JSON integer too, as it is as text and as a float.
        for amount in [json!(80_000_000_000_000_000i64), json!("80000000000000000"), json!(8e16)] {
            assert!(Fen::from_json_yuan(&amount).is_err(), "{amount}");
        }
        assert_eq!(Fen::from_json_yuan(&json!(999_999_999_999_999i64)).unwrap(), Some(Fen(99_999_999_999_999_900)));
    }

    #[test]
    fn ratios_round_half_up_to_the_fen() {
        assert_eq!(Ratio::parse("0.1").unwrap(), Ratio(1000));
        assert_eq!(Ratio(9000).apply(Fen(1001)), Fen(901)); // 900.9 → 901
        assert_eq!(Ratio(5000).apply(Fen(1)), Fen(1)); // 0.5 → 1
        assert_eq!(Ratio(4999).apply(Fen(1)), Fen(0));
        assert_eq!(Ratio(5000).apply(Fen(-1)), Fen(-1)); // symmetric for refunds
        assert_eq!(Ratio::ONE.apply(Fen(12345)), Fen(12345));
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(Fen(2510).to_yuan_string(), "25.10");
        assert_eq!(Fen(-5).to_yuan_string(), "-0.05");
        assert_eq!(Ratio(1000).to_decimal_string(), "0.1000");
    }

    proptest::proptest! {
        #[test]
        fn yuan_text_round_trips(fen in -10_000_000_000_000i64..10_000_000_000_000) {
            proptest::prop_assert_eq!(Fen::parse_yuan(&Fen(fen).to_yuan_string()).unwrap(), Fen(fen));
        }

        #[test]
        fn json_float_reads_the_fen_it_shows(fen in 0i64..100_000_000_000) {
            let as_float: f64 = Fen(fen).to_yuan_string().parse().unwrap();
            proptest::prop_assert_eq!(Fen::from_json_yuan(&json!(as_float)).unwrap(), Some(Fen(fen)));
        }

        #[test]
        fn a_ratio_and_its_complement_never_lose_a_fen(fen in 0i64..1_000_000_000, bp in 0i64..=10_000) {
            let part = Ratio(bp).apply(Fen(fen));
            proptest::prop_assert!(part >= Fen(0) && part <= Fen(fen));
        }
    }
}
