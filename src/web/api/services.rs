//! `/api/account/teams/{team}/services/`: services in Zenduty's JSON shape.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::domain::services::{
    self, Removal, Service, ServiceForm, NO_POLICY, STATUS_UNDER_MAINTENANCE,
};
use crate::domain::teams;
use crate::web::AppState;
use crate::zenduty::{self, ApiService};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/{team}/services/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/api/account/teams/{team}/services/{service}/")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// A service in Zenduty's JSON shape (the builder the webhook payload and incidents share).
fn service_json(service: &Service, created_by: &str) -> Value {
    json!(ApiService {
        service: zenduty::Service::new(
            &service.row,
            &service.team_unique_id,
            Some(created_by.to_owned()),
            service.escalation_policy_uid(),
        ),
        team_name: service.team_name.clone(),
        under_maintenance: service.is_under_maintenance(),
    })
}

/// The form the pages use, filled from a JSON body (fields not given keep `current`'s values).
fn form_from_json(
    body: &Value,
    team: &str,
    current: Option<&Service>,
) -> Result<ServiceForm, ApiError> {
    let mut form = current.map(ServiceForm::from_service).unwrap_or_default();
    form.team = team.to_owned();
    let Some(object) = body.as_object() else {
        return Err(ApiError::BadRequest("body: must be a JSON object".into()));
    };
    for (field, slot) in [
        ("name", &mut form.name),
        ("summary", &mut form.summary),
        ("description", &mut form.description),
    ] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => *slot = s.clone(),
            Some(_) => return Err(ApiError::BadRequest(format!("{field}: must be a string"))),
        }
    }
    for (field, slot) in [
        ("status", &mut form.status),
        ("auto_resolve_timeout", &mut form.auto_resolve_timeout),
        ("acknowledgement_timeout", &mut form.acknowledgement_timeout),
        ("collation", &mut form.collation),
        ("collation_time", &mut form.collation_time),
    ] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() => *slot = n.to_string(),
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "{field}: must be a whole number"
                )))
            }
        }
    }
    // A policy's unique_id; null for none. Not given: kept, or the team's Default for a new
    // service.
    match object.get("escalation_policy") {
        None => {}
        Some(Value::Null) => form.escalation_policy = NO_POLICY.to_owned(),
        Some(Value::String(s)) if s.trim().is_empty() => {
            form.escalation_policy = NO_POLICY.to_owned()
        }
        Some(Value::String(s)) => form.escalation_policy = s.clone(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "escalation_policy: must be a policy's unique_id or null".into(),
            ))
        }
    }
    match object.get("under_maintenance") {
        Some(Value::Bool(true)) => form.status = STATUS_UNDER_MAINTENANCE.to_string(),
        Some(Value::Bool(false)) | None | Some(Value::Null) => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "under_maintenance: must be true or false".into(),
            ))
        }
    }
    if current.is_none() && form.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name: is required".into()));
    }
    Ok(form)
}

async fn creator(state: &AppState, service: &Service) -> Result<String, ApiError> {
    let id = service.row.created_by;
    let username = state
        .db
        .run(move |conn| {
            Ok::<_, crate::db::DbError>(match id {
                Some(id) => crate::db::users::find_by_id(conn, id)?.map(|u| u.username),
                None => None,
            })
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(username.unwrap_or_default())
}

/// A service of the team in the path, visible to the caller (and, `to_change`, one they may
/// change: a team user gets 403 before the body is read).
async fn find(
    state: &AppState,
    me: &crate::domain::users::User,
    team: &str,
    service: &str,
    to_change: bool,
) -> Result<Service, ApiError> {
    let found = services::get(&state.db, me, service).await?;
    if found.team_unique_id != team {
        return Err(ApiError::NotFound("Not found.".into()));
    }
    if to_change {
        return Ok(services::get_to_change(&state.db, me, service).await?);
    }
    Ok(found)
}

async fn list(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    teams::record_by_id(&state.db, &me, &path).await?;
    let mut out = Vec::new();
    for listed in services::list_in_team(&state.db, &me, &path).await? {
        let created_by = creator(&state, &listed).await?;
        out.push(service_json(&listed, &created_by));
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    teams::record_by_id(&state.db, &me, &path).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let form = form_from_json(&body, &path, None)?;
    let service = services::create(&state.db, &me, &form).await?;
    Ok(HttpResponse::Created().json(service_json(&service, &me.username)))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, service) = path.into_inner();
    let service = find(&state, &me, &team, &service, false).await?;
    let created_by = creator(&state, &service).await?;
    Ok(HttpResponse::Ok().json(service_json(&service, &created_by)))
}

async fn update(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team, service) = path.into_inner();
    let current = find(&state, &me, &team, &service, true).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let form = form_from_json(&body, &team, Some(&current))?;
    let updated = services::update(&state.db, &me, &service, &form).await?;
    let created_by = creator(&state, &updated).await?;
    Ok(HttpResponse::Ok().json(service_json(&updated, &created_by)))
}

async fn delete(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, service) = path.into_inner();
    find(&state, &me, &team, &service, true).await?;
    match services::delete(&state.db, &me, &service, false).await?.1 {
        Removal::Deleted => Ok(HttpResponse::NoContent().finish()),
        Removal::Kept(reason) | Removal::Disabled(reason) => Err(ApiError::Conflict(format!(
            "The service cannot be deleted: {reason}. Set its status to 0 to disable it."
        ))),
    }
}
