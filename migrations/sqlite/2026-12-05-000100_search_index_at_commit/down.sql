INSERT INTO incidents_fts (rowid, title, summary)
    SELECT i.id, i.title, i.summary
    FROM incidents_fts_pending p JOIN incidents i ON i.id = p.incident_id;
DROP TRIGGER incidents_fts_delete;
CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        VALUES ('delete', OLD.id, OLD.title, OLD.summary);
END;
DROP TRIGGER incidents_fts_update;
CREATE TRIGGER incidents_fts_update AFTER UPDATE OF title, summary ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, title, summary)
        VALUES ('delete', OLD.id, OLD.title, OLD.summary);
    INSERT INTO incidents_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
END;
DROP TRIGGER incidents_fts_insert;
CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_fts (rowid, title, summary) VALUES (NEW.id, NEW.title, NEW.summary);
END;
DROP TABLE incidents_fts_pending;
