//! Escalation policies: who a team's incidents reach, level by level. A policy is an ordered
//! list of rules; each rule waits `delay` minutes from the moment the escalation (re)started,
//! then notifies its targets (team members, or whoever is on call in a team schedule then).
//!
//! Editing a policy never changes escalations already running: the paging engine freezes the
//! rules when an escalation starts.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::access::{self, TeamAccess};
use super::incidents::escalation;
use super::teams::{self as team_rules, Team};
use super::users::User;
use super::validation::{required_text, FieldErrors};
use super::{DomainError, Page};
use crate::db::escalation_policies::{
    self as store, PolicyFields, PolicyRow, RuleToStore, Target, TARGET_SCHEDULE, TARGET_USER,
};
use crate::db::on_call_audit::{self, OnCallAuditRow, Subject};
use crate::db::schedules as schedule_store;
use crate::db::{self, teams, users, Db, DbConn};

pub use crate::db::escalation_policies::DEFAULT_POLICY_NAME;

pub const POLICIES_PER_PAGE: i64 = 50;
pub const AUDIT_PER_PAGE: i64 = 50;
/// Longest wait of a rule: 30 days, in minutes.
pub const MAX_DELAY_MINUTES: i32 = 43_200;
pub const MAX_REPEAT_POLICY: i32 = 10;
pub const MAX_RULES: usize = 20;
pub const MAX_TARGETS_PER_RULE: usize = 20;

/// Someone a rule would reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub user_id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl Reached {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    fn from_user(user: &User) -> Self {
        Reached {
            user_id: user.id,
            username: user.username.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email: user.email.clone(),
        }
    }
}

/// A rule's target with whom it reaches at the instant it was resolved for.
#[derive(Debug, Clone)]
pub struct TargetView {
    pub target: Target,
    /// Zenduty's `target_type`: 1 schedule, 2 user.
    pub target_type: i32,
    /// Zenduty's `target_id`: the schedule's `unique_id` or the user's `username`.
    pub target_id: String,
    /// The person's name, or the schedule's.
    pub label: String,
    pub reaches: Option<Reached>,
    /// For a schedule: when whoever is on call now hands over.
    pub until: Option<NaiveDateTime>,
    /// Why it reaches nobody, when it does not.
    pub problem: Option<String>,
}

impl TargetView {
    pub fn is_schedule(&self) -> bool {
        self.target_type == TARGET_SCHEDULE
    }

    /// The value the pages' target fields carry: `user:<username>` or `schedule:<unique_id>`.
    pub fn key(&self) -> String {
        target_key(self.target_type, &self.target_id)
    }
}

fn target_key(target_type: i32, target_id: &str) -> String {
    if target_type == TARGET_SCHEDULE {
        format!("schedule:{target_id}")
    } else {
        format!("user:{target_id}")
    }
}

#[derive(Debug, Clone)]
pub struct RuleView {
    pub unique_id: String,
    /// 0-based, as Zenduty's `position`.
    pub position: i32,
    pub delay: i32,
    pub targets: Vec<TargetView>,
}

impl RuleView {
    /// 1-based, as the pages say "Level 1".
    pub fn level(&self) -> i32 {
        self.position + 1
    }

    /// Everyone the rule reaches, once each.
    pub fn reached(&self) -> Vec<&Reached> {
        let mut out: Vec<&Reached> = Vec::new();
        for reached in self.targets.iter().filter_map(|t| t.reaches.as_ref()) {
            if !out.iter().any(|r| r.user_id == reached.user_id) {
                out.push(reached);
            }
        }
        out
    }

    pub fn reaches_nobody(&self) -> bool {
        self.targets.iter().all(|t| t.reaches.is_none())
    }

    fn to_store(&self) -> RuleToStore {
        RuleToStore {
            unique_id: self.unique_id.clone(),
            delay: self.delay,
            targets: self.targets.iter().map(|t| t.target).collect(),
        }
    }

    fn describe(&self) -> String {
        let targets: Vec<String> = self
            .targets
            .iter()
            .map(|t| {
                if t.is_schedule() {
                    format!("schedule {}", t.label)
                } else {
                    t.label.clone()
                }
            })
            .collect();
        format!(
            "level {} after {} min: {}",
            self.level(),
            self.delay,
            targets.join(", ")
        )
    }
}

/// A policy with its rules, each target resolved at one instant.
#[derive(Debug, Clone)]
pub struct Policy {
    pub row: PolicyRow,
    pub team: Team,
    pub rules: Vec<RuleView>,
    /// How many services use it.
    pub services: i64,
}

impl Policy {
    /// No rule, or no target of any rule reaches an active person at the instant resolved.
    pub fn reaches_nobody(&self) -> bool {
        self.rules.iter().all(RuleView::reaches_nobody)
    }

    /// Everyone some rule reaches, in level order, once each.
    pub fn users_on_call(&self) -> Vec<&Reached> {
        let mut out: Vec<&Reached> = Vec::new();
        for reached in self.rules.iter().flat_map(RuleView::reached) {
            if !out.iter().any(|r| r.user_id == reached.user_id) {
                out.push(reached);
            }
        }
        out
    }

    fn rules_to_store(&self) -> Vec<RuleToStore> {
        self.rules.iter().map(RuleView::to_store).collect()
    }
}

/// The warning a service or policy that reaches nobody shows.
pub const REACHES_NOBODY: &str = "This escalation policy would reach nobody right now: it has no \
     rules, or every target is a disabled person or a schedule with nobody on call.";

/// Who is on call in a schedule at `at` (and whether they can be reached: an active member of
/// the team), and until when.
fn on_call_in_schedule(
    conn: &mut DbConn,
    schedule_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(Reached, bool, Option<NaiveDateTime>)>, DomainError> {
    let Some(on_call) = super::schedules::on_call_at(conn, schedule_id, at)? else {
        return Ok(None);
    };
    let Some(user) = users::find_by_id(conn, on_call.user_id)? else {
        return Ok(None);
    };
    let user = User::from(user);
    Ok(Some((
        Reached::from_user(&user),
        on_call.is_active,
        on_call.until.map(|t| t.naive_utc()),
    )))
}

fn resolve_target(
    conn: &mut DbConn,
    team_id: i64,
    target: Target,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<TargetView, DomainError> {
    match target {
        Target::User(id) => {
            let user: Option<User> = users::find_by_id(conn, id)?.map(User::from);
            let Some(user) = user else {
                return Err(DomainError::Data(format!(
                    "rule target user {id} is missing"
                )));
            };
            let member = teams::member_role(conn, team_id, id)?.is_some();
            let problem = if !user.is_active {
                Some("account disabled".to_owned())
            } else if !member {
                Some("not a member of the team".to_owned())
            } else {
                None
            };
            Ok(TargetView {
                target,
                target_type: TARGET_USER,
                target_id: user.username.clone(),
                label: user.full_name(),
                reaches: problem.is_none().then(|| Reached::from_user(&user)),
                until: None,
                problem,
            })
        }
        Target::Schedule(id) => {
            let schedule = schedule_store::find_by_id(conn, id)?.ok_or_else(|| {
                DomainError::Data(format!("rule target schedule {id} is missing"))
            })?;
            let (unique_id, name) = (schedule.unique_id, schedule.name);
            let (reaches, until, problem) = match on_call_in_schedule(conn, id, at)? {
                Some((person, true, until)) => (Some(person), until, None),
                Some((person, false, until)) => (
                    None,
                    until,
                    Some(format!("{} is on call, but disabled", person.full_name())),
                ),
                None => (None, None, Some("nobody on call".to_owned())),
            };
            Ok(TargetView {
                target,
                target_type: TARGET_SCHEDULE,
                target_id: unique_id,
                label: name,
                reaches,
                until,
                problem,
            })
        }
    }
}

/// A policy with its rules resolved at `at`.
fn load(
    conn: &mut DbConn,
    row: PolicyRow,
    team: Team,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Policy, DomainError> {
    let rule_rows = store::rules_of(conn, row.id)?;
    let ids: Vec<i64> = rule_rows.iter().map(|r| r.id).collect();
    let target_rows = store::targets_of(conn, &ids)?;
    let mut rules = Vec::with_capacity(rule_rows.len());
    for (index, rule) in rule_rows.into_iter().enumerate() {
        let mut targets = Vec::new();
        for target_row in target_rows.iter().filter(|t| t.rule_id == rule.id) {
            let target: Option<Target> = target_row.into();
            let target = target.ok_or_else(|| {
                DomainError::Data(format!("escalation target {} is malformed", target_row.id))
            })?;
            targets.push(resolve_target(conn, row.team_id, target, at)?);
        }
        rules.push(RuleView {
            unique_id: rule.unique_id,
            position: i32::try_from(index).unwrap_or(i32::MAX),
            delay: rule.delay,
            targets,
        });
    }
    let services = store::count_services_using(conn, row.id)?;
    Ok(Policy {
        row,
        team,
        rules,
        services,
    })
}

/// A policy of the team `team_uid` the actor sees: `NotFound` otherwise (another team's
/// policy too).
fn find_visible(
    conn: &mut DbConn,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
) -> Result<(Team, PolicyRow), DomainError> {
    let team = team_rules::find_visible(conn, actor, team_uid)?;
    let row = store::find_by_unique_id(conn, policy_uid)?
        .filter(|p| p.team_id == team.id)
        .ok_or(DomainError::NotFound)?;
    Ok((team, row))
}

fn not_a_manager() -> DomainError {
    DomainError::Forbidden(
        "Only the team's managers, admins and owners can change its escalation policies. Ask \
         one of them."
            .into(),
    )
}

fn require_manager(conn: &mut DbConn, actor: &User, team: &Team) -> Result<(), DomainError> {
    match access::team_access(conn, actor, team.id)? {
        TeamAccess::Manage => Ok(()),
        TeamAccess::Respond => Err(not_a_manager()),
        TeamAccess::None => Err(DomainError::NotFound),
    }
}

fn find_managed(
    conn: &mut DbConn,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
) -> Result<(Team, PolicyRow), DomainError> {
    let (team, row) = find_visible(conn, actor, team_uid, policy_uid)?;
    require_manager(conn, actor, &team)?;
    Ok((team, row))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The policy form as typed, so that it can be shown again with its errors.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "zero")]
    pub repeat_policy: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    pub move_to_next: Option<String>,
}

fn zero() -> String {
    "0".to_owned()
}

impl Default for PolicyForm {
    fn default() -> Self {
        PolicyForm {
            name: String::new(),
            summary: String::new(),
            description: String::new(),
            repeat_policy: zero(),
            move_to_next: None,
        }
    }
}

impl PolicyForm {
    pub fn from_row(row: &PolicyRow) -> Self {
        PolicyForm {
            name: row.name.clone(),
            summary: row.summary.clone(),
            description: row.description.clone(),
            repeat_policy: row.repeat_policy.to_string(),
            move_to_next: row.move_to_next.then(|| "on".to_owned()),
        }
    }

    pub fn moves_to_next(&self) -> bool {
        self.move_to_next.is_some()
    }

    fn validate(&self, errors: &mut FieldErrors) -> PolicyFields {
        let name = required_text(errors, "name", &self.name, 255);
        let summary = self.summary.trim().to_owned();
        if summary.chars().count() > 500 {
            errors.add("summary", "Use at most 500 characters.");
        }
        let description = self.description.trim().to_owned();
        if description.chars().count() > 10_000 {
            errors.add("description", "Use at most 10000 characters.");
        }
        let repeat_policy = match self.repeat_policy.trim().parse::<i32>() {
            Ok(n) if (0..=MAX_REPEAT_POLICY).contains(&n) => n,
            _ => {
                errors.add(
                    "repeat_policy",
                    format!("Enter how many times to repeat, from 0 to {MAX_REPEAT_POLICY}."),
                );
                0
            }
        };
        PolicyFields {
            name,
            summary,
            description,
            repeat_policy,
            move_to_next: self.moves_to_next(),
        }
    }
}

/// A rule as a client sends it (the API's `rules[]`): targets as Zenduty's
/// (`target_type`, `target_id`).
#[derive(Debug, Clone)]
pub struct RuleInput {
    pub unique_id: Option<String>,
    /// Minutes; a fraction is rounded to the nearest minute.
    pub delay: f64,
    pub targets: Vec<(i64, String)>,
}

/// Parses a delay typed in a form: whole minutes from 0.
fn parse_delay(raw: &str) -> Result<i32, String> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (0..=i64::from(MAX_DELAY_MINUTES)).contains(&n) => Ok(n as i32),
        _ => Err(format!(
            "Enter whole minutes from 0 (at once) to {MAX_DELAY_MINUTES}."
        )),
    }
}

fn delay_from_number(minutes: f64) -> Result<i32, String> {
    if minutes.is_finite() && minutes >= 0.0 && minutes <= f64::from(MAX_DELAY_MINUTES) {
        Ok(minutes.round() as i32)
    } else {
        Err(format!(
            "delay must be minutes from 0 to {MAX_DELAY_MINUTES}"
        ))
    }
}

/// A target named as Zenduty does, checked against the team: a schedule of the team, or an
/// active member of it.
fn find_target(
    conn: &mut DbConn,
    team_id: i64,
    target_type: i64,
    target_id: &str,
) -> Result<Target, DomainError> {
    let target_id = target_id.trim();
    match i32::try_from(target_type) {
        Ok(TARGET_SCHEDULE) => schedule_store::find_by_unique_id(conn, target_id)?
            .filter(|schedule| schedule.team_id == team_id)
            .map(|schedule| Target::Schedule(schedule.id))
            .ok_or_else(|| DomainError::field("target", "No schedule of this team has this id.")),
        Ok(TARGET_USER) => {
            let user = users::find_by_username(conn, target_id)?;
            let member = match &user {
                Some(user) => teams::member_role(conn, team_id, user.id)?.is_some(),
                None => false,
            };
            match user {
                Some(user) if member && user.is_active => Ok(Target::User(user.id)),
                Some(user) if member => Err(DomainError::field(
                    "target",
                    format!(
                        "{} {}'s account is disabled: they cannot be paged.",
                        user.first_name, user.last_name
                    ),
                )),
                _ => Err(DomainError::field(
                    "target",
                    "No member of this team has this username.",
                )),
            }
        }
        _ => Err(DomainError::field(
            "target",
            "target_type must be 1 (schedule) or 2 (user).",
        )),
    }
}

/// A target as the pages' select names it: `user:<username>` or `schedule:<unique_id>`.
fn find_target_key(conn: &mut DbConn, team_id: i64, key: &str) -> Result<Target, DomainError> {
    match key.trim().split_once(':') {
        Some(("user", username)) => find_target(conn, team_id, TARGET_USER.into(), username),
        Some(("schedule", uid)) => find_target(conn, team_id, TARGET_SCHEDULE.into(), uid),
        _ => Err(DomainError::field(
            "target",
            "Choose a person or a schedule.",
        )),
    }
}

/// Checks rules sent through the API and turns them into rules to store. Ids of rules the
/// policy has are kept; others get new ones.
fn rules_from_input(
    conn: &mut DbConn,
    team_id: i64,
    policy_id: Option<i64>,
    input: &[RuleInput],
) -> Result<Vec<RuleToStore>, DomainError> {
    if input.len() > MAX_RULES {
        return Err(DomainError::field(
            "rules",
            format!("A policy has at most {MAX_RULES} rules."),
        ));
    }
    let mut rules: Vec<RuleToStore> = Vec::with_capacity(input.len());
    for (index, rule) in input.iter().enumerate() {
        let level = index + 1;
        let at_rule =
            |message: String| DomainError::field("rules", format!("rule {level}: {message}"));
        let delay = delay_from_number(rule.delay).map_err(at_rule)?;
        if rule.targets.is_empty() {
            return Err(at_rule("needs at least one target".into()));
        }
        if rule.targets.len() > MAX_TARGETS_PER_RULE {
            return Err(at_rule(format!(
                "has more than {MAX_TARGETS_PER_RULE} targets"
            )));
        }
        let mut targets = Vec::new();
        for (target_type, target_id) in &rule.targets {
            let target = match find_target(conn, team_id, *target_type, target_id) {
                Ok(target) => target,
                Err(DomainError::Invalid(errors)) => {
                    let message = errors.get("target").unwrap_or_default().to_owned();
                    return Err(at_rule(format!("target {target_id:?}: {message}")));
                }
                Err(other) => return Err(other),
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        let unique_id = match rule.unique_id.as_deref().map(str::trim) {
            Some(id)
                if !id.is_empty()
                    && !rules.iter().any(|r| r.unique_id == id)
                    && match policy_id {
                        Some(policy_id) => !store::rule_id_taken_elsewhere(conn, id, policy_id)?,
                        None => false,
                    } =>
            {
                id.to_owned()
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        rules.push(RuleToStore {
            unique_id,
            delay,
            targets,
        });
    }
    Ok(rules)
}

fn audit(
    conn: &mut DbConn,
    policy: &PolicyRow,
    actor: Option<&User>,
    action: &str,
    detail: &str,
) -> Result<(), DomainError> {
    on_call_audit::record(
        conn,
        policy.team_id,
        Subject::EscalationPolicy(policy.id),
        actor.map(|a| a.id),
        action,
        detail,
        db::now(),
    )?;
    Ok(())
}

fn describe_rules(policy: &Policy) -> String {
    if policy.rules.is_empty() {
        return "no rules".to_owned();
    }
    policy
        .rules
        .iter()
        .map(RuleView::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A team's policies, one page at a time, each resolved now.
pub struct TeamPolicies {
    pub team: Team,
    pub policies: Page<Policy>,
    pub can_manage: bool,
}

pub async fn list(
    db: &Db,
    actor: &User,
    team_uid: &str,
    page: i64,
    per_page: i64,
) -> Result<TeamPolicies, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = team_rules::find_visible(conn, &actor, &team_uid)?;
        let offset = Page::<Policy>::offset(page, per_page);
        let rows = store::list_for_team(conn, team.id, offset, per_page + 1)?;
        let at = now();
        let policies = rows
            .into_iter()
            .map(|row| load(conn, row, team.clone(), at))
            .collect::<Result<Vec<_>, _>>()?;
        let can_manage = access::can_manage_team(conn, &actor, team.id)?;
        Ok(TeamPolicies {
            team,
            policies: Page::from_overfetch(policies, page, per_page),
            can_manage,
        })
    })
    .await
}

/// Every policy of a team (at most 1000), resolved now: the API's list and on-call answers.
pub async fn all_in_team(
    db: &Db,
    actor: &User,
    team_uid: &str,
) -> Result<Vec<Policy>, DomainError> {
    Ok(list(db, actor, team_uid, 1, 1000).await?.policies.items)
}

/// A policy's page: the policy resolved now, the services that use it, a page of its audit
/// trail, whether the actor may change it, and what its rules may target.
pub struct PolicyDetail {
    pub policy: Policy,
    pub services: Vec<String>,
    pub audit: Page<OnCallAuditRow>,
    pub can_manage: bool,
    pub choices: TargetChoices,
}

/// What a rule of the team may target, for the pages' selects: (key, label).
#[derive(Debug, Clone, Default)]
pub struct TargetChoices {
    pub people: Vec<(String, String)>,
    pub schedules: Vec<(String, String)>,
}

fn target_choices(conn: &mut DbConn, team_id: i64) -> Result<TargetChoices, DomainError> {
    let people = schedule_store::team_member_people(conn, team_id)?
        .into_iter()
        .filter(|user| user.is_active)
        .map(|user| {
            (
                target_key(TARGET_USER, &user.username),
                format!("{} {}", user.first_name, user.last_name),
            )
        })
        .collect();
    let schedules = schedule_store::list_for_team(conn, team_id, 0, 1000)?
        .into_iter()
        .map(|schedule| {
            (
                target_key(TARGET_SCHEDULE, &schedule.unique_id),
                schedule.name,
            )
        })
        .collect();
    Ok(TargetChoices { people, schedules })
}

pub async fn detail(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
    audit_page: i64,
) -> Result<PolicyDetail, DomainError> {
    let (actor, team_uid, policy_uid) = (actor.clone(), team_uid.to_owned(), policy_uid.to_owned());
    db.run(move |conn| {
        let (team, row) = find_visible(conn, &actor, &team_uid, &policy_uid)?;
        let services = store::service_names_using(conn, row.id)?;
        let offset = Page::<OnCallAuditRow>::offset(audit_page, AUDIT_PER_PAGE);
        let entries = on_call_audit::page_for(
            conn,
            Subject::EscalationPolicy(row.id),
            offset,
            AUDIT_PER_PAGE + 1,
        )?;
        let can_manage = access::can_manage_team(conn, &actor, team.id)?;
        let choices = if can_manage {
            target_choices(conn, team.id)?
        } else {
            TargetChoices::default()
        };
        let team_id = team.id;
        let policy = load(conn, row, team, now())?;
        debug_assert_eq!(policy.row.team_id, team_id);
        Ok(PolicyDetail {
            policy,
            services,
            audit: Page::from_overfetch(entries, audit_page, AUDIT_PER_PAGE),
            can_manage,
            choices,
        })
    })
    .await
}

/// A policy resolved now (the API's answer).
pub async fn get(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
) -> Result<Policy, DomainError> {
    let (actor, team_uid, policy_uid) = (actor.clone(), team_uid.to_owned(), policy_uid.to_owned());
    db.run(move |conn| {
        let (team, row) = find_visible(conn, &actor, &team_uid, &policy_uid)?;
        load(conn, row, team, now())
    })
    .await
}

/// The team, for the "New escalation policy" page: only for those who may change it.
pub async fn team_to_change(db: &Db, actor: &User, team_uid: &str) -> Result<Team, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = team_rules::find_visible(conn, &actor, &team_uid)?;
        require_manager(conn, &actor, &team)?;
        Ok(team)
    })
    .await
}

/// A policy for its settings or delete page: only for those who may change it.
pub async fn get_to_change(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
) -> Result<Policy, DomainError> {
    let (actor, team_uid, policy_uid) = (actor.clone(), team_uid.to_owned(), policy_uid.to_owned());
    db.run(move |conn| {
        let (team, row) = find_managed(conn, &actor, &team_uid, &policy_uid)?;
        load(conn, row, team, now())
    })
    .await
}

/// Stores `rules` as the policy's whole list and the policy's frozen copy of them (what a
/// trigger copies into its escalation), in the caller's transaction.
fn store_rules(conn: &mut DbConn, policy_id: i64, rules: &[RuleToStore]) -> QueryResult<()> {
    store::replace_rules(conn, policy_id, rules)?;
    escalation::refreeze_policy(conn, policy_id)
}

/// Creates a policy in a team the actor manages, with `rules` (none from the pages: they are
/// added on the policy's page).
pub async fn create(
    db: &Db,
    actor: &User,
    team_uid: &str,
    form: &PolicyForm,
    rules: &[RuleInput],
) -> Result<Policy, DomainError> {
    let (actor, team_uid, form, rules) = (
        actor.clone(),
        team_uid.to_owned(),
        form.clone(),
        rules.to_vec(),
    );
    db.write(move |conn| {
        let team = team_rules::find_visible(conn, &actor, &team_uid)?;
        require_manager(conn, &actor, &team)?;
        let mut errors = FieldErrors::new();
        let fields = form.validate(&mut errors);
        errors.into_result(()).map_err(DomainError::Invalid)?;
        let rules = rules_from_input(conn, team.id, None, &rules)?;
        let row = store::insert(
            conn,
            &uuid::Uuid::new_v4().to_string(),
            team.id,
            &fields,
            Some(actor.id),
            db::now(),
        )?;
        store_rules(conn, row.id, &rules)?;
        let policy = load(conn, row, team, now())?;
        audit(
            conn,
            &policy.row,
            Some(&actor),
            "created",
            &format!("{}: {}", policy.row.name, describe_rules(&policy)),
        )?;
        Ok(policy)
    })
    .await
}

fn field_changes(before: &PolicyRow, after: &PolicyFields) -> String {
    let mut changes = Vec::new();
    if before.name != after.name {
        changes.push(format!("name {:?} → {:?}", before.name, after.name));
    }
    if before.summary != after.summary {
        changes.push("summary".to_owned());
    }
    if before.description != after.description {
        changes.push("description".to_owned());
    }
    if before.repeat_policy != after.repeat_policy {
        changes.push(format!(
            "repeat {} → {}",
            before.repeat_policy, after.repeat_policy
        ));
    }
    if before.move_to_next != after.move_to_next {
        changes.push(format!(
            "move to next {} → {}",
            before.move_to_next, after.move_to_next
        ));
    }
    changes.join("; ")
}

/// Changes a policy's fields and, when `rules` is given, replaces its rules.
pub async fn update(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
    form: &PolicyForm,
    rules: Option<&[RuleInput]>,
) -> Result<Policy, DomainError> {
    let (actor, team_uid, policy_uid, form) = (
        actor.clone(),
        team_uid.to_owned(),
        policy_uid.to_owned(),
        form.clone(),
    );
    let rules = rules.map(<[RuleInput]>::to_vec);
    db.write(move |conn| {
        let (team, row) = find_managed(conn, &actor, &team_uid, &policy_uid)?;
        let mut errors = FieldErrors::new();
        let fields = form.validate(&mut errors);
        errors.into_result(()).map_err(DomainError::Invalid)?;
        let new_rules = match &rules {
            Some(input) => Some(rules_from_input(conn, team.id, Some(row.id), input)?),
            None => None,
        };
        let changes = field_changes(&row, &fields);
        store::update(conn, row.id, &fields)?;
        if !changes.is_empty() {
            audit(conn, &row, Some(&actor), "changed", &changes)?;
        }
        if let Some(new_rules) = new_rules {
            let before = store::rules_of(conn, row.id)?;
            let before_ids: Vec<i64> = before.iter().map(|r| r.id).collect();
            let before_targets = store::targets_of(conn, &before_ids)?;
            let unchanged = before.len() == new_rules.len()
                && before.iter().zip(&new_rules).all(|(old, new)| {
                    let old_targets: Vec<Option<Target>> = before_targets
                        .iter()
                        .filter(|t| t.rule_id == old.id)
                        .map(Into::into)
                        .collect();
                    old.delay == new.delay
                        && old_targets == new.targets.iter().copied().map(Some).collect::<Vec<_>>()
                });
            if !unchanged {
                store_rules(conn, row.id, &new_rules)?;
                let row = store::find_by_id(conn, row.id)?.ok_or(DomainError::NotFound)?;
                let policy = load(conn, row, team.clone(), now())?;
                audit(
                    conn,
                    &policy.row,
                    Some(&actor),
                    "rules replaced",
                    &describe_rules(&policy),
                )?;
            }
        }
        let row = store::find_by_id(conn, row.id)?.ok_or(DomainError::NotFound)?;
        load(conn, row, team, now())
    })
    .await
}

/// One change to a policy's rules, as the policy's page makes it.
#[derive(Debug, Clone)]
pub enum RuleChange {
    /// A new last rule: its delay (as typed) and first target (`user:…` or `schedule:…`).
    Add {
        delay: String,
        target: String,
    },
    Remove {
        rule: String,
    },
    Move {
        rule: String,
        up: bool,
    },
    SetDelay {
        rule: String,
        delay: String,
    },
    AddTarget {
        rule: String,
        target: String,
    },
    RemoveTarget {
        rule: String,
        target: String,
    },
}

impl RuleChange {
    /// The rule the change is about (`None` for a new rule): where the page shows its error.
    pub fn rule(&self) -> Option<&str> {
        match self {
            RuleChange::Add { .. } => None,
            RuleChange::Remove { rule }
            | RuleChange::Move { rule, .. }
            | RuleChange::SetDelay { rule, .. }
            | RuleChange::AddTarget { rule, .. }
            | RuleChange::RemoveTarget { rule, .. } => Some(rule),
        }
    }
}

/// Applies one change to a policy's rules and records it in the audit trail.
pub async fn change_rules(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
    change: RuleChange,
) -> Result<(), DomainError> {
    let (actor, team_uid, policy_uid) = (actor.clone(), team_uid.to_owned(), policy_uid.to_owned());
    db.write(move |conn| {
        let (team, row) = find_managed(conn, &actor, &team_uid, &policy_uid)?;
        let team_id = team.id;
        let policy = load(conn, row, team, now())?;
        let mut rules = policy.rules_to_store();
        let index_of = |rules: &[RuleToStore], uid: &str| {
            rules
                .iter()
                .position(|r| r.unique_id == uid)
                .ok_or(DomainError::NotFound)
        };
        let (action, affected) = match &change {
            RuleChange::Add { delay, target } => {
                let mut errors = FieldErrors::new();
                let delay = parse_delay(delay).unwrap_or_else(|message| {
                    errors.add("delay", message);
                    0
                });
                let target = match find_target_key(conn, team_id, target) {
                    Ok(target) => Some(target),
                    Err(DomainError::Invalid(found)) => {
                        for (field, message) in found.iter() {
                            errors.add(field, message);
                        }
                        None
                    }
                    Err(other) => return Err(other),
                };
                if rules.len() >= MAX_RULES {
                    errors.add("delay", format!("A policy has at most {MAX_RULES} rules."));
                }
                errors.into_result(()).map_err(DomainError::Invalid)?;
                rules.push(RuleToStore {
                    unique_id: uuid::Uuid::new_v4().to_string(),
                    delay,
                    targets: target.into_iter().collect(),
                });
                ("rule added", Some(rules.len() - 1))
            }
            RuleChange::Remove { rule } => {
                let index = index_of(&rules, rule)?;
                let removed = &policy.rules[index];
                let detail = removed.describe();
                rules.remove(index);
                store_rules(conn, policy.row.id, &rules)?;
                audit(conn, &policy.row, Some(&actor), "rule removed", &detail)?;
                return Ok(());
            }
            RuleChange::Move { rule, up } => {
                let index = index_of(&rules, rule)?;
                let other = if *up {
                    index.checked_sub(1)
                } else {
                    Some(index + 1).filter(|i| *i < rules.len())
                };
                let Some(other) = other else {
                    return Err(DomainError::Conflict(format!(
                        "Level {} is already the {} rule.",
                        index + 1,
                        if *up { "first" } else { "last" }
                    )));
                };
                rules.swap(index, other);
                (
                    if *up {
                        "rule moved up"
                    } else {
                        "rule moved down"
                    },
                    Some(other),
                )
            }
            RuleChange::SetDelay { rule, delay } => {
                let index = index_of(&rules, rule)?;
                rules[index].delay =
                    parse_delay(delay).map_err(|message| DomainError::field("delay", message))?;
                ("delay changed", Some(index))
            }
            RuleChange::AddTarget { rule, target } => {
                let index = index_of(&rules, rule)?;
                let target = find_target_key(conn, team_id, target)?;
                if rules[index].targets.contains(&target) {
                    return Err(DomainError::field("target", "This rule already has it."));
                }
                if rules[index].targets.len() >= MAX_TARGETS_PER_RULE {
                    return Err(DomainError::field(
                        "target",
                        format!("A rule has at most {MAX_TARGETS_PER_RULE} targets."),
                    ));
                }
                rules[index].targets.push(target);
                ("target added", Some(index))
            }
            RuleChange::RemoveTarget { rule, target } => {
                let index = index_of(&rules, rule)?;
                let position = policy.rules[index]
                    .targets
                    .iter()
                    .position(|t| t.key() == target.trim())
                    .ok_or(DomainError::NotFound)?;
                if rules[index].targets.len() == 1 {
                    return Err(DomainError::field(
                        "target",
                        "A rule needs at least one target: remove the rule instead.",
                    ));
                }
                rules[index].targets.remove(position);
                ("target removed", Some(index))
            }
        };
        store_rules(conn, policy.row.id, &rules)?;
        let row = store::find_by_id(conn, policy.row.id)?.ok_or(DomainError::NotFound)?;
        let updated = load(conn, row, policy.team, now())?;
        let detail = affected
            .and_then(|i| updated.rules.get(i))
            .map(RuleView::describe)
            .unwrap_or_default();
        audit(conn, &updated.row, Some(&actor), action, &detail)?;
        Ok(())
    })
    .await
}

/// Deletes a policy no service uses; one in use is refused, naming the services.
pub async fn delete(
    db: &Db,
    actor: &User,
    team_uid: &str,
    policy_uid: &str,
) -> Result<PolicyRow, DomainError> {
    let (actor, team_uid, policy_uid) = (actor.clone(), team_uid.to_owned(), policy_uid.to_owned());
    db.write(move |conn| {
        let (_, row) = find_managed(conn, &actor, &team_uid, &policy_uid)?;
        let services = store::service_names_using(conn, row.id)?;
        if !services.is_empty() {
            return Err(DomainError::Conflict(format!(
                "The escalation policy {} is used by the services {}: choose another policy for \
                 them first.",
                row.name,
                services.join(", ")
            )));
        }
        audit(conn, &row, Some(&actor), "deleted", &row.name)?;
        store::delete(conn, row.id)?;
        Ok(row)
    })
    .await
}

/// For the service pages: a policy by its row id, resolved now.
pub fn resolve_by_id(conn: &mut DbConn, policy_id: i64) -> Result<Option<Policy>, DomainError> {
    let Some(row) = store::find_by_id(conn, policy_id)? else {
        return Ok(None);
    };
    let team = team_rules::find_by_id(conn, row.team_id)?;
    Ok(Some(load(conn, row, team, now())?))
}

/// A schedule of a team with who is on call in it now and until when.
#[derive(Debug, Clone)]
pub struct ScheduleNow {
    pub unique_id: String,
    pub name: String,
    pub on_call: Option<Reached>,
    pub on_call_is_active: bool,
    pub until: Option<NaiveDateTime>,
}

/// One team on the On call page.
#[derive(Debug, Clone)]
pub struct TeamOnCall {
    pub team: Team,
    pub policies: Vec<Policy>,
    pub schedules: Vec<ScheduleNow>,
}

pub const TEAMS_PER_ON_CALL_PAGE: i64 = 10;

/// The On call page: the actor's teams (every team for owners and admins), each with its
/// policies and schedules resolved now.
pub async fn on_call_overview(
    db: &Db,
    actor: &User,
    page: i64,
) -> Result<Page<TeamOnCall>, DomainError> {
    let teams = team_rules::list_teams(db, actor, page, TEAMS_PER_ON_CALL_PAGE).await?;
    let Page {
        items,
        number,
        has_more,
    } = teams;
    let out = db
        .run(move |conn| {
            let at = now();
            let mut out = Vec::with_capacity(items.len());
            for team in items {
                let rows = store::list_for_team(conn, team.id, 0, 100)?;
                let policies = rows
                    .into_iter()
                    .map(|row| load(conn, row, team.clone(), at))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut schedules = Vec::new();
                for schedule in schedule_store::list_for_team(conn, team.id, 0, 100)? {
                    let (unique_id, name) = (schedule.unique_id, schedule.name);
                    let now_on_call = on_call_in_schedule(conn, schedule.id, at)?;
                    let (on_call, on_call_is_active, until) = match now_on_call {
                        Some((person, active, until)) => (Some(person), active, until),
                        None => (None, false, None),
                    };
                    schedules.push(ScheduleNow {
                        unique_id,
                        name,
                        on_call,
                        on_call_is_active,
                        until,
                    });
                }
                out.push(TeamOnCall {
                    team,
                    policies,
                    schedules,
                });
            }
            Ok::<_, DomainError>(out)
        })
        .await?;
    Ok(Page {
        items: out,
        number,
        has_more,
    })
}
