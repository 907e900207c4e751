//! Accounts: sign-up of the first owner, sign-in with throttling, and user management.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::Duration;

use super::users::{normalize_email, Role, User};
use super::validation::{required_text, FieldErrors};
use super::{ids, Page};
use crate::db::users::{NewUserRow, UserRow};
use crate::db::{self, app_settings, login_failures, user_sessions, users, Db, DbError};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Long enough for any passphrase, short enough that hashing it is no denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Failed sign-ins allowed in one window for one account from one client address.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 10;
/// Failed sign-ins allowed in one window from one client address, whatever the account.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 50;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// Marker row whose primary key makes "first owner" creation happen once, even when two
/// people submit the first-run form at the same moment.
const OWNER_CREATED_MARKER: &str = "owner_created";

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    #[error("Klaxon is already set up; sign in instead")]
    AlreadySetUp,
    #[error("you are not allowed to do that")]
    Forbidden(&'static str),
    #[error("no such user")]
    NotFound,
    /// The change would leave an escalation policy or schedule paging someone it cannot reach.
    #[error("{0}")]
    InUse(String),
    #[error("too many failed sign-ins; try again in {} minutes", retry_after_secs.div_ceil(60))]
    Throttled { retry_after_secs: u64 },
    #[error("email or password is incorrect")]
    BadCredentials,
    /// The password was right, but the account is disabled: said only after the password was
    /// checked, so it tells a stranger nothing.
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl From<diesel::result::Error> for AccountsError {
    fn from(error: diesel::result::Error) -> Self {
        AccountsError::Db(DbError::Query(error))
    }
}

/// What a sign-up or "add user" form gives, before validation.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub role: String,
}

/// A validated new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

impl AccountForm {
    /// Validates every field; `role` is read only when `with_role` (the first owner has none).
    pub fn validate(&self, with_role: bool) -> Result<NewAccount, FieldErrors> {
        let mut errors = FieldErrors::new();
        let first_name = required_text(&mut errors, "first_name", &self.first_name, 150);
        let last_name = required_text(&mut errors, "last_name", &self.last_name, 150);
        let email = match normalize_email(&self.email) {
            Ok(_) => self.email.trim().to_owned(),
            Err(message) => {
                errors.add("email", message);
                String::new()
            }
        };
        let personal = [self.email.as_str(), &self.first_name, &self.last_name];
        if let Err(message) = check_password(&self.password, &personal) {
            errors.add("password", message);
        }
        let role = if with_role {
            match self
                .role
                .trim()
                .parse::<i32>()
                .ok()
                .and_then(Role::from_code)
            {
                Some(role) => role,
                None => {
                    errors.add("role", "Choose a role.");
                    Role::User
                }
            }
        } else {
            Role::Owner
        };
        errors.into_result(NewAccount {
            first_name,
            last_name,
            email,
            password: self.password.clone(),
            role,
        })
    }
}

/// A password people can keep: long enough, not all spaces, and not among the common or easily
/// guessed ones (zxcvbn's estimate, which also penalises the person's own name and email).
pub fn check_password(password: &str, personal: &[&str]) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("Use at least {MIN_PASSWORD_CHARS} characters."));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("Use at most {MAX_PASSWORD_CHARS} characters."));
    }
    if password.trim().is_empty() {
        return Err("A password of only spaces is too easy to guess.".to_owned());
    }
    let estimate = zxcvbn::zxcvbn(password, personal);
    if estimate.score() < zxcvbn::Score::Three {
        let why = estimate
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map(|warning| format!(" ({warning})"))
            .unwrap_or_default();
        return Err(format!(
            "This password is too easy to guess{why}. Add a few uncommon words."
        ));
    }
    Ok(())
}

/// argon2id with the crate's defaults, which are OWASP's recommendation (19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, AccountsError> {
    let salt = SaltString::encode_b64(&ids::random_bytes::<16>())
        .map_err(|e| AccountsError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountsError::Hashing(e.to_string()))
}

fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verified against when the email is unknown, so that both failures cost the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password("klaxon-dummy-password").expect("hashing a constant cannot fail")
});

async fn hash_off_thread(password: String) -> Result<String, AccountsError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountsError::Hashing(e.to_string()))?
}

fn is_set_up(conn: &mut db::DbConn) -> Result<bool, DbError> {
    Ok(app_settings::get(conn, OWNER_CREATED_MARKER)?.is_some() || users::count(conn)? > 0)
}

/// True once the first owner exists.
pub async fn is_installed(db: &Db) -> Result<bool, AccountsError> {
    Ok(db.run(is_set_up).await?)
}

/// Creates the owner of a new install. Refused once anyone has done so.
pub async fn create_first_owner(db: &Db, form: &AccountForm) -> Result<User, AccountsError> {
    let account = form.validate(false).map_err(AccountsError::Invalid)?;
    if is_installed(db).await? {
        return Err(AccountsError::AlreadySetUp);
    }
    let hash = hash_off_thread(account.password.clone()).await?;
    db.write(move |conn| {
        app_settings::insert(conn, OWNER_CREATED_MARKER, &db::now().to_string()).map_err(|e| {
            match DbError::from(e) {
                e if e.is_unique_violation() => AccountsError::AlreadySetUp,
                e => AccountsError::Db(e),
            }
        })?;
        let owner = insert_user(conn, &account, &hash)?;
        // A new install can create a service at once: the owner gets a team to put it in.
        super::teams::insert_team_with_manager(conn, super::teams::DEFAULT_TEAM_NAME, owner.id)?;
        Ok(owner)
    })
    .await
}

fn insert_user(
    conn: &mut db::DbConn,
    account: &NewAccount,
    hash: &str,
) -> Result<User, AccountsError> {
    let email_normalized = account.email.to_lowercase();
    let username = ids::new_username();
    let row = NewUserRow {
        username: &username,
        email: &account.email,
        email_normalized: &email_normalized,
        first_name: &account.first_name,
        last_name: &account.last_name,
        password_hash: hash,
        role: account.role.code(),
        is_active: true,
        created_at: db::now(),
        time_zone: "",
    };
    match users::insert(conn, &row) {
        Ok(row) => {
            // Everyone starts reachable: their account email, at once, any urgency.
            super::contacts::create_defaults_in(conn, row.id, &row.email, row.created_at)
                .map_err(|e| AccountsError::Db(DbError::from(e)))?;
            Ok(row.into())
        }
        Err(e) => match DbError::from(e) {
            e if e.is_unique_violation() => {
                let mut errors = FieldErrors::new();
                errors.add("email", "A user with this email already exists.");
                Err(AccountsError::Invalid(errors))
            }
            e => Err(AccountsError::Db(e)),
        },
    }
}

/// Adds a user on behalf of an owner or admin. Only owners may create owners.
pub async fn create_user(db: &Db, actor: &User, form: &AccountForm) -> Result<User, AccountsError> {
    if !actor.role.is_admin() {
        return Err(AccountsError::Forbidden(
            "Only owners and admins can add users.",
        ));
    }
    let account = form.validate(true).map_err(AccountsError::Invalid)?;
    if account.role == Role::Owner && actor.role != Role::Owner {
        let mut errors = FieldErrors::new();
        errors.add("role", "Only an owner can add another owner.");
        return Err(AccountsError::Invalid(errors));
    }
    let email_normalized = normalize_email(&account.email).unwrap_or_default();
    let taken = db
        .run(move |conn| users::find_by_email(conn, &email_normalized).map_err(DbError::from))
        .await?;
    if taken.is_some() {
        let mut errors = FieldErrors::new();
        errors.add("email", "A user with this email already exists.");
        return Err(AccountsError::Invalid(errors));
    }
    let hash = hash_off_thread(account.password.clone()).await?;
    db.write(move |conn| insert_user(conn, &account, &hash))
        .await
}

/// Checks an email and password. Unknown email and wrong password give the same error after
/// the same work; a disabled account is named only to someone who knows its password.
///
/// The attempt is counted before any password is checked, in the same write that reads the
/// counts: of any number of concurrent attempts, at most the limit reach the check. A
/// successful attempt is uncounted afterwards. Counts are per (email, address) and per address,
/// so guesses from elsewhere cannot lock a person out of their own account.
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Result<User, AccountsError> {
    let email_normalized = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    let ip = client_ip.to_owned();
    let (user, attempt_id) = db
        .write(move |conn| count_attempt(conn, &email_normalized, &ip))
        .await?;

    let password = password.to_owned();
    let checked = tokio::task::spawn_blocking(move || match user {
        Some(user) => verify_password(&password, &user.password_hash).then_some(user),
        None => {
            verify_password(&password, &DUMMY_HASH);
            None
        }
    })
    .await
    .map_err(|e| AccountsError::Hashing(e.to_string()))?;

    match checked {
        Some(user) if !user.is_active => Err(AccountsError::Disabled),
        Some(user) => {
            db.write(move |conn| {
                login_failures::delete(conn, attempt_id)?;
                Ok::<_, AccountsError>(())
            })
            .await?;
            Ok(user.into())
        }
        None => Err(AccountsError::BadCredentials),
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PasswordChangeForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
}

/// Changes the actor's own password. The current password is checked as a sign-in attempt is
/// (counted and throttled alike), and every other session of the actor ends; the one of
/// `keep_session` (a token) goes on.
pub async fn change_password(
    db: &Db,
    actor: &User,
    form: &PasswordChangeForm,
    client_ip: &str,
    keep_session: &str,
) -> Result<(), AccountsError> {
    let personal = [actor.email.as_str(), &actor.first_name, &actor.last_name];
    if let Err(message) = check_password(&form.new_password, &personal) {
        return Err(field_error("new_password", message));
    }
    check_current_password(
        db,
        actor,
        &form.current_password,
        "current_password",
        client_ip,
    )
    .await?;
    let new_hash = hash_off_thread(form.new_password.clone()).await?;
    let (user_id, keep) = (actor.id, ids::token_hash(keep_session));
    db.write(move |conn| {
        users::set_password_hash(conn, user_id, &new_hash)?;
        user_sessions::delete_for_user(conn, user_id, Some(&keep))?;
        Ok::<_, AccountsError>(())
    })
    .await
}

fn field_error(field: &'static str, message: impl Into<String>) -> AccountsError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    AccountsError::Invalid(errors)
}

/// Checks the actor's current password, given in the form's `field`, as a sign-in attempt is
/// checked: counted against the same limits, so that a stolen session cannot be used to guess
/// the password faster than the sign-in page allows. A right password uncounts the attempt.
async fn check_current_password(
    db: &Db,
    actor: &User,
    password: &str,
    field: &'static str,
    client_ip: &str,
) -> Result<(), AccountsError> {
    let email_normalized = actor.email.to_lowercase();
    let ip = client_ip.to_owned();
    let (row, attempt_id) = db
        .write(move |conn| count_attempt(conn, &email_normalized, &ip))
        .await?;
    let row = row
        .filter(|row| row.id == actor.id)
        .ok_or(AccountsError::NotFound)?;
    let password = password.to_owned();
    let right = tokio::task::spawn_blocking(move || verify_password(&password, &row.password_hash))
        .await
        .map_err(|e| AccountsError::Hashing(e.to_string()))?;
    if !right {
        return Err(field_error(field, "This is not your current password."));
    }
    db.write(move |conn| {
        login_failures::delete(conn, attempt_id)?;
        Ok::<_, AccountsError>(())
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// Changes the actor's own first and last name.
pub async fn change_name(db: &Db, actor: &User, form: &NameForm) -> Result<User, AccountsError> {
    let mut errors = FieldErrors::new();
    let first_name = required_text(&mut errors, "first_name", &form.first_name, 150);
    let last_name = required_text(&mut errors, "last_name", &form.last_name, 150);
    errors.into_result(()).map_err(AccountsError::Invalid)?;
    let user_id = actor.id;
    let (first, last) = (first_name.clone(), last_name.clone());
    db.write(move |conn| {
        users::set_name(conn, user_id, &first, &last)?;
        // Policies that page this person show the name in their frozen rules.
        super::incidents::escalation::refreeze_policies_targeting(
            conn,
            crate::db::escalation_policies::Target::User(user_id),
        )?;
        Ok::<_, AccountsError>(())
    })
    .await?;
    Ok(User {
        first_name,
        last_name,
        ..actor.clone()
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EmailChangeForm {
    #[serde(default)]
    pub email: String,
    /// The current password, named apart from the password form's on the same page.
    #[serde(default)]
    pub email_password: String,
}

/// The refusal of an address another account has. It names no account and gives no reason; that
/// the address cannot be used still hints that someone has it, which is why the refusal comes
/// only after the password was checked (and counted like a sign-in attempt).
pub const EMAIL_CANNOT_BE_USED: &str = "This email cannot be used.";

/// Changes the actor's own email, which they sign in with, after checking their current
/// password as a sign-in attempt. Their account-email contact method follows.
pub async fn change_email(
    db: &Db,
    actor: &User,
    form: &EmailChangeForm,
    client_ip: &str,
) -> Result<User, AccountsError> {
    let email_normalized = normalize_email(&form.email).map_err(|m| field_error("email", m))?;
    let email = form.email.trim().to_owned();
    // Only someone who knows the password learns whether the address is taken.
    check_current_password(db, actor, &form.email_password, "email_password", client_ip).await?;
    let user_id = actor.id;
    let stored = email.clone();
    db.write(move |conn| {
        if users::find_by_email(conn, &email_normalized)?.is_some_and(|row| row.id != user_id) {
            return Err(field_error("email", EMAIL_CANNOT_BE_USED));
        }
        users::set_email(conn, user_id, &stored, &email_normalized).map_err(
            |e| match DbError::from(e) {
                e if e.is_unique_violation() => field_error("email", EMAIL_CANNOT_BE_USED),
                e => AccountsError::Db(e),
            },
        )?;
        super::contacts::follow_account_email_in(conn, user_id, &stored, db::now())?;
        Ok(())
    })
    .await?;
    Ok(User {
        email,
        ..actor.clone()
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TimeZoneForm {
    #[serde(default)]
    pub time_zone: String,
}

/// Every IANA time zone name the profile offers, in order.
pub fn time_zones() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

/// Sets the actor's own time zone, one of `time_zones`, or none (empty): the browser's then.
pub async fn change_time_zone(
    db: &Db,
    actor: &User,
    form: &TimeZoneForm,
) -> Result<User, AccountsError> {
    let chosen = form.time_zone.trim();
    let time_zone = if chosen.is_empty() {
        String::new()
    } else {
        chosen
            .parse::<chrono_tz::Tz>()
            .map_err(|_| field_error("time_zone", "Choose a time zone from the list."))?
            .name()
            .to_owned()
    };
    let (user_id, stored) = (actor.id, time_zone.clone());
    db.write(move |conn| {
        users::set_time_zone(conn, user_id, &stored)?;
        Ok::<_, AccountsError>(())
    })
    .await?;
    Ok(User {
        time_zone,
        ..actor.clone()
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PasswordResetForm {
    #[serde(default)]
    pub new_password: String,
}

/// The user whose password an owner or admin may set: someone else (people change their own
/// with their current password), and an owner only for another owner, since whoever sets an
/// account's password can act as it.
fn resettable(conn: &mut db::DbConn, actor: &User, username: &str) -> Result<User, AccountsError> {
    let target: User = users::find_by_username(conn, username)?
        .ok_or(AccountsError::NotFound)?
        .into();
    if target.id == actor.id {
        return Err(AccountsError::Forbidden(
            "Change your own password under Settings, with your current one.",
        ));
    }
    if target.role == Role::Owner && actor.role != Role::Owner {
        return Err(AccountsError::Forbidden(
            "Only an owner can change another owner.",
        ));
    }
    Ok(target)
}

fn require_password_resetter(actor: &User) -> Result<(), AccountsError> {
    if actor.role.is_admin() {
        Ok(())
    } else {
        Err(AccountsError::Forbidden(
            "Only owners and admins can reset passwords.",
        ))
    }
}

/// The user an owner or admin is about to set a new password for (the form's page).
pub async fn user_to_reset(db: &Db, actor: &User, username: &str) -> Result<User, AccountsError> {
    require_password_resetter(actor)?;
    let (actor, username) = (actor.clone(), username.to_owned());
    db.run(move |conn| resettable(conn, &actor, &username))
        .await
}

/// An owner or admin sets a new password for someone who lost theirs. Every session of that
/// person ends: whoever was signed in as them, with the old password, is not any more.
pub async fn reset_password(
    db: &Db,
    actor: &User,
    username: &str,
    form: &PasswordResetForm,
) -> Result<User, AccountsError> {
    let target = user_to_reset(db, actor, username).await?;
    let personal = [target.email.as_str(), &target.first_name, &target.last_name];
    if let Err(message) = check_password(&form.new_password, &personal) {
        return Err(field_error("new_password", message));
    }
    let hash = hash_off_thread(form.new_password.clone()).await?;
    let (actor, username) = (actor.clone(), username.to_owned());
    db.write(move |conn| {
        // Checked again where it is written: the person may have changed meanwhile.
        let target = resettable(conn, &actor, &username)?;
        users::set_password_hash(conn, target.id, &hash)?;
        user_sessions::delete_for_user(conn, target.id, None)?;
        Ok(target)
    })
    .await
}

/// Refuses the attempt when the window's limit is reached; otherwise records it (as a failure
/// until proven otherwise) and returns the account it names, if any.
fn count_attempt(
    conn: &mut db::DbConn,
    email_normalized: &str,
    ip: &str,
) -> Result<(Option<UserRow>, i64), AccountsError> {
    // Concurrent attempts from one address take turns here (SQLite's writer already runs one
    // write at a time).
    login_failures::lock_address(conn, ip)?;
    let now = db::now();
    let since = now - Duration::minutes(FAILURE_WINDOW_MINUTES);
    let for_account = login_failures::since_for_email_and_ip(conn, email_normalized, ip, since)?;
    let for_address = login_failures::since_for_ip(conn, ip, since)?;
    let limit_reached_at = if for_account.len() as i64 >= MAX_FAILURES_PER_ACCOUNT {
        for_account.first().copied()
    } else if for_address.len() as i64 >= MAX_FAILURES_PER_ADDRESS {
        for_address.first().copied()
    } else {
        None
    };
    if let Some(oldest) = limit_reached_at {
        let frees_at = oldest + Duration::minutes(FAILURE_WINDOW_MINUTES);
        let retry_after_secs = (frees_at - now).num_seconds().max(1) as u64;
        return Err(AccountsError::Throttled { retry_after_secs });
    }
    let attempt_id = login_failures::record(conn, email_normalized, ip, now)?;
    login_failures::delete_before(conn, now - Duration::days(1))?;
    Ok((users::find_by_email(conn, email_normalized)?, attempt_id))
}

pub async fn list_users(db: &Db, page: i64, per_page: i64) -> Result<Page<User>, AccountsError> {
    let offset = Page::<User>::offset(page, per_page);
    let rows = db
        .run(move |conn| users::list_page(conn, offset, per_page + 1).map_err(DbError::from))
        .await?;
    Ok(Page::from_overfetch(
        rows.into_iter().map(User::from).collect(),
        page,
        per_page,
    ))
}

/// Enables or disables a user. Nobody disables themselves, admins do not change owners,
/// and the last active owner stays.
pub async fn set_user_active(
    db: &Db,
    actor: &User,
    username: &str,
    active: bool,
) -> Result<User, AccountsError> {
    let (actor, username) = (actor.clone(), username.to_owned());
    db.write(move |conn| {
        let target = user_to_set_active(conn, &actor, &username, active)?;
        users::set_active(conn, target.id, active)?;
        if !active {
            user_sessions::delete_for_user(conn, target.id, None)?;
        }
        Ok(User {
            is_active: active,
            ..target
        })
    })
    .await
}

/// The person an owner or admin is about to disable (the confirmation page): refused as the
/// disabling itself would be.
pub async fn user_to_disable(db: &Db, actor: &User, username: &str) -> Result<User, AccountsError> {
    let (actor, username) = (actor.clone(), username.to_owned());
    db.run(move |conn| user_to_set_active(conn, &actor, &username, false))
        .await
}

/// The user whose access `actor` may set to `active`, or why not.
fn user_to_set_active(
    conn: &mut crate::db::DbConn,
    actor: &User,
    username: &str,
    active: bool,
) -> Result<User, AccountsError> {
    if !actor.role.is_admin() {
        return Err(AccountsError::Forbidden(
            "Only owners and admins can change users.",
        ));
    }
    let target: User = users::find_by_username(conn, username)?
        .ok_or(AccountsError::NotFound)?
        .into();
    if target.id == actor.id {
        return Err(AccountsError::Forbidden(
            "You cannot disable your own account.",
        ));
    }
    if target.role == Role::Owner && actor.role != Role::Owner {
        return Err(AccountsError::Forbidden(
            "Only an owner can change another owner.",
        ));
    }
    if !active
        && target.role == Role::Owner
        && users::count_active_with_role(conn, Role::Owner.code())? <= 1
    {
        return Err(AccountsError::Forbidden(
            "Klaxon needs at least one active owner.",
        ));
    }
    if !active {
        if let Some(refusal) = super::on_call_usage::where_user_is_on_call(conn, &target, None)
            .map_err(|e| match e {
                super::DomainError::Db(e) => AccountsError::Db(e),
                other => AccountsError::InUse(other.to_string()),
            })?
        {
            return Err(AccountsError::InUse(refusal));
        }
    }
    Ok(target)
}

const ACCOUNT_ID_SETTING: &str = "account_id";

/// The install's account id (Zenduty's `account`), created on first use.
pub async fn account_id(db: &Db) -> Result<String, AccountsError> {
    Ok(db
        .run(|conn| {
            app_settings::get_or_insert(conn, ACCOUNT_ID_SETTING, || {
                uuid::Uuid::new_v4().to_string()
            })
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn common_and_blank_passwords_are_refused() {
        for password in [
            "          ",
            "\t\t\t\t\t\t\t\t\t\t\t",
            "password1234",
            "Password123!",
            "qwertyuiop",
            "1234567890",
            "iloveyou12",
            "aaaaaaaaaaaa",
        ] {
            assert!(
                check_password(password, &[]).is_err(),
                "{password:?} is refused"
            );
        }
        let refused = check_password("ada.lovelace", &["ada.lovelace@example.com"]);
        assert!(refused.is_err(), "the person's own email is refused");
        assert!(check_password("Password123!", &[])
            .unwrap_err()
            .contains("too easy to guess"));
    }

    #[test]
    fn uncommon_passphrases_are_accepted() {
        for password in [
            "correct horse battery",
            "long enough password",
            "another long password",
            "velvet comet harbour 41",
        ] {
            assert_eq!(check_password(password, &[]), Ok(()), "{password:?}");
        }
    }
}
