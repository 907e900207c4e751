//! The real binary, killed or stopped mid-delivery: nothing committed is lost.

use std::process::Command;
use std::time::Duration;

use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{
    backends, configured_webhook, create_service, deliveries_of, spawn_klaxon, trigger, Backend,
    TestApp, TestDatabase,
};

#[tokio::test]
async fn a_server_killed_mid_delivery_loses_nothing() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let receiver = Receiver::start().await;
        let (mut first, address) = spawn_klaxon(&database.url, &[]);
        let app = TestApp::attach(address, database.url.clone());
        app.create_owner().await;
        let service = create_service(&app, "Crashy").await;
        configured_webhook(&app, &service, &receiver.url).await;

        // The receiver holds the first request for a while; the server dies meanwhile.
        receiver.script([Reply::Slow(Duration::from_millis(1500))]);
        let number = trigger(&app, &service, "Committed before the crash").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;
        first.kill().unwrap();
        first.wait().unwrap();
        let rows = deliveries_of(&app, number).await;
        assert_eq!(
            rows[0].state, "pending",
            "{backend:?}: the attempt never finished"
        );

        let (mut second, _) = spawn_klaxon(&database.url, &[]);
        let received = receiver.wait_for(2, Duration::from_secs(30)).await;
        assert_eq!(
            received[0].header("webhook-id"),
            received[1].header("webhook-id"),
            "same webhook-id: receivers can deduplicate"
        );
        assert_eq!(received[0].body, received[1].body);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rows = deliveries_of(&app, number).await;
            if rows[0].state == "succeeded" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        second.kill().unwrap();
        second.wait().unwrap();
    }
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_attempt_finish() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let receiver = Receiver::start().await;
        let (mut child, address) = spawn_klaxon(&database.url, &[]);
        let app = TestApp::attach(address, database.url.clone());
        app.create_owner().await;
        let service = create_service(&app, "Graceful").await;
        configured_webhook(&app, &service, &receiver.url).await;
        receiver.script([Reply::Slow(Duration::from_millis(800))]);
        let number = trigger(&app, &service, "Finish what you started").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "{backend:?}: clean exit, got {exit:?}");
        let rows = deliveries_of(&app, number).await;
        assert_eq!(
            rows[0].state, "succeeded",
            "{backend:?}: the in-flight attempt finished before exit"
        );
        assert_eq!(receiver.received().len(), 1);
    }
}

#[tokio::test]
async fn webhooks_ignore_proxy_settings_and_go_to_the_checked_address() {
    // Through a proxy the connection would go to the proxy, not to the address the
    // destination check approved; this one would also refuse every connection.
    let database = TestDatabase::create(Backend::Sqlite);
    let receiver = Receiver::start().await;
    let (mut child, address) = spawn_klaxon(
        &database.url,
        &[
            ("HTTP_PROXY", "http://127.0.0.1:9"),
            ("http_proxy", "http://127.0.0.1:9"),
            ("ALL_PROXY", "http://127.0.0.1:9"),
        ],
    );
    let app = TestApp::attach(address, database.url.clone());
    app.create_owner().await;
    let service = create_service(&app, "Proxied").await;
    configured_webhook(&app, &service, &receiver.url).await;
    trigger(&app, &service, "Straight to the receiver").await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
