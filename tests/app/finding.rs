//! Finding an incident in the list: search, sort, date range, "Assigned to me", status tabs with
//! counts, and a pager that knows its last page.

use diesel::RunQueryDsl;
use klaxon::db::DbConn;

use crate::helpers::{
    act, api_integration, backdate, create_service, for_each_backend, post_event, query, trigger,
    trigger_with_urgency, Backend, TestApp,
};

/// The incident numbers a list page shows, top to bottom.
fn numbers_on(page: &str) -> Vec<i64> {
    page.split("<td>#")
        .skip(1)
        .filter_map(|rest| rest.split('<').next()?.parse().ok())
        .collect()
}

/// The count a status tab shows ("" when it shows none).
fn tab_count(page: &str, label: &str) -> String {
    let tabs = page
        .split("aria-label=\"Status\"")
        .nth(1)
        .and_then(|rest| rest.split("</nav>").next())
        .expect("the status tabs");
    let after = tabs
        .split(&format!(">{label}"))
        .nth(1)
        .unwrap_or_else(|| panic!("a tab {label}: {tabs}"));
    let head = after.split("</a>").next().unwrap();
    head.split("class=\"count\">")
        .nth(1)
        .map(|count| count.split('<').next().unwrap().replace('\u{a0}', " "))
        .unwrap_or_default()
}

#[tokio::test]
async fn search_finds_words_of_titles_and_summaries_as_typed_and_numbers() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let disk = trigger(&app, &service, "Disk full on db-0421").await;
        let latency = trigger(&app, &service, "Checkout latency is high").await;
        let gateway = trigger(&app, &service, "Payments: gateway answers 502").await;
        act(&app, gateway, "resolve").await;

        let found = |q: &str, status: &str| {
            let url = format!(
                "/incidents?status={status}&q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            );
            let app = &app;
            async move { numbers_on(&app.page(&url).await) }
        };
        assert_eq!(found("disk full", "open").await, [disk]);
        // Prefixes, any case, in any order; a host name's parts.
        assert_eq!(found("LATEN check", "open").await, [latency]);
        assert_eq!(found("db-04", "open").await, [disk]);
        // The summary (every incident here says "Disk is filling up") and resolved ones.
        assert_eq!(found("filling", "all").await, [gateway, latency, disk]);
        assert_eq!(found("gateway", "open").await, Vec::<i64>::new());
        assert_eq!(found("gateway", "resolved").await, [gateway]);
        // A number is that incident, whatever its status.
        assert_eq!(found(&format!("#{latency}"), "all").await, [latency]);
        assert_eq!(found(&latency.to_string(), "all").await, [latency]);
        // Quotes and operators are only words.
        assert_eq!(found("\"disk\" OR *", "open").await, Vec::<i64>::new());
        assert_eq!(found("full' --", "all").await, [disk]);
        let none = app.page("/incidents?status=all&q=nothing+like+this").await;
        assert!(none.contains("No incidents match."), "{none}");
        assert!(
            none.contains("value=\"nothing like this\""),
            "the search is kept"
        );

        // A title changed later is found by its new words.
        let key = crate::helpers::create_api_key(&app, "Search").await;
        let response = reqwest::Client::new()
            .patch(app.url(&format!("/api/incidents/{disk}/")))
            .header("authorization", format!("Token {key}"))
            .json(&serde_json::json!({"title": "Volume exhausted on db-0421"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(found("exhaust", "open").await, [disk]);
        assert_eq!(found("disk full", "open").await, Vec::<i64>::new());
    })
    .await;
}

/// On SQLite the search index takes a write transaction's new incidents as it commits (migration
/// 000100): incidents opened by alerts arriving together (one writer transaction, a savepoint
/// each, one of them renamed in the transaction that opened it) are found by their words, nothing
/// is left waiting, and the index agrees with the incidents row for row (FTS5's integrity check
/// against its content table). On PostgreSQL the same searches.
#[tokio::test]
async fn incidents_opened_together_are_found_by_their_words_and_the_index_agrees_with_them() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let (_, _, events) = api_integration(&app).await;
        let answers = futures_util::future::join_all((0..40).map(|n| {
            post_event(
                &app,
                &events,
                serde_json::json!({
                    "message": format!("Storm on host-{n:02}"),
                    "alert_type": "critical",
                    "entity_id": format!("host-{n:02}"),
                }),
            )
        }))
        .await;
        let mut numbers = Vec::new();
        for (status, body) in answers {
            assert!(status.is_success(), "{status} {body}");
            numbers.push(body["incident"].as_i64().expect("an incident opened"));
        }
        let found = |q: &str| {
            let url = format!("/incidents?status=all&q={q}");
            let app = &app;
            async move { numbers_on(&app.page(&url).await) }
        };
        let sqlite = app.backend() == Backend::Sqlite;
        if sqlite {
            assert_eq!(waiting_to_be_indexed(&app).await, 0, "the writer indexed them");
        }
        assert_eq!(found("storm").await.len(), 40);
        assert_eq!(found("host-07").await, [numbers[7]]);

        // An incident renamed in the transaction that opened it is indexed with its last words.
        query(&app, |conn| {
            klaxon::db::write_transaction(conn, |conn| {
                diesel::sql_query(
                    "INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, \
                         title, summary, status, urgency, priority, creation_date, \
                         context_window_start, context_window_end) \
                     SELECT 9000, 'renamed', 'renamed-key', service_id, 'First words', '', 1, 1, 0, \
                         creation_date, creation_date, creation_date FROM incidents LIMIT 1",
                )
                .execute(conn)?;
                diesel::sql_query(
                    "UPDATE incidents SET title = 'Second thoughts' WHERE unique_id = 'renamed'",
                )
                .execute(conn)
            })
        })
        .await;
        assert_eq!(found("second").await, [9000]);
        assert_eq!(found("first+words").await, Vec::<i64>::new());
        if sqlite {
            assert_eq!(waiting_to_be_indexed(&app).await, 0);
            // Fails (SQLITE_CORRUPT_VTAB) if an entry is missing, extra or has other words.
            query(&app, |conn| {
                diesel::sql_query(
                    "INSERT INTO incidents_fts (incidents_fts, rank) VALUES ('integrity-check', 1)",
                )
                .execute(conn)
            })
            .await;
        }
    })
    .await;
}

/// SQLite: incidents inserted but not yet in the search index.
async fn waiting_to_be_indexed(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    query(app, |conn| {
        diesel::sql_query("SELECT COUNT(*) AS n FROM incidents_fts_pending")
            .get_result::<Waiting>(conn)
            .map(|waiting| waiting.n)
    })
    .await
}

/// Adds `count` incidents straight into the database (statuses from `status_of(n)`, n from 1),
/// created a second apart in the past, so that pages of the list fill quickly.
async fn seed(app: &TestApp, service: &str, count: i64, status_of: &'static str) {
    let service = service.to_owned();
    query(app, move |conn: &mut DbConn| {
        for n in 1..=count {
            diesel::sql_query(format!(
                "INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, \
                     title, summary, status, urgency, priority, creation_date, \
                     context_window_start, context_window_end) \
                 SELECT 5000 + {n}, 'seeded-{n}', 'key-{n}', id, 'Seeded {n}', '', \
                     {status_of}, 1, 0, '2026-01-01 00:00:{second:02}', '2026-01-01 00:00:00', \
                     '2026-01-01 00:00:00' FROM services WHERE unique_id = '{service}'",
                status_of = status_of.replace("{n}", &n.to_string()),
                second = n % 60,
            ))
            .execute(conn)?;
        }
        // What a program writing incidents itself must do (Klaxon's writes do it at commit).
        klaxon::db::incident_list::index_new_incidents(conn)
    })
    .await;
}

#[tokio::test]
async fn tabs_count_each_status_and_the_pager_reaches_the_last_page() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        // 120 resolved, then one triggered and one acknowledged.
        seed(&app, &service, 120, "3").await;
        let triggered = trigger(&app, &service, "Open one").await;
        let acknowledged = trigger(&app, &service, "Acknowledged one").await;
        act(&app, acknowledged, "acknowledge").await;

        let list = app.page("/incidents").await;
        assert_eq!(tab_count(&list, "Open"), "2");
        assert_eq!(tab_count(&list, "Triggered"), "1");
        assert_eq!(tab_count(&list, "Acknowledged"), "1");
        assert_eq!(tab_count(&list, "Resolved"), "120");
        assert_eq!(tab_count(&list, "All"), "122");
        assert_eq!(numbers_on(&list), [acknowledged, triggered]);

        let first = app.page("/incidents?status=resolved").await;
        assert!(first.contains("Page 1 of 3"), "{first}");
        assert!(first.contains("href=\"/incidents?status=resolved&amp;page=3\">Last</a>"));
        assert_eq!(numbers_on(&first), (5071..=5120).rev().collect::<Vec<_>>());
        let second = app.page("/incidents?status=resolved&page=2").await;
        assert_eq!(numbers_on(&second), (5021..=5070).rev().collect::<Vec<_>>());
        // Read from the far end, in the same order.
        let last = app.page("/incidents?status=resolved&page=3").await;
        assert!(last.contains("Page 3 of 3"), "{last}");
        assert_eq!(numbers_on(&last), (5001..=5020).rev().collect::<Vec<_>>());
        assert!(!last.contains(">Next</a>"));
        let oldest = app
            .page("/incidents?status=resolved&page=3&sort=oldest")
            .await;
        assert_eq!(numbers_on(&oldest), (5101..=5120).collect::<Vec<_>>());

        let beyond = app.page("/incidents?status=resolved&page=9").await;
        assert!(
            beyond.contains("Page 9 is past the end: the list has 3 pages.")
                && beyond.contains(
                    "href=\"/incidents?status=resolved&amp;page=3\">Go to the last page</a>"
                ),
            "{beyond}"
        );
        assert!(!beyond.contains("All quiet"));

        // A search's 120 matches are read once, counted and paged from what was read: the same
        // pages in the same orders.
        let searched = app.page("/incidents?status=resolved&q=seeded&page=2").await;
        assert!(searched.contains("Page 2 of 3"), "{searched}");
        assert_eq!(
            numbers_on(&searched),
            (5021..=5070).rev().collect::<Vec<_>>()
        );
        let searched = app
            .page("/incidents?status=resolved&q=seeded&page=3&sort=oldest")
            .await;
        assert_eq!(numbers_on(&searched), (5101..=5120).collect::<Vec<_>>());
        let searched = app
            .page("/incidents?status=all&q=seeded&sort=urgency")
            .await;
        assert_eq!(
            numbers_on(&searched),
            (5071..=5120).rev().collect::<Vec<_>>()
        );
        assert_eq!(tab_count(&searched, "Resolved"), "120");
        assert_eq!(tab_count(&searched, "Triggered"), "0");

        // Transitions move the counts; folding the tallies keeps them.
        act(&app, triggered, "resolve").await;
        let folded = query(&app, |conn: &mut DbConn| klaxon::db::tallies::compact(conn)).await;
        assert!(folded > 0, "the tallies had rows to fold");
        let list = app.page("/incidents?status=all").await;
        assert_eq!(tab_count(&list, "Open"), "1");
        assert_eq!(tab_count(&list, "Resolved"), "121");
        assert_eq!(tab_count(&list, "All"), "122");
        let rows = query(&app, |conn: &mut DbConn| {
            klaxon::db::tallies::by_status(conn, &[], None, None)
        })
        .await;
        assert_eq!(rows.len(), 2, "{rows:?}");
    })
    .await;
}

#[tokio::test]
async fn concurrent_transitions_leave_the_counts_right() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let mut numbers = Vec::new();
        for n in 0..12 {
            numbers.push(trigger(&app, &service, &format!("Incident {n}")).await);
        }
        // Acknowledge and resolve all at once, in every order.
        let mut work = Vec::new();
        for (i, number) in numbers.iter().enumerate() {
            let action = if i % 3 == 0 { "acknowledge" } else { "resolve" };
            let (client, address) = (app.client.clone(), app.address.clone());
            let page = format!("/incidents/{number}");
            work.push(tokio::spawn(async move {
                crate::helpers::submit_with(
                    &client,
                    &address,
                    &page,
                    &format!("{page}/{action}"),
                    &[],
                )
                .await
                .status()
            }));
        }
        for done in work {
            assert!(done.await.unwrap().is_redirection());
        }
        let list = app.page("/incidents?status=all").await;
        assert_eq!(tab_count(&list, "Acknowledged"), "4");
        assert_eq!(tab_count(&list, "Resolved"), "8");
        assert_eq!(tab_count(&list, "Triggered"), "0");
    })
    .await;
}

#[tokio::test]
async fn dates_assignee_and_sort_narrow_and_order_the_list() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let old = trigger_with_urgency(&app, &service, "Old and low", "0").await;
        backdate(&app, old, chrono::Duration::days(3)).await;
        let high = trigger_with_urgency(&app, &service, "New and high", "1").await;
        let low = trigger_with_urgency(&app, &service, "New and low", "0").await;

        let today = chrono::Utc::now().date_naive();
        let days_ago = |n| today - chrono::Duration::days(n);
        let on = |url: String| {
            let app = &app;
            async move { numbers_on(&app.page(&url).await) }
        };
        assert_eq!(on(format!("/incidents?from={today}")).await, [low, high]);
        assert_eq!(on(format!("/incidents?to={}", days_ago(1))).await, [old]);
        assert_eq!(
            on(format!("/incidents?from={}&to={}", days_ago(4), days_ago(2))).await,
            [old]
        );
        assert_eq!(on(format!("/incidents?from={}", days_ago(10))).await, [low, high, old]);

        let bad = app.get("/incidents?from=2026-13-45&to=yesterday").await;
        assert_eq!(bad.status(), 200);
        let bad = bad.text().await.unwrap();
        assert!(bad.contains("id=\"from-error\">Use a date like 2026-12-04."), "{bad}");
        assert!(bad.contains("id=\"to-error\">Use a date like 2026-12-04."));
        assert!(bad.contains("value=\"2026-13-45\""), "the input is kept");
        assert_eq!(numbers_on(&bad), [low, high, old], "a date that does not parse is left out");
        let reversed = app
            .page(&format!("/incidents?from={today}&to={}", days_ago(1)))
            .await;
        assert!(reversed.contains("The end date is before the start date."));

        assert_eq!(on("/incidents?sort=oldest".into()).await, [old, high, low]);
        assert_eq!(on("/incidents?sort=urgency".into()).await, [high, low, old]);
        // The same orders where a search's few matches are read once and sorted in memory.
        assert_eq!(on("/incidents?q=and&sort=oldest".into()).await, [old, high, low]);
        assert_eq!(on("/incidents?q=and&sort=urgency".into()).await, [high, low, old]);
        assert_eq!(on("/incidents?q=and".into()).await, [low, high, old]);

        assert!(on("/incidents?assigned=me".into()).await.is_empty());
        let my_value =
            crate::helpers::username_by_email(&app, crate::helpers::OWNER_EMAIL).await;
        let response = app
            .submit(
                &format!("/incidents/{low}"),
                &format!("/incidents/{low}/assign"),
                &[("assignee", &my_value)],
            )
            .await;
        assert!(response.status().is_redirection());
        let page = app.page(&format!("/incidents/{low}")).await;
        assert!(page.contains(&format!("value=\"{my_value}\" selected")), "assigned: {my_value} {page}");
        let mine = app.page("/incidents?assigned=me").await;
        assert_eq!(numbers_on(&mine), [low]);
        assert!(mine.contains("name=\"assigned\" value=\"me\" checked"));
        // Every filter at once, kept in the tabs' links.
        let all = app
            .page(&format!(
                "/incidents?assigned=me&from={today}&q=new&sort=urgency&urgency=low&service={service}"
            ))
            .await;
        assert_eq!(numbers_on(&all), [low]);
        assert!(all.contains(&format!(
            "href=\"/incidents?status=resolved&#38;service={service}&#38;urgency=low&#38;q=new&#38;from={today}&#38;sort=urgency&#38;assigned=me\""
        )), "{all}");
    })
    .await;
}

#[tokio::test]
async fn a_service_page_lists_its_open_incidents_first_then_the_resolved() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let other = create_service(&app, "Other").await;
        let resolved = trigger(&app, &service, "Was broken").await;
        act(&app, resolved, "resolve").await;
        let open = trigger(&app, &service, "Is broken").await;
        let elsewhere = trigger(&app, &other, "Broken elsewhere").await;

        let page = app.page(&format!("/services/{service}")).await;
        assert!(page.contains("<title>Storage · Klaxon</title>"), "{page}");
        let at = |number: i64| {
            page.find(&format!("href=\"/incidents/{number}\""))
                .unwrap_or(usize::MAX)
        };
        assert!(
            at(open) < at(resolved) && at(resolved) < usize::MAX,
            "{page}"
        );
        assert_eq!(at(elsewhere), usize::MAX, "another service's incident");
        assert!(page.contains("Open incidents <span class=\"count\">1</span>"));
        assert!(page.contains("Recently resolved <span class=\"count\">1</span>"));

        // Beyond what it shows, a link to the rest in the incidents list.
        seed(&app, &service, 12, "3").await;
        let page = app.page(&format!("/services/{service}")).await;
        assert!(
            page.contains(&format!(
                "href=\"/incidents?status=resolved&amp;service={service}\">All 13</a>"
            )),
            "{page}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_search_with_more_matches_than_are_counted_says_so_and_still_pages() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Storage").await;
        let matches = klaxon::db::incident_list::COUNT_CAP + 10;
        let seeded = service.clone();
        query(&app, move |conn: &mut DbConn| {
            diesel::sql_query(format!(
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {matches}) \
                 INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, title, \
                     summary, status, urgency, priority, creation_date, context_window_start, \
                     context_window_end) \
                 SELECT 10000 + seq.n, 'many-' || seq.n, 'key-' || seq.n, s.id, 'Replica lag ' || seq.n, \
                     '', 3, 1, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00' \
                 FROM seq, services s WHERE s.unique_id = '{seeded}'"
            ))
            .execute(conn)
        })
        .await;
        let open = trigger(&app, &service, "Replica lag on the primary").await;

        let page = app.page("/incidents?status=resolved&q=replica").await;
        assert_eq!(tab_count(&page, "Resolved"), "5 000+");
        assert_eq!(tab_count(&page, "All"), "5 000+");
        assert_eq!(tab_count(&page, "Open"), "");
        assert!(page.contains("Page 1 of 100+"), "{page}");
        assert!(page.contains(">Next</a>") && !page.contains(">Last</a>"));
        let newest = 10_000 + matches;
        assert_eq!(
            numbers_on(&page),
            (newest - 49..=newest).rev().collect::<Vec<_>>()
        );
        // The open one among them is counted exactly.
        let page = app.page("/incidents?q=replica").await;
        assert_eq!(tab_count(&page, "Open"), "1");
        assert_eq!(numbers_on(&page), [open]);
        assert!(page.contains("Page 1 of 1") || !page.contains("class=\"pager\""));
    })
    .await;
}
