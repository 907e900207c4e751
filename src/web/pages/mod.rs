//! Server-rendered pages, one module per area.

pub mod ack_links;
pub mod api_keys;
pub mod assets;
pub mod confirm;
pub mod contacts;
pub mod deliveries;
pub mod escalation_policies;
pub mod health;
pub mod incidents;
pub mod integrations;
pub mod schedules;
pub mod services;
pub mod session_pages;
pub mod teams;
pub mod users;

use actix_web::{web, HttpResponse};

use super::error::AppError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    assets::routes(cfg);
    session_pages::routes(cfg);
    users::routes(cfg);
    contacts::routes(cfg);
    ack_links::routes(cfg);
    api_keys::routes(cfg);
    incidents::routes(cfg);
    teams::routes(cfg);
    escalation_policies::routes(cfg);
    schedules::routes(cfg);
    services::routes(cfg);
    integrations::routes(cfg);
    deliveries::routes(cfg);
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    if req.path().starts_with("/api/") {
        return Err(
            crate::web::api::error::ApiError::NotFound("No such API endpoint.".into()).into(),
        );
    }
    Err(AppError::NotFound.into())
}

/// The answer to a successful form post: go to `location` (Post/Redirect/Get).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// Sends the browser on to `location` (303), where `message` is shown once.
pub fn redirect_with_flash(
    session: &actix_session::Session,
    kind: crate::web::session::FlashKind,
    message: impl Into<String>,
    location: &str,
) -> HttpResponse {
    crate::web::session::set_flash(session, kind, message);
    see_other(location)
}

/// Renders a page with the given status (a form shown again with its errors is a 400).
pub fn render(
    page: impl askama::Template,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(anyhow::Error::from)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `?page=N` on paginated lists (1-based; anything unusable reads as the first page).
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

impl PageQuery {
    pub fn number(&self) -> i64 {
        crate::domain::Page::<()>::number_from(self.page.as_deref())
    }
}
