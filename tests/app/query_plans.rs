//! The Events API's statements, and those of the pages a responder opens during a storm, reach
//! their rows through indexes whose walk does not grow with open or resolved incidents, with
//! alerts, or with an integration's deliveries. Each test records every statement the server
//! runs while it takes alerts of every kind (on a service with 20 000 incidents and 20 000
//! alerts), or while it answers every such page (on a service with 20 000 open incidents, or an
//! integration with 20 000 deliveries), with fresh planner statistics; then it asks each backend
//! for each statement's plan: SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's generic plan (the one
//! a prepared statement keeps).

use std::sync::{Mutex, Once};

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use klaxon::config::Config;
use klaxon::db::{DbConn, DbError};
use serde_json::json;

use crate::helpers::receiver::Receiver;
use crate::helpers::{
    add_user, api_integration, backdate, configured_webhook, default_team, edit_service,
    for_each_backend, for_each_backend_with, join, query, signed_in_browser, trigger, Backend,
    TestApp, USER_PASSWORD,
};

/// Tables that grow with an install's history: no statement of the event path may walk them.
const GROWING: [&str; 6] = [
    "incidents",
    "alerts",
    "timeline_entries",
    "deliveries",
    "delivery_attempts",
    "collated_entities",
];
/// Indexes that reach all of a service's incidents, or all of a status: a statement of the event
/// path that searches through them grows with the service's history.
const UNBOUNDED_INDEXES: [&str; 2] = ["incidents_by_service", "incidents_by_status"];

/// One test records at a time: the recording is the process's.
static ONE_RECORDING_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What is being recorded: statements run on connections to the database named by `marker`.
static RECORDING: Mutex<Option<(String, Vec<String>)>> = Mutex::new(None);

/// The statements connections to the database named by `marker` put in their prepared-statement
/// cache, from `keep_prepared_of` on (recording paused or not).
static PREPARED: Mutex<Option<(String, Vec<String>)>> = Mutex::new(None);

/// Sees every connection the process opens; records the statements of the recorded database's.
struct StatementRecorder {
    url: String,
}

impl Instrumentation for StatementRecorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.url = url.to_owned();
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                let mut prepared = PREPARED.lock().unwrap();
                if let Some((marker, statements)) = prepared.as_mut() {
                    if self.url.contains(marker.as_str()) {
                        statements.push(sql.trim().to_owned());
                    }
                }
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                let mut recording = RECORDING.lock().unwrap();
                if let Some((marker, statements)) = recording.as_mut() {
                    if self.url.contains(marker.as_str()) {
                        statements.push(query.to_string());
                    }
                }
            }
            _ => {}
        }
    }
}

fn record_statements_of(marker: &str) {
    *RECORDING.lock().unwrap() = Some((marker.to_owned(), Vec::new()));
}

fn keep_prepared_of(marker: &str) {
    *PREPARED.lock().unwrap() = Some((marker.to_owned(), Vec::new()));
}

fn prepared() -> Vec<String> {
    let (_, statements) = PREPARED.lock().unwrap().take().unwrap_or_default();
    statements
}

fn recorded() -> Vec<String> {
    let (_, statements) = RECORDING.lock().unwrap().take().unwrap_or_default();
    statements
}

/// Statuses of the event path's history: of every four incidents one triggered, one
/// acknowledged, two resolved.
const HALF_OPEN: &str = "CASE seq.n % 4 WHEN 0 THEN 1 WHEN 1 THEN 2 ELSE 3 END";
/// Statuses of a storm: the oldest 1 000 resolved, every later one triggered (one in ten
/// acknowledged).
const STORM: &str = "CASE WHEN seq.n <= 1000 THEN 3 WHEN seq.n % 10 = 0 THEN 2 ELSE 1 END";

/// A service's history: 20 000 incidents with statuses as `statuses` (SQL of `seq.n`, 1 to
/// 20 000) says, an alert and a timeline entry for each, and an entity collated into each.
fn seed_history(
    conn: &mut DbConn,
    service: &str,
    integration: &str,
    statuses: &str,
) -> diesel::QueryResult<()> {
    seed_incidents(conn, service, statuses)?;
    diesel::sql_query(format!(
        "INSERT INTO alerts (unique_id, integration_id, incident_id, alert_type, message, summary, \
             entity_id, suppressed, payload, urls, creation_date) \
         SELECT 'alert-' || i.unique_id, g.id, i.id, 3, 'Seeded', '', i.entity_id, false, '{{}}', '[]', \
             i.creation_date \
         FROM incidents i, integrations g WHERE g.unique_id = '{integration}' AND i.entity_id LIKE 'seeded-%'"
    ))
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO timeline_entries (incident_id, kind, actor_label, detail, created_at) \
         SELECT id, 'triggered', 'Seeded', '', creation_date FROM incidents \
         WHERE entity_id LIKE 'seeded-%'",
    )
    .execute(conn)?;
    // Entities collated into the incident another entity opened.
    diesel::sql_query(
        "INSERT INTO collated_entities (service_id, entity_id, incident_id) \
         SELECT service_id, 'collated-' || entity_id, id FROM incidents WHERE entity_id LIKE 'seeded-%'",
    )
    .execute(conn)?;
    diesel::sql_query("ANALYZE").execute(conn)?;
    Ok(())
}

/// 20 000 incidents of the service, their status `statuses` (an SQL expression of `seq.n`).
fn seed_incidents(conn: &mut DbConn, service: &str, statuses: &str) -> diesel::QueryResult<()> {
    let count = 20_000;
    diesel::sql_query(format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}) \
         INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, title, summary, \
             status, urgency, priority, creation_date, context_window_start, context_window_end, entity_id) \
         SELECT 1000000 + seq.n, 'seeded' || seq.n, 'key' || seq.n, s.id, 'Seeded', '', \
             {statuses}, 1, 0, \
             '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'seeded-' || seq.n \
         FROM seq, services s WHERE s.unique_id = '{service}'"
    ))
    .execute(conn)
    .map(drop)
}

/// Every kind of alert: one that opens an incident, one that attaches to it, acknowledges and
/// resolves it, an info alert, alerts collated into another entity's incident (first and later),
/// and one suppressed by maintenance.
async fn send_every_kind_of_alert(app: &TestApp, service: &str, events: &str) {
    let send = |body: serde_json::Value| {
        let (client, url) = (reqwest::Client::new(), app.url(events));
        async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 201, "{body}");
        }
    };
    for alert_type in ["critical", "critical", "acknowledged", "resolved"] {
        send(json!({"message": "Disk full", "alert_type": alert_type, "entity_id": "fresh-1"}))
            .await;
    }
    send(json!({"message": "Deploy done", "alert_type": "info", "entity_id": "fresh-2"})).await;
    pause_recording_for(edit_service(
        app,
        service,
        &[("collation", "1"), ("collation_time", "300")],
    ))
    .await;
    send(json!({"message": "Errors", "alert_type": "critical", "entity_id": "fresh-3"})).await;
    for alert_type in ["critical", "critical", "acknowledged"] {
        send(json!({"message": "Errors too", "alert_type": alert_type, "entity_id": "fresh-4"}))
            .await;
    }
    pause_recording_for(edit_service(app, service, &[("status", "4")])).await;
    send(
        json!({"message": "During maintenance", "alert_type": "critical", "entity_id": "fresh-5"}),
    )
    .await;
}

/// Runs `work` (a page the test uses to set things up) without recording its statements.
async fn pause_recording_for(work: impl std::future::Future<Output = ()>) {
    let paused = RECORDING.lock().unwrap().take();
    work.await;
    *RECORDING.lock().unwrap() = paused;
}

/// The SQL of a recorded statement whose plan matters (reads and writes of rows), without the
/// binds diesel lists after it.
fn planned_sql(recorded: &str) -> Option<&str> {
    let sql = recorded
        .split(" -- binds:")
        .next()
        .unwrap_or(recorded)
        .trim();
    let verb = sql.split_whitespace().next()?.to_ascii_uppercase();
    let is_lock = sql.contains("pg_advisory");
    (["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(&verb.as_str()) && !is_lock)
        .then_some(sql)
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PostgresPlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// The plan of `sql` as lines of text. On PostgreSQL the generic plan: the statement is
/// prepared and explained with every parameter unknown.
fn plan_of(conn: &mut DbConn, sql: &str) -> diesel::QueryResult<Vec<String>> {
    match conn {
        DbConn::Sqlite(c) => Ok(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<SqlitePlanLine>(c)?
            .into_iter()
            .map(|l| l.detail)
            .collect()),
        DbConn::Postgres(c) => {
            let parameters = (1..)
                .take_while(|n| sql.contains(&format!("${n}")))
                .map(|_| "NULL")
                .collect::<Vec<_>>();
            diesel::sql_query("SET plan_cache_mode = force_generic_plan").execute(c)?;
            diesel::sql_query(format!("PREPARE planned AS {sql}")).execute(c)?;
            let explain = if parameters.is_empty() {
                "EXPLAIN EXECUTE planned".to_owned()
            } else {
                format!("EXPLAIN EXECUTE planned({})", parameters.join(", "))
            };
            let lines = diesel::sql_query(explain).load::<PostgresPlanLine>(c);
            diesel::sql_query("DEALLOCATE planned").execute(c)?;
            Ok(lines?.into_iter().map(|l| l.line).collect())
        }
    }
}

/// Whose statements are checked. The event path must not search all of a service's or a
/// status's incidents at all; a page may walk such an index in id order, since it stops at the
/// page's last row, but must not count without a cap or read incidents it then filters out by
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Events,
    Pages,
}

/// What in a plan line walks a growing table, if anything. `condition` is what the backend
/// states of the line's rows (on PostgreSQL the lines under it).
/// A search through an index of all a service's (or a status's) incidents is bounded only when
/// its `condition` also pins the incident's id. A sort is a fault only in a plan that reads a
/// growing table (a service's few integrations may be sorted).
fn unbounded_walk(
    backend: Backend,
    path: Path,
    sql: &str,
    line: &str,
    condition: &str,
    touches_growing: bool,
    touches_sorted: bool,
) -> Option<String> {
    // SQLite names a table by its alias in the statement ("SCAN i" for `incidents i`).
    let walks = |table: &str| match backend {
        Backend::Sqlite => names_of(sql, table).iter().any(|name| {
            line.starts_with(&format!("SCAN {name} ")) || line == format!("SCAN {name}")
        }),
        Backend::Postgres => line.contains(&format!("Seq Scan on {table} ")),
    };
    // A page of the list walks, newest (or oldest) first, the table itself (every status) or the index of
    // open incidents (the open ones) and stops at the page's last row; SQLite names those walks
    // scans.
    // Diesel's own statements quote and qualify their names: "`incidents`.`id`" is "id".
    let plain = sql.replace('`', "").replace("incidents.", "");
    let walks_a_page = path == Path::Pages
        && backend == Backend::Sqlite
        && (plain.contains("ORDER BY id DESC LIMIT") || plain.contains("ORDER BY id ASC LIMIT"))
        && !touches_sorted
        && ((line == "SCAN incidents" && !sql.contains("status"))
            || (line.ends_with("INDEX incidents_open") && sql.contains("status IN (1, 2)")));
    // The list's poll for a team walks the timeline newest first and stops at the team's first
    // entry: as far as other teams' changes since then (db::timeline::latest_id_for_teams).
    let walks_newest_entries = path == Path::Pages
        && backend == Backend::Sqlite
        && plain.contains("ORDER BY t.id DESC LIMIT 1")
        && !touches_sorted
        && line == "SCAN t";
    if let Some(table) = GROWING.into_iter().find(|table| walks(table)) {
        if !walks_a_page && !walks_newest_entries {
            return Some(format!("a full scan of {table}"));
        }
    }
    let pins_id = condition.contains("id=?") || condition.contains("(id = ");
    if let Some(index) = UNBOUNDED_INDEXES.into_iter().find(|i| line.contains(i)) {
        if !pins_id && path == Path::Events {
            return Some(format!("a search through {index}"));
        }
    }
    let reads_incidents = line.contains(" on incidents ") || line.contains(" incidents USING ");
    // Bounded elsewhere: "Assigned to me" walks the viewer's own incidents; a search that uses
    // the full-text index's own expression is sent only once a capped count found its matches
    // few (src/db/incident_list.rs).
    let bounded_walk = line.contains("incidents_by_assignee") || few_search_matches(sql);
    if path == Path::Pages
        && reads_incidents
        && condition.contains("Filter: (status")
        && !bounded_walk
    {
        return Some("a walk that reads incidents of other statuses".to_owned());
    }
    let sorts = match backend {
        Backend::Sqlite => line.contains("USE TEMP B-TREE"),
        Backend::Postgres => line
            .trim_start()
            .trim_start_matches("->  ")
            .starts_with("Sort "),
    };
    // Grouping what a capped walk found sorts at most the cap's rows.
    let groups_capped = sql
        .find(" LIMIT ")
        .is_some_and(|limit| sql[limit..].contains("GROUP BY"));
    (sorts && touches_growing && !groups_capped && !few_search_matches(sql))
        .then(|| "a sort of every matching row".to_owned())
}

/// `table` and the aliases `sql` gives it (`incidents i`, `incidents AS i`).
fn names_of(sql: &str, table: &str) -> Vec<String> {
    const NOT_ALIASES: [&str; 12] = [
        "ON", "WHERE", "JOIN", "CROSS", "INNER", "LEFT", "SET", "USING", "ORDER", "GROUP", "LIMIT",
        "VALUES",
    ];
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('`').trim_matches('"'))
        .collect();
    let mut names = vec![table.to_owned()];
    for (at, word) in words.iter().enumerate() {
        if *word != table {
            continue;
        }
        let next = match words.get(at + 1) {
            Some(w) if w.eq_ignore_ascii_case("AS") => words.get(at + 2),
            other => other,
        };
        if let Some(alias) = next.filter(|w| {
            w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !NOT_ALIASES.contains(&w.to_ascii_uppercase().as_str())
        }) {
            names.push((*alias).to_owned());
        }
    }
    names
}

/// A PostgreSQL search through the full-text index, which the list sends only where a capped
/// count found at most a few thousand matches.
fn few_search_matches(sql: &str) -> bool {
    sql.contains("incidents.search_words @@")
}

/// The faults of one statement's plan (an error planning it is one).
fn faults_of(
    backend: Backend,
    path: Path,
    sql: &str,
    plan: &Result<Vec<String>, String>,
) -> Vec<String> {
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => return vec![format!("cannot be planned ({e}):\n  {sql}")],
    };
    if backend == Backend::Sqlite && sql.starts_with("INSERT") && sql.contains(" VALUES ") {
        // SQLite lists, for a row added to a table that others reference, a search of
        // each referencing table; it runs only while a deferred foreign-key violation
        // is outstanding (never here: every constraint is immediate).
        return Vec::new();
    }
    if sql.contains("incidents.incident_number = ") {
        // One incident, by its unique number.
        return Vec::new();
    }
    let touches = |table: &str| {
        plan.iter()
            .any(|line| line.contains(&format!(" {table} ")) || line.ends_with(table))
    };
    let touches_growing = GROWING.iter().any(|table| touches(table));
    let sorts_rows = plan.iter().any(|line| line.contains("USE TEMP B-TREE"));
    let mut faults = Vec::new();
    let capped = sql.contains(" LIMIT ");
    if path == Path::Pages
        && sql.to_ascii_uppercase().contains("COUNT(")
        && (touches("incidents") || touches("alerts"))
        && !capped
    {
        faults.push("a count without a cap".to_owned());
    }
    for (n, line) in plan.iter().enumerate() {
        // PostgreSQL states an index's condition and filter on the lines under the index.
        let condition = match backend {
            Backend::Sqlite => line.clone(),
            Backend::Postgres => plan[n + 1..]
                .iter()
                .take_while(|l| !l.contains("->"))
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" "),
        };
        if let Some(fault) = unbounded_walk(
            backend,
            path,
            sql,
            line,
            &condition,
            touches_growing,
            sorts_rows,
        ) {
            faults.push(fault);
        }
    }
    faults
        .into_iter()
        .map(|fault| format!("{fault}:\n  {sql}\n  plan: {}", plan.join(" | ")))
        .collect()
}

fn install_recorder() {
    static INSTRUMENT: Once = Once::new();
    INSTRUMENT.call_once(|| {
        set_default_instrumentation(|| Some(Box::new(StatementRecorder { url: String::new() })))
            .expect("instrumentation installed");
    });
}

/// The distinct statements worth planning among those recorded (`planned_sql`), sorted.
fn distinct_planned(statements: &[String]) -> Vec<String> {
    let mut planned: Vec<String> = statements
        .iter()
        .filter_map(|s| planned_sql(s))
        .map(str::to_owned)
        .collect();
    planned.sort_unstable();
    planned.dedup();
    planned
}

/// The distinct statements worth planning among those recorded, each with its plan.
async fn plans_of(
    app: &TestApp,
    statements: &[String],
) -> Vec<(String, Result<Vec<String>, String>)> {
    let planned = distinct_planned(statements);
    app.db()
        .await
        .run(move |conn| {
            Ok::<_, DbError>(
                planned
                    .into_iter()
                    .map(|sql| {
                        let plan = plan_of(conn, &sql).map_err(|e| e.to_string());
                        (sql, plan)
                    })
                    .collect(),
            )
        })
        .await
        .unwrap()
}

fn all_faults(
    backend: Backend,
    path: Path,
    plans: &[(String, Result<Vec<String>, String>)],
) -> Vec<String> {
    plans
        .iter()
        .flat_map(|(sql, plan)| faults_of(backend, path, sql, plan))
        .collect()
}

#[tokio::test]
async fn every_statement_of_the_event_path_reaches_its_rows_through_a_bounded_index() {
    install_recorder();
    let _recording = ONE_RECORDING_AT_A_TIME.lock().await;
    for_each_backend(|app| async move {
        let backend = app.backend();
        app.create_owner().await;
        let (service, integration, events) = api_integration(&app).await;
        configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let (seed_service, seed_integration) = (service.clone(), integration.clone());
        query(&app, move |conn| {
            seed_history(conn, &seed_service, &seed_integration, HALF_OPEN)
        })
        .await;

        let marker = database_marker(&app.database_url);
        record_statements_of(&marker);
        send_every_kind_of_alert(&app, &service, &events).await;
        let statements = recorded();

        let plans = plans_of(&app, &statements).await;
        assert!(
            plans.len() >= 10,
            "{backend:?}: the event path's statements were recorded: {statements:#?}"
        );
        let faults = all_faults(backend, Path::Events, &plans);
        assert!(
            faults.is_empty(),
            "{backend:?}: statements on the event path that grow with history:\n{}",
            faults.join("\n")
        );
    })
    .await;
}

/// Every statement of the event path and of the paging it starts is prepared once per
/// connection and kept. Diesel compiles an UPDATE, a UNION, and on PostgreSQL an INSERT of a row
/// with optional fields, anew on every call unless told otherwise (`db::KeptPrepared`); SQLite
/// then compiles each one and PostgreSQL parses and plans it.
#[tokio::test]
async fn the_statements_of_the_event_path_stay_prepared() {
    install_recorder();
    let _recording = ONE_RECORDING_AT_A_TIME.lock().await;
    // From the server's start: a statement its start-up already prepared (every write
    // transaction's last ones, for instance) is not prepared again.
    let receiver = Receiver::start().await;
    let from_the_start = |config: &mut Config| {
        keep_prepared_of(&database_marker(&config.database_url));
        config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    };
    let receiver = &receiver;
    for_each_backend_with(from_the_start, |app| async move {
        let backend = app.backend();
        let marker = database_marker(&app.database_url);
        app.create_owner().await;
        let (service, _, events) = api_integration(&app).await;
        configured_webhook(&app, &service, &receiver.url).await;
        record_statements_of(&marker);
        send_every_kind_of_alert(&app, &service, &events).await;
        // The escalation worker, the notifier and the webhook sender claim and record in the
        // same writer.
        app.page_until_idle().await;
        app.send_until_idle().await;
        let (statements, prepared) = (recorded(), prepared());

        let run = distinct_planned(&statements);
        let writes = run
            .iter()
            .filter(|sql| sql.starts_with("INSERT") || sql.starts_with("UPDATE"))
            .count();
        assert!(
            writes >= 8,
            "{backend:?}: the event path's statements were recorded: {run:#?}"
        );
        let compiled_each_time: Vec<&String> =
            run.iter().filter(|sql| !prepared.contains(sql)).collect();
        assert!(
            compiled_each_time.is_empty(),
            "{backend:?}: statements of the event path compiled anew on every call:\n{compiled_each_time:#?}"
        );
        // A prepared SQLite statement with a bound LIMIT is compiled again inside SQLite on
        // every run, which the cache above cannot see.
        let bound_limits = |statements: &[String], what: &str| {
            let bound: Vec<&String> = statements
                .iter()
                .filter(|sql| backend == Backend::Sqlite && sql.contains("LIMIT ?"))
                .collect();
            assert!(bound.is_empty(), "{what} with a bound LIMIT:\n{bound:#?}");
        };
        bound_limits(&run, "statements of the event path");

        // The incident page's escalation view (the escalation, its steps, its emails) is read
        // the same way on every view.
        record_statements_of(&marker);
        let page = app.page("/incidents/1").await;
        assert!(page.contains("Level 1"), "{page}");
        let escalation_reads: Vec<String> = recorded()
            .into_iter()
            .filter(|sql| {
                let sql = sql.replace('"', "`");
                ["FROM `escalations`", "FROM `escalation_steps`", "FROM `notifications`"]
                    .iter()
                    .any(|table| sql.contains(table))
            })
            .collect();
        assert!(
            escalation_reads.len() >= 4,
            "the escalation view was recorded: {escalation_reads:#?}"
        );
        bound_limits(&escalation_reads, "the escalation view's reads");
    })
    .await;
}

/// How the event path finds the open incident of an alert's entity (`find_for_entity`).
const OPEN_FOR_ENTITY: &str = "SELECT id FROM incidents \
     WHERE service_id = $1 AND entity_id = $2 AND status IN (1, 2)";

#[derive(QueryableByName)]
struct Analyses {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    analyses: i64,
}

/// Times `incidents` was analyzed other than by autovacuum.
fn analyses_of_incidents(conn: &mut DbConn) -> diesel::QueryResult<i64> {
    diesel::sql_query(
        "SELECT analyze_count AS analyses FROM pg_stat_user_tables \
         WHERE relname = 'incidents' AND schemaname = current_schema()",
    )
    .get_result::<Analyses>(conn)
    .map(|row| row.analyses)
}

/// A storm on a PostgreSQL database whose `incidents` had no statistics, or statistics of an
/// empty table: Klaxon must gather them once the incidents pile up, since without them the
/// lookup of an alert's open incident may walk all the service's open incidents, and a lookup
/// by key in what looks like a one-page table is a scan. Autovacuum (here kept off) would come
/// a minute or more later.
async fn incidents_piled_up_in_postgresql_get_statistics_from_klaxon(analyzed_while_empty: bool) {
    for_each_backend(|app| async move {
        if app.backend() != Backend::Postgres {
            return;
        }
        app.create_owner().await;
        let (service, _, _) = api_integration(&app).await;
        let before = query(&app, move |conn| {
            diesel::sql_query("ALTER TABLE incidents SET (autovacuum_enabled = false)")
                .execute(conn)?;
            if analyzed_while_empty {
                diesel::sql_query("ANALYZE incidents").execute(conn)?;
            }
            let before = analyses_of_incidents(conn)?;
            seed_incidents(conn, &service, HALF_OPEN)?;
            Ok(before)
        })
        .await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while query(&app, analyses_of_incidents).await == before {
            assert!(
                std::time::Instant::now() < deadline,
                "20 000 incidents and still no statistics"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let plan = query(&app, |conn| plan_of(conn, OPEN_FOR_ENTITY)).await;
        assert!(
            plan.iter()
                .any(|line| line.contains("incidents_open_entity")),
            "an alert's open incident is found by its key: {plan:#?}"
        );
    })
    .await;
}

#[tokio::test]
async fn incidents_that_piled_up_in_a_fresh_postgresql_database_get_statistics_from_klaxon() {
    incidents_piled_up_in_postgresql_get_statistics_from_klaxon(false).await;
}

#[tokio::test]
async fn incidents_that_piled_up_after_statistics_of_an_empty_table_get_new_ones_from_klaxon() {
    incidents_piled_up_in_postgresql_get_statistics_from_klaxon(true).await;
}

#[derive(QueryableByName)]
struct IndexOptions {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    options: Option<String>,
}

/// GIN's pending list makes the insert that fills it move the whole list into the index (a
/// third of a second with every alert behind it waiting), so the search indexes go without.
#[tokio::test]
async fn postgresql_search_indexes_take_new_words_at_once() {
    for_each_backend(|app| async move {
        if app.backend() != Backend::Postgres {
            return;
        }
        let indexes = query(&app, |conn| {
            diesel::sql_query(
                "SELECT c.relname AS name, array_to_string(c.reloptions, ',') AS options \
                 FROM pg_class c JOIN pg_am a ON a.oid = c.relam \
                 WHERE a.amname = 'gin' AND c.relnamespace = current_schema()::regnamespace \
                 ORDER BY c.relname",
            )
            .load::<IndexOptions>(conn)
        })
        .await;
        let found: Vec<(String, Option<String>)> = indexes
            .into_iter()
            .map(|index| (index.name, index.options))
            .collect();
        assert!(found.len() >= 2, "the search indexes: {found:?}");
        for (name, options) in &found {
            assert_eq!(
                options.as_deref(),
                Some("fastupdate=off"),
                "{name} has no pending list"
            );
        }
    })
    .await;
}

/// Every page a responder opens during a storm, with the filters the incidents list offers.
fn storm_pages(service: &str, number: i64) -> Vec<String> {
    let mut pages: Vec<String> = [
        "",
        "?status=triggered",
        "?status=acknowledged",
        "?status=resolved",
        "?status=all",
        "?urgency=high",
        "?urgency=low",
        "?status=triggered&urgency=high",
        "?page=3",
        // Finding one: search, date range, assignee, sort, the far end of the pager.
        "?q=seeded",
        "?q=seed&status=triggered",
        "?q=nothing+matches",
        "?q=%231000500",
        "?status=all&to=2025-12-30",
        "?to=2025-12-30",
        "?assigned=me",
        "?status=resolved&assigned=me",
        "?sort=oldest",
        "?sort=urgency",
        "?status=resolved&sort=urgency",
        "?status=all&sort=oldest",
        "?status=resolved&page=20",
        "?status=resolved&page=400",
        "?q=seeded&status=all&sort=urgency&from=2026-01-01",
    ]
    .iter()
    .map(|q| format!("/incidents{q}"))
    .collect();
    // Today's incident only: the seeded history is of 2026-01-01.
    let today = chrono::Utc::now().date_naive();
    pages.push(format!("/incidents?from={today}&status=all"));
    pages.push(format!("/incidents?from={today}&to={today}&q=disk"));
    for q in ["", "&status=all", "&status=resolved", "&page=2"] {
        pages.push(format!("/incidents?service={service}{q}"));
    }
    pages.extend([
        "/incidents/changes".to_owned(),
        format!("/incidents/{number}"),
        format!("/incidents/{number}/changes"),
        "/incidents/1000500".to_owned(),
        "/services".to_owned(),
        format!("/services/{service}"),
    ]);
    pages
}

#[tokio::test]
async fn every_statement_of_a_storm_page_reaches_its_rows_through_an_index() {
    install_recorder();
    let _recording = ONE_RECORDING_AT_A_TIME.lock().await;
    for_each_backend(|app| async move {
        let backend = app.backend();
        app.create_owner().await;
        let (service, integration, _) = api_integration(&app).await;
        let webhook = configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let number = trigger(&app, &service, "Disk full").await;
        add_user(
            &app,
            ("Tess", "Member"),
            "tess@example.com",
            USER_PASSWORD,
            "3",
        )
        .await;
        join(&app, &default_team(&app).await, "Tess Member", "2").await;
        let member = signed_in_browser(&app, "tess@example.com", USER_PASSWORD).await;
        let (seed_service, seed_integration) = (service.clone(), integration.clone());
        query(&app, move |conn| {
            seed_history(conn, &seed_service, &seed_integration, STORM)?;
            // The service's and incident's pages read deliveries too: planned on a table of
            // one row, a scan is cheapest.
            seed_deliveries(conn, &webhook)
        })
        .await;
        // Ids grow with creation time: the first incident before the history of 2026-01-01,
        // another one today.
        backdate(&app, number, chrono::Duration::days(800)).await;
        trigger(&app, &service, "Disk full again").await;

        let pages = storm_pages(&service, number);
        record_statements_of(&database_marker(&app.database_url));
        for page in &pages {
            let owner = app.get(page).await;
            let theirs = member.get(app.url(page)).send().await.unwrap();
            assert_eq!(owner.status(), 200, "the owner's {page}");
            assert_eq!(theirs.status(), 200, "a team member's {page}");
        }
        let statements = recorded();

        let plans = plans_of(&app, &statements).await;
        assert!(
            plans
                .iter()
                .any(|(sql, _)| sql.contains("INDEXED BY") || sql.contains("LIMIT")),
            "{backend:?}: the pages' statements were recorded: {statements:#?}"
        );
        let faults = all_faults(backend, Path::Pages, &plans);
        assert!(
            faults.is_empty(),
            "{backend:?}: statements of a storm's pages that grow with open incidents:\n{}",
            faults.join("\n")
        );

        // Without the indexes of open incidents the same statements are faults: the check sees
        // what it guards.
        query(&app, |conn| {
            diesel::sql_query("DROP INDEX incidents_open").execute(conn)?;
            diesel::sql_query("DROP INDEX incidents_open_by_service").execute(conn)?;
            diesel::sql_query("ANALYZE").execute(conn)
        })
        .await;
        let unindexed = plans_of(&app, &statements).await;
        assert!(
            !all_faults(backend, Path::Pages, &unindexed).is_empty(),
            "{backend:?}: the check finds nothing once the open incidents' indexes are dropped"
        );
    })
    .await;
}

/// A long-lived Outgoing Webhooks integration's history: 20 000 deliveries, one in a hundred
/// failed and the others succeeded, and a few retrying.
fn seed_deliveries(conn: &mut DbConn, integration: &str) -> diesel::QueryResult<()> {
    diesel::sql_query(format!(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 20000) \
         INSERT INTO deliveries (unique_id, integration_id, event_type, payload, is_test, state, \
             attempt_count, next_attempt_at, last_error, created_at, completed_at) \
         SELECT 'msg_seeded' || seq.n, g.id, 'triggered', '{{}}', false, \
             CASE WHEN seq.n % 100 = 0 THEN 'failed' ELSE 'succeeded' END, 1, \
             '2026-01-01 00:00:00', NULL, '2026-01-01 00:00:00', '2026-01-01 00:00:00' \
         FROM seq, integrations g WHERE g.unique_id = '{integration}'"
    ))
    .execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO deliveries (unique_id, integration_id, event_type, payload, is_test, state, \
             attempt_count, next_attempt_at, last_error, created_at) \
         SELECT 'msg_retrying' || g.id, g.id, 'triggered', '{{}}', true, 'pending', 2, \
             '2099-01-01 00:00:00', 'the receiver answered 500 Internal Server Error', \
             '2026-01-02 00:00:00' \
         FROM integrations g WHERE g.unique_id = '{integration}'"
    ))
    .execute(conn)?;
    diesel::sql_query("ANALYZE").execute(conn)?;
    Ok(())
}

#[tokio::test]
async fn whether_an_integration_is_failing_is_read_without_walking_its_history() {
    install_recorder();
    let _recording = ONE_RECORDING_AT_A_TIME.lock().await;
    for_each_backend(|app| async move {
        let backend = app.backend();
        app.create_owner().await;
        let (service, _, _) = api_integration(&app).await;
        let webhook = configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let number = trigger(&app, &service, "Receiver down").await;
        let seeded = webhook.clone();
        query(&app, move |conn| seed_deliveries(conn, &seeded)).await;

        let pages = [
            format!("/services/{service}/integrations"),
            format!("/services/{service}"),
            // Its delivery log runs the same checks; its list, a page of the newest deliveries,
            // is a walk that stops at the page's end, which SQLite, seeing one integration own
            // every row here, takes along the table itself.
            format!("/services/{service}/integrations/{webhook}"),
            format!("/incidents/{number}"),
            format!("/incidents/{number}/changes"),
        ];
        record_statements_of(&database_marker(&app.database_url));
        for page in &pages {
            let body = app.page(page).await;
            if !page.contains("/incidents/") {
                assert!(body.contains("1 delivery retrying"), "{page}: {body}");
            }
        }
        // The statements on deliveries: the others are the storm test's (with few rows here,
        // PostgreSQL rightly scans the small tables).
        let statements: Vec<String> = recorded()
            .into_iter()
            .filter(|sql| sql.contains("deliveries`") || sql.contains("deliveries\""))
            .collect();

        let plans = plans_of(&app, &statements).await;
        assert!(
            plans
                .iter()
                .any(|(sql, _)| sql.contains("completed_at") && sql.contains("DESC")),
            "{backend:?}: the failing checks were recorded: {statements:#?}"
        );
        let faults = all_faults(backend, Path::Pages, &plans);
        assert!(
            faults.is_empty(),
            "{backend:?}: statements that grow with an integration's deliveries:\n{}",
            faults.join("\n")
        );

        // Without the index the same statements are faults: the check sees what it guards.
        query(&app, |conn| {
            diesel::sql_query("DROP INDEX deliveries_by_integration_state").execute(conn)?;
            diesel::sql_query("ANALYZE").execute(conn)
        })
        .await;
        let unindexed = plans_of(&app, &statements).await;
        assert!(
            !all_faults(backend, Path::Pages, &unindexed).is_empty(),
            "{backend:?}: the check finds nothing once the index is dropped"
        );
    })
    .await;
}

/// The part of a test database's URL that the server's connections also carry.
fn database_marker(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => path.to_owned(),
        None => url
            .rsplit('/')
            .next()
            .unwrap_or(url)
            .split('?')
            .next()
            .unwrap_or(url)
            .to_owned(),
    }
}
