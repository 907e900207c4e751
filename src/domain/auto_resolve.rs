//! A service's two timeouts (minutes; 0 is off): `auto_resolve_timeout` resolves its incidents
//! once they have been open that long, and `acknowledgement_timeout` triggers an acknowledged
//! incident again (and restarts its escalation) when it is not resolved that long after the
//! acknowledgement. Every instance sweeps on its own: the resolution
//! is the ordinary transition, whose check-and-change is one statement, so an incident two
//! instances find overdue at once is resolved, and its webhooks enqueued, once.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::incidents::{retrigger_in, transition_in, Actor, Status};
use super::DomainError;
use crate::db::{incidents, services, Db, DbConn};
use crate::metrics::Metrics;

/// How often each instance looks for overdue incidents. Timeouts are whole minutes, so an
/// incident is resolved at most this late.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// Incidents resolved per write transaction, so that one sweep after a long outage does not
/// hold the write lock for long; the rest follow in the next transactions of the same sweep.
const PER_TRANSACTION: usize = 100;

/// Open incidents whose service's auto-resolve time has run out at `now` (their
/// `incidents::auto_resolve_deadline` has passed), with that time.
/// Asked per distinct time (services use a handful), so that only overdue incidents are read.
fn overdue(conn: &mut DbConn, now: NaiveDateTime) -> Result<Vec<(i64, i32)>, DomainError> {
    let mut due = Vec::new();
    for minutes in services::auto_resolve_times(conn)? {
        let before = now - chrono::Duration::minutes(i64::from(minutes));
        for id in incidents::open_auto_resolving_before(conn, minutes, before)? {
            due.push((id, minutes));
        }
    }
    Ok(due)
}

/// Acknowledged incidents whose service's acknowledgement timeout has run out at `now`.
fn acknowledged_too_long(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> Result<Vec<(i64, i32)>, DomainError> {
    let mut due = Vec::new();
    for minutes in services::acknowledgement_timeouts(conn)? {
        let before = now - chrono::Duration::minutes(i64::from(minutes));
        for id in incidents::acknowledged_before(conn, minutes, before)? {
            due.push((id, minutes));
        }
    }
    Ok(due)
}

fn resolve(conn: &mut DbConn, id: i64, minutes: i32) -> Result<Option<i64>, DomainError> {
    match transition_in(conn, &Actor::AutoResolve { minutes }, id, Status::Resolved) {
        Ok(row) => Ok(Some(row.incident_number)),
        // Resolved meanwhile, by a person or another instance.
        Err(DomainError::Conflict(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

fn retrigger(conn: &mut DbConn, id: i64, minutes: i32) -> Result<Option<i64>, DomainError> {
    let actor = Actor::AcknowledgementTimeout { minutes };
    Ok(retrigger_in(conn, &actor, id)?.map(|row| row.incident_number))
}

type Find = fn(&mut DbConn, NaiveDateTime) -> Result<Vec<(i64, i32)>, DomainError>;
type Act = fn(&mut DbConn, i64, i32) -> Result<Option<i64>, DomainError>;

/// One sweep: acts on every incident `find` names at `now`, a batch per write transaction, and
/// returns the numbers of those it changed.
async fn sweep(
    db: &Db,
    now: NaiveDateTime,
    find: Find,
    act: Act,
) -> Result<Vec<i64>, DomainError> {
    let mut changed = Vec::new();
    loop {
        // Looking first with a read keeps the idle sweep off the write lock.
        if db.run(move |conn| find(conn, now)).await?.is_empty() {
            return Ok(changed);
        }
        let batch = db
            .write(move |conn| {
                let mut numbers = Vec::new();
                for (id, minutes) in find(conn, now)?.into_iter().take(PER_TRANSACTION) {
                    numbers.extend(act(conn, id, minutes)?);
                }
                Ok::<_, DomainError>(numbers)
            })
            .await?;
        if batch.is_empty() {
            return Ok(changed);
        }
        changed.extend(batch);
    }
}

/// One sweep: resolves every incident overdue at `now` and returns their numbers.
pub async fn resolve_overdue(db: &Db, now: NaiveDateTime) -> Result<Vec<i64>, DomainError> {
    sweep(db, now, overdue, resolve).await
}

/// One sweep: triggers again every incident acknowledged for longer than its service's
/// acknowledgement timeout at `now` (its escalation starts over), and returns their numbers.
pub async fn retrigger_overdue(db: &Db, now: NaiveDateTime) -> Result<Vec<i64>, DomainError> {
    sweep(db, now, acknowledged_too_long, retrigger).await
}

/// Sweeps every `SWEEP_INTERVAL` for as long as the task runs. (The webhooks of what it
/// resolves wake the sender when their transaction commits.)
pub async fn run(db: Db, metrics: Arc<Metrics>) {
    let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match resolve_overdue(&db, crate::db::now()).await {
            Ok(numbers) if numbers.is_empty() => {}
            Ok(numbers) => {
                metrics.auto_resolved.inc_by(numbers.len() as u64);
                tracing::info!(incidents = ?numbers, "incidents resolved automatically");
            }
            Err(error) => {
                tracing::warn!(%error, "auto-resolve sweep failed; the next sweep tries again");
            }
        }
        match retrigger_overdue(&db, crate::db::now()).await {
            Ok(numbers) if numbers.is_empty() => {}
            Ok(numbers) => {
                tracing::info!(incidents = ?numbers, "acknowledgement timeout: triggered again");
            }
            Err(error) => {
                tracing::warn!(%error, "acknowledgement-timeout sweep failed; the next sweep tries again");
            }
        }
    }
}
