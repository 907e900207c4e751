//! Wake-ups that belong to a commit. Work that enqueues something for a background worker
//! (a webhook delivery, an escalation step) calls `after_commit` inside its transaction; the
//! write path fires the wake-up once that transaction has committed, and drops it when the
//! transaction rolls back. No caller has to remember to wake anyone, and no worker is woken
//! for rows it cannot see yet.
//!
//! Across instances the same call sends a PostgreSQL `NOTIFY` on the queue's channel, which
//! PostgreSQL delivers at commit; each instance's listener then wakes its own worker.
//!
//! A metric of something a transaction did is counted the same way (`count_after_commit`): a
//! transaction that rolls back, or that the writer runs again, counts nothing twice.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::RunQueryDsl;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;

use super::DbConn;

thread_local! {
    /// Channels marked by the transaction running on this thread. A write transaction runs
    /// start to end on one thread (the SQLite writer, or a blocking-pool thread on PostgreSQL).
    static MARKED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    /// Counters the transaction running on this thread adds one to when it commits.
    static COUNTED: RefCell<Vec<Counter>> = const { RefCell::new(Vec::new()) };
    /// Channels a `NOTIFY` was sent on by work the writer thread kept in its open transaction
    /// (a savepoint released): PostgreSQL delivers one notification per channel and
    /// transaction, so later work in the same batch need not send another.
    static SENT: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Marks `channel` to be woken when the current transaction commits.
pub fn after_commit(conn: &mut DbConn, channel: &'static str) -> diesel::QueryResult<()> {
    let first_time = MARKED.with(|marked| {
        let mut marked = marked.borrow_mut();
        let first = !marked.contains(&channel);
        if first {
            marked.push(channel);
        }
        first
    });
    let sent = SENT.with(|sent| sent.borrow().contains(&channel));
    if let (true, false, DbConn::Postgres(pg)) = (first_time, sent, conn) {
        diesel::sql_query(format!("NOTIFY {channel}")).execute(pg)?;
    }
    Ok(())
}

/// Adds one to `counter` when the current transaction commits.
pub fn count_after_commit(counter: &Counter) {
    COUNTED.with(|counted| counted.borrow_mut().push(counter.clone()));
}

/// What a transaction asked to be done once it commits.
#[derive(Default)]
pub(crate) struct Marks {
    channels: Vec<&'static str>,
    counts: Vec<Counter>,
}

impl Marks {
    pub(crate) fn extend(&mut self, other: Marks) {
        for channel in other.channels {
            if !self.channels.contains(&channel) {
                self.channels.push(channel);
            }
        }
        self.counts.extend(other.counts);
    }
}

/// What was marked on this thread since the last call, which forgets it.
pub(crate) fn take_marks() -> Marks {
    Marks {
        channels: MARKED.with(|marked| std::mem::take(&mut *marked.borrow_mut())),
        counts: COUNTED.with(|counted| std::mem::take(&mut *counted.borrow_mut())),
    }
}

/// Records that work kept in the writer's open transaction marked these channels (and so sent
/// their `NOTIFY`, or found it sent).
pub(crate) fn kept(marks: &Marks) {
    SENT.with(|sent| {
        let mut sent = sent.borrow_mut();
        for channel in &marks.channels {
            if !sent.contains(channel) {
                sent.push(channel);
            }
        }
    });
}

/// Forgets what [`kept`] recorded, as the writer begins a new transaction.
pub(crate) fn forget_kept() {
    SENT.with(|sent| sent.borrow_mut().clear());
}

/// Who waits on which channel in this process.
#[derive(Default)]
pub struct Wakers {
    waiting: Mutex<HashMap<&'static str, Vec<Arc<Notify>>>>,
}

impl Wakers {
    pub fn register(&self, channel: &'static str, notify: Arc<Notify>) {
        self.lock().entry(channel).or_default().push(notify);
    }

    /// Wakes everyone registered on `channel`, as a notification from another instance does.
    pub fn wake(&self, channel: &str) {
        if let Some(waiting) = self.lock().get(channel) {
            for notify in waiting {
                notify.notify_one();
            }
        }
    }

    /// Does what a committed transaction marked: wakes the workers of its channels and
    /// counts its counts.
    pub(crate) fn committed(&self, marks: &Marks) {
        for channel in &marks.channels {
            self.wake(channel);
        }
        for counter in &marks.counts {
            counter.inc();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Vec<Arc<Notify>>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
