//! The UK calendar. Every legal date in the service (the 56-day window, ages, "today") is a date in
//! England, Europe/London, not UTC (docs/rules.md §3): a referral at 00:30 BST on 1 July is dated 1 July.
//! The time-zone rules come from jiff's bundled database, never from a hand-written DST rule; the
//! clock itself is never read here: callers pass the instant in.

use crate::issue::{Code, Rejection};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The time zone of England.
fn london() -> TimeZone {
    // The database is compiled in (jiff feature `tzdb-bundle-always`), so this cannot depend on the
    // host; UTC is the documented fallback should the bundle ever lack the zone, and a test pins it.
    TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC)
}

/// The date in England at instant `now`.
pub fn uk_date(now: Timestamp) -> Date {
    now.to_zoned(london()).date()
}

/// Whole years from `born` to `today`, on the calendar: a birthday on 29 February counts as reached
/// on 1 March in years without one (docs/rules.md §5).
pub fn age_on(born: Date, today: Date) -> i32 {
    let mut age = i32::from(today.year()) - i32::from(born.year());
    if (today.month(), today.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age
}

/// Parses a `YYYY-MM-DD` calendar date, and nothing looser (no `20240101`, no time part).
pub fn parse_date(raw: &str) -> Result<Date, Rejection> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    let invalid = || {
        Rejection::new(
            Code::DateInvalid,
            "Expected a real calendar date as YYYY-MM-DD.",
        )
    };
    if !shaped {
        return Err(invalid());
    }
    raw.parse::<Date>().map_err(|_| invalid())
}

/// Parses an RFC 3339 instant with an explicit offset (`Z` or `±hh:mm`).
pub fn parse_instant(raw: &str) -> Result<Timestamp, Rejection> {
    let invalid = || {
        Rejection::new(
            Code::DateInvalid,
            "Expected an RFC 3339 date-time with an offset, e.g. 2026-11-23T14:05:00Z.",
        )
    };
    // jiff also reads RFC 9557 time-zone annotations; docs/contract.md §4 says RFC 3339, so refuse them.
    if raw.contains('[') || raw.len() > 40 {
        return Err(invalid());
    }
    raw.parse::<Timestamp>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("instant")
    }

    #[test]
    fn europe_london_is_in_the_bundled_database() {
        assert!(TimeZone::get("Europe/London").is_ok());
    }

    #[test]
    fn a_summer_night_at_2330_utc_is_already_tomorrow_in_england() {
        assert_eq!(uk_date(at("2026-06-30T23:30:00Z")), date(2026, 7, 1));
        assert_eq!(uk_date(at("2026-06-30T22:59:59Z")), date(2026, 6, 30));
    }

    #[test]
    fn a_winter_night_at_2330_utc_is_still_today_in_england() {
        assert_eq!(uk_date(at("2026-12-01T23:30:00Z")), date(2026, 12, 1));
        assert_eq!(uk_date(at("2026-12-02T00:00:00Z")), date(2026, 12, 2));
    }

    #[test]
    fn both_dst_change_nights_are_dated_correctly() {
        // Clocks go forward at 01:00 UTC on 29 March 2026 and back at 01:00 UTC on 25 October 2026.
        assert_eq!(uk_date(at("2026-03-28T23:59:59Z")), date(2026, 3, 28));
        assert_eq!(uk_date(at("2026-03-29T00:30:00Z")), date(2026, 3, 29));
        assert_eq!(uk_date(at("2026-03-29T23:00:00Z")), date(2026, 3, 30));
        assert_eq!(uk_date(at("2026-03-29T22:59:59Z")), date(2026, 3, 29));
        assert_eq!(uk_date(at("2026-10-24T23:00:00Z")), date(2026, 10, 25));
        assert_eq!(uk_date(at("2026-10-24T22:59:59Z")), date(2026, 10, 24));
        assert_eq!(uk_date(at("2026-10-25T23:30:00Z")), date(2026, 10, 25));
        assert_eq!(uk_date(at("2026-10-26T00:00:00Z")), date(2026, 10, 26));
    }

    #[test]
    fn ages_count_whole_years() {
        let born = date(2010, 11, 23);
        assert_eq!(age_on(born, date(2026, 11, 22)), 15);
        assert_eq!(age_on(born, date(2026, 11, 23)), 16);
    }

    #[test]
    fn a_leap_day_birthday_is_reached_on_1_march_in_common_years() {
        let born = date(2008, 2, 29);
        assert_eq!(age_on(born, date(2026, 2, 28)), 17);
        assert_eq!(age_on(born, date(2026, 3, 1)), 18);
        assert_eq!(age_on(born, date(2028, 2, 28)), 19);
        assert_eq!(age_on(born, date(2028, 2, 29)), 20);
    }

    #[test]
    fn only_strict_iso_dates_parse() {
        assert_eq!(parse_date("2026-02-28"), Ok(date(2026, 2, 28)));
        for bad in [
            "2026-02-29",
            "20260228",
            "2026-2-28",
            "2026-02-28T00:00:00",
            "",
            "２０２６-02-28",
            "2026-13-01",
        ] {
            assert_eq!(
                parse_date(bad).map_err(|e| e.code),
                Err(Code::DateInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("2026-11-23T10:00:00Z").is_ok());
        assert!(parse_instant("2026-11-23T10:00:00+01:00").is_ok());
        assert!(parse_instant("2026-11-23T10:00:00").is_err());
        assert!(parse_instant("2026-11-23").is_err());
        assert!(parse_instant("2026-11-23T10:00:00Z[Europe/London]").is_err());
    }
}
