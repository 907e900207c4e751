//! The delivery engine against real local receivers: success, failures of every kind, retries,
//! ordering, signatures, and an attempt that cannot be stored. The tests step the sender by hand
//! (`TestApp::send_until_idle`); what would take time (a retry's delay, a lease) is made to
//! have passed by moving its row's time to now. The sender in the background is tested in
//! `wake_ups.rs` and `durability.rs`.

use std::future::Future;
use std::time::Duration;

use klaxon::config::Config;
use klaxon::db::deliveries::{self, AttemptRow, DeliveryRow};
use klaxon::db::incidents;
use klaxon::db::timeline::{self, NewTimelineRow};
use reqwest::StatusCode;

use crate::helpers::receiver::{refused_url, signature_is_valid, Receiver, Reply};
use crate::helpers::{
    act, add_integration, claim_by_hand, configured_webhook, create_service, deliveries_of,
    fail_inserts_into, for_each_backend_with, location, query, record_by_hand, secret_on,
    submit_with, trigger, user_browser, TestApp,
};

const WAIT: Duration = Duration::from_secs(20);

/// Loopback opened for receivers, two retries a second apart, short timeouts; the sender off,
/// for tests that step it (`TestApp::send_until_idle`).
fn local_receivers(config: &mut Config) {
    config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    config.webhook_retry_schedule = vec![1, 1];
    config.webhook_timeout_secs = 2;
}

/// Runs a test per backend on an app set up for local receivers (`local_receivers` or a
/// variant of it), with an owner signed in.
async fn with_webhook_app<F, Fut>(settings: fn(&mut Config), test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for_each_backend_with(settings, |app| {
        let test = &test;
        async move {
            app.create_owner().await;
            test(app).await;
        }
    })
    .await;
}

/// Makes every pending delivery due now, as if its retry's delay had passed.
async fn let_retries_come_due(app: &TestApp) {
    query(app, |conn| {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use klaxon::db::schema::deliveries::dsl;
        diesel::update(dsl::deliveries.filter(dsl::state.eq(deliveries::PENDING)))
            .set(dsl::next_attempt_at.eq(klaxon::db::now()))
            .execute(conn)
    })
    .await;
}

/// Ends every delivery's lease, as if it had run out.
async fn let_leases_run_out(app: &TestApp) {
    query(app, |conn| {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use klaxon::db::schema::deliveries::dsl;
        diesel::update(dsl::deliveries.filter(dsl::locked_until.is_not_null()))
            .set(dsl::locked_until.eq(klaxon::db::now() - chrono::Duration::seconds(1)))
            .execute(conn)
    })
    .await;
}

/// The incident's deliveries, oldest first, checked to be `count` and all finished (succeeded
/// or failed): the test has stepped the sender until they are.
async fn settled(app: &TestApp, number: i64, count: usize) -> Vec<DeliveryRow> {
    let rows = deliveries_of(app, number).await;
    assert!(
        rows.len() == count && rows.iter().all(|r| r.state != "pending"),
        "deliveries did not settle: {rows:#?}"
    );
    rows
}

async fn attempts_of(app: &TestApp, delivery_id: i64) -> Vec<AttemptRow> {
    query(app, move |conn| deliveries::attempts(conn, delivery_id)).await
}

#[tokio::test]
async fn trigger_acknowledge_resolve_reach_the_receiver_signed_in_order() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "ZD Prod").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let secret = secret_on(
            &app.page(&format!("/services/{service}/integrations/{integration}"))
                .await,
        );

        let number = trigger(&app, &service, "Free disk space is less than 20%").await;
        act(&app, number, "acknowledge").await;
        act(&app, number, "resolve").await;
        assert_eq!(app.send_until_idle().await, 3, "one at a time, in order");
        let received = receiver.wait_for(3, WAIT).await;
        assert_eq!(
            receiver.event_types(),
            ["triggered", "acknowledged", "resolved"]
        );
        for request in &received {
            assert!(
                signature_is_valid(&secret, request),
                "signature verifies: {request:?}"
            );
            assert!(request.header("webhook-id").starts_with("msg_"));
            let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
            assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
            assert_eq!(request.header("content-type"), "application/json");
            assert!(request.header("user-agent").starts_with("Klaxon-Webhooks/"));
            assert_eq!(
                request.json()["payload"]["incident"]["incident_number"],
                number
            );
            assert_eq!(request.path, "/hooks/klaxon");
        }
        // A signature with another secret does not verify: the check above can fail.
        assert!(!signature_is_valid(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &received[0]
        ));

        let rows = settled(&app, number, 3).await;
        assert!(rows.iter().all(|r| r.state == "succeeded"
            && r.attempt_count == 1
            && r.last_status_code == Some(200)));
        let page = app.page(&format!("/incidents/{number}")).await;
        assert_eq!(
            page.matches("delivered a webhook").count(),
            3,
            "the timeline shows each delivery"
        );
    })
    .await;
}

/// Local receivers and no retries: the first failure is final.
fn failing_at_once(config: &mut Config) {
    local_receivers(config);
    config.webhook_retry_schedule = Vec::new();
}

/// One entry of the incident page's timeline (with every kind shown): from its headline's
/// `<li>` to the next headline's, or to the end of the timeline.
fn timeline_entry<'a>(page: &'a str, kind: &str) -> &'a str {
    let timeline = &page[page.find(r#"id="incident-timeline""#).unwrap()..];
    let timeline = &timeline[..timeline.find("<form").unwrap()];
    let start = timeline
        .find(&format!(r#"<li class="tl-{kind}"#))
        .unwrap_or_else(|| panic!("a {kind} entry in {timeline}"));
    let rest = &timeline[start..];
    let end = rest[1..]
        .find("\n      <li class=\"tl-")
        .map_or(rest.len(), |at| at + 1);
    &rest[..end]
}

#[tokio::test]
async fn the_timeline_folds_each_changes_webhooks_under_it_and_shows_a_failure_on_its_headline() {
    with_webhook_app(failing_at_once, |app| async move {
        let (good, bad) = (Receiver::start().await, Receiver::start().await);
        bad.script([Reply::Status(500)]);
        let service = create_service(&app, "Grouped").await;
        configured_webhook(&app, &service, &good.url).await;
        configured_webhook(&app, &service, &bad.url).await;
        let number = trigger(&app, &service, "Grouped entries").await;
        app.send_until_idle().await;
        act(&app, number, "acknowledge").await;
        app.send_until_idle().await;
        settled(&app, number, 4).await;

        let page = app.page(&format!("/incidents/{number}")).await;
        let triggered = timeline_entry(&page, "triggered");
        let acknowledged = timeline_entry(&page, "acknowledged");
        assert!(
            triggered.starts_with(r#"<li class="tl-triggered tl-trouble""#)
                && triggered.contains(
                    r#"<span class="label label-delivery-failed">1 webhook failing</span>"#
                )
                && triggered.contains("<summary>1 webhook delivered, 1 webhook failed</summary>"),
            "the failure shows on the headline: {triggered}"
        );
        let fold = &triggered[triggered.find("<details").unwrap()..];
        assert!(
            fold.starts_with("<details class=\"tl-fold\"")
                && fold[..fold.find('>').unwrap()].ends_with(" open"),
            "and its fold is open: {fold}"
        );
        assert!(
            fold.contains("delivered a webhook") && fold.contains("could not deliver a webhook")
        );
        assert!(
            acknowledged.starts_with(r#"<li class="tl-acknowledged""#)
                && acknowledged.contains("<summary>2 webhooks delivered</summary>")
                && !acknowledged.contains(" open>")
                && !acknowledged.contains("tl-trouble"),
            "{acknowledged}"
        );
        let fold = &acknowledged[acknowledged.find("<details").unwrap()..];
        assert_eq!(fold.matches("delivered a webhook").count(), 2);
        assert_eq!(
            page.matches("delivered a webhook").count(),
            3,
            "each outcome once, inside its change's fold"
        );

        // The Webhooks filter still lists each outcome on its own.
        let webhooks = app
            .page(&format!("/incidents/{number}?show=webhooks"))
            .await;
        assert!(!webhooks.contains("tl-fold"));
        assert_eq!(webhooks.matches(r#"<li class="tl-webhook_"#).count(), 4);
    })
    .await;
}

/// Local receivers, and a retry an hour after a failure: a failed first attempt stays retrying.
fn retrying_in_an_hour(config: &mut Config) {
    local_receivers(config);
    config.webhook_retry_schedule = vec![3600];
}

#[tokio::test]
async fn a_webhook_being_retried_opens_the_fold_of_its_change() {
    with_webhook_app(retrying_in_an_hour, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(500)]);
        let service = create_service(&app, "Retried").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Retried later").await;
        app.send_until_idle().await;
        assert_eq!(deliveries_of(&app, number).await[0].attempt_count, 1);
        app.leave_deliveries_pending();

        let page = app.page(&format!("/incidents/{number}")).await;
        let triggered = timeline_entry(&page, "triggered");
        assert!(
            triggered.starts_with(r#"<li class="tl-triggered tl-trouble""#)
                && triggered.contains("1 webhook failing</span>")
                && triggered.contains("<summary>1 webhook retrying</summary>")
                && triggered.contains("is retrying a webhook"),
            "{triggered}"
        );
        let fold = &triggered[triggered.find("<details").unwrap()..];
        assert!(fold[..fold.find('>').unwrap()].ends_with(" open"), "{fold}");
        assert_eq!(
            page.matches("is retrying a webhook").count(),
            1,
            "under its change only"
        );
    })
    .await;
}

#[tokio::test]
async fn an_outcome_whose_change_is_on_an_earlier_page_is_folded_there() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Paged").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Long timeline").await;
        // A hundred entries after the trigger, before its webhook is sent: the trigger goes to
        // page 2, its delivery's outcome comes on page 1.
        query(&app, move |conn| {
            let incident = incidents::find_by_number(conn, number)?.expect("incident exists");
            for n in 0..100 {
                timeline::append(
                    conn,
                    NewTimelineRow {
                        incident_id: incident.id,
                        kind: "note",
                        actor_user_id: None,
                        actor_label: "Ann Lee".into(),
                        detail: format!("Note {n}"),
                        delivery_id: None,
                        created_at: klaxon::db::now(),
                    },
                )?;
            }
            Ok(())
        })
        .await;
        assert_eq!(app.send_until_idle().await, 1);

        let path = format!("/incidents/{number}");
        let first = app.page(&path).await;
        assert!(
            !first.contains("delivered a webhook") && !first.contains("tl-triggered"),
            "page 1 has neither the change nor its outcome"
        );
        let second = app.page(&format!("{path}?timeline=2")).await;
        let triggered = timeline_entry(&second, "triggered");
        assert!(
            triggered.contains("<summary>1 webhook delivered</summary>")
                && triggered.contains("delivered a webhook"),
            "{triggered}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_later_events_wait_for_the_first() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(500)]);
        let service = create_service(&app, "Flaky").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "First attempt fails").await;
        app.send_until_idle().await;
        receiver.wait_for(1, WAIT).await;
        act(&app, number, "acknowledge").await;
        act(&app, number, "resolve").await;

        send_until_finished(&app).await;
        let received = receiver.wait_for(4, WAIT).await;
        assert_eq!(
            receiver.event_types(),
            ["triggered", "triggered", "acknowledged", "resolved"],
            "order holds across the retry"
        );
        assert_eq!(
            received[0].header("webhook-id"),
            received[1].header("webhook-id"),
            "a retry keeps its webhook-id"
        );
        assert_eq!(
            received[0].body, received[1].body,
            "and sends the same bytes"
        );

        let rows = settled(&app, number, 3).await;
        assert_eq!(rows[0].attempt_count, 2);
        let attempts = attempts_of(&app, rows[0].id).await;
        assert_eq!(
            attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
            [Some(500), Some(200)]
        );
        assert_eq!(attempts[0].error_kind.as_deref(), Some("http_status"));
        assert_eq!(attempts[0].response_body, "answer 500");
    })
    .await;
}

#[tokio::test]
async fn every_kind_of_failure_is_recorded_and_ends_failed_after_the_schedule() {
    with_webhook_app(local_receivers, |app| async move {
        let slow = Receiver::start().await;
        slow.script([
            Reply::Slow(Duration::from_secs(4)),
            Reply::Slow(Duration::from_secs(4)),
            Reply::Slow(Duration::from_secs(4)),
        ]);
        let redirect = Receiver::start().await;
        redirect.script([Reply::Redirect, Reply::Redirect, Reply::Redirect]);
        let huge = Receiver::start().await;
        huge.script([Reply::HugeBody, Reply::HugeBody, Reply::HugeBody]);
        let cases = [
            (slow.url.clone(), "timeout", None),
            (refused_url(), "connect", None),
            (redirect.url.clone(), "http_status", Some(302)),
            (huge.url.clone(), "http_status", Some(500)),
        ];
        for (url, kind, status) in cases {
            let service = create_service(&app, &format!("Fails with {kind}")).await;
            configured_webhook(&app, &service, &url).await;
            let number = trigger(&app, &service, "Doomed").await;
            send_until_finished(&app).await;
            let rows = settled(&app, number, 1).await;
            assert_eq!(rows[0].state, "failed", "{url}");
            assert_eq!(
                rows[0].attempt_count, 3,
                "{url}: first attempt and two retries"
            );
            let attempts = attempts_of(&app, rows[0].id).await;
            assert_eq!(attempts.len(), 3);
            for attempt in &attempts {
                assert_eq!(
                    attempt.error_kind.as_deref(),
                    Some(kind),
                    "{url}: {attempt:?}"
                );
                assert_eq!(attempt.status_code, status);
                assert!(attempt.response_body.len() <= 4096);
            }
            if url == huge.url {
                assert_eq!(
                    attempts[0].response_body.len(),
                    4096,
                    "the first 4 KiB are kept"
                );
            }
            let page = app.page(&format!("/incidents/{number}")).await;
            assert!(
                page.contains("could not deliver a webhook"),
                "{url}: the final failure is on the timeline"
            );
        }
        assert_eq!(redirect.received().len(), 3, "redirects are not followed");
        assert!(redirect
            .received()
            .iter()
            .all(|r| r.path == "/hooks/klaxon"));
    })
    .await;
}

/// Webhooks that finish together are recorded in one transaction, in few statements: each
/// delivery moves on as its own attempt ended, and one whose lease another worker took in the
/// meantime is left to that worker (its attempt is kept).
#[tokio::test]
async fn results_recorded_together_move_on_only_the_deliveries_still_leased() {
    with_webhook_app(local_receivers, |app| async move {
        use klaxon::delivery::engine::WebhookDeliveries;
        use klaxon::jobs::{Finished, JobKind};
        let receiver = Receiver::start().await;
        receiver.script([
            Reply::Status(200),
            Reply::Status(200),
            Reply::Status(500),
            Reply::Status(200),
        ]);
        let service = create_service(&app, "Together").await;
        configured_webhook(&app, &service, &receiver.url).await;
        for title in ["One", "Two", "Three", "Four"] {
            trigger(&app, &service, title).await;
        }
        let sender = app.webhook_sender();
        app.leave_deliveries_pending();
        let db = app.db().await;
        // Two claims, so that two leases are recorded in one batch.
        let claimed = claim_by_hand(&db, &sender, &[("test:first", 3), ("test:second", 1)]).await;
        assert_eq!(claimed.len(), 4);
        // One at a time, so that each gets the reply scripted for its place.
        let mut finished: Vec<Finished<WebhookDeliveries>> = Vec::new();
        for (token, job) in claimed {
            let done = sender.kind().run(&job).await;
            finished.push(Finished {
                token: token.into(),
                job,
                done,
            });
        }
        let taken = finished[1].job.id;
        query(&app, move |conn| {
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            use klaxon::db::schema::deliveries::dsl;
            diesel::update(dsl::deliveries.find(taken))
                .set(dsl::locked_by.eq("another:worker"))
                .execute(conn)
        })
        .await;
        let ids: Vec<i64> = finished.iter().map(|f| f.job.id).collect();
        let held = record_by_hand(&db, &sender, finished).await;
        assert_eq!(held, [true, false, true, true]);

        let rows: Vec<DeliveryRow> = query(&app, |conn| {
            use diesel::{QueryDsl, RunQueryDsl, SelectableHelper};
            use klaxon::db::schema::deliveries::dsl;
            dsl::deliveries
                .order(dsl::id)
                .select(DeliveryRow::as_select())
                .load(conn)
        })
        .await;
        let row = |id: i64| rows.iter().find(|row| row.id == id).unwrap();
        let (first, lost, retried, second) = (row(ids[0]), row(ids[1]), row(ids[2]), row(ids[3]));
        assert_eq!(
            (first.state.as_str(), first.attempt_count),
            ("succeeded", 1)
        );
        assert_eq!(
            (second.state.as_str(), second.attempt_count),
            ("succeeded", 1)
        );
        assert_eq!(first.last_status_code, Some(200));
        assert_eq!(
            (
                lost.state.as_str(),
                lost.attempt_count,
                lost.locked_by.as_deref()
            ),
            ("pending", 0, Some("another:worker")),
            "the other worker's delivery is left as it holds it"
        );
        assert_eq!(
            (
                retried.state.as_str(),
                retried.attempt_count,
                retried.locked_by.as_deref()
            ),
            ("pending", 1, None)
        );
        assert_eq!(retried.last_status_code, Some(500));
        for &id in &ids {
            assert_eq!(
                attempts_of(&app, id).await.len(),
                1,
                "every attempt is kept"
            );
        }
        let delivered: Vec<Option<i64>> = query(&app, |conn| {
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            use klaxon::db::schema::timeline_entries::dsl;
            dsl::timeline_entries
                .filter(dsl::kind.eq("webhook_delivered"))
                .select(dsl::delivery_id)
                .order(dsl::id)
                .load(conn)
        })
        .await;
        assert_eq!(
            delivered,
            [Some(ids[0]), Some(ids[3])],
            "the timeline tells of the finished ones"
        );
    })
    .await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::RetryAfter(503, 3)]);
        let service = create_service(&app, "Busy receiver").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Come back later").await;
        app.send_until_idle().await;
        receiver.wait_for(1, WAIT).await;
        let rows = deliveries_of(&app, number).await;
        let wait = rows[0].next_attempt_at - rows[0].created_at;
        assert!(
            wait >= chrono::Duration::milliseconds(2900),
            "waited {wait:?}, not the 1 s schedule"
        );
        send_until_finished(&app).await;
        settled(&app, number, 1).await;
        assert_eq!(receiver.received().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn gone_disables_the_integration() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(410)]);
        let service = create_service(&app, "Decommissioned").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Nobody wants this").await;
        app.send_until_idle().await;
        let rows = settled(&app, number, 1).await;
        assert_eq!(
            (rows[0].state.as_str(), rows[0].attempt_count),
            ("failed", 1),
            "410 is final at once"
        );
        let page = app
            .page(&format!("/services/{service}/integrations/{integration}"))
            .await;
        assert!(page.contains("This integration is <strong>disabled</strong>"));
        assert!(page.contains("the receiver answered 410 Gone"));
        let next = trigger(&app, &service, "Not sent").await;
        assert!(
            deliveries_of(&app, next).await.is_empty(),
            "a disabled integration gets no rows"
        );
    })
    .await;
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let nothing_allowed = |config: &mut Config| {
        local_receivers(config);
        config.webhook_allowed_networks.clear();
    };
    for_each_backend_with(nothing_allowed, |app| async move {
        let backend = app.backend();
        app.create_owner().await;
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Internal").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let localhost = receiver.url.replace("127.0.0.1", "localhost");
        let other = create_service(&app, "Internal by name").await;
        configured_webhook(&app, &other, &localhost).await;
        for service in [&service, &other] {
            let number = trigger(&app, service, "Must not leave").await;
            send_until_finished(&app).await;
            let rows = settled(&app, number, 1).await;
            let attempts = attempts_of(&app, rows[0].id).await;
            assert_eq!(
                attempts[0].error_kind.as_deref(),
                Some("refused_destination"),
                "{backend:?}"
            );
        }
        assert!(
            receiver.received().is_empty(),
            "{backend:?}: nothing reached the private address"
        );
    })
    .await;
}

#[tokio::test]
async fn the_old_secret_signs_too_after_a_rotation() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Rotating").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let old = secret_on(&app.page(&configure).await);
        app.submit(&configure, &format!("{configure}/rotate-secret"), &[])
            .await;
        let new = secret_on(&app.page(&configure).await);
        trigger(&app, &service, "Signed twice").await;
        app.send_until_idle().await;
        let received = receiver.wait_for(1, WAIT).await;
        assert!(signature_is_valid(&old, &received[0]) && signature_is_valid(&new, &received[0]));
        assert_eq!(
            received[0].header("webhook-signature").split(' ').count(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn metrics_count_deliveries_and_show_the_queue() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Measured").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Count me").await;
        app.send_until_idle().await;
        settled(&app, number, 1).await;
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        assert!(
            text.contains(r#"klaxon_webhook_deliveries_total{outcome="succeeded"} 1"#),
            "{text}"
        );
        assert!(text.contains("klaxon_webhook_attempt_duration_seconds_count 1"));
        assert!(text.contains("klaxon_webhook_pending 0"));
        assert!(text.contains("klaxon_webhook_oldest_due_age_seconds"));
    })
    .await;
}

#[tokio::test]
async fn the_delivery_pages_show_every_attempt_and_redeliver_works() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
        let service = create_service(&app, "Broken receiver").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Will fail").await;
        send_until_finished(&app).await;
        let rows = settled(&app, number, 1).await;
        let webhook_id = rows[0].unique_id.clone();

        let list_path = format!("/services/{service}/integrations/{integration}/deliveries");
        let list = app.page(&list_path).await;
        assert!(list.contains(&format!(
            r#"<a href="/deliveries/{webhook_id}">triggered</a>"#
        )));
        assert!(
            list.contains(">failed</span>")
                && list.contains("<td>3</td>")
                && list.contains("<td>500</td>")
        );
        assert!(list.contains(&format!(r#"<a href="/incidents/{number}">#{number}</a>"#)));
        let failed_only = app
            .page(&format!("{list_path}?state=failed&event=triggered"))
            .await;
        assert!(failed_only.contains(&webhook_id));
        let succeeded_only = app.page(&format!("{list_path}?state=succeeded")).await;
        assert!(!succeeded_only.contains(&webhook_id));

        let page = app.page(&format!("/deliveries/{webhook_id}")).await;
        assert!(page.contains(r#"id="delivery-state">failed</span>"#));
        assert_eq!(
            page.matches("HTTP 500</span>").count(),
            3,
            "every attempt with its status"
        );
        assert!(page.contains(
            "<strong>http_status</strong>: the receiver answered 500 Internal Server Error"
        ));
        assert!(
            page.contains(&format!("webhook-id: {webhook_id}"))
                && page.contains("webhook-signature: v1,")
        );
        assert!(page.contains("answer 500"), "the response body excerpt");
        assert!(
            page.contains("&quot;event_type&quot;:&quot;triggered&quot;")
                || page.contains("&#34;event_type&#34;:&#34;triggered&#34;"),
            "the exact body"
        );
        let timeline = app.page(&format!("/incidents/{number}")).await;
        assert!(timeline.contains(&format!(
            r#"<a href="/deliveries/{webhook_id}">delivery</a>"#
        )));

        // The receiver is fixed: Redeliver sends the same body as a new delivery, which succeeds.
        let response = app
            .submit(
                &format!("/deliveries/{webhook_id}"),
                &format!("/deliveries/{webhook_id}/redeliver"),
                &[],
            )
            .await;
        let new_page = location(&response);
        assert!(new_page.starts_with("/deliveries/msg_") && !new_page.ends_with(&webhook_id));
        send_until_finished(&app).await;
        let received = receiver.wait_for(4, WAIT).await;
        assert_eq!(received[3].body, received[0].body);
        assert_ne!(received[3].header("webhook-id"), webhook_id);
        settled(&app, number, 2).await;
        let page = app.page(&new_page).await;
        assert!(
            page.contains(r#"id="delivery-state">succeeded</span>"#)
                && page.contains("HTTP 200</span>")
        );
    })
    .await;
}

#[tokio::test]
async fn a_test_event_reaches_the_receiver_without_touching_incidents() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Tested").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let response = app
            .submit(&configure, &format!("{configure}/test-event"), &[])
            .await;
        assert!(location(&response).starts_with("/deliveries/msg_"));
        app.send_until_idle().await;
        let received = receiver.wait_for(1, WAIT).await;
        assert_eq!(received[0].header("klaxon-test-event"), "true");
        let body = received[0].json();
        assert_eq!(body["payload"]["event_type"], "triggered");
        assert_eq!(body["payload"]["incident"]["service"]["name"], "Tested");
        assert!(body["payload"]["incident"]["service"]["created_by"].is_string());
        let list = app.page("/incidents?status=all").await;
        assert!(
            list.contains("Get started") && !list.contains("<tbody>"),
            "no incident was created: still the first run's checklist"
        );

        // Without a URL there is nothing to send to, and the page says so.
        let bare = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let bare_page = format!("/services/{service}/integrations/{bare}");
        app.submit(&bare_page, &format!("{bare_page}/test-event"), &[])
            .await;
        assert!(app.page(&bare_page).await.contains("Set the URL first"));
    })
    .await;
}

#[tokio::test]
async fn deliveries_of_another_team_are_not_visible() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Private hooks").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Secret").await;
        app.send_until_idle().await;
        let rows = settled(&app, number, 1).await;
        let outsider = user_browser(&app, "outsider@example.com").await;
        for path in [
            format!("/deliveries/{}", rows[0].unique_id),
            format!("/services/{service}/integrations/{integration}/deliveries"),
        ] {
            assert_eq!(
                outsider.get(app.url(&path)).send().await.unwrap().status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let response = submit_with(
            &outsider,
            &app.address,
            "/settings",
            &format!("/deliveries/{}/redeliver", rows[0].unique_id),
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        // Whatever was queued goes out now.
        app.send_until_idle().await;
        assert_eq!(receiver.received().len(), 1, "nothing was sent again");
    })
    .await;
}

/// When the database refuses to store an attempt, the delivery keeps its lease and goes out
/// again, with the same webhook-id, once the lease runs out: nothing is lost to a failed write.
#[tokio::test]
async fn an_attempt_that_cannot_be_stored_is_sent_again_after_its_lease() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Forgetful").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let attempts_fail = fail_inserts_into(&app, "delivery_attempts", "attempts broken").await;

        let number = trigger(&app, &service, "Sent but not written down").await;
        // The step sends, then fails to record the attempt.
        app.send_until_idle().await;
        let first = receiver.wait_for(1, WAIT).await;
        let rows = deliveries_of(&app, number).await;
        assert_eq!(rows[0].state, "pending", "{rows:?}");
        assert!(rows[0].locked_until.is_some(), "still leased: {rows:?}");

        attempts_fail.lift(&app).await;
        let_leases_run_out(&app).await;
        send_until_finished(&app).await;
        let rows = settled(&app, number, 1).await;
        assert_eq!(rows[0].state, "succeeded");
        let again = receiver.received();
        assert_eq!(again.len(), 2, "sent once more after the lease");
        assert_eq!(again[1].header("webhook-id"), first[0].header("webhook-id"));
        assert_eq!(again[1].body, first[0].body);
        let unique_id = rows[0].unique_id.clone();
        let attempts = query(&app, move |conn| {
            let row = deliveries::find_by_unique_id(conn, &unique_id)?.unwrap();
            deliveries::attempts(conn, row.id)
        })
        .await;
        assert_eq!(attempts.len(), 1, "the attempt that could be stored");
    })
    .await;
}

/// Steps the sender, making each retry due as soon as it is scheduled, until no delivery of
/// the app is pending: every retry of the schedule is tried.
async fn send_until_finished(app: &TestApp) {
    for _ in 0..20 {
        app.send_until_idle().await;
        let pending = query(app, deliveries::count_pending).await;
        if pending == 0 {
            return;
        }
        let_retries_come_due(app).await;
    }
    let pending = query(app, deliveries::count_pending).await;
    panic!("{pending} deliveries still pending after 20 rounds of retries");
}

/// The text of the `<pre>` with this id, unescaped.
fn pre_text(page: &str, id: &str) -> String {
    let start = page
        .find(&format!(r#"<pre class="code" id="{id}">"#))
        .unwrap_or_else(|| panic!("#{id} shown: {page}"));
    let text = page[start..].split_once('>').unwrap().1;
    text.split("</pre>")
        .next()
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn an_integration_whose_deliveries_fail_looks_failing_until_one_succeeds() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Flaky receiver").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let list_path = format!("/services/{service}/integrations");
        let service_path = format!("/services/{service}");
        let log_link = format!(
            r#"<a href="/services/{service}/integrations/{integration}/deliveries">Delivery log</a>"#
        );
        assert!(!app.page(&list_path).await.contains("Failing:"));
        assert!(!app.page(&service_path).await.contains("is failing"));

        // The first attempt gets a 500: one delivery retrying, its error and its next try.
        receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
        let number = trigger(&app, &service, "Receiver down").await;
        let changes = format!("/incidents/{number}/changes");
        let version = app.page(&changes).await;
        assert_eq!(app.send_until_idle().await, 1);
        assert_ne!(
            app.page(&changes).await,
            version,
            "the incident page's script sees the failed attempt"
        );
        let retrying = "1 delivery retrying, last error: <span class=\"trouble-error\">the receiver answered 500 Internal Server Error</span>, next try <time";
        let list = app.page(&list_path).await;
        assert!(
            list.contains("<strong>Failing:</strong> ") && list.contains(retrying),
            "{list}"
        );
        assert!(list.contains(&log_link) && list.contains(" UTC)."));
        let configure = format!("/services/{service}/integrations/{integration}");
        let log = format!("{configure}/deliveries");
        for page in [&configure, &log] {
            let shown = app.page(page).await;
            assert!(
                shown.contains(r#"<p class="flash flash-error" role="alert"><strong>Failing:</strong> "#)
                    && shown.contains(retrying),
                "{page}: {shown}"
            );
        }
        let overview = app.page(&service_path).await;
        assert!(
            overview.contains(r#"<p class="flash flash-error" role="alert"><strong>Hook is failing:</strong> "#)
                && overview.contains(retrying)
                && overview.contains(&log_link),
            "{overview}"
        );
        let timeline = app.page(&format!("/incidents/{number}")).await;
        let webhook_id = deliveries_of(&app, number).await[0].unique_id.clone();
        assert!(
            timeline.contains("is retrying a webhook")
                && timeline.contains(&format!(
                    "triggered to {} · 1 failed attempt, last error: the receiver answered 500 Internal Server Error · next try <time",
                    receiver.url
                ))
                && timeline.contains(&format!(r#"<a href="/deliveries/{webhook_id}">delivery</a>"#)),
            "{timeline}"
        );

        // The schedule runs out: failed for good, no retry left.
        send_until_finished(&app).await;
        assert_eq!(receiver.received().len(), 3);
        let failed = "1 delivery failed and none succeeded yet, last error: <span class=\"trouble-error\">the receiver answered 500 Internal Server Error</span>.";
        let list = app.page(&list_path).await;
        assert!(list.contains(failed) && !list.contains("retrying"), "{list}");
        assert!(app.page(&service_path).await.contains(failed));
        let timeline = app.page(&format!("/incidents/{number}")).await;
        assert!(
            timeline.contains("could not deliver a webhook")
                && timeline.contains("HTTP 500 · after 3 attempts, last error: the receiver answered 500 Internal Server Error · <a")
                && !timeline.contains("is retrying a webhook"),
            "{timeline}"
        );

        // A later delivery succeeds: healthy again, nothing shown.
        let test_event = format!("{configure}/test-event");
        app.submit(&configure, &test_event, &[]).await;
        send_until_finished(&app).await;
        for page in [&list_path, &configure, &log] {
            assert!(!app.page(page).await.contains("Failing:"), "{page}");
        }
        assert!(!app.page(&service_path).await.contains("is failing"));

        // Failures after that success are counted from it.
        receiver.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
        app.submit(&configure, &test_event, &[]).await;
        send_until_finished(&app).await;
        let list = app.page(&list_path).await;
        assert!(
            list.contains("1 delivery failed since the last success, last error: "),
            "{list}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_delivery_page_shows_the_body_indented_and_exactly_as_sent() {
    with_webhook_app(local_receivers, |app| async move {
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Readable").await;
        let integration = configured_webhook(&app, &service, &receiver.url).await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let response = app
            .submit(&configure, &format!("{configure}/test-event"), &[])
            .await;
        // Sent before the page shows, as a sender in the background often does.
        app.send_until_idle().await;
        let page = app.page(&location(&response)).await;
        assert!(page.contains(r#"id="delivery-state">succeeded</span>"#));
        assert!(
            page.contains("Test event created: its state and attempts are below.")
                && !page.contains("queued"),
            "the flash does not contradict the state: {page}"
        );

        let sent = &receiver.received()[0].body;
        assert_eq!(&pre_text(&page, "body-raw"), sent, "the exact bytes");
        assert!(page.contains("<summary>Raw body</summary>"));
        let indented = pre_text(&page, "body-indented");
        assert!(
            indented.starts_with(
                "{\n  \"payload\": {\n    \"event_type\": \"triggered\",\n    \"incident\": {\n      \""
            ),
            "{indented}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&indented).unwrap(),
            serde_json::from_str::<serde_json::Value>(sent).unwrap()
        );
    })
    .await;
}
