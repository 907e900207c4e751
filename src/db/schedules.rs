//! Persistence of schedules: their layers (with ordered users and restriction windows) and
//! their overrides.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    escalation_policies, escalation_rules, escalation_targets, schedule_layer_users,
    schedule_layers, schedule_overrides, schedule_restrictions, schedules, team_members, users,
};
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules)]
pub struct ScheduleRow {
    pub id: i64,
    pub unique_id: String,
    pub team_id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub time_zone: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_layers)]
pub struct LayerRow {
    pub id: i64,
    pub unique_id: String,
    pub schedule_id: i64,
    pub position: i32,
    pub name: String,
    pub shift_length: i64,
    pub rotation_start_time: NaiveDateTime,
    pub rotation_end_time: Option<NaiveDateTime>,
    pub restriction_type: i32,
    pub is_active: bool,
}

/// A user in a layer's rotation order.
#[derive(Debug, Clone, Queryable)]
pub struct LayerUserRow {
    pub layer_id: i64,
    pub position: i32,
    pub user_id: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_restrictions)]
pub struct RestrictionRow {
    pub id: i64,
    pub layer_id: i64,
    pub start_day_of_week: i32,
    pub start_time_of_day: String,
    pub duration: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_overrides)]
pub struct OverrideRow {
    pub id: i64,
    pub unique_id: String,
    pub schedule_id: i64,
    pub name: String,
    pub user_id: i64,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// What the schedule pages show of a person in a rotation.
#[derive(Debug, Clone, Queryable)]
pub struct PersonRow {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_active: bool,
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<ScheduleRow>> {
    schedules::table
        .find(id)
        .select(ScheduleRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<ScheduleRow>> {
    schedules::table
        .filter(schedules::unique_id.eq(unique_id))
        .select(ScheduleRow::as_select())
        .get_result(conn)
        .optional()
}

/// A team's schedules by name, one page at a time.
pub fn list_for_team(
    conn: &mut DbConn,
    team_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<ScheduleRow>> {
    schedules::table
        .filter(schedules::team_id.eq(team_id))
        .order((schedules::name, schedules::id))
        .offset(offset)
        .limit(limit)
        .select(ScheduleRow::as_select())
        .load(conn)
}

/// The schedules of the given teams that put `user_id` in a layer or an override.
pub fn ids_involving_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<i64>> {
    let mut ids: Vec<i64> = schedule_layers::table
        .inner_join(schedule_layer_users::table)
        .filter(schedule_layer_users::user_id.eq(user_id))
        .select(schedule_layers::schedule_id)
        .distinct()
        .load(conn)?;
    ids.extend(
        schedule_overrides::table
            .filter(schedule_overrides::user_id.eq(user_id))
            .select(schedule_overrides::schedule_id)
            .distinct()
            .load::<i64>(conn)?,
    );
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// A schedule's layers, lowest first.
pub fn layers_of(conn: &mut DbConn, schedule_id: i64) -> QueryResult<Vec<LayerRow>> {
    schedule_layers::table
        .filter(schedule_layers::schedule_id.eq(schedule_id))
        .order((schedule_layers::position, schedule_layers::id))
        .select(LayerRow::as_select())
        .load(conn)
}

/// The users of a schedule's layers, in each layer's rotation order.
pub fn layer_users_of(conn: &mut DbConn, schedule_id: i64) -> QueryResult<Vec<LayerUserRow>> {
    schedule_layer_users::table
        .inner_join(schedule_layers::table)
        .filter(schedule_layers::schedule_id.eq(schedule_id))
        .order((
            schedule_layer_users::layer_id,
            schedule_layer_users::position,
            schedule_layer_users::id,
        ))
        .select((
            schedule_layer_users::layer_id,
            schedule_layer_users::position,
            schedule_layer_users::user_id,
        ))
        .load(conn)
}

pub fn restrictions_of(conn: &mut DbConn, schedule_id: i64) -> QueryResult<Vec<RestrictionRow>> {
    schedule_restrictions::table
        .inner_join(schedule_layers::table)
        .filter(schedule_layers::schedule_id.eq(schedule_id))
        .order((schedule_restrictions::layer_id, schedule_restrictions::id))
        .select(RestrictionRow::as_select())
        .load(conn)
}

/// A schedule's overrides that have not ended by `after`, oldest made first.
pub fn overrides_ending_after(
    conn: &mut DbConn,
    schedule_id: i64,
    after: NaiveDateTime,
) -> QueryResult<Vec<OverrideRow>> {
    schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .filter(schedule_overrides::end_time.gt(after))
        .order(schedule_overrides::id)
        .select(OverrideRow::as_select())
        .load(conn)
}

/// The people with these ids.
pub fn people(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<PersonRow>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((
            users::id,
            users::username,
            users::first_name,
            users::last_name,
            users::email,
            users::is_active,
        ))
        .load(conn)
}

/// Which of `ids` are members of the team.
pub fn members_among(conn: &mut DbConn, team_id: i64, ids: &[i64]) -> QueryResult<Vec<i64>> {
    team_members::table
        .filter(team_members::team_id.eq(team_id))
        .filter(team_members::user_id.eq_any(ids))
        .select(team_members::user_id)
        .load(conn)
}

/// The names of the escalation policies whose rules target the schedule.
pub fn policies_targeting(conn: &mut DbConn, schedule_id: i64) -> QueryResult<Vec<String>> {
    escalation_targets::table
        .inner_join(escalation_rules::table.inner_join(escalation_policies::table))
        .filter(escalation_targets::schedule_id.eq(schedule_id))
        .select(escalation_policies::name)
        .distinct()
        .order(escalation_policies::name)
        .load(conn)
}
