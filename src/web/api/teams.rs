//! `/api/account/teams/`: list, create and get teams, in Zenduty's JSON shape.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::db::teams::MembershipRow;
use crate::domain::accounts;
use crate::domain::teams::{self, MemberForm, TeamForm, TeamRecord};
use crate::time_format::utc;
use crate::web::AppState;
use crate::zenduty;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::resource("/api/account/teams/{team}/").route(web::get().to(get)))
    .service(
        super::resource("/api/account/teams/{team}/members/")
            .route(web::get().to(list_members))
            .route(web::post().to(add_member)),
    )
    .service(
        super::resource("/api/account/teams/{team}/members/{member}/")
            .route(web::get().to(get_member))
            .route(web::patch().to(change_member))
            .route(web::put().to(change_member))
            .route(web::delete().to(remove_member)),
    );
}

fn member_json(
    team_uid: &str,
    user: &crate::domain::users::User,
    membership: &MembershipRow,
) -> Value {
    json!({
        "unique_id": membership.unique_id,
        "team": team_uid,
        "user": zenduty::User::from(user),
        "joining_date": utc(&membership.joined_at),
        "role": membership.role,
    })
}

async fn list_members(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (team, members) = teams::memberships(&state.db, &me, &path).await?;
    Ok(HttpResponse::Ok().json(
        members
            .iter()
            .map(|(user, membership)| member_json(&team.unique_id, user, membership))
            .collect::<Vec<_>>(),
    ))
}

async fn get_member(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, user, membership) = teams::membership(&state.db, &me, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(member_json(&team.unique_id, &user, &membership)))
}

/// The `role` of a member body: 1 (manager) or 2 (user); `default` when absent.
fn role_in(body: &Value, default: Option<i32>) -> Result<i32, ApiError> {
    match (body.get("role"), default) {
        (None | Some(Value::Null), Some(role)) => Ok(role),
        (Some(Value::Number(n)), _) if matches!(n.as_i64(), Some(1 | 2)) => {
            Ok(n.as_i64().unwrap_or_default() as i32)
        }
        _ => Err(ApiError::BadRequest(
            "role: must be 1 (manager) or 2 (user)".into(),
        )),
    }
}

async fn add_member(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let Some(Value::String(person)) = body.get("user") else {
        return Err(ApiError::BadRequest(
            "user: the username (or email address) of the person to add".into(),
        ));
    };
    let role = role_in(&body, Some(2))?;
    // Owners and admins pick anyone by username; a team's managers name people by email address
    // (as on the team page), so that the API lists no accounts to them either.
    let (username, email) = match person.contains('@') {
        true => (String::new(), person.clone()),
        false => (person.clone(), String::new()),
    };
    let form = MemberForm {
        username,
        email,
        role: role.to_string(),
    };
    let user = teams::add_member(&state.db, &me, &path, &form).await?;
    let (team, members) = teams::memberships(&state.db, &me, &path).await?;
    let (user, membership) = members
        .iter()
        .find(|(member, _)| member.id == user.id)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the new member is not listed")))?;
    Ok(HttpResponse::Created().json(member_json(&team.unique_id, user, membership)))
}

async fn change_member(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let role = role_in(&body, None)?;
    teams::change_member_role(&state.db, &me, &path.0, &path.1, role).await?;
    let (team, user, membership) = teams::membership(&state.db, &me, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(member_json(&team.unique_id, &user, &membership)))
}

async fn remove_member(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, user, _) = teams::membership(&state.db, &me, &path.0, &path.1).await?;
    teams::remove_member(&state.db, &me, &path.0, &user.username).await?;
    Ok(HttpResponse::NoContent().finish())
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
