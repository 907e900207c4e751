-- SQLite's full-text index now takes new incidents when their transaction commits (see its
-- migration). PostgreSQL's indexes are ordinary indexes, kept by each insert: nothing changes
-- here; the migration keeps both backends at the same schema version, which exports name.
SELECT 1;
