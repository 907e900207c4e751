//! The signed-in user as a handler argument. A page that takes `CurrentUser` requires
//! sign-in: without it the visitor is sent to the sign-in page and back afterwards.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::AppError;
use super::session;
use super::AppState;
use crate::domain::accounts::{self, User};

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
            let session = req.get_session();
            let Some(user_id) = session::user_id(&session) else {
                return Err(AppError::SignInRequired { next });
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))?;
            match accounts::find_active_user(&state.db, user_id).await? {
                Some(user) => Ok(CurrentUser(user)),
                None => {
                    // Deleted or disabled since signing in: the session ends here.
                    session::sign_out(&session);
                    Err(AppError::SignInRequired { next })
                }
            }
        })
    }
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
