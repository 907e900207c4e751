//! Persistence of integrations and their audit trail.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{integration_audit, integrations, users};
use super::{shared_run, DbConn};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = integrations)]
pub struct IntegrationRow {
    pub id: i64,
    pub unique_id: String,
    pub service_id: i64,
    pub name: String,
    pub summary: String,
    pub application: String,
    pub integration_type: i32,
    pub is_enabled: bool,
    pub integration_key: Option<String>,
    pub create_incidents_for: i32,
    pub default_urgency: i32,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = integrations)]
pub struct NewIntegrationRow<'a> {
    pub unique_id: &'a str,
    pub service_id: i64,
    pub name: &'a str,
    pub application: &'a str,
    pub integration_type: i32,
    pub is_enabled: bool,
    pub integration_key: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &NewIntegrationRow<'_>) -> QueryResult<IntegrationRow> {
    diesel::insert_into(integrations::table)
        .values(row)
        .execute(conn)?;
    find_by_unique_id(conn, row.unique_id)?.ok_or(diesel::result::Error::NotFound)
}

/// A live (not deleted) integration by its public id.
pub fn find_by_unique_id(
    conn: &mut DbConn,
    unique_id: &str,
) -> QueryResult<Option<IntegrationRow>> {
    integrations::table
        .filter(integrations::unique_id.eq(unique_id))
        .filter(integrations::deleted_at.is_null())
        .select(IntegrationRow::as_select())
        .get_result(conn)
        .optional()
}

/// An integration by id, deleted or not (deliveries keep pointing at deleted ones).
pub fn find_any_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<IntegrationRow>> {
    integrations::table
        .find(id)
        .select(IntegrationRow::as_select())
        .get_result(conn)
        .optional()
}

/// The live integrations of a service, oldest first.
pub fn list_for_service(conn: &mut DbConn, service_id: i64) -> QueryResult<Vec<IntegrationRow>> {
    // Read once per run of grouped alerts: every trigger reads its service's webhooks.
    shared_run::remembered(("integrations of service", service_id), || {
        // A service's few integrations are put in order here: SQLite, finding them through an
        // index by service and type, would sort them in a temporary b-tree on every transition.
        let mut rows: Vec<IntegrationRow> = on_backend!(conn, c => integrations::table
            .filter(integrations::service_id.eq(service_id))
            .filter(integrations::deleted_at.is_null())
            .select(IntegrationRow::as_select())
            .load(c))?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    })
}

pub fn count_for_service(conn: &mut DbConn, service_id: i64) -> QueryResult<i64> {
    integrations::table
        .filter(integrations::service_id.eq(service_id))
        .count()
        .get_result(conn)
}

pub fn set_name_and_url(
    conn: &mut DbConn,
    id: i64,
    name: &str,
    url: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(integrations::table.find(id))
        .set((integrations::name.eq(name), integrations::url.eq(url)))
        .execute(conn)
}

pub fn set_enabled(conn: &mut DbConn, id: i64, enabled: bool) -> QueryResult<usize> {
    diesel::update(integrations::table.find(id))
        .set(integrations::is_enabled.eq(enabled))
        .execute(conn)
}

pub fn rotate_secret(
    conn: &mut DbConn,
    id: i64,
    new_secret: &str,
    previous: Option<&str>,
    previous_expires_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(integrations::table.find(id))
        .set((
            integrations::secret.eq(Some(new_secret)),
            integrations::previous_secret.eq(previous),
            integrations::previous_secret_expires_at.eq(Some(previous_expires_at)),
        ))
        .execute(conn)
}

/// Deleted integrations keep their row (deliveries and the audit trail refer to it).
pub fn mark_deleted(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(integrations::table.find(id))
        .set((
            integrations::deleted_at.eq(Some(at)),
            integrations::is_enabled.eq(false),
            integrations::integration_key.eq(None::<String>),
        ))
        .execute(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct AuditEntryRow {
    pub action: String,
    pub detail: String,
    pub created_at: NaiveDateTime,
    pub actor_first_name: Option<String>,
    pub actor_last_name: Option<String>,
}

pub fn record_audit(
    conn: &mut DbConn,
    integration_id: i64,
    service_id: i64,
    actor_id: Option<i64>,
    action: &str,
    detail: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(integration_audit::table)
        .values((
            integration_audit::integration_id.eq(integration_id),
            integration_audit::service_id.eq(service_id),
            integration_audit::actor_id.eq(actor_id),
            integration_audit::action.eq(action),
            integration_audit::detail.eq(detail),
            integration_audit::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

type AuditColumns = (
    integration_audit::action,
    integration_audit::detail,
    integration_audit::created_at,
    diesel::dsl::Nullable<users::first_name>,
    diesel::dsl::Nullable<users::last_name>,
);

fn audit_columns() -> AuditColumns {
    (
        integration_audit::action,
        integration_audit::detail,
        integration_audit::created_at,
        users::first_name.nullable(),
        users::last_name.nullable(),
    )
}

/// Newest first.
pub fn audit_for_integration(
    conn: &mut DbConn,
    integration_id: i64,
    limit: i64,
) -> QueryResult<Vec<AuditEntryRow>> {
    integration_audit::table
        .left_join(users::table)
        .filter(integration_audit::integration_id.eq(integration_id))
        .order(integration_audit::id.desc())
        .limit(limit)
        .select(audit_columns())
        .load(conn)
}

/// Newest first, across all integrations of a service (deleted ones included).
pub fn audit_for_service(
    conn: &mut DbConn,
    service_id: i64,
    limit: i64,
) -> QueryResult<Vec<AuditEntryRow>> {
    integration_audit::table
        .left_join(users::table)
        .filter(integration_audit::service_id.eq(service_id))
        .order(integration_audit::id.desc())
        .limit(limit)
        .select(audit_columns())
        .load(conn)
}

/// Every live integration key (the Events API's memory of keys that exist).
pub fn live_keys(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    integrations::table
        .filter(integrations::integration_key.is_not_null())
        .filter(integrations::deleted_at.is_null())
        .select(integrations::integration_key.assume_not_null())
        .load(conn)
}

#[allow(clippy::too_many_arguments)]
pub fn set_settings(
    conn: &mut DbConn,
    id: i64,
    name: &str,
    summary: &str,
    default_urgency: i32,
    create_incidents_for: i32,
    is_enabled: bool,
) -> QueryResult<usize> {
    diesel::update(integrations::table.find(id))
        .set((
            integrations::name.eq(name),
            integrations::summary.eq(summary),
            integrations::default_urgency.eq(default_urgency),
            integrations::create_incidents_for.eq(create_incidents_for),
            integrations::is_enabled.eq(is_enabled),
        ))
        .execute(conn)
}

/// Whether this install has any integration yet (the first-run checklist).
pub fn any_exists(conn: &mut DbConn) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        integrations::table.select(integrations::id),
    ))
    .get_result(conn)
}
