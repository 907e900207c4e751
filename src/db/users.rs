//! Persistence of user accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub email_normalized: String,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: String,
    pub role: i32,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    /// An IANA name; new accounts start in UTC (the column's default).
    pub time_zone: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub password_hash: &'a str,
    pub role: i32,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    /// Empty until the person chooses one: pages follow their browser's meanwhile.
    pub time_zone: &'a str,
}

pub fn insert(conn: &mut DbConn, user: &NewUserRow<'_>) -> QueryResult<UserRow> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    users::table
        .filter(users::username.eq(user.username))
        .select(UserRow::as_select())
        .get_result(conn)
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<UserRow>> {
    on_backend!(conn, c => users::table.find(id).select(UserRow::as_select())
        .get_result(c).optional())
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_email(conn: &mut DbConn, email_normalized: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email_normalized.eq(email_normalized))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn count_active_with_role(conn: &mut DbConn, role: i32) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(role))
        .filter(users::is_active.eq(true))
        .count()
        .get_result(conn)
}

/// Users ordered by name, one page at a time.
pub fn list_page(conn: &mut DbConn, offset: i64, limit: i64) -> QueryResult<Vec<UserRow>> {
    users::table
        .order((users::first_name, users::last_name, users::id))
        .offset(offset)
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

pub fn set_active(conn: &mut DbConn, id: i64, active: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::is_active.eq(active))
        .execute(conn)
}

pub fn set_password_hash(conn: &mut DbConn, id: i64, password_hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)
}

pub fn set_name(
    conn: &mut DbConn,
    id: i64,
    first_name: &str,
    last_name: &str,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::first_name.eq(first_name),
            users::last_name.eq(last_name),
        ))
        .execute(conn)
}

/// Fails with a unique violation when another account has this normalized email.
pub fn set_email(
    conn: &mut DbConn,
    id: i64,
    email: &str,
    email_normalized: &str,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_normalized.eq(email_normalized),
        ))
        .execute(conn)
}

pub fn set_time_zone(conn: &mut DbConn, id: i64, time_zone: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::time_zone.eq(time_zone))
        .execute(conn)
}
