//! Settings: your account, and user management for owners and admins.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other, PageQuery};
use crate::domain::accounts::{
    self, AccountForm, AccountsError, EmailChangeForm, NameForm, PasswordChangeForm,
    PasswordResetForm, TimeZoneForm,
};
use crate::domain::contacts::{self, AddressForm, Contacts, RuleForm, RuleUrgency};
use crate::domain::schedules::{self, views::MyShift};
use crate::domain::sessions;
use crate::domain::users::{Role, User};
use crate::domain::validation::FieldErrors;
use crate::domain::Page;
use crate::web::auth::CurrentUser;
use crate::web::client_address;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav, ZoneSource};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

const USERS_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(settings_page)
        .service(change_name)
        .service(change_email)
        .service(change_time_zone)
        .service(change_password)
        .service(sign_out_everywhere)
        .service(users_page)
        .service(new_user_page)
        .service(create_user)
        // Before `set_active`, whose `{action}` would otherwise take "password".
        .service(reset_password_page)
        .service(disable_confirm)
        .service(reset_password)
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
    input: SettingsInput,
    urgencies: [RuleUrgency; 3],
    max_delay: i32,
    time_zones: Vec<&'static str>,
}

/// What the page's forms show again when one is refused (None: the account's own values).
#[derive(Debug, Clone, Default)]
pub(super) struct SettingsInput {
    pub address: AddressForm,
    pub rule: RuleForm,
    pub name: Option<NameForm>,
    pub email: Option<String>,
    pub time_zone: Option<String>,
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

    fn first_name(&self) -> &str {
        self.input
            .name
            .as_ref()
            .map_or(&self.me.first_name, |name| &name.first_name)
    }

    fn last_name(&self) -> &str {
        self.input
            .name
            .as_ref()
            .map_or(&self.me.last_name, |name| &name.last_name)
    }

    fn email(&self) -> &str {
        self.input.email.as_deref().unwrap_or(&self.me.email)
    }

    /// Which zone the pages use now and where it comes from, for the time zone's card.
    fn zone_in_use(&self) -> String {
        let (zone, source) = self.layout.zone_and_source();
        match source {
            ZoneSource::Profile => format!("Times show in {zone}, the zone you chose."),
            ZoneSource::Browser => {
                format!("Times show in {zone}, your browser's time zone: you have not chosen one.")
            }
            ZoneSource::Default => "Times show in UTC: you have not chosen a time zone, and your \
                                    browser has not told its own (it does when JavaScript is on)."
                .to_owned(),
        }
    }

    /// The zone in use, for the account's facts, with where it comes from unless chosen.
    fn zone_fact(&self) -> String {
        let (zone, source) = self.layout.zone_and_source();
        match source {
            ZoneSource::Profile => zone.to_string(),
            ZoneSource::Browser => format!("{zone} (your browser's)"),
            ZoneSource::Default => "UTC (none chosen)".to_owned(),
        }
    }

    fn zone_chosen(&self, zone: &str) -> bool {
        self.input
            .time_zone
            .as_deref()
            .unwrap_or(&self.me.time_zone)
            == zone
    }
}

pub(super) async fn settings(
    state: &AppState,
    session: &Session,
    me: User,
    errors: FieldErrors,
    input: SettingsInput,
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
        time_zones: accounts::time_zones().collect(),
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
        SettingsInput::default(),
        StatusCode::OK,
    )
    .await
}

#[post("/settings/name")]
async fn change_name(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    match accounts::change_name(&state.db, &me, &form).await {
        Ok(user) => {
            tracing::info!(username = %me.username, "name changed");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("Your name is now {}.", user.full_name()),
                "/settings",
            ))
        }
        Err(AccountsError::Invalid(errors)) => {
            let input = SettingsInput {
                name: Some(form),
                ..SettingsInput::default()
            };
            settings(&state, &session, me, errors, input, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
}

#[post("/settings/email")]
async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<EmailChangeForm>,
) -> Result<HttpResponse, AppError> {
    let client_ip = client_address::of(&req, &state.config.trusted_proxies);
    let (errors, status) = match accounts::change_email(&state.db, &me, &form, &client_ip).await {
        Ok(user) => {
            tracing::info!(username = %me.username, "email changed");
            return Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!(
                    "Your email is now {}: sign in with it from now on.",
                    user.email
                ),
                "/settings",
            ));
        }
        Err(AccountsError::Invalid(errors)) => (errors, StatusCode::BAD_REQUEST),
        Err(throttled @ AccountsError::Throttled { .. }) => {
            let mut errors = FieldErrors::new();
            errors.add("email_password", format!("Not checked: {throttled}."));
            (errors, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(other) => return Err(other.into()),
    };
    let input = SettingsInput {
        email: Some(form.email),
        ..SettingsInput::default()
    };
    settings(&state, &session, me, errors, input, status).await
}

#[post("/settings/time-zone")]
async fn change_time_zone(
    state: web::Data<AppState>,
    CurrentUser(me): CurrentUser,
    session: Session,
    CsrfForm(form): CsrfForm<TimeZoneForm>,
) -> Result<HttpResponse, AppError> {
    match accounts::change_time_zone(&state.db, &me, &form).await {
        Ok(user) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            if user.time_zone.is_empty() {
                "Pages now show times in your browser's time zone (UTC without JavaScript).".into()
            } else {
                format!("Your time zone is now {}.", user.time_zone)
            },
            "/settings",
        )),
        Err(AccountsError::Invalid(errors)) => {
            let input = SettingsInput {
                time_zone: Some(form.time_zone),
                ..SettingsInput::default()
            };
            settings(&state, &session, me, errors, input, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
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
        SettingsInput::default(),
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

    /// Whether "Reset password" is offered: not for oneself, and owners only by owners.
    fn can_reset(&self, user: &User) -> bool {
        self.layout.user.as_ref().is_some_and(|me| {
            me.id != user.id && (user.role != Role::Owner || me.role == Role::Owner)
        })
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

#[derive(Template)]
#[template(path = "settings/user_password.html")]
struct ResetPasswordPage {
    layout: Layout,
    user: User,
    errors: FieldErrors,
}

#[get("/settings/users/{username}/disable")]
async fn disable_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let user = accounts::user_to_disable(&state.db, &me, &path).await?;
    super::confirm::page(
        &session,
        &me,
        Nav::Settings,
        super::confirm::Confirmation {
            question: format!("Disable {}?", user.full_name()),
            detail: "They are signed out everywhere, cannot sign in, and are paged no more until \
                     an owner or admin enables them again. Their history stays."
                .to_owned(),
            action: format!("/settings/users/{}/disable", user.username),
            fields: Vec::new(),
            button: "Disable",
            back: "/settings/users".to_owned(),
        },
    )
}

#[get("/settings/users/{username}/password")]
async fn reset_password_page(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let user = accounts::user_to_reset(&state.db, &me, &path).await?;
    let page = ResetPasswordPage {
        layout: Layout::new(&session, Some(&me), Nav::Settings),
        user,
        errors: FieldErrors::new(),
    };
    render(page, StatusCode::OK)
}

#[post("/settings/users/{username}/password")]
async fn reset_password(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<PasswordResetForm>,
) -> Result<HttpResponse, AppError> {
    match accounts::reset_password(&state.db, &me, &path, &form).await {
        Ok(user) => {
            tracing::info!(actor = %me.username, username = %user.username, "password reset; their sessions ended");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!(
                    "{} has a new password and was signed out everywhere. Share it with them privately.",
                    user.full_name()
                ),
                "/settings/users",
            ))
        }
        Err(AccountsError::Invalid(errors)) => {
            let user = accounts::user_to_reset(&state.db, &me, &path).await?;
            let page = ResetPasswordPage {
                layout: Layout::new(&session, Some(&me), Nav::Settings),
                user,
                errors,
            };
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
