-- Who should answer: schedules (layers of rotating users, overrides) and escalation policies
-- (ordered rules whose targets are users or schedules), both owned by a team.

CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    time_zone TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX schedules_by_team ON schedules (team_id, name);

-- Later positions are higher layers: they win where they cover the same instant.
CREATE TABLE schedule_layers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    schedule_id BIGINT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    shift_length BIGINT NOT NULL CHECK (shift_length > 0),
    rotation_start_time TIMESTAMP NOT NULL,
    rotation_end_time TIMESTAMP,
    restriction_type INTEGER NOT NULL DEFAULT 0 CHECK (restriction_type IN (0, 1, 2)),
    is_active BOOLEAN NOT NULL DEFAULT 1
);
CREATE INDEX schedule_layers_by_schedule ON schedule_layers (schedule_id, position);

CREATE TABLE schedule_layer_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    layer_id BIGINT NOT NULL REFERENCES schedule_layers (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    position INTEGER NOT NULL
);
CREATE INDEX schedule_layer_users_by_layer ON schedule_layer_users (layer_id, position);
CREATE INDEX schedule_layer_users_by_user ON schedule_layer_users (user_id);

-- A window in the schedule's time zone: daily (start_day_of_week unused) or weekly
-- (0 = Monday … 6 = Sunday); duration in seconds, so a window may cross midnight.
CREATE TABLE schedule_restrictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    layer_id BIGINT NOT NULL REFERENCES schedule_layers (id) ON DELETE CASCADE,
    start_day_of_week INTEGER NOT NULL DEFAULT 0 CHECK (start_day_of_week BETWEEN 0 AND 6),
    start_time_of_day TEXT NOT NULL,
    duration BIGINT NOT NULL CHECK (duration > 0)
);
CREATE INDEX schedule_restrictions_by_layer ON schedule_restrictions (layer_id);

CREATE TABLE schedule_overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    schedule_id BIGINT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    user_id BIGINT NOT NULL REFERENCES users (id),
    start_time TIMESTAMP NOT NULL,
    end_time TIMESTAMP NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK (end_time > start_time)
);
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides (schedule_id, end_time);
CREATE INDEX schedule_overrides_by_user ON schedule_overrides (user_id);

CREATE TABLE escalation_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    repeat_policy INTEGER NOT NULL DEFAULT 0 CHECK (repeat_policy BETWEEN 0 AND 10),
    move_to_next BOOLEAN NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX escalation_policies_by_team ON escalation_policies (team_id, name);

CREATE TABLE escalation_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    policy_id BIGINT NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    delay INTEGER NOT NULL DEFAULT 0 CHECK (delay >= 0)
);
CREATE INDEX escalation_rules_by_policy ON escalation_rules (policy_id, position);

-- target_type 1: a schedule (whoever is on call in it when the rule fires); 2: a user.
CREATE TABLE escalation_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id BIGINT NOT NULL REFERENCES escalation_rules (id) ON DELETE CASCADE,
    target_type INTEGER NOT NULL CHECK (target_type IN (1, 2)),
    schedule_id BIGINT REFERENCES schedules (id),
    user_id BIGINT REFERENCES users (id),
    CHECK ((target_type = 1 AND schedule_id IS NOT NULL AND user_id IS NULL)
        OR (target_type = 2 AND user_id IS NOT NULL AND schedule_id IS NULL))
);
CREATE INDEX escalation_targets_by_rule ON escalation_targets (rule_id);
CREATE INDEX escalation_targets_by_schedule ON escalation_targets (schedule_id);
CREATE INDEX escalation_targets_by_user ON escalation_targets (user_id);

ALTER TABLE services ADD COLUMN escalation_policy_id BIGINT REFERENCES escalation_policies (id);
CREATE INDEX services_by_escalation_policy ON services (escalation_policy_id);

-- Who changed a schedule, an override or a policy, when, and what.
CREATE TABLE on_call_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    subject_type TEXT NOT NULL CHECK (subject_type IN ('schedule', 'escalation_policy')),
    subject_id BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX on_call_audit_by_subject ON on_call_audit (subject_type, subject_id, id);
