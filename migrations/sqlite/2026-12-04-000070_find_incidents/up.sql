-- Finding incidents among a million (the incidents list's search, date range, "assigned to me",
-- status tabs with counts).

-- How many incidents each service has per status and urgency, as signed changes that add up:
-- triggers append a row per change instead of updating one counter, so that concurrent
-- transitions never wait on (or deadlock over) a shared counter row. A periodic compaction
-- folds the rows of each key into one (src/db/tallies.rs).
CREATE TABLE incident_tallies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id BIGINT NOT NULL,
    status INTEGER NOT NULL,
    urgency INTEGER NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX incident_tallies_by_service ON incident_tallies (service_id, status, urgency, n);
INSERT INTO incident_tallies (service_id, status, urgency, n)
    SELECT service_id, status, urgency, COUNT(*) FROM incidents GROUP BY service_id, status, urgency;

CREATE TRIGGER incidents_tally_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incident_tallies (service_id, status, urgency, n)
        VALUES (NEW.service_id, NEW.status, NEW.urgency, 1);
END;
CREATE TRIGGER incidents_tally_update AFTER UPDATE OF service_id, status, urgency ON incidents
    WHEN OLD.service_id <> NEW.service_id OR OLD.status <> NEW.status OR OLD.urgency <> NEW.urgency
BEGIN
    INSERT INTO incident_tallies (service_id, status, urgency, n)
        VALUES (OLD.service_id, OLD.status, OLD.urgency, -1), (NEW.service_id, NEW.status, NEW.urgency, 1);
END;
CREATE TRIGGER incidents_tally_delete AFTER DELETE ON incidents BEGIN
    INSERT INTO incident_tallies (service_id, status, urgency, n)
        VALUES (OLD.service_id, OLD.status, OLD.urgency, -1);
END;

-- Words of titles and summaries. External content: the text stays in `incidents` only. The list
-- never ranks, so the index keeps no sizes (columnsize = 0). It keeps positions: without them
-- (detail = none) a search for two word prefixes took 3.5 times as long (measured on 300 000
-- titles; docs/benchmarks.md, ninth session).
CREATE VIRTUAL TABLE incidents_fts USING fts5(
    title, summary, content = 'incidents', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', columnsize = 0
);
INSERT INTO incidents_fts (incidents_fts) VALUES ('rebuild');
CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
END;
CREATE TRIGGER incidents_fts_update AFTER UPDATE OF title, summary ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        VALUES ('delete', OLD.id, OLD.title, OLD.summary);
    INSERT INTO incidents_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
END;
CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        VALUES ('delete', OLD.id, OLD.title, OLD.summary);
END;

-- A date range becomes a range of ids (ids grow with creation time) through this index.
CREATE INDEX incidents_by_creation ON incidents (creation_date, id);
-- "Assigned to me", newest first; the open ones on their own, so that neither their page nor
-- their count walks past someone's resolved history.
CREATE INDEX incidents_by_assignee ON incidents (assigned_to, id);
CREATE INDEX incidents_open_by_assignee ON incidents (assigned_to, id) WHERE status IN (1, 2);
