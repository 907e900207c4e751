DROP INDEX incidents_open_by_assignee;
DROP INDEX incidents_by_assignee;
DROP INDEX incidents_by_creation;
DROP INDEX incidents_search;
ALTER TABLE incidents DROP COLUMN search_words;
DROP TRIGGER incidents_tally_update ON incidents;
DROP TRIGGER incidents_tally_insert_delete ON incidents;
DROP FUNCTION incidents_tally();
DROP TABLE incident_tallies;
