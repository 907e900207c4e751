//! Zenduty's objects as JSON: one builder per object, shared by the webhook payload (frozen in
//! the outbox when an incident changes) and the JSON API. Shapes only: what goes in is read by
//! the caller; nothing here touches the database or knows about HTTP.

pub mod incident;
pub mod service;
pub mod user;
pub mod webhook;

pub use incident::Incident;
pub use service::{ApiService, Service};
pub use user::User;
pub use webhook::WebhookBody;

/// The seed payload's incident, service and assignee, as Klaxon's rows and Zenduty's objects.
#[cfg(test)]
pub(crate) mod samples {
    use chrono::NaiveDateTime;

    use super::{Incident, Service, User};
    use crate::db::incidents::IncidentRow;
    use crate::db::services::ServiceRow;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    pub fn incident_row(resolved: bool) -> IncidentRow {
        IncidentRow {
            id: 1,
            incident_number: 217,
            unique_id: "vuwtGfyHf9JaN5vg5sEc4N".into(),
            incident_key: "C67SCMypoCyUWwLpbVSSy2".into(),
            service_id: 1,
            title: "Free disk space is less than 20% on volume sdx-03".into(),
            summary: "Linux 008 Free disk space is less than 20% on volume sdx-03".into(),
            status: if resolved { 3 } else { 1 },
            urgency: 1,
            priority: 1,
            assigned_to: Some(1),
            created_by: None,
            creation_date: at("2020-05-21 19:42:16.372614"),
            acknowledged_date: resolved.then(|| at("2020-05-25 11:18:55.112452")),
            resolved_date: resolved.then(|| at("2020-05-28 16:46:46.020227")),
            context_window_start: at("2020-05-21 19:12:16.372000"),
            context_window_end: at("2020-05-21 19:42:16.372000"),
            merged_with: None,
            entity_id: None,
        }
    }

    pub fn service_row() -> ServiceRow {
        ServiceRow {
            id: 1,
            unique_id: "e84d78d1-6484-4a99-b9f8-c23b6a4e86b0".into(),
            team_id: 1,
            name: "ZD Prod".into(),
            summary: "".into(),
            description: "Zenduty main application".into(),
            status: 1,
            auto_resolve_timeout: 0,
            acknowledgement_timeout: 0,
            collation: 0,
            collation_time: 0,
            created_by: Some(1),
            created_at: at("2019-11-26 22:01:17.582115"),
            escalation_policy_id: Some(1),
        }
    }

    pub fn service() -> Service {
        Service::new(
            &service_row(),
            "0b3332124a984dceb77e12cd02728b4b",
            Some("fe07dd6c-1f20-485e-bddb-c".into()),
            Some("5ce8918ddfac4f00b95ab204dcedafc9".into()),
        )
    }

    pub fn assignee() -> User {
        User::new(
            "fe07dd6c-1f20-485e-bddb-c",
            "Dwight",
            "Schrute",
            "tya@gmail.com",
        )
    }

    pub fn incident(resolved: bool) -> Incident {
        Incident::new(&incident_row(resolved), service(), Some(assignee()), None)
    }
}
