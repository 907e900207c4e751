//! Persistence of escalations: the frozen rules of each (re)start, and the steps due to fire,
//! which the escalation worker claims with a lease like webhook deliveries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{escalation_steps, escalations};
use super::{
    first_rows, last_insert_rowid, returning_id, returning_ids, returning_ids_as, wake, DbConn,
    KeptAs, KeptPrepared, NoRows, OneRowInto,
};

/// The channel that wakes escalation workers when a step is enqueued.
pub const WAKE_CHANNEL: &str = "klaxon_escalations";

pub const PENDING: &str = "pending";
pub const FIRED: &str = "fired";
pub const CANCELLED: &str = "cancelled";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalations)]
pub struct EscalationRow {
    pub id: i64,
    pub incident_id: i64,
    pub policy_id: Option<i64>,
    pub policy_name: String,
    pub rules: String,
    pub repeat_policy: i32,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalation_steps)]
pub struct StepRow {
    pub id: i64,
    pub escalation_id: i64,
    pub incident_id: i64,
    pub level: i32,
    pub round: i32,
    pub due_at: NaiveDateTime,
    pub state: String,
    pub fired_at: Option<NaiveDateTime>,
}

/// An escalation as it starts: its policy's rules frozen as JSON.
#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = escalations)]
// A missing policy is bound as NULL: DEFAULT would make the statement one diesel compiles anew.
#[diesel(treat_none_as_default_value = false)]
pub struct NewEscalation<'a> {
    pub incident_id: i64,
    pub policy_id: Option<i64>,
    pub policy_name: &'a str,
    pub rules: &'a str,
    pub repeat_policy: i32,
    pub started_at: NaiveDateTime,
}

pub fn insert_escalation(conn: &mut DbConn, escalation: &NewEscalation) -> QueryResult<i64> {
    match conn {
        DbConn::Postgres(pg) => diesel::insert_into(escalations::table)
            .values(*escalation)
            .returning(escalations::id)
            .get_result(pg),
        DbConn::Sqlite(sqlite) => insert_escalation_without_returning(sqlite, escalation),
    }
}

/// SQLite's side of [`insert_escalation`]: without `RETURNING` (on SQLite it collects the rows
/// in a temporary b-tree, opened and closed on every run); the id from `last_insert_rowid()`.
fn insert_escalation_without_returning(
    sqlite: &mut diesel::SqliteConnection,
    escalation: &NewEscalation,
) -> QueryResult<i64> {
    KeptAs::<OneRowInto<escalations::table>, _>::new(
        diesel::insert_into(escalations::table).values(*escalation),
    )
    .execute(sqlite)?;
    last_insert_rowid(sqlite)
}

/// Queues a step; the workers of every instance are woken once the transaction commits.
pub fn insert_step(
    conn: &mut DbConn,
    escalation_id: i64,
    incident_id: i64,
    level: i32,
    round: i32,
    due_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(escalation_steps::table)
        .values((
            escalation_steps::escalation_id.eq(escalation_id),
            escalation_steps::incident_id.eq(incident_id),
            escalation_steps::level.eq(level),
            escalation_steps::round.eq(round),
            escalation_steps::due_at.eq(due_at),
            escalation_steps::state.eq(PENDING),
        ))
        .execute(conn)?;
    wake::after_commit(conn, WAKE_CHANNEL)
}

/// The step queued after one that fires: its level, round and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    pub level: i32,
    pub round: i32,
    pub due_at: NaiveDateTime,
}

/// An escalation as a trigger starts it when its first level fires at once: the escalation, its
/// first step (fired, `at`) and the step after it, if any. Returns the fired step.
///
/// On PostgreSQL one statement writes all three: every statement of a trigger is a round trip
/// on the connection the grouped writes wait for, and these three are most of what paging adds
/// to an alert (docs/decisions.md, "What bounds a PostgreSQL storm").
pub fn start_with_fired_step(
    conn: &mut DbConn,
    escalation: &NewEscalation,
    next: Option<NextStep>,
) -> QueryResult<StepRow> {
    let step = match conn {
        DbConn::Postgres(pg) => start_in_one_statement(pg, escalation, next)?,
        DbConn::Sqlite(sqlite) => start_in_two_statements(sqlite, escalation, next)?,
    };
    if next.is_some() {
        wake::after_commit(conn, WAKE_CHANNEL)?;
    }
    Ok(step)
}

/// The ids [`start_in_one_statement`] returns.
#[derive(QueryableByName)]
struct StartedIds {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    step_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    escalation_id: i64,
}

fn start_in_one_statement(
    pg: &mut diesel::PgConnection,
    escalation: &NewEscalation,
    next: Option<NextStep>,
) -> QueryResult<StepRow> {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
    const START: &str = "WITH escalation AS (\
            INSERT INTO escalations \
            (incident_id, policy_id, policy_name, rules, repeat_policy, started_at) \
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id), \
        fired AS (\
            INSERT INTO escalation_steps \
            (escalation_id, incident_id, level, round, due_at, state, fired_at) \
            SELECT id, $1, 0, 0, $6, 'fired', $6 FROM escalation RETURNING id, escalation_id), \
        next AS (\
            INSERT INTO escalation_steps (escalation_id, incident_id, level, round, due_at, state) \
            SELECT id, $1, $7, $8, $9, 'pending' FROM escalation WHERE $10) \
        SELECT id AS step_id, escalation_id FROM fired";
    let at = escalation.started_at;
    let (level, round, due_at) = next.map_or((0, 0, at), |n| (n.level, n.round, n.due_at));
    let started: StartedIds = KeptPrepared(
        diesel::sql_query(START)
            .bind::<BigInt, _>(escalation.incident_id)
            .bind::<Nullable<BigInt>, _>(escalation.policy_id)
            .bind::<Text, _>(escalation.policy_name)
            .bind::<Text, _>(escalation.rules)
            .bind::<Integer, _>(escalation.repeat_policy)
            .bind::<Timestamp, _>(at)
            .bind::<Integer, _>(level)
            .bind::<Integer, _>(round)
            .bind::<Timestamp, _>(due_at)
            .bind::<Bool, _>(next.is_some()),
    )
    .get_result(pg)?;
    Ok(fired_step(
        escalation,
        started.escalation_id,
        started.step_id,
    ))
}

/// The step a trigger inserts already fired, as [`start_with_fired_step`] returns it.
fn fired_step(escalation: &NewEscalation, escalation_id: i64, id: i64) -> StepRow {
    StepRow {
        id,
        escalation_id,
        incident_id: escalation.incident_id,
        level: 0,
        round: 0,
        due_at: escalation.started_at,
        state: FIRED.to_owned(),
        fired_at: Some(escalation.started_at),
    }
}

/// SQLite's side of [`start_with_fired_step`]: the escalation, then both steps in one insert,
/// without `RETURNING` as in [`insert_escalation`]; the ids come from `last_insert_rowid()`.
fn start_in_two_statements(
    sqlite: &mut diesel::SqliteConnection,
    escalation: &NewEscalation,
    next: Option<NextStep>,
) -> QueryResult<StepRow> {
    use diesel::sql_types::{BigInt, Integer, Timestamp};
    const FIRED_ONLY: &str = "INSERT INTO escalation_steps \
        (escalation_id, incident_id, level, round, due_at, state, fired_at) \
        VALUES (?1, ?2, 0, 0, ?3, 'fired', ?3)";
    const FIRED_AND_NEXT: &str = "INSERT INTO escalation_steps \
        (escalation_id, incident_id, level, round, due_at, state, fired_at) \
        VALUES (?1, ?2, 0, 0, ?3, 'fired', ?3), (?1, ?2, ?4, ?5, ?6, 'pending', NULL)";
    let at = escalation.started_at;
    let escalation_id = insert_escalation_without_returning(sqlite, escalation)?;
    let steps = |sql| {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(escalation_id)
            .bind::<BigInt, _>(escalation.incident_id)
            .bind::<Timestamp, _>(at)
    };
    let fired_id = match next {
        Some(next) => {
            KeptPrepared(
                steps(FIRED_AND_NEXT)
                    .bind::<Integer, _>(next.level)
                    .bind::<Integer, _>(next.round)
                    .bind::<Timestamp, _>(next.due_at),
            )
            .load::<NoRows>(sqlite)?;
            // One statement inserts its rows in order, each taking the next id: the fired
            // step's is the one before the last.
            last_insert_rowid(sqlite)? - 1
        }
        None => {
            KeptPrepared(steps(FIRED_ONLY)).load::<NoRows>(sqlite)?;
            last_insert_rowid(sqlite)?
        }
    };
    Ok(fired_step(escalation, escalation_id, fired_id))
}

/// Ends an incident's running escalation: its pending step will not fire, even when a worker
/// claimed it a moment ago (firing is guarded by the state).
pub fn stop_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    if let DbConn::Sqlite(sqlite) = conn {
        return stop_for_incident_without_returning(sqlite, incident_id, reason, at);
    }
    // PostgreSQL keeps a statement prepared only when it reads rows from it.
    let cancel = diesel::update(
        escalation_steps::table
            .filter(escalation_steps::incident_id.eq(incident_id))
            .filter(is_pending()),
    )
    .set(escalation_steps::state.eq(CANCELLED));
    struct CancelSteps;
    returning_ids_as::<CancelSteps, _>(conn, cancel.returning(escalation_steps::id))?;
    let end = diesel::update(
        escalations::table
            .filter(escalations::incident_id.eq(incident_id))
            .filter(escalations::ended_at.is_null()),
    )
    .set((
        escalations::ended_at.eq(Some(at)),
        escalations::end_reason.eq(Some(reason)),
    ));
    struct EndEscalation;
    returning_ids_as::<EndEscalation, _>(conn, end.returning(escalations::id))?;
    Ok(())
}

/// SQLite's side of [`stop_for_incident`]: without `RETURNING`, which SQLite runs through a
/// temporary b-tree it opens and closes every time; every acknowledgement runs these two.
fn stop_for_incident_without_returning(
    sqlite: &mut diesel::SqliteConnection,
    incident_id: i64,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    KeptPrepared(
        diesel::sql_query(
            "UPDATE escalation_steps SET state = 'cancelled' \
             WHERE incident_id = ?1 AND state = 'pending'",
        )
        .bind::<BigInt, _>(incident_id),
    )
    .load::<NoRows>(sqlite)?;
    KeptPrepared(
        diesel::sql_query(
            "UPDATE escalations SET ended_at = ?1, end_reason = ?2 \
             WHERE incident_id = ?3 AND ended_at IS NULL",
        )
        .bind::<Timestamp, _>(at)
        .bind::<Text, _>(reason)
        .bind::<BigInt, _>(incident_id),
    )
    .load::<NoRows>(sqlite)?;
    Ok(())
}

/// Leases up to `limit` due steps to `token`.
pub fn claim_due(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<StepRow>> {
    let due = escalation_steps::table
        .filter(is_pending())
        .filter(escalation_steps::due_at.le(now))
        .filter(
            escalation_steps::locked_until
                .is_null()
                .or(escalation_steps::locked_until.lt(now)),
        )
        .order((escalation_steps::due_at, escalation_steps::id))
        .select(escalation_steps::id);
    // Kept prepared, as the other claims (`notifications::claim_due`).
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(pg) => due.limit(limit).for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(sqlite) => first_rows(sqlite, due, limit)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease = diesel::update(escalation_steps::table.filter(escalation_steps::id.eq_any(&ids)))
        .set((
            escalation_steps::locked_by.eq(token),
            escalation_steps::locked_until.eq(lease_until),
        ));
    returning_ids(conn, lease.returning(escalation_steps::id))?;
    let claimed = escalation_steps::table
        .filter(escalation_steps::id.eq_any(&ids))
        .order((escalation_steps::due_at, escalation_steps::id));
    on_backend!(conn, c => KeptPrepared(claimed.select(StepRow::as_select())).load(c))
}

/// Marks a claimed step fired (or cancelled), only while it is still pending and `token`
/// holds its lease. False otherwise: it was cancelled, or another worker owns it now.
pub fn finish_step(
    conn: &mut DbConn,
    id: i64,
    token: &str,
    state: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let update = diesel::update(
        escalation_steps::table
            .filter(escalation_steps::id.eq(id))
            .filter(is_pending())
            .filter(escalation_steps::locked_by.eq(token)),
    )
    .set((
        escalation_steps::state.eq(state),
        escalation_steps::fired_at.eq(Some(at)),
        escalation_steps::locked_by.eq(None::<String>),
        escalation_steps::locked_until.eq(None::<NaiveDateTime>),
    ));
    Ok(returning_id(conn, update.returning(escalation_steps::id))?.is_some())
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<EscalationRow> {
    escalations::table
        .find(id)
        .select(EscalationRow::as_select())
        .get_result(conn)
}

/// The incident's latest escalation, running or ended.
pub fn latest_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
) -> QueryResult<Option<EscalationRow>> {
    Ok(first_rows_of!(
        conn,
        escalations::table
            .filter(escalations::incident_id.eq(incident_id))
            .order(escalations::id.desc())
            .select(EscalationRow::as_select()),
        1
    )?
    .into_iter()
    .next())
}

/// The step waiting to fire for the incident, if any.
pub fn pending_step(conn: &mut DbConn, incident_id: i64) -> QueryResult<Option<StepRow>> {
    Ok(first_rows_of!(
        conn,
        escalation_steps::table
            .filter(escalation_steps::incident_id.eq(incident_id))
            .filter(is_pending())
            .order(escalation_steps::id.desc())
            .select(StepRow::as_select()),
        1
    )?
    .into_iter()
    .next())
}

/// The last step that fired for the incident, if any.
pub fn last_fired_step(conn: &mut DbConn, incident_id: i64) -> QueryResult<Option<StepRow>> {
    Ok(first_rows_of!(
        conn,
        escalation_steps::table
            .filter(escalation_steps::incident_id.eq(incident_id))
            .filter(escalation_steps::state.eq(FIRED))
            .order(escalation_steps::id.desc())
            .select(StepRow::as_select()),
        1
    )?
    .into_iter()
    .next())
}

/// Makes the incident's pending step due at `now` ("Escalate now"). False when none waits.
pub fn make_due(conn: &mut DbConn, incident_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(
        escalation_steps::table
            .filter(escalation_steps::incident_id.eq(incident_id))
            .filter(is_pending()),
    )
    .set(escalation_steps::due_at.eq(now))
    .execute(conn)?;
    if updated > 0 {
        wake::after_commit(conn, WAKE_CHANNEL)?;
    }
    Ok(updated > 0)
}

/// Steps waiting (due or not), and when the oldest due one became due: for `/metrics`.
pub fn queue_stats(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let pending = escalation_steps::table
        .filter(is_pending())
        .count()
        .get_result(conn)?;
    let oldest_due = escalation_steps::table
        .filter(is_pending())
        .filter(escalation_steps::due_at.le(now))
        .select(diesel::dsl::min(escalation_steps::due_at))
        .get_result(conn)?;
    Ok((pending, oldest_due))
}

/// The escalation policy a service pages, as a trigger copies it into the incident's
/// escalation (read with the service: `services::find_for_trigger`).
#[derive(Debug, Clone, Queryable)]
pub struct ServicePolicy {
    pub id: i64,
    pub name: String,
    pub repeat_policy: i32,
    /// Its rules as an escalation freezes them (JSON); None when not computed yet.
    pub frozen_rules: Option<String>,
}

/// A schedule's name by id.
pub fn schedule_name(conn: &mut DbConn, schedule_id: i64) -> QueryResult<Option<String>> {
    use super::schema::schedules;
    schedules::table
        .find(schedule_id)
        .select(schedules::name)
        .get_result(conn)
        .optional()
}

/// Steps not fired or cancelled yet (see `db::IsPending`).
fn is_pending() -> super::IsPending<escalation_steps::state> {
    super::IsPending(escalation_steps::state)
}
