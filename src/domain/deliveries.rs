//! What people see and do with webhook deliveries: lists, the exact request and every attempt,
//! "Redeliver" and "Send test event".

use super::access;
use super::incidents::outbox;
use super::integrations::{
    delivery_trouble, find_in_service, find_managed_in_service, DeliveryTrouble, Integration,
};
use super::services::{self, Service};
use super::users::User;
use super::{DomainError, Page};
use crate::db::deliveries::{AttemptRow, DeliveryRow};
use crate::db::{self, deliveries, incidents, integrations, Db, DbConn};

pub const STATES: [&str; 3] = ["pending", "succeeded", "failed"];
pub const EVENTS: [&str; 3] = ["triggered", "acknowledged", "resolved"];

/// The filters of a deliveries list, as given in the query string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeliveryQuery {
    pub state: Option<String>,
    pub event: Option<String>,
    pub page: Option<String>,
}

impl DeliveryQuery {
    pub fn state(&self) -> &str {
        self.state
            .as_deref()
            .filter(|s| STATES.contains(s))
            .unwrap_or("")
    }

    pub fn event(&self) -> &str {
        self.event
            .as_deref()
            .filter(|e| EVENTS.contains(e))
            .unwrap_or("")
    }

    pub fn page(&self) -> i64 {
        Page::<()>::number_from(self.page.as_deref())
    }
}

/// A delivery with the incident number it belongs to, if any.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub row: DeliveryRow,
    pub incident_number: Option<i64>,
}

fn view(conn: &mut DbConn, row: DeliveryRow) -> Result<DeliveryView, DomainError> {
    let incident_number = match row.incident_id {
        Some(id) => incidents::find_by_id(conn, id)?.map(|i| i.incident_number),
        None => None,
    };
    Ok(DeliveryView {
        row,
        incident_number,
    })
}

pub struct DeliveryList {
    pub service: Service,
    pub integration: Integration,
    /// Why the integration is failing, if it is.
    pub trouble: Option<DeliveryTrouble>,
    pub deliveries: Page<DeliveryView>,
}

pub async fn list(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
    query: &DeliveryQuery,
    per_page: i64,
) -> Result<DeliveryList, DomainError> {
    let (actor, service_uid, integration_uid, query) = (
        actor.clone(),
        service_uid.to_owned(),
        integration_uid.to_owned(),
        query.clone(),
    );
    db.run(move |conn| {
        let (service, integration) = find_in_service(conn, &actor, &service_uid, &integration_uid)?;
        let can_manage = access::can_manage_team(conn, &actor, service.row.team_id)?;
        let integration = integration.as_seen(can_manage);
        let page = query.page();
        let rows = deliveries::list_for_integration(
            conn,
            integration.row.id,
            Some(query.state()).filter(|s| !s.is_empty()),
            Some(query.event()).filter(|e| !e.is_empty()),
            Page::<()>::offset(page, per_page),
            per_page + 1,
        )?;
        let views = rows
            .into_iter()
            .map(|row| view(conn, row))
            .collect::<Result<Vec<_>, _>>()?;
        let trouble = db::read_snapshot(conn, |conn| delivery_trouble(conn, integration.row.id))?;
        Ok(DeliveryList {
            service,
            integration,
            trouble,
            deliveries: Page::from_overfetch(views, page, per_page),
        })
    })
    .await
}

pub struct DeliveryDetail {
    pub service: Service,
    /// As the actor may see it: [`Integration::redacted`] unless they may change it.
    pub integration: Integration,
    /// Whether the actor may redeliver it.
    pub can_manage: bool,
    pub delivery: DeliveryView,
    pub attempts: Vec<AttemptRow>,
}

/// A delivery the actor may see, by its webhook-id.
pub async fn detail(
    db: &Db,
    actor: &User,
    webhook_id: &str,
) -> Result<DeliveryDetail, DomainError> {
    let (actor, webhook_id) = (actor.clone(), webhook_id.to_owned());
    db.run(move |conn| db::read_snapshot(conn, |conn| detail_in(conn, &actor, &webhook_id)))
        .await
}

fn detail_in(
    conn: &mut DbConn,
    actor: &User,
    webhook_id: &str,
) -> Result<DeliveryDetail, DomainError> {
    let row = deliveries::find_by_unique_id(conn, webhook_id)?.ok_or(DomainError::NotFound)?;
    let integration_row =
        integrations::find_any_by_id(conn, row.integration_id)?.ok_or(DomainError::NotFound)?;
    let service_row = crate::db::services::find_by_id(conn, integration_row.service_id)?
        .ok_or(DomainError::NotFound)?;
    let service = services::find_visible(conn, actor, &service_row.unique_id)?;
    let can_manage = access::can_manage_team(conn, actor, service.row.team_id)?;
    let attempts = deliveries::attempts(conn, row.id)?;
    Ok(DeliveryDetail {
        service,
        integration: Integration::from(integration_row).as_seen(can_manage),
        can_manage,
        delivery: view(conn, row)?,
        attempts,
    })
}

/// Sends the same body again as a new delivery (a new webhook-id), for those who manage the
/// integration's team. Returns its webhook-id.
pub async fn redeliver(db: &Db, actor: &User, webhook_id: &str) -> Result<String, DomainError> {
    let detail = detail(db, actor, webhook_id).await?;
    if !detail.can_manage {
        return Err(access::not_a_manager());
    }
    if !detail.integration.row.is_enabled || detail.integration.row.deleted_at.is_some() {
        return Err(DomainError::Conflict(
            "The integration is disabled: enable it before redelivering.".into(),
        ));
    }
    let row = detail.delivery.row;
    db.write(move |conn| outbox::enqueue_again(conn, &row))
        .await
}

/// Queues a seed-shaped sample "triggered" payload for the integration, marked as a test; no
/// incident is touched. For those who manage the integration's team. Returns its webhook-id.
pub async fn send_test_event(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<String, DomainError> {
    let (actor, service_uid, integration_uid) = (
        actor.clone(),
        service_uid.to_owned(),
        integration_uid.to_owned(),
    );
    db.write(move |conn| {
        let (service, integration) =
            find_managed_in_service(conn, &actor, &service_uid, &integration_uid)?;
        if !integration.is_outgoing_webhook() || !integration.is_configured() {
            return Err(DomainError::Conflict(
                "Set the URL first: there is nowhere to send a test event.".into(),
            ));
        }
        if !integration.row.is_enabled {
            return Err(DomainError::Conflict(
                "The integration is disabled: enable it before sending a test event.".into(),
            ));
        }
        outbox::enqueue_test_event(conn, &actor, &service.row, integration.row.id)
    })
    .await
}
