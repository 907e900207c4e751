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

/// The schedules that put `user_id` in a layer or an override.
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

/// A schedule's own fields, as stored.
pub struct ScheduleFields<'a> {
    pub name: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    pub time_zone: &'a str,
}

pub fn insert(
    conn: &mut DbConn,
    unique_id: &str,
    team_id: i64,
    fields: &ScheduleFields<'_>,
    created_by: i64,
    at: NaiveDateTime,
) -> QueryResult<ScheduleRow> {
    diesel::insert_into(schedules::table)
        .values((
            schedules::unique_id.eq(unique_id),
            schedules::team_id.eq(team_id),
            schedules::name.eq(fields.name),
            schedules::summary.eq(fields.summary),
            schedules::description.eq(fields.description),
            schedules::time_zone.eq(fields.time_zone),
            schedules::created_by.eq(Some(created_by)),
            schedules::created_at.eq(at),
        ))
        .execute(conn)?;
    find_by_unique_id(conn, unique_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn update(conn: &mut DbConn, id: i64, fields: &ScheduleFields<'_>) -> QueryResult<()> {
    diesel::update(schedules::table.find(id))
        .set((
            schedules::name.eq(fields.name),
            schedules::summary.eq(fields.summary),
            schedules::description.eq(fields.description),
            schedules::time_zone.eq(fields.time_zone),
        ))
        .execute(conn)
        .map(drop)
}

/// Deletes the schedule with its layers (their users and restrictions) and overrides.
pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    for layer in layers_of(conn, id)? {
        delete_layer(conn, layer.id)?;
    }
    diesel::delete(schedule_overrides::table.filter(schedule_overrides::schedule_id.eq(id)))
        .execute(conn)?;
    diesel::delete(schedules::table.find(id))
        .execute(conn)
        .map(drop)
}

/// A layer's fields, as stored.
pub struct LayerFields<'a> {
    pub name: &'a str,
    pub shift_length: i64,
    pub rotation_start_time: NaiveDateTime,
    pub rotation_end_time: Option<NaiveDateTime>,
    pub restriction_type: i32,
    pub is_active: bool,
    pub user_ids: &'a [i64],
    pub restrictions: &'a [NewRestriction],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRestriction {
    pub start_day_of_week: i32,
    pub start_time_of_day: String,
    pub duration: i64,
}

/// Adds a layer above the schedule's others.
pub fn insert_layer(
    conn: &mut DbConn,
    schedule_id: i64,
    unique_id: &str,
    fields: &LayerFields<'_>,
) -> QueryResult<i64> {
    let top: Option<i32> = schedule_layers::table
        .filter(schedule_layers::schedule_id.eq(schedule_id))
        .select(diesel::dsl::max(schedule_layers::position))
        .get_result(conn)?;
    diesel::insert_into(schedule_layers::table)
        .values((
            schedule_layers::unique_id.eq(unique_id),
            schedule_layers::schedule_id.eq(schedule_id),
            schedule_layers::position.eq(top.map_or(0, |p| p + 1)),
            schedule_layers::name.eq(fields.name),
            schedule_layers::shift_length.eq(fields.shift_length),
            schedule_layers::rotation_start_time.eq(fields.rotation_start_time),
            schedule_layers::rotation_end_time.eq(fields.rotation_end_time),
            schedule_layers::restriction_type.eq(fields.restriction_type),
            schedule_layers::is_active.eq(fields.is_active),
        ))
        .execute(conn)?;
    let id = schedule_layers::table
        .filter(schedule_layers::unique_id.eq(unique_id))
        .select(schedule_layers::id)
        .get_result(conn)?;
    insert_layer_parts(conn, id, fields)?;
    Ok(id)
}

/// Replaces a layer's fields, users and restrictions.
pub fn update_layer(conn: &mut DbConn, layer_id: i64, fields: &LayerFields<'_>) -> QueryResult<()> {
    diesel::update(schedule_layers::table.find(layer_id))
        .set((
            schedule_layers::name.eq(fields.name),
            schedule_layers::shift_length.eq(fields.shift_length),
            schedule_layers::rotation_start_time.eq(fields.rotation_start_time),
            schedule_layers::rotation_end_time.eq(fields.rotation_end_time),
            schedule_layers::restriction_type.eq(fields.restriction_type),
            schedule_layers::is_active.eq(fields.is_active),
        ))
        .execute(conn)?;
    delete_layer_parts(conn, layer_id)?;
    insert_layer_parts(conn, layer_id, fields)
}

fn insert_layer_parts(
    conn: &mut DbConn,
    layer_id: i64,
    fields: &LayerFields<'_>,
) -> QueryResult<()> {
    for (position, user_id) in fields.user_ids.iter().enumerate() {
        diesel::insert_into(schedule_layer_users::table)
            .values((
                schedule_layer_users::layer_id.eq(layer_id),
                schedule_layer_users::user_id.eq(user_id),
                schedule_layer_users::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)?;
    }
    for r in fields.restrictions {
        diesel::insert_into(schedule_restrictions::table)
            .values((
                schedule_restrictions::layer_id.eq(layer_id),
                schedule_restrictions::start_day_of_week.eq(r.start_day_of_week),
                schedule_restrictions::start_time_of_day.eq(&r.start_time_of_day),
                schedule_restrictions::duration.eq(r.duration),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn delete_layer_parts(conn: &mut DbConn, layer_id: i64) -> QueryResult<()> {
    diesel::delete(schedule_layer_users::table.filter(schedule_layer_users::layer_id.eq(layer_id)))
        .execute(conn)?;
    diesel::delete(
        schedule_restrictions::table.filter(schedule_restrictions::layer_id.eq(layer_id)),
    )
    .execute(conn)
    .map(drop)
}

pub fn delete_layer(conn: &mut DbConn, layer_id: i64) -> QueryResult<()> {
    delete_layer_parts(conn, layer_id)?;
    diesel::delete(schedule_layers::table.find(layer_id))
        .execute(conn)
        .map(drop)
}

pub fn set_layer_position(conn: &mut DbConn, layer_id: i64, position: i32) -> QueryResult<()> {
    diesel::update(schedule_layers::table.find(layer_id))
        .set(schedule_layers::position.eq(position))
        .execute(conn)
        .map(drop)
}

pub struct OverrideFields<'a> {
    pub name: &'a str,
    pub user_id: i64,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
}

pub fn insert_override(
    conn: &mut DbConn,
    schedule_id: i64,
    unique_id: &str,
    fields: &OverrideFields<'_>,
    created_by: i64,
    at: NaiveDateTime,
) -> QueryResult<OverrideRow> {
    diesel::insert_into(schedule_overrides::table)
        .values((
            schedule_overrides::unique_id.eq(unique_id),
            schedule_overrides::schedule_id.eq(schedule_id),
            schedule_overrides::name.eq(fields.name),
            schedule_overrides::user_id.eq(fields.user_id),
            schedule_overrides::start_time.eq(fields.start_time),
            schedule_overrides::end_time.eq(fields.end_time),
            schedule_overrides::created_by.eq(Some(created_by)),
            schedule_overrides::created_at.eq(at),
        ))
        .execute(conn)?;
    schedule_overrides::table
        .filter(schedule_overrides::unique_id.eq(unique_id))
        .select(OverrideRow::as_select())
        .get_result(conn)
}

pub fn find_override(
    conn: &mut DbConn,
    schedule_id: i64,
    unique_id: &str,
) -> QueryResult<Option<OverrideRow>> {
    schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .filter(schedule_overrides::unique_id.eq(unique_id))
        .select(OverrideRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn delete_override(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(schedule_overrides::table.find(id))
        .execute(conn)
        .map(drop)
}

/// A schedule's overrides, newest start first, one page at a time (ended ones included).
pub fn overrides_page(
    conn: &mut DbConn,
    schedule_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<OverrideRow>> {
    schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .order((
            schedule_overrides::start_time.desc(),
            schedule_overrides::id.desc(),
        ))
        .offset(offset)
        .limit(limit)
        .select(OverrideRow::as_select())
        .load(conn)
}

/// The team's members, by name (the people a layer or an override may name).
pub fn team_member_people(conn: &mut DbConn, team_id: i64) -> QueryResult<Vec<PersonRow>> {
    users::table
        .inner_join(team_members::table)
        .filter(team_members::team_id.eq(team_id))
        .order((users::first_name, users::last_name, users::id))
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
