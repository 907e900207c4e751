-- A new incident's words go into the full-text index when its write transaction commits, not
-- as it is inserted. FTS5 writes what it was given to disk at every savepoint, and the writer
-- opens one per piece of work (and SQLite one per INSERT ... RETURNING): during a storm every
-- incident became a segment of its own, which FTS5 then merged again and again, a fifth of the
-- writer's time by 100 000 incidents (docs/decisions.md, "SQLite: the search index written at
-- commit"). Now the insert trigger only notes the incident's id, and the writer indexes the
-- noted incidents in one statement as the last step of its transaction (Klaxon indexes any left
-- by another program, such as an import, before it serves).
CREATE TABLE incidents_fts_pending (
    incident_id INTEGER PRIMARY KEY
);

DROP TRIGGER incidents_fts_insert;
CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_fts_pending (incident_id) VALUES (NEW.id);
END;

-- An incident still waiting to be indexed has nothing in the index to replace or remove:
-- the index takes its words as they are when the transaction commits.
DROP TRIGGER incidents_fts_update;
CREATE TRIGGER incidents_fts_update AFTER UPDATE OF title, summary ON incidents
    WHEN NOT EXISTS (SELECT 1 FROM incidents_fts_pending WHERE incident_id = OLD.id)
BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        VALUES ('delete', OLD.id, OLD.title, OLD.summary);
    INSERT INTO incidents_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
END;

DROP TRIGGER incidents_fts_delete;
CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        SELECT 'delete', OLD.id, OLD.title, OLD.summary
        WHERE NOT EXISTS (SELECT 1 FROM incidents_fts_pending WHERE incident_id = OLD.id);
    DELETE FROM incidents_fts_pending WHERE incident_id = OLD.id;
END;
