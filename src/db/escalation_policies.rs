//! Persistence of escalation policies, their ordered rules and each rule's targets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    escalation_policies, escalation_rules, escalation_targets, escalations, services,
};
use super::DbConn;

/// `target_type` of a rule target: whoever is on call in a schedule.
pub const TARGET_SCHEDULE: i32 = 1;
/// `target_type` of a rule target: one person.
pub const TARGET_USER: i32 = 2;

/// The name of the policy every team gets when it is created.
pub const DEFAULT_POLICY_NAME: &str = "Default";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalation_policies)]
pub struct PolicyRow {
    pub id: i64,
    pub unique_id: String,
    pub team_id: i64,
    pub name: String,
    pub summary: String,
    pub description: String,
    pub repeat_policy: i32,
    pub move_to_next: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// The fields a person edits (the rules are stored apart).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = escalation_policies)]
pub struct PolicyFields {
    pub name: String,
    pub summary: String,
    pub description: String,
    pub repeat_policy: i32,
    pub move_to_next: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalation_rules)]
pub struct RuleRow {
    pub id: i64,
    pub unique_id: String,
    pub policy_id: i64,
    pub position: i32,
    pub delay: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalation_targets)]
pub struct TargetRow {
    pub id: i64,
    pub rule_id: i64,
    pub target_type: i32,
    pub schedule_id: Option<i64>,
    pub user_id: Option<i64>,
}

/// What a rule points at, by row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Schedule(i64),
    User(i64),
}

impl From<&TargetRow> for Option<Target> {
    fn from(row: &TargetRow) -> Self {
        match (row.target_type, row.schedule_id, row.user_id) {
            (TARGET_SCHEDULE, Some(id), _) => Some(Target::Schedule(id)),
            (TARGET_USER, _, Some(id)) => Some(Target::User(id)),
            _ => None,
        }
    }
}

/// A rule as it is to be stored: the position is its place in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleToStore {
    pub unique_id: String,
    pub delay: i32,
    pub targets: Vec<Target>,
}

pub fn insert(
    conn: &mut DbConn,
    unique_id: &str,
    team_id: i64,
    fields: &PolicyFields,
    created_by: Option<i64>,
    at: NaiveDateTime,
) -> QueryResult<PolicyRow> {
    diesel::insert_into(escalation_policies::table)
        .values((
            escalation_policies::unique_id.eq(unique_id),
            escalation_policies::team_id.eq(team_id),
            escalation_policies::name.eq(&fields.name),
            escalation_policies::summary.eq(&fields.summary),
            escalation_policies::description.eq(&fields.description),
            escalation_policies::repeat_policy.eq(fields.repeat_policy),
            escalation_policies::move_to_next.eq(fields.move_to_next),
            escalation_policies::created_by.eq(created_by),
            escalation_policies::created_at.eq(at),
        ))
        .execute(conn)?;
    find_by_unique_id(conn, unique_id)?.ok_or(diesel::result::Error::NotFound)
}

/// The policy a new team starts with: one rule, at once, to the given managers; its creation
/// is in the audit trail.
pub fn insert_default(
    conn: &mut DbConn,
    team_id: i64,
    manager_ids: &[i64],
    created_by: Option<i64>,
    at: NaiveDateTime,
) -> QueryResult<PolicyRow> {
    let fields = PolicyFields {
        name: DEFAULT_POLICY_NAME.to_owned(),
        summary: String::new(),
        description: "Notifies the team's managers at once.".to_owned(),
        repeat_policy: 0,
        move_to_next: false,
    };
    let policy = insert(
        conn,
        &uuid::Uuid::new_v4().to_string(),
        team_id,
        &fields,
        created_by,
        at,
    )?;
    let rule = RuleToStore {
        unique_id: uuid::Uuid::new_v4().to_string(),
        delay: 0,
        targets: manager_ids.iter().map(|id| Target::User(*id)).collect(),
    };
    replace_rules(conn, policy.id, &[rule])?;
    super::on_call_audit::record(
        conn,
        team_id,
        super::on_call_audit::Subject::EscalationPolicy(policy.id),
        created_by,
        "created",
        "Default policy of a new team: the team's managers, at once.",
        at,
    )?;
    Ok(policy)
}

pub fn update(conn: &mut DbConn, id: i64, fields: &PolicyFields) -> QueryResult<usize> {
    diesel::update(escalation_policies::table.find(id))
        .set(fields)
        .execute(conn)
}

/// Deletes a policy and its rules. Escalations it started keep their frozen rules and lose the
/// link to it.
pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(escalations::table.filter(escalations::policy_id.eq(id)))
        .set(escalations::policy_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(escalation_policies::table.find(id)).execute(conn)
}

pub fn find_by_unique_id(conn: &mut DbConn, unique_id: &str) -> QueryResult<Option<PolicyRow>> {
    escalation_policies::table
        .filter(escalation_policies::unique_id.eq(unique_id))
        .select(PolicyRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<PolicyRow>> {
    escalation_policies::table
        .find(id)
        .select(PolicyRow::as_select())
        .get_result(conn)
        .optional()
}

/// A team's policies by name, one page at a time.
pub fn list_for_team(
    conn: &mut DbConn,
    team_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<PolicyRow>> {
    escalation_policies::table
        .filter(escalation_policies::team_id.eq(team_id))
        .order((escalation_policies::name, escalation_policies::id))
        .offset(offset)
        .limit(limit)
        .select(PolicyRow::as_select())
        .load(conn)
}

/// The policies of several teams, by name (for a select that depends on the team).
pub fn list_for_teams(conn: &mut DbConn, team_ids: &[i64]) -> QueryResult<Vec<PolicyRow>> {
    escalation_policies::table
        .filter(escalation_policies::team_id.eq_any(team_ids.to_vec()))
        .order((escalation_policies::name, escalation_policies::id))
        .limit(5000)
        .select(PolicyRow::as_select())
        .load(conn)
}

/// The team's first policy: the one its new services get (its Default, unless deleted).
pub fn first_of_team(conn: &mut DbConn, team_id: i64) -> QueryResult<Option<PolicyRow>> {
    escalation_policies::table
        .filter(escalation_policies::team_id.eq(team_id))
        .order(escalation_policies::id)
        .limit(1)
        .select(PolicyRow::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().next())
}

/// A policy's rules in order.
pub fn rules_of(conn: &mut DbConn, policy_id: i64) -> QueryResult<Vec<RuleRow>> {
    escalation_rules::table
        .filter(escalation_rules::policy_id.eq(policy_id))
        .order((escalation_rules::position, escalation_rules::id))
        .select(RuleRow::as_select())
        .load(conn)
}

/// The targets of the given rules, in the order they were added.
pub fn targets_of(conn: &mut DbConn, rule_ids: &[i64]) -> QueryResult<Vec<TargetRow>> {
    escalation_targets::table
        .filter(escalation_targets::rule_id.eq_any(rule_ids.to_vec()))
        .order(escalation_targets::id)
        .select(TargetRow::as_select())
        .load(conn)
}

/// A rule target with the name of what it points at (None when that no longer exists), as an
/// escalation freezes it.
#[derive(Debug, Clone)]
pub struct NamedTarget {
    pub target: TargetRow,
    /// The user's first and last name, for a user target.
    pub user_name: Option<(String, String)>,
    pub schedule_name: Option<String>,
}

/// A target row, its user's first and last name, its schedule's name.
type NamedTargetRow = (TargetRow, Option<(String, String)>, Option<String>);

/// The targets of the given rules with their names, in the order they were added: one
/// statement, as every trigger reads them.
pub fn named_targets_of(conn: &mut DbConn, rule_ids: &[i64]) -> QueryResult<Vec<NamedTarget>> {
    use super::schema::{schedules, users};
    let rows: Vec<NamedTargetRow> = escalation_targets::table
        .left_join(users::table.on(escalation_targets::user_id.eq(users::id.nullable())))
        .left_join(
            schedules::table.on(escalation_targets::schedule_id.eq(schedules::id.nullable())),
        )
        .filter(escalation_targets::rule_id.eq_any(rule_ids.to_vec()))
        .order(escalation_targets::id)
        .select((
            TargetRow::as_select(),
            (users::first_name, users::last_name).nullable(),
            schedules::name.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(target, user_name, schedule_name)| NamedTarget {
            target,
            user_name,
            schedule_name,
        })
        .collect())
}

/// Stores `rules` as the policy's whole list, in that order, in place of what it had.
pub fn replace_rules(conn: &mut DbConn, policy_id: i64, rules: &[RuleToStore]) -> QueryResult<()> {
    diesel::delete(escalation_rules::table.filter(escalation_rules::policy_id.eq(policy_id)))
        .execute(conn)?;
    for (position, rule) in rules.iter().enumerate() {
        diesel::insert_into(escalation_rules::table)
            .values((
                escalation_rules::unique_id.eq(&rule.unique_id),
                escalation_rules::policy_id.eq(policy_id),
                escalation_rules::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                escalation_rules::delay.eq(rule.delay),
            ))
            .execute(conn)?;
        let rule_id: i64 = escalation_rules::table
            .filter(escalation_rules::unique_id.eq(&rule.unique_id))
            .select(escalation_rules::id)
            .get_result(conn)?;
        for target in &rule.targets {
            let (target_type, schedule_id, user_id) = match *target {
                Target::Schedule(id) => (TARGET_SCHEDULE, Some(id), None),
                Target::User(id) => (TARGET_USER, None, Some(id)),
            };
            diesel::insert_into(escalation_targets::table)
                .values((
                    escalation_targets::rule_id.eq(rule_id),
                    escalation_targets::target_type.eq(target_type),
                    escalation_targets::schedule_id.eq(schedule_id),
                    escalation_targets::user_id.eq(user_id),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Whether a rule id is taken (by any policy): an id a client sends must not move a rule out
/// of another policy.
pub fn rule_id_taken_elsewhere(
    conn: &mut DbConn,
    unique_id: &str,
    policy_id: i64,
) -> QueryResult<bool> {
    escalation_rules::table
        .filter(escalation_rules::unique_id.eq(unique_id))
        .filter(escalation_rules::policy_id.ne(policy_id))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

/// How many services use a policy (Zenduty's `connections`).
pub fn count_services_using(conn: &mut DbConn, policy_id: i64) -> QueryResult<i64> {
    services::table
        .filter(services::escalation_policy_id.eq(policy_id))
        .count()
        .get_result(conn)
}

/// The names of the services that use a policy (at most 20).
pub fn service_names_using(conn: &mut DbConn, policy_id: i64) -> QueryResult<Vec<String>> {
    services::table
        .filter(services::escalation_policy_id.eq(policy_id))
        .order((services::name, services::id))
        .limit(20)
        .select(services::name)
        .load(conn)
}

/// The names of the policies with a rule that targets the user directly, in one team or in
/// any (at most 20).
pub fn policy_names_targeting_user(
    conn: &mut DbConn,
    user_id: i64,
    team_id: Option<i64>,
) -> QueryResult<Vec<String>> {
    let mut query = escalation_targets::table
        .inner_join(escalation_rules::table.inner_join(escalation_policies::table))
        .filter(escalation_targets::user_id.eq(user_id))
        .select(escalation_policies::name)
        .distinct()
        .order(escalation_policies::name)
        .limit(20)
        .into_boxed();
    if let Some(team_id) = team_id {
        query = query.filter(escalation_policies::team_id.eq(team_id));
    }
    query.load(conn)
}

/// Locks the policy's row until the transaction ends (PostgreSQL; SQLite has one writer), so
/// that two transactions refreezing it take turns and the second reads what the first wrote.
/// `FOR NO KEY UPDATE` does not wait for the key-share locks that inserting rules takes.
pub fn lock(conn: &mut DbConn, policy_id: i64) -> QueryResult<()> {
    if let DbConn::Postgres(pg) = conn {
        escalation_policies::table
            .find(policy_id)
            .select(escalation_policies::id)
            .for_no_key_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Stores the policy's rules as an escalation freezes them (a JSON text the domain builds):
/// what a trigger copies into its escalation. Written in the transaction of every change to
/// the rules, their targets or the names they show.
pub fn set_frozen_rules(conn: &mut DbConn, policy_id: i64, frozen: &str) -> QueryResult<usize> {
    diesel::update(escalation_policies::table.find(policy_id))
        .set(escalation_policies::frozen_rules.eq(Some(frozen)))
        .execute(conn)
}

/// The policies whose frozen rules were never computed (made before the column existed).
pub fn ids_without_frozen_rules(conn: &mut DbConn) -> QueryResult<Vec<i64>> {
    escalation_policies::table
        .filter(escalation_policies::frozen_rules.is_null())
        .order(escalation_policies::id)
        .select(escalation_policies::id)
        .load(conn)
}

/// The policies with a rule that targets this user or schedule directly.
pub fn ids_targeting(conn: &mut DbConn, target: Target) -> QueryResult<Vec<i64>> {
    let policies = escalation_targets::table
        .inner_join(escalation_rules::table)
        .select(escalation_rules::policy_id)
        .distinct()
        .order(escalation_rules::policy_id)
        .into_boxed();
    match target {
        Target::User(id) => policies.filter(escalation_targets::user_id.eq(id)),
        Target::Schedule(id) => policies.filter(escalation_targets::schedule_id.eq(id)),
    }
    .load(conn)
}
