//! The domain: rules and use cases, independent of HTTP.

pub mod access;
pub mod accounts;
pub mod ack_links;
pub mod alerts;
pub mod api_keys;
pub mod auto_resolve;
pub mod contacts;
pub mod deliveries;
pub mod escalation_policies;
pub mod ids;
pub mod incidents;
pub mod integrations;
pub mod on_call_usage;
pub mod schedules;
pub mod services;
pub mod sessions;
pub mod teams;
pub mod users;
pub mod validation;

use crate::db::DbError;
use validation::FieldErrors;

/// What the team, service and integration use cases can refuse.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// Missing, or not visible to this user: the two look the same from outside.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored value no code of Klaxon writes (an incident status outside 1–3, say): the data
    /// is wrong, and nothing is guessed from it.
    #[error("stored data is invalid: {0}")]
    Data(String),
    /// A webhook body that could not be written as JSON.
    #[error("serializing JSON: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl From<diesel::result::Error> for DomainError {
    fn from(error: diesel::result::Error) -> Self {
        DomainError::Db(DbError::Query(error))
    }
}

impl DomainError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        DomainError::Invalid(errors)
    }
}

/// Highest page number a list is asked for (pages and API alike); with at most 100 rows a page,
/// offsets stay far from overflowing.
pub const MAX_PAGE_NUMBER: i64 = 1_000_000;

/// A count as pages write it, thousands apart by a no-break space: "4\u{a0}002".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut grouped = String::from(if n < 0 { "-" } else { "" });
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(digit);
    }
    grouped
}

/// One page of a list, with whether another follows.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub number: i64,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched `per_page + 1` rows.
    pub fn from_overfetch(mut rows: Vec<T>, number: i64, per_page: i64) -> Self {
        let per_page = usize::try_from(per_page).unwrap_or(0);
        let has_more = rows.len() > per_page;
        rows.truncate(per_page);
        Page {
            items: rows,
            number,
            has_more,
        }
    }

    pub fn has_previous(&self) -> bool {
        self.number > 1
    }

    pub fn previous_number(&self) -> i64 {
        self.number.saturating_sub(1).max(1)
    }

    pub fn next_number(&self) -> i64 {
        self.number.saturating_add(1)
    }

    /// The 1-based page number in a query string value; anything unusable is the first page.
    pub fn number_from(raw: Option<&str>) -> i64 {
        raw.and_then(|p| p.parse::<i64>().ok())
            .filter(|n| (1..=MAX_PAGE_NUMBER).contains(n))
            .unwrap_or(1)
    }

    /// Offset of the page `number` (1-based). Callers bound both (`MAX_PAGE_NUMBER`, their page
    /// size); should one not, the offset saturates instead of wrapping round to another page.
    pub fn offset(number: i64, per_page: i64) -> i64 {
        number
            .clamp(1, MAX_PAGE_NUMBER)
            .saturating_sub(1)
            .saturating_mul(per_page.max(0))
    }
}
