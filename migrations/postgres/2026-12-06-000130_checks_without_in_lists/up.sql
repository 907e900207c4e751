-- SQLite only (its CHECK constraints without IN lists); PostgreSQL checks an IN list of
-- constants without building anything. Kept so that both backends have the same migrations.
SELECT 1;
