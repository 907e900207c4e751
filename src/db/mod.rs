//! Storage: one codebase over SQLite and PostgreSQL through diesel's `MultiConnection`.
//!
//! Each table has its own small module of named persistence functions; nothing outside
//! `db` writes SQL.
//!
//! Lookups by a unique key read with `get_result`, never `first`: `first` adds a bound
//! `LIMIT ?`, and SQLite compiles a statement again whenever its LIMIT parameter is bound
//! anew, which defeats the prepared-statement cache on every call.

/// Runs the same query on whichever backend the connection is, for what `MultiConnection`
/// cannot express itself (`RETURNING`, row locks), and for the statements every transition
/// and every webhook attempt run: through `MultiConnection`, diesel renders a query to SQL
/// text on every execution, prepared or not (an eighth of the SQLite writer's time).
macro_rules! on_backend {
    ($conn:expr, $backend:ident => $query:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres($backend) => $query,
            $crate::db::DbConn::Sqlite($backend) => $query,
        }
    };
}

/// The first `$limit` rows of `$query` (ordered) on either backend: a bound LIMIT on PostgreSQL,
/// [`first_rows`] on SQLite, which compiles a statement anew whenever a LIMIT is bound anew.
/// `$query` is written out in each backend's arm: a query that selects a row type
/// (`as_select()`) is typed for one backend.
macro_rules! first_rows_of {
    ($conn:expr, $query:expr, $limit:expr) => {{
        let limit: i64 = $limit;
        match $conn {
            $crate::db::DbConn::Postgres(pg) => {
                diesel::RunQueryDsl::load(diesel::QueryDsl::limit($query, limit), pg)
            }
            $crate::db::DbConn::Sqlite(sqlite) => $crate::db::first_rows(sqlite, $query, limit),
        }
    }};
}

/// Inserts `$rows` (a slice of an `Insertable` row type) into `$table` in their order, each
/// statement kept prepared ([`KeptPrepared`]): on PostgreSQL in one statement (one per number
/// of rows) returning `$id`, the table's id column, since diesel keeps a PostgreSQL statement
/// prepared only when it reads rows from it ([`returning_id`]); on SQLite one per row (SQLite
/// pays no round trip, and diesel cannot put rows with defaults in one SQLite statement),
/// without `RETURNING`: SQLite collects returned rows in a temporary b-tree, opened and torn
/// down with a page cache of its own on every run, and diesel keeps an SQLite INSERT prepared
/// when it is `execute`d too (docs/decisions.md, "Statements kept prepared").
macro_rules! insert_rows {
    ($conn:expr, $rows:expr, $table:path, $id:path) => {{
        let (conn, rows): (&mut $crate::db::DbConn, &[_]) = ($conn, $rows);
        match (&mut *conn, rows) {
            ($crate::db::DbConn::Postgres(pg), [_, _, ..]) => {
                $crate::db::KeptPrepared(diesel::insert_into($table).values(rows).returning($id))
                    .load::<i64>(pg)
                    .map(drop)
            }
            ($crate::db::DbConn::Postgres(_), _) => rows.iter().try_for_each(|row| {
                $crate::db::returning_id(
                    conn,
                    diesel::insert_into($table).values(row).returning($id),
                )
                .map(drop)
            }),
            ($crate::db::DbConn::Sqlite(sqlite), _) => rows.iter().try_for_each(|row| {
                diesel::RunQueryDsl::execute(
                    $crate::db::KeptAs::<$crate::db::OneRowInto<$table>, _>::new(
                        diesel::insert_into($table).values(row),
                    ),
                    &mut *sqlite,
                )
                .map(drop)
            }),
        }
    }};
}

/// `<state column> = 'pending'` written into the SQL rather than bound, for tables with a
/// partial index of pending rows (`WHERE state = 'pending'`: escalation steps, notifications).
/// SQLite matches a bound `state = ?` against that condition by looking at the value bound, and
/// marks the statement to be compiled again whenever the parameter is bound anew: every run of a
/// statement kept prepared was compiled from its text again (6 % of the server's CPU in a closed
/// loop of lifecycles, in what acknowledge and resolve cancel; docs/benchmarks.md). Its SQL never
/// changes, so statements using it stay prepared.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub(crate) struct IsPending<C>(pub C);

impl<C> diesel::expression::Expression for IsPending<C> {
    type SqlType = diesel::sql_types::Bool;
}

impl<C, DB> QueryFragment<DB> for IsPending<C>
where
    C: diesel::Column + QueryFragment<DB>,
    DB: diesel::backend::Backend,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" = 'pending'");
        Ok(())
    }
}

impl<C, QS> diesel::expression::AppearsOnTable<QS> for IsPending<C> where
    C: diesel::expression::AppearsOnTable<QS>
{
}

impl<C, QS> diesel::expression::SelectableExpression<QS> for IsPending<C> where
    C: diesel::expression::SelectableExpression<QS>
{
}

impl<C, GB> diesel::expression::ValidGrouping<GB> for IsPending<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// Integers the caller parsed, as an SQL list ("1, 2, 3") written into a statement: a partial
/// index is used only where the statement states its condition in so many words, which bound
/// parameters do not (SQLite; PostgreSQL's generic plans).
pub(crate) fn sql_list(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub mod alerts;
pub mod api_keys;
pub mod app_settings;
mod checkpoint_connection;
mod checkpointer;
pub mod contact_methods;
pub mod deliveries;
pub mod escalation_policies;
pub mod escalations;
pub mod incident_list;
pub mod incidents;
pub mod integrations;
pub mod login_failures;
pub mod notifications;
pub mod on_call_audit;
mod page_cache;
pub mod schedules;
pub mod schema;
pub mod services;
pub(crate) mod shared_run;
mod sqlite_process;
pub mod statistics;
pub mod tallies;
pub mod teams;
pub mod timeline;
pub mod transfer;
pub mod user_sessions;
pub mod users;
pub mod wake;
pub mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Any key works as long as every instance uses the same one; it serialises migrations
/// when several instances start at once on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x6b6c_6178_6f6e;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database worker stopped: {0}")]
    Worker(String),
}

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Makes transactions that name the same `key` take turns until they end: a PostgreSQL
/// transaction-scoped advisory lock on the key's hash. SQLite needs none: its one writer runs one
/// write transaction at a time.
pub fn take_turns(conn: &mut DbConn, key: &str) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Postgres(c) => {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(key)
                .execute(c)
                .map(drop)
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Which backend a `DATABASE_URL` names, with what the driver needs to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

/// The forms of `DATABASE_URL` Klaxon accepts, for error messages.
pub const DATABASE_URL_FORMS: &str =
    "sqlite://path/to/file.db, a plain file path, or postgres://user:password@host/database";

impl DatabaseUrl {
    /// A URL with any other scheme is refused: a typo such as `postgress://` must not quietly
    /// become a SQLite file in a folder named after it.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            anyhow::bail!(
                "DATABASE_URL has the unknown scheme `{scheme}://`; use {DATABASE_URL_FORMS}"
            );
        }
        if url.trim().is_empty() {
            anyhow::bail!("DATABASE_URL is empty; use {DATABASE_URL_FORMS}");
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
    }

    /// The URL as it may be shown in logs and error messages: without a password.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("****"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".to_owned(),
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

/// Opens connections of exactly the backend the URL names (diesel's own `establish` on a
/// `MultiConnection` would try every backend in turn).
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    backends: Arc<OwnBackends>,
}

/// How long after a connection was last used the pool hands it out without asking the server
/// whether it is still there (a ping on every checkout was a tenth of the round trips of an
/// alert on PostgreSQL); its socket is checked instead (`heard_no_goodbye`). A connection lost
/// without a word within this window fails the work that gets it once; diesel then calls it
/// broken (libpq no longer knows its transaction state), so it leaves the pool.
const TRUSTED_AFTER_USE: Duration = Duration::from_millis(500);

/// A connection of the pool, with what the pool knows about it.
pub struct PooledConn {
    conn: DbConn,
    /// When it last came back to the pool whole, or last answered a ping.
    proven_at: Instant,
    /// On PostgreSQL, its server process, listed in the pool's `OwnBackends` while it lives.
    backend: Option<(i32, Arc<OwnBackends>)>,
}

impl std::ops::Deref for PooledConn {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some((pid, backends)) = &self.backend {
            backends.lock().remove(pid);
        }
    }
}

/// A server that ends a connection (a restart, `pg_terminate_backend`) sends an error and
/// closes the socket, so a dropped connection can be told without a round trip: reading what
/// has arrived, without waiting, finds the message, and a second read the end of the stream.
fn heard_no_goodbye(conn: &mut PgConnection) -> Result<(), r2d2::Error> {
    for _ in 0..2 {
        if let Some(Err(error)) = conn.notifications_iter().next() {
            return Err(r2d2::Error::QueryError(error));
        }
    }
    Ok(())
}

/// The PostgreSQL server processes of one pool's connections. A `NOTIFY` one of them sent was
/// already answered by a wake-up in this process (`wake::Wakers::committed`), so the pool's
/// listeners skip it rather than have their worker claim a second time and find nothing.
#[derive(Debug, Default)]
pub struct OwnBackends(std::sync::Mutex<HashSet<i32>>);

impl OwnBackends {
    pub fn contains(&self, pid: i32) -> bool {
        self.lock().contains(&pid)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i32>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How long a SQLite connection waits for a lock before it gives up.
pub(crate) const BUSY_TIMEOUT_MS: u32 = 5_000;

impl Manager {
    fn open(&self) -> Result<DbConn, diesel::ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => Ok(DbConn::Postgres(PgConnection::establish(url)?)),
            DatabaseUrl::Sqlite(path) => {
                sqlite_process::configure();
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the one writer; busy_timeout makes writers queue
                // instead of failing; NORMAL sync is durable at every checkpoint under WAL.
                // busy_timeout first: switching to WAL itself waits for a lock when another
                // process has the file open.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = PooledConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PooledConn, r2d2::Error> {
        use diesel::RunQueryDsl;
        let mut conn = self.open().map_err(r2d2::Error::ConnectionError)?;
        let backend = match &mut conn {
            DbConn::Postgres(pg) => {
                let pid = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
                    "pg_backend_pid()",
                ))
                .get_result::<i32>(pg)
                .map_err(r2d2::Error::QueryError)?;
                self.backends.lock().insert(pid);
                Some((pid, self.backends.clone()))
            }
            DbConn::Sqlite(_) => None,
        };
        Ok(PooledConn {
            conn,
            proven_at: Instant::now(),
            backend,
        })
    }

    fn is_valid(&self, conn: &mut PooledConn) -> Result<(), r2d2::Error> {
        if conn.proven_at.elapsed() < TRUSTED_AFTER_USE {
            return match &mut conn.conn {
                DbConn::Postgres(pg) => heard_no_goodbye(pg),
                DbConn::Sqlite(_) => Ok(()),
            };
        }
        conn.conn.ping().map_err(r2d2::Error::QueryError)?;
        conn.proven_at = Instant::now();
        Ok(())
    }

    /// Called as a connection comes back to the pool.
    fn has_broken(&self, conn: &mut PooledConn) -> bool {
        let broken = conn.conn.is_broken();
        if !broken {
            conn.proven_at = Instant::now();
        }
        broken
    }
}

/// The shared database handle: a connection pool whose blocking work runs off the async threads.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: DatabaseUrl,
    /// The writer thread: every write on SQLite, grouped writes on PostgreSQL (the others run
    /// on the pool).
    writer: writer::Writer,
    /// Background workers woken when a write transaction that enqueued their work commits.
    wakers: Arc<wake::Wakers>,
    backends: Arc<OwnBackends>,
    /// Whether this instance sends the notifications its transactions queue.
    sending: notifications::Sending,
}

impl Db {
    /// Opens the database (creating a SQLite file and its folder if needed) and applies
    /// pending migrations. The error is one line naming the URL without its password.
    pub fn connect(database_url: &str, pool_size: u32) -> anyhow::Result<Db> {
        let url = DatabaseUrl::parse(database_url)?;
        let shown = url.redacted();
        if let DatabaseUrl::Sqlite(path) = &url {
            create_parent_dir(path)
                .map_err(|e| anyhow::anyhow!("cannot open database {shown}: {e}"))?;
        }
        let backends = Arc::<OwnBackends>::default();
        let manager = Manager {
            url: url.clone(),
            backends: backends.clone(),
        };
        let mut first = manager
            .open()
            .map_err(|e| anyhow::anyhow!("cannot open database {shown}: {}", one_line(&e)))?;
        run_migrations(&mut first)
            .map_err(|e| anyhow::anyhow!("cannot migrate database {shown}: {}", one_line(&*e)))?;
        if let DbConn::Sqlite(c) = &mut first {
            // Gathers planner statistics where they are missing or stale (bounded work), so
            // list queries pick good indexes as tables grow.
            c.batch_execute("PRAGMA optimize=0x10002")
                .map_err(|e| anyhow::anyhow!("cannot optimize database {shown}: {e}"))?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)
            .map_err(|e| anyhow::anyhow!("cannot open database {shown}: {}", one_line(&e)))?;
        let wakers = Arc::new(wake::Wakers::default());
        let writer = match &url {
            DatabaseUrl::Sqlite(path) => writer::Writer::start_sqlite(first, path, wakers.clone()),
            DatabaseUrl::Postgres(_) => writer::Writer::start_pooled(pool.clone(), wakers.clone()),
        }
        .map_err(|e| anyhow::anyhow!("cannot start the database writer for {shown}: {e}"))?;
        Ok(Db {
            pool,
            url,
            writer,
            wakers,
            backends,
            sending: notifications::Sending::Email,
        })
    }

    /// Says how this instance sends the notifications its write transactions queue (see
    /// `notifications::Sending`); set at start, before the handle is shared.
    pub fn set_sending(&mut self, sending: notifications::Sending) {
        self.sending = sending;
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            work(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Worker(e.to_string())))?
    }

    /// Runs `work` in a write transaction: committed when it returns `Ok`, rolled back when it
    /// returns `Err`. On SQLite the writer thread runs it (see `writer`).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let sending = self.sending.clone();
        let work = move |conn: &mut DbConn| notifications::sending_as(&sending, || work(conn));
        match &self.url {
            DatabaseUrl::Sqlite(_) => self.writer.write(work).await,
            DatabaseUrl::Postgres(_) => {
                let wakers = self.wakers.clone();
                self.run(move |conn| {
                    let result = write_transaction(conn, work);
                    let marked = wake::take_marks();
                    if result.is_ok() {
                        wakers.committed(&marked);
                    }
                    result
                })
                .await
            }
        }
    }

    /// The PostgreSQL server processes of this handle's connections (see `OwnBackends`).
    pub fn own_backends(&self) -> Arc<OwnBackends> {
        self.backends.clone()
    }

    /// Who is woken after commits that enqueued work (see `wake`).
    pub fn wakers(&self) -> &Arc<wake::Wakers> {
        &self.wakers
    }

    /// Runs `work` as [`write`](Self::write) does, on the writer thread on both backends: for
    /// the writes that all take one row (alerts opening incidents take the incident counter), so
    /// that on PostgreSQL they share a transaction and its commit instead of each waiting for
    /// the one before to commit.
    ///
    /// The work must be able to run again from the start (the writer reruns it when another
    /// piece of work of its group failed), so it is an `Fn` that does nothing outside the
    /// transaction but through `wake`.
    pub async fn write_grouped<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Fn(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let sending = self.sending.clone();
        self.writer
            .write_again(move |conn: &mut DbConn| {
                notifications::sending_as(&sending, || work(conn))
            })
            .await
    }

    /// The writer thread's counters.
    pub fn writer_counters(&self) -> &writer::WriterCounters {
        self.writer.counters()
    }

    /// True when a connection can be had and answers.
    pub async fn is_reachable(&self) -> bool {
        self.run(|conn| conn.ping().map_err(DbError::from))
            .await
            .is_ok()
    }
}

fn create_parent_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

fn one_line(error: &dyn std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

fn run_migrations(conn: &mut DbConn) -> Result<(), MigrationError> {
    match conn {
        DbConn::Sqlite(c) => migrate(c, SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = migrate(c, POSTGRES_MIGRATIONS);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
    }
}

/// Applies the pending migrations, after making sure the database holds none this binary does
/// not know: an older binary on a newer schema would write rows without the newer columns'
/// meaning, and its export would silently leave out what it cannot see.
fn migrate<B, C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<(), MigrationError>
where
    B: diesel::backend::Backend,
    C: MigrationHarness<B>,
    EmbeddedMigrations: diesel::migration::MigrationSource<B>,
{
    let known: Vec<String> = diesel::migration::MigrationSource::<B>::migrations(&migrations)?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    let unknown: Vec<String> = conn
        .applied_migrations()?
        .iter()
        .map(|version| version.to_string())
        .filter(|version| !known.contains(version))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "a newer Klaxon has migrated it (migration {} is unknown to this version); run that \
             version, or restore a backup taken before the upgrade",
            unknown.join(", ")
        )
        .into());
    }
    conn.run_pending_migrations(migrations).map(drop)
}

/// Taken by every SQLite write transaction of this process (see `begin_write`).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Begins a read-write transaction; on SQLite, also takes this process's write turn, held
/// until the returned guard is dropped.
pub(crate) fn begin_write(
    conn: &mut DbConn,
) -> diesel::QueryResult<Option<std::sync::MutexGuard<'static, ()>>> {
    match conn {
        DbConn::Sqlite(c) => {
            // SQLite has one writer at a time. Waiting for the write lock in SQLite's busy
            // handler means sleeping in steps of up to 100 ms; queueing on an in-process lock
            // instead hands the turn over at once, which keeps tail latency low under load.
            let turn = SQLITE_WRITER
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Ok(Some(turn))
        }
        DbConn::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            Ok(None)
        }
    }
}

/// A read-write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write
/// lock up front: a deferred transaction that reads and then writes can fail with
/// `SQLITE_BUSY` when another writer got in between, and busy_timeout does not help there.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let _turn = begin_write(conn)?;
    // Whatever an earlier, failed transaction on this thread marked is not ours to wake.
    wake::take_marks();
    match work(conn) {
        Ok(value) => {
            incident_list::index_new_incidents(conn)?;
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

/// Reads that must agree with each other (a page showing a row and its children): one read-only
/// transaction, so a commit landing between two of its queries cannot show half of itself.
/// SQLite's deferred transaction reads one snapshot; PostgreSQL needs REPEATABLE READ for that.
pub fn read_snapshot<T, E>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    let result = work(conn);
    // Nothing was written: ending the transaction either way keeps what was read.
    <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
    result
}

/// A statement diesel may keep prepared although it would not on its own: diesel compiles
/// every UPDATE (and every `IN` list) afresh, because one Rust type can stand for different
/// SQL. Keyed by its SQL text, a cached statement cannot be mixed up with another. For the
/// statements every transition and every webhook attempt run. Run it on the backend's own
/// connection (`on_backend!`) and read rows from it (`load`, `get_result`; an UPDATE with
/// RETURNING): `MultiConnection` and `execute` hand diesel a reference to it, and a reference
/// answers for the plain statement inside.
#[derive(Debug, Clone, Copy)]
pub struct KeptPrepared<Q>(pub Q);

impl<Q, DB> QueryFragment<DB> for KeptPrepared<Q>
where
    Q: QueryFragment<DB>,
    DB: diesel::backend::Backend,
{
    fn walk_ast<'b>(&'b self, pass: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for KeptPrepared<Q> {
    type QueryId = ();
    // Not a static id: the cache key is then the SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for KeptPrepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for KeptPrepared<Q> {}

/// [`KeptPrepared`] found in diesel's statement cache by a type of its own, `M` (a marker named
/// for the statement), instead of by its SQL text, which diesel would otherwise render on every
/// run just to look the statement up: 8.7 % of SQLite's writer thread in a closed loop of
/// lifecycles (docs/benchmarks.md, twenty-third session). Only for a statement whose SQL is the
/// same on every run (no `eq_any` over a list of varying length, no column left out for a
/// None), under a marker no other statement uses; debug builds, and so every test, check both
/// on every run.
pub(crate) struct KeptAs<M, Q>(pub Q, std::marker::PhantomData<M>);

impl<M, Q> KeptAs<M, Q> {
    pub(crate) fn new(statement: Q) -> Self {
        KeptAs(statement, std::marker::PhantomData)
    }
}

impl<M, Q, DB> QueryFragment<DB> for KeptAs<M, Q>
where
    M: 'static,
    Q: QueryFragment<DB>,
    DB: diesel::backend::Backend + 'static,
    DB::QueryBuilder: Default,
{
    fn walk_ast<'b>(&'b self, pass: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        #[cfg(debug_assertions)]
        same_sql_under_marker::<M, DB>(&self.0, pass.backend())?;
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<M: 'static, Q> QueryId for KeptAs<M, Q> {
    type QueryId = M;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<M, Q: Query> Query for KeptAs<M, Q> {
    type SqlType = Q::SqlType;
}

impl<M, Q, Conn> diesel::RunQueryDsl<Conn> for KeptAs<M, Q> {}

/// The marker ([`KeptAs`]) of the one-row INSERT into table `T` of [`insert_rows!`] on SQLite.
pub(crate) struct OneRowInto<T>(std::marker::PhantomData<T>);

/// Panics when `statement` renders other SQL than the first statement run under marker `M` on
/// backend `DB`: the cache would run that one in its place.
#[cfg(debug_assertions)]
fn same_sql_under_marker<M: 'static, DB>(
    statement: &dyn QueryFragment<DB>,
    backend: &DB,
) -> QueryResult<()>
where
    DB: diesel::backend::Backend + 'static,
    DB::QueryBuilder: Default,
{
    use diesel::query_builder::QueryBuilder;
    use std::any::TypeId;
    use std::collections::HashMap;
    static SEEN: std::sync::Mutex<Option<HashMap<(TypeId, TypeId), String>>> =
        std::sync::Mutex::new(None);
    let mut builder = DB::QueryBuilder::default();
    statement.to_sql(&mut builder, backend)?;
    let sql = builder.finish();
    let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = seen
        .get_or_insert_with(HashMap::new)
        .entry((TypeId::of::<M>(), TypeId::of::<DB>()))
        .or_insert_with(|| sql.clone());
    assert_eq!(
        *first,
        sql,
        "two statements under the marker {}",
        std::any::type_name::<M>()
    );
    Ok(())
}

/// A fixed statement without bind parameters, kept prepared. Diesel never caches `sql_query`
/// (it marks itself unsafe to cache, and `execute` hands diesel a reference, which asks the
/// statement inside), so SQL text that runs in every write transaction is written as this.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedSql(pub &'static str);

impl<DB: diesel::backend::Backend> QueryFragment<DB> for FixedSql {
    fn walk_ast<'b>(
        &'b self,
        mut pass: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        pass.push_sql(self.0);
        Ok(())
    }
}

impl QueryId for FixedSql {
    type QueryId = ();
    // Not a static id: the cache key is then the SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> diesel::RunQueryDsl<Conn> for FixedSql {}

/// Runs a statement that returns one id (an INSERT, or an UPDATE of one row, with `RETURNING`)
/// as `KeptPrepared`; None when it changed no row. Also for inserts of a row type with optional
/// fields: on PostgreSQL diesel would compile those anew on every call as well (the server then
/// parses and plans each one).
pub(crate) fn returning_id<'q, Q>(conn: &mut DbConn, statement: Q) -> QueryResult<Option<i64>>
where
    KeptPrepared<Q>: diesel::query_dsl::LoadQuery<'q, diesel::PgConnection, i64>
        + diesel::query_dsl::LoadQuery<'q, diesel::SqliteConnection, i64>,
{
    use diesel::{OptionalExtension, RunQueryDsl};
    on_backend!(conn, c => KeptPrepared(statement).get_result(c).optional())
}

/// What a statement without `RETURNING` reads: no rows. Read (`load`) rather than `execute`d, a
/// raw statement or an UPDATE stays prepared (see [`KeptPrepared`]); without `RETURNING`, SQLite
/// opens and closes no temporary b-tree to collect the rows it would return.
#[derive(diesel::QueryableByName)]
pub(crate) struct NoRows {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    _none: i64,
}

/// The id of the row the SQLite connection's last insert added (its last row, for several).
pub(crate) fn last_insert_rowid(sqlite: &mut SqliteConnection) -> QueryResult<i64> {
    use diesel::RunQueryDsl;
    struct LastInsertRowid;
    KeptAs::<LastInsertRowid, _>::new(diesel::select(
        diesel::dsl::sql::<diesel::sql_types::BigInt>("last_insert_rowid()"),
    ))
    .get_result(sqlite)
}

/// The first `limit` rows of `query` on SQLite, read by stepping through them and stopping
/// rather than with a bound LIMIT, which would compile the statement anew (see the top of this
/// module): the claims of every job queue.
pub(crate) fn first_rows<'q, Q, U>(
    conn: &mut SqliteConnection,
    query: Q,
    limit: i64,
) -> QueryResult<Vec<U>>
where
    Q: diesel::query_dsl::LoadQuery<'q, SqliteConnection, U> + 'q,
    U: 'q,
{
    query
        .load_iter::<U, diesel::connection::DefaultLoadingMode>(conn)?
        .take(usize::try_from(limit).unwrap_or(0))
        .collect()
}

/// [`returning_id`] for a statement that changes any number of rows: the ids it returns.
pub(crate) fn returning_ids<'q, Q>(conn: &mut DbConn, statement: Q) -> QueryResult<Vec<i64>>
where
    KeptPrepared<Q>: diesel::query_dsl::LoadQuery<'q, diesel::PgConnection, i64>
        + diesel::query_dsl::LoadQuery<'q, diesel::SqliteConnection, i64>,
{
    use diesel::RunQueryDsl;
    on_backend!(conn, c => KeptPrepared(statement).load(c))
}

/// [`returning_ids`] for a statement kept under its own marker `M` ([`KeptAs`]).
pub(crate) fn returning_ids_as<'q, M, Q>(conn: &mut DbConn, statement: Q) -> QueryResult<Vec<i64>>
where
    KeptAs<M, Q>: diesel::query_dsl::LoadQuery<'q, diesel::PgConnection, i64>
        + diesel::query_dsl::LoadQuery<'q, diesel::SqliteConnection, i64>,
{
    use diesel::RunQueryDsl;
    on_backend!(conn, c => KeptAs::<M, Q>::new(statement).load(c))
}

/// Current UTC time at microsecond precision, the precision both backends store.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

/// The opcodes of the program SQLite compiles `sql` to (`EXPLAIN`): tests read in it whether a
/// statement builds a temporary b-tree (`OpenEphemeral`).
#[cfg(test)]
pub(crate) fn program_of(sqlite: &mut SqliteConnection, sql: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        opcode: String,
    }
    diesel::sql_query(format!("EXPLAIN {sql}"))
        .load::<Step>(sqlite)
        .unwrap()
        .into_iter()
        .map(|step| step.opcode)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::InstrumentationEvent;

    use super::*;

    /// STAT4 would have SQLite compile a prepared statement anew whenever it runs with another
    /// value compared with an indexed column, once ANALYZE has sampled that index: the writer
    /// then spent a fifth of its time compiling (`.cargo/config.toml` builds SQLite without it).
    #[test]
    fn the_bundled_sqlite_is_built_without_stat4() {
        use diesel::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        // As every connection of the app: SQLite's first use in this process may be here.
        sqlite_process::configure();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        assert!(
            options.iter().any(|o| o.starts_with("ENABLE_FTS5")),
            "{options:?}"
        );
        assert!(!options.iter().any(|o| o.contains("STAT4")), "{options:?}");
    }

    /// SQLite checks a value against an IN list of more than two constants by building a
    /// temporary b-tree of the list, each time; the CHECK constraints of the tables each incident
    /// writes to compare instead (migration `checks_without_in_lists`), and still refuse what
    /// they refused. Run on the writer's connection, the one that applied the migrations.
    #[test]
    fn the_tables_every_incident_writes_check_their_values_without_a_temporary_table() {
        use diesel::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Integrity {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        const WRITES: [&str; 6] = [
            "INSERT INTO incidents (status, urgency) VALUES (?, ?)",
            "UPDATE incidents SET status = ? WHERE id = ?",
            "UPDATE deliveries SET state = ? WHERE id = ?",
            "UPDATE escalation_steps SET state = ? WHERE id = ?",
            "INSERT INTO notifications (kind, state) VALUES (?, ?)",
            "UPDATE notifications SET state = ? WHERE id = ?",
        ];
        const UNKNOWN_STATE: &str = "INSERT INTO escalation_steps \
            (escalation_id, incident_id, level, due_at, state) \
            VALUES (1, 1, 0, '2026-12-06 00:00:00', 'sent')";
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("checks.db").display());
        let db = Db::connect(&url, 1).unwrap();
        let refused = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(db.write(|conn| {
                let DbConn::Sqlite(sqlite) = conn else {
                    unreachable!("a SQLite URL")
                };
                // The definitions were edited in place (`PRAGMA writable_schema`).
                let integrity = diesel::sql_query("PRAGMA integrity_check")
                    .load::<Integrity>(sqlite)
                    .unwrap();
                assert_eq!(integrity.len(), 1);
                assert_eq!(integrity[0].integrity_check, "ok");
                for write in WRITES {
                    let program = program_of(sqlite, write);
                    assert!(program.iter().any(|opcode| opcode == "Halt"), "{write}");
                    assert!(
                        !program.iter().any(|opcode| opcode == "OpenEphemeral"),
                        "{write} builds a temporary table"
                    );
                }
                let refused = diesel::sql_query(UNKNOWN_STATE).execute(sqlite);
                Ok::<_, DbError>(refused.map_err(|error| error.to_string()))
            }));
        let refused = refused.unwrap().unwrap_err();
        assert!(refused.contains("CHECK constraint failed"), "{refused}");
    }

    /// A `KeptAs` marker stands for one statement: diesel's cache would run the first statement
    /// seen under it in place of any other. Debug builds (every test run) refuse a second one.
    #[test]
    #[should_panic(expected = "two statements under the marker")]
    fn a_marker_kept_for_one_statement_refuses_another() {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

        use schema::app_settings;

        struct Marker;
        sqlite_process::configure();
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE app_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .execute(&mut conn)
            .unwrap();
        let by_key = app_settings::table
            .filter(app_settings::name.eq("a"))
            .select(app_settings::value);
        KeptAs::<Marker, _>::new(by_key)
            .load::<String>(&mut conn)
            .unwrap();
        let by_value = app_settings::table
            .filter(app_settings::value.eq("a"))
            .select(app_settings::value);
        let _ = KeptAs::<Marker, _>::new(by_value).load::<String>(&mut conn);
    }

    #[test]
    fn a_snapshot_read_does_not_see_a_commit_made_during_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("snapshot.db").display());
        let db = Db::connect(&url, 1).unwrap();
        let mut reader = db.pool.get().unwrap();
        let mut other = Manager {
            url: db.url().clone(),
            backends: Arc::default(),
        }
        .open()
        .unwrap();
        app_settings::insert(&mut other, "before", "1").unwrap();
        let (before, during) = read_snapshot(&mut reader, |conn| {
            let before = app_settings::get(conn, "before")?;
            app_settings::insert(&mut other, "during", "2")?;
            Ok::<_, diesel::result::Error>((before, app_settings::get(conn, "during")?))
        })
        .unwrap();
        assert_eq!(before.as_deref(), Some("1"));
        assert_eq!(during, None, "the snapshot does not see the later commit");
        assert_eq!(
            app_settings::get(&mut reader, "during").unwrap().as_deref(),
            Some("2")
        );
    }

    #[test]
    fn the_statements_of_every_transition_and_attempt_stay_prepared() {
        use diesel::RunQueryDsl;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("prepared.db").display());
        let db = Db::connect(&url, 1).unwrap();
        let mut conn = db.pool.get().unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        // An incident to move, without the service and team it would belong to; put back to
        // triggered on every round (statements run as they are, not kept).
        let run = |conn: &mut DbConn, sql: &str| {
            diesel::sql_query(sql).execute(conn).unwrap();
        };
        run(&mut conn, "PRAGMA foreign_keys = OFF");
        run(
            &mut conn,
            "INSERT INTO incidents (id, incident_number, unique_id, incident_key, service_id, \
             title, status, urgency, creation_date, context_window_start, context_window_end) \
             VALUES (1, 1, 'u', 'k', 1, 't', 1, 1, '2026-12-06 00:00:00', \
             '2026-12-06 00:00:00', '2026-12-06 00:00:00')",
        );
        for _ in 0..3 {
            run(&mut conn, "UPDATE incidents SET status = 1");
            // The row a transition returns is the row it stored.
            let acknowledged = incidents::transition_acknowledged(&mut conn, 1, now()).unwrap();
            let stored = incidents::find_by_id(&mut conn, 1).unwrap();
            assert_eq!(format!("{acknowledged:?}"), format!("{stored:?}"));
            assert_eq!(stored.map(|row| row.status), Some(incidents::ACKNOWLEDGED));
            let resolved = incidents::transition_resolved(&mut conn, 1, now()).unwrap();
            let stored = incidents::find_by_id(&mut conn, 1).unwrap();
            assert_eq!(format!("{resolved:?}"), format!("{stored:?}"));
            assert_eq!(stored.map(|row| row.status), Some(incidents::RESOLVED));
            assert!(
                incidents::transition_resolved(&mut conn, 1, now())
                    .unwrap()
                    .is_none(),
                "resolved already"
            );
            deliveries::finish_all(
                &mut conn,
                &[1],
                "token",
                "succeeded",
                Some(200),
                None,
                now(),
            )
            .unwrap();
            deliveries::schedule_retry(&mut conn, 1, "token", Some(500), Some("no"), now())
                .unwrap();
        }
        // Each statement is compiled once, into the cache, and reused on the later rounds.
        let cached = cached.lock().unwrap();
        // On SQLite a transition reads the incident, then changes it: the read is shared.
        assert_eq!(cached.len(), 5, "{cached:#?}");
        assert_eq!(
            cached
                .iter()
                .filter(|sql| sql.starts_with("UPDATE"))
                .count(),
            4,
            "{cached:#?}"
        );
    }
}
