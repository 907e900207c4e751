CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE team_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    role INTEGER NOT NULL CHECK (role IN (1, 2)),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status INTEGER NOT NULL DEFAULT 1 CHECK (status BETWEEN 0 AND 4),
    auto_resolve_timeout INTEGER NOT NULL DEFAULT 0,
    acknowledgement_timeout INTEGER NOT NULL DEFAULT 0,
    collation INTEGER NOT NULL DEFAULT 0 CHECK (collation IN (0, 1)),
    collation_time INTEGER NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX services_by_team ON services (team_id, name);

CREATE TABLE integrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    service_id BIGINT NOT NULL REFERENCES services (id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    application TEXT NOT NULL,
    integration_type INTEGER NOT NULL CHECK (integration_type IN (0, 1)),
    is_enabled BOOLEAN NOT NULL DEFAULT 1,
    integration_key TEXT UNIQUE,
    create_incidents_for INTEGER NOT NULL DEFAULT 3,
    default_urgency INTEGER NOT NULL DEFAULT 1,
    url TEXT,
    secret TEXT,
    previous_secret TEXT,
    previous_secret_expires_at TIMESTAMP,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX integrations_by_service ON integrations (service_id, integration_type);

CREATE TABLE integration_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id BIGINT NOT NULL REFERENCES integrations (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    actor_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX integration_audit_by_integration ON integration_audit (integration_id, id);
CREATE INDEX integration_audit_by_service ON integration_audit (service_id, id);
