//! `/api/account/teams/`: list, create and get teams, in Zenduty's JSON shape.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::domain::accounts;
use crate::domain::teams::{self, TeamForm, TeamRecord};
use crate::time_format::utc;
use crate::web::AppState;
use crate::zenduty;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::resource("/api/account/teams/{team}/").route(web::get().to(get)));
}

fn team_json(record: &TeamRecord, account: &str) -> Value {
    let team = &record.team;
    json!({
        "unique_id": team.unique_id,
        "name": team.name,
        "account": account,
        "creation_date": utc(&team.created_at),
        "members": record.members.iter().map(|(user, membership)| json!({
            "unique_id": membership.unique_id,
            "team": team.unique_id,
            "user": zenduty::User::from(user),
            "joining_date": utc(&membership.joined_at),
            "role": membership.role,
        })).collect::<Vec<_>>(),
        "owner": record.owner,
        "roles": [],
        "private": false,
        "account_permissions": [],
    })
}

async fn account(state: &AppState) -> Result<String, ApiError> {
    accounts::account_id(&state.db)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
}

async fn list(ApiUser(me): ApiUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = account(&state).await?;
    let records = teams::records(&state.db, &me).await?;
    Ok(HttpResponse::Ok().json(
        records
            .iter()
            .map(|r| team_json(r, &account))
            .collect::<Vec<_>>(),
    ))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account(&state).await?;
    let record = teams::record_by_id(&state.db, &me, &path).await?;
    Ok(HttpResponse::Ok().json(team_json(&record, &account)))
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let name = match body.get("name") {
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(ApiError::BadRequest("name: must be a string".into())),
        None => return Err(ApiError::BadRequest("name: is required".into())),
    };
    let team = teams::create_team(&state.db, &me, &TeamForm { name }).await?;
    let record = teams::record_by_id(&state.db, &me, &team.unique_id).await?;
    let account = account(&state).await?;
    Ok(HttpResponse::Created().json(team_json(&record, &account)))
}
