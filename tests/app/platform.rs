//! What every request gets: probes, security headers, error pages, body limits, migrations.

use diesel::RunQueryDsl;
use klaxon::db::{DatabaseUrl, Db, DbError};
use reqwest::StatusCode;

use crate::helpers::{backends, for_each_backend, location, TestDatabase};

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    for_each_backend(|app| async move {
        let health = app.get("/healthz").await;
        assert_eq!(health.status(), StatusCode::OK);
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), StatusCode::OK);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["database"], "ok");
    })
    .await;
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_a_request_id() {
    for_each_backend(|app| async move {
        for path in ["/setup", "/static/style.css", "/no/such/page"] {
            let response = app.get(path).await;
            let headers = response.headers();
            let csp = headers
                .get("content-security-policy")
                .expect("CSP")
                .to_str()
                .unwrap();
            assert!(
                csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
                "{path}: {csp}"
            );
            assert!(csp.contains("frame-ancestors 'none'"));
            assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
            assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
            assert_eq!(headers.get("referrer-policy").unwrap(), "same-origin");
            assert_eq!(headers.get("x-request-id").unwrap().len(), 16);
        }
        let response = app.get("/setup").await;
        let cookie = response
            .headers()
            .get("set-cookie")
            .expect("session cookie")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("klaxon_session="));
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_pages_get_the_404_page() {
    for_each_backend(|app| async move {
        let response = app.get("/definitely/not/here").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let page = response.text().await.unwrap();
        assert!(page.contains("<h1>Not found</h1>") && page.contains("<html lang=\"en\">"));
        assert!(!page.contains("Sign out"), "nobody is signed in");

        // Signed in, a wrong turn keeps the navigation and the way out.
        app.create_owner().await;
        for path in [
            "/definitely/not/here",
            "/incidents/424242",
            "/services/no-such-service",
        ] {
            let response = app.get(path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let page = response.text().await.unwrap();
            assert!(page.contains("<h1>Not found</h1>"), "{path}");
            assert!(
                page.contains(">Sign out</button>") && page.contains(r#"href="/incidents""#),
                "{path}: {page}"
            );
        }
        // The API still answers JSON.
        let api = app.get("/api/incidents/424242/").await;
        assert!(api.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
    })
    .await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused_with_413() {
    for_each_backend(|app| async move {
        let _ = app.get("/signin").await;
        let huge = "x".repeat(1024 * 1024 + 1);
        let response = app
            .client
            .post(app.url("/setup"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("first_name={huge}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(response.text().await.unwrap().contains("larger than 1 MiB"));
    })
    .await;
}

#[tokio::test]
async fn migrations_apply_once_and_are_idempotent_on_every_backend() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let url = database.url.clone();
        let first = tokio::task::spawn_blocking(move || Db::connect(&url, 2))
            .await
            .unwrap();
        assert!(first.is_ok(), "{backend:?}: {:?}", first.err());
        let url = database.url.clone();
        let second = tokio::task::spawn_blocking(move || Db::connect(&url, 2))
            .await
            .unwrap();
        assert!(
            second.is_ok(),
            "{backend:?}: reopening an up-to-date database works"
        );
        assert!(second.unwrap().is_reachable().await);
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_klaxon_is_refused_not_used() {
    for backend in backends() {
        let database = TestDatabase::create(backend);
        let url = database.url.clone();
        let db = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
            .await
            .unwrap()
            .unwrap();
        db.write(|conn| {
            diesel::sql_query(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000001')",
            )
            .execute(conn)
            .map_err(DbError::from)
        })
        .await
        .unwrap();
        drop(db);

        let url = database.url.clone();
        let error = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
            .await
            .unwrap()
            .err()
            .expect("a schema from a newer version is refused");
        let message = format!("{error:#}");
        assert!(
            message.starts_with("cannot migrate database")
                && message.contains("a newer Klaxon has migrated it (migration 20991231000001"),
            "{backend:?}: {message}"
        );
        assert!(!message.contains('\n'));
    }
}

#[tokio::test]
async fn an_unreachable_database_gives_one_line_naming_it_without_the_password() {
    let error = tokio::task::spawn_blocking(|| {
        Db::connect("postgres://klaxon:hunter2@127.0.0.1:1/klaxon", 1)
    })
    .await
    .unwrap()
    .err()
    .expect("port 1 has no PostgreSQL");
    let message = format!("{error:#}");
    assert!(
        message.starts_with("cannot open database postgres://klaxon:****@127.0.0.1:1/klaxon"),
        "{message}"
    );
    assert!(!message.contains("hunter2"));
    assert!(!message.contains('\n'));

    let error = tokio::task::spawn_blocking(|| {
        Db::connect("sqlite:///proc/klaxon-cannot-write-here/k.db", 1)
    })
    .await
    .unwrap()
    .err()
    .expect("cannot create a folder in /proc");
    assert!(format!("{error:#}").starts_with("cannot open database sqlite:///proc/"));
}

#[test]
fn database_urls_pick_their_backend() {
    assert_eq!(
        DatabaseUrl::parse("sqlite://data/klaxon.db").unwrap(),
        DatabaseUrl::Sqlite("data/klaxon.db".into())
    );
    assert_eq!(
        DatabaseUrl::parse("./k.db").unwrap(),
        DatabaseUrl::Sqlite("./k.db".into())
    );
    assert!(DatabaseUrl::parse("postgresql://h/db")
        .unwrap()
        .is_postgres());
    assert_eq!(
        DatabaseUrl::parse("postgres://u@h/db").unwrap().redacted(),
        "postgres://u@h/db"
    );
}

#[tokio::test]
async fn a_mistyped_database_scheme_stops_the_binary_and_creates_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(folder.path())
        .env("DATABASE_URL", "postgress://klaxon@db/klaxon")
        .env("KLAXON_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("unknown scheme `postgress://`")
            && said.contains("sqlite://path/to/file.db, a plain file path, or postgres://"),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(folder.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "no SQLite folder named after the URL: {left:?}"
    );
    assert!(DatabaseUrl::parse("").is_err());
}

#[tokio::test]
async fn pages_declare_a_favicon_and_the_browsers_own_request_finds_it() {
    for_each_backend(|app| async move {
        let page = app.get("/setup").await.text().await.unwrap();
        assert!(page.contains(r#"<link rel="icon" href="/static/favicon.svg""#));
        let ico = app.get("/favicon.ico").await;
        assert_eq!(ico.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(location(&ico), "/static/favicon.svg");
        let icon = app.get("/static/favicon.svg").await;
        assert_eq!(icon.headers()["content-type"], "image/svg+xml");
        assert!(icon.text().await.unwrap().starts_with("<svg"));
    })
    .await;
}
