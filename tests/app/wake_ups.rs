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
