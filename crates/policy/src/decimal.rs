//! Small exact value types the engine needs beyond fen and ratios, and liberal serde readers.
//!
//! The national interface writes prices with six decimals (`pric` 16,6), quantities with four
//! (`cnt` 16,4), dates as text, and flags and small integers as numbers *or* strings. Everything is
//! read here, at the edge, into integers; nothing downstream sees text or floats.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use wugan_domain::money::{format_scaled, scaled_from_json, Fen, Ratio};

/// A unit price in micro-yuan (百万分之一元), the precision of `pric` and `pric_uplmt_amt` (16,6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// A quantity in 1/10,000 units, the precision of `cnt` (16,4). `Qty(20_000)` is 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

impl Price {
    pub const SCALE: u32 = 6;

    pub fn from_fen(fen: Fen) -> Price {
        Price(fen.0 * 10_000)
    }

    pub fn from_json(value: &Value) -> Result<Option<Price>, String> {
        scaled_from_json(value, Self::SCALE).map(|v| v.map(Price)).map_err(|e| e.to_string())
    }

    /// At least two decimals, more only when the price has them: "100.00", "0.123456".
    pub fn to_wire_string(self) -> String {
        trim_to_min_decimals(format_scaled(self.0, Self::SCALE), 2)
    }

    /// `price × quantity` in fen, rounded half up on the absolute value (四舍五入), the rule of
    /// [`Ratio::apply`]. Saturates at the ends of `i64`: use [`Price::checked_times`] for money.
    pub fn times(self, qty: Qty) -> Fen {
        wugan_domain::money::price_times_quantity(self.0, qty.0)
    }

    /// `price × quantity` in fen, rounded as [`Price::times`], or `None` when the product is
    /// beyond ±[`crate::MAX_AMOUNT_FEN`] (never clamped: a clamped figure would be a wrong one).
    pub fn checked_times(self, qty: Qty) -> Option<Fen> {
        let product = i128::from(self.0) * i128::from(qty.0);
        // 10^-6 yuan × 10^-4 units = 10^-10 yuan = 10^-8 fen.
        let magnitude = (product.abs() + 50_000_000) / 100_000_000;
        (magnitude <= i128::from(crate::MAX_AMOUNT_FEN)).then(|| Fen((magnitude * product.signum()) as i64))
    }
}

impl Qty {
    pub const SCALE: u32 = 4;
    pub const ONE: Qty = Qty(10_000);

    pub fn from_json(value: &Value) -> Result<Option<Qty>, String> {
        scaled_from_json(value, Self::SCALE).map(|v| v.map(Qty)).map_err(|e| e.to_string())
    }

    /// "2.00", "0.5000" → "0.50", "1.2345".
    pub fn to_wire_string(self) -> String {
        trim_to_min_decimals(format_scaled(self.0, Self::SCALE), 2)
    }
}

fn trim_to_min_decimals(mut text: String, min_decimals: usize) -> String {
    if let Some(dot) = text.find('.') {
        while text.len() > dot + 1 + min_decimals && text.ends_with('0') {
            text.pop();
        }
    }
    text
}

/// A calendar date (no time zone: the engine never reads a clock). Ordered, so effective ranges
/// compare directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Reads "2024-06-01", "2024-06-01 08:30:00", "2024-06-01T08:30:00" (a time may add a
    /// fraction and a zone: "…:00.123", "…:00Z", "…:00+08:00"), "20240601" or "20240601083000".
    /// Anything else after the date ("2024-06-01junk", "2024-06-01 8h") is not a date: the time
    /// is read only to be sure the text is one, the date is what counts.
    pub fn parse(text: &str) -> Option<Date> {
        let t = text.trim();
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (y, m, d, rest) = if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes().get(7) == Some(&b'-') {
            let rest = t.get(10..)?;
            let time_ok = rest.is_empty() || (rest.starts_with([' ', 'T']) && is_time(rest.get(1..)?));
            (t.get(0..4)?, t.get(5..7)?, t.get(8..10)?, time_ok)
        } else if (t.len() == 8 || t.len() == 14) && digits_only(t) {
            let time_ok = t.len() == 8 || is_time(&format!("{}:{}:{}", t.get(8..10)?, t.get(10..12)?, t.get(12..14)?));
            (t.get(0..4)?, t.get(4..6)?, t.get(6..8)?, time_ok)
        } else {
            return None;
        };
        if !(rest && digits_only(y) && digits_only(m) && digits_only(d)) {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Whole years from `self` (a birth date) to `on`.
    pub fn age_on(self, on: Date) -> u32 {
        let mut years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years.max(0) as u32
    }
}

/// "HH:mm" or "HH:mm:ss", then an optional fraction (".123") and zone ("Z", "+08:00", "+0800").
fn is_time(text: &str) -> bool {
    let two = |s: &str, max: u32| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok_and(|v| v <= max);
    let (clock, zone) = match text.find(['Z', '+', '-']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let zone_ok = match zone.as_bytes().first() {
        None => true,
        Some(b'Z') => zone.len() == 1,
        Some(_) => {
            let z = zone[1..].replace(':', "");
            z.len() == 4 && two(&z[0..2], 23) && two(&z[2..4], 59)
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let fraction_ok = !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = hms.split(':').collect();
    let hms_ok = match parts.as_slice() {
        [h, m] => two(h, 23) && two(m, 59),
        [h, m, s] => two(h, 23) && two(m, 59) && two(s, 60),
        _ => false,
    };
    zone_ok && fraction_ok && hms_ok
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("'{text}' is not a date (yyyy-MM-dd)")))
    }
}

/// Text of a JSON value as partners send it: strings as they are, numbers as their text;
/// `null`, `""` and anything else are `None`.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Serde adapters for the liberal wire forms. Each reads number, string or null.
pub mod wire {
    use super::*;

    fn de_value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    /// `Option<Ratio>` written "0.1000"; null, "" and missing are `None`.
    pub mod ratio_opt {
        use super::*;
        pub fn serialize<S: Serializer>(r: &Option<Ratio>, s: S) -> Result<S::Ok, S::Error> {
            match r {
                Some(r) => s.serialize_str(&r.to_decimal_string()),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ratio>, D::Error> {
            Ratio::from_json(&de_value(d)?).map_err(serde::de::Error::custom)
        }
    }

    /// `Option<Price>` (six decimals on the wire).
    pub mod price_opt {
        use super::*;
        pub fn serialize<S: Serializer>(p: &Option<Price>, s: S) -> Result<S::Ok, S::Error> {
            match p {
                Some(p) => s.serialize_str(&p.to_wire_string()),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Price>, D::Error> {
            Price::from_json(&de_value(d)?).map_err(serde::de::Error::custom)
        }
    }

    /// `Option<Qty>` (four decimals on the wire).
    pub mod qty_opt {
        use super::*;
        pub fn serialize<S: Serializer>(q: &Option<Qty>, s: S) -> Result<S::Ok, S::Error> {
            match q {
                Some(q) => s.serialize_str(&q.to_wire_string()),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Qty>, D::Error> {
            Qty::from_json(&de_value(d)?).map_err(serde::de::Error::custom)
        }
    }

    /// A small unsigned integer sent as `3`, `"3"` or `3.0`; null is `None`.
    pub mod u32_opt {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_u32(*v),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
            let v = de_value(d)?;
            let Some(text) = text_of(&v) else { return Ok(None) };
            let whole = text.strip_suffix(".0").unwrap_or(&text);
            whole.parse().map(Some).map_err(|_| serde::de::Error::custom(format!("'{text}' is not a whole number")))
        }
    }

    /// A flag sent as `true`, `1`, `"1"`, `"true"` (and the negatives); null is false.
    pub mod flag {
        use super::*;
        pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bool(*v)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
            let v = de_value(d)?;
            parse_flag(&v).ok_or_else(|| serde::de::Error::custom(format!("{v} is not a flag (0/1)")))
        }
    }

    /// A text field that may arrive as a number (`"310"` or `310`); null/"" is `None`.
    pub mod text_opt {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_str(v),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
            Ok(text_of(&de_value(d)?))
        }
    }

    /// Like [`text_opt`] but required (missing or empty reads as an error).
    pub mod text {
        use super::*;
        pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(v)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
            let v = de_value(d)?;
            text_of(&v).ok_or_else(|| serde::de::Error::custom(format!("{v} is not a text value")))
        }
    }
}

/// `true`/`false`, `1`/`0`, `"1"`/`"0"`, `"true"`/`"false"`, `"Y"`/`"N"`; null and "" are false.
pub fn parse_flag(value: &Value) -> Option<bool> {
    match value {
        Value::Null => Some(false),
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim() {
            "" | "0" | "false" | "N" | "n" => Some(false),
            "1" | "true" | "Y" | "y" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn price_times_quantity_rounds_half_up() {
        assert_eq!(Price(12_345_000).times(Qty(20_000)), Fen(2469)); // 12.345 × 2 = 24.69
        assert_eq!(Price(1_005_000).times(Qty(5_000)), Fen(50)); // 1.005 × 0.5 = 0.5025 → 0.50
        assert_eq!(Price(1_010_000).times(Qty(5_000)), Fen(51)); // 0.505 → 0.51
        assert_eq!(Price(100_000_000).times(Qty(-10_000)), Fen(-10_000));
    }

    #[test]
    fn wire_forms() {
        assert_eq!(Price::from_json(&json!("100")).unwrap(), Some(Price(100_000_000)));
        assert_eq!(Price(100_000_000).to_wire_string(), "100.00");
        assert_eq!(Price(123_456).to_wire_string(), "0.123456");
        assert_eq!(Qty(20_000).to_wire_string(), "2.00");
        assert_eq!(Qty(12_345).to_wire_string(), "1.2345");
        assert_eq!(parse_flag(&json!("1")), Some(true));
        assert_eq!(parse_flag(&json!(0)), Some(false));
        assert_eq!(parse_flag(&json!("x")), None);
    }

    #[test]
    fn dates() {
        assert_eq!(Date::parse("2024-06-01"), Date::new(2024, 6, 1));
        assert_eq!(Date::parse("2024-06-01 08:30:00"), Date::new(2024, 6, 1));
        assert_eq!(Date::parse("20240229"), Date::new(2024, 2, 29));
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(Date::parse("2024/06/01"), None);
        // Trailing text that is not a time makes the whole text not a date.
        for text in ["2024-06-01junk", "2024-06-01 8:30", "2024-06-01T25:00:00", "2024060112", "20240601junk"] {
            assert_eq!(Date::parse(text), None, "{text}");
        }
        for text in ["2024-06-01 08:30", "2024-06-01T08:30:00Z", "2024-06-01T08:30:00.5+08:00", "20240601083000"] {
            assert_eq!(Date::parse(text), Date::new(2024, 6, 1), "{text}");
        }
        assert_eq!(Date::parse(""), None);
        let born = Date::new(1990, 6, 2).unwrap();
        assert_eq!(born.age_on(Date::new(2024, 6, 1).unwrap()), 33);
        assert_eq!(born.age_on(Date::new(2024, 6, 2).unwrap()), 34);
    }
}
