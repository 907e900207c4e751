//! What Klaxon keeps in the session cookie: the signed-in session's token, the CSRF token and
//! one flash message. The cookie is encrypted and signed (actix-session's private cookie store).

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::AppError;
use crate::domain::ids;

const SESSION_TOKEN: &str = "sid";
const CSRF_TOKEN: &str = "csrf";
const FLASH: &str = "flash";

/// Largest form body accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    pub fn css_class(self) -> &'static str {
        match self {
            FlashKind::Success => "flash-success",
            FlashKind::Error => "flash-error",
        }
    }
}

/// The token of the signed-in session this cookie carries (see `domain::sessions`).
pub fn session_token(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_TOKEN).ok().flatten()
}

/// Signs a user in: a fresh cookie (against fixation) holding only the session's token and a
/// new CSRF token.
pub fn sign_in(session: &Session, token: &str) -> Result<(), AppError> {
    session.renew();
    session.remove(CSRF_TOKEN);
    session
        .insert(SESSION_TOKEN, token)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

/// Ends the signed-in session; a fresh, empty one takes its place (it can carry a flash).
pub fn sign_out(session: &Session) {
    session.clear();
    session.renew();
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF_TOKEN) {
        return token;
    }
    let token = ids::new_token();
    // An insert only fails to serialise a String, which cannot happen.
    let _ = session.insert(CSRF_TOKEN, &token);
    token
}

fn csrf_matches(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(CSRF_TOKEN) {
        Ok(Some(expected)) => {
            !submitted.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}

pub fn set_flash(session: &Session, kind: FlashKind, message: impl Into<String>) {
    let _ = session.insert(
        FLASH,
        Flash {
            kind,
            message: message.into(),
        },
    );
}

pub fn take_flash(session: &Session) -> Option<Flash> {
    session.remove_as::<Flash>(FLASH).and_then(Result::ok)
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A url-encoded form whose CSRF token has been checked against the session. Every
/// state-changing form handler takes its input through this, so none can forget the check.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        // The body limit is the app-wide `PayloadConfig` (MAX_FORM_BYTES), set in startup.
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|error| {
                if error.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    AppError::PayloadTooLarge
                } else {
                    AppError::BadRequest("The form could not be read.".to_owned())
                }
            })?;
            let session = req.get_session();
            let field: CsrfField = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| AppError::BadRequest("The form could not be read.".to_owned()))?;
            if !csrf_matches(&session, &field.csrf_token) {
                tracing::warn!("form rejected: CSRF token missing or wrong");
                return Err(AppError::CsrfRejected);
            }
            let form = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}.")))?;
            Ok(CsrfForm(form))
        })
    }
}
