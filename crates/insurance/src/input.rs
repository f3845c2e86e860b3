//! Reading a transaction's input: text, amounts and dates of the payload, and the check of a field
//! the request repeats against the record.

use crate::clock::Now;
use crate::error::TxError;
use serde_json::Value;
use wugan_domain::Fen;
use wugan_policy::decimal::text_of;
use wugan_policy::Date;

/// A text field of a transaction payload; numbers are read as their text, null/"" as absent.
pub fn opt_text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(text_of)
}

pub fn req_text(data: &Value, key: &str) -> Result<String, TxError> {
    opt_text(data, key).ok_or_else(|| TxError::missing(key))
}

/// An amount in yuan (number or string); null/"" as absent; bad text is an error naming the field.
pub fn opt_yuan(data: &Value, key: &str) -> Result<Option<Fen>, TxError> {
    match data.get(key) {
        None => Ok(None),
        Some(v) => Fen::from_json_yuan(v).map_err(|e| TxError::new(&format!("金额格式错误 {key}"), format!("{key}: {e}"))),
    }
}

/// `begntime` as a date, or today.
pub fn begin_date(data: &Value, today: Date) -> Result<Date, TxError> {
    match opt_text(data, "begntime") {
        Some(t) => Date::parse(&t).ok_or_else(|| TxError::new("begntime 格式错误", format!("begntime '{t}' is not yyyy-MM-dd HH:mm:ss"))),
        None => Ok(today),
    }
}

/// `begntime` in national form (`yyyy-MM-dd HH:mm:ss`; a date alone is its midnight), or now: the
/// time a registration or admission keeps, and 5201 shows and selects by.
pub fn begin_time(data: &Value, now: &Now) -> Result<String, TxError> {
    match opt_text(data, "begntime") {
        Some(t) => national_time(&t).ok_or_else(|| TxError::new("begntime 格式错误", format!("begntime '{t}' is not yyyy-MM-dd HH:mm:ss"))),
        None => Ok(now.datetime()),
    }
}

/// A time as `Date::parse` takes it (`yyyy-MM-dd[ HH:mm:ss]`, `T` for the space, `yyyyMMdd[HHmmss]`)
/// in national form, `yyyy-MM-dd HH:mm:ss`; a date alone is its midnight.
pub fn national_time(text: &str) -> Option<String> {
    let t = text.trim();
    Date::parse(t)?;
    let (date, time) = match t.as_bytes().get(4) {
        Some(b'-') => {
            let clock = t.get(11..).unwrap_or_default();
            let time = match clock.as_bytes().get(5) {
                Some(b':') => clock.get(0..8)?.to_string(),
                _ if clock.is_empty() => "00:00:00".to_string(),
                _ => format!("{}:00", clock.get(0..5)?),
            };
            (t.get(0..10)?.to_string(), time)
        }
        _ => {
            let (d, h) = (t.get(0..8)?, t.get(8..14));
            let date = format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]);
            (date, h.map_or("00:00:00".to_string(), |h| format!("{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])))
        }
    };
    Some(format!("{date} {time}"))
}

pub fn mismatch(field: &str, given: &str, expected: &str) -> TxError {
    TxError::new(&format!("{field} 与记录不符"), format!("{field} '{given}' does not match the record ('{expected}')"))
}

/// Checks an optional input field against the record.
pub fn check_same(data: &Value, field: &str, expected: &str) -> Result<(), TxError> {
    match opt_text(data, field) {
        Some(given) if given != expected => Err(mismatch(field, &given, expected)),
        _ => Ok(()),
    }
}

/// A required `yyyy-MM-dd` field (reconciliation and clearing periods).
pub fn date_field(data: &Value, key: &str) -> Result<String, TxError> {
    let text = req_text(data, key)?;
    let b = text.as_bytes();
    let shaped = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && text.chars().filter(char::is_ascii_digit).count() == 8;
    match shaped {
        true => Ok(text),
        false => Err(TxError::new(&format!("{key} 格式错误"), format!("{key} '{text}' is not yyyy-MM-dd"))),
    }
}
