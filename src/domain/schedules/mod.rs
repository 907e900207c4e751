//! Schedules: who of a team is on call when. `rotation` is the time model (pure); this module
//! reads a schedule from the database into it and answers for people.

pub mod input;
pub mod manage;
pub mod rotation;
pub mod views;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::db::schedules::{self as store, LayerRow, OverrideRow, ScheduleRow};
use crate::db::DbConn;
use crate::domain::DomainError;
use rotation::{Layer, Override, Restriction, RestrictionType, Rotation};

/// Who is on call in a schedule at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    /// False when the account is disabled or no longer in the schedule's team: they keep their
    /// place in the rotation, and callers say that they cannot be reached.
    pub is_active: bool,
    /// The next instant someone else (or nobody) is on call; `None` if never.
    pub until: Option<DateTime<Utc>>,
    pub from_override: bool,
}

/// A stretch of time with one person on call (spans with nobody are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub user_id: i64,
    pub name: String,
    pub is_active: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub from_override: bool,
}

/// Who is on call in the schedule at `at`, if anyone. Reads only the schedule's layers and the
/// overrides that have not ended: callers may run it inside their own transaction.
pub fn on_call_at(
    conn: &mut DbConn,
    schedule_id: i64,
    at: DateTime<Utc>,
) -> Result<Option<OnCall>, DomainError> {
    let schedule = store::find_by_id(conn, schedule_id)?.ok_or(DomainError::NotFound)?;
    let rotation = load_rotation(conn, &schedule, at)?;
    person_on_call(conn, schedule.team_id, rotation.on_call_at(at))
}

/// The person an answer of the time model names, as callers see them.
pub(crate) fn person_on_call(
    conn: &mut DbConn,
    team_id: i64,
    answer: rotation::OnCallAnswer,
) -> Result<Option<OnCall>, DomainError> {
    let Some(assignment) = answer.on_call else {
        return Ok(None);
    };
    let people = People::load(conn, team_id, &[assignment.user_id])?;
    let person = people.get(assignment.user_id);
    Ok(Some(OnCall {
        user_id: assignment.user_id,
        name: person.name.clone(),
        email: person.email.clone(),
        is_active: person.is_active,
        until: answer.until,
        from_override: assignment.from_override,
    }))
}

/// Who is on call in the schedule from `from` to `to`, in order.
pub fn shifts_between(
    conn: &mut DbConn,
    schedule_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Shift>, DomainError> {
    let schedule = store::find_by_id(conn, schedule_id)?.ok_or(DomainError::NotFound)?;
    let rotation = load_rotation(conn, &schedule, from)?;
    shifts_of(conn, &schedule, &rotation, from, to)
}

pub(crate) fn shifts_of(
    conn: &mut DbConn,
    schedule: &ScheduleRow,
    rotation: &Rotation,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Shift>, DomainError> {
    let spans = rotation.spans(from, to);
    let ids: Vec<i64> = spans
        .iter()
        .filter_map(|s| s.on_call.map(|a| a.user_id))
        .collect();
    let people = People::load(conn, schedule.team_id, &ids)?;
    Ok(spans
        .into_iter()
        .filter_map(|span| {
            let assignment = span.on_call?;
            let person = people.get(assignment.user_id);
            Some(Shift {
                user_id: assignment.user_id,
                name: person.name.clone(),
                is_active: person.is_active,
                start: span.start,
                end: span.end,
                from_override: assignment.from_override,
            })
        })
        .collect())
}

/// The people named in a schedule, with whether they can be reached through it.
pub(crate) struct People {
    by_id: HashMap<i64, Person>,
    unknown: Person,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_active: bool,
}

impl People {
    pub(crate) fn load(conn: &mut DbConn, team_id: i64, ids: &[i64]) -> Result<Self, DomainError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let members: HashSet<i64> = store::members_among(conn, team_id, &ids)?
            .into_iter()
            .collect();
        let by_id = store::people(conn, &ids)?
            .into_iter()
            .map(|row| {
                let name = format!("{} {}", row.first_name, row.last_name)
                    .trim()
                    .to_owned();
                let person = Person {
                    name: if name.is_empty() {
                        row.username.clone()
                    } else {
                        name
                    },
                    username: row.username,
                    email: row.email,
                    is_active: row.is_active && members.contains(&row.id),
                };
                (row.id, person)
            })
            .collect();
        Ok(People {
            by_id,
            unknown: Person {
                username: String::new(),
                name: "(unknown user)".into(),
                email: String::new(),
                is_active: false,
            },
        })
    }

    pub(crate) fn get(&self, id: i64) -> &Person {
        self.by_id.get(&id).unwrap_or(&self.unknown)
    }
}

pub(crate) fn utc(at: chrono::NaiveDateTime) -> DateTime<Utc> {
    DateTime::<Utc>::from_naive_utc_and_offset(at, Utc)
}

pub(crate) fn parse_time_zone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// Times of day as stored: `HH:MM:SS` (Zenduty's form), or `HH:MM`.
pub(crate) fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

/// The schedule as the time model sees it, with the overrides that end after `from`.
pub(crate) fn load_rotation(
    conn: &mut DbConn,
    schedule: &ScheduleRow,
    from: DateTime<Utc>,
) -> Result<Rotation, DomainError> {
    let layers = store::layers_of(conn, schedule.id)?;
    let users = store::layer_users_of(conn, schedule.id)?;
    let restrictions = store::restrictions_of(conn, schedule.id)?;
    let overrides = store::overrides_ending_after(conn, schedule.id, from.naive_utc())?;
    rotation_from_rows(schedule, &layers, &users, &restrictions, &overrides)
}

pub(crate) fn rotation_from_rows(
    schedule: &ScheduleRow,
    layers: &[LayerRow],
    users: &[store::LayerUserRow],
    restrictions: &[store::RestrictionRow],
    overrides: &[OverrideRow],
) -> Result<Rotation, DomainError> {
    let time_zone = parse_time_zone(&schedule.time_zone).ok_or_else(|| {
        DomainError::Data(format!(
            "schedule {} has the unknown time zone {:?}",
            schedule.unique_id, schedule.time_zone
        ))
    })?;
    let mut model_layers = Vec::with_capacity(layers.len());
    for row in layers {
        let restriction_type =
            RestrictionType::from_code(row.restriction_type).ok_or_else(|| {
                DomainError::Data(format!(
                    "layer {} has restriction type {}",
                    row.unique_id, row.restriction_type
                ))
            })?;
        let mut windows = Vec::new();
        for r in restrictions.iter().filter(|r| r.layer_id == row.id) {
            let start_time_of_day = parse_time_of_day(&r.start_time_of_day).ok_or_else(|| {
                DomainError::Data(format!(
                    "restriction {} starts at {:?}",
                    r.id, r.start_time_of_day
                ))
            })?;
            windows.push(Restriction {
                start_day_of_week: u32::try_from(r.start_day_of_week).unwrap_or(0),
                start_time_of_day,
                duration: r.duration,
            });
        }
        model_layers.push(Layer {
            shift_length: row.shift_length,
            rotation_start: utc(row.rotation_start_time),
            rotation_end: row.rotation_end_time.map(utc),
            users: users
                .iter()
                .filter(|u| u.layer_id == row.id)
                .map(|u| u.user_id)
                .collect(),
            restriction_type,
            restrictions: windows,
            is_active: row.is_active,
        });
    }
    Ok(Rotation {
        time_zone,
        layers: model_layers,
        overrides: overrides
            .iter()
            .map(|o| Override {
                user_id: o.user_id,
                start: utc(o.start_time),
                end: utc(o.end_time),
            })
            .collect(),
    })
}
