//! Paging set-ups: an app that mails through the test SMTP server, with its paging workers on
//! or stepped by the test, and a service whose escalation policy pages chosen people.

use std::time::Duration;

use diesel::RunQueryDsl;
use klaxon::config::Config;

use super::smtp::SmtpServer;
use super::{query, TestApp};

pub const PUBLIC_URL: &str = "http://klaxon.test";

/// Settings that email through `smtp`, with the paging workers on.
pub fn mail_through(smtp: &SmtpServer) -> impl Fn(&mut Config) {
    let url = smtp.url();
    move |config: &mut Config| {
        config.smtp_url = Some(url.clone());
        config.paging_worker = true;
        config.public_url = PUBLIC_URL.to_owned();
        config.email_retry_schedule = vec![0, 0];
    }
}

/// Settings that email through `smtp`, with the paging workers off: the test steps them with
/// `TestApp::page_due` / `page_until_idle`, and nothing is paged until it does.
pub fn mail_stepped(smtp: &SmtpServer) -> impl Fn(&mut Config) {
    let mail = mail_through(smtp);
    move |config: &mut Config| {
        mail(config);
        config.paging_worker = false;
    }
}

/// Gives the service a policy whose levels email these people (by email address) after these
/// delays in minutes, written directly: the policy pages are tested on their own.
pub async fn page_with_policy(
    app: &TestApp,
    service: &str,
    levels: &[(i64, &[&str])],
    repeat: i32,
) {
    let (service, levels) = (
        service.to_owned(),
        levels
            .iter()
            .map(|(delay, people)| (*delay, people.iter().map(|p| p.to_string()).collect()))
            .collect::<Vec<(i64, Vec<String>)>>(),
    );
    query(app, move |conn| {
        let policy = uuid::Uuid::new_v4();
        diesel::sql_query(format!(
            "INSERT INTO escalation_policies (unique_id, team_id, name, repeat_policy, created_at) \
             SELECT '{policy}', team_id, 'On call', {repeat}, CURRENT_TIMESTAMP FROM services \
             WHERE unique_id = '{service}'"
        ))
        .execute(conn)?;
        for (position, (delay, people)) in levels.iter().enumerate() {
            let rule = uuid::Uuid::new_v4();
            diesel::sql_query(format!(
                "INSERT INTO escalation_rules (unique_id, policy_id, position, delay) \
                 SELECT '{rule}', id, {position}, {delay} FROM escalation_policies \
                 WHERE unique_id = '{policy}'"
            ))
            .execute(conn)?;
            for email in people {
                diesel::sql_query(format!(
                    "INSERT INTO escalation_targets (rule_id, target_type, user_id) \
                     SELECT r.id, 2, u.id FROM escalation_rules r, users u \
                     WHERE r.unique_id = '{rule}' AND u.email = '{email}'"
                ))
                .execute(conn)?;
            }
        }
        diesel::sql_query(format!(
            "UPDATE services SET escalation_policy_id = \
             (SELECT id FROM escalation_policies WHERE unique_id = '{policy}') \
             WHERE unique_id = '{service}'"
        ))
        .execute(conn)?;
        // The policy keeps its rules frozen, as every change through the app leaves it.
        let policy_id: i64 = {
            use diesel::{ExpressionMethods, QueryDsl};
            use klaxon::db::schema::escalation_policies::dsl;
            dsl::escalation_policies
                .filter(dsl::unique_id.eq(policy.to_string()))
                .select(dsl::id)
                .get_result(conn)?
        };
        klaxon::domain::incidents::escalation::refreeze_policy(conn, policy_id)
    })
    .await;
}

/// Reloads the incident's page until it shows `text`.
pub async fn wait_for_page(app: &TestApp, number: i64, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = app.page(&format!("/incidents/{number}")).await;
        if page.contains(text) {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{text:?} never showed: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
