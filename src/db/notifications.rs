//! Persistence of notifications (the outbox of emails to people) and their attempts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{incidents, notification_attempts, notifications, services, users};
use super::{wake, DbConn};

/// The channel that wakes the notifiers when a notification is enqueued.
pub const WAKE_CHANNEL: &str = "klaxon_notifications";

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

pub const TRIGGERED: &str = "triggered";
pub const RESOLVED: &str = "resolved";

pub struct NewNotification<'a> {
    pub unique_id: &'a str,
    pub incident_id: i64,
    pub escalation_step_id: Option<i64>,
    pub user_id: i64,
    pub address: &'a str,
    pub kind: &'a str,
    pub due_at: NaiveDateTime,
}

/// Queues an email; the notifiers of every instance are woken once the transaction commits.
pub fn insert(conn: &mut DbConn, new: &NewNotification<'_>) -> QueryResult<()> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::unique_id.eq(new.unique_id),
            notifications::incident_id.eq(new.incident_id),
            notifications::escalation_step_id.eq(new.escalation_step_id),
            notifications::user_id.eq(new.user_id),
            notifications::address.eq(new.address),
            notifications::kind.eq(new.kind),
            notifications::state.eq(PENDING),
            notifications::next_attempt_at.eq(new.due_at),
            notifications::created_at.eq(new.due_at),
        ))
        .execute(conn)?;
    wake::after_commit(conn, WAKE_CHANNEL)
}

/// A claimed notification with what its email says.
#[derive(Debug, Clone, Queryable)]
pub struct ClaimedNotification {
    pub id: i64,
    pub unique_id: String,
    pub user_id: i64,
    pub address: String,
    pub kind: String,
    pub attempt_count: i32,
    pub created_at: NaiveDateTime,
    pub incident_id: i64,
    pub incident_number: i64,
    pub incident_title: String,
    pub incident_summary: String,
    pub incident_urgency: i32,
    pub incident_created: NaiveDateTime,
    pub service_name: String,
    pub recipient_first_name: String,
}

pub fn claim_due(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedNotification>> {
    let due = notifications::table
        .filter(notifications::state.eq(PENDING))
        .filter(notifications::next_attempt_at.le(now))
        .filter(
            notifications::locked_until
                .is_null()
                .or(notifications::locked_until.lt(now)),
        )
        .order((notifications::next_attempt_at, notifications::id))
        .select(notifications::id)
        .limit(limit);
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(sqlite) => due.load(sqlite)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(notifications::table.filter(notifications::id.eq_any(&ids)))
        .set((
            notifications::locked_by.eq(token),
            notifications::locked_until.eq(lease_until),
        ))
        .execute(conn)?;
    notifications::table
        .inner_join(incidents::table.inner_join(services::table))
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
            incidents::id,
            incidents::incident_number,
            incidents::title,
            incidents::summary,
            incidents::urgency,
            incidents::creation_date,
            services::name,
            users::first_name,
        ))
        .load(conn)
}

pub struct NewAttempt<'a> {
    pub notification_id: i64,
    pub started_at: NaiveDateTime,
    pub duration_ms: i64,
    pub reply_code: Option<i32>,
    pub reply_text: &'a str,
    pub error: Option<&'a str>,
}

pub fn insert_attempt(conn: &mut DbConn, attempt: &NewAttempt<'_>) -> QueryResult<()> {
    diesel::insert_into(notification_attempts::table)
        .values((
            notification_attempts::notification_id.eq(attempt.notification_id),
            notification_attempts::started_at.eq(attempt.started_at),
            notification_attempts::duration_ms.eq(attempt.duration_ms),
            notification_attempts::reply_code.eq(attempt.reply_code),
            notification_attempts::reply_text.eq(attempt.reply_text),
            notification_attempts::error.eq(attempt.error),
        ))
        .execute(conn)
        .map(drop)
}

/// Moves a leased notification on: finished (`state` with `next_attempt_at` = None) or back in
/// the queue for a retry. False when the lease was lost.
pub fn settle(
    conn: &mut DbConn,
    id: i64,
    token: &str,
    state: &str,
    error: Option<&str>,
    retry_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let leased = notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::locked_by.eq(token));
    let updated = diesel::update(leased)
        .set((
            notifications::state.eq(state),
            notifications::attempt_count.eq(notifications::attempt_count + 1),
            notifications::last_error.eq(error),
            notifications::next_attempt_at.eq(retry_at.unwrap_or(now)),
            notifications::completed_at.eq(retry_at.is_none().then_some(now)),
            notifications::locked_by.eq(None::<String>),
            notifications::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
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
    notifications::table
        .inner_join(users::table)
        .filter(notifications::incident_id.eq(incident_id))
        .order(notifications::id.desc())
        .limit(limit)
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
        ))
        .load(conn)
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

/// Who was emailed that the incident triggered (for the "Resolved" email), once each.
pub fn notified_users(conn: &mut DbConn, incident_id: i64) -> QueryResult<Vec<(i64, String)>> {
    notifications::table
        .filter(notifications::incident_id.eq(incident_id))
        .filter(notifications::kind.eq(TRIGGERED))
        .select((notifications::user_id, notifications::address))
        .distinct()
        .load(conn)
}

/// What an acknowledge link refers to.
#[derive(Debug, Clone, Queryable)]
pub struct LinkTarget {
    pub id: i64,
    pub incident_id: i64,
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
        .filter(notifications::state.eq(PENDING))
        .count()
        .get_result(conn)?;
    let oldest_due = notifications::table
        .filter(notifications::state.eq(PENDING))
        .filter(notifications::next_attempt_at.le(now))
        .select(diesel::dsl::min(notifications::next_attempt_at))
        .get_result(conn)?;
    Ok((pending, oldest_due))
}
