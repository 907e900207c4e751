//! The sender: claims due deliveries with a lease, POSTs them, records every attempt, and
//! retries on schedule. `run_once` is one claim-and-send step; `start` runs steps forever,
//! woken at once by committed transitions and polling only as a fallback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use rand::Rng;
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::client::{AttemptResult, ErrorKind, WebhookClient};
use super::destination::DestinationPolicy;
use super::listener::{self, Listener};
use super::signing;
use crate::config::Config;
use crate::db::deliveries::{self, ClaimedRow, NewAttemptRow, FAILED, SUCCEEDED};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, integrations, DatabaseUrl, Db, DbError};
use crate::metrics::Metrics;

/// Header that marks a "Send test event" request.
pub const TEST_EVENT_HEADER: &str = "klaxon-test-event";

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub concurrency: usize,
    pub timeout: Duration,
    /// Delay before each retry; its length is the number of retries.
    pub retry_schedule: Vec<Duration>,
    pub poll_interval: Duration,
    pub shutdown_grace: Duration,
}

impl EngineSettings {
    pub fn from_config(config: &Config) -> Self {
        EngineSettings {
            concurrency: config.webhook_concurrency.max(1),
            timeout: Duration::from_secs(config.webhook_timeout_secs.max(1)),
            retry_schedule: config
                .webhook_retry_schedule
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            poll_interval: Duration::from_secs(config.webhook_poll_secs.max(1)),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        }
    }

    /// A claim outlives the attempt it covers; after that the row may be taken again.
    fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }
}

struct Inner {
    db: Db,
    client: WebhookClient,
    settings: EngineSettings,
    wake: Notify,
    metrics: Arc<Metrics>,
    instance: String,
    recorder: Recorder,
}

#[derive(Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

/// Stops a running engine.
pub struct EngineHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _listener: Option<Listener>,
}

impl EngineHandle {
    /// Stops claiming, gives in-flight attempts the grace period, then returns. Whatever is
    /// cut short keeps its lease until it expires and is sent again after a restart.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What happened to a delivery after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Retry(NaiveDateTime),
    Failed,
}

impl DeliveryEngine {
    pub fn new(
        db: Db,
        policy: DestinationPolicy,
        settings: EngineSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let client = WebhookClient::new(policy, settings.timeout)?;
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(DeliveryEngine {
            inner: Arc::new(Inner {
                db,
                client,
                settings,
                wake: Notify::new(),
                metrics,
                instance,
                recorder: Recorder::default(),
            }),
        })
    }

    /// Tells the sender that deliveries were committed; it claims them at once.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// One step: claims what is due (up to the concurrency), sends it all, records the
    /// results. Returns how many deliveries were attempted.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let claimed = self.claim(self.inner.settings.concurrency).await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for (token, row) in claimed {
            let engine = self.clone();
            tasks.spawn(async move { engine.process(&token, row).await });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Runs until the handle is shut down.
    pub fn start(&self) -> EngineHandle {
        let (stop, stopped) = watch::channel(false);
        let engine = self.clone();
        let task = tokio::spawn(async move { engine.run(stopped).await });
        // On PostgreSQL other instances commit deliveries too; their NOTIFY wakes this sender.
        let listener = match self.inner.db.url() {
            DatabaseUrl::Postgres(url) => {
                let engine = self.clone();
                listener::spawn(url.clone(), move || engine.wake())
                    .map_err(|error| tracing::error!(%error, "cannot start the wake-up listener; relying on polling"))
                    .ok()
            }
            DatabaseUrl::Sqlite(_) => None,
        };
        EngineHandle {
            stop,
            task,
            _listener: listener,
        }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let settings = &self.inner.settings;
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let mut in_flight = JoinSet::new();
        let claim_floor = (settings.concurrency / 4).max(1);
        tracing::info!(instance = %self.inner.instance, concurrency = settings.concurrency, "webhook sender started");
        loop {
            if *stopped.borrow() {
                break;
            }
            while in_flight.try_join_next().is_some() {}
            let free = slots.available_permits();
            // Under load, wait until a few slots are free and claim them in one transaction,
            // rather than one claim per finished attempt.
            if free >= claim_floor || (free > 0 && in_flight.is_empty()) {
                match self.claim(free).await {
                    Ok(claimed) if !claimed.is_empty() => {
                        for (token, row) in claimed {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            let engine = self.clone();
                            in_flight.spawn(async move {
                                engine.process(&token, row).await;
                                drop(permit);
                                // The next delivery of the same incident may be due now.
                                engine.wake();
                            });
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(%error, "claiming deliveries failed");
                    }
                }
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(settings.poll_interval) => {}
                _ = stopped.changed() => {}
            }
        }
        let waiting = in_flight.len();
        tracing::info!(in_flight = waiting, "webhook sender stopping");
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "grace period over; unfinished attempts are sent again after their lease expires"
            );
            in_flight.abort_all();
        }
    }

    /// Leases up to `limit` due deliveries. Each claim gets its own token, so a finishing
    /// update can tell whether its lease still holds.
    async fn claim(&self, limit: usize) -> Result<Vec<(String, ClaimedRow)>, DbError> {
        let token = format!("{}:{}", self.inner.instance, uuid::Uuid::new_v4().simple());
        let lease = chrono::Duration::from_std(self.inner.settings.lease()).unwrap_or_default();
        let claimed_token = token.clone();
        let rows = self
            .inner
            .db
            .write(move |conn| {
                let now = db::now();
                deliveries::claim_due(conn, &claimed_token, now, now + lease, limit as i64)
                    .map_err(DbError::from)
            })
            .await?;
        Ok(rows.into_iter().map(|row| (token.clone(), row)).collect())
    }

    async fn process(&self, token: &str, row: ClaimedRow) {
        let started_at = db::now();
        let (headers, result) = match self.destination(&row) {
            Ok(url) => {
                let headers = request_headers(&row, started_at);
                let result = self
                    .inner
                    .client
                    .post(&url, &headers, row.payload.clone())
                    .await;
                (headers, result)
            }
            Err(reason) => (Vec::new(), not_sent(reason)),
        };
        let outcome = self.outcome(&row, &result);
        self.inner.metrics.record_attempt(
            match outcome {
                Outcome::Succeeded => "succeeded",
                Outcome::Retry(_) => "retry",
                Outcome::Failed => "failed",
            },
            result.duration.as_secs_f64(),
        );
        let (log_status, delivery) = (result.status, row.unique_id.clone());
        let finished = Finished {
            token: token.to_owned(),
            row,
            started_at,
            headers,
            result,
            outcome,
        };
        match self.record(finished).await {
            Ok(true) => {
                tracing::info!(%delivery, status = ?log_status, outcome = ?outcome, "webhook attempt")
            }
            Ok(false) => {
                tracing::warn!(%delivery, "lease lost before the attempt was recorded; another worker owns the delivery now")
            }
            Err(error) => {
                tracing::error!(%delivery, %error, "recording a webhook attempt failed; it will be retried when its lease expires")
            }
        }
    }

    /// Stores a finished attempt. Attempts that finish while an earlier batch is being written
    /// wait and go into the next batch together, so a busy sender writes one transaction per
    /// batch instead of one per attempt (group commit). Returns false when the lease was lost.
    async fn record(&self, finished: Finished) -> Result<bool, String> {
        let (done, result) = oneshot::channel();
        let recorder = &self.inner.recorder;
        recorder.queue.lock().unwrap().push((finished, done));
        // Whoever finds no batch being written writes every queued attempt, its own included,
        // until the queue is empty; the others only wait for their result.
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
                tracing::debug!(size, "recorded a batch of webhook attempts");
            }
        }
        result
            .await
            .unwrap_or_else(|_| Err("the attempt recorder stopped".to_owned()))
    }

    /// Writes finished attempts in one transaction; per attempt, whether its lease still held.
    async fn record_batch(&self, batch: Vec<Finished>) -> Result<Vec<bool>, DbError> {
        self.inner
            .db
            .write(move |conn| {
                batch
                    .iter()
                    .map(|finished| record_in(conn, finished))
                    .collect::<Result<Vec<bool>, _>>()
                    .map_err(DbError::from)
            })
            .await
    }

    /// The URL to send to, or why nothing is sent.
    fn destination(&self, row: &ClaimedRow) -> Result<String, String> {
        if row.integration_deleted_at.is_some() {
            return Err("the integration was deleted".into());
        }
        if !row.integration_enabled {
            return Err("the integration is disabled".into());
        }
        match row.url.as_deref() {
            Some(url) if !url.is_empty() => Ok(url.to_owned()),
            _ => Err("the integration has no URL".into()),
        }
    }

    fn outcome(&self, row: &ClaimedRow, result: &AttemptResult) -> Outcome {
        if result.succeeded() {
            return Outcome::Succeeded;
        }
        let not_sent = result
            .error
            .as_ref()
            .is_some_and(|(kind, _)| *kind == ErrorKind::NotSent);
        let retries_done = row.attempt_count as usize;
        match self.inner.settings.retry_schedule.get(retries_done) {
            Some(delay) if result.status != Some(410) && !not_sent => {
                let delay = result
                    .retry_after
                    .map(|d| d.clamp(Duration::from_secs(1), Duration::from_secs(86_400)))
                    .unwrap_or_else(|| jitter(*delay));
                Outcome::Retry(db::now() + chrono::Duration::from_std(delay).unwrap_or_default())
            }
            _ => Outcome::Failed,
        }
    }
}

/// An attempt that ended, waiting to be stored.
struct Finished {
    token: String,
    row: ClaimedRow,
    started_at: NaiveDateTime,
    headers: Vec<(String, String)>,
    result: AttemptResult,
    outcome: Outcome,
}

/// Tells a waiting attempt whether it was stored with its lease held, or why it was not.
type RecordedSender = oneshot::Sender<Result<bool, String>>;

/// Finished attempts waiting for the batch being written, and whether one is being written.
#[derive(Default)]
struct Recorder {
    queue: Mutex<Vec<(Finished, RecordedSender)>>,
    writing: AtomicBool,
}

/// Lets the next attempt write batches even if the writer's task is cancelled mid-write.
struct ReleaseOnDrop<'a>(&'a AtomicBool);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Stores one attempt and moves its delivery on (succeeded, retry, failed), inside the
/// caller's write transaction. False when the lease was lost: the attempt is kept, the
/// delivery belongs to whoever holds it now.
fn record_in(conn: &mut db::DbConn, finished: &Finished) -> diesel::QueryResult<bool> {
    let Finished {
        token,
        row,
        started_at,
        headers,
        result,
        outcome,
    } = finished;
    let status = result.status.map(i32::from);
    let error_text = result.error.as_ref().map(|(_, message)| message.clone());
    deliveries::insert_attempt(
        conn,
        &NewAttemptRow {
            delivery_id: row.id,
            started_at: *started_at,
            duration_ms: result.duration.as_millis() as i64,
            request_headers: serde_json::to_string(headers).unwrap_or_default(),
            status_code: status,
            response_headers: serde_json::to_string(&result.response_headers).unwrap_or_default(),
            response_body: result.body_excerpt.clone(),
            error_kind: result
                .error
                .as_ref()
                .map(|(kind, _)| kind.as_str().to_owned()),
            error_message: error_text.clone(),
        },
    )?;
    let now = db::now();
    let held = match *outcome {
        Outcome::Succeeded => {
            deliveries::finish(conn, row.id, token, SUCCEEDED, status, None, now)?
        }
        Outcome::Retry(at) => {
            deliveries::schedule_retry(conn, row.id, token, status, error_text.as_deref(), at)?
        }
        Outcome::Failed => deliveries::finish(
            conn,
            row.id,
            token,
            FAILED,
            status,
            error_text.as_deref(),
            now,
        )?,
    };
    if !held {
        return Ok(false);
    }
    if status == Some(410) && row.integration_enabled {
        integrations::set_enabled(conn, row.integration_id, false)?;
        integrations::record_audit(
            conn,
            row.integration_id,
            row.service_id,
            None,
            "disabled",
            "the receiver answered 410 Gone",
            now,
        )?;
    }
    let Some(incident_id) = row.incident_id else {
        return Ok(true);
    };
    let url = row.url.as_deref().unwrap_or_default();
    let (kind, detail) = match (outcome, status) {
        (Outcome::Retry(_), _) => return Ok(true),
        (Outcome::Succeeded, Some(code)) => (
            "webhook_delivered",
            format!("{} to {url}: HTTP {code}", row.event_type),
        ),
        (_, Some(code)) => (
            "webhook_failed",
            format!("{} to {url}: HTTP {code}", row.event_type),
        ),
        _ => (
            "webhook_failed",
            format!(
                "{} to {url}: {}",
                row.event_type,
                error_text.unwrap_or_default()
            ),
        ),
    };
    timeline::append(
        conn,
        &NewTimelineRow {
            incident_id,
            kind,
            actor_user_id: None,
            actor_label: "Klaxon",
            detail: &detail,
            delivery_id: Some(row.id),
            created_at: now,
        },
    )?;
    Ok(true)
}

/// ±20 % around the scheduled delay, so that many retries do not all land at once.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.8..=1.2))
}

fn not_sent(reason: String) -> AttemptResult {
    AttemptResult {
        duration: Duration::ZERO,
        status: None,
        response_headers: Vec::new(),
        body_excerpt: String::new(),
        error: Some((ErrorKind::NotSent, reason)),
        retry_after: None,
    }
}

/// Standard Webhooks headers. Both the current and, during a rotation, the previous secret sign.
fn request_headers(row: &ClaimedRow, now: NaiveDateTime) -> Vec<(String, String)> {
    let timestamp = now.and_utc().timestamp();
    let mut secrets: Vec<&str> = row.secret.as_deref().into_iter().collect();
    if let (Some(previous), Some(until)) = (
        row.previous_secret.as_deref(),
        row.previous_secret_expires_at,
    ) {
        if until > now {
            secrets.push(previous);
        }
    }
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("webhook-id".to_owned(), row.unique_id.clone()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
    ];
    match signing::signature_header(&secrets, &row.unique_id, timestamp, row.payload.as_bytes()) {
        Ok(signature) if !secrets.is_empty() => {
            headers.push(("webhook-signature".to_owned(), signature))
        }
        _ => {
            tracing::error!(delivery = %row.unique_id, "the integration's signing secret is unusable; sending unsigned")
        }
    }
    if row.is_test {
        headers.push((TEST_EVENT_HEADER.to_owned(), "true".to_owned()));
    }
    headers
}
