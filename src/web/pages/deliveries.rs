//! Webhook deliveries: an integration's list, one delivery with every attempt, "Redeliver"
//! and "Send test event".

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render};
use crate::domain::deliveries::{
    self, DeliveryDetail, DeliveryList, DeliveryQuery, EVENTS, STATES,
};
use crate::domain::DomainError;
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

const DELIVERIES_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(show)
        .service(redeliver)
        .service(send_test_event);
}

#[derive(Template)]
#[template(path = "deliveries/list.html")]
struct DeliveriesPage {
    layout: Layout,
    data: DeliveryList,
    query: DeliveryQuery,
    base: String,
    states: [&'static str; 3],
    events: [&'static str; 3],
}

#[get("/services/{service}/integrations/{integration}/deliveries")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    let query = query.into_inner();
    let data = deliveries::list(
        &state.db,
        &me,
        &service_uid,
        &integration_uid,
        &query,
        DELIVERIES_PER_PAGE,
    )
    .await?;
    let base = format!(
        "/services/{service_uid}/integrations/{integration_uid}/deliveries?state={}&event={}",
        query.state(),
        query.event()
    );
    let page = DeliveriesPage {
        layout: Layout::new(&session, Some(&me), Nav::Services),
        data,
        query,
        base,
        states: STATES,
        events: EVENTS,
    };
    render(page, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "deliveries/show.html")]
struct DeliveryPage {
    layout: Layout,
    detail: DeliveryDetail,
}

impl DeliveryPage {
    /// The stored request headers of an attempt, as name/value pairs.
    fn headers(&self, json: &str) -> Vec<(String, String)> {
        serde_json::from_str(json).unwrap_or_default()
    }
}

#[get("/deliveries/{webhook_id}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let detail = deliveries::detail(&state.db, &me, &path).await?;
    render(
        DeliveryPage {
            layout: Layout::new(&session, Some(&me), Nav::Services),
            detail,
        },
        StatusCode::OK,
    )
}

#[post("/deliveries/{webhook_id}/redeliver")]
async fn redeliver(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    match deliveries::redeliver(&state.db, &me, &path).await {
        Ok(new_id) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            // Said of what was done, not of the delivery's state: it may have been sent (or
            // failed) by the time this page shows.
            "Created a new delivery with the same body: its state and attempts are below.",
            &format!("/deliveries/{new_id}"),
        )),
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            message,
            &format!("/deliveries/{path}"),
        )),
        Err(other) => Err(other.into()),
    }
}

#[post("/services/{service}/integrations/{integration}/test-event")]
async fn send_test_event(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (service_uid, integration_uid) = path.into_inner();
    match deliveries::send_test_event(&state.db, &me, &service_uid, &integration_uid).await {
        Ok(id) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            // As for Redeliver: the page may already show it sent, so "queued" would be wrong.
            "Test event created: its state and attempts are below.",
            &format!("/deliveries/{id}"),
        )),
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            message,
            &format!("/services/{service_uid}/integrations/{integration_uid}"),
        )),
        Err(other) => Err(other.into()),
    }
}
