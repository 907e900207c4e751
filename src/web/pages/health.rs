//! Liveness and readiness probes for orchestrators and load balancers.

use actix_web::{get, web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{deliveries, escalations, notifications, DbError};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// Whether the request may read `/metrics`: always when no `KLAXON_METRICS_TOKEN` is set,
/// otherwise only with `Authorization: Bearer <token>`. The comparison is of SHA-256 digests in
/// constant time, so neither the token's content nor its length shows in response times.
fn metrics_allowed(req: &HttpRequest, token: Option<&str>) -> bool {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return true;
    };
    let Some(given) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, credentials) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        })
    else {
        return false;
    };
    let (expected, given) = (
        Sha256::digest(token.as_bytes()),
        Sha256::digest(given.as_bytes()),
    );
    bool::from(expected.ct_eq(&given))
}

/// Prometheus text format. Queue figures are read from the database at scrape time.
#[get("/metrics")]
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !metrics_allowed(&req, state.config.metrics_token.as_deref()) {
        return HttpResponse::Unauthorized()
            .insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                r#"Bearer realm="klaxon-metrics""#,
            ))
            .content_type("text/plain; charset=utf-8")
            .body("/metrics needs Authorization: Bearer <KLAXON_METRICS_TOKEN>.\n");
    }
    let queues = state
        .db
        .run(|conn| {
            let now = crate::db::now();
            let age = |at: Option<chrono::NaiveDateTime>| {
                at.map_or(0.0, |at| {
                    ((now - at).num_milliseconds() as f64 / 1000.0).max(0.0)
                })
            };
            let pending = deliveries::count_pending(conn)?;
            let oldest = deliveries::oldest_due(conn, now)?;
            let (_, oldest_step) = escalations::queue_stats(conn, now)?;
            let (notifications_pending, oldest_notification) =
                notifications::queue_stats(conn, now)?;
            Ok::<_, DbError>((
                pending,
                age(oldest),
                age(oldest_step),
                notifications_pending,
                age(oldest_notification),
            ))
        })
        .await;
    match queues {
        Ok((pending, oldest, oldest_step, notifications_pending, oldest_notification)) => {
            let metrics = &state.metrics;
            metrics.pending.set(pending);
            metrics.oldest_due_seconds.set(oldest);
            metrics.escalation_oldest_due_seconds.set(oldest_step);
            metrics.notifications_pending.set(notifications_pending);
            metrics
                .notification_oldest_due_seconds
                .set(oldest_notification);
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the work queues"),
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// The process is up and serving HTTP.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers; without it Klaxon cannot do its work.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.db.is_reachable().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unavailable", "database": "unreachable"}))
    }
}
