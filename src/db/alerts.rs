//! Persistence of alerts received on incoming integrations.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alerts, incidents};
use super::{shared_run, DbConn};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: i64,
    pub unique_id: String,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub alert_type: i32,
    pub message: String,
    pub summary: String,
    pub entity_id: String,
    pub suppressed: bool,
    pub payload: String,
    pub urls: String,
    pub creation_date: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = alerts)]
// A None is bound as NULL (each column's default): the statement's SQL stays the same
// (`db::KeptAs`).
#[diesel(treat_none_as_default_value = false)]
pub struct NewAlertRow {
    pub unique_id: String,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub alert_type: i32,
    pub message: String,
    pub summary: String,
    pub entity_id: String,
    pub suppressed: bool,
    pub payload: String,
    pub urls: String,
    pub creation_date: NaiveDateTime,
}

/// Stores an alert; in a run of grouped alerts, at the run's end (`db::shared_run`): nothing reads
/// an alert back in the transaction that received it.
pub fn insert(conn: &mut DbConn, row: NewAlertRow) -> QueryResult<()> {
    shared_run::insert(conn, row, |run| &mut run.alerts, insert_all)
}

/// Inserts `rows` in this order: one statement on PostgreSQL.
pub(crate) fn insert_all(conn: &mut DbConn, rows: &[NewAlertRow]) -> QueryResult<()> {
    insert_rows!(conn, rows, alerts::table, alerts::id)
}

/// An integration's alerts, newest first, with the number of the incident each belongs to.
pub fn list_for_integration(
    conn: &mut DbConn,
    integration_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<(AlertRow, Option<i64>)>> {
    alerts::table
        .left_join(incidents::table.on(alerts::incident_id.eq(incidents::id.nullable())))
        .filter(alerts::integration_id.eq(integration_id))
        .order(alerts::id.desc())
        .offset(offset)
        .limit(limit)
        .select((AlertRow::as_select(), incidents::incident_number.nullable()))
        .load(conn)
}

/// An incident's newest `limit` alerts, newest first (the incident page).
pub fn newest_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    limit: i64,
) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::incident_id.eq(incident_id))
        .order(alerts::id.desc())
        .limit(limit)
        .select(AlertRow::as_select())
        .load(conn)
}

/// The alerts attached to an incident, oldest first (at most 1000).
pub fn for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<Vec<AlertRow>> {
    alerts::table
        .filter(alerts::incident_id.eq(incident_id))
        .order(alerts::id)
        .limit(1000)
        .select(AlertRow::as_select())
        .load(conn)
}
