//! Starting the app for a test, and a browser-like client that keeps cookies and reads forms.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl};
use klaxon::config::Config;
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

/// Runs a test body once per backend, each on a fresh app and database.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let app = TestApp::start(&database).await;
        let server = app.handle.clone();
        test(app).await;
        // Stopped here, the server lets go of its database before the next test needs the
        // machine, and no connection of it is left open when the test process exits.
        if let Some(server) = server {
            server.stop(false).await;
        }
        drop(database);
    }
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

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    /// None when the server runs in another process.
    handle: Option<actix_web::dev::ServerHandle>,
}

impl TestApp {
    pub async fn start(database: &TestDatabase) -> TestApp {
        Self::start_with(database, |_| {}).await
    }

    pub async fn start_with(database: &TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::with_database(&database.url);
        config.db_pool_size = 4;
        // Tests that check what is queued keep it queued; the delivery tests turn this on and
        // point webhooks at local receivers only.
        config.webhook_sender = false;
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let app = Application::build_with_listener(config, listener)
            .await
            .expect("app starts");
        let address = format!("http://{}", app.local_addr());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self::attach(address, database.url.clone(), Some(handle))
    }

    /// A browser for a server at `address` on `database_url`.
    pub fn attach(
        address: String,
        database_url: String,
        handle: Option<actix_web::dev::ServerHandle>,
    ) -> TestApp {
        let jar = Arc::new(Jar::default());
        TestApp {
            address,
            database_url,
            client: client_with(jar.clone()),
            jar,
            handle,
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

    pub async fn stop(&self) {
        if let Some(handle) = &self.handle {
            handle.stop(true).await;
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
        self.submit(
            "/signin",
            "/signin",
            &[("email", email), ("password", password)],
        )
        .await
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
