//! Wake-ups that belong to a commit. Work that enqueues something for a background worker
//! (a webhook delivery, an escalation step) calls `after_commit` inside its transaction; the
//! write path fires the wake-up once that transaction has committed, and drops it when the
//! transaction rolls back. No caller has to remember to wake anyone, and no worker is woken
//! for rows it cannot see yet.
//!
//! Across instances the same call sends a PostgreSQL `NOTIFY` on the queue's channel, which
//! PostgreSQL delivers at commit; each instance's listener then wakes its own worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::RunQueryDsl;
use tokio::sync::Notify;

use super::DbConn;

thread_local! {
    /// Channels marked by the transaction running on this thread. A write transaction runs
    /// start to end on one thread (the SQLite writer, or a blocking-pool thread on PostgreSQL).
    static MARKED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
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

/// The channels marked on this thread since the last call, which forgets them.
pub(crate) fn take_marks() -> Vec<&'static str> {
    MARKED.with(|marked| std::mem::take(&mut *marked.borrow_mut()))
}

/// Records that work kept in the writer's open transaction marked `channels` (and so sent
/// their `NOTIFY`, or found it sent).
pub(crate) fn kept(channels: &[&'static str]) {
    SENT.with(|sent| {
        let mut sent = sent.borrow_mut();
        for channel in channels {
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

    pub(crate) fn wake_all(&self, channels: &[&'static str]) {
        for channel in channels {
            self.wake(channel);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Vec<Arc<Notify>>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
