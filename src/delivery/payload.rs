//! The webhook body, in exactly the shape of Zenduty's documented example: the same keys in
//! the same order, with the same JSON types. Built once, when the delivery is enqueued.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::incidents::IncidentRow;
use crate::db::services::ServiceRow;
use crate::time_format::utc;

#[derive(Debug, Serialize)]
pub struct WebhookBody {
    pub payload: EventPayload,
}

#[derive(Debug, Serialize)]
pub struct EventPayload {
    pub event_type: String,
    pub incident: IncidentJson,
}

#[derive(Debug, Serialize)]
pub struct IncidentJson {
    pub summary: String,
    pub incident_number: i64,
    pub creation_date: String,
    pub status: i32,
    pub unique_id: String,
    pub title: String,
    pub incident_key: String,
    pub service: ServiceJson,
    pub priority: i32,
    pub urgency: i32,
    pub merged_with: Option<String>,
    pub assigned_to: Option<UserJson>,
    pub resolved_date: Option<String>,
    pub acknowledged_date: Option<String>,
    pub context_window_start: String,
    pub context_window_end: String,
}

#[derive(Debug, Serialize)]
pub struct ServiceJson {
    pub name: String,
    pub creation_date: String,
    pub summary: String,
    pub description: String,
    pub unique_id: String,
    pub auto_resolve_timeout: i32,
    pub created_by: Option<String>,
    /// Escalation policies, team priorities, task templates and SLAs are not modelled yet.
    pub team_priority: Option<String>,
    pub task_template: Option<String>,
    pub acknowledgement_timeout: i32,
    pub status: i32,
    pub escalation_policy: Option<String>,
    pub team: String,
    pub sla: Option<String>,
    pub collation_time: i32,
    pub collation: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserJson {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

/// What the body is built from, loaded in the transition's transaction.
pub struct PayloadSource<'a> {
    pub incident: &'a IncidentRow,
    pub service: &'a ServiceRow,
    pub team_unique_id: &'a str,
    pub service_created_by: Option<String>,
    pub assignee: Option<UserJson>,
    pub merged_with: Option<String>,
}

fn date(at: &NaiveDateTime) -> String {
    utc(at)
}

pub fn build(event_type: &str, source: PayloadSource<'_>) -> WebhookBody {
    let PayloadSource {
        incident,
        service,
        team_unique_id,
        service_created_by,
        assignee,
        merged_with,
    } = source;
    WebhookBody {
        payload: EventPayload {
            event_type: event_type.to_owned(),
            incident: IncidentJson {
                summary: incident.summary.clone(),
                incident_number: incident.incident_number,
                creation_date: date(&incident.creation_date),
                status: incident.status,
                unique_id: incident.unique_id.clone(),
                title: incident.title.clone(),
                incident_key: incident.incident_key.clone(),
                service: ServiceJson {
                    name: service.name.clone(),
                    creation_date: date(&service.created_at),
                    summary: service.summary.clone(),
                    description: service.description.clone(),
                    unique_id: service.unique_id.clone(),
                    auto_resolve_timeout: service.auto_resolve_timeout,
                    created_by: service_created_by,
                    team_priority: None,
                    task_template: None,
                    acknowledgement_timeout: service.acknowledgement_timeout,
                    status: service.status,
                    escalation_policy: None,
                    team: team_unique_id.to_owned(),
                    sla: None,
                    collation_time: service.collation_time,
                    collation: service.collation,
                },
                priority: incident.priority,
                urgency: incident.urgency,
                merged_with,
                assigned_to: assignee,
                resolved_date: incident.resolved_date.as_ref().map(date),
                acknowledged_date: incident.acknowledged_date.as_ref().map(date),
                context_window_start: date(&incident.context_window_start),
                context_window_end: date(&incident.context_window_end),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SEED: &str = include_str!("../../tests/fixtures/seed-webhook-payload.json");

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn sample(resolved: bool) -> Value {
        serde_json::to_value(sample_body(resolved)).unwrap()
    }

    fn sample_body(resolved: bool) -> WebhookBody {
        let incident = IncidentRow {
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
        };
        let service = ServiceRow {
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
        };
        let assignee = UserJson {
            username: "fe07dd6c-1f20-485e-bddb-c".into(),
            first_name: "Dwight".into(),
            last_name: "Schrute".into(),
            email: "tya@gmail.com".into(),
        };
        build(
            if resolved { "resolved" } else { "triggered" },
            PayloadSource {
                incident: &incident,
                service: &service,
                team_unique_id: "0b3332124a984dceb77e12cd02728b4b",
                service_created_by: Some("fe07dd6c-1f20-485e-bddb-c".into()),
                assignee: Some(assignee),
                merged_with: None,
            },
        )
    }

    /// Every key path with its JSON type, e.g. `payload.incident.status: number`.
    fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(map) => {
                for (key, child) in map {
                    shape(child, &format!("{path}.{key}"), out);
                }
                "object"
            }
        };
        out.push(format!("{path}: {kind}"));
    }

    fn shape_of(value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        shape(value, "", &mut out);
        out.sort();
        out
    }

    /// References Klaxon does not model are null where the seed has strings.
    const UNMODELLED: [&str; 4] = ["team_priority", "task_template", "escalation_policy", "sla"];

    #[test]
    fn the_body_has_every_key_of_the_seed_with_the_same_types() {
        let seed: Value = serde_json::from_str(SEED).unwrap();
        let ours = sample(true);
        let expected: Vec<String> = shape_of(&seed)
            .into_iter()
            .map(|line| {
                match UNMODELLED
                    .iter()
                    .find(|key| line == format!(".payload.incident.service.{key}: string"))
                {
                    Some(key) => format!(".payload.incident.service.{key}: null"),
                    None => line,
                }
            })
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(shape_of(&ours), expected);
    }

    #[test]
    fn dates_and_values_are_written_as_the_seed_writes_them() {
        let seed: Value = serde_json::from_str(SEED).unwrap();
        let ours = sample(true);
        for key in [
            "creation_date",
            "resolved_date",
            "acknowledged_date",
            "context_window_start",
            "context_window_end",
            "unique_id",
            "incident_key",
            "incident_number",
            "status",
            "urgency",
            "assigned_to",
            "title",
            "summary",
        ] {
            assert_eq!(
                ours["payload"]["incident"][key], seed["payload"]["incident"][key],
                "{key}"
            );
        }
        assert_eq!(
            ours["payload"]["incident"]["service"]["creation_date"],
            seed["payload"]["incident"]["service"]["creation_date"]
        );
    }

    #[test]
    fn the_keys_come_in_the_seed_order() {
        let ours = serde_json::to_string(&sample_body(true)).unwrap();
        assert_eq!(key_order(&ours), key_order(SEED));
    }

    /// Object keys in the order the text writes them.
    fn key_order(json: &str) -> Vec<&str> {
        json.match_indices("\":")
            .map(|(end, _)| &json[json[..end].rfind('"').unwrap() + 1..end])
            .collect()
    }

    #[test]
    fn an_unassigned_triggered_incident_has_null_assignee_and_dates() {
        let value = sample(false);
        let incident = &value["payload"]["incident"];
        assert_eq!(value["payload"]["event_type"], "triggered");
        assert!(incident["acknowledged_date"].is_null() && incident["resolved_date"].is_null());
        assert!(incident["merged_with"].is_null());
    }
}
