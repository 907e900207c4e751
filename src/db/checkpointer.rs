//! SQLite's WAL checkpoints, off the writer thread.
//!
//! SQLite copies its write-ahead log back into the database file (a checkpoint, with two
//! fsyncs) inside whichever commit pushes the log past its threshold, so every few commits
//! one batch of callers would wait for that copy. The writer's connection turns automatic
//! checkpoints off; this thread, on a connection of its own, checkpoints a few times a second
//! while there are new commits. It checkpoints PASSIVE: it never blocks the writer.
//!
//! A PASSIVE checkpoint alone never lets the log start over while writes go on: SQLite writes
//! the log from its beginning again only when a write transaction begins with every page of it
//! already copied back, and under a steady stream of commits the copy is always a little
//! behind. The log then grew by every page written (4 GiB in a storm of 100 000 alerts), each
//! commit extended the file, and the file kept that size afterwards. So once the log holds
//! [`RESTART_AFTER_PAGES`], the thread asks the writer to restart it
//! ([`Checkpointer::take_restart`]), which the writer does between two batches
//! ([`restart_log`]): it copies the few pages not yet copied, waits for readers still on the
//! log, and its next transaction writes from the start.
//!
//! SQLite flushes the database file only after a checkpoint that copied the whole log, which
//! under steady writes only the writer's restart does; this thread flushes what its own
//! checkpoints copied, or the restart would flush all of it while every write waits. Its
//! connection is SQLite's C interface, for SQLite's own handle of the file
//! ([`CheckpointConnection`] says why).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::Integer;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use super::checkpoint_connection::{CheckpointConnection, LogPages};
use super::{DbConn, BUSY_TIMEOUT_MS};

/// How often the log is copied back while writes go on.
const EVERY: Duration = Duration::from_millis(200);

/// Pages in the log (of 4 KiB) past which the writer has it start over: 64 MiB, a second or
/// two of a storm. Each restart holds every write for a few flushes to disk (about 13 ms on a
/// cloud disk), so they must be rare for requests' latency; the log file then stays about
/// this size (1 MiB in unit tests, which then need to write only a few megabytes to see it).
pub const RESTART_AFTER_PAGES: i64 = if cfg!(test) { 256 } else { 16_384 };

/// Largest the log file is left after it started over (SQLite cuts it down to this at the
/// next commit). Above what a storm makes of it, since cutting a large file down took that
/// commit a hundred milliseconds.
pub const LOG_SIZE_LIMIT_BYTES: i64 = 256 * 1024 * 1024;

/// Longest the writer waits for readers to leave the log when it restarts it; past that it
/// gives up until the next request (a reader rarely holds the log for more than milliseconds,
/// and every write waits while the writer does).
const RESTART_WAIT_MS: u32 = 100;

#[derive(Default)]
struct Shared {
    commits: AtomicU64,
    stopping: AtomicBool,
    restart_wanted: AtomicBool,
}

/// The running checkpoint thread; dropping it stops the thread and waits for it.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to the database file at `path` and starts the thread.
    pub fn start(path: &Path) -> std::io::Result<Checkpointer> {
        let conn = CheckpointConnection::open(path).map_err(std::io::Error::other)?;
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

    /// Whether the writer should restart the log now (asked once per request).
    pub fn take_restart(&self) -> bool {
        self.shared.restart_wanted.swap(false, Ordering::Relaxed)
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

fn run(mut conn: CheckpointConnection, shared: &Shared) {
    let mut checkpointed = 0;
    while !shared.stopping.load(Ordering::Relaxed) {
        std::thread::park_timeout(EVERY);
        let commits = shared.commits.load(Ordering::Relaxed);
        if commits == checkpointed {
            continue;
        }
        checkpointed = commits;
        match copy_back(&mut conn) {
            Ok(done) if done.log >= RESTART_AFTER_PAGES => {
                // Once more, for what the writer added during that one: the writer's restart
                // then copies and flushes only its last few commits while every write waits.
                if let Err(error) = copy_back(&mut conn) {
                    tracing::warn!(%error, "WAL checkpoint failed; the writer's restart copies the rest");
                }
                shared.restart_wanted.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; the next one retries"),
        }
    }
}

/// A PASSIVE checkpoint, then a flush of the pages it copied. SQLite flushes the database file
/// only after a checkpoint that copied the whole log, which under steady writes only the
/// writer's restart does: it then flushed everything copied since the last restart (tens of
/// milliseconds, with every write waiting).
fn copy_back(conn: &mut CheckpointConnection) -> Result<LogPages, String> {
    let done = conn.checkpoint_passive()?;
    if done.copied < done.log {
        if let Err(error) = conn.flush_database_file() {
            tracing::warn!(%error, "cannot flush the database file after a checkpoint");
        }
    }
    Ok(done)
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(QueryableByName)]
struct Checkpointed {
    /// 1 when readers or a writer kept it from finishing.
    #[diesel(sql_type = Integer)]
    busy: i32,
    /// Pages in the log.
    #[diesel(sql_type = Integer)]
    log: i32,
    /// Pages of the log copied back into the database file.
    #[diesel(sql_type = Integer)]
    checkpointed: i32,
}

fn checkpoint(conn: &mut DbConn, mode: &str) -> QueryResult<Checkpointed> {
    let DbConn::Sqlite(sqlite) = conn else {
        return Err(diesel::result::Error::NotFound);
    };
    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})")).get_result(sqlite)
}

/// Copies the rest of the log back and waits (at most [`RESTART_WAIT_MS`]) for readers to
/// leave it, so that the next write transaction writes the log from its beginning. Run by
/// the writer between batches: it is the one writer, so nothing else waits for it.
pub fn restart_log(conn: &mut DbConn) {
    let waited = conn
        .batch_execute(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS}"))
        .and_then(|()| checkpoint(conn, "RESTART"));
    if let Err(error) = conn.batch_execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")) {
        tracing::warn!(%error, "cannot set the writer's busy timeout back");
    }
    match waited {
        Ok(done) => tracing::debug!(
            busy = done.busy,
            log = done.log,
            checkpointed = done.checkpointed,
            "WAL restarted"
        ),
        Err(error) => tracing::warn!(%error, "WAL restart failed; the log goes on growing"),
    }
}
