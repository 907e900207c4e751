-- PostgreSQL's incidents now take their number as they are inserted (a round trip less). SQLite's
-- writer pays no round trip for the counter's own statement, so nothing changes here; the
-- migration exists so that both backends are at the same schema version (exports name it).
SELECT 1;
