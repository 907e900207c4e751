DROP TABLE timeline_entries;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE incident_notes;
DROP TABLE incidents;
DROP TABLE incident_counter;
