DROP INDEX escalation_steps_by_incident;
CREATE INDEX escalation_steps_by_incident ON escalation_steps (incident_id, state);
