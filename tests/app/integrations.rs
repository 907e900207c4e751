//! The seed's click path for Outgoing Webhooks, URL validation, secrets, audit trail.

use reqwest::StatusCode;

use crate::helpers::{
    add_integration, add_integration_and_read_tab, configured_webhook, create_api_key,
    create_service, for_each_backend, for_each_backend_with, integration_key_on, location, person,
    secret_on,
};

#[tokio::test]
async fn the_seed_click_path_configures_an_outgoing_webhook() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "ZD Prod").await;

        // Service → Integrations: two sections, each with "Add integration".
        let tab = app.page(&format!("/services/{service}/integrations")).await;
        assert!(
            tab.contains("<h2>Incoming Integrations</h2>")
                && tab.contains("<h2>Outgoing Integrations</h2>")
        );
        let add_outgoing = format!(
            r#"href="/services/{service}/integrations/new?direction=outgoing" aria-label="Add outgoing integration">Add integration</a>"#
        );
        assert!(tab.contains(&add_outgoing));

        // "Add integration" under Outgoing Integrations lists "Outgoing Webhooks".
        let picker = app
            .page(&format!(
                "/services/{service}/integrations/new?direction=outgoing"
            ))
            .await;
        assert!(picker.contains(r#"<label for="app-outgoing-webhooks">Outgoing Webhooks</label>"#));
        assert!(
            !picker.contains(">API</label>"),
            "incoming applications are not offered here"
        );
        assert!(picker.contains(r#"<button type="submit" class="primary">Save</button>"#));

        // Save → back on the tab, listed as not configured, with "Configure".
        let (integration, tab) =
            add_integration_and_read_tab(&app, &service, "outgoing", "outgoing-webhooks").await;
        assert!(tab.contains("Outgoing Webhooks integration added. Configure it to set the URL."));
        assert!(tab.contains("Not configured"));
        let configure_link =
            format!(r#"href="/services/{service}/integrations/{integration}">Configure</a>"#);
        assert!(tab.contains(&configure_link));

        // Configure → URL → Save.
        let configure = format!("/services/{service}/integrations/{integration}");
        let page = app.page(&configure).await;
        assert!(page.contains(r#"<label for="url">URL</label>"#));
        assert!(page.contains("whsec_"), "the signing secret is shown");
        let response = app
            .submit(
                &configure,
                &configure,
                &[
                    ("name", "Ops webhook"),
                    ("url", "https://1.1.1.1/klaxon/hook"),
                ],
            )
            .await;
        assert_eq!(
            location(&response),
            format!("/services/{service}/integrations")
        );
        let tab = app.page(&format!("/services/{service}/integrations")).await;
        assert!(tab.contains("Integration saved."));
        assert!(
            tab.contains("<strong>Ops webhook</strong>")
                && tab.contains("<code>https://1.1.1.1/klaxon/hook</code>")
        );
        assert!(tab.contains(">Enabled</span>") && !tab.contains("Not configured"));
    })
    .await;
}

#[tokio::test]
async fn bad_webhook_urls_get_a_message_next_to_the_field_and_are_kept() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Web").await;
        let integration = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let long = format!("https://example.com/{}", "a".repeat(3000));
        let cases = [
            (
                "ftp://x",
                "Only http:// and https:// URLs can receive webhooks.",
            ),
            (
                "not a url",
                "Enter an absolute URL starting with http:// or https://.",
            ),
            (
                "http://",
                "Enter an absolute URL starting with http:// or https://.",
            ),
            (long.as_str(), "Use at most 2048 characters."),
            (
                "javascript:alert(1)",
                "Only http:// and https:// URLs can receive webhooks.",
            ),
            ("", "Enter the URL that should receive the webhooks."),
        ];
        for (url, message) in cases {
            let response = app
                .submit(
                    &configure,
                    &configure,
                    &[("name", "Outgoing Webhooks"), ("url", url)],
                )
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(&format!(r#"<p class="error" id="url-error">{message}</p>"#)),
                "{url}"
            );
            assert!(
                page.contains(&format!(r#"value="{url}""#)),
                "{url} kept in the field"
            );
        }
        let page = app.page(&configure).await;
        assert!(page.contains("Not configured"), "no bad URL was saved");
    })
    .await;
}

#[tokio::test]
async fn a_private_destination_is_saved_with_a_plain_warning() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Internal").await;
        let integration = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:9000/hook",
            "http://10.1.2.3/hook",
            "http://[::1]:8080/",
        ] {
            let response = app
                .submit(&configure, &configure, &[("name", "Hook"), ("url", url)])
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains("Saved, but:")
                    && page.contains("a private or otherwise non-public address"),
                "{url}"
            );
            assert!(page.contains("KLAXON_WEBHOOK_ALLOWED_NETWORKS"));
        }
        let tab = app.page(&format!("/services/{service}/integrations")).await;
        assert!(
            tab.contains("<code>http://[::1]:8080/</code>"),
            "the URL is saved anyway"
        );
    })
    .await;
}

/// IPv6 spellings of IPv4 addresses (IPv4-compatible, SIIT, NAT64, 6to4, Teredo) and the
/// other special-purpose blocks warn like loopback does (see `delivery::destination`).
#[tokio::test]
async fn ipv6_spellings_of_private_addresses_warn_too() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Sneaky").await;
        let integration = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        for url in [
            "http://[::a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:0:a9fe:a9fe]/",
            "http://[::ffff:0:7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::1]/",
            "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
            "http://[2001:db8::1]/",
            "http://[3fff::1]/",
            "http://[5f00::1]/",
            "http://100.64.0.1/",
            "http://198.18.0.1/",
            "http://0.0.0.0/",
        ] {
            let response = app
                .submit(&configure, &configure, &[("name", "Hook"), ("url", url)])
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains("Saved, but:")
                    && page.contains("a private or otherwise non-public address"),
                "{url} must warn"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn allowed_networks_silence_the_warning() {
    let loopback = |config: &mut klaxon::config::Config| {
        config.webhook_allowed_networks =
            vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    };
    for_each_backend_with(loopback, |app| async move {
        app.create_owner().await;
        let service = create_service(&app, "On-prem").await;
        let integration = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let response = app
            .submit(
                &configure,
                &configure,
                &[("name", "Hook"), ("url", "http://localhost:9000/hook")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{:?}",
            app.backend()
        );
        // Only the opened range: another private range still warns.
        let response = app
            .submit(
                &configure,
                &configure,
                &[("name", "Hook"), ("url", "http://192.168.1.10/hook")],
            )
            .await;
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("resolves to 192.168.1.10"));
    })
    .await;
}

#[tokio::test]
async fn secrets_rotate_enabled_toggles_and_every_change_is_recorded() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Audit").await;
        let integration = add_integration(&app, &service, "outgoing", "outgoing-webhooks").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        app.submit(
            &configure,
            &configure,
            &[("name", "Hook"), ("url", "https://1.1.1.1/hook")],
        )
        .await;

        let before = secret_on(&app.page(&configure).await);
        assert!(before.starts_with("whsec_"));
        let response = app
            .submit(&configure, &format!("{configure}/rotate-secret"), &[])
            .await;
        assert_eq!(location(&response), configure);
        let page = app.page(&configure).await;
        assert_ne!(secret_on(&page), before);
        assert!(page.contains("The previous secret also signs until"));

        app.submit(
            &configure,
            &format!("{configure}/enabled"),
            &[("enabled", "false")],
        )
        .await;
        let page = app.page(&configure).await;
        assert!(page.contains("This integration is <strong>disabled</strong>"));
        let tab = app.page(&format!("/services/{service}/integrations")).await;
        assert!(tab.contains(">Disabled</span>"));
        let response = app
            .submit(
                &configure,
                &format!("{configure}/enabled"),
                &[("enabled", "maybe")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let page = app.page(&configure).await;
        for action in ["created", "configured", "secret rotated", "disabled"] {
            assert!(
                page.contains(&format!("Ada Lovelace · <strong>{action}</strong>")),
                "{action} recorded"
            );
        }
        assert!(page.contains("URL: https://1.1.1.1/hook"));

        let confirm = app.page(&format!("{configure}/delete")).await;
        assert!(confirm.contains("Delete Hook?"));
        let response = app
            .submit(
                &format!("{configure}/delete"),
                &format!("{configure}/delete"),
                &[],
            )
            .await;
        assert_eq!(
            location(&response),
            format!("/services/{service}/integrations")
        );
        assert_eq!(app.get(&configure).await.status(), StatusCode::NOT_FOUND);
        let tab = app.page(&format!("/services/{service}/integrations")).await;
        assert!(tab.contains("Integration Hook deleted."));
        assert!(
            tab.contains("<strong>deleted</strong>"),
            "the deletion stays in the service's record"
        );
        assert!(!tab.contains("Configure</a>"));
    })
    .await;
}

#[tokio::test]
async fn an_api_integration_gets_an_integration_key() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Monitored").await;
        let picker = app
            .page(&format!(
                "/services/{service}/integrations/new?direction=incoming"
            ))
            .await;
        assert!(
            picker.contains(r#"<label for="app-api">API</label>"#)
                && !picker.contains("Outgoing Webhooks</label>")
        );
        let response = app
            .submit(
                &format!("/services/{service}/integrations/new?direction=incoming"),
                &format!("/services/{service}/integrations"),
                &[
                    ("direction", "incoming"),
                    ("application", "outgoing-webhooks"),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "an outgoing application is refused as incoming"
        );
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Choose an application."));

        let integration = add_integration(&app, &service, "incoming", "api").await;
        let page = app
            .page(&format!("/services/{service}/integrations/{integration}"))
            .await;
        let key = integration_key_on(&page);
        assert!(
            uuid::Uuid::parse_str(&key).is_ok(),
            "keys are UUIDs, as Zenduty's"
        );
        assert!(page.contains(&format!("POST /api/events/{key}/")));
        assert!(
            !page.contains(r#"<label for="url">"#),
            "incoming integrations have no URL"
        );
    })
    .await;
}

/// A confirmation page asks `question` and its form posts to `action`, changing nothing itself.
fn asks(page: &str, question: &str, action: &str) -> bool {
    page.contains(&format!("<h1>{question}</h1>"))
        && page.contains(&format!(r#"<form method="post" action="{action}""#))
}

#[tokio::test]
async fn actions_that_cannot_be_taken_back_ask_first_on_a_page_of_their_own() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let service = create_service(&app, "Audit").await;
        let integration = configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let configure = format!("/services/{service}/integrations/{integration}");
        let page = app.page(&configure).await;
        assert!(page.contains(&format!(r#"href="{configure}/disable""#)));
        let before = secret_on(&page);

        // Rotate and disable: asked, and only the form does it.
        let ask = app.page(&format!("{configure}/rotate-secret")).await;
        assert!(asks(
            &ask,
            "Rotate the signing secret of Hook?",
            &format!("{configure}/rotate-secret")
        ));
        let ask = app.page(&format!("{configure}/disable")).await;
        assert!(asks(&ask, "Disable Hook?", &format!("{configure}/enabled")));
        assert!(ask.contains(r#"name="enabled" value="false""#));
        let page = app.page(&configure).await;
        assert_eq!(secret_on(&page), before, "asking rotated nothing");
        assert!(page.contains("This integration is <strong>enabled</strong>"));
        let response = app
            .submit(
                &format!("{configure}/disable"),
                &format!("{configure}/enabled"),
                &[("enabled", "false")],
            )
            .await;
        assert_eq!(location(&response), configure);
        assert!(app
            .page(&configure)
            .await
            .contains("This integration is <strong>disabled</strong>"));

        // Revoke a key; disable a person; remove a team member.
        create_api_key(&app, "Deploy").await;
        let keys = app.page("/settings/api-keys").await;
        let revoke = keys
            .split(r#"href="/settings/api-keys/"#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(|rest| format!("/settings/api-keys/{rest}"))
            .expect("a Revoke link");
        assert!(asks(
            &app.page(&revoke).await,
            "Revoke the API key Deploy?",
            &revoke
        ));
        assert!(
            app.page("/settings/api-keys")
                .await
                .contains(">Active</span>"),
            "asking revoked nothing"
        );

        let grace = person(&app, ("Grace", "Hopper"), "grace@example.com", "3").await;
        let users = app.page("/settings/users").await;
        let disable = users
            .split(r#"href=""#)
            .filter_map(|rest| rest.split('"').next())
            .find(|href| href.ends_with("/disable"))
            .expect("a Disable link")
            .to_owned();
        assert!(asks(
            &app.page(&disable).await,
            "Disable Grace Hopper?",
            &disable
        ));
        assert_eq!(
            grace.get(&app, "/settings").await.status(),
            StatusCode::OK,
            "still signed in"
        );
        // Nobody else gets the question: a team user asking to disable someone is refused.
        assert_eq!(
            grace.get(&app, &disable).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            grace
                .get(&app, &format!("{configure}/disable"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    })
    .await;
}
