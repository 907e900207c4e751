//! How times look on pages: relative ("4 min ago") with the exact UTC time beside it.

use chrono::NaiveDateTime;

/// Exact time, as the API and the webhooks write it (templates use it for `datetime`).
pub use crate::time_format::utc;

/// Short exact time for hover text.
pub fn utc_short(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The clock time for a postmortem, beside the relative one: "21:14 UTC" within the last day,
/// "2026-12-03 21:14 UTC" before that.
pub fn clock(at: &NaiveDateTime) -> String {
    clock_from(at, &crate::db::now())
}

pub fn clock_from(at: &NaiveDateTime, now: &NaiveDateTime) -> String {
    if (*now - *at).num_hours().abs() < 24 {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// "just now", "4 min ago", "3 h ago", "2 days ago".
pub fn ago(at: &NaiveDateTime) -> String {
    ago_from(at, &crate::db::now())
}

pub fn ago_from(at: &NaiveDateTime, now: &NaiveDateTime) -> String {
    let seconds = (*now - *at).num_seconds();
    match seconds {
        s if s < 45 => "just now".to_owned(),
        s if s < 3_600 => format!("{} min ago", (s + 30) / 60),
        s if s < 86_400 => format!("{} h ago", s / 3_600),
        s if s < 2 * 86_400 => "yesterday".to_owned(),
        s => format!("{} days ago", s / 86_400),
    }
}

/// "in 4 min", "in 3 h", "in 2 days"; "any moment now" once the time has come.
pub fn until(at: &NaiveDateTime) -> String {
    until_from(at, &crate::db::now())
}

pub fn until_from(at: &NaiveDateTime, now: &NaiveDateTime) -> String {
    let seconds = (*at - *now).num_seconds();
    match seconds {
        s if s < 45 => "any moment now".to_owned(),
        s if s < 3_600 => format!("in {} min", (s + 30) / 60),
        s if s < 2 * 86_400 => format!("in {} h", s / 3_600),
        s => format!("in {} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_carry_the_date_once_older_than_a_day() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(21, 30, 0)
            .unwrap();
        assert_eq!(
            clock_from(&(now - chrono::Duration::minutes(16)), &now),
            "21:14 UTC"
        );
        assert_eq!(
            clock_from(&(now - chrono::Duration::hours(30)), &now),
            "2026-12-03 15:30 UTC"
        );
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc();
        let before = |s: i64| now - chrono::Duration::seconds(s);
        assert_eq!(ago_from(&before(10), &now), "just now");
        assert_eq!(ago_from(&before(240), &now), "4 min ago");
        assert_eq!(ago_from(&before(3 * 3600 + 5), &now), "3 h ago");
        assert_eq!(ago_from(&before(30 * 3600), &now), "yesterday");
        assert_eq!(ago_from(&before(5 * 86_400), &now), "5 days ago");
    }

    #[test]
    fn times_to_come_read_naturally() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc();
        let after = |s: i64| now + chrono::Duration::seconds(s);
        assert_eq!(until_from(&after(-5), &now), "any moment now");
        assert_eq!(until_from(&after(240), &now), "in 4 min");
        assert_eq!(until_from(&after(3 * 3600 + 5), &now), "in 3 h");
        assert_eq!(until_from(&after(5 * 86_400), &now), "in 5 days");
    }
}
