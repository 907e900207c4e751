//! What a run of grouped alerts keeps until it ends. While the writer thread runs alerts that
//! share a savepoint (`Writer::write_again`), each statement is a round trip on the writer's one
//! connection on PostgreSQL, and those round trips bound a storm (docs/decisions.md, "What
//! bounds a PostgreSQL storm"); on SQLite, the one writer thread's CPU does. So, within such a
//! run:
//!
//! - **Rows nobody reads back are inserted together when it ends**: alerts, timeline entries,
//!   webhook deliveries and emails. Their tables' insert functions hand them here ([`defer`]);
//!   the writer inserts them (one statement per table on PostgreSQL) before it keeps the run
//!   ([`flush`]).
//!   Nothing in the path of an alert that may open an incident reads these tables or refers to
//!   their ids, so a row inserted at the end of its run is the same as one inserted at once: same
//!   transaction, same order of ids. (The alerts that cancel emails, acknowledging or resolving,
//!   run alone, after the run ended.)
//! - **Configuration is read once** ([`remembered`]): an alert's integration and service, the
//!   service's webhooks, a paged person's rules. Alerts change none of them, and a run lasts
//!   milliseconds: an alert that uses what the one before it read is one that arrived that much
//!   earlier.
//!
//! A run that fails is rolled back with what was kept here, and its alerts run again one by one,
//! reading and writing directly. Outside a run every function here does nothing.

use std::any::Any;
use std::cell::RefCell;

use diesel::QueryResult;

use super::alerts::NewAlertRow;
use super::deliveries::NewDeliveryRow;
use super::notifications::NotificationRow;
use super::timeline::NewTimelineRow;
use super::{alerts, deliveries, notifications, timeline, DbConn};

/// What the open run has kept.
#[derive(Default)]
pub(crate) struct Run {
    pub(crate) alerts: Vec<NewAlertRow>,
    pub(crate) timeline: Vec<NewTimelineRow>,
    pub(crate) deliveries: Vec<NewDeliveryRow>,
    pub(crate) notifications: Vec<NotificationRow>,
    /// (key, answer) pairs of [`remembered`] reads; a run reads few distinct ones.
    reads: Vec<Box<dyn Any>>,
}

thread_local! {
    /// Some while the writer thread runs a shared run.
    static OPEN: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// Starts a run on this thread (the writer, opening a shared savepoint).
pub(crate) fn open() {
    OPEN.with(|open| *open.borrow_mut() = Some(Run::default()));
}

/// Ends the run, forgetting what it kept (it was rolled back).
pub(crate) fn discard() {
    OPEN.with(|open| *open.borrow_mut() = None);
}

/// Keeps `row` for the end of the run when one is open on this thread; hands it back otherwise,
/// to be written at once.
pub(crate) fn defer<T>(row: T, rows_of: fn(&mut Run) -> &mut Vec<T>) -> Option<T> {
    OPEN.with(|open| match open.borrow_mut().as_mut() {
        Some(run) => {
            rows_of(run).push(row);
            None
        }
        None => Some(row),
    })
}

/// Inserts `row` now with `insert_all`, or keeps it for the end of the run open on this thread.
pub(crate) fn insert<T>(
    conn: &mut DbConn,
    row: T,
    rows_of: fn(&mut Run) -> &mut Vec<T>,
    insert_all: fn(&mut DbConn, &[T]) -> QueryResult<()>,
) -> QueryResult<()> {
    match defer(row, rows_of) {
        Some(row) => insert_all(conn, std::slice::from_ref(&row)),
        None => Ok(()),
    }
}

/// What `read` answers for `key`: within a run, read once and then remembered.
pub(crate) fn remembered<K, T>(key: K, read: impl FnOnce() -> QueryResult<T>) -> QueryResult<T>
where
    K: PartialEq + 'static,
    T: Clone + 'static,
{
    let known = OPEN.with(|open| {
        open.borrow().as_ref().map(|run| {
            run.reads
                .iter()
                .filter_map(|read| read.downcast_ref::<(K, T)>())
                .find(|(k, _)| *k == key)
                .map(|(_, answer)| answer.clone())
        })
    });
    match known {
        None => read(),
        Some(Some(answer)) => Ok(answer),
        Some(None) => {
            let answer = read()?;
            OPEN.with(|open| {
                if let Some(run) = open.borrow_mut().as_mut() {
                    run.reads.push(Box::new((key, answer.clone())));
                }
            });
            Ok(answer)
        }
    }
}

/// Ends the run and inserts the rows it kept, in the open transaction.
pub(crate) fn flush(conn: &mut DbConn) -> QueryResult<()> {
    let Some(run) = OPEN.with(|open| open.borrow_mut().take()) else {
        return Ok(());
    };
    alerts::insert_all(conn, &run.alerts)?;
    timeline::insert_all(conn, &run.timeline)?;
    deliveries::insert_all(conn, &run.deliveries)?;
    notifications::insert_all(conn, &run.notifications)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_run_reads_each_key_once_and_forgets_when_it_ends() {
        let reads = Cell::new(0);
        let read = |answer: &'static str| {
            reads.set(reads.get() + 1);
            Ok(answer.to_owned())
        };
        let key = |k: i64| ("test", k);
        // Outside a run nothing is remembered.
        remembered(key(1), || read("a")).unwrap();
        remembered(key(1), || read("a")).unwrap();
        assert_eq!(reads.get(), 2);
        open();
        assert_eq!(remembered(key(1), || read("a")).unwrap(), "a");
        assert_eq!(remembered(key(1), || read("changed")).unwrap(), "a");
        assert_eq!(remembered(key(2), || read("b")).unwrap(), "b");
        // Another answer type under an equal key is another read.
        assert_eq!(
            remembered(key(1), || Ok::<_, diesel::result::Error>(7)).unwrap(),
            7
        );
        assert_eq!(reads.get(), 4);
        // A failed read is not remembered.
        assert!(remembered(key(3), || Err::<String, _>(diesel::result::Error::NotFound)).is_err());
        assert_eq!(remembered(key(3), || read("c")).unwrap(), "c");
        discard();
        assert_eq!(remembered(key(1), || read("new")).unwrap(), "new");
        assert_eq!(reads.get(), 6);
    }
}
