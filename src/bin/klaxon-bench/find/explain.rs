//! `find --explain`: what a slow combination spends its time on. The server is a separate
//! process and keeps its SQL to itself, so the list is run once more in this process, through
//! the same domain code on the same database, with diesel recording every statement its
//! connections send; the slow ones are printed with their plans (`EXPLAIN QUERY PLAN` on SQLite,
//! `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL).

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use diesel::RunQueryDsl;
use klaxon::db::{Db, DbConn};
use klaxon::domain::incidents::ListQuery;
use klaxon::domain::users::User;

use super::{open, PER_PAGE};
use crate::EMAIL;

/// Statements sent by this process's connections since the last take, with their time in ms.
static STATEMENTS: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

/// Statements shown: those that took at least this long (ms).
const SHOWN_FROM_MS: f64 = 1.0;

fn recorder() -> Option<Box<dyn Instrumentation>> {
    let mut started = None;
    Some(Box::new(
        move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, .. } => {
                let ms = started
                    .take()
                    .map(|at: Instant| at.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or(0.0);
                STATEMENTS.lock().unwrap().push((query.to_string(), ms));
            }
            _ => {}
        },
    ))
}

pub(super) struct Explainer {
    db: Db,
    /// A connection of its own for the plans, so that they stay out of the recording.
    plans: DbConn,
    owner: User,
}

impl Explainer {
    /// Starts recording, for the connections opened from now on.
    pub(super) async fn open(database_url: &str) -> anyhow::Result<Explainer> {
        let plans = open(database_url)?;
        set_default_instrumentation(recorder)?;
        let db = Db::connect(database_url, 2)?;
        let owner = db
            .run(klaxon::domain::users::active_users)
            .await?
            .into_iter()
            .find(|user| user.email == EMAIL)
            .context("the owner is not among the active users")?;
        Ok(Explainer { db, plans, owner })
    }

    /// Runs the list of `path` twice (the first warms the caches) and prints the statements of
    /// the second that took at least [`SHOWN_FROM_MS`], each with its plan.
    pub(super) async fn explain(&mut self, path: &str) -> anyhow::Result<()> {
        let query_string = path.split_once('?').map(|(_, q)| q).unwrap_or("");
        let query: ListQuery = serde_urlencoded::from_str(query_string)
            .with_context(|| format!("the list's query string {query_string}"))?;
        let zone = self
            .owner
            .time_zone
            .parse::<chrono_tz::Tz>()
            .unwrap_or(chrono_tz::UTC);
        let mut total = 0.0;
        for _ in 0..2 {
            STATEMENTS.lock().unwrap().clear();
            let started = Instant::now();
            klaxon::domain::incidents::list(&self.db, &self.owner, &query, PER_PAGE as i64, zone)
                .await?;
            total = started.elapsed().as_secs_f64() * 1000.0;
        }
        let statements = std::mem::take(&mut *STATEMENTS.lock().unwrap());
        println!(
            "    in this process: {total:.1} ms, {} statements, {:.1} ms in them",
            statements.len(),
            statements.iter().map(|(_, ms)| ms).sum::<f64>()
        );
        for (statement, ms) in statements.iter().filter(|(_, ms)| *ms >= SHOWN_FROM_MS) {
            let (sql, binds) = statement
                .rsplit_once(" -- binds: ")
                .unwrap_or((statement.as_str(), "[]"));
            println!("    {ms:.1} ms: {}", one_line(sql));
            // A statement with binds cannot be explained from its text alone; the list's own
            // are written with their values.
            if binds == "[]" {
                for line in plan(&mut self.plans, sql)? {
                    println!("      {line}");
                }
            }
        }
        Ok(())
    }
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn plan(conn: &mut DbConn, sql: &str) -> anyhow::Result<Vec<String>> {
    #[derive(diesel::QueryableByName)]
    struct SqlitePlan {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        parent: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    #[derive(diesel::QueryableByName)]
    struct PgPlan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[diesel(column_name = "QUERY PLAN")]
        line: String,
    }
    Ok(match conn {
        DbConn::Sqlite(c) => {
            let rows: Vec<SqlitePlan> =
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(c)?;
            // Each row hangs under the row whose id is its parent.
            let mut depth = std::collections::HashMap::new();
            rows.into_iter()
                .map(|row| {
                    let level = depth.get(&row.parent).map_or(0, |d| d + 1);
                    depth.insert(row.id, level);
                    format!("{}{}", "  ".repeat(level), row.detail)
                })
                .collect()
        }
        DbConn::Postgres(c) => {
            let rows: Vec<PgPlan> =
                diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).load(c)?;
            rows.into_iter().map(|row| row.line).collect()
        }
    })
}
