-- PostgreSQL's search indexes stop using a pending list (see its migration). SQLite's index is
-- written at commit already: nothing changes here; the migration keeps both backends at the
-- same schema version, which exports name.
SELECT 1;
