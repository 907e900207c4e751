//! A person, as Zenduty writes one inside other objects (an incident's assignee, a team member).

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl User {
    pub fn new(username: &str, first_name: &str, last_name: &str, email: &str) -> Self {
        User {
            username: username.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: email.to_owned(),
        }
    }

    /// "First Last", as the API's `assigned_to_name` writes it.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

impl From<crate::db::users::UserRow> for User {
    fn from(row: crate::db::users::UserRow) -> Self {
        User {
            username: row.username,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
        }
    }
}
