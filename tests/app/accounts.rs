//! First run, sign-in, sign-out, CSRF, throttling and sessions.

use reqwest::StatusCode;

use crate::helpers::{
    backends, behind_proxy, csrf_token, for_each_backend, for_each_backend_with, location,
    sign_in_from, submit_with, TestApp, TestDatabase, OWNER_EMAIL, OWNER_PASSWORD,
};

#[tokio::test]
async fn a_new_install_sends_everyone_to_create_the_owner_account() {
    for_each_backend(|app| async move {
        let response = app.get("/").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/setup");
        assert_eq!(location(&app.get("/signin").await), "/setup");

        let page = app.page("/setup").await;
        assert!(page.contains("<h1>Create account</h1>"));

        app.create_owner().await;
        let settings = app.get("/settings").await;
        assert_eq!(settings.status(), StatusCode::OK);
        let body = settings.text().await.unwrap();
        assert!(body.contains("Ada Lovelace"), "signed in as the new owner");
        assert!(body.contains("Owner"));

        // Once set up, the first-run page is closed, for this browser and any other.
        let other = app.new_browser();
        let response = other.get(app.url("/setup")).send().await.unwrap();
        assert_eq!(location(&response), "/signin");
    })
    .await;
}

#[tokio::test]
async fn owner_sign_up_rejects_bad_input_next_to_each_field_and_keeps_it() {
    for_each_backend(|app| async move {
        let response = app
            .submit(
                "/setup",
                "/setup",
                &[
                    ("first_name", "  "),
                    ("last_name", "Hopper"),
                    ("email", "grace-at-navy"),
                    ("password", "short"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(
            page.contains(r#"<p class="error" id="first_name-error">This field is required.</p>"#)
        );
        assert!(
            page.contains(r#"id="email-error">Enter an email address like name@example.com.</p>"#)
        );
        assert!(page.contains(r#"id="password-error">Use at least 10 characters.</p>"#));
        assert!(page.contains(r#"value="Hopper""#), "last name kept");
        assert!(page.contains(r#"value="grace-at-navy""#), "email kept");
        assert!(!page.contains("short"), "the password is never echoed back");
        // Nothing was created: the first-run page is still open.
        assert_eq!(app.get("/setup").await.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn two_people_submitting_the_first_run_form_at_once_make_exactly_one_owner() {
    for_each_backend(|app| async move {
        let attempts: Vec<_> = (0..4)
            .map(|i| {
                let (browser, address) = (app.new_browser(), app.address.clone());
                tokio::spawn(async move {
                    let email = format!("owner{i}@example.com");
                    let fields = [
                        ("first_name", "Owner"),
                        ("last_name", "Candidate"),
                        ("email", email.as_str()),
                        ("password", OWNER_PASSWORD),
                    ];
                    location(&submit_with(&browser, &address, "/setup", "/setup", &fields).await)
                })
            })
            .collect();
        let mut locations = Vec::new();
        for attempt in attempts {
            locations.push(attempt.await.unwrap());
        }
        assert_eq!(
            locations.iter().filter(|l| *l == "/incidents").count(),
            1,
            "exactly one owner: {locations:?}"
        );
        assert_eq!(
            locations.iter().filter(|l| *l == "/signin").count(),
            3,
            "{locations:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_back_afterwards() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        app.sign_out().await;

        let response = app.get("/settings/users?page=1").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&response),
            "/signin?next=%2Fsettings%2Fusers%3Fpage%3D1"
        );

        let page = app
            .page("/signin?next=%2Fsettings%2Fusers%3Fpage%3D1")
            .await;
        let token = csrf_token(&page).unwrap();
        let response = app
            .client
            .post(app.url("/signin"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", "ADA@example.com "),
                ("password", OWNER_PASSWORD),
                ("next", "/settings/users?page=1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            location(&response),
            "/settings/users?page=1",
            "email matched without case"
        );
        assert_eq!(app.get("/settings/users").await.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        app.sign_out().await;
        for evil in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
        ] {
            let page = app.page(&format!("/signin?next={}", urlencode(evil))).await;
            let token = csrf_token(&page).unwrap();
            let response = app
                .client
                .post(app.url("/signin"))
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("email", OWNER_EMAIL),
                    ("password", OWNER_PASSWORD),
                    ("next", evil),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(location(&response), "/", "next={evil}");
            app.sign_out().await;
        }
    })
    .await;
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        app.sign_out().await;

        let wrong_password = app.sign_in(OWNER_EMAIL, "not the password").await;
        let unknown_email = app.sign_in("nobody@example.com", "not the password").await;
        assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
        let a = strip_token(&wrong_password.text().await.unwrap()).replace(OWNER_EMAIL, "EMAIL");
        let b = strip_token(&unknown_email.text().await.unwrap())
            .replace("nobody@example.com", "EMAIL");
        assert_eq!(a, b, "pages differ only by the email typed");
        assert!(a.contains("Email or password is incorrect."));
        assert_eq!(
            app.get("/settings").await.status(),
            StatusCode::SEE_OTHER,
            "still signed out"
        );
    })
    .await;
}

fn strip_token(html: &str) -> String {
    match csrf_token(html) {
        Some(token) => html.replace(&token, "TOKEN"),
        None => html.to_owned(),
    }
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        // Signed in, with a session that holds a token: a post without it or with another fails.
        let _ = app.get("/settings").await;
        for token in [None, Some("forged-token")] {
            let mut form = vec![
                ("first_name", "Eve"),
                ("last_name", "X"),
                ("email", "eve@example.com"),
                ("password", "long enough password"),
                ("role", "2"),
            ];
            if let Some(token) = token {
                form.push(("csrf_token", token));
            }
            let response = app
                .client
                .post(app.url("/settings/users"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("This form has expired"));
        }
        let users = app.page("/settings/users").await;
        assert!(!users.contains("eve@example.com"), "nothing was created");

        // Sign-out is a form too: a cross-site post cannot sign anyone out.
        let response = app.client.post(app.url("/signout")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.get("/settings").await.status(), StatusCode::OK);

        // A token from another browser's session is no good either.
        let other = app.new_browser();
        let foreign = csrf_token(
            &other
                .get(app.url("/signin"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        let response = app
            .client
            .post(app.url("/signout"))
            .form(&[("csrf_token", foreign)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn more_than_ten_failures_in_fifteen_minutes_are_throttled() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        app.sign_out().await;
        for attempt in 1..=10 {
            let response = app.sign_in(OWNER_EMAIL, "wrong password").await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}"
            );
        }
        let response = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "even the right password waits"
        );
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (850..=900).contains(&retry_after),
            "until the oldest failure leaves the window: {retry_after}"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("Too many failed sign-ins. Try again in 15 minutes."));
        assert_eq!(app.get("/settings").await.status(), StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_at_most_ten_times() {
    for_each_backend_with(behind_proxy, |app| async move {
        let backend = app.backend();
        app.create_owner().await;

        // 40 at once: the count is taken before any password is checked.
        let attempts =
            (0..40).map(|_| sign_in_from(&app, "198.51.100.7", OWNER_EMAIL, "wrong guess"));
        let statuses = futures_util::future::join_all(attempts).await;
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((checked, throttled), (10, 30), "{backend:?}: {statuses:?}");

        // The right password hidden among 29 wrong ones, from a fresh address: at most ten
        // are checked, so whether it gets in depends only on its turn among the first ten.
        let mut passwords = vec!["wrong guess"; 29];
        passwords.insert(17, OWNER_PASSWORD);
        let attempts = passwords
            .iter()
            .map(|password| sign_in_from(&app, "198.51.100.8", OWNER_EMAIL, password));
        let statuses = futures_util::future::join_all(attempts).await;
        // A successful sign-in is uncounted afterwards, so when the right password is among
        // the first ten checked, one more wrong guess may take its place: ten failures at most.
        let count = |status: StatusCode| statuses.iter().filter(|s| **s == status).count();
        let (failed, succeeded) = (
            count(StatusCode::UNAUTHORIZED),
            count(StatusCode::SEE_OTHER),
        );
        assert!(
            failed == 10 && succeeded <= 1
                || failed < 10 && succeeded == 1 && failed + succeeded == 10,
            "{backend:?}: {statuses:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn guesses_from_elsewhere_do_not_lock_a_person_out() {
    for_each_backend_with(behind_proxy, |app| async move {
        let backend = app.backend();
        app.create_owner().await;
        for _ in 0..10 {
            let status = sign_in_from(&app, "203.0.113.9", OWNER_EMAIL, "wrong guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            sign_in_from(&app, "203.0.113.9", OWNER_EMAIL, OWNER_PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{backend:?}: the guessing address is throttled for that account"
        );
        assert_eq!(
            sign_in_from(&app, "192.0.2.44", OWNER_EMAIL, OWNER_PASSWORD).await,
            StatusCode::SEE_OTHER,
            "{backend:?}: the owner, elsewhere, signs in"
        );

        // One address spraying many accounts is stopped after 50 failures in all.
        for n in 0..40 {
            let email = format!("someone{n}@example.com");
            let status = sign_in_from(&app, "203.0.113.9", &email, "wrong guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}: failure {n}");
        }
        assert_eq!(
            sign_in_from(&app, "203.0.113.9", "fresh@example.com", "wrong guess").await,
            StatusCode::TOO_MANY_REQUESTS,
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn blank_and_common_passwords_are_refused_next_to_the_field() {
    for_each_backend(|app| async move {
        for (password, message) in [
            (
                "            ",
                "A password of only spaces is too easy to guess.",
            ),
            ("password1234", "This password is too easy to guess"),
        ] {
            let response = app
                .submit(
                    "/setup",
                    "/setup",
                    &[
                        ("first_name", "Ada"),
                        ("last_name", "Lovelace"),
                        ("email", OWNER_EMAIL),
                        ("password", password),
                    ],
                )
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let page = response.text().await.unwrap();
            assert!(
                page.contains(&format!(r#"id="password-error">{message}"#)),
                "{password:?}: {page}"
            );
            assert!(page.contains(OWNER_EMAIL), "the other fields are kept");
        }
    })
    .await;
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        assert_eq!(app.get("/settings").await.status(), StatusCode::OK);
        let response = app.submit("/settings", "/signout", &[]).await;
        assert_eq!(location(&response), "/signin");
        let page = app.page("/signin").await;
        assert!(
            page.contains("You have signed out."),
            "flash message shown once"
        );
        assert!(!app.page("/signin").await.contains("You have signed out."));
        assert_eq!(app.get("/settings").await.status(), StatusCode::SEE_OTHER);
        let response = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(location(&response), "/");
    })
    .await;
}

#[tokio::test]
async fn a_restart_keeps_people_signed_in() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let first = TestApp::start(&database).await;
        first.create_owner().await;
        let cookie = first.session_cookie();
        first.stop().await;

        let restarted = TestApp::start(&database).await;
        let response = restarted.get_with_cookie("/settings", &cookie).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{backend:?}: the session survives a restart"
        );
        restarted.stop().await;

        // The control: an instance with another key does not accept the same cookie.
        let other_key =
            TestApp::start_with(&database, |config| config.secret_key = Some("k".repeat(64))).await;
        let response = other_key.get_with_cookie("/settings", &cookie).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{backend:?}");
        other_key.stop().await;
    }
}
