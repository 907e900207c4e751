-- Events received from monitoring tools on incoming integrations.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    integration_id BIGINT NOT NULL REFERENCES integrations (id),
    incident_id BIGINT REFERENCES incidents (id),
    alert_type INTEGER NOT NULL CHECK (alert_type BETWEEN 0 AND 5),
    message TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    entity_id TEXT NOT NULL,
    suppressed BOOLEAN NOT NULL DEFAULT 0,
    payload TEXT NOT NULL DEFAULT '{}',
    urls TEXT NOT NULL DEFAULT '[]',
    creation_date TIMESTAMP NOT NULL
);
CREATE INDEX alerts_by_integration ON alerts (integration_id, id);
CREATE INDEX alerts_by_incident ON alerts (incident_id, id);
