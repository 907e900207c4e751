//! Persistence of incidents, their numbers and notes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    collated_entities, incident_counter, incident_notes, incidents, services, users,
};
use super::{last_insert_rowid, returning_id, DbConn, KeptAs, KeptPrepared, NoRows};

/// Status codes as stored (Zenduty's).
pub(super) const TRIGGERED: i32 = 1;
pub(super) const ACKNOWLEDGED: i32 = 2;
pub(super) const RESOLVED: i32 = 3;
/// Triggered or acknowledged.
pub(super) const OPEN: [i32; 2] = [TRIGGERED, ACKNOWLEDGED];

/// `status IN (1, 2)` (triggered or acknowledged) written into the SQL rather than bound: a
/// partial index on open incidents (`WHERE status IN (1, 2)`) is used only where the query states
/// its condition in so many words, which bound parameters do not (SQLite; PostgreSQL's generic
/// plans). Its SQL never changes, so statements using it stay prepared.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub struct IsOpen;

impl diesel::expression::Expression for IsOpen {
    type SqlType = diesel::sql_types::Bool;
}

impl<DB: diesel::backend::Backend> diesel::query_builder::QueryFragment<DB> for IsOpen {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("\"incidents\".\"status\" IN (1, 2)");
        Ok(())
    }
}

impl<QS> diesel::expression::AppearsOnTable<QS> for IsOpen where
    incidents::status: diesel::expression::AppearsOnTable<QS>
{
}

impl<QS> diesel::expression::SelectableExpression<QS> for IsOpen where
    incidents::status: diesel::expression::SelectableExpression<QS>
{
}

impl<GB> diesel::expression::ValidGrouping<GB> for IsOpen {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct IncidentRow {
    pub id: i64,
    pub incident_number: i64,
    pub unique_id: String,
    pub incident_key: String,
    pub service_id: i64,
    pub title: String,
    pub summary: String,
    pub status: i32,
    pub urgency: i32,
    pub priority: i32,
    pub assigned_to: Option<i64>,
    pub created_by: Option<i64>,
    pub creation_date: NaiveDateTime,
    pub acknowledged_date: Option<NaiveDateTime>,
    pub resolved_date: Option<NaiveDateTime>,
    pub context_window_start: NaiveDateTime,
    pub context_window_end: NaiveDateTime,
    pub merged_with: Option<i64>,
    pub entity_id: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = incidents)]
pub struct NewIncidentRow<'a> {
    pub unique_id: &'a str,
    pub incident_key: &'a str,
    pub service_id: i64,
    pub title: &'a str,
    pub summary: &'a str,
    pub status: i32,
    pub urgency: i32,
    pub priority: i32,
    pub assigned_to: Option<i64>,
    pub created_by: Option<i64>,
    pub creation_date: NaiveDateTime,
    pub context_window_start: NaiveDateTime,
    pub context_window_end: NaiveDateTime,
    pub entity_id: Option<&'a str>,
}

/// The number that asks PostgreSQL's insert trigger for the next one (migration 000120).
const NUMBER_FROM_THE_COUNTER: i64 = 0;

/// Inserts a new incident with the next incident number. The counter row stays locked until the
/// transaction ends, and a rollback gives the number back. On PostgreSQL the INSERT takes the
/// number itself (a trigger): there every statement is a round trip on the connection grouped
/// writes wait for. SQLite, which pays none, updates the counter first.
pub fn insert(conn: &mut DbConn, row: &NewIncidentRow<'_>) -> QueryResult<IncidentRow> {
    match conn {
        DbConn::Postgres(pg) => KeptPrepared(
            diesel::insert_into(incidents::table)
                .values((incidents::incident_number.eq(NUMBER_FROM_THE_COUNTER), row))
                .returning(IncidentRow::as_returning()),
        )
        .get_result(pg),
        DbConn::Sqlite(sqlite) => insert_without_returning(sqlite, row),
    }
}

/// SQLite's side of [`insert`]: without `RETURNING`, which SQLite runs through a temporary
/// b-tree it opens and closes every time. The new row is what was inserted, with its id.
fn insert_without_returning(
    sqlite: &mut diesel::SqliteConnection,
    row: &NewIncidentRow<'_>,
) -> QueryResult<IncidentRow> {
    KeptPrepared(diesel::sql_query(
        "UPDATE incident_counter SET last_number = last_number + 1 WHERE id = 1",
    ))
    .load::<NoRows>(sqlite)?;
    let number = incident_counter::table
        .find(1)
        .select(incident_counter::last_number)
        .get_result(sqlite)?;
    diesel::insert_into(incidents::table)
        .values((incidents::incident_number.eq(number), row))
        .execute(sqlite)?;
    Ok(IncidentRow {
        id: last_insert_rowid(sqlite)?,
        incident_number: number,
        unique_id: row.unique_id.to_owned(),
        incident_key: row.incident_key.to_owned(),
        service_id: row.service_id,
        title: row.title.to_owned(),
        summary: row.summary.to_owned(),
        status: row.status,
        urgency: row.urgency,
        priority: row.priority,
        assigned_to: row.assigned_to,
        created_by: row.created_by,
        creation_date: row.creation_date,
        acknowledged_date: None,
        resolved_date: None,
        context_window_start: row.context_window_start,
        context_window_end: row.context_window_end,
        merged_with: None,
        entity_id: row.entity_id.map(str::to_owned),
    })
}

pub fn find_by_number(conn: &mut DbConn, number: i64) -> QueryResult<Option<IncidentRow>> {
    on_backend!(conn, c => incidents::table
        .filter(incidents::incident_number.eq(number))
        .select(IncidentRow::as_select())
        .get_result(c).optional())
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<IncidentRow>> {
    incidents::table
        .filter(incidents::unique_id.eq(unique_id))
        .select(IncidentRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<IncidentRow>> {
    on_backend!(conn, c => incidents::table.find(id).select(IncidentRow::as_select())
        .get_result(c).optional())
}

/// Triggered → acknowledged; the changed row, or None (and nothing changed) when the incident
/// was not triggered any more. The check and the change are one statement (on SQLite, one write
/// transaction), so of two concurrent requests exactly one wins.
pub fn transition_acknowledged(
    conn: &mut DbConn,
    id: i64,
    at: NaiveDateTime,
) -> QueryResult<Option<IncidentRow>> {
    if let DbConn::Sqlite(sqlite) = conn {
        const ACKNOWLEDGE: &str = "UPDATE incidents SET status = 2, acknowledged_date = ?1 \
            WHERE id = ?2";
        let acknowledged = |row: &mut IncidentRow| {
            row.status = ACKNOWLEDGED;
            row.acknowledged_date = Some(at);
        };
        return transition_without_returning(
            sqlite,
            id,
            &[TRIGGERED],
            ACKNOWLEDGE,
            at,
            acknowledged,
        );
    }
    let update = diesel::update(
        incidents::table
            .find(id)
            .filter(incidents::status.eq(TRIGGERED)),
    )
    .set((
        incidents::status.eq(ACKNOWLEDGED),
        incidents::acknowledged_date.eq(Some(at)),
    ));
    struct Acknowledge;
    on_backend!(conn, c => KeptAs::<Acknowledge, _>::new(
        update.returning(IncidentRow::as_returning())
    )
    .get_result(c)
    .optional())
}

/// SQLite's side of a transition: the row read, its status checked, then changed by `update`
/// (binding `at` and the id) without `RETURNING`, which SQLite runs through a temporary b-tree
/// it opens and closes every time; every acknowledgement and resolution runs one. The write
/// transaction holds SQLite's one write lock from its start (`BEGIN IMMEDIATE`): no other
/// writer comes between the read and the change. `changed` makes the row read what `update`
/// wrote.
fn transition_without_returning(
    sqlite: &mut diesel::SqliteConnection,
    id: i64,
    from: &[i32],
    update: &'static str,
    at: NaiveDateTime,
    changed: impl FnOnce(&mut IncidentRow),
) -> QueryResult<Option<IncidentRow>> {
    use diesel::sql_types::{BigInt, Timestamp};
    let Some(mut row) = incidents::table
        .find(id)
        .select(IncidentRow::as_select())
        .get_result(sqlite)
        .optional()?
        .filter(|row| from.contains(&row.status))
    else {
        return Ok(None);
    };
    KeptPrepared(
        diesel::sql_query(update)
            .bind::<Timestamp, _>(at)
            .bind::<BigInt, _>(id),
    )
    .load::<NoRows>(sqlite)?;
    changed(&mut row);
    Ok(Some(row))
}

/// Acknowledged → triggered again (the service's acknowledgement timeout ran out); the changed
/// row, or None when it was not acknowledged any more.
pub fn transition_retriggered(conn: &mut DbConn, id: i64) -> QueryResult<Option<IncidentRow>> {
    let update = diesel::update(
        incidents::table
            .find(id)
            .filter(incidents::status.eq(ACKNOWLEDGED)),
    )
    .set((
        incidents::status.eq(TRIGGERED),
        incidents::acknowledged_date.eq(None::<NaiveDateTime>),
    ));
    on_backend!(conn, c => update.returning(IncidentRow::as_returning()).get_result(c).optional())
}

/// Acknowledged incidents, acknowledged before `before`, of services whose acknowledgement
/// timeout is `minutes`.
pub fn acknowledged_before(
    conn: &mut DbConn,
    minutes: i32,
    before: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    incidents::table
        .inner_join(services::table)
        .filter(services::acknowledgement_timeout.eq(minutes))
        .filter(incidents::status.eq(ACKNOWLEDGED))
        .filter(incidents::acknowledged_date.le(before))
        .order(incidents::id)
        .select(incidents::id)
        .load(conn)
}

/// Triggered or acknowledged → resolved; the changed row, or None when it was resolved already.
pub fn transition_resolved(
    conn: &mut DbConn,
    id: i64,
    at: NaiveDateTime,
) -> QueryResult<Option<IncidentRow>> {
    if let DbConn::Sqlite(sqlite) = conn {
        const RESOLVE: &str = "UPDATE incidents SET status = 3, resolved_date = ?1 WHERE id = ?2";
        let resolved = |row: &mut IncidentRow| {
            row.status = RESOLVED;
            row.resolved_date = Some(at);
        };
        return transition_without_returning(sqlite, id, &OPEN, RESOLVE, at, resolved);
    }
    let update = diesel::update(
        incidents::table
            .find(id)
            .filter(incidents::status.eq_any(OPEN)),
    )
    .set((
        incidents::status.eq(RESOLVED),
        incidents::resolved_date.eq(Some(at)),
    ));
    struct Resolve;
    on_backend!(conn, c => KeptAs::<Resolve, _>::new(
        update.returning(IncidentRow::as_returning())
    )
    .get_result(c)
    .optional())
}

/// Open incidents opened before `before` on services whose auto-resolve time is `minutes`.
pub fn open_auto_resolving_before(
    conn: &mut DbConn,
    minutes: i32,
    before: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    incidents::table
        .inner_join(services::table)
        .filter(services::auto_resolve_timeout.eq(minutes))
        .filter(incidents::status.eq_any(OPEN))
        .filter(incidents::creation_date.le(before))
        .order(incidents::id)
        .select(incidents::id)
        .load(conn)
}

pub fn set_assignee(conn: &mut DbConn, id: i64, user_id: Option<i64>) -> QueryResult<usize> {
    diesel::update(incidents::table.find(id))
        .set(incidents::assigned_to.eq(user_id))
        .execute(conn)
}

/// An incident with its service's name and id and its assignee's first and last name.
pub type IncidentListRow = (IncidentRow, String, String, Option<String>, Option<String>);

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Open (triggered or acknowledged) incidents of a service, counted up to `cap` and no further:
/// a page shows "10 000+" rather than walking every open incident of a storm on each view. The
/// range and the order make PostgreSQL count along `incidents_open_by_service` (as the
/// incidents list walks it) instead of reading the table from its start, past every resolved incident,
/// until the cap.
pub fn open_count_capped(conn: &mut DbConn, service_id: i64, cap: i64) -> QueryResult<i64> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM incidents \
         WHERE service_id BETWEEN {service_id} AND {service_id} AND status IN (1, 2) \
         ORDER BY service_id DESC, id DESC LIMIT {}) AS open_incidents",
        cap.max(0)
    );
    let counted: Counted = on_backend!(conn, c => diesel::sql_query(&sql).get_result(c))?;
    Ok(counted.n)
}

pub fn count_for_service(conn: &mut DbConn, service_id: i64) -> QueryResult<i64> {
    incidents::table
        .filter(incidents::service_id.eq(service_id))
        .count()
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incident_notes)]
pub struct NoteRow {
    pub id: i64,
    pub unique_id: String,
    pub incident_id: i64,
    pub user_id: Option<i64>,
    pub note: String,
    pub creation_date: NaiveDateTime,
}

/// Adds a note and returns its `unique_id`.
pub fn insert_note(
    conn: &mut DbConn,
    incident_id: i64,
    user_id: i64,
    note: &str,
    at: NaiveDateTime,
) -> QueryResult<String> {
    let unique_id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(incident_notes::table)
        .values((
            incident_notes::unique_id.eq(&unique_id),
            incident_notes::incident_id.eq(incident_id),
            incident_notes::user_id.eq(Some(user_id)),
            incident_notes::note.eq(note),
            incident_notes::creation_date.eq(at),
        ))
        .execute(conn)?;
    Ok(unique_id)
}

/// Where an alert of the entity goes, in one statement (every alert of a storm reads it): the
/// open incident the entity opened (the partial unique index `incidents_open_entity`), and the
/// incident its alerts were last collated into (by key), whatever its state now; each if any.
pub struct EntityIncidents {
    pub own: Option<IncidentRow>,
    pub collated_into: Option<IncidentRow>,
}

pub fn find_for_entity(
    conn: &mut DbConn,
    service_id: i64,
    entity_id: &str,
) -> QueryResult<EntityIncidents> {
    use diesel::dsl::sql;
    use diesel::sql_types::Bool;
    // The second column says which branch a row came from: false for the entity's own.
    // Kept prepared: diesel would compile a UNION anew on every call.
    let rows: Vec<(IncidentRow, bool)> = on_backend!(conn, c => KeptPrepared(incidents::table
        .filter(incidents::service_id.eq(service_id))
        .filter(incidents::entity_id.eq(entity_id))
        .filter(IsOpen)
        .select((IncidentRow::as_select(), sql::<Bool>("FALSE")))
        .union_all(
            collated_entities::table
                .inner_join(incidents::table)
                .filter(collated_entities::service_id.eq(service_id))
                .filter(collated_entities::entity_id.eq(entity_id))
                .select((IncidentRow::as_select(), sql::<Bool>("TRUE"))),
        ))
        .load(c))?;
    let mut found = EntityIncidents {
        own: None,
        collated_into: None,
    };
    for (incident, collated) in rows {
        let slot = if collated {
            &mut found.collated_into
        } else {
            &mut found.own
        };
        slot.get_or_insert(incident);
    }
    Ok(found)
}

/// The service's newest open incident: the first entry of the partial index
/// `incidents_open_by_service`, however many are open.
pub fn newest_open(conn: &mut DbConn, service_id: i64) -> QueryResult<Option<IncidentRow>> {
    macro_rules! newest_first {
        () => {
            incidents::table
                .filter(incidents::service_id.eq(service_id))
                .filter(IsOpen)
                .order(incidents::id.desc())
                .select(IncidentRow::as_select())
        };
    }
    match conn {
        DbConn::Postgres(pg) => newest_first!().limit(1).get_result(pg).optional(),
        // Stepping to the first row, instead of a bound LIMIT, keeps the statement prepared.
        DbConn::Sqlite(sqlite) => newest_first!()
            .load_iter::<IncidentRow, diesel::connection::DefaultLoadingMode>(sqlite)?
            .next()
            .transpose(),
    }
}

/// Makes alerts that may open an incident on this service take turns until the transaction ends,
/// so that of a burst of alerts arriving
/// together on a collating service only the first opens an incident and the rest see it.
pub fn lock_openings(conn: &mut DbConn, service_id: i64) -> QueryResult<()> {
    super::take_turns(conn, &format!("openings of service {service_id}"))
}

/// Records that the entity's alerts now go to `incident_id`, an incident another entity opened.
pub fn record_collated(
    conn: &mut DbConn,
    service_id: i64,
    entity_id: &str,
    incident_id: i64,
) -> QueryResult<()> {
    let row = (
        collated_entities::service_id.eq(service_id),
        collated_entities::entity_id.eq(entity_id),
        collated_entities::incident_id.eq(incident_id),
    );
    let upsert = diesel::insert_into(collated_entities::table)
        .values(row)
        .on_conflict((collated_entities::service_id, collated_entities::entity_id))
        .do_update()
        .set(collated_entities::incident_id.eq(incident_id));
    returning_id(conn, upsert.returning(collated_entities::incident_id)).map(drop)
}

/// A note with its author's username, first and last name.
pub type NoteWithAuthor = (NoteRow, Option<String>, Option<String>, Option<String>);

/// An incident's notes, oldest first, with their authors; `only` picks one note by unique_id.
pub fn notes(
    conn: &mut DbConn,
    incident_id: i64,
    only: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<NoteWithAuthor>> {
    let mut query = incident_notes::table
        .left_join(users::table.on(incident_notes::user_id.eq(users::id.nullable())))
        .filter(incident_notes::incident_id.eq(incident_id))
        .into_boxed();
    if let Some(unique_id) = only {
        query = query.filter(incident_notes::unique_id.eq(unique_id.to_owned()));
    }
    query
        .order(incident_notes::id)
        .offset(offset)
        .limit(limit)
        .select((
            NoteRow::as_select(),
            users::username.nullable(),
            users::first_name.nullable(),
            users::last_name.nullable(),
        ))
        .load(conn)
}

pub fn set_title_and_summary(
    conn: &mut DbConn,
    id: i64,
    title: &str,
    summary: &str,
) -> QueryResult<usize> {
    diesel::update(incidents::table.find(id))
        .set((incidents::title.eq(title), incidents::summary.eq(summary)))
        .execute(conn)
}

pub fn count_notes(conn: &mut DbConn, incident_id: i64) -> QueryResult<i64> {
    incident_notes::table
        .filter(incident_notes::incident_id.eq(incident_id))
        .count()
        .get_result(conn)
}

/// Whether this install has had any incident yet (the first-run checklist): the newest id, a
/// one-row walk whatever the table's size.
pub fn any_exists(conn: &mut DbConn) -> QueryResult<bool> {
    incidents::table
        .select(incidents::id)
        .order(incidents::id.desc())
        .limit(1)
        .first::<i64>(conn)
        .optional()
        .map(|newest| newest.is_some())
}
