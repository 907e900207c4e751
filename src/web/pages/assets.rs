//! Static files, embedded in the binary so that it runs from anywhere.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

const STYLESHEET: &str = include_str!("../../../static/style.css");
/// Optional: pages work without it (see the file's first lines).
const LIVE_SCRIPT: &str = include_str!("../../../static/live.js");
/// Optional: keyboard shortcuts for the incidents list and an incident's page.
const KEYS_SCRIPT: &str = include_str!("../../../static/keys.js");
/// Optional: confirmations in a dialog instead of a page.
const CONFIRM_SCRIPT: &str = include_str!("../../../static/confirm.js");
/// Optional: tells the server the browser's time zone (see the file's first lines).
const ZONE_SCRIPT: &str = include_str!("../../../static/zone.js");
const FAVICON: &str = include_str!("../../../static/favicon.svg");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(stylesheet)
        .service(live_script)
        .service(keys_script)
        .service(confirm_script)
        .service(zone_script)
        .service(favicon)
        .service(favicon_ico);
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

#[get("/static/style.css")]
async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

#[get("/static/live.js")]
async fn live_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", LIVE_SCRIPT)
}

#[get("/static/keys.js")]
async fn keys_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", KEYS_SCRIPT)
}

#[get("/static/confirm.js")]
async fn confirm_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CONFIRM_SCRIPT)
}

#[get("/static/zone.js")]
async fn zone_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", ZONE_SCRIPT)
}

#[get("/static/favicon.svg")]
async fn favicon() -> HttpResponse {
    asset("image/svg+xml", FAVICON)
}

/// Browsers ask for `/favicon.ico` on their own, even with the icon declared in the page.
#[get("/favicon.ico")]
async fn favicon_ico() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/static/favicon.svg"))
        .finish()
}
