//! The JSON API: API keys and Token authentication, the teams, services and incidents
//! endpoints in the shapes of Zenduty's SDK, and the Events API rate limit.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    api_integration, configured_webhook, create_api_key, create_service, event_types_of,
    for_each_backend, for_each_backend_with, location, post_event, submit_with, trigger,
    user_browser, TestApp,
};

#[tokio::test]
async fn a_key_is_shown_once_listed_by_prefix_and_revocable() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let response = app
            .submit("/settings/api-keys", "/settings/api-keys", &[("name", " ")])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="name-error">This field is required.</p>"#));

        let key = create_api_key(&app, "Deploy script").await;
        assert!(key.starts_with("kx_") && key.len() > 40);
        let list = app.page("/settings/api-keys").await;
        assert!(!list.contains(&key), "never shown again");
        assert!(list.contains(&format!("<code>{}…</code>", &key[..10])));
        assert!(
            list.contains("Deploy script")
                && list.contains("Never")
                && list.contains(">Active</span>")
        );

        let revoke = list
            .split("/settings/api-keys/")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let response = app
            .submit(
                "/settings/api-keys",
                &format!("/settings/api-keys/{revoke}"),
                &[],
            )
            .await;
        assert_eq!(location(&response), "/settings/api-keys");
        let list = app.page("/settings/api-keys").await;
        assert!(list.contains("API key revoked") && list.contains(">Revoked</span>"));

        // Another user cannot revoke it (or see it).
        let outsider = user_browser(&app, "outsider@example.com").await;
        let theirs = outsider
            .get(app.url("/settings/api-keys"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!theirs.contains("Deploy script"));
        let other_key_id: i64 = revoke.trim_end_matches("/revoke").parse().unwrap();
        let response = submit_with(
            &outsider,
            &app.address,
            "/settings/api-keys",
            &format!("/settings/api-keys/{other_key_id}/revoke"),
            &[],
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn the_events_api_is_rate_limited_per_key() {
    for_each_backend_with(
        |config| config.events_rate_limit = 1,
        |app| async move {
            app.create_owner().await;
            let (_, _, events) = api_integration(&app).await;
            let client = reqwest::Client::new();
            let url = app.url(&events);
            for i in 0..10 {
                let response = client
                    .post(&url)
                    .json(&json!({"message": format!("burst {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::CREATED,
                    "{:?}: within the burst",
                    app.backend()
                );
            }
            let response = client
                .post(&url)
                .json(&json!({"message": "one too many"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers().get("retry-after").unwrap(), "1");
            let body: Value = response.json().await.unwrap();
            assert!(body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Too many events for this integration key"));
        },
    )
    .await;
}

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_teams_api_answers_with_a_token_in_zendutys_shape() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let key = create_api_key(&app, "SDK").await;
        let client = reqwest::Client::new();
        let teams_url = app.url("/api/account/teams/");

        let response = client.get(&teams_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.json::<Value>().await.unwrap()["detail"],
            "Authentication credentials were not provided."
        );
        let response = client
            .get(&teams_url)
            .header("authorization", "Token kx_wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.json::<Value>().await.unwrap()["detail"],
            "Invalid token."
        );

        let auth = format!("Token {key}");
        let response = client
            .get(&teams_url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let teams: Value = response.json().await.unwrap();
        let default = &teams[0];
        assert_eq!(
            keys_of(default),
            [
                "account",
                "account_permissions",
                "creation_date",
                "members",
                "name",
                "owner",
                "private",
                "roles",
                "unique_id"
            ]
        );
        assert_eq!(default["name"], "Default");
        assert!(uuid::Uuid::parse_str(default["account"].as_str().unwrap()).is_ok());
        let member = &default["members"][0];
        assert_eq!(
            keys_of(member),
            ["joining_date", "role", "team", "unique_id", "user"]
        );
        assert_eq!(
            keys_of(&member["user"]),
            ["email", "first_name", "last_name", "username"]
        );
        assert_eq!(member["user"]["email"], "ada@example.com");
        assert_eq!(member["role"], 1);

        let response = client
            .post(&teams_url)
            .header("authorization", &auth)
            .json(&json!({"name": "Payments"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["name"], "Payments");
        assert_eq!(created["account"], default["account"], "one account id");
        let id = created["unique_id"].as_str().unwrap();
        let response = client
            .get(app.url(&format!("/api/account/teams/{id}/")))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["name"], "Payments");
        let response = client
            .get(app.url("/api/account/teams/no-such-team/"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = client
            .post(&teams_url)
            .header("authorization", &auth)
            .json(&json!({"name": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.json::<Value>().await.unwrap()["detail"],
            "name: must be a string"
        );

        let list = app.page("/settings/api-keys").await;
        assert!(!list.contains("Never"), "the key's last use is recorded");

        // Revoked: refused from then on.
        let revoke = list
            .split("/settings/api-keys/")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        app.submit(
            "/settings/api-keys",
            &format!("/settings/api-keys/{revoke}"),
            &[],
        )
        .await;
        let response = client
            .get(&teams_url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn the_services_api_creates_reads_updates_and_deletes() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let auth = format!("Token {}", create_api_key(&app, "SDK").await);
        let client = reqwest::Client::new();
        let team = first_team(&app, &auth).await;
        let services_url = app.url(&format!("/api/account/teams/{team}/services/"));
        let policies: Value = client
            .get(app.url(&format!("/api/account/teams/{team}/escalation_policies/")))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let policy = policies[0]["unique_id"].as_str().unwrap();

        let body = json!({"name": "ZD Prod", "summary": "", "description": "Main app", "auto_resolve_timeout": 0, "acknowledgement_timeout": 0, "status": 1,
            "escalation_policy": policy, "sla": "77bac19a-deab-4166-bd9b-d4dfe6301924", "team_priority": "6beb47f1-32f5-4f98-b013-757d2e3eef6e",
            "under_maintenance": false, "collation": 0, "collation_time": 0});
        let response = client.post(&services_url).header("authorization", &auth).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        for key in ["name", "creation_date", "summary", "description", "unique_id", "auto_resolve_timeout", "created_by", "team_priority", "task_template",
            "acknowledgement_timeout", "status", "escalation_policy", "team", "sla", "under_maintenance", "collation", "collation_time"] {
            assert!(created.get(key).is_some(), "{key}");
        }
        assert_eq!((created["team"].as_str(), created["description"].as_str()), (Some(team.as_str()), Some("Main app")));
        let id = created["unique_id"].as_str().unwrap().to_owned();
        let one = app.url(&format!("/api/account/teams/{team}/services/{id}/"));

        let list: Value = client.get(&services_url).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
        let response = client.put(&one).header("authorization", &auth).json(&json!({"name": "ZD Production", "under_maintenance": true})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let updated: Value = response.json().await.unwrap();
        assert_eq!((updated["name"].as_str(), updated["status"].as_i64(), updated["description"].as_str()), (Some("ZD Production"), Some(4), Some("Main app")));
        let response = client.put(&one).header("authorization", &auth).json(&json!({"status": "high"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.json::<Value>().await.unwrap()["detail"], "status: must be a whole number");
        let response = client.put(&one).header("authorization", &auth).json(&json!({"status": 9})).send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["detail"], "status: Choose a status.");

        // With an incident it is kept (and the API says so); without history it is deleted.
        trigger(&app, &id, "History").await;
        let response = client.delete(&one).header("authorization", &auth).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let other = client.post(&services_url).header("authorization", &auth).json(&json!({"name": "Temporary"})).send().await.unwrap().json::<Value>().await.unwrap();
        let other_url = app.url(&format!("/api/account/teams/{team}/services/{}/", other["unique_id"].as_str().unwrap()));
        assert_eq!(client.delete(&other_url).header("authorization", &auth).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        assert_eq!(client.get(&other_url).header("authorization", &auth).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let wrong_team = app.url(&format!("/api/account/teams/{}/services/{id}/", uuid::Uuid::new_v4()));
        assert_eq!(client.get(&wrong_team).header("authorization", &auth).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let response = client.post(&services_url).header("authorization", &auth).json(&json!({"summary": "no name"})).send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["detail"], "name: is required");
    })
    .await;
}

const INCIDENT_KEYS: [&str; 30] = [
    "acknowledged_date",
    "assigned_to",
    "assigned_to_name",
    "context_window_end",
    "context_window_start",
    "creation_date",
    "escalation_policy",
    "escalation_policy_object",
    "incident_key",
    "incident_number",
    "is_parent_incident",
    "merged_with",
    "parent_incident",
    "postmortem_assignee",
    "postmortems",
    "resolved_date",
    "service",
    "service_object",
    "sla",
    "sla_object",
    "snooze_time",
    "snoozed_till",
    "status",
    "summary",
    "tags",
    "team_priority",
    "team_priority_object",
    "title",
    "unique_id",
    "urgency",
];

#[tokio::test]
async fn the_incidents_api_moves_incidents_through_the_same_transitions() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let auth = format!("Token {}", create_api_key(&app, "SDK").await);
        let service = create_service(&app, "API driven").await;
        configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let client = reqwest::Client::new();
        let call = |method: reqwest::Method, path: &str| client.request(method, app.url(path)).header("authorization", &auth);

        let response = call(reqwest::Method::POST, "/api/incidents/").json(&json!({"title": "Queue backed up", "service": service})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let incident: Value = response.json().await.unwrap();
        assert_eq!(keys_of(&incident), INCIDENT_KEYS, "exactly the keys the SDK's Incident takes");
        assert_eq!(keys_of(&incident["service_object"]).len(), 19);
        assert_eq!((incident["status"].as_i64(), incident["urgency"].as_i64()), (Some(1), Some(1)));
        let number = incident["incident_number"].as_i64().unwrap();
        let unique_id = incident["unique_id"].as_str().unwrap().to_owned();

        let by_id: Value = call(reqwest::Method::GET, &format!("/api/incidents/{unique_id}/")).send().await.unwrap().json().await.unwrap();
        assert_eq!(by_id["incident_number"], number);
        let path = format!("/api/incidents/{number}/");
        let response = call(reqwest::Method::PUT, &path).json(&json!({"title": "Queue backed up", "summary": "", "status": 1, "service": service})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "the same status is no change");
        let acked: Value = call(reqwest::Method::PUT, &path).json(&json!({"status": 2, "summary": "looking"})).send().await.unwrap().json().await.unwrap();
        assert_eq!((acked["status"].as_i64(), acked["summary"].as_str()), (Some(2), Some("looking")));
        assert!(acked["acknowledged_date"].is_string());
        let response = call(reqwest::Method::PUT, &path).json(&json!({"status": 1})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("cannot go back to triggered"));
        let response = call(reqwest::Method::PATCH, &path).json(&json!({"status": 7})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let resolved: Value = call(reqwest::Method::PATCH, &path).json(&json!({"status": 3})).send().await.unwrap().json().await.unwrap();
        assert_eq!(resolved["status"], 3);
        let events = event_types_of(&app, number).await;
        assert_eq!(events, ["triggered", "acknowledged", "resolved"], "webhooks as for the pages");

        let note = call(reqwest::Method::POST, &format!("{path}note/")).json(&json!({"note": "Root cause: a stuck consumer"})).send().await.unwrap();
        assert_eq!(note.status(), StatusCode::CREATED);
        let note: Value = note.json().await.unwrap();
        assert_eq!(keys_of(&note), ["creation_date", "incident", "note", "unique_id", "user", "user_name"]);
        assert_eq!(note["user_name"], "Ada Lovelace");
        let notes: Value = call(reqwest::Method::GET, &format!("{path}note/")).send().await.unwrap().json().await.unwrap();
        assert_eq!((notes["count"].as_i64(), notes["results"][0]["note"].as_str()), (Some(1), Some("Root cause: a stuck consumer")));
        let response = call(reqwest::Method::POST, &format!("{path}note/")).json(&json!({"note": ""})).send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["detail"], "note: Write the note first.");

        call(reqwest::Method::POST, "/api/incidents/").json(&json!({"title": "Second", "service": service})).send().await.unwrap();
        let all: Value = call(reqwest::Method::GET, "/api/incidents/?page=1&page_size=1").send().await.unwrap().json().await.unwrap();
        assert_eq!((all["count"].as_i64(), all["results"].as_array().unwrap().len()), (Some(2), 1));
        assert!(all["next"].as_str().unwrap().contains("page=2"));
        // Following `next` walks the same list: the page size and the filter stay.
        call(reqwest::Method::POST, "/api/incidents/").json(&json!({"title": "Third", "service": service})).send().await.unwrap();
        let mut titles = Vec::new();
        let mut next = Some(app.url("/api/incidents/?status=1&page_size=1"));
        while let Some(url) = next {
            let page: Value = client.get(&url).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
            assert!(page["results"].as_array().unwrap().len() <= 1, "page_size kept in {url}");
            titles.extend(page["results"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_owned()));
            next = page["next"].as_str().map(str::to_owned);
            if let Some(link) = &next {
                assert!(link.contains("page_size=1") && link.contains("status=1"), "{link}");
            }
        }
        titles.sort();
        assert_eq!(titles, ["Second", "Third"], "status=1 keeps to triggered incidents, each once");
        let open: Value = call(reqwest::Method::POST, "/api/incidents/filter/?page=1&page_size=10")
            .json(&json!({"status": 1, "all_teams": 1, "postmortem_filter": -1, "page": 1, "page_size": 10, "service_ids": [service]}))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(open["count"], 2);
        assert_eq!((open["results"][0]["title"].as_str(), open["results"][1]["title"].as_str()), (Some("Third"), Some("Second")));

        let response = call(reqwest::Method::GET, "/api/incidents/9999/").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = call(reqwest::Method::POST, "/api/incidents/").json(&json!({"title": "x", "service": "nope"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.json::<Value>().await.unwrap()["detail"], "service: Choose a service.");
    })
    .await;
}

#[tokio::test]
async fn an_incidents_alerts_come_in_the_sdks_event_shape() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let auth = format!("Token {}", create_api_key(&app, "SDK").await);
        let (_, _, events) = api_integration(&app).await;
        let client = reqwest::Client::new();
        let alert: Value = client
            .post(app.url(&events))
            .json(&json!({"message": "down", "alert_type": "critical", "entity_id": "e1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let number = alert["incident"].as_i64().unwrap();
        let alerts: Value = client
            .get(app.url(&format!("/api/incidents/{number}/alerts/")))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let event = &alerts["results"][0];
        assert_eq!(
            keys_of(event),
            [
                "alert_type",
                "creation_date",
                "entity_id",
                "images",
                "incident",
                "integration",
                "integration_object",
                "message",
                "notes",
                "payload",
                "summary",
                "suppressed",
                "unique_id",
                "urls"
            ]
        );
        assert_eq!(keys_of(&event["integration_object"]).len(), 9);
        assert!(
            uuid::Uuid::parse_str(event["integration_object"]["service"].as_str().unwrap()).is_ok()
        );
        assert_eq!(event["alert_type"], 3);
    })
    .await;
}

#[tokio::test]
async fn the_integrations_api_creates_lists_and_gets() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let auth = format!("Token {}", create_api_key(&app, "SDK").await);
        let client = reqwest::Client::new();
        let team = first_team(&app, &auth).await;
        let service = create_service(&app, "With integrations").await;
        let base = app.url(&format!("/api/account/teams/{team}/services/{service}/integrations/"));

        let body = json!({"name": "Prometheus", "summary": "alerts", "application": "aa1dbb12-9901-4369-a384-017d5e5d5b89",
            "default_urgency": 0, "integration_type": 0, "create_incidents_for": 2, "is_enabled": true});
        let response = client.post(&base).header("authorization", &auth).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        assert_eq!((created["name"].as_str(), created["create_incidents_for"].as_i64(), created["default_urgency"].as_i64()), (Some("Prometheus"), Some(2), Some(0)));
        let key = created["integration_key"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(key).is_ok(), "the SDK reads the key as a UUID");
        let id = created["unique_id"].as_str().unwrap();
        let fetched: Value = client.get(format!("{base}{id}/")).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
        assert_eq!(fetched["integration_key"], created["integration_key"]);
        let list: Value = client.get(&base).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);

        // Its settings take effect: with create_incidents_for 2, a warning opens nothing.
        let (_, warning) = post_event(&app, &format!("/api/events/{key}/"), json!({"message": "slow", "alert_type": "warning"})).await;
        assert!(warning["incident"].is_null());
        let (_, error) = post_event(&app, &format!("/api/events/{key}/"), json!({"message": "broken", "alert_type": "error"})).await;
        assert_eq!(error["incident_created"], true);

        let bad = json!({"name": "x", "application": "aa1dbb12-9901-4369-a384-017d5e5d5b89", "create_incidents_for": 9});
        let response = client.post(&base).header("authorization", &auth).json(&bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.json::<Value>().await.unwrap()["detail"].as_str().unwrap().starts_with("create_incidents_for: must be"));
        let list: Value = client.get(&base).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1, "a refused create leaves nothing behind");
        let response = client.post(&base).header("authorization", &auth).json(&json!({"name": "x", "application": "nope"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn methods_an_endpoint_does_not_serve_get_a_json_405() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let client = reqwest::Client::new();
        for (method, path) in [
            (reqwest::Method::GET, "/api/events/some-key/"),
            (reqwest::Method::DELETE, "/api/incidents/1/"),
            (reqwest::Method::PUT, "/api/account/teams/"),
        ] {
            let response = client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"], format!("Method \"{method}\" not allowed."));
        }
    })
    .await;
}

/// The `unique_id` of the first team the teams API lists for this key.
async fn first_team(app: &TestApp, auth: &str) -> String {
    let teams: Value = reqwest::Client::new()
        .get(app.url("/api/account/teams/"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    teams[0]["unique_id"].as_str().unwrap().to_owned()
}
