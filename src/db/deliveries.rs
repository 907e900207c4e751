//! Persistence of the webhook outbox: deliveries and their attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{deliveries, delivery_attempts, integrations};
use super::{first_rows, returning_id, returning_ids, shared_run, wake, DbConn, KeptPrepared};

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
// A None is bound as NULL (each column's default): the statement's SQL stays the same
// (`db::KeptAs`).
#[diesel(treat_none_as_default_value = false)]
pub struct NewDeliveryRow {
    pub unique_id: String,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub event_type: String,
    pub payload: String,
    pub is_test: bool,
    pub state: &'static str,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// The PostgreSQL channel on which committed deliveries wake every instance's sender.
pub const WAKE_CHANNEL: &str = "klaxon_deliveries";

/// Queues a delivery; the senders of every instance are woken once the transaction commits. In
/// a run of grouped alerts, the row is inserted at the run's end (`db::shared_run`).
pub fn insert(conn: &mut DbConn, row: NewDeliveryRow) -> QueryResult<()> {
    wake::after_commit(conn, WAKE_CHANNEL)?;
    shared_run::insert(conn, row, |run| &mut run.deliveries, insert_all)
}

/// Inserts `rows` in this order: one statement on PostgreSQL.
pub(crate) fn insert_all(conn: &mut DbConn, rows: &[NewDeliveryRow]) -> QueryResult<()> {
    insert_rows!(conn, rows, deliveries::table, deliveries::id)
}

/// Deliveries of an incident, in the order they were enqueued.
pub fn for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<Vec<DeliveryRow>> {
    deliveries::table
        .filter(deliveries::incident_id.eq(incident_id))
        .order(deliveries::id)
        .select(DeliveryRow::as_select())
        .load(conn)
}

/// Where a delivery stands, as an incident's timeline shows it beside its entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct DeliveryState {
    pub id: i64,
    pub unique_id: String,
    pub event_type: String,
    pub state: String,
    pub attempt_count: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

/// An incident's deliveries as they stand now, with the URL each goes to. An incident has a
/// few (one per transition and Outgoing Webhook, and redeliveries): they are read whole, in the
/// order of `deliveries_by_incident`, whatever their state.
pub fn states_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
) -> QueryResult<Vec<(DeliveryState, Option<String>)>> {
    deliveries::table
        .inner_join(integrations::table)
        .filter(deliveries::incident_id.eq(incident_id))
        .order((deliveries::integration_id, deliveries::id))
        .select((DeliveryState::as_select(), integrations::url))
        .load(conn)
}

/// How many deliveries an incident has and how many attempts they made: changes whenever one
/// of them is tried (which adds no timeline entry until it finishes), for the incident page's
/// live version.
pub fn progress_for_incident(conn: &mut DbConn, incident_id: i64) -> QueryResult<(i64, i64)> {
    let (count, attempts): (i64, Option<i64>) = deliveries::table
        .filter(deliveries::incident_id.eq(incident_id))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::sum(deliveries::attempt_count),
        ))
        .get_result(conn)?;
    Ok((count, attempts.unwrap_or(0)))
}

/// A claimed delivery with what sending it needs from its integration.
#[derive(Debug, Clone, Queryable)]
pub struct ClaimedRow {
    pub id: i64,
    pub unique_id: String,
    pub integration_id: i64,
    pub incident_id: Option<i64>,
    pub event_type: String,
    pub payload: String,
    pub is_test: bool,
    pub attempt_count: i32,
    pub url: Option<String>,
    pub secret: Option<String>,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub integration_enabled: bool,
    pub integration_deleted_at: Option<NaiveDateTime>,
    pub service_id: i64,
}

/// Due deliveries that may go out now: pending, due, not leased (or the lease expired), and
/// with no earlier pending delivery of the same integration and incident (per-incident order).
macro_rules! due_ids {
    ($now:expr) => {{
        let earlier = diesel::alias!(deliveries as earlier);
        deliveries::table
            .filter(deliveries::state.eq(PENDING))
            .filter(deliveries::next_attempt_at.le($now))
            .filter(
                deliveries::locked_until
                    .is_null()
                    .or(deliveries::locked_until.lt($now)),
            )
            .filter(diesel::dsl::not(diesel::dsl::exists(
                earlier
                    .filter(
                        earlier
                            .field(deliveries::integration_id)
                            .eq(deliveries::integration_id),
                    )
                    .filter(
                        earlier
                            .field(deliveries::incident_id)
                            .eq(deliveries::incident_id),
                    )
                    .filter(earlier.field(deliveries::state).eq(PENDING))
                    .filter(earlier.field(deliveries::id).lt(deliveries::id)),
            )))
            .order((deliveries::next_attempt_at, deliveries::id))
            .select(deliveries::id)
    }};
}

/// Leases up to `limit` due deliveries to `token` until `lease_until`. Runs inside a write
/// transaction: on PostgreSQL the rows are taken `FOR UPDATE SKIP LOCKED`, so concurrent
/// claimers never wait on each other; on SQLite the transaction holds the write lock.
pub fn claim_due(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedRow>> {
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(pg) => {
            // Walk the due index in claim order and stop at the limit. When a backlog builds
            // faster than autovacuum refreshes the statistics, the planner would otherwise
            // fetch and sort every due row on each claim (measured: 21 ms instead of 0.3 ms
            // with 3 000 waiting), and the sender falls further behind the more is waiting.
            // The setting lasts until the claim's transaction ends (no round trip to undo it):
            // the statements after this one find their rows by id, unsorted.
            diesel::sql_query("SET LOCAL enable_sort = off").execute(pg)?;
            due_ids!(now)
                .limit(limit)
                .for_update()
                .skip_locked()
                .load(pg)?
        }
        DbConn::Sqlite(sqlite) => first_rows(sqlite, due_ids!(now), limit)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease = diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids))).set((
        deliveries::locked_by.eq(token),
        deliveries::locked_until.eq(lease_until),
    ));
    let _: Vec<i64> =
        on_backend!(&mut *conn, c => KeptPrepared(lease.returning(deliveries::id)).load(c))?;
    let claimed = deliveries::table
        .inner_join(integrations::table)
        .filter(deliveries::id.eq_any(&ids))
        .select((
            deliveries::id,
            deliveries::unique_id,
            deliveries::integration_id,
            deliveries::incident_id,
            deliveries::event_type,
            deliveries::payload,
            deliveries::is_test,
            deliveries::attempt_count,
            integrations::url,
            integrations::secret,
            integrations::previous_secret,
            integrations::previous_secret_expires_at,
            integrations::is_enabled,
            integrations::deleted_at,
            integrations::service_id,
        ));
    // Unordered: every row claimed starts at once, and no two of one incident to one
    // integration are claimed together.
    on_backend!(conn, c => KeptPrepared(claimed).load(c))
}

/// Whether another delivery is pending for the integration and incident of any of `finished`
/// (given as delivery, integration, incident), after it: the next webhook of an incident, due
/// once the one before it is done.
pub fn any_pending_behind(
    conn: &mut DbConn,
    finished: &[(i64, i64, Option<i64>)],
) -> QueryResult<bool> {
    match conn {
        // One statement for the batch: a round trip each would cost what the claim it saves does.
        DbConn::Postgres(pg) => {
            let incidents: Vec<i64> = finished.iter().filter_map(|f| f.2).collect();
            if incidents.is_empty() {
                return Ok(false);
            }
            let first = finished.iter().map(|f| f.0).min().unwrap_or_default();
            let pending: Vec<(i64, i64, Option<i64>)> = deliveries::table
                .filter(deliveries::incident_id.eq_any(&incidents))
                .filter(deliveries::id.gt(first))
                .filter(deliveries::state.eq(PENDING))
                .select((
                    deliveries::id,
                    deliveries::integration_id,
                    deliveries::incident_id,
                ))
                .load(pg)?;
            Ok(pending.iter().any(|(id, integration, incident)| {
                finished
                    .iter()
                    .any(|f| f.0 < *id && (f.1, f.2) == (*integration, *incident))
            }))
        }
        // SQLite pays no round trip; each question walks `deliveries_by_incident` to its rows
        // (a batch's `IN` list let the planner walk every pending row instead, in a storm).
        DbConn::Sqlite(sqlite) => {
            for (id, integration, incident) in finished {
                let Some(incident) = *incident else { continue };
                let behind = deliveries::table
                    .filter(deliveries::incident_id.eq(incident))
                    .filter(deliveries::integration_id.eq(integration))
                    .filter(deliveries::id.gt(id))
                    .filter(deliveries::state.eq(PENDING))
                    .select(deliveries::id);
                // The first row only, without a bound LIMIT (see the top of `db`).
                let found: Vec<i64> = first_rows(sqlite, KeptPrepared(behind), 1)?;
                if !found.is_empty() {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// What an attempt ended with, as stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = delivery_attempts)]
// A None is bound as NULL (each column's default): the statement's SQL stays the same
// (`db::KeptAs`).
#[diesel(treat_none_as_default_value = false)]
pub struct NewAttemptRow {
    pub delivery_id: i64,
    pub started_at: NaiveDateTime,
    pub duration_ms: i64,
    pub request_headers: String,
    pub status_code: Option<i32>,
    pub response_headers: String,
    pub response_body: String,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
}

/// Inserts `attempts` in their order: one statement on PostgreSQL.
pub fn insert_attempts(conn: &mut DbConn, attempts: &[NewAttemptRow]) -> QueryResult<()> {
    insert_rows!(
        conn,
        attempts,
        delivery_attempts::table,
        delivery_attempts::id
    )
}

/// The leased row by id, only while `token` still holds its lease. (Updates through it
/// return the id rather than count rows, so they stay prepared: see `KeptPrepared`.)
fn leased(
    id: i64,
    token: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<deliveries::table, i64>,
    diesel::dsl::Eq<deliveries::locked_by, String>,
> {
    deliveries::table
        .find(id)
        .filter(deliveries::locked_by.eq(token.to_owned()))
}

/// Marks the deliveries `ids` succeeded or finally failed, those whose lease `token` still
/// holds; returns their ids.
pub fn finish_all(
    conn: &mut DbConn,
    ids: &[i64],
    token: &str,
    state: &str,
    status_code: Option<i32>,
    error: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    let leased = deliveries::table
        .filter(deliveries::id.eq_any(ids))
        .filter(deliveries::locked_by.eq(token));
    let update = diesel::update(leased).set((
        deliveries::state.eq(state),
        deliveries::attempt_count.eq(deliveries::attempt_count + 1),
        deliveries::last_status_code.eq(status_code),
        deliveries::last_error.eq(error),
        deliveries::completed_at.eq(Some(at)),
        deliveries::locked_by.eq(None::<String>),
        deliveries::locked_until.eq(None::<NaiveDateTime>),
    ));
    returning_ids(conn, update.returning(deliveries::id))
}

/// Puts the delivery back in the queue for `next_attempt_at`. False when the lease was lost.
pub fn schedule_retry(
    conn: &mut DbConn,
    id: i64,
    token: &str,
    status_code: Option<i32>,
    error: Option<&str>,
    next_attempt_at: NaiveDateTime,
) -> QueryResult<bool> {
    let update = diesel::update(leased(id, token)).set((
        deliveries::attempt_count.eq(deliveries::attempt_count + 1),
        deliveries::last_status_code.eq(status_code),
        deliveries::last_error.eq(error),
        deliveries::next_attempt_at.eq(next_attempt_at),
        deliveries::locked_by.eq(None::<String>),
        deliveries::locked_until.eq(None::<NaiveDateTime>),
    ));
    Ok(returning_id(conn, update.returning(deliveries::id))?.is_some())
}

pub fn count_pending(conn: &mut DbConn) -> QueryResult<i64> {
    deliveries::table
        .filter(deliveries::state.eq(PENDING))
        .count()
        .get_result(conn)
}

/// When the oldest due pending delivery became due.
pub fn oldest_due(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    deliveries::table
        .filter(deliveries::state.eq(PENDING))
        .filter(deliveries::next_attempt_at.le(now))
        .select(diesel::dsl::min(deliveries::next_attempt_at))
        .get_result(conn)
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<DeliveryRow>> {
    deliveries::table
        .filter(deliveries::unique_id.eq(unique_id))
        .select(DeliveryRow::as_select())
        .get_result(conn)
        .optional()
}

/// An integration's deliveries, newest first, optionally of one state and event type.
pub fn list_for_integration(
    conn: &mut DbConn,
    integration_id: i64,
    state: Option<&str>,
    event_type: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = deliveries::table
        .filter(deliveries::integration_id.eq(integration_id))
        .order(deliveries::id.desc())
        .offset(offset)
        .limit(limit)
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(deliveries::state.eq(state.to_owned()));
    }
    if let Some(event_type) = event_type {
        query = query.filter(deliveries::event_type.eq(event_type.to_owned()));
    }
    query.load(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = delivery_attempts)]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub started_at: NaiveDateTime,
    pub duration_ms: i64,
    pub request_headers: String,
    pub status_code: Option<i32>,
    pub response_headers: String,
    pub response_body: String,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
}

pub fn attempts(conn: &mut DbConn, delivery_id: i64) -> QueryResult<Vec<AttemptRow>> {
    delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(delivery_id))
        .order(delivery_attempts::id)
        .select(AttemptRow::as_select())
        .load(conn)
}

// An integration's trouble (whether it is failing: see `domain::integrations::DeliveryTrouble`).
// Each statement walks `deliveries_by_integration_state` over one state of one integration and
// stops early, so none grows with the deliveries that succeeded.

/// The first row of a query in the index's order. On SQLite by stepping to it, instead of a
/// bound LIMIT, which keeps the statement prepared (see `db` on LIMIT).
macro_rules! first_row {
    ($conn:expr, $row:ty, $query:expr) => {
        match $conn {
            DbConn::Postgres(pg) => $query.limit(1).get_result::<$row>(pg).optional(),
            DbConn::Sqlite(sqlite) => $query
                .load_iter::<$row, diesel::connection::DefaultLoadingMode>(sqlite)?
                .next()
                .transpose(),
        }
    };
}

/// How many of the integration's deliveries are retrying (pending after at least one failed
/// attempt), and when the first of them is due.
pub fn retrying(
    conn: &mut DbConn,
    integration_id: i64,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    deliveries::table
        .filter(deliveries::integration_id.eq(integration_id))
        .filter(deliveries::state.eq(PENDING))
        .filter(deliveries::attempt_count.gt(0))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(deliveries::next_attempt_at),
        ))
        .get_result(conn)
}

/// The error of the integration's newest retrying delivery.
pub fn newest_retrying_error(
    conn: &mut DbConn,
    integration_id: i64,
) -> QueryResult<Option<Option<String>>> {
    // Pending rows have no completed_at: ordering by it first lets the walk follow the index.
    first_row!(
        conn,
        Option<String>,
        deliveries::table
            .filter(deliveries::integration_id.eq(integration_id))
            .filter(deliveries::state.eq(PENDING))
            .filter(deliveries::attempt_count.gt(0))
            .order((deliveries::completed_at.desc(), deliveries::id.desc()))
            .select(deliveries::last_error)
    )
}

/// When a delivery finished and the error it finished with.
#[derive(Debug, Clone, Queryable)]
pub struct Finished {
    pub completed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

/// The integration's delivery in `state` (succeeded or failed) that finished last.
pub fn last_finished(
    conn: &mut DbConn,
    integration_id: i64,
    state: &str,
) -> QueryResult<Option<Finished>> {
    first_row!(
        conn,
        Finished,
        deliveries::table
            .filter(deliveries::integration_id.eq(integration_id))
            .filter(deliveries::state.eq(state))
            .order((deliveries::completed_at.desc(), deliveries::id.desc()))
            .select((deliveries::completed_at, deliveries::last_error))
    )
}

/// How many of the integration's deliveries failed after `since` (all of them without it),
/// counting at most `cap`: a receiver down for a week may have failed thousands.
pub fn count_failed_since(
    conn: &mut DbConn,
    integration_id: i64,
    since: Option<NaiveDateTime>,
    cap: usize,
) -> QueryResult<usize> {
    let since = since.unwrap_or_default();
    macro_rules! newest_first {
        () => {
            deliveries::table
                .filter(deliveries::integration_id.eq(integration_id))
                .filter(deliveries::state.eq(FAILED))
                .filter(deliveries::completed_at.gt(since))
                .order((deliveries::completed_at.desc(), deliveries::id.desc()))
                .select(deliveries::id)
        };
    }
    match conn {
        DbConn::Postgres(pg) => Ok(newest_first!()
            .limit(i64::try_from(cap).unwrap_or(i64::MAX))
            .load::<i64>(pg)?
            .len()),
        DbConn::Sqlite(sqlite) => newest_first!()
            .load_iter::<i64, diesel::connection::DefaultLoadingMode>(sqlite)?
            .take(cap)
            .try_fold(0, |count, id| id.map(|_| count + 1)),
    }
}
