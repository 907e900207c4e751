//! End-to-end benchmark: incident transitions through the web UI of a real `klaxon` process
//! into a real local webhook receiver. Reports transitions accepted per second, deliveries per
//! second, transition-to-receipt latency and the server's peak memory.
//!
//! Usage: `cargo build --release && target/release/klaxon-bench [--incidents N]
//! [--concurrency C] [--database-url URL] [--instances N]` (SQLite in a temporary folder by
//! default; several instances need PostgreSQL).
//!
//! `klaxon-bench paging [--workload burst|overhead|all]` measures escalations: trigger to email
//! accepted by an SMTP sink, and the incident path with and without a policy (`paging.rs`).
//!
//! `klaxon-bench on-call [--variant yesterday|two-years|all]` times the pages that answer who is
//! on call (the On call page, a schedule's page, the API's on-call answer, a policy's page) on a
//! team of 100 with a schedule of 5 layers × 20 people and 200 overrides (`oncall.rs`).
//!
//! `klaxon-bench events [--workload storm|flapping|attach|collation|open-loop|pages|all]` drives
//! the Events API instead (alert storms, flapping entities, collation, an open loop over many
//! open incidents) and times the pages responders open during a storm; see `events.rs` and
//! `klaxon-bench events --help`.
//!
//! `klaxon-bench find [--incidents N] [--database-url URL]` times the incidents list among N
//! incidents (a million by default) added straight into the database: its status tabs,
//! filters, search, sorts, date ranges and pager, each combination checked against its rows
//! (`find.rs`).

mod api;
mod events;
mod find;
mod oncall;
mod paging;
mod timing;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark Klaxon's transitions and webhook deliveries end to end",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    // Without a subcommand: incident lifecycles through the pages.
    #[command(flatten)]
    args: Args,
}

#[derive(clap::Subcommand, Debug)]
enum Mode {
    /// The Events API on its worst day: alert storms, flapping entities, collation, and an
    /// open loop over a service with many open incidents.
    Events(events::EventsArgs),
    /// Escalations and their emails: a burst of incidents whose policy emails two people into
    /// the bench's SMTP sink, and the incident path with and without a policy.
    Paging(paging::PagingArgs),
    /// Who is on call: the On call page, a schedule's page, the API's on-call answer and a
    /// policy's page, on a team of 100 with a 5-layer schedule and 200 overrides, its rotation
    /// started yesterday or two years ago.
    OnCall(oncall::OnCallArgs),
    /// Finding an incident among a million: the incidents list's status tabs, filters,
    /// search, sorts, date ranges and pager, each combination timed and its rows checked.
    Find(find::FindArgs),
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Incidents in the closed-loop run; each is triggered, acknowledged and resolved.
    #[arg(long, default_value_t = 2000)]
    incidents: usize,
    /// Requests in flight in the closed-loop run.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of the open-loop run.
    #[arg(long, default_value_t = 10)]
    open_loop_secs: u64,
    /// Transitions per second offered in the open-loop run; half the measured delivery rate
    /// when not given.
    #[arg(long)]
    open_loop_rate: Option<f64>,
    /// Then add this many incidents straight into the database and time the incidents list.
    #[arg(long, default_value_t = 100_000)]
    list_incidents: usize,
    /// Klaxon processes sharing the database (more than one needs PostgreSQL); the load is
    /// spread over them.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// The servers' log filter (`KLAXON_LOG`); Klaxon's own default logs every request. The
    /// logs are read and dropped, as a log collector would read them.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Database for the server; a fresh SQLite file when not given.
    #[arg(long)]
    database_url: Option<String>,
    /// The service pages no escalation policy (by default it pages its team's Default policy,
    /// as after a fresh install): the lifecycle's cost without paging, on the same build.
    #[arg(long)]
    without_policy: bool,
}

/// Receipt times by (incident number, event type).
type Receipts = Arc<Mutex<HashMap<(i64, String), Instant>>>;

fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let start = body.find(key)? + key.len();
    let rest = body[start..].trim_start_matches([':', ' ', '"']);
    let end = rest.find([',', '"', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

async fn receive(
    body: web::Bytes,
    receipts: web::Data<Mutex<HashMap<(i64, String), Instant>>>,
) -> HttpResponse {
    let now = Instant::now();
    let text = String::from_utf8_lossy(&body);
    if let (Some(event), Some(number)) = (
        field(&text, "\"event_type\""),
        field(&text, "\"incident_number\""),
    ) {
        if let Ok(number) = number.parse::<i64>() {
            receipts
                .lock()
                .unwrap()
                .insert((number, event.to_owned()), now);
        }
    }
    HttpResponse::Ok().finish()
}

fn start_receiver(receipts: Receipts) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let data = web::Data::from(receipts);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(url)
}

/// Starts the release `klaxon` next to this binary on `database_url`, with `env` added to its
/// environment; returns it and its address.
fn spawn_klaxon(
    database_url: &str,
    log_filter: &str,
    env: &[(&str, String)],
) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe()?.with_file_name("klaxon");
    let mut child = Command::new(&exe)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("DATABASE_URL", database_url)
        .env("KLAXON_BIND", "127.0.0.1:0")
        .env("KLAXON_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("KLAXON_EVENTS_RATE_LIMIT", "0")
        .env("KLAXON_LOG", log_filter)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start {}: {e} (build it with `cargo build --release`)",
                exe.display()
            )
        })?;
    // Log lines come first; the line announcing the address follows them.
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Klaxon is running") {
        line.clear();
        if output.read_line(&mut line)? == 0 {
            let _ = child.kill();
            anyhow::bail!("klaxon stopped before it was ready");
        }
    }
    std::thread::spawn(move || std::io::copy(&mut output, &mut std::io::sink()));
    let address = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((child, address))
}

/// A browser session: the session cookie kept by hand, and the page's CSRF token.
#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Arc<Mutex<String>>,
    csrf: Arc<Mutex<String>>,
}

impl Browser {
    fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            base: base.to_owned(),
            cookie: Default::default(),
            csrf: Default::default(),
        }
    }

    fn keep_cookie(&self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            if let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) {
                if pair.starts_with("klaxon_session=") {
                    *self.cookie.lock().unwrap() = pair.to_owned();
                }
            }
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<String> {
        let cookie = self.cookie.lock().unwrap().clone();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await?;
        self.keep_cookie(&response);
        let html = response.text().await?;
        if let Some(token) = field(&html, "name=\"csrf_token\" value=") {
            *self.csrf.lock().unwrap() = token.to_owned();
        }
        Ok(html)
    }

    /// Requests a page and reads it whole; its status code.
    async fn get_status(&self, path: &str) -> anyhow::Result<u16> {
        let cookie = self.cookie.lock().unwrap().clone();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await?;
        self.keep_cookie(&response);
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok(status)
    }

    /// Posts a form and returns the redirect target.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<String> {
        let cookie = self.cookie.lock().unwrap().clone();
        let token = self.csrf.lock().unwrap().clone();
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(&form)
            .send()
            .await?;
        self.keep_cookie(&response);
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(
            status.as_u16() == 303,
            "POST {path} answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(location)
    }
}

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password";

/// A new install's owner, signed in through the setup page, and the team new services go to.
async fn sign_up_owner(base: &str) -> anyhow::Result<(Browser, String)> {
    let owner = Browser::new(base);
    owner.get("/setup").await?;
    owner
        .post(
            "/setup",
            &[
                ("first_name", "Bench"),
                ("last_name", "Mark"),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await?;
    let form = owner.get("/services/new").await?;
    let team = field(&form, "<option value=")
        .ok_or_else(|| anyhow::anyhow!("the new service form offers no team"))?
        .to_owned();
    Ok((owner, team))
}

async fn set_up(base: &str, receiver: &str) -> anyhow::Result<String> {
    let (owner, team) = sign_up_owner(base).await?;
    let service = owner
        .post("/services", &[("team", &team), ("name", "Bench")])
        .await?;
    let service = service.trim_start_matches("/services/").to_owned();
    owner
        .get(&format!(
            "/services/{service}/integrations/new?direction=outgoing"
        ))
        .await?;
    owner
        .post(
            &format!("/services/{service}/integrations"),
            &[
                ("direction", "outgoing"),
                ("application", "outgoing-webhooks"),
            ],
        )
        .await?;
    let tab = owner
        .get(&format!("/services/{service}/integrations"))
        .await?;
    let marker = format!("/services/{service}/integrations/");
    let integration = tab
        .rsplit(&marker)
        .find_map(|rest| rest.split_once("\">Configure").map(|(id, _)| id.to_owned()))
        .unwrap_or_default();
    let configure = format!("/services/{service}/integrations/{integration}");
    owner.get(&configure).await?;
    owner
        .post(&configure, &[("name", "Bench hook"), ("url", receiver)])
        .await?;
    Ok(service)
}

/// Sets the service to page no escalation policy: only the API can (the service form offers
/// the team's policies).
async fn without_policy(base: &str, service: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let api = api::Api::for_service(&http, base, service).await?;
    api.set_policy(serde_json::Value::Null).await
}

/// The owner, signed in, with a form's CSRF token at hand.
async fn signed_in(base: &str) -> anyhow::Result<Browser> {
    let browser = signed_in_as(base, EMAIL, PASSWORD).await?;
    browser.get("/incidents/new").await?;
    Ok(browser)
}

async fn signed_in_as(base: &str, email: &str, password: &str) -> anyhow::Result<Browser> {
    let browser = Browser::new(base);
    browser.get("/signin").await?;
    browser
        .post("/signin", &[("email", email), ("password", password)])
        .await?;
    Ok(browser)
}

/// Triggers, acknowledges and resolves one incident; returns (number, send time per event).
async fn lifecycle(
    browser: &Browser,
    service: &str,
) -> anyhow::Result<(i64, [(&'static str, Instant); 3])> {
    let sent_trigger = Instant::now();
    let location = browser
        .post(
            "/incidents",
            &[
                ("service", service),
                ("title", "Benchmark incident"),
                ("urgency", "1"),
            ],
        )
        .await?;
    let number: i64 = location.trim_start_matches("/incidents/").parse()?;
    let sent_ack = Instant::now();
    browser
        .post(&format!("/incidents/{number}/acknowledge"), &[])
        .await?;
    let sent_resolve = Instant::now();
    browser
        .post(&format!("/incidents/{number}/resolve"), &[])
        .await?;
    Ok((
        number,
        [
            ("triggered", sent_trigger),
            ("acknowledged", sent_ack),
            ("resolved", sent_resolve),
        ],
    ))
}

async fn wait_for(receipts: &Receipts, count: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if receipts.lock().unwrap().len() >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latencies(receipts: &Receipts, sent: &[(i64, [(&'static str, Instant); 3])]) -> Vec<f64> {
    let receipts = receipts.lock().unwrap();
    let mut out = Vec::new();
    for (number, events) in sent {
        for (event, at) in events {
            if let Some(received) = receipts.get(&(*number, event.to_string())) {
                out.push(received.duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line; 11 and 12 after the name.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

#[allow(unsafe_code)]
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.mode {
        Some(Mode::Events(events)) => return events::run(events).await,
        Some(Mode::Paging(paging)) => return paging::run(paging).await,
        Some(Mode::OnCall(on_call)) => return oncall::run(on_call).await,
        Some(Mode::Find(find)) => return find::run(find).await,
        None => {}
    }
    let args = cli.args;
    let dir = std::env::temp_dir().join(format!("klaxon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let receipts: Receipts = Arc::default();
    let receiver = start_receiver(receipts.clone())?;
    let mut servers = Vec::new();
    for _ in 0..args.instances.max(1) {
        servers.push(spawn_klaxon(&database_url, &args.server_log, &[])?);
    }
    let bases: Vec<String> = servers.iter().map(|(_, base)| base.clone()).collect();
    let pids: Vec<u32> = servers.iter().map(|(child, _)| child.id()).collect();
    let result = run(&args, &database_url, &bases, &receiver, &receipts, &pids).await;
    for (mut child, _) in servers {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let backend = if database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("backend: {backend}");
    result
}

async fn run(
    args: &Args,
    database_url: &str,
    bases: &[String],
    receiver: &str,
    receipts: &Receipts,
    pids: &[u32],
) -> anyhow::Result<()> {
    let base = bases[0].as_str();
    let service = set_up(base, receiver).await?;
    if args.without_policy {
        without_policy(base, &service).await?;
    }
    let servers_cpu = || -> f64 { pids.iter().map(|pid| cpu_seconds(&pid.to_string())).sum() };

    // Closed loop: `concurrency` sessions, each running incident lifecycles back to back.
    let per_worker = args.incidents.div_ceil(args.concurrency);
    let mut workers = Vec::new();
    let (server_cpu, bench_cpu) = (servers_cpu(), cpu_seconds("self"));
    let started = Instant::now();
    for worker in 0..args.concurrency {
        let browser = signed_in(&bases[worker % bases.len()]).await?;
        let service = service.clone();
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for _ in 0..per_worker {
                sent.push(lifecycle(&browser, &service).await?);
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = Vec::new();
    for worker in workers {
        sent.extend(worker.await??);
    }
    let accepted = started.elapsed();
    let transitions = sent.len() * 3;
    anyhow::ensure!(
        wait_for(receipts, transitions, Duration::from_secs(120)).await,
        "not every delivery arrived"
    );
    let last_receipt = *receipts.lock().unwrap().values().max().unwrap();
    let delivered = last_receipt.duration_since(started);
    let deliveries_per_sec = transitions as f64 / delivered.as_secs_f64();
    let closed = latencies(receipts, &sent);
    let server_cpu = servers_cpu() - server_cpu;
    let bench_cpu = cpu_seconds("self") - bench_cpu;
    println!(
        "closed loop: {} incidents, {transitions} transitions, {} in flight",
        sent.len(),
        args.concurrency
    );
    println!(
        "  transitions accepted per second: {:.0}",
        transitions as f64 / accepted.as_secs_f64()
    );
    println!("  deliveries per second (end to end): {deliveries_per_sec:.0}");
    println!(
        "  transition-to-receipt latency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}",
        percentile(&closed, 0.5),
        percentile(&closed, 0.95),
        percentile(&closed, 0.99)
    );

    println!(
        "  CPU per transition: servers {:.2} ms, load generator and receiver {:.2} ms",
        server_cpu * 1000.0 / transitions as f64,
        bench_cpu * 1000.0 / transitions as f64
    );

    // Open loop: new incidents arrive at a fixed rate (by default half the delivery rate just
    // measured).
    let rate = args.open_loop_rate.unwrap_or(deliveries_per_sec / 2.0);
    let incidents_per_sec = rate / 3.0;
    let interval = Duration::from_secs_f64(1.0 / incidents_per_sec);
    let count = (incidents_per_sec * args.open_loop_secs as f64) as usize;
    let browsers: Vec<Browser> = {
        let mut list = Vec::new();
        for i in 0..args.concurrency.max(4) {
            list.push(signed_in(&bases[i % bases.len()]).await?);
        }
        list
    };
    let before = receipts.lock().unwrap().len();
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(interval);
    for i in 0..count {
        tick.tick().await;
        let (browser, service) = (browsers[i % browsers.len()].clone(), service.clone());
        tasks.push(tokio::spawn(
            async move { lifecycle(&browser, &service).await },
        ));
    }
    let mut open_sent = Vec::new();
    for task in tasks {
        open_sent.push(task.await??);
    }
    anyhow::ensure!(
        wait_for(receipts, before + count * 3, Duration::from_secs(120)).await,
        "not every open-loop delivery arrived"
    );
    let open = latencies(receipts, &open_sent);
    println!(
        "open loop: {:.0} transitions per second offered for {} s ({} transitions)",
        rate,
        args.open_loop_secs,
        count * 3
    );
    println!(
        "  transition-to-receipt latency ms: p50 {:.1}, p95 {:.1}, p99 {:.1}",
        percentile(&open, 0.5),
        percentile(&open, 0.95),
        percentile(&open, 0.99)
    );
    for pid in pids {
        println!("server peak RSS: {:.1} MiB", peak_rss_mib(*pid));
    }

    if args.list_incidents > 0 {
        time_incident_lists(args.list_incidents as i64, database_url, base, &service).await?;
    }
    Ok(())
}

/// Prints the median time of 20 requests of each page.
async fn time_pages(browser: &Browser, paths: &[String]) -> anyhow::Result<()> {
    for path in paths {
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let html = browser.get(path).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                html.contains("<table class=\"incidents"),
                "{path} did not list incidents"
            );
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("    GET {path}: {:.1} ms", percentile(&times, 0.5));
    }
    Ok(())
}

/// Fills the database with incidents (one statement, no webhooks) and times list pages.
async fn time_incident_lists(
    count: i64,
    database_url: &str,
    base: &str,
    service: &str,
) -> anyhow::Result<()> {
    let db = klaxon::db::Db::connect(database_url, 2)?;
    let seeded_service = service.to_owned();
    db.run(move |conn| {
        let service = seeded_service;
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}) \
             INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, title, summary, status, urgency, \
                 priority, creation_date, context_window_start, context_window_end) \
             SELECT c.last_number + seq.n, 'bench' || seq.n, 'key' || seq.n, s.id, 'Seeded incident', '', \
                 CASE seq.n % 100 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE 3 END, seq.n % 2, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00' \
             FROM seq, incident_counter c, services s WHERE c.id = 1 AND s.unique_id = '{service}'"
        ))
        .execute(conn)?;
        diesel::sql_query(format!("UPDATE incident_counter SET last_number = last_number + {count} WHERE id = 1")).execute(conn)?;
        // As Klaxon's own write transactions do (SQLite's search index).
        klaxon::db::incident_list::index_new_incidents(conn)?;
        Ok::<_, klaxon::db::DbError>(())
    })
    .await?;
    let browser = signed_in(base).await?;
    let paths = [
        "/incidents".to_owned(),
        "/incidents?status=all&page=1000".to_owned(),
        "/incidents?status=resolved&urgency=low".to_owned(),
        format!("/incidents?status=all&service={service}&page=50"),
    ];
    println!("incidents list with {count} more incidents (1 % triggered, 1 % acknowledged, the rest resolved), median of 20 requests:");
    println!("  right after adding them:");
    time_pages(&browser, &paths).await?;
    // A database that grew over time has fresh planner statistics (autovacuum on PostgreSQL,
    // `PRAGMA optimize` at Klaxon's start on SQLite); one filled in a single statement does not
    // until then.
    db.run(|conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query("ANALYZE").execute(conn)?;
        Ok::<_, klaxon::db::DbError>(())
    })
    .await?;
    println!("  after ANALYZE:");
    time_pages(&browser, &paths).await?;
    Ok(())
}
