//! Paging: the escalation worker fires due escalation steps (`steps`), and the notifier sends
//! the emails they queue (`email`). Both are durable job kinds on `jobs::Runner`, like webhook
//! deliveries: claimed with a lease on every instance, recorded under it, woken by the commit
//! that queued them.

pub mod email;
mod smtp;
pub mod steps;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::db::Db;
use crate::jobs::{Runner, RunnerHandle, RunnerSettings};
use crate::metrics::Metrics;

pub use email::{EmailNotifications, Mailer};
pub use steps::EscalationSteps;

/// The two paging workers of one instance.
#[derive(Clone)]
pub struct Paging {
    pub steps: Runner<EscalationSteps>,
    pub email: Runner<EmailNotifications>,
}

/// Started paging workers.
pub struct PagingHandle {
    steps: RunnerHandle,
    email: RunnerHandle,
}

impl PagingHandle {
    pub async fn shutdown(self) {
        tokio::join!(self.steps.shutdown(), self.email.shutdown());
    }
}

impl Paging {
    pub fn new(db: Db, config: &Config, mailer: Mailer, metrics: Arc<Metrics>) -> Paging {
        let poll_interval = Duration::from_secs(config.webhook_poll_secs.max(1));
        let shutdown_grace = Duration::from_secs(config.shutdown_grace_secs);
        let steps = Runner::new(
            EscalationSteps,
            db.clone(),
            RunnerSettings {
                concurrency: 16,
                poll_interval,
                shutdown_grace,
            },
        );
        let email = Runner::new(
            EmailNotifications::new(mailer, config, metrics),
            db,
            RunnerSettings {
                concurrency: email::CONCURRENCY,
                poll_interval,
                shutdown_grace,
            },
        );
        Paging { steps, email }
    }

    pub fn start(&self) -> PagingHandle {
        PagingHandle {
            steps: self.steps.start(),
            email: self.email.start(),
        }
    }
}
