-- PostgreSQL numbers a new incident inside its INSERT (a trigger); SQLite, which pays no round
-- trip for the separate UPDATE of the counter, keeps it. Kept so that both backends list the
-- same migrations.
SELECT 1;
