//! Persistence of API keys (hashes only).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_keys;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(
    conn: &mut DbConn,
    name: &str,
    key_hash: &str,
    key_prefix: &str,
    user_id: i64,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::name.eq(name),
            api_keys::key_hash.eq(key_hash),
            api_keys::key_prefix.eq(key_prefix),
            api_keys::user_id.eq(user_id),
            api_keys::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// A user's keys, newest first.
pub fn list_for_user(
    conn: &mut DbConn,
    user_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .order(api_keys::id.desc())
        .offset(offset)
        .limit(limit)
        .select(ApiKeyRow::as_select())
        .load(conn)
}

/// An unrevoked key by the hash of its text.
pub fn find_active_by_hash(conn: &mut DbConn, key_hash: &str) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// One of the user's own keys, if still active.
pub fn find_active_own(conn: &mut DbConn, id: i64, user_id: i64) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .find(id)
        .filter(api_keys::user_id.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn touch(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(api_keys::table.find(id))
        .set(api_keys::last_used_at.eq(Some(at)))
        .execute(conn)
}

/// Revokes one of the user's own keys; false when there is no such key.
pub fn revoke(conn: &mut DbConn, id: i64, user_id: i64, at: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(at)))
    .execute(conn)?;
    Ok(changed == 1)
}
