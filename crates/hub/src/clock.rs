//! Timestamps as the hub stores them: UTC, fixed width, microseconds
//! ("2026-11-23T09:45:01.123456Z"), so that text order is time order on every database.

use std::sync::Arc;
use time::OffsetDateTime;

/// Where the hub reads the time: the only place. Tests and simulations inject their own.
pub trait Clock: Send + Sync {
    fn now_utc(&self) -> OffsetDateTime;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// China Standard Time (UTC+8), the time the national interface speaks.
pub fn in_china(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC))
}

/// "yyyy-MM-dd HH:mm:ss" in China time, as `inf_time`, `begntime` and `fee_ocur_time` are written.
pub fn china_datetime_of(t: OffsetDateTime) -> String {
    let t = in_china(t);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

/// A time an HIS sent (`begntime`, `fee_ocur_time`) as the national interface writes it,
/// "yyyy-MM-dd HH:mm:ss" in China time. Taken as that, or as ISO 8601 / RFC 3339: with an offset
/// ("2026-12-01T10:00:00+08:00", "…Z", fractions dropped) it is moved to China time; without one
/// ("2026-12-01T10:00:00") it is China time already. `None` for anything else, a date alone
/// included: the platforms refuse what is not their format, and a guessed hour is not the visit's.
pub fn national_datetime(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(china_datetime_of(t));
    }
    let local = text.split_once('.').map_or(text, |(whole, fraction)| match fraction.bytes().all(|b| b.is_ascii_digit()) {
        true => whole,
        false => text,
    });
    let spaced = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let parsed = time::PrimitiveDateTime::parse(local, spaced).or_else(|_| time::PrimitiveDateTime::parse(local, t)).ok()?;
    parsed.format(spaced).ok()
}

/// A national "yyyy-MM-dd HH:mm:ss" a day later, in the same form (`None` for another form).
pub fn day_after(national: &str) -> Option<String> {
    use time::macros::format_description;
    let spaced = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(national, spaced).ok()?;
    (t + time::Duration::DAY).format(spaced).ok()
}

pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_order_is_time_order() {
        let a = time::macros::datetime!(2026-11-23 09:45:01 UTC);
        let b = a + time::Duration::milliseconds(500);
        assert_eq!(super::timestamp(a), "2026-11-23T09:45:01.000000Z");
        assert!(super::timestamp(a) < super::timestamp(b));
    }

    #[test]
    fn an_his_time_is_written_as_the_national_interface_writes_it() {
        let check = |sent: &str, written: Option<&str>| assert_eq!(super::national_datetime(sent).as_deref(), written, "{sent}");
        check("2026-12-01 10:00:00", Some("2026-12-01 10:00:00"));
        check(" 2026-12-01 10:00:00 ", Some("2026-12-01 10:00:00"));
        check("2026-12-01T10:00:00", Some("2026-12-01 10:00:00"));
        check("2026-12-01T10:00:00.123", Some("2026-12-01 10:00:00"));
        check("2026-12-01T10:00:00+08:00", Some("2026-12-01 10:00:00"));
        check("2026-12-01T02:00:00Z", Some("2026-12-01 10:00:00"));
        check("2026-11-30T20:30:00.5Z", Some("2026-12-01 04:30:00"));
        for refused in
            ["", "2026-12-01", "yesterday", "2026-13-01 10:00:00", "2026-02-30 10:00:00", "2026/12/01 10:00:00", "20261201100000"]
        {
            check(refused, None);
        }
    }
}
