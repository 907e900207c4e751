//! API keys: shown once, stored as a hash, revocable; the Events API rate limit.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{backends, for_each_backend, location, TestApp, TestDatabase};

/// Creates a key through the settings page and returns its text.
pub async fn create_api_key(app: &TestApp, name: &str) -> String {
    let response = app
        .submit(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", name)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    let marker = r#"<code class="secret" id="new-api-key">"#;
    let start = page.find(marker).expect("the new key is shown") + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

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
        let list = app.get("/settings/api-keys").await.text().await.unwrap();
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
        let list = app.get("/settings/api-keys").await.text().await.unwrap();
        assert!(list.contains("API key revoked") && list.contains(">Revoked</span>"));

        // Another user cannot revoke it (or see it).
        let outsider = crate::services::user_browser(&app, "outsider@example.com").await;
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
        let response = crate::helpers::submit_with(
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
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let app = TestApp::start_with(&database, |config| config.events_rate_limit = 1).await;
        app.create_owner().await;
        let service = crate::services::create_service(&app, "Noisy").await;
        let integration =
            crate::integrations::add_integration(&app, &service, "incoming", "api").await;
        let page = app
            .get(&format!("/services/{service}/integrations/{integration}"))
            .await
            .text()
            .await
            .unwrap();
        let marker = r#"<code id="integration-key">"#;
        let key = page[page.find(marker).unwrap() + marker.len()..]
            .split('<')
            .next()
            .unwrap()
            .to_owned();
        let client = reqwest::Client::new();
        let url = app.url(&format!("/api/events/{key}/"));
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
                "{backend:?}: within the burst"
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
    }
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

        let list = app.get("/settings/api-keys").await.text().await.unwrap();
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
        let teams: Value = client.get(app.url("/api/account/teams/")).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
        let team = teams[0]["unique_id"].as_str().unwrap().to_owned();
        let services_url = app.url(&format!("/api/account/teams/{team}/services/"));

        let body = json!({"name": "ZD Prod", "summary": "", "description": "Main app", "auto_resolve_timeout": 0, "acknowledgement_timeout": 0, "status": 1,
            "escalation_policy": "5ce8918d-dfac-4f00-b95a-b204dcedafc9", "sla": "77bac19a-deab-4166-bd9b-d4dfe6301924", "team_priority": "6beb47f1-32f5-4f98-b013-757d2e3eef6e",
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
        crate::incidents::trigger(&app, &id, "History").await;
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
