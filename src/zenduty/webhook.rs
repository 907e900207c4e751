//! The webhook body, in exactly the shape of Zenduty's documented example (the seed,
//! `tests/fixtures/seed-webhook-payload.json`): the same keys in the same order, with the same
//! JSON types. Built once, when the delivery is enqueued.

use serde::Serialize;

use super::Incident;

#[derive(Debug, Serialize)]
pub struct WebhookBody {
    pub payload: EventPayload,
}

#[derive(Debug, Serialize)]
pub struct EventPayload {
    /// `triggered`, `acknowledged` or `resolved`.
    pub event_type: String,
    pub incident: Incident,
}

impl WebhookBody {
    pub fn new(event_type: &str, incident: Incident) -> Self {
        WebhookBody {
            payload: EventPayload {
                event_type: event_type.to_owned(),
                incident,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zenduty::samples;
    use serde_json::Value;

    const SEED: &str = include_str!("../../tests/fixtures/seed-webhook-payload.json");

    fn sample(resolved: bool) -> Value {
        serde_json::to_value(sample_body(resolved)).unwrap()
    }

    fn sample_body(resolved: bool) -> WebhookBody {
        WebhookBody::new(
            if resolved { "resolved" } else { "triggered" },
            samples::incident(resolved),
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
    const UNMODELLED: [&str; 3] = ["team_priority", "task_template", "sla"];

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
