-- Time-based collation attaches alerts of other entities to an open incident; later alerts of
-- such an entity find that incident through the alerts already attached to it.
CREATE INDEX alerts_by_entity ON alerts (entity_id, incident_id);
