-- Paging: an incident's escalation (its policy's rules frozen when it started), the steps due
-- (durable jobs, claimed with a lease like deliveries), the notifications they produce (an
-- outbox of emails with every attempt kept).

CREATE TABLE escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    policy_id BIGINT REFERENCES escalation_policies (id),
    policy_name TEXT NOT NULL,
    -- The rules as they were when the escalation started: JSON
    -- [{"delay": minutes, "targets": [{"type": "user"|"schedule", "id": row id, "name": text}]}]
    rules TEXT NOT NULL,
    repeat_policy INTEGER NOT NULL DEFAULT 0,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    end_reason TEXT
);
CREATE INDEX escalations_by_incident ON escalations (incident_id, id);

-- One row per level to fire: `level` indexes the frozen rules, `round` counts repeats.
CREATE TABLE escalation_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    escalation_id BIGINT NOT NULL REFERENCES escalations (id),
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    level INTEGER NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    due_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    locked_by TEXT,
    locked_until TIMESTAMP,
    fired_at TIMESTAMP
);
CREATE INDEX escalation_steps_due ON escalation_steps (due_at, id) WHERE state = 'pending';
CREATE INDEX escalation_steps_by_incident ON escalation_steps (incident_id, state);

CREATE TABLE notifications (
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
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX notifications_by_incident ON notifications (incident_id, id);

CREATE TABLE notification_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications (id),
    started_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    reply_code INTEGER,
    reply_text TEXT NOT NULL DEFAULT '',
    error TEXT
);
CREATE INDEX notification_attempts_by_notification ON notification_attempts (notification_id, id);
