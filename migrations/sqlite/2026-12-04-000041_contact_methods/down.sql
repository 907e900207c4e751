-- Confirmation emails have no incident: they go, and cancelled emails read as failed.
DELETE FROM notification_attempts WHERE notification_id IN
    (SELECT id FROM notifications WHERE incident_id IS NULL);
CREATE TEMPORARY TABLE notification_attempts_kept AS SELECT * FROM notification_attempts;
DELETE FROM notification_attempts;
DELETE FROM notifications WHERE incident_id IS NULL;
CREATE TABLE notifications_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    escalation_step_id BIGINT REFERENCES escalation_steps (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL DEFAULT 'email',
    address TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('triggered', 'resolved')),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    acknowledged_at TIMESTAMP
);
INSERT INTO notifications_old
SELECT id, unique_id, incident_id, escalation_step_id, user_id, channel, address, kind,
       CASE state WHEN 'cancelled' THEN 'failed' ELSE state END, attempt_count, next_attempt_at,
       locked_by, locked_until, last_error, created_at, completed_at, acknowledged_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_old RENAME TO notifications;
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX notifications_by_incident ON notifications (incident_id, id);
INSERT INTO notification_attempts SELECT * FROM notification_attempts_kept ORDER BY id;
DROP TABLE notification_attempts_kept;

ALTER TABLE users DROP COLUMN notify_on_resolve;
DROP TABLE notification_rules;
DROP TABLE contact_methods;
