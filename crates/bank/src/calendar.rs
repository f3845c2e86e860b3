//! Calendar days in China time (UTC+8, no daylight saving), the days a bank bills by.
//!
//! A [`Day`] counts days since 1970-01-01 in China time: the day of a unix instant is
//! `floor((unix_s + 8 h) / 24 h)`. Dates use the proleptic Gregorian calendar (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`). The clock is clamped to years 1970..=9999 first, so a
//! wild clock gives a wrong date, never an overflow.

use std::fmt;

/// China Standard Time is UTC+8 all year.
pub const CHINA_OFFSET_S: i64 = 8 * 3600;
const SECONDS_PER_DAY: i64 = 86_400;
/// 9999-12-31T23:59:59Z.
const MAX_UNIX_S: i64 = 253_402_300_799;

/// A calendar day in China time, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The China-time day of a unix instant.
    pub fn of_unix_s(unix_s: i64) -> Day {
        let clamped = unix_s.clamp(0, MAX_UNIX_S);
        Day((clamped + CHINA_OFFSET_S).div_euclid(SECONDS_PER_DAY))
    }

    /// 00:00 China time of this day, as a unix instant.
    pub fn start_unix_s(self) -> i64 {
        self.0 * SECONDS_PER_DAY - CHINA_OFFSET_S
    }

    pub fn from_ymd(year: i64, month: u32, day: u32) -> Day {
        Day(days_from_civil(year, month, day))
    }

    /// (year, month 1..=12, day 1..=31).
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.0)
    }

    pub fn plus_days(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// The first day on or after `self` whose day of month is `day_of_month` (1..=28).
    pub fn next_day_of_month(self, day_of_month: u32) -> Day {
        let (year, month, day) = self.ymd();
        let this_month = Day::from_ymd(year, month, day_of_month);
        if day <= day_of_month {
            this_month
        } else {
            this_month.plus_months(1, day_of_month)
        }
    }

    /// The day `day_of_month` (1..=28) of the month `months` after (or, negative, before) this
    /// day's month.
    pub fn plus_months(self, months: i64, day_of_month: u32) -> Day {
        let (year, month, _) = self.ymd();
        let index = year * 12 + i64::from(month) - 1 + months;
        let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
        Day::from_ymd(year, month0 as u32 + 1, day_of_month)
    }
}

/// `YYYY-MM-DD`, the form dates take on the wire.
impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_agree() {
        let check = |unix_s: i64, expect: &str| assert_eq!(Day::of_unix_s(unix_s).to_string(), expect, "{unix_s}");
        check(0, "1970-01-01");
        // 2026-01-01T00:00:00Z is 08:00 in Beijing, the same date.
        check(1_767_225_600, "2026-01-01");
        // 2025-12-31T16:00:00Z is midnight in Beijing: already the new year.
        check(1_767_196_800, "2026-01-01");
        check(1_767_196_799, "2025-12-31");
        check(951_782_400, "2000-02-29");
        check(-5, "1970-01-01");
        // Clamped to 9999-12-31T23:59:59Z, which is already the next day in Beijing.
        check(i64::MAX, "10000-01-01");
        for days in [-1_000_000, -1, 0, 59, 60, 365, 10_957, 20_454, 2_932_896] {
            let (y, m, d) = Day(days).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Day(days));
        }
        let new_year = Day::from_ymd(2026, 1, 1);
        assert_eq!(Day::of_unix_s(new_year.start_unix_s()), new_year);
        assert_eq!(Day::of_unix_s(new_year.start_unix_s() - 1), new_year.plus_days(-1));
    }

    #[test]
    fn months_roll_over_years() {
        let d = Day::from_ymd(2026, 12, 15);
        assert_eq!(d.plus_months(1, 1).to_string(), "2027-01-01");
        assert_eq!(d.plus_months(-12, 28).to_string(), "2025-12-28");
        assert_eq!(d.next_day_of_month(15).to_string(), "2026-12-15");
        assert_eq!(d.next_day_of_month(14).to_string(), "2027-01-14");
        assert_eq!(d.next_day_of_month(1).to_string(), "2027-01-01");
    }
}
