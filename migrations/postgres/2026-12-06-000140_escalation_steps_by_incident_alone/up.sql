-- As on SQLite, where the state in this index made cancelling an incident's pending steps (every
-- acknowledgement) collect the rows in a temporary b-tree first. An incident has a few steps.
DROP INDEX escalation_steps_by_incident;
CREATE INDEX escalation_steps_by_incident ON escalation_steps (incident_id);
