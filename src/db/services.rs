//! Persistence of services.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::escalations::ServicePolicy;
use super::integrations::IntegrationRow;
use super::schema::{escalation_policies, integrations, services, teams, users};
use super::{shared_run, DbConn};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
pub struct ServiceRow {
    pub id: i64,
    pub unique_id: String,
    pub team_id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub status: i32,
    pub auto_resolve_timeout: i32,
    pub acknowledgement_timeout: i32,
    pub collation: i32,
    pub collation_time: i32,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub escalation_policy_id: Option<i64>,
}

/// The fields a person edits.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = services, treat_none_as_null = true)]
pub struct ServiceFields {
    pub team_id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub status: i32,
    pub auto_resolve_timeout: i32,
    pub acknowledgement_timeout: i32,
    pub collation: i32,
    pub collation_time: i32,
    pub escalation_policy_id: Option<i64>,
}

pub fn insert(
    conn: &mut DbConn,
    unique_id: &str,
    fields: &ServiceFields,
    created_by: i64,
    at: NaiveDateTime,
) -> QueryResult<ServiceRow> {
    diesel::insert_into(services::table)
        .values((
            services::unique_id.eq(unique_id),
            services::team_id.eq(fields.team_id),
            services::name.eq(&fields.name),
            services::summary.eq(&fields.summary),
            services::description.eq(&fields.description),
            services::status.eq(fields.status),
            services::auto_resolve_timeout.eq(fields.auto_resolve_timeout),
            services::acknowledgement_timeout.eq(fields.acknowledgement_timeout),
            services::collation.eq(fields.collation),
            services::collation_time.eq(fields.collation_time),
            services::created_by.eq(Some(created_by)),
            services::created_at.eq(at),
            services::escalation_policy_id.eq(fields.escalation_policy_id),
        ))
        .execute(conn)?;
    find_by_unique_id(conn, unique_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn update(conn: &mut DbConn, id: i64, fields: &ServiceFields) -> QueryResult<usize> {
    diesel::update(services::table.find(id))
        .set(fields)
        .execute(conn)
}

pub fn set_status(conn: &mut DbConn, id: i64, status: i32) -> QueryResult<usize> {
    diesel::update(services::table.find(id))
        .set(services::status.eq(status))
        .execute(conn)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(services::table.find(id)).execute(conn)
}

/// The different auto-resolve times services have, other than off.
pub fn auto_resolve_times(conn: &mut DbConn) -> QueryResult<Vec<i32>> {
    services::table
        .filter(services::auto_resolve_timeout.gt(0))
        .select(services::auto_resolve_timeout)
        .distinct()
        .load(conn)
}

pub fn acknowledgement_timeouts(conn: &mut DbConn) -> QueryResult<Vec<i32>> {
    services::table
        .filter(services::acknowledgement_timeout.gt(0))
        .select(services::acknowledgement_timeout)
        .distinct()
        .load(conn)
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<ServiceRow>> {
    on_backend!(conn, c => services::table.find(id).select(ServiceRow::as_select())
        .get_result(c).optional())
}

/// A service with its team's `unique_id`, its creator's username and its escalation policy's
/// `unique_id`.
pub type ServiceForPayload = (ServiceRow, String, Option<String>, Option<String>);

/// A service as a trigger reads it, in one statement: what the webhook body says of it, and
/// the escalation policy the incident's escalation copies.
#[derive(Clone)]
pub struct ServiceForTrigger {
    pub payload: ServiceForPayload,
    pub policy: Option<ServicePolicy>,
}

type PolicyColumns = (Option<i64>, Option<String>, Option<i32>, Option<String>);

fn policy_of((id, name, repeat_policy, frozen_rules): PolicyColumns) -> Option<ServicePolicy> {
    Some(ServicePolicy {
        id: id?,
        name: name?,
        repeat_policy: repeat_policy?,
        frozen_rules,
    })
}

/// The columns of [`ServiceForTrigger`] past the service's own, for a query that joins
/// `teams`, the creator in `users`, and `escalation_policies` to `services`.
macro_rules! trigger_columns {
    () => {
        (
            teams::unique_id,
            users::username.nullable(),
            escalation_policies::unique_id.nullable(),
            (
                escalation_policies::id.nullable(),
                escalation_policies::name.nullable(),
                escalation_policies::repeat_policy.nullable(),
                escalation_policies::frozen_rules.nullable(),
            ),
        )
    };
}

type TriggerColumns = (String, Option<String>, Option<String>, PolicyColumns);

fn for_trigger(
    service: ServiceRow,
    (team, creator, policy_unique_id, policy): TriggerColumns,
) -> ServiceForTrigger {
    ServiceForTrigger {
        payload: (service, team, creator, policy_unique_id),
        policy: policy_of(policy),
    }
}

pub fn find_for_trigger(conn: &mut DbConn, id: i64) -> QueryResult<Option<ServiceForTrigger>> {
    let found: Option<(ServiceRow, TriggerColumns)> = on_backend!(conn, c => services::table
        .inner_join(teams::table)
        .left_join(users::table.on(services::created_by.eq(users::id.nullable())))
        .left_join(escalation_policies::table)
        .filter(services::id.eq(id))
        .select((ServiceRow::as_select(), trigger_columns!()))
        .get_result(c).optional())?;
    Ok(found.map(|(service, columns)| for_trigger(service, columns)))
}

/// The live integration with this key and its service as a trigger reads it: what an alert
/// reads first, in one statement (every alert of a storm pays for it, and one that opens an
/// incident reads nothing more of its service).
pub fn find_by_integration_key(
    conn: &mut DbConn,
    key: &str,
) -> QueryResult<Option<(IntegrationRow, ServiceForTrigger)>> {
    shared_run::remembered(("integration key", key.to_owned()), || {
        find_by_integration_key_now(conn, key)
    })
}

fn find_by_integration_key_now(
    conn: &mut DbConn,
    key: &str,
) -> QueryResult<Option<(IntegrationRow, ServiceForTrigger)>> {
    let found: Option<(IntegrationRow, ServiceRow, TriggerColumns)> = on_backend!(conn, c => integrations::table
        .inner_join(
            services::table
                .inner_join(teams::table)
                .left_join(users::table.on(services::created_by.eq(users::id.nullable())))
                .left_join(escalation_policies::table),
        )
        .filter(integrations::integration_key.eq(key))
        .filter(integrations::deleted_at.is_null())
        .select((IntegrationRow::as_select(), ServiceRow::as_select(), trigger_columns!()))
        .get_result(c).optional())?;
    Ok(found.map(|(integration, service, columns)| (integration, for_trigger(service, columns))))
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<ServiceRow>> {
    services::table
        .filter(services::unique_id.eq(unique_id))
        .select(ServiceRow::as_select())
        .get_result(conn)
        .optional()
}

/// Services with their team's name, by name; `team_ids` limits them (None: all teams).
pub fn list_with_team(
    conn: &mut DbConn,
    team_ids: Option<&[i64]>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<(ServiceRow, String)>> {
    let mut query = services::table
        .inner_join(teams::table)
        .order((services::name, services::id))
        .offset(offset)
        .limit(limit)
        .select((ServiceRow::as_select(), teams::name))
        .into_boxed();
    if let Some(ids) = team_ids {
        query = query.filter(services::team_id.eq_any(ids.to_vec()));
    }
    query.load(conn)
}

/// Whether this install has any service yet (the first-run checklist).
pub fn any_exists(conn: &mut DbConn) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(services::table.select(services::id))).get_result(conn)
}
