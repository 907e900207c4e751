-- Who gets what: each person's contact methods (their account email, and more addresses once
-- confirmed by a link) and notification rules (contact method, urgency, delay), which paging
-- follows instead of always emailing the account address at once.

CREATE TABLE contact_methods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL DEFAULT 'email' CHECK (channel IN ('email')),
    address TEXT NOT NULL,
    -- The account's own email: created with the user, kept in step with it, never removed.
    is_account BOOLEAN NOT NULL DEFAULT 0,
    confirmed_at TIMESTAMP,
    -- SHA-256 (hex) of the latest confirmation link's token (kept once used: the link says so).
    confirmation_token_hash TEXT,
    confirmation_sent_at TIMESTAMP,
    -- The `unique_id` of the latest confirmation email, whose outcome the profile shows.
    confirmation_notification TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX contact_methods_by_user ON contact_methods (user_id, id);
CREATE UNIQUE INDEX contact_methods_address_per_user ON contact_methods (user_id, channel, lower(address));
CREATE UNIQUE INDEX contact_methods_by_token ON contact_methods (confirmation_token_hash)
    WHERE confirmation_token_hash IS NOT NULL;

CREATE TABLE notification_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    contact_method_id BIGINT NOT NULL REFERENCES contact_methods (id),
    urgency TEXT NOT NULL CHECK (urgency IN ('any', 'high', 'low')),
    delay_minutes INTEGER NOT NULL CHECK (delay_minutes BETWEEN 0 AND 1440),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notification_rules_by_user ON notification_rules (user_id, id);
CREATE INDEX notification_rules_by_contact_method ON notification_rules (contact_method_id);

ALTER TABLE users ADD COLUMN notify_on_resolve BOOLEAN NOT NULL DEFAULT 1;

-- Everyone keeps being paged as before: their account email, at once, any urgency.
INSERT INTO contact_methods (unique_id, user_id, channel, address, is_account, confirmed_at,
                             created_at)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
           || '-' || lower(hex(randomblob(6))),
       id, 'email', email, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'),
       strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM users ORDER BY id;

INSERT INTO notification_rules (unique_id, user_id, contact_method_id, urgency, delay_minutes,
                                created_at)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
           || '-' || lower(hex(randomblob(6))),
       user_id, id, 'any', 0, strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM contact_methods ORDER BY id;

-- The notification outbox also carries confirmation emails, which belong to no incident, and
-- keeps delayed emails that an acknowledgement made pointless as 'cancelled'. SQLite cannot
-- change a column's constraints in place: the table is rebuilt with the same columns in the
-- same order and ids. Dropping a table that attempts still reference would break those
-- references (foreign keys are on), so the attempts step aside meanwhile and come back after.
CREATE TEMPORARY TABLE notification_attempts_kept AS SELECT * FROM notification_attempts;
DELETE FROM notification_attempts;

CREATE TABLE notifications_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id TEXT NOT NULL UNIQUE,
    incident_id BIGINT REFERENCES incidents (id),
    escalation_step_id BIGINT REFERENCES escalation_steps (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL DEFAULT 'email',
    address TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('triggered', 'resolved', 'confirm_contact')),
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'succeeded', 'failed', 'cancelled')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    acknowledged_at TIMESTAMP,
    CHECK ((kind = 'confirm_contact') = (incident_id IS NULL))
);
INSERT INTO notifications_new SELECT * FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX notifications_by_incident ON notifications (incident_id, id);
INSERT INTO notification_attempts SELECT * FROM notification_attempts_kept ORDER BY id;
DROP TABLE notification_attempts_kept;
