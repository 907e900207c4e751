//! A service's Integrations tab, adding an integration, and its configure page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render};
use crate::domain::integrations::{
    self, Application, ConfigureForm, Direction, IntegrationDetail, ServiceIntegrations,
};
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::DomainError;
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(tab)
        .service(new_form)
        .service(create)
        .service(configure_page)
        .service(configure)
        .service(rotate_secret_confirm)
        .service(rotate_secret)
        .service(disable_confirm)
        .service(set_enabled)
        .service(delete_confirm)
        .service(delete)
        .service(alerts);
}

#[derive(Template)]
#[template(path = "integrations/alerts.html")]
struct AlertsPage {
    layout: Layout,
    detail: IntegrationDetail,
    alerts: crate::domain::Page<(crate::db::alerts::AlertRow, Option<i64>)>,
    base: String,
}

impl AlertsPage {
    fn type_name(&self, code: &i32) -> &'static str {
        crate::domain::alerts::AlertType::from_code(*code).map_or("unknown", |t| t.name())
    }
}

const ALERTS_PER_PAGE: i64 = 50;

#[get("/services/{service}/integrations/{integration}/alerts")]
async fn alerts(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    query: web::Query<super::PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    let detail = integrations::detail(&state.db, &me, &service_uid, &integration_uid).await?;
    let alerts = crate::domain::alerts::list(
        &state.db,
        &detail.integration.row,
        query.number(),
        ALERTS_PER_PAGE,
    )
    .await?;
    let base = format!("/services/{service_uid}/integrations/{integration_uid}/alerts");
    render(
        AlertsPage {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            detail,
            alerts,
            base,
        },
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "integrations/tab.html")]
struct IntegrationsTab {
    layout: Layout,
    data: ServiceIntegrations,
}

#[get("/services/{service}/integrations")]
async fn tab(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let data = integrations::for_service(&state.db, &me, &path).await?;
    render(
        IntegrationsTab {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            data,
        },
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "integrations/new.html")]
struct NewIntegrationPage {
    layout: Layout,
    service_uid: String,
    service_name: String,
    direction: Direction,
    applications: Vec<Application>,
    errors: FieldErrors,
}

#[derive(serde::Deserialize)]
struct DirectionQuery {
    direction: Option<String>,
}

async fn new_page(
    state: &AppState,
    session: &Session,
    me: &User,
    service_uid: &str,
    direction: Direction,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let service = crate::domain::services::get_to_change(&state.db, me, service_uid).await?;
    let page = NewIntegrationPage {
        layout: Layout::new(session, Some(me), Nav::Services),
        service_uid: service.row.unique_id,
        service_name: service.row.name,
        direction,
        applications: Application::for_direction(direction),
        errors,
    };
    render(page, status)
}

#[get("/services/{service}/integrations/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<DirectionQuery>,
) -> Result<HttpResponse, AppError> {
    let direction =
        Direction::parse(query.direction.as_deref().unwrap_or("")).ok_or(AppError::NotFound)?;
    new_page(
        &state,
        &session,
        &me,
        &path,
        direction,
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(serde::Deserialize)]
struct NewIntegrationForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    application: String,
}

#[post("/services/{service}/integrations")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<NewIntegrationForm>,
) -> Result<HttpResponse, AppError> {
    let direction = Direction::parse(&form.direction)
        .ok_or(AppError::BadRequest("Unknown kind of integration.".into()))?;
    let application = Application::from_slug(&form.application)
        .filter(|a| Application::for_direction(direction).contains(a));
    let Some(application) = application else {
        let mut errors = FieldErrors::new();
        errors.add("application", "Choose an application.");
        return new_page(
            &state,
            &session,
            &me,
            &path,
            direction,
            errors,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let integration = integrations::create(&state.db, &me, &path, application).await?;
    tracing::info!(actor = %me.username, integration = %integration.row.unique_id, application = application.name(), "integration created");
    let next_step = if integration.is_outgoing_webhook() {
        " Configure it to set the URL."
    } else {
        ""
    };
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        format!("{} integration added.{next_step}", application.name()),
        &format!("/services/{path}/integrations"),
    ))
}

#[derive(Template)]
#[template(path = "integrations/configure.html")]
struct ConfigurePage {
    layout: Layout,
    detail: IntegrationDetail,
    form: ConfigureForm,
    errors: FieldErrors,
    /// Why the saved URL may not receive webhooks (private address, no DNS), if so.
    destination_warning: Option<String>,
    events_url: String,
    now: chrono::NaiveDateTime,
}

#[allow(clippy::too_many_arguments)]
async fn configure_view(
    state: &AppState,
    session: &Session,
    me: &User,
    service_uid: &str,
    integration_uid: &str,
    form: Option<ConfigureForm>,
    errors: FieldErrors,
    destination_warning: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let detail = integrations::detail(&state.db, me, service_uid, integration_uid).await?;
    let form = form.unwrap_or_else(|| ConfigureForm {
        name: detail.integration.row.name.clone(),
        url: detail.integration.url().to_owned(),
    });
    let events_url = detail
        .integration
        .row
        .integration_key
        .as_deref()
        .map(|key| format!("/api/events/{key}/"))
        .unwrap_or_default();
    let page = ConfigurePage {
        layout: Layout::new(session, Some(me), Nav::Services),
        detail,
        form,
        errors,
        destination_warning,
        events_url,
        now: crate::db::now(),
    };
    render(page, status)
}

#[get("/services/{service}/integrations/{integration}")]
async fn configure_page(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    configure_view(
        &state,
        &session,
        &me,
        &service_uid,
        &integration_uid,
        None,
        FieldErrors::new(),
        None,
        StatusCode::OK,
    )
    .await
}

#[post("/services/{service}/integrations/{integration}")]
async fn configure(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<ConfigureForm>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    match integrations::configure(&state.db, &me, &service_uid, &integration_uid, &form).await {
        Ok(integration) => {
            tracing::info!(actor = %me.username, integration = %integration.row.unique_id, "integration configured");
            // The URL is saved either way; a destination Klaxon will refuse is said plainly.
            let warning = match url::Url::parse(integration.url()) {
                Ok(url) if integration.is_outgoing_webhook() => {
                    state.destinations.check_url(&url).await
                }
                _ => None,
            };
            if warning.is_some() {
                return configure_view(
                    &state,
                    &session,
                    &me,
                    &service_uid,
                    &integration_uid,
                    None,
                    FieldErrors::new(),
                    warning,
                    StatusCode::OK,
                )
                .await;
            }
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                "Integration saved.",
                &format!("/services/{service_uid}/integrations"),
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            configure_view(
                &state,
                &session,
                &me,
                &service_uid,
                &integration_uid,
                Some(form),
                errors,
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[get("/services/{service}/integrations/{integration}/rotate-secret")]
async fn rotate_secret_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    confirm_change(&state, &session, &me, path.into_inner(), |name, back| {
        super::confirm::Confirmation {
            question: format!("Rotate the signing secret of {name}?"),
            detail: "A new secret signs every webhook from now on; the current one also signs for \
                     24 hours, time to give the receiver the new one."
                .to_owned(),
            action: format!("{back}/rotate-secret"),
            fields: Vec::new(),
            button: "Rotate secret",
            back,
        }
    })
    .await
}

#[get("/services/{service}/integrations/{integration}/disable")]
async fn disable_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    confirm_change(&state, &session, &me, path.into_inner(), |name, back| {
        super::confirm::Confirmation {
            question: format!("Disable {name}?"),
            detail: "It sends no webhooks and accepts no alerts until it is enabled again; \
                     changes made meanwhile are not sent later."
                .to_owned(),
            action: format!("{back}/enabled"),
            fields: vec![("enabled", "false")],
            button: "Disable",
            back,
        }
    })
    .await
}

/// The confirmation page of a change to an integration the actor may change: `ask` words it
/// from the integration's name and its page's path.
async fn confirm_change(
    state: &AppState,
    session: &Session,
    me: &User,
    (service_uid, integration_uid): (String, String),
    ask: impl FnOnce(&str, String) -> super::confirm::Confirmation,
) -> Result<HttpResponse, AppError> {
    let detail =
        integrations::detail_to_change(&state.db, me, &service_uid, &integration_uid).await?;
    let back = format!("/services/{service_uid}/integrations/{integration_uid}");
    let confirmation = ask(&detail.integration.row.name, back);
    super::confirm::page(session, me, Nav::Services, confirmation)
}

#[post("/services/{service}/integrations/{integration}/rotate-secret")]
async fn rotate_secret(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    integrations::rotate_secret(&state.db, &me, &service_uid, &integration_uid).await?;
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        "New signing secret created. The previous one keeps signing for 24 hours.",
        &format!("/services/{service_uid}/integrations/{integration_uid}"),
    ))
}

#[derive(serde::Deserialize)]
struct EnabledForm {
    #[serde(default)]
    enabled: String,
}

#[post("/services/{service}/integrations/{integration}/enabled")]
async fn set_enabled(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<EnabledForm>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(AppError::BadRequest(
                "Say whether the integration is enabled.".into(),
            ))
        }
    };
    integrations::set_enabled(&state.db, &me, &service_uid, &integration_uid, enabled).await?;
    let message = if enabled {
        "Integration enabled."
    } else {
        "Integration disabled: it sends and accepts nothing until enabled again."
    };
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        message,
        &format!("/services/{service_uid}/integrations/{integration_uid}"),
    ))
}

#[derive(Template)]
#[template(path = "integrations/delete.html")]
struct DeleteIntegrationPage {
    layout: Layout,
    detail: IntegrationDetail,
}

#[get("/services/{service}/integrations/{integration}/delete")]
async fn delete_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    let detail =
        integrations::detail_to_change(&state.db, &me, &service_uid, &integration_uid).await?;
    render(
        DeleteIntegrationPage {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            detail,
        },
        StatusCode::OK,
    )
}

#[post("/services/{service}/integrations/{integration}/delete")]
async fn delete(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    let integration = integrations::delete(&state.db, &me, &service_uid, &integration_uid).await?;
    tracing::info!(actor = %me.username, integration = %integration.row.unique_id, "integration deleted");
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        format!("Integration {} deleted.", integration.row.name),
        &format!("/services/{service_uid}/integrations"),
    ))
}
