//! Prometheus metrics: what the delivery engine did (counted as it happens) and how the queue
//! looks (read from the database at scrape time, so every instance reports the same truth).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;

/// Escalation levels fired by this process: by the escalation worker, and by triggers whose
/// first level has no delay (they fire it in the domain, inside their own transaction, where no
/// `Metrics` is at hand; counted when that transaction commits). One process is one instance.
pub fn escalation_steps_fired() -> &'static Counter {
    static FIRED: LazyLock<Counter> = LazyLock::new(Counter::default);
    &FIRED
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabel {
    pub channel: &'static str,
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// Finished attempts by outcome: succeeded, retry (failed, will be retried), failed (final).
    pub attempts: Family<OutcomeLabel, Counter>,
    pub attempt_seconds: Histogram,
    pub pending: Gauge,
    pub oldest_due_seconds: Gauge<f64, AtomicU64>,
    pub auto_resolved: Counter,
    pub escalation_oldest_due_seconds: Gauge<f64, AtomicU64>,
    /// Notification attempts by channel and outcome: succeeded, retry, failed, not_sent.
    pub notifications: Family<NotificationLabel, Counter>,
    pub notifications_pending: Gauge,
    pub notification_oldest_due_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("klaxon");
        let attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (succeeded, retry, failed)",
            attempts.clone(),
        );
        let attempt_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "webhook_attempt_duration_seconds",
            "Duration of one webhook attempt",
            attempt_seconds.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "webhook_pending",
            "Deliveries waiting to be sent (due or scheduled)",
            pending.clone(),
        );
        let oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_oldest_due_age_seconds",
            "How long the oldest due delivery has been waiting",
            oldest_due_seconds.clone(),
        );
        let auto_resolved = Counter::default();
        registry.register(
            "incidents_auto_resolved",
            "Incidents this instance resolved because their service's auto-resolve time ran out",
            auto_resolved.clone(),
        );
        registry.register(
            "escalation_steps_fired",
            "Escalation levels this instance fired",
            escalation_steps_fired().clone(),
        );
        let escalation_oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "escalation_oldest_due_age_seconds",
            "How long the oldest due escalation step has been waiting to fire",
            escalation_oldest_due_seconds.clone(),
        );
        let notifications = Family::<NotificationLabel, Counter>::default();
        registry.register(
            "notifications",
            "Notification attempts by channel and outcome (succeeded, retry, failed, not_sent)",
            notifications.clone(),
        );
        let notifications_pending = Gauge::default();
        registry.register(
            "notifications_pending",
            "Notifications waiting to be sent (due or scheduled)",
            notifications_pending.clone(),
        );
        let notification_oldest_due_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "notification_oldest_due_age_seconds",
            "How long the oldest due notification has been waiting",
            notification_oldest_due_seconds.clone(),
        );
        Metrics {
            registry,
            auto_resolved,
            escalation_oldest_due_seconds,
            notifications,
            notifications_pending,
            notification_oldest_due_seconds,
            attempts,
            attempt_seconds,
            pending,
            oldest_due_seconds,
        }
    }
}

impl Metrics {
    /// Adds the writer thread's counters.
    pub fn watch_database_writer(&mut self, counters: &crate::db::writer::WriterCounters) {
        self.registry.register(
            "db_write_transactions",
            "Write transactions committed or rolled back by the writer thread (every write on SQLite, alerts on PostgreSQL)",
            counters.transactions.clone(),
        );
        self.registry.register(
            "db_write_jobs",
            "Pieces of write work run by the writer thread (several share a transaction under load)",
            counters.jobs.clone(),
        );
        self.registry.register(
            "db_log_restarts",
            "Times the writer made SQLite's write-ahead log start over from its beginning during a run of writes (it keeps the log file near 64 MiB)",
            counters.log_restarts.clone(),
        );
    }

    pub fn record_attempt(&self, outcome: &'static str, seconds: f64) {
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
        self.attempt_seconds.observe(seconds);
    }

    pub fn record_notification(&self, channel: &'static str, outcome: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabel { channel, outcome })
            .inc();
    }

    /// The counter of emails recorded as not sent because email is not configured.
    pub fn notifications_not_sent(&self) -> Counter {
        self.notifications
            .get_or_create(&NotificationLabel {
                channel: "email",
                outcome: "not_sent",
            })
            .clone()
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
