//! Calendar arithmetic for deadlines: hours, calendar days and business days
//! (Monday to Friday in UTC, minus an optional holiday list; SPEC 15.14).

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Adds `days` business days to `start`, keeping the time of day: each following
/// business day counts one, so one business day after Friday or Saturday noon is Monday
/// noon. A `days` of zero returns `start` unchanged.
pub fn add_business_days(start: Timestamp, days: u32, holidays: &[Date]) -> Timestamp {
    if days == 0 {
        return start;
    }
    let zoned = start.to_zoned(TimeZone::UTC);
    let mut date = zoned.date();
    let mut left = days;
    while left > 0 {
        date = date
            .tomorrow()
            .expect("business-day arithmetic stays far inside jiff's range");
        if is_business_day(date, holidays) {
            left -= 1;
        }
    }
    let shifted = date.to_datetime(zoned.time());
    shifted
        .to_zoned(TimeZone::UTC)
        .expect("a UTC civil time always maps to an instant")
        .timestamp()
}

/// Whether `date` is a working day: not Saturday, not Sunday, not a listed holiday.
pub fn is_business_day(date: Date, holidays: &[Date]) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !holidays.contains(&date)
}

/// `start` plus a duration; saturates at jiff's maximum rather than panicking.
pub fn add(start: Timestamp, duration: SignedDuration) -> Timestamp {
    start.checked_add(duration).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("test timestamps are valid")
    }

    #[test]
    fn business_days_skip_weekends() {
        // 2026-11-20 is a Friday.
        let friday = ts("2026-11-20T10:00:00Z");
        assert_eq!(
            add_business_days(friday, 1, &[]),
            ts("2026-11-23T10:00:00Z")
        );
        assert_eq!(
            add_business_days(friday, 10, &[]),
            ts("2026-12-04T10:00:00Z")
        );
    }

    #[test]
    fn business_days_skip_holidays() {
        let friday = ts("2026-12-18T09:30:00Z");
        let holidays = [Date::constant(2026, 12, 24), Date::constant(2026, 12, 25)];
        // Mon 21, Tue 22, Wed 23, (Thu 24, Fri 25 off), Mon 28.
        assert_eq!(
            add_business_days(friday, 4, &holidays),
            ts("2026-12-28T09:30:00Z")
        );
    }

    #[test]
    fn a_weekend_start_counts_from_monday() {
        let saturday = ts("2026-11-21T12:00:00Z");
        assert_eq!(
            add_business_days(saturday, 1, &[]),
            ts("2026-11-23T12:00:00Z")
        );
        assert_eq!(add_business_days(saturday, 0, &[]), saturday);
    }
}
