//! SQLite's WAL checkpoints, off the writer thread.
//!
//! SQLite copies its write-ahead log back into the database file (a checkpoint, with two
//! fsyncs) inside whichever commit pushes the log past its threshold, so every few commits
//! one batch of callers would wait for that copy. The writer's connection turns automatic
//! checkpoints off; this thread, on a connection of its own, checkpoints a few times a second
//! while there are new commits. It checkpoints PASSIVE: it never blocks the writer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::DbConn;

/// How often the log is copied back while writes go on.
const EVERY: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Shared {
    commits: AtomicU64,
    stopping: AtomicBool,
}

/// The running checkpoint thread; dropping it stops the thread and waits for it.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(conn: DbConn) -> std::io::Result<Checkpointer> {
        let shared = Arc::new(Shared::default());
        let seen = shared.clone();
        let thread = std::thread::Builder::new()
            .name("klaxon-db-checkpoint".to_owned())
            .spawn(move || run(conn, &seen))?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Tells the thread there is something new in the log.
    pub fn committed(&self) {
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn run(mut conn: DbConn, shared: &Shared) {
    let mut checkpointed = 0;
    while !shared.stopping.load(Ordering::Relaxed) {
        std::thread::park_timeout(EVERY);
        let commits = shared.commits.load(Ordering::Relaxed);
        if commits == checkpointed {
            continue;
        }
        checkpointed = commits;
        if let Err(error) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(%error, "WAL checkpoint failed; the next one retries");
        }
    }
}
