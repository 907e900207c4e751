//! How times look on pages: relative ("4 min ago") with the exact UTC time beside it.

use chrono::NaiveDateTime;

/// Exact time, as the API and the webhooks write it (templates use it for `datetime`).
pub use crate::time_format::utc;

/// Short exact time for hover text.
pub fn utc_short(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The clock time for a postmortem, beside the relative one, in the reader's time zone: "21:14
/// UTC" within the last day, "2026-12-03 21:14 UTC" before that ("CET", "EST"... elsewhere).
pub fn clock(at: &NaiveDateTime, zone: &chrono_tz::Tz) -> String {
    clock_from(at, &crate::db::now(), *zone)
}

pub fn clock_from(at: &NaiveDateTime, now: &NaiveDateTime, zone: chrono_tz::Tz) -> String {
    let local = at.and_utc().with_timezone(&zone);
    if (*now - *at).num_hours().abs() < 24 {
        local.format("%H:%M %Z").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M %Z").to_string()
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

/// A JSON document indented for reading, its keys in their order and every value as written
/// (re-serialising would sort keys and could rewrite numbers); `None` when it is not JSON.
pub fn indented_json(raw: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(raw).ok()?;
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|n| matches!(n, '}' | ']')) {
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                if !out.ends_with(['{', '[']) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
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
        let utc = chrono_tz::UTC;
        assert_eq!(
            clock_from(&(now - chrono::Duration::minutes(16)), &now, utc),
            "21:14 UTC"
        );
        assert_eq!(
            clock_from(&(now - chrono::Duration::hours(30)), &now, utc),
            "2026-12-03 15:30 UTC"
        );
        // In the reader's zone: Berlin is an hour ahead in December.
        assert_eq!(
            clock_from(
                &(now - chrono::Duration::minutes(16)),
                &now,
                chrono_tz::Europe::Berlin
            ),
            "22:14 CET"
        );
    }

    #[test]
    fn json_is_indented_as_written() {
        let raw = r#"{"b":1,"a":[1.50,{"k":"x, {y}: \"z\""}],"e":{},"f":[ ]}"#;
        let expected = r#"{
  "b": 1,
  "a": [
    1.50,
    {
      "k": "x, {y}: \"z\""
    }
  ],
  "e": {},
  "f": []
}"#;
        assert_eq!(indented_json(raw).as_deref(), Some(expected));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(expected).unwrap(),
            serde_json::from_str::<serde_json::Value>(raw).unwrap()
        );
        assert_eq!(indented_json("not json {"), None);
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
