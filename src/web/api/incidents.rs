//! `/api/incidents/`: create, get, update (status through the same transitions as the pages),
//! list and filter, notes and alerts, in Zenduty's JSON shapes.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::domain::incidents::{
    self, IncidentChanges, IncidentRecord, ListQuery, NoteForm, Status, TriggerForm,
};
use crate::domain::{DomainError, Page, MAX_PAGE_NUMBER};
use crate::time_format::utc;
use crate::web::AppState;
use crate::zenduty::{self, Incident};

/// Largest page of a list.
pub const MAX_PAGE_SIZE: i64 = 100;
/// Most services one filter may name.
pub const MAX_FILTER_SERVICES: usize = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/incidents/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::resource("/api/incidents/filter/").route(web::post().to(filter)))
    .service(
        super::resource("/api/incidents/{incident}/")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::patch().to(update)),
    )
    .service(
        super::resource("/api/incidents/{incident}/note/")
            .route(web::get().to(notes))
            .route(web::post().to(add_note)),
    )
    .service(super::resource("/api/incidents/{incident}/alerts/").route(web::get().to(alerts)));
}

/// An incident in Zenduty's JSON shape (the builder the webhook payload shares).
fn incident_json(record: &IncidentRecord) -> Value {
    let service = &record.service;
    let assignee = record.assignee.as_ref().map(zenduty::User::from);
    let created_by = Some(record.service_created_by.clone());
    Incident::new(
        &record.row,
        zenduty::Service::new(
            &service.row,
            &service.team_unique_id,
            created_by,
            service.escalation_policy_uid(),
        ),
        assignee,
        record.merged_with.clone(),
    )
    .into_api(&service.team_name, service.is_under_maintenance())
}

/// Zenduty's page envelope. `next` and `previous` keep every other query parameter (page size,
/// filters), so following them walks the same list.
fn page_json<T>(req: &HttpRequest, page: &Page<T>, count: i64, items: Vec<Value>) -> Value {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(key, _)| key != "page")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let link = |number: i64| {
        let mut url = req.full_url();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(&kept)
            .append_pair("page", &number.to_string());
        url.to_string()
    };
    json!({
        "count": count,
        "next": page.has_more.then(|| link(page.next_number())),
        "previous": page.has_previous().then(|| link(page.previous_number())),
        "results": items,
    })
}

fn string_field(body: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{field}: must be a string"))),
    }
}

fn int_field(body: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(ApiError::BadRequest(format!(
            "{field}: must be a whole number"
        ))),
    }
}

/// A whole number that must fit an `i32` column: out of range is a 400, never a truncation.
fn i32_field(body: &Value, field: &str) -> Result<Option<i32>, ApiError> {
    int_field(body, field)?
        .map(|n| {
            i32::try_from(n)
                .map_err(|_| ApiError::BadRequest(format!("{field}: {n} is out of range")))
        })
        .transpose()
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let form = TriggerForm {
        service: string_field(&body, "service")?.unwrap_or_default(),
        title: string_field(&body, "title")?.unwrap_or_default(),
        summary: string_field(&body, "summary")?.unwrap_or_default(),
        urgency: i32_field(&body, "urgency")?.unwrap_or(1).to_string(),
        assignee: string_field(&body, "assigned_to")?.unwrap_or_default(),
    };
    let record = incidents::trigger_record(&state.db, &me, &form).await?;
    Ok(HttpResponse::Created().json(incident_json(&record)))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(incident_json(
        &incidents::record(&state.db, &me, &path).await?,
    )))
}

async fn update(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let changes = IncidentChanges {
        title: string_field(&body, "title")?,
        summary: string_field(&body, "summary")?,
        status: i32_field(&body, "status")?,
    };
    let (record, _moved) = incidents::update(&state.db, &me, &path, changes).await?;
    Ok(HttpResponse::Ok().json(incident_json(&record)))
}

/// Page and page size from the query string: a page number from 1 to `MAX_PAGE_NUMBER` and a
/// page size from 1 to `MAX_PAGE_SIZE`; anything else answers 400 (never a silent first page,
/// never an unbounded one).
fn paging(req: &HttpRequest, default_size: i64) -> Result<(i64, i64), ApiError> {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let page = match get("page") {
        None => 1,
        Some(raw) => page_number(raw.trim().parse().ok())?,
    };
    let size = match get("page_size") {
        None => page_size(Some(default_size))?,
        Some(raw) => page_size(raw.trim().parse().ok())?,
    };
    Ok((page, size))
}

/// A page number in range, or the 400 that says what range is.
fn page_number(value: Option<i64>) -> Result<i64, ApiError> {
    value
        .filter(|n| (1..=MAX_PAGE_NUMBER).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "page: must be a whole number from 1 to {MAX_PAGE_NUMBER}"
            ))
        })
}

/// A page size in range, or the 400 that says what range is.
fn page_size(value: Option<i64>) -> Result<i64, ApiError> {
    value
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "page_size: must be a whole number from 1 to {MAX_PAGE_SIZE}"
            ))
        })
}

async fn listing(
    req: &HttpRequest,
    state: &AppState,
    me: &crate::domain::users::User,
    query: ListQuery,
    size: i64,
) -> Result<HttpResponse, ApiError> {
    let page = incidents::list_records(&state.db, me, &query, size).await?;
    let count = incidents::count(&state.db, me, &query).await?;
    let items = page.items.iter().map(incident_json).collect();
    Ok(HttpResponse::Ok().json(page_json(req, &page, count, items)))
}

/// `GET /api/incidents/?status=1&page=1&page_size=10`: newest first.
async fn list(
    req: HttpRequest,
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (page, size) = paging(&req, 10)?;
    let status = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| status_name(v.parse().ok()));
    let query = ListQuery {
        status: Some(status.unwrap_or("all").to_owned()),
        page: Some(page.to_string()),
        ..ListQuery::default()
    };
    listing(&req, &state, &me, query, size).await
}

/// The list filter's name for a status code (`all` for none, or an unknown one).
fn status_name(code: Option<i64>) -> &'static str {
    code.and_then(|code| i32::try_from(code).ok())
        .and_then(Status::from_code)
        .map_or("all", Status::word)
}

/// `POST /api/incidents/filter/?page=&page_size=` with `{"status": 1, "service_ids": [...]}`.
async fn filter(
    req: HttpRequest,
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let body_size = int_field(&body, "page_size")?
        .map(Some)
        .map(page_size)
        .transpose()?;
    let (page, size) = paging(&req, body_size.unwrap_or(10))?;
    let page = match int_field(&body, "page")? {
        Some(number) if !query_has(&req, "page") => page_number(Some(number))?,
        _ => page,
    };
    let service_ids = match body.get("service_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) if ids.len() > MAX_FILTER_SERVICES => {
            return Err(ApiError::BadRequest(format!(
                "service_ids: name at most {MAX_FILTER_SERVICES} services ({} given)",
                ids.len()
            )))
        }
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| {
                id.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::BadRequest("service_ids: must be a list of strings".into())
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "service_ids: must be a list of strings".into(),
            ))
        }
    };
    let query = ListQuery {
        status: Some(status_name(int_field(&body, "status")?).to_owned()),
        page: Some(page.to_string()),
        service_ids,
        ..ListQuery::default()
    };
    listing(&req, &state, &me, query, size).await
}

/// Whether the query string names this parameter.
fn query_has(req: &HttpRequest, name: &str) -> bool {
    url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == name)
}

fn note_json(
    incident_number: i64,
    note: &crate::db::incidents::NoteRow,
    username: &str,
    name: &str,
) -> Value {
    json!({
        "unique_id": note.unique_id,
        "incident": incident_number,
        "user": username,
        "note": note.note,
        "user_name": name,
        "creation_date": utc(&note.creation_date),
    })
}

async fn notes(
    req: HttpRequest,
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (page, size) = paging(&req, 50)?;
    let (incident, notes, total) =
        incidents::notes(&state.db, &me, &path, None, page, size).await?;
    let items = notes
        .items
        .iter()
        .map(|(note, username, name)| note_json(incident.incident_number, note, username, name))
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(page_json(&req, &notes, total, items)))
}

async fn add_note(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let note = string_field(&body, "note")?.unwrap_or_default();
    let record = incidents::record(&state.db, &me, &path).await?;
    let note_id = incidents::add_note(
        &state.db,
        &me,
        record.row.incident_number,
        &NoteForm { note },
    )
    .await
    .map_err(|error| match error {
        DomainError::Invalid(errors) => ApiError::BadRequest(format!(
            "note: {}",
            errors.get("note").unwrap_or("is invalid")
        )),
        other => other.into(),
    })?;
    let (incident, notes, _) = incidents::notes(&state.db, &me, &path, Some(note_id), 1, 1).await?;
    let (note, username, name) = notes
        .items
        .first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("note not found after insert")))?;
    Ok(HttpResponse::Created().json(note_json(incident.incident_number, note, username, name)))
}

async fn alerts(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (record, alerts) = incidents::alerts(&state.db, &me, &path).await?;
    let results: Vec<Value> = alerts
        .iter()
        .map(|(alert, integration)| {
            json!({
                "integration_object": {
                    "name": integration.name,
                    "creation_date": utc(&integration.created_at),
                    "summary": integration.summary,
                    "unique_id": integration.unique_id,
                    "service": record.service.row.unique_id,
                    "team": record.service.team_unique_id,
                    "integration_key": integration.integration_key.clone().unwrap_or_default(),
                    "is_enabled": integration.is_enabled,
                    "integration_type": integration.integration_type,
                },
                "summary": alert.summary,
                "incident": record.row.incident_number,
                "creation_date": utc(&alert.creation_date),
                "message": alert.message,
                "integration": integration.unique_id,
                "suppressed": alert.suppressed,
                "entity_id": alert.entity_id,
                "alert_type": alert.alert_type,
                "unique_id": alert.unique_id,
                "images": [],
                "notes": [],
                "urls": serde_json::from_str::<Value>(&alert.urls).unwrap_or_else(|_| json!([])),
                "payload": serde_json::from_str::<Value>(&alert.payload).unwrap_or_else(|_| json!({})),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({"count": results.len(), "next": null, "previous": null, "results": results})))
}
