//! Every table as one JSON document, and back: how an install moves between databases (for
//! example from SQLite to PostgreSQL) with its ids, secrets and history intact.
//!
//! The document is written and read as a stream, a page of rows at a time, so its size is not
//! bounded by memory:
//!
//! ```text
//! {"format":"klaxon-export","version":1,"schema":"<last migration>","tables":{
//! "users":[
//! {"id":1,"username":"ada",...},
//! ...],
//! "app_settings":[...],
//! ...}}
//! ```
//!
//! Tables come in an order in which every row's references point to rows already written, so
//! an import inserts them as they come. Each table has a row type below with every column;
//! a column added to `schema.rs` and missing here stops the build (see `row_type!`).

use std::io::{Read, Write};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::schema;
use super::{read_snapshot, DbConn};

/// Names the kind of document, so that any other JSON file is refused at once.
pub const FORMAT: &str = "klaxon-export";
/// The layout of the document itself (not of the tables, which `schema` pins).
pub const VERSION: u32 = 1;
/// Rows read, and inserted, per statement.
const PAGE: usize = 500;

/// Rows per table, in document order.
pub type Counts = Vec<(&'static str, u64)>;

/// A table as the transfer sees it: its rows, read in pages in primary-key order, and written
/// back a batch at a time.
trait Table: Serialize + DeserializeOwned + Sized {
    const NAME: &'static str;
    /// Whether the primary key is a PostgreSQL `BIGSERIAL`, whose sequence must be moved past
    /// the imported ids.
    const SERIAL_ID: bool;
    fn count(conn: &mut DbConn) -> QueryResult<i64>;
    /// Up to `PAGE` rows after `after` (from the start when `None`).
    fn page(conn: &mut DbConn, after: Option<&Self>) -> QueryResult<Vec<Self>>;
    fn insert(conn: &mut DbConn, rows: &[Self], later: &mut Later) -> QueryResult<()>;
}

/// References that may point forward within their own table, set once the table is complete.
#[derive(Default)]
struct Later {
    merged_incidents: Vec<(i64, i64)>,
}

/// Declares the row type of a table keyed by a `BIGSERIAL id`. Besides deriving the mapping
/// by name, it loads `all_columns` by position into the type in a function that never runs:
/// that only compiles when the fields are exactly the table's columns, in order and type.
macro_rules! row_type {
    ($table:ident, $row:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Serialize, Deserialize, Queryable, Selectable, Insertable)]
        #[diesel(table_name = schema::$table)]
        #[diesel(treat_none_as_default_value = false)]
        #[serde(deny_unknown_fields)]
        struct $row {
            $($field: $ty),*
        }

        const _: fn(&mut DbConn) -> QueryResult<Vec<$row>> =
            |conn| schema::$table::table.select(schema::$table::all_columns).load(conn);
    };
}

/// One multi-row `INSERT` on the backend's own connection (the multi-backend connection does
/// not build them).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConn::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
            DbConn::Postgres(c) => diesel::insert_into($table).values($rows).execute(c),
        }
        .map(drop)
    };
}

macro_rules! keyed_by_id {
    ($table:ident, $row:ident) => {
        impl Table for $row {
            const NAME: &'static str = stringify!($table);
            const SERIAL_ID: bool = true;

            fn count(conn: &mut DbConn) -> QueryResult<i64> {
                schema::$table::table.count().get_result(conn)
            }

            fn page(conn: &mut DbConn, after: Option<&Self>) -> QueryResult<Vec<Self>> {
                schema::$table::table
                    .filter(schema::$table::id.gt(after.map_or(i64::MIN, |row| row.id)))
                    .order(schema::$table::id)
                    .limit(PAGE as i64)
                    .select(Self::as_select())
                    .load(conn)
            }

            fn insert(conn: &mut DbConn, rows: &[Self], _later: &mut Later) -> QueryResult<()> {
                insert_all!(conn, schema::$table::table, rows)
            }
        }
    };
}

row_type!(
    users,
    User {
        id: i64,
        username: String,
        email: String,
        email_normalized: String,
        first_name: String,
        last_name: String,
        password_hash: String,
        role: i32,
        is_active: bool,
        created_at: NaiveDateTime,
        notify_on_resolve: bool,
        time_zone: String,
    }
);
keyed_by_id!(users, User);

row_type!(contact_methods, ContactMethod {
    id: i64,
    unique_id: String,
    user_id: i64,
    channel: String,
    address: String,
    is_account: bool,
    confirmed_at: Option<NaiveDateTime>,
    confirmation_token_hash: Option<String>,
    confirmation_sent_at: Option<NaiveDateTime>,
    confirmation_notification: Option<String>,
    created_at: NaiveDateTime,
});
keyed_by_id!(contact_methods, ContactMethod);

row_type!(
    notification_rules,
    NotificationRule {
        id: i64,
        unique_id: String,
        user_id: i64,
        contact_method_id: i64,
        urgency: String,
        delay_minutes: i32,
        created_at: NaiveDateTime,
    }
);
keyed_by_id!(notification_rules, NotificationRule);

row_type!(
    user_sessions,
    UserSession {
        id: i64,
        user_id: i64,
        token_hash: String,
        created_at: NaiveDateTime,
    }
);
keyed_by_id!(user_sessions, UserSession);

row_type!(
    app_settings,
    AppSetting {
        name: String,
        value: String,
    }
);

/// Values an install generated for itself (session key, account id, first-run marker). A
/// database that was only migrated, or served but never set up, may hold some already: the
/// dump's replace them.
impl Table for AppSetting {
    const NAME: &'static str = "app_settings";
    const SERIAL_ID: bool = false;

    fn count(conn: &mut DbConn) -> QueryResult<i64> {
        schema::app_settings::table.count().get_result(conn)
    }

    fn page(conn: &mut DbConn, after: Option<&Self>) -> QueryResult<Vec<Self>> {
        let mut query = schema::app_settings::table
            .order(schema::app_settings::name)
            .limit(PAGE as i64)
            .select(Self::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(schema::app_settings::name.gt(after.name.clone()));
        }
        query.load(conn)
    }

    fn insert(conn: &mut DbConn, rows: &[Self], _later: &mut Later) -> QueryResult<()> {
        let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
        diesel::delete(
            schema::app_settings::table.filter(schema::app_settings::name.eq_any(names)),
        )
        .execute(conn)?;
        insert_all!(conn, schema::app_settings::table, rows)
    }
}

row_type!(
    login_failures,
    LoginFailure {
        id: i64,
        email_normalized: String,
        ip: String,
        failed_at: NaiveDateTime,
    }
);
keyed_by_id!(login_failures, LoginFailure);

row_type!(teams, Team {
    id: i64,
    unique_id: String,
    name: String,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
});
keyed_by_id!(teams, Team);

row_type!(
    team_members,
    TeamMember {
        id: i64,
        unique_id: String,
        team_id: i64,
        user_id: i64,
        role: i32,
        created_at: NaiveDateTime,
    }
);
keyed_by_id!(team_members, TeamMember);

row_type!(services, Service {
    id: i64,
    unique_id: String,
    team_id: i64,
    name: String,
    summary: String,
    description: String,
    status: i32,
    auto_resolve_timeout: i32,
    acknowledgement_timeout: i32,
    collation: i32,
    collation_time: i32,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
    escalation_policy_id: Option<i64>,
});
keyed_by_id!(services, Service);

row_type!(integrations, Integration {
    id: i64,
    unique_id: String,
    service_id: i64,
    name: String,
    summary: String,
    application: String,
    integration_type: i32,
    is_enabled: bool,
    integration_key: Option<String>,
    create_incidents_for: i32,
    default_urgency: i32,
    url: Option<String>,
    secret: Option<String>,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<NaiveDateTime>,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
    deleted_at: Option<NaiveDateTime>,
});
keyed_by_id!(integrations, Integration);

row_type!(integration_audit, IntegrationAudit {
    id: i64,
    integration_id: i64,
    service_id: i64,
    actor_id: Option<i64>,
    action: String,
    detail: String,
    created_at: NaiveDateTime,
});
keyed_by_id!(integration_audit, IntegrationAudit);

row_type!(
    incident_counter,
    IncidentCounter {
        id: i32,
        last_number: i64,
    }
);

/// One row, seeded by the migrations with 0: the import replaces it.
impl Table for IncidentCounter {
    const NAME: &'static str = "incident_counter";
    const SERIAL_ID: bool = false;

    fn count(conn: &mut DbConn) -> QueryResult<i64> {
        schema::incident_counter::table.count().get_result(conn)
    }

    fn page(conn: &mut DbConn, after: Option<&Self>) -> QueryResult<Vec<Self>> {
        schema::incident_counter::table
            .filter(schema::incident_counter::id.gt(after.map_or(i32::MIN, |row| row.id)))
            .order(schema::incident_counter::id)
            .limit(PAGE as i64)
            .select(Self::as_select())
            .load(conn)
    }

    fn insert(conn: &mut DbConn, rows: &[Self], _later: &mut Later) -> QueryResult<()> {
        diesel::delete(schema::incident_counter::table).execute(conn)?;
        insert_all!(conn, schema::incident_counter::table, rows)
    }
}

row_type!(incidents, Incident {
    id: i64,
    incident_number: i64,
    unique_id: String,
    incident_key: String,
    service_id: i64,
    title: String,
    summary: String,
    status: i32,
    urgency: i32,
    priority: i32,
    assigned_to: Option<i64>,
    created_by: Option<i64>,
    creation_date: NaiveDateTime,
    acknowledged_date: Option<NaiveDateTime>,
    resolved_date: Option<NaiveDateTime>,
    context_window_start: NaiveDateTime,
    context_window_end: NaiveDateTime,
    merged_with: Option<i64>,
    entity_id: Option<String>,
});

/// `merged_with` may name a later incident, so it is set after all incidents are in.
impl Table for Incident {
    const NAME: &'static str = "incidents";
    const SERIAL_ID: bool = true;

    fn count(conn: &mut DbConn) -> QueryResult<i64> {
        schema::incidents::table.count().get_result(conn)
    }

    fn page(conn: &mut DbConn, after: Option<&Self>) -> QueryResult<Vec<Self>> {
        schema::incidents::table
            .filter(schema::incidents::id.gt(after.map_or(i64::MIN, |row| row.id)))
            .order(schema::incidents::id)
            .limit(PAGE as i64)
            .select(Self::as_select())
            .load(conn)
    }

    fn insert(conn: &mut DbConn, rows: &[Self], later: &mut Later) -> QueryResult<()> {
        let mut rows = rows.to_vec();
        for row in &mut rows {
            if let Some(target) = row.merged_with.take() {
                later.merged_incidents.push((row.id, target));
            }
        }
        insert_all!(conn, schema::incidents::table, &rows)
    }
}

row_type!(incident_notes, IncidentNote {
    id: i64,
    unique_id: String,
    incident_id: i64,
    user_id: Option<i64>,
    note: String,
    creation_date: NaiveDateTime,
});
keyed_by_id!(incident_notes, IncidentNote);

row_type!(deliveries, Delivery {
    id: i64,
    unique_id: String,
    integration_id: i64,
    incident_id: Option<i64>,
    event_type: String,
    payload: String,
    is_test: bool,
    state: String,
    attempt_count: i32,
    next_attempt_at: NaiveDateTime,
    locked_by: Option<String>,
    locked_until: Option<NaiveDateTime>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    completed_at: Option<NaiveDateTime>,
});
keyed_by_id!(deliveries, Delivery);

row_type!(delivery_attempts, DeliveryAttempt {
    id: i64,
    delivery_id: i64,
    started_at: NaiveDateTime,
    duration_ms: i64,
    request_headers: String,
    status_code: Option<i32>,
    response_headers: String,
    response_body: String,
    error_kind: Option<String>,
    error_message: Option<String>,
});
keyed_by_id!(delivery_attempts, DeliveryAttempt);

row_type!(timeline_entries, TimelineEntry {
    id: i64,
    incident_id: i64,
    kind: String,
    actor_user_id: Option<i64>,
    actor_label: String,
    detail: String,
    delivery_id: Option<i64>,
    created_at: NaiveDateTime,
});
keyed_by_id!(timeline_entries, TimelineEntry);

row_type!(alerts, Alert {
    id: i64,
    unique_id: String,
    integration_id: i64,
    incident_id: Option<i64>,
    alert_type: i32,
    message: String,
    summary: String,
    entity_id: String,
    suppressed: bool,
    payload: String,
    urls: String,
    creation_date: NaiveDateTime,
});
keyed_by_id!(alerts, Alert);

row_type!(api_keys, ApiKey {
    id: i64,
    name: String,
    key_hash: String,
    key_prefix: String,
    user_id: i64,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
});
keyed_by_id!(api_keys, ApiKey);

row_type!(
    collated_entities,
    CollatedEntity {
        id: i64,
        service_id: i64,
        entity_id: String,
        incident_id: i64,
    }
);
keyed_by_id!(collated_entities, CollatedEntity);

row_type!(schedules, Schedule {
    id: i64,
    unique_id: String,
    team_id: i64,
    name: String,
    summary: String,
    description: String,
    time_zone: String,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
});
keyed_by_id!(schedules, Schedule);

row_type!(schedule_layers, ScheduleLayer {
    id: i64,
    unique_id: String,
    schedule_id: i64,
    position: i32,
    name: String,
    shift_length: i64,
    rotation_start_time: NaiveDateTime,
    rotation_end_time: Option<NaiveDateTime>,
    restriction_type: i32,
    is_active: bool,
});
keyed_by_id!(schedule_layers, ScheduleLayer);

row_type!(
    schedule_layer_users,
    ScheduleLayerUser {
        id: i64,
        layer_id: i64,
        user_id: i64,
        position: i32,
    }
);
keyed_by_id!(schedule_layer_users, ScheduleLayerUser);

row_type!(
    schedule_restrictions,
    ScheduleRestriction {
        id: i64,
        layer_id: i64,
        start_day_of_week: i32,
        start_time_of_day: String,
        duration: i64,
    }
);
keyed_by_id!(schedule_restrictions, ScheduleRestriction);

row_type!(schedule_overrides, ScheduleOverride {
    id: i64,
    unique_id: String,
    schedule_id: i64,
    name: String,
    user_id: i64,
    start_time: NaiveDateTime,
    end_time: NaiveDateTime,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
});
keyed_by_id!(schedule_overrides, ScheduleOverride);

row_type!(escalation_policies, EscalationPolicy {
    id: i64,
    unique_id: String,
    team_id: i64,
    name: String,
    summary: String,
    description: String,
    repeat_policy: i32,
    move_to_next: bool,
    created_by: Option<i64>,
    created_at: NaiveDateTime,
    frozen_rules: Option<String>,
});
keyed_by_id!(escalation_policies, EscalationPolicy);

row_type!(
    escalation_rules,
    EscalationRule {
        id: i64,
        unique_id: String,
        policy_id: i64,
        position: i32,
        delay: i32,
    }
);
keyed_by_id!(escalation_rules, EscalationRule);

row_type!(escalation_targets, EscalationTarget {
    id: i64,
    rule_id: i64,
    target_type: i32,
    schedule_id: Option<i64>,
    user_id: Option<i64>,
});
keyed_by_id!(escalation_targets, EscalationTarget);

row_type!(on_call_audit, OnCallAudit {
    id: i64,
    team_id: i64,
    subject_type: String,
    subject_id: i64,
    actor_id: Option<i64>,
    action: String,
    detail: String,
    created_at: NaiveDateTime,
});
keyed_by_id!(on_call_audit, OnCallAudit);

row_type!(escalations, Escalation {
    id: i64,
    incident_id: i64,
    policy_id: Option<i64>,
    policy_name: String,
    rules: String,
    repeat_policy: i32,
    started_at: NaiveDateTime,
    ended_at: Option<NaiveDateTime>,
    end_reason: Option<String>,
});
keyed_by_id!(escalations, Escalation);

row_type!(escalation_steps, EscalationStep {
    id: i64,
    escalation_id: i64,
    incident_id: i64,
    level: i32,
    round: i32,
    due_at: NaiveDateTime,
    state: String,
    locked_by: Option<String>,
    locked_until: Option<NaiveDateTime>,
    fired_at: Option<NaiveDateTime>,
});
keyed_by_id!(escalation_steps, EscalationStep);

row_type!(notifications, Notification {
    id: i64,
    unique_id: String,
    incident_id: Option<i64>,
    escalation_step_id: Option<i64>,
    user_id: i64,
    channel: String,
    address: String,
    kind: String,
    state: String,
    attempt_count: i32,
    next_attempt_at: NaiveDateTime,
    locked_by: Option<String>,
    locked_until: Option<NaiveDateTime>,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    completed_at: Option<NaiveDateTime>,
    acknowledged_at: Option<NaiveDateTime>,
});
keyed_by_id!(notifications, Notification);

row_type!(notification_attempts, NotificationAttempt {
    id: i64,
    notification_id: i64,
    started_at: NaiveDateTime,
    duration_ms: i64,
    reply_code: Option<i32>,
    reply_text: String,
    error: Option<String>,
});
keyed_by_id!(notification_attempts, NotificationAttempt);

/// Runs `$body` once per table with `$t` naming its row type, in document order (every
/// table after the tables it references).
macro_rules! for_each_table {
    ($t:ident => $body:expr) => {
        for_each_table!(@rows $t => $body; User, ContactMethod, NotificationRule, UserSession, AppSetting, LoginFailure, Team, TeamMember,
            Schedule, ScheduleLayer, ScheduleLayerUser, ScheduleRestriction, ScheduleOverride,
            EscalationPolicy, EscalationRule, EscalationTarget, OnCallAudit,
            Service, Integration, IntegrationAudit, IncidentCounter, Incident, IncidentNote,
            Delivery, DeliveryAttempt, TimelineEntry, Alert, ApiKey, CollatedEntity, Escalation,
            EscalationStep, Notification, NotificationAttempt)
    };
    (@rows $t:ident => $body:expr; $($row:ident),*) => {{
        $({
            type $t = $row;
            $body;
        })*
    }};
}

/// Tables that triggers keep from `incidents` (migration 000070): the incidents list's counts and
/// its full-text index (on SQLite, FTS5 keeps the index in tables named after it). They are not
/// exported: the import's inserts rebuild them.
const DERIVED_TABLES: [&str; 2] = ["incident_tallies", "incidents_fts"];

/// Whether a table of the database is one the triggers keep rather than one the transfer copies.
pub fn is_derived(table: &str) -> bool {
    DERIVED_TABLES
        .iter()
        .any(|derived| table == *derived || table.starts_with(&format!("{derived}_")))
}

/// The tables the transfer knows, in document order.
pub fn table_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    for_each_table!(T => names.push(T::NAME));
    names
}

/// The last migration applied to the database: the dump and the database it goes into must
/// have the same tables.
pub fn schema_version(conn: &mut DbConn) -> anyhow::Result<String> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.applied_migrations(),
        DbConn::Postgres(c) => c.applied_migrations(),
    }
    .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))?;
    applied
        .iter()
        .map(|version| version.to_string())
        .max()
        .ok_or_else(|| anyhow::anyhow!("the database has no migrations applied"))
}

#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    version: u32,
    schema: &'a str,
}

/// Writes every table as one JSON document, read from one consistent snapshot (a running
/// server may keep writing meanwhile). Returns the rows written per table.
pub fn export(conn: &mut DbConn, out: &mut dyn Write) -> anyhow::Result<Counts> {
    // Read first: diesel makes sure its bookkeeping table exists, which is a write.
    let schema = schema_version(conn)?;
    read_snapshot(conn, |conn| {
        let header = serde_json::to_string(&Header {
            format: FORMAT,
            version: VERSION,
            schema: &schema,
        })?;
        // The header object, left open for the tables.
        write!(out, "{},\"tables\":{{", header.trim_end_matches('}'))?;
        let mut counts = Counts::new();
        for_each_table!(T => write_table::<T>(conn, &mut *out, &mut counts)?);
        writeln!(out, "\n}}}}")?;
        out.flush()?;
        Ok(counts)
    })
}

fn write_table<T: Table>(
    conn: &mut DbConn,
    out: &mut dyn Write,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let separator = if counts.is_empty() { "" } else { "," };
    write!(out, "{separator}\n{}:[", serde_json::to_string(T::NAME)?)?;
    let mut written = 0u64;
    let mut last: Option<T> = None;
    loop {
        let rows = T::page(conn, last.as_ref())
            .map_err(|e| anyhow::anyhow!("cannot read the table {}: {e}", T::NAME))?;
        let full = rows.len() == PAGE;
        for row in &rows {
            out.write_all(if written == 0 { b"\n" } else { b",\n" })?;
            serde_json::to_writer(&mut *out, row)?;
            written += 1;
        }
        last = rows.into_iter().last();
        if !full {
            break;
        }
    }
    write!(out, "]")?;
    counts.push((T::NAME, written));
    Ok(())
}

/// Tables that hold rows, leaving out the two that every database has rows in from its
/// migrations or first start (`app_settings`, `incident_counter`), which an import replaces.
/// An import goes only into a database where this is empty.
pub fn non_empty_tables(conn: &mut DbConn) -> QueryResult<Counts> {
    fn check<T: Table>(conn: &mut DbConn, found: &mut Counts) -> QueryResult<()> {
        if T::NAME == AppSetting::NAME || T::NAME == IncidentCounter::NAME {
            return Ok(());
        }
        let rows = T::count(conn)?;
        if rows > 0 {
            found.push((T::NAME, rows as u64));
        }
        Ok(())
    }
    let mut found = Counts::new();
    for_each_table!(T => check::<T>(conn, &mut found)?);
    Ok(found)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "the database is not empty ({}); import only into a new database",
        describe(.0)
    )]
    NotEmpty(Counts),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for ImportError {
    fn from(error: diesel::result::Error) -> Self {
        ImportError::Other(error.into())
    }
}

fn describe(counts: &Counts) -> String {
    counts
        .iter()
        .map(|(table, rows)| format!("{table}: {rows}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a document written by `export` into this (empty, migrated) database, in one
/// transaction: on any error nothing is kept. Ids are kept as they were; PostgreSQL's id
/// sequences are moved past them.
pub fn import(conn: &mut DbConn, input: impl Read) -> Result<Counts, ImportError> {
    super::write_transaction(conn, |conn| {
        let found = non_empty_tables(conn)?;
        if !found.is_empty() {
            return Err(ImportError::NotEmpty(found));
        }
        let schema = schema_version(conn)?;
        let mut reader = serde_json::Deserializer::from_reader(input);
        let mut state = ImportState {
            conn: &mut *conn,
            schema,
            header: HeaderSeen::default(),
            counts: Counts::new(),
            later: Later::default(),
        };
        DocumentSeed(&mut state)
            .deserialize(&mut reader)
            .and_then(|()| reader.end())
            .map_err(|e| ImportError::Invalid(format!("not a usable export: {e}")))?;
        let ImportState { counts, later, .. } = state;
        let missing: Vec<&str> = table_names()
            .into_iter()
            .filter(|name| !counts.iter().any(|(seen, _)| seen == name))
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Invalid(format!(
                "not a usable export: tables missing: {}",
                missing.join(", ")
            )));
        }
        for (id, target) in later.merged_incidents {
            diesel::update(schema::incidents::table.find(id))
                .set(schema::incidents::merged_with.eq(target))
                .execute(conn)?;
        }
        reset_sequences(conn)?;
        Ok(counts)
    })
}

/// PostgreSQL hands out ids from sequences that inserts with explicit ids do not move; set
/// each past the largest id. (SQLite's AUTOINCREMENT counter follows explicit ids by itself.)
fn reset_sequences(conn: &mut DbConn) -> QueryResult<()> {
    let DbConn::Postgres(c) = conn else {
        return Ok(());
    };
    fn statement<T: Table>(sql: &mut String) {
        if T::SERIAL_ID {
            let table = T::NAME;
            sql.push_str(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false);"
            ));
        }
    }
    let mut sql = String::new();
    for_each_table!(T => statement::<T>(&mut sql));
    c.batch_execute(&sql)
}

#[derive(Default)]
struct HeaderSeen {
    format: bool,
    version: bool,
    schema: bool,
}

struct ImportState<'c> {
    conn: &'c mut DbConn,
    schema: String,
    header: HeaderSeen,
    counts: Counts,
    later: Later,
}

/// The top-level object: the header fields, checked before any table is read, then `tables`.
struct DocumentSeed<'s, 'c>(&'s mut ImportState<'c>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a JSON object written by `klaxon export`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let mut tables = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => {
                    let format: String = map.next_value()?;
                    if format != FORMAT {
                        return Err(A::Error::custom(format!(
                            "format is {format:?}, expected {FORMAT:?}"
                        )));
                    }
                    state.header.format = true;
                }
                "version" => {
                    let version: u32 = map.next_value()?;
                    if version != VERSION {
                        return Err(A::Error::custom(format!(
                            "document version {version}; this Klaxon reads version {VERSION}"
                        )));
                    }
                    state.header.version = true;
                }
                "schema" => {
                    let schema: String = map.next_value()?;
                    if schema != state.schema {
                        return Err(A::Error::custom(format!(
                            "it was written at schema {schema}, this database is at {}; \
                             export and import with the same Klaxon version",
                            state.schema
                        )));
                    }
                    state.header.schema = true;
                }
                "tables" => {
                    let header = &state.header;
                    if !(header.format && header.version && header.schema) {
                        return Err(A::Error::custom(
                            "format, version and schema must come before tables",
                        ));
                    }
                    map.next_value_seed(TablesSeed(&mut *state))?;
                    tables = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !tables {
            return Err(A::Error::custom("no tables"));
        }
        Ok(())
    }
}

/// `tables`: one array of rows per table name.
struct TablesSeed<'s, 'c>(&'s mut ImportState<'c>);

impl<'de> DeserializeSeed<'de> for TablesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TablesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an object of tables")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(name) = map.next_key::<String>()? {
            if state.counts.iter().any(|(seen, _)| *seen == name) {
                return Err(A::Error::custom(format!("table {name} appears twice")));
            }
            let mut matched = false;
            for_each_table!(T => if name == T::NAME {
                let rows = map.next_value_seed(RowsSeed::<T> {
                    state: &mut *state,
                    marker: std::marker::PhantomData,
                })?;
                state.counts.push((T::NAME, rows));
                matched = true;
            });
            if !matched {
                return Err(A::Error::custom(format!(
                    "unknown table {name} (written by a newer Klaxon?)"
                )));
            }
        }
        Ok(())
    }
}

/// One table's array, inserted a batch at a time as it is read.
struct RowsSeed<'s, 'c, T> {
    state: &'s mut ImportState<'c>,
    marker: std::marker::PhantomData<T>,
}

impl<'de, T: Table> DeserializeSeed<'de> for RowsSeed<'_, '_, T> {
    type Value = u64;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Table> Visitor<'de> for RowsSeed<'_, '_, T> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an array of {} rows", T::NAME)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let state = self.state;
        let mut batch: Vec<T> = Vec::with_capacity(PAGE);
        let mut inserted = 0u64;
        let mut flush = |batch: &mut Vec<T>, state: &mut ImportState| -> Result<(), A::Error> {
            if batch.is_empty() {
                return Ok(());
            }
            T::insert(state.conn, batch, &mut state.later)
                .map_err(|e| A::Error::custom(format!("cannot insert into {}: {e}", T::NAME)))?;
            inserted += batch.len() as u64;
            batch.clear();
            Ok(())
        };
        while let Some(row) = seq.next_element::<T>()? {
            batch.push(row);
            if batch.len() == PAGE {
                flush(&mut batch, state)?;
            }
        }
        flush(&mut batch, state)?;
        Ok(inserted)
    }
}
