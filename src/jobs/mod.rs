//! Durable background work: rows in a table that a worker on every instance claims with a
//! lease, runs outside any transaction, and records under that lease. Webhook deliveries are
//! one kind of job (`delivery::engine`); a new kind is a type implementing `JobKind` —
//! how to claim its rows, run one, and record the result — and a `Runner` around it.
//!
//! What every kind gets from here: claims in one short write transaction with a lease token
//! per claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the writer thread on SQLite, inside the
//! kind's `claim`), bounded concurrency with claims batched under load, results recorded in
//! group commits, wake-ups the moment a transaction that enqueued work commits (on this
//! instance through `db::wake`, on others through PostgreSQL `LISTEN`), polling only as a
//! fallback for retries that became due, and a graceful shutdown. A process that dies leaves
//! its claims leased; when the lease runs out any instance takes them again.

mod listener;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use rand::Rng;
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::db::{self, DatabaseUrl, Db, DbConn, DbError};

/// One kind of durable job.
pub trait JobKind: Send + Sync + 'static {
    /// A claimed row, with whatever running it needs.
    type Job: Send + Sync + 'static;
    /// What running a job produced, to be recorded.
    type Done: Send + Sync + 'static;
    /// Names the queue in logs; also the PostgreSQL channel that `db::wake::after_commit`
    /// notifies when this kind's rows are enqueued.
    const QUEUE: &'static str;
    /// Whether finishing a job can make another row due without enqueuing anything (rows
    /// that run one after another): then the runner looks for work after recording finished
    /// jobs that `waiting_behind` says others wait for. Otherwise only new rows (their commit's
    /// wake-up), a full claim and polling make it look.
    const FINISHING_MAY_MAKE_DUE: bool;

    /// How long a claim holds: longer than running one job can take.
    fn lease(&self) -> Duration;

    /// Leases up to `limit` due rows to `token` until `until`, inside a write transaction.
    fn claim(
        &self,
        conn: &mut DbConn,
        token: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: usize,
    ) -> diesel::QueryResult<Vec<Self::Job>>;

    /// Does the work, outside any transaction.
    fn run(&self, job: &Self::Job) -> impl Future<Output = Self::Done> + Send;

    /// Stores the results of finished jobs inside one write transaction, each only if its
    /// `token` still holds the lease; one answer per job, in their order: false when the lease
    /// was lost (the row belongs to whoever holds it now). Jobs that finish together are
    /// recorded together, so a kind can write them in fewer statements.
    fn record(
        &self,
        conn: &mut DbConn,
        finished: &[Finished<Self>],
    ) -> diesel::QueryResult<Vec<bool>>
    where
        Self: Sized;

    /// Names a job in logs.
    fn describe(job: &Self::Job) -> String;

    /// Asked when `FINISHING_MAY_MAKE_DUE`, inside the transaction recording `jobs`: whether
    /// rows wait behind them (due once they are done).
    fn waiting_behind(&self, conn: &mut DbConn, jobs: &[&Self::Job]) -> diesel::QueryResult<bool> {
        let _ = (conn, jobs);
        Ok(true)
    }
}

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Most jobs running at once on this instance.
    pub concurrency: usize,
    /// How often to look for work when nothing woke the runner (retries that became due).
    pub poll_interval: Duration,
    /// How long a shutdown waits for running jobs.
    pub shutdown_grace: Duration,
}

/// Runs jobs of one kind: `run_once` is one claim-run-record step (tests drive it), `start`
/// runs steps until shut down.
pub struct Runner<K: JobKind> {
    inner: Arc<Inner<K>>,
}

impl<K: JobKind> Clone for Runner<K> {
    fn clone(&self) -> Self {
        Runner {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K: JobKind> {
    kind: Arc<K>,
    db: Db,
    settings: RunnerSettings,
    wake: Arc<Notify>,
    instance: String,
    recorder: Recorder<K>,
    /// Claims begun so far, so that a recording can tell whether one began while it ran.
    claims_begun: AtomicU64,
}

/// Stops a started runner.
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _listener: Option<listener::Listener>,
}

impl RunnerHandle {
    /// Stops claiming, gives running jobs the grace period, then returns. Whatever is cut
    /// short keeps its lease until it expires and runs again after that.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl<K: JobKind> Runner<K> {
    pub fn new(kind: K, db: Db, settings: RunnerSettings) -> Self {
        let wake = Arc::new(Notify::new());
        db.wakers().register(K::QUEUE, wake.clone());
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Runner {
            inner: Arc::new(Inner {
                kind: Arc::new(kind),
                db,
                settings,
                wake,
                instance,
                recorder: Recorder::default(),
                claims_begun: AtomicU64::new(0),
            }),
        }
    }

    pub fn kind(&self) -> &K {
        &self.inner.kind
    }

    /// Makes the runner look for due work now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// One step: claims what is due (up to the concurrency), runs it all, records the
    /// results. Returns how many jobs ran.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let claimed = self.claim(self.inner.settings.concurrency).await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for (token, job) in claimed {
            let runner = self.clone();
            tasks.spawn(async move { runner.process(token, job).await });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Runs until the handle is shut down.
    pub fn start(&self) -> RunnerHandle {
        let (stop, stopped) = watch::channel(false);
        let runner = self.clone();
        let task = tokio::spawn(async move { runner.run(stopped).await });
        // On PostgreSQL other instances enqueue work too; their NOTIFY wakes this runner.
        let listener = match self.inner.db.url() {
            DatabaseUrl::Postgres(url) => {
                let wake = self.inner.wake.clone();
                let own = self.inner.db.own_backends();
                listener::spawn(url.clone(), K::QUEUE, own, move || wake.notify_one())
                    .map_err(|error| tracing::error!(queue = K::QUEUE, %error, "cannot start the wake-up listener; relying on polling"))
                    .ok()
            }
            DatabaseUrl::Sqlite(_) => None,
        };
        RunnerHandle {
            stop,
            task,
            _listener: listener,
        }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let settings = &self.inner.settings;
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let slot_freed = Arc::new(Notify::new());
        let mut in_flight = JoinSet::new();
        let claim_floor = (settings.concurrency / 4).max(1);
        // Whether due rows may be waiting unclaimed. A claim that got fewer rows than it asked
        // for took everything due then; rows enqueued after it come with a wake-up. Claiming
        // again without one finds nothing (on PostgreSQL a transaction of five round trips).
        let mut work_may_wait = true;
        tracing::info!(queue = K::QUEUE, instance = %self.inner.instance, concurrency = settings.concurrency, "worker started");
        loop {
            if *stopped.borrow() {
                break;
            }
            while in_flight.try_join_next().is_some() {}
            let free = slots.available_permits();
            // Under load, wait until a few slots are free and claim them in one transaction,
            // rather than one claim per finished job.
            if work_may_wait && (free >= claim_floor || (free > 0 && in_flight.is_empty())) {
                match self.claim(free).await {
                    Ok(claimed) => {
                        work_may_wait = claimed.len() == free;
                        for (token, job) in claimed {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            let (runner, slot_freed) = (self.clone(), slot_freed.clone());
                            in_flight.spawn(async move {
                                runner.process(token, job).await;
                                drop(permit);
                                slot_freed.notify_one();
                            });
                        }
                        if work_may_wait {
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::error!(queue = K::QUEUE, %error, "claiming jobs failed");
                    }
                }
            }
            tokio::select! {
                _ = self.inner.wake.notified() => work_may_wait = true,
                // A free slot matters only when work was left waiting for one.
                _ = slot_freed.notified() => {}
                _ = tokio::time::sleep(settings.poll_interval) => work_may_wait = true,
                _ = stopped.changed() => {}
            }
        }
        let waiting = in_flight.len();
        tracing::info!(queue = K::QUEUE, in_flight = waiting, "worker stopping");
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                queue = K::QUEUE,
                "grace period over; unfinished jobs run again after their lease expires"
            );
            in_flight.abort_all();
        }
    }

    /// Leases up to `limit` due jobs. Each claim gets its own token, so a recording can tell
    /// whether its lease still holds.
    async fn claim(&self, limit: usize) -> Result<Vec<(Arc<str>, K::Job)>, DbError> {
        let token: Arc<str> =
            format!("{}:{}", self.inner.instance, uuid::Uuid::new_v4().simple()).into();
        let lease = chrono::Duration::from_std(self.inner.kind.lease()).unwrap_or_default();
        let (kind, claimed_token) = (self.inner.kind.clone(), token.clone());
        self.inner.claims_begun.fetch_add(1, Ordering::SeqCst);
        let jobs = self
            .inner
            .db
            .write(move |conn| {
                let now = db::now();
                kind.claim(conn, &claimed_token, now, now + lease, limit)
                    .map_err(DbError::from)
            })
            .await?;
        Ok(jobs.into_iter().map(|job| (token.clone(), job)).collect())
    }

    async fn process(&self, token: Arc<str>, job: K::Job) {
        let done = self.inner.kind.run(&job).await;
        let name = K::describe(&job);
        match self.record(Finished { token, job, done }).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(queue = K::QUEUE, job = %name, "lease lost before the result was recorded; another worker owns the job now")
            }
            Err(error) => {
                tracing::error!(queue = K::QUEUE, job = %name, %error, "recording a job's result failed; it runs again when its lease expires")
            }
        }
    }

    /// Stores a finished job. Jobs that finish while an earlier batch is being written wait
    /// and go into the next batch together, so a busy runner writes one transaction per batch
    /// instead of one per job (group commit). Returns false when the lease was lost.
    async fn record(&self, finished: Finished<K>) -> Result<bool, String> {
        let (done, result) = oneshot::channel();
        let recorder = &self.inner.recorder;
        recorder.queue.lock().unwrap().push((finished, done));
        // Whoever finds no batch being written writes every queued result, its own included,
        // until the queue is empty; the others only wait for their answer.
        while !recorder.queue.lock().unwrap().is_empty()
            && !recorder.writing.swap(true, Ordering::AcqRel)
        {
            let _release = ReleaseOnDrop(&recorder.writing);
            loop {
                let batch = std::mem::take(&mut *recorder.queue.lock().unwrap());
                if batch.is_empty() {
                    break;
                }
                let (items, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let size = items.len();
                let outcome = self.record_batch(items).await;
                for (index, waiter) in waiters.into_iter().enumerate() {
                    let _ = waiter.send(match &outcome {
                        Ok(held) => Ok(held[index]),
                        Err(error) => Err(error.to_string()),
                    });
                }
                tracing::debug!(queue = K::QUEUE, size, "recorded a batch of results");
            }
        }
        result
            .await
            .unwrap_or_else(|_| Err("the result recorder stopped".to_owned()))
    }

    /// Writes finished jobs in one transaction; per job, whether its lease still held.
    async fn record_batch(&self, batch: Vec<Finished<K>>) -> Result<Vec<bool>, DbError> {
        let kind = self.inner.kind.clone();
        let claims_before = self.inner.claims_begun.load(Ordering::SeqCst);
        let (held, waiting) = self
            .inner
            .db
            .write(move |conn| {
                let held = kind.record(conn, &batch)?;
                debug_assert_eq!(held.len(), batch.len(), "one answer per job");
                let jobs: Vec<&K::Job> = batch.iter().map(|f| &f.job).collect();
                let waiting = K::FINISHING_MAY_MAKE_DUE && kind.waiting_behind(conn, &jobs)?;
                Ok::<_, DbError>((held, waiting))
            })
            .await?;
        // Rows behind these jobs are due now. So may be one committed while this batch was
        // recorded, which `waiting_behind` could not see yet: the claim its wake-up started
        // then found it still blocked, so a claim begun meanwhile means looking again.
        if K::FINISHING_MAY_MAKE_DUE
            && (waiting || self.inner.claims_begun.load(Ordering::SeqCst) != claims_before)
        {
            self.wake();
        }
        Ok(held)
    }
}

/// A job that ended, waiting to be recorded: its claim's lease token, the job, what running it
/// produced.
pub struct Finished<K: JobKind> {
    pub token: Arc<str>,
    pub job: K::Job,
    pub done: K::Done,
}

/// Tells a waiting job whether it was recorded with its lease held, or why it was not.
type RecordedSender = oneshot::Sender<Result<bool, String>>;

/// Finished jobs waiting for the batch being written, and whether one is being written.
struct Recorder<K: JobKind> {
    queue: Mutex<Vec<(Finished<K>, RecordedSender)>>,
    writing: AtomicBool,
}

impl<K: JobKind> Default for Recorder<K> {
    fn default() -> Self {
        Recorder {
            queue: Mutex::new(Vec::new()),
            writing: AtomicBool::new(false),
        }
    }
}

/// Lets the next job write batches even if the writing task is cancelled mid-write.
struct ReleaseOnDrop<'a>(&'a AtomicBool);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Ends finished jobs with one statement per group that ended alike (same `Key`: their claim's
/// token and how they ended; a storm's are all alike). `ending` holds each job's place in the
/// batch, its row id and its key; `end` ends a group's rows and returns the ids it ended (those
/// whose lease still held); their places in `held` become true.
pub fn end_alike<Key: PartialEq>(
    ending: Vec<(usize, i64, Key)>,
    held: &mut [bool],
    mut end: impl FnMut(&Key, &[i64]) -> diesel::QueryResult<Vec<i64>>,
) -> diesel::QueryResult<()> {
    let mut groups: Vec<(Key, Vec<(usize, i64)>)> = Vec::new();
    for (place, id, key) in ending {
        match groups.iter_mut().find(|(alike, _)| *alike == key) {
            Some((_, rows)) => rows.push((place, id)),
            None => groups.push((key, vec![(place, id)])),
        }
    }
    for (key, rows) in groups {
        let ids: Vec<i64> = rows.iter().map(|(_, id)| *id).collect();
        let ended = end(&key, &ids)?;
        for (place, id) in rows {
            held[place] = ended.contains(&id);
        }
    }
    Ok(())
}

/// What happened to a job after one attempt: webhooks and emails end the same three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Not yet: tried again at this time.
    Retry(NaiveDateTime),
    Failed,
}

/// When to try again after `retries_done` failed retries, following `schedule` with ±20 %
/// jitter (so that many retries do not all land at once), or `None` when the schedule is
/// used up. A delay the receiver asked for (`requested`) replaces the scheduled one.
pub fn retry_at(
    schedule: &[Duration],
    retries_done: usize,
    requested: Option<Duration>,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let scheduled = schedule.get(retries_done)?;
    let delay = requested
        .map(|d| d.clamp(Duration::from_secs(1), Duration::from_secs(86_400)))
        .unwrap_or_else(|| scheduled.mul_f64(rand::rng().random_range(0.8..=1.2)));
    Some(now + chrono::Duration::from_std(delay).unwrap_or_default())
}
