//! The transactional outbox: every webhook delivery is a row written here, in the transaction of
//! the change it tells of, with its body built and frozen then; the sender (`delivery::engine`)
//! takes the rows from there. Three things are enqueued: an incident's transition, a test event,
//! and a redelivery of a body already sent.

use chrono::NaiveDateTime;

use super::model::{context_window, Status};
use crate::db::deliveries::{self, DeliveryRow, NewDeliveryRow, PENDING};
use crate::db::incidents::{self, IncidentRow};
use crate::db::services::{self, ServiceForPayload, ServiceRow};
use crate::db::{self, integrations, users, DbConn, DbError};
use crate::domain::ids::new_base57_id;
use crate::domain::integrations::OUTGOING;
use crate::domain::users::User;
use crate::domain::DomainError;
use crate::zenduty::{self, Incident, WebhookBody};

/// What one delivery carries to its integration.
struct Message<'a> {
    incident_id: Option<i64>,
    event_type: &'a str,
    body: &'a str,
    is_test: bool,
}

/// Writes one delivery, pending and due at `now`, and returns its webhook-id. Every delivery
/// is written here.
fn enqueue(
    conn: &mut DbConn,
    integration_id: i64,
    message: &Message<'_>,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    let id = format!("msg_{}", new_base57_id());
    deliveries::insert(
        conn,
        NewDeliveryRow {
            unique_id: id.clone(),
            integration_id,
            incident_id: message.incident_id,
            event_type: message.event_type.to_owned(),
            payload: message.body.to_owned(),
            is_test: message.is_test,
            state: PENDING,
            next_attempt_at: now,
            created_at: now,
        },
    )?;
    Ok(id)
}

/// One delivery per enabled, configured Outgoing Webhooks integration of the incident's
/// service, each with the body frozen now. `now` is the transition's own instant (that of its
/// timeline entry), by which the incident page folds the deliveries under the change that
/// enqueued them. Returns how many were enqueued.
///
/// `service`: the incident's service as the caller read it already (a trigger); when None it is
/// read here, if a webhook is to be sent.
pub fn enqueue_transition(
    conn: &mut DbConn,
    incident: &IncidentRow,
    status: Status,
    service: Option<&ServiceForPayload>,
    now: NaiveDateTime,
) -> Result<usize, DomainError> {
    let targets: Vec<_> = integrations::list_for_service(conn, incident.service_id)?
        .into_iter()
        .filter(|i| i.is_enabled && i.integration_type == OUTGOING)
        .filter(|i| i.url.as_deref().is_some_and(|u| !u.is_empty()))
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let read;
    let service = match service {
        Some(service) => service,
        None => {
            read = service_for_payload(conn, incident.service_id)?;
            &read
        }
    };
    let body = body(conn, incident, status, service)?;
    let message = Message {
        incident_id: Some(incident.id),
        event_type: status.word(),
        body: &body,
        is_test: false,
    };
    for integration in &targets {
        enqueue(conn, integration.id, &message, now)?;
    }
    Ok(targets.len())
}

/// The same body again, as a new delivery (a new webhook-id); returns its webhook-id.
pub fn enqueue_again(conn: &mut DbConn, delivery: &DeliveryRow) -> Result<String, DomainError> {
    let message = Message {
        incident_id: delivery.incident_id,
        event_type: &delivery.event_type,
        body: &delivery.payload,
        is_test: delivery.is_test,
    };
    Ok(enqueue(conn, delivery.integration_id, &message, db::now())?)
}

/// A seed-shaped sample "triggered" body for one integration of `service`, marked as a test:
/// the incident in it does not exist. Returns its webhook-id.
pub fn enqueue_test_event(
    conn: &mut DbConn,
    actor: &User,
    service: &ServiceRow,
    integration_id: i64,
) -> Result<String, DomainError> {
    let now = db::now();
    let (context_window_start, context_window_end) = context_window(now);
    let sample = IncidentRow {
        id: 0,
        incident_number: 0,
        unique_id: new_base57_id(),
        incident_key: new_base57_id(),
        service_id: service.id,
        title: "Test event from Klaxon".into(),
        summary: "This is a test event sent from the integration's page. No incident exists."
            .into(),
        status: Status::Triggered.code(),
        urgency: 1,
        priority: 0,
        assigned_to: None,
        created_by: Some(actor.id),
        creation_date: now,
        acknowledged_date: None,
        resolved_date: None,
        context_window_start,
        context_window_end,
        merged_with: None,
        entity_id: None,
    };
    let service = service_for_payload(conn, service.id)?;
    let body = body(conn, &sample, Status::Triggered, &service)?;
    let message = Message {
        incident_id: None,
        event_type: Status::Triggered.word(),
        body: &body,
        is_test: true,
    };
    Ok(enqueue(conn, integration_id, &message, db::now())?)
}

fn service_for_payload(conn: &mut DbConn, service_id: i64) -> Result<ServiceForPayload, DbError> {
    Ok(services::find_for_trigger(conn, service_id)?
        .ok_or(DbError::Query(diesel::result::Error::NotFound))?
        .payload)
}

/// The webhook body telling that `incident` of `service` became `status`, as JSON text. Its
/// assignee and the incident it was merged into are read here, in the caller's transaction.
fn body(
    conn: &mut DbConn,
    incident: &IncidentRow,
    status: Status,
    (service, team_unique_id, service_created_by, escalation_policy): &ServiceForPayload,
) -> Result<String, DomainError> {
    let assignee = match incident.assigned_to {
        Some(id) => users::find_by_id(conn, id)?.map(zenduty::User::from),
        None => None,
    };
    let merged_with = match incident.merged_with {
        Some(id) => incidents::find_by_id(conn, id)?.map(|other| other.unique_id),
        None => None,
    };
    let service = zenduty::Service::new(
        service,
        team_unique_id,
        service_created_by.clone(),
        escalation_policy.clone(),
    );
    let incident = Incident::new(incident, service, assignee, merged_with);
    Ok(serde_json::to_string(&WebhookBody::new(
        status.word(),
        incident,
    ))?)
}
