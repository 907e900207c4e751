//! `klaxon-bench find`: finding an incident among many. A fresh `klaxon` on a fresh database is
//! set up through the pages (owner, `--services` services), stopped, filled straight through
//! SQL with `--incidents` incidents of a year of operations (most resolved, one service holding
//! most of them as after storms, titles from a vocabulary of a few hundred words and host
//! names), analysed, started again, and the incidents list is timed for each combination of its
//! filters, search, sorts, date ranges and pager: `--requests` requests each, one at a time,
//! after `--warmup` untimed ones.
//!
//! Each combination is first requested once with its body read: it must answer 200, and when
//! the server has the list's search and pager ("Page 1 of M" on the default view), its rows are
//! checked against what was asked (the status, the searched word in the titles, the service,
//! the order...), so that a query that ignores a filter cannot pass for a fast one.

mod explain;

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::events::load::num;
use crate::events::stage::FreshDb;
use crate::timing::time_requests;
use crate::{signed_in_as, spawn_klaxon, Browser, EMAIL, PASSWORD};
use klaxon::db::schema::{services, users};
use klaxon::db::DbConn;

#[derive(clap::Args, Debug)]
pub struct FindArgs {
    /// Incidents added straight into the database before the list is timed.
    #[arg(long, default_value_t = 1_000_000)]
    incidents: usize,
    /// Services the incidents are spread over; the first holds most of them.
    #[arg(long, default_value_t = 20)]
    services: usize,
    /// Timed requests of each combination.
    #[arg(long, default_value_t = 30)]
    requests: usize,
    /// Untimed requests of each combination before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// The server's log filter (`KLAXON_LOG`); its logs are read and dropped.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// A PostgreSQL server the bench can create a database on (it creates
    /// klaxon_bench_find_<pid> and drops it at the end), e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres. Without it, a fresh SQLite file in a
    /// temporary folder.
    #[arg(long)]
    database_url: Option<String>,
    /// Leave the filled database in place at the end (and say where), to look at the list's
    /// query plans in it.
    #[arg(long)]
    keep_database: bool,
    /// Then, for each combination whose median missed 30 ms, run the list once more in this
    /// process with its statements recorded, and print the slow ones with their query plans.
    #[arg(long)]
    explain: bool,
}

/// Rows on a page of the list (the server's INCIDENTS_PER_PAGE).
const PER_PAGE: usize = 50;

/// The share of incidents in the service that had the storms.
const STORM_SHARE: f64 = 0.6;

// Title words: "{qualifier} {component} {symptom} on {host}". No summary word is one of them,
// so that a row found by a title word shows that word in its title (the list shows no summary).
const QUALIFIERS: &[&str] = &[
    "high",
    "elevated",
    "critical",
    "intermittent",
    "sustained",
    "sudden",
    "partial",
    "regional",
    "nightly",
    "heap",
    "disk",
    "cpu",
    "memory",
    "connection",
    "queue",
    "thread",
    "socket",
    "cache",
    "index",
    "query",
    "lock",
    "replica",
    "primary",
    "shard",
    "pool",
    "token",
    "cert",
    "tls",
    "http",
    "grpc",
    "upstream",
    "downstream",
    "consumer",
    "producer",
    "batch",
    "cron",
    "ingress",
    "egress",
    "kernel",
    "container",
    "volume",
    "snapshot",
    "session",
    "webhook",
    "dns",
    "ntp",
    "smtp",
    "ldap",
    "oauth",
    "cdn",
    "firewall",
    "vpn",
    "raid",
    "inode",
    "swap",
    "gc",
    "jvm",
    "goroutine",
    "wal",
    "vacuum",
];
const COMPONENTS: &[&str] = &[
    "checkout",
    "payments",
    "login",
    "catalog",
    "inventory",
    "billing",
    "shipping",
    "cart",
    "notifications",
    "reporting",
    "gateway",
    "scheduler",
    "ledger",
    "invoices",
    "profiles",
    "uploads",
    "thumbnails",
    "exports",
    "imports",
    "analytics",
    "recommendations",
    "pricing",
    "coupons",
    "refunds",
    "loyalty",
    "addresses",
    "taxes",
    "fraud",
    "audit",
    "backups",
    "replication",
    "metrics",
    "tracing",
    "certificates",
    "storage",
    "streaming",
    "mailer",
    "onboarding",
    "subscriptions",
    "warehouse",
];
const SYMPTOMS: &[&str] = &[
    "latency",
    "timeouts",
    "errors",
    "saturation",
    "crashloop",
    "oom",
    "restarts",
    "degraded",
    "unreachable",
    "lag",
    "backlog",
    "throttled",
    "deadlock",
    "leak",
    "spike",
    "failover",
    "stalled",
    "rejected",
    "expired",
    "corrupted",
    "flapping",
    "slowdown",
    "overload",
    "exhaustion",
    "drift",
    "mismatch",
    "outage",
    "unresponsive",
    "panic",
    "evictions",
    "retries",
    "hang",
    "starvation",
    "contention",
    "truncation",
    "skew",
    "churn",
    "split",
    "desync",
    "misroute",
];
const HOST_KINDS: &[&str] = &[
    "db", "web", "app", "mq", "lb", "kv", "edge", "node", "proxy", "ingest", "etl", "vm",
];
const SUMMARY_OPENINGS: &[&str] = &[
    "The monitor fired after",
    "Alerting noticed it after",
    "Synthetic probes failed for",
    "On-call was paged after",
    "Customers reported trouble for",
    "The dashboard turned red after",
];
const SUMMARY_FOLLOW_UPS: &[&str] = &[
    "Rolled back the last deploy.",
    "Restarted the affected hosts.",
    "Scaled out and watched it recover.",
    "Followed the runbook; no data was lost.",
    "Opened a ticket for the owning team.",
    "Raised the limit until the weekend.",
    "Drained traffic to the other zone.",
    "Nothing to do: it recovered on its own.",
];
const SERVICE_NAMES: &[&str] = &[
    "Storefront",
    "Payments API",
    "Identity",
    "Search",
    "Inventory",
    "Billing",
    "Shipping",
    "Notifications",
    "Reporting",
    "Edge gateway",
    "Scheduler",
    "Ledger",
    "Media",
    "Data pipeline",
    "Recommendations",
    "Pricing",
    "Fraud",
    "Warehouse",
    "Mail",
    "Internal tools",
];

/// A word of the titles that matches ~2.5 % of the incidents, and one that matches none.
const COMMON_WORD: &str = "checkout";
const NO_MATCH_WORD: &str = "zyzzyva";

pub async fn run(args: FindArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.incidents > 0, "--incidents must be at least 1");
    anyhow::ensure!(
        (1..=SERVICE_NAMES.len()).contains(&args.services),
        "--services must be between 1 and {}",
        SERVICE_NAMES.len()
    );
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    let dir = std::env::temp_dir().join(format!("klaxon-bench-find-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (db, database_url) = FreshDb::create(args.database_url.as_deref(), &dir, "find")?;
    let backend = if database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let result = run_on(&args, &database_url, backend, &dir).await;
    if args.keep_database {
        println!("database kept: {database_url}");
    } else {
        db.drop_it();
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Stops the server whichever way the run ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_on(
    args: &FindArgs,
    database_url: &str,
    backend: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let (child, base) = spawn_klaxon(database_url, &args.server_log, &[])?;
    let server = Server(child);
    set_up(&base, args.services)
        .await
        .context("set-up through the pages")?;
    // Rows added behind a running server's back could meet whatever it loaded at start; it is
    // started again on the filled database instead, as after an upgrade.
    drop(server);

    let seeding = Instant::now();
    let mut conn = open(database_url)?;
    let seeded = seed(&mut conn, args.incidents)?;
    let inserted = seeding.elapsed();
    let analysing = Instant::now();
    analyse(&mut conn)?;
    let analysed = analysing.elapsed();
    println!(
        "find ({backend}): {} incidents over {} services added in {:.1} s ({:.0} a second), \
         then the tallies folded and {} in {:.1} s; database {}",
        num(args.incidents),
        args.services,
        inserted.as_secs_f64(),
        args.incidents as f64 / inserted.as_secs_f64(),
        if backend == "PostgreSQL" {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        },
        analysed.as_secs_f64(),
        database_size(&mut conn, database_url, dir)
    );
    println!(
        "  {} triggered, {} acknowledged, {} resolved; {} assigned to the owner; \"{COMMON_WORD}\" \
         in {} titles, host {} in {}",
        num(seeded.by_status[0]),
        num(seeded.by_status[1]),
        num(seeded.by_status[2]),
        num(seeded.assigned),
        num(seeded.common_word),
        seeded.rare_host,
        seeded.rare_host_count
    );
    drop(conn);

    let (child, base) = spawn_klaxon(database_url, &args.server_log, &[])?;
    let server = Server(child);
    let owner = signed_in_as(&base, EMAIL, PASSWORD).await?;
    let combinations = combinations(&seeded, &owner).await?;
    let landed = combinations.landed;
    if !landed {
        println!(
            "  the server's list shows no \"Page 1 of M\": it predates the search and pager, so it \
             ignores q, sort, from, to and assigned, and the rows are not checked"
        );
    }
    println!(
        "  GET /incidents?…, {} requests each after {} untimed, one at a time (ms):",
        args.requests, args.warmup
    );
    let mut rows = Vec::new();
    let mut misses = Vec::new();
    let mut wrong = Vec::new();
    for combination in &combinations.list {
        let html = owner.get(&combination.path).await?;
        let found = parse_rows(&html);
        // A wrong answer is still timed (and marked), so that one broken filter does not hide
        // the figures of the others.
        let checked = if !landed {
            "–".to_owned()
        } else if let Err(e) = combination.expect.check(&found, &html) {
            wrong.push(format!("{}: {e}", combination.label));
            format!("**wrong**: {e}")
        } else {
            "yes".to_owned()
        };
        let latency = time_requests(&combination.path, args.warmup, args.requests, || {
            owner.get_status(&combination.path)
        })
        .await?;
        let shown = combination
            .path
            .replace(&seeded.services[0].0, "{storm}")
            .replace(&seeded.services[seeded.services.len() - 1].0, "{small}");
        println!(
            "  {:<46} p50 {:>8.1}  p95 {:>8.1}  rows {:>2}  {shown}{}",
            combination.label,
            latency.p50,
            latency.p95,
            found.len(),
            if checked.starts_with("**") {
                format!("  WRONG: {}", &checked[11..])
            } else {
                String::new()
            }
        );
        if latency.p50 >= 30.0 {
            misses.push((combination.label.clone(), combination.path.clone()));
        }
        rows.push(format!(
            "| {} | `{shown}` | {} | {:.1} | {:.1} | {checked} |",
            combination.label,
            found.len(),
            latency.p50,
            latency.p95
        ));
    }
    if args.explain && !misses.is_empty() {
        println!();
        println!("  the statements of the combinations over 30 ms, run again in this process:");
        let mut explainer = explain::Explainer::open(database_url).await?;
        for (label, path) in &misses {
            println!("  {label}:");
            explainer.explain(path).await?;
        }
    }
    drop(server);
    println!();
    println!(
        "| Combination ({backend}, {} incidents) | Path | Rows | p50 ms | p95 ms | Rows checked |",
        num(args.incidents)
    );
    println!("|---|---|--:|--:|--:|---|");
    for row in rows {
        println!("{row}");
    }
    println!();
    if misses.is_empty() {
        println!("every combination answered under 30 ms median");
    } else {
        let labels: Vec<&str> = misses.iter().map(|(label, _)| label.as_str()).collect();
        println!("30 ms median missed by: {}", labels.join("; "));
    }
    anyhow::ensure!(
        wrong.is_empty(),
        "{} combination(s) answered wrong rows:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
    Ok(())
}

/// The owner and the services, through the pages.
async fn set_up(base: &str, services: usize) -> anyhow::Result<()> {
    let (owner, team) = crate::sign_up_owner(base).await?;
    for name in &SERVICE_NAMES[..services] {
        owner.get("/services/new").await?;
        owner
            .post("/services", &[("team", &team), ("name", name)])
            .await?;
    }
    Ok(())
}

fn open(database_url: &str) -> anyhow::Result<DbConn> {
    match klaxon::db::DatabaseUrl::parse(database_url)? {
        klaxon::db::DatabaseUrl::Postgres(url) => {
            Ok(DbConn::Postgres(diesel::pg::PgConnection::establish(&url)?))
        }
        klaxon::db::DatabaseUrl::Sqlite(path) => {
            let mut conn = diesel::sqlite::SqliteConnection::establish(&path.to_string_lossy())?;
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL",
            )?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

/// What was put in the database, for the combinations and their checks.
struct Seeded {
    /// (unique_id, name) of each service, the storm's first.
    services: Vec<(String, String)>,
    /// Incidents triggered, acknowledged, resolved.
    by_status: [usize; 3],
    assigned: usize,
    common_word: usize,
    rare_host: String,
    rare_host_count: usize,
    /// The incident counter before seeding: the seeded numbers follow it.
    numbers_after: i64,
    /// An incident number in the middle of the year.
    middle_number: i64,
    /// The first and last creation dates.
    first: NaiveDateTime,
    last: NaiveDateTime,
}

/// Rows in one INSERT, and in one transaction.
const ROWS_PER_INSERT: usize = 500;
const ROWS_PER_TRANSACTION: usize = 50_000;

/// Adds `count` incidents created over the last 365 days, ids and numbers growing with their
/// creation dates, with plain multi-row INSERTs so that whatever the migrations hang on the
/// table (triggers, indexes) keeps up as it would in production.
fn seed(conn: &mut DbConn, count: usize) -> anyhow::Result<Seeded> {
    let owner: i64 = users::table
        .filter(users::email.eq(EMAIL))
        .select(users::id)
        .first(conn)
        .context("the owner is not in the database")?;
    let services: Vec<(i64, String, String)> = services::table
        .order(services::id)
        .select((services::id, services::unique_id, services::name))
        .load(conn)?;
    anyhow::ensure!(!services.is_empty(), "no service was created");
    let last_number: i64 =
        diesel::sql_query("SELECT last_number FROM incident_counter WHERE id = 1")
            .load::<LastNumber>(conn)?
            .first()
            .map(|row| row.last_number)
            .unwrap_or(0);

    let mut rng = StdRng::seed_from_u64(0x6b6c_6178);
    let now = Utc::now().naive_utc();
    let first = now - Duration::days(365);
    let step = Duration::days(365).num_microseconds().unwrap_or(i64::MAX) / count as i64;
    let rare_index = count / 2;
    let mut seeded = Seeded {
        services: services
            .iter()
            .map(|(_, uid, name)| (uid.clone(), name.clone()))
            .collect(),
        by_status: [0; 3],
        assigned: 0,
        common_word: 0,
        rare_host: String::new(),
        rare_host_count: 0,
        numbers_after: last_number,
        middle_number: last_number + (count as i64 / 3).max(1),
        first,
        last: first,
    };
    let mut hosts: HashMap<String, usize> = HashMap::new();
    let mut sql = String::new();
    let mut in_statement = 0;
    let mut in_transaction = 0;
    diesel::sql_query("BEGIN").execute(conn)?;
    for i in 0..count {
        // Within its slot of the year, so that creation dates grow with ids.
        let created =
            first + Duration::microseconds(step * i as i64 + rng.random_range(0..step.max(1)));
        seeded.last = created;
        let status = match rng.random_range(0..1000) {
            0..20 => 1,
            20..30 => 2,
            _ => 3,
        };
        seeded.by_status[status as usize - 1] += 1;
        let service = if rng.random_bool(STORM_SHARE) || services.len() == 1 {
            services[0].0
        } else {
            services[rng.random_range(1..services.len())].0
        };
        let urgency = i32::from(rng.random_bool(0.7));
        let assigned = rng.random_bool(0.1);
        seeded.assigned += usize::from(assigned);
        let component = COMPONENTS[rng.random_range(0..COMPONENTS.len())];
        seeded.common_word += usize::from(component == COMMON_WORD);
        let host = format!(
            "{}-{:04}",
            HOST_KINDS[rng.random_range(0..HOST_KINDS.len())],
            rng.random_range(0..10_000)
        );
        if i == rare_index {
            seeded.rare_host = host.clone();
        }
        *hosts.entry(host.clone()).or_default() += 1;
        let title = format!(
            "{} {component} {} on {host}",
            QUALIFIERS[rng.random_range(0..QUALIFIERS.len())],
            SYMPTOMS[rng.random_range(0..SYMPTOMS.len())]
        );
        let summary = format!(
            "{} {} minutes. {}",
            SUMMARY_OPENINGS[rng.random_range(0..SUMMARY_OPENINGS.len())],
            rng.random_range(2..90),
            SUMMARY_FOLLOW_UPS[rng.random_range(0..SUMMARY_FOLLOW_UPS.len())]
        );
        let minutes = |rng: &mut StdRng, most: i64| Duration::minutes(rng.random_range(1..most));
        // Not after now: the last day's incidents were dealt with before the bench looked.
        let acknowledged = (status >= 2).then(|| (created + minutes(&mut rng, 30)).min(now));
        let resolved = (status == 3)
            .then(|| (acknowledged.unwrap_or(created) + minutes(&mut rng, 600)).min(now));
        let (window_start, window_end) = klaxon::domain::incidents::context_window(created);
        let number = last_number + i as i64 + 1;
        if in_statement == 0 {
            sql.clear();
            sql.push_str(
                "INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, \
                 title, summary, status, urgency, priority, assigned_to, creation_date, \
                 acknowledged_date, resolved_date, context_window_start, context_window_end) \
                 VALUES ",
            );
        } else {
            sql.push(',');
        }
        sql.push_str(&format!(
            "({number}, 'find{number}', 'findkey{number}', {service}, '{title}', '{summary}', \
             {status}, {urgency}, 0, {}, {}, {}, {}, {}, {})",
            if assigned {
                owner.to_string()
            } else {
                "NULL".to_owned()
            },
            timestamp(Some(created)),
            timestamp(acknowledged),
            timestamp(resolved),
            timestamp(Some(window_start)),
            timestamp(Some(window_end)),
        ));
        in_statement += 1;
        in_transaction += 1;
        if in_statement == ROWS_PER_INSERT || i + 1 == count {
            diesel::sql_query(&sql).execute(conn)?;
            in_statement = 0;
        }
        if in_transaction == ROWS_PER_TRANSACTION {
            // As Klaxon's own write transactions do before they commit (SQLite's search index).
            klaxon::db::incident_list::index_new_incidents(conn)?;
            diesel::sql_query("COMMIT").execute(conn)?;
            diesel::sql_query("BEGIN").execute(conn)?;
            in_transaction = 0;
        }
    }
    diesel::sql_query(format!(
        "UPDATE incident_counter SET last_number = {} WHERE id = 1",
        last_number + count as i64
    ))
    .execute(conn)?;
    klaxon::db::incident_list::index_new_incidents(conn)?;
    diesel::sql_query("COMMIT").execute(conn)?;
    seeded.rare_host_count = hosts.get(&seeded.rare_host).copied().unwrap_or(0);
    Ok(seeded)
}

#[derive(diesel::QueryableByName)]
struct LastNumber {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_number: i64,
}

fn timestamp(at: Option<NaiveDateTime>) -> String {
    at.map(|at| format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.6f")))
        .unwrap_or_else(|| "NULL".to_owned())
}

/// Planner statistics as a database that grew over time has them. On PostgreSQL, VACUUM too:
/// autovacuum would have run on a table that grew by a million rows (setting the visibility
/// map that index-only scans need, and flushing GIN pending lists).
fn analyse(conn: &mut DbConn) -> anyhow::Result<()> {
    // The tally triggers left a row per incident; the server folds them every few seconds, so a
    // database that grew over time holds one per key.
    diesel::sql_query("BEGIN").execute(conn)?;
    klaxon::db::tallies::compact(conn)?;
    diesel::sql_query("COMMIT").execute(conn)?;
    let sql = match conn {
        DbConn::Postgres(_) => "VACUUM ANALYZE",
        DbConn::Sqlite(_) => "ANALYZE",
    };
    diesel::sql_query(sql).execute(conn)?;
    Ok(())
}

fn database_size(conn: &mut DbConn, database_url: &str, dir: &Path) -> String {
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        size: i64,
    }
    let bytes = match conn {
        DbConn::Postgres(_) => {
            diesel::sql_query("SELECT pg_database_size(current_database()) AS size")
                .load::<Size>(conn)
                .ok()
                .and_then(|rows| rows.first().map(|row| row.size as u64))
        }
        DbConn::Sqlite(_) => {
            let _ = database_url;
            std::fs::read_dir(dir).ok().map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.metadata().ok())
                    .map(|meta| meta.len())
                    .sum()
            })
        }
    };
    bytes
        .map(|b| format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "of unknown size".to_owned())
}

/// One row of the list as the page shows it.
#[derive(Debug, Default)]
struct Row {
    number: i64,
    title: String,
    status: String,
    urgency: String,
    html: String,
}

/// The rows of the list's table (empty when the page shows none).
fn parse_rows(html: &str) -> Vec<Row> {
    let Some((_, body)) = html.split_once("<tbody>") else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap_or_default();
    body.split("<tr")
        .skip(1)
        .map(|tr| {
            let after = |marker: &str, end: char| {
                tr.split_once(marker)
                    .and_then(|(_, rest)| rest.split(end).next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let title = tr
                .split_once("class=\"title-cell\"")
                .and_then(|(_, rest)| rest.split_once("\">"))
                .and_then(|(_, rest)| rest.split_once('<'))
                .map(|(title, _)| title.to_owned())
                .unwrap_or_default();
            Row {
                number: after("<td>#", '<').parse().unwrap_or(0),
                title,
                status: after("label label-", '"'),
                urgency: after("urgency urgency-", '"'),
                html: tr.to_owned(),
            }
        })
        .collect()
}

/// "Page N of M" on the page: M, and whether it was "M+" (the server stopped counting).
fn page_count(html: &str) -> Option<(usize, bool)> {
    let text = strip_tags(html);
    text.split("Page ").skip(1).find_map(|rest| {
        let (_, after) = rest.split_once(" of ")?;
        // Thousands come apart by spaces: "20 000".
        let shown: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == ' ')
            .collect();
        let more = after.trim_start()[shown.len()..].starts_with('+');
        let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
        Some((digits.parse().ok()?, more))
    })
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Newest,
    Oldest,
    Urgency,
}

/// What the rows of a combination must show.
#[derive(Default)]
struct Expect {
    statuses: Option<&'static [&'static str]>,
    /// A word every title has a word starting with.
    word: Option<String>,
    /// The exact number of rows.
    rows: Option<usize>,
    /// Some rows at least.
    some: bool,
    number: Option<i64>,
    urgency: Option<&'static str>,
    /// Text every row shows (a service's name, the assignee's).
    shows: Option<String>,
    order: Option<Order>,
    /// Numbers within these (first and last numbers of a date range).
    numbers: Option<(i64, i64)>,
    /// "Page N of M" with these.
    page_of: Option<(usize, usize)>,
}

const OPEN: &[&str] = &["triggered", "acknowledged"];

impl Expect {
    fn check(&self, rows: &[Row], html: &str) -> anyhow::Result<()> {
        if let Some(n) = self.rows {
            anyhow::ensure!(rows.len() == n, "{} rows instead of {n}", rows.len());
        }
        if self.some {
            anyhow::ensure!(!rows.is_empty(), "no rows");
        }
        if let Some(number) = self.number {
            anyhow::ensure!(
                rows.iter().any(|row| row.number == number),
                "incident #{number} is not among the rows"
            );
        }
        for row in rows {
            if let Some(statuses) = self.statuses {
                anyhow::ensure!(
                    statuses.contains(&row.status.as_str()),
                    "#{} is {}",
                    row.number,
                    row.status
                );
            }
            if let Some(word) = &self.word {
                anyhow::ensure!(
                    row.title
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|w| w.to_ascii_lowercase().starts_with(word.as_str())),
                    "#{} ({}) has no word starting with {word}",
                    row.number,
                    row.title
                );
            }
            if let Some(urgency) = self.urgency {
                anyhow::ensure!(
                    row.urgency == urgency,
                    "#{} has urgency {}",
                    row.number,
                    row.urgency
                );
            }
            if let Some(text) = &self.shows {
                anyhow::ensure!(
                    row.html.contains(text.as_str()),
                    "#{} shows no {text}",
                    row.number
                );
            }
            if let Some((low, high)) = self.numbers {
                anyhow::ensure!(
                    (low..=high).contains(&row.number),
                    "#{} is outside the dates (#{low} to #{high})",
                    row.number
                );
            }
        }
        match self.order {
            Some(Order::Newest) => anyhow::ensure!(
                rows.windows(2).all(|w| w[0].number > w[1].number),
                "not newest first"
            ),
            Some(Order::Oldest) => anyhow::ensure!(
                rows.windows(2).all(|w| w[0].number < w[1].number),
                "not oldest first"
            ),
            Some(Order::Urgency) => anyhow::ensure!(
                rows.windows(2).all(|w| w[0].urgency >= w[1].urgency),
                "not high urgency first"
            ),
            None => {}
        }
        // A list of one page has no pager to say so.
        if let Some((page, of)) = self.page_of.filter(|&(_, of)| of > 1) {
            let shown = page_count(html);
            // A count that stopped short ("100+") must stop below the real one.
            let right = match shown {
                Some((pages, false)) => pages == of,
                Some((pages, true)) => pages < of,
                None => false,
            };
            anyhow::ensure!(
                right
                    && strip_tags(html)
                        .replace(' ', "")
                        .contains(&format!("Page{page}of")),
                "not \"Page {page} of {of}\" (of {shown:?})"
            );
        }
        Ok(())
    }
}

struct Combination {
    label: String,
    path: String,
    expect: Expect,
}

struct Combinations {
    list: Vec<Combination>,
    /// Whether the server has the search and pager (its default view says "Page 1 of M").
    landed: bool,
}

/// The first and last incident numbers created between these dates (inclusive, UTC), from how
/// the seeding spread them: for the date-range checks.
fn numbers_between(seeded: &Seeded, from: NaiveDate, to: NaiveDate, count: i64) -> (i64, i64) {
    let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = (to + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    let span = (seeded.last - seeded.first)
        .num_microseconds()
        .unwrap_or(1)
        .max(1) as f64;
    let base = seeded.numbers_after;
    let at = |t: NaiveDateTime| {
        let share = (t - seeded.first).num_microseconds().unwrap_or(0) as f64 / span;
        base + (share * count as f64).clamp(0.0, count as f64) as i64
    };
    // A slot's worth either side: a row near a bound may have been jittered across it.
    (at(start) - 1, at(end) + 2)
}

async fn combinations(seeded: &Seeded, owner: &Browser) -> anyhow::Result<Combinations> {
    let count: usize = seeded.by_status.iter().sum();
    let open = seeded.by_status[0] + seeded.by_status[1];
    let storm = &seeded.services[0];
    let small = seeded.services.last().unwrap_or(storm);
    let today = seeded.last.date();
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let week_from = today - Duration::days(120);
    let week_to = week_from + Duration::days(6);
    let year_from = today - Duration::days(365);
    let quarter_from = today - Duration::days(180);
    let quarter_to = today - Duration::days(90);
    let n = count as i64;

    let default_page = owner.get("/incidents").await?;
    let landed = page_count(&default_page).is_some();
    let exact = |html: &str| page_count(html).filter(|(_, more)| !more).map(|(n, _)| n);
    let all_page = owner.get("/incidents?status=all").await?;
    let pages_of = |total: usize| total.div_ceil(PER_PAGE).max(1);
    let all_pages = exact(&all_page).unwrap_or_else(|| pages_of(count));
    let open_pages = exact(&default_page).unwrap_or_else(|| pages_of(open));

    let mut list = Vec::new();
    let mut add = |label: &str, path: String, expect: Expect| {
        list.push(Combination {
            label: label.to_owned(),
            path,
            expect,
        })
    };
    let statuses = |s: &'static [&'static str]| Some(s);
    add(
        "default (open, newest)",
        "/incidents".into(),
        Expect {
            statuses: statuses(OPEN),
            order: Some(Order::Newest),
            page_of: Some((1, pages_of(open))),
            ..Expect::default()
        },
    );
    for (status, shown) in [
        ("triggered", &["triggered"][..]),
        ("acknowledged", &["acknowledged"][..]),
        ("resolved", &["resolved"][..]),
    ] {
        let total = seeded.by_status[match status {
            "triggered" => 0,
            "acknowledged" => 1,
            _ => 2,
        }];
        add(
            &format!("tab {status}"),
            format!("/incidents?status={status}"),
            Expect {
                statuses: statuses(shown),
                order: Some(Order::Newest),
                page_of: Some((1, pages_of(total))),
                ..Expect::default()
            },
        );
    }
    add(
        "tab all",
        "/incidents?status=all".into(),
        Expect {
            order: Some(Order::Newest),
            page_of: Some((1, pages_of(count))),
            ..Expect::default()
        },
    );
    add(
        "service: the storm's (open)",
        format!("/incidents?service={}", storm.0),
        Expect {
            statuses: statuses(OPEN),
            shows: Some(format!(">{}<", storm.1)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "service: a small one, all",
        format!("/incidents?status=all&service={}", small.0),
        Expect {
            shows: Some(format!(">{}<", small.1)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "urgency low (open)",
        "/incidents?urgency=low".into(),
        Expect {
            statuses: statuses(OPEN),
            urgency: Some("0"),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "urgency high, resolved",
        "/incidents?status=resolved&urgency=high".into(),
        Expect {
            statuses: statuses(&["resolved"]),
            urgency: Some("1"),
            some: true,
            ..Expect::default()
        },
    );
    for (status, shown) in [
        ("open", Some(OPEN)),
        ("resolved", statuses(&["resolved"])),
        ("all", None),
    ] {
        for (sort, order) in [
            ("newest", Order::Newest),
            ("oldest", Order::Oldest),
            ("urgency", Order::Urgency),
        ] {
            if status == "open" && sort == "newest" {
                continue;
            }
            add(
                &format!("sort {sort}, {status}"),
                format!("/incidents?status={status}&sort={sort}"),
                Expect {
                    statuses: shown,
                    order: Some(order),
                    some: true,
                    ..Expect::default()
                },
            );
        }
    }
    add(
        "search common word (open)",
        format!("/incidents?q={COMMON_WORD}"),
        Expect {
            statuses: statuses(OPEN),
            word: Some(COMMON_WORD.into()),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "search common word, all",
        format!("/incidents?status=all&q={COMMON_WORD}"),
        Expect {
            word: Some(COMMON_WORD.into()),
            page_of: Some((1, pages_of(seeded.common_word))),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "search common word, all, page 10",
        format!("/incidents?status=all&q={COMMON_WORD}&page=10"),
        Expect {
            word: Some(COMMON_WORD.into()),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "search rare host, all",
        format!("/incidents?status=all&q={}", seeded.rare_host),
        Expect {
            word: Some(seeded.rare_host.split('-').next_back().unwrap_or("").into()),
            rows: Some(seeded.rare_host_count.min(PER_PAGE)),
            ..Expect::default()
        },
    );
    add(
        "search #number, all",
        format!("/incidents?status=all&q=%23{}", seeded.middle_number),
        Expect {
            number: Some(seeded.middle_number),
            ..Expect::default()
        },
    );
    add(
        "search bare number, all",
        format!("/incidents?status=all&q={}", seeded.middle_number),
        Expect {
            number: Some(seeded.middle_number),
            ..Expect::default()
        },
    );
    add(
        "search word matching nothing, all",
        format!("/incidents?status=all&q={NO_MATCH_WORD}"),
        Expect {
            rows: Some(0),
            ..Expect::default()
        },
    );
    add(
        "dates: today (open)",
        format!("/incidents?from={}&to={}", day(today), day(today)),
        Expect {
            statuses: statuses(OPEN),
            numbers: Some(numbers_between(seeded, today, today, n)),
            ..Expect::default()
        },
    );
    add(
        "dates: today, all",
        format!(
            "/incidents?status=all&from={}&to={}",
            day(today),
            day(today)
        ),
        Expect {
            numbers: Some(numbers_between(seeded, today, today, n)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "dates: a week 4 months ago, all",
        format!(
            "/incidents?status=all&from={}&to={}",
            day(week_from),
            day(week_to)
        ),
        Expect {
            numbers: Some(numbers_between(seeded, week_from, week_to, n)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "dates: a week 4 months ago, oldest, all",
        format!(
            "/incidents?status=all&sort=oldest&from={}&to={}",
            day(week_from),
            day(week_to)
        ),
        Expect {
            numbers: Some(numbers_between(seeded, week_from, week_to, n)),
            order: Some(Order::Oldest),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "dates: the whole year, all",
        format!(
            "/incidents?status=all&from={}&to={}",
            day(year_from),
            day(today)
        ),
        Expect {
            some: true,
            ..Expect::default()
        },
    );
    add(
        "assigned to me (open)",
        "/incidents?assigned=me".into(),
        Expect {
            statuses: statuses(OPEN),
            shows: Some("Bench Mark".into()),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "assigned to me, all",
        "/incidents?status=all&assigned=me".into(),
        Expect {
            shows: Some("Bench Mark".into()),
            page_of: Some((1, pages_of(seeded.assigned))),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "combined: word+resolved+storm+3 months+oldest",
        format!(
            "/incidents?status=resolved&service={}&q={COMMON_WORD}&from={}&to={}&sort=oldest",
            storm.0,
            day(quarter_from),
            day(quarter_to)
        ),
        Expect {
            statuses: statuses(&["resolved"]),
            word: Some(COMMON_WORD.into()),
            shows: Some(format!(">{}<", storm.1)),
            numbers: Some(numbers_between(seeded, quarter_from, quarter_to, n)),
            order: Some(Order::Oldest),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "combined: word+all+high+urgency sort+mine",
        format!("/incidents?status=all&urgency=high&q={COMMON_WORD}&sort=urgency&assigned=me"),
        Expect {
            word: Some(COMMON_WORD.into()),
            urgency: Some("1"),
            shows: Some("Bench Mark".into()),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "pager: open, last page",
        format!("/incidents?page={open_pages}"),
        Expect {
            statuses: statuses(OPEN),
            page_of: Some((open_pages, open_pages)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "pager: all, page 2",
        "/incidents?status=all&page=2".into(),
        Expect {
            order: Some(Order::Newest),
            rows: Some(PER_PAGE.min(count.saturating_sub(PER_PAGE))),
            ..Expect::default()
        },
    );
    add(
        "pager: all, page 100",
        "/incidents?status=all&page=100".into(),
        Expect {
            order: Some(Order::Newest),
            some: count > 99 * PER_PAGE,
            ..Expect::default()
        },
    );
    add(
        "pager: all, last page",
        format!("/incidents?status=all&page={all_pages}"),
        Expect {
            order: Some(Order::Newest),
            page_of: Some((all_pages, all_pages)),
            some: true,
            ..Expect::default()
        },
    );
    add(
        "pager: all, past the end",
        format!("/incidents?status=all&page={}", all_pages + 1),
        Expect::default(),
    );
    Ok(Combinations { list, landed })
}
