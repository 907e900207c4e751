-- An incident's steps found by the incident alone: with the state in the index, cancelling an
-- incident's pending steps (every acknowledgement) changes the index it scans, and SQLite then
-- collects the rows in a temporary b-tree before changing them. An incident has a few steps.
DROP INDEX escalation_steps_by_incident;
CREATE INDEX escalation_steps_by_incident ON escalation_steps (incident_id);
