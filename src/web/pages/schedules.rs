//! Schedules, under their team: list, create, edit, delete; layers; overrides; the schedule's
//! page (on call now and next, two-week timeline, overrides, audit trail).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{redirect_with_flash, render, see_other, PageQuery};
use crate::db::on_call_audit::OnCallAuditRow;
use crate::db::schedules::{PersonRow, ScheduleRow};
use crate::domain::schedules::input::{
    local_input, shift_length_words, LayerForm, OverrideForm, ScheduleForm, WindowForm, DAYS,
    SHIFT_UNITS,
};
use crate::domain::schedules::manage::{self, default_rotation_start};
use crate::domain::schedules::rotation::RestrictionType;
use crate::domain::schedules::views::{
    self, Editing, LayerView, ScheduleList, SchedulePage as Schedule,
};
use crate::domain::teams::Team;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(show)
        .service(history)
        .service(edit_form)
        .service(update)
        .service(delete_confirm)
        .service(delete)
        .service(new_layer_form)
        .service(add_layer)
        .service(edit_layer_form)
        .service(update_layer)
        .service(remove_layer)
        .service(move_layer)
        .service(add_override)
        .service(remove_override);
}

fn schedule_path(team: &str, schedule: &str) -> String {
    format!("/teams/{team}/schedules/{schedule}")
}

/// A time as the schedule's pages show it: local to the schedule, with its zone's abbreviation.
fn local(at: &DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

#[derive(Template)]
#[template(path = "schedules/list.html")]
struct ListPage {
    layout: Layout,
    list: ScheduleList,
}

impl ListPage {
    fn base(&self) -> String {
        format!("/teams/{}/schedules", self.list.team.unique_id)
    }
}

#[get("/teams/{team}/schedules")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let list = views::list(&state.db, &me, &path, query.number()).await?;
    render(
        ListPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            list,
        },
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "schedules/form.html")]
struct FormPage {
    layout: Layout,
    team: Team,
    /// The schedule being changed; `None` for a new one.
    schedule: Option<ScheduleRow>,
    form: ScheduleForm,
    errors: FieldErrors,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.schedule {
            Some(s) => format!("{}/edit", schedule_path(&self.team.unique_id, &s.unique_id)),
            None => format!("/teams/{}/schedules", self.team.unique_id),
        }
    }
}

#[get("/teams/{team}/schedules/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let team = views::team_to_manage(&state.db, &me, &path).await?;
    let page = FormPage {
        layout: Layout::new(&session, Some(&me), Nav::Teams),
        team,
        schedule: None,
        form: ScheduleForm {
            time_zone: "UTC".into(),
            ..ScheduleForm::default()
        },
        errors: FieldErrors::new(),
    };
    render(page, StatusCode::OK)
}

#[post("/teams/{team}/schedules")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ScheduleForm>,
) -> Result<HttpResponse, AppError> {
    let team = views::team_to_manage(&state.db, &me, &path).await?;
    let result = match form.check() {
        Ok(fields) => manage::create_empty(&state.db, &me, &path, fields).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(row) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!(
                "Schedule {} created. Add a layer to say who is on call.",
                row.name
            ),
            &schedule_path(&team.unique_id, &row.unique_id),
        )),
        Err(DomainError::Invalid(errors)) => render(
            FormPage {
                layout: Layout::new(&session, Some(&me), Nav::Teams),
                team,
                schedule: None,
                form,
                errors,
            },
            StatusCode::BAD_REQUEST,
        ),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "schedules/show.html")]
struct ShowPage {
    layout: Layout,
    page: Schedule,
    form: OverrideForm,
    errors: FieldErrors,
}

impl ShowPage {
    fn path(&self) -> String {
        schedule_path(&self.page.team.unique_id, &self.page.detail.row.unique_id)
    }

    fn history_path(&self) -> String {
        format!("{}/history", self.path())
    }

    fn tz(&self) -> Tz {
        self.page.detail.time_zone
    }

    fn local(&self, at: &DateTime<Utc>) -> String {
        local(at, self.tz())
    }

    fn shift_words(&self, layer: &LayerView) -> String {
        shift_length_words(layer.shift_length)
    }

    fn windows(&self, layer: &LayerView) -> String {
        windows_words(layer, self.tz())
    }

    /// Whether the person may remove this override (managers any; team users their own).
    fn can_remove(&self, username: &str) -> bool {
        self.page.can_manage
            || (self.page.can_override_self
                && self
                    .layout
                    .user
                    .as_ref()
                    .is_some_and(|me| me.username == username))
    }

    fn is_me(&self, member: &PersonRow) -> bool {
        self.layout
            .user
            .as_ref()
            .is_some_and(|me| me.id == member.id)
    }

    fn actor(&self, entry: &OnCallAuditRow) -> String {
        actor_name(entry)
    }
}

fn actor_name(entry: &OnCallAuditRow) -> String {
    match (&entry.actor_first_name, &entry.actor_last_name) {
        (Some(first), Some(last)) => format!("{first} {last}").trim().to_owned(),
        _ => "Klaxon".to_owned(),
    }
}

/// A layer's windows as people say them: "Every day, 22:00 to 06:00", "Every week, Friday
/// 18:00 to Monday 08:00".
fn windows_words(layer: &LayerView, tz: Tz) -> String {
    let day = |text: &str| {
        text.parse::<usize>()
            .ok()
            .and_then(|i| DAYS.get(i))
            .copied()
            .unwrap_or("?")
    };
    let kind = RestrictionType::from_code(layer.restriction_type);
    let parts: Vec<String> = LayerForm::from_layer(layer, tz)
        .windows
        .iter()
        .map(|w| match kind {
            Some(RestrictionType::Weekly) => format!(
                "{} {} to {} {}",
                day(&w.start_day),
                w.start_time,
                day(&w.end_day),
                w.end_time
            ),
            _ => format!("{} to {}", w.start_time, w.end_time),
        })
        .collect();
    match kind {
        Some(RestrictionType::Daily) => format!("Every day, {}", parts.join("; ")),
        Some(RestrictionType::Weekly) => format!("Every week, {}", parts.join("; ")),
        _ => "Around the clock".to_owned(),
    }
}

async fn show_page(
    state: &AppState,
    session: &Session,
    me: &crate::domain::users::User,
    (team, schedule): (&str, &str),
    overrides_page: i64,
    form: OverrideForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = views::page(&state.db, me, team, schedule, overrides_page).await?;
    let form = if form.start_time.is_empty() && form.end_time.is_empty() {
        let start = default_rotation_start(Utc::now());
        OverrideForm {
            user: me.username.clone(),
            start_time: local_input(start, page.detail.time_zone),
            end_time: local_input(start + chrono::Duration::hours(8), page.detail.time_zone),
        }
    } else {
        form
    };
    render(
        ShowPage {
            layout: Layout::new(session, Some(me), Nav::Teams),
            page,
            form,
            errors,
        },
        status,
    )
}

#[get("/teams/{team}/schedules/{schedule}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    show_page(
        &state,
        &session,
        &me,
        (&team, &schedule),
        query.number(),
        OverrideForm::default(),
        FieldErrors::new(),
    )
    .await
}

#[derive(Template)]
#[template(path = "schedules/history.html")]
struct HistoryPage {
    layout: Layout,
    team: Team,
    schedule: ScheduleRow,
    entries: Page<OnCallAuditRow>,
}

impl HistoryPage {
    fn path(&self) -> String {
        schedule_path(&self.team.unique_id, &self.schedule.unique_id)
    }

    fn base(&self) -> String {
        format!("{}/history", self.path())
    }

    fn actor(&self, entry: &OnCallAuditRow) -> String {
        actor_name(entry)
    }
}

#[get("/teams/{team}/schedules/{schedule}/history")]
async fn history(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let (team, schedule, entries) =
        views::history(&state.db, &me, &team, &schedule, query.number()).await?;
    render(
        HistoryPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            team,
            schedule,
            entries,
        },
        StatusCode::OK,
    )
}

#[get("/teams/{team}/schedules/{schedule}/edit")]
async fn edit_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let editing = views::editing(&state.db, &me, &team, &schedule).await?;
    let row = editing.detail.row;
    render(
        FormPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            team: editing.team,
            form: ScheduleForm {
                name: row.name.clone(),
                summary: row.summary.clone(),
                description: row.description.clone(),
                time_zone: row.time_zone.clone(),
            },
            schedule: Some(row),
            errors: FieldErrors::new(),
        },
        StatusCode::OK,
    )
}

#[post("/teams/{team}/schedules/{schedule}/edit")]
async fn update(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<ScheduleForm>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let editing = views::editing(&state.db, &me, &team, &schedule).await?;
    let result = match form.check() {
        Ok(fields) => manage::update_fields(&state.db, &me, &team, &schedule, fields).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(row) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Schedule {} saved.", row.name),
            &schedule_path(&team, &schedule),
        )),
        Err(DomainError::Invalid(errors)) => render(
            FormPage {
                layout: Layout::new(&session, Some(&me), Nav::Teams),
                team: editing.team,
                schedule: Some(editing.detail.row),
                form,
                errors,
            },
            StatusCode::BAD_REQUEST,
        ),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "schedules/delete.html")]
struct DeletePage {
    layout: Layout,
    team: Team,
    schedule: ScheduleRow,
}

impl DeletePage {
    fn path(&self) -> String {
        schedule_path(&self.team.unique_id, &self.schedule.unique_id)
    }
}

#[get("/teams/{team}/schedules/{schedule}/delete")]
async fn delete_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let editing = views::editing(&state.db, &me, &team, &schedule).await?;
    render(
        DeletePage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            team: editing.team,
            schedule: editing.detail.row,
        },
        StatusCode::OK,
    )
}

#[post("/teams/{team}/schedules/{schedule}/delete")]
async fn delete(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    match manage::delete(&state.db, &me, &team, &schedule).await {
        Ok(row) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Schedule {} deleted.", row.name),
            &format!("/teams/{team}/schedules"),
        )),
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            message,
            &schedule_path(&team, &schedule),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "schedules/layer.html")]
struct LayerPage {
    layout: Layout,
    editing: Editing,
    /// The layer being changed; `None` for a new one.
    layer_uid: Option<String>,
    form: LayerForm,
    errors: FieldErrors,
}

/// How many person slots and window rows a layer form offers beyond those filled in.
const SPARE_SLOTS: usize = 2;

impl LayerPage {
    fn path(&self) -> String {
        schedule_path(
            &self.editing.team.unique_id,
            &self.editing.detail.row.unique_id,
        )
    }

    fn action(&self) -> String {
        match &self.layer_uid {
            Some(uid) => format!("{}/layers/{uid}/edit", self.path()),
            None => format!("{}/layers", self.path()),
        }
    }

    /// The person slots: the rotation so far, then empty ones.
    fn slots(&self) -> Vec<String> {
        let count = (self.form.users.len() + SPARE_SLOTS).max(4);
        let mut slots = self.form.users.clone();
        slots.resize(count, String::new());
        slots
    }

    fn window_rows(&self) -> Vec<WindowForm> {
        let mut rows = self.form.windows.clone();
        let count = rows.len() + SPARE_SLOTS;
        rows.resize(count, WindowForm::default());
        rows
    }

    fn days(&self) -> Vec<(String, &'static str)> {
        DAYS.iter()
            .enumerate()
            .map(|(i, d)| (i.to_string(), *d))
            .collect()
    }

    fn units(&self) -> &'static [(&'static str, &'static str, i64)] {
        &SHIFT_UNITS
    }

    /// A person named by the layer who is no longer in the team still shows in their slot.
    fn former_member(&self, username: &str) -> bool {
        !username.is_empty() && !self.editing.members.iter().any(|m| m.username == username)
    }
}

fn layer_page(
    session: &Session,
    me: &crate::domain::users::User,
    editing: Editing,
    layer_uid: Option<String>,
    form: LayerForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        LayerPage {
            layout: Layout::new(session, Some(me), Nav::Teams),
            editing,
            layer_uid,
            form,
            errors,
        },
        status,
    )
}

#[get("/teams/{team}/schedules/{schedule}/layers/new")]
async fn new_layer_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let editing = views::editing(&state.db, &me, &team, &schedule).await?;
    let tz = editing.detail.time_zone;
    let form = LayerForm {
        name: format!("Layer {}", editing.detail.layers.len() + 1),
        shift_count: "1".into(),
        shift_unit: "weeks".into(),
        rotation_start_time: local_input(default_rotation_start(Utc::now()), tz),
        restriction_type: "0".into(),
        ..LayerForm::default()
    };
    layer_page(&session, &me, editing, None, form, FieldErrors::new())
}

#[post("/teams/{team}/schedules/{schedule}/layers")]
async fn add_layer(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    let form = LayerForm::from_pairs(&pairs);
    match manage::add_layer(&state.db, &me, &team, &schedule, form.clone()).await {
        Ok(()) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Layer {} added.", form.name.trim()),
            &schedule_path(&team, &schedule),
        )),
        Err(DomainError::Invalid(errors)) => {
            let editing = views::editing(&state.db, &me, &team, &schedule).await?;
            layer_page(&session, &me, editing, None, form, errors)
        }
        Err(other) => Err(other.into()),
    }
}

#[get("/teams/{team}/schedules/{schedule}/layers/{layer}/edit")]
async fn edit_layer_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule, layer) = path.into_inner();
    let editing = views::editing(&state.db, &me, &team, &schedule).await?;
    let form = LayerForm::from_layer(editing.layer(&layer)?, editing.detail.time_zone);
    layer_page(
        &session,
        &me,
        editing,
        Some(layer),
        form,
        FieldErrors::new(),
    )
}

#[post("/teams/{team}/schedules/{schedule}/layers/{layer}/edit")]
async fn update_layer(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule, layer) = path.into_inner();
    let form = LayerForm::from_pairs(&pairs);
    match manage::update_layer(&state.db, &me, &team, &schedule, &layer, form.clone()).await {
        Ok(()) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Layer {} saved.", form.name.trim()),
            &schedule_path(&team, &schedule),
        )),
        Err(DomainError::Invalid(errors)) => {
            let editing = views::editing(&state.db, &me, &team, &schedule).await?;
            layer_page(&session, &me, editing, Some(layer), form, errors)
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/teams/{team}/schedules/{schedule}/layers/{layer}/remove")]
async fn remove_layer(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule, layer) = path.into_inner();
    let name = manage::remove_layer(&state.db, &me, &team, &schedule, &layer).await?;
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        format!("Layer {name} removed."),
        &schedule_path(&team, &schedule),
    ))
}

#[derive(serde::Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

#[post("/teams/{team}/schedules/{schedule}/layers/{layer}/move")]
async fn move_layer(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule, layer) = path.into_inner();
    let up = match form.direction.as_str() {
        "up" => true,
        "down" => false,
        _ => return Err(AppError::BadRequest("Move a layer up or down.".into())),
    };
    manage::move_layer(&state.db, &me, &team, &schedule, &layer, up).await?;
    Ok(see_other(&schedule_path(&team, &schedule)))
}

#[post("/teams/{team}/schedules/{schedule}/overrides")]
async fn add_override(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<OverrideForm>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule) = path.into_inner();
    match manage::add_override(&state.db, &me, &team, &schedule, form.clone()).await {
        Ok(_) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            "Override added.",
            &schedule_path(&team, &schedule),
        )),
        Err(DomainError::Invalid(errors)) => {
            show_page(&state, &session, &me, (&team, &schedule), 1, form, errors).await
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/teams/{team}/schedules/{schedule}/overrides/{override_id}/remove")]
async fn remove_override(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team, schedule, override_id) = path.into_inner();
    manage::remove_override(&state.db, &me, &team, &schedule, &override_id).await?;
    session::set_flash(&session, FlashKind::Success, "Override removed.");
    Ok(see_other(&schedule_path(&team, &schedule)))
}
