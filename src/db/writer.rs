//! One writer thread that groups write transactions.
//!
//! SQLite lets one transaction write at a time, so there all write transactions queue here
//! instead of on a lock. On PostgreSQL the writes that contend on one row anyway (alerts opening
//! incidents all take the incident counter) queue here too. The thread runs what has queued up
//! as one database transaction, each piece of work in its own savepoint (a failing one is rolled
//! back alone), and answers every caller only after the commit: a caller never hears "done" for
//! work that could still be lost. Under load this turns many small commits into a few larger
//! ones (one log flush instead of one per piece of work) and keeps one connection's page cache
//! warm; with a single caller it is one transaction as before.
//!
//! Work that can run again (`write_again`: alerts) shares one savepoint with the rerunnable work
//! queued next to it: on PostgreSQL a savepoint costs two round trips on the connection every
//! grouped write waits for, a tenth of an alert's; on SQLite each savepoint journals again every
//! page its work changes, and SQLite runs `SAVEPOINT` and `RELEASE` as statements it compiles
//! anew each time. When one of them fails, the shared savepoint is rolled back and each runs
//! again in a savepoint of its own, so the failing one is still rolled back alone. The rows such
//! a run adds and nothing reads back (its alerts, timeline entries, webhooks and emails) are
//! inserted together when it ends (`db::shared_run`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::Connection;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::oneshot;

use super::checkpointer::{self, Checkpointer};
use super::shared_run;
use super::wake::{self, Wakers};
use super::{begin_write, incident_list, take_turns, DbConn, DbError, Pool};

/// Most pieces of work in one transaction: bounds how long the first caller of a batch waits
/// for its commit.
const MAX_BATCH: usize = 64;

/// The SQLite writer's page cache, in KiB (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// Batches of several instances' writers take turns on this key (PostgreSQL): a batch holds
/// what its pieces of work locked until it commits, and two batches taking the same rows (the
/// incident counter, an incident) in different orders would deadlock.
pub const BATCH_TURN: &str = "klaxon.grouped-writes";

type Manager = <DbConn as Connection>::TransactionManager;

/// Where the writer thread gets its connection: SQLite's one write connection, or a
/// PostgreSQL connection from the pool for each batch (a broken one is replaced there).
enum Source {
    Own(DbConn),
    Pool(Pool),
}

/// One caller's work with the way back to it.
trait Job: Send {
    /// Runs the work inside the open transaction; true when it succeeded.
    fn run(&mut self, conn: &mut DbConn) -> bool;
    /// True when the work can run again after what it wrote was rolled back.
    fn reruns(&self) -> bool;
    /// Answers the caller: its own result when the batch committed (or the work failed on its
    /// own), otherwise why the batch was not kept.
    fn answer(self: Box<Self>, batch_failure: Option<&str>);
}

/// A caller's closure: run once (`FnOnce`), or as often as the writer needs (`Fn`).
trait Work<T, E>: Send {
    const RERUNS: bool;
    /// None when the work was used up by an earlier run.
    fn call(&mut self, conn: &mut DbConn) -> Option<Result<T, E>>;
}

struct Once<F>(Option<F>);

impl<F, T, E> Work<T, E> for Once<F>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send,
{
    const RERUNS: bool = false;
    fn call(&mut self, conn: &mut DbConn) -> Option<Result<T, E>> {
        self.0.take().map(|work| work(conn))
    }
}

struct Again<F>(F);

impl<F, T, E> Work<T, E> for Again<F>
where
    F: Fn(&mut DbConn) -> Result<T, E> + Send,
{
    const RERUNS: bool = true;
    fn call(&mut self, conn: &mut DbConn) -> Option<Result<T, E>> {
        Some((self.0)(conn))
    }
}

struct Pending<W, T, E> {
    work: W,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<W, T, E> Job for Pending<W, T, E>
where
    W: Work<T, E>,
    T: Send,
    E: From<DbError> + Send,
{
    fn reruns(&self) -> bool {
        W::RERUNS
    }

    fn run(&mut self, conn: &mut DbConn) -> bool {
        let result = match catch_unwind(AssertUnwindSafe(|| self.work.call(conn))) {
            Ok(Some(result)) => result,
            Ok(None) => return false,
            Err(_) => Err(E::from(DbError::Worker(
                "database work panicked".to_owned(),
            ))),
        };
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn answer(self: Box<Self>, batch_failure: Option<&str>) {
        let result = match (self.result, batch_failure) {
            (Some(Ok(_)), Some(why)) | (None, Some(why)) => {
                Err(E::from(DbError::Worker(why.to_owned())))
            }
            (Some(result), _) => result,
            (None, None) => Err(E::from(DbError::Worker(
                "database work did not run".to_owned(),
            ))),
        };
        // The caller may have gone away (its request was cancelled); the work stands.
        let _ = self.reply.send(result);
    }
}

/// What the writer thread has done, for `/metrics`; jobs per transaction is how much the
/// batching saves.
#[derive(Clone, Debug, Default)]
pub struct WriterCounters {
    pub transactions: Counter,
    pub jobs: Counter,
    /// Times SQLite's log was made to start over (`checkpointer::restart_log`).
    pub log_restarts: Counter,
}

/// The queue into the writer thread. Dropping the last clone ends the thread and waits for
/// it, so the database file is closed (and its WAL checkpointed) when the `Db` is gone.
#[derive(Clone)]
pub struct Writer {
    // Dropped before `_thread`: the thread ends once every sender is gone.
    jobs: mpsc::Sender<Box<dyn Job>>,
    counters: WriterCounters,
    _thread: Arc<JoinOnDrop>,
}

struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            // A job holding the last `Db` handle drops it on the writer thread itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Writer {
    /// Starts SQLite's writer thread on its own connection, and the checkpoint thread on the
    /// database file at `path` (without it, SQLite checkpoints inside the writer's commits).
    pub fn start_sqlite(
        mut conn: DbConn,
        path: &std::path::Path,
        wakers: Arc<Wakers>,
    ) -> std::io::Result<Writer> {
        // A savepoint keeps the pages it changes in a sub-journal, which SQLite moves to a
        // temporary file past 64 KiB, about what one transition changes; in memory it is
        // written nowhere. (Only this connection: readers' large sorts stay on disk.)
        if let Err(error) = conn.batch_execute("PRAGMA temp_store = MEMORY") {
            tracing::warn!(%error, "cannot keep the writer's savepoint journals in memory");
        }
        // An insert touches a leaf of each index whose keys arrive in no order (the entity ids
        // monitoring tools send; Klaxon's own ids come in the order made); with SQLite's
        // default 2 MiB of cache those leaves fall out once a storm has added some 100 000
        // rows, and each insert then reads its pages back.
        if let Err(error) = conn.batch_execute(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}"))
        {
            tracing::warn!(%error, "cannot enlarge the writer's page cache");
        }
        // The log keeps the size it once reached; after a restart SQLite cuts it down to this.
        if let Err(error) = conn.batch_execute(&format!(
            "PRAGMA journal_size_limit = {}",
            checkpointer::LOG_SIZE_LIMIT_BYTES
        )) {
            tracing::warn!(%error, "cannot limit the size the WAL file is left at");
        }
        let checkpointer = match Checkpointer::start(path) {
            Ok(checkpointer) => match conn.batch_execute("PRAGMA wal_autocheckpoint = 0") {
                Ok(()) => Some(checkpointer),
                Err(error) => {
                    tracing::warn!(%error, "cannot hand WAL checkpoints to their own thread");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot start the WAL checkpoint thread");
                None
            }
        };
        Writer::spawn(Source::Own(conn), checkpointer, wakers)
    }

    /// Starts a writer thread taking a connection from `pool` for each batch (PostgreSQL).
    pub fn start_pooled(pool: Pool, wakers: Arc<Wakers>) -> std::io::Result<Writer> {
        Writer::spawn(Source::Pool(pool), None, wakers)
    }

    fn spawn(
        source: Source,
        checkpointer: Option<Checkpointer>,
        wakers: Arc<Wakers>,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        let counters = WriterCounters::default();
        let counted = counters.clone();
        let thread = std::thread::Builder::new()
            .name("klaxon-db-writer".to_owned())
            .spawn(move || serve(source, queue, counted, checkpointer, wakers))?;
        Ok(Writer {
            jobs,
            counters,
            _thread: Arc::new(JoinOnDrop(Some(thread))),
        })
    }

    pub fn counters(&self) -> &WriterCounters {
        &self.counters
    }

    /// Runs `work` in a write transaction on the writer thread and returns its result once it
    /// is committed (or rolled back, when `work` fails).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.queue(Once(Some(work))).await
    }

    /// As [`write`](Self::write), for work that can run again after what it wrote was rolled
    /// back: it shares a savepoint with the rerunnable work next to it.
    pub async fn write_again<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Fn(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.queue(Again(work)).await
    }

    async fn queue<W, T, E>(&self, work: W) -> Result<T, E>
    where
        W: Work<T, E> + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            result: None,
            reply,
        });
        if self.jobs.send(job).is_err() {
            return Err(E::from(DbError::Worker(
                "the database writer stopped".to_owned(),
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(E::from(DbError::Worker(
                "the database writer stopped".to_owned(),
            )))
        })
    }
}

fn serve(
    mut source: Source,
    queue: mpsc::Receiver<Box<dyn Job>>,
    counters: WriterCounters,
    checkpointer: Option<Checkpointer>,
    wakers: Arc<Wakers>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        let mut marked = wake::Marks::default();
        let failure = match &mut source {
            Source::Own(conn) => run_batch(conn, &queue, &mut batch, &mut marked).err(),
            Source::Pool(pool) => match pool.get() {
                Ok(mut conn) => run_batch(&mut conn, &queue, &mut batch, &mut marked).err(),
                Err(e) => Some(format!("cannot get a database connection: {e}")),
            },
        };
        if failure.is_none() {
            wakers.committed(&marked);
        }
        if let Some(checkpointer) = &checkpointer {
            checkpointer.committed();
        }
        counters.transactions.inc();
        counters.jobs.inc_by(batch.len() as u64);
        if let Some(why) = &failure {
            tracing::error!(error = %why, jobs = batch.len(), "database write batch failed");
        }
        for job in batch {
            job.answer(failure.as_deref());
        }
        // After the answers, so that no caller waits for it; before the next batch, which then
        // writes the log from its start.
        if let (Some(checkpointer), Source::Own(conn)) = (&checkpointer, &mut source) {
            if checkpointer.take_restart() {
                checkpointer::restart_log(conn);
                counters.log_restarts.inc();
            }
        }
    }
}

/// Runs `batch` and whatever queues up meanwhile (up to `MAX_BATCH`) in one transaction.
fn run_batch(
    conn: &mut DbConn,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    batch: &mut Vec<Box<dyn Job>>,
    marked: &mut wake::Marks,
) -> Result<(), String> {
    // The write turn too: other connections of this process (the import) still write
    // through `write_transaction`.
    let _turn = begin_write(conn).map_err(|e| format!("cannot begin a write transaction: {e}"))?;
    if let Err(e) = take_turns(conn, BATCH_TURN) {
        let _ = Manager::rollback_transaction(conn);
        return Err(format!("cannot take the writers' turn: {e}"));
    }
    wake::take_marks();
    wake::forget_kept();
    shared_run::discard();
    let ran = run_jobs(conn, queue, batch, marked).and_then(|()| {
        incident_list::index_new_incidents(conn)
            .map_err(|e| format!("cannot index the new incidents for search: {e}"))
    });
    if let Err(e) = ran {
        let _ = Manager::rollback_transaction(conn);
        return Err(e);
    }
    Manager::commit_transaction(conn).map_err(|e| {
        let _ = Manager::rollback_transaction(conn);
        format!("cannot commit a write transaction: {e}")
    })
}

/// Runs the batch's jobs in the open transaction, taking in what queues up meanwhile. Runs of
/// rerunnable jobs share a savepoint (a "shared run"); every other job has its own. An error
/// means a savepoint itself failed and the whole transaction is in doubt.
fn run_jobs(
    conn: &mut DbConn,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    batch: &mut Vec<Box<dyn Job>>,
    marked: &mut wake::Marks,
) -> Result<(), String> {
    // Where the open shared run began.
    let mut shared: Option<usize> = None;
    let mut next = 0;
    while next < batch.len() {
        if !batch[next].reruns() {
            keep_shared_run(conn, &mut batch[..next], &mut shared, marked)?;
            run_alone(conn, batch[next].as_mut(), marked)?;
        } else {
            let first = match shared {
                Some(first) => first,
                None => {
                    Manager::begin_transaction(conn)
                        .map_err(|e| format!("cannot open a savepoint: {e}"))?;
                    shared_run::open();
                    shared = Some(next);
                    next
                }
            };
            if !batch[next].run(conn) {
                shared = None;
                run_again_alone(conn, &mut batch[first..=next], marked)?;
            }
        }
        next += 1;
        if batch.len() < MAX_BATCH {
            if let Ok(more) = queue.try_recv() {
                batch.push(more);
            }
        }
    }
    keep_shared_run(conn, batch, &mut shared, marked)
}

/// Keeps the open shared run, the jobs of `ran` from where it began: inserts the rows they
/// deferred and releases its savepoint, keeping what they marked. When the deferred rows cannot
/// be inserted, the run is rolled back and its jobs run again alone, as when one of them fails.
fn keep_shared_run(
    conn: &mut DbConn,
    ran: &mut [Box<dyn Job>],
    shared: &mut Option<usize>,
    marked: &mut wake::Marks,
) -> Result<(), String> {
    let Some(first) = shared.take() else {
        return Ok(());
    };
    if let Err(e) = shared_run::flush(conn) {
        tracing::warn!(error = %e, "the rows a run of writes deferred were refused; each runs again alone");
        return run_again_alone(conn, &mut ran[first..], marked);
    }
    Manager::commit_transaction(conn).map_err(|e| format!("cannot close a savepoint: {e}"))?;
    keep_marks(marked);
    Ok(())
}

/// Rolls back the open shared run (what its jobs wrote, deferred and marked) and runs each of
/// `run` again in a savepoint of its own, writing directly.
fn run_again_alone(
    conn: &mut DbConn,
    run: &mut [Box<dyn Job>],
    marked: &mut wake::Marks,
) -> Result<(), String> {
    shared_run::discard();
    Manager::rollback_transaction(conn)
        .map_err(|e| format!("cannot roll back a savepoint: {e}"))?;
    drop(wake::take_marks());
    for job in run {
        run_alone(conn, job.as_mut(), marked)?;
    }
    Ok(())
}

/// Runs one job in a savepoint of its own.
fn run_alone(conn: &mut DbConn, job: &mut dyn Job, marked: &mut wake::Marks) -> Result<(), String> {
    if run_in_savepoint(conn, job)? {
        keep_marks(marked);
    } else {
        drop(wake::take_marks());
    }
    Ok(())
}

fn keep_marks(marked: &mut wake::Marks) {
    let marks = wake::take_marks();
    wake::kept(&marks);
    marked.extend(marks);
}

/// Runs one job in a savepoint, kept when it succeeds (true) and rolled back when it fails
/// (false). An error here means the savepoint itself failed and the whole transaction is in
/// doubt.
fn run_in_savepoint(conn: &mut DbConn, job: &mut dyn Job) -> Result<bool, String> {
    Manager::begin_transaction(conn).map_err(|e| format!("cannot open a savepoint: {e}"))?;
    let kept = job.run(conn);
    let end = if kept {
        Manager::commit_transaction(conn)
    } else {
        Manager::rollback_transaction(conn)
    };
    end.map(|()| kept)
        .map_err(|e| format!("cannot close a savepoint: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prometheus_client::metrics::counter::Counter;

    use super::super::{app_settings, checkpointer, timeline, wake, Db, DbConn, DbError};

    fn sqlite_db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}", dir.path().join("writer.db").display());
        Db::connect(&url, 2).expect("the test database opens")
    }

    /// Holds the writer for a moment and sends `writes` meanwhile: they queue up behind it and
    /// run after it as one batch. Returns what the held write and `writes` answered.
    async fn behind_a_held_writer<F: std::future::Future>(
        db: &Db,
        writes: F,
    ) -> (Result<(), DbError>, F::Output) {
        let held = db.write(|_conn| {
            std::thread::sleep(Duration::from_millis(200));
            Ok::<_, DbError>(())
        });
        tokio::join!(held, async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writes.await
        })
    }

    fn stored(db: &Db, name: &str) -> Option<String> {
        let mut conn = db.pool.get().expect("a read connection");
        app_settings::get(&mut conn, name).expect("the read works")
    }

    /// Work that stores `name` and counts one on `counter` when it commits, then fails when
    /// `fail` is set: the caller must find nothing stored, and nothing counted.
    fn storing(
        name: String,
        fail: bool,
        counter: Option<&'static Counter>,
    ) -> impl Fn(&mut DbConn) -> Result<(), DbError> + Send + 'static {
        move |conn| {
            app_settings::insert(conn, &name, "value")?;
            if let Some(counter) = counter {
                wake::count_after_commit(counter);
            }
            if fail {
                return Err(DbError::Worker(format!("{name} changed its mind")));
            }
            Ok(())
        }
    }

    async fn store(db: &Db, name: String, fail: bool) -> Result<(), DbError> {
        db.write(storing(name, fail, None)).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_share_a_transaction_and_a_failing_one_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        let queued = async {
            let writes = (0..20).map(|i| store(&db, format!("setting-{i}"), i % 3 == 0));
            futures_util::future::join_all(writes).await
        };
        let (slow, results) = behind_a_held_writer(&db, queued).await;
        slow.unwrap();
        for (i, result) in results.iter().enumerate() {
            let name = format!("setting-{i}");
            if i % 3 == 0 {
                assert!(result.is_err(), "{name} should have failed");
                assert_eq!(stored(&db, &name), None, "{name} was rolled back");
            } else {
                assert!(result.is_ok(), "{name}: {result:?}");
                assert_eq!(
                    stored(&db, &name).as_deref(),
                    Some("value"),
                    "{name} was kept"
                );
            }
        }
        let counters = db.writer_counters();
        assert_eq!(counters.jobs.get(), 21);
        assert!(
            counters.transactions.get() <= 3,
            "20 queued writes should share a transaction or two, took {}",
            counters.transactions.get()
        );
    }

    /// `store` as rerunnable work (an alert's).
    async fn store_again(
        db: &Db,
        name: String,
        fail: bool,
        counter: &'static Counter,
    ) -> Result<(), DbError> {
        db.write_grouped(storing(name, fail, Some(counter))).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rerunnable_writes_share_a_savepoint_and_a_failing_one_is_still_rolled_back_alone() {
        static KEPT: std::sync::LazyLock<Counter> = std::sync::LazyLock::new(Default::default);
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        // Rerunnable and ordinary writes interleaved in one batch, failures among both.
        let queued = async {
            let writes = (0..30).map(|i| {
                let (name, fail) = (format!("setting-{i}"), i % 4 == 1 || i == 29);
                let db = &db;
                async move {
                    if i % 7 == 3 {
                        store(db, name, fail).await
                    } else {
                        store_again(db, name, fail, &KEPT).await
                    }
                }
            });
            futures_util::future::join_all(writes).await
        };
        let (slow, results) = behind_a_held_writer(&db, queued).await;
        slow.unwrap();
        let mut kept_again = 0;
        for (i, result) in results.iter().enumerate() {
            let name = format!("setting-{i}");
            if i % 4 == 1 || i == 29 {
                assert!(result.is_err(), "{name} should have failed");
                assert_eq!(stored(&db, &name), None, "{name} was rolled back");
            } else {
                assert!(result.is_ok(), "{name}: {result:?}");
                assert_eq!(stored(&db, &name).as_deref(), Some("value"));
                if i % 7 != 3 {
                    kept_again += 1;
                }
            }
        }
        assert!(db.writer_counters().transactions.get() <= 3);
        // The writes that ran again after a failure next to them count once.
        assert_eq!(KEPT.get(), kept_again);
    }

    /// A run whose deferred rows are refused when it ends runs again, each job alone: the one
    /// whose row was refused fails, the other and the job queued after the run are kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_whose_deferred_rows_are_refused_runs_again_alone_and_the_rest_stands() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        let queued = async {
            // Deferred to the end of the run, where the missing incident refuses it.
            let refused = db.write_grouped(|conn| {
                let entry = timeline::NewTimelineRow {
                    incident_id: 999_999,
                    kind: "note",
                    actor_user_id: None,
                    actor_label: "Test".into(),
                    detail: "an entry of no incident".into(),
                    delivery_id: None,
                    created_at: crate::db::now(),
                };
                Ok::<_, DbError>(timeline::append(conn, entry)?)
            });
            let beside = db.write_grouped(storing("beside".into(), false, None));
            let after = store(&db, "after".into(), false);
            tokio::join!(refused, beside, after)
        };
        let (slow, (refused, beside, after)) = behind_a_held_writer(&db, queued).await;
        slow.unwrap();
        assert!(refused.is_err(), "the entry of no incident is refused");
        beside.unwrap();
        after.unwrap();
        assert_eq!(stored(&db, "beside").as_deref(), Some("value"));
        assert_eq!(stored(&db, "after").as_deref(), Some("value"));
        assert_eq!(db.writer_counters().transactions.get(), 1, "one batch");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_into_the_database_file_soon_after_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        let file = dir.path().join("writer.db");
        let before = std::fs::metadata(&file).unwrap().len();
        // Far below SQLite's own threshold (1 000 pages), so only the checkpoint thread
        // copies it over.
        let big = "x".repeat(200_000);
        db.write(move |conn| Ok::<_, DbError>(app_settings::insert(conn, "big", &big)?))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&file).unwrap().len() < before + 200_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the commit is still only in the WAL"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        let log = dir.path().join("writer.db-wal");
        // Back to back, as in a storm: the checkpoint thread's copy is always a little behind,
        // so a log that never started over would grow by every page written. A log that starts
        // over stays at the most one cycle between restarts wrote. How long a cycle runs
        // depends on how soon the checkpoint thread gets a core, so the test writes until a
        // few restarts happened rather than a fixed amount.
        let piece = "x".repeat(64 * 1024);
        let enough_restarts = 4;
        let at_most = 16 * 64 * checkpointer::RESTART_AFTER_PAGES as u64 * 4096;
        let mut written = 0;
        while db.writer_counters().log_restarts.get() < enough_restarts && written < at_most {
            let value = piece.clone();
            let name = format!("piece {written}");
            db.write(move |conn| Ok::<_, DbError>(app_settings::insert(conn, &name, &value)?))
                .await
                .unwrap();
            written += piece.len() as u64;
        }
        assert!(
            db.writer_counters().log_restarts.get() >= enough_restarts,
            "the writer restarted the log {} times in {written} bytes written",
            db.writer_counters().log_restarts.get()
        );
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(
            size < written / 2,
            "the log file is {size} bytes after {written} bytes were written"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_is_refused_and_the_writer_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        let panicked = db
            .write(|conn| {
                app_settings::insert(conn, "half-done", "value")?;
                panic!("a bug in the middle of a write");
                #[allow(unreachable_code)]
                Ok::<_, DbError>(())
            })
            .await;
        assert!(matches!(panicked, Err(DbError::Worker(_))), "{panicked:?}");
        assert_eq!(stored(&db, "half-done"), None);
        store(&db, "after".to_owned(), false).await.unwrap();
        assert_eq!(stored(&db, "after").as_deref(), Some("value"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_write_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_db(&dir);
        // A deferred constraint is checked at COMMIT, so the batch fails as a whole there.
        db.write(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
                 CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) \
                     DEFERRABLE INITIALLY DEFERRED);",
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        let queued = async {
            let good = store(&db, "innocent".to_owned(), false);
            let orphan = db.write(|conn| {
                use diesel::connection::SimpleConnection;
                conn.batch_execute("INSERT INTO child (parent_id) VALUES (42)")?;
                Ok::<_, DbError>(())
            });
            tokio::join!(good, orphan)
        };
        let (slow, (good, orphan)) = behind_a_held_writer(&db, queued).await;
        assert!(slow.is_err() && good.is_err() && orphan.is_err());
        assert_eq!(
            stored(&db, "innocent"),
            None,
            "nothing of the batch was kept"
        );
        store(&db, "later".to_owned(), false).await.unwrap();
        assert_eq!(stored(&db, "later").as_deref(), Some("value"));
    }
}
