//! Reading what the app wrote, making one of its writes fail, and the check that no delivery is
//! left pending.

use diesel::connection::SimpleConnection;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, SelectableHelper};
use klaxon::db::deliveries::DeliveryRow;
use klaxon::db::{deliveries, incidents, DbConn, DbError};

use super::{Backend, TestApp};

/// Runs `work` on a connection of the test's own to the app's database.
pub async fn query<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
) -> T {
    app.db()
        .await
        .run(move |conn| work(conn).map_err(DbError::from))
        .await
        .unwrap()
}

/// The incident's status code (1 triggered, 2 acknowledged, 3 resolved).
pub async fn status_of(app: &TestApp, number: i64) -> i32 {
    query(app, move |conn| {
        Ok(incidents::find_by_number(conn, number)?
            .expect("incident exists")
            .status)
    })
    .await
}

/// Moves the incident's opening back by `age`, as if it had been open that much longer.
pub async fn backdate(app: &TestApp, number: i64, age: chrono::Duration) {
    use klaxon::db::schema::incidents::dsl;
    let db = app.db().await;
    db.write(move |conn| {
        diesel::update(dsl::incidents.filter(dsl::incident_number.eq(number)))
            .set(dsl::creation_date.eq(klaxon::db::now() - age))
            .execute(conn)
            .map_err(DbError::from)
    })
    .await
    .unwrap();
}

/// The incident's deliveries (the outbox rows), oldest first.
pub async fn deliveries_of(app: &TestApp, number: i64) -> Vec<DeliveryRow> {
    query(app, move |conn| {
        let incident = incidents::find_by_number(conn, number)?.expect("incident exists");
        deliveries::for_incident(conn, incident.id)
    })
    .await
}

/// The event types of the incident's deliveries, oldest first.
pub async fn event_types_of(app: &TestApp, number: i64) -> Vec<String> {
    deliveries_of(app, number)
        .await
        .into_iter()
        .map(|d| d.event_type)
        .collect()
}

/// A database trigger that makes every insert into `table` fail with `message`, until
/// `lift`ed: to see what the app does when a write fails.
pub struct FailingInserts {
    name: String,
    table: &'static str,
}

/// Makes every insert into `table` fail with `message` (written per backend).
pub async fn fail_inserts_into(
    app: &TestApp,
    table: &'static str,
    message: &str,
) -> FailingInserts {
    let name = format!("refuse_{table}");
    let sql = match app.backend() {
        Backend::Postgres => format!(
            "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{message}'; END; \
             $$ LANGUAGE plpgsql; \
             CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END;"
        ),
    };
    query(app, move |conn| conn.batch_execute(&sql)).await;
    FailingInserts { name, table }
}

impl FailingInserts {
    /// Inserts into the table work again.
    pub async fn lift(self, app: &TestApp) {
        let FailingInserts { name, table } = self;
        let sql = match app.backend() {
            Backend::Postgres => format!("DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}();"),
            Backend::Sqlite => format!("DROP TRIGGER {name};"),
        };
        query(app, move |conn| conn.batch_execute(&sql)).await;
    }
}

/// Deliveries still pending in the database at `url`.
async fn pending_deliveries(url: &str) -> Vec<DeliveryRow> {
    let url = url.to_owned();
    let db = tokio::task::spawn_blocking(move || klaxon::db::Db::connect(&url, 1))
        .await
        .unwrap()
        .expect("open the test database");
    db.run(|conn| {
        use klaxon::db::schema::deliveries::dsl;
        dsl::deliveries
            .filter(dsl::state.eq("pending"))
            .order(dsl::id)
            .select(DeliveryRow::as_select())
            .load(conn)
            .map_err(DbError::from)
    })
    .await
    .unwrap()
}

pub(super) async fn assert_none_pending(url: &str, backend: Backend) {
    let pending = pending_deliveries(url).await;
    assert!(
        pending.is_empty(),
        "{backend:?}: the test sent webhooks and left {} deliveries pending (wait until they \
         settle, or call `leave_deliveries_pending`): {pending:#?}",
        pending.len()
    );
}

/// Every delivery succeeded or failed: none is left pending. For a test whose app sent
/// webhooks, after `app.stop()` (which lets attempts in flight finish).
pub async fn assert_no_pending_deliveries(app: &TestApp) {
    assert_none_pending(&app.database_url, app.backend()).await;
}

/// The username of the account with this email.
pub async fn username_by_email(app: &TestApp, email: &str) -> String {
    let email = email.to_owned();
    query(app, move |conn| {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use klaxon::db::schema::users::dsl;
        dsl::users
            .filter(dsl::email.eq(email))
            .select(dsl::username)
            .get_result(conn)
    })
    .await
}
