//! The signed-in user as a handler argument. A page that takes `CurrentUser` requires
//! sign-in: without it the visitor is sent to the sign-in page and back afterwards.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{web, FromRequest, HttpRequest};

use super::error::AppError;
use super::session;
use super::AppState;
use crate::db::Db;
use crate::domain::sessions;
use crate::domain::users::User;

pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let next = match req.uri().path_and_query() {
                Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_owned(),
                _ => "/".to_owned(),
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))?;
            match signed_in_user(&state.db, &req.get_session()).await? {
                Some(user) => Ok(CurrentUser(user)),
                None => Err(AppError::SignInRequired { next }),
            }
        })
    }
}

/// The active user this session belongs to. A cookie whose session ended (signed out, password
/// changed, user disabled) or expired is cleared here.
pub async fn signed_in_user(db: &Db, session: &Session) -> Result<Option<User>, AppError> {
    let Some(token) = session::session_token(session) else {
        return Ok(None);
    };
    let user = sessions::user_of(db, &token).await?;
    if user.is_none() {
        session::sign_out(session);
    }
    Ok(user)
}

/// A path that is safe to redirect to after sign-in: local to this site only.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}
