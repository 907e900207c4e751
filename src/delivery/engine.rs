//! Webhook deliveries as a kind of durable job (`jobs`): claim due deliveries, POST each
//! with fresh Standard Webhooks headers, record every attempt, retry on schedule.
//! `DeliveryEngine` is the runner that sends them; its `run_once` is one claim-and-send step.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::client::{AttemptResult, ErrorKind, WebhookClient};
use super::destination::DestinationPolicy;
use super::signing;
use crate::config::Config;
use crate::db::deliveries::{self, ClaimedRow, NewAttemptRow, FAILED, SUCCEEDED};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, integrations, Db, DbConn};
use crate::jobs::{self, Finished, JobKind, Outcome, Runner, RunnerSettings};
use crate::metrics::Metrics;

/// Header that marks a "Send test event" request.
pub const TEST_EVENT_HEADER: &str = "klaxon-test-event";

/// The webhook sender.
pub type DeliveryEngine = Runner<WebhookDeliveries>;

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
}

/// Builds the webhook sender on `db`.
pub fn delivery_engine(
    db: Db,
    policy: DestinationPolicy,
    settings: EngineSettings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<DeliveryEngine> {
    let runner_settings = RunnerSettings {
        concurrency: settings.concurrency,
        poll_interval: settings.poll_interval,
        shutdown_grace: settings.shutdown_grace,
    };
    let kind = WebhookDeliveries {
        client: WebhookClient::new(policy, settings.timeout)?,
        timeout: settings.timeout,
        retry_schedule: settings.retry_schedule,
        metrics,
    };
    Ok(Runner::new(kind, db, runner_settings))
}

/// Deliveries as jobs: the rows of `deliveries`, sent over HTTP.
pub struct WebhookDeliveries {
    client: WebhookClient,
    timeout: Duration,
    retry_schedule: Vec<Duration>,
    metrics: Arc<Metrics>,
}

/// One attempt, ready to be stored.
pub struct Attempt {
    started_at: NaiveDateTime,
    headers: Vec<(String, String)>,
    result: AttemptResult,
    outcome: Outcome,
}

impl JobKind for WebhookDeliveries {
    type Job = ClaimedRow;
    type Done = Attempt;
    const QUEUE: &'static str = deliveries::WAKE_CHANNEL;
    /// An incident's webhooks go out in order: the next is due once the one before finished
    /// (`waiting_behind`).
    const FINISHING_MAY_MAKE_DUE: bool = true;

    /// A claim outlives the attempt it covers; after that the row may be taken again.
    fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }

    fn claim(
        &self,
        conn: &mut DbConn,
        token: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: usize,
    ) -> diesel::QueryResult<Vec<ClaimedRow>> {
        deliveries::claim_due(conn, token, now, until, limit as i64)
    }

    async fn run(&self, row: &ClaimedRow) -> Attempt {
        let started_at = db::now();
        let (headers, result) = match destination(row) {
            Ok(url) => {
                let headers = request_headers(row, started_at);
                let result = self.client.post(&url, &headers, row.payload.clone()).await;
                (headers, result)
            }
            Err(reason) => (Vec::new(), not_sent(reason)),
        };
        let outcome = self.outcome(row, &result);
        self.metrics.record_attempt(
            match outcome {
                Outcome::Succeeded => "succeeded",
                Outcome::Retry(_) => "retry",
                Outcome::Failed => "failed",
            },
            result.duration.as_secs_f64(),
        );
        tracing::info!(delivery = %row.unique_id, status = ?result.status, outcome = ?outcome, "webhook attempt");
        Attempt {
            started_at,
            headers,
            result,
            outcome,
        }
    }

    fn record(
        &self,
        conn: &mut DbConn,
        finished: &[Finished<Self>],
    ) -> diesel::QueryResult<Vec<bool>> {
        record_all_in(conn, finished)
    }

    fn describe(row: &ClaimedRow) -> String {
        format!("delivery {}", row.unique_id)
    }

    fn waiting_behind(&self, conn: &mut DbConn, rows: &[&ClaimedRow]) -> diesel::QueryResult<bool> {
        let finished: Vec<_> = rows
            .iter()
            .map(|row| (row.id, row.integration_id, row.incident_id))
            .collect();
        deliveries::any_pending_behind(conn, &finished)
    }
}

impl WebhookDeliveries {
    fn outcome(&self, row: &ClaimedRow, result: &AttemptResult) -> Outcome {
        if result.succeeded() {
            return Outcome::Succeeded;
        }
        let not_sent = result
            .error
            .as_ref()
            .is_some_and(|(kind, _)| *kind == ErrorKind::NotSent);
        if result.status == Some(410) || not_sent {
            return Outcome::Failed;
        }
        let retries_done = row.attempt_count as usize;
        match jobs::retry_at(
            &self.retry_schedule,
            retries_done,
            result.retry_after,
            db::now(),
        ) {
            Some(at) => Outcome::Retry(at),
            None => Outcome::Failed,
        }
    }
}

/// The URL to send to, or why nothing is sent.
fn destination(row: &ClaimedRow) -> Result<String, String> {
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

/// Stores each finished delivery's attempt and moves the delivery on (succeeded, retry,
/// failed), inside the caller's write transaction. A delivery whose lease was lost keeps its
/// attempt and belongs to whoever holds it now (false). Webhooks finish in bursts, so the
/// batch is written in few statements: the attempts together, the deliveries that ended
/// alike under one claim together, and the timeline entries together (each a single
/// statement on PostgreSQL, `db::insert_rows!`).
fn record_all_in(
    conn: &mut DbConn,
    finished: &[Finished<WebhookDeliveries>],
) -> diesel::QueryResult<Vec<bool>> {
    let attempts: Vec<NewAttemptRow> = finished
        .iter()
        .map(|Finished { job, done, .. }| attempt_row(job, done))
        .collect();
    deliveries::insert_attempts(conn, &attempts)?;
    let now = db::now();
    let mut held = vec![false; finished.len()];
    let mut ending = Vec::new();
    for (place, Finished { token, job, done }) in finished.iter().enumerate() {
        let status = done.result.status.map(i32::from);
        let error = error_text(&done.result);
        let state = match done.outcome {
            Outcome::Retry(at) => {
                held[place] = deliveries::schedule_retry(conn, job.id, token, status, error, at)?;
                continue;
            }
            Outcome::Succeeded => SUCCEEDED,
            Outcome::Failed => FAILED,
        };
        ending.push((place, job.id, (&**token, state, status, error)));
    }
    jobs::end_alike(ending, &mut held, |(token, state, status, error), ids| {
        deliveries::finish_all(conn, ids, token, state, *status, *error, now)
    })?;
    let mut entries = Vec::new();
    for (f, _) in finished.iter().zip(&held).filter(|(_, held)| **held) {
        let (row, result) = (&f.job, &f.done.result);
        if result.status == Some(410) && row.integration_enabled {
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
        entries.extend(timeline_entry(row, &f.done, now));
    }
    timeline::append_all(conn, entries)?;
    Ok(held)
}

fn error_text(result: &AttemptResult) -> Option<&str> {
    result.error.as_ref().map(|(_, message)| message.as_str())
}

fn attempt_row(row: &ClaimedRow, attempt: &Attempt) -> NewAttemptRow {
    let result = &attempt.result;
    NewAttemptRow {
        delivery_id: row.id,
        started_at: attempt.started_at,
        duration_ms: result.duration.as_millis() as i64,
        request_headers: serde_json::to_string(&attempt.headers).unwrap_or_default(),
        status_code: result.status.map(i32::from),
        response_headers: serde_json::to_string(&result.response_headers).unwrap_or_default(),
        response_body: result.body_excerpt.clone(),
        error_kind: result
            .error
            .as_ref()
            .map(|(kind, _)| kind.as_str().to_owned()),
        error_message: error_text(result).map(str::to_owned),
    }
}

/// What the incident's timeline says about a delivery that finished (none for a retry, or a
/// delivery of no incident, such as a test webhook).
fn timeline_entry(
    row: &ClaimedRow,
    attempt: &Attempt,
    now: NaiveDateTime,
) -> Option<NewTimelineRow> {
    let incident_id = row.incident_id?;
    let url = row.url.as_deref().unwrap_or_default();
    let (kind, detail) = match (attempt.outcome, attempt.result.status) {
        (Outcome::Retry(_), _) => return None,
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
                error_text(&attempt.result).unwrap_or_default()
            ),
        ),
    };
    Some(NewTimelineRow {
        incident_id,
        kind,
        actor_user_id: None,
        actor_label: "Klaxon".into(),
        detail,
        delivery_id: Some(row.id),
        created_at: now,
    })
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
