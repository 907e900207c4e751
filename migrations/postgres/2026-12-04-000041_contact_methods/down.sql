-- Confirmation emails have no incident: they go, and cancelled emails read as failed.
DELETE FROM notification_attempts WHERE notification_id IN
    (SELECT id FROM notifications WHERE incident_id IS NULL);
DELETE FROM notifications WHERE incident_id IS NULL;
UPDATE notifications SET state = 'failed' WHERE state = 'cancelled';
ALTER TABLE notifications DROP CONSTRAINT notifications_state_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_state_check
    CHECK (state IN ('pending', 'succeeded', 'failed'));
ALTER TABLE notifications DROP CONSTRAINT notifications_incident_check;
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('triggered', 'resolved'));
ALTER TABLE notifications ALTER COLUMN incident_id SET NOT NULL;

ALTER TABLE users DROP COLUMN notify_on_resolve;
DROP TABLE notification_rules;
DROP TABLE contact_methods;
