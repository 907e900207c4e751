//! Planner statistics for tables that grew from empty (PostgreSQL).
//!
//! PostgreSQL plans with the statistics `ANALYZE` gathers. For a table never analyzed it has
//! none, and then cannot tell the lookup of an alert's open incident by its unique (service,
//! entity) key from a walk of every open incident of the service: both look like one row, and
//! the plan it caches per connection may be the walk, whose cost grows with every incident the
//! storm opens. A table analyzed while it was (nearly) empty is no better: a lookup by primary
//! key in a table of one page is a scan of that page, and that plan stays cached, also for the
//! foreign-key checks of the tables pointing at it, while the table grows to thousands of rows
//! (the notifications, escalation steps and deliveries of a storm on a database analyzed before
//! its first storm). Autovacuum analyzes such a table only on its next visit to the database (a
//! minute by default), which is the whole first storm. So each instance analyzes every table of
//! Klaxon's that has at least doubled in rows since its statistics were gathered (or has rows
//! and none), from [`MIN_ROWS`] rows on: a few times while a table grows from empty, after which
//! autovacuum's thresholds keep the statistics current; each `ANALYZE` has every connection
//! plan its cached statements again. SQLite gathers its own at start (`PRAGMA optimize`).

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use super::{Db, DbConn, DbError};

/// How often an instance looks for tables that outgrew their statistics.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Rows a table must hold before it is analyzed: enough that the sample says something and a
/// scan of the table costs more than an index's few pages, few enough that a storm is caught
/// in its first seconds.
pub const MIN_ROWS: i64 = 500;

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    relname: String,
}

/// Klaxon's tables (in the connection's schema) with at least `min_rows` rows and at least
/// twice the rows their statistics counted (`reltuples` is -1 for a table never analyzed).
pub fn outgrown_statistics(conn: &mut DbConn, min_rows: i64) -> QueryResult<Vec<String>> {
    let DbConn::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.schemaname = current_schema() AND s.n_live_tup >= $1 \
           AND s.n_live_tup >= 2 * GREATEST(c.reltuples, 0) \
         ORDER BY s.relname",
    )
    .bind::<BigInt, _>(min_rows)
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

/// Analyzes tables that outgrew their statistics, every [`CHECK_INTERVAL`], for as long as the
/// task runs (PostgreSQL; returns at once on SQLite).
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
                let tables = outgrown_statistics(conn, MIN_ROWS)?;
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
                "gathered planner statistics of tables that outgrew theirs"
            ),
            Err(error) => {
                tracing::warn!(%error, "gathering planner statistics failed; the next round tries again")
            }
        }
    }
}
