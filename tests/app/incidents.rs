//! Incidents: trigger, lifecycle, refused and concurrent transitions, the outbox rows.

use klaxon::db::{incidents, timeline};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    act, add_integration, api_integration, configured_webhook, create_service, csrf_token,
    deliveries_of, fail_inserts_into, for_each_backend, location, post_event, query, submit_with,
    trigger, user_browser, TestApp,
};

async fn timeline_kinds(app: &TestApp, number: i64) -> Vec<String> {
    query(app, move |conn| {
        let incident = incidents::find_by_number(conn, number)?.expect("incident exists");
        Ok(
            timeline::newest_for_incident(conn, incident.id, None, 0, 100)?
                .into_iter()
                .rev()
                .map(|e| e.kind)
                .collect(),
        )
    })
    .await
}

#[tokio::test]
async fn the_trigger_form_explains_every_wrong_field() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "API").await;
        let long_title = "t".repeat(256);
        let long_summary = "s".repeat(10_001);
        let response = app
            .submit(
                "/incidents/new",
                "/incidents",
                &[
                    ("service", "nope"),
                    ("title", &long_title),
                    ("summary", &long_summary),
                    ("urgency", "urgent"),
                    ("assignee", "ghost"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        for (field, message) in [
            ("service", "Choose a service."),
            ("title", "Use at most 255 characters."),
            ("summary", "Use at most 10000 characters."),
            ("urgency", "Choose High or Low."),
            ("assignee", "Choose someone from the list, or nobody."),
        ] {
            assert!(
                page.contains(&format!(r#"id="{field}-error">{message}</p>"#)),
                "{field}"
            );
        }
        assert!(page.contains(&long_title), "title kept");
        let response = app
            .submit(
                "/incidents/new",
                "/incidents",
                &[("service", &service), ("title", "  "), ("urgency", "1")],
            )
            .await;
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="title-error">This field is required.</p>"#));
        let list = app.page("/incidents?status=all").await;
        assert!(
            list.contains("Get started"),
            "no incident was made: still the first run"
        );
    })
    .await;
}

#[tokio::test]
async fn an_incident_is_triggered_acknowledged_and_resolved() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let number = trigger(&app, &service, "Disk almost full").await;
        assert_eq!(number, 1);

        let page = app.page("/incidents/1").await;
        assert!(page.contains("Incident #1 triggered."));
        assert!(page.contains(r#"id="incident-status">triggered</span>"#));
        assert!(page.contains(">Acknowledge</button>") && page.contains(">Resolve</button>"));
        let list = app.page("/incidents").await;
        assert!(
            list.contains("Disk almost full")
                && list.contains(">High</span>")
                && list.contains("Storage")
        );

        let page = act(&app, 1, "acknowledge").await;
        assert!(page.contains(r#"id="incident-status">acknowledged</span>"#));
        assert!(
            !page.contains(">Acknowledge</button>"),
            "acknowledged: only Resolve is offered"
        );
        let page = act(&app, 1, "resolve").await;
        assert!(page.contains(r#"id="incident-status">resolved</span>"#));
        assert!(!page.contains(">Resolve</button>"));
        assert_eq!(
            timeline_kinds(&app, 1).await,
            // The service's Default policy pages its creator in the trigger's transaction.
            ["triggered", "escalation", "acknowledged", "resolved"]
        );

        let row = query(&app, |conn| incidents::find_by_number(conn, 1))
            .await
            .unwrap();
        assert_eq!(row.unique_id.len(), 22);
        assert_eq!(row.incident_key.len(), 22);
        assert_eq!(
            (row.context_window_end - row.context_window_start).num_minutes(),
            30
        );
        assert_eq!(row.context_window_end, row.creation_date);
        let (acked, resolved) = (row.acknowledged_date.unwrap(), row.resolved_date.unwrap());
        assert!(row.creation_date <= acked && acked <= resolved);

        // Resolved is final: both buttons, pressed from a stale page, are refused and change nothing.
        let page = act(&app, 1, "resolve").await;
        assert!(page.contains("Incident #1 is already resolved."));
        let page = act(&app, 1, "acknowledge").await;
        assert!(page.contains("Incident #1 is resolved; a resolved incident cannot change."));
        let again = query(&app, |conn| incidents::find_by_number(conn, 1))
            .await
            .unwrap();
        assert_eq!(
            (again.acknowledged_date, again.resolved_date),
            (Some(acked), Some(resolved)),
            "dates are set once"
        );
        assert_eq!(timeline_kinds(&app, 1).await.len(), 4);

        // Triggered straight to resolved is allowed.
        let second = trigger(&app, &service, "Flapping check").await;
        assert_eq!(second, 2);
        let page = act(&app, 2, "resolve").await;
        assert!(page.contains(r#"id="incident-status">resolved</span>"#));
    })
    .await;
}

#[tokio::test]
async fn each_transition_enqueues_one_frozen_delivery_per_enabled_configured_webhook() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let quiet = create_service(&app, "No webhooks").await;
        let number = trigger(&app, &quiet, "Nobody listens").await;
        act(&app, number, "resolve").await;
        assert!(
            deliveries_of(&app, number).await.is_empty(),
            "0 integrations, 0 rows"
        );

        let service = create_service(&app, "Three hooks").await;
        let first = configured_webhook(&app, &service, "https://1.1.1.1/a").await;
        let one = trigger(&app, &service, "One hook").await;
        assert_eq!(
            deliveries_of(&app, one).await.len(),
            1,
            "1 integration, 1 row"
        );

        configured_webhook(&app, &service, "https://1.1.1.1/b").await;
        configured_webhook(&app, &service, "https://1.1.1.1/c").await;
        // Neither a disabled integration nor one without a URL gets rows.
        let disabled = configured_webhook(&app, &service, "https://1.1.1.1/d").await;
        let configure = format!("/services/{service}/integrations/{disabled}");
        app.submit(
            &configure,
            &format!("{configure}/enabled"),
            &[("enabled", "false")],
        )
        .await;
        add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        add_integration(&app, &service, "incoming", "api").await;

        let number = trigger(&app, &service, "Three hooks fire").await;
        act(&app, number, "acknowledge").await;
        act(&app, number, "resolve").await;
        act(&app, number, "resolve").await; // refused: enqueues nothing
        let rows = deliveries_of(&app, number).await;
        assert_eq!(rows.len(), 9, "3 transitions x 3 integrations");
        let events: Vec<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
        assert_eq!(
            events,
            ["triggered"; 3]
                .iter()
                .chain(&["acknowledged"; 3])
                .chain(&["resolved"; 3])
                .copied()
                .collect::<Vec<_>>()
        );
        let mut ids: Vec<&str> = rows.iter().map(|r| r.unique_id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 9, "every delivery has its own webhook-id");
        assert!(rows
            .iter()
            .all(|r| r.state == "pending" && r.attempt_count == 0 && !r.is_test));

        for (row, status) in rows.iter().zip([1, 1, 1, 2, 2, 2, 3, 3, 3]) {
            let body: Value = serde_json::from_str(&row.payload).unwrap();
            assert_eq!(body["payload"]["event_type"], row.event_type);
            let incident = &body["payload"]["incident"];
            assert_eq!(incident["incident_number"], number);
            assert_eq!(incident["status"], status, "frozen at its own transition");
            assert_eq!(incident["service"]["name"], "Three hooks");
            assert!(incident["assigned_to"].is_null());
            let created = incident["creation_date"].as_str().unwrap();
            assert!(created.ends_with('Z') && created.len() == 27, "{created}");
        }
        let resolved: Value = serde_json::from_str(&rows[8].payload).unwrap();
        assert!(resolved["payload"]["incident"]["resolved_date"].is_string());
        let _ = first;
    })
    .await;
}

#[tokio::test]
async fn two_people_acknowledging_at_once_make_exactly_one_transition() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Race").await;
        configured_webhook(&app, &service, "https://1.1.1.1/race").await;
        let number = trigger(&app, &service, "Everyone jumps on it").await;

        let page = format!("/incidents/{number}");
        let html = app.page(&page).await;
        let token = csrf_token(&html).unwrap();
        let presses: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, token) = (
                    app.client.clone(),
                    app.url(&format!("{page}/acknowledge")),
                    token.clone(),
                );
                tokio::spawn(async move {
                    client
                        .post(url)
                        .form(&[("csrf_token", token)])
                        .send()
                        .await
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for press in presses {
            assert_eq!(press.await.unwrap(), StatusCode::SEE_OTHER);
        }
        assert_eq!(
            timeline_kinds(&app, number).await,
            ["triggered", "escalation", "acknowledged"]
        );
        let rows = deliveries_of(&app, number).await;
        assert_eq!(
            rows.iter()
                .filter(|r| r.event_type == "acknowledged")
                .count(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn incident_numbers_stay_unique_and_gap_free_under_concurrent_triggers() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Busy").await;
        let html = app.page("/incidents/new").await;
        let token = csrf_token(&html).unwrap();
        let triggers: Vec<_> = (0..20)
            .map(|i| {
                let (client, url, token, service) = (
                    app.client.clone(),
                    app.url("/incidents"),
                    token.clone(),
                    service.clone(),
                );
                tokio::spawn(async move {
                    let title = format!("Alert {i}");
                    let form = [
                        ("csrf_token", token.as_str()),
                        ("service", &service),
                        ("title", &title),
                        ("urgency", "0"),
                    ];
                    let response = client.post(url).form(&form).send().await.unwrap();
                    location(&response)
                        .strip_prefix("/incidents/")
                        .unwrap()
                        .parse::<i64>()
                        .unwrap()
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for t in triggers {
            numbers.push(t.await.unwrap());
        }
        numbers.sort();
        assert_eq!(numbers, (1..=20).collect::<Vec<i64>>());
    })
    .await;
}

#[tokio::test]
async fn a_failing_outbox_insert_rolls_the_whole_transition_back() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Fragile").await;
        configured_webhook(&app, &service, "https://1.1.1.1/fragile").await;
        let number = trigger(&app, &service, "Will not budge").await;

        let outbox = fail_inserts_into(&app, "deliveries", "outbox broken").await;

        let page = format!("/incidents/{number}");
        let response = app.submit(&page, &format!("{page}/acknowledge"), &[]).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.text().await.unwrap();
        assert!(
            body.contains("Something went wrong") && !body.contains("outbox broken"),
            "no internals shown"
        );

        let row = query(&app, move |conn| incidents::find_by_number(conn, number))
            .await
            .unwrap();
        assert_eq!(row.status, 1, "still triggered");
        assert!(row.acknowledged_date.is_none());
        assert_eq!(
            timeline_kinds(&app, number).await,
            ["triggered", "escalation"],
            "no timeline entry either"
        );
        assert_eq!(
            deliveries_of(&app, number).await.len(),
            1,
            "only the trigger's row"
        );

        outbox.lift(&app).await;
        let page = act(&app, number, "acknowledge").await;
        assert!(page.contains(r#"id="incident-status">acknowledged</span>"#));
        assert_eq!(deliveries_of(&app, number).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_trigger_rolled_back_gives_its_number_back() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, "https://1.1.1.1/numbers").await;
        assert_eq!(trigger(&app, &service, "First").await, 1);

        // The incident is inserted (and numbered) before its webhook, which fails here.
        let outbox = fail_inserts_into(&app, "deliveries", "outbox broken").await;
        let fields = [
            ("service", service.as_str()),
            ("title", "Lost"),
            ("urgency", "1"),
        ];
        let response = app.submit("/incidents/new", "/incidents", &fields).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let lost = json!({"message": "Lost too", "alert_type": "critical", "entity_id": "lost"});
        let (status, _) = post_event(&app, &events, lost).await;
        assert!(status.is_server_error(), "{status}");
        outbox.lift(&app).await;

        assert_eq!(trigger(&app, &service, "Second").await, 2);
        let third = json!({"message": "Third", "alert_type": "critical", "entity_id": "third"});
        let (status, _) = post_event(&app, &events, third).await;
        assert!(status.is_success(), "{status}");
        let numbered: Vec<(i64, String)> = query(&app, |conn| {
            (1..=4)
                .filter_map(|n| incidents::find_by_number(conn, n).transpose())
                .map(|row| row.map(|row| (row.incident_number, row.title)))
                .collect()
        })
        .await;
        assert_eq!(
            numbered,
            [
                (1, "First".to_owned()),
                (2, "Second".to_owned()),
                (3, "Third".to_owned())
            ],
            "the numbers of the rolled-back triggers were given back"
        );
    })
    .await;
}

#[tokio::test]
async fn incidents_are_acknowledged_and_resolved_from_the_list_one_or_many_at_once() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        for title in ["Disk one", "Disk two", "Disk three", "Disk four"] {
            trigger(&app, &service, title).await;
        }
        let list = app.page("/incidents").await;
        // Each row: one link, a checkbox, and the actions its status allows.
        assert_eq!(list.matches(r#"href="/incidents/1""#).count(), 1);
        assert!(list.contains(r#"name="incident" value="4""#));
        assert!(list.contains(r#"formaction="/incidents/4/acknowledge""#));

        // One row's button: back to the list, that incident changed.
        let here = "/incidents?status=open&service=&urgency=&page=1";
        let response = app
            .submit("/incidents", "/incidents/4/acknowledge", &[("back", here), ("action", "")])
            .await;
        assert_eq!(location(&response), here);
        let list = app.page(here).await;
        assert!(list.contains("Incident #4 acknowledged."));
        assert!(!list.contains(r#"formaction="/incidents/4/acknowledge""#));
        assert!(list.contains(r#"formaction="/incidents/4/resolve""#));

        // Resolve #1 first so that the bulk action finds one refusal among its picks.
        act(&app, 1, "resolve").await;
        let response = app
            .submit(
                "/incidents",
                "/incidents/bulk",
                &[("back", here), ("action", "resolve"), ("incident", "1"), ("incident", "2"), ("incident", "3"), ("incident", "99")],
            )
            .await;
        assert_eq!(location(&response), here);
        let list = app.page(here).await;
        assert!(
            list.contains("2 incidents resolved. Refused: Incident #1 is already resolved. Incident #99 was not found."),
            "{list}"
        );
        for number in [1, 2, 3] {
            let row = query(&app, move |conn| incidents::find_by_number(conn, number)).await.unwrap();
            assert_eq!(row.status, 3, "#{number}");
        }
        assert_eq!(timeline_kinds(&app, 2).await, ["triggered", "escalation", "resolved"], "one transition each");

        // Nothing ticked, or no action: said plainly, nothing changes.
        let response = app.submit("/incidents", "/incidents/bulk", &[("back", here), ("action", "acknowledge")]).await;
        assert_eq!(location(&response), here);
        assert!(app.page(here).await.contains("Tick the incidents to change first."));
        let response = app.submit("/incidents", "/incidents/bulk", &[("action", "delete"), ("incident", "4")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        // A `back` that leaves the incidents list is not followed.
        let response = app
            .submit("/incidents", "/incidents/4/resolve", &[("back", "https://evil.example/incidents")])
            .await;
        assert_eq!(location(&response), "/incidents/4");
    })
    .await;
}

#[tokio::test]
async fn a_new_install_shows_the_first_steps_until_its_first_incident() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let list = app.page("/incidents").await;
        assert!(list.contains("Get started") && !list.contains("All quiet"));
        assert_eq!(list.matches(">Done</span>").count(), 0);
        let service = create_service(&app, "Storage").await;
        assert_eq!(
            app.page("/incidents").await.matches(">Done</span>").count(),
            1
        );
        configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        assert_eq!(
            app.page("/incidents").await.matches(">Done</span>").count(),
            2
        );
        let number = trigger(&app, &service, "First").await;
        act(&app, number, "resolve").await;
        // From the first incident on, an empty view is just quiet.
        let list = app.page("/incidents").await;
        assert!(list.contains("No open incidents. All quiet.") && !list.contains("Get started"));
    })
    .await;
}

#[tokio::test]
async fn times_show_the_clock_in_the_readers_time_zone_beside_the_age() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let number = trigger(&app, &service, "Disk almost full").await;
        let page = app.page(&format!("/incidents/{number}")).await;
        assert!(
            page.contains(" UTC · just now</time>"),
            "UTC until the profile says otherwise"
        );
        app.submit(
            "/settings",
            "/settings/time-zone",
            &[("time_zone", "Asia/Tokyo")],
        )
        .await;
        let page = app.page(&format!("/incidents/{number}")).await;
        assert!(page.contains(" JST · just now</time>"), "{page}");
        let list = app.page("/incidents").await;
        assert!(list.contains(" JST · just now</time>"));
    })
    .await;
}

#[tokio::test]
async fn without_a_zone_of_their_own_times_follow_the_zone_the_browser_reported() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let number = trigger(&app, &service, "Disk almost full").await;
        let path = format!("/incidents/{number}");
        let page_with = |path: String, zone: &'static str| {
            let app = &app;
            let cookie = format!("{}; klaxon_tz={zone}", app.session_cookie());
            async move {
                let response = app.get_with_cookie(&path, &cookie).await;
                assert_eq!(response.status(), StatusCode::OK);
                response.text().await.unwrap()
            }
        };

        let page = page_with(path.clone(), "Asia/Tokyo").await;
        assert!(page.contains(" JST · just now</time>"), "{page}");
        assert!(page
            .contains(r#"<meta name="klaxon-zone" content="Asia/Tokyo" data-follows="browser">"#));
        let settings = page_with("/settings".into(), "Asia/Tokyo").await;
        assert!(
            settings.contains("Times show in Asia/Tokyo, your browser&#39;s time zone")
                && settings.contains(r#"<option value="" selected>Automatic"#),
            "{settings}"
        );
        for unknown in ["Mars/Olympus_Mons", "%3Cscript%3E", ""] {
            let page = page_with(path.clone(), unknown).await;
            assert!(page.contains(" UTC · just now</time>"), "{unknown}: UTC");
        }
        let settings = app.page("/settings").await;
        assert!(settings.contains("Times show in UTC: you have not chosen a time zone"));

        // The reader's own choice wins over the browser's.
        app.submit(
            "/settings",
            "/settings/time-zone",
            &[("time_zone", "America/New_York")],
        )
        .await;
        let page = page_with(path.clone(), "Asia/Tokyo").await;
        assert!(
            page.contains(" EST · just now</time>") && page.contains(r#"data-follows="profile""#)
        );
        let settings = page_with("/settings".into(), "Asia/Tokyo").await;
        assert!(settings.contains("Times show in America/New_York, the zone you chose."));

        // Choosing none again follows the browser again.
        app.submit("/settings", "/settings/time-zone", &[("time_zone", "")])
            .await;
        let page = page_with(path.clone(), "Asia/Tokyo").await;
        assert!(page.contains(" JST · just now</time>"), "{page}");
    })
    .await;
}

#[tokio::test]
async fn the_incidents_list_filters_and_paginates() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let web = create_service(&app, "Web").await;
        let db = create_service(&app, "Database").await;
        for i in 0..52 {
            trigger(&app, &web, &format!("Web alert {i}")).await;
        }
        let low = app
            .submit(
                "/incidents/new",
                "/incidents",
                &[("service", &db), ("title", "Slow query"), ("urgency", "0")],
            )
            .await;
        let low_number: i64 = location(&low)
            .strip_prefix("/incidents/")
            .unwrap()
            .parse()
            .unwrap();
        let resolved = trigger(&app, &db, "Replica lag").await;
        act(&app, resolved, "resolve").await;

        let first = app.page("/incidents").await;
        assert_eq!(first.matches("<tr>").count(), 1 + 50, "50 a page");
        assert!(first.contains("Slow query"), "newest first");
        assert!(!first.contains("Replica lag"), "open only by default");
        assert!(first.contains("page=2"));
        let second = app
            .page("/incidents?status=open&service=&urgency=&page=2")
            .await;
        assert_eq!(second.matches("<tr>").count(), 1 + 3);
        assert!(second.contains("Web alert 0"));

        let resolved_only = app.page("/incidents?status=resolved").await;
        assert!(resolved_only.contains("Replica lag") && !resolved_only.contains("Slow query"));
        let by_service = app
            .page(&format!("/incidents?status=all&service={db}"))
            .await;
        assert_eq!(by_service.matches("<tr>").count(), 1 + 2);
        let low_only = app.page("/incidents?urgency=low").await;
        assert!(
            low_only.contains(&format!("#{low_number}<")) && low_only.matches("<tr>").count() == 2
        );

        let services = app.page("/services").await;
        assert!(services.contains("52 open") && services.contains("1 open"));
    })
    .await;
}

#[tokio::test]
async fn notes_and_assignment_go_on_the_timeline() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Notes").await;
        let number = trigger(&app, &service, "Needs a note").await;
        let page = format!("/incidents/{number}");
        let response = app
            .submit(&page, &format!("{page}/notes"), &[("note", "   ")])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="note-error">Write the note first.</p>"#));

        app.submit(
            &page,
            &format!("{page}/notes"),
            &[("note", "Restarted the <b>worker</b>")],
        )
        .await;
        let html = app.page(&page).await;
        assert!(
            html.contains("Restarted the &#60;b&#62;worker&#60;/b&#62;")
                || html.contains("Restarted the &lt;b&gt;worker&lt;/b&gt;"),
            "escaped"
        );

        let before_name = &html[..html.find(">Ada Lovelace</option>").expect("owner listed")];
        let owner = before_name
            .rsplit("value=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        app.submit(&page, &format!("{page}/assign"), &[("assignee", &owner)])
            .await;
        let html = app.page(&page).await;
        assert!(
            html.contains("Assigned to Ada Lovelace.") && html.contains("assigned to Ada Lovelace")
        );
        assert_eq!(
            timeline_kinds(&app, number).await,
            ["triggered", "escalation", "note", "assigned"]
        );

        // The assignee is in the next webhook's body, in the seed's user shape.
        configured_webhook(&app, &service, "https://1.1.1.1/n").await;
        act(&app, number, "acknowledge").await;
        let rows = deliveries_of(&app, number).await;
        let body: Value = serde_json::from_str(&rows[0].payload).unwrap();
        let assigned = &body["payload"]["incident"]["assigned_to"];
        assert_eq!(assigned["first_name"], "Ada");
        assert_eq!(assigned["email"], "ada@example.com");
        assert_eq!(assigned["username"].as_str().unwrap().len(), 25);
    })
    .await;
}

#[tokio::test]
async fn people_outside_the_team_cannot_see_or_change_its_incidents() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Private").await;
        let number = trigger(&app, &service, "Hidden").await;
        let outsider = user_browser(&app, "outsider@example.com").await;
        let response = outsider
            .get(app.url(&format!("/incidents/{number}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let list = outsider
            .get(app.url("/incidents?status=all"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!list.contains("Hidden"));
        for action in ["acknowledge", "resolve", "notes", "assign"] {
            let response = submit_with(
                &outsider,
                &app.address,
                "/settings",
                &format!("/incidents/{number}/{action}"),
                &[("note", "x")],
            )
            .await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
        }
        let response = submit_with(
            &outsider,
            &app.address,
            "/settings",
            "/incidents",
            &[("service", &service), ("title", "x"), ("urgency", "1")],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "cannot trigger on another team's service"
        );
        assert_eq!(
            app.get("/incidents/999").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get("/incidents/abc").await.status(),
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn a_service_with_incidents_is_disabled_instead_of_deleted() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Has history").await;
        trigger(&app, &service, "Once upon a time").await;
        let delete = format!("/services/{service}/delete");
        app.submit(&delete, &delete, &[]).await;
        let page = app.page(&format!("/services/{service}")).await;
        assert!(page
            .contains("was disabled instead of deleted: it has incidents, whose history is kept."));
    })
    .await;
}

/// A monitor that keeps firing adds an entry per alert; the incident page shows the newest
/// entries first, in pages, so the latest changes are never cut off.
#[tokio::test]
async fn a_long_timeline_is_paged_with_the_newest_entries_first() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Chatty").await;
        let number = trigger(&app, &service, "Flapping").await;
        query(&app, move |conn| {
            let incident = incidents::find_by_number(conn, number)?.expect("incident exists");
            for i in 1..=150 {
                timeline::append(
                    conn,
                    timeline::NewTimelineRow {
                        incident_id: incident.id,
                        kind: "alert",
                        actor_user_id: None,
                        actor_label: "Integration API".into(),
                        detail: format!("critical: repeat {i:03}"),
                        delivery_id: None,
                        created_at: klaxon::db::now(),
                    },
                )?;
            }
            Ok(())
        })
        .await;

        let page = format!("/incidents/{number}");
        let newest = app.page(&page).await;
        assert!(
            newest.contains("repeat 150") && newest.contains("repeat 052"),
            "the newest 100"
        );
        assert!(!newest.contains("repeat 050") && !newest.contains("triggered the incident"));
        assert!(
            newest.find("repeat 051") < newest.find("repeat 150"),
            "oldest first within the page"
        );
        assert!(newest.contains(r#"href="?timeline=2">Earlier entries"#));
        assert!(!newest.contains("Later entries"));

        let earlier = app.page(&format!("{page}?timeline=2")).await;
        assert!(earlier.contains("triggered the incident") && earlier.contains("repeat 050"));
        assert!(!earlier.contains("repeat 051"));
        assert!(earlier.contains(r#"href="?timeline=1">Later entries"#));

        let odd = app.get(&format!("{page}?timeline=zero")).await;
        assert_eq!(
            odd.status(),
            StatusCode::OK,
            "an unusable page number is the first page"
        );
    })
    .await;
}
