//! Paging: a trigger starts its service's escalation policy, each level emails the people it
//! reaches through a real SMTP server, the email's Acknowledge link works without signing in,
//! and nobody is paged after an acknowledgement.

use std::time::Duration;

use diesel::RunQueryDsl;
use klaxon::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::smtp::{Recipients, SmtpServer};
use crate::helpers::{
    act, add_user, api_integration_on, backends, claim_by_hand, create_api_key, create_service,
    csrf_token, default_team, fail_inserts_into, for_each_backend, for_each_backend_with,
    hold_the_writer, join, mail_stepped, mail_through, metric, page_with_policy, post_event, query,
    record_by_hand, spawn_klaxon, status_of, trigger, username_by_email, wait_for_page, Backend,
    TestApp, TestDatabase, OWNER_EMAIL, OWNER_PASSWORD, PUBLIC_URL,
};

const BOB_EMAIL: &str = "bob@example.com";

/// Makes the incident's waiting escalation level due now, as if its delay had passed.
async fn let_delay_pass(app: &TestApp) {
    query(app, |conn| {
        diesel::sql_query(
            "UPDATE escalation_steps SET due_at = CURRENT_TIMESTAMP WHERE state = 'pending'",
        )
        .execute(conn)
    })
    .await;
}

async fn pending_steps(app: &TestApp) -> i64 {
    query(app, |conn| {
        use diesel::dsl::count_star;
        use diesel::{ExpressionMethods, QueryDsl};
        use klaxon::db::schema::escalation_steps::dsl;
        dsl::escalation_steps
            .filter(dsl::state.eq("pending"))
            .select(count_star())
            .get_result(conn)
    })
    .await
}

/// The path of the Acknowledge link in the plain-text part.
fn ack_path(text: &str) -> String {
    let start = text
        .find(&format!("{PUBLIC_URL}/ack/"))
        .expect("an Acknowledge link");
    text[start + PUBLIC_URL.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A call to the API with the key `key`: its status and JSON body (null when it has none).
async fn api(
    app: &TestApp,
    key: &str,
    method: Method,
    path: String,
    body: Value,
) -> (StatusCode, Value) {
    let response = app
        .client
        .request(method, app.url(&path))
        .header("Authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

async fn with_team_of_two(app: &TestApp) -> String {
    app.create_owner().await;
    let response = add_user(app, ("Bob", "Builder"), BOB_EMAIL, OWNER_PASSWORD, "3").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    create_service(app, "Payments").await
}

/// The owner and Bob, a service paging them with `levels`, and how many emails the server had
/// before (the server serves every backend's run).
async fn paged_service(
    app: &TestApp,
    smtp: &SmtpServer,
    levels: &[(i64, &[&str])],
    repeat: i32,
) -> (String, usize) {
    let already = smtp.mails().len();
    let service = with_team_of_two(app).await;
    page_with_policy(app, &service, levels, repeat).await;
    (service, already)
}

#[tokio::test]
async fn a_trigger_emails_level_one_then_level_two_until_someone_acknowledges_from_the_email() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_through(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let (service, already) =
                paged_service(&app, smtp, &[(0, &[OWNER_EMAIL]), (10, &[BOB_EMAIL])], 0).await;
            let number = trigger(&app, &service, "Checkout is failing").await;

            let mail = smtp.wait_for(already + 1, Duration::from_secs(10)).await[already].clone();
            assert_eq!(mail.to, vec![OWNER_EMAIL.to_owned()]);
            assert_eq!(mail.from, "klaxon@localhost");
            assert_eq!(
                mail.subject(),
                format!("[Klaxon] #{number} Triggered: Checkout is failing (Payments)")
            );
            let text = mail.part("text/plain").expect("a plain-text part");
            let html = mail.part("text/html").expect("an HTML part");
            assert!(
                text.contains("Urgency:  High") && text.contains("Disk is filling up"),
                "{text}"
            );
            assert!(
                text.contains(&format!("{PUBLIC_URL}/incidents/{number}")),
                "{text}"
            );
            let ack = ack_path(&text);
            assert!(html.contains(&format!("{PUBLIC_URL}{ack}")), "{html}");

            let page = app.page(&format!("/incidents/{number}")).await;
            assert!(page.contains("Level 1: emailed Ada"), "{page}");
            assert!(page.contains("escalates to level 2"), "{page}");
            // The level's entry counts the email it sent in its fold.
            let page = wait_for_page(&app, number, "<summary>1 email sent</summary>").await;
            let level = &page[page.find(r#"<li class="tl-escalation""#).unwrap()..];
            assert!(
                level[..level.find("</li>").unwrap()].contains("<summary>1 email sent</summary>"),
                "{level}"
            );

            // Ten minutes later nobody has acknowledged: level 2 emails Bob.
            let_delay_pass(&app).await;
            let mail =
                smtp.wait_for(already + 2, Duration::from_secs(10)).await[already + 1].clone();
            assert_eq!(mail.to, vec![BOB_EMAIL.to_owned()]);
            assert_eq!(pending_steps(&app).await, 0, "the policy does not repeat");

            // Ada opens her link on her phone: not signed in, and opening changes nothing.
            let phone = app.new_browser();
            let confirm = phone.get(app.url(&ack)).send().await.unwrap();
            assert_eq!(confirm.status(), StatusCode::OK);
            let confirm = confirm.text().await.unwrap();
            assert!(confirm.contains("You acknowledge as Ada"), "{confirm}");
            assert_eq!(
                status_of(&app, number).await,
                1,
                "a GET acknowledges nothing"
            );
            let token = csrf_token(&confirm).expect("the button's form");
            let forged = format!("{}x", &ack[..ack.len() - 1]);
            let refused = phone
                .post(app.url(&forged))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(
                refused.status(),
                StatusCode::NOT_FOUND,
                "a link with another signature"
            );
            assert_eq!(status_of(&app, number).await, 1);
            let done = phone
                .post(app.url(&ack))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), StatusCode::OK);
            assert!(done
                .text()
                .await
                .unwrap()
                .contains("is acknowledged by Ada"));
            assert_eq!(status_of(&app, number).await, 2);
            let again = phone
                .post(app.url(&ack))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::CONFLICT);
            assert!(again.text().await.unwrap().contains("already used"));

            let page = app.page(&format!("/incidents/{number}")).await;
            assert!(page.contains("from email"), "{page}");
            assert!(page.contains("Stopped: acknowledged"), "{page}");

            // Resolving tells both people who were paged.
            act(&app, number, "resolve").await;
            let mails = smtp.wait_for(already + 4, Duration::from_secs(10)).await;
            let resolved: Vec<_> = mails[already + 2..]
                .iter()
                .map(|m| (m.to[0].clone(), m.subject()))
                .collect();
            for person in [OWNER_EMAIL, BOB_EMAIL] {
                assert!(
                    resolved.iter().any(|(to, subject)| to == person
                        && subject
                            == &format!(
                                "[Klaxon] #{number} Resolved: Checkout is failing (Payments)"
                            )),
                    "{resolved:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_first_level_without_delay_is_paged_by_the_triggers_own_transaction_or_not_at_all() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let (service, already) =
                paged_service(&app, smtp, &[(0, &[OWNER_EMAIL]), (10, &[BOB_EMAIL])], 0).await;
            let number = trigger(&app, &service, "Checkout is failing").await;
            // No worker has run yet: the trigger itself fired level 1 and queued its email.
            assert_eq!(fired_and_queued(&app).await, [(number, 1, 1)]);
            assert_eq!(pending_steps(&app).await, 1, "level 2 waits for its delay");
            let page = app.page(&format!("/incidents/{number}")).await;
            assert!(page.contains("Level 1: emailed Ada"), "{page}");
            // Only the notifier has work: one email, and no step for the escalation worker.
            assert_eq!(app.page_due().await, 1);
            assert_eq!(app.page_due().await, 0);
            let mail = smtp.wait_for(already + 1, Duration::from_secs(10)).await[already].clone();
            assert_eq!(mail.to, vec![OWNER_EMAIL.to_owned()]);

            // An email that cannot be queued takes the incident with it: nothing half-paged.
            let broken = fail_inserts_into(&app, "notifications", "notifications broken").await;
            let response = app
                .submit(
                    "/incidents/new",
                    "/incidents",
                    &[
                        ("service", service.as_str()),
                        ("title", "Never opened"),
                        ("summary", ""),
                        ("urgency", "1"),
                    ],
                )
                .await;
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(fired_and_queued(&app).await, [(number, 1, 1)]);
            assert_eq!(pending_steps(&app).await, 1);
            broken.lift(&app).await;
            let next = trigger(&app, &service, "Opened after all").await;
            assert_eq!(fired_and_queued(&app).await, [(number, 1, 1), (next, 1, 1)]);
            app.page_until_idle().await;
            smtp.wait_for(already + 2, Duration::from_secs(10)).await;
        }
    })
    .await;
}

/// Alerts that arrive together run as one batch of SQLite's writer, and the alerts that may open
/// incidents share a run whose emails are inserted when it ends: an acknowledgement or
/// resolution queued behind the trigger (it runs alone, after that run) must still cancel the
/// trigger's emails, and a resolution then owes nobody a "Resolved" email. (On PostgreSQL only
/// alerts that may open incidents queue in the writer; the others run on their own connection.)
#[tokio::test]
async fn an_alert_that_stops_paging_stops_the_emails_its_batch_queued() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            if app.backend() != Backend::Sqlite {
                return;
            }
            let (service, already) = paged_service(&app, smtp, &[(0, &[OWNER_EMAIL])], 0).await;
            let (_, events) = api_integration_on(&app, &service).await;
            // A first alert opens what the app opens once (connections, caches), so that the
            // held writer is what the next ones wait for.
            let warm_up = json!({"message": "Warm-up", "alert_type": "critical", "entity_id": "db-0"});
            assert_eq!(post_event(&app, &events, warm_up).await.0, StatusCode::CREATED);
            app.page_until_idle().await;
            let already = smtp.wait_for(already + 1, Duration::from_secs(10)).await.len();
            for (entity, ending, status) in [("db-1", "acknowledged", 2), ("db-2", "resolved", 3)] {
                let (release, held) = hold_the_writer(&app).await;
                let alert = |alert_type: &str| {
                    json!({"message": "Replica lag", "alert_type": alert_type, "entity_id": entity})
                };
                // The trigger queues up first, the alert that ends its paging behind it; both run
                // once the writer is free.
                let ((critical, opened), (_, ended), ()) = tokio::join!(
                    post_event(&app, &events, alert("critical")),
                    async {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        post_event(&app, &events, alert(ending)).await
                    },
                    async {
                        tokio::time::sleep(Duration::from_millis(1_500)).await;
                        let _ = release.send(());
                        held.done().await;
                    },
                );
                assert_eq!(critical, StatusCode::CREATED, "{opened}");
                let number = opened["incident"].as_i64().expect("an incident");
                assert_eq!(ended["incident"].as_i64(), Some(number), "{ended}");
                assert_eq!(status_of(&app, number).await, status);
                let page = app.page(&format!("/incidents/{number}")).await;
                assert!(page.contains(&format!("not sent: incident {ending}")), "{page}");
            }
            app.page_until_idle().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(smtp.mails().len(), already, "nobody is emailed");
        }
    })
    .await;
}

#[tokio::test]
async fn an_acknowledgement_stops_the_escalation_and_a_repeating_policy_starts_over() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let (service, already) = paged_service(&app, smtp, &[(0, &[OWNER_EMAIL])], 1).await;
            let first = trigger(&app, &service, "Queue is backing up").await;
            app.page_until_idle().await;
            smtp.wait_for(already + 1, Duration::from_secs(10)).await;
            // Nobody answers: after the pause the single level pages again, once.
            assert_eq!(pending_steps(&app).await, 1);
            let_delay_pass(&app).await;
            app.page_until_idle().await;
            let mails = smtp.wait_for(already + 2, Duration::from_secs(10)).await;
            assert!(mails[already + 1]
                .subject()
                .contains(&format!("#{first} Triggered")));
            assert_eq!(
                pending_steps(&app).await,
                0,
                "repeated once, as the policy says"
            );
            let page = app.page(&format!("/incidents/{first}")).await;
            assert!(page.contains("Level 1 (repeat 1): emailed Ada"), "{page}");

            // The second incident is acknowledged in the app before its repeat is due.
            let second = trigger(&app, &service, "Disk almost full").await;
            app.page_until_idle().await;
            smtp.wait_for(already + 3, Duration::from_secs(10)).await;
            act(&app, second, "acknowledge").await;
            assert_eq!(
                pending_steps(&app).await,
                0,
                "the acknowledgement cancelled the step"
            );
            let_delay_pass(&app).await;
            app.page_until_idle().await;
            assert_eq!(smtp.mails().len(), already + 3, "nothing more is sent");
        }
    })
    .await;
}

#[tokio::test]
async fn a_refusing_mail_server_fails_the_email_visibly_and_a_busy_one_is_retried() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let service = with_team_of_two(&app).await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;

            smtp.answer_recipients(Recipients::Refuse(550, "5.1.1 mailbox unavailable".into()));
            let refused = trigger(&app, &service, "Refused").await;
            app.page_until_idle().await;
            let page = wait_for_page(&app, refused, "could not send an email").await;
            assert!(page.contains("mailbox unavailable"), "{page}");
            assert!(
                page.contains(r#"<li class="tl-escalation tl-trouble""#)
                    && page.contains(">1 email failed</span>"),
                "the level that sent it says so: {page}"
            );
            let attempts = attempts_of(&app, refused).await;
            assert_eq!(
                attempts,
                vec![Some(550)],
                "a permanent refusal is not retried"
            );

            smtp.answer_recipients(Recipients::Refuse(451, "4.3.0 try again later".into()));
            let busy = trigger(&app, &service, "Busy").await;
            // The first try, then each retry as it comes due (at once, by the schedule).
            app.page_until_idle().await;
            wait_for_page(&app, busy, "could not send an email").await;
            let attempts = attempts_of(&app, busy).await;
            assert_eq!(
                attempts,
                vec![Some(451); 3],
                "the first try and the two retries"
            );
            smtp.answer_recipients(Recipients::Accept);
            let settings = app.page("/settings").await;
            assert!(!settings.contains("Email is not configured"), "{settings}");

            let metrics = app.page("/metrics").await;
            assert!(
                metrics
                    .contains(r#"klaxon_notifications_total{channel="email",outcome="failed"} 2"#),
                "{metrics}"
            );
            assert!(
                metrics
                    .contains(r#"klaxon_notifications_total{channel="email",outcome="retry"} 2"#),
                "{metrics}"
            );
        }
    })
    .await;
}

/// Emails that finish together are recorded in one transaction, as webhooks are: each
/// notification moves on as its own attempt ended, a failed one is on its incident's timeline,
/// and one whose lease another worker took in the meantime is left to that worker.
#[tokio::test]
async fn emails_recorded_together_move_on_only_the_notifications_still_leased() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_stepped(&smtp), |app| {
        let smtp = &smtp;
        async move {
            use klaxon::jobs::{Finished, JobKind};
            use klaxon::paging::EmailNotifications;
            let service = with_team_of_two(&app).await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL, BOB_EMAIL])], 0).await;
            trigger(&app, &service, "First").await;
            trigger(&app, &service, "Second").await;
            let sender = app.email_sender();
            app.leave_paging_pending();
            let db = app.db().await;
            let claimed =
                claim_by_hand(&db, &sender, &[("test:first", 3), ("test:second", 1)]).await;
            assert_eq!(claimed.len(), 4);
            let mut finished: Vec<Finished<EmailNotifications>> = Vec::new();
            for (place, (token, job)) in claimed.into_iter().enumerate() {
                smtp.answer_recipients(match place {
                    2 => Recipients::Refuse(550, "5.1.1 mailbox unavailable".into()),
                    _ => Recipients::Accept,
                });
                let done = sender.kind().run(&job).await;
                finished.push(Finished {
                    token: token.into(),
                    job,
                    done,
                });
            }
            smtp.answer_recipients(Recipients::Accept);
            let ids: Vec<i64> = finished.iter().map(|f| f.job.id).collect();
            let failed_incident = finished[2].job.incident.as_ref().unwrap().id;
            let taken = ids[1];
            query(&app, move |conn| {
                use diesel::{ExpressionMethods, QueryDsl};
                use klaxon::db::schema::notifications::dsl;
                diesel::update(dsl::notifications.find(taken))
                    .set(dsl::locked_by.eq("another:worker"))
                    .execute(conn)
            })
            .await;
            let held = record_by_hand(&db, &sender, finished).await;
            assert_eq!(held, [true, false, true, true]);

            type Row = (i64, String, i32, Option<String>);
            let rows: Vec<Row> = query(&app, |conn| {
                use diesel::QueryDsl;
                use klaxon::db::schema::notifications::dsl;
                dsl::notifications
                    .select((dsl::id, dsl::state, dsl::attempt_count, dsl::locked_by))
                    .load(conn)
            })
            .await;
            let row = |id: i64| rows.iter().find(|row| row.0 == id).unwrap().clone();
            let states: Vec<(String, i32, Option<String>)> = ids
                .iter()
                .map(|id| {
                    let (_, state, count, locked_by) = row(*id);
                    (state, count, locked_by)
                })
                .collect();
            let ended = |state: &str| (state.to_owned(), 1, None);
            assert_eq!(
                states,
                [
                    ended("succeeded"),
                    ("pending".to_owned(), 0, Some("another:worker".to_owned())),
                    ended("failed"),
                    ended("succeeded"),
                ]
            );
            let (attempts, failures): (i64, Vec<i64>) = query(&app, move |conn| {
                use diesel::{ExpressionMethods, QueryDsl};
                use klaxon::db::schema::{notification_attempts, timeline_entries};
                let attempts = notification_attempts::table
                    .filter(notification_attempts::notification_id.eq_any(&ids))
                    .count()
                    .get_result(conn)?;
                let failures = timeline_entries::table
                    .filter(timeline_entries::kind.eq("notification_failed"))
                    .select(timeline_entries::incident_id)
                    .load(conn)?;
                Ok((attempts, failures))
            })
            .await;
            assert_eq!(attempts, 4, "every attempt is kept");
            assert_eq!(
                failures,
                [failed_incident],
                "the failed email is on the timeline"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn without_smtp_a_notification_is_recorded_as_not_sent() {
    for_each_backend(|app| async move {
        let service = with_team_of_two(&app).await;
        page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
        let not_sent = r#"klaxon_notifications_total{channel="email",outcome="not_sent"}"#;
        let number = trigger(&app, &service, "Nobody hears this").await;
        // The trigger's own transaction recorded it: no notifier had to claim it first.
        let page = app.page(&format!("/incidents/{number}")).await;
        assert!(
            page.contains("Level 1: Ada Lovelace not emailed: email is not configured"),
            "{page}"
        );
        assert!(page.contains("not sent: email is not configured"), "{page}");
        assert_eq!(attempts_of(&app, number).await, [], "no attempt was made");
        assert_eq!(metric(&app.address, not_sent).await, Some(1));
        assert_eq!(
            notifications_of(&app, number).await,
            [("triggered".to_owned(), "failed".to_owned())]
        );
        // The "Resolved" email is recorded alike.
        act(&app, number, "resolve").await;
        assert_eq!(metric(&app.address, not_sent).await, Some(2));
        assert_eq!(
            notifications_of(&app, number).await,
            [
                ("triggered".to_owned(), "failed".to_owned()),
                ("resolved".to_owned(), "failed".to_owned())
            ]
        );
        app.page_until_idle().await;
        assert_eq!(attempts_of(&app, number).await, [], "nor later");
        let settings = app.page("/settings").await;
        assert!(settings.contains("Email is not configured"), "{settings}");

        // The page's live updates follow every email attempt, not only timeline entries.
        let changes = format!("/incidents/{number}/changes");
        let version =
            |response: reqwest::Response| response.headers()["etag"].to_str().unwrap().to_owned();
        let before = version(app.get(&changes).await);
        query(&app, |conn| {
            diesel::sql_query("UPDATE notifications SET attempt_count = attempt_count + 1")
                .execute(conn)
        })
        .await;
        assert_ne!(version(app.get(&changes).await), before);
    })
    .await;
}

/// The rules each of the incidents' escalations froze, in the order they started.
async fn frozen_rules_of_escalations(app: &TestApp) -> Vec<String> {
    query(app, |conn| {
        use diesel::QueryDsl;
        use klaxon::db::schema::escalations::dsl;
        dsl::escalations
            .order(dsl::id)
            .select(dsl::rules)
            .load(conn)
    })
    .await
}

#[tokio::test]
async fn a_trigger_copies_the_policys_frozen_rules_or_freezes_them_when_none_are_stored() {
    crate::helpers::for_each_backend(|app| async move {
        let service = with_team_of_two(&app).await;
        page_with_policy(
            &app,
            &service,
            &[(0, &[OWNER_EMAIL]), (10, &[BOB_EMAIL, OWNER_EMAIL])],
            0,
        )
        .await;
        trigger(&app, &service, "Copied").await;
        // A policy whose frozen rules were never computed (as before the upgrade's start filled
        // them) is frozen by the trigger: the escalation gets the same rules.
        query(&app, |conn| {
            diesel::sql_query("UPDATE escalation_policies SET frozen_rules = NULL").execute(conn)
        })
        .await;
        trigger(&app, &service, "Frozen on the spot").await;
        // Text that does not parse is not copied either.
        query(&app, |conn| {
            diesel::sql_query("UPDATE escalation_policies SET frozen_rules = '[{\"delay\"'")
                .execute(conn)
        })
        .await;
        trigger(&app, &service, "Frozen again").await;
        let rules = frozen_rules_of_escalations(&app).await;
        assert_eq!(rules.len(), 3, "{rules:?}");
        assert_eq!(rules[0], rules[1]);
        assert_eq!(rules[0], rules[2]);
        let frozen: Value = serde_json::from_str(&rules[0]).unwrap();
        assert_eq!(frozen[0]["delay"], 0, "{frozen}");
        assert_eq!(frozen[0]["targets"][0]["name"], "Ada Lovelace", "{frozen}");
        assert_eq!(frozen[1]["delay"], 10, "{frozen}");
        assert_eq!(frozen[1]["targets"][0]["name"], "Bob Builder", "{frozen}");
        assert_eq!(
            frozen[1]["targets"].as_array().unwrap().len(),
            2,
            "{frozen}"
        );
        assert_eq!(
            pending_steps(&app).await,
            3,
            "each escalation's first level is queued"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_mail_server_is_retried_then_fails() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    for_each_backend_with(
        move |config: &mut Config| {
            config.smtp_url = Some(url.clone());
            config.email_retry_schedule = vec![0];
        },
        |app| async move {
            let service = with_team_of_two(&app).await;
            page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
            let number = trigger(&app, &service, "Relay down").await;
            app.page_until_idle().await;
            let page = wait_for_page(&app, number, "could not send an email").await;
            assert!(page.contains("failed"), "{page}");
            assert_eq!(attempts_of(&app, number).await, vec![None, None]);
        },
    )
    .await;
}

/// The SMTP reply codes of the incident's notification attempts, in order.
/// The incident's notifications in the order queued: (kind, state).
async fn notifications_of(app: &TestApp, number: i64) -> Vec<(String, String)> {
    query(app, move |conn| {
        use diesel::{ExpressionMethods, QueryDsl};
        use klaxon::db::schema::{incidents, notifications};
        notifications::table
            .inner_join(incidents::table)
            .filter(incidents::incident_number.eq(number))
            .order(notifications::id)
            .select((notifications::kind, notifications::state))
            .load(conn)
    })
    .await
}

async fn attempts_of(app: &TestApp, number: i64) -> Vec<Option<i32>> {
    query(app, move |conn| {
        use diesel::{ExpressionMethods, QueryDsl};
        use klaxon::db::schema::{incidents, notification_attempts, notifications};
        notification_attempts::table
            .inner_join(notifications::table.inner_join(incidents::table))
            .filter(incidents::incident_number.eq(number))
            .order(notification_attempts::id)
            .select(notification_attempts::reply_code)
            .load(conn)
    })
    .await
}

#[tokio::test]
async fn a_schedule_level_emails_whoever_is_on_call_in_it_when_it_fires() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_through(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let already = smtp.mails().len();
            let service = with_team_of_two(&app).await;
            let team = default_team(&app).await;
            join(&app, &team, "Bob Builder", "2").await;
            let key = create_api_key(&app, "Paging test").await;
            let call = |method, path, body| api(&app, &key, method, path, body);
            let bob = username_by_email(&app, BOB_EMAIL).await;
            // Bob has been on call since yesterday, all day, every day.
            let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
            let (status, schedule) = call(
                Method::POST,
                format!("/api/account/teams/{team}/schedules/"),
                json!({"name": "Primary", "time_zone": "Europe/Berlin", "layers": [{
                    "name": "Everyone", "shift_length": 604800, "rotation_start_time": yesterday.to_string(),
                    "restriction_type": 0, "restrictions": [], "users": [{"user": bob, "position": 1}],
                }]}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{schedule}");
            let (status, policy) = call(
                Method::POST,
                format!("/api/account/teams/{team}/escalation_policies/"),
                json!({"name": "Primary first", "rules": [{"delay": 0, "position": 0, "targets": [
                    {"target_type": 1, "target_id": schedule["unique_id"]},
                ]}]}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{policy}");
            let (status, changed) = call(
                Method::PATCH,
                format!("/api/account/teams/{team}/services/{service}/"),
                json!({"escalation_policy": policy["unique_id"]}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{changed}");

            let number = trigger(&app, &service, "Search is slow").await;
            let mail = smtp.wait_for(already + 1, Duration::from_secs(10)).await[already].clone();
            assert_eq!(mail.to, vec![BOB_EMAIL.to_owned()], "the person on call, not the owner");
            let page = app.page(&format!("/incidents/{number}")).await;
            assert!(page.contains("Level 1: emailed Bob Builder"), "{page}");
        }
    })
    .await;
}

/// A policy edited while an escalation runs: the escalation keeps the rules it started with
/// (its level 2 still reaches the person that level named at the trigger, even after that level
/// is gone), and the next incident follows the edited policy.
#[tokio::test]
async fn editing_a_policy_leaves_a_running_escalation_its_original_rules() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_through(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let already = smtp.mails().len();
            let service = with_team_of_two(&app).await;
            let team = default_team(&app).await;
            join(&app, &team, "Bob Builder", "2").await;
            let key = create_api_key(&app, "Paging test").await;
            let call = |method, path, body| api(&app, &key, method, path, body);
            let ada = username_by_email(&app, OWNER_EMAIL).await;
            let bob = username_by_email(&app, BOB_EMAIL).await;
            let rule = |position: usize, delay: i64, who: &str| {
                json!({"position": position, "delay": delay,
                       "targets": [{"target_type": 2, "target_id": who}]})
            };
            let (status, policy) = call(
                Method::POST,
                format!("/api/account/teams/{team}/escalation_policies/"),
                json!({"name": "Checkout on call", "rules": [rule(0, 0, &ada), rule(1, 10, &bob)]}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{policy}");
            let policy_uid = policy["unique_id"].as_str().unwrap().to_owned();
            let policy = format!("/api/account/teams/{team}/escalation_policies/{policy_uid}/");
            let (status, changed) = call(
                Method::PATCH,
                format!("/api/account/teams/{team}/services/{service}/"),
                json!({"escalation_policy": policy_uid}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{changed}");
            // Who each level of the policy reaches, as the API lists it.
            let levels = |body: &Value| -> Vec<(i64, String)> {
                body["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let target = r["targets"][0]["target_id"].as_str().unwrap().to_owned();
                        (r["delay"].as_i64().unwrap(), target)
                    })
                    .collect()
            };

            let first = trigger(&app, &service, "Checkout is failing").await;
            let mails = smtp.wait_for(already + 1, Duration::from_secs(10)).await;
            assert_eq!(mails[already].to, vec![OWNER_EMAIL.to_owned()]);
            wait_for_page(&app, first, "escalates to level 2").await;

            // While level 2 waits for Bob, a manager points it at Ada instead, after 30 minutes.
            let (status, edited) = call(
                Method::PUT,
                policy.clone(),
                json!({"name": "Checkout on call", "rules": [rule(0, 0, &ada), rule(1, 30, &ada)]}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{edited}");
            let (_, read) = call(Method::GET, policy.clone(), Value::Null).await;
            assert_eq!(levels(&read), vec![(0, ada.clone()), (30, ada.clone())]);

            // Level 2 of the running escalation still emails Bob, the person it started with.
            let_delay_pass(&app).await;
            let mails = smtp.wait_for(already + 2, Duration::from_secs(10)).await;
            assert_eq!(mails[already + 1].to, vec![BOB_EMAIL.to_owned()]);
            wait_for_page(&app, first, "Level 2: emailed Bob Builder").await;
            assert_eq!(pending_steps(&app).await, 0);

            // A new incident follows the edited policy: Ada at once, and Ada again at level 2.
            let second = trigger(&app, &service, "Search is slow").await;
            let mails = smtp.wait_for(already + 3, Duration::from_secs(10)).await;
            assert_eq!(mails[already + 2].to, vec![OWNER_EMAIL.to_owned()]);
            let page = wait_for_page(&app, second, "escalates to level 2").await;
            assert!(page.contains("Level 1: emailed Ada"), "{page}");

            // Now level 2 is removed altogether while the second escalation waits for it.
            let (status, edited) = call(
                Method::PUT,
                policy.clone(),
                json!({"name": "Checkout on call", "rules": [rule(0, 0, &bob)]}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{edited}");
            let (_, read) = call(Method::GET, policy.clone(), Value::Null).await;
            assert_eq!(levels(&read), vec![(0, bob.clone())]);
            let_delay_pass(&app).await;
            let mails = smtp.wait_for(already + 4, Duration::from_secs(10)).await;
            assert_eq!(mails[already + 3].to, vec![OWNER_EMAIL.to_owned()]);
            assert!(mails[already + 3]
                .subject()
                .contains(&format!("#{second} Triggered")));
            wait_for_page(&app, second, "Level 2: emailed Ada").await;
            assert_eq!(pending_steps(&app).await, 0);
            // Nobody else was paged: Bob, whom the edited policy names, was not.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(smtp.mails().len(), already + 4);
        }
    })
    .await;
}

/// The real binary, paging through `smtp`; killed when dropped.
struct Instance(std::process::Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_instance(database_url: &str, smtp: &SmtpServer) -> (Instance, String) {
    let url = smtp.url();
    let (child, address) = spawn_klaxon(
        database_url,
        &[
            ("KLAXON_SMTP_URL", url.as_str()),
            ("KLAXON_EMAIL_RETRY_SCHEDULE", "1"),
        ],
    );
    (Instance(child), address)
}

/// Waits until no escalation step and no email is pending or leased: what instances in other
/// processes had to do is done and recorded.
async fn wait_until_settled(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let unsettled: i64 = query(app, |conn| {
            use diesel::sql_types::BigInt;
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = BigInt)]
                count: i64,
            }
            let row: Count = diesel::sql_query(
                "SELECT (SELECT COUNT(*) FROM escalation_steps WHERE state = 'pending') + \
                 (SELECT COUNT(*) FROM notifications WHERE state = 'pending') AS count",
            )
            .get_result(conn)?;
            Ok(row.count)
        })
        .await;
        if unsettled == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unsettled} steps or emails still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Per incident number: how many of its steps fired and how many emails it queued, each
/// naming the fired step that queued it.
async fn fired_and_queued(app: &TestApp) -> Vec<(i64, i64, i64)> {
    query(app, |conn| {
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            number: i64,
            #[diesel(sql_type = BigInt)]
            fired: i64,
            #[diesel(sql_type = BigInt)]
            queued: i64,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT i.incident_number AS number, \
             (SELECT COUNT(*) FROM escalation_steps s WHERE s.incident_id = i.id AND s.state = 'fired') AS fired, \
             (SELECT COUNT(*) FROM notifications n JOIN escalation_steps s \
               ON s.id = n.escalation_step_id AND s.incident_id = i.id AND s.state = 'fired' \
               WHERE n.incident_id = i.id) AS queued \
             FROM incidents i ORDER BY i.incident_number",
        )
        .load(conn)?;
        Ok(rows.into_iter().map(|r| (r.number, r.fired, r.queued)).collect())
    })
    .await
}

#[tokio::test]
async fn two_instances_fire_each_step_once() {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("skipped: several instances need PostgreSQL (set KLAXON_TEST_POSTGRES_URL)");
        return;
    }
    let smtp = SmtpServer::start().await;
    let database = TestDatabase::create(Backend::Postgres);
    let (_a, address_a) = start_instance(&database.url, &smtp);
    let (_b, address_b) = start_instance(&database.url, &smtp);
    let app = TestApp::attach(address_a, database.url.clone());
    let service = with_team_of_two(&app).await;
    page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL]), (5, &[BOB_EMAIL])], 0).await;
    // People trigger through both instances at once.
    let other = TestApp::attach(address_b, database.url.clone());
    other.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    const INCIDENTS: usize = 20;
    for n in 0..INCIDENTS / 2 {
        let (title_a, title_b) = (format!("A{n}"), format!("B{n}"));
        let (first, second) = tokio::join!(
            trigger(&app, &service, &title_a),
            trigger(&other, &service, &title_b)
        );
        assert!(first > 0 && second > 0);
    }
    smtp.wait_for(INCIDENTS, Duration::from_secs(20)).await;
    let_delay_pass(&app).await;
    smtp.wait_for(2 * INCIDENTS, Duration::from_secs(20)).await;
    // The instances run in their own processes: once every step has fired and every email
    // is recorded, nothing is left that either could send again.
    wait_until_settled(&app).await;
    assert_eq!(smtp.mails().len(), 2 * INCIDENTS, "no email twice");
    for (number, fired, queued) in fired_and_queued(&app).await {
        assert_eq!(
            (fired, queued),
            (2, 2),
            "incident #{number}: each level once"
        );
    }
}

#[tokio::test]
async fn after_a_kill_every_due_step_fires_exactly_once() {
    for backend in backends() {
        let smtp = SmtpServer::start().await;
        let database = TestDatabase::create(backend);
        let (first, address) = start_instance(&database.url, &smtp);
        let app = TestApp::attach(address, database.url.clone());
        let service = with_team_of_two(&app).await;
        page_with_policy(&app, &service, &[(0, &[OWNER_EMAIL])], 0).await;
        const INCIDENTS: usize = 15;
        for n in 0..INCIDENTS {
            trigger(&app, &service, &format!("Crash {n}")).await;
        }
        // SIGKILL while steps are firing and emails are going out.
        drop(first);
        let (_second, address) = start_instance(&database.url, &smtp);
        let app = TestApp::attach(address, database.url.clone());
        // Steps and emails the killed process had leased run again once their leases end.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let rows = fired_and_queued(&app).await;
            if rows
                .iter()
                .all(|&(_, fired, queued)| fired == 1 && queued == 1)
                && smtp.mails().len() >= INCIDENTS
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let rows = fired_and_queued(&app).await;
        assert_eq!(rows.len(), INCIDENTS);
        for (number, fired, queued) in rows {
            assert_eq!((fired, queued), (1, 1), "{backend:?}: incident #{number}");
            let subject = format!("#{number} Triggered");
            let sent = smtp
                .mails()
                .iter()
                .filter(|m| m.subject().contains(&subject))
                .count();
            // At least once; twice only if the kill came between the server's acceptance and
            // its record (docs/paging.md).
            assert!(
                (1..=2).contains(&sent),
                "{backend:?}: #{number} emailed {sent} times"
            );
        }
    }
}

#[tokio::test]
async fn escalate_now_pages_the_next_level_and_reassign_pages_someone_else_instead() {
    let smtp = SmtpServer::start().await;
    for_each_backend_with(mail_through(&smtp), |app| {
        let smtp = &smtp;
        async move {
            let (service, already) =
                paged_service(&app, smtp, &[(0, &[OWNER_EMAIL]), (30, &[BOB_EMAIL])], 0).await;
            let number = trigger(&app, &service, "Payments timing out").await;
            smtp.wait_for(already + 1, Duration::from_secs(10)).await;
            let page = format!("/incidents/{number}");

            // Level 2 waits 30 minutes; Escalate now pages Bob at once.
            let response = app.submit(&page, &format!("{page}/escalate"), &[]).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let mail =
                smtp.wait_for(already + 2, Duration::from_secs(10)).await[already + 1].clone();
            assert_eq!(mail.to, vec![BOB_EMAIL.to_owned()]);
            let shown = app.page(&page).await;
            assert!(shown.contains("Escalated now"), "{shown}");
            let refused = app.submit(&page, &format!("{page}/escalate"), &[]).await;
            assert_eq!(refused.status(), StatusCode::SEE_OTHER);
            assert!(
                app.page(&page).await.contains("no level left"),
                "nothing left to escalate to"
            );

            // A choice that is no one is refused next to the field.
            let response = app
                .submit(&page, &format!("{page}/reassign"), &[("to", "user:nobody")])
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let form = response.text().await.unwrap();
            assert!(form.contains(r#"id="to-error""#), "{form}");

            // Reassigned to Ada: she is paged at once, and is the assignee.
            let ada = username_by_email(&app, OWNER_EMAIL).await;
            let response = app
                .submit(
                    &page,
                    &format!("{page}/reassign"),
                    &[("to", &format!("user:{ada}"))],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let mail =
                smtp.wait_for(already + 3, Duration::from_secs(10)).await[already + 2].clone();
            assert_eq!(mail.to, vec![OWNER_EMAIL.to_owned()]);
            let shown = app.page(&page).await;
            assert!(shown.contains("Reassigned to Ada"), "{shown}");
            assert!(
                shown.contains("Reassigned to Ada Lovelace"),
                "the escalation is named: {shown}"
            );

            // Acknowledged, it cannot be reassigned: nothing pages an acknowledged incident.
            act(&app, number, "acknowledge").await;
            let response = app
                .submit(
                    &page,
                    &format!("{page}/reassign"),
                    &[("to", &format!("user:{ada}"))],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            assert!(app
                .page(&page)
                .await
                .contains("only a triggered incident is paged"));
        }
    })
    .await;
}
