//! Settings → API keys: create (shown once), list with last use, revoke.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, PageQuery};
use crate::db::api_keys::ApiKeyRow;
use crate::domain::api_keys::{self, NewKeyForm};
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

const KEYS_PER_PAGE: i64 = 50;

/// Session entry holding a key just created (its name and token) until the page shows it.
const CREATED_KEY: &str = "created_api_key";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(revoke_confirm)
        .service(revoke);
}

#[derive(Template)]
#[template(path = "settings/api_keys.html")]
struct ApiKeysPage {
    layout: Layout,
    keys: Page<ApiKeyRow>,
    form: NewKeyForm,
    errors: FieldErrors,
    /// The key just created: shown this once.
    created: Option<(String, String)>,
    base: &'static str,
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    session: &Session,
    me: &crate::domain::users::User,
    number: i64,
    form: NewKeyForm,
    errors: FieldErrors,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let keys = api_keys::list(&state.db, me, number, KEYS_PER_PAGE).await?;
    let view = ApiKeysPage {
        layout: Layout::new(session, Some(me), Nav::Settings),
        keys,
        form,
        errors,
        created,
        base: "/settings/api-keys",
    };
    render(view, status)
}

#[get("/settings/api-keys")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let created = session
        .remove_as::<(String, String)>(CREATED_KEY)
        .and_then(Result::ok);
    page(
        &state,
        &session,
        &me,
        query.number(),
        NewKeyForm::default(),
        FieldErrors::new(),
        created,
        StatusCode::OK,
    )
    .await
}

#[post("/settings/api-keys")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<NewKeyForm>,
) -> Result<HttpResponse, AppError> {
    match api_keys::create(&state.db, &me, &form).await {
        Ok(created) => {
            tracing::info!(actor = %me.username, name = %created.0, "API key created");
            // Post/redirect/get: reloading the page that shows the key must not create another.
            // The key rides to that page in the encrypted session cookie, which drops it there.
            session
                .insert(CREATED_KEY, &created)
                .map_err(|error| anyhow::anyhow!("session: {error}"))?;
            Ok(super::see_other("/settings/api-keys"))
        }
        Err(DomainError::Invalid(errors)) => {
            page(
                &state,
                &session,
                &me,
                1,
                form,
                errors,
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[get("/settings/api-keys/{id}/revoke")]
async fn revoke_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.parse::<i64>().map_err(|_| AppError::NotFound)?;
    let key = api_keys::find_active_own(&state.db, &me, id).await?;
    super::confirm::page(
        &session,
        &me,
        Nav::Settings,
        super::confirm::Confirmation {
            question: format!("Revoke the API key {}?", key.name),
            detail: "Every request made with it is refused from then on; a revoked key cannot be \
                     used again."
                .to_owned(),
            action: format!("/settings/api-keys/{id}/revoke"),
            fields: Vec::new(),
            button: "Revoke",
            back: "/settings/api-keys".to_owned(),
        },
    )
}

#[post("/settings/api-keys/{id}/revoke")]
async fn revoke(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let id = path.parse::<i64>().map_err(|_| AppError::NotFound)?;
    api_keys::revoke(&state.db, &me, id).await?;
    tracing::info!(actor = %me.username, key = id, "API key revoked");
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        "API key revoked: requests with it are refused from now on.",
        "/settings/api-keys",
    ))
}
