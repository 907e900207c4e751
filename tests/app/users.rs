//! Owners and admins add and disable users, and reset their passwords; others cannot. Everyone
//! changes their own name, email and time zone on their profile.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use klaxon::db::schema::{contact_methods, notification_rules, users};
use reqwest::StatusCode;

use crate::helpers::{
    self, for_each_backend, location, query, sign_in_with, signed_in_browser, TestApp, OWNER_EMAIL,
    OWNER_PASSWORD, USER_PASSWORD,
};

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
    let marker = r#"<dt>Username</dt><dd class="wrap-anywhere"><code>"#;
    let start = page.find(marker).expect("username shown") + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn people_change_their_name_and_the_top_bar_follows() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let response = app
            .submit(
                "/settings",
                "/settings/name",
                &[("first_name", " Augusta "), ("last_name", "King")],
            )
            .await;
        assert_eq!(location(&response), "/settings");
        let page = app.page("/settings").await;
        assert!(page.contains("Your name is now Augusta King."), "{page}");
        assert!(page.contains(&format!(
            r#"<span class="who" title="{OWNER_EMAIL}">Augusta</span>"#
        )));
        assert!(page.contains("<dt>Name</dt><dd>Augusta King</dd>"));

        // A blank name is refused next to its field, with what was typed kept.
        let response = app
            .submit(
                "/settings",
                "/settings/name",
                &[("first_name", "  "), ("last_name", "Byron")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="first_name-error">This field is required.</p>"#));
        assert!(page.contains(r#"value="Byron""#), "input kept");
        assert!(app
            .page("/settings")
            .await
            .contains("<dt>Name</dt><dd>Augusta King</dd>"));
    })
    .await;
}

/// The owner's contact methods: (address, is_account, confirmed), and their rules: (address,
/// urgency, delay).
async fn owner_contacts(app: &TestApp) -> (Vec<(String, bool, bool)>, Vec<(String, String, i32)>) {
    query(app, |conn| {
        let methods = contact_methods::table
            .filter(contact_methods::user_id.eq(1))
            .order(contact_methods::id)
            .select((
                contact_methods::address,
                contact_methods::is_account,
                contact_methods::confirmed_at.is_not_null(),
            ))
            .load(conn)?;
        let rules = notification_rules::table
            .inner_join(contact_methods::table)
            .filter(notification_rules::user_id.eq(1))
            .order((
                notification_rules::urgency,
                notification_rules::delay_minutes,
            ))
            .select((
                contact_methods::address,
                notification_rules::urgency,
                notification_rules::delay_minutes,
            ))
            .load(conn)?;
        Ok((methods, rules))
    })
    .await
}

async fn change_email(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.submit(
        "/settings",
        "/settings/email",
        &[("email", email), ("email_password", password)],
    )
    .await
}

#[tokio::test]
async fn changing_ones_email_takes_the_current_password_and_moves_sign_in_and_paging() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        // A second address of hers, confirmed, with two rules: one the account email's default
        // rule already has, one of its own.
        const WORK: &str = "ada.work@example.com";
        app.submit(
            "/settings",
            "/settings/contact-methods",
            &[("address", WORK)],
        )
        .await;
        let work_id: String = query(&app, |conn| {
            diesel::update(contact_methods::table.filter(contact_methods::address.eq(WORK)))
                .set(contact_methods::confirmed_at.eq(Some(klaxon::db::now())))
                .execute(conn)?;
            contact_methods::table
                .filter(contact_methods::address.eq(WORK))
                .select(contact_methods::unique_id)
                .get_result(conn)
        })
        .await;
        for (urgency, delay) in [("high", "5"), ("any", "0")] {
            let response = app
                .submit(
                    "/settings",
                    "/settings/notification-rules",
                    &[
                        ("contact_method", work_id.as_str()),
                        ("urgency", urgency),
                        ("delay", delay),
                    ],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
        }

        // A wrong password changes nothing, and says so next to the password.
        let response = change_email(&app, "Ada.Work@example.com", "not my password").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(
            page.contains(r#"id="email_password-error">This is not your current password.</p>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"value="Ada.Work@example.com""#),
            "input kept"
        );
        assert!(app
            .page("/settings")
            .await
            .contains(&format!("<dt>Email</dt><dd>{OWNER_EMAIL}</dd>")));

        // A malformed address is refused before the password is checked.
        let response = change_email(&app, "not an address", OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="email-error">"#));

        // The right one changes it: the account email becomes her work address, which she had
        // confirmed, so that method folds into the account's with its own rule (the duplicate
        // of the default rule goes).
        let response = change_email(&app, "Ada.Work@example.com", OWNER_PASSWORD).await;
        assert_eq!(location(&response), "/settings");
        let page = app.page("/settings").await;
        assert!(
            page.contains("Your email is now Ada.Work@example.com"),
            "{page}"
        );
        let (methods, rules) = owner_contacts(&app).await;
        assert_eq!(
            methods,
            vec![("Ada.Work@example.com".to_owned(), true, true)],
            "one method, the account's, confirmed"
        );
        assert_eq!(
            rules,
            vec![
                ("Ada.Work@example.com".to_owned(), "any".to_owned(), 0),
                ("Ada.Work@example.com".to_owned(), "high".to_owned(), 5),
            ]
        );

        // She signs in with the new address (in any case), no longer with the old one.
        app.sign_out().await;
        let old = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_ne!(old.status(), StatusCode::SEE_OTHER, "the old email fails");
        let new = app.sign_in("ada.work@example.com", OWNER_PASSWORD).await;
        assert_eq!(
            new.status(),
            StatusCode::SEE_OTHER,
            "the new email signs in"
        );

        // An address of no other method simply replaces the account email's.
        let response = change_email(&app, "lovelace@example.com", OWNER_PASSWORD).await;
        assert_eq!(location(&response), "/settings");
        let (methods, _) = owner_contacts(&app).await;
        assert_eq!(
            methods,
            vec![("lovelace@example.com".to_owned(), true, true)]
        );
    })
    .await;
}

#[tokio::test]
async fn an_email_another_account_has_is_refused_without_naming_it() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        add_user(&app, "grace@example.com", "3").await;

        // With the wrong password, nothing is said of the address.
        let response = change_email(&app, "grace@example.com", "not my password").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="email_password-error">"#));
        assert!(!page.contains(r#"id="email-error">"#), "{page}");

        // With the right one, a neutral refusal, whatever the case.
        let response = change_email(&app, " GRACE@example.com ", OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(
            page.contains(r#"id="email-error">This email cannot be used.</p>"#),
            "{page}"
        );
        assert!(!page.contains("already exists"));
        let emails: Vec<String> = query(&app, |conn| {
            users::table
                .order(users::id)
                .select(users::email)
                .load(conn)
        })
        .await;
        assert_eq!(
            emails,
            vec![OWNER_EMAIL, "grace@example.com"],
            "nothing changed"
        );
        let (methods, _) = owner_contacts(&app).await;
        assert_eq!(methods, vec![(OWNER_EMAIL.to_owned(), true, true)]);
    })
    .await;
}

#[tokio::test]
async fn a_time_zone_from_the_list_is_saved_and_another_refused() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let page = app.page("/settings").await;
        assert!(
            page.contains("<dt>Time zone</dt><dd>UTC (none chosen)</dd>"),
            "UTC at first (no browser said its own)"
        );
        assert!(page.contains(r#"<option value="" selected>Automatic"#));

        let response = app
            .submit(
                "/settings",
                "/settings/time-zone",
                &[("time_zone", "Europe/Berlin")],
            )
            .await;
        assert_eq!(location(&response), "/settings");
        let page = app.page("/settings").await;
        assert!(page.contains("Your time zone is now Europe/Berlin."));
        assert!(page.contains("<dt>Time zone</dt><dd>Europe/Berlin</dd>"));
        assert!(page.contains("<option selected>Europe/Berlin</option>"));

        for bad in ["Mars/Olympus_Mons", "europe/berlin"] {
            let response = app
                .submit("/settings", "/settings/time-zone", &[("time_zone", bad)])
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
            let page = response.text().await.unwrap();
            assert!(page.contains(r#"id="time_zone-error">Choose a time zone from the list.</p>"#));
        }
        let stored: String = query(&app, |conn| {
            users::table
                .find(1)
                .select(users::time_zone)
                .get_result(conn)
        })
        .await;
        assert_eq!(stored, "Europe/Berlin");

        // Automatic (empty) forgets the choice.
        app.submit("/settings", "/settings/time-zone", &[("time_zone", "")])
            .await;
        let page = app.page("/settings").await;
        assert!(page.contains("<dt>Time zone</dt><dd>UTC (none chosen)</dd>"));
        assert!(page.contains("Pages now show times in your browser"));
    })
    .await;
}

#[tokio::test]
async fn an_owner_resets_a_users_password_and_every_session_of_theirs_ends() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        add_user(&app, "grace@example.com", "3").await;
        let grace = signed_in_browser(&app, "grace@example.com", USER_PASSWORD).await;
        let list = app.page("/settings/users").await;
        let username = username_of(&list, "Grace Hopper");
        let reset = format!("/settings/users/{username}/password");
        assert!(list.contains(&format!(r#"href="{reset}""#)));
        assert_eq!(
            list.matches(">Reset password</a>").count(),
            1,
            "offered for Grace, not for the owner herself"
        );

        // Checked for strength like any other password.
        let response = app
            .submit(&reset, &reset, &[("new_password", "password1234")])
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="new_password-error">This password is too easy to guess"#));
        assert_eq!(
            grace
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK,
            "a refused reset ends nothing"
        );

        const NEW: &str = "velvet comet harbour 41";
        let response = app.submit(&reset, &reset, &[("new_password", NEW)]).await;
        assert_eq!(location(&response), "/settings/users");
        assert!(app
            .page("/settings/users")
            .await
            .contains("Grace Hopper has a new password and was signed out everywhere."));
        assert_eq!(
            grace
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER,
            "her session ended"
        );
        let old = sign_in_with(&grace, &app.address, "grace@example.com", USER_PASSWORD).await;
        assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
        let new = sign_in_with(&grace, &app.address, "grace@example.com", NEW).await;
        assert_eq!(new.status(), StatusCode::SEE_OTHER);

        // Nobody resets their own this way: the profile asks for the current password.
        let own = format!("/settings/users/{}/password", my_username(&app).await);
        let response = app.get(&own).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("Change your own password under Settings"));
        let response = app
            .submit("/settings", &own, &[("new_password", NEW)])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // The owner's password is unchanged.
        signed_in_browser(&app, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(
            app.get("/settings/users/nobody/password").await.status(),
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn guesses_at_the_password_through_the_email_form_count_like_sign_ins() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        for _ in 0..10 {
            let response = change_email(&app, "ada.new@example.com", "a wrong guess").await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        // The limit is reached: even the right password is not checked now, here or at sign-in.
        let response = change_email(&app, "ada.new@example.com", OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let page = response.text().await.unwrap();
        assert!(
            page.contains(r#"id="email_password-error">Not checked: too many failed sign-ins"#),
            "{page}"
        );
        let stranger = app.new_browser();
        let response = sign_in_with(&stranger, &app.address, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(app
            .page("/settings")
            .await
            .contains(&format!("<dt>Email</dt><dd>{OWNER_EMAIL}</dd>")));
    })
    .await;
}
