//! `/api/account/teams/{team}/escalation_policies/` (rules and targets nested, as Zenduty sends
//! them) and `/api/account/teams/{team}/oncall/`.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::domain::escalation_policies::{self as policies, Policy, PolicyForm, RuleInput};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/{team}/escalation_policies/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/api/account/teams/{team}/escalation_policies/{policy}/")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(super::resource("/api/account/teams/{team}/oncall/").route(web::get().to(on_call)));
}

/// The policy's own keys, as Zenduty's on-call answer nests them (no rules, no team).
fn policy_fields(policy: &Policy) -> Map<String, Value> {
    let row = &policy.row;
    let value = json!({
        "unique_id": row.unique_id,
        "name": row.name,
        "summary": row.summary,
        "description": row.description,
        "repeat_policy": row.repeat_policy,
        "move_to_next": row.move_to_next,
        "global_ep": false,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A policy in Zenduty's shape: exactly the keys its SDK's model takes (`connections`: how
/// many services use it; assignment settings are not modelled).
fn policy_json(policy: &Policy) -> Value {
    let mut fields = policy_fields(policy);
    fields.insert("team".into(), json!(policy.team.unique_id));
    fields.insert("connections".into(), json!(policy.services));
    fields.insert("assignment_settings".into(), Value::Null);
    let rules: Vec<Value> = policy
        .rules
        .iter()
        .map(|rule| {
            json!({
                "unique_id": rule.unique_id,
                "delay": rule.delay,
                "position": rule.position,
                "targets": rule.targets.iter().map(|t| json!({
                    "target_type": t.target_type,
                    "target_id": t.target_id,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    fields.insert("rules".into(), Value::Array(rules));
    Value::Object(fields)
}

fn string_into(
    object: &Map<String, Value>,
    field: &str,
    slot: &mut String,
) -> Result<(), ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            slot.clone_from(s);
            Ok(())
        }
        Some(_) => Err(ApiError::BadRequest(format!("{field}: must be a string"))),
    }
}

/// The rules of a body, in the order of their `position` where given (else as listed).
fn rules_from_json(value: &Value) -> Result<Vec<RuleInput>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::BadRequest("rules: must be a list".into()));
    };
    let mut rules = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let bad = |message: &str| ApiError::BadRequest(format!("rules[{index}]: {message}"));
        let Value::Object(rule) = item else {
            return Err(bad("must be an object"));
        };
        let delay = match rule.get("delay") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| bad("delay must be a number"))?,
            Some(_) => return Err(bad("delay must be a number of minutes")),
        };
        // Zenduty's Python SDK spells it "postition".
        let position = match rule.get("position").or_else(|| rule.get("postition")) {
            None | Some(Value::Null) => i64::try_from(index).unwrap_or(i64::MAX),
            Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or_default(),
            Some(_) => return Err(bad("position must be a whole number")),
        };
        let unique_id = match rule.get("unique_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("unique_id must be a string")),
        };
        let Some(Value::Array(target_items)) = rule.get("targets") else {
            return Err(bad("targets must be a list"));
        };
        let mut targets = Vec::with_capacity(target_items.len());
        for target in target_items {
            let target_type = target
                .get("target_type")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("each target needs target_type 1 (schedule) or 2 (user)"))?;
            let target_id = target
                .get("target_id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("each target needs a target_id string"))?;
            targets.push((target_type, target_id.to_owned()));
        }
        rules.push((
            position,
            RuleInput {
                unique_id,
                delay,
                targets,
            },
        ));
    }
    rules.sort_by_key(|(position, _)| *position);
    Ok(rules.into_iter().map(|(_, rule)| rule).collect())
}

/// The form the pages use, filled from a JSON body (fields not given keep `current`'s
/// values), and the rules when the body has them.
fn input_from_json(
    body: &Value,
    current: Option<&Policy>,
) -> Result<(PolicyForm, Option<Vec<RuleInput>>), ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::BadRequest("body: must be a JSON object".into()));
    };
    let mut form = current
        .map(|p| PolicyForm::from_row(&p.row))
        .unwrap_or_default();
    string_into(object, "name", &mut form.name)?;
    string_into(object, "summary", &mut form.summary)?;
    string_into(object, "description", &mut form.description)?;
    match object.get("repeat_policy") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_i64() => form.repeat_policy = n.to_string(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "repeat_policy: must be a whole number from 0 to 10".into(),
            ))
        }
    }
    match object.get("move_to_next") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(on)) => form.move_to_next = on.then(|| "on".to_owned()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "move_to_next: must be true or false".into(),
            ))
        }
    }
    if current.is_none() && form.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name: is required".into()));
    }
    let rules = match object.get("rules") {
        None | Some(Value::Null) => None,
        Some(value) => Some(rules_from_json(value)?),
    };
    Ok((form, rules))
}

async fn list(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let all = policies::all_in_team(&state.db, &me, &path).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(policy_json).collect::<Vec<_>>()))
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The team first: another team's id is a 404, a team user's request a 403, before the
    // body is read.
    policies::team_to_change(&state.db, &me, &path).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let (form, rules) = input_from_json(&body, None)?;
    let policy = policies::create(
        &state.db,
        &me,
        &path,
        &form,
        rules.as_deref().unwrap_or(&[]),
    )
    .await?;
    Ok(HttpResponse::Created().json(policy_json(&policy)))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, policy) = path.into_inner();
    let policy = policies::get(&state.db, &me, &team, &policy).await?;
    Ok(HttpResponse::Ok().json(policy_json(&policy)))
}

async fn update(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team, policy) = path.into_inner();
    let current = policies::get_to_change(&state.db, &me, &team, &policy).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let (form, rules) = input_from_json(&body, Some(&current))?;
    let updated = policies::update(&state.db, &me, &team, &policy, &form, rules.as_deref()).await?;
    Ok(HttpResponse::Ok().json(policy_json(&updated)))
}

async fn delete(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, policy) = path.into_inner();
    policies::delete(&state.db, &me, &team, &policy).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Zenduty's `OnCall` objects: each policy of the team with everyone its rules reach now, in
/// level order (the pages show them level by level).
async fn on_call(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let all = policies::all_in_team(&state.db, &me, &path).await?;
    let out: Vec<Value> = all
        .iter()
        .map(|policy| {
            json!({
                "escalation_policy": Value::Object(policy_fields(policy)),
                "team": {"unique_id": policy.team.unique_id, "name": policy.team.name},
                "users": policy.users_on_call().iter().map(|u| json!({
                    "username": u.username,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "email": u.email,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
