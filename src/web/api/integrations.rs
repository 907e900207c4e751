//! `/api/account/teams/{team}/services/{service}/integrations/`: list, create, get.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::domain::integrations::{self, Application, Integration, IntegrationSettings};
use crate::domain::services::Service;
use crate::time_format::utc;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/{team}/services/{service}/integrations/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/api/account/teams/{team}/services/{service}/integrations/{integration}/")
            .route(web::get().to(get)),
    );
}

fn integration_json(service: &Service, integration: &Integration) -> Value {
    let row = &integration.row;
    let application = Application::from_name(&row.application);
    json!({
        "name": row.name,
        "creation_date": utc(&row.created_at),
        "summary": row.summary,
        "unique_id": row.unique_id,
        "service": service.row.unique_id,
        "team": service.team_unique_id,
        "application": application.map(Application::unique_id),
        "application_reference": application.map(|a| json!({"name": a.name(), "unique_id": a.unique_id(), "summary": a.description()})),
        "integration_key": row.integration_key,
        "created_by": null,
        "is_enabled": row.is_enabled,
        "create_incidents_for": row.create_incidents_for,
        "integration_type": row.integration_type,
        "default_urgency": row.default_urgency,
        "webhook_url": row.url.clone().unwrap_or_default(),
    })
}

async fn service_in_team(
    state: &AppState,
    me: &crate::domain::users::User,
    team: &str,
    service: &str,
) -> Result<(Service, Vec<Integration>), ApiError> {
    let (found, list) = integrations::list(&state.db, me, service).await?;
    if found.team_unique_id != team {
        return Err(ApiError::NotFound("Not found.".into()));
    }
    Ok((found, list))
}

async fn list(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, service) = path.into_inner();
    let (service, list) = service_in_team(&state, &me, &team, &service).await?;
    Ok(HttpResponse::Ok().json(
        list.iter()
            .map(|i| integration_json(&service, i))
            .collect::<Vec<_>>(),
    ))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, service, integration) = path.into_inner();
    let (service, list) = service_in_team(&state, &me, &team, &service).await?;
    let found = list
        .iter()
        .find(|i| i.row.unique_id == integration)
        .ok_or_else(|| ApiError::NotFound("Not found.".into()))?;
    Ok(HttpResponse::Ok().json(integration_json(&service, found)))
}

fn optional<T>(
    body: &Value,
    field: &str,
    read: impl Fn(&Value) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => read(value)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{field}: must be {expected}"))),
    }
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team, service_uid) = path.into_inner();
    let (service, _) = service_in_team(&state, &me, &team, &service_uid).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let application_id = optional(
        &body,
        "application",
        |v| v.as_str().map(str::to_owned),
        "a string",
    )?
    .ok_or_else(|| ApiError::BadRequest("application: is required".into()))?;
    let application = Application::from_unique_id(&application_id).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "application: must be {} (API) or {} (Outgoing Webhooks)",
            Application::Api.unique_id(),
            Application::OutgoingWebhooks.unique_id()
        ))
    })?;
    let settings = IntegrationSettings {
        name: optional(&body, "name", |v| v.as_str().map(str::to_owned), "a string")?,
        summary: optional(
            &body,
            "summary",
            |v| v.as_str().map(str::to_owned),
            "a string",
        )?,
        default_urgency: optional(
            &body,
            "default_urgency",
            // Out of an i32's range is wrong, not truncated (4294967297 is not 1).
            |v| v.as_i64().and_then(|n| i32::try_from(n).ok()),
            "0 (low) or 1 (high)",
        )?,
        create_incidents_for: optional(
            &body,
            "create_incidents_for",
            |v| v.as_i64().and_then(|n| i32::try_from(n).ok()),
            "a whole number from 0 to 3",
        )?,
        is_enabled: optional(&body, "is_enabled", Value::as_bool, "true or false")?,
    };
    let created = integrations::create_with_settings(
        &state.db,
        &me,
        &service.row.unique_id,
        application,
        settings,
    )
    .await?;
    Ok(HttpResponse::Created().json(integration_json(&service, &created)))
}
