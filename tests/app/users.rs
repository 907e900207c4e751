//! Owners and admins add and disable users; others cannot.

use reqwest::StatusCode;

use crate::helpers::{self, for_each_backend, location, sign_in_with, TestApp, USER_PASSWORD};

/// The owner (or admin) adds Grace Hopper with this email and role.
async fn add_user(app: &TestApp, email: &str, role: &str) -> reqwest::Response {
    helpers::add_user(app, ("Grace", "Hopper"), email, USER_PASSWORD, role).await
}

#[tokio::test]
async fn an_owner_adds_a_user_who_can_then_sign_in() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let response = add_user(&app, "grace@example.com", "3").await;
        assert_eq!(location(&response), "/settings/users");
        let list = app.page("/settings/users").await;
        assert!(list.contains("Grace Hopper can now sign in."));
        assert!(list.contains("grace@example.com"));

        app.sign_out().await;
        let response = app.sign_in("grace@example.com", USER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        // A plain user sees their settings but not user management.
        assert_eq!(app.get("/settings").await.status(), StatusCode::OK);
        let response = app.get("/settings/users").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Only owners and admins can manage users."));
        let response = app
            .submit(
                "/settings",
                "/settings/users",
                &[
                    ("first_name", "S"),
                    ("last_name", "N"),
                    ("email", "sneaky@example.com"),
                    ("password", "long enough password"),
                    ("role", "1"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn adding_a_user_checks_every_field() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        // The same email in another case is taken.
        let response = add_user(&app, "ADA@Example.com", "3").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="email-error">A user with this email already exists.</p>"#));
        assert!(page.contains(r#"value="Grace""#), "input kept");

        let response = add_user(&app, "grace@example.com", "9").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="role-error">Choose a role.</p>"#));
    })
    .await;
}

#[tokio::test]
async fn admins_cannot_create_owners_or_disable_them() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        add_user(&app, "admin@example.com", "2").await;
        app.sign_out().await;
        app.sign_in("admin@example.com", USER_PASSWORD).await;

        let response = add_user(&app, "owner2@example.com", "1").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Only an owner can add another owner."));

        let list = app.page("/settings/users").await;
        let owner_username = username_of(&list, "Ada Lovelace");
        let action = format!("/settings/users/{owner_username}/disable");
        let response = app.submit("/settings/users", &action, &[]).await;
        assert_eq!(location(&response), "/settings/users");
        let list = app.page("/settings/users").await;
        assert!(list.contains("Only an owner can change another owner."));
    })
    .await;
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_and_cannot_sign_in() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        add_user(&app, "grace@example.com", "3").await;
        let grace = app.new_browser();
        let signed_in =
            sign_in_with(&grace, &app.address, "grace@example.com", USER_PASSWORD).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            grace
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );

        let list = app.page("/settings/users").await;
        let action = format!(
            "/settings/users/{}/disable",
            username_of(&list, "Grace Hopper")
        );
        app.submit("/settings/users", &action, &[]).await;
        let list = app.page("/settings/users").await;
        assert!(list.contains("Grace Hopper is disabled."));

        assert_eq!(
            grace
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER
        );
        // Told why, but only once the password was right: a stranger learns nothing.
        let again = sign_in_with(&grace, &app.address, "grace@example.com", USER_PASSWORD).await;
        assert_eq!(again.status(), StatusCode::FORBIDDEN);
        assert!(again
            .text()
            .await
            .unwrap()
            .contains("Your account is disabled."));
        let guess = sign_in_with(
            &grace,
            &app.address,
            "grace@example.com",
            "not her password",
        )
        .await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
        assert!(!guess.text().await.unwrap().contains("disabled"));
        assert_eq!(
            grace
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER,
            "still signed out"
        );

        // Nobody disables themselves; the owner has no button for it and a crafted post fails.
        let action = format!("/settings/users/{}/disable", my_username(&app).await);
        app.submit("/settings/users", &action, &[]).await;
        assert!(app
            .page("/settings/users")
            .await
            .contains("You cannot disable your own account."));
        assert_eq!(
            app.get("/settings").await.status(),
            StatusCode::OK,
            "the owner is still enabled"
        );
    })
    .await;
}

#[tokio::test]
async fn the_users_list_is_paginated() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let first = app.page("/settings/users").await;
        assert!(
            !first.contains("?page=2"),
            "one user fits one page: no pager"
        );
        let beyond = app.page("/settings/users?page=5").await;
        assert!(!beyond.contains("<td>ada@example.com</td>"));
        assert!(beyond.contains("Previous"));
    })
    .await;
}

/// The username in the action of the row that shows `name`.
fn username_of(list: &str, name: &str) -> String {
    let row_start = list
        .find(&format!("<td>{name}</td>"))
        .unwrap_or_else(|| panic!("{name} listed"));
    let row = &list[row_start..];
    let marker = "/settings/users/";
    let start = row.find(marker).expect("the row has an action") + marker.len();
    row[start..].split('/').next().unwrap().to_owned()
}

/// The signed-in user's username, as the settings page shows it.
async fn my_username(app: &TestApp) -> String {
    let page = app.page("/settings").await;
    let start = page
        .find("<dt>Username</dt><dd><code>")
        .expect("username shown")
        + "<dt>Username</dt><dd><code>".len();
    page[start..].split('<').next().unwrap().to_owned()
}
