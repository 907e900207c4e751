-- The Events API reaches every row it needs through an index whose walk does not grow with the
-- number of open or resolved incidents, or of alerts (docs/decisions.md, "Constant-cost events").

-- Which open incident an entity's alerts were collated into, one row per (service, entity) that
-- was ever collated: found by key, instead of probing the alerts of every open incident.
CREATE TABLE collated_entities (
    id BIGSERIAL PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services (id),
    entity_id TEXT NOT NULL,
    incident_id BIGINT NOT NULL REFERENCES incidents (id)
);
CREATE UNIQUE INDEX collated_entities_by_entity ON collated_entities (service_id, entity_id);

INSERT INTO collated_entities (service_id, entity_id, incident_id)
SELECT incidents.service_id, alerts.entity_id, MAX(alerts.incident_id)
FROM alerts JOIN incidents ON incidents.id = alerts.incident_id
WHERE incidents.entity_id IS NULL OR incidents.entity_id <> alerts.entity_id
GROUP BY incidents.service_id, alerts.entity_id;

-- Only the collation lookup above used it.
DROP INDEX alerts_by_entity;

-- A service's open incidents, newest first: the newest one is the first entry (collation).
CREATE INDEX incidents_open_by_service ON incidents (service_id, id) WHERE status IN (1, 2);

-- Open incidents newest first, across services: the incidents list's default view pages through
-- it however many incidents are open or resolved.
CREATE INDEX incidents_open ON incidents (id) WHERE status IN (1, 2);
