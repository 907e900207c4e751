//! Persistence of the webhook outbox: deliveries and their attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::deliveries;
use super::DbConn;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub unique_id: String,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub event_type: String,
    pub payload: String,
    pub is_test: bool,
    pub state: String,
    pub attempt_count: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = deliveries)]
pub struct NewDeliveryRow<'a> {
    pub unique_id: &'a str,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub is_test: bool,
    pub state: &'a str,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &NewDeliveryRow<'_>) -> QueryResult<()> {
    diesel::insert_into(deliveries::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Deliveries of an incident, in the order they were enqueued.
pub fn for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<Vec<DeliveryRow>> {
    deliveries::table
        .filter(deliveries::incident_id.eq(incident_id))
        .order(deliveries::id)
        .select(DeliveryRow::as_select())
        .load(conn)
}
