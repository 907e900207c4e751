//! What the schedule pages and the API read: lists, a schedule with its layers, who is on call
//! now and next, the two-week timeline, overrides and the audit trail.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::input::Roster;
use super::rotation::{local_to_utc, Restriction, Rotation};
use super::{load_rotation, rotation_from_rows, shifts_of, utc, People};
use crate::db::on_call_audit::{self, OnCallAuditRow, Subject};
use crate::db::schedules::{self as store, OverrideRow, ScheduleRow};
use crate::db::{Db, DbConn};
use crate::domain::access::{self, TeamAccess};
use crate::domain::teams::{self, Team};
use crate::domain::users::User;
use crate::domain::{DomainError, Page};

pub const SCHEDULES_PER_PAGE: i64 = 50;
pub const OVERRIDES_PER_PAGE: i64 = 20;
pub const AUDIT_PER_PAGE: i64 = 20;
pub const TIMELINE_DAYS: i64 = 14;

/// A person named by a layer or an override.
#[derive(Debug, Clone)]
pub struct PersonRef {
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    /// False when disabled or no longer in the team.
    pub is_active: bool,
}

impl PersonRef {
    fn of(people: &People, user_id: i64) -> Self {
        let person = people.get(user_id);
        PersonRef {
            user_id,
            username: person.username.clone(),
            name: person.name.clone(),
            email: person.email.clone(),
            is_active: person.is_active,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LayerView {
    pub id: i64,
    pub unique_id: String,
    pub name: String,
    pub shift_length: i64,
    pub rotation_start: DateTime<Utc>,
    pub rotation_end: Option<DateTime<Utc>>,
    pub restriction_type: i32,
    pub restrictions: Vec<Restriction>,
    pub users: Vec<PersonRef>,
    pub is_active: bool,
}

impl LayerView {
    /// A layer nobody in it can answer for: everyone disabled or gone from the team.
    pub fn reaches_nobody(&self) -> bool {
        self.users.iter().all(|u| !u.is_active)
    }
}

#[derive(Debug, Clone)]
pub struct OverrideView {
    pub unique_id: String,
    pub name: String,
    pub user: PersonRef,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A schedule with its layers and (upcoming) overrides, as the API writes it.
#[derive(Debug, Clone)]
pub struct ScheduleDetail {
    pub row: ScheduleRow,
    pub team_unique_id: String,
    pub time_zone: Tz,
    pub layers: Vec<LayerView>,
    pub overrides: Vec<OverrideView>,
    /// How many escalation policies target the schedule (Zenduty's `connections`).
    pub connections: usize,
    pub(crate) rotation: Rotation,
}

/// A schedule the actor sees, in the team of the path (another team's id is not found).
pub(crate) fn find_in_team(
    conn: &mut DbConn,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
) -> Result<(Team, ScheduleRow, TeamAccess), DomainError> {
    let team = teams::find_visible(conn, actor, team_uid)?;
    let schedule = store::find_by_unique_id(conn, schedule_uid)?
        .filter(|s| s.team_id == team.id)
        .ok_or(DomainError::NotFound)?;
    let access = access::team_access(conn, actor, team.id)?;
    Ok((team, schedule, access))
}

/// The schedule with every layer and the overrides that end after `from`.
pub(crate) fn detail(
    conn: &mut DbConn,
    team: &Team,
    row: ScheduleRow,
    from: DateTime<Utc>,
) -> Result<ScheduleDetail, DomainError> {
    let layers = store::layers_of(conn, row.id)?;
    let users = store::layer_users_of(conn, row.id)?;
    let restrictions = store::restrictions_of(conn, row.id)?;
    let overrides = store::overrides_ending_after(conn, row.id, from.naive_utc())?;
    let rotation = rotation_from_rows(&row, &layers, &users, &restrictions, &overrides)?;
    let ids: Vec<i64> = users
        .iter()
        .map(|u| u.user_id)
        .chain(overrides.iter().map(|o| o.user_id))
        .collect();
    let people = People::load(conn, team.id, &ids)?;
    let layer_views = layers
        .iter()
        .zip(&rotation.layers)
        .map(|(row, model)| LayerView {
            id: row.id,
            unique_id: row.unique_id.clone(),
            name: row.name.clone(),
            shift_length: row.shift_length,
            rotation_start: model.rotation_start,
            rotation_end: model.rotation_end,
            restriction_type: row.restriction_type,
            restrictions: model.restrictions.clone(),
            users: model
                .users
                .iter()
                .map(|id| PersonRef::of(&people, *id))
                .collect(),
            is_active: row.is_active,
        })
        .collect();
    Ok(ScheduleDetail {
        connections: store::policies_targeting(conn, row.id)?.len(),
        time_zone: rotation.time_zone,
        team_unique_id: team.unique_id.clone(),
        overrides: overrides
            .iter()
            .map(|o| override_view(&people, o))
            .collect(),
        layers: layer_views,
        rotation,
        row,
    })
}

fn override_view(people: &People, o: &OverrideRow) -> OverrideView {
    OverrideView {
        unique_id: o.unique_id.clone(),
        name: o.name.clone(),
        user: PersonRef::of(people, o.user_id),
        start: utc(o.start_time),
        end: utc(o.end_time),
    }
}

/// One schedule in a team's list, with who is on call in it now.
#[derive(Debug, Clone)]
pub struct ScheduleSummary {
    pub row: ScheduleRow,
    pub on_call_now: Option<super::OnCall>,
}

pub struct ScheduleList {
    pub team: Team,
    pub schedules: Page<ScheduleSummary>,
    pub can_manage: bool,
}

pub async fn list(
    db: &Db,
    actor: &User,
    team_uid: &str,
    page: i64,
) -> Result<ScheduleList, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = teams::find_visible(conn, &actor, &team_uid)?;
        let offset = Page::<()>::offset(page, SCHEDULES_PER_PAGE);
        let rows = store::list_for_team(conn, team.id, offset, SCHEDULES_PER_PAGE + 1)?;
        let now = Utc::now();
        let mut summaries = Vec::with_capacity(rows.len());
        for row in rows {
            let on_call_now = super::on_call_at(conn, row.id, now)?;
            summaries.push(ScheduleSummary { row, on_call_now });
        }
        Ok(ScheduleList {
            can_manage: access::can_manage_team(conn, &actor, team.id)?,
            schedules: Page::from_overfetch(summaries, page, SCHEDULES_PER_PAGE),
            team,
        })
    })
    .await
}

/// Every schedule of a team with its layers and upcoming overrides (the API's list).
pub async fn details_in_team(
    db: &Db,
    actor: &User,
    team_uid: &str,
) -> Result<Vec<ScheduleDetail>, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = teams::find_visible(conn, &actor, &team_uid)?;
        let now = Utc::now();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let rows = store::list_for_team(conn, team.id, offset, SCHEDULES_PER_PAGE)?;
            let fetched = rows.len();
            for row in rows {
                out.push(detail(conn, &team, row, now)?);
            }
            if fetched < usize::try_from(SCHEDULES_PER_PAGE).unwrap_or(0) {
                break;
            }
            offset += SCHEDULES_PER_PAGE;
        }
        Ok(out)
    })
    .await
}

/// One schedule with its layers and upcoming overrides (the API).
pub async fn get(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
) -> Result<ScheduleDetail, DomainError> {
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.run(move |conn| {
        let (team, row, _) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        detail(conn, &team, row, Utc::now())
    })
    .await
}

/// A stretch of one day of the timeline.
#[derive(Debug, Clone)]
pub struct DaySpan {
    /// Local times, "00:00" to "24:00".
    pub from: String,
    pub to: String,
    pub name: String,
    pub is_active: bool,
    pub from_override: bool,
}

#[derive(Debug, Clone)]
pub struct TimelineDay {
    pub date: NaiveDate,
    pub spans: Vec<DaySpan>,
}

impl TimelineDay {
    pub fn label(&self) -> String {
        self.date.format("%a %-d %b").to_string()
    }
}

/// What a schedule's page shows.
pub struct SchedulePage {
    pub team: Team,
    pub detail: ScheduleDetail,
    pub now: Option<super::OnCall>,
    /// Who comes after the person on call now (or after the gap when nobody is), from when.
    pub next: Option<(super::OnCall, DateTime<Utc>)>,
    pub timeline: Vec<TimelineDay>,
    pub overrides: Page<OverrideView>,
    pub audit: Page<OnCallAuditRow>,
    pub can_manage: bool,
    /// Whether the person may add overrides for themselves (team users).
    pub can_override_self: bool,
    /// The team's members: whom layers and overrides may name.
    pub members: Vec<store::PersonRow>,
}

pub async fn page(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    overrides_page: i64,
) -> Result<SchedulePage, DomainError> {
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.run(move |conn| {
        let (team, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        let now = Utc::now();
        let detail = detail(conn, &team, row, now)?;
        let answer = detail.rotation.on_call_at(now);
        let next = match answer.until {
            Some(at) => super::person_on_call(conn, team.id, detail.rotation.on_call_at(at))?
                .map(|person| (person, at)),
            None => None,
        };
        let on_call_now = super::person_on_call(conn, team.id, answer)?;
        let timeline = timeline(conn, &detail, now)?;
        let offset = Page::<()>::offset(overrides_page, OVERRIDES_PER_PAGE);
        let override_rows =
            store::overrides_page(conn, detail.row.id, offset, OVERRIDES_PER_PAGE + 1)?;
        let people = People::load(
            conn,
            team.id,
            &override_rows.iter().map(|o| o.user_id).collect::<Vec<_>>(),
        )?;
        let overrides = Page::from_overfetch(
            override_rows
                .iter()
                .map(|o| override_view(&people, o))
                .collect(),
            overrides_page,
            OVERRIDES_PER_PAGE,
        );
        let audit = Page::from_overfetch(
            on_call_audit::page_for(
                conn,
                Subject::Schedule(detail.row.id),
                0,
                AUDIT_PER_PAGE + 1,
            )?,
            1,
            AUDIT_PER_PAGE,
        );
        let members = Roster::load(conn, team.id)?.members().to_vec();
        Ok(SchedulePage {
            team,
            detail,
            now: on_call_now,
            next,
            timeline,
            overrides,
            audit,
            can_manage: access == TeamAccess::Manage,
            can_override_self: access == TeamAccess::Respond,
            members,
        })
    })
    .await
}

/// Two weeks from the start of today (the schedule's local day), one row per day.
fn timeline(
    conn: &mut DbConn,
    detail: &ScheduleDetail,
    now: DateTime<Utc>,
) -> Result<Vec<TimelineDay>, DomainError> {
    let tz = detail.time_zone;
    let today = now.with_timezone(&tz).date_naive();
    let midnight = |date: NaiveDate| local_to_utc(tz, date.and_time(chrono::NaiveTime::MIN));
    let from = midnight(today);
    let last = today + Duration::days(TIMELINE_DAYS);
    let to = midnight(last);
    let rotation = load_rotation(conn, &detail.row, from)?;
    let shifts = shifts_of(conn, &detail.row, &rotation, from, to)?;
    let mut days = Vec::new();
    let mut date = today;
    while date < last {
        let (start, end) = (midnight(date), midnight(date + Duration::days(1)));
        let local = |at: DateTime<Utc>, edge: DateTime<Utc>| {
            if at >= edge && edge == end {
                "24:00".to_owned()
            } else {
                at.with_timezone(&tz).format("%H:%M").to_string()
            }
        };
        let spans = shifts
            .iter()
            .filter(|s| s.start < end && s.end > start)
            .map(|s| DaySpan {
                from: local(s.start.max(start), end),
                to: local(s.end.min(end), end),
                name: s.name.clone(),
                is_active: s.is_active,
                from_override: s.from_override,
            })
            .collect();
        days.push(TimelineDay { date, spans });
        date += Duration::days(1);
    }
    Ok(days)
}

/// One of a person's upcoming shifts, in one of their teams' schedules.
#[derive(Debug, Clone)]
pub struct MyShift {
    pub team_name: String,
    pub team_unique_id: String,
    pub schedule_name: String,
    pub schedule_unique_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub from_override: bool,
}

/// The person's shifts in the next two weeks, across the schedules of the teams they are in,
/// soonest first.
pub async fn my_shifts(db: &Db, me: &User) -> Result<Vec<MyShift>, DomainError> {
    let me = me.clone();
    db.run(move |conn| {
        let team_ids = crate::db::teams::team_ids_of_member(conn, me.id)?;
        let now = Utc::now();
        let to = now + Duration::days(TIMELINE_DAYS);
        let mut out = Vec::new();
        for schedule_id in store::ids_involving_user(conn, me.id)? {
            let Some(row) = store::find_by_id(conn, schedule_id)? else {
                continue;
            };
            if !team_ids.contains(&row.team_id) {
                continue;
            }
            let team = teams::find_by_id(conn, row.team_id)?;
            let rotation = load_rotation(conn, &row, now)?;
            for span in rotation.spans(now, to) {
                let Some(assignment) = span.on_call.filter(|a| a.user_id == me.id) else {
                    continue;
                };
                out.push(MyShift {
                    team_name: team.name.clone(),
                    team_unique_id: team.unique_id.clone(),
                    schedule_name: row.name.clone(),
                    schedule_unique_id: row.unique_id.clone(),
                    start: span.start,
                    end: span.end,
                    from_override: assignment.from_override,
                });
            }
        }
        out.sort_by_key(|s| s.start);
        Ok(out)
    })
    .await
}

/// A team whose schedules the actor may change (the "New schedule" form).
pub async fn team_to_manage(db: &Db, actor: &User, team_uid: &str) -> Result<Team, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = teams::find_visible(conn, &actor, &team_uid)?;
        super::manage::require_manager(access::team_access(conn, &actor, team.id)?)?;
        Ok(team)
    })
    .await
}

/// What the forms changing a schedule (its fields, a layer) show.
pub struct Editing {
    pub team: Team,
    pub detail: ScheduleDetail,
    pub members: Vec<store::PersonRow>,
}

impl Editing {
    pub fn layer(&self, layer_uid: &str) -> Result<&LayerView, DomainError> {
        self.detail
            .layers
            .iter()
            .find(|l| l.unique_id == layer_uid)
            .ok_or(DomainError::NotFound)
    }
}

/// A schedule the actor may change, for its forms (others get 403, or 404 outside the team).
pub async fn editing(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
) -> Result<Editing, DomainError> {
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.run(move |conn| {
        let (team, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        super::manage::require_manager(access)?;
        let detail = detail(conn, &team, row, Utc::now())?;
        let members = Roster::load(conn, team.id)?.members().to_vec();
        Ok(Editing {
            team,
            detail,
            members,
        })
    })
    .await
}

/// One page of a schedule's audit trail, newest first.
pub async fn history(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    page: i64,
) -> Result<(Team, ScheduleRow, Page<OnCallAuditRow>), DomainError> {
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.run(move |conn| {
        let (team, row, _) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        let offset = Page::<()>::offset(page, AUDIT_PER_PAGE);
        let entries =
            on_call_audit::page_for(conn, Subject::Schedule(row.id), offset, AUDIT_PER_PAGE + 1)?;
        Ok((
            team,
            row,
            Page::from_overfetch(entries, page, AUDIT_PER_PAGE),
        ))
    })
    .await
}
