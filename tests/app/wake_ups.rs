//! The webhook sender is woken by the commit that enqueued a delivery, whichever way the change
//! came in: the sender here polls once an hour, so anything that arrives within seconds was
//! woken by its commit.

use std::time::Duration;

use klaxon::config::Config;
use serde_json::json;

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{
    act, api_integration, configured_webhook, create_api_key, for_each_backend_with, post_event,
    sender_to_loopback, trigger,
};

fn sender_polling_hourly(config: &mut Config) {
    sender_to_loopback(config);
    config.webhook_poll_secs = 3600;
}

const PROMPTLY: Duration = Duration::from_secs(5);

#[tokio::test]
async fn pages_api_events_and_test_events_wake_the_sender_when_they_commit() {
    for_each_backend_with(sender_polling_hourly, |app| async move {
        let receiver = Receiver::start().await;
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        let webhook = configured_webhook(&app, &service, &receiver.url).await;

        let number = trigger(&app, &service, "Disk full").await;
        receiver.wait_for(1, PROMPTLY).await;
        act(&app, number, "acknowledge").await;
        receiver.wait_for(2, PROMPTLY).await;

        let (_, alert) = post_event(
            &app,
            &events,
            json!({"message": "CPU high", "alert_type": "critical", "entity_id": "cpu"}),
        )
        .await;
        assert_eq!(alert["incident_created"], true, "{alert}");
        receiver.wait_for(3, PROMPTLY).await;

        let key = create_api_key(&app, "wake-up test").await;
        let created = reqwest::Client::new()
            .post(app.url("/api/incidents/"))
            .header("Authorization", format!("Token {key}"))
            .json(&json!({"service": service, "title": "From the API"}))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "{}",
            created.text().await.unwrap()
        );
        receiver.wait_for(4, PROMPTLY).await;

        let configure = format!("/services/{service}/integrations/{webhook}");
        app.submit(&configure, &format!("{configure}/test-event"), &[])
            .await;
        let received = receiver.wait_for(5, PROMPTLY).await;
        assert_eq!(received[4].header("klaxon-test-event"), "true");
    })
    .await;
}

/// An incident's next webhook becomes due when the one before it is done, and nothing is
/// committed at that moment to wake the sender: recording the one before must look for it.
/// Here the acknowledgement and the resolution commit while the trigger's webhook is still
/// being answered, and the sender polls once an hour.
#[tokio::test]
async fn webhooks_queued_behind_one_in_flight_follow_it_at_once() {
    for_each_backend_with(sender_polling_hourly, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::Slow(Duration::from_millis(500))]);
        app.create_owner().await;
        let (service, _, _) = api_integration(&app).await;
        configured_webhook(&app, &service, &receiver.url).await;

        let number = trigger(&app, &service, "Disk full").await;
        receiver.wait_for(1, PROMPTLY).await;
        act(&app, number, "acknowledge").await;
        act(&app, number, "resolve").await;
        receiver.wait_for(3, PROMPTLY).await;
        assert_eq!(
            receiver.event_types(),
            ["triggered", "acknowledged", "resolved"]
        );
    })
    .await;
}

/// In a batch of grouped writes on PostgreSQL, only the first kept piece of work sends the
/// channel's `NOTIFY` (PostgreSQL delivers one per transaction anyway); one that was rolled back
/// must not count, or its discarded `NOTIFY` would leave the batch's commit waking nobody.
#[tokio::test]
async fn a_batch_of_grouped_writes_notifies_once_even_after_a_piece_that_was_rolled_back() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use klaxon::db::{wake, Db, DbError};

    use crate::helpers::{backends, Backend, TestDatabase};

    const CHANNEL: &str = "klaxon_test_batch";
    if !backends().contains(&Backend::Postgres) {
        eprintln!("skipped: needs PostgreSQL (set KLAXON_TEST_POSTGRES_URL)");
        return;
    }
    let database = TestDatabase::create(Backend::Postgres);
    let db = Db::connect(&database.url, 4).expect("the test database opens");
    let mut listener = PgConnection::establish(&database.url).unwrap();
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut listener)
        .unwrap();
    let transactions_before = db.writer_counters().transactions.get();
    // Holds the writer while the others queue up behind it, so they run as one batch.
    let slow = db.write_grouped(|_conn| {
        std::thread::sleep(Duration::from_millis(300));
        Ok::<_, DbError>(())
    });
    let queued = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rolled_back = db.write_grouped(|conn| {
            wake::after_commit(conn, CHANNEL)?;
            Err::<(), _>(DbError::Worker("changed its mind".to_owned()))
        });
        let kept = db.write_grouped(|conn| Ok::<_, DbError>(wake::after_commit(conn, CHANNEL)?));
        let also_kept =
            db.write_grouped(|conn| Ok::<_, DbError>(wake::after_commit(conn, CHANNEL)?));
        tokio::join!(rolled_back, kept, also_kept)
    };
    let (slow, (rolled_back, kept, also_kept)) = tokio::join!(slow, queued);
    slow.unwrap();
    assert!(rolled_back.is_err());
    kept.unwrap();
    also_kept.unwrap();
    let transactions = db.writer_counters().transactions.get() - transactions_before;
    assert!(
        transactions <= 2,
        "the three queued writes shared a batch ({transactions} transactions)"
    );
    let deadline = std::time::Instant::now() + PROMPTLY;
    let mut received = 0;
    while std::time::Instant::now() < deadline {
        for notification in listener.notifications_iter() {
            assert_eq!(notification.unwrap().channel, CHANNEL);
            received += 1;
        }
        if received > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received, 1, "the batch's commit notified the channel once");
}

/// A job kind for watching a runner claim: its rows are numbers in a shared queue, and it
/// counts its claims.
mod counted {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use chrono::NaiveDateTime;
    use klaxon::db::DbConn;
    use klaxon::jobs::{Finished, JobKind};

    pub const QUEUE: &str = "klaxon_test_counted";

    #[derive(Clone, Default)]
    pub struct Counted {
        pub queue: Arc<Mutex<VecDeque<u32>>>,
        pub claims: Arc<AtomicUsize>,
        pub done: Arc<AtomicUsize>,
    }

    impl Counted {
        pub fn claims(&self) -> usize {
            self.claims.load(Ordering::SeqCst)
        }

        pub fn done(&self) -> usize {
            self.done.load(Ordering::SeqCst)
        }
    }

    impl JobKind for Counted {
        type Job = u32;
        type Done = ();
        const QUEUE: &'static str = QUEUE;
        const FINISHING_MAY_MAKE_DUE: bool = false;

        fn lease(&self) -> Duration {
            Duration::from_secs(30)
        }

        fn claim(
            &self,
            _conn: &mut DbConn,
            _token: &str,
            _now: NaiveDateTime,
            _until: NaiveDateTime,
            limit: usize,
        ) -> diesel::QueryResult<Vec<u32>> {
            self.claims.fetch_add(1, Ordering::SeqCst);
            let mut queue = self.queue.lock().unwrap();
            let take = limit.min(queue.len());
            Ok(queue.drain(..take).collect())
        }

        async fn run(&self, _job: &u32) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        fn record(
            &self,
            _conn: &mut DbConn,
            finished: &[Finished<Self>],
        ) -> diesel::QueryResult<Vec<bool>> {
            self.done.fetch_add(finished.len(), Ordering::SeqCst);
            Ok(vec![true; finished.len()])
        }

        fn describe(job: &u32) -> String {
            format!("counted job {job}")
        }
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + PROMPTLY;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A claim that got fewer rows than it asked for took everything due: the worker claims
/// again only when a commit enqueues more (on PostgreSQL a claim is a transaction of several
/// round trips, and a lone alert used to cost four claims of each queue). Its own commits'
/// `NOTIFY` does not wake it a second time; another instance's still does; rows left behind
/// a full claim are taken as slots free up, without any wake-up.
#[tokio::test]
async fn a_worker_claims_when_work_is_enqueued_and_not_again_for_nothing() {
    use klaxon::db::{wake, Db, DbError};
    use klaxon::jobs::{Runner, RunnerSettings};

    use crate::helpers::{backends, Backend, TestDatabase};

    for backend in backends() {
        let database = TestDatabase::create(backend);
        let db = Db::connect(&database.url, 4).expect("the test database opens");
        let kind = counted::Counted::default();
        let runner = Runner::new(
            kind.clone(),
            db.clone(),
            RunnerSettings {
                concurrency: 4,
                poll_interval: Duration::from_secs(3600),
                shutdown_grace: Duration::from_secs(5),
            },
        );
        let handle = runner.start();
        let enqueue = |db: Db, jobs: Vec<u32>| {
            let queue = kind.queue.clone();
            async move {
                queue.lock().unwrap().extend(jobs);
                db.write(|conn| Ok::<_, DbError>(wake::after_commit(conn, counted::QUEUE)?))
                    .await
                    .unwrap();
            }
        };
        // The first look at start, and on PostgreSQL the listener's once it has connected.
        let looks_at_start = if backend == Backend::Postgres { 2 } else { 1 };
        eventually("the worker looked for work at start", || {
            kind.claims() >= looks_at_start
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(kind.claims(), looks_at_start);

        let before = kind.claims();
        enqueue(db.clone(), vec![1]).await;
        eventually("the job ran", || kind.done() == 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            kind.claims() - before,
            1,
            "{backend:?}: one commit, one claim"
        );

        enqueue(db.clone(), (2..12).collect()).await;
        eventually("the ten jobs behind a full claim ran", || kind.done() == 11).await;

        if backend == Backend::Postgres {
            let other = Db::connect(&database.url, 1).expect("a second handle opens");
            let before = kind.claims();
            enqueue(other, vec![12]).await;
            eventually("another instance's commit woke the worker", || {
                kind.done() == 12
            })
            .await;
            assert_eq!(
                kind.claims() - before,
                1,
                "one claim for the other's commit"
            );
        }
        handle.shutdown().await;
    }
}

/// The pool hands out a connection that worked a moment ago without a ping, but not one the
/// server dropped meanwhile: its socket says so. A connection idle for longer is pinged. Either
/// way the work gets a live connection.
#[tokio::test]
async fn a_connection_the_server_dropped_leaves_the_pool() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use klaxon::db::{Db, DbConn, DbError};

    use crate::helpers::{backends, Backend, TestDatabase};

    if !backends().contains(&Backend::Postgres) {
        eprintln!("skipped: needs PostgreSQL (set KLAXON_TEST_POSTGRES_URL)");
        return;
    }
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let database = TestDatabase::create(Backend::Postgres);
    let db = Db::connect(&database.url, 1).expect("the test database opens");
    let backend_pid = || {
        db.run(|conn: &mut DbConn| {
            let DbConn::Postgres(pg) = conn else {
                unreachable!("a PostgreSQL test")
            };
            Ok::<_, DbError>(
                diesel::sql_query("SELECT pg_backend_pid() AS pid")
                    .get_result::<Pid>(pg)?
                    .pid,
            )
        })
    };
    let mut admin = PgConnection::establish(&database.url).unwrap();
    let mut terminate = |pid: i32| {
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut admin)
            .unwrap();
        // pg_terminate_backend only signals; wait until the process is gone, socket and all
        // (it leaves pg_stat_activity before it closes the socket; the test server is local).
        let deadline = std::time::Instant::now() + PROMPTLY;
        loop {
            let listed = !diesel::sql_query(format!(
                "SELECT pid FROM pg_stat_activity WHERE pid = {pid}"
            ))
            .load::<Pid>(&mut admin)
            .unwrap()
            .is_empty();
            let running = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|name| name.starts_with("postgres"));
            if !listed && !running {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "backend {pid} ended");
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    let first = backend_pid().await.unwrap();
    terminate(first);
    let second = backend_pid()
        .await
        .expect("a connection used a moment ago is checked on its socket when handed out");
    assert_ne!(first, second);

    terminate(second);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let third = backend_pid()
        .await
        .expect("an idle connection is checked when handed out");
    assert_ne!(second, third);
}
