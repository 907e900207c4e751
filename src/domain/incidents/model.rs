//! What an incident is, whoever reads it: its status, who acts on it, what opening one takes,
//! the bounds of its text, its context window and auto-resolve time, and the list's filters.

use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone};

use crate::db::incident_list::{ListOrder, Search};
use crate::db::incidents::IncidentRow;
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};

pub const MAX_TITLE_CHARS: usize = 255;
pub const MAX_SUMMARY_CHARS: usize = 10_000;
pub const MAX_NOTE_CHARS: usize = 10_000;
/// The context window reaches this far back from the incident's creation.
const CONTEXT_WINDOW_MINUTES: i64 = 30;

/// Zenduty's incident statuses, with its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Triggered = 1,
    Acknowledged = 2,
    Resolved = 3,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Triggered, Status::Acknowledged, Status::Resolved];

    /// The status with this code; `None` for any other number.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.code() == code)
    }

    /// The status of a stored incident. The column admits only the three codes, so another one
    /// is data Klaxon did not write: an error, never read as some status.
    pub fn of(row: &IncidentRow) -> Result<Status, DomainError> {
        Status::from_code(row.status).ok_or_else(|| {
            DomainError::Data(format!(
                "incident #{} has status {}, which is none of 1, 2 and 3",
                row.incident_number, row.status
            ))
        })
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The word shown on labels, and the webhook's `event_type`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Triggered => "triggered",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

pub fn urgency_word(urgency: i32) -> &'static str {
    if urgency == 1 {
        "High"
    } else {
        "Low"
    }
}

/// Who caused a change, as the timeline shows it.
#[derive(Debug, Clone)]
pub enum Actor {
    User(User),
    /// A person who used the Acknowledge link of an email they were sent.
    UserFromEmail(User),
    Integration {
        name: String,
    },
    /// The service's auto-resolve time ran out.
    AutoResolve {
        minutes: i32,
    },
    /// The service's acknowledgement timeout ran out.
    AcknowledgementTimeout {
        minutes: i32,
    },
}

impl Actor {
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(user) | Actor::UserFromEmail(user) => Some(user.id),
            Actor::Integration { .. }
            | Actor::AutoResolve { .. }
            | Actor::AcknowledgementTimeout { .. } => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Actor::User(user) | Actor::UserFromEmail(user) => user.full_name(),
            Actor::Integration { name } => format!("Integration {name}"),
            Actor::AutoResolve { .. } | Actor::AcknowledgementTimeout { .. } => "Klaxon".to_owned(),
        }
    }

    /// Why the actor made the change, when it is not a person's choice.
    pub fn reason(&self) -> String {
        match self {
            Actor::AutoResolve { minutes } => format!(
                "Open for {minutes} min: the service resolves its incidents after {minutes} min."
            ),
            Actor::AcknowledgementTimeout { minutes } => format!(
                "Acknowledged {minutes} min ago and not resolved: the service's acknowledgement timeout triggers it again."
            ),
            Actor::UserFromEmail(_) => "from email".to_owned(),
            Actor::User(_) | Actor::Integration { .. } => String::new(),
        }
    }
}

/// A validated request to open an incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub service_id: i64,
    pub title: String,
    pub summary: String,
    pub urgency: i32,
    pub assignee_id: Option<i64>,
    pub entity_id: Option<String>,
}

/// The context window of an incident opened at `opened`: start and end.
pub fn context_window(opened: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
    (opened - Duration::minutes(CONTEXT_WINDOW_MINUTES), opened)
}

/// When an incident opened at `opened` is resolved by its service's auto-resolve `minutes`
/// (what the sweep of `domain::auto_resolve` finds passed).
pub fn auto_resolve_deadline(opened: NaiveDateTime, minutes: i32) -> NaiveDateTime {
    opened + Duration::minutes(i64::from(minutes))
}

/// The incidents list's filters, parsed from the query string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListQuery {
    /// The API's filter names several services; the page one at most.
    #[serde(skip)]
    pub service_ids: Vec<String>,
    pub status: Option<String>,
    pub service: Option<String>,
    pub urgency: Option<String>,
    pub page: Option<String>,
    /// Words of titles and summaries, or an incident's number (`#123`).
    pub q: Option<String>,
    /// `newest` (the default), `oldest` or `urgency`.
    pub sort: Option<String>,
    /// Created on or after this date (YYYY-MM-DD, the viewer's time zone).
    pub from: Option<String>,
    /// Created on or before this date.
    pub to: Option<String>,
    /// `me`: only incidents assigned to the viewer.
    pub assigned: Option<String>,
}

/// Words of a search that count: more would only slow the query down.
const MAX_SEARCH_WORDS: usize = 8;
const MAX_SEARCH_WORD_CHARS: usize = 40;

impl ListQuery {
    /// `open` (triggered and acknowledged) unless another status is chosen.
    pub fn status(&self) -> &str {
        match self.status.as_deref() {
            Some(s @ ("triggered" | "acknowledged" | "resolved" | "all")) => s,
            _ => "open",
        }
    }

    pub fn urgency(&self) -> &str {
        self.urgency
            .as_deref()
            .filter(|u| matches!(*u, "high" | "low"))
            .unwrap_or("")
    }

    pub fn service(&self) -> &str {
        self.service.as_deref().unwrap_or("").trim()
    }

    /// The services filtered on: the page's one, or the API's list.
    pub(super) fn service_uids(&self) -> Vec<&str> {
        if !self.service_ids.is_empty() {
            return self.service_ids.iter().map(String::as_str).collect();
        }
        Some(self.service())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect()
    }

    pub fn page(&self) -> i64 {
        Page::<()>::number_from(self.page.as_deref())
    }

    pub fn q(&self) -> &str {
        self.q.as_deref().unwrap_or("").trim()
    }

    pub fn sort(&self) -> &str {
        match self.sort.as_deref() {
            Some(s @ ("oldest" | "urgency")) => s,
            _ => "newest",
        }
    }

    pub(super) fn order(&self) -> ListOrder {
        match self.sort() {
            "oldest" => ListOrder::Oldest,
            "urgency" => ListOrder::Urgency,
            _ => ListOrder::Newest,
        }
    }

    pub fn from(&self) -> &str {
        self.from.as_deref().unwrap_or("").trim()
    }

    pub fn to(&self) -> &str {
        self.to.as_deref().unwrap_or("").trim()
    }

    pub fn assigned_to_me(&self) -> bool {
        self.assigned.as_deref() == Some("me")
    }

    /// What the search box asks for: an incident's number (`#123`, `123`) or words, each
    /// matched as the start of a word of the title or summary.
    pub(super) fn search(&self) -> Search {
        let text = self.q();
        if let Ok(number) = text.trim_start_matches('#').parse::<i64>() {
            return Search::Number(number);
        }
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .take(MAX_SEARCH_WORDS)
            .map(|word| word.chars().take(MAX_SEARCH_WORD_CHARS).collect::<String>())
            .map(|word| word.to_lowercase())
            .collect();
        if words.is_empty() {
            Search::Nothing
        } else {
            Search::Words(words)
        }
    }

    /// The date range as instants (UTC): from the start of `from` to the end of `to`, both
    /// read in `zone`. A date that does not parse is left out and named in `errors`.
    pub(super) fn created_between(
        &self,
        zone: chrono_tz::Tz,
        errors: &mut FieldErrors,
    ) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
        let mut day_start = |field: &'static str, text: &str, days_after: u64| {
            if text.is_empty() {
                return None;
            }
            let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") else {
                errors.add(field, "Use a date like 2026-12-04.");
                return None;
            };
            let date = date.checked_add_days(chrono::Days::new(days_after))?;
            let local = date.and_hms_opt(0, 0, 0)?;
            // A midnight that a clock change skips starts at the first instant after it.
            let start = zone.from_local_datetime(&local).earliest().or_else(|| {
                zone.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })?;
            Some(start.naive_utc())
        };
        let from = day_start("from", self.from(), 0);
        let before = day_start("to", self.to(), 1);
        if let (Some(from), Some(before)) = (from, before) {
            if before <= from {
                errors.add("to", "The end date is before the start date.");
                return (Some(from), None);
            }
        }
        (from, before)
    }

    /// The status codes filtered on; none is every status.
    pub(super) fn statuses(&self) -> Vec<i32> {
        let chosen: &[Status] = match self.status() {
            "triggered" => &[Status::Triggered],
            "acknowledged" => &[Status::Acknowledged],
            "resolved" => &[Status::Resolved],
            "all" => &[],
            _ => &[Status::Triggered, Status::Acknowledged],
        };
        chosen.iter().map(|status| status.code()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_codes_are_no_status() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(status.code()), Some(status));
        }
        for code in [0, 4, -1, 33] {
            assert_eq!(Status::from_code(code), None, "{code}");
        }
    }

    #[test]
    fn the_list_filters_on_the_chosen_statuses() {
        let statuses = |status: &str| {
            ListQuery {
                status: Some(status.to_owned()),
                ..ListQuery::default()
            }
            .statuses()
        };
        assert_eq!(statuses("triggered"), [1]);
        assert_eq!(statuses("acknowledged"), [2]);
        assert_eq!(statuses("resolved"), [3]);
        assert_eq!(statuses("all"), Vec::<i32>::new());
        assert_eq!(statuses("open"), [1, 2]);
        assert_eq!(statuses("bogus"), [1, 2]);
    }
}
