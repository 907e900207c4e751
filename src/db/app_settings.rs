//! Install-wide values kept in the database (generated keys, one-time markers).

use diesel::prelude::*;

use super::schema::app_settings;
use super::DbConn;

pub fn get(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    app_settings::table
        .find(name)
        .select(app_settings::value)
        .first(conn)
        .optional()
}

/// Inserts the value; fails with a unique violation when the name is already set.
pub fn insert(conn: &mut DbConn, name: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(app_settings::table)
        .values((app_settings::name.eq(name), app_settings::value.eq(value)))
        .execute(conn)
        .map(drop)
}
