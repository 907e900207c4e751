//! Install-wide values kept in the database (generated keys, one-time markers).

use diesel::prelude::*;

use super::schema::app_settings;
use super::{DbConn, DbError};

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    app_settings::table
        .find(name)
        .select(app_settings::value)
        .get_result(conn)
        .optional()
}

/// Inserts the value; fails with a unique violation when the name is already set.
pub fn insert(conn: &mut DbConn, name: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(app_settings::table)
        .values((app_settings::name.eq(name), app_settings::value.eq(value)))
        .execute(conn)
        .map(drop)
}

/// The value stored under `name`, storing `fresh` first if there is none. When two processes
/// race, the one that stored first wins and both return its value.
pub fn get_or_insert(
    conn: &mut DbConn,
    name: &str,
    fresh: impl FnOnce() -> String,
) -> Result<String, DbError> {
    if let Some(existing) = get(conn, name)? {
        return Ok(existing);
    }
    let fresh = fresh();
    match insert(conn, name, &fresh).map_err(DbError::from) {
        Ok(()) => Ok(fresh),
        Err(e) if e.is_unique_violation() => get(conn, name)?.ok_or(e),
        Err(e) => Err(e),
    }
}
