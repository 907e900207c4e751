DROP INDEX incidents_open_search;
