//! Alerts from monitoring tools (the Events API): each may open an incident, attach to the
//! open incident of its entity, or acknowledge or resolve it through the same transitions as
//! the pages use, so webhooks go out the same way. On a service with time-based collation, an
//! alert that would open an incident joins the one opened within the collation window instead.

use chrono::NaiveDateTime;

use super::ids::{self, new_base57_id};
use super::incidents::{self, Actor, NewIncident, Status};
use super::integrations::INCOMING;
use super::services;
use super::validation::FieldErrors;
use super::{DomainError, Page};
use crate::db::alerts::{AlertRow, NewAlertRow};
use crate::db::incidents::{self as incident_rows, EntityIncidents, IncidentRow};
use crate::db::integrations::IntegrationRow;
use crate::db::services::{self as service_rows, ServiceRow};
use crate::db::timeline::{self, NewTimelineRow};
use crate::db::{self, alerts, Db, DbConn, DbError};

/// Zenduty's alert types: strings in requests, these integers in responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertType {
    Info = 0,
    Warning = 1,
    Error = 2,
    Critical = 3,
    Acknowledged = 4,
    Resolved = 5,
}

pub const ALERT_TYPE_NAMES: &str = "critical, error, warning, info, acknowledged, resolved";

impl AlertType {
    const ALL: [AlertType; 6] = [
        AlertType::Info,
        AlertType::Warning,
        AlertType::Error,
        AlertType::Critical,
        AlertType::Acknowledged,
        AlertType::Resolved,
    ];

    pub fn parse(name: &str) -> Option<AlertType> {
        AlertType::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn from_code(code: i32) -> Option<AlertType> {
        AlertType::ALL.into_iter().find(|t| *t as i32 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            AlertType::Info => "info",
            AlertType::Warning => "warning",
            AlertType::Error => "error",
            AlertType::Critical => "critical",
            AlertType::Acknowledged => "acknowledged",
            AlertType::Resolved => "resolved",
        }
    }

    /// Whether an integration with this `create_incidents_for` setting opens incidents for it
    /// (0 none, 1 critical, 2 critical and error, 3 critical, error and warning).
    fn creates_incident(self, create_incidents_for: i32) -> bool {
        match self {
            AlertType::Critical => create_incidents_for >= 1,
            AlertType::Error => create_incidents_for >= 2,
            AlertType::Warning => create_incidents_for >= 3,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Link {
    pub link_url: String,
    pub link_text: String,
}

/// A validated event.
#[derive(Debug, Clone)]
pub struct Event {
    pub message: String,
    pub summary: String,
    pub alert_type: AlertType,
    pub entity_id: Option<String>,
    pub suppressed: bool,
    pub payload: serde_json::Value,
    pub urls: Vec<Link>,
}

fn string_field(
    body: &serde_json::Map<String, serde_json::Value>,
    errors: &mut FieldErrors,
    field: &'static str,
    max: usize,
) -> Option<String> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.chars().count() <= max => Some(s.clone()),
        Some(serde_json::Value::String(_)) => {
            errors.add(field, format!("must be at most {max} characters"));
            None
        }
        Some(_) => {
            errors.add(field, "must be a string");
            None
        }
    }
}

impl Event {
    /// Reads an event from a JSON object, naming every field that is wrong.
    pub fn from_json(body: &serde_json::Value) -> Result<Event, FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(body) = body.as_object() else {
            errors.add("body", "must be a JSON object");
            return Err(errors);
        };
        let message = string_field(body, &mut errors, "message", 2_000).unwrap_or_default();
        if message.trim().is_empty() && errors.get("message").is_none() {
            errors.add("message", "is required");
        }
        let summary = string_field(body, &mut errors, "summary", 10_000).unwrap_or_default();
        let alert_type = match string_field(body, &mut errors, "alert_type", 20) {
            None => AlertType::Info,
            Some(name) => AlertType::parse(&name.to_lowercase()).unwrap_or_else(|| {
                errors.add("alert_type", format!("must be one of: {ALERT_TYPE_NAMES}"));
                AlertType::Info
            }),
        };
        let entity_id =
            string_field(body, &mut errors, "entity_id", 255).filter(|e| !e.trim().is_empty());
        let suppressed = match body.get("suppressed") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => {
                errors.add("suppressed", "must be true or false");
                false
            }
        };
        let payload = match body.get("payload") {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(value @ serde_json::Value::Object(_)) => value.clone(),
            Some(_) => {
                errors.add("payload", "must be a JSON object");
                serde_json::json!({})
            }
        };
        let urls = match body.get("urls") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(value) => {
                serde_json::from_value::<Vec<Link>>(value.clone()).unwrap_or_else(|_| {
                    errors.add(
                        "urls",
                        "must be a list of {\"link_url\": string, \"link_text\": string}",
                    );
                    Vec::new()
                })
            }
        };
        errors.into_result(Event {
            message,
            summary,
            alert_type,
            entity_id,
            suppressed,
            payload,
            urls,
        })
    }
}

/// The alert as stored (its row without the id, which nobody needs), with what it did.
#[derive(Debug, Clone)]
pub struct Received {
    pub alert: NewAlertRow,
    pub integration: IntegrationRow,
    pub service_unique_id: String,
    pub team_unique_id: String,
    pub incident_number: Option<i64>,
    pub incident_created: bool,
    /// Whether a transition committed (the sender should be woken).
    pub changed_incident: bool,
}

/// Receives one event on the integration with this key.
pub async fn receive(
    db: &Db,
    integration_key: &str,
    event: Event,
) -> Result<Received, DomainError> {
    let attempt = write(db, integration_key, &event).await;
    match attempt {
        // Two alerts for a new entity at once on PostgreSQL: the unique index let only one
        // incident open; this one now attaches to it.
        Err(DomainError::Db(e)) if e.is_unique_violation() => {
            write(db, integration_key, &event).await
        }
        other => other,
    }
}

/// Runs [`receive_in`] in a write transaction. Alerts that may open an incident all take the
/// incident counter, so they share grouped transactions (one commit for many; see
/// `Db::write_grouped`). They only add rows, so a group never waits for a lock another
/// writer holds while waiting for the group. Alerts that acknowledge or resolve change existing
/// incidents, their escalation steps and emails, rows the paging and delivery workers also lock
/// several at a time: in a group they could deadlock with those workers, so each runs alone.
/// Alone, they also run after the rows a group defers to its end are in: the emails a trigger
/// just queued are there for them to cancel.
async fn write(db: &Db, key: &str, event: &Event) -> Result<Received, DomainError> {
    let (key, event) = (key.to_owned(), event.clone());
    let moves_incident = matches!(
        event.alert_type,
        AlertType::Acknowledged | AlertType::Resolved
    );
    let work = move |conn: &mut DbConn| receive_in(conn, &key, &event);
    if moves_incident {
        db.write(work).await
    } else {
        db.write_grouped(work).await
    }
}

fn receive_in(conn: &mut DbConn, key: &str, event: &Event) -> Result<Received, DomainError> {
    let (integration, for_trigger) = service_rows::find_by_integration_key(conn, key)?
        .filter(|(i, _)| i.integration_type == INCOMING)
        .ok_or(DomainError::NotFound)?;
    let (service, team_unique_id) = (&for_trigger.payload.0, &for_trigger.payload.1);
    if !integration.is_enabled {
        return Err(DomainError::Forbidden(
            "This integration is disabled; enable it to accept alerts.".into(),
        ));
    }
    let actor = Actor::Integration {
        name: integration.name.clone(),
    };
    let entity_id = event.entity_id.clone().unwrap_or_else(new_base57_id);
    let now = db::now();
    // The incident this entity opened: its alerts acknowledge and resolve it.
    let EntityIncidents { own, collated_into } =
        incident_rows::find_for_entity(conn, service.id, &entity_id)?;
    let would_open = own.is_none()
        && event
            .alert_type
            .creates_incident(integration.create_incidents_for);
    let collated = match own {
        Some(_) => None,
        None => collating_incident(conn, service, collated_into, would_open, now)?,
    };
    let opens_incident = would_open && collated.is_none();
    let remember_collation = collated.as_ref().is_some_and(|c| c.new);
    let collated = collated.map(|c| c.incident);
    // A service that is disabled or under maintenance pages nobody: an alert that would open
    // an incident is kept, suppressed. Acknowledged and resolved alerts still move what is open.
    let suppressed =
        event.suppressed || (opens_incident && !services::opens_incidents(service.status));
    // The alert's own timeline entry, on the incident it is attached to.
    let alert_detail = format!("{}: {}", event.alert_type.name(), event.message);
    let (mut incident, mut created, mut changed) = (own, false, false);
    if !suppressed {
        match event.alert_type {
            _ if opens_incident => {
                let new = NewIncident {
                    service_id: integration.service_id,
                    title: incident_title(&event.message),
                    summary: event.summary.clone(),
                    urgency: integration.default_urgency,
                    assignee_id: None,
                    entity_id: Some(entity_id.clone()),
                };
                // An info alert is kept apart from the incident it opens, without an entry.
                let entry = (event.alert_type != AlertType::Info).then_some(alert_detail.as_str());
                incident = Some(incidents::trigger_at(
                    conn,
                    &actor,
                    &new,
                    &for_trigger,
                    entry,
                    now,
                )?);
                (created, changed) = (true, true);
            }
            AlertType::Acknowledged => {
                if let Some(open) = incident
                    .as_ref()
                    .filter(|i| i.status == Status::Triggered.code())
                {
                    incident = Some(incidents::transition_at(
                        conn,
                        &actor,
                        open.id,
                        Status::Acknowledged,
                        now,
                    )?);
                    changed = true;
                }
            }
            AlertType::Resolved => {
                if let Some(open) = &incident {
                    incident = Some(incidents::transition_at(
                        conn,
                        &actor,
                        open.id,
                        Status::Resolved,
                        now,
                    )?);
                    changed = true;
                }
            }
            _ => {}
        }
    }
    let attached = incident
        .or(collated)
        .filter(|_| event.alert_type != AlertType::Info && !suppressed);
    let alert = NewAlertRow {
        unique_id: ids::new_row_uuid(),
        integration_id: integration.id,
        incident_id: attached.as_ref().map(|i| i.id),
        alert_type: event.alert_type as i32,
        message: event.message.clone(),
        summary: event.summary.clone(),
        entity_id: entity_id.clone(),
        suppressed,
        payload: event.payload.to_string(),
        urls: serde_json::to_string(&event.urls).unwrap_or_else(|_| "[]".into()),
        creation_date: now,
    };
    alerts::insert(conn, alert.clone())?;
    if let (Some(incident), true) = (&attached, remember_collation) {
        incident_rows::record_collated(conn, service.id, &entity_id, incident.id)?;
    }
    // An alert that opened its incident wrote its entry with the trigger's.
    if let (Some(incident), false) = (&attached, created) {
        timeline::append(
            conn,
            NewTimelineRow {
                incident_id: incident.id,
                kind: "alert",
                actor_user_id: None,
                actor_label: actor.label(),
                detail: alert_detail,
                delivery_id: None,
                created_at: now,
            },
        )
        .map_err(DbError::from)?;
    }
    Ok(Received {
        alert,
        integration,
        service_unique_id: service.unique_id.clone(),
        team_unique_id: team_unique_id.clone(),
        incident_number: attached.map(|i| i.incident_number),
        incident_created: created,
        changed_incident: changed,
    })
}

/// An open incident an alert joins although its entity did not open it.
struct Collation {
    incident: IncidentRow,
    /// First joined now (not by an earlier alert of the entity): to be remembered.
    new: bool,
}

/// The open incident an alert joins although its entity did not open it: the one that alerts of
/// the entity were collated into before (`collated_into`) or, for an alert that would open an
/// incident on a service with time-based collation, the service's newest open incident if it was
/// opened within the collation window. The alert is attached there and changes nothing: the
/// incident follows the entity that opened it.
fn collating_incident(
    conn: &mut DbConn,
    service: &ServiceRow,
    collated_into: Option<IncidentRow>,
    would_open: bool,
    now: NaiveDateTime,
) -> Result<Option<Collation>, DomainError> {
    let is_open = |incident: &IncidentRow| incident.status != Status::Resolved.code();
    if let Some(joined) = collated_into.filter(is_open) {
        return Ok(Some(Collation {
            incident: joined,
            new: false,
        }));
    }
    if !would_open || !services::collates(service) {
        return Ok(None);
    }
    incident_rows::lock_openings(conn, service.id)?;
    let since = now - chrono::Duration::seconds(i64::from(service.collation_time));
    Ok(incident_rows::newest_open(conn, service.id)?
        .filter(|newest| newest.creation_date >= since)
        .map(|incident| Collation {
            incident,
            new: true,
        }))
}

/// An integration's alerts, newest first.
pub async fn list(
    db: &Db,
    integration: &IntegrationRow,
    page: i64,
    per_page: i64,
) -> Result<Page<(AlertRow, Option<i64>)>, DomainError> {
    let id = integration.id;
    let rows = db
        .run(move |conn| {
            Ok::<_, DomainError>(alerts::list_for_integration(
                conn,
                id,
                Page::<()>::offset(page, per_page),
                per_page + 1,
            )?)
        })
        .await?;
    Ok(Page::from_overfetch(rows, page, per_page))
}

/// An incident's title from an alert's message. A message too long for a title is cut visibly
/// (the title ends in "…"), and the alert keeps the whole message.
fn incident_title(message: &str) -> String {
    if message.chars().count() <= incidents::MAX_TITLE_CHARS {
        return message.to_owned();
    }
    let mut title: String = message
        .chars()
        .take(incidents::MAX_TITLE_CHARS - 1)
        .collect();
    title.push('…');
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_makes_a_title_that_says_it_was_cut() {
        assert_eq!(incident_title("Disk full"), "Disk full");
        let long = "x".repeat(300);
        let title = incident_title(&long);
        assert_eq!(title.chars().count(), incidents::MAX_TITLE_CHARS);
        assert!(title.ends_with("x…"));
        let exact = "y".repeat(incidents::MAX_TITLE_CHARS);
        assert_eq!(incident_title(&exact), exact, "nothing cut, nothing marked");
    }

    #[test]
    fn events_name_every_wrong_field() {
        let errors = Event::from_json(&serde_json::json!({
            "message": 5, "alert_type": "panic", "suppressed": "yes", "payload": [1], "urls": [{"x": 1}]
        }))
        .unwrap_err();
        for field in ["message", "alert_type", "suppressed", "payload", "urls"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        assert_eq!(
            errors.get("alert_type"),
            Some("must be one of: critical, error, warning, info, acknowledged, resolved")
        );
        let event = Event::from_json(&serde_json::json!({"message": "CPU high"})).unwrap();
        assert_eq!(event.alert_type, AlertType::Info);
    }

    #[test]
    fn create_incidents_for_decides_which_types_open_incidents() {
        assert!(AlertType::Critical.creates_incident(1) && !AlertType::Error.creates_incident(1));
        assert!(AlertType::Error.creates_incident(2) && !AlertType::Warning.creates_incident(2));
        assert!(AlertType::Warning.creates_incident(3) && !AlertType::Info.creates_incident(3));
        assert!(!AlertType::Critical.creates_incident(0));
    }
}
