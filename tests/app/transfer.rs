//! Moving an install with the real binary: `klaxon export` from SQLite, `klaxon import` into
//! PostgreSQL (and a new SQLite file), and the app on the copy.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use klaxon::db::users;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::receiver::Receiver;
use crate::helpers::{
    act, api_integration, assert_no_pending_jobs, backends, configured_webhook, create_api_key,
    create_service, edit_service, location, post_event, query, sign_in_with, trigger, Backend,
    TestApp, TestDatabase, OWNER_EMAIL, OWNER_PASSWORD,
};

/// Runs `klaxon` with these arguments on the database and waits for it.
fn klaxon(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run klaxon")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn export_to(database_url: &str, file: &Path) -> Value {
    let output = klaxon(
        database_url,
        &["export", "--output", file.to_str().unwrap()],
    );
    assert!(output.status.success(), "export: {}", stderr(&output));
    assert!(
        output.stdout.is_empty(),
        "with --output nothing goes to stdout"
    );
    assert!(
        stderr(&output).starts_with("klaxon: exported "),
        "{}",
        stderr(&output)
    );
    serde_json::from_slice(&std::fs::read(file).unwrap()).expect("the export is JSON")
}

fn import(database_url: &str, file: &Path) -> Output {
    klaxon(database_url, &["import", file.to_str().unwrap()])
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// A connection of the test's own to a SQLite file. It waits for locks: a stopped app's
/// connections may still be closing, and the last one to close checkpoints the WAL.
fn open_sqlite(database_url: &str) -> SqliteConnection {
    let path = database_url.strip_prefix("sqlite://").unwrap();
    let mut conn = SqliteConnection::establish(path).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
    conn
}

/// What SQLite itself says the tables and their columns are.
fn sqlite_tables(database_url: &str) -> Vec<(String, Vec<String>)> {
    let mut conn = open_sqlite(database_url);
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load(&mut conn)
    .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let columns: Vec<Name> = diesel::sql_query(format!(
                "SELECT name FROM pragma_table_info('{}') ORDER BY name",
                table.name
            ))
            .load(&mut conn)
            .unwrap();
            (table.name, columns.into_iter().map(|c| c.name).collect())
        })
        .collect()
}

/// Rows of the on-call and paging tables, written directly: the copy is what is tested here,
/// and each row refers to the rows the app wrote (user 1, team 1, service 1, incident 1).
const ON_CALL_ROWS: &str = "
    INSERT INTO schedules (unique_id, team_id, name, time_zone, created_by, created_at)
        VALUES ('5c1f0a52-0000-4000-8000-000000000001', 1, 'Primary', 'Europe/Berlin', 1,
                '2026-03-29 09:00:00');
    INSERT INTO schedule_layers (unique_id, schedule_id, position, name, shift_length,
                                 rotation_start_time, restriction_type)
        VALUES ('5c1f0a52-0000-4000-8000-000000000002', 1, 0, 'Weekdays', 86400,
                '2026-03-29 07:00:00', 1);
    INSERT INTO schedule_layer_users (layer_id, user_id, position) VALUES (1, 1, 0);
    INSERT INTO schedule_restrictions (layer_id, start_day_of_week, start_time_of_day, duration)
        VALUES (1, 0, '22:00:00', 28800);
    INSERT INTO schedule_overrides (unique_id, schedule_id, user_id, start_time, end_time,
                                    created_by, created_at)
        VALUES ('5c1f0a52-0000-4000-8000-000000000003', 1, 1, '2026-04-01 00:00:00',
                '2026-04-02 00:00:00', 1, '2026-03-30 12:00:00');
    INSERT INTO escalation_policies (unique_id, team_id, name, repeat_policy, created_by,
                                     created_at)
        VALUES ('5c1f0a52-0000-4000-8000-000000000004', 1, 'Default', 2, 1,
                '2026-03-29 09:00:00');
    INSERT INTO escalation_rules (unique_id, policy_id, position, delay)
        VALUES ('5c1f0a52-0000-4000-8000-000000000005', 1, 0, 5);
    INSERT INTO escalation_targets (rule_id, target_type, schedule_id) VALUES (1, 1, 1);
    INSERT INTO escalation_targets (rule_id, target_type, user_id) VALUES (1, 2, 1);
    UPDATE services SET escalation_policy_id = 1 WHERE id = 1;
    INSERT INTO on_call_audit (team_id, subject_type, subject_id, actor_id, action, created_at)
        VALUES (1, 'escalation_policy', 1, 1, 'created', '2026-03-29 09:00:00');
    INSERT INTO escalations (incident_id, policy_id, policy_name, rules, started_at, ended_at,
                             end_reason)
        VALUES (1, 1, 'Default', '[{\"delay\": 5, \"targets\": []}]', '2026-03-30 10:00:00',
                '2026-03-30 10:01:00', 'acknowledged');
    INSERT INTO escalation_steps (escalation_id, incident_id, level, due_at, state, fired_at)
        VALUES (1, 1, 0, '2026-03-30 10:00:00', 'fired', '2026-03-30 10:00:01');
    INSERT INTO notifications (unique_id, incident_id, escalation_step_id, user_id, address,
                               kind, state, attempt_count, next_attempt_at, created_at,
                               completed_at)
        VALUES ('5c1f0a52-0000-4000-8000-000000000006', 1, 1, 1, 'owner@example.com',
                'triggered', 'succeeded', 1, '2026-03-30 10:00:01', '2026-03-30 10:00:01',
                '2026-03-30 10:00:02');
    INSERT INTO notification_attempts (notification_id, started_at, duration_ms, reply_code,
                                       reply_text)
        VALUES (1, '2026-03-30 10:00:01', 12, 250, '2.0.0 Ok: queued');
";

/// Fills a SQLite install through the app so that every table holds rows; returns the service
/// id, the incident number, and a session cookie of the owner.
async fn fill(source: &TestDatabase) -> (String, i64, String) {
    let receiver = Receiver::start().await;
    // The sender is stepped by hand below (it is off), to receivers on loopback.
    let app = TestApp::start_with(source, |config| {
        config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    app.create_owner().await;
    let service = create_service(&app, "Payments").await;
    configured_webhook(&app, &service, &receiver.url).await;
    let number = trigger(&app, &service, "Checkout is failing").await;
    let page = format!("/incidents/{number}");
    let response = app
        .submit(
            &page,
            &format!("{page}/notes"),
            &[("note", "Rolled back the deploy")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    act(&app, number, "acknowledge").await;
    act(&app, number, "resolve").await;
    app.send_until_idle().await;
    receiver.wait_for(3, Duration::from_secs(20)).await;

    let (monitored, _, events) = api_integration(&app).await;
    edit_service(
        &app,
        &monitored,
        &[("collation", "1"), ("collation_time", "300")],
    )
    .await;
    // The second alert is collated into the incident the first one opened.
    for entity in ["web-1", "web-2"] {
        let alert =
            json!({"message": "CPU above 95%", "alert_type": "critical", "entity_id": entity});
        let (status, _) = post_event(&app, &events, alert).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    create_api_key(&app, "Deploy script").await;
    let stranger = app.new_browser();
    let refused = sign_in_with(&stranger, &app.address, OWNER_EMAIL, "not the password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Every delivery finished: the copy is compared as it is now.
    app.send_until_idle().await;
    let cookie = app.session_cookie();
    app.stop().await;
    assert_no_pending_jobs(&app).await;
    // A reference to a later row of the same table (nothing in the app merges incidents yet).
    let mut conn = open_sqlite(&source.url);
    diesel::sql_query("UPDATE incidents SET merged_with = 2 WHERE id = 1")
        .execute(&mut conn)
        .unwrap();
    conn.batch_execute(ON_CALL_ROWS).unwrap();
    (service, number, cookie)
}

#[tokio::test]
async fn an_install_moves_from_sqlite_to_a_new_database_with_everything_in_it() {
    let source = TestDatabase::create(Backend::Sqlite);
    let (service, number, cookie) = fill(&source).await;
    let files = tempfile::tempdir().unwrap();
    let dump_file = files.path().join("dump.json");
    let dump = export_to(&source.url, &dump_file);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dump_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export holds secrets");
    }
    assert_eq!(dump["format"], "klaxon-export");
    assert_eq!(dump["version"], 1);
    let tables = dump["tables"].as_object().unwrap();
    let exported: Vec<&str> = tables.keys().map(String::as_str).collect();
    let mut known = klaxon::db::transfer::table_names();
    known.sort_unstable();
    assert_eq!(exported, known, "the export has every table it knows");
    // ...and those are all the tables there are (but those its triggers keep), each with every
    // column.
    let actual: Vec<_> = sqlite_tables(&source.url)
        .into_iter()
        .filter(|(table, _)| !klaxon::db::transfer::is_derived(table))
        .collect();
    assert_eq!(
        actual.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        known
    );
    for (table, columns) in &actual {
        let rows = tables[table].as_array().unwrap();
        assert!(!rows.is_empty(), "{table}: the app filled every table");
        let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            columns.iter().collect::<Vec<_>>(),
            "{table}: every column"
        );
    }
    assert_eq!(tables["users"].as_array().unwrap().len(), 1);
    assert_eq!(tables["deliveries"].as_array().unwrap().len(), 3);
    assert_eq!(tables["incidents"].as_array().unwrap().len(), 2);
    assert_eq!(tables["incidents"][0]["merged_with"], 2);

    // The same file goes into a new database of each backend.
    for backend in backends() {
        let target = TestDatabase::create(backend);
        let output = import(&target.url, &dump_file);
        assert!(output.status.success(), "{backend:?}: {}", stderr(&output));
        let said = stderr(&output);
        assert!(
            said.starts_with("klaxon: imported ")
                && said.contains(&format!(" rows of {} tables into ", known.len())),
            "{said}"
        );
        let again = export_to(&target.url, &files.path().join("again.json"));
        assert_eq!(
            again, dump,
            "{backend:?}: every row and id came over as it was"
        );

        let app = TestApp::start(&target).await;
        let response = app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{backend:?}");
        let incident = app.get(&format!("/incidents/{number}")).await;
        assert_eq!(incident.status(), StatusCode::OK);
        let incident = incident.text().await.unwrap();
        assert!(
            incident.contains("Checkout is failing") && incident.contains("Rolled back the deploy"),
            "{backend:?}"
        );
        let page = app.get(&format!("/services/{service}")).await;
        assert!(page.text().await.unwrap().contains("Payments"));
        // The list's counts and search were rebuilt from the imported incidents.
        let found = app.page("/incidents?status=all&q=checkout").await;
        assert!(
            found.contains(&format!("href=\"/incidents/{number}\"")),
            "{backend:?}: {found}"
        );
        let all = app.page("/incidents?status=all").await;
        assert!(
            all.contains("All <span class=\"count\">2</span>"),
            "{backend:?}: {all}"
        );
        // The session key came along, so people stay signed in across the move.
        let response = app.get_with_cookie("/incidents", &cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{backend:?}");

        // New rows get new ids and the next number (PostgreSQL's sequences were moved on).
        let next = trigger(&app, &service, "After the move").await;
        assert_eq!(next, 3, "{backend:?}");
        let created = create_service(&app, "Search").await;
        assert_ne!(created, service);
        app.stop().await;
    }
}

#[tokio::test]
async fn import_refuses_a_database_with_data_and_keeps_nothing_of_a_broken_file() {
    let source = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start(&source).await;
    app.create_owner().await;
    let service = create_service(&app, "Payments").await;
    let number = trigger(&app, &service, "Checkout is failing").await;
    app.stop().await;
    let files = tempfile::tempdir().unwrap();
    let dump_file = files.path().join("dump.json");
    export_to(&source.url, &dump_file);

    for backend in backends() {
        // A file cut short: refused, and nothing of it stays.
        let target = TestDatabase::create(backend);
        let whole = std::fs::read_to_string(&dump_file).unwrap();
        let cut = files.path().join("cut.json");
        std::fs::write(&cut, &whole[..whole.rfind("\"incidents\"").unwrap() + 20]).unwrap();
        let output = import(&target.url, &cut);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("not a usable export"),
            "{}",
            stderr(&output)
        );
        let other = files.path().join("other.json");
        std::fs::write(&other, r#"{"format": "something-else", "tables": {}}"#).unwrap();
        let output = import(&target.url, &other);
        assert!(
            stderr(&output).contains(r#"format is "something-else", expected "klaxon-export""#),
            "{}",
            stderr(&output)
        );
        // A server that started on the new database, and stopped, leaves it importable.
        let target_app = TestApp::start(&target).await;
        let people = query(&target_app, users::count).await;
        assert_eq!(people, 0, "{backend:?}: the broken import left nothing");
        assert_eq!(
            location(&target_app.get("/signin").await),
            "/setup",
            "{backend:?}: still a new install"
        );
        target_app.stop().await;

        let output = import(&target.url, &dump_file);
        assert!(output.status.success(), "{backend:?}: {}", stderr(&output));
        let target_app = TestApp::start(&target).await;
        let response = target_app.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{backend:?}");
        let page = target_app.get(&format!("/incidents/{number}")).await;
        assert!(page.text().await.unwrap().contains("Checkout is failing"));
        target_app.stop().await;

        // Once more into the same database: refused, naming what is there, nothing changed.
        let output = import(&target.url, &dump_file);
        assert!(!output.status.success());
        let said = stderr(&output);
        assert!(
            said.contains("the database is not empty (users: 1, ")
                && said.contains(" teams: 1, ")
                && said.contains("import only into a new database"),
            "{backend:?}: {said}"
        );
        let again = export_to(&target.url, &files.path().join("again.json"));
        let first: Value =
            serde_json::from_str(&std::fs::read_to_string(&dump_file).unwrap()).unwrap();
        assert_eq!(again["tables"]["incidents"], first["tables"]["incidents"]);
    }
}

/// The POSIX locks this process holds on the file at `path`, as Linux lists them.
fn locks_held_on(path: &str) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        // "1: POSIX  ADVISORY  READ <pid> <device>:<inode> <from> <to>"; the first field is
        // the line's place in the list, which other processes' locks move.
        .map(|line| line.split_whitespace().skip(1).collect::<Vec<_>>())
        .filter(|fields| {
            fields.first() == Some(&"POSIX")
                && fields.get(3) == Some(&pid.as_str())
                && fields
                    .get(4)
                    .is_some_and(|file| file.ends_with(&format!(":{inode}")))
        })
        .map(|fields| fields.join(" "))
        .collect()
}

/// POSIX locks belong to the process: closing any descriptor of the database file drops every
/// lock the process holds on it. A handle opened and closed beside a running app (here the
/// tests' own `query`) must leave the app's locks in place; without them, the next process to
/// close the file takes itself for the last user, copies the log back and deletes it, and the
/// app's later commits go into a deleted log that no other process sees.
#[tokio::test]
async fn a_handle_closed_beside_a_running_app_keeps_its_locks() {
    let database = TestDatabase::create(Backend::Sqlite);
    let path = database.url.strip_prefix("sqlite://").unwrap().to_owned();
    let app = TestApp::start(&database).await;
    app.create_owner().await;
    let held = locks_held_on(&path);
    assert!(
        !held.is_empty(),
        "a running app holds a lock on its database"
    );
    assert_eq!(query(&app, users::count).await, 1);
    assert_eq!(
        locks_held_on(&path),
        held,
        "the app's locks outlive the other handle"
    );

    let files = tempfile::tempdir().unwrap();
    export_to(&database.url, &files.path().join("before.json"));
    create_service(&app, "Payments").await;
    let after = export_to(&database.url, &files.path().join("after.json"));
    let services = after["tables"]["services"].as_array().unwrap();
    assert!(
        services.iter().any(|service| service["name"] == "Payments"),
        "another process sees what the app committed: {services:?}"
    );
    app.stop().await;
}
