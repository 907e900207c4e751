//! Services that resolve their incidents automatically after `auto_resolve_timeout` minutes.

use std::time::Duration;

use chrono::NaiveDateTime;
use klaxon::db::{incidents, timeline};
use klaxon::domain::auto_resolve::{resolve_overdue, retrigger_overdue};
use reqwest::StatusCode;

use crate::helpers::receiver::Receiver;
use crate::helpers::{
    act, backdate, configured_webhook, create_service, edit_service, event_types_of,
    for_each_backend, for_each_backend_with, query, sender_to_loopback, status_of, trigger,
    TestApp,
};

/// Sets the service's auto-resolve time through its settings form.
async fn set_auto_resolve(app: &TestApp, service: &str, minutes: &str) {
    edit_service(app, service, &[("auto_resolve_timeout", minutes)]).await;
}

async fn created_at(app: &TestApp, number: i64) -> NaiveDateTime {
    query(app, move |conn| {
        Ok(incidents::find_by_number(conn, number)?
            .expect("incident exists")
            .creation_date)
    })
    .await
}

#[tokio::test]
async fn overdue_incidents_of_auto_resolving_services_are_resolved_once_with_their_webhooks() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let auto = create_service(&app, "Checkout").await;
        set_auto_resolve(&app, &auto, "60").await;
        configured_webhook(&app, &auto, "https://hooks.example.com/klaxon").await;
        let manual = create_service(&app, "Billing").await;
        let slower = create_service(&app, "Search").await;
        set_auto_resolve(&app, &slower, "120").await;

        let triggered = trigger(&app, &auto, "Queue backing up").await;
        let acknowledged = trigger(&app, &auto, "Slow checkout").await;
        act(&app, acknowledged, "acknowledge").await;
        let resolved_by_hand = trigger(&app, &auto, "Card declines").await;
        act(&app, resolved_by_hand, "resolve").await;
        let other_service = trigger(&app, &manual, "Invoices late").await;
        let later = trigger(&app, &slower, "Index stale").await;

        let due = app.page(&format!("/incidents/{acknowledged}")).await;
        assert!(
            due.contains(r#"id="auto-resolve">auto-resolves <time"#)
                && (due.contains(">in 60 min</time>") || due.contains(">in 59 min</time>")),
            "the incident page says when: {due}"
        );
        assert!(!app
            .page(&format!("/incidents/{other_service}"))
            .await
            .contains("auto-resolves"));

        let db = app.db().await;
        let start = created_at(&app, other_service).await;
        let early = start + chrono::Duration::minutes(59);
        assert!(resolve_overdue(&db, early).await.unwrap().is_empty());
        assert_eq!(status_of(&app, triggered).await, 1);

        let late = start + chrono::Duration::minutes(61);
        let mut numbers = resolve_overdue(&db, late).await.unwrap();
        numbers.sort_unstable();
        assert_eq!(numbers, vec![triggered, acknowledged]);
        assert!(
            resolve_overdue(&db, late).await.unwrap().is_empty(),
            "a second sweep finds nothing left"
        );
        assert_eq!(status_of(&app, triggered).await, 3);
        assert_eq!(status_of(&app, acknowledged).await, 3);
        assert_eq!(status_of(&app, other_service).await, 1);
        assert_eq!(status_of(&app, later).await, 1, "its service waits 120 min");
        let later_still = start + chrono::Duration::minutes(121);
        assert_eq!(
            resolve_overdue(&db, later_still).await.unwrap(),
            vec![later]
        );

        // The resolution is the ordinary transition: on the timeline, and its webhook queued.
        let resolved = app.page(&format!("/incidents/{triggered}")).await;
        assert!(
            resolved.contains("<strong>Klaxon</strong> resolved")
                && resolved
                    .contains("Open for 60 min: the service resolves its incidents after 60 min.")
                && !resolved.contains("auto-resolves"),
            "{resolved}"
        );
        assert_eq!(
            event_types_of(&app, acknowledged).await,
            ["triggered", "acknowledged", "resolved"]
        );
        let resolutions = query(&app, move |conn| {
            let incident = incidents::find_by_number(conn, resolved_by_hand)?.unwrap();
            Ok(
                timeline::newest_for_incident(conn, incident.id, None, 0, 100)?
                    .into_iter()
                    .filter(|entry| entry.kind == "resolved")
                    .count(),
            )
        })
        .await;
        assert_eq!(resolutions, 1, "an incident resolved by hand is left alone");
    })
    .await;
}

#[tokio::test]
async fn each_instance_sweeps_in_the_background_and_the_webhook_goes_out() {
    for_each_backend_with(sender_to_loopback, |app| async move {
        app.create_owner().await;
        let receiver = Receiver::start().await;
        let service = create_service(&app, "Checkout").await;
        set_auto_resolve(&app, &service, "1").await;
        configured_webhook(&app, &service, &receiver.url).await;
        let number = trigger(&app, &service, "Queue backing up").await;
        receiver.wait_for(1, Duration::from_secs(10)).await;

        backdate(&app, number, chrono::Duration::minutes(2)).await;

        let received = receiver.wait_for(2, Duration::from_secs(30)).await;
        assert_eq!(
            received.len(),
            2,
            "{:?}: the resolved webhook arrived",
            app.backend()
        );
        assert_eq!(receiver.event_types()[1], "resolved");
        assert_eq!(status_of(&app, number).await, 3);
        let metrics = app.get("/metrics").await;
        assert_eq!(metrics.status(), StatusCode::OK);
        assert!(metrics
            .text()
            .await
            .unwrap()
            .contains("klaxon_incidents_auto_resolved_total 1\n"));
    })
    .await;
}

/// Moves the incident's acknowledgement back by `age`.
async fn backdate_acknowledgement(app: &TestApp, number: i64, age: chrono::Duration) {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use klaxon::db::schema::incidents::dsl;
    query(app, move |conn| {
        diesel::update(dsl::incidents.filter(dsl::incident_number.eq(number)))
            .set(dsl::acknowledged_date.eq(Some(klaxon::db::now() - age)))
            .execute(conn)
    })
    .await;
}

#[tokio::test]
async fn an_acknowledgement_left_unresolved_past_the_timeout_triggers_the_incident_again() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Checkout").await;
        edit_service(&app, &service, &[("acknowledgement_timeout", "30")]).await;
        configured_webhook(&app, &service, "https://hooks.example.com/klaxon").await;
        let other = create_service(&app, "Billing").await;

        let late = trigger(&app, &service, "Queue backing up").await;
        act(&app, late, "acknowledge").await;
        let recent = trigger(&app, &service, "Slow checkout").await;
        act(&app, recent, "acknowledge").await;
        let resolved = trigger(&app, &service, "Card declines").await;
        act(&app, resolved, "acknowledge").await;
        act(&app, resolved, "resolve").await;
        let no_timeout = trigger(&app, &other, "Invoices late").await;
        act(&app, no_timeout, "acknowledge").await;
        for number in [late, resolved, no_timeout] {
            backdate_acknowledgement(&app, number, chrono::Duration::minutes(31)).await;
        }
        backdate_acknowledgement(&app, recent, chrono::Duration::minutes(29)).await;

        let db = app.db().await;
        let now = klaxon::db::now();
        let (first, second) =
            tokio::join!(retrigger_overdue(&db, now), retrigger_overdue(&db, now));
        let mut numbers = first.unwrap();
        numbers.extend(second.unwrap());
        assert_eq!(numbers, vec![late], "once, and only the overdue one");
        assert_eq!(status_of(&app, late).await, 1);
        for (number, status) in [(recent, 2), (resolved, 3), (no_timeout, 2)] {
            assert_eq!(status_of(&app, number).await, status, "#{number}");
        }
        assert_eq!(
            event_types_of(&app, late).await,
            ["triggered", "acknowledged", "triggered"]
        );
        let page = app.page(&format!("/incidents/{late}")).await;
        assert!(page.contains("triggered the incident again"), "{page}");
        assert!(page.contains("acknowledgement timeout"), "{page}");
        // Its escalation starts over: the Default policy's first level pages Ada again at once.
        // The app has no SMTP server, so its trigger recorded her email as not sent; the sweep
        // ran on this test's own database handle, which sends email.
        assert!(page.contains("Level 1: Ada Lovelace not emailed"), "{page}");
        assert!(page.contains("Level 1: emailed Ada Lovelace"), "{page}");
        // Acknowledged again, it stays acknowledged until the timeout runs out again.
        act(&app, late, "acknowledge").await;
        assert!(retrigger_overdue(&db, klaxon::db::now())
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}
