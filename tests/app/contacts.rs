//! Who gets what: contact methods confirmed by a link, notification rules that paging follows
//! (urgency, delay), delayed emails cancelled by an acknowledgement, "Resolved" emails only for
//! those who want them, and the profile's forms refusing bad input next to the field.

use std::time::Duration;

use diesel::RunQueryDsl;
use klaxon::config::Config;
use reqwest::StatusCode;

use crate::helpers::smtp::{Mail, SmtpServer};
use crate::helpers::{
    act, add_user, create_service, csrf_token, for_each_backend, for_each_backend_with, location,
    mail_stepped, mail_through, option_value, page_with_policy, query, signed_in_browser,
    submit_with, trigger_with_urgency, username_by_email, wait_for_page, TestApp, OWNER_EMAIL,
    PUBLIC_URL, USER_PASSWORD,
};

const PHONE: &str = "ada.phone@example.com";
const HIGH: &str = "1";
const LOW: &str = "0";

fn mail_fast(smtp: &SmtpServer) -> impl Fn(&mut Config) {
    let mail = mail_through(smtp);
    move |config: &mut Config| {
        mail(config);
        // Delayed emails are found by polling once they are due.
        config.webhook_poll_secs = 1;
    }
}

/// The mails to `address` since `since`, waiting until there are `count`.
async fn mails_to(smtp: &SmtpServer, since: usize, address: &str, count: usize) -> Vec<Mail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mails: Vec<Mail> = smtp.mails()[since..]
            .iter()
            .filter(|mail| mail.to.iter().any(|to| to == address))
            .cloned()
            .collect();
        if mails.len() >= count {
            return mails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} mails to {address} never came: {mails:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The path of the confirmation link in a confirmation email.
fn confirm_path(mail: &Mail) -> String {
    let text = mail.part("text/plain").expect("a plain-text part");
    let start = text
        .find(&format!("{PUBLIC_URL}/contact-methods/confirm/"))
        .unwrap_or_else(|| panic!("a confirmation link: {text}"));
    text[start + PUBLIC_URL.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn add_address(app: &TestApp, address: &str) -> reqwest::Response {
    app.submit(
        "/settings",
        "/settings/contact-methods",
        &[("address", address)],
    )
    .await
}

async fn add_rule(app: &TestApp, address: &str, urgency: &str, delay: &str) -> reqwest::Response {
    let settings = app.page("/settings").await;
    // The address shows elsewhere on the page too: the rule form's option is the one.
    let method = option_value(&settings, &format!("{address}</option>"));
    app.submit(
        "/settings",
        "/settings/notification-rules",
        &[
            ("contact_method", method.as_str()),
            ("urgency", urgency),
            ("delay", delay),
        ],
    )
    .await
}

/// (address, kind, state, last error) of every notification, oldest first.
async fn notifications(app: &TestApp) -> Vec<(String, String, String, Option<String>)> {
    query(app, |conn| {
        use diesel::QueryDsl;
        use klaxon::db::schema::notifications::dsl;
        dsl::notifications
            .order(dsl::id)
            .select((dsl::address, dsl::kind, dsl::state, dsl::last_error))
            .load(conn)
    })
    .await
}

/// Makes every waiting email due now, as if its rule's delay had passed.
async fn let_delays_pass(app: &TestApp) {
    query(app, |conn| {
        diesel::sql_query(
            "UPDATE notifications SET next_attempt_at = CURRENT_TIMESTAMP WHERE state = 'pending'",
        )
        .execute(conn)
    })
    .await;
}

#[tokio::test]
async fn a_confirmed_second_address_is_paged_after_its_delay_unless_someone_acknowledges() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let since = smtp.mails().len();
            app.create_owner().await;
            let settings = app.page("/settings").await;
            assert!(
                settings.contains(&format!("Any urgency: email {OWNER_EMAIL} at once")),
                "a new user's default rule: {settings}"
            );
            assert!(settings.contains("account email"), "{settings}");

            // A second address: stored unconfirmed, and its link is emailed to it.
            let added = add_address(&app, PHONE).await;
            assert_eq!(added.status(), StatusCode::SEE_OTHER);
            app.page_until_idle().await;
            let mail = mails_to(smtp, since, PHONE, 1).await.remove(0);
            assert_eq!(mail.subject(), "[Klaxon] Confirm your email address");
            let link = confirm_path(&mail);
            let html = mail.part("text/html").expect("an HTML part");
            assert!(html.contains(&format!("{PUBLIC_URL}{link}")), "{html}");
            let settings = app.page("/settings").await;
            assert!(settings.contains("not confirmed"), "{settings}");
            assert!(
                !settings.contains(&format!(">{PHONE}</option>")),
                "rules cannot use it yet: {settings}"
            );

            // Opened on the phone, not signed in: the page asks, and changes nothing.
            let phone = app.new_browser();
            let page = phone.get(app.url(&link)).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            let page = page.text().await.unwrap();
            assert!(page.contains("Confirm this email address?"), "{page}");
            assert!(page.contains(PHONE), "{page}");
            assert!(
                app.page("/settings").await.contains("not confirmed"),
                "a GET confirms nothing"
            );
            let token = csrf_token(&page).expect("the Confirm button");
            let done = phone
                .post(app.url(&link))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), StatusCode::OK);
            assert!(done.text().await.unwrap().contains("is confirmed"));
            assert!(!app.page("/settings").await.contains("not confirmed"));
            let again = phone
                .post(app.url(&link))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::CONFLICT);
            assert!(again.text().await.unwrap().contains("already used"));

            // High urgency: the phone too, five minutes after the account email.
            let rule = add_rule(&app, PHONE, "high", "5").await;
            assert_eq!(rule.status(), StatusCode::SEE_OTHER);
            let settings = app.page("/settings").await;
            assert!(
                settings.contains(&format!("High urgency: email {PHONE} after 5 minutes")),
                "{settings}"
            );

            let service = create_service(&app, "Payments").await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
            let first = trigger_with_urgency(&app, &service, "Checkout is failing", HIGH).await;
            app.page_until_idle().await;
            mails_to(smtp, since, OWNER_EMAIL, 1).await;
            let page =
                wait_for_page(&app, first, "will email Ada Lovelace again after 5 min").await;
            assert!(page.contains("Level 1: emailed Ada Lovelace"), "{page}");
            let waiting: Vec<_> = notifications(&app)
                .await
                .into_iter()
                .filter(|(to, kind, _, _)| to == PHONE && kind == "triggered")
                .collect();
            assert_eq!(waiting.len(), 1, "{waiting:?}");
            assert_eq!(waiting[0].2, "pending", "not due for five minutes");

            // Five minutes later nobody has acknowledged: the phone gets it, with a working
            // Acknowledge link.
            let_delays_pass(&app).await;
            app.page_until_idle().await;
            let mail = mails_to(smtp, since, PHONE, 2).await.remove(1);
            assert!(
                mail.subject()
                    .contains(&format!("#{first} Triggered: Checkout is failing")),
                "{}",
                mail.subject()
            );
            let text = mail.part("text/plain").unwrap();
            let start = text
                .find(&format!("{PUBLIC_URL}/ack/"))
                .expect("an Acknowledge link");
            let ack = text[start + PUBLIC_URL.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            let phone = app.new_browser();
            let page = phone
                .get(app.url(&ack))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(page.contains("You acknowledge as Ada"), "{page}");
            let token = csrf_token(&page).unwrap();
            let done = phone
                .post(app.url(&ack))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), StatusCode::OK);

            // Acknowledged before the delay: the waiting email is cancelled, never sent.
            let second = trigger_with_urgency(&app, &service, "Queue is backing up", HIGH).await;
            app.page_until_idle().await;
            mails_to(smtp, since, OWNER_EMAIL, 2).await;
            wait_for_page(&app, second, "will email Ada Lovelace again").await;
            let page = act(&app, second, "acknowledge").await;
            assert!(page.contains("not sent: incident acknowledged"), "{page}");
            let cancelled: Vec<_> = notifications(&app)
                .await
                .into_iter()
                .filter(|(_, _, state, _)| state == "cancelled")
                .collect();
            assert_eq!(cancelled.len(), 1, "{cancelled:?}");
            assert_eq!(cancelled[0].0, PHONE);
            assert_eq!(
                cancelled[0].3.as_deref(),
                Some("not sent: incident acknowledged")
            );
            let_delays_pass(&app).await;
            app.page_until_idle().await;
            assert_eq!(
                mails_to(smtp, since, PHONE, 2).await.len(),
                2,
                "the cancelled email is never sent"
            );

            // Resolving tells Ada at both addresses she was paged at for the first incident, once
            // each; the cancelled email's address is not told about the second.
            act(&app, first, "resolve").await;
            act(&app, second, "resolve").await;
            app.page_until_idle().await;
            let resolved = mails_to(smtp, since, PHONE, 3).await;
            assert!(resolved[2]
                .subject()
                .contains(&format!("#{first} Resolved")));
            let account = mails_to(smtp, since, OWNER_EMAIL, 4).await;
            let subjects: Vec<String> = account[2..].iter().map(Mail::subject).collect();
            assert!(
                subjects
                    .iter()
                    .any(|s| s.contains(&format!("#{first} Resolved")))
                    && subjects
                        .iter()
                        .any(|s| s.contains(&format!("#{second} Resolved"))),
                "{subjects:?}"
            );
            assert_eq!(mails_to(smtp, since, PHONE, 3).await.len(), 3);
        }
    })
    .await;
}

#[tokio::test]
async fn rules_decide_who_is_paged_and_who_hears_of_the_resolution() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let since = smtp.mails().len();
            app.create_owner().await;
            // Only high urgency, at once; and no "Resolved" emails.
            let high = add_rule(&app, OWNER_EMAIL, "high", "0").await;
            assert_eq!(high.status(), StatusCode::SEE_OTHER);
            let settings = app.page("/settings").await;
            let any = settings
                .split("/settings/notification-rules/")
                .nth(1)
                .and_then(|rest| rest.split("/remove").next())
                .expect("the default rule's Remove button")
                .to_owned();
            assert!(settings.contains("Any urgency: email"), "{settings}");
            let removed = app
                .submit(
                    "/settings",
                    &format!("/settings/notification-rules/{any}/remove"),
                    &[],
                )
                .await;
            assert_eq!(removed.status(), StatusCode::SEE_OTHER);
            let off = app
                .submit("/settings", "/settings/resolved-emails", &[])
                .await;
            assert_eq!(off.status(), StatusCode::SEE_OTHER);
            let settings = app.page("/settings").await;
            assert!(!settings.contains("Any urgency: email"), "{settings}");
            assert!(
                !settings.contains(r#"id="notify_on_resolve" checked"#),
                "{settings}"
            );

            // An address never confirmed is never emailed, and no rule can use it.
            add_address(&app, PHONE).await;
            app.page_until_idle().await;
            mails_to(smtp, since, PHONE, 1).await;
            let refused = app
                .submit(
                    "/settings",
                    "/settings/notification-rules",
                    &[
                        ("contact_method", "not-a-confirmed-method"),
                        ("urgency", "any"),
                        ("delay", "0"),
                    ],
                )
                .await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
            let page = refused.text().await.unwrap();
            assert!(
                page.contains(r#"id="contact_method-error""#)
                    && page.contains("Choose one of your confirmed contact methods."),
                "{page}"
            );
            assert!(
                !page.contains(&format!(r#">{PHONE}</option>"#)),
                "only confirmed addresses are offered: {page}"
            );

            let service = create_service(&app, "Payments").await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
            let low = trigger_with_urgency(&app, &service, "Slow reports", LOW).await;
            app.page_until_idle().await;
            let page =
                wait_for_page(&app, low, "Ada Lovelace has no notification rule for low urgency")
                    .await;
            assert!(!page.contains("emailed Ada"), "{page}");

            let urgent = trigger_with_urgency(&app, &service, "Checkout is failing", HIGH).await;
            app.page_until_idle().await;
            let mails = mails_to(smtp, since, OWNER_EMAIL, 1).await;
            assert!(mails[0].subject().contains(&format!("#{urgent} Triggered")));
            act(&app, urgent, "resolve").await;
            act(&app, low, "resolve").await;
            app.page_until_idle().await;
            let mails: Vec<(Vec<String>, String)> = smtp.mails()[since..]
                .iter()
                .map(|mail| (mail.to.clone(), mail.subject()))
                .collect();
            assert_eq!(
                mails.len(),
                2,
                "the confirmation and one page; no Resolved email, nothing for low urgency: {mails:?}"
            );
            assert!(mails
                .iter()
                .filter(|(to, _)| to[0] == PHONE)
                .all(|(_, subject)| subject == "[Klaxon] Confirm your email address"));
        }
    })
    .await;
}

#[tokio::test]
async fn confirmation_links_expire_and_the_profile_refuses_bad_input_next_to_the_field() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_fast(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let since = smtp.mails().len();
            // An address of this run's own: the two backends' runs share the SMTP server, and
            // a late email of the first must not be read as the second's.
            let phone = format!("ada.phone.{}@example.com", uuid::Uuid::new_v4().simple());
            let phone = phone.as_str();
            app.create_owner().await;
            add_address(&app, phone).await;
            let first = confirm_path(&mails_to(smtp, since, phone, 1).await[0]);

            // A day and more later the link has expired; a new one replaces it.
            query(&app, |conn| {
                diesel::sql_query(
                    "UPDATE contact_methods SET confirmation_sent_at = '2020-01-01 00:00:00' \
                     WHERE is_account = FALSE",
                )
                .execute(conn)
            })
            .await;
            let expired = app.get(&first).await;
            assert_eq!(expired.status(), StatusCode::CONFLICT);
            assert!(expired.text().await.unwrap().contains("expired"));
            let settings = app.page("/settings").await;
            let method = settings
                .split("/settings/contact-methods/")
                .nth(1)
                .and_then(|rest| rest.split("/resend").next())
                .expect("the Send again button")
                .to_owned();
            let resent = app
                .submit(
                    "/settings",
                    &format!("/settings/contact-methods/{method}/resend"),
                    &[],
                )
                .await;
            assert_eq!(resent.status(), StatusCode::SEE_OTHER);
            let second = confirm_path(&mails_to(smtp, since, phone, 2).await[1]);
            assert_ne!(first, second);
            let replaced = app.get(&first).await;
            assert_eq!(replaced.status(), StatusCode::NOT_FOUND);
            assert!(replaced.text().await.unwrap().contains("not valid"));
            assert_eq!(app.get(&second).await.status(), StatusCode::OK);
            let soon = app
                .submit(
                    "/settings",
                    &format!("/settings/contact-methods/{method}/resend"),
                    &[],
                )
                .await;
            assert_eq!(soon.status(), StatusCode::SEE_OTHER);
            assert!(app
                .page("/settings")
                .await
                .contains("less than a minute ago"));

            // Bad input: a message next to the field, the input kept, a 400.
            let bad = add_address(&app, "not-an-email").await;
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
            let page = bad.text().await.unwrap();
            assert!(page.contains(r#"id="address-error""#), "{page}");
            assert!(page.contains(r#"value="not-an-email""#), "{page}");
            let twice = add_address(&app, &OWNER_EMAIL.to_uppercase()).await;
            assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
            assert!(twice.text().await.unwrap().contains("already one of your"));
            for delay in ["-1", "5000", "soon"] {
                let bad = add_rule(&app, OWNER_EMAIL, "high", delay).await;
                assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "delay {delay}");
                let page = bad.text().await.unwrap();
                assert!(
                    page.contains(r#"id="delay-error""#)
                        && page.contains("Enter a whole number of minutes from 0 to 1440."),
                    "{page}"
                );
                assert!(page.contains(&format!(r#"value="{delay}""#)), "{page}");
            }
            let bad = add_rule(&app, OWNER_EMAIL, "urgent", "0").await;
            assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
            assert!(bad.text().await.unwrap().contains(r#"id="urgency-error""#));

            // The account email stays.
            let settings = app.page("/settings").await;
            let account = query(&app, |conn| {
                use diesel::{ExpressionMethods, QueryDsl};
                use klaxon::db::schema::contact_methods::dsl;
                dsl::contact_methods
                    .filter(dsl::is_account.eq(true))
                    .select(dsl::unique_id)
                    .get_result::<String>(conn)
            })
            .await;
            assert!(!settings.contains(&format!("/settings/contact-methods/{account}/remove")));
            let kept = app
                .submit(
                    "/settings",
                    &format!("/settings/contact-methods/{account}/remove"),
                    &[],
                )
                .await;
            assert_eq!(kept.status(), StatusCode::SEE_OTHER);
            assert!(app
                .page("/settings")
                .await
                .contains("Your account email cannot be removed."));

            // Someone else: their own defaults, and none of my methods or rules.
            let added = add_user(
                &app,
                ("Bob", "Builder"),
                "bob@example.com",
                USER_PASSWORD,
                "3",
            )
            .await;
            assert_eq!(added.status(), StatusCode::SEE_OTHER);
            let bob = signed_in_browser(&app, "bob@example.com", USER_PASSWORD).await;
            let bobs = bob
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                bobs.contains("Any urgency: email bob@example.com at once"),
                "{bobs}"
            );
            assert!(!bobs.contains(phone));
            let rule = app
                .page("/settings")
                .await
                .split("/settings/notification-rules/")
                .nth(1)
                .and_then(|rest| rest.split("/remove").next())
                .unwrap()
                .to_owned();
            for action in [
                format!("/settings/contact-methods/{method}/remove"),
                format!("/settings/contact-methods/{method}/resend"),
                format!("/settings/notification-rules/{rule}/remove"),
            ] {
                let response = submit_with(&bob, &app.address, "/settings", &action, &[]).await;
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
            }
            assert!(app.page("/settings").await.contains(phone));

            let removed = app
                .submit(
                    "/settings",
                    &format!("/settings/contact-methods/{method}/remove"),
                    &[],
                )
                .await;
            assert_eq!(location(&removed), "/settings#contact-methods");
            let settings = app.page("/settings").await;
            assert!(
                settings.contains(&format!("Removed {phone}.")),
                "{settings}"
            );
            assert_eq!(app.get(&second).await.status(), StatusCode::NOT_FOUND);
        }
    })
    .await;
}

#[tokio::test]
async fn without_smtp_the_profile_says_the_confirmation_email_cannot_be_sent() {
    for_each_backend(|app| async move {
        app.create_owner().await;
        let added = add_address(&app, PHONE).await;
        assert_eq!(added.status(), StatusCode::SEE_OTHER);
        let settings = app.page("/settings").await;
        assert!(
            settings.contains("its confirmation email cannot be sent"),
            "{settings}"
        );
        assert!(settings.contains("not confirmed"), "{settings}");
        // The notifier records the email as not sent, and the profile says so.
        app.page_until_idle().await;
        let response = app.get("/settings").await;
        assert_eq!(response.status(), StatusCode::OK);
        let settings = response.text().await.unwrap();
        assert!(
            settings.contains(
                "The confirmation email could not be sent (not sent: email is not configured).",
            ),
            "{settings}"
        );
    })
    .await;
}

#[tokio::test]
async fn reassigning_cancels_the_emails_still_waiting_for_those_paged_before() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let since = smtp.mails().len();
            app.create_owner().await;
            // Ada is emailed at once (the default) and again after five minutes.
            let rule = add_rule(&app, OWNER_EMAIL, "any", "5").await;
            assert_eq!(rule.status(), StatusCode::SEE_OTHER);
            let service = create_service(&app, "Payments").await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
            let number = trigger_with_urgency(&app, &service, "Checkout is failing", HIGH).await;
            app.page_until_idle().await;
            mails_to(smtp, since, OWNER_EMAIL, 1).await;
            wait_for_page(&app, number, "will email Ada Lovelace again after 5 min").await;

            let ada = username_by_email(&app, OWNER_EMAIL).await;
            let page = format!("/incidents/{number}");
            let response = app
                .submit(
                    &page,
                    &format!("{page}/reassign"),
                    &[("to", &format!("user:{ada}"))],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let cancelled: Vec<_> = notifications(&app)
                .await
                .into_iter()
                .filter(|(_, _, state, _)| state == "cancelled")
                .collect();
            assert_eq!(cancelled.len(), 1, "{cancelled:?}");
            assert_eq!(
                cancelled[0].3.as_deref(),
                Some("not sent: incident reassigned")
            );
            // The reassignment pages Ada afresh, by her rules (at once and after five minutes);
            // the email the first escalation left waiting never goes.
            app.page_until_idle().await;
            mails_to(smtp, since, OWNER_EMAIL, 2).await;
            let_delays_pass(&app).await;
            app.page_until_idle().await;
            mails_to(smtp, since, OWNER_EMAIL, 3).await;
            let rows = notifications(&app).await;
            let states: Vec<&str> = rows.iter().map(|(_, _, state, _)| state.as_str()).collect();
            assert_eq!(
                states,
                ["succeeded", "cancelled", "succeeded", "succeeded"],
                "{rows:?}"
            );
            assert_eq!(
                smtp.mails()[since..].len(),
                3,
                "none for the cancelled email"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn removing_an_address_cancels_the_emails_still_waiting_for_it() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let since = smtp.mails().len();
            app.create_owner().await;
            add_address(&app, PHONE).await;
            app.page_until_idle().await;
            let link = confirm_path(&mails_to(smtp, since, PHONE, 1).await[0]);
            let phone = app.new_browser();
            let page = phone.get(app.url(&link)).send().await.unwrap();
            let token = csrf_token(&page.text().await.unwrap()).unwrap();
            let confirmed = phone
                .post(app.url(&link))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(confirmed.status(), StatusCode::OK);
            add_rule(&app, PHONE, "any", "5").await;

            let service = create_service(&app, "Payments").await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
            let incident = trigger_with_urgency(&app, &service, "Checkout is failing", HIGH).await;
            app.page_until_idle().await;
            wait_for_page(&app, incident, "will email Ada Lovelace again after 5 min").await;

            let method: String = query(&app, |conn| {
                use diesel::{ExpressionMethods, QueryDsl};
                use klaxon::db::schema::contact_methods::dsl;
                dsl::contact_methods
                    .filter(dsl::address.eq(PHONE))
                    .select(dsl::unique_id)
                    .get_result(conn)
            })
            .await;
            let removed = app
                .submit(
                    "/settings",
                    &format!("/settings/contact-methods/{method}/remove"),
                    &[],
                )
                .await;
            assert_eq!(removed.status(), StatusCode::SEE_OTHER);
            let settings = app.page("/settings").await;
            assert!(
                settings.contains(&format!(
                    "Removed {PHONE} and the notification rule that used it; the email waiting \
                     to be sent to it was cancelled."
                )),
                "{settings}"
            );
            let to_phone: Vec<_> = notifications(&app)
                .await
                .into_iter()
                .filter(|(to, kind, _, _)| to == PHONE && kind == "triggered")
                .collect();
            assert_eq!(
                to_phone,
                [(
                    PHONE.to_owned(),
                    "triggered".to_owned(),
                    "cancelled".to_owned(),
                    Some("not sent: the address was removed".to_owned())
                )]
            );
            let page = app.page(&format!("/incidents/{incident}")).await;
            assert!(page.contains("not sent: the address was removed"), "{page}");

            // Once the delay has passed, still nothing goes to the removed address.
            let_delays_pass(&app).await;
            app.page_until_idle().await;
            assert_eq!(
                mails_to(smtp, since, PHONE, 1).await.len(),
                1,
                "only the confirmation"
            );
        }
    })
    .await;
}
