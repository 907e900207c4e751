//! What a schedule, a layer or an override may be made of: the checks shared by the pages and
//! the API, and the pages' forms (times typed in the schedule's time zone).

use chrono::{DateTime, NaiveDateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::parse_time_zone;
use super::rotation::{local_to_utc, RestrictionType, SECONDS_PER_WEEK};
use crate::db::schedules::{self as store, NewRestriction};
use crate::db::DbConn;
use crate::domain::validation::{optional_text, required_text, FieldErrors};
use crate::domain::DomainError;

pub const UNKNOWN_TIME_ZONE: &str =
    "Enter a time zone by its IANA name, such as Europe/Berlin or America/New_York.";
pub const END_BEFORE_START: &str = "The end must be after the start.";

/// A schedule's own fields, checked.
#[derive(Debug, Clone)]
pub struct ScheduleInput {
    pub name: String,
    pub summary: String,
    pub description: String,
    pub time_zone: String,
}

/// The schedule form as typed (pages), also filled by the API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub time_zone: String,
}

impl ScheduleForm {
    pub fn check(&self) -> Result<ScheduleInput, DomainError> {
        let mut errors = FieldErrors::new();
        let name = required_text(&mut errors, "name", &self.name, 255);
        let summary = optional_text(&mut errors, "summary", &self.summary, 500);
        let description = optional_text(&mut errors, "description", &self.description, 10_000);
        let time_zone = self.time_zone.trim().to_owned();
        if parse_time_zone(&time_zone).is_none() {
            errors.add("time_zone", UNKNOWN_TIME_ZONE);
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        Ok(ScheduleInput {
            name,
            summary,
            description,
            time_zone,
        })
    }
}

/// A layer as given, before the checks that need the team (its users are usernames).
#[derive(Debug, Clone)]
pub struct LayerInput {
    /// The stored layer this one is (the API's `unique_id`), if any.
    pub unique_id: Option<String>,
    pub name: String,
    pub shift_length: i64,
    pub rotation_start: DateTime<Utc>,
    pub rotation_end: Option<DateTime<Utc>>,
    pub restriction_type: i32,
    pub restrictions: Vec<NewRestriction>,
    pub usernames: Vec<String>,
    pub is_active: bool,
}

/// A layer, checked: ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLayer {
    pub unique_id: Option<String>,
    pub name: String,
    pub shift_length: i64,
    pub rotation_start: NaiveDateTime,
    pub rotation_end: Option<NaiveDateTime>,
    pub restriction_type: i32,
    pub restrictions: Vec<NewRestriction>,
    pub user_ids: Vec<i64>,
    pub is_active: bool,
}

impl CheckedLayer {
    pub fn fields(&self) -> store::LayerFields<'_> {
        store::LayerFields {
            name: &self.name,
            shift_length: self.shift_length,
            rotation_start_time: self.rotation_start,
            rotation_end_time: self.rotation_end,
            restriction_type: self.restriction_type,
            is_active: self.is_active,
            user_ids: &self.user_ids,
            restrictions: &self.restrictions,
        }
    }
}

/// The team's members by username: whom a layer or an override may name.
pub struct Roster {
    members: Vec<store::PersonRow>,
}

impl Roster {
    pub fn load(conn: &mut DbConn, team_id: i64) -> Result<Self, DomainError> {
        Ok(Roster {
            members: store::team_member_people(conn, team_id)?,
        })
    }

    pub fn members(&self) -> &[store::PersonRow] {
        &self.members
    }

    fn id_of(&self, username: &str) -> Option<i64> {
        self.members
            .iter()
            .find(|m| m.username == username)
            .map(|m| m.id)
    }

    /// The member `username` names, or a field error.
    pub fn member(
        &self,
        errors: &mut FieldErrors,
        field: &'static str,
        username: &str,
    ) -> Option<i64> {
        let username = username.trim();
        if username.is_empty() {
            errors.add(field, "Choose a person.");
            return None;
        }
        let id = self.id_of(username);
        if id.is_none() {
            errors.add(
                field,
                format!("{username} is not a member of this team: add them to the team first."),
            );
        }
        id
    }
}

impl LayerInput {
    pub fn check(&self, roster: &Roster) -> Result<CheckedLayer, DomainError> {
        let mut errors = FieldErrors::new();
        let name = required_text(&mut errors, "name", &self.name, 255);
        if self.shift_length <= 0 {
            errors.add("shift_length", "Enter a shift length of more than zero.");
        } else if self.shift_length > 366 * 86_400 {
            errors.add("shift_length", "Enter a shift length of at most a year.");
        }
        if self
            .rotation_end
            .is_some_and(|end| end <= self.rotation_start)
        {
            errors.add("rotation_end_time", END_BEFORE_START);
        }
        let restriction_type = RestrictionType::from_code(self.restriction_type);
        match restriction_type {
            None => errors.add(
                "restriction_type",
                "Choose none (0), daily (1) or weekly (2).",
            ),
            Some(RestrictionType::None) => {}
            Some(kind) => {
                if self.restrictions.is_empty() {
                    errors.add(
                        "restrictions",
                        "Add at least one time window, or choose no restriction.",
                    );
                }
                for r in &self.restrictions {
                    if r.duration <= 0 || r.duration > kind.max_duration() {
                        errors.add(
                            "restrictions",
                            match kind {
                                RestrictionType::Weekly => {
                                    "A weekly window lasts from a minute to a week."
                                }
                                _ => "A daily window lasts from a minute to a day.",
                            },
                        );
                    }
                    if !(0..=6).contains(&r.start_day_of_week) {
                        errors.add(
                            "restrictions",
                            "Days of the week are 0 (Monday) to 6 (Sunday).",
                        );
                    }
                    if super::parse_time_of_day(&r.start_time_of_day).is_none() {
                        errors.add("restrictions", "Enter times of day as HH:MM.");
                    }
                }
            }
        }
        let mut user_ids = Vec::new();
        for username in &self.usernames {
            if let Some(id) = roster.member(&mut errors, "users", username) {
                user_ids.push(id);
            }
        }
        if self.usernames.is_empty() {
            errors.add("users", "Choose at least one person for the rotation.");
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        let restrictions = if restriction_type == Some(RestrictionType::None) {
            Vec::new()
        } else {
            self.restrictions
                .iter()
                .map(|r| NewRestriction {
                    start_time_of_day: super::parse_time_of_day(&r.start_time_of_day)
                        .map(|t| t.format("%H:%M:%S").to_string())
                        .unwrap_or_default(),
                    ..r.clone()
                })
                .collect()
        };
        Ok(CheckedLayer {
            unique_id: self.unique_id.clone(),
            name,
            shift_length: self.shift_length,
            rotation_start: self.rotation_start.naive_utc(),
            rotation_end: self.rotation_end.map(|e| e.naive_utc()),
            restriction_type: self.restriction_type,
            restrictions,
            user_ids,
            is_active: self.is_active,
        })
    }
}

/// An override as given.
#[derive(Debug, Clone)]
pub struct OverrideInput {
    /// The stored override this one is (the API's `unique_id`), if any.
    pub unique_id: Option<String>,
    pub name: String,
    pub username: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOverride {
    pub unique_id: Option<String>,
    pub name: String,
    pub user_id: i64,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

impl OverrideInput {
    pub fn check(&self, roster: &Roster) -> Result<CheckedOverride, DomainError> {
        let mut errors = FieldErrors::new();
        let name = optional_text(&mut errors, "name", &self.name, 255);
        let user_id = roster.member(&mut errors, "user", &self.username);
        if self.end <= self.start {
            errors.add("end_time", END_BEFORE_START);
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        Ok(CheckedOverride {
            unique_id: self.unique_id.clone(),
            name,
            user_id: user_id.unwrap_or_default(),
            start: self.start.naive_utc(),
            end: self.end.naive_utc(),
        })
    }
}

/// The unit a page offers for a shift length.
pub const SHIFT_UNITS: [(&str, &str, i64); 3] = [
    ("hours", "Hours", 3_600),
    ("days", "Days", 86_400),
    ("weeks", "Weeks", SECONDS_PER_WEEK),
];

/// A shift length in words: "1 day", "2 weeks", "12 hours" (minutes when not whole hours).
pub fn shift_length_words(seconds: i64) -> String {
    let (count, unit) = SHIFT_UNITS
        .iter()
        .rev()
        .find(|(_, _, length)| seconds % length == 0)
        .map_or((seconds / 60, "minute"), |(_, label, length)| {
            (seconds / length, label.trim_end_matches('s'))
        });
    let unit = unit.to_lowercase();
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// Monday first, as Zenduty numbers the days (0 … 6).
pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A restriction window as the layer form shows it: from a day and time to a day and time
/// (the days matter for weekly windows only).
#[derive(Debug, Clone, Default)]
pub struct WindowForm {
    pub start_day: String,
    pub start_time: String,
    pub end_day: String,
    pub end_time: String,
}

/// The layer form as typed. Its repeated fields (`users`, the window rows) come in document
/// order, so it is read from the form's pairs rather than a struct.
#[derive(Debug, Clone, Default)]
pub struct LayerForm {
    pub name: String,
    pub shift_count: String,
    pub shift_unit: String,
    pub rotation_start_time: String,
    pub rotation_end_time: String,
    pub restriction_type: String,
    pub users: Vec<String>,
    pub windows: Vec<WindowForm>,
}

/// How a `datetime-local` field writes a time.
pub fn local_input(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .naive_local()
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A `datetime-local` value read in the schedule's time zone.
pub fn parse_local_input(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .ok()?;
    Some(local_to_utc(tz, local))
}

fn minutes_of(time: NaiveTime) -> i64 {
    i64::from(time.hour()) * 60 + i64::from(time.minute())
}

impl LayerForm {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut form = LayerForm::default();
        let mut columns: [Vec<String>; 4] = Default::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value.clone(),
                "shift_count" => form.shift_count = value.clone(),
                "shift_unit" => form.shift_unit = value.clone(),
                "rotation_start_time" => form.rotation_start_time = value.clone(),
                "rotation_end_time" => form.rotation_end_time = value.clone(),
                "restriction_type" => form.restriction_type = value.clone(),
                "users" if !value.trim().is_empty() => form.users.push(value.clone()),
                "window_start_day" => columns[0].push(value.clone()),
                "window_start_time" => columns[1].push(value.clone()),
                "window_end_day" => columns[2].push(value.clone()),
                "window_end_time" => columns[3].push(value.clone()),
                _ => {}
            }
        }
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        let cell = |column: &Vec<String>, i: usize| column.get(i).cloned().unwrap_or_default();
        form.windows = (0..rows)
            .map(|i| WindowForm {
                start_day: cell(&columns[0], i),
                start_time: cell(&columns[1], i),
                end_day: cell(&columns[2], i),
                end_time: cell(&columns[3], i),
            })
            .filter(|w| !w.start_time.trim().is_empty() || !w.end_time.trim().is_empty())
            .collect();
        form
    }

    /// The form for an existing layer.
    pub fn from_layer(layer: &super::views::LayerView, tz: Tz) -> Self {
        let (count, unit) = SHIFT_UNITS
            .iter()
            .rev()
            .find(|(_, _, seconds)| layer.shift_length % seconds == 0)
            .map_or(
                (layer.shift_length / 3_600, "hours"),
                |(unit, _, seconds)| (layer.shift_length / seconds, *unit),
            );
        LayerForm {
            name: layer.name.clone(),
            shift_count: count.to_string(),
            shift_unit: unit.to_owned(),
            rotation_start_time: local_input(layer.rotation_start, tz),
            rotation_end_time: layer
                .rotation_end
                .map(|e| local_input(e, tz))
                .unwrap_or_default(),
            restriction_type: layer.restriction_type.to_string(),
            users: layer.users.iter().map(|u| u.username.clone()).collect(),
            windows: layer
                .restrictions
                .iter()
                .map(|r| {
                    let start_minutes =
                        i64::from(r.start_day_of_week) * 1_440 + minutes_of(r.start_time_of_day);
                    let end_minutes = (start_minutes + r.duration / 60).rem_euclid(7 * 1_440);
                    WindowForm {
                        start_day: r.start_day_of_week.to_string(),
                        start_time: r.start_time_of_day.format("%H:%M").to_string(),
                        end_day: (end_minutes / 1_440).to_string(),
                        end_time: format!(
                            "{:02}:{:02}",
                            (end_minutes % 1_440) / 60,
                            end_minutes % 60
                        ),
                    }
                })
                .collect(),
        }
    }

    /// Reads the form in the schedule's time zone; field errors for what cannot be read.
    pub fn parse(&self, tz: Tz) -> Result<LayerInput, DomainError> {
        let mut errors = FieldErrors::new();
        let unit = SHIFT_UNITS.iter().find(|(u, _, _)| *u == self.shift_unit);
        let count = self.shift_count.trim().parse::<i64>().ok();
        let shift_length = match (count, unit) {
            (Some(count), Some((_, _, seconds))) => count.saturating_mul(*seconds),
            _ => {
                errors.add(
                    "shift_length",
                    "Enter a whole number of hours, days or weeks.",
                );
                0
            }
        };
        let rotation_start = parse_local_input(&self.rotation_start_time, tz);
        if rotation_start.is_none() {
            errors.add(
                "rotation_start_time",
                "Enter the date and time of the first handover.",
            );
        }
        let rotation_end = if self.rotation_end_time.trim().is_empty() {
            None
        } else {
            let end = parse_local_input(&self.rotation_end_time, tz);
            if end.is_none() {
                errors.add(
                    "rotation_end_time",
                    "Enter a date and time, or leave it empty.",
                );
            }
            end
        };
        let restriction_type = self.restriction_type.trim().parse::<i32>().unwrap_or(-1);
        let weekly = restriction_type == RestrictionType::Weekly.code();
        let mut restrictions = Vec::new();
        for window in &self.windows {
            let start = super::parse_time_of_day(window.start_time.trim());
            let end = super::parse_time_of_day(window.end_time.trim());
            let (Some(start), Some(end)) = (start, end) else {
                errors.add("restrictions", "Enter both times of each window as HH:MM.");
                continue;
            };
            let day = |text: &str| {
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (0..7).contains(d))
            };
            let (start_day, end_day) = if weekly {
                match (day(&window.start_day), day(&window.end_day)) {
                    (Some(s), Some(e)) => (s, e),
                    _ => {
                        errors.add("restrictions", "Choose the days of each weekly window.");
                        continue;
                    }
                }
            } else {
                (0, 0)
            };
            let period = if weekly { 7 * 1_440 } else { 1_440 };
            let from = start_day * 1_440 + minutes_of(start);
            let to = end_day * 1_440 + minutes_of(end);
            // A window ending where it starts lasts the whole period.
            let minutes = match (to - from).rem_euclid(period) {
                0 => period,
                m => m,
            };
            restrictions.push(NewRestriction {
                start_day_of_week: i32::try_from(start_day).unwrap_or(0),
                start_time_of_day: start.format("%H:%M:%S").to_string(),
                duration: minutes * 60,
            });
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        Ok(LayerInput {
            unique_id: None,
            name: self.name.clone(),
            shift_length,
            rotation_start: rotation_start.unwrap_or_default(),
            rotation_end,
            restriction_type,
            restrictions,
            usernames: self.users.clone(),
            is_active: true,
        })
    }
}

/// The override form ("who, from, to"), times in the schedule's time zone.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OverrideForm {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub start_time: String,
    #[serde(default)]
    pub end_time: String,
}

impl OverrideForm {
    pub fn parse(&self, tz: Tz) -> Result<OverrideInput, DomainError> {
        let mut errors = FieldErrors::new();
        let start = parse_local_input(&self.start_time, tz);
        if start.is_none() {
            errors.add("start_time", "Enter when the override starts.");
        }
        let end = parse_local_input(&self.end_time, tz);
        if end.is_none() {
            errors.add("end_time", "Enter when the override ends.");
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        Ok(OverrideInput {
            unique_id: None,
            name: String::new(),
            username: self.user.clone(),
            start: start.unwrap_or_default(),
            end: end.unwrap_or_default(),
        })
    }
}

/// Input whose times may be written in the schedule's time zone (the pages' forms; the API's
/// times without an offset), read once the schedule, and so its zone, is known.
pub trait InScheduleTime: Send + 'static {
    type Output;
    fn read(&self, tz: Tz) -> Result<Self::Output, DomainError>;
}

impl InScheduleTime for LayerForm {
    type Output = LayerInput;
    fn read(&self, tz: Tz) -> Result<LayerInput, DomainError> {
        self.parse(tz)
    }
}

impl InScheduleTime for OverrideForm {
    type Output = OverrideInput;
    fn read(&self, tz: Tz) -> Result<OverrideInput, DomainError> {
        self.parse(tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn shift_lengths_read_in_their_largest_whole_unit() {
        assert_eq!(shift_length_words(86_400), "1 day");
        assert_eq!(shift_length_words(2 * SECONDS_PER_WEEK), "2 weeks");
        assert_eq!(shift_length_words(12 * 3_600), "12 hours");
        assert_eq!(shift_length_words(5_400), "90 minutes");
    }

    #[test]
    fn the_layer_form_reads_local_times_and_windows_that_cross_midnight_or_the_weekend() {
        let base = [
            ("name", "Nights"),
            ("shift_count", "2"),
            ("shift_unit", "weeks"),
            ("rotation_start_time", "2026-03-29T09:00"),
            ("rotation_end_time", ""),
            ("users", "ada"),
            ("users", ""),
            ("users", "bob"),
        ];
        let mut daily = base.to_vec();
        daily.extend([
            ("restriction_type", "1"),
            ("window_start_day", "0"),
            ("window_start_time", "22:00"),
            ("window_end_day", "0"),
            ("window_end_time", "06:00"),
            ("window_start_day", "0"),
            ("window_start_time", ""),
            ("window_end_day", "0"),
            ("window_end_time", ""),
        ]);
        let layer = LayerForm::from_pairs(&pairs(&daily))
            .parse(chrono_tz::Europe::Berlin)
            .expect("a valid form");
        assert_eq!(layer.shift_length, 2 * SECONDS_PER_WEEK);
        // 09:00 in Berlin on the day clocks go forward is 07:00 UTC.
        assert_eq!(
            layer.rotation_start.to_rfc3339(),
            "2026-03-29T07:00:00+00:00"
        );
        assert_eq!(layer.usernames, ["ada", "bob"]);
        assert_eq!(
            layer.restrictions,
            [NewRestriction {
                start_day_of_week: 0,
                start_time_of_day: "22:00:00".into(),
                duration: 8 * 3_600,
            }]
        );

        let mut weekly = base.to_vec();
        weekly.extend([
            ("restriction_type", "2"),
            ("window_start_day", "4"),
            ("window_start_time", "18:00"),
            ("window_end_day", "0"),
            ("window_end_time", "08:00"),
        ]);
        let layer = LayerForm::from_pairs(&pairs(&weekly))
            .parse(chrono_tz::UTC)
            .expect("a valid form");
        assert_eq!(layer.restrictions[0].start_day_of_week, 4);
        assert_eq!(layer.restrictions[0].duration, 62 * 3_600);
    }

    #[test]
    fn unreadable_layer_fields_are_field_errors() {
        let form = LayerForm::from_pairs(&pairs(&[
            ("shift_count", "a few"),
            ("shift_unit", "days"),
            ("rotation_start_time", "soon"),
            ("restriction_type", "1"),
            ("window_start_time", "25:00"),
            ("window_end_time", "06:00"),
        ]));
        let Err(DomainError::Invalid(errors)) = form.parse(chrono_tz::UTC) else {
            panic!("refused");
        };
        for field in ["shift_length", "rotation_start_time", "restrictions"] {
            assert!(errors.get(field).is_some(), "{field}: {errors}");
        }
    }
}
