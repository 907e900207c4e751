//! Persistence of incident timelines (append-only).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::timeline_entries;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = timeline_entries)]
pub struct TimelineRow {
    pub id: i64,
    pub incident_id: i64,
    pub kind: String,
    pub actor_user_id: Option<i64>,
    pub actor_label: String,
    pub detail: String,
    pub delivery_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = timeline_entries)]
pub struct NewTimelineRow<'a> {
    pub incident_id: i64,
    pub kind: &'a str,
    pub actor_user_id: Option<i64>,
    pub actor_label: &'a str,
    pub detail: &'a str,
    pub delivery_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn append(conn: &mut DbConn, entry: &NewTimelineRow<'_>) -> QueryResult<()> {
    diesel::insert_into(timeline_entries::table)
        .values(entry)
        .execute(conn)
        .map(drop)
}

/// Oldest first.
pub fn for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    limit: i64,
) -> QueryResult<Vec<TimelineRow>> {
    timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .order(timeline_entries::id)
        .limit(limit)
        .select(TimelineRow::as_select())
        .load(conn)
}

pub fn count_for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<i64> {
    timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .count()
        .get_result(conn)
}
