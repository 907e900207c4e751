//! The Events API: monitoring tools post alerts to `/api/events/{integration_key}/`.

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use crate::domain::alerts::{self, Event, Received};
use crate::web::format::utc;
use crate::web::AppState;

/// Largest event body accepted.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in [
        "/api/events/{integration_key}/",
        "/api/events/{integration_key}",
    ] {
        cfg.service(super::resource(path).route(web::post().to(receive)));
    }
}

async fn receive(
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .events_rate_limit
        .check(&path)
        .map_err(ApiError::TooManyRequests)?;
    let body = super::read_json(payload, MAX_EVENT_BYTES).await?;
    let event =
        Event::from_json(&body).map_err(|errors| ApiError::BadRequest(errors.to_string()))?;
    let received = alerts::receive(&state.db, &path, event)
        .await
        .map_err(|error| match error {
            crate::domain::DomainError::NotFound => {
                ApiError::NotFound("No integration has this key.".into())
            }
            other => other.into(),
        })?;
    if received.changed_incident {
        state.deliveries.wake();
    }
    Ok(HttpResponse::Created().json(alert_json(&received)))
}

/// The alert as Zenduty's Events API answers it (the SDK's `Event`).
fn alert_json(received: &Received) -> serde_json::Value {
    let alert = &received.alert;
    serde_json::json!({
        "unique_id": alert.unique_id,
        "integration_object": {
            "name": received.integration.name,
            "creation_date": utc(&received.integration.created_at),
            "summary": received.integration.summary,
            "unique_id": received.integration.unique_id,
            "service": received.service_unique_id,
            "team": received.team_unique_id,
            "integration_key": received.integration.integration_key,
            "is_enabled": received.integration.is_enabled,
            "integration_type": received.integration.integration_type,
        },
        "integration": received.integration.unique_id,
        "images": [],
        "notes": [],
        "creation_date": utc(&alert.creation_date),
        "message": alert.message,
        "summary": alert.summary,
        "incident": received.incident_number,
        "incident_created": received.incident_created,
        "alert_type": alert.alert_type,
        "suppressed": alert.suppressed,
        "entity_id": alert.entity_id,
        "payload": serde_json::from_str::<serde_json::Value>(&alert.payload).unwrap_or_default(),
        "urls": serde_json::from_str::<serde_json::Value>(&alert.urls).unwrap_or_default(),
    })
}
