//! Load for the Events API workloads: the webhook receiver, sending alerts in a closed loop,
//! and what is reported of them.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};

use super::stage::Stage;
use crate::{cpu_seconds, field, percentile};

// ---------------------------------------------------------------------------------------------
// The webhook receiver

pub(crate) const TRIGGERED: u8 = 1;
pub(crate) const ACKNOWLEDGED: u8 = 2;
pub(crate) const RESOLVED: u8 = 3;

pub(crate) fn event_code(name: &str) -> u8 {
    match name {
        "triggered" => TRIGGERED,
        "acknowledged" => ACKNOWLEDGED,
        "resolved" => RESOLVED,
        _ => 0,
    }
}

/// What the receiver got: the first receipt of each (incident number, event), and every POST
/// (a redelivery counts there, not in `first`).
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) first: HashMap<(i64, u8), Instant>,
    pub(crate) posts: usize,
}

impl Hooks {
    pub(crate) fn count(&self, event: u8) -> usize {
        self.first.keys().filter(|(_, e)| *e == event).count()
    }

    pub(crate) fn last(&self) -> Option<Instant> {
        self.first.values().max().copied()
    }
}

pub(crate) type SharedHooks = Arc<Mutex<Hooks>>;

pub(crate) async fn receive(body: web::Bytes, hooks: web::Data<Mutex<Hooks>>) -> HttpResponse {
    let now = Instant::now();
    let text = String::from_utf8_lossy(&body);
    let event = field(&text, "\"event_type\"").map(event_code);
    let number = field(&text, "\"incident_number\"").and_then(|n| n.parse::<i64>().ok());
    let mut hooks = hooks.lock().unwrap();
    hooks.posts += 1;
    if let (Some(event), Some(number)) = (event, number) {
        hooks.first.entry((number, event)).or_insert(now);
    }
    HttpResponse::Ok().finish()
}

pub(crate) fn start_receiver(hooks: SharedHooks) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let data = web::Data::from(hooks);
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

/// Waits until the receiver has `expected` distinct (incident, event) receipts, or nothing new
/// arrived for `stall`; returns how many it has.
pub(crate) async fn wait_for_hooks(hooks: &SharedHooks, expected: usize, stall: Duration) -> usize {
    wait_for_count(|| hooks.lock().unwrap().first.len(), expected, stall).await
}

/// Waits until `count()` reaches `expected`, or stays the same for `stall`; its last value.
pub(crate) async fn wait_for_count(
    count: impl Fn() -> usize,
    expected: usize,
    stall: Duration,
) -> usize {
    let (mut seen, mut since) = (0, Instant::now());
    loop {
        let count = count();
        if count >= expected {
            return count;
        }
        if count != seen {
            (seen, since) = (count, Instant::now());
        } else if since.elapsed() > stall {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing new at the receiver for this long means the webhooks stopped coming.
pub(crate) const STALL: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Sending alerts

pub(crate) fn alert_body(alert_type: &str, entity: &str) -> String {
    format!(
        r#"{{"message":"{entity} {alert_type}","summary":"klaxon-bench","alert_type":"{alert_type}","entity_id":"{entity}"}}"#
    )
}

/// Posts one alert; returns the incident it is attached to and whether it opened it.
pub(crate) async fn post_alert(
    http: &reqwest::Client,
    url: &str,
    body: String,
) -> anyhow::Result<(Option<i64>, bool)> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(
        status.as_u16() != 429,
        "the Events API answered 429 Too Many Requests: the server needs \
         KLAXON_EVENTS_RATE_LIMIT=0 (the bench sets it)"
    );
    anyhow::ensure!(
        status.as_u16() == 201,
        "the Events API answered {status}: {text}"
    );
    let incident = field(&text, "\"incident\"").and_then(|n| n.parse().ok());
    let created = field(&text, "\"incident_created\"") == Some("true");
    Ok((incident, created))
}

/// One alert sent and answered.
pub(crate) struct Done {
    pub(crate) index: usize,
    pub(crate) sent: Instant,
    pub(crate) done: Instant,
    pub(crate) incident: Option<i64>,
    pub(crate) created: bool,
}

pub(crate) enum Schedule {
    /// Alerts 0..n, each worker taking the next one.
    Shared(usize),
    /// One worker per lane, each sending its alerts in order.
    Lanes(Vec<Vec<usize>>),
}

pub(crate) type BodyFn = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// Sends alerts back to back from `concurrency` workers, sending none after `limit`; returns
/// the start time and every alert's record.
pub(crate) async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    schedule: Schedule,
    concurrency: usize,
    limit: Duration,
    body: BodyFn,
) -> anyhow::Result<(Instant, Vec<Done>)> {
    let (total, lanes): (usize, Vec<Option<Vec<usize>>>) = match schedule {
        Schedule::Shared(n) => (n, (0..concurrency.max(1)).map(|_| None).collect()),
        Schedule::Lanes(lanes) => (0, lanes.into_iter().map(Some).collect()),
    };
    let next = Arc::new(AtomicUsize::new(0));
    let url: Arc<str> = url.into();
    let start = Instant::now();
    let mut workers = Vec::new();
    for lane in lanes {
        let (http, url, body, next) = (http.clone(), url.clone(), body.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut own = lane.map(Vec::into_iter);
            let mut out = Vec::new();
            loop {
                let index = match &mut own {
                    Some(lane) => match lane.next() {
                        Some(index) => index,
                        None => break,
                    },
                    None => match next.fetch_add(1, Ordering::Relaxed) {
                        index if index < total => index,
                        _ => break,
                    },
                };
                let sent = Instant::now();
                if sent.duration_since(start) >= limit {
                    break;
                }
                let (incident, created) = post_alert(&http, &url, body(index)).await?;
                out.push(Done {
                    index,
                    sent,
                    done: Instant::now(),
                    incident,
                    created,
                });
            }
            anyhow::Ok(out)
        }));
    }
    let mut done = Vec::new();
    for worker in workers {
        done.extend(worker.await??);
    }
    Ok((start, done))
}

/// Rates and latencies of a closed loop: over the first and the last `window` alerts (by
/// completion for rates, by index for latencies) and overall.
pub(crate) struct Slices {
    pub(crate) n: usize,
    pub(crate) window: usize,
    pub(crate) rate_first: f64,
    pub(crate) rate_last: f64,
    pub(crate) rate_all: f64,
    /// Request latency p50, p99 in ms.
    pub(crate) first: (f64, f64),
    pub(crate) last: (f64, f64),
    pub(crate) all: (f64, f64),
    pub(crate) last_done: Instant,
}

impl Slices {
    pub(crate) fn of(start: Instant, done: &[Done], window: usize) -> Slices {
        let n = done.len();
        let window = window.min(n / 2).max(1);
        let mut ends: Vec<Instant> = done.iter().map(|d| d.done).collect();
        ends.sort();
        let last_done = ends.last().copied().unwrap_or(start);
        let secs = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64().max(1e-9);
        let rate_all = n as f64 / secs(start, last_done);
        let (rate_first, rate_last) = if n >= 2 * window {
            (
                window as f64 / secs(start, ends[window - 1]),
                window as f64 / secs(ends[n - window - 1], ends[n - 1]),
            )
        } else {
            (rate_all, rate_all)
        };
        let latency = |keep: &dyn Fn(usize) -> bool| {
            let mut ms: Vec<f64> = done
                .iter()
                .filter(|d| keep(d.index))
                .map(|d| d.done.duration_since(d.sent).as_secs_f64() * 1000.0)
                .collect();
            ms.sort_by(|a, b| a.total_cmp(b));
            (percentile(&ms, 0.5), percentile(&ms, 0.99))
        };
        let max_index = done.iter().map(|d| d.index).max().unwrap_or(0);
        let first = latency(&|i| i < window);
        let last = latency(&|i| i + window > max_index);
        let all = latency(&|_| true);
        Slices {
            n,
            window,
            rate_first,
            rate_last,
            rate_all,
            first,
            last,
            all,
            last_done,
        }
    }

    pub(crate) fn print(&self) {
        let w = self.window;
        println!(
            "  alerts accepted per second: first {w} {}, last {w} {}, all {} {}",
            thousands(self.rate_first),
            thousands(self.rate_last),
            self.n,
            thousands(self.rate_all)
        );
        println!(
            "  request latency ms, p50 / p99: first {w} {:.1} / {:.1}, last {w} {:.1} / {:.1}, all {:.1} / {:.1}",
            self.first.0, self.first.1, self.last.0, self.last.1, self.all.0, self.all.1
        );
    }

    pub(crate) fn rates_cell(&self) -> String {
        format!(
            "{} / {} / {}",
            thousands(self.rate_first),
            thousands(self.rate_last),
            thousands(self.rate_all)
        )
    }

    pub(crate) fn latency_cell(&self) -> String {
        format!(
            "{:.1} / {:.1} → {:.1} / {:.1} ms",
            self.first.0, self.first.1, self.last.0, self.last.1
        )
    }
}

/// 12345.6 → "12 346", as the tables of docs/benchmarks.md write numbers.
pub(crate) fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if x < -0.5 {
        out.insert(0, '-');
    }
    out
}

/// A count as the tables write it: 100000 → "100 000".
pub(crate) fn num(n: usize) -> String {
    thousands(n as f64)
}

/// CPU seconds of the server and of this process (load generator and receiver) at one moment.
pub(crate) struct Cpu {
    server: f64,
    bench: f64,
}

impl Cpu {
    pub(crate) fn now(stage: &Stage) -> Cpu {
        Cpu {
            server: stage.server_cpu(),
            bench: cpu_seconds("self"),
        }
    }

    /// Milliseconds per alert since `self`, (server, bench).
    pub(crate) fn per_alert(&self, stage: &Stage, alerts: usize) -> (f64, f64) {
        let now = Cpu::now(stage);
        let per = |s: f64| s * 1000.0 / alerts.max(1) as f64;
        (per(now.server - self.server), per(now.bench - self.bench))
    }
}
