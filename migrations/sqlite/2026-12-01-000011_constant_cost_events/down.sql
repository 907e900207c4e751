DROP INDEX incidents_open;
DROP INDEX incidents_open_by_service;
CREATE INDEX alerts_by_entity ON alerts (entity_id, incident_id);
DROP TABLE collated_entities;
