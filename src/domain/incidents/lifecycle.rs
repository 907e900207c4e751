//! The write use cases: open an incident, acknowledge or resolve it, note, assign, and the API's
//! update. Every transition changes the incident, appends to its timeline and enqueues its
//! webhooks (`outbox`) in ONE write transaction.

use chrono::NaiveDateTime;

use super::lookup::{find_by_reference, find_visible_row};
use super::model::{context_window, Actor, NewIncident, Status};
use super::model::{MAX_NOTE_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS};
use super::records::{self, load_record, IncidentRecord};
use super::{escalation, outbox};
use crate::db::incidents::{IncidentRow, NewIncidentRow};
use crate::db::services::{self as service_rows, ServiceForTrigger};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, incidents, users, Db, DbConn, DbError};
use crate::domain::ids::new_base57_id;
use crate::domain::services;
use crate::domain::users::User;
use crate::domain::validation::{required_text, FieldErrors};
use crate::domain::DomainError;

fn append_timeline(
    conn: &mut DbConn,
    incident_id: i64,
    kind: &'static str,
    actor: &Actor,
    detail: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    timeline::append(
        conn,
        NewTimelineRow {
            incident_id,
            kind,
            actor_user_id: actor.user_id(),
            actor_label: actor.label(),
            detail: detail.to_owned(),
            delivery_id: None,
            created_at: at,
        },
    )?;
    Ok(())
}

/// Opens an incident, inside the caller's write transaction.
pub fn trigger_in(
    conn: &mut DbConn,
    actor: &Actor,
    new: &NewIncident,
) -> Result<IncidentRow, DomainError> {
    let service = find_service_for_trigger(conn, new.service_id)?;
    trigger_at(conn, actor, new, &service, None, db::now())
}

fn find_service_for_trigger(
    conn: &mut DbConn,
    service_id: i64,
) -> Result<ServiceForTrigger, DomainError> {
    service_rows::find_for_trigger(conn, service_id)?.ok_or(DomainError::NotFound)
}

/// What every trigger writes and sends out, inside its transaction: its timeline entry (`kind`,
/// `detail`), the `triggered` webhooks, and the escalation from the first rule of the service's
/// policy, whose own entry follows the trigger's, then the entry of the alert that opened the
/// incident (`alert_detail`), if one did: one statement for them all on PostgreSQL.
fn announce_trigger(
    conn: &mut DbConn,
    row: &IncidentRow,
    (kind, actor, detail): (&'static str, &Actor, &str),
    service: &ServiceForTrigger,
    alert_detail: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DomainError> {
    outbox::enqueue_transition(conn, row, Status::Triggered, Some(&service.payload), now)?;
    let escalation_entry = escalation::start_in(conn, row, service.policy.as_ref(), now)?;
    let trigger = NewTimelineRow {
        incident_id: row.id,
        kind,
        actor_user_id: actor.user_id(),
        actor_label: actor.label(),
        detail: detail.to_owned(),
        delivery_id: None,
        created_at: now,
    };
    let mut entries = vec![trigger.clone()];
    if let Some(entry) = escalation_entry {
        entries.push(escalation::note_row(row.id, entry, now));
    }
    if let Some(detail) = alert_detail {
        entries.push(NewTimelineRow {
            kind: "alert",
            detail: detail.to_owned(),
            ..trigger
        });
    }
    timeline::append_all(conn, entries)?;
    Ok(())
}

/// [`trigger_in`] at the instant of a caller that writes more of the same change (the alert
/// that opens the incident): the incident page groups what one change wrote by that instant.
///
/// `service` is the incident's service (`new.service_id`), as the caller read it;
/// `alert_detail`, the timeline entry of the alert that opens the incident (by `actor`), written
/// with the trigger's.
pub fn trigger_at(
    conn: &mut DbConn,
    actor: &Actor,
    new: &NewIncident,
    service: &ServiceForTrigger,
    alert_detail: Option<&str>,
    now: NaiveDateTime,
) -> Result<IncidentRow, DomainError> {
    let (context_window_start, context_window_end) = context_window(now);
    let (unique_id, incident_key) = (new_base57_id(), new_base57_id());
    let row = incidents::insert(
        conn,
        &NewIncidentRow {
            unique_id: &unique_id,
            incident_key: &incident_key,
            service_id: new.service_id,
            title: &new.title,
            summary: &new.summary,
            status: Status::Triggered.code(),
            urgency: new.urgency,
            priority: 0,
            assigned_to: new.assignee_id,
            created_by: actor.user_id(),
            creation_date: now,
            context_window_start,
            context_window_end,
            entity_id: new.entity_id.as_deref(),
        },
    )?;
    announce_trigger(
        conn,
        &row,
        ("triggered", actor, &row.title),
        service,
        alert_detail,
        now,
    )?;
    Ok(row)
}

/// Moves an incident to `target`, inside the caller's write transaction. A transition the
/// lifecycle does not allow changes nothing and is refused with a message saying why.
pub fn transition_in(
    conn: &mut DbConn,
    actor: &Actor,
    incident_id: i64,
    target: Status,
) -> Result<IncidentRow, DomainError> {
    transition_at(conn, actor, incident_id, target, db::now())
}

/// [`transition_in`] at the caller's instant, as [`trigger_at`].
pub fn transition_at(
    conn: &mut DbConn,
    actor: &Actor,
    incident_id: i64,
    target: Status,
    now: NaiveDateTime,
) -> Result<IncidentRow, DomainError> {
    let moved = match target {
        Status::Acknowledged => incidents::transition_acknowledged(conn, incident_id, now)?,
        Status::Resolved => incidents::transition_resolved(conn, incident_id, now)?,
        Status::Triggered => None,
    };
    let Some(row) = moved else {
        let row = incidents::find_by_id(conn, incident_id)?.ok_or(DomainError::NotFound)?;
        return Err(refusal(&row, target));
    };
    append_timeline(conn, row.id, target.word(), actor, &actor.reason(), now)?;
    outbox::enqueue_transition(conn, &row, target, None, now)?;
    escalation::stop_in(conn, &row, target, now)?;
    Ok(row)
}

/// Acknowledged → triggered again, inside the caller's write transaction: the timeline, the
/// `triggered` webhook, and the escalation from its first rule. None when the incident was not
/// acknowledged any more (resolved meanwhile, or re-triggered by another instance).
pub fn retrigger_in(
    conn: &mut DbConn,
    actor: &Actor,
    incident_id: i64,
) -> Result<Option<IncidentRow>, DomainError> {
    let now = db::now();
    let Some(row) = incidents::transition_retriggered(conn, incident_id)? else {
        return Ok(None);
    };
    let service = find_service_for_trigger(conn, row.service_id)?;
    let reason = actor.reason();
    announce_trigger(
        conn,
        &row,
        ("retriggered", actor, &reason),
        &service,
        None,
        now,
    )?;
    Ok(Some(row))
}

fn refusal(row: &IncidentRow, target: Status) -> DomainError {
    let current = match Status::of(row) {
        Ok(current) => current,
        Err(error) => return error,
    };
    let number = row.incident_number;
    DomainError::Conflict(match (current, target) {
        (current, target) if current == target => format!("Incident #{number} is already {}.", current.word()),
        (Status::Resolved, _) => format!("Incident #{number} is resolved; a resolved incident cannot change. A new alert opens a new incident."),
        (Status::Acknowledged, Status::Triggered) => format!("Incident #{number} is acknowledged; it cannot go back to triggered."),
        (current, target) => format!("Incident #{number} is {} and cannot become {}.", current.word(), target.word()),
    })
}

/// The form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TriggerForm {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub assignee: String,
}

fn validate_trigger(
    conn: &mut DbConn,
    actor: &User,
    form: &TriggerForm,
) -> Result<NewIncident, DomainError> {
    let mut errors = FieldErrors::new();
    let service = match services::find_visible_row(conn, actor, form.service.trim()) {
        Ok(service) => Some(service),
        Err(DomainError::NotFound) => {
            errors.add("service", "Choose a service.");
            None
        }
        Err(other) => return Err(other),
    };
    let title = required_text(&mut errors, "title", &form.title, MAX_TITLE_CHARS);
    let summary = form.summary.trim().to_owned();
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        errors.add(
            "summary",
            format!("Use at most {MAX_SUMMARY_CHARS} characters."),
        );
    }
    let urgency = match form.urgency.trim() {
        "1" | "high" => 1,
        "0" | "low" => 0,
        _ => {
            errors.add("urgency", "Choose High or Low.");
            1
        }
    };
    let assignee_id = match form.assignee.trim() {
        "" => None,
        username => match users::find_by_username(conn, username)? {
            Some(user) if user.is_active => Some(user.id),
            _ => {
                errors.add("assignee", "Choose someone from the list, or nobody.");
                None
            }
        },
    };
    errors.into_result(()).map_err(DomainError::Invalid)?;
    Ok(NewIncident {
        service_id: service.map(|s| s.id).unwrap_or_default(),
        title,
        summary,
        urgency,
        assignee_id,
        entity_id: None,
    })
}

/// Opens an incident from the "Trigger incident" form.
pub async fn trigger(
    db: &Db,
    actor: &User,
    form: &TriggerForm,
) -> Result<IncidentRow, DomainError> {
    let (actor, form) = (actor.clone(), form.clone());
    db.write(move |conn| {
        let new = validate_trigger(conn, &actor, &form)?;
        trigger_in(conn, &Actor::User(actor.clone()), &new)
    })
    .await
}

/// Acknowledges or resolves an incident on behalf of a person.
pub async fn change_status(
    db: &Db,
    actor: &User,
    number: i64,
    target: Status,
) -> Result<IncidentRow, DomainError> {
    let actor = actor.clone();
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        transition_in(conn, &Actor::User(actor.clone()), row.id, target)
    })
    .await
}

/// What acting on several incidents at once did.
#[derive(Debug, Default)]
pub struct ChangedMany {
    pub changed: Vec<i64>,
    /// Incidents left as they were, with the reason ("Incident #12 is already resolved.").
    pub refused: Vec<(i64, String)>,
}

/// Acknowledges or resolves several incidents, each in a transaction of its own: one refused
/// (already resolved, or not the actor's to see) leaves the others changed.
pub async fn change_many(
    db: &Db,
    actor: &User,
    numbers: &[i64],
    target: Status,
) -> Result<ChangedMany, DomainError> {
    let mut outcome = ChangedMany::default();
    for &number in numbers {
        match change_status(db, actor, number, target).await {
            Ok(_) => outcome.changed.push(number),
            Err(DomainError::Conflict(message)) => outcome.refused.push((number, message)),
            Err(DomainError::NotFound) => outcome
                .refused
                .push((number, format!("Incident #{number} was not found."))),
            Err(other) => return Err(other),
        }
    }
    Ok(outcome)
}

/// "Escalate now": the level that waits fires at once, with the timeline saying who asked.
pub async fn escalate_now(db: &Db, actor: &User, number: i64) -> Result<(), DomainError> {
    let actor = actor.clone();
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        if Status::of(&row)? != Status::Triggered {
            return Err(DomainError::Conflict(format!(
                "Incident #{number} is not triggered: nothing escalates."
            )));
        }
        if !escalation::escalate_now_in(conn, row.id)? {
            return Err(DomainError::Conflict(format!(
                "Incident #{number} has no level left to escalate to."
            )));
        }
        let actor = Actor::User(actor.clone());
        append_timeline(
            conn,
            row.id,
            "escalation",
            &actor,
            "Escalated now",
            db::now(),
        )?;
        Ok(())
    })
    .await
}

/// "Reassign": `user:<username>` or `policy:<unique_id>`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReassignForm {
    #[serde(default)]
    pub to: String,
}

/// Stops the incident's escalation and pages the chosen person, or the chosen policy of the
/// service's team from its first rule. Returns whom it pages now.
pub async fn reassign(
    db: &Db,
    actor: &User,
    number: i64,
    form: &ReassignForm,
) -> Result<String, DomainError> {
    let (actor, choice) = (actor.clone(), form.to.trim().to_owned());
    db.write(move |conn| {
        let (row, service) = find_visible_row(conn, &actor, number)?;
        if Status::of(&row)? != Status::Triggered {
            return Err(DomainError::Conflict(format!(
                "Incident #{number} is not triggered: only a triggered incident is paged."
            )));
        }
        let to = reassignment(conn, service.team_id, &choice)?;
        let now = db::now();
        escalation::reassign_in(conn, row.id, &to, now)?;
        if let escalation::Reassignment::User { id, .. } = &to {
            incidents::set_assignee(conn, row.id, Some(*id))?;
        }
        let detail = format!("Reassigned to {}: paging starts there", to.name());
        let actor = Actor::User(actor.clone());
        append_timeline(conn, row.id, "escalation", &actor, &detail, now)?;
        Ok(to.name().to_owned())
    })
    .await
}

fn reassignment(
    conn: &mut DbConn,
    team_id: i64,
    choice: &str,
) -> Result<escalation::Reassignment, DomainError> {
    let unknown = || DomainError::field("to", "Choose a person or an escalation policy.");
    match choice.split_once(':') {
        Some(("user", username)) => {
            let user = users::find_by_username(conn, username)?
                .filter(|user| user.is_active)
                .ok_or_else(unknown)?;
            Ok(escalation::Reassignment::User {
                id: user.id,
                name: format!("{} {}", user.first_name, user.last_name)
                    .trim()
                    .to_owned(),
            })
        }
        Some(("policy", unique_id)) => {
            let policy = crate::db::escalation_policies::find_by_unique_id(conn, unique_id)?
                .filter(|policy| policy.team_id == team_id)
                .ok_or_else(unknown)?;
            Ok(escalation::Reassignment::Policy {
                id: policy.id,
                name: policy.name,
                repeat_policy: policy.repeat_policy,
            })
        }
        _ => Err(unknown()),
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub note: String,
}

/// Adds a note and returns its `unique_id`.
pub async fn add_note(
    db: &Db,
    actor: &User,
    number: i64,
    form: &NoteForm,
) -> Result<String, DomainError> {
    let (actor, text) = (actor.clone(), form.note.trim().to_owned());
    if text.is_empty() {
        return Err(DomainError::field("note", "Write the note first."));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::field(
            "note",
            format!("Use at most {MAX_NOTE_CHARS} characters."),
        ));
    }
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        let now = db::now();
        let unique_id = incidents::insert_note(conn, row.id, actor.id, &text, now)?;
        append_timeline(
            conn,
            row.id,
            "note",
            &Actor::User(actor.clone()),
            &text,
            now,
        )?;
        Ok(unique_id)
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    pub assignee: String,
}

pub async fn assign(
    db: &Db,
    actor: &User,
    number: i64,
    form: &AssignForm,
) -> Result<Option<String>, DomainError> {
    let (actor, username) = (actor.clone(), form.assignee.trim().to_owned());
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        let assignee = match username.as_str() {
            "" => None,
            name => Some(
                users::find_by_username(conn, name)?
                    .filter(|u| u.is_active)
                    .ok_or_else(|| {
                        DomainError::field("assignee", "Choose someone from the list, or nobody.")
                    })?,
            ),
        };
        incidents::set_assignee(conn, row.id, assignee.as_ref().map(|u| u.id))?;
        let name = assignee.map(|u| format!("{} {}", u.first_name, u.last_name));
        let detail = match &name {
            Some(name) => format!("assigned to {name}"),
            None => "unassigned".to_owned(),
        };
        append_timeline(
            conn,
            row.id,
            "assigned",
            &Actor::User(actor.clone()),
            &detail,
            db::now(),
        )?;
        Ok(name)
    })
    .await
}

/// Opens an incident for the API and returns it as the API shows it.
pub async fn trigger_record(
    db: &Db,
    actor: &User,
    form: &TriggerForm,
) -> Result<IncidentRecord, DomainError> {
    let row = trigger(db, actor, form).await?;
    records::record(db, actor, &row.incident_number.to_string()).await
}

/// What an API update may change.
#[derive(Debug, Clone, Default)]
pub struct IncidentChanges {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub status: Option<i32>,
}

/// Changes title, summary and status in one transaction; a status equal to the current one
/// changes nothing, another one is a transition (refused as on the page when not allowed).
/// Returns the incident and whether a transition happened.
pub async fn update(
    db: &Db,
    actor: &User,
    reference: &str,
    changes: IncidentChanges,
) -> Result<(IncidentRecord, bool), DomainError> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.write(move |conn| {
        let (row, _) = find_by_reference(conn, &actor, &reference)?;
        let mut errors = FieldErrors::new();
        let title = required_text(
            &mut errors,
            "title",
            changes.title.as_deref().unwrap_or(&row.title),
            MAX_TITLE_CHARS,
        );
        let summary = changes
            .summary
            .clone()
            .unwrap_or_else(|| row.summary.clone());
        if summary.chars().count() > MAX_SUMMARY_CHARS {
            errors.add(
                "summary",
                format!("Use at most {MAX_SUMMARY_CHARS} characters."),
            );
        }
        let target = changes.status.and_then(Status::from_code);
        if changes.status.is_some() && target.is_none() {
            errors.add(
                "status",
                "must be 1 (triggered), 2 (acknowledged) or 3 (resolved)",
            );
        }
        errors.into_result(()).map_err(DomainError::Invalid)?;
        if title != row.title || summary != row.summary {
            incidents::set_title_and_summary(conn, row.id, &title, &summary)?;
        }
        let moved = match target {
            Some(target) if target.code() != row.status => {
                transition_in(conn, &Actor::User(actor.clone()), row.id, target)?;
                true
            }
            _ => false,
        };
        let (row, service) = find_by_reference(conn, &actor, &reference)?;
        Ok((load_record(conn, row, service)?, moved))
    })
    .await
}
