//! Settings: your account, and user management for owners and admins.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other, PageQuery};
use crate::domain::accounts::{self, AccountForm, AccountsError, PasswordChangeForm};
use crate::domain::contacts::{self, AddressForm, Contacts, RuleForm, RuleUrgency};
use crate::domain::schedules::{self, views::MyShift};
use crate::domain::sessions;
use crate::domain::users::{Role, User};
use crate::domain::validation::FieldErrors;
use crate::domain::Page;
use crate::web::auth::CurrentUser;
use crate::web::client_address;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

const USERS_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(settings_page)
        .service(change_password)
        .service(sign_out_everywhere)
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
    /// Browsers (and other copies of a cookie) signed in as this user.
    sessions: i64,
    /// Their shifts in the next two weeks, across their teams' schedules.
    shifts: Vec<MyShift>,
    errors: FieldErrors,
    /// Owners are told when paging emails cannot go out.
    email_warning: bool,
    /// Without SMTP, confirmation emails cannot go out: everyone adding an address is told.
    email_configured: bool,
    contacts: Contacts,
    input: ContactInput,
    urgencies: [RuleUrgency; 3],
    max_delay: i32,
}

/// What the contact forms show again when they are refused.
#[derive(Debug, Clone, Default)]
pub(super) struct ContactInput {
    pub address: AddressForm,
    pub rule: RuleForm,
}

impl SettingsPage {
    /// A shift's time as the profile shows it (UTC: the shifts come from schedules in several
    /// time zones).
    fn when(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        at.format("%a %-d %b %H:%M UTC").to_string()
    }

    fn urgency_chosen(&self, urgency: &RuleUrgency) -> bool {
        let chosen = self.input.rule.urgency.trim();
        chosen == urgency.word() || (chosen.is_empty() && *urgency == RuleUrgency::Any)
    }

    fn method_chosen(&self, unique_id: &str) -> bool {
        self.input.rule.contact_method == unique_id
    }
}

pub(super) async fn settings(
    state: &AppState,
    session: &Session,
    me: User,
    errors: FieldErrors,
    input: ContactInput,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let page = SettingsPage {
        layout: Layout::new(session, Some(&me), Nav::Settings),
        sessions: sessions::count(&state.db, me.id).await?,
        email_warning: !state.email_configured && me.role == crate::domain::users::Role::Owner,
        email_configured: state.email_configured,
        shifts: schedules::views::my_shifts(&state.db, &me).await?,
        contacts: contacts::of(&state.db, &me).await?,
        urgencies: RuleUrgency::ALL,
        max_delay: contacts::MAX_DELAY_MINUTES,
        me,
        errors,
        input,
    };
    render(page, status)
}

#[get("/settings")]
async fn settings_page(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    settings(
        &state,
        &session,
        me,
        FieldErrors::new(),
        ContactInput::default(),
        StatusCode::OK,
    )
    .await
}

#[post("/settings/password")]
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<PasswordChangeForm>,
) -> Result<HttpResponse, AppError> {
    let client_ip = client_address::of(&req, &state.config.trusted_proxies);
    let token = session::session_token(&session).unwrap_or_default();
    let (errors, status) =
        match accounts::change_password(&state.db, &me, &form, &client_ip, &token).await {
            Ok(()) => {
                tracing::info!(username = %me.username, "password changed");
                return Ok(redirect_with_flash(
                    &session,
                    FlashKind::Success,
                    "Your password was changed. Every other session of yours has ended.",
                    "/settings",
                ));
            }
            Err(AccountsError::Invalid(errors)) => (errors, StatusCode::BAD_REQUEST),
            Err(throttled @ AccountsError::Throttled { .. }) => {
                let mut errors = FieldErrors::new();
                errors.add("current_password", format!("Not checked: {throttled}."));
                (errors, StatusCode::TOO_MANY_REQUESTS)
            }
            Err(other) => return Err(other.into()),
        };
    settings(
        &state,
        &session,
        me,
        errors,
        ContactInput::default(),
        status,
    )
    .await
}

/// Ends every session of the signed-in user, this one included: every browser, and every
/// copy of a cookie, must sign in again.
#[post("/settings/sign-out-everywhere")]
async fn sign_out_everywhere(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let ended = sessions::end_all(&state.db, me.id, None).await?;
    tracing::info!(username = %me.username, ended, "signed out everywhere");
    session::sign_out(&session);
    Ok(redirect_with_flash(
        &session,
        FlashKind::Success,
        "You have signed out everywhere.",
        "/signin",
    ))
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
        Err(AccountsError::InUse(message)) => {
            session::set_flash(&session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other("/settings/users"))
}
