//! Incidents: list with filters, trigger form, incident page with its timeline and actions.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other};
use crate::db::incident_list::{Count, StatusCounts, COUNT_CAP};
use crate::domain::incidents::{
    self, AssignForm, IncidentDetail, IncidentList, ListQuery, NoteForm, ReassignForm, Status,
    TimelineFilter, TriggerForm,
};
use crate::domain::services::Service;
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{grouped, DomainError, Page};
use crate::web::auth::{safe_next, CurrentUser};
use crate::web::error::{url_encode, AppError};
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

const INCIDENTS_PER_PAGE: i64 = 50;
/// Most incidents one "Acknowledge selected" may change: a page of the list.
const MAX_BULK: usize = INCIDENTS_PER_PAGE as usize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(list_changes)
        .service(create)
        .service(show)
        .service(incident_changes)
        .service(acknowledge)
        .service(resolve)
        .service(bulk)
        .service(escalate)
        .service(reassign)
        .service(add_note)
        .service(assign);
}

#[derive(Template)]
#[template(path = "incidents/list.html")]
struct IncidentsPage {
    layout: Layout,
    list: IncidentList,
    query: ListQuery,
    services: Vec<Service>,
    tabs: Vec<StatusTab>,
    /// The list's URL with its filters, for the pager.
    base: String,
    /// This very page (filters and page number): where acting on a row comes back to.
    here: String,
    /// What `/incidents/changes` answered when the page was made (see `static/live.js`).
    live_version: String,
    /// On a new install, until the first incident: the steps to get there.
    first_steps: Option<incidents::FirstSteps>,
}

impl IncidentsPage {
    /// The last page's number when this page lies beyond it.
    fn past_end(&self) -> Option<i64> {
        let last = self.list.last_page?;
        (self.list.page.number > last && self.list.total != Count::Exact(0)).then_some(last)
    }

    /// "41", or "100+" where the count stopped.
    fn page_count(&self) -> String {
        match self.list.last_page {
            Some(last) => grouped(last),
            None => format!("{}+", grouped(COUNT_CAP / INCIDENTS_PER_PAGE)),
        }
    }

    /// Nothing open and nothing narrowing the list: the quiet a responder hopes for.
    fn quiet(&self) -> bool {
        let q = &self.query;
        q.status() == "open"
            && q.q().is_empty()
            && q.from().is_empty()
            && q.to().is_empty()
            && !q.assigned_to_me()
    }
}

/// One of the list's status tabs: "Triggered 128".
struct StatusTab {
    label: &'static str,
    /// "128", "5 000+", or empty where not counted.
    count: String,
    url: String,
    current: bool,
}

/// The incidents list's URL with `query`'s filters, for `status`; the first page.
fn list_url(query: &ListQuery, status: &str) -> String {
    let mut url = format!("/incidents?status={status}");
    for (name, value) in [
        ("service", query.service()),
        ("urgency", query.urgency()),
        ("q", query.q()),
        ("from", query.from()),
        ("to", query.to()),
    ] {
        if !value.is_empty() {
            url.push_str(&format!("&{name}={}", url_encode(value)));
        }
    }
    if query.sort() != "newest" {
        url.push_str(&format!("&sort={}", query.sort()));
    }
    if query.assigned_to_me() {
        url.push_str("&assigned=me");
    }
    url
}

/// A count as a tab or heading shows it: "4 002", "5 000+", or nothing where not counted.
pub fn count_label(count: Count) -> String {
    match count {
        Count::Exact(n) => grouped(n),
        Count::MoreThan(0) => String::new(),
        Count::MoreThan(n) => format!("{}+", grouped(n)),
    }
}

fn status_tabs(query: &ListQuery, counts: &StatusCounts) -> Vec<StatusTab> {
    [
        ("open", "Open", counts.of(&[1, 2])),
        ("triggered", "Triggered", counts.triggered),
        ("acknowledged", "Acknowledged", counts.acknowledged),
        ("resolved", "Resolved", counts.resolved),
        ("all", "All", counts.of(&[])),
    ]
    .into_iter()
    .map(|(status, label, count)| StatusTab {
        label,
        count: count_label(count),
        url: list_url(query, status),
        current: query.status() == status,
    })
    .collect()
}

#[get("/incidents")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let layout = Layout::new(&session, Some(&me), Nav::Incidents);
    // Read before the list: a change in between makes the page refresh once more, never less.
    let live_version = incidents::list_version(&state.db, &me).await?;
    let list = incidents::list(&state.db, &me, &query, INCIDENTS_PER_PAGE, layout.zone()).await?;
    let (services, _) = incidents::trigger_choices(&state.db, &me).await?;
    let base = list_url(&query, query.status());
    let here = format!("{base}&page={}", list.page.number);
    let first_steps = if list.page.items.is_empty() && list.counts.of(&[]) == Count::Exact(0) {
        incidents::first_steps(&state.db).await?
    } else {
        None
    };
    let page = IncidentsPage {
        layout,
        tabs: status_tabs(&query, &list.counts),
        list,
        query,
        services,
        base,
        here,
        live_version,
        first_steps,
    };
    render(page, StatusCode::OK)
}

/// The answer of the endpoints the pages' script polls: `{"version": "..."}`, also as an ETag,
/// so that an unchanged version costs a 304 and no body.
fn version_response(req: &HttpRequest, version: &str) -> HttpResponse {
    let etag = format!("\"{version}\"");
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if unchanged {
        response.finish()
    } else {
        response.json(serde_json::json!({ "version": version }))
    }
}

/// Changes whenever an incident the user sees changes; the incidents list polls it.
#[get("/incidents/changes")]
async fn list_changes(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let version = incidents::list_version(&state.db, &me).await?;
    Ok(version_response(&req, &version))
}

/// Changes whenever the incident changes; its page polls it.
#[get("/incidents/{number}/changes")]
async fn incident_changes(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let version = incidents::incident_version(&state.db, &me, parse_number(&path)?).await?;
    Ok(version_response(&req, &version))
}

#[derive(Template)]
#[template(path = "incidents/new.html")]
struct TriggerPage {
    layout: Layout,
    form: TriggerForm,
    errors: FieldErrors,
    services: Vec<Service>,
    users: Vec<User>,
}

async fn trigger_page(
    state: &AppState,
    session: &Session,
    me: &User,
    form: TriggerForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (services, users) = incidents::trigger_choices(&state.db, me).await?;
    let page = TriggerPage {
        layout: Layout::new(session, Some(me), Nav::Incidents),
        form,
        errors,
        services,
        users,
    };
    render(page, status)
}

#[derive(serde::Deserialize)]
struct NewQuery {
    service: Option<String>,
}

#[get("/incidents/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NewQuery>,
) -> Result<HttpResponse, AppError> {
    let form = TriggerForm {
        service: query.service.clone().unwrap_or_default(),
        urgency: "1".to_owned(),
        ..TriggerForm::default()
    };
    trigger_page(
        &state,
        &session,
        &me,
        form,
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

#[post("/incidents")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<TriggerForm>,
) -> Result<HttpResponse, AppError> {
    match incidents::trigger(&state.db, &me, &form).await {
        Ok(incident) => {
            tracing::info!(actor = %me.username, incident = incident.incident_number, "incident triggered");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("Incident #{} triggered.", incident.incident_number),
                &format!("/incidents/{}", incident.incident_number),
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            trigger_page(&state, &session, &me, form, errors, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "incidents/show.html")]
struct IncidentPage {
    layout: Layout,
    detail: IncidentDetail,
    note_errors: FieldErrors,
    reassign_errors: FieldErrors,
    /// What `/incidents/{number}/changes` answered when the page was made.
    live_version: String,
}

impl IncidentPage {
    fn filters(&self) -> [TimelineFilter; 5] {
        TimelineFilter::ALL
    }

    /// `?show=…&` for the timeline's pager, keeping its filter.
    fn show_param(&self) -> String {
        match self.detail.filter {
            TimelineFilter::All => String::new(),
            filter => format!("show={}&", filter.word()),
        }
    }
    fn alert_type(&self, code: &i32) -> &'static str {
        crate::domain::alerts::AlertType::from_code(*code).map_or("unknown", |t| t.name())
    }

    /// An alert's links as its monitoring tool sent them (stored as JSON): only http(s) ones
    /// become links, so that a `javascript:` URL from outside never runs in the page.
    fn alert_links(&self, urls: &str) -> Vec<crate::domain::alerts::Link> {
        let links: Vec<crate::domain::alerts::Link> =
            serde_json::from_str(urls).unwrap_or_default();
        links
            .into_iter()
            .filter(|link| {
                url::Url::parse(&link.link_url)
                    .is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
            })
            .collect()
    }

    /// An alert's payload indented for reading, or as stored when it is not JSON; empty for
    /// none.
    fn alert_payload(&self, payload: &str) -> String {
        match payload.trim() {
            "" | "{}" | "null" => String::new(),
            raw => crate::web::format::indented_json(raw).unwrap_or_else(|| raw.to_owned()),
        }
    }
}

fn parse_number(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(AppError::NotFound)
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    /// Timeline page; 1, the default, is the newest entries.
    timeline: Option<String>,
    /// Which entries: all, changes, alerts, notes, webhooks.
    show: Option<String>,
}

#[get("/incidents/{number}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(&path)?;
    let timeline_page = Page::<()>::number_from(query.timeline.as_deref());
    let live_version = incidents::incident_version(&state.db, &me, number).await?;
    let filter = TimelineFilter::parse(query.show.as_deref().unwrap_or_default());
    let detail = incidents::detail(&state.db, &me, number, timeline_page, filter).await?;
    render(
        IncidentPage {
            layout: Layout::new(&session, Some(&me), Nav::Incidents),
            detail,
            note_errors: FieldErrors::new(),
            reassign_errors: FieldErrors::new(),
            live_version,
        },
        StatusCode::OK,
    )
}

async fn change_status(
    state: &AppState,
    session: &Session,
    me: &User,
    raw_number: &str,
    target: Status,
    back: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(raw_number)?;
    match incidents::change_status(&state.db, me, number, target).await {
        Ok(_) => {
            tracing::info!(actor = %me.username, incident = number, status = target.word(), "incident changed");
            session::set_flash(
                session,
                FlashKind::Success,
                format!("Incident #{number} {}.", target.word()),
            );
        }
        // Refused transitions (resolving twice, two people at once) change nothing and say so.
        Err(DomainError::Conflict(message)) => {
            session::set_flash(session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    let answer = list_path(back).unwrap_or_else(|| format!("/incidents/{number}"));
    Ok(see_other(&answer))
}

/// The incidents list an action was taken from (`back`, a local path under `/incidents`), to
/// answer with it instead of the incident's page.
fn list_path(back: Option<&str>) -> Option<String> {
    back.filter(|path| path.starts_with("/incidents"))
        .map(|path| safe_next(Some(path)))
}

/// The fields an action on one incident reads; the list's form sends more, ignored here.
#[derive(Debug, Default, serde::Deserialize)]
struct ActionForm {
    back: Option<String>,
}

#[post("/incidents/{number}/acknowledge")]
async fn acknowledge(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<HttpResponse, AppError> {
    let back = form.back.as_deref();
    change_status(&state, &session, &me, &path, Status::Acknowledged, back).await
}

#[post("/incidents/{number}/resolve")]
async fn resolve(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<HttpResponse, AppError> {
    let back = form.back.as_deref();
    change_status(&state, &session, &me, &path, Status::Resolved, back).await
}

/// "Acknowledge selected" / "Resolve selected" on the list: each ticked incident in its own
/// transaction, so that one refused (already resolved, or not yours to see) leaves the others
/// changed; the answer says which were refused and why.
#[post("/incidents/bulk")]
async fn bulk(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    let back = list_path(field("back")).unwrap_or_else(|| "/incidents".to_owned());
    let target = match field("action") {
        Some("acknowledge") => Status::Acknowledged,
        Some("resolve") => Status::Resolved,
        _ => {
            return Err(AppError::BadRequest(
                "Choose Acknowledge or Resolve.".into(),
            ))
        }
    };
    let mut numbers = Vec::new();
    for (_, value) in fields.iter().filter(|(key, _)| key == "incident") {
        let number = parse_number(value)?;
        if !numbers.contains(&number) {
            numbers.push(number);
        }
    }
    if numbers.is_empty() {
        return Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            "Tick the incidents to change first.",
            &back,
        ));
    }
    if numbers.len() > MAX_BULK {
        return Err(AppError::BadRequest(format!(
            "At most {MAX_BULK} incidents at once."
        )));
    }
    let outcome = incidents::change_many(&state.db, &me, &numbers, target).await?;
    tracing::info!(actor = %me.username, changed = outcome.changed.len(), refused = outcome.refused.len(), status = target.word(), "incidents changed in bulk");
    let mut message = match outcome.changed.len() {
        0 => format!("No incident {}.", target.word()),
        1 => format!("1 incident {}.", target.word()),
        n => format!("{n} incidents {}.", target.word()),
    };
    if !outcome.refused.is_empty() {
        let refused: Vec<&str> = outcome
            .refused
            .iter()
            .map(|(_, why)| why.as_str())
            .collect();
        message.push_str(&format!(" Refused: {}", refused.join(" ")));
    }
    let kind = if outcome.refused.is_empty() {
        FlashKind::Success
    } else {
        FlashKind::Error
    };
    Ok(redirect_with_flash(&session, kind, message, &back))
}

#[post("/incidents/{number}/escalate")]
async fn escalate(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(&path)?;
    match incidents::escalate_now(&state.db, &me, number).await {
        Ok(()) => session::set_flash(
            &session,
            FlashKind::Success,
            format!("Incident #{number}: the next level is paged now."),
        ),
        Err(DomainError::Conflict(message)) => {
            session::set_flash(&session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/incidents/{number}")))
}

#[post("/incidents/{number}/reassign")]
async fn reassign(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ReassignForm>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(&path)?;
    match incidents::reassign(&state.db, &me, number, &form).await {
        Ok(name) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Incident #{number} now pages {name}."),
            &format!("/incidents/{number}"),
        )),
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            message,
            &format!("/incidents/{number}"),
        )),
        Err(DomainError::Invalid(reassign_errors)) => {
            let live_version = incidents::incident_version(&state.db, &me, number).await?;
            let detail = incidents::detail(&state.db, &me, number, 1, TimelineFilter::All).await?;
            render(
                IncidentPage {
                    layout: Layout::new(&session, Some(&me), Nav::Incidents),
                    detail,
                    note_errors: FieldErrors::new(),
                    reassign_errors,
                    live_version,
                },
                StatusCode::BAD_REQUEST,
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/incidents/{number}/notes")]
async fn add_note(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<NoteForm>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(&path)?;
    match incidents::add_note(&state.db, &me, number, &form).await {
        Ok(_) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            "Note added.",
            &format!("/incidents/{number}"),
        )),
        Err(DomainError::Invalid(note_errors)) => {
            let live_version = incidents::incident_version(&state.db, &me, number).await?;
            let detail = incidents::detail(&state.db, &me, number, 1, TimelineFilter::All).await?;
            render(
                IncidentPage {
                    layout: Layout::new(&session, Some(&me), Nav::Incidents),
                    detail,
                    note_errors,
                    reassign_errors: FieldErrors::new(),
                    live_version,
                },
                StatusCode::BAD_REQUEST,
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/incidents/{number}/assign")]
async fn assign(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Result<HttpResponse, AppError> {
    let number = parse_number(&path)?;
    match incidents::assign(&state.db, &me, number, &form).await {
        Ok(Some(name)) => {
            session::set_flash(&session, FlashKind::Success, format!("Assigned to {name}."))
        }
        Ok(None) => session::set_flash(&session, FlashKind::Success, "Nobody is assigned now."),
        Err(DomainError::Invalid(errors)) => session::set_flash(
            &session,
            FlashKind::Error,
            errors
                .get("assignee")
                .unwrap_or("Choose someone.")
                .to_owned(),
        ),
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/incidents/{number}")))
}
