//! Wake-ups across instances: a transaction that enqueues work on PostgreSQL sends a `NOTIFY`
//! on its queue's channel (`db::wake::after_commit`), and each instance's listener wakes its
//! own runner, so work committed on instance A is claimed at once even when A is busy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use crate::db::OwnBackends;

/// How often the listening connection is checked. diesel offers no socket to wait on, so the
/// listener reads whatever notifications arrived (a non-blocking read) at this interval.
const CHECK_INTERVAL: Duration = Duration::from_millis(5);
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How long dropping the listener waits for its thread to let go of its connection.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Stops the listener thread when dropped, and waits (briefly) until it has: a thread still
/// inside libpq when the process exits races OpenSSL's exit-time clean-up, which crashed the
/// process at exit.
pub struct Listener {
    stop: Arc<AtomicBool>,
    stopped: std::sync::mpsc::Receiver<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Bounded: a thread waiting on an unreachable database is left to finish on its own.
        let _ = self.stopped.recv_timeout(STOP_WAIT);
    }
}

/// Listens on its own connection (outside the pool) and calls `wake` after notifications
/// that connections of other pools sent (`own` lists this pool's, whose commits woke the
/// worker already), and after every (re)connection, since notifications sent meanwhile were
/// missed.
pub fn spawn(
    database_url: String,
    channel: &'static str,
    own: Arc<OwnBackends>,
    wake: impl Fn() + Send + 'static,
) -> std::io::Result<Listener> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let (done, done_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("klaxon-listen".into())
        .spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                if let Err(error) = listen(&database_url, channel, &own, &stopped, &wake) {
                    tracing::warn!(channel, %error, "wake-up listener lost its connection; reconnecting");
                    std::thread::sleep(RECONNECT_DELAY);
                }
            }
            let _ = done.send(());
        })?;
    Ok(Listener {
        stop,
        stopped: done_rx,
    })
}

fn listen(
    database_url: &str,
    channel: &str,
    own: &OwnBackends,
    stopped: &AtomicBool,
    wake: &impl Fn(),
) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = PgConnection::establish(database_url)?;
    diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)?;
    tracing::debug!(channel, "listening for committed work");
    wake();
    while !stopped.load(Ordering::Acquire) {
        let mut notified = false;
        for notification in conn.notifications_iter() {
            notified |= !own.contains(notification?.process_id);
        }
        if notified {
            wake();
        }
        std::thread::sleep(CHECK_INTERVAL);
    }
    Ok(())
}
