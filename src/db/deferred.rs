//! Rows a run of grouped alerts adds and reads nothing back from: their alerts, timeline
//! entries, webhook deliveries and emails. While the writer thread runs such a run (alerts that
//! share a savepoint, `Writer::write_again`), these tables' insert functions hand their rows
//! here instead of sending them; the writer inserts them all, one statement per table, before it
//! keeps the run. On PostgreSQL each statement is a round trip on the writer's one connection,
//! and those round trips bound a storm (docs/decisions.md, "What bounds a PostgreSQL storm").
//!
//! Nothing in an alert's path reads these tables, and nothing references their ids, so a row
//! inserted at the end of its run is the same as one inserted at once: same transaction, same
//! order of ids. A run that fails is rolled back with what was kept here, and its alerts run
//! again one by one, writing directly.

use std::cell::RefCell;

use diesel::QueryResult;

use super::alerts::NewAlertRow;
use super::deliveries::NewDeliveryRow;
use super::notifications::NewNotification;
use super::timeline::NewTimelineRow;
use super::{alerts, deliveries, notifications, timeline, DbConn};

/// What the open run has deferred, by table.
#[derive(Default)]
pub(crate) struct Rows {
    pub(crate) alerts: Vec<NewAlertRow>,
    pub(crate) timeline: Vec<NewTimelineRow>,
    pub(crate) deliveries: Vec<NewDeliveryRow>,
    pub(crate) notifications: Vec<NewNotification>,
}

thread_local! {
    /// Some while the writer thread runs a shared run: the rows it deferred so far.
    static OPEN: RefCell<Option<Rows>> = const { RefCell::new(None) };
}

/// Starts deferring on this thread (the writer, opening a shared run).
pub(crate) fn open() {
    OPEN.with(|open| *open.borrow_mut() = Some(Rows::default()));
}

/// Stops deferring and forgets what was deferred (the run was rolled back).
pub(crate) fn discard() {
    OPEN.with(|open| *open.borrow_mut() = None);
}

/// Keeps `row` for the end of the run when one is open on this thread; hands it back otherwise,
/// to be written at once.
pub(crate) fn defer<T>(row: T, rows_of: fn(&mut Rows) -> &mut Vec<T>) -> Option<T> {
    OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(rows) => {
            rows_of(rows).push(row);
            None
        }
        None => Some(row),
    })
}

/// Stops deferring and inserts what was deferred, in the open transaction.
pub(crate) fn flush(conn: &mut DbConn) -> QueryResult<()> {
    let Some(rows) = OPEN.with(|open| open.borrow_mut().take()) else {
        return Ok(());
    };
    alerts::insert_all(conn, &rows.alerts)?;
    timeline::insert_all(conn, &rows.timeline)?;
    deliveries::insert_all(conn, &rows.deliveries)?;
    notifications::insert_all(conn, &rows.notifications)
}
