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
    let insert = diesel::insert_into(timeline_entries::table).values(entry);
    on_backend!(conn, c => insert.execute(c)).map(drop)
}

/// Oldest first.
/// A page of an incident's timeline, newest first.
pub fn newest_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<TimelineRow>> {
    timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .order(timeline_entries::id.desc())
        .offset(offset)
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

/// The newest entry of any incident on the given teams' services (`None`: every team). Every
/// change of an incident appends to its timeline, so this moves whenever the incidents list may
/// show something new.
pub fn latest_id_for_teams(conn: &mut DbConn, team_ids: Option<&[i64]>) -> QueryResult<i64> {
    use super::schema::{incidents, services};
    let Some(ids) = team_ids else {
        let newest: Option<i64> = timeline_entries::table
            .select(diesel::dsl::max(timeline_entries::id))
            .get_result(conn)?;
        return Ok(newest.unwrap_or(0));
    };
    // Newest first, stopping at the first entry of a visible team: the walk is as long as the
    // entries other teams added since this team's last change, not the whole timeline (a MAX
    // over the join reads every entry of the visible teams).
    macro_rules! newest_first {
        () => {
            timeline_entries::table
                .inner_join(incidents::table.inner_join(services::table))
                .filter(services::team_id.eq_any(ids))
                .order(timeline_entries::id.desc())
                .select(timeline_entries::id)
        };
    }
    let newest = match conn {
        DbConn::Postgres(pg) => newest_first!().limit(1).get_result(pg).optional()?,
        DbConn::Sqlite(sqlite) => newest_first!()
            .load_iter::<i64, diesel::connection::DefaultLoadingMode>(sqlite)?
            .next()
            .transpose()?,
    };
    Ok(newest.unwrap_or(0))
}

/// The newest entry of one incident's timeline (0 when it has none).
pub fn latest_id_for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<i64> {
    let newest: Option<i64> = timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .select(diesel::dsl::max(timeline_entries::id))
        .get_result(conn)?;
    Ok(newest.unwrap_or(0))
}
