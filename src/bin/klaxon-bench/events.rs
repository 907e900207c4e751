//! `klaxon-bench events`: the Events API (`POST /api/events/{integration_key}/`) on its worst
//! day. Each workload runs a fresh `klaxon` process on a fresh database, set up through the
//! pages as a user would (owner, service, an "API" integration, an Outgoing Webhooks
//! integration pointing at the bench's own receiver), then:
//!
//! - **storm**: alerts for distinct entities, critical, `--concurrency` in flight: every alert
//!   opens an incident and sends one webhook. Does the last slice of alerts cost what the first
//!   did, with the open incidents piling up?
//! - **flapping**: alerts over `--entities` entities, each cycling critical → acknowledged →
//!   resolved (every alert is a transition and a webhook), never two alerts of one entity in
//!   flight; then its **attach** variant: critical alerts repeated for entities that already
//!   have an open incident (no transition, no webhook).
//! - **collation**: the storm on a service with time-based collation.
//! - **open loop**: a service with `--open-incidents` open incidents (added straight into the
//!   database), then new-entity critical alerts at a fixed rate; latency from request sent to
//!   webhook received.
//! - **pages**: on a service with `--open-incidents` open incidents, the pages a responder
//!   opens (`pages.rs`), timed as the owner and as a member of the service's team.

pub(crate) mod load;
mod pages;
pub(crate) mod stage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use crate::percentile;
use load::{
    alert_body, closed_loop, num, post_alert, start_receiver, thousands, wait_for_hooks, BodyFn,
    Cpu, Done, Hooks, Schedule, SharedHooks, Slices, ACKNOWLEDGED, RESOLVED, STALL, TRIGGERED,
};
use stage::{seed_open_incidents, Stage};

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Workload to run; `flapping` also runs its attach-only variant, `all` runs every one in
    /// turn. Each runs on a fresh database.
    #[arg(long, value_enum, default_value_t = Workload::All)]
    workload: Workload,
    /// Alerts sent in each closed-loop workload (storm, flapping, attach, collation).
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Requests in flight in the closed-loop workloads.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Alerts in the "first" and "last" slices reported (at most half of --alerts).
    #[arg(long, default_value_t = 10_000)]
    window: usize,
    /// Entities the flapping and attach-only workloads cycle over.
    #[arg(long, default_value_t = 1_000)]
    entities: usize,
    /// Time-based collation window of the collation workload, in seconds.
    #[arg(long, default_value_t = 300)]
    collation_secs: u32,
    /// Open incidents (distinct entities) the service has before the open loop, and while its
    /// pages are timed; added straight into the database, each with its alert.
    #[arg(long, default_value_t = 100_000)]
    open_incidents: usize,
    /// Alerts per second offered in the open loop. By default half the storm's end-to-end rate
    /// measured in the same run; when the storm did not run, half the rate of a closed-loop
    /// storm of min(--alerts, 10 000) alerts run first on the open loop's database.
    #[arg(long)]
    open_loop_rate: Option<f64>,
    /// A closed loop sends no more alerts after this many seconds (and says so), so that a
    /// storm that slows down as open incidents pile up still ends; its figures cover the alerts
    /// sent.
    #[arg(long, default_value_t = 1_800)]
    max_secs: u64,
    /// Seconds of the open loop.
    #[arg(long, default_value_t = 20)]
    open_loop_secs: u64,
    /// The server's log filter (`KLAXON_LOG`); its logs are read and dropped.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// A PostgreSQL database the bench can connect to as a superuser (or a role allowed to
    /// create databases), e.g. postgres://postgres@127.0.0.1:5432/postgres. Each workload
    /// creates a database of its own there (klaxon_bench_<workload>_<pid>) and drops it at
    /// the end. Without it, each workload gets a fresh SQLite file in a temporary folder.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    Storm,
    Flapping,
    Attach,
    Collation,
    OpenLoop,
    Pages,
    All,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Storm => "storm",
            Workload::Flapping => "flapping",
            Workload::Attach => "attach",
            Workload::Collation => "collation",
            Workload::OpenLoop => "open-loop",
            Workload::Pages => "pages",
            Workload::All => "all",
        }
    }

    /// The workloads this choice runs, in order.
    fn expand(self) -> Vec<Workload> {
        match self {
            Workload::All => vec![
                Workload::Storm,
                Workload::Flapping,
                Workload::Attach,
                Workload::Collation,
                Workload::OpenLoop,
                Workload::Pages,
            ],
            Workload::Flapping => vec![Workload::Flapping, Workload::Attach],
            one => vec![one],
        }
    }
}

/// Everything the workloads share across the run.
struct Bench {
    args: EventsArgs,
    dir: PathBuf,
    hooks: SharedHooks,
    receiver: String,
    http: reqwest::Client,
    backend: &'static str,
    /// The storm's end-to-end alerts per second, when it ran.
    storm_rate: Option<f64>,
    closed_rows: Vec<String>,
    open_rows: Vec<String>,
    page_rows: Vec<String>,
}

impl Bench {
    fn limit(&self) -> Duration {
        Duration::from_secs(self.args.max_secs)
    }
}

// ---------------------------------------------------------------------------------------------
// The workloads

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.alerts > 0, "--alerts must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(args.entities > 0, "--entities must be at least 1");
    let dir = std::env::temp_dir().join(format!("klaxon-bench-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hooks: SharedHooks = Arc::default();
    let receiver = start_receiver(hooks.clone())?;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let workloads = args.workload.expand();
    let mut bench = Bench {
        args,
        dir: dir.clone(),
        hooks,
        receiver,
        http,
        backend,
        storm_rate: None,
        closed_rows: Vec::new(),
        open_rows: Vec::new(),
        page_rows: Vec::new(),
    };
    let mut failed = Vec::new();
    for workload in workloads {
        *bench.hooks.lock().unwrap() = Hooks::default();
        if let Err(e) = run_workload(&mut bench, workload).await {
            println!("{}: FAILED: {e:#}", workload.name());
            failed.push(workload.name());
        }
        println!();
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_tables(&bench);
    anyhow::ensure!(failed.is_empty(), "failed: {}", failed.join(", "));
    Ok(())
}

async fn run_workload(bench: &mut Bench, workload: Workload) -> anyhow::Result<()> {
    let collation = (workload == Workload::Collation).then_some(bench.args.collation_secs);
    let mut stage = Stage::start(
        &bench.args,
        &bench.dir,
        &bench.receiver,
        workload,
        collation,
    )
    .await?;
    let result = match workload {
        Workload::Storm => storm(bench, &stage).await,
        Workload::Flapping => flapping(bench, &stage).await,
        Workload::Attach => attach(bench, &stage).await,
        Workload::Collation => collation_storm(bench, &stage).await,
        Workload::OpenLoop => open_loop(bench, &mut stage).await,
        Workload::Pages => pages::pages(bench, &mut stage).await,
        Workload::All => unreachable!("expanded"),
    };
    drop(stage);
    result
}

/// A closed-loop storm of `n` critical alerts for new entities `{prefix}-{i}`.
async fn new_entity_storm(
    bench: &Bench,
    stage: &Stage,
    n: usize,
    prefix: &'static str,
) -> anyhow::Result<(Instant, Vec<Done>)> {
    let body: BodyFn = Arc::new(move |i| alert_body("critical", &format!("{prefix}-{i}")));
    let (start, done) = closed_loop(
        &bench.http,
        &stage.events_url(),
        Schedule::Shared(n),
        bench.args.concurrency,
        bench.limit(),
        body,
    )
    .await?;
    report_stop(bench, n, done.len());
    Ok((start, done))
}

/// Says when a closed loop stopped at --max-secs before sending all `planned` alerts.
fn report_stop(bench: &Bench, planned: usize, sent: usize) {
    if sent < planned {
        println!(
            "  stopped after --max-secs {} s: {sent} of {planned} alerts sent; the figures \
             below are of those",
            bench.args.max_secs
        );
    }
}

/// "2 000 (16 in flight)", or "1 234 of 2 000 (16 in flight)" when stopped at --max-secs.
fn alerts_cell(bench: &Bench, planned: usize, sent: usize) -> String {
    let c = bench.args.concurrency;
    if sent < planned {
        format!("{} of {} ({c} in flight)", num(sent), num(planned))
    } else {
        format!("{} ({c} in flight)", num(sent))
    }
}

/// Webhooks' end-to-end rate from `start` to the last receipt, and the delay from the last
/// accepted alert to that receipt.
fn drain(hooks: &Hooks, start: Instant, received: usize, last_accepted: Instant) -> (f64, f64) {
    let last = hooks.last().unwrap_or(start);
    let rate = received as f64 / last.duration_since(start).as_secs_f64().max(1e-9);
    let lag = if last > last_accepted {
        last.duration_since(last_accepted).as_secs_f64()
    } else {
        -last_accepted.duration_since(last).as_secs_f64()
    };
    (rate, lag)
}

fn print_cpu_rss(stage: &Stage, server: f64, accepting: f64, load: f64) -> f64 {
    println!(
        "  server CPU per alert: {server:.2} ms ({accepting:.2} ms until the last alert was \
         accepted); load generator and receiver {load:.2} ms"
    );
    let rss = stage.peak_rss();
    println!("  server peak RSS: {rss:.1} MiB");
    rss
}

async fn storm(bench: &mut Bench, stage: &Stage) -> anyhow::Result<()> {
    let (planned, c) = (bench.args.alerts, bench.args.concurrency);
    println!(
        "storm ({}): {planned} critical alerts for distinct entities, {c} in flight",
        bench.backend
    );
    let cpu = Cpu::now(stage);
    let (start, done) = new_entity_storm(bench, stage, planned, "storm").await?;
    let n = done.len();
    let (accepting, _) = cpu.per_alert(stage, n);
    let slices = Slices::of(start, &done, bench.args.window);
    slices.print();
    let opened = done.iter().filter(|d| d.created).count();
    println!("  incidents opened: {opened} (expected {n})");
    let received = wait_for_hooks(&bench.hooks, n, STALL).await;
    let (server, load) = cpu.per_alert(stage, n);
    let hooks = bench.hooks.lock().unwrap();
    let triggered = hooks.count(TRIGGERED);
    let (rate, lag) = drain(&hooks, start, received, slices.last_done);
    println!(
        "  webhooks received: {triggered} triggered of {n} expected ({} POSTs); {} webhooks/s \
         end to end, the last {lag:.2} s after the last alert was accepted",
        hooks.posts,
        thousands(rate)
    );
    drop(hooks);
    let rss = print_cpu_rss(stage, server, accepting, load);
    if triggered == n {
        bench.storm_rate = Some(rate);
    }
    bench.closed_rows.push(format!(
        "| storm | {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {server:.2} ms | {rss:.1} MiB |",
        bench.backend,
        alerts_cell(bench, planned, n),
        slices.rates_cell(),
        slices.latency_cell(),
        num(opened),
        num(n),
        num(triggered),
        num(n),
        thousands(rate)
    ));
    Ok(())
}

const CYCLE: [&str; 3] = ["critical", "acknowledged", "resolved"];

async fn flapping(bench: &mut Bench, stage: &Stage) -> anyhow::Result<()> {
    let (planned, c) = (bench.args.alerts, bench.args.concurrency);
    let entities = bench.args.entities.min(planned);
    println!(
        "flapping ({}): {planned} alerts over {entities} entities, each cycling critical → \
         acknowledged → resolved, {c} in flight, one alert per entity at a time",
        bench.backend
    );
    // Alert i is for entity i % entities, the (i / entities)-th of that entity; every entity
    // belongs to one worker, which sends its alerts in order.
    let mut lanes = vec![Vec::new(); c];
    for i in 0..planned {
        lanes[(i % entities) % c].push(i);
    }
    let body: BodyFn =
        Arc::new(move |i| alert_body(CYCLE[(i / entities) % 3], &format!("flap-{}", i % entities)));
    let cpu = Cpu::now(stage);
    let (start, done) = closed_loop(
        &bench.http,
        &stage.events_url(),
        Schedule::Lanes(lanes),
        c,
        bench.limit(),
        body,
    )
    .await?;
    report_stop(bench, planned, done.len());
    let n = done.len();
    // Every alert sent is a transition: the first of each cycle opens an incident.
    let mut expected = [0usize; 3];
    for d in &done {
        expected[(d.index / entities) % 3] += 1;
    }
    let (accepting, _) = cpu.per_alert(stage, n);
    let slices = Slices::of(start, &done, bench.args.window);
    slices.print();
    let opened = done.iter().filter(|d| d.created).count();
    println!("  incidents opened: {opened} (expected {})", expected[0]);
    let received = wait_for_hooks(&bench.hooks, n, STALL).await;
    let (server, load) = cpu.per_alert(stage, n);
    let hooks = bench.hooks.lock().unwrap();
    let got = [TRIGGERED, ACKNOWLEDGED, RESOLVED].map(|e| hooks.count(e));
    let (rate, lag) = drain(&hooks, start, received, slices.last_done);
    println!(
        "  webhooks received: {received} of {n} expected ({} POSTs): triggered {} ({}), \
         acknowledged {} ({}), resolved {} ({}); {} webhooks/s end to end, the last {lag:.2} s \
         after the last alert was accepted",
        hooks.posts,
        got[0],
        expected[0],
        got[1],
        expected[1],
        got[2],
        expected[2],
        thousands(rate)
    );
    drop(hooks);
    let rss = print_cpu_rss(stage, server, accepting, load);
    bench.closed_rows.push(format!(
        "| flapping ({} entities) | {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {server:.2} ms | {rss:.1} MiB |",
        num(entities),
        bench.backend,
        alerts_cell(bench, planned, n),
        slices.rates_cell(),
        slices.latency_cell(),
        num(opened),
        num(expected[0]),
        num(received),
        num(n),
        thousands(rate)
    ));
    Ok(())
}

async fn attach(bench: &mut Bench, stage: &Stage) -> anyhow::Result<()> {
    let (planned, c) = (bench.args.alerts, bench.args.concurrency);
    let entities = bench.args.entities;
    println!(
        "attach only ({}): {planned} critical alerts repeated over {entities} entities that each \
         have an open incident, {c} in flight",
        bench.backend
    );
    // First open one incident per entity, and let their webhooks go out.
    let (_, opening) = new_entity_storm(bench, stage, entities, "attach").await?;
    let opened_first = opening.iter().filter(|d| d.created).count();
    let before = wait_for_hooks(&bench.hooks, entities, STALL).await;
    anyhow::ensure!(
        opened_first == entities && before == entities,
        "opening {entities} incidents gave {opened_first} incidents and {before} webhooks"
    );
    let body: BodyFn =
        Arc::new(move |i| alert_body("critical", &format!("attach-{}", i % entities)));
    let cpu = Cpu::now(stage);
    let (start, done) = closed_loop(
        &bench.http,
        &stage.events_url(),
        Schedule::Shared(planned),
        c,
        bench.limit(),
        body,
    )
    .await?;
    report_stop(bench, planned, done.len());
    let n = done.len();
    let (accepting, _) = cpu.per_alert(stage, n);
    let slices = Slices::of(start, &done, bench.args.window);
    slices.print();
    let opened = done.iter().filter(|d| d.created).count();
    let attached = done.iter().filter(|d| d.incident.is_some()).count();
    println!("  incidents opened: {opened} (expected 0); alerts attached to an incident: {attached} of {n}");
    // No webhook is expected; give a stray one a moment to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (server, load) = cpu.per_alert(stage, n);
    let extra = bench.hooks.lock().unwrap().first.len() - before;
    println!("  webhooks received: {extra} (expected 0) within 1 s of the last alert");
    let rss = print_cpu_rss(stage, server, accepting, load);
    bench.closed_rows.push(format!(
        "| attach only ({} open) | {} | {} | {} | {} | {opened} (0) | {extra} (0) | – | {server:.2} ms | {rss:.1} MiB |",
        num(entities),
        bench.backend,
        alerts_cell(bench, planned, n),
        slices.rates_cell(),
        slices.latency_cell(),
    ));
    Ok(())
}

async fn collation_storm(bench: &mut Bench, stage: &Stage) -> anyhow::Result<()> {
    let (planned, c, window) = (
        bench.args.alerts,
        bench.args.concurrency,
        bench.args.collation_secs,
    );
    println!(
        "collation ({}): {planned} critical alerts for distinct entities, {c} in flight, time-based \
         collation over {window} s",
        bench.backend
    );
    let cpu = Cpu::now(stage);
    let (start, done) = new_entity_storm(bench, stage, planned, "collated").await?;
    let n = done.len();
    let (accepting, _) = cpu.per_alert(stage, n);
    let slices = Slices::of(start, &done, bench.args.window);
    slices.print();
    let opened = done.iter().filter(|d| d.created).count();
    let mut incidents: Vec<i64> = done.iter().filter_map(|d| d.incident).collect();
    incidents.sort_unstable();
    incidents.dedup();
    let elapsed = slices.last_done.duration_since(start).as_secs_f64();
    let expected = 1 + (elapsed / f64::from(window.max(1))) as usize;
    println!(
        "  incidents opened: {opened} (expected about {expected}: one per {window} s window; \
         more when alerts race the first one); alerts spread over {} incidents",
        incidents.len()
    );
    let received = wait_for_hooks(&bench.hooks, opened, STALL).await;
    let (server, load) = cpu.per_alert(stage, n);
    let posts = bench.hooks.lock().unwrap().posts;
    println!("  webhooks received: {received} of {opened} expected ({posts} POSTs)");
    let rss = print_cpu_rss(stage, server, accepting, load);
    bench.closed_rows.push(format!(
        "| collation ({window} s) | {} | {} | {} | {} | {opened} (~{expected}) | {received} ({opened}) | – | {server:.2} ms | {rss:.1} MiB |",
        bench.backend,
        alerts_cell(bench, planned, n),
        slices.rates_cell(),
        slices.latency_cell(),
    ));
    Ok(())
}

async fn open_loop(bench: &mut Bench, stage: &mut Stage) -> anyhow::Result<()> {
    let k = bench.args.open_incidents;
    println!(
        "open loop ({}): a service with {k} open incidents, then new-entity critical alerts at \
         a fixed rate for {} s",
        bench.backend, bench.args.open_loop_secs
    );
    if k > 0 {
        let seeding = Instant::now();
        seed_open_incidents(stage, k).await?;
        // A new server, so nothing it keeps in memory predates the rows just added.
        stage.restart(&bench.args.server_log)?;
        println!(
            "  {k} open incidents added in {:.1} s (then ANALYZE and a server restart)",
            seeding.elapsed().as_secs_f64()
        );
        // The server sees them: an alert of a seeded entity attaches to its open incident.
        let (incident, created) = post_alert(
            &bench.http,
            &stage.events_url(),
            alert_body("critical", &format!("seeded-{k}")),
        )
        .await?;
        anyhow::ensure!(
            incident.is_some() && !created,
            "an alert of a seeded entity did not attach to its open incident"
        );
    }
    let mut open_before = k;
    let rate = match (bench.args.open_loop_rate, bench.storm_rate) {
        (Some(rate), _) => rate,
        (None, Some(storm)) => {
            println!(
                "  offered: half the storm's end-to-end rate ({} alerts/s)",
                thousands(storm)
            );
            storm / 2.0
        }
        (None, None) => {
            let n = bench.args.alerts.min(10_000);
            let (start, done) = new_entity_storm(bench, stage, n, "calibration").await?;
            let n = done.len();
            let slices = Slices::of(start, &done, n);
            let received = wait_for_hooks(&bench.hooks, n, STALL).await;
            anyhow::ensure!(
                received == n,
                "calibration: {received} of {n} webhooks arrived"
            );
            let (e2e, _) = drain(
                &bench.hooks.lock().unwrap(),
                start,
                received,
                slices.last_done,
            );
            println!(
                "  calibration: a closed-loop storm of {n} alerts at {k} open incidents: {} \
                 alerts/s accepted, {} webhooks/s end to end; offered: half of that",
                thousands(slices.rate_all),
                thousands(e2e)
            );
            open_before += n;
            e2e / 2.0
        }
    };
    anyhow::ensure!(
        rate > 0.0 && rate.is_finite(),
        "open-loop rate {rate} is not usable"
    );
    let count = ((rate * bench.args.open_loop_secs as f64) as usize).max(1);
    let hooks_before = bench.hooks.lock().unwrap().first.len();
    let url: Arc<str> = stage.events_url().into();
    let cpu = Cpu::now(stage);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut tasks = Vec::with_capacity(count);
    let first_send = Instant::now();
    for i in 0..count {
        tick.tick().await;
        let (http, url) = (bench.http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let (incident, created) =
                post_alert(&http, &url, alert_body("critical", &format!("open-{i}"))).await?;
            anyhow::Ok(Done {
                index: i,
                sent,
                done: Instant::now(),
                incident,
                created,
            })
        }));
    }
    let last_send = Instant::now();
    let mut done = Vec::with_capacity(count);
    for task in tasks {
        done.push(task.await??);
    }
    let (accepting, _) = cpu.per_alert(stage, count);
    let last_done = done.iter().map(|d| d.done).max().unwrap_or(last_send);
    let opened = done.iter().filter(|d| d.created).count();
    let received = wait_for_hooks(&bench.hooks, hooks_before + opened, STALL).await - hooks_before;
    let (server, load) = cpu.per_alert(stage, count);
    let hooks = bench.hooks.lock().unwrap();
    let mut to_hook: Vec<f64> = done
        .iter()
        .filter_map(|d| {
            let at = hooks.first.get(&(d.incident?, TRIGGERED))?;
            Some(at.duration_since(d.sent).as_secs_f64() * 1000.0)
        })
        .collect();
    let last_hook = hooks.last().unwrap_or(last_done);
    drop(hooks);
    to_hook.sort_by(|a, b| a.total_cmp(b));
    let mut requests: Vec<f64> = done
        .iter()
        .map(|d| d.done.duration_since(d.sent).as_secs_f64() * 1000.0)
        .collect();
    requests.sort_by(|a, b| a.total_cmp(b));
    let secs = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64().max(1e-9);
    // Rates over the span from the first send to the last answer / last webhook: at the
    // offered rate they are count / duration.
    let sent_rate = count.saturating_sub(1) as f64 / secs(first_send, last_send);
    let accepted_rate = count as f64 / secs(first_send, last_done);
    let hook_rate = received as f64 / secs(first_send, last_hook);
    let sustained = received == count
        && opened == count
        && accepted_rate >= 0.95 * rate
        && hook_rate >= 0.95 * rate;
    let (p50, p95, p99) = (
        percentile(&to_hook, 0.5),
        percentile(&to_hook, 0.95),
        percentile(&to_hook, 0.99),
    );
    println!(
        "  offered {} alerts/s for {} s ({count} alerts over {open_before} open incidents); \
         sent at {} /s, accepted at {} /s, webhooks at {} /s",
        thousands(rate),
        bench.args.open_loop_secs,
        thousands(sent_rate),
        thousands(accepted_rate),
        thousands(hook_rate)
    );
    println!(
        "  request sent → webhook received, ms: p50 {p50:.1}, p95 {p95:.1}, p99 {p99:.1}, max {:.1} \
         (request alone: p50 {:.1}, p99 {:.1})",
        to_hook.last().copied().unwrap_or(f64::NAN),
        percentile(&requests, 0.5),
        percentile(&requests, 0.99)
    );
    println!(
        "  incidents opened: {opened} of {count}; webhooks received: {received}; the last {:.2} s \
         after the last alert was sent",
        secs(last_send, last_hook)
    );
    println!(
        "  rate sustained: {}",
        if sustained {
            "yes (every alert answered and its webhook received at ≥ 95 % of the offered rate)"
        } else {
            "NO"
        }
    );
    let rss = print_cpu_rss(stage, server, accepting, load);
    bench.open_rows.push(format!(
        "| open loop | {} | {} | {} /s for {} s | {} / {} /s | {p50:.1} / {p95:.1} / {p99:.1} ms | {} | {server:.2} ms | {rss:.1} MiB |",
        bench.backend,
        num(open_before),
        thousands(rate),
        bench.args.open_loop_secs,
        thousands(accepted_rate),
        thousands(hook_rate),
        if sustained { "yes" } else { "no" },
    ));
    Ok(())
}

fn print_tables(bench: &Bench) {
    if !bench.closed_rows.is_empty() {
        println!("| Workload | Backend | Alerts | Alerts/s: first / last / all | Request p50 / p99, first → last | Incidents opened (expected) | Webhooks (expected) | Webhooks/s end to end | Server CPU per alert | Peak RSS |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &bench.closed_rows {
            println!("{row}");
        }
        println!();
    }
    if !bench.open_rows.is_empty() {
        println!("| Workload | Backend | Open incidents before | Offered | Accepted / webhooks | Sent → webhook p50 / p95 / p99 | Sustained | Server CPU per alert | Peak RSS |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &bench.open_rows {
            println!("{row}");
        }
        println!();
    }
    if !bench.page_rows.is_empty() {
        println!("| Page | As | Backend | Open incidents | p50 / p95 |");
        println!("| --- | --- | --- | --- | --- |");
        for row in &bench.page_rows {
            println!("{row}");
        }
    }
}
