//! `klaxon-bench paging`: escalations and their emails under load. Each workload runs a fresh
//! `klaxon` (paging worker on, `KLAXON_SMTP_URL` at the bench's own SMTP sink, `sink.rs`) on a
//! fresh database, set up as the Events API workloads are (owner, service, API integration,
//! Outgoing Webhooks to the bench's receiver), then a second user joins the service's team and,
//! through the JSON API, a policy whose first level emails both people becomes the service's.
//!
//! - **burst**: `--incidents` critical alerts for distinct entities, `--concurrency` in flight:
//!   each opens an incident whose escalation emails two people. Reported: trigger (alert sent)
//!   to email accepted by the sink, p50 / p95 / p99, matched by the subject's incident number;
//!   emails per second; the time until the last email.
//! - **overhead**: the incident path with and without escalation in one sitting: a storm of
//!   `--alerts` alerts on the service with the policy, on the same with the server's paging
//!   worker off (what the trigger itself costs), and on one whose policy was set to `null`,
//!   `--rounds` times in alternating order, each on a fresh database. Reported: alerts
//!   per second, request p50 / p99, server CPU per alert (with the emails sent, where there are).

mod sink;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::api::{member_username, Api};
use crate::events::load::{
    alert_body, closed_loop, num, start_receiver, thousands, wait_for_count, wait_for_hooks,
    BodyFn, Cpu, Done, Schedule, SharedHooks, Slices, STALL,
};
use crate::events::stage::{Server, Stage};
use crate::{percentile, PASSWORD};
use sink::{Arrival, Sink};

#[derive(clap::Args, Debug)]
pub struct PagingArgs {
    /// Workload to run; `all` runs both.
    #[arg(long, value_enum, default_value_t = PagingWorkload::All)]
    workload: PagingWorkload,
    /// Incidents opened at once in the burst; each escalation emails two people.
    #[arg(long, default_value_t = 1_000)]
    incidents: usize,
    /// Alerts of each storm in the overhead comparison.
    #[arg(long, default_value_t = 20_000)]
    alerts: usize,
    /// Storms with and without a policy in the overhead comparison, in alternating order.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// A closed loop sends no more alerts after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
    /// The server's log filter (`KLAXON_LOG`); its logs are read and dropped.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// A PostgreSQL server where each workload creates a database of its own (as
    /// `klaxon-bench events --database-url`); fresh SQLite files without it.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PagingWorkload {
    Burst,
    Overhead,
    All,
}

const SECOND_EMAIL: &str = "second@example.com";

/// Everything the workloads share across the run.
struct Run<'a> {
    args: &'a PagingArgs,
    dir: &'a Path,
    hooks: SharedHooks,
    receiver: String,
    http: reqwest::Client,
    backend: &'static str,
    burst_rows: Vec<String>,
    storm_rows: Vec<String>,
}

pub async fn run(args: PagingArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.incidents > 0 && args.alerts > 0,
        "--incidents and --alerts must be at least 1"
    );
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let dir = std::env::temp_dir().join(format!("klaxon-bench-paging-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hooks: SharedHooks = Arc::default();
    let mut run = Run {
        args: &args,
        dir: &dir,
        receiver: start_receiver(hooks.clone())?,
        hooks,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        backend: if args.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        burst_rows: Vec::new(),
        storm_rows: Vec::new(),
    };
    let mut result = Ok(());
    if args.workload != PagingWorkload::Overhead {
        result = burst(&mut run).await.context("burst");
    }
    if result.is_ok() && args.workload != PagingWorkload::Burst {
        for round in 0..args.rounds.max(1) {
            // Alternating order, so that neither variant always runs on a warmer machine.
            let mut order = [
                Variant::Policy,
                Variant::PolicyWorkerOff,
                Variant::PolicyNoSmtp,
                Variant::NoPolicy,
            ];
            if round % 2 == 1 {
                order.reverse();
            }
            for variant in order {
                result = storm(&mut run, variant, round).await.context("overhead");
                if result.is_err() {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_tables(&run);
    result
}

/// The service of an overhead storm.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// A policy emailing two people at level 1.
    Policy,
    /// The same policy, the server's paging worker off: escalations and their first steps are
    /// written with each trigger, nothing fires them.
    PolicyWorkerOff,
    /// The same policy on a server without an SMTP server (a fresh install): each email is
    /// recorded as not sent.
    PolicyNoSmtp,
    /// `escalation_policy` null.
    NoPolicy,
}

impl Variant {
    fn describe(self) -> &'static str {
        match self {
            Variant::Policy => "policy emailing two people",
            Variant::PolicyWorkerOff => "that policy, paging worker off",
            Variant::PolicyNoSmtp => "that policy, no SMTP server",
            Variant::NoPolicy => "no policy",
        }
    }

    fn database(self) -> &'static str {
        match self {
            Variant::Policy => "paging-policy",
            Variant::PolicyWorkerOff => "paging-policy-idle",
            Variant::PolicyNoSmtp => "paging-policy-nowhere",
            Variant::NoPolicy => "paging-none",
        }
    }
}

/// A fresh server that emails through `smtp_url` (nowhere when empty), with the paging worker on
/// or off.
async fn start_stage(
    run: &Run<'_>,
    name: &str,
    smtp_url: &str,
    worker: bool,
) -> anyhow::Result<Stage> {
    let env = [
        ("KLAXON_SMTP_URL", smtp_url.to_owned()),
        ("KLAXON_PAGING_WORKER", worker.to_string()),
    ];
    let server = Server {
        admin_url: run.args.database_url.as_deref(),
        log: &run.args.server_log,
        env: &env,
    };
    Stage::start_server(server, run.dir, &run.receiver, name, None).await
}

async fn burst(run: &mut Run<'_>) -> anyhow::Result<()> {
    let (n, c) = (run.args.incidents, run.args.concurrency);
    println!(
        "burst ({}): {n} critical alerts for distinct entities, {c} in flight, on a service whose \
         policy emails two people at level 1",
        run.backend
    );
    let (sink, smtp_url) = Sink::start()?;
    let stage = start_stage(run, "paging-burst", &smtp_url, true).await?;
    let api = Api::for_stage(&run.http, &stage).await?;
    api.page_owner_and_second_user().await?;
    let body: BodyFn = Arc::new(|i| alert_body("critical", &format!("burst-{i}")));
    let cpu = Cpu::now(&stage);
    let limit = Duration::from_secs(run.args.max_secs);
    let (start, done) = closed_loop(
        &run.http,
        &stage.events_url(),
        Schedule::Shared(n),
        c,
        limit,
        body,
    )
    .await?;
    let slices = Slices::of(start, &done, done.len());
    let opened = done.iter().filter(|d| d.created).count();
    let expected = 2 * opened;
    let received = wait_for_emails(&sink, expected, STALL).await;
    let (server_cpu, _) = cpu.per_alert(&stage, done.len());
    let emails = EmailTimes::of(&sink.take(), &done);
    let last = emails.last.unwrap_or(start);
    let until_last = last.duration_since(start).as_secs_f64();
    let rate = received as f64 / until_last.max(1e-9);
    println!(
        "  alerts accepted per second: {}; incidents opened: {opened} of {}",
        thousands(slices.rate_all),
        done.len()
    );
    println!(
        "  emails accepted by the sink: {received} of {expected} expected ({} matched to their \
         incident, {} incidents with both emails)",
        emails.latencies.len(),
        emails.complete
    );
    println!(
        "  alert sent → email accepted, ms: p50 {:.0}, p95 {:.0}, p99 {:.0}, max {:.0}",
        percentile(&emails.latencies, 0.5),
        percentile(&emails.latencies, 0.95),
        percentile(&emails.latencies, 0.99),
        emails.latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  {} emails/s from the first alert to the last email; the last email {until_last:.2} s \
         after the first alert, {:.2} s after the last alert was accepted",
        thousands(rate),
        last.saturating_duration_since(slices.last_done)
            .as_secs_f64()
    );
    println!(
        "  server CPU per incident (with its two emails): {server_cpu:.2} ms; peak RSS {:.1} MiB",
        stage.peak_rss()
    );
    run.burst_rows.push(format!(
        "| burst | {} | {} ({c} in flight) | {received} ({expected}) | {:.0} / {:.0} / {:.0} ms | {} | {until_last:.2} s | {server_cpu:.2} ms |",
        run.backend,
        num(done.len()),
        percentile(&emails.latencies, 0.5),
        percentile(&emails.latencies, 0.95),
        percentile(&emails.latencies, 0.99),
        thousands(rate),
    ));
    Ok(())
}

async fn storm(run: &mut Run<'_>, variant: Variant, round: usize) -> anyhow::Result<()> {
    let (n, c) = (run.args.alerts, run.args.concurrency);
    let with_emails = variant == Variant::Policy;
    println!(
        "storm ({}, round {}): {n} critical alerts for distinct entities, {c} in flight; service \
         with {}",
        run.backend,
        round + 1,
        variant.describe()
    );
    *run.hooks.lock().unwrap() = Default::default();
    let (sink, smtp_url) = Sink::start()?;
    let smtp_url = match variant {
        Variant::PolicyNoSmtp => "",
        _ => &smtp_url,
    };
    let stage = start_stage(
        run,
        variant.database(),
        smtp_url,
        variant != Variant::PolicyWorkerOff,
    )
    .await?;
    let api = Api::for_stage(&run.http, &stage).await?;
    if variant == Variant::NoPolicy {
        api.set_policy(Value::Null).await?;
    } else {
        api.page_owner_and_second_user().await?;
    }
    let body: BodyFn = Arc::new(|i| alert_body("critical", &format!("storm-{i}")));
    let cpu = Cpu::now(&stage);
    let (start, done) = closed_loop(
        &run.http,
        &stage.events_url(),
        Schedule::Shared(n),
        c,
        Duration::from_secs(run.args.max_secs),
        body,
    )
    .await?;
    let sent = done.len();
    let (accepting, _) = cpu.per_alert(&stage, sent);
    let slices = Slices::of(start, &done, sent);
    let opened = done.iter().filter(|d| d.created).count();
    let hooks = wait_for_hooks(&run.hooks, opened, STALL).await;
    let expected_emails = if with_emails { 2 * opened } else { 0 };
    let emails = if with_emails {
        wait_for_emails(&sink, expected_emails, STALL).await
    } else {
        // None is expected; a stray one has a moment to show up.
        tokio::time::sleep(Duration::from_secs(1)).await;
        sink.count()
    };
    let (server, _) = cpu.per_alert(&stage, sent);
    // Accepting alerts is half of the incident path: its webhooks and pages must go out too,
    // and work left behind the storm would flatter the accepting rate.
    let last_hook = run.hooks.lock().unwrap().last();
    let last_email = sink.take().iter().map(|arrival| arrival.at).max();
    let finished = [last_hook, last_email].into_iter().flatten().max();
    let end_to_end = finished.map_or(0.0, |at| sent as f64 / (at - start).as_secs_f64());
    println!(
        "  alerts accepted per second: {} ({sent} sent); request p50 {:.1} ms, p99 {:.1} ms",
        thousands(slices.rate_all),
        slices.all.0,
        slices.all.1
    );
    println!(
        "  incidents opened: {opened}; webhooks received: {hooks}; emails: {emails} (expected \
         {expected_emails}); end to end {} alerts/s (first alert to its last webhook or email)",
        thousands(end_to_end)
    );
    println!(
        "  server CPU per alert: {accepting:.2} ms until the last alert was accepted, {server:.2} \
         ms with the webhooks and emails sent"
    );
    run.storm_rows.push(format!(
        "| storm, {} (round {}) | {} | {} ({c} in flight) | {} | {} | {:.1} / {:.1} ms | {} | {emails} ({expected_emails}) | {accepting:.2} ms | {server:.2} ms |",
        variant.describe(),
        round + 1,
        run.backend,
        num(sent),
        thousands(slices.rate_all),
        thousands(end_to_end),
        slices.all.0,
        slices.all.1,
        num(opened),
    ));
    Ok(())
}

fn print_tables(run: &Run<'_>) {
    if !run.burst_rows.is_empty() {
        println!("| Workload | Backend | Incidents | Emails (expected) | Alert sent → email accepted p50 / p95 / p99 | Emails/s | First alert → last email | Server CPU per incident |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &run.burst_rows {
            println!("{row}");
        }
        println!();
    }
    if !run.storm_rows.is_empty() {
        println!("| Workload | Backend | Alerts | Alerts/s accepted | Alerts/s end to end | Request p50 / p99 | Incidents opened | Emails (expected) | Server CPU per alert: accepting | with webhooks and emails sent |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &run.storm_rows {
            println!("{row}");
        }
    }
}

/// Waits until the sink has accepted `expected` messages, or none came for `stall`; returns
/// how many it has.
async fn wait_for_emails(sink: &Sink, expected: usize, stall: Duration) -> usize {
    wait_for_count(|| sink.count(), expected, stall).await
}

/// The emails of a burst matched to the alerts that opened their incidents.
struct EmailTimes {
    /// Alert sent → email accepted, ms, sorted.
    latencies: Vec<f64>,
    /// Incidents whose two emails both arrived.
    complete: usize,
    last: Option<Instant>,
}

impl EmailTimes {
    fn of(arrivals: &[Arrival], done: &[Done]) -> EmailTimes {
        let sent: HashMap<i64, Instant> = done
            .iter()
            .filter(|d| d.created)
            .filter_map(|d| Some((d.incident?, d.sent)))
            .collect();
        let mut per_incident: HashMap<i64, usize> = HashMap::new();
        let mut latencies = Vec::new();
        for arrival in arrivals {
            let Some(number) = triggered_number(&arrival.subject) else {
                continue;
            };
            if let Some(at) = sent.get(&number) {
                latencies.push(arrival.at.duration_since(*at).as_secs_f64() * 1000.0);
                *per_incident.entry(number).or_default() += 1;
            }
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        EmailTimes {
            latencies,
            complete: per_incident.values().filter(|&&count| count >= 2).count(),
            last: arrivals.iter().map(|a| a.at).max(),
        }
    }
}

/// The incident number of a subject `[Klaxon] #42 Triggered: …`.
fn triggered_number(subject: &str) -> Option<i64> {
    let rest = subject.strip_prefix("[Klaxon] #")?;
    let (number, rest) = rest.split_once(' ')?;
    rest.starts_with("Triggered:")
        .then(|| number.parse().ok())?
}

impl Api<'_> {
    /// Adds a second user, makes both them and the owner members of the service's team, and
    /// gives the service a policy whose first level emails both.
    async fn page_owner_and_second_user(&self) -> anyhow::Result<()> {
        self.owner.get("/settings/users/new").await?;
        self.owner
            .post(
                "/settings/users",
                &[
                    ("first_name", "Second"),
                    ("last_name", "Responder"),
                    ("email", SECOND_EMAIL),
                    ("password", PASSWORD),
                    ("role", "3"),
                ],
            )
            .await
            .context("adding the second user")?;
        let team_path = format!("/api/account/teams/{}/", self.team);
        let mut usernames = Vec::new();
        for email in [crate::EMAIL, SECOND_EMAIL] {
            let username = match member_username(
                &self.call(reqwest::Method::GET, &team_path, None).await?,
                email,
            ) {
                Some(username) => username,
                None => {
                    self.owner.get(&format!("/teams/{}", self.team)).await?;
                    self.owner
                        .post(
                            &format!("/teams/{}/members", self.team),
                            &[("email", email), ("role", "2")],
                        )
                        .await
                        .with_context(|| format!("adding {email} to the team"))?;
                    member_username(
                        &self.call(reqwest::Method::GET, &team_path, None).await?,
                        email,
                    )
                    .with_context(|| format!("{email} is not a member of the team"))?
                }
            };
            usernames.push(username);
        }
        let targets: Vec<Value> = usernames
            .iter()
            .map(|username| json!({"target_type": 2, "target_id": username}))
            .collect();
        let policy = self
            .call(
                reqwest::Method::POST,
                &format!("/api/account/teams/{}/escalation_policies/", self.team),
                Some(json!({
                    "name": "Bench paging",
                    "rules": [{"delay": 0, "position": 0, "targets": targets}],
                })),
            )
            .await?;
        let policy = policy["unique_id"]
            .as_str()
            .context("the new policy has no unique_id")?;
        self.set_policy(json!(policy)).await
    }
}
