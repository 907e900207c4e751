//! Sessions end for every copy of their cookie: sign-out, "Sign out everywhere", a password
//! change. (Disabling a user: tests/app/users.rs.)

use reqwest::StatusCode;

use crate::helpers::{
    csrf_token, for_each_backend, location, signed_in_browser, TestApp, OWNER_EMAIL, OWNER_PASSWORD,
};

/// A second browser signed in as the owner.
async fn second_browser(app: &TestApp) -> reqwest::Client {
    signed_in_browser(app, OWNER_EMAIL, OWNER_PASSWORD).await
}

async fn signed_in(client: &reqwest::Client, app: &TestApp) -> bool {
    let response = client.get(app.url("/settings")).send().await.unwrap();
    match response.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert!(location(&response).starts_with("/signin"));
            false
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_cookie_copied_before_sign_out_is_signed_out() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let copied = app.session_cookie();
        let settings = app.page("/settings").await;
        let copied_csrf = csrf_token(&settings).unwrap();
        assert_eq!(
            app.get_with_cookie("/settings", &copied).await.status(),
            StatusCode::OK,
            "the copy works while the session lasts"
        );

        app.sign_out().await;

        let response = app.get_with_cookie("/settings", &copied).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "pages are closed");
        assert!(location(&response).starts_with("/signin"));
        // Nor can the copy mint an API key with the token it had.
        let response = app
            .new_browser()
            .post(app.url("/settings/api-keys"))
            .header("cookie", &copied)
            .form(&[("csrf_token", copied_csrf.as_str()), ("name", "stolen")])
            .send()
            .await
            .unwrap();
        // Refused as signed out, or for its CSRF token, whichever check answers first.
        let refused = response.status() == StatusCode::FORBIDDEN
            || location(&response).starts_with("/signin");
        assert!(refused, "{}", response.status());
        app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert!(!app.page("/settings/api-keys").await.contains("stolen"));
    })
    .await;
}

#[tokio::test]
async fn signing_out_ends_only_that_session() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let laptop = second_browser(&app).await;
        app.sign_out().await;
        assert!(signed_in(&laptop, &app).await, "another browser stays");
    })
    .await;
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_and_copy() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let laptop = second_browser(&app).await;
        let copied = app.session_cookie();
        let settings = app.page("/settings").await;
        assert!(settings.contains("signed in in 2 browsers or devices"));

        let response = app
            .submit("/settings", "/settings/sign-out-everywhere", &[])
            .await;
        assert_eq!(location(&response), "/signin");
        assert!(app
            .page("/signin")
            .await
            .contains("You have signed out everywhere."));
        assert!(!signed_in(&app.client, &app).await, "this browser");
        assert!(!signed_in(&laptop, &app).await, "the other browser");
        let response = app.get_with_cookie("/incidents", &copied).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "a copied cookie");
    })
    .await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let laptop = second_browser(&app).await;

        // Wrong current password, and a common new one: each told next to its field.
        let response = app
            .submit(
                "/settings",
                "/settings/password",
                &[
                    ("current_password", "not the password"),
                    ("new_password", "velvet comet harbour 41"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="current_password-error">This is not your current password."#));
        let response = app
            .submit(
                "/settings",
                "/settings/password",
                &[
                    ("current_password", OWNER_PASSWORD),
                    ("new_password", "password1234"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="new_password-error">This password is too easy to guess"#));
        assert!(signed_in(&laptop, &app).await, "nothing changed yet");

        let response = app
            .submit(
                "/settings",
                "/settings/password",
                &[
                    ("current_password", OWNER_PASSWORD),
                    ("new_password", "velvet comet harbour 41"),
                ],
            )
            .await;
        assert_eq!(location(&response), "/settings");
        assert!(signed_in(&app.client, &app).await, "this session goes on");
        assert!(!signed_in(&laptop, &app).await, "the other one ended");

        app.sign_out().await;
        let response = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "old password");
        let response = app.sign_in(OWNER_EMAIL, "velvet comet harbour 41").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "new password");
    })
    .await;
}
