//! Signed-in sessions. The cookie holds a random token; only its hash is stored, so a copy of
//! this table signs nobody in.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{user_sessions, users};
use super::users::UserRow;
use super::DbConn;

pub fn insert(
    conn: &mut DbConn,
    user_id: i64,
    token_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::user_id.eq(user_id),
            user_sessions::token_hash.eq(token_hash),
            user_sessions::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// The user of a session started after `since`, read on every signed-in request.
pub fn user_of(
    conn: &mut DbConn,
    token_hash: &str,
    since: NaiveDateTime,
) -> QueryResult<Option<UserRow>> {
    on_backend!(conn, c => user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::token_hash.eq(token_hash))
        .filter(user_sessions::created_at.gt(since))
        .select(UserRow::as_select())
        .get_result(c)
        .optional())
}

pub fn delete_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(user_sessions::table.filter(user_sessions::token_hash.eq(token_hash)))
        .execute(conn)
}

/// Ends every session of a user, but the one whose hash is `keep` (if any).
pub fn delete_for_user(conn: &mut DbConn, user_id: i64, keep: Option<&str>) -> QueryResult<usize> {
    let of_user = user_sessions::table.filter(user_sessions::user_id.eq(user_id));
    match keep {
        Some(keep) => {
            diesel::delete(of_user.filter(user_sessions::token_hash.ne(keep))).execute(conn)
        }
        None => diesel::delete(of_user).execute(conn),
    }
}

pub fn count_for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<i64> {
    user_sessions::table
        .filter(user_sessions::user_id.eq(user_id))
        .count()
        .get_result(conn)
}

/// Sessions older than their cookie's lifetime sign nobody in; they are cleared now and then.
pub fn delete_started_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(user_sessions::table.filter(user_sessions::created_at.lt(before))).execute(conn)
}
