//! An incident, as the webhook payload writes it and, reshaped, the API.

use serde::Serialize;
use serde_json::{json, Value};

use super::{ApiService, Service, User};
use crate::db::incidents::IncidentRow;
use crate::time_format::utc;

/// The keys of the seed payload's `incident`, in its order.
#[derive(Debug, Serialize)]
pub struct Incident {
    pub summary: String,
    pub incident_number: i64,
    pub creation_date: String,
    pub status: i32,
    pub unique_id: String,
    pub title: String,
    pub incident_key: String,
    pub service: Service,
    pub priority: i32,
    pub urgency: i32,
    /// The `unique_id` of the incident it was merged into.
    pub merged_with: Option<String>,
    pub assigned_to: Option<User>,
    pub resolved_date: Option<String>,
    pub acknowledged_date: Option<String>,
    pub context_window_start: String,
    pub context_window_end: String,
}

/// The API's `service_object`: its service, and whether an acknowledgement timeout is set.
#[derive(Serialize)]
struct ServiceObject {
    #[serde(flatten)]
    service: ApiService,
    acknowledgement_timeout_enabled: bool,
}

impl Incident {
    pub fn new(
        row: &IncidentRow,
        service: Service,
        assigned_to: Option<User>,
        merged_with: Option<String>,
    ) -> Self {
        Incident {
            summary: row.summary.clone(),
            incident_number: row.incident_number,
            creation_date: utc(&row.creation_date),
            status: row.status,
            unique_id: row.unique_id.clone(),
            title: row.title.clone(),
            incident_key: row.incident_key.clone(),
            service,
            priority: row.priority,
            urgency: row.urgency,
            merged_with,
            assigned_to,
            resolved_date: row.resolved_date.as_ref().map(utc),
            acknowledged_date: row.acknowledged_date.as_ref().map(utc),
            context_window_start: utc(&row.context_window_start),
            context_window_end: utc(&row.context_window_end),
        }
    }

    /// The incident as the API writes it: exactly the keys Zenduty's SDK builds its `Incident`
    /// from (no `priority`), the service both as an object and by id, the assignee by username
    /// and by name. References Klaxon does not model (escalation policy, SLA, priority, tags,
    /// postmortems) are null or empty.
    pub fn into_api(self, team_name: &str, under_maintenance: bool) -> Value {
        let service_id = self.service.unique_id.clone();
        let service_object = ServiceObject {
            acknowledgement_timeout_enabled: self.service.acknowledgement_timeout > 0,
            service: ApiService {
                service: self.service,
                team_name: team_name.to_owned(),
                under_maintenance,
            },
        };
        json!({
            "summary": self.summary,
            "incident_number": self.incident_number,
            "creation_date": self.creation_date,
            "status": self.status,
            "unique_id": self.unique_id,
            "service_object": service_object,
            "title": self.title,
            "incident_key": self.incident_key,
            "service": service_id,
            "urgency": self.urgency,
            "merged_with": self.merged_with,
            "assigned_to": self.assigned_to.as_ref().map(|u| u.username.clone()),
            "escalation_policy": null,
            "escalation_policy_object": null,
            "assigned_to_name": self.assigned_to.as_ref().map(User::full_name).unwrap_or_default(),
            "resolved_date": self.resolved_date,
            "acknowledged_date": self.acknowledged_date,
            "context_window_start": self.context_window_start,
            "context_window_end": self.context_window_end,
            "tags": [],
            "sla": null,
            "sla_object": null,
            "team_priority": null,
            "team_priority_object": null,
            "parent_incident": null,
            "is_parent_incident": false,
            "snooze_time": null,
            "snoozed_till": null,
            "postmortems": [],
            "postmortem_assignee": null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenduty::samples;

    fn keys(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// tests/app/api.rs checks the exact keys against a running server; this checks what the
    /// API makes of the payload's incident.
    #[test]
    fn the_api_reshapes_the_payload_incident() {
        let api = samples::incident(true).into_api("Platform", false);
        assert_eq!(keys(&api).len(), 30);
        assert!(
            api.get("priority").is_none(),
            "the SDK's Incident takes no priority"
        );
        assert_eq!(api["service"], "e84d78d1-6484-4a99-b9f8-c23b6a4e86b0");
        assert_eq!(api["assigned_to"], "fe07dd6c-1f20-485e-bddb-c");
        assert_eq!(api["assigned_to_name"], "Dwight Schrute");
        assert_eq!(api["resolved_date"], "2020-05-28T16:46:46.020227Z");
        let service = &api["service_object"];
        assert_eq!(keys(service).len(), 19);
        assert_eq!(service["team_name"], "Platform");
        assert_eq!(service["under_maintenance"], false);
        assert_eq!(service["acknowledgement_timeout_enabled"], false);
        assert_eq!(service["team"], "0b3332124a984dceb77e12cd02728b4b");
    }

    #[test]
    fn an_unassigned_incident_has_no_assignee_in_the_api() {
        let mut incident = samples::incident(false);
        incident.assigned_to = None;
        let api = incident.into_api("Platform", true);
        assert!(api["assigned_to"].is_null());
        assert_eq!(api["assigned_to_name"], "");
        assert!(api["resolved_date"].is_null());
        assert_eq!(api["service_object"]["under_maintenance"], true);
    }
}
