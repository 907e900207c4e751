//! Fresh databases and servers for the Events API workloads, set up through the pages.

use std::path::{Path, PathBuf};
use std::process::Child;

use anyhow::Context;

use super::{EventsArgs, Workload};
use crate::{cpu_seconds, field, peak_rss_mib, set_up, signed_in, spawn_klaxon};

/// How a workload's server runs: on a fresh database of the PostgreSQL server `admin_url`
/// (a SQLite file without it), with the log filter `log` and these extra environment variables.
pub(crate) struct Server<'a> {
    pub(crate) admin_url: Option<&'a str>,
    pub(crate) log: &'a str,
    pub(crate) env: &'a [(&'a str, String)],
}

pub(crate) enum FreshDb {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

impl FreshDb {
    /// A new empty database for the workload `name`, on the PostgreSQL server of `admin` or
    /// in a SQLite file; returns it and the server's DATABASE_URL.
    pub(crate) fn create(
        admin: Option<&str>,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<(FreshDb, String)> {
        match admin {
            None => {
                let path = dir.join(format!("{name}.db"));
                remove_sqlite(&path);
                let url = format!("sqlite://{}", path.display());
                Ok((FreshDb::Sqlite(path), url))
            }
            Some(admin) => {
                anyhow::ensure!(
                    admin.starts_with("postgres"),
                    "--database-url names a PostgreSQL server (each workload creates its own \
                     database there); without it the bench uses fresh SQLite files"
                );
                let name = format!(
                    "klaxon_bench_{}_{}",
                    name.replace('-', "_"),
                    std::process::id()
                );
                pg_execute(admin, &format!("DROP DATABASE IF EXISTS {name}"))?;
                pg_execute(admin, &format!("CREATE DATABASE {name}"))?;
                let mut url = url::Url::parse(admin).context("--database-url")?;
                url.set_path(&format!("/{name}"));
                let fresh = FreshDb::Postgres {
                    admin: admin.to_owned(),
                    name,
                };
                Ok((fresh, url.to_string()))
            }
        }
    }

    pub(crate) fn drop_it(self) {
        match self {
            FreshDb::Sqlite(path) => remove_sqlite(&path),
            FreshDb::Postgres { admin, name } => {
                // WITH (FORCE) needs PostgreSQL 13; the servers are stopped by now anyway.
                let forced = pg_execute(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                );
                if forced.is_err() {
                    if let Err(e) = pg_execute(&admin, &format!("DROP DATABASE IF EXISTS {name}")) {
                        eprintln!("could not drop database {name}: {e:#}");
                    }
                }
            }
        }
    }
}

fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

fn pg_execute(url: &str, sql: &str) -> anyhow::Result<()> {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::pg::PgConnection::establish(url).map_err(|e| {
        anyhow::anyhow!("cannot connect to the PostgreSQL server of --database-url: {e}")
    })?;
    diesel::sql_query(sql)
        .execute(&mut conn)
        .with_context(|| sql.to_owned())?;
    Ok(())
}

/// A `klaxon` process on a fresh database, set up with an API and an Outgoing Webhooks
/// integration on one service.
pub(crate) struct Stage {
    db: Option<FreshDb>,
    database_url: String,
    child: Child,
    base: String,
    service: String,
    integration_key: String,
}

impl Stage {
    /// A fresh database and server for this workload, set up through the pages (with
    /// time-based collation over `collation` seconds when given).
    pub(super) async fn start(
        args: &EventsArgs,
        dir: &Path,
        receiver: &str,
        workload: Workload,
        collation: Option<u32>,
    ) -> anyhow::Result<Stage> {
        let server = Server {
            admin_url: args.database_url.as_deref(),
            log: &args.server_log,
            env: &[],
        };
        Stage::start_server(server, dir, receiver, workload.name(), collation).await
    }

    /// As `start`, for the workload `name`, the server started as `server` says.
    pub(crate) async fn start_server(
        server: Server<'_>,
        dir: &Path,
        receiver: &str,
        name: &str,
        collation: Option<u32>,
    ) -> anyhow::Result<Stage> {
        let (db, database_url) = FreshDb::create(server.admin_url, dir, name)?;
        let (child, base) = match spawn_klaxon(&database_url, server.log, server.env) {
            Ok(server) => server,
            Err(e) => {
                db.drop_it();
                return Err(e);
            }
        };
        let mut stage = Stage {
            db: Some(db),
            database_url,
            child,
            base,
            service: String::new(),
            integration_key: String::new(),
        };
        match set_up_events(&stage.base, receiver, collation).await {
            Ok((service, key)) => {
                (stage.service, stage.integration_key) = (service, key);
                Ok(stage)
            }
            Err(e) => Err(e.context("set-up through the pages")),
        }
    }

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The service's `unique_id`.
    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// The server's DATABASE_URL.
    pub(crate) fn database_url(&self) -> &str {
        &self.database_url
    }

    pub(crate) fn events_url(&self) -> String {
        format!("{}/api/events/{}/", self.base, self.integration_key)
    }

    pub(crate) fn server_cpu(&self) -> f64 {
        cpu_seconds(&self.pid())
    }

    pub(crate) fn peak_rss(&self) -> f64 {
        peak_rss_mib(self.child.id())
    }

    pub(super) fn stop_server(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server and starts a new one on the same database (so nothing it loaded at
    /// start predates rows added behind its back).
    pub(super) fn restart(&mut self, log: &str) -> anyhow::Result<()> {
        self.stop_server();
        let (child, base) = spawn_klaxon(&self.database_url, log, &[])?;
        (self.child, self.base) = (child, base);
        Ok(())
    }
}

/// Stops the server and drops its database, whichever way the workload ended.
impl Drop for Stage {
    fn drop(&mut self) {
        self.stop_server();
        if let Some(db) = self.db.take() {
            db.drop_it();
        }
    }
}

/// The existing set-up (owner, service, Outgoing Webhooks to the receiver), then an "API"
/// integration on the service, its key read from its page, and optionally time-based
/// collation. Returns (service id, integration key).
async fn set_up_events(
    base: &str,
    receiver: &str,
    collation: Option<u32>,
) -> anyhow::Result<(String, String)> {
    let service = set_up(base, receiver).await?;
    let owner = signed_in(base).await?;
    let tab_path = format!("/services/{service}/integrations");
    let before = configure_links(&owner.get(&tab_path).await?, &service);
    owner
        .get(&format!("{tab_path}/new?direction=incoming"))
        .await?;
    owner
        .post(
            &tab_path,
            &[("direction", "incoming"), ("application", "api")],
        )
        .await?;
    let api = configure_links(&owner.get(&tab_path).await?, &service)
        .into_iter()
        .find(|id| !before.contains(id))
        .context("the new API integration is not on the Integrations tab")?;
    let page = owner.get(&format!("{tab_path}/{api}")).await?;
    let marker = "<code id=\"integration-key\">";
    let key = page
        .split_once(marker)
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(key, _)| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .context("the API integration's page shows no integration key")?;
    if let Some(seconds) = collation {
        let edit = format!("/services/{service}/edit");
        let form = owner.get(&edit).await?;
        let team = field(&form, "<option value=")
            .unwrap_or_default()
            .to_owned();
        owner
            .post(
                &edit,
                &[
                    ("team", &team),
                    ("name", "Bench"),
                    ("collation", "1"),
                    ("collation_time", &seconds.to_string()),
                ],
            )
            .await?;
        let saved = owner.get(&edit).await?;
        anyhow::ensure!(
            saved.contains("<option value=\"1\" selected>Time-based"),
            "the service did not keep time-based collation"
        );
    }
    Ok((service, key))
}

/// Ids of the integrations an Integrations tab lists with a "Configure" link.
fn configure_links(tab: &str, service: &str) -> Vec<String> {
    let marker = format!("/services/{service}/integrations/");
    tab.split(&marker)
        .skip(1)
        .filter_map(|rest| rest.split_once("\">Configure").map(|(id, _)| id.to_owned()))
        .filter(|id| !id.contains(['/', '"', '<']))
        .collect()
}

/// Adds `count` open (triggered) incidents of distinct entities to the service, each with the
/// critical alert that opened it, in a few statements, then refreshes the planner statistics as
/// a database that grew over time would have them.
pub(super) async fn seed_open_incidents(stage: &Stage, count: usize) -> anyhow::Result<()> {
    let db = klaxon::db::Db::connect(&stage.database_url, 2)?;
    let (service, key) = (stage.service.clone(), stage.integration_key.clone());
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    db.run(move |conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}) \
             INSERT INTO incidents (incident_number, unique_id, incident_key, service_id, title, summary, status, urgency, \
                 priority, creation_date, context_window_start, context_window_end, entity_id) \
             SELECT c.last_number + seq.n, 'seeded' || seq.n, 'seededkey' || seq.n, s.id, 'seeded-' || seq.n || ' critical', '', \
                 1, 1, 0, '{now}', '{now}', '{now}', 'seeded-' || seq.n \
             FROM seq, incident_counter c, services s WHERE c.id = 1 AND s.unique_id = '{service}'"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO alerts (unique_id, integration_id, incident_id, alert_type, message, summary, entity_id, \
                 suppressed, payload, urls, creation_date) \
             SELECT 'seeded-alert-' || i.id, g.id, i.id, 3, i.title, '', i.entity_id, FALSE, '{{}}', '[]', i.creation_date \
             FROM incidents i, integrations g WHERE i.unique_id LIKE 'seeded%' AND g.integration_key = '{key}'"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "UPDATE incident_counter SET last_number = last_number + {count} WHERE id = 1"
        ))
        .execute(conn)?;
        // As Klaxon's own write transactions do (SQLite's search index).
        klaxon::db::incident_list::index_new_incidents(conn)?;
        diesel::sql_query("ANALYZE").execute(conn)?;
        Ok::<_, klaxon::db::DbError>(())
    })
    .await?;
    Ok(())
}
