//! Static files, embedded in the binary so that it runs from anywhere.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

const STYLESHEET: &str = include_str!("../../../static/style.css");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(stylesheet);
}

#[get("/static/style.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}
