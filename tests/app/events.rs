//! The Events API: alerts open, deduplicate, acknowledge and resolve incidents.

use reqwest::StatusCode;
use serde_json::{json, Value};

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

use crate::helpers::{
    api_integration, backdate, configured_webhook, edit_service, event_types_of, for_each_backend,
    metric, post_event, query, status_of, Backend, TestApp,
};

#[tokio::test]
async fn critical_then_acknowledged_then_resolved_moves_one_incident_and_its_webhooks() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, "https://1.1.1.1/hook").await;

        let (status, alert) = post_event(&app, &events, json!({"message": "CPU above 95%", "summary": "web-1", "alert_type": "critical", "entity_id": "web-1-cpu", "payload": {"value": 97}, "urls": [{"link_url": "https://grafana.example/d/1", "link_text": "Dashboard"}]})).await;
        assert_eq!(status, StatusCode::CREATED, "{alert}");
        assert_eq!(alert["alert_type"], 3);
        assert_eq!(alert["incident_created"], true);
        assert_eq!(alert["entity_id"], "web-1-cpu");
        assert_eq!(alert["payload"]["value"], 97);
        assert_eq!(alert["urls"][0]["link_text"], "Dashboard");
        assert!(alert["creation_date"].as_str().unwrap().ends_with('Z'));
        let number = alert["incident"].as_i64().unwrap();

        let (_, again) = post_event(&app, &events, json!({"message": "CPU still high", "alert_type": "critical", "entity_id": "web-1-cpu"})).await;
        assert_eq!((again["incident"].as_i64(), again["incident_created"].as_bool()), (Some(number), Some(false)), "deduplicated by entity_id");

        let (_, ack) = post_event(&app, &events, json!({"message": "on it", "alert_type": "acknowledged", "entity_id": "web-1-cpu"})).await;
        assert_eq!((ack["alert_type"].as_i64(), ack["incident"].as_i64()), (Some(4), Some(number)));
        let (_, resolved) = post_event(&app, &events, json!({"message": "CPU normal", "alert_type": "resolved", "entity_id": "web-1-cpu"})).await;
        assert_eq!(resolved["alert_type"], 5);

        let page = app.page(&format!("/incidents/{number}")).await;
        assert!(page.contains(r#"id="incident-status">resolved</span>"#));
        assert!(page.contains("Integration API") && page.contains("critical: CPU above 95%"));
        let events_sent = event_types_of(&app, number).await;
        assert_eq!(events_sent, ["triggered", "acknowledged", "resolved"], "the same outbox as the pages");

        // Resolved is final: the same entity opens a new incident.
        let (_, next) = post_event(&app, &events, json!({"message": "CPU above 95% again", "alert_type": "critical", "entity_id": "web-1-cpu"})).await;
        assert_eq!(next["incident_created"], true);
        assert_ne!(next["incident"].as_i64(), Some(number));
    })
    .await;
}

#[tokio::test]
async fn info_suppressed_and_entityless_alerts() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, integration, events) = api_integration(&app).await;
        let (status, info) = post_event(&app, &events, json!({"message": "deploy finished"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            (info["alert_type"].as_i64(), info["incident"].is_null()),
            (Some(0), true),
            "info is recorded only"
        );
        assert_eq!(
            info["entity_id"].as_str().unwrap().len(),
            22,
            "a missing entity_id is generated"
        );
        let (_, suppressed) = post_event(
            &app,
            &events,
            json!({"message": "noisy", "alert_type": "critical", "suppressed": true}),
        )
        .await;
        assert!(suppressed["incident"].is_null());
        let (_, a) = post_event(
            &app,
            &events,
            json!({"message": "disk", "alert_type": "error"}),
        )
        .await;
        let (_, b) = post_event(
            &app,
            &events,
            json!({"message": "disk", "alert_type": "error"}),
        )
        .await;
        assert_ne!(
            a["incident"], b["incident"],
            "without an entity_id each alert is its own incident"
        );

        let list = app
            .page(&format!(
                "/services/{service}/integrations/{integration}/alerts"
            ))
            .await;
        assert!(
            list.contains("deploy finished")
                && list.contains("suppressed")
                && list.matches("<tr>").count() == 1 + 4
        );
        assert!(list.contains(&format!(r#"<a href="/incidents/{}">"#, a["incident"])));
    })
    .await;
}

/// Posts an alert of this type for this entity; returns the answer's body (a 201 checked).
async fn alert(app: &TestApp, events: &str, alert_type: &str, entity_id: &str) -> Value {
    let message = format!("{entity_id} {alert_type}");
    let body = json!({"message": message, "alert_type": alert_type, "entity_id": entity_id});
    let (status, answer) = post_event(app, events, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

/// Critical alerts for `host-0` … `host-{hosts - 1}`, all sent at once; their answers in order.
async fn critical_alerts_at_once(app: &TestApp, events: &str, hosts: usize) -> Vec<Value> {
    let entities: Vec<String> = (0..hosts).map(|n| format!("host-{n}")).collect();
    futures_util::future::join_all(
        entities
            .iter()
            .map(|entity| alert(app, events, "critical", entity)),
    )
    .await
}

#[tokio::test]
async fn a_service_disabled_or_under_maintenance_keeps_alerts_but_opens_no_incident() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        let before = alert(&app, &events, "critical", "db").await;
        let open = before["incident"]
            .as_i64()
            .expect("an active service opens incidents");

        for (status, word) in [("4", "under maintenance"), ("0", "disabled")] {
            edit_service(&app, &service, &[("status", status)]).await;
            let quiet = alert(&app, &events, "critical", "web").await;
            assert_eq!(
                (quiet["incident"].is_null(), quiet["suppressed"].as_bool()),
                (true, Some(true)),
                "{word}: {quiet}"
            );
        }
        let resolved = alert(&app, &events, "resolved", "db").await;
        assert_eq!(
            resolved["incident"].as_i64(),
            Some(open),
            "what is open still moves"
        );
        assert_eq!(status_of(&app, open).await, 3);

        edit_service(&app, &service, &[("status", "1")]).await;
        let active = alert(&app, &events, "critical", "web").await;
        assert_eq!(active["incident_created"], true, "{active}");
    })
    .await;
}

#[tokio::test]
async fn time_based_collation_gathers_an_alert_storm_into_the_incident_that_opened_it() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        let collation = |on: &'static str| [("collation", on), ("collation_time", "300")];
        edit_service(&app, &service, &collation("1")).await;

        let number = alert(&app, &events, "critical", "db").await["incident"]
            .as_i64()
            .unwrap();
        let web = alert(&app, &events, "critical", "web").await;
        assert_eq!(
            (web["incident"].as_i64(), web["incident_created"].as_bool()),
            (Some(number), Some(false)),
            "{web}"
        );
        let again = alert(&app, &events, "error", "web").await;
        assert_eq!(
            again["incident"].as_i64(),
            Some(number),
            "the entity stays with it"
        );

        // The incident follows the entity that opened it.
        let web_ok = alert(&app, &events, "resolved", "web").await;
        assert_eq!(web_ok["incident"].as_i64(), Some(number));
        assert_eq!(status_of(&app, number).await, 1, "still triggered");
        let page = app.page(&format!("/incidents/{number}")).await;
        assert!(page.contains("critical: web critical") && page.contains("resolved: web resolved"));
        alert(&app, &events, "resolved", "db").await;
        assert_eq!(status_of(&app, number).await, 3);

        // A resolved incident collects nothing; nor does one opened before the window.
        let second = alert(&app, &events, "critical", "cache").await["incident"]
            .as_i64()
            .unwrap();
        assert_ne!(second, number);
        backdate(&app, second, chrono::Duration::seconds(301)).await;
        let queue = alert(&app, &events, "critical", "queue").await;
        assert_eq!(queue["incident_created"], true, "{queue}");

        edit_service(&app, &service, &collation("0")).await;
        let mail = alert(&app, &events, "critical", "mail").await;
        assert_eq!(mail["incident_created"], true, "with collation off: {mail}");
    })
    .await;
}

#[tokio::test]
async fn concurrent_alerts_for_one_new_entity_open_one_incident() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (_, _, events) = api_integration(&app).await;
        let posts: Vec<_> = (0..8)
            .map(|i| {
                let url = app.url(&events);
                tokio::spawn(async move {
                    let body = json!({"message": format!("db down {i}"), "alert_type": "critical", "entity_id": "db-1"});
                    let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                    response.json::<Value>().await.unwrap()["incident"].as_i64().unwrap()
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for p in posts {
            numbers.push(p.await.unwrap());
        }
        numbers.dedup();
        assert_eq!(numbers.len(), 1, "one incident: {numbers:?}");
    })
    .await;
}

/// A counter's value on the instance's `/metrics`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    metric(&app.address, name)
        .await
        .unwrap_or_else(|| panic!("{name} is not on /metrics"))
}

#[tokio::test]
async fn alerts_arriving_together_share_write_transactions_and_each_opens_its_own_incident() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (_, _, events) = api_integration(&app).await;
        let jobs_before = counter(&app, "klaxon_db_write_jobs_total").await;
        let transactions_before = counter(&app, "klaxon_db_write_transactions_total").await;
        let answers = critical_alerts_at_once(&app, &events, 64).await;
        let mut incidents: Vec<i64> = answers
            .iter()
            .map(|a| {
                assert_eq!(a["incident_created"], true, "{a}");
                a["incident"].as_i64().unwrap()
            })
            .collect();
        incidents.sort_unstable();
        incidents.dedup();
        assert_eq!(incidents.len(), 64, "one incident per entity: {incidents:?}");
        let jobs = counter(&app, "klaxon_db_write_jobs_total").await - jobs_before;
        let transactions =
            counter(&app, "klaxon_db_write_transactions_total").await - transactions_before;
        assert!(jobs >= 64, "every alert went through the writer: {jobs} jobs");
        assert!(
            transactions < jobs,
            "alerts that queued together should share a commit: {jobs} in {transactions} transactions"
        );
    })
    .await;
}

#[tokio::test]
async fn bad_events_get_a_json_4xx_naming_the_problem() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, integration, events) = api_integration(&app).await;
        let (status, body) =
            post_event(&app, "/api/events/not-a-key/", json!({"message": "x"})).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("No integration has this key."))
        );

        let (status, body) = post_event(
            &app,
            &events,
            json!({"message": "x", "alert_type": "panic"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["detail"],
            "alert_type: must be one of: critical, error, warning, info, acknowledged, resolved"
        );
        let (status, body) = post_event(
            &app,
            &events,
            json!({"alert_type": "critical", "payload": "nope"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["detail"],
            "message: is required; payload: must be a JSON object"
        );

        let client = reqwest::Client::new();
        let response = client
            .post(app.url(&events))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON"));

        let huge = json!({"message": "x", "payload": {"blob": "y".repeat(600 * 1024)}});
        let response = client
            .post(app.url(&events))
            .json(&huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.json::<Value>().await.unwrap()["detail"],
            "The body is larger than 512 KiB."
        );

        let response = client
            .get(app.url("/api/no/such/thing/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.json::<Value>().await.unwrap()["detail"].is_string());

        let configure = format!("/services/{service}/integrations/{integration}");
        app.submit(
            &configure,
            &format!("{configure}/enabled"),
            &[("enabled", "false")],
        )
        .await;
        let (status, body) = post_event(
            &app,
            &events,
            json!({"message": "x", "alert_type": "critical"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body["detail"],
            "This integration is disabled; enable it to accept alerts."
        );
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_alerts_arriving_together_on_a_collating_service_opens_one_incident() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        edit_service(
            &app,
            &service,
            &[("collation", "1"), ("collation_time", "300")],
        )
        .await;
        let answers = critical_alerts_at_once(&app, &events, 16).await;
        let opened = answers
            .iter()
            .filter(|a| a["incident_created"] == true)
            .count();
        let mut incidents: Vec<i64> = answers
            .iter()
            .map(|a| a["incident"].as_i64().unwrap())
            .collect();
        incidents.sort_unstable();
        incidents.dedup();
        assert_eq!((opened, incidents.len()), (1, 1), "{answers:?}");
    })
    .await;
}

#[tokio::test]
async fn an_incidents_page_shows_its_alerts_with_links_and_payload_and_its_summary_first() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (_, _, events) = api_integration(&app).await;
        let (_, alert) = post_event(&app, &events, json!({
            "message": "CPU above 95%", "summary": "web-1 is saturated", "alert_type": "critical",
            "entity_id": "web-1-cpu", "payload": {"value": 97, "host": "web-1"},
            "urls": [{"link_url": "https://grafana.example/d/1", "link_text": "Dashboard"},
                     {"link_url": "javascript:alert(1)", "link_text": "Trap"}]
        }))
        .await;
        let number = alert["incident"].as_i64().unwrap();
        post_event(&app, &events, json!({"message": "CPU still high", "alert_type": "critical", "entity_id": "web-1-cpu"})).await;

        let page = app.page(&format!("/incidents/{number}")).await;
        let summary = page.find(r#"id="summary-heading""#).expect("the summary has its own section");
        assert!(summary < page.find("<h2>Timeline</h2>").unwrap(), "the summary comes before the timeline");
        let alerts = &page[page.find(r#"id="alerts-heading""#).expect("an Alerts section")..];
        // Newest first, each with its entity, links and payload indented.
        assert!(alerts.find("CPU still high").unwrap() < alerts.find("CPU above 95%").unwrap());
        assert!(alerts.contains("<code>web-1-cpu</code>"));
        assert!(alerts.contains(r#"<a href="https://grafana.example/d/1" rel="noopener noreferrer nofollow">Dashboard</a>"#));
        assert!(!alerts.contains("javascript:"), "only http(s) links become links");
        assert!(alerts.contains("<summary>Payload</summary>") && alerts.contains("  &#34;value&#34;: 97"), "{alerts}");
    })
    .await;
}

#[tokio::test]
async fn the_timeline_filters_changes_alerts_notes_and_webhooks() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (_, _, events) = api_integration(&app).await;
        let (_, alert) = post_event(
            &app,
            &events,
            json!({"message": "Disk full", "alert_type": "critical", "entity_id": "disk"}),
        )
        .await;
        let number = alert["incident"].as_i64().unwrap();
        let path = format!("/incidents/{number}");
        app.submit(
            &path,
            &format!("{path}/notes"),
            &[("note", "Cleaning /tmp")],
        )
        .await;
        post_event(
            &app,
            &events,
            json!({"message": "Disk fine", "alert_type": "acknowledged", "entity_id": "disk"}),
        )
        .await;

        let kinds = |page: &str| -> Vec<String> {
            let timeline = &page[page.find(r#"id="incident-timeline""#).unwrap()..];
            // The timeline ends where the note's form starts: its folds are lists of their own.
            let timeline = &timeline[..timeline.find("<form").unwrap()];
            timeline
                .split(r#"<li class="tl-"#)
                .skip(1)
                .map(|rest| rest.split(['"', ' ']).next().unwrap().to_owned())
                .collect()
        };
        let page = app.page(&path).await;
        let all = kinds(&page);
        for kind in ["triggered", "alert", "note", "acknowledged"] {
            assert!(all.contains(&kind.to_owned()), "{kind} in {all:?}");
        }
        // Each alert that changed the incident is folded under the change it made.
        for (change, message) in [("triggered", "Disk full"), ("acknowledged", "Disk fine")] {
            let entry = &page[page.find(&format!(r#"<li class="tl-{change}""#)).unwrap()..];
            let fold = &entry[entry.find("<details").unwrap()..entry.find("</details>").unwrap()];
            assert!(
                fold.contains("<summary>1 alert</summary>") && fold.contains(message),
                "{fold}"
            );
        }
        assert_eq!(
            kinds(&app.page(&format!("{path}?show=notes")).await),
            ["note"]
        );
        let alerts = kinds(&app.page(&format!("{path}?show=alerts")).await);
        assert!(
            !alerts.is_empty() && alerts.iter().all(|k| k == "alert"),
            "{alerts:?}"
        );
        assert_eq!(
            kinds(&app.page(&format!("{path}?show=changes")).await),
            ["triggered", "escalation", "acknowledged"]
        );
        let page = app.page(&format!("{path}?show=webhooks")).await;
        assert!(kinds(&page).is_empty() && page.contains("Nothing of this kind yet."));
        assert!(page.contains(r#"<a href="?show=webhooks" aria-current="page">Webhooks</a>"#));
        assert_eq!(
            kinds(&app.page(&format!("{path}?show=bogus")).await),
            all,
            "unknown reads as all"
        );
    })
    .await;
}

/// Per incident that alerts opened: its entity, and how many of its triggered timeline entries,
/// alerts, webhook deliveries and fired escalation steps were kept.
async fn what_each_opened_incident_kept(app: &TestApp) -> Vec<(String, [i64; 4])> {
    query(app, |conn| {
        use diesel::sql_types::{BigInt, Text};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            entity: String,
            #[diesel(sql_type = BigInt)]
            triggered: i64,
            #[diesel(sql_type = BigInt)]
            alerts: i64,
            #[diesel(sql_type = BigInt)]
            deliveries: i64,
            #[diesel(sql_type = BigInt)]
            fired: i64,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT i.entity_id AS entity, \
             (SELECT COUNT(*) FROM timeline_entries t WHERE t.incident_id = i.id AND t.kind = 'triggered') AS triggered, \
             (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id) AS alerts, \
             (SELECT COUNT(*) FROM deliveries d WHERE d.incident_id = i.id) AS deliveries, \
             (SELECT COUNT(*) FROM escalation_steps s WHERE s.incident_id = i.id AND s.state = 'fired') AS fired \
             FROM incidents i WHERE i.entity_id IS NOT NULL ORDER BY i.entity_id",
        )
        .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.entity, [r.triggered, r.alerts, r.deliveries, r.fired]))
            .collect())
    })
    .await
}

/// Alerts that arrive together run in one transaction (on PostgreSQL sharing savepoints, their
/// alert rows, webhooks, emails and timeline entries inserted together at the end of the run):
/// one that fails after it wrote its incident, webhook and escalation leaves none of it behind,
/// and the alerts beside it are kept, each once. On PostgreSQL the alert is refused in that
/// last insert, which the whole run shares.
#[tokio::test]
async fn an_alert_failing_among_alerts_arriving_together_leaves_nothing_and_the_others_stand() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        // The alert row is the last thing an alert writes: everything before it must go too.
        let refuse = match app.backend() {
            Backend::Postgres => {
                "CREATE FUNCTION refuse_doomed() RETURNS trigger AS $$ BEGIN \
                 IF NEW.entity_id LIKE 'doomed-%' THEN RAISE EXCEPTION 'doomed alert'; END IF; \
                 RETURN NEW; END; $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER refuse_doomed BEFORE INSERT ON alerts FOR EACH ROW \
                 EXECUTE FUNCTION refuse_doomed();"
            }
            Backend::Sqlite => {
                "CREATE TRIGGER refuse_doomed BEFORE INSERT ON alerts \
                 WHEN NEW.entity_id LIKE 'doomed-%' BEGIN SELECT RAISE(ABORT, 'doomed alert'); END;"
            }
        };
        query(&app, move |conn| conn.batch_execute(refuse)).await;
        let transactions_before = counter(&app, "klaxon_db_write_transactions_total").await;

        let entities: Vec<String> = (0..48)
            .map(|n| match n % 4 {
                3 => format!("doomed-{n:02}"),
                _ => format!("host-{n:02}"),
            })
            .collect();
        let answers = futures_util::future::join_all(entities.iter().map(|entity| {
            post_event(
                &app,
                &events,
                json!({"message": "disk full", "alert_type": "critical", "entity_id": entity}),
            )
        }))
        .await;
        for (entity, (status, body)) in entities.iter().zip(&answers) {
            if entity.starts_with("doomed") {
                assert!(status.is_server_error(), "{entity}: {status} {body}");
                assert!(body["detail"].is_string(), "{entity}: {body}");
            } else {
                assert_eq!(*status, StatusCode::CREATED, "{entity}: {body}");
            }
        }
        let transactions =
            counter(&app, "klaxon_db_write_transactions_total").await - transactions_before;
        assert!(
            transactions < 48,
            "the alerts should have shared transactions: {transactions}"
        );

        let kept = what_each_opened_incident_kept(&app).await;
        let expected: Vec<(String, [i64; 4])> = entities
            .iter()
            .filter(|e| e.starts_with("host"))
            .map(|e| (e.clone(), [1, 1, 1, 1]))
            .collect();
        assert_eq!(
            kept, expected,
            "(entity, [triggered, alerts, webhooks, levels fired])"
        );
    })
    .await;
}
