//! `/api/account/teams/{team}/schedules/`: schedules with their layers and overrides, in
//! Zenduty's JSON shape (the fields its Python SDK's `Schedule` model reads).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::auth::ApiUser;
use super::error::ApiError;
use super::{read_json, MAX_JSON_BYTES};
use crate::db::schedules::NewRestriction;
use crate::domain::schedules::input::{
    InScheduleTime, LayerInput, OverrideInput, ScheduleForm, ScheduleInput,
};
use crate::domain::schedules::manage::{self, ScheduleChange};
use crate::domain::schedules::rotation::local_to_utc;
use crate::domain::schedules::views::{self, LayerView, OverrideView, ScheduleDetail};
use crate::domain::DomainError;
use crate::time_format;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/api/account/teams/{team}/schedules/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/api/account/teams/{team}/schedules/{schedule}/")
            .route(web::get().to(get))
            .route(web::put().to(update))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        super::resource("/api/account/teams/{team}/schedules/{schedule}/overrides/")
            .route(web::get().to(list_overrides))
            .route(web::post().to(create_override)),
    )
    .service(
        super::resource("/api/account/teams/{team}/schedules/{schedule}/overrides/{override_id}/")
            .route(web::delete().to(delete_override)),
    );
}

fn at(at: &DateTime<Utc>) -> String {
    time_format::utc(&at.naive_utc())
}

/// A stable id in UUID form for what has no id of its own: a layer's `index`th user or window
/// (`kind` tells which).
fn part_uuid(layer_id: i64, kind: u16, index: usize) -> String {
    format!(
        "{layer_id:08x}-0000-4000-{:04x}-{index:012x}",
        0x8000 | kind
    )
}

fn layer_json(layer: &LayerView) -> Value {
    json!({
        "unique_id": layer.unique_id,
        "name": layer.name,
        "shift_length": layer.shift_length,
        "rotation_start_time": at(&layer.rotation_start),
        "rotation_end_time": layer.rotation_end.as_ref().map(at),
        "restriction_type": layer.restriction_type,
        "restrictions": layer.restrictions.iter().enumerate().map(|(i, r)| json!({
            "unique_id": part_uuid(layer.id, 1, i),
            "duration": r.duration,
            "start_day_of_week": r.start_day_of_week,
            "start_time_of_day": r.start_time_of_day.format("%H:%M:%S").to_string(),
        })).collect::<Vec<_>>(),
        "users": layer.users.iter().enumerate().map(|(i, u)| json!({
            "unique_id": part_uuid(layer.id, 2, i),
            "user": u.username,
            "position": i + 1,
        })).collect::<Vec<_>>(),
        "is_active": layer.is_active,
        "last_edited": Value::Null,
    })
}

fn override_json(o: &OverrideView) -> Value {
    json!({
        "unique_id": o.unique_id,
        "name": o.name,
        "user": o.user.username,
        "start_time": at(&o.start),
        "end_time": at(&o.end),
    })
}

/// A schedule in Zenduty's shape: exactly the keys the SDK's `Schedule` takes.
pub fn schedule_json(detail: &ScheduleDetail) -> Value {
    json!({
        "unique_id": detail.row.unique_id,
        "name": detail.row.name,
        "summary": detail.row.summary,
        "description": detail.row.description,
        "time_zone": detail.row.time_zone,
        "team": detail.team_unique_id,
        "layers": detail.layers.iter().map(layer_json).collect::<Vec<_>>(),
        "overrides": detail.overrides.iter().map(override_json).collect::<Vec<_>>(),
        "connections": detail.connections,
        // Handovers of whole days and weeks keep their local time across daylight saving.
        "shift_time_in_dst": true,
    })
}

fn invalid(field: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::field(field, message)
}

fn object<'a>(value: &'a Value, what: &'static str) -> Result<&'a Map<String, Value>, DomainError> {
    value
        .as_object()
        .ok_or_else(|| invalid(what, "must be a JSON object"))
}

fn text(object: &Map<String, Value>, key: &'static str) -> Result<Option<String>, DomainError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

/// A whole number; a number with a fraction is refused unless the fraction is zero.
fn whole(object: &Map<String, Value>, key: &'static str) -> Result<Option<i64>, DomainError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a whole number")),
        Some(_) => Err(invalid(key, "must be a whole number")),
    }
}

/// An instant: RFC 3339 with an offset, or a local date and time (no offset) read in the
/// schedule's time zone, as the SDK's `datetime.isoformat()` writes naive times.
fn instant(
    object: &Map<String, Value>,
    key: &'static str,
    tz: Tz,
) -> Result<Option<DateTime<Utc>>, DomainError> {
    let Some(raw) = text(object, key)? else {
        return Ok(None);
    };
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
    .map(|local| Some(local_to_utc(tz, local)))
    .ok_or_else(|| {
        invalid(
            key,
            "must be a date and time such as 2026-03-29T09:00:00Z (or without an offset, in \
                 the schedule's time zone)",
        )
    })
}

fn array<'a>(value: &'a Value, key: &'static str) -> Result<&'a Vec<Value>, DomainError> {
    value
        .as_array()
        .ok_or_else(|| invalid(key, "must be a list"))
}

/// The layers of a body, read once the schedule's time zone is known.
struct JsonLayers(Value);

impl InScheduleTime for JsonLayers {
    type Output = Vec<LayerInput>;

    fn read(&self, tz: Tz) -> Result<Vec<LayerInput>, DomainError> {
        array(&self.0, "layers")?
            .iter()
            .enumerate()
            .map(|(i, layer)| read_layer(layer, i, tz))
            .collect()
    }
}

fn read_layer(value: &Value, index: usize, tz: Tz) -> Result<LayerInput, DomainError> {
    let layer = object(value, "layers")?;
    let rotation_start = instant(layer, "rotation_start_time", tz)?
        .ok_or_else(|| invalid("rotation_start_time", "is required"))?;
    let mut users: Vec<(i64, usize, String)> = Vec::new();
    if let Some(list) = layer.get("users").filter(|v| !v.is_null()) {
        for (order, entry) in array(list, "users")?.iter().enumerate() {
            match entry {
                Value::String(username) => users.push((i64::MAX, order, username.clone())),
                Value::Object(fields) => {
                    let username = text(fields, "user")?
                        .ok_or_else(|| invalid("users", "each needs a user (a username)"))?;
                    let position = whole(fields, "position")?.unwrap_or(i64::MAX);
                    users.push((position, order, username));
                }
                _ => {
                    return Err(invalid(
                        "users",
                        "must be usernames or {\"user\": username}",
                    ))
                }
            }
        }
    }
    // Positions order the users when given; the list's order otherwise.
    users.sort_by_key(|(position, order, _)| (*position, *order));
    let mut restrictions = Vec::new();
    if let Some(list) = layer.get("restrictions").filter(|v| !v.is_null()) {
        for entry in array(list, "restrictions")? {
            let fields = object(entry, "restrictions")?;
            restrictions.push(NewRestriction {
                start_day_of_week: i32::try_from(whole(fields, "start_day_of_week")?.unwrap_or(0))
                    .unwrap_or(-1),
                start_time_of_day: text(fields, "start_time_of_day")?.unwrap_or_default(),
                duration: whole(fields, "duration")?.unwrap_or(0),
            });
        }
    }
    let is_active = match layer.get("is_active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("is_active", "must be true or false")),
    };
    Ok(LayerInput {
        unique_id: text(layer, "unique_id")?,
        name: text(layer, "name")?.unwrap_or_else(|| format!("Layer {}", index + 1)),
        shift_length: whole(layer, "shift_length")?
            .ok_or_else(|| invalid("shift_length", "is required (seconds)"))?,
        rotation_start,
        rotation_end: instant(layer, "rotation_end_time", tz)?,
        restriction_type: i32::try_from(whole(layer, "restriction_type")?.unwrap_or(0))
            .unwrap_or(-1),
        restrictions,
        usernames: users.into_iter().map(|(_, _, u)| u).collect(),
        is_active,
    })
}

/// The overrides of a body (or one override, for the overrides route).
struct JsonOverrides(Value);

impl InScheduleTime for JsonOverrides {
    type Output = Vec<OverrideInput>;

    fn read(&self, tz: Tz) -> Result<Vec<OverrideInput>, DomainError> {
        array(&self.0, "overrides")?
            .iter()
            .map(|o| read_override(o, tz))
            .collect()
    }
}

struct JsonOverride(Value);

impl InScheduleTime for JsonOverride {
    type Output = OverrideInput;

    fn read(&self, tz: Tz) -> Result<OverrideInput, DomainError> {
        read_override(&self.0, tz)
    }
}

fn read_override(value: &Value, tz: Tz) -> Result<OverrideInput, DomainError> {
    let o = object(value, "overrides")?;
    Ok(OverrideInput {
        unique_id: text(o, "unique_id")?,
        name: text(o, "name")?.unwrap_or_default(),
        username: text(o, "user")?.unwrap_or_default(),
        start: instant(o, "start_time", tz)?.ok_or_else(|| invalid("start_time", "is required"))?,
        end: instant(o, "end_time", tz)?.ok_or_else(|| invalid("end_time", "is required"))?,
    })
}

/// The schedule's own fields from a body; absent ones keep `current`'s values.
fn fields_from_json(
    body: &Map<String, Value>,
    current: Option<&ScheduleDetail>,
) -> Result<ScheduleInput, DomainError> {
    let mut form = ScheduleForm::default();
    if let Some(current) = current {
        form.name = current.row.name.clone();
        form.summary = current.row.summary.clone();
        form.description = current.row.description.clone();
        form.time_zone = current.row.time_zone.clone();
    }
    for (key, slot) in [
        ("name", &mut form.name),
        ("summary", &mut form.summary),
        ("description", &mut form.description),
        ("time_zone", &mut form.time_zone),
    ] {
        if let Some(value) = text(body, key)? {
            *slot = value;
        }
    }
    form.check()
}

fn parts(body: &Map<String, Value>, key: &str) -> Option<Value> {
    body.get(key).filter(|v| !v.is_null()).cloned()
}

async fn list(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let schedules = views::details_in_team(&state.db, &me, &path).await?;
    Ok(HttpResponse::Ok().json(schedules.iter().map(schedule_json).collect::<Vec<_>>()))
}

async fn create(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let body = object(&body, "body")?;
    let change = ScheduleChange {
        fields: fields_from_json(body, None)?,
        layers: parts(body, "layers").map(JsonLayers),
        overrides: parts(body, "overrides").map(JsonOverrides),
    };
    let row = manage::create(&state.db, &me, &path, change).await?;
    let detail = views::get(&state.db, &me, &path, &row.unique_id).await?;
    Ok(HttpResponse::Created().json(schedule_json(&detail)))
}

async fn get(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule) = path.into_inner();
    let detail = views::get(&state.db, &me, &team, &schedule).await?;
    Ok(HttpResponse::Ok().json(schedule_json(&detail)))
}

/// PUT and PATCH alike: fields given change, absent ones stay; `layers` and `overrides`, when
/// given, replace the stored ones (entries with a stored `unique_id` keep it).
async fn update(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule) = path.into_inner();
    let current = views::get(&state.db, &me, &team, &schedule).await?;
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let body = object(&body, "body")?;
    let change = ScheduleChange {
        fields: fields_from_json(body, Some(&current))?,
        layers: parts(body, "layers").map(JsonLayers),
        overrides: parts(body, "overrides").map(JsonOverrides),
    };
    manage::update(&state.db, &me, &team, &schedule, change).await?;
    let detail = views::get(&state.db, &me, &team, &schedule).await?;
    Ok(HttpResponse::Ok().json(schedule_json(&detail)))
}

async fn delete(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule) = path.into_inner();
    manage::delete(&state.db, &me, &team, &schedule).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The overrides that have not ended, soonest first.
async fn list_overrides(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule) = path.into_inner();
    let detail = views::get(&state.db, &me, &team, &schedule).await?;
    let mut overrides: Vec<&OverrideView> = detail.overrides.iter().collect();
    overrides.sort_by_key(|o| o.start);
    Ok(HttpResponse::Ok().json(overrides.into_iter().map(override_json).collect::<Vec<_>>()))
}

async fn create_override(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule) = path.into_inner();
    let body = read_json(payload, MAX_JSON_BYTES).await?;
    let username = body
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let row = manage::add_override(&state.db, &me, &team, &schedule, JsonOverride(body)).await?;
    Ok(HttpResponse::Created().json(json!({
        "unique_id": row.unique_id,
        "name": row.name,
        "user": username,
        "start_time": time_format::utc(&row.start_time),
        "end_time": time_format::utc(&row.end_time),
    })))
}

async fn delete_override(
    ApiUser(me): ApiUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team, schedule, override_id) = path.into_inner();
    manage::remove_override(&state.db, &me, &team, &schedule, &override_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
