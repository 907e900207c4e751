//! Settings: your account, and user management for owners and admins.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other, PageQuery};
use crate::domain::accounts::{self, AccountForm, AccountsError, Role, User};
use crate::domain::validation::FieldErrors;
use crate::domain::Page;
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

const USERS_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(settings_page)
        .service(users_page)
        .service(new_user_page)
        .service(create_user)
        .service(set_active);
}

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    me: User,
}

#[get("/settings")]
async fn settings_page(
    CurrentUser(me): CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let page = SettingsPage {
        layout: Layout::new(&session, Some(&me), Nav::Settings),
        me,
    };
    render(page, StatusCode::OK)
}

fn require_admin(user: &User) -> Result<(), AppError> {
    if user.role.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Only owners and admins can manage users.".to_owned(),
        ))
    }
}

#[derive(Template)]
#[template(path = "settings/users.html")]
struct UsersPage {
    layout: Layout,
    users: Page<User>,
}

impl UsersPage {
    fn is_me(&self, user: &User) -> bool {
        self.layout.user.as_ref().is_some_and(|me| me.id == user.id)
    }
}

#[get("/settings/users")]
async fn users_page(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    require_admin(&me)?;
    let users = accounts::list_users(&state.db, query.number(), USERS_PER_PAGE).await?;
    let view = UsersPage {
        layout: Layout::new(&session, Some(&me), Nav::Settings),
        users,
    };
    render(view, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "settings/user_new.html")]
struct NewUserPage {
    layout: Layout,
    form: AccountForm,
    errors: FieldErrors,
    roles: Vec<Role>,
}

impl NewUserPage {
    fn new(layout: Layout, me: &User, form: AccountForm, errors: FieldErrors) -> Self {
        let roles = Role::ALL
            .into_iter()
            .filter(|role| *role != Role::Owner || me.role == Role::Owner)
            .collect();
        NewUserPage {
            layout,
            form,
            errors,
            roles,
        }
    }

    fn is_selected(&self, role: &Role) -> bool {
        self.form.role.trim() == role.code().to_string()
    }
}

#[get("/settings/users/new")]
async fn new_user_page(
    CurrentUser(me): CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    require_admin(&me)?;
    let form = AccountForm {
        role: Role::User.code().to_string(),
        ..AccountForm::default()
    };
    let page = NewUserPage::new(
        Layout::new(&session, Some(&me), Nav::Settings),
        &me,
        form,
        FieldErrors::new(),
    );
    render(page, StatusCode::OK)
}

#[post("/settings/users")]
async fn create_user(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<HttpResponse, AppError> {
    match accounts::create_user(&state.db, &me, &form).await {
        Ok(user) => {
            tracing::info!(actor = %me.username, username = %user.username, role = user.role.label(), "user added");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("{} can now sign in.", user.full_name()),
                "/settings/users",
            ))
        }
        Err(AccountsError::Invalid(errors)) => {
            let form = AccountForm {
                password: String::new(),
                ..form
            };
            let page = NewUserPage::new(
                Layout::new(&session, Some(&me), Nav::Settings),
                &me,
                form,
                errors,
            );
            render(page, StatusCode::BAD_REQUEST)
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/settings/users/{username}/{action}")]
async fn set_active(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (username, action) = path.into_inner();
    let active = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(AppError::NotFound),
    };
    match accounts::set_user_active(&state.db, &me, &username, active).await {
        Ok(user) => {
            tracing::info!(actor = %me.username, username = %user.username, active, "user access changed");
            let verb = if active { "enabled" } else { "disabled" };
            session::set_flash(
                &session,
                FlashKind::Success,
                format!("{} is {verb}.", user.full_name()),
            );
        }
        Err(AccountsError::Forbidden(message)) => {
            session::set_flash(&session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other("/settings/users"))
}
