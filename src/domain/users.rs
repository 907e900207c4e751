//! People: the signed-in user as the rest of the app sees them, and their role. Every other
//! module of the domain may use this one; it uses none of them.

use crate::db::users::{self, UserRow};
use crate::db::{DbConn, DbError};

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
    /// Their own IANA time zone, as chosen on their profile.
    pub time_zone: String,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The person as Zenduty's objects show them (an API incident's assignee, a team's member).
impl From<&User> for crate::zenduty::User {
    fn from(user: &User) -> Self {
        crate::zenduty::User::new(
            &user.username,
            &user.first_name,
            &user.last_name,
            &user.email,
        )
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
            time_zone: row.time_zone,
        }
    }
}

/// Active users by name (at most 1000), for pickers such as assignee and team member.
pub fn active_users(conn: &mut DbConn) -> Result<Vec<User>, DbError> {
    Ok(users::list_page(conn, 0, 1000)?
        .into_iter()
        .filter(|u| u.is_active)
        .map(User::from)
        .collect())
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
