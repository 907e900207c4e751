//! The webhook sender is woken by the commit that enqueued a delivery, whichever way the change
//! came in: the sender here polls once an hour, so anything that arrives within seconds was
//! woken by its commit.

use std::time::Duration;

use klaxon::config::Config;
use serde_json::json;

use crate::helpers::receiver::Receiver;
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
