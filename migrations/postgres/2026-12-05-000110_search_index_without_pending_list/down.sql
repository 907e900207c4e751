ALTER INDEX incidents_search RESET (fastupdate);
ALTER INDEX incidents_open_search RESET (fastupdate);
