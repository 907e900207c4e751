//! Reading what the app wrote, making one of its writes fail, and the check that no delivery,
//! and no escalation step or email that is due, is left pending.

use diesel::connection::SimpleConnection;
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, SelectableHelper};
use klaxon::db::deliveries::DeliveryRow;
use klaxon::db::{deliveries, escalations, incidents, notifications, DbConn, DbError};

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

/// What a test may leave behind, and the check of it. Webhook deliveries are checked when the
/// test's app sent webhooks, escalation steps and emails when it paged (its paging workers ran
/// in the background or the test stepped them); each check has its own opt-out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Checks {
    pub deliveries: bool,
    pub paging: bool,
}

/// An escalation step or an email still pending although it is due.
#[derive(Debug)]
#[allow(dead_code)] // Read through `Debug` in the failure message.
struct DueJob {
    table: &'static str,
    id: i64,
    incident_id: Option<i64>,
    detail: String,
    due_at: chrono::NaiveDateTime,
}

/// Deliveries still pending (due or not: a delivery's retry is never far off), and escalation
/// steps and emails pending although due: a step or email scheduled for later (a level
/// waiting ten minutes, a rule's delay) is what the app should leave, one due and unsent is
/// work the test left undone.
async fn leftovers(url: &str, checks: Checks) -> (Vec<DeliveryRow>, Vec<DueJob>) {
    let url = url.to_owned();
    let db = tokio::task::spawn_blocking(move || klaxon::db::Db::connect(&url, 1))
        .await
        .unwrap()
        .expect("open the test database");
    db.run(move |conn| {
        let mut deliveries = Vec::new();
        if checks.deliveries {
            use klaxon::db::schema::deliveries::dsl;
            deliveries = dsl::deliveries
                .filter(dsl::state.eq("pending"))
                .order(dsl::id)
                .select(DeliveryRow::as_select())
                .load(conn)?;
        }
        let mut due = Vec::new();
        if checks.paging {
            let now = klaxon::db::now();
            use klaxon::db::schema::{escalation_steps as s, notifications as n};
            let steps: Vec<(i64, i64, i32, i32, chrono::NaiveDateTime)> = s::table
                .filter(s::state.eq(escalations::PENDING))
                .filter(s::due_at.le(now))
                .order(s::id)
                .select((s::id, s::incident_id, s::level, s::round, s::due_at))
                .load(conn)?;
            due.extend(
                steps
                    .into_iter()
                    .map(|(id, incident, level, round, due_at)| DueJob {
                        table: "escalation_steps",
                        id,
                        incident_id: Some(incident),
                        detail: format!("level {} round {round}", level + 1),
                        due_at,
                    }),
            );
            let emails: Vec<(i64, Option<i64>, String, String, i32, chrono::NaiveDateTime)> =
                n::table
                    .filter(n::state.eq(notifications::PENDING))
                    .filter(n::next_attempt_at.le(now))
                    .order(n::id)
                    .select((
                        n::id,
                        n::incident_id,
                        n::kind,
                        n::address,
                        n::attempt_count,
                        n::next_attempt_at,
                    ))
                    .load(conn)?;
            due.extend(emails.into_iter().map(
                |(id, incident_id, kind, address, attempts, due_at)| DueJob {
                    table: "notifications",
                    id,
                    incident_id,
                    detail: format!("{kind} email to {address} after {attempts} attempts"),
                    due_at,
                },
            ));
        }
        Ok::<_, DbError>((deliveries, due))
    })
    .await
    .unwrap()
}

pub(super) async fn assert_none_pending(url: &str, backend: Backend, checks: Checks) {
    let (deliveries, due) = leftovers(url, checks).await;
    assert!(
        deliveries.is_empty(),
        "{backend:?}: the test sent webhooks and left {} deliveries pending (wait until they \
         settle, or call `leave_deliveries_pending`): {deliveries:#?}",
        deliveries.len()
    );
    assert!(
        due.is_empty(),
        "{backend:?}: the test paged and left {} escalation steps or emails pending although \
         due (step the workers with `page_until_idle`, or call `leave_paging_pending`): {due:#?}",
        due.len()
    );
}

/// No delivery is left pending, and, if the app paged, no escalation step or email that is
/// due: for a test outside the runner, after `app.stop()` (which lets attempts in flight
/// finish).
pub async fn assert_no_pending_jobs(app: &TestApp) {
    let checks = Checks {
        deliveries: true,
        paging: app.paged(),
    };
    assert_none_pending(&app.database_url, app.backend(), checks).await;
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

/// Holds the app's turn to write until `release` is dropped or sent to: on SQLite the write lock,
/// on PostgreSQL the turn the app's grouped writes take. Writes sent meanwhile queue up in the
/// app's writer and run together, as one batch, once it is released. Returns once it is held.
pub async fn hold_the_writer(app: &TestApp) -> (tokio::sync::oneshot::Sender<()>, HeldWriter) {
    let db = app.db().await;
    let (held, holding) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        db.write(move |conn| {
            klaxon::db::take_turns(conn, klaxon::db::writer::BATCH_TURN)?;
            let _ = held.send(());
            let _ = released.blocking_recv();
            Ok::<_, DbError>(())
        })
        .await
        .expect("the held write commits");
    });
    holding.await.expect("the writer is held");
    (release, HeldWriter(task))
}

/// The write holding the app's writer; `done` waits for it to commit.
pub struct HeldWriter(tokio::task::JoinHandle<()>);

impl HeldWriter {
    pub async fn done(self) {
        self.0.await.unwrap();
    }
}
