//! The Events API: monitoring tools post alerts to `/api/events/{integration_key}/`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use crate::db::DbError;
use crate::domain::alerts::{self, Event, Received};
use crate::time_format::utc;
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
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let limits = &state.events_rate_limit;
    // A client that keeps trying keys no integration has is refused before the lookup.
    let client = crate::web::client_address::of(&req, &state.config.trusted_proxies);
    if let Err(wait) = limits.admit(&path, &client) {
        // Held back: unless the key exists after all (one reload of every key, now and then).
        if limits.claim_reload() {
            let keys = state
                .db
                .run(|conn| crate::db::integrations::live_keys(conn).map_err(DbError::from))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?;
            limits.set_known(keys);
        }
        if !limits.is_known(&path) {
            return Err(ApiError::UnknownKeysThrottled(wait));
        }
    }
    limits.check(&path).map_err(ApiError::TooManyRequests)?;
    let body = super::read_json(payload, MAX_EVENT_BYTES).await?;
    let event =
        Event::from_json(&body).map_err(|errors| ApiError::BadRequest(errors.to_string()))?;
    let received = match alerts::receive(&state.db, &path, event).await {
        Ok(received) => received,
        Err(crate::domain::DomainError::NotFound) => {
            return Err(match limits.not_found(&path, &client) {
                Some(wait) => ApiError::UnknownKeysThrottled(wait),
                None => ApiError::NotFound("No integration has this key.".into()),
            })
        }
        Err(other) => {
            if matches!(other, crate::domain::DomainError::Forbidden(_)) {
                limits.found(&path);
            }
            return Err(other.into());
        }
    };
    limits.found(&path);
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
