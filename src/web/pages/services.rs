//! Services: list, create, show, edit, delete.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, PageQuery};
use crate::domain::escalation_policies::{Policy, REACHES_NOBODY};
use crate::domain::incidents::{self, IncidentList, ListQuery};
use crate::domain::integrations::{self, DeliveryTrouble, Integration};
use crate::domain::services::{
    self, PolicyChoice, Removal, Service, ServiceForm, STATUSES, STATUS_ACTIVE, STATUS_DISABLED,
    STATUS_UNDER_MAINTENANCE,
};
use crate::domain::teams::Team;
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

const SERVICES_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(show)
        .service(edit_form)
        .service(update)
        .service(delete_confirm)
        .service(delete);
}

#[derive(Template)]
#[template(path = "services/list.html")]
struct ServicesPage {
    layout: Layout,
    services: Page<Service>,
    /// Whether "New service" is offered (owners, admins and team managers).
    can_create: bool,
}

#[get("/services")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let services = services::list(&state.db, &me, query.number(), SERVICES_PER_PAGE).await?;
    let can_create = services::can_create(&state.db, &me).await?;
    render(
        ServicesPage {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            services,
            can_create,
        },
        StatusCode::OK,
    )
}

/// The create and edit form share one template.
#[derive(Template)]
#[template(path = "services/form.html")]
struct ServiceFormPage {
    layout: Layout,
    /// `None` when creating.
    service: Option<Service>,
    teams: Vec<Team>,
    policies: Vec<PolicyChoice>,
    form: ServiceForm,
    errors: FieldErrors,
}

impl ServiceFormPage {
    /// The teams that have policies, each with its policies, in the teams' order.
    fn policy_groups(&self) -> Vec<(&str, Vec<&PolicyChoice>)> {
        self.teams
            .iter()
            .map(|team| {
                (
                    team.name.as_str(),
                    self.policies
                        .iter()
                        .filter(|p| p.team_unique_id == team.unique_id)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, policies)| !policies.is_empty())
            .collect()
    }

    /// The statuses a person sets: active, disabled, under maintenance. Zenduty's Warning and
    /// Critical describe health and come through the API; one is offered only while it is the
    /// service's status, so that saving the form does not change it unasked.
    fn statuses(&self) -> Vec<(i32, &'static str)> {
        STATUSES
            .iter()
            .filter(|(code, _)| {
                [STATUS_ACTIVE, STATUS_DISABLED, STATUS_UNDER_MAINTENANCE].contains(code)
                    || self.is(&self.form.status, code)
            })
            .copied()
            .collect()
    }

    fn is(&self, value: &str, code: &i32) -> bool {
        value.trim() == code.to_string()
    }
}

async fn form_page(
    state: &AppState,
    session: &Session,
    me: &User,
    service: Option<Service>,
    form: ServiceForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let teams = services::teams_for_form(&state.db, me).await?;
    let policies = services::policies_for_form(&state.db, me).await?;
    let page = ServiceFormPage {
        layout: Layout::new(session, Some(me), Nav::Services),
        service,
        teams,
        policies,
        form,
        errors,
    };
    render(page, status)
}

#[get("/services/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    form_page(
        &state,
        &session,
        &me,
        None,
        ServiceForm::default(),
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

#[post("/services")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Result<HttpResponse, AppError> {
    match services::create(&state.db, &me, &form).await {
        Ok(service) => {
            tracing::info!(actor = %me.username, service = %service.row.unique_id, "service created");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("Service {} created.", service.row.name),
                &format!("/services/{}", service.row.unique_id),
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            form_page(
                &state,
                &session,
                &me,
                None,
                form,
                errors,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "services/show.html")]
struct ServicePage {
    layout: Layout,
    service: Service,
    /// Whether the Settings tab is offered.
    can_manage: bool,
    /// Its escalation policy, resolved now.
    policy: Option<Policy>,
    /// Its Outgoing Webhooks integrations whose deliveries are failing, shown at the top.
    failing: Vec<(Integration, DeliveryTrouble)>,
    /// Its newest open incidents, then its newest resolved ones.
    open: IncidentList,
    resolved: IncidentList,
}

/// Incidents the service page lists of each kind; the rest are a link to the incidents list.
const SERVICE_INCIDENTS_SHOWN: i64 = 10;

impl ServicePage {
    fn incident_sections(&self) -> [(&'static str, &IncidentList, &'static str); 2] {
        [
            ("Open incidents", &self.open, "open"),
            ("Recently resolved", &self.resolved, "resolved"),
        ]
    }

    fn reaches_nobody_warning(&self) -> &'static str {
        REACHES_NOBODY
    }
}

#[get("/services/{service}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (service, can_manage) = services::get_with_access(&state.db, &me, &path).await?;
    let policy = services::escalation_now(&state.db, &service).await?;
    let failing = integrations::failing_in_service(&state.db, &service).await?;
    let layout = Layout::new(&session, Some(&me), Nav::Services);
    let of_status = |status: &str| ListQuery {
        service: Some(service.row.unique_id.clone()),
        status: Some(status.to_owned()),
        ..ListQuery::default()
    };
    let (shown, zone) = (SERVICE_INCIDENTS_SHOWN, layout.zone());
    let open = incidents::list(&state.db, &me, &of_status("open"), shown, zone).await?;
    let resolved = incidents::list(&state.db, &me, &of_status("resolved"), shown, zone).await?;
    render(
        ServicePage {
            layout,
            service,
            can_manage,
            policy,
            failing,
            open,
            resolved,
        },
        StatusCode::OK,
    )
}

#[get("/services/{service}/edit")]
async fn edit_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let service = services::get_to_change(&state.db, &me, &path).await?;
    let form = ServiceForm::from_service(&service);
    form_page(
        &state,
        &session,
        &me,
        Some(service),
        form,
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

#[post("/services/{service}/edit")]
async fn update(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<ServiceForm>,
) -> Result<HttpResponse, AppError> {
    match services::update(&state.db, &me, &path, &form).await {
        Ok(service) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            "Service saved.",
            &format!("/services/{}", service.row.unique_id),
        )),
        Err(DomainError::Invalid(errors)) => {
            let service = services::get(&state.db, &me, &path).await?;
            form_page(
                &state,
                &session,
                &me,
                Some(service),
                form,
                errors,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "services/delete.html")]
struct DeleteServicePage {
    layout: Layout,
    service: Service,
}

#[get("/services/{service}/delete")]
async fn delete_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let service = services::get_to_change(&state.db, &me, &path).await?;
    render(
        DeleteServicePage {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            service,
        },
        StatusCode::OK,
    )
}

#[post("/services/{service}/delete")]
async fn delete(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (service, removal) = services::delete(&state.db, &me, &path, true).await?;
    tracing::info!(actor = %me.username, service = %service.row.unique_id, "service removed");
    match removal {
        Removal::Deleted => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("Service {} deleted.", service.row.name),
            "/services",
        )),
        Removal::Disabled(reason) | Removal::Kept(reason) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!(
                "Service {} was disabled instead of deleted: {reason}.",
                service.row.name
            ),
            &format!("/services/{}", service.row.unique_id),
        )),
    }
}
