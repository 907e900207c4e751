//! Signed-in sessions. Each sign-in starts one, kept in the database; the cookie only carries
//! its token. So a session ends for every copy of its cookie when the person signs out, signs
//! out everywhere, changes their password (their other sessions end) or is disabled.

use chrono::Duration;

use super::accounts::AccountsError;
use super::ids;
use super::users::User;
use crate::db::{self, user_sessions, Db, DbConn, DbError};

/// How long a session lasts after sign-in; the cookie lives as long.
pub const SESSION_DAYS: i64 = 14;

/// Starts a session for `user_id` inside the caller's transaction; returns the cookie's token.
pub fn start_in(conn: &mut DbConn, user_id: i64) -> Result<String, DbError> {
    let token = ids::new_token();
    let now = db::now();
    user_sessions::delete_started_before(conn, now - Duration::days(SESSION_DAYS))?;
    user_sessions::insert(conn, user_id, &ids::token_hash(&token), now)?;
    Ok(token)
}

pub async fn start(db: &Db, user_id: i64) -> Result<String, AccountsError> {
    Ok(db.write(move |conn| start_in(conn, user_id)).await?)
}

/// The active user whose unexpired session this token opens.
pub async fn user_of(db: &Db, token: &str) -> Result<Option<User>, AccountsError> {
    let token_hash = ids::token_hash(token);
    let row = db
        .run(move |conn| {
            let since = db::now() - Duration::days(SESSION_DAYS);
            user_sessions::user_of(conn, &token_hash, since).map_err(DbError::from)
        })
        .await?;
    Ok(row.filter(|row| row.is_active).map(User::from))
}

/// Ends the session of this token (sign-out).
pub async fn end(db: &Db, token: &str) -> Result<(), AccountsError> {
    let token_hash = ids::token_hash(token);
    db.write(move |conn| user_sessions::delete_by_hash(conn, &token_hash).map_err(DbError::from))
        .await?;
    Ok(())
}

/// Ends every session of the user but the one of `keep` ("Sign out everywhere" ends them all,
/// a password change all others).
pub async fn end_all(db: &Db, user_id: i64, keep: Option<&str>) -> Result<usize, AccountsError> {
    let keep = keep.map(ids::token_hash);
    Ok(db
        .write(move |conn| {
            user_sessions::delete_for_user(conn, user_id, keep.as_deref()).map_err(DbError::from)
        })
        .await?)
}

/// How many sessions the user has open (shown beside "Sign out everywhere").
pub async fn count(db: &Db, user_id: i64) -> Result<i64, AccountsError> {
    Ok(db
        .run(move |conn| user_sessions::count_for_user(conn, user_id).map_err(DbError::from))
        .await?)
}
