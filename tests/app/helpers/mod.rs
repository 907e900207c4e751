//! What every test file shares. A test file holds tests of one feature and imports only from
//! here, never from another test file.
//!
//! - This file: the backends, fresh databases, the app on port 0 (`TestApp`: a browser-like
//!   client that keeps cookies and reads forms), and the per-backend runner.
//! - `paging`: an app that mails through the test SMTP server (paging in the background, or
//!   when the test steps it), a service's paging policy.
//! - `people`: the owner, other accounts, signing in, API keys, `Person`.
//! - `setup`: teams, services, integrations, incidents and alerts, made through the pages and
//!   APIs as a person would.
//! - `schedules`: schedules and their layers, made through the pages; what their pages say.
//! - `db`: reading what the app wrote, making a write fail, the check that no job is left
//!   pending.
//! - `process`: the real `klaxon` binary as a child process.
//! - `receiver`: a local HTTP server that receives webhooks.
//! - `smtp`: a local SMTP server that receives notification emails.
//!
//! # The runner
//!
//! `for_each_backend(|app| async move { … })` runs a test body once per backend (SQLite always,
//! PostgreSQL when `KLAXON_TEST_POSTGRES_URL` is set), each on a fresh database and app with
//! default settings; `for_each_backend_with(|config| …, |app| async move { … })` adjusts the
//! settings first (`behind_proxy`, `sender_to_loopback`, or a closure). After each body the
//! runner stops the server and waits for it (and its webhook sender, which finishes what is in
//! flight) to end, then drops the database.
//!
//! # The webhook sender, and what it must leave behind
//!
//! Apps start with the sender off: deliveries stay queued for tests that check the queue. A test
//! turns it on in the background (`sender_to_loopback`), or drives it step by step with
//! `TestApp::send_due` / `send_until_idle` (the engine's `run_once`), which needs no waiting.
//! The paging workers (escalation steps, notification emails) likewise: off unless a test turns
//! them on in the background (`mail_through`, `paging_worker`), or drives them with
//! `TestApp::page_due` / `page_until_idle` on an app that mails but pages only when told
//! (`mail_stepped`).
//!
//! As crates.io's tests check that no background job is left over, the runner checks, once the
//! server and its workers have stopped, that a test whose app sent webhooks (either way) leaves
//! no delivery pending: every delivery must have succeeded or failed; and that a test whose app
//! paged (either way) leaves no escalation step or email pending that is due. A step or email
//! scheduled for later (a level waiting ten minutes, a rule's delay) is what the app should
//! leave; one due and not done is work the test did not wait for. A test that means to leave
//! some pending calls `app.leave_deliveries_pending()` or `app.leave_paging_pending()`. Tests
//! outside the runner call `assert_no_pending_jobs(&app)` after `app.stop()`.

pub mod db;
pub mod paging;
pub mod people;
pub mod process;
pub mod receiver;
pub mod schedules;
pub mod setup;
pub mod smtp;

pub use db::*;
pub use paging::*;
pub use people::*;
pub use process::*;
pub use schedules::*;
pub use setup::*;

use std::future::Future;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use diesel::{Connection, RunQueryDsl};
use klaxon::config::Config;
use klaxon::delivery::engine::DeliveryEngine;
use klaxon::paging::Paging;
use klaxon::startup::Application;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use reqwest::{Response, StatusCode};

pub const OWNER_EMAIL: &str = "ada@example.com";
pub const OWNER_PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends every test runs against.
pub fn backends() -> Vec<Backend> {
    let mut list = vec![Backend::Sqlite];
    if std::env::var("KLAXON_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        list.push(Backend::Postgres);
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but KLAXON_TEST_POSTGRES_URL is not set: PostgreSQL tests would be skipped"
        );
    }
    list
}

/// Runs a test body once per backend, each on a fresh app and database (see the top of this
/// file).
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for_each_backend_with(|_| {}, test).await;
}

/// Like `for_each_backend`, on an app whose settings `adjust` changes first.
pub async fn for_each_backend_with<A, F, Fut>(adjust: A, test: F)
where
    A: Fn(&mut Config),
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let app = TestApp::start_with(&database, &adjust).await;
        let server = app.server.clone().expect("an app of this process");
        test(app).await;
        // Stopped here, the server lets go of its database before the next test needs the
        // machine, and no connection of it is left open when the test process exits.
        server.stop(false).await;
        let checks = Checks {
            deliveries: server.sent_webhooks() && !server.pending_allowed.load(Ordering::SeqCst),
            paging: server.paged() && !server.paging_pending_allowed.load(Ordering::SeqCst),
        };
        if checks.deliveries || checks.paging {
            assert_none_pending(&database.url, backend, checks).await;
        }
        drop(database);
    }
}

/// Turns the webhook sender on, in the background, for receivers on loopback.
pub fn sender_to_loopback(config: &mut Config) {
    config.webhook_sender = true;
    config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
}

/// Reads client addresses from `X-Forwarded-For`, as behind a proxy on loopback, so that a
/// test can send requests from addresses of its choice.
pub fn behind_proxy(config: &mut Config) {
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

/// A fresh database: a SQLite file in a temporary folder, or a new PostgreSQL database that is
/// dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", dir.path().join("klaxon.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = without_tls(
                    &std::env::var("KLAXON_TEST_POSTGRES_URL").expect("KLAXON_TEST_POSTGRES_URL"),
                );
                let name = format!("klaxon_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .expect("connect to KLAXON_TEST_POSTGRES_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let mut url =
                    url::Url::parse(&admin_url).expect("KLAXON_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                TestDatabase {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

/// The URL with `sslmode=disable` unless it names a mode. Tests talk to a local server; with
/// TLS, libpq brings in OpenSSL, whose clean-up at process exit crashed the test binary when a
/// connection of a server still running in it was in use at that moment.
fn without_tls(url: &str) -> String {
    let mut url = url::Url::parse(url).expect("KLAXON_TEST_POSTGRES_URL is a URL");
    if !url.query_pairs().any(|(key, _)| key == "sslmode") {
        url.query_pairs_mut().append_pair("sslmode", "disable");
    }
    url.to_string()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// An app this process runs: its server, the task serving it, and its webhook sender.
struct Server {
    handle: actix_web::dev::ServerHandle,
    task: Mutex<Option<tokio::task::JoinHandle<anyhow::Result<()>>>>,
    engine: DeliveryEngine,
    /// The sender runs in the background (`webhook_sender`).
    sender_on: bool,
    /// The test drove the sender by hand.
    sender_driven: AtomicBool,
    /// The test leaves deliveries pending on purpose.
    pending_allowed: AtomicBool,
    /// The escalation worker and the notifier.
    paging: Paging,
    /// The paging workers run in the background (`paging_worker`).
    paging_on: bool,
    /// The test drove the paging workers by hand.
    paging_driven: AtomicBool,
    /// The test leaves due escalation steps or emails pending on purpose.
    paging_pending_allowed: AtomicBool,
}

impl Server {
    /// Stops the server and waits until it and its sender (which gives attempts in flight their
    /// grace period) have ended.
    async fn stop(&self, graceful: bool) {
        self.handle.stop(graceful).await;
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.await
                .expect("the server task ends")
                .expect("the server ends cleanly");
        }
    }

    fn sent_webhooks(&self) -> bool {
        self.sender_on || self.sender_driven.load(Ordering::SeqCst)
    }

    fn paged(&self) -> bool {
        self.paging_on || self.paging_driven.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    /// None when the server runs in another process.
    server: Option<Arc<Server>>,
}

impl TestApp {
    pub async fn start(database: &TestDatabase) -> TestApp {
        Self::start_with(database, |_| {}).await
    }

    pub async fn start_with(database: &TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::with_database(&database.url);
        config.db_pool_size = 4;
        // Tests that check what is queued keep it queued; the delivery tests turn this on, or
        // drive the sender by hand, and point webhooks at local receivers only.
        config.webhook_sender = false;
        // Likewise nobody is paged unless a test means it (tests/app/paging.rs turns it on).
        config.paging_worker = false;
        adjust(&mut config);
        let (sender_on, paging_on) = (config.webhook_sender, config.paging_worker);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let app = Application::build_with_listener(config, listener)
            .await
            .expect("app starts");
        let address = format!("http://{}", app.local_addr());
        let (handle, engine, paging) = (app.handle(), app.engine(), app.paging());
        let task = tokio::spawn(app.run_until_stopped());
        let mut test_app = Self::attach(address, database.url.clone());
        test_app.server = Some(Arc::new(Server {
            handle,
            task: Mutex::new(Some(task)),
            engine,
            sender_on,
            sender_driven: AtomicBool::new(false),
            pending_allowed: AtomicBool::new(false),
            paging,
            paging_on,
            paging_driven: AtomicBool::new(false),
            paging_pending_allowed: AtomicBool::new(false),
        }));
        test_app
    }

    /// A browser for a server at `address` on `database_url` that runs in another process.
    pub fn attach(address: String, database_url: String) -> TestApp {
        let jar = Arc::new(Jar::default());
        TestApp {
            address,
            database_url,
            client: client_with(jar.clone()),
            jar,
            server: None,
        }
    }

    /// The backend of the app's database.
    pub fn backend(&self) -> Backend {
        if self.database_url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// A direct handle on the app's database, to check what the app wrote.
    pub async fn db(&self) -> klaxon::db::Db {
        let url = self.database_url.clone();
        tokio::task::spawn_blocking(move || klaxon::db::Db::connect(&url, 2))
            .await
            .unwrap()
            .expect("open the test database")
    }

    fn own_server(&self) -> &Server {
        self.server
            .as_deref()
            .expect("the app runs in this process")
    }

    /// One step of the webhook sender (its `run_once`): claims the deliveries that are due,
    /// sends them, records the results. Returns how many it attempted. For apps whose sender
    /// is off, so that the test decides when webhooks go out.
    pub async fn send_due(&self) -> usize {
        let server = self.own_server();
        assert!(
            !server.sender_on,
            "the sender runs in the background; a test drives it only when it is off"
        );
        server.sender_driven.store(true, Ordering::SeqCst);
        server
            .engine
            .run_once()
            .await
            .expect("a step of the sender")
    }

    /// The app's webhook sender, for a test that claims, runs and records by hand. For apps
    /// whose sender is off.
    #[allow(dead_code)]
    pub fn webhook_sender(&self) -> DeliveryEngine {
        let server = self.own_server();
        assert!(!server.sender_on, "the sender runs in the background");
        server.sender_driven.store(true, Ordering::SeqCst);
        server.engine.clone()
    }

    /// Steps the sender until a step finds nothing due: every due delivery is sent, and after
    /// it the next delivery of the same incident. Retries scheduled for later stay pending.
    /// Returns how many attempts were made.
    pub async fn send_until_idle(&self) -> usize {
        until_idle(|| self.send_due(), "the sender still finds deliveries due").await
    }

    /// This test leaves deliveries pending on purpose: the runner does not check them.
    #[allow(dead_code)]
    pub fn leave_deliveries_pending(&self) {
        self.own_server()
            .pending_allowed
            .store(true, Ordering::SeqCst);
    }

    /// One step of each paging worker (their `run_once`): the escalation worker fires the
    /// steps that are due, then the notifier sends the emails that are due, those the steps
    /// just queued included. Returns how many steps and emails ran. For apps whose paging
    /// workers are off (`mail_stepped`), so that the test decides when people are paged.
    pub async fn page_due(&self) -> usize {
        let server = self.own_server();
        assert!(
            !server.paging_on,
            "the paging workers run in the background; a test drives them only when they are off"
        );
        server.paging_driven.store(true, Ordering::SeqCst);
        let steps = server
            .paging
            .steps
            .run_once()
            .await
            .expect("a step of the escalation worker");
        let emails = server
            .paging
            .email
            .run_once()
            .await
            .expect("a step of the notifier");
        steps + emails
    }

    /// The app's email sender, for a test that claims, sends and records by hand. For apps
    /// whose paging workers are off.
    #[allow(dead_code)]
    pub fn email_sender(&self) -> klaxon::jobs::Runner<klaxon::paging::EmailNotifications> {
        let server = self.own_server();
        assert!(
            !server.paging_on,
            "the paging workers run in the background"
        );
        server.paging_driven.store(true, Ordering::SeqCst);
        server.paging.email.clone()
    }

    /// Steps the paging workers until a step finds nothing due: every due level fires and
    /// every due email is sent, retries due at once included. Steps and emails scheduled for
    /// later (a level's delay, a rule's delay) stay pending. Returns how many ran.
    pub async fn page_until_idle(&self) -> usize {
        until_idle(|| self.page_due(), "the paging workers still find work due").await
    }

    /// This test leaves escalation steps or emails pending although due, on purpose: the
    /// runner does not check them.
    #[allow(dead_code)]
    pub fn leave_paging_pending(&self) {
        self.own_server()
            .paging_pending_allowed
            .store(true, Ordering::SeqCst);
    }

    /// The app paged: its paging workers ran in the background, or the test stepped them.
    pub fn paged(&self) -> bool {
        self.server.as_deref().is_some_and(Server::paged)
    }

    /// A second browser: its own cookies.
    pub fn new_browser(&self) -> reqwest::Client {
        client_with(Arc::new(Jar::default()))
    }

    /// The `Cookie` header this app's browser sends.
    pub fn session_cookie(&self) -> String {
        let url = self.address.parse().expect("address is a URL");
        let header = self.jar.cookies(&url).expect("a session cookie");
        header.to_str().expect("ASCII cookie").to_owned()
    }

    /// A request from a bare client carrying the given cookie header.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Response {
        client_with(Arc::new(Jar::default()))
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("GET")
    }

    /// Stops the server, letting requests and webhook attempts in flight finish, and waits
    /// until it has ended.
    pub async fn stop(&self) {
        if let Some(server) = &self.server {
            server.stop(true).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        get_with(&self.client, &self.url(path)).await
    }

    /// The page at `path` as this browser gets it, whatever its status.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// Opens the page at `page`, takes the CSRF token from its form, and posts `fields` to
    /// `action`, as a browser submitting that form would.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        submit_with(&self.client, &self.address, page, action, fields).await
    }

    /// Creates the first owner through the first-run page; the client is then signed in.
    pub async fn create_owner(&self) {
        let response = self
            .submit(
                "/setup",
                "/setup",
                &[
                    ("first_name", "Ada"),
                    ("last_name", "Lovelace"),
                    ("email", OWNER_EMAIL),
                    ("password", OWNER_PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "owner sign-up redirects"
        );
    }

    pub async fn sign_out(&self) {
        let response = self.submit("/settings", "/signout", &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        sign_in_with(&self.client, &self.address, email, password).await
    }
}

fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

pub async fn get_with(client: &reqwest::Client, url: &str) -> Response {
    client.get(url).send().await.expect("GET")
}

pub async fn submit_with(
    client: &reqwest::Client,
    address: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let response = get_with(client, &format!("{address}{page}")).await;
    let status = response.status();
    let response_location = location(&response);
    let html = response.text().await.expect("page body");
    let token = csrf_token(&html).unwrap_or_else(|| {
        panic!(
            "no CSRF token on {page} ({status} {:?}): {html}",
            response_location
        )
    });
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    client
        .post(format!("{address}{action}"))
        .form(&form)
        .send()
        .await
        .expect("POST")
}

/// The value of the metric `name` (with its labels, as `/metrics` writes them) on the instance
/// at `address`, or `None` when it is not there yet.
pub async fn metric(address: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// Runs `step` until it does nothing; how much it did in all. `busy` says what is wrong when
/// it is still busy after 1000 steps.
async fn until_idle<F: std::future::Future<Output = usize>>(
    mut step: impl FnMut() -> F,
    busy: &str,
) -> usize {
    let mut done = 0;
    for _ in 0..1000 {
        match step().await {
            0 => return done,
            n => done += n,
        }
    }
    panic!("{busy} after 1000 steps");
}

/// The CSRF token of the first form on a page.
pub fn csrf_token(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The value of the `<option>` whose text starts with `text`.
pub fn option_value(page: &str, text: &str) -> String {
    let end = page
        .find(&format!(">{text}"))
        .unwrap_or_else(|| panic!("option {text} listed"));
    let start = page[..end].rfind("value=\"").unwrap() + "value=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Claims due jobs of `runner`'s kind by hand, once per `(token, limit)` in `claims`, as that
/// many workers would; each job comes with the token that claimed it.
#[allow(dead_code)]
pub async fn claim_by_hand<K: klaxon::jobs::JobKind>(
    db: &klaxon::db::Db,
    runner: &klaxon::jobs::Runner<K>,
    claims: &[(&'static str, usize)],
) -> Vec<(&'static str, K::Job)> {
    let mut claimed = Vec::new();
    for &(token, limit) in claims {
        let claiming = runner.clone();
        let jobs = db
            .write(move |conn| {
                let now = klaxon::db::now();
                let until = now + chrono::Duration::minutes(1);
                let jobs = claiming.kind().claim(conn, token, now, until, limit)?;
                Ok::<_, klaxon::db::DbError>(jobs)
            })
            .await
            .expect("claim");
        claimed.extend(jobs.into_iter().map(|job| (token, job)));
    }
    claimed
}

/// Records finished jobs by hand in one write transaction, as the runner records a batch;
/// whether each one's lease held.
#[allow(dead_code)]
pub async fn record_by_hand<K: klaxon::jobs::JobKind>(
    db: &klaxon::db::Db,
    runner: &klaxon::jobs::Runner<K>,
    finished: Vec<klaxon::jobs::Finished<K>>,
) -> Vec<bool> {
    let recording = runner.clone();
    db.write(move |conn| {
        let held = recording.kind().record(conn, &finished)?;
        Ok::<_, klaxon::db::DbError>(held)
    })
    .await
    .expect("record")
}
