//! Persistence of teams and their members.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{team_members, teams, users};
use super::users::UserRow;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: i64,
    pub unique_id: String,
    pub name: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn insert(
    conn: &mut DbConn,
    unique_id: &str,
    name: &str,
    created_by: i64,
    at: NaiveDateTime,
) -> QueryResult<TeamRow> {
    diesel::insert_into(teams::table)
        .values((
            teams::unique_id.eq(unique_id),
            teams::name.eq(name),
            teams::created_by.eq(Some(created_by)),
            teams::created_at.eq(at),
        ))
        .execute(conn)?;
    find_by_unique_id(conn, unique_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<TeamRow>> {
    teams::table
        .filter(teams::unique_id.eq(unique_id))
        .select(TeamRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<TeamRow>> {
    teams::table
        .find(id)
        .select(TeamRow::as_select())
        .get_result(conn)
        .optional()
}

/// All teams by name, one page at a time.
pub fn list_all(conn: &mut DbConn, offset: i64, limit: i64) -> QueryResult<Vec<TeamRow>> {
    teams::table
        .order((teams::name, teams::id))
        .offset(offset)
        .limit(limit)
        .select(TeamRow::as_select())
        .load(conn)
}

/// Teams the user belongs to, by name, one page at a time.
pub fn list_for_member(
    conn: &mut DbConn,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<TeamRow>> {
    teams::table
        .inner_join(team_members::table)
        .filter(team_members::user_id.eq(user_id))
        .order((teams::name, teams::id))
        .offset(offset)
        .limit(limit)
        .select(TeamRow::as_select())
        .load(conn)
}

/// The user's role in the team, if a member.
pub fn member_role(conn: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<Option<i32>> {
    on_backend!(conn, c => team_members::table
        .filter(team_members::team_id.eq(team_id))
        .filter(team_members::user_id.eq(user_id))
        .select(team_members::role)
        .get_result(c).optional())
}

pub fn team_ids_of_member(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<i64>> {
    team_members::table
        .filter(team_members::user_id.eq(user_id))
        .select(team_members::team_id)
        .load(conn)
}

/// Teams in which the user has `role`, by name, one page at a time.
pub fn list_for_member_with_role(
    conn: &mut DbConn,
    user_id: i64,
    role: i32,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<TeamRow>> {
    teams::table
        .inner_join(team_members::table)
        .filter(team_members::user_id.eq(user_id))
        .filter(team_members::role.eq(role))
        .order((teams::name, teams::id))
        .offset(offset)
        .limit(limit)
        .select(TeamRow::as_select())
        .load(conn)
}

pub fn add_member(
    conn: &mut DbConn,
    team_id: i64,
    user_id: i64,
    role: i32,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(team_members::table)
        .values((
            team_members::unique_id.eq(uuid::Uuid::new_v4().to_string()),
            team_members::team_id.eq(team_id),
            team_members::user_id.eq(user_id),
            team_members::role.eq(role),
            team_members::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn remove_member(conn: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<usize> {
    diesel::delete(
        team_members::table
            .filter(team_members::team_id.eq(team_id))
            .filter(team_members::user_id.eq(user_id)),
    )
    .execute(conn)
}

pub fn set_member_role(
    conn: &mut DbConn,
    team_id: i64,
    user_id: i64,
    role: i32,
) -> QueryResult<usize> {
    diesel::update(
        team_members::table
            .filter(team_members::team_id.eq(team_id))
            .filter(team_members::user_id.eq(user_id)),
    )
    .set(team_members::role.eq(role))
    .execute(conn)
}

pub fn count_members_with_role(conn: &mut DbConn, team_id: i64, role: i32) -> QueryResult<i64> {
    team_members::table
        .filter(team_members::team_id.eq(team_id))
        .filter(team_members::role.eq(role))
        .count()
        .get_result(conn)
}

/// A membership as the API shows it.
#[derive(Debug, Clone, Queryable)]
pub struct MembershipRow {
    pub unique_id: String,
    pub role: i32,
    pub joined_at: NaiveDateTime,
}

/// A page of members with their team role, by name.
pub fn members_page(
    conn: &mut DbConn,
    team_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<(UserRow, i32)>> {
    team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .order((users::first_name, users::last_name, users::id))
        .offset(offset)
        .limit(limit)
        .select((UserRow::as_select(), team_members::role))
        .load(conn)
}

/// The ids of a team's members.
pub fn member_ids(conn: &mut DbConn, team_id: i64) -> QueryResult<Vec<i64>> {
    team_members::table
        .filter(team_members::team_id.eq(team_id))
        .select(team_members::user_id)
        .load(conn)
}

/// Members with their membership, by name.
pub fn memberships(conn: &mut DbConn, team_id: i64) -> QueryResult<Vec<(UserRow, MembershipRow)>> {
    team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .order((users::first_name, users::last_name, users::id))
        .select((
            UserRow::as_select(),
            (
                team_members::unique_id,
                team_members::role,
                team_members::created_at,
            ),
        ))
        .load(conn)
}
