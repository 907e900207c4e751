-- The words of new incidents go straight into the GIN indexes instead of a pending list. With
-- the list (GIN's default, `fastupdate`), an insert is cheaper until the list passes 4 MB, and
-- then the insert that passes it moves the whole list into the index: a third of a second, in
-- the writer's transaction, while every alert behind it waits (the open loop's p99 during a
-- storm; docs/decisions.md, "PostgreSQL: the search indexes without a pending list").
ALTER INDEX incidents_search SET (fastupdate = off);
ALTER INDEX incidents_open_search SET (fastupdate = off);
-- What the lists hold already goes into the indexes now, not at some later insert.
SELECT gin_clean_pending_list('incidents_search'::regclass);
SELECT gin_clean_pending_list('incidents_open_search'::regclass);
