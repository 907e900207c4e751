//! A real local HTTP server that receives webhooks, answering from a script of replies.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    Slow(Duration),
    Redirect,
    HugeBody,
    RetryAfter(u16, u64),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }

    /// The webhook's event type (`payload.event_type`: triggered, acknowledged, resolved).
    pub fn event_type(&self) -> String {
        self.json()["payload"]["event_type"]
            .as_str()
            .expect("an event type")
            .to_owned()
    }
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct Receiver {
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver that answers 200 unless scripted otherwise.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/klaxon", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .app_data(web::PayloadConfig::new(10 * 1024 * 1024))
                .default_service(web::to(receive))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { url, state }
    }

    /// The next requests get these replies, in order; after them, 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The event types of the webhooks received so far, in the order they arrived.
    pub fn event_types(&self) -> Vec<String> {
        self.received().iter().map(Received::event_type).collect()
    }

    /// Waits until at least `count` requests arrived (or panics after `limit`).
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} requests, got {}: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    state.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let reply = state.script.lock().unwrap().pop_front();
    match reply {
        None => HttpResponse::Ok().body("thanks"),
        Some(Reply::Status(code)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .body(format!("answer {code}"))
        }
        Some(Reply::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            HttpResponse::Ok().body("late")
        }
        Some(Reply::Redirect) => HttpResponse::Found()
            .insert_header(("location", "/elsewhere"))
            .finish(),
        Some(Reply::HugeBody) => HttpResponse::InternalServerError().body("x".repeat(1024 * 1024)),
        Some(Reply::RetryAfter(code, secs)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                .insert_header(("retry-after", secs.to_string()))
                .finish()
        }
    }
}

/// An address where nothing listens: connections are refused.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/nobody-home")
}

/// Verifies a Standard Webhooks signature from the specification alone (independent of
/// Klaxon's signing code): HMAC-SHA256 over "id.timestamp.body" with the base64 key.
pub fn signature_is_valid(secret: &str, received: &Received) -> bool {
    use base64::Engine;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
        received.body
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .header("webhook-signature")
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}
