//! The wall clock, read once per request at the center's edge; transactions get it in their context
//! and never read the clock themselves.

use time::macros::{format_description, offset};
use time::OffsetDateTime;
use wugan_policy::Date;

/// The wall clock at China Standard Time (UTC+8), read once per request.
pub struct Now {
    at: OffsetDateTime,
}

impl Now {
    pub fn current() -> Now {
        Now { at: OffsetDateTime::now_utc().to_offset(offset!(+8)) }
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
