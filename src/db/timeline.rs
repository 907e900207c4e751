//! Persistence of incident timelines (append-only).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::timeline_entries;
use super::{shared_run, DbConn};

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

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = timeline_entries)]
// A None is bound as NULL (each column's default): the statement's SQL stays the same
// (`db::KeptAs`).
#[diesel(treat_none_as_default_value = false)]
pub struct NewTimelineRow {
    pub incident_id: i64,
    pub kind: &'static str,
    pub actor_user_id: Option<i64>,
    pub actor_label: String,
    pub detail: String,
    pub delivery_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// Appends an entry; in a run of grouped alerts, at the run's end (`db::shared_run`).
pub fn append(conn: &mut DbConn, entry: NewTimelineRow) -> QueryResult<()> {
    shared_run::insert(conn, entry, |run| &mut run.timeline, insert_all)
}

/// Several entries, in this order: what one change writes at once (a trigger's entry and its
/// first level's, an alert's own); in a run of grouped alerts, at the run's end.
pub fn append_all(conn: &mut DbConn, entries: Vec<NewTimelineRow>) -> QueryResult<()> {
    let now: Vec<_> = entries
        .into_iter()
        .filter_map(|entry| shared_run::defer(entry, |rows| &mut rows.timeline))
        .collect();
    insert_all(conn, &now)
}

/// Inserts `entries` in this order: one statement on PostgreSQL.
pub(crate) fn insert_all(conn: &mut DbConn, entries: &[NewTimelineRow]) -> QueryResult<()> {
    insert_rows!(conn, entries, timeline_entries::table, timeline_entries::id)
}

/// Oldest first.
/// A page of an incident's timeline, newest first; only entries of `kinds` when given.
pub fn newest_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    kinds: Option<&[&str]>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<TimelineRow>> {
    let mut query = timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .into_boxed();
    if let Some(kinds) = kinds {
        query = query.filter(timeline_entries::kind.eq_any(kinds.to_vec()));
    }
    query
        .order(timeline_entries::id.desc())
        .offset(offset)
        .limit(limit)
        .select(TimelineRow::as_select())
        .load(conn)
}

/// Which of `instants` an entry of one of `kinds` was written at, in one incident's timeline.
pub fn instants_with_kinds(
    conn: &mut DbConn,
    incident_id: i64,
    kinds: &[&str],
    instants: &[NaiveDateTime],
) -> QueryResult<Vec<NaiveDateTime>> {
    if instants.is_empty() {
        return Ok(Vec::new());
    }
    timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .filter(timeline_entries::kind.eq_any(kinds.to_vec()))
        .filter(timeline_entries::created_at.eq_any(instants.to_vec()))
        .select(timeline_entries::created_at)
        .load(conn)
}

/// The entries of one incident, oldest first, of `kinds` written at one of `instants`, or telling
/// the outcome of one of `delivery_ids`.
pub fn written_at_or_for(
    conn: &mut DbConn,
    incident_id: i64,
    kinds: &[&str],
    instants: &[NaiveDateTime],
    delivery_ids: &[i64],
) -> QueryResult<Vec<TimelineRow>> {
    if instants.is_empty() && delivery_ids.is_empty() {
        return Ok(Vec::new());
    }
    timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .filter(
            timeline_entries::created_at
                .eq_any(instants.to_vec())
                .and(timeline_entries::kind.eq_any(kinds.to_vec()))
                .or(timeline_entries::delivery_id.eq_any(delivery_ids.to_vec())),
        )
        .order(timeline_entries::id)
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
    let Some(ids) = team_ids else {
        let newest: Option<i64> = timeline_entries::table
            .select(diesel::dsl::max(timeline_entries::id))
            .get_result(conn)?;
        return Ok(newest.unwrap_or(0));
    };
    // Newest first, stopping at the first entry of a visible team: the walk is as long as the
    // entries other teams added since this team's last change, not the whole timeline (a MAX
    // over the join reads every entry of the visible teams). `CROSS JOIN` makes SQLite keep
    // that order (starting from the team's services, it would collect and sort all of their
    // entries); PostgreSQL reads it as a plain join.
    if ids.is_empty() {
        return Ok(0);
    }
    let teams = super::sql_list(ids);
    let newest = diesel::sql_query(format!(
        "SELECT t.id FROM timeline_entries t \
         CROSS JOIN incidents i CROSS JOIN services s \
         WHERE i.id = t.incident_id AND s.id = i.service_id AND s.team_id IN ({teams}) \
         ORDER BY t.id DESC LIMIT 1"
    ))
    .get_result::<LatestId>(conn)
    .optional()?;
    Ok(newest.map_or(0, |row| row.id))
}

#[derive(diesel::QueryableByName)]
struct LatestId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// The newest entry of one incident's timeline (0 when it has none).
pub fn latest_id_for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<i64> {
    let newest: Option<i64> = timeline_entries::table
        .filter(timeline_entries::incident_id.eq(incident_id))
        .select(diesel::dsl::max(timeline_entries::id))
        .get_result(conn)?;
    Ok(newest.unwrap_or(0))
}
