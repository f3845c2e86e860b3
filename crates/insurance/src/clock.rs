//! The wall clock, read once per request at the center's edge; transactions get it in their context
//! and never read the clock themselves. The journal keeps each reading, so that a restart replays a
//! transaction at the time it first ran.

use time::macros::{format_description, offset};
use time::OffsetDateTime;
use wugan_policy::Date;

/// Where the center reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync {
    fn now_utc(&self) -> OffsetDateTime;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The wall clock at China Standard Time (UTC+8), read once per request.
pub struct Now {
    at: OffsetDateTime,
}

impl Now {
    pub fn read(clock: &dyn Clock) -> Now {
        Now::at(clock.now_utc())
    }

    pub fn at(at: OffsetDateTime) -> Now {
        Now { at: at.to_offset(offset!(+8)) }
    }

    /// The reading as the journal keeps it: nanoseconds since the Unix epoch (fits until 2262).
    pub fn unix_nanos(&self) -> i64 {
        i64::try_from(self.at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
    }

    /// A reading the journal kept; `None` when out of range.
    pub fn from_unix_nanos(nanos: i64) -> Option<Now> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok().map(Now::at)
    }

    pub fn date(&self) -> Date {
        let d = self.at.date();
        Date { year: d.year(), month: d.month() as u8, day: d.day() }
    }

    /// yyyy-MM-dd HH:mm:ss
    pub fn datetime(&self) -> String {
        self.at.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
    }

    /// yyyyMMddHHmmss
    pub fn compact(&self) -> String {
        self.at.format(format_description!("[year][month][day][hour][minute][second]")).unwrap_or_default()
    }

    /// yyyyMMddHHmmssSSS
    pub fn millis(&self) -> String {
        self.at.format(format_description!("[year][month][day][hour][minute][second][subsecond digits:3]")).unwrap_or_default()
    }

    /// yyyyMMdd
    pub fn ymd(&self) -> String {
        self.at.format(format_description!("[year][month][day]")).unwrap_or_default()
    }

    pub fn seconds_of_day(&self) -> u64 {
        let (h, m, s) = self.at.to_hms();
        u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(s)
    }
}
