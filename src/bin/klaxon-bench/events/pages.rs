//! The pages a responder opens during a storm, timed on a service with many open incidents:
//! the incidents list (its default open view and its filters), an incident page, the service
//! page, the services list with its counts, and the polls that keep the pages current; as the
//! owner and as a member of the service's team, whose pages filter by team.

use std::time::Instant;

use anyhow::Context;

use super::load::{alert_body, num, post_alert};
use super::stage::{seed_open_incidents, Stage};
use super::Bench;
use crate::timing::time_requests;
use crate::{signed_in, signed_in_as, Browser};

/// Requests of each page; the median and p95 are reported.
const REQUESTS: usize = 50;

const MEMBER_EMAIL: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member benchmark password";

pub(super) async fn pages(bench: &mut Bench, stage: &mut Stage) -> anyhow::Result<()> {
    let k = bench.args.open_incidents;
    println!(
        "pages ({}): a service with {k} open incidents; each page requested {REQUESTS} times \
         in a row",
        bench.backend
    );
    let owner = signed_in(stage.base()).await?;
    add_team_member(&owner, stage.service()).await?;
    let seeding = Instant::now();
    seed_open_incidents(stage, k).await?;
    stage.restart(&bench.args.server_log)?;
    println!(
        "  {k} open incidents added in {:.1} s (then ANALYZE and a server restart)",
        seeding.elapsed().as_secs_f64()
    );
    // An incident of the storm opened through the Events API: its page has a timeline and a
    // webhook delivery, as a responder would find it.
    let (number, created) = post_alert(
        &bench.http,
        &stage.events_url(),
        alert_body("critical", "pages-fresh"),
    )
    .await?;
    let number = number
        .filter(|_| created)
        .context("the alert opened no incident")?;
    let owner = signed_in(stage.base()).await?;
    let member = signed_in_as(stage.base(), MEMBER_EMAIL, MEMBER_PASSWORD).await?;
    let service = stage.service().to_owned();
    let paths = [
        "/incidents".to_owned(),
        format!("/incidents?service={service}"),
        "/incidents?urgency=high".to_owned(),
        "/incidents?urgency=low".to_owned(),
        "/incidents?status=triggered".to_owned(),
        "/incidents?status=resolved".to_owned(),
        "/incidents?status=all".to_owned(),
        "/incidents?page=100".to_owned(),
        "/incidents/changes".to_owned(),
        format!("/incidents/{number}"),
        format!("/incidents/{number}/changes"),
        format!("/services/{service}"),
        "/services".to_owned(),
    ];
    for (who, browser) in [("owner", &owner), ("team member", &member)] {
        for path in &paths {
            let (p50, p95) = time_page(browser, path).await?;
            let shown = path.replace(&service, "{service}");
            let shown = shown.replace(&format!("/{number}"), "/{n}");
            println!("  {who}: GET {shown}: p50 {p50:.1} ms, p95 {p95:.1} ms");
            bench.page_rows.push(format!(
                "| `{shown}` | {who} | {} | {} | {p50:.1} / {p95:.1} ms |",
                bench.backend,
                num(k)
            ));
        }
    }
    Ok(())
}

/// Median and p95 of `REQUESTS` requests of a page, in ms; every answer must be 200 or 304.
async fn time_page(browser: &Browser, path: &str) -> anyhow::Result<(f64, f64)> {
    let latency = time_requests(&format!("GET {path}"), 0, REQUESTS, || {
        browser.get_status(path)
    })
    .await?;
    Ok((latency.p50, latency.p95))
}

/// The owner adds an account and makes it a member of the service's team.
async fn add_team_member(owner: &Browser, service: &str) -> anyhow::Result<()> {
    owner.get("/settings/users/new").await?;
    owner
        .post(
            "/settings/users",
            &[
                ("first_name", "Mem"),
                ("last_name", "Ber"),
                ("email", MEMBER_EMAIL),
                ("password", MEMBER_PASSWORD),
                ("role", "3"),
            ],
        )
        .await?;
    let service_page = owner.get(&format!("/services/{service}/edit")).await?;
    let team = crate::field(&service_page, "<option value=")
        .context("the service's team")?
        .to_owned();
    let team_page = format!("/teams/{team}");
    let page = owner.get(&team_page).await?;
    let end = page
        .find(">Mem Ber (")
        .context("the new account is offered on the team's page")?;
    let start = page[..end].rfind("value=\"").context("its username")? + "value=\"".len();
    let username = page[start..end].trim_end_matches('"').to_owned();
    owner
        .post(
            &format!("{team_page}/members"),
            &[("username", username.as_str()), ("role", "2")],
        )
        .await?;
    Ok(())
}
