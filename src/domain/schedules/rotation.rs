//! The time model of a schedule: who is on call at an instant, and until when. Pure functions
//! over the schedule's description (no database).
//!
//! - A layer rotates its users: shift `k` (counted from the rotation start) belongs to
//!   `users[k mod len]`. Shifts that are whole days (or weeks) are counted in the schedule's
//!   local calendar, so a handover keeps its wall-clock time across daylight-saving changes;
//!   other lengths are exact durations.
//! - Restrictions mask a layer outside daily or weekly windows of local time; the rotation goes
//!   on underneath them (as PagerDuty's restricted layers do).
//! - Later layers are above earlier ones; an override covering the instant is above all layers.
//!
//! Each question costs O(layers + overrides): the shift covering an instant is computed, never
//! found by walking every shift since the rotation started.

use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;

const SECONDS_PER_DAY: i64 = 86_400;
pub const SECONDS_PER_WEEK: i64 = 7 * SECONDS_PER_DAY;

/// How many successive instants `until` looks at where an input changes but the person on call
/// stays the same (a lower layer handing over beneath a higher one, say) before it stops and
/// reports the last of them. Real schedules need a handful.
const MAX_UNCHANGED_STEPS: usize = 1_000;

/// Zenduty's `restriction_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionType {
    None,
    Daily,
    Weekly,
}

impl RestrictionType {
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(RestrictionType::None),
            1 => Some(RestrictionType::Daily),
            2 => Some(RestrictionType::Weekly),
            _ => None,
        }
    }

    pub fn code(self) -> i32 {
        match self {
            RestrictionType::None => 0,
            RestrictionType::Daily => 1,
            RestrictionType::Weekly => 2,
        }
    }

    /// The longest window of this type, in seconds.
    pub fn max_duration(self) -> i64 {
        match self {
            RestrictionType::None | RestrictionType::Daily => SECONDS_PER_DAY,
            RestrictionType::Weekly => SECONDS_PER_WEEK,
        }
    }
}

/// A window of local time in which a restricted layer is on call: every day (daily), or every
/// week from `start_day_of_week` (0 Monday … 6 Sunday). Its end is `duration` seconds of wall
/// clock after its start, so it may cross midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub start_day_of_week: u32,
    pub start_time_of_day: NaiveTime,
    pub duration: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Seconds, more than zero.
    pub shift_length: i64,
    pub rotation_start: DateTime<Utc>,
    pub rotation_end: Option<DateTime<Utc>>,
    /// Users in rotation order (ids); a user may appear more than once.
    pub users: Vec<i64>,
    pub restriction_type: RestrictionType,
    pub restrictions: Vec<Restriction>,
    pub is_active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub user_id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A schedule as the time model sees it: layers from lowest to highest, overrides in the order
/// they were made (a later one wins where two overlap).
#[derive(Debug, Clone)]
pub struct Rotation {
    pub time_zone: Tz,
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

/// Who is on call, and whether an override put them there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub user_id: i64,
    pub from_override: bool,
}

/// The answer for an instant: who is on call (if anyone) and the next instant it changes
/// (`None`: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnCallAnswer {
    pub on_call: Option<Assignment>,
    pub until: Option<DateTime<Utc>>,
}

/// One stretch of time with the same person on call (or nobody, when `on_call` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub on_call: Option<Assignment>,
}

/// The instant a local wall-clock time names in `tz`. A time the clocks skip (spring forward)
/// is read with the offset before the gap, i.e. moved forward by the gap (02:30 → 03:30); a time
/// that happens twice (fall back) is its first occurrence.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(at) => at.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let before_gap = tz.offset_from_utc_datetime(&(local - Duration::days(1)));
            let offset = chrono::Offset::fix(&before_gap);
            DateTime::<Utc>::from_naive_utc_and_offset(
                local - Duration::seconds(i64::from(offset.local_minus_utc())),
                Utc,
            )
        }
    }
}

fn local_of(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

fn add_days(date: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

impl Layer {
    /// Whole-day shifts hand over at the same local time every time.
    fn calendar_days(&self) -> Option<i64> {
        (self.shift_length % SECONDS_PER_DAY == 0).then_some(self.shift_length / SECONDS_PER_DAY)
    }

    /// The start of shift `k` (k ≥ 0).
    fn shift_start(&self, tz: Tz, k: i64) -> Option<DateTime<Utc>> {
        if k == 0 {
            return Some(self.rotation_start);
        }
        match self.calendar_days() {
            Some(days) => {
                let start = local_of(tz, self.rotation_start);
                let date = add_days(start.date(), k.checked_mul(days)?)?;
                Some(local_to_utc(tz, date.and_time(start.time())))
            }
            None => self
                .rotation_start
                .checked_add_signed(Duration::seconds(k.checked_mul(self.shift_length)?)),
        }
    }

    /// The shift covering `at` (not before the rotation start).
    fn shift_index(&self, tz: Tz, at: DateTime<Utc>) -> i64 {
        let mut k = match self.calendar_days() {
            Some(days) => {
                let start = local_of(tz, self.rotation_start);
                let local = local_of(tz, at);
                let mut elapsed = (local.date() - start.date()).num_days();
                if local.time() < start.time() {
                    elapsed -= 1;
                }
                elapsed.div_euclid(days).max(0)
            }
            None => (at - self.rotation_start)
                .num_milliseconds()
                .div_euclid(self.shift_length.saturating_mul(1000))
                .max(0),
        };
        // The local-calendar estimate can be one off around a daylight-saving change.
        while k > 0 && self.shift_start(tz, k).is_none_or(|s| s > at) {
            k -= 1;
        }
        while self.shift_start(tz, k + 1).is_some_and(|s| s <= at) {
            k += 1;
        }
        k
    }

    fn user_of_shift(&self, k: i64) -> i64 {
        let len = self.users.len() as i64;
        self.users[usize::try_from(k.rem_euclid(len)).unwrap_or(0)]
    }

    /// The restriction windows (UTC) near `at`: every window that may contain it and the next
    /// one of each restriction that starts after it.
    fn windows_near(&self, tz: Tz, at: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let today = local_of(tz, at).date();
        let mut windows = Vec::new();
        for restriction in &self.restrictions {
            let starts: Vec<NaiveDate> = match self.restriction_type {
                RestrictionType::None => Vec::new(),
                RestrictionType::Daily => (-2..=2).filter_map(|d| add_days(today, d)).collect(),
                RestrictionType::Weekly => {
                    let back = (i64::from(today.weekday().num_days_from_monday())
                        - i64::from(restriction.start_day_of_week))
                    .rem_euclid(7);
                    [-7, 0, 7]
                        .iter()
                        .filter_map(|d| add_days(today, d - back))
                        .collect()
                }
            };
            for date in starts {
                let local_start = date.and_time(restriction.start_time_of_day);
                let local_end = local_start + Duration::seconds(restriction.duration);
                windows.push((local_to_utc(tz, local_start), local_to_utc(tz, local_end)));
            }
        }
        windows
    }

    /// Who this layer puts on call at `at`, and the next instant that may change.
    fn state_at(&self, tz: Tz, at: DateTime<Utc>) -> (Option<i64>, Option<DateTime<Utc>>) {
        if !self.is_active || self.users.is_empty() || self.shift_length <= 0 {
            return (None, None);
        }
        if self.rotation_end.is_some_and(|end| at >= end) {
            return (None, None);
        }
        if at < self.rotation_start {
            return (None, Some(self.rotation_start));
        }
        let k = self.shift_index(tz, at);
        let user = self.user_of_shift(k);
        let len = self.users.len() as i64;
        let handover = (1..=len)
            .find(|j| self.user_of_shift(k + j) != user)
            .and_then(|j| self.shift_start(tz, k + j));
        let mut next = earliest(handover, self.rotation_end);
        if self.restriction_type == RestrictionType::None {
            return (Some(user), next);
        }
        let mut covered = false;
        for (start, end) in self.windows_near(tz, at) {
            if start <= at && at < end {
                covered = true;
                next = earliest(next, Some(end));
            } else if start > at {
                next = earliest(next, Some(start));
            }
        }
        (covered.then_some(user), next)
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl Rotation {
    /// Who is on call at `at`, and the next instant any layer or override may change it (the
    /// person may turn out the same there).
    fn state_at(&self, at: DateTime<Utc>) -> (Option<Assignment>, Option<DateTime<Utc>>) {
        let mut next = None;
        let mut by_override = None;
        for o in &self.overrides {
            if o.start <= at && at < o.end {
                by_override = Some(o.user_id);
                next = earliest(next, Some(o.end));
            } else if o.start > at {
                next = earliest(next, Some(o.start));
            }
        }
        let mut by_layer = None;
        for layer in self.layers.iter().rev() {
            let (user, layer_next) = layer.state_at(self.time_zone, at);
            next = earliest(next, layer_next);
            if by_layer.is_none() {
                by_layer = user;
            }
        }
        let on_call = match by_override {
            Some(user_id) => Some(Assignment {
                user_id,
                from_override: true,
            }),
            None => by_layer.map(|user_id| Assignment {
                user_id,
                from_override: false,
            }),
        };
        (on_call, next)
    }

    /// Who is on call at `at` and until when: the next instant a different person (or nobody)
    /// is on call; `None` if that never happens.
    pub fn on_call_at(&self, at: DateTime<Utc>) -> OnCallAnswer {
        let (on_call, mut next) = self.state_at(at);
        let person = on_call.map(|a| a.user_id);
        for _ in 0..MAX_UNCHANGED_STEPS {
            let Some(candidate) = next else { break };
            let (later, after) = self.state_at(candidate);
            if later.map(|a| a.user_id) != person {
                break;
            }
            next = after;
        }
        OnCallAnswer {
            on_call,
            until: next,
        }
    }

    /// Who is on call from `from` to `to`, as consecutive spans (nobody included); a span
    /// ends where the person or whether an override put them there changes.
    pub fn spans(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
        let mut spans: Vec<Span> = Vec::new();
        let mut at = from;
        while at < to {
            let (on_call, next) = self.state_at(at);
            // Every change `state_at` reports is after `at`; should one not be, the rest of the
            // range is one span rather than a loop that never ends.
            let end = next.filter(|n| *n > at).map_or(to, |n| n.min(to));
            match spans.last_mut() {
                Some(last) if last.on_call == on_call => last.end = end,
                _ => spans.push(Span {
                    start: at,
                    end,
                    on_call,
                }),
            }
            at = end;
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: i64 = 1;
    const BOB: i64 = 2;
    const CAROL: i64 = 3;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a test instant")
            .with_timezone(&Utc)
    }

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").expect("a test time")
    }

    fn layer(shift_length: i64, start: &str, users: &[i64]) -> Layer {
        Layer {
            shift_length,
            rotation_start: utc(start),
            rotation_end: None,
            users: users.to_vec(),
            restriction_type: RestrictionType::None,
            restrictions: Vec::new(),
            is_active: true,
        }
    }

    fn rotation(tz: Tz, layers: Vec<Layer>) -> Rotation {
        Rotation {
            time_zone: tz,
            layers,
            overrides: Vec::new(),
        }
    }

    fn who(rotation: &Rotation, at: &str) -> Option<i64> {
        rotation.on_call_at(utc(at)).on_call.map(|a| a.user_id)
    }

    fn until(rotation: &Rotation, at: &str) -> Option<DateTime<Utc>> {
        rotation.on_call_at(utc(at)).until
    }

    /// Daily 09:00 handover in Berlin, started on 2026-03-25 09:00 CET (08:00Z).
    fn berlin_daily() -> Rotation {
        rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-03-25T08:00:00Z",
                &[ALICE, BOB],
            )],
        )
    }

    #[test]
    fn a_daily_handover_keeps_nine_local_across_the_spring_change_in_berlin() {
        let r = berlin_daily();
        // Sat 28 March, 09:00 CET = 08:00Z: shift 3 (Bob) starts.
        assert_eq!(who(&r, "2026-03-28T08:00:00Z"), Some(BOB));
        // Clocks go forward on Sun 29 March; 09:00 CEST is 07:00Z.
        assert_eq!(
            until(&r, "2026-03-28T08:00:00Z"),
            Some(utc("2026-03-29T07:00:00Z"))
        );
        assert_eq!(who(&r, "2026-03-29T06:59:59Z"), Some(BOB));
        assert_eq!(who(&r, "2026-03-29T07:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-03-29T07:00:00Z"),
            Some(utc("2026-03-30T07:00:00Z"))
        );
    }

    #[test]
    fn a_daily_handover_keeps_nine_local_across_the_autumn_change_in_berlin() {
        let r = berlin_daily();
        // Sat 24 October 09:00 CEST = 07:00Z; clocks go back on Sun 25 October, so 09:00 CET
        // is 08:00Z, 25 hours later.
        let saturday = who(&r, "2026-10-24T07:00:00Z");
        assert!(who(&r, "2026-10-24T06:59:59Z").is_some());
        assert_ne!(who(&r, "2026-10-24T06:59:59Z"), saturday);
        assert_eq!(
            until(&r, "2026-10-24T07:00:00Z"),
            Some(utc("2026-10-25T08:00:00Z"))
        );
        assert_eq!(who(&r, "2026-10-25T07:59:59Z"), saturday);
        assert_ne!(who(&r, "2026-10-25T08:00:00Z"), saturday);
        assert_eq!(
            until(&r, "2026-10-25T08:00:00Z"),
            Some(utc("2026-10-26T08:00:00Z"))
        );
    }

    #[test]
    fn a_weekly_handover_keeps_its_local_time_in_new_york() {
        // Mondays 09:00 in New York, from Mon 2 March 2026 (EST, 14:00Z); clocks go forward on
        // Sun 8 March and back on Sun 1 November.
        let r = rotation(
            chrono_tz::America::New_York,
            vec![layer(
                SECONDS_PER_WEEK,
                "2026-03-02T14:00:00Z",
                &[ALICE, BOB],
            )],
        );
        assert_eq!(who(&r, "2026-03-02T14:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-03-02T14:00:00Z"),
            Some(utc("2026-03-09T13:00:00Z"))
        );
        assert_eq!(who(&r, "2026-03-09T12:59:59Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-03-09T13:00:00Z"), Some(BOB));
        // Mon 26 October is week 34 (Alice, EDT 13:00Z); Mon 2 November 09:00 EST is 14:00Z.
        assert_eq!(who(&r, "2026-10-26T13:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-10-26T13:00:00Z"),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        assert_eq!(who(&r, "2026-11-02T13:59:59Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-11-02T14:00:00Z"), Some(BOB));
    }

    #[test]
    fn a_daily_handover_in_new_york_on_its_change_dates() {
        // Daily 09:00 from Fri 6 March 2026 (EST, 14:00Z).
        let r = rotation(
            chrono_tz::America::New_York,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-03-06T14:00:00Z",
                &[ALICE, BOB, CAROL],
            )],
        );
        // Sun 8 March 09:00 EDT = 13:00Z: shift 2 (Carol).
        assert_eq!(
            until(&r, "2026-03-07T14:00:00Z"),
            Some(utc("2026-03-08T13:00:00Z"))
        );
        assert_eq!(who(&r, "2026-03-08T13:00:00Z"), Some(CAROL));
        assert_eq!(who(&r, "2026-03-09T13:00:00Z"), Some(ALICE));
    }

    #[test]
    fn a_daily_handover_in_new_york_keeps_nine_local_when_the_clocks_go_back() {
        // Daily 09:00 from Thu 29 October 2026 (EDT, 13:00Z). Clocks go back on Sun 1 November
        // at 02:00 EDT: from then 09:00 EST is 14:00Z, so Saturday's shift lasts 25 hours.
        let r = rotation(
            chrono_tz::America::New_York,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-10-29T13:00:00Z",
                &[ALICE, BOB, CAROL],
            )],
        );
        assert_eq!(who(&r, "2026-10-29T12:59:59Z"), None, "not started yet");
        assert_eq!(who(&r, "2026-10-29T13:00:00Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-10-30T13:00:00Z"), Some(BOB));
        // Sat 31 October 09:00 EDT = 13:00Z: shift 2 (Carol) until Sun 09:00 EST = 14:00Z.
        assert_eq!(who(&r, "2026-10-31T12:59:59Z"), Some(BOB));
        assert_eq!(who(&r, "2026-10-31T13:00:00Z"), Some(CAROL));
        assert_eq!(
            until(&r, "2026-10-31T13:00:00Z"),
            Some(utc("2026-11-01T14:00:00Z"))
        );
        // 13:00Z on Sunday is 08:00 EST: still Carol's shift.
        assert_eq!(who(&r, "2026-11-01T13:00:00Z"), Some(CAROL));
        assert_eq!(who(&r, "2026-11-01T13:59:59Z"), Some(CAROL));
        // Sun 1 November 09:00 EST = 14:00Z: shift 3 (Alice), then every day at 14:00Z.
        assert_eq!(who(&r, "2026-11-01T14:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-11-01T14:00:00Z"),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        assert_eq!(who(&r, "2026-11-02T13:59:59Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-11-02T14:00:00Z"), Some(BOB));
        assert_eq!(
            until(&r, "2026-11-02T14:00:00Z"),
            Some(utc("2026-11-03T14:00:00Z"))
        );
    }

    #[test]
    fn hour_based_shifts_are_exact_durations_across_a_change() {
        // 12-hour shifts from Sat 28 March 2026 08:00Z in Berlin: they stay 12 hours of real time,
        // so the local handover moves from 09:00/21:00 to 10:00/22:00.
        let r = rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(12 * 3600, "2026-03-28T08:00:00Z", &[ALICE, BOB])],
        );
        assert_eq!(
            until(&r, "2026-03-28T08:00:00Z"),
            Some(utc("2026-03-28T20:00:00Z"))
        );
        assert_eq!(who(&r, "2026-03-29T08:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-03-29T08:00:00Z"),
            Some(utc("2026-03-29T20:00:00Z"))
        );
    }

    #[test]
    fn a_rotation_started_long_ago_costs_no_walk() {
        // Ten years of hourly shifts: shift 87,648 (even) is Alice's.
        let r = rotation(
            chrono_tz::UTC,
            vec![layer(3600, "2016-03-01T00:00:00Z", &[ALICE, BOB])],
        );
        assert_eq!(who(&r, "2026-03-01T00:30:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-03-01T00:30:00Z"),
            Some(utc("2026-03-01T01:00:00Z"))
        );
    }

    #[test]
    fn calendar_rotations_started_years_ago_answer_as_counted_by_hand() {
        // Daily and weekly 09:00 handovers in Berlin from Mon 1 January 2024, 09:00 CET
        // (08:00Z), across five daylight-saving changes. Mon 15 June 2026 is 366 + 365 + 165
        // = 896 days later, i.e. 128 weeks exactly; 09:00 CEST there is 07:00Z.
        const DAVE: i64 = 4;
        const ERIN: i64 = 5;
        let daily = rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(
                SECONDS_PER_DAY,
                "2024-01-01T08:00:00Z",
                &[ALICE, BOB, CAROL],
            )],
        );
        // Shift 896 (896 mod 3 = 2, Carol) from 07:00Z to the next day's 07:00Z; the minute
        // before, shift 895 (Bob).
        assert_eq!(who(&daily, "2026-06-15T06:59:00Z"), Some(BOB));
        assert_eq!(who(&daily, "2026-06-15T07:00:00Z"), Some(CAROL));
        assert_eq!(
            until(&daily, "2026-06-15T07:30:00Z"),
            Some(utc("2026-06-16T07:00:00Z"))
        );
        let weekly = rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(
                SECONDS_PER_WEEK,
                "2024-01-01T08:00:00Z",
                &[ALICE, BOB, CAROL, DAVE, ERIN],
            )],
        );
        // Week 128 (128 mod 5 = 3, Dave) until Mon 22 June 07:00Z; week 127 (Carol) before.
        assert_eq!(who(&weekly, "2026-06-15T06:59:59Z"), Some(CAROL));
        assert_eq!(who(&weekly, "2026-06-15T07:00:00Z"), Some(DAVE));
        assert_eq!(
            until(&weekly, "2026-06-18T12:00:00Z"),
            Some(utc("2026-06-22T07:00:00Z"))
        );
        // The same handover in winter time, on the other side of the clocks' change: Mon 28
        // December 2026 is 1 092 days (156 weeks) in, 09:00 CET = 08:00Z; 1 092 mod 3 = 0.
        assert_eq!(who(&daily, "2026-12-28T07:59:59Z"), Some(CAROL));
        assert_eq!(who(&daily, "2026-12-28T08:00:00Z"), Some(ALICE));
        assert_eq!(who(&weekly, "2026-12-28T08:00:00Z"), Some(BOB));
    }

    #[test]
    fn a_rotation_started_two_years_ago_gives_what_one_started_yesterday_gives() {
        // Two daily layers of the same people, one started 730 days (104 weeks + 2 days) before
        // the other, its people shifted by 730 mod 4 = 2 places: the same person is on call at
        // every instant of a week after both started, with the same handovers.
        const DAVE: i64 = 4;
        let old = rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(
                SECONDS_PER_DAY,
                "2024-06-02T07:00:00Z",
                &[CAROL, DAVE, ALICE, BOB],
            )],
        );
        let new = rotation(
            chrono_tz::Europe::Berlin,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-06-02T07:00:00Z",
                &[ALICE, BOB, CAROL, DAVE],
            )],
        );
        let from = utc("2026-06-02T07:00:00Z");
        let to = utc("2026-06-09T07:00:00Z");
        assert_eq!(old.spans(from, to), new.spans(from, to));
        assert_eq!(new.spans(from, to).len(), 7);
    }

    #[test]
    fn nobody_is_on_call_before_a_future_rotation_start_nor_after_its_end() {
        let mut l = layer(SECONDS_PER_DAY, "2026-05-01T07:00:00Z", &[ALICE, BOB]);
        l.rotation_end = Some(utc("2026-05-03T07:00:00Z"));
        let r = rotation(chrono_tz::Europe::Berlin, vec![l]);
        assert_eq!(who(&r, "2026-04-30T12:00:00Z"), None);
        assert_eq!(
            until(&r, "2026-04-30T12:00:00Z"),
            Some(utc("2026-05-01T07:00:00Z"))
        );
        assert_eq!(who(&r, "2026-05-01T07:00:00Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-05-02T07:00:00Z"), Some(BOB));
        assert_eq!(
            until(&r, "2026-05-02T07:00:00Z"),
            Some(utc("2026-05-03T07:00:00Z"))
        );
        assert_eq!(who(&r, "2026-05-03T07:00:00Z"), None);
        assert_eq!(until(&r, "2026-05-03T07:00:00Z"), None);
    }

    #[test]
    fn one_user_alone_is_on_call_for_ever() {
        let r = rotation(
            chrono_tz::UTC,
            vec![layer(SECONDS_PER_DAY, "2026-01-01T00:00:00Z", &[ALICE])],
        );
        assert_eq!(who(&r, "2026-06-01T00:00:00Z"), Some(ALICE));
        assert_eq!(until(&r, "2026-06-01T00:00:00Z"), None);
    }

    #[test]
    fn a_daily_window_crossing_midnight() {
        // Nights 22:00–06:00 Berlin time (CEST in June: 20:00Z–04:00Z), a weekly rotation.
        let mut l = layer(SECONDS_PER_WEEK, "2026-06-01T00:00:00Z", &[ALICE, BOB]);
        l.restriction_type = RestrictionType::Daily;
        l.restrictions = vec![Restriction {
            start_day_of_week: 0,
            start_time_of_day: time("22:00"),
            duration: 8 * 3600,
        }];
        let r = rotation(chrono_tz::Europe::Berlin, vec![l]);
        assert_eq!(who(&r, "2026-06-02T19:59:59Z"), None);
        assert_eq!(
            until(&r, "2026-06-02T12:00:00Z"),
            Some(utc("2026-06-02T20:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-02T20:00:00Z"), Some(ALICE));
        assert_eq!(who(&r, "2026-06-03T01:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-06-03T01:00:00Z"),
            Some(utc("2026-06-03T04:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-03T04:00:00Z"), None);
    }

    #[test]
    fn a_weekly_window_from_friday_evening_to_monday_morning() {
        // Weekends: Fri 18:00 to Mon 08:00 UTC (62 hours), one user.
        let mut l = layer(SECONDS_PER_WEEK, "2026-06-01T00:00:00Z", &[CAROL]);
        l.restriction_type = RestrictionType::Weekly;
        l.restrictions = vec![Restriction {
            start_day_of_week: 4,
            start_time_of_day: time("18:00"),
            duration: 62 * 3600,
        }];
        let r = rotation(chrono_tz::UTC, vec![l]);
        // Wed 10 June: nobody until Fri 12 June 18:00.
        assert_eq!(who(&r, "2026-06-10T12:00:00Z"), None);
        assert_eq!(
            until(&r, "2026-06-10T12:00:00Z"),
            Some(utc("2026-06-12T18:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-14T23:00:00Z"), Some(CAROL));
        assert_eq!(
            until(&r, "2026-06-14T23:00:00Z"),
            Some(utc("2026-06-15T08:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-15T08:00:00Z"), None);
    }

    #[test]
    fn a_later_layer_wins_where_it_covers_and_the_lower_one_shows_through_elsewhere() {
        let base = layer(SECONDS_PER_WEEK, "2026-06-01T00:00:00Z", &[ALICE]);
        let mut office_hours = layer(SECONDS_PER_DAY, "2026-06-01T00:00:00Z", &[BOB]);
        office_hours.restriction_type = RestrictionType::Daily;
        office_hours.restrictions = vec![Restriction {
            start_day_of_week: 0,
            start_time_of_day: time("09:00"),
            duration: 8 * 3600,
        }];
        let r = rotation(chrono_tz::UTC, vec![base, office_hours]);
        assert_eq!(who(&r, "2026-06-03T08:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-06-03T08:00:00Z"),
            Some(utc("2026-06-03T09:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-03T09:00:00Z"), Some(BOB));
        assert_eq!(
            until(&r, "2026-06-03T09:00:00Z"),
            Some(utc("2026-06-03T17:00:00Z"))
        );
        assert_eq!(who(&r, "2026-06-03T17:00:00Z"), Some(ALICE));
    }

    #[test]
    fn an_override_covering_the_instant_wins_and_until_is_its_end() {
        let mut r = rotation(
            chrono_tz::UTC,
            vec![layer(
                SECONDS_PER_WEEK,
                "2026-06-01T00:00:00Z",
                &[ALICE, BOB],
            )],
        );
        r.overrides.push(Override {
            user_id: CAROL,
            start: utc("2026-06-02T10:00:00Z"),
            end: utc("2026-06-02T14:00:00Z"),
        });
        assert_eq!(who(&r, "2026-06-02T09:00:00Z"), Some(ALICE));
        assert_eq!(
            until(&r, "2026-06-02T09:00:00Z"),
            Some(utc("2026-06-02T10:00:00Z"))
        );
        let answer = r.on_call_at(utc("2026-06-02T10:00:00Z"));
        assert_eq!(
            answer.on_call,
            Some(Assignment {
                user_id: CAROL,
                from_override: true
            })
        );
        assert_eq!(answer.until, Some(utc("2026-06-02T14:00:00Z")));
        assert_eq!(who(&r, "2026-06-02T14:00:00Z"), Some(ALICE));
    }

    #[test]
    fn an_override_for_the_person_already_on_call_does_not_end_their_shift() {
        let mut r = rotation(
            chrono_tz::UTC,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-06-01T00:00:00Z",
                &[ALICE, BOB],
            )],
        );
        r.overrides.push(Override {
            user_id: ALICE,
            start: utc("2026-06-01T06:00:00Z"),
            end: utc("2026-06-01T08:00:00Z"),
        });
        assert_eq!(
            until(&r, "2026-06-01T03:00:00Z"),
            Some(utc("2026-06-02T00:00:00Z"))
        );
    }

    #[test]
    fn spans_mark_overrides_and_gaps() {
        let mut r = rotation(
            chrono_tz::UTC,
            vec![layer(
                SECONDS_PER_DAY,
                "2026-06-01T00:00:00Z",
                &[ALICE, BOB],
            )],
        );
        r.overrides.push(Override {
            user_id: CAROL,
            start: utc("2026-06-01T12:00:00Z"),
            end: utc("2026-06-01T13:00:00Z"),
        });
        let spans = r.spans(utc("2026-05-31T23:00:00Z"), utc("2026-06-02T06:00:00Z"));
        let shape: Vec<(DateTime<Utc>, Option<i64>, bool)> = spans
            .iter()
            .map(|s| {
                (
                    s.start,
                    s.on_call.map(|a| a.user_id),
                    s.on_call.is_some_and(|a| a.from_override),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (utc("2026-05-31T23:00:00Z"), None, false),
                (utc("2026-06-01T00:00:00Z"), Some(ALICE), false),
                (utc("2026-06-01T12:00:00Z"), Some(CAROL), true),
                (utc("2026-06-01T13:00:00Z"), Some(ALICE), false),
                (utc("2026-06-02T00:00:00Z"), Some(BOB), false),
            ]
        );
        assert_eq!(
            spans.last().map(|s| s.end),
            Some(utc("2026-06-02T06:00:00Z"))
        );
    }

    #[test]
    fn a_start_in_the_gap_of_spring_forward_moves_forward_by_the_gap() {
        let tz = chrono_tz::Europe::Berlin;
        let local = NaiveDate::from_ymd_opt(2026, 3, 29)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("a date");
        assert_eq!(local_to_utc(tz, local), utc("2026-03-29T01:30:00Z"));
    }
}
