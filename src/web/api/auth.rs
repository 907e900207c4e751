//! `Authorization: Token <key>`: the API acts as the user who created the key.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::domain::api_keys;
use crate::domain::users::User;
use crate::web::AppState;

pub struct ApiUser(pub User);

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("app state missing")))?;
            let Some(header) = header else {
                return Err(ApiError::Unauthorized(
                    "Authentication credentials were not provided.".into(),
                ));
            };
            let key = header.strip_prefix("Token ").ok_or_else(|| {
                ApiError::Unauthorized("Use the header `Authorization: Token <key>`.".into())
            })?;
            match api_keys::authenticate(&state.db, key).await? {
                Some(user) => Ok(ApiUser(user)),
                None => Err(ApiError::Unauthorized("Invalid token.".into())),
            }
        })
    }
}
