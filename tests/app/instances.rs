//! Several Klaxon processes on one PostgreSQL database: every webhook once, in order per
//! incident, and nothing lost when one instance is killed.

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::time::Duration;

use diesel::prelude::*;
use klaxon::db::schema::deliveries;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::receiver::{Received, Receiver, Reply};
use crate::helpers::{
    api_integration, backends, configured_webhook, metric, query, spawn_klaxon, Backend, TestApp,
    TestDatabase,
};

/// Runs `test` on a fresh PostgreSQL database, or says why it does not run.
async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if !backends().contains(&Backend::Postgres) {
        eprintln!("skipped: several instances need PostgreSQL (set KLAXON_TEST_POSTGRES_URL)");
        return;
    }
    test(TestDatabase::create(Backend::Postgres)).await;
}

/// Kills the instance when the test ends, also when it fails.
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_instance(database_url: &str) -> (Instance, String) {
    let (child, address) = spawn_klaxon(database_url, &[("KLAXON_EVENTS_RATE_LIMIT", "0")]);
    (Instance(child), address)
}

/// Two instances on one database, an owner, a service with an API integration (its events
/// URL path in `events`) and an outgoing webhook to `receiver`.
struct Pair {
    receiver: Receiver,
    a: Instance,
    address_a: String,
    b: Instance,
    address_b: String,
    app: TestApp,
    events: String,
}

impl Pair {
    async fn start(database: &TestDatabase) -> Pair {
        let receiver = Receiver::start().await;
        let (a, address_a) = start_instance(&database.url);
        let (b, address_b) = start_instance(&database.url);
        let app = TestApp::attach(address_a.clone(), database.url.clone());
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, &receiver.url).await;
        Pair {
            receiver,
            a,
            address_a,
            b,
            address_b,
            app,
            events,
        }
    }
}

async fn send_event(address: &str, events: &str, alert_type: &str, entity: &str) {
    let response = reqwest::Client::new()
        .post(format!("{address}{events}"))
        .json(&json!({"message": format!("{entity} is down"), "alert_type": alert_type, "entity_id": entity}))
        .send()
        .await
        .expect("event accepted");
    assert!(
        response.status().is_success(),
        "{alert_type} {entity} at {address}: {}",
        response.status()
    );
}

/// (incident number, event type) of a received webhook.
fn event_of(received: &Received) -> (i64, String) {
    let number = received.json()["payload"]["incident"]["incident_number"]
        .as_i64()
        .unwrap();
    (number, received.event_type())
}

/// Succeeded attempts an instance reports on `/metrics`.
async fn succeeded_at(address: &str) -> u64 {
    metric(
        address,
        r#"klaxon_webhook_deliveries_total{outcome="succeeded"}"#,
    )
    .await
    .unwrap_or(0)
}

#[tokio::test]
async fn two_instances_deliver_every_webhook_once_and_in_order() {
    on_postgres(|database| async move {
        let Pair {
            receiver,
            a: _a,
            address_a,
            b: _b,
            address_b,
            app,
            events,
        } = Pair::start(&database).await;

        // The session made on A is good on B: both take the key from the shared database.
        let on_b = TestApp::attach(address_b.clone(), database.url.clone());
        let page = on_b
            .get_with_cookie("/incidents", &app.session_cookie())
            .await;
        assert_eq!(page.status(), StatusCode::OK, "signed in on B too");

        // 667 incidents × (trigger, acknowledge, resolve), each step on the other instance
        // than the one before, 8 incidents at a time.
        const INCIDENTS: usize = 667;
        let mut workers = Vec::new();
        for worker in 0..8 {
            let (a, b, events) = (address_a.clone(), address_b.clone(), events.clone());
            workers.push(tokio::spawn(async move {
                for i in (worker..INCIDENTS).step_by(8) {
                    let entity = format!("host-{i}");
                    let (first, second) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    send_event(first, &events, "critical", &entity).await;
                    send_event(second, &events, "acknowledged", &entity).await;
                    send_event(first, &events, "resolved", &entity).await;
                }
            }));
        }
        for worker in workers {
            worker.await.unwrap();
        }
        let expected = INCIDENTS * 3;
        receiver.wait_for(expected, Duration::from_secs(180)).await;
        // Late duplicates would arrive now.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let received = receiver.received();
        let ids: HashSet<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
        assert_eq!(ids.len(), expected, "every delivery arrived");
        assert_eq!(received.len(), expected, "none arrived twice");

        let mut per_incident: HashMap<i64, Vec<String>> = HashMap::new();
        for request in &received {
            let (number, event) = event_of(request);
            per_incident.entry(number).or_default().push(event);
        }
        assert_eq!(per_incident.len(), INCIDENTS);
        for (number, events) in &per_incident {
            assert_eq!(
                events,
                &["triggered", "acknowledged", "resolved"],
                "incident #{number}'s webhooks in transition order"
            );
        }

        let (from_a, from_b) = (
            succeeded_at(&address_a).await,
            succeeded_at(&address_b).await,
        );
        assert_eq!(from_a + from_b, expected as u64);
        assert!(
            from_a > 0 && from_b > 0,
            "both instances sent: A {from_a}, B {from_b}"
        );
    })
    .await;
}

#[tokio::test]
async fn deliveries_of_a_killed_instance_are_finished_by_the_other() {
    on_postgres(|database| async move {
        let Pair {
            receiver,
            a,
            address_a,
            b: _b,
            address_b,
            app,
            events,
        } = Pair::start(&database).await;

        // A slow receiver keeps attempts in flight (the timeout is 2 s, so they succeed).
        const INCIDENTS: usize = 20;
        receiver.script((0..INCIDENTS).map(|_| Reply::Slow(Duration::from_millis(1500))));
        for i in 0..INCIDENTS {
            send_event(&address_a, &events, "critical", &format!("db-{i}")).await;
        }
        receiver.wait_for(5, Duration::from_secs(10)).await;
        let mut a = a;
        a.0.kill().unwrap();
        a.0.wait().unwrap();
        let in_flight_at_kill = receiver.received().len();

        // A's unfinished attempts keep A's lease until it expires; then B sends them.
        let leased = query(&app, |conn| {
            deliveries::table
                .filter(deliveries::state.eq("pending"))
                .filter(deliveries::locked_until.is_not_null())
                .count()
                .get_result::<i64>(conn)
        })
        .await;
        assert!(leased > 0, "the killed instance held deliveries");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let unfinished = query(&app, |conn| {
                deliveries::table
                    .filter(deliveries::state.ne("succeeded"))
                    .count()
                    .get_result::<i64>(conn)
            })
            .await;
            if unfinished == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{unfinished} deliveries never finished"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let received = receiver.received();
        let mut bodies: HashMap<&str, &str> = HashMap::new();
        for request in &received {
            let body = bodies
                .entry(request.header("webhook-id"))
                .or_insert(&request.body);
            assert_eq!(*body, request.body, "a resend carries the same body");
        }
        assert_eq!(bodies.len(), INCIDENTS, "nothing lost");
        let duplicates = received.len() - bodies.len();
        assert!(
            duplicates <= in_flight_at_kill,
            "only attempts in flight at the kill were sent twice: {duplicates} of {in_flight_at_kill}"
        );
        assert!(
            succeeded_at(&address_b).await > 0,
            "B finished what A left"
        );
    })
    .await;
}

#[tokio::test]
async fn a_delivery_committed_on_one_instance_wakes_the_sender_of_another() {
    on_postgres(|database| async move {
        let receiver = Receiver::start().await;
        // A only takes requests; B only sends and looks for due deliveries once an hour, so
        // a delivery reaches the receiver within seconds only if A's NOTIFY wakes B.
        let (child, address_a) = spawn_klaxon(
            &database.url,
            &[
                ("KLAXON_EVENTS_RATE_LIMIT", "0"),
                ("KLAXON_WEBHOOK_SENDER", "false"),
            ],
        );
        let _a = Instance(child);
        let (child, _) = spawn_klaxon(&database.url, &[("KLAXON_WEBHOOK_POLL_SECS", "3600")]);
        let _b = Instance(child);
        let app = TestApp::attach(address_a.clone(), database.url.clone());
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, &receiver.url).await;
        for i in 0..3 {
            send_event(&address_a, &events, "critical", &format!("cache-{i}")).await;
            receiver.wait_for(i + 1, Duration::from_secs(20)).await;
        }
    })
    .await;
}
