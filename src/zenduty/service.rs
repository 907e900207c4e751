//! A service, as the webhook payload writes it and, with two more keys, the API.

use serde::Serialize;

use crate::db::services::ServiceRow;
use crate::time_format::utc;

/// The keys of the seed payload's `service`, in its order. Team priorities, task templates and
/// SLAs are not modelled yet: null.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub creation_date: String,
    pub summary: String,
    pub description: String,
    pub unique_id: String,
    pub auto_resolve_timeout: i32,
    /// The creator's username.
    pub created_by: Option<String>,
    pub team_priority: Option<String>,
    pub task_template: Option<String>,
    pub acknowledgement_timeout: i32,
    pub status: i32,
    /// The `unique_id` of the service's escalation policy.
    pub escalation_policy: Option<String>,
    pub team: String,
    pub sla: Option<String>,
    pub collation_time: i32,
    pub collation: i32,
}

impl Service {
    pub fn new(
        row: &ServiceRow,
        team_unique_id: &str,
        created_by: Option<String>,
        escalation_policy: Option<String>,
    ) -> Self {
        Service {
            name: row.name.clone(),
            creation_date: utc(&row.created_at),
            summary: row.summary.clone(),
            description: row.description.clone(),
            unique_id: row.unique_id.clone(),
            auto_resolve_timeout: row.auto_resolve_timeout,
            created_by,
            team_priority: None,
            task_template: None,
            acknowledgement_timeout: row.acknowledgement_timeout,
            status: row.status,
            escalation_policy,
            team: team_unique_id.to_owned(),
            sla: None,
            collation_time: row.collation_time,
            collation: row.collation,
        }
    }
}

/// A service as the API writes it: the payload's keys, its team's name and whether it is under
/// maintenance.
#[derive(Debug, Clone, Serialize)]
pub struct ApiService {
    #[serde(flatten)]
    pub service: Service,
    pub team_name: String,
    pub under_maintenance: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenduty::samples;

    #[test]
    fn the_api_adds_the_team_name_and_maintenance_to_the_payload_keys() {
        let api = serde_json::to_value(ApiService {
            service: samples::service(),
            team_name: "Platform".into(),
            under_maintenance: true,
        })
        .unwrap();
        let keys: Vec<&str> = api
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "acknowledgement_timeout",
                "auto_resolve_timeout",
                "collation",
                "collation_time",
                "created_by",
                "creation_date",
                "description",
                "escalation_policy",
                "name",
                "sla",
                "status",
                "summary",
                "task_template",
                "team",
                "team_name",
                "team_priority",
                "under_maintenance",
                "unique_id",
            ]
        );
        assert_eq!(api["created_by"], "fe07dd6c-1f20-485e-bddb-c");
        assert_eq!(api["creation_date"], "2019-11-26T22:01:17.582115Z");
        assert_eq!(
            (
                api["team_name"].as_str(),
                api["under_maintenance"].as_bool()
            ),
            (Some("Platform"), Some(true))
        );
    }
}
