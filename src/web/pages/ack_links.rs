//! The Acknowledge link of a notification email: GET shows one button, POST acknowledges. No
//! sign-in is needed: the signed link stands for the person it was sent to.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::render;
use crate::domain::ack_links::{self, LinkRefusal, LinkedIncident, OpenedLink};
use crate::web::auth::signed_in_user;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::CsrfForm;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(confirm_page).service(acknowledge);
}

#[derive(Template)]
#[template(path = "incidents/ack_link.html")]
struct AckLinkPage {
    layout: Layout,
    action: String,
    incident: Option<LinkedIncident>,
    acknowledged: bool,
    refusal: Option<String>,
}

async fn page(
    state: &AppState,
    session: &Session,
    path: &(String, String),
    outcome: Result<LinkedIncident, LinkRefusal>,
    acknowledged: bool,
) -> Result<HttpResponse, AppError> {
    let user = signed_in_user(&state.db, session).await?;
    let (incident, refusal, status) = match outcome {
        Ok(incident) => (Some(incident), None, StatusCode::OK),
        Err(refusal) => {
            let status = match refusal {
                LinkRefusal::Invalid => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            (None, Some(refusal.message()), status)
        }
    };
    let page = AckLinkPage {
        layout: Layout::new(session, user.as_ref(), Nav::None),
        action: format!("/ack/{}/{}", path.0, path.1),
        incident,
        acknowledged,
        refusal,
    };
    render(page, status)
}

fn opened(state: &AppState, path: &(String, String)) -> OpenedLink {
    OpenedLink {
        key: state.link_key.to_vec(),
        notification: path.0.clone(),
        signature: path.1.clone(),
    }
}

#[get("/ack/{notification}/{signature}")]
async fn confirm_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let looked = ack_links::look(&state.db, opened(&state, &path)).await?;
    page(&state, &session, &path, looked, false).await
}

#[derive(serde::Deserialize)]
struct Confirmation {}

#[post("/ack/{notification}/{signature}")]
async fn acknowledge(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    _form: CsrfForm<Confirmation>,
) -> Result<HttpResponse, AppError> {
    let done = ack_links::acknowledge(&state.db, opened(&state, &path)).await?;
    let acknowledged = done.is_ok();
    page(&state, &session, &path, done, acknowledged).await
}
