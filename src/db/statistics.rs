//! Planner statistics for tables that grew from empty (PostgreSQL).
//!
//! PostgreSQL plans with the statistics `ANALYZE` gathers. For a table never analyzed it has
//! none, and then cannot tell the lookup of an alert's open incident by its unique (service,
//! entity) key from a walk of every open incident of the service: both look like one row, and
//! the plan it caches per connection may be the walk, whose cost grows with every incident the
//! storm opens. Autovacuum analyzes such a table only after its next visit to the database (a
//! minute by default), which is the whole first storm of a fresh install. So each instance
//! analyzes, once, every table of Klaxon's that has seen enough writes but was never analyzed;
//! from then on autovacuum's thresholds keep the statistics current. SQLite gathers its own at
//! start (`PRAGMA optimize`).

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use super::{Db, DbConn, DbError};

/// How often an instance looks for tables never analyzed.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Rows written to a never-analyzed table before it is analyzed: enough that the sample says
/// something, few enough that a storm is caught in its first seconds.
pub const MIN_CHANGES: i64 = 500;

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    relname: String,
}

/// Klaxon's tables (in the connection's schema) with at least `min_changes` rows written and no
/// statistics yet.
pub fn never_analyzed(conn: &mut DbConn, min_changes: i64) -> QueryResult<Vec<String>> {
    let DbConn::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT relname FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND last_analyze IS NULL \
           AND last_autoanalyze IS NULL AND n_mod_since_analyze >= $1 \
         ORDER BY relname",
    )
    .bind::<BigInt, _>(min_changes)
    .load(pg)?;
    Ok(tables.into_iter().map(|t| t.relname).collect())
}

/// Gathers `table`'s statistics (a sample; readers and writers go on meanwhile).
pub fn analyze(conn: &mut DbConn, table: &str) -> QueryResult<()> {
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    match conn {
        DbConn::Postgres(pg) => diesel::sql_query(format!("ANALYZE {quoted}"))
            .execute(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Analyzes tables that grew from empty, every [`CHECK_INTERVAL`], for as long as the task
/// runs (PostgreSQL; returns at once on SQLite).
pub async fn keep_analyzed(db: Db) {
    if !matches!(db.url(), super::DatabaseUrl::Postgres(_)) {
        return;
    }
    let mut ticker = tokio::time::interval(CHECK_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let analyzed = db
            .run(|conn| {
                let tables = never_analyzed(conn, MIN_CHANGES)?;
                for table in &tables {
                    analyze(conn, table)?;
                }
                Ok::<_, DbError>(tables)
            })
            .await;
        match analyzed {
            Ok(tables) if tables.is_empty() => {}
            Ok(tables) => tracing::info!(
                ?tables,
                "gathered planner statistics of tables that grew from empty"
            ),
            Err(error) => {
                tracing::warn!(%error, "gathering planner statistics failed; the next round tries again")
            }
        }
    }
}
