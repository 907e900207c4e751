//! Accounts: sign-up of the first owner, sign-in with throttling, and user management.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::Duration;

use super::validation::{required_text, FieldErrors};
use super::{ids, Page};
use crate::db::users::{NewUserRow, UserRow};
use crate::db::{self, app_settings, login_failures, users, Db, DbError};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Long enough for any passphrase, short enough that hashing it is no denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Failed sign-ins allowed per email and per client address in one window.
pub const MAX_FAILURES_PER_WINDOW: i64 = 10;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// Marker row whose primary key makes "first owner" creation happen once, even when two
/// people submit the first-run form at the same moment.
const OWNER_CREATED_MARKER: &str = "owner_created";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Owner = 1,
    Admin = 2,
    User = 3,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::User];

    pub fn from_code(code: i32) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.code() == code)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::User => "User",
        }
    }

    /// Owners and admins manage users and see every team's services.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A signed-in person, as the rest of the app sees them.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub is_active: bool,
    pub created_at: chrono::NaiveDateTime,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            // The column has a CHECK constraint; an unknown code can only come from a hand edit,
            // and the least privilege is the safe reading of it.
            role: Role::from_code(row.role).unwrap_or(Role::User),
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}

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
    #[error("too many failed sign-ins; wait {FAILURE_WINDOW_MINUTES} minutes and try again")]
    Throttled,
    #[error("email or password is incorrect")]
    BadCredentials,
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
        if let Err(message) = check_password(&self.password) {
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

/// Emails compare without case and surrounding spaces.
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    let email = email.trim();
    if email.is_empty() {
        return Err("This field is required.");
    }
    if email.len() > 254 {
        return Err("Use at most 254 characters.");
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email.to_lowercase())
    } else {
        Err("Enter an email address like name@example.com.")
    }
}

fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(format!("Use at least {MIN_PASSWORD_CHARS} characters."))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(format!("Use at most {MAX_PASSWORD_CHARS} characters."))
    } else {
        Ok(())
    }
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
    };
    match users::insert(conn, &row) {
        Ok(row) => Ok(row.into()),
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

/// Checks an email and password. Unknown email, wrong password and disabled account give the
/// same error after the same work; too many failures for the email or the client address in
/// the window give `Throttled` before any password is checked.
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    client_ip: &str,
) -> Result<User, AccountsError> {
    let email_normalized = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    let ip = client_ip.to_owned();
    let (lookup_email, lookup_ip) = (email_normalized.clone(), ip.clone());
    let user = db
        .run(move |conn| {
            let since = db::now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
            let failures = login_failures::count_for_email_since(conn, &lookup_email, since)?
                .max(login_failures::count_for_ip_since(conn, &lookup_ip, since)?);
            if failures >= MAX_FAILURES_PER_WINDOW {
                return Err(AccountsError::Throttled);
            }
            Ok(users::find_by_email(conn, &lookup_email)?)
        })
        .await?;

    let password = password.to_owned();
    let accepted = tokio::task::spawn_blocking(move || match user {
        Some(user) => {
            let ok = verify_password(&password, &user.password_hash) && user.is_active;
            ok.then_some(user)
        }
        None => {
            verify_password(&password, &DUMMY_HASH);
            None
        }
    })
    .await
    .map_err(|e| AccountsError::Hashing(e.to_string()))?;

    match accepted {
        Some(user) => Ok(user.into()),
        None => {
            db.write(move |conn| {
                let now = db::now();
                login_failures::record(conn, &email_normalized, &ip, now)?;
                login_failures::delete_before(conn, now - Duration::days(1))?;
                Ok::<_, AccountsError>(())
            })
            .await?;
            Err(AccountsError::BadCredentials)
        }
    }
}

/// Active users by name (at most 1000), for pickers such as assignee and team member.
pub fn active_users(conn: &mut db::DbConn) -> Result<Vec<User>, DbError> {
    Ok(users::list_page(conn, 0, 1000)?
        .into_iter()
        .filter(|u| u.is_active)
        .map(User::from)
        .collect())
}

/// The active user behind a session, if the account still exists and is enabled.
pub async fn find_active_user(db: &Db, id: i64) -> Result<Option<User>, AccountsError> {
    let row = db
        .run(move |conn| users::find_by_id(conn, id).map_err(DbError::from))
        .await?;
    Ok(row.filter(|row| row.is_active).map(User::from))
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
    if !actor.role.is_admin() {
        return Err(AccountsError::Forbidden(
            "Only owners and admins can change users.",
        ));
    }
    let (actor, username) = (actor.clone(), username.to_owned());
    db.write(move |conn| {
        let target: User = users::find_by_username(conn, &username)?
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
        users::set_active(conn, target.id, active)?;
        Ok(User {
            is_active: active,
            ..target
        })
    })
    .await
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
