-- Who gets what: each person's contact methods (their account email, and more addresses once
-- confirmed by a link) and notification rules (contact method, urgency, delay), which paging
-- follows instead of always emailing the account address at once.

CREATE TABLE contact_methods (
    id BIGSERIAL PRIMARY KEY,
    unique_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL DEFAULT 'email' CHECK (channel IN ('email')),
    address TEXT NOT NULL,
    -- The account's own email: created with the user, kept in step with it, never removed.
    is_account BOOLEAN NOT NULL DEFAULT FALSE,
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
    id BIGSERIAL PRIMARY KEY,
    unique_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    contact_method_id BIGINT NOT NULL REFERENCES contact_methods (id),
    urgency TEXT NOT NULL CHECK (urgency IN ('any', 'high', 'low')),
    delay_minutes INTEGER NOT NULL CHECK (delay_minutes BETWEEN 0 AND 1440),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notification_rules_by_user ON notification_rules (user_id, id);
CREATE INDEX notification_rules_by_contact_method ON notification_rules (contact_method_id);

ALTER TABLE users ADD COLUMN notify_on_resolve BOOLEAN NOT NULL DEFAULT TRUE;

-- Everyone keeps being paged as before: their account email, at once, any urgency.
INSERT INTO contact_methods (unique_id, user_id, channel, address, is_account, confirmed_at,
                             created_at)
SELECT gen_random_uuid()::text, id, 'email', email, TRUE, now() AT TIME ZONE 'UTC',
       now() AT TIME ZONE 'UTC'
FROM users ORDER BY id;

INSERT INTO notification_rules (unique_id, user_id, contact_method_id, urgency, delay_minutes,
                                created_at)
SELECT gen_random_uuid()::text, user_id, id, 'any', 0, now() AT TIME ZONE 'UTC'
FROM contact_methods ORDER BY id;

-- The notification outbox also carries confirmation emails, which belong to no incident, and
-- keeps delayed emails that an acknowledgement made pointless as 'cancelled'.
ALTER TABLE notifications ALTER COLUMN incident_id DROP NOT NULL;
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('triggered', 'resolved', 'confirm_contact'));
ALTER TABLE notifications ADD CONSTRAINT notifications_incident_check
    CHECK ((kind = 'confirm_contact') = (incident_id IS NULL));
ALTER TABLE notifications DROP CONSTRAINT notifications_state_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_state_check
    CHECK (state IN ('pending', 'succeeded', 'failed', 'cancelled'));
