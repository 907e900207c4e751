//! The notifier: sends queued notification emails through the configured SMTP server, records
//! every attempt with the server's reply, retries what the server may take later, and fails
//! visibly what it refused for good. Without an SMTP server, each notification is recorded as
//! not sent, never silently dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use chrono::NaiveDateTime;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use crate::config::Config;
use crate::db::notifications::{
    self, ClaimedNotification, NewAttempt, NotifiedIncident, FAILED, NOT_CONFIGURED, SUCCEEDED,
    TRIGGERED,
};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, DbConn};
use crate::domain::incidents::urgency_word;
use crate::domain::{ack_links, contacts};
use crate::jobs::{self, Finished, JobKind, Outcome};
use crate::metrics::Metrics;
use crate::paging::smtp::SmtpPool;

/// Emails in flight at once, per instance, over as many pooled SMTP connections. Each message
/// waits some tens of milliseconds on the server's replies, so a burst of pages needs many in
/// flight to go out in seconds.
pub const CONCURRENCY: usize = 32;

/// Longest one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// What sends, and what the emails link to.
pub struct Mailer {
    transport: Option<SmtpPool>,
    from: Mailbox,
    public_url: String,
    link_key: Arc<[u8]>,
}

impl Mailer {
    pub fn from_config(config: &Config, link_key: Arc<[u8]>) -> anyhow::Result<Mailer> {
        let transport = match config.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Some(
                SmtpPool::from_url(url, SMTP_TIMEOUT, CONCURRENCY)
                    .map_err(|error| anyhow::anyhow!("KLAXON_SMTP_URL is not usable: {error}"))?,
            ),
            _ => None,
        };
        let from = config.smtp_from.parse().map_err(|error| {
            anyhow::anyhow!(
                "KLAXON_SMTP_FROM is not an email address ({error}): {}",
                config.smtp_from
            )
        })?;
        Ok(Mailer {
            transport,
            from,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            link_key,
        })
    }

    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    fn message(&self, notification: &ClaimedNotification) -> Result<Message, String> {
        let to: Mailbox = notification
            .address
            .parse()
            .map_err(|_| format!("not sent: {} is not an email address", notification.address))?;
        let (subject, plain, html) = match &notification.incident {
            Some(incident) => {
                let email = EmailText::of(notification, incident, &self.public_url, &self.link_key);
                (
                    email.subject(),
                    PlainPart { email: &email }.render(),
                    HtmlPart { email: &email }.render(),
                )
            }
            None => {
                let email = ConfirmText {
                    first_name: notification.recipient_first_name.clone(),
                    address: notification.address.clone(),
                    confirm_url: format!(
                        "{}{}",
                        self.public_url,
                        contacts::confirmation_path(&self.link_key, &notification.unique_id)
                    ),
                    hours: contacts::CONFIRMATION_LIFETIME_HOURS,
                };
                (
                    "[Klaxon] Confirm your email address".to_owned(),
                    ConfirmPlain { email: &email }.render(),
                    ConfirmHtml { email: &email }.render(),
                )
            }
        };
        let plain = plain.map_err(|error| error.to_string())?;
        let html = html.map_err(|error| error.to_string())?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(plain, html))
            .map_err(|error| error.to_string())
    }
}

/// A contact method's confirmation email.
struct ConfirmText {
    first_name: String,
    address: String,
    confirm_url: String,
    hours: i64,
}

#[derive(Template)]
#[template(path = "email/confirm_contact.txt")]
struct ConfirmPlain<'a> {
    email: &'a ConfirmText,
}

#[derive(Template)]
#[template(path = "email/confirm_contact.html")]
struct ConfirmHtml<'a> {
    email: &'a ConfirmText,
}

/// What one email says, for both of its parts.
struct EmailText {
    triggered: bool,
    number: i64,
    title: String,
    service: String,
    urgency: &'static str,
    summary: String,
    when: String,
    first_name: String,
    incident_url: String,
    ack_url: Option<String>,
}

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct PlainPart<'a> {
    email: &'a EmailText,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct HtmlPart<'a> {
    email: &'a EmailText,
}

impl EmailText {
    fn of(
        notification: &ClaimedNotification,
        incident: &NotifiedIncident,
        public_url: &str,
        link_key: &[u8],
    ) -> EmailText {
        let triggered = notification.kind == TRIGGERED;
        EmailText {
            triggered,
            number: incident.number,
            title: incident.title.clone(),
            service: incident.service_name.clone(),
            urgency: urgency_word(incident.urgency),
            summary: incident.summary.clone(),
            when: incident.created.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            first_name: notification.recipient_first_name.clone(),
            incident_url: format!("{public_url}/incidents/{}", incident.number),
            ack_url: triggered.then(|| {
                format!(
                    "{public_url}{}",
                    ack_links::link_path(link_key, &notification.unique_id)
                )
            }),
        }
    }

    fn subject(&self) -> String {
        let word = if self.triggered {
            "Triggered"
        } else {
            "Resolved"
        };
        format!(
            "[Klaxon] #{} {word}: {} ({})",
            self.number, self.title, self.service
        )
    }
}

pub struct EmailNotifications {
    mailer: Mailer,
    retry_schedule: Vec<Duration>,
    metrics: Arc<Metrics>,
}

impl EmailNotifications {
    pub fn new(mailer: Mailer, config: &Config, metrics: Arc<Metrics>) -> Self {
        EmailNotifications {
            mailer,
            retry_schedule: config
                .email_retry_schedule
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            metrics,
        }
    }
}

/// One attempt at sending an email.
pub struct Sent {
    started_at: NaiveDateTime,
    duration: Duration,
    reply_code: Option<i32>,
    reply_text: String,
    error: Option<String>,
    outcome: Outcome,
}

impl JobKind for EmailNotifications {
    type Job = ClaimedNotification;
    type Done = Sent;
    const QUEUE: &'static str = notifications::WAKE_CHANNEL;
    const FINISHING_MAY_MAKE_DUE: bool = false;

    fn lease(&self) -> Duration {
        SMTP_TIMEOUT + Duration::from_secs(10)
    }

    fn claim(
        &self,
        conn: &mut DbConn,
        token: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: usize,
    ) -> diesel::QueryResult<Vec<ClaimedNotification>> {
        notifications::claim_due(conn, token, now, until, limit as i64)
    }

    async fn run(&self, notification: &ClaimedNotification) -> Sent {
        let started_at = db::now();
        let clock = Instant::now();
        let sent = match (&self.mailer.transport, self.mailer.message(notification)) {
            (None, _) => not_sent(NOT_CONFIGURED.to_owned()),
            (Some(_), Err(reason)) => not_sent(reason),
            (Some(transport), Ok(message)) => match transport.send(&message).await {
                Ok(response) => Sent {
                    reply_code: response.code().to_string().parse().ok(),
                    reply_text: response.message().collect::<Vec<_>>().join(" "),
                    error: None,
                    outcome: Outcome::Succeeded,
                    ..not_sent(String::new())
                },
                Err(error) => {
                    let outcome = if error.permanent {
                        Outcome::Failed
                    } else {
                        self.retry_or_fail(notification)
                    };
                    Sent {
                        reply_code: error.code,
                        reply_text: String::new(),
                        error: Some(error.message),
                        outcome,
                        ..not_sent(String::new())
                    }
                }
            },
        };
        let label = match (&sent.outcome, &sent.reply_code) {
            (Outcome::Succeeded, _) => "succeeded",
            (Outcome::Retry(_), _) => "retry",
            (Outcome::Failed, None) if self.mailer.transport.is_none() => "not_sent",
            (Outcome::Failed, _) => "failed",
        };
        self.metrics.record_notification("email", label);
        tracing::info!(notification = %notification.unique_id, incident = notification.incident.as_ref().map_or(0, |incident| incident.number), kind = %notification.kind, reply = ?sent.reply_code, outcome = label, error = sent.error.as_deref().unwrap_or(""), "email attempt");
        Sent {
            started_at,
            duration: clock.elapsed(),
            ..sent
        }
    }

    fn record(
        &self,
        conn: &mut DbConn,
        finished: &[Finished<Self>],
    ) -> diesel::QueryResult<Vec<bool>> {
        record_all_in(conn, finished)
    }

    fn describe(notification: &ClaimedNotification) -> String {
        format!("notification {}", notification.unique_id)
    }
}

impl EmailNotifications {
    fn retry_or_fail(&self, notification: &ClaimedNotification) -> Outcome {
        let retries_done = notification.attempt_count as usize;
        match jobs::retry_at(&self.retry_schedule, retries_done, None, db::now()) {
            Some(at) => Outcome::Retry(at),
            None => Outcome::Failed,
        }
    }
}

fn not_sent(reason: String) -> Sent {
    Sent {
        started_at: db::now(),
        duration: Duration::ZERO,
        reply_code: None,
        reply_text: String::new(),
        error: (!reason.is_empty()).then_some(reason),
        outcome: Outcome::Failed,
    }
}

/// Stores each email's attempt and moves its notification on, inside the caller's write
/// transaction, as the delivery engine records webhooks (`delivery::engine`): the attempts in
/// one statement, the notifications that ended alike under one claim in one, the timeline
/// entries of failed emails in one. False for a notification whose lease was lost or that was
/// cancelled meanwhile (its attempt is kept).
fn record_all_in(
    conn: &mut DbConn,
    finished: &[Finished<EmailNotifications>],
) -> diesel::QueryResult<Vec<bool>> {
    let attempts: Vec<NewAttempt<'_>> = finished
        .iter()
        .map(|Finished { job, done, .. }| NewAttempt {
            notification_id: job.id,
            started_at: done.started_at,
            duration_ms: done.duration.as_millis() as i64,
            reply_code: done.reply_code,
            reply_text: &done.reply_text,
            error: done.error.as_deref(),
        })
        .collect();
    notifications::insert_attempts(conn, &attempts)?;
    let now = db::now();
    let mut held = vec![false; finished.len()];
    let mut ending = Vec::new();
    for (place, Finished { token, job, done }) in finished.iter().enumerate() {
        let error = done.error.as_deref();
        let state = match done.outcome {
            Outcome::Retry(at) => {
                held[place] = notifications::schedule_retry(conn, job.id, token, error, at)?;
                continue;
            }
            Outcome::Succeeded => SUCCEEDED,
            Outcome::Failed => FAILED,
        };
        ending.push((place, job.id, (&**token, state, error)));
    }
    jobs::end_alike(ending, &mut held, |(token, state, error), ids| {
        notifications::finish_all(conn, ids, token, state, *error, now)
    })?;
    // A confirmation email has no incident: its outcome is in its own row only.
    let failures = finished
        .iter()
        .zip(&held)
        .filter(|(f, held)| **held && f.done.outcome == Outcome::Failed)
        .filter_map(|(Finished { job, done, .. }, _)| {
            let incident = job.incident.as_ref()?;
            let reason = done.error.as_deref().unwrap_or("refused");
            Some(NewTimelineRow {
                incident_id: incident.id,
                kind: "notification_failed",
                actor_user_id: None,
                actor_label: "Klaxon".into(),
                detail: format!(
                    "Email to {} ({}): {reason}",
                    job.recipient_first_name, job.address
                ),
                delivery_id: None,
                created_at: now,
            })
        })
        .collect();
    timeline::append_all(conn, failures)?;
    Ok(held)
}
