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
}
