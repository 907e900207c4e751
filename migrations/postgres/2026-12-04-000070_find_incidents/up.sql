-- Finding incidents among a million (the incidents list's search, date range, "assigned to me",
-- status tabs with counts).

-- How many incidents each service has per status and urgency, as signed changes that add up:
-- the trigger appends a row per change instead of updating one counter, so that concurrent
-- transitions never wait on (or deadlock over) a shared counter row — a sweep resolving a
-- batch of incidents would otherwise lock counters in another order than a responder's
-- acknowledgement. A periodic compaction folds the rows of each key into one (src/db/tallies.rs).
CREATE TABLE incident_tallies (
    id BIGSERIAL PRIMARY KEY,
    service_id BIGINT NOT NULL,
    status INTEGER NOT NULL,
    urgency INTEGER NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX incident_tallies_by_service ON incident_tallies (service_id, status, urgency, n);
INSERT INTO incident_tallies (service_id, status, urgency, n)
    SELECT service_id, status, urgency, COUNT(*) FROM incidents GROUP BY service_id, status, urgency;

CREATE FUNCTION incidents_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO incident_tallies (service_id, status, urgency, n)
            VALUES (OLD.service_id, OLD.status, OLD.urgency, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO incident_tallies (service_id, status, urgency, n)
            VALUES (NEW.service_id, NEW.status, NEW.urgency, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER incidents_tally_insert_delete AFTER INSERT OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_tally();
CREATE TRIGGER incidents_tally_update AFTER UPDATE OF service_id, status, urgency ON incidents
    FOR EACH ROW
    WHEN (OLD.service_id <> NEW.service_id OR OLD.status <> NEW.status OR OLD.urgency <> NEW.urgency)
    EXECUTE FUNCTION incidents_tally();

-- Words of titles and summaries ('simple': no stemming, so that host names and error codes
-- match as typed, prefixes included). Whatever is not a letter or digit separates words, as in
-- SQLite's index: PostgreSQL's own parser would read "db-0421" as "db" and "-0421". Stored, so
-- that a walk along the ids tests each row's words without computing them again (14 µs a row).
ALTER TABLE incidents ADD COLUMN search_words tsvector GENERATED ALWAYS AS
    (to_tsvector('simple', regexp_replace(title || ' ' || summary, '[^[:alnum:]]+', ' ', 'g'))) STORED;
CREATE INDEX incidents_search ON incidents USING GIN (search_words);

-- A date range becomes a range of ids (ids grow with creation time) through this index.
CREATE INDEX incidents_by_creation ON incidents (creation_date, id);
-- "Assigned to me", newest first; the open ones on their own, so that neither their page nor
-- their count walks past someone's resolved history.
CREATE INDEX incidents_by_assignee ON incidents (assigned_to, id);
CREATE INDEX incidents_open_by_assignee ON incidents (assigned_to, id) WHERE status IN (1, 2);
