-- One row: the last incident number handed out. Taking the next number updates this row inside
-- the trigger's transaction, which serialises concurrent triggers and leaves no gaps on rollback.
CREATE TABLE incident_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_number BIGINT NOT NULL
);
INSERT INTO incident_counter (id, last_number) VALUES (1, 0);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_number BIGINT NOT NULL UNIQUE,
    unique_id TEXT NOT NULL UNIQUE,
    incident_key TEXT NOT NULL,
    service_id BIGINT NOT NULL REFERENCES services (id),
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),
    urgency INTEGER NOT NULL CHECK (urgency IN (0, 1)),
    priority INTEGER NOT NULL DEFAULT 0,
    assigned_to BIGINT REFERENCES users (id),
    created_by BIGINT REFERENCES users (id),
    creation_date TIMESTAMP NOT NULL,
    acknowledged_date TIMESTAMP,
    resolved_date TIMESTAMP,
    context_window_start TIMESTAMP NOT NULL,
    context_window_end TIMESTAMP NOT NULL,
    merged_with BIGINT REFERENCES incidents (id),
    entity_id TEXT
);
CREATE INDEX incidents_by_status ON incidents (status, id);
-- (service_id) also orders by id within a service, so a service's newest incidents need no sort.
CREATE INDEX incidents_by_service ON incidents (service_id, id);
-- At most one open incident per service and entity (alert deduplication).
CREATE UNIQUE INDEX incidents_open_entity ON incidents (service_id, entity_id)
    WHERE status IN (1, 2) AND entity_id IS NOT NULL;

CREATE TABLE incident_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    user_id BIGINT REFERENCES users (id),
    note TEXT NOT NULL,
    creation_date TIMESTAMP NOT NULL
);
CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, id);

-- Webhook outbox: one row per (transition, outgoing webhook integration), written in the
-- transition's transaction with the request body frozen.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    integration_id BIGINT NOT NULL REFERENCES integrations (id),
    incident_id BIGINT REFERENCES incidents (id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    is_test BOOLEAN NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_integration ON deliveries (integration_id, id);
CREATE INDEX deliveries_by_incident ON deliveries (incident_id, integration_id, id);

CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id),
    started_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    request_headers TEXT NOT NULL,
    status_code INTEGER,
    response_headers TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT '',
    error_kind TEXT,
    error_message TEXT
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

-- Append-only audit log of an incident.
CREATE TABLE timeline_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    kind TEXT NOT NULL,
    actor_user_id BIGINT REFERENCES users (id),
    actor_label TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    delivery_id BIGINT REFERENCES deliveries (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX timeline_by_incident ON timeline_entries (incident_id, id);
