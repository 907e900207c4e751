//! Teams and services: creation, validation, visibility, edit and delete.

use reqwest::StatusCode;

use crate::helpers::{
    add_integration, create_service, default_team, for_each_backend, location, option_value, query,
    submit_with, trigger, user_browser,
};

#[tokio::test]
async fn a_new_install_has_a_default_team_managed_by_the_owner() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let team = default_team(&app).await;
        let page = app.page(&format!("/teams/{team}")).await;
        assert!(page.contains("<h1>Default</h1>"));
        assert!(page.contains("<td>Ada Lovelace <span class=\"muted\">(you)</span></td>"));
        assert!(page.contains("<td>Manager</td>"));
    })
    .await;
}

#[tokio::test]
async fn a_teams_members_are_paginated() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let team = default_team(&app).await;
        let first = app.page(&format!("/teams/{team}")).await;
        assert!(first.contains("<td>ada@example.com</td>"));
        assert!(
            !first.contains("page=2"),
            "one member fits one page: no pager"
        );
        let beyond = app.page(&format!("/teams/{team}?page=5")).await;
        assert!(!beyond.contains("<td>ada@example.com</td>"));
        assert!(beyond.contains(&format!(r#"<a href="/teams/{team}?page=4">Previous</a>"#)));
    })
    .await;
}

#[tokio::test]
async fn teams_are_created_and_keep_a_manager() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let response = app.submit("/teams/new", "/teams", &[("name", "   ")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="name-error">This field is required.</p>"#));

        let response = app
            .submit("/teams/new", "/teams", &[("name", "Payments")])
            .await;
        let team_page = location(&response);
        assert!(team_page.starts_with("/teams/"));
        let page = app.page(&team_page).await;
        assert!(page.contains("Team Payments created. You are its manager."));

        // Add Grace as a user, then try to remove the only manager.
        let _grace = user_browser(&app, "grace@example.com").await;
        let page = app.page(&team_page).await;
        let grace = option_value(&page, "Grace Hopper (");
        let response = app
            .submit(
                &team_page,
                &format!("{team_page}/members"),
                &[("username", &grace), ("role", "2")],
            )
            .await;
        assert_eq!(location(&response), team_page);
        let page = app.page(&team_page).await;
        assert!(page.contains("Grace Hopper joined the team."));

        let response = app
            .submit(
                &team_page,
                &format!("{team_page}/members"),
                &[("username", &grace), ("role", "2")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "already a member"
        );

        let me = page
            .split("/members/")
            .nth(1)
            .map(|rest| rest.split('/').next().unwrap().to_owned());
        let owner_username = me.expect("a remove button");
        let response = app
            .submit(
                &team_page,
                &format!("{team_page}/members/{owner_username}/remove"),
                &[],
            )
            .await;
        assert_eq!(location(&response), team_page);
        let page = app.page(&team_page).await;
        assert!(
            page.contains("A team keeps at least one manager"),
            "the last manager stays"
        );
    })
    .await;
}

#[tokio::test]
async fn a_service_form_explains_every_wrong_field_and_keeps_the_input() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let response = app
            .submit(
                "/services/new",
                "/services",
                &[
                    ("team", "not-a-team"),
                    ("name", ""),
                    ("summary", "kept summary"),
                    ("status", "9"),
                    ("auto_resolve_timeout", "soon"),
                    ("acknowledgement_timeout", "-1"),
                    ("collation", "2"),
                    ("collation_time", "100000"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        for (field, message) in [
            ("team", "Choose a team."),
            ("name", "This field is required."),
            ("status", "Choose a status."),
            (
                "auto_resolve_timeout",
                "Enter whole minutes from 0 (off) to 43200.",
            ),
            (
                "acknowledgement_timeout",
                "Enter whole minutes from 0 (off) to 43200.",
            ),
            ("collation", "Choose Off or Time-based."),
            ("collation_time", "Enter whole seconds from 0 to 86400."),
        ] {
            assert!(
                page.contains(&format!(r#"id="{field}-error">{message}</p>"#)),
                "{field}"
            );
        }
        assert!(page.contains(r#"value="kept summary""#));
        assert!(page.contains(r#"value="soon""#));
        assert!(app.page("/services").await.contains("No services yet"));
    })
    .await;
}

#[tokio::test]
async fn services_are_created_listed_edited_and_deleted() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let id = create_service(&app, "Checkout API").await;
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "service ids are UUIDs: {id}"
        );

        let list = app.page("/services").await;
        assert!(list.contains(&format!(r#"<a href="/services/{id}">Checkout API</a>"#)));
        assert!(list.contains("<td>Default</td>"));
        assert!(list.contains(">Active</span>"));

        let page = app.page(&format!("/services/{id}")).await;
        assert!(page.contains("<h1>Checkout API</h1>") && page.contains("Serves the app"));

        let edit = format!("/services/{id}/edit");
        let page = app.page(&edit).await;
        let team = page
            .split("<option value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let response = app
            .submit(
                &edit,
                &edit,
                &[
                    ("team", &team),
                    ("name", "Checkout"),
                    ("status", "4"),
                    ("auto_resolve_timeout", "60"),
                ],
            )
            .await;
        assert_eq!(location(&response), format!("/services/{id}"));
        let page = app.page(&format!("/services/{id}")).await;
        assert!(
            page.contains("<h1>Checkout</h1>")
                && page.contains("Under maintenance")
                && page.contains("after 60 min")
        );

        // The form offers the statuses a person sets; Warning and Critical (health, from the
        // API) only while the service has one.
        let form = app.page(&edit).await;
        let select = form
            .split(r#"<select id="status""#)
            .nth(1)
            .and_then(|rest| rest.split("</select>").next())
            .unwrap();
        assert_eq!(select.matches("<option").count(), 3, "{select}");
        assert!(
            select.contains(">Active</option>") && select.contains(">Under maintenance</option>")
        );
        assert!(!select.contains(">Warning</option>") && !select.contains(">Critical</option>"));

        let confirm = app.page(&format!("/services/{id}/delete")).await;
        assert!(confirm.contains("Delete Checkout?"));
        let response = app
            .submit(
                &format!("/services/{id}/delete"),
                &format!("/services/{id}/delete"),
                &[],
            )
            .await;
        assert_eq!(location(&response), "/services");
        assert_eq!(
            app.get(&format!("/services/{id}")).await.status(),
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn a_service_with_integrations_is_disabled_instead_of_deleted() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let id = create_service(&app, "Billing").await;
        add_integration(&app, &id, "outgoing", "outgoing-webhooks").await;
        let response = app
            .submit(
                &format!("/services/{id}/delete"),
                &format!("/services/{id}/delete"),
                &[],
            )
            .await;
        assert_eq!(location(&response), format!("/services/{id}"));
        let page = app.page(&format!("/services/{id}")).await;
        assert!(page.contains(
            "was disabled instead of deleted: it has integrations, whose history is kept."
        ));
        assert!(page.contains(">Disabled</span>"));
    })
    .await;
}

#[tokio::test]
async fn people_outside_a_team_cannot_see_or_change_its_services() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let id = create_service(&app, "Secret service").await;
        let integration = add_integration(&app, &id, "outgoing", "outgoing-webhooks").await;
        let outsider = user_browser(&app, "outsider@example.com").await;

        let list = outsider
            .get(app.url("/services"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!list.contains("Secret service"));
        for path in [
            format!("/services/{id}"),
            format!("/services/{id}/edit"),
            format!("/services/{id}/integrations"),
            format!("/services/{id}/integrations/{integration}"),
            format!("/services/{id}/integrations/new?direction=outgoing"),
        ] {
            let response = outsider.get(app.url(&path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
        // Changes by guessed id are refused the same way, with a valid CSRF token.
        let attempts = [
            (format!("/services/{id}/edit"), vec![("name", "Pwned")]),
            (format!("/services/{id}/delete"), vec![]),
            (
                format!("/services/{id}/integrations"),
                vec![
                    ("direction", "outgoing"),
                    ("application", "outgoing-webhooks"),
                ],
            ),
            (
                format!("/services/{id}/integrations/{integration}"),
                vec![("name", "x"), ("url", "https://evil.example/")],
            ),
            (
                format!("/services/{id}/integrations/{integration}/rotate-secret"),
                vec![],
            ),
            (
                format!("/services/{id}/integrations/{integration}/enabled"),
                vec![("enabled", "false")],
            ),
            (
                format!("/services/{id}/integrations/{integration}/delete"),
                vec![],
            ),
        ];
        for (action, fields) in attempts {
            let response =
                submit_with(&outsider, &app.address, "/settings", &action, &fields).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
        }
        let page = app
            .page(&format!("/services/{id}/integrations/{integration}"))
            .await;
        assert!(
            page.contains("Not configured") && !page.contains("evil.example"),
            "nothing changed"
        );

        // Made a member of the team, the same person sees the service.
        let team_page = format!("/teams/{}", default_team(&app).await);
        let page = app.page(&team_page).await;
        let username = option_value(&page, "Grace Hopper (");
        app.submit(
            &team_page,
            &format!("{team_page}/members"),
            &[("username", &username), ("role", "2")],
        )
        .await;
        let response = outsider
            .get(app.url(&format!("/services/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
}

/// Adds `count` triggered incidents to a service straight into the database (as a storm would
/// leave them, without the pages' cost).
async fn add_open_incidents(app: &crate::helpers::TestApp, service: &str, count: i64, from: i64) {
    let service = service.to_owned();
    query(app, move |conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "WITH RECURSIVE seq(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM seq \
                 WHERE n < {from} + {count} - 1) \
             INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, title, \
                 summary, status, urgency, priority, creation_date, context_window_start, \
                 context_window_end) \
             SELECT 1000000 + seq.n, 'storm' || seq.n, 'key' || seq.n, s.id, 'Storm', '', 1, 1, \
                 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00' \
             FROM seq, services s WHERE s.unique_id = '{service}'"
        ))
        .execute(conn)
    })
    .await;
}

#[tokio::test]
async fn the_services_list_counts_open_incidents_up_to_ten_thousand() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let storming = create_service(&app, "Storming").await;
        let quiet = create_service(&app, "Quiet").await;
        trigger(&app, &quiet, "One alone").await;
        add_open_incidents(&app, &storming, 9_999, 1).await;
        let resolved = trigger(&app, &storming, "Resolved").await;
        crate::helpers::act(&app, resolved, "resolve").await;

        let list = app.page("/services").await;
        assert!(list.contains(">9\u{a0}999 open</a>"), "{list}");
        assert!(list.contains(">1 open</a>"));

        trigger(&app, &storming, "The ten thousandth").await;
        let list = app.page("/services").await;
        assert!(
            list.contains(">10\u{a0}000 open</a>"),
            "exactly the cap is counted"
        );

        add_open_incidents(&app, &storming, 1, 10_000).await;
        let list = app.page("/services").await;
        assert!(list.contains(">10\u{a0}000+ open</a>"), "beyond the cap");
        assert!(
            list.contains(">1 open</a>"),
            "each service is counted on its own"
        );
    })
    .await;
}
