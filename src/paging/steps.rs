//! The escalation worker: a job kind whose work is all in its recording transaction, where it
//! checks that the incident is still triggered and fires the level (`domain::escalations`).

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::escalations::{self, StepRow};
use crate::db::{self, DbConn};
use crate::domain::incidents::escalation::fire_in;
use crate::jobs::{Finished, JobKind};

pub struct EscalationSteps;

impl JobKind for EscalationSteps {
    type Job = StepRow;
    type Done = ();
    const QUEUE: &'static str = escalations::WAKE_CHANNEL;
    /// A fired level enqueues the next as a row, whose commit wakes the runner.
    const FINISHING_MAY_MAKE_DUE: bool = false;

    fn lease(&self) -> Duration {
        Duration::from_secs(30)
    }

    fn claim(
        &self,
        conn: &mut DbConn,
        token: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: usize,
    ) -> diesel::QueryResult<Vec<StepRow>> {
        escalations::claim_due(conn, token, now, until, limit as i64)
    }

    /// Nothing happens outside the transaction: who is on call and what to send are decided
    /// when the step commits, so that an acknowledgement a moment earlier wins.
    async fn run(&self, _step: &StepRow) {}

    fn record(
        &self,
        conn: &mut DbConn,
        finished: &[Finished<Self>],
    ) -> diesel::QueryResult<Vec<bool>> {
        finished
            .iter()
            .map(|Finished { token, job, .. }| {
                let fired = fire_in(conn, token, job, db::now())?;
                if let Some(fired) = &fired {
                    tracing::info!(
                        incident = job.incident_id,
                        level = job.level + 1,
                        round = job.round,
                        emailed = fired.emailed,
                        stood_down = fired.stood_down,
                        "escalation step"
                    );
                }
                Ok(fired.is_some())
            })
            .collect()
    }

    fn describe(step: &StepRow) -> String {
        format!("escalation step {}", step.id)
    }
}
