-- The words of open incidents, indexed on their own: a search on the Open tab reads the few open
-- matches of a word from this index instead of building the bitmap of every match of it a
-- second time (the tabs' count has already built it once).
CREATE INDEX incidents_open_search ON incidents USING GIN (search_words) WHERE status IN (1, 2);
