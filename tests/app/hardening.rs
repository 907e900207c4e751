//! Items of the security audit: input bounds on the JSON API, the unknown-key throttle of the
//! Events API and the `/metrics` token. (SSRF ranges: `delivery::destination`'s unit tests and
//! `integrations::ipv6_spellings_of_private_addresses_warn_too`; the fuzz test: `fuzz.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    api_integration, backends, behind_proxy, create_api_key, create_service, csrf_token,
    for_each_backend, for_each_backend_with, TestApp, TestDatabase,
};

/// A signed-in owner with an API key: (the key's `Authorization` value, a service id).
async fn owner_with_key(app: &TestApp) -> (String, String) {
    app.create_owner().await;
    let auth = format!("Token {}", create_api_key(app, "Bounds").await);
    let service = create_service(app, "Bounded").await;
    (auth, service)
}

async fn call(
    app: &TestApp,
    auth: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .header("authorization", auth);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    (status, body)
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn page_sizes_and_page_numbers_out_of_range_answer_400() {
    for_each_backend(|app| async move {
        let (auth, service) = owner_with_key(&app).await;
        for title in ["One", "Two", "Three"] {
            let (status, _) = call(
                &app,
                &auth,
                Method::POST,
                "/api/incidents/",
                Some(json!({"title": title, "service": service})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, _) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/1/note/",
            Some(json!({"note": "a note"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);

        // A negative or zero page size returned every row (SQLite reads LIMIT -1 as none).
        for body in [
            json!({"page_size": -2}),
            json!({"page_size": -1}),
            json!({"page_size": 0}),
            json!({"page_size": 101}),
            json!({"page_size": 4294967297_i64}),
        ] {
            let (status, answer) = call(
                &app,
                &auth,
                Method::POST,
                "/api/incidents/filter/",
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(
                detail(&answer),
                "page_size: must be a whole number from 1 to 100"
            );
        }
        for path in [
            "/api/incidents/filter/?page_size=-2",
            "/api/incidents/filter/?page_size=0",
            "/api/incidents/filter/?page_size=1000",
            "/api/incidents/filter/?page_size=ten",
        ] {
            let (status, answer) = call(&app, &auth, Method::POST, path, Some(json!({}))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
            assert!(
                detail(&answer).starts_with("page_size: "),
                "{path}: {answer}"
            );
        }
        // A page number that wrapped round (or fell back) to page 1.
        for path in [
            "/api/incidents/1/note/?page=9223372036854775807",
            "/api/incidents/1/note/?page=-9223372036854775808",
            "/api/incidents/1/note/?page=0",
            "/api/incidents/1/note/?page=1000001",
            "/api/incidents/1/note/?page_size=-1",
            "/api/incidents/?page=9223372036854775807",
            "/api/incidents/?page=99999999999999999999",
            "/api/incidents/?page=abc",
            "/api/incidents/?page_size=-1",
            "/api/incidents/?page_size=0",
        ] {
            let (status, answer) = call(&app, &auth, Method::GET, path, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
            assert!(detail(&answer).starts_with("page"), "{path}: {answer}");
        }
        for body in [
            json!({"page": 0}),
            json!({"page": -5}),
            json!({"page": 9223372036854775807_i64}),
        ] {
            let (status, answer) = call(
                &app,
                &auth,
                Method::POST,
                "/api/incidents/filter/",
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(
                detail(&answer),
                "page: must be a whole number from 1 to 1000000"
            );
        }
        // In range, paging works as before.
        let (status, page) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/filter/?page=2&page_size=1",
            Some(json!({"status": 1})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (
                page["count"].as_i64(),
                page["results"].as_array().unwrap().len()
            ),
            (Some(3), 1)
        );
        assert_eq!(page["results"][0]["title"], "Two");
        let (status, page) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/filter/",
            Some(json!({"page": 3, "page_size": 1})),
        )
        .await;
        assert_eq!(
            (status, page["results"][0]["title"].as_str()),
            (StatusCode::OK, Some("One"))
        );
        let (status, page) = call(
            &app,
            &auth,
            Method::GET,
            "/api/incidents/?page=1000000&page_size=100",
            None,
        )
        .await;
        assert_eq!(
            (status, page["results"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(0))
        );
        let (status, notes) = call(
            &app,
            &auth,
            Method::GET,
            "/api/incidents/1/note/?page=1&page_size=1",
            None,
        )
        .await;
        assert_eq!((status, notes["count"].as_i64()), (StatusCode::OK, Some(1)));
    })
    .await;
}

#[tokio::test]
async fn integers_that_do_not_fit_their_field_answer_400_and_change_nothing() {
    for_each_backend(|app| async move {
        let (auth, service) = owner_with_key(&app).await;
        let (_, teams) = call(&app, &auth, Method::GET, "/api/account/teams/", None).await;
        let team = teams[0]["unique_id"].as_str().unwrap().to_owned();
        let integrations = format!("/api/account/teams/{team}/services/{service}/integrations/");
        let api = "aa1dbb12-9901-4369-a384-017d5e5d5b89";
        // 4294967297 is 2^32 + 1: `as i32` stored it as 1.
        for (field, value) in [
            ("default_urgency", json!(4294967297_i64)),
            ("default_urgency", json!(-4294967295_i64)),
            ("create_incidents_for", json!(4294967299_i64)),
            ("create_incidents_for", json!(9223372036854775807_i64)),
        ] {
            let (status, answer) = call(
                &app,
                &auth,
                Method::POST,
                &integrations,
                Some(json!({"application": api, "name": "Wide", field: value})),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {value}: {answer}");
            assert!(
                detail(&answer).starts_with(&format!("{field}: must be")),
                "{answer}"
            );
        }
        let (_, listed) = call(&app, &auth, Method::GET, &integrations, None).await;
        assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was created");

        let (status, incident) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/",
            Some(json!({"title": "Wide", "service": service})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let number = incident["incident_number"].as_i64().unwrap();
        let path = format!("/api/incidents/{number}/");
        for status_value in [4294967297_i64, 4294967298, -4294967295] {
            let (status, answer) = call(
                &app,
                &auth,
                Method::PATCH,
                &path,
                Some(json!({"status": status_value})),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{status_value}: {answer}");
            assert_eq!(
                detail(&answer),
                format!("status: {status_value} is out of range")
            );
        }
        let (_, unchanged) = call(&app, &auth, Method::GET, &path, None).await;
        assert_eq!(unchanged["status"], 1);
        let (status, answer) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/",
            Some(json!({"title": "x", "service": service, "urgency": 4294967297_i64})),
        )
        .await;
        assert_eq!(
            (status, detail(&answer)),
            (
                StatusCode::BAD_REQUEST,
                "urgency: 4294967297 is out of range"
            )
        );
        let (status, answer) = call(
            &app,
            &auth,
            Method::PATCH,
            &format!("/api/account/teams/{team}/services/{service}/"),
            Some(json!({"auto_resolve_timeout": 4294967297_i64})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let (_, service_now) = call(
            &app,
            &auth,
            Method::GET,
            &format!("/api/account/teams/{team}/services/{service}/"),
            None,
        )
        .await;
        assert_eq!(service_now["auto_resolve_timeout"], 0);
    })
    .await;
}

#[tokio::test]
async fn service_id_lists_are_capped() {
    for_each_backend(|app| async move {
        let (auth, service) = owner_with_key(&app).await;
        let many: Vec<String> = (0..12_000)
            .map(|i| format!("{i:08}-0000-4000-8000-000000000000"))
            .collect();
        let started = std::time::Instant::now();
        let (status, answer) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/filter/",
            Some(json!({"service_ids": many})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            detail(&answer),
            "service_ids: name at most 100 services (12000 given)"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "refused before any lookup"
        );
        let mut hundred: Vec<String> = many[..99].to_vec();
        hundred.push(service);
        let (status, _) = call(
            &app,
            &auth,
            Method::POST,
            "/api/incidents/filter/",
            Some(json!({"service_ids": hundred})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "100 is still fine");
    })
    .await;
}

/// Posts an event from the client at `forwarded_for` (the test server trusts loopback as a
/// proxy, so that each test client can have an address of its own).
async fn post_event_from(app: &TestApp, path: &str, forwarded_for: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(path))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"message": "disk full", "alert_type": "critical"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_integration_keys_are_throttled_per_client_without_slowing_known_keys() {
    for_each_backend_with(behind_proxy, |app| async move {
        let backend = app.backend();
        app.create_owner().await;
        let (_, _, known) = api_integration(&app).await;
        let guesser = "203.0.113.50";
        for i in 0..20 {
            let response = post_event_from(&app, &format!("/api/events/guess-{i}/"), guesser).await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{backend:?}: guess {i}"
            );
        }
        let response = post_event_from(&app, "/api/events/guess-20/", guesser).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{backend:?}"
        );
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            detail(&body),
            format!(
                "Too many unknown integration keys from this address; retry after {retry_after} s."
            )
        );
        let response = post_event_from(&app, "/api/events/guess-21/", guesser).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "still waiting"
        );
        // The key that exists still works from that address, and every time.
        for _ in 0..5 {
            let response = post_event_from(&app, &known, guesser).await;
            assert_eq!(
                response.status(),
                StatusCode::CREATED,
                "{backend:?}: a known key"
            );
        }
        // Another client is not held back.
        let response = post_event_from(&app, "/api/events/typo/", "198.51.100.9").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        // After the wait, one more guess is looked up.
        tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
        let response = post_event_from(&app, "/api/events/guess-22/", guesser).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{backend:?}: after the wait"
        );
    })
    .await;
}

#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let open = TestApp::start(&database).await;
        let response = reqwest::get(open.url("/metrics")).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "no token set: no session needed either"
        );
        open.stop().await;

        let token = "scrape-me-0123456789abcdef";
        let app = TestApp::start_with(&database, |config| {
            config.metrics_token = Some(token.to_owned())
        })
        .await;
        let client = reqwest::Client::new();
        for header in [
            None,
            Some("Bearer wrong"),
            Some("Bearer scrape-me"),
            Some("Token scrape-me-0123456789abcdef"),
            Some("Bearer scrape-me-0123456789abcdef0"),
            Some("Bearer "),
        ] {
            let mut request = client.get(app.url("/metrics"));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
            assert!(response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
            assert!(
                !response.text().await.unwrap().contains("klaxon_"),
                "no metrics shown"
            );
        }
        for header in [format!("Bearer {token}"), format!("bearer  {token} ")] {
            let response = client
                .get(app.url("/metrics"))
                .header("authorization", &header)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{header}");
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("klaxon_webhook_pending"));
        }
        app.stop().await;
    }
}

/// Found by the fuzz test on PostgreSQL: a NUL character in a path, a query string, a form or a
/// JSON body reached the database, which refused it (500); SQLite stored it.
#[tokio::test]
async fn nul_characters_are_refused_before_the_database() {
    for_each_backend(|app| async move {
        let (auth, service) = owner_with_key(&app).await;
        let client = reqwest::Client::new();
        for (method, path) in [
            (Method::GET, "/api/account/teams/%00/"),
            (Method::GET, "/api/incidents/a%00b/"),
            (Method::POST, "/api/events/%00/"),
        ] {
            let response = client
                .request(method, app.url(path))
                .header("authorization", &auth)
                .json(&json!({"message": "m"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                response.json::<Value>().await.unwrap()["detail"],
                "Not found."
            );
        }
        for path in ["/services/%00/delete", "/teams/%00", "/incidents/1%00"] {
            assert_eq!(
                app.get(path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        for path in ["/incidents?service=%00", "/services?page=1%00"] {
            assert_eq!(
                app.get(path).await.status(),
                StatusCode::BAD_REQUEST,
                "{path}"
            );
        }
        let (status, answer) =
            call(&app, &auth, Method::GET, "/api/incidents/?status=%00", None).await;
        assert_eq!(
            (status, detail(&answer)),
            (
                StatusCode::BAD_REQUEST,
                "Text may not contain NUL characters (%00)."
            )
        );
        let response = app
            .submit("/teams/new", "/teams", &[("name", "Null\0team")])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.text().await.unwrap().contains("NUL characters"));
        // Whatever the content type says: the page reads the form anyway.
        let page = app.page("/teams/new").await;
        let token = csrf_token(&page).unwrap();
        let response = app
            .client
            .post(app.url("/teams"))
            .header("content-type", "text/plain")
            .body(format!("csrf_token={token}&name=Null%00team"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(!app.page("/teams").await.contains("Null"), "nothing stored");
        for body in [
            json!({"title": "a\u{0}b", "service": service}),
            json!({"title": "ok", "service": service, "summary": ["x", {"k\u{0}": 1}]}),
        ] {
            let (status, answer) =
                call(&app, &auth, Method::POST, "/api/incidents/", Some(body)).await;
            assert_eq!(
                (status, detail(&answer)),
                (
                    StatusCode::BAD_REQUEST,
                    "Strings may not contain NUL characters (\\u0000)."
                )
            );
        }
        let (_, _, events) = api_integration(&app).await;
        let response = client
            .post(app.url(&events))
            .json(&json!({"message": "disk\u{0}full"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let (_, page) = call(&app, &auth, Method::GET, "/api/incidents/", None).await;
        assert_eq!(page["count"], 0, "no incident was opened");
    })
    .await;
}
