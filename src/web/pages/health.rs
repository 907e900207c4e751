//! Liveness and readiness probes for orchestrators and load balancers.

use actix_web::{get, web, HttpResponse};

use crate::db::{deliveries, DbError};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// Prometheus text format. Queue figures are read from the database at scrape time.
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let queue = state
        .db
        .run(|conn| {
            let now = crate::db::now();
            let pending = deliveries::count_pending(conn)?;
            let oldest = deliveries::oldest_due(conn, now)?;
            Ok::<_, DbError>((
                pending,
                oldest.map(|at| (now - at).num_milliseconds() as f64 / 1000.0),
            ))
        })
        .await;
    match queue {
        Ok((pending, oldest)) => {
            state.metrics.pending.set(pending);
            state
                .metrics
                .oldest_due_seconds
                .set(oldest.unwrap_or(0.0).max(0.0));
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the delivery queue"),
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
