//! `klaxon-bench on-call`: the pages that answer "who is on call", on a team the size of a
//! real on-call rota. Each variant runs a fresh `klaxon` on a fresh database, set up as the
//! Events API workloads are (owner, service), then:
//!
//! - `--users` people in the team (100): the accounts added straight into the database (each
//!   would otherwise cost an argon2 hash through the pages), made members through
//!   `POST /api/account/teams/{team}/members/`;
//! - through `POST /api/account/teams/{team}/schedules/`, one schedule (Europe/Berlin) of 5
//!   layers of `--per-layer` (20) people each: daily, weekly, daily office hours 09:00–17:00,
//!   weekly weekends Friday 18:00 to Monday 08:00, and daily nights 22:00–06:00; with
//!   `--overrides` (200) overrides of 3 hours spread evenly over the past week and the next;
//! - two escalation policies targeting the schedule (one also a person at its second level),
//!   the first set as the service's.
//!
//! The variants differ only in the layers' rotation start: yesterday, or two years (730 days)
//! before. Then each page is requested `--warmup` times untimed and `--requests` times timed,
//! one after the other: the On call page (`/oncall`), the schedule's page, the API's
//! `/api/account/teams/{team}/oncall/` and the first policy's page. Reported: p50 / p95 / p99.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::ValueEnum;
use serde_json::{json, Value};

use crate::api::{member_username, Api};
use crate::events::load::{start_receiver, SharedHooks};
use crate::events::stage::{Server, Stage};
use crate::signed_in;
use crate::timing::{time_requests, Latency};

#[derive(clap::Args, Debug)]
pub struct OnCallArgs {
    /// Which rotation start to measure; `all` runs both, each on a fresh database.
    #[arg(long, value_enum, default_value_t = Variant::All)]
    variant: Variant,
    /// Timed requests of each page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Untimed requests of each page before.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// People in the team, the owner included.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// People in each of the schedule's five layers (taken in turn from the team).
    #[arg(long, default_value_t = 20)]
    per_layer: usize,
    /// Overrides of the schedule, spread over the past week and the next.
    #[arg(long, default_value_t = 200)]
    overrides: usize,
    /// The server's log filter (`KLAXON_LOG`); its logs are read and dropped.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// A PostgreSQL server where each variant creates a database of its own (as
    /// `klaxon-bench events --database-url`); fresh SQLite files without it.
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Variant {
    /// The layers' rotation started yesterday.
    Yesterday,
    /// The layers' rotation started 730 days ago.
    TwoYears,
    All,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Yesterday => "started yesterday",
            Variant::TwoYears => "started 2 years ago",
            Variant::All => "all",
        }
    }

    fn database(self) -> &'static str {
        match self {
            Variant::Yesterday => "oncall-yesterday",
            Variant::TwoYears => "oncall-two-years",
            Variant::All => "oncall",
        }
    }

    /// How long before yesterday the rotation started.
    fn age(self) -> Duration {
        match self {
            Variant::TwoYears => Duration::days(730),
            _ => Duration::zero(),
        }
    }

    fn expand(self) -> Vec<Variant> {
        match self {
            Variant::All => vec![Variant::Yesterday, Variant::TwoYears],
            one => vec![one],
        }
    }
}

const SCHEDULE_NAME: &str = "Bench rotation";
const POLICY_NAME: &str = "Bench on call";

pub async fn run(args: OnCallArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    anyhow::ensure!(
        args.users >= 1 && args.per_layer >= 1,
        "--users and --per-layer must be at least 1"
    );
    let dir = std::env::temp_dir().join(format!("klaxon-bench-oncall-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hooks: SharedHooks = Arc::default();
    let receiver = start_receiver(hooks)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut rows = Vec::new();
    let mut result = Ok(());
    for variant in args.variant.expand() {
        result = measure(&args, &dir, &receiver, &http, backend, variant, &mut rows)
            .await
            .with_context(|| variant.name());
        if result.is_err() {
            break;
        }
        println!();
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("| Page | Rotation | Backend | p50 / p95 / p99 |");
    println!("| --- | --- | --- | --- |");
    for row in &rows {
        println!("{row}");
    }
    result
}

async fn measure(
    args: &OnCallArgs,
    dir: &Path,
    receiver: &str,
    http: &reqwest::Client,
    backend: &str,
    variant: Variant,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    println!(
        "on call ({backend}, rotation {}): {} people, 5 layers of {}, {} overrides; each page \
         {} times after {} untimed",
        variant.name(),
        args.users,
        args.per_layer,
        args.overrides,
        args.requests,
        args.warmup
    );
    let server = Server {
        admin_url: args.database_url.as_deref(),
        log: &args.server_log,
        env: &[],
    };
    let stage = Stage::start_server(server, dir, receiver, variant.database(), None).await?;
    let setting_up = Instant::now();
    let api = Api::for_stage(http, &stage).await?;
    let people = add_people(&api, &stage, args.users).await?;
    let now = Utc::now();
    let start = now.duration_trunc(Duration::days(1))? - Duration::days(1) + Duration::hours(7)
        - variant.age();
    let schedule = create_schedule(&api, &people, args, start, now).await?;
    let policy = create_policies(&api, &schedule, &people).await?;
    println!(
        "  set up in {:.1} s (rotation start {})",
        setting_up.elapsed().as_secs_f64(),
        start.format("%Y-%m-%d %H:%M UTC")
    );

    let owner = signed_in(stage.base()).await?;
    let team = api.team.clone();
    let pages = [
        ("On call page", "`/oncall`".to_owned(), "/oncall".to_owned()),
        (
            "schedule page",
            "`/teams/{team}/schedules/{schedule}`".to_owned(),
            format!("/teams/{team}/schedules/{schedule}"),
        ),
        (
            "API on call",
            "`/api/account/teams/{team}/oncall/`".to_owned(),
            format!("/api/account/teams/{team}/oncall/"),
        ),
        (
            "policy page",
            "`/teams/{team}/escalation-policies/{policy}`".to_owned(),
            format!("/teams/{team}/escalation-policies/{policy}"),
        ),
    ];
    // Each answer names what it should before it is timed.
    let on_call_page = owner.get("/oncall").await?;
    anyhow::ensure!(
        on_call_page.contains(SCHEDULE_NAME) && on_call_page.contains(POLICY_NAME),
        "the On call page does not list the schedule and the policy"
    );
    let on_call = api
        .call(
            reqwest::Method::GET,
            &format!("/api/account/teams/{team}/oncall/"),
            None,
        )
        .await?;
    let reached = on_call
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|entry| entry["escalation_policy"]["unique_id"] == policy.as_str())
        })
        .and_then(|entry| entry["users"].as_array())
        .map_or(0, Vec::len);
    anyhow::ensure!(reached > 0, "the policy reaches nobody in /oncall/");
    let schedule_page = owner.get(&pages[1].2).await?;
    anyhow::ensure!(
        schedule_page.contains(SCHEDULE_NAME),
        "the schedule's page does not name it"
    );
    let policy_page = owner.get(&pages[3].2).await?;
    println!(
        "  answers: On call page {:.1} kB, schedule page {:.1} kB, API on call {:.1} kB, policy \
         page {:.1} kB",
        kb(on_call_page.len()),
        kb(schedule_page.len()),
        kb(on_call.to_string().len()),
        kb(policy_page.len())
    );

    for (label, shown, path) in &pages {
        let what = format!("GET {path}");
        let latency = if path.starts_with("/api/") {
            time_requests(&what, args.warmup, args.requests, || api.get_status(path)).await?
        } else {
            time_requests(&what, args.warmup, args.requests, || owner.get_status(path)).await?
        };
        let Latency { p50, p95, p99 } = latency;
        println!("  {label} ({shown}): p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms");
        rows.push(format!(
            "| {label} ({shown}) | {} | {backend} | {p50:.1} / {p95:.1} / {p99:.1} ms |",
            variant.name()
        ));
    }
    Ok(())
}

/// Adds `count - 1` accounts next to the owner, straight into the database (with the owner's
/// password hash), and makes them members of the team through the API; the team's usernames,
/// the owner's first.
async fn add_people(api: &Api<'_>, stage: &Stage, count: usize) -> anyhow::Result<Vec<String>> {
    let team_path = format!("/api/account/teams/{}/", api.team);
    let owner = member_username(
        &api.call(reqwest::Method::GET, &team_path, None).await?,
        crate::EMAIL,
    )
    .context("the owner is not a member of the team")?;
    let others = count - 1;
    if others > 0 {
        let db = klaxon::db::Db::connect(stage.database_url(), 1)?;
        let email = crate::EMAIL;
        db.run(move |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {others}) \
                 INSERT INTO users (username, email, email_normalized, first_name, last_name, \
                     password_hash, role, is_active, created_at) \
                 SELECT 'oncall-bench-' || seq.n, 'responder' || seq.n || '@example.com', \
                     'responder' || seq.n || '@example.com', 'Responder', 'No ' || seq.n, \
                     o.password_hash, 3, o.is_active, o.created_at \
                 FROM seq, users o WHERE o.email = '{email}'"
            ))
            .execute(conn)?;
            Ok::<_, klaxon::db::DbError>(())
        })
        .await?;
    }
    let members = format!("/api/account/teams/{}/members/", api.team);
    let mut usernames = vec![owner];
    for n in 1..=others {
        let username = format!("oncall-bench-{n}");
        api.call(
            reqwest::Method::POST,
            &members,
            Some(json!({"user": username, "role": 2})),
        )
        .await
        .with_context(|| format!("adding {username} to the team"))?;
        usernames.push(username);
    }
    Ok(usernames)
}

fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1000.0
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A layer of the bench's schedule, lowest first.
struct LayerShape {
    name: &'static str,
    shift_length: i64,
    /// 0 none, 1 daily, 2 weekly.
    restriction_type: i32,
    window: Option<Window>,
}

/// A restriction window: from a day of the week (0 Monday; ignored for daily windows) and a
/// local time of day, for so many seconds.
struct Window {
    day_of_week: i32,
    time_of_day: &'static str,
    seconds: i64,
}

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

const LAYERS: [LayerShape; 5] = [
    LayerShape {
        name: "Daily",
        shift_length: DAY,
        restriction_type: 0,
        window: None,
    },
    LayerShape {
        name: "Weekly",
        shift_length: WEEK,
        restriction_type: 0,
        window: None,
    },
    LayerShape {
        name: "Office hours",
        shift_length: DAY,
        restriction_type: 1,
        window: Some(Window {
            day_of_week: 0,
            time_of_day: "09:00:00",
            seconds: 8 * 3600,
        }),
    },
    LayerShape {
        name: "Weekends",
        shift_length: WEEK,
        restriction_type: 2,
        window: Some(Window {
            day_of_week: 4,
            time_of_day: "18:00:00",
            seconds: 62 * 3600,
        }),
    },
    LayerShape {
        name: "Nights",
        shift_length: DAY,
        restriction_type: 1,
        window: Some(Window {
            day_of_week: 0,
            time_of_day: "22:00:00",
            seconds: 8 * 3600,
        }),
    },
];

/// The schedule through the API, with its layers and overrides inline; its `unique_id`.
async fn create_schedule(
    api: &Api<'_>,
    people: &[String],
    args: &OnCallArgs,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let mut next_person = 0;
    let layers: Vec<Value> = LAYERS
        .iter()
        .map(|shape| {
            let users: Vec<&String> = (0..args.per_layer)
                .map(|i| &people[(next_person + i) % people.len()])
                .collect();
            next_person += args.per_layer;
            let restrictions: Vec<Value> = shape
                .window
                .iter()
                .map(|w| {
                    json!({
                        "start_day_of_week": w.day_of_week,
                        "start_time_of_day": w.time_of_day,
                        "duration": w.seconds,
                    })
                })
                .collect();
            json!({
                "name": shape.name,
                "shift_length": shape.shift_length,
                "rotation_start_time": rfc3339(start),
                "restriction_type": shape.restriction_type,
                "restrictions": restrictions,
                "users": users,
            })
        })
        .collect();
    // Three-hour overrides, evenly spread from a week ago to a week ahead (they overlap a
    // little), each for a different person in turn.
    let span = Duration::days(14).num_seconds();
    let first = now - Duration::days(7);
    let overrides: Vec<Value> = (0..args.overrides)
        .map(|i| {
            let from = first + Duration::seconds(span * i as i64 / args.overrides.max(1) as i64);
            json!({
                "name": format!("Swap {i}"),
                "user": people[(i * 7) % people.len()],
                "start_time": rfc3339(from),
                "end_time": rfc3339(from + Duration::hours(3)),
            })
        })
        .collect();
    let schedule = api
        .call(
            reqwest::Method::POST,
            &format!("/api/account/teams/{}/schedules/", api.team),
            Some(json!({
                "name": SCHEDULE_NAME,
                "time_zone": "Europe/Berlin",
                "layers": layers,
                "overrides": overrides,
            })),
        )
        .await?;
    anyhow::ensure!(
        schedule["layers"].as_array().map_or(0, Vec::len) == 5,
        "the schedule was not made with its five layers: {schedule}"
    );
    schedule["unique_id"]
        .as_str()
        .map(str::to_owned)
        .context("the new schedule has no unique_id")
}

/// Two policies targeting the schedule, the first the service's; its `unique_id`.
async fn create_policies(
    api: &Api<'_>,
    schedule: &str,
    people: &[String],
) -> anyhow::Result<String> {
    let path = format!("/api/account/teams/{}/escalation_policies/", api.team);
    let on_schedule = json!({"target_type": 1, "target_id": schedule});
    let first = api
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({
                "name": POLICY_NAME,
                "rules": [
                    {"delay": 0, "targets": [on_schedule]},
                    {"delay": 15, "targets": [on_schedule, {"target_type": 2, "target_id": people[0]}]},
                    {"delay": 30, "targets": [{"target_type": 2, "target_id": people[people.len() - 1]}]},
                ],
            })),
        )
        .await?;
    api.call(
        reqwest::Method::POST,
        &path,
        Some(json!({
            "name": "Bench secondary",
            "rules": [{"delay": 0, "targets": [on_schedule]}],
        })),
    )
    .await?;
    let first = first["unique_id"]
        .as_str()
        .context("the new policy has no unique_id")?
        .to_owned();
    api.set_policy(json!(first)).await?;
    Ok(first)
}
