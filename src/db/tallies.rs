//! How many incidents each service has per status and urgency: the incidents list's status tabs
//! and its "page 3 of 41" without counting a million rows on each view.
//!
//! Triggers on `incidents` (migration 000070) append a signed row per change (+1 for the new
//! status, -1 for the old one); a key's count is the sum of its rows. Appending instead of
//! updating one counter per key keeps concurrent transitions from waiting on each other, and
//! from deadlocking where a sweep resolves a batch of incidents while a responder acknowledges
//! one. [`compact`] folds each key's rows into one so that reading stays cheap.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use super::{sql_list, DbConn};

/// A count per status, as the list's counting statements answer.
#[derive(QueryableByName)]
pub(super) struct StatusCount {
    #[diesel(sql_type = Integer)]
    pub status: i32,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Incidents per status code among the given services (empty: every service) of the given
/// teams (`None`: every team), of one urgency or any. Every value is an integer the caller
/// parsed, written into the SQL.
pub fn by_status(
    conn: &mut DbConn,
    service_ids: &[i64],
    urgency: Option<i32>,
    team_ids: Option<&[i64]>,
) -> QueryResult<Vec<(i32, i64)>> {
    let mut conditions = Vec::new();
    if !service_ids.is_empty() {
        conditions.push(format!("service_id IN ({})", sql_list(service_ids)));
    }
    if let Some(urgency) = urgency {
        conditions.push(format!("urgency = {urgency}"));
    }
    if let Some(teams) = team_ids {
        if teams.is_empty() {
            return Ok(Vec::new());
        }
        conditions.push(format!(
            "service_id IN (SELECT id FROM services WHERE team_id IN ({}))",
            sql_list(teams)
        ));
    }
    let conditions = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM incident_tallies{conditions} \
         GROUP BY status"
    );
    let rows: Vec<StatusCount> = on_backend!(conn, c => diesel::sql_query(&sql).load(c))?;
    Ok(rows.into_iter().map(|row| (row.status, row.n)).collect())
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Folds each key's rows into one (dropping keys that add up to nothing) and returns how many
/// rows it removed. Must run in a write transaction.
///
/// PostgreSQL deletes and sums in one statement, so that a change committed meanwhile is either
/// among the rows it folds or left as it is, never lost; another instance compacting at the same
/// time waits for the rows this one deletes and then skips them. SQLite's single writer rules
/// out anything in between, so a bound on the ids suffices.
pub fn compact(conn: &mut DbConn) -> QueryResult<usize> {
    let Counted { n: rows } = on_backend!(conn, c => diesel::sql_query(
        "SELECT COUNT(*) AS n FROM incident_tallies"
    )
    .get_result(c))?;
    let Counted { n: keys } = on_backend!(conn, c => diesel::sql_query(
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT service_id, status, urgency \
         FROM incident_tallies) AS tally_keys"
    )
    .get_result(c))?;
    if rows <= keys {
        return Ok(0);
    }
    match conn {
        DbConn::Postgres(c) => {
            diesel::sql_query(
                "WITH folded AS (DELETE FROM incident_tallies \
                 RETURNING service_id, status, urgency, n) \
                 INSERT INTO incident_tallies (service_id, status, urgency, n) \
                 SELECT service_id, status, urgency, SUM(n) FROM folded \
                 GROUP BY service_id, status, urgency HAVING SUM(n) <> 0",
            )
            .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            let Counted { n: last } =
                diesel::sql_query("SELECT COALESCE(MAX(id), 0) AS n FROM incident_tallies")
                    .get_result(c)?;
            diesel::sql_query(format!(
                "INSERT INTO incident_tallies (service_id, status, urgency, n) \
                 SELECT service_id, status, urgency, SUM(n) FROM incident_tallies \
                 WHERE id <= {last} GROUP BY service_id, status, urgency HAVING SUM(n) <> 0"
            ))
            .execute(c)?;
            diesel::sql_query(format!("DELETE FROM incident_tallies WHERE id <= {last}"))
                .execute(c)?;
        }
    }
    let Counted { n: left } = on_backend!(conn, c => diesel::sql_query(
        "SELECT COUNT(*) AS n FROM incident_tallies"
    )
    .get_result(c))?;
    Ok(usize::try_from(rows - left).unwrap_or(0))
}

/// How often each instance folds the tallies: a storm of a thousand changes a second leaves the
/// list's counts at most ten thousand rows to add up.
pub const COMPACT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Compacts every [`COMPACT_INTERVAL`] for as long as the task runs.
pub async fn keep_compact(db: super::Db) {
    let mut ticker = tokio::time::interval(COMPACT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match db
            .write(|conn| Ok::<_, super::DbError>(compact(conn)?))
            .await
        {
            Ok(0) => {}
            Ok(folded) => tracing::debug!(folded, "incident tallies compacted"),
            Err(error) => {
                tracing::warn!(%error, "compacting the incident tallies failed; the next round tries again")
            }
        }
    }
}
