//! Escalations: who is paged for an incident, level by level, until someone acknowledges.
//!
//! A trigger starts an escalation in the incident's own transaction with the service's policy
//! frozen as it is then (editing the policy later does not change a running escalation) and
//! its first step due; a first level without delay fires right there, in the trigger's
//! transaction. The escalation worker (`paging::steps`) fires the other steps when due. Firing
//! resolves the level's targets to people at that instant, queues the emails each person's
//! notification rules ask for (`domain::contacts`; `db::notifications`, sent by
//! `paging::email`), writes the timeline, and queues the next step. Acknowledge and resolve stop
//! it in their transaction and cancel the emails still waiting; a step claimed a moment before
//! finds the incident no longer triggered when it commits, and fires nothing.

use chrono::{Duration, NaiveDateTime};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};

use super::model::Status;
use crate::db::contact_methods::PagingTarget;
use crate::db::escalation_policies::{self, NamedTarget, Target};
use crate::db::escalations::{
    self as steps_db, NewEscalation, NextStep, ServicePolicy, StepRow, CANCELLED, FIRED,
};
use crate::db::incidents::IncidentRow;
use crate::db::notifications::{self, NewNotification, RESOLVED, TRIGGERED};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, incidents, DbConn, DbError};
use crate::domain::contacts;
use crate::domain::ids;
use crate::domain::schedules;
use crate::domain::DomainError;
use crate::metrics;

/// The shortest pause between the last level of a round and the first of the next one.
const MIN_REPEAT_GAP_MINUTES: i64 = 5;

/// A policy's rule as the escalation froze it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FrozenRule {
    /// Minutes after the escalation (re)started.
    pub delay: i64,
    pub targets: Vec<FrozenTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FrozenTarget {
    User { id: i64, name: String },
    Schedule { id: i64, name: String },
}

/// Starts the incident's escalation with its service's policy (as the trigger read it with the
/// service), inside the incident's write transaction. A policy without rules pages nobody: the
/// timeline says so.
///
/// The policy keeps its rules frozen (`refreeze_policy`, in the transaction of every change to
/// them), so the trigger reads the policy and its rules with its service and copies them; a
/// policy whose frozen rules were never computed is frozen here as before.
///
/// Returns the escalation's timeline entry (the first level fired, or a policy without rules),
/// which the trigger writes after its own, both in one statement on PostgreSQL.
pub fn start_in(
    conn: &mut DbConn,
    incident: &IncidentRow,
    policy: Option<&ServicePolicy>,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    // A service without a policy pages nobody; its page says so.
    let Some(policy) = policy else {
        return Ok(None);
    };
    let stored = policy.frozen_rules.as_ref().and_then(|frozen| {
        let rules = serde_json::from_str::<Vec<FrozenRule>>(frozen).ok()?;
        Some((rules, frozen.clone()))
    });
    let (rules, frozen) = match stored {
        Some(stored) => stored,
        None => {
            let rules = freeze_rules(conn, policy.id)?;
            let frozen = serde_json::to_string(&rules).expect("rules serialize");
            (rules, frozen)
        }
    };
    let escalation = NewEscalation {
        incident_id: incident.id,
        policy_id: Some(policy.id),
        policy_name: &policy.name,
        rules: &frozen,
        repeat_policy: policy.repeat_policy,
        started_at: at,
    };
    if rules.first().is_none_or(|first| first.delay > 0) {
        return Ok(queue_first_step(conn, &escalation, &rules)?.err());
    }
    // The incident is triggered in this very transaction, so a first level without delay fires
    // here: the same emails and timeline as the worker would write, without a step to claim
    // and a second transaction to re-read the incident and the escalation in.
    let next = next_step(0, 0, at, &rules, policy.repeat_policy, at);
    let step = steps_db::start_with_fired_step(conn, &escalation, next)?;
    let fired = fire_level(conn, &step, &rules, incident.urgency, at)?;
    // Debug, not info: this runs in the write transaction (on SQLite, the writer thread), and
    // the incident's own timeline and the metric already say it.
    tracing::debug!(
        incident = incident.id,
        level = 1,
        round = 0,
        emailed = fired.emailed,
        "escalation step fired with the trigger"
    );
    Ok(fired.note)
}

/// Stores the policy's rules as an escalation would freeze them now, inside the caller's write
/// transaction: after every change to its rules or their targets.
pub fn refreeze_policy(conn: &mut DbConn, policy_id: i64) -> QueryResult<()> {
    // Taken before the reads: a concurrent change to the same policy commits first, and these
    // reads see it.
    escalation_policies::lock(conn, policy_id)?;
    let rules = freeze_rules(conn, policy_id)?;
    let frozen = serde_json::to_string(&rules).expect("rules serialize");
    escalation_policies::set_frozen_rules(conn, policy_id, &frozen).map(drop)
}

/// Refreezes the policies that name the user or schedule (their frozen rules show its name):
/// after a rename, inside its transaction.
pub fn refreeze_policies_targeting(conn: &mut DbConn, target: Target) -> QueryResult<()> {
    for policy_id in escalation_policies::ids_targeting(conn, target)? {
        refreeze_policy(conn, policy_id)?;
    }
    Ok(())
}

/// Freezes the rules of the policies that have none stored (made before Klaxon kept them, or
/// imported so): at start, before the server takes requests. Returns how many.
pub async fn freeze_missing(db: &db::Db) -> Result<usize, DbError> {
    db.write(|conn| {
        let ids = escalation_policies::ids_without_frozen_rules(conn)?;
        for policy_id in &ids {
            refreeze_policy(conn, *policy_id)?;
        }
        Ok::<_, DbError>(ids.len())
    })
    .await
}

/// Where a person sends an incident's paging instead ("Reassign").
#[derive(Debug, Clone)]
pub enum Reassignment {
    /// One person, at once, once.
    User { id: i64, name: String },
    /// A policy of the service's team, from its first rule.
    Policy {
        id: i64,
        name: String,
        repeat_policy: i32,
    },
}

impl Reassignment {
    pub fn name(&self) -> &str {
        match self {
            Reassignment::User { name, .. } | Reassignment::Policy { name, .. } => name,
        }
    }
}

/// Ends the incident's running escalation and starts paging `to` instead, inside the caller's
/// write transaction.
pub fn reassign_in(
    conn: &mut DbConn,
    incident_id: i64,
    to: &Reassignment,
    at: NaiveDateTime,
) -> QueryResult<()> {
    steps_db::stop_for_incident(conn, incident_id, "reassigned", at)?;
    // Those paged before are not paged again by the escalation that ends: their delayed emails
    // go too. The new escalation's emails are queued when its first level fires, after this.
    notifications::cancel_pending_for_incident(
        conn,
        incident_id,
        "not sent: incident reassigned",
        at,
    )?;
    match to {
        Reassignment::User { id, name } => {
            let rules = [FrozenRule {
                delay: 0,
                targets: vec![FrozenTarget::User {
                    id: *id,
                    name: name.clone(),
                }],
            }];
            begin(
                conn,
                incident_id,
                None,
                &format!("Reassigned to {name}"),
                &rules,
                0,
                at,
            )
        }
        Reassignment::Policy {
            id,
            name,
            repeat_policy,
        } => {
            let rules = freeze_rules(conn, *id)?;
            begin(
                conn,
                incident_id,
                Some(*id),
                name,
                &rules,
                *repeat_policy,
                at,
            )
        }
    }
}

/// Records an escalation with its frozen rules and queues its first step for the worker.
fn begin(
    conn: &mut DbConn,
    incident_id: i64,
    policy_id: Option<i64>,
    policy_name: &str,
    rules: &[FrozenRule],
    repeat_policy: i32,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let frozen = serde_json::to_string(rules).expect("rules serialize");
    let escalation = NewEscalation {
        incident_id,
        policy_id,
        policy_name,
        rules: &frozen,
        repeat_policy,
        started_at: at,
    };
    match queue_first_step(conn, &escalation, rules)? {
        Ok(()) => Ok(()),
        Err(nobody_paged) => note(conn, incident_id, &nobody_paged, at),
    }
}

/// Records an escalation (`rules` are its frozen rules, parsed) and queues its first step for
/// the worker; without a first rule there is no escalation, and the error is the timeline entry
/// that says nobody is paged, for the caller to write.
fn queue_first_step(
    conn: &mut DbConn,
    escalation: &NewEscalation,
    rules: &[FrozenRule],
) -> QueryResult<Result<(), String>> {
    let Some(first) = rules.first() else {
        return Ok(Err(format!(
            "Escalation policy {} has no rules: nobody is paged.",
            escalation.policy_name
        )));
    };
    let escalation_id = steps_db::insert_escalation(conn, escalation)?;
    let due = escalation.started_at + Duration::minutes(first.delay);
    steps_db::insert_step(conn, escalation_id, escalation.incident_id, 0, 0, due)?;
    Ok(Ok(()))
}

/// Stops the incident's escalation (acknowledged or resolved), inside the transition's write
/// transaction, and cancels the emails still waiting (delayed by a rule, or to be retried): they
/// stay listed as not sent. Resolving also tells those who were paged and want to hear it.
pub fn stop_in(
    conn: &mut DbConn,
    incident: &IncidentRow,
    reason: Status,
    at: NaiveDateTime,
) -> QueryResult<()> {
    // Acknowledging stopped the escalation, and only a new trigger (which clears the
    // acknowledgement) starts another: an incident resolved after it has none left to stop. A
    // step queued by a level firing as the acknowledgement committed, which its cancelling did
    // not see, finds the incident no longer triggered when it is due, and stands down. The
    // incident's waiting emails are cancelled again: one being sent at the acknowledgement may
    // have been put back for a retry since.
    let stopped_when_acknowledged =
        reason == Status::Resolved && incident.acknowledged_date.is_some();
    if !stopped_when_acknowledged {
        steps_db::stop_for_incident(conn, incident.id, reason.word(), at)?;
    }
    notifications::cancel_pending_for_incident(
        conn,
        incident.id,
        &format!("not sent: incident {}", reason.word()),
        at,
    )?;
    if reason == Status::Resolved {
        for (user_id, address) in notifications::notified_users(conn, incident.id)? {
            let unique_id = ids::new_row_uuid();
            notifications::insert(
                conn,
                NewNotification {
                    unique_id,
                    incident_id: Some(incident.id),
                    escalation_step_id: None,
                    user_id,
                    address,
                    kind: RESOLVED,
                    due_at: at,
                },
            )?;
        }
    }
    Ok(())
}

fn freeze_rules(conn: &mut DbConn, policy_id: i64) -> QueryResult<Vec<FrozenRule>> {
    let rules = escalation_policies::rules_of(conn, policy_id)?;
    let rule_ids: Vec<i64> = rules.iter().map(|rule| rule.id).collect();
    // Targets and their names in one statement: every trigger pays for this read.
    let targets = escalation_policies::named_targets_of(conn, &rule_ids)?;
    let frozen = rules
        .iter()
        .map(|rule| FrozenRule {
            delay: i64::from(rule.delay),
            targets: targets
                .iter()
                .filter(|named| named.target.rule_id == rule.id)
                .filter_map(frozen_target)
                .collect(),
        })
        .collect();
    Ok(frozen)
}

/// A target as the escalation keeps it; None when what it points at no longer exists.
fn frozen_target(named: &NamedTarget) -> Option<FrozenTarget> {
    match Option::<Target>::from(&named.target)? {
        Target::User(id) => named
            .user_name
            .as_ref()
            .map(|(first, last)| FrozenTarget::User {
                id,
                name: full_name(first, last),
            }),
        Target::Schedule(id) => named
            .schedule_name
            .clone()
            .map(|name| FrozenTarget::Schedule { id, name }),
    }
}

fn full_name(first: &str, last: &str) -> String {
    format!("{first} {last}").trim().to_owned()
}

/// What a fired step did, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fired {
    /// Emails queued, at once or delayed (or, where email is not configured, recorded as not
    /// sent).
    pub emailed: usize,
    /// The incident was no longer triggered: nothing was sent.
    pub stood_down: bool,
    /// The level's timeline entry, written by the caller.
    pub note: Option<String>,
}

/// Fires a claimed step inside the worker's write transaction: only if `token` still holds it,
/// it is still pending, and the incident is still triggered. None when the step was not this
/// worker's to fire any more.
pub fn fire_in(
    conn: &mut DbConn,
    token: &str,
    step: &StepRow,
    now: NaiveDateTime,
) -> QueryResult<Option<Fired>> {
    let Some(urgency) = incidents::find_by_id(conn, step.incident_id)?
        .filter(|incident| incident.status == Status::Triggered.code())
        .map(|incident| incident.urgency)
    else {
        let held = steps_db::finish_step(conn, step.id, token, CANCELLED, now)?;
        return Ok(held.then_some(Fired {
            emailed: 0,
            stood_down: true,
            note: None,
        }));
    };
    if !steps_db::finish_step(conn, step.id, token, FIRED, now)? {
        return Ok(None);
    }
    let escalation = steps_db::find(conn, step.escalation_id)?;
    let rules: Vec<FrozenRule> = serde_json::from_str(&escalation.rules).unwrap_or_else(|error| {
        tracing::error!(escalation = escalation.id, %error, "stored escalation rules are not valid JSON");
        Vec::new()
    });
    let fired = fire_level(conn, step, &rules, urgency, now)?;
    if let Some(next) = next_step(
        step.level,
        step.round,
        step.due_at,
        &rules,
        escalation.repeat_policy,
        now,
    ) {
        steps_db::insert_step(
            conn,
            step.escalation_id,
            step.incident_id,
            next.level,
            next.round,
            next.due_at,
        )?;
    }
    if let Some(entry) = &fired.note {
        note(conn, step.incident_id, entry, now)?;
    }
    Ok(Some(fired))
}

/// Pages the level of `step`, a step marked fired in this transaction: resolves its targets to
/// people now, queues each person's emails and says what it did for the timeline. The caller
/// queues the step after it ([`next_step`]).
fn fire_level(
    conn: &mut DbConn,
    step: &StepRow,
    rules: &[FrozenRule],
    urgency: i32,
    now: NaiveDateTime,
) -> QueryResult<Fired> {
    let level = step.level as usize;
    let Some(rule) = rules.get(level) else {
        return Ok(Fired::default());
    };
    let label = format!("Level {}", level + 1);
    let mut missed = Vec::new();
    let mut reached: Vec<(i64, String, Vec<PagingTarget>)> = Vec::new();
    for target in &rule.targets {
        match resolve(conn, target, urgency, now)? {
            Resolved::Person {
                user_id,
                name,
                targets,
            } => {
                if !reached.iter().any(|(id, _, _)| *id == user_id) {
                    reached.push((user_id, name, targets));
                }
            }
            Resolved::Inactive(name) => missed.push(format!("{name} is disabled and was skipped")),
            Resolved::Nobody(schedule) => missed.push(format!("No one on call in {schedule}")),
            Resolved::Gone => missed.push("a target no longer exists".to_owned()),
        }
    }
    let mut emailed_now = Vec::new();
    let mut later = Vec::new();
    let mut not_sent = Vec::new();
    let mut queued = 0;
    // Each person is reached as their own notification rules say, on confirmed addresses.
    for (user_id, name, targets) in &reached {
        if targets.is_empty() {
            missed.push(format!(
                "{name} has no notification rule for {} urgency",
                contacts::RuleUrgency::of_incident(urgency).word()
            ));
            continue;
        }
        let mut sent = true;
        for (address, delay) in targets {
            let unique_id = ids::new_row_uuid();
            sent &= notifications::insert(
                conn,
                NewNotification {
                    unique_id,
                    incident_id: Some(step.incident_id),
                    escalation_step_id: Some(step.id),
                    user_id: *user_id,
                    address: address.clone(),
                    kind: TRIGGERED,
                    due_at: now + Duration::minutes(i64::from(*delay)),
                },
            )?;
            queued += 1;
        }
        if !sent {
            // This instance sends no email: each was recorded as not sent as it was queued.
            not_sent.push(name.as_str());
            continue;
        }
        let at_once = targets.iter().any(|(_, delay)| *delay == 0);
        if at_once {
            emailed_now.push(name.as_str());
        }
        let delays: Vec<String> = targets
            .iter()
            .filter(|(_, delay)| *delay > 0)
            .map(|(_, delay)| format!("{delay} min"))
            .collect();
        if !delays.is_empty() {
            let again = if at_once { " again" } else { "" };
            later.push(format!(
                "will email {name}{again} after {}",
                delays.join(", ")
            ));
        }
    }
    let mut said = Vec::new();
    if !emailed_now.is_empty() {
        said.push(format!("emailed {}", emailed_now.join(", ")));
    }
    said.extend(later);
    if !not_sent.is_empty() {
        said.push(format!(
            "{} not emailed: email is not configured",
            not_sent.join(", ")
        ));
    }
    said.extend(missed);
    if reached.is_empty() && rule.targets.is_empty() {
        said.push("the level has no targets".to_owned());
    }
    let round = if step.round > 0 {
        format!(" (repeat {})", step.round)
    } else {
        String::new()
    };
    db::wake::count_after_commit(metrics::escalation_steps_fired());
    Ok(Fired {
        emailed: queued,
        stood_down: false,
        note: Some(format!("{label}{round}: {}", said.join("; "))),
    })
}

/// The step after the one at `level` and `round` (due at `due_at`, fired `now`): the next
/// level, due its delay after the one that fired was due; after the last level, the first level
/// of the next round, if the policy repeats.
fn next_step(
    level: i32,
    round: i32,
    due_at: NaiveDateTime,
    rules: &[FrozenRule],
    repeat_policy: i32,
    now: NaiveDateTime,
) -> Option<NextStep> {
    let index = level as usize;
    if let Some(next) = rules.get(index + 1) {
        return Some(NextStep {
            level: level + 1,
            round,
            due_at: due_at + Duration::minutes(next.delay - rules[index].delay),
        });
    }
    (round < repeat_policy).then(|| NextStep {
        level: 0,
        round: round + 1,
        due_at: now + repeat_gap(rules),
    })
}

/// How long after its last level a policy starts over: as long as its last level waited after
/// the one before it (the first level's delay for a single level), and at least five minutes,
/// so that a policy of immediate levels does not page in a tight loop.
fn repeat_gap(rules: &[FrozenRule]) -> Duration {
    let last = rules.len() - 1;
    let waited = match last {
        0 => rules[0].delay,
        _ => rules[last].delay - rules[last - 1].delay,
    };
    Duration::minutes(waited.max(MIN_REPEAT_GAP_MINUTES))
}

enum Resolved {
    /// `targets`: where and when their notification rules page them for this urgency.
    Person {
        user_id: i64,
        name: String,
        targets: Vec<PagingTarget>,
    },
    Inactive(String),
    Nobody(String),
    Gone,
}

fn resolve(
    conn: &mut DbConn,
    target: &FrozenTarget,
    urgency: i32,
    now: NaiveDateTime,
) -> QueryResult<Resolved> {
    match target {
        FrozenTarget::User { id, .. } => Ok(match contacts::paged_user_in(conn, *id, urgency)? {
            Some(user) if user.is_active => Resolved::Person {
                user_id: *id,
                name: full_name(&user.first_name, &user.last_name),
                targets: user.targets,
            },
            Some(user) => Resolved::Inactive(full_name(&user.first_name, &user.last_name)),
            None => Resolved::Gone,
        }),
        FrozenTarget::Schedule { id, name } => {
            let on_call = match schedules::on_call_at(conn, *id, now.and_utc()) {
                Ok(on_call) => on_call,
                Err(DomainError::Db(DbError::Query(error))) => return Err(error),
                // The schedule was deleted after the escalation started.
                Err(_) => return Ok(Resolved::Gone),
            };
            Ok(match on_call {
                Some(on_call) if on_call.is_active => Resolved::Person {
                    user_id: on_call.user_id,
                    name: on_call.name,
                    targets: contacts::paged_user_in(conn, on_call.user_id, urgency)?
                        .map_or_else(Vec::new, |user| user.targets),
                },
                Some(on_call) => Resolved::Inactive(on_call.name),
                None => Resolved::Nobody(name.clone()),
            })
        }
    }
}

/// A timeline entry of the escalation, by Klaxon.
pub fn note_row(incident_id: i64, detail: String, at: NaiveDateTime) -> NewTimelineRow {
    NewTimelineRow {
        incident_id,
        kind: "escalation",
        actor_user_id: None,
        actor_label: "Klaxon".into(),
        detail,
        delivery_id: None,
        created_at: at,
    }
}

fn note(conn: &mut DbConn, incident_id: i64, detail: &str, at: NaiveDateTime) -> QueryResult<()> {
    timeline::append(conn, note_row(incident_id, detail.to_owned(), at))
}

/// The escalation as the incident's page shows it.
#[derive(Debug, Clone)]
pub struct EscalationView {
    pub policy_name: String,
    pub levels: usize,
    pub running: bool,
    pub end_reason: Option<String>,
    /// The level that fired last (1-based), if any.
    pub current_level: Option<usize>,
    /// The level that fires next (1-based) and when.
    pub next: Option<(usize, NaiveDateTime)>,
    pub notifications: Vec<notifications::NotificationListRow>,
}

/// How many notifications the incident's page lists.
const NOTIFICATIONS_SHOWN: i64 = 50;

pub fn view(conn: &mut DbConn, incident_id: i64) -> QueryResult<Option<EscalationView>> {
    let Some(escalation) = steps_db::latest_for_incident(conn, incident_id)? else {
        return Ok(None);
    };
    let levels = serde_json::from_str::<Vec<FrozenRule>>(&escalation.rules)
        .map(|rules| rules.len())
        .unwrap_or(0);
    let current_level = steps_db::last_fired_step(conn, incident_id)?
        .filter(|step| step.escalation_id == escalation.id)
        .map(|step| step.level as usize + 1);
    let next = steps_db::pending_step(conn, incident_id)?
        .map(|step| (step.level as usize + 1, step.due_at));
    Ok(Some(EscalationView {
        policy_name: escalation.policy_name,
        levels,
        running: escalation.ended_at.is_none(),
        end_reason: escalation.end_reason,
        current_level,
        next,
        notifications: notifications::for_incident(conn, incident_id, NOTIFICATIONS_SHOWN)?,
    }))
}

/// "Escalate now": the level waiting fires at once. False when nothing waits.
pub fn escalate_now_in(conn: &mut DbConn, incident_id: i64) -> QueryResult<bool> {
    steps_db::make_due(conn, incident_id, db::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(delay: i64) -> FrozenRule {
        FrozenRule {
            delay,
            targets: vec![FrozenTarget::User {
                id: 1,
                name: "Ada".into(),
            }],
        }
    }

    #[test]
    fn a_policy_starts_over_as_long_after_its_last_level_as_that_level_waited() {
        assert_eq!(
            repeat_gap(&[rule(0), rule(10), rule(30)]),
            Duration::minutes(20)
        );
        assert_eq!(repeat_gap(&[rule(15)]), Duration::minutes(15));
    }

    #[test]
    fn immediate_levels_repeat_no_sooner_than_five_minutes() {
        assert_eq!(repeat_gap(&[rule(0)]), Duration::minutes(5));
        assert_eq!(repeat_gap(&[rule(0), rule(1)]), Duration::minutes(5));
    }

    #[test]
    fn frozen_rules_read_back_as_written() {
        let rules = vec![
            rule(0),
            FrozenRule {
                delay: 5,
                targets: vec![FrozenTarget::Schedule {
                    id: 7,
                    name: "Primary".into(),
                }],
            },
        ];
        let json = serde_json::to_string(&rules).unwrap();
        assert!(json.contains(r#""type":"schedule""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Vec<FrozenRule>>(&json).unwrap(),
            rules
        );
    }
}
