//! Persistence of notifications (the outbox of emails to people) and their attempts.

use std::cell::RefCell;

use chrono::NaiveDateTime;
use diesel::dsl::Eq;
use diesel::prelude::*;
use prometheus_client::metrics::counter::Counter;

use super::schema::{incidents, notification_attempts, notifications, services, users};
use super::{
    first_rows, returning_id, returning_ids, returning_ids_as, shared_run, wake, DbConn, KeptAs,
    KeptPrepared, NoRows,
};

/// The channel that wakes the notifiers when a notification is enqueued.
pub const WAKE_CHANNEL: &str = "klaxon_notifications";

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
/// Never sent: what it was for no longer needed it (a delayed page for an incident someone
/// acknowledged). `last_error` says why.
pub const CANCELLED: &str = "cancelled";

pub const TRIGGERED: &str = "triggered";
pub const RESOLVED: &str = "resolved";
/// A contact method's confirmation link; the only kind without an incident.
pub const CONFIRM_CONTACT: &str = "confirm_contact";

/// Why an email of an instance without an SMTP server was not sent.
pub const NOT_CONFIGURED: &str = "not sent: email is not configured";

/// Whether the instance whose transaction queues a notification sends email.
///
/// Without an SMTP server (`KLAXON_SMTP_URL` unset, as on a fresh install) a notification is
/// written already ended, "not sent: email is not configured", by the transaction that queues
/// it. Queued as pending, each one cost a claim and a record in later transactions only to
/// come to that same row, and on SQLite those took the one writer's time from the incidents
/// of a storm (docs/decisions.md, "Email without an SMTP server").
#[derive(Clone, Default)]
pub enum Sending {
    #[default]
    Email,
    /// Nowhere to send: recorded as not sent; `not_sent` counts them once committed.
    Nowhere { not_sent: Counter },
}

thread_local! {
    /// How the instance whose write transaction runs on this thread sends: set by `Db`'s write
    /// paths around every transaction (a thread of the blocking pool serves every instance of
    /// a process, the tests' several apps included).
    static SENDING: RefCell<Sending> = const { RefCell::new(Sending::Email) };
}

/// Runs `work` (a write transaction of an instance that sends as `sending`) on this thread.
pub(crate) fn sending_as<T>(sending: &Sending, work: impl FnOnce() -> T) -> T {
    let before = SENDING.with(|now| now.replace(sending.clone()));
    let result = work();
    SENDING.with(|now| *now.borrow_mut() = before);
    result
}

pub struct NewNotification {
    pub unique_id: String,
    pub incident_id: Option<i64>,
    pub escalation_step_id: Option<i64>,
    pub user_id: i64,
    pub address: String,
    pub kind: &'static str,
    pub due_at: NaiveDateTime,
}

/// A notification as it is written: pending, or ended at `ended_at` as not sent.
pub(crate) struct NotificationRow {
    new: NewNotification,
    ended_at: Option<NaiveDateTime>,
}

/// A new notification's columns.
type NotificationValues<'a> = (
    (
        Eq<notifications::unique_id, &'a str>,
        Eq<notifications::incident_id, Option<i64>>,
        Eq<notifications::escalation_step_id, Option<i64>>,
        Eq<notifications::user_id, i64>,
        Eq<notifications::address, &'a str>,
        Eq<notifications::kind, &'static str>,
    ),
    Eq<notifications::state, &'static str>,
    Eq<notifications::next_attempt_at, NaiveDateTime>,
    Eq<notifications::created_at, NaiveDateTime>,
    Eq<notifications::last_error, Option<&'static str>>,
    Eq<notifications::completed_at, Option<NaiveDateTime>>,
);

fn values(row: &NotificationRow) -> NotificationValues<'_> {
    let new = &row.new;
    let ended = row.ended_at.is_some();
    (
        (
            notifications::unique_id.eq(new.unique_id.as_str()),
            notifications::incident_id.eq(new.incident_id),
            notifications::escalation_step_id.eq(new.escalation_step_id),
            notifications::user_id.eq(new.user_id),
            notifications::address.eq(new.address.as_str()),
            notifications::kind.eq(new.kind),
        ),
        notifications::state.eq(if ended { FAILED } else { PENDING }),
        notifications::next_attempt_at.eq(new.due_at),
        notifications::created_at.eq(new.due_at),
        notifications::last_error.eq(ended.then_some(NOT_CONFIGURED)),
        notifications::completed_at.eq(row.ended_at),
    )
}

/// Queues an email, sent from `due_at` on; the notifiers of every instance are woken once the
/// transaction commits (a delayed one is found by their polling when it becomes due). In a run
/// of grouped alerts, the row is inserted at the run's end (`db::shared_run`).
///
/// False when the instance sends no email ([`Sending`]): the notification is recorded as not
/// sent instead, and counted once the transaction commits.
pub fn insert(conn: &mut DbConn, new: NewNotification) -> QueryResult<bool> {
    let ended_at = match SENDING.with(|sending| sending.borrow().clone()) {
        Sending::Email => {
            wake::after_commit(conn, WAKE_CHANNEL)?;
            None
        }
        Sending::Nowhere { not_sent } => {
            wake::count_after_commit(&not_sent);
            Some(super::now())
        }
    };
    let row = NotificationRow { new, ended_at };
    shared_run::insert(conn, row, |run| &mut run.notifications, insert_all)?;
    Ok(ended_at.is_none())
}

/// Inserts `rows` in this order: one statement on PostgreSQL.
pub(crate) fn insert_all(conn: &mut DbConn, rows: &[NotificationRow]) -> QueryResult<()> {
    let values: Vec<_> = rows.iter().map(values).collect();
    insert_rows!(conn, &values, notifications::table, notifications::id)
}

/// A claimed notification with what its email says.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub id: i64,
    pub unique_id: String,
    pub user_id: i64,
    pub address: String,
    pub kind: String,
    pub attempt_count: i32,
    pub created_at: NaiveDateTime,
    pub recipient_first_name: String,
    /// None for a confirmation email.
    pub incident: Option<NotifiedIncident>,
}

#[derive(Debug, Clone, Queryable)]
pub struct NotifiedIncident {
    pub id: i64,
    pub number: i64,
    pub title: String,
    pub summary: String,
    pub urgency: i32,
    pub created: NaiveDateTime,
    pub service_name: String,
}

type ClaimedRow = (
    i64,
    String,
    i64,
    String,
    String,
    i32,
    NaiveDateTime,
    Option<i64>,
    String,
);

pub fn claim_due(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedNotification>> {
    let due = notifications::table
        .filter(is_pending())
        .filter(notifications::next_attempt_at.le(now))
        .filter(
            notifications::locked_until
                .is_null()
                .or(notifications::locked_until.lt(now)),
        )
        .order((notifications::next_attempt_at, notifications::id))
        .select(notifications::id);
    // Every statement of a claim stays prepared, as the webhook sender's (`deliveries::claim_due`):
    // a burst of pages claims again and again, and on SQLite in the writer thread.
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(pg) => due.limit(limit).for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(sqlite) => first_rows(sqlite, due, limit)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease = diesel::update(notifications::table.filter(notifications::id.eq_any(&ids))).set((
        notifications::locked_by.eq(token),
        notifications::locked_until.eq(lease_until),
    ));
    returning_ids(conn, lease.returning(notifications::id))?;
    let claimed = notifications::table
        .inner_join(users::table)
        .filter(notifications::id.eq_any(&ids))
        .order((notifications::next_attempt_at, notifications::id))
        .select((
            notifications::id,
            notifications::unique_id,
            notifications::user_id,
            notifications::address,
            notifications::kind,
            notifications::attempt_count,
            notifications::created_at,
            notifications::incident_id,
            users::first_name,
        ));
    let rows: Vec<ClaimedRow> = on_backend!(&mut *conn, c => KeptPrepared(claimed).load(c))?;
    // Confirmation emails have no incident: the incidents are read on their own rather than
    // through an outer join.
    let incident_ids: Vec<i64> = rows.iter().filter_map(|row| row.7).collect();
    let incidents: Vec<NotifiedIncident> = if incident_ids.is_empty() {
        Vec::new()
    } else {
        let read = incidents::table
            .inner_join(services::table)
            .filter(incidents::id.eq_any(&incident_ids))
            .select((
                incidents::id,
                incidents::incident_number,
                incidents::title,
                incidents::summary,
                incidents::urgency,
                incidents::creation_date,
                services::name,
            ));
        on_backend!(conn, c => KeptPrepared(read).load(c))?
    };
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                unique_id,
                user_id,
                address,
                kind,
                attempt_count,
                created_at,
                incident_id,
                first_name,
            )| {
                ClaimedNotification {
                    id,
                    unique_id,
                    user_id,
                    address,
                    kind,
                    attempt_count,
                    created_at,
                    recipient_first_name: first_name,
                    incident: incident_id.and_then(|incident_id| {
                        incidents.iter().find(|i| i.id == incident_id).cloned()
                    }),
                }
            },
        )
        .collect())
}

#[derive(Insertable)]
#[diesel(table_name = notification_attempts)]
// A None is bound as NULL (each column's default): the statement's SQL stays the same
// (`db::KeptAs`).
#[diesel(treat_none_as_default_value = false)]
pub struct NewAttempt<'a> {
    pub notification_id: i64,
    pub started_at: NaiveDateTime,
    pub duration_ms: i64,
    pub reply_code: Option<i32>,
    pub reply_text: &'a str,
    pub error: Option<&'a str>,
}

/// Inserts `attempts` in their order: one statement on PostgreSQL.
pub fn insert_attempts(conn: &mut DbConn, attempts: &[NewAttempt<'_>]) -> QueryResult<()> {
    insert_rows!(
        conn,
        attempts,
        notification_attempts::table,
        notification_attempts::id
    )
}

/// Finishes the leased notifications `ids` (`state`, `error`) whose lease `token` still holds
/// and that were not cancelled meanwhile (those stay cancelled); returns their ids.
pub fn finish_all(
    conn: &mut DbConn,
    ids: &[i64],
    token: &str,
    state: &str,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    let leased = notifications::table
        .filter(notifications::id.eq_any(ids))
        .filter(notifications::locked_by.eq(token))
        .filter(is_pending());
    let update = diesel::update(leased).set((
        notifications::state.eq(state),
        notifications::attempt_count.eq(notifications::attempt_count + 1),
        notifications::last_error.eq(error),
        notifications::next_attempt_at.eq(now),
        notifications::completed_at.eq(Some(now)),
        notifications::locked_by.eq(None::<String>),
        notifications::locked_until.eq(None::<NaiveDateTime>),
    ));
    returning_ids(conn, update.returning(notifications::id))
}

/// Puts a leased notification back in the queue for `retry_at`. False when the lease was lost
/// (or the notification was cancelled meanwhile: it stays cancelled).
pub fn schedule_retry(
    conn: &mut DbConn,
    id: i64,
    token: &str,
    error: Option<&str>,
    retry_at: NaiveDateTime,
) -> QueryResult<bool> {
    let leased = notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::locked_by.eq(token))
        .filter(is_pending());
    let update = diesel::update(leased).set((
        notifications::attempt_count.eq(notifications::attempt_count + 1),
        notifications::last_error.eq(error),
        notifications::next_attempt_at.eq(retry_at),
        notifications::locked_by.eq(None::<String>),
        notifications::locked_until.eq(None::<NaiveDateTime>),
    ));
    Ok(returning_id(conn, update.returning(notifications::id))?.is_some())
}

/// A notification as the incident page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct NotificationListRow {
    pub unique_id: String,
    pub kind: String,
    pub address: String,
    pub state: String,
    pub attempt_count: i32,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub first_name: String,
    pub last_name: String,
}

/// The incident's notifications, newest first, at most `limit`.
pub fn for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    limit: i64,
) -> QueryResult<Vec<NotificationListRow>> {
    first_rows_of!(
        conn,
        notifications::table
            .inner_join(users::table)
            .filter(notifications::incident_id.eq(incident_id))
            .order(notifications::id.desc())
            .select((
                notifications::unique_id,
                notifications::kind,
                notifications::address,
                notifications::state,
                notifications::attempt_count,
                notifications::last_error,
                notifications::created_at,
                notifications::completed_at,
                users::first_name,
                users::last_name,
            )),
        limit
    )
}

/// How many notifications the incident has and how many attempts they made: it changes with
/// every email queued or tried, so the incident page's live updates show each outcome.
pub fn progress(conn: &mut DbConn, incident_id: i64) -> QueryResult<(i64, i64)> {
    let (count, attempts): (i64, Option<i64>) = notifications::table
        .filter(notifications::incident_id.eq(incident_id))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::sum(notifications::attempt_count),
        ))
        .get_result(conn)?;
    Ok((count, attempts.unwrap_or(0)))
}

/// Who was emailed that the incident triggered and wants to hear it resolved (for the
/// "Resolved" email), once per person and address.
pub fn notified_users(conn: &mut DbConn, incident_id: i64) -> QueryResult<Vec<(i64, String)>> {
    let emailed = notifications::table
        .inner_join(users::table)
        .filter(notifications::incident_id.eq(incident_id))
        .filter(notifications::kind.eq(TRIGGERED))
        .filter(notifications::state.ne(CANCELLED))
        .filter(users::notify_on_resolve.eq(true))
        .select((notifications::user_id, notifications::address));
    // Every resolution runs this: kept under a marker, and the few rows made distinct here
    // rather than by SQLite, which would build a temporary b-tree for `DISTINCT`.
    struct NotifiedUsers;
    let mut rows: Vec<(i64, String)> =
        on_backend!(conn, c => KeptAs::<NotifiedUsers, _>::new(emailed).load(c))?;
    let mut seen = std::collections::HashSet::new();
    rows.retain(|row| seen.insert(row.clone()));
    Ok(rows)
}

/// Cancels the incident's paging emails not sent yet (delayed ones, and retries), except any a
/// notifier is sending at this moment.
pub fn cancel_pending_for_incident(
    conn: &mut DbConn,
    incident_id: i64,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let DbConn::Sqlite(sqlite) = conn else {
        return cancel_pending(conn, Unsent::OfIncident(incident_id), reason, at).map(drop);
    };
    // Without `RETURNING`, which SQLite runs through a temporary b-tree it opens and closes every
    // time: every acknowledgement and resolution runs this.
    KeptPrepared(
        diesel::sql_query(
            "UPDATE notifications SET state = 'cancelled', last_error = ?1, completed_at = ?2, \
             locked_by = NULL, locked_until = NULL \
             WHERE incident_id = ?3 AND kind = 'triggered' AND state = 'pending' \
             AND (locked_until IS NULL OR locked_until < ?2)",
        )
        .bind::<Text, _>(reason)
        .bind::<Timestamp, _>(at)
        .bind::<BigInt, _>(incident_id),
    )
    .load::<NoRows>(sqlite)?;
    Ok(())
}

/// Cancels every email to one person's address not sent yet (paging, resolved, confirmation),
/// except any a notifier is sending at this moment: the address was removed. Returns how many.
pub fn cancel_pending_to(
    conn: &mut DbConn,
    user_id: i64,
    address: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    cancel_pending(conn, Unsent::To { user_id, address }, reason, at)
}

/// Which unsent emails to cancel.
enum Unsent<'a> {
    /// An incident's paging emails.
    OfIncident(i64),
    /// Every email to one person's address.
    To { user_id: i64, address: &'a str },
}

fn cancel_pending(
    conn: &mut DbConn,
    which: Unsent<'_>,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let unsent = is_pending().and(
        notifications::locked_until
            .is_null()
            .or(notifications::locked_until.lt(at)),
    );
    let cancel = (
        notifications::state.eq(CANCELLED),
        notifications::last_error.eq(reason),
        notifications::completed_at.eq(Some(at)),
        notifications::locked_by.eq(None::<String>),
        notifications::locked_until.eq(None::<NaiveDateTime>),
    );
    let cancelled = match which {
        Unsent::OfIncident(incident_id) => {
            let emails = notifications::table
                .filter(unsent)
                .filter(notifications::incident_id.eq(incident_id))
                .filter(notifications::kind.eq(TRIGGERED));
            let update = diesel::update(emails).set(cancel);
            struct CancelOfIncident;
            returning_ids_as::<CancelOfIncident, _>(conn, update.returning(notifications::id))?
        }
        Unsent::To { user_id, address } => {
            let emails = notifications::table
                .filter(unsent)
                .filter(notifications::user_id.eq(user_id))
                .filter(notifications::address.eq(address));
            let update = diesel::update(emails).set(cancel);
            returning_ids(conn, update.returning(notifications::id))?
        }
    };
    Ok(cancelled.len())
}

/// How these notifications (by `unique_id`) went: (unique_id, state, last error).
pub fn outcomes(
    conn: &mut DbConn,
    unique_ids: &[String],
) -> QueryResult<Vec<(String, String, Option<String>)>> {
    if unique_ids.is_empty() {
        return Ok(Vec::new());
    }
    notifications::table
        .filter(notifications::unique_id.eq_any(unique_ids))
        .select((
            notifications::unique_id,
            notifications::state,
            notifications::last_error,
        ))
        .load(conn)
}

/// What an acknowledge link refers to.
#[derive(Debug, Clone, Queryable)]
pub struct LinkTarget {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub user_id: i64,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
}

pub fn find_link_target(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<LinkTarget>> {
    notifications::table
        .filter(notifications::unique_id.eq(unique_id))
        .select((
            notifications::id,
            notifications::incident_id,
            notifications::user_id,
            notifications::kind,
            notifications::created_at,
            notifications::acknowledged_at,
        ))
        .get_result(conn)
        .optional()
}

/// Uses up the notification's acknowledge link. False when it was already used.
pub fn use_link(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::acknowledged_at.is_null()),
    )
    .set(notifications::acknowledged_at.eq(Some(at)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Notifications waiting, and when the oldest due one became due; failed ones in total.
pub fn queue_stats(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let pending = notifications::table
        .filter(is_pending())
        .count()
        .get_result(conn)?;
    let oldest_due = notifications::table
        .filter(is_pending())
        .filter(notifications::next_attempt_at.le(now))
        .select(diesel::dsl::min(notifications::next_attempt_at))
        .get_result(conn)?;
    Ok((pending, oldest_due))
}

/// Notifications waiting to be sent (see `db::IsPending`).
fn is_pending() -> super::IsPending<notifications::state> {
    super::IsPending(notifications::state)
}
