-- An incident inserted with number 0 takes the next number from the counter inside its own
-- INSERT: a trigger costs the server microseconds, a separate UPDATE … RETURNING costs the
-- writer's connection a round trip per new incident (docs/decisions.md, "What bounds a
-- PostgreSQL storm"). Rows inserted with their number (an import) keep it.
CREATE FUNCTION incidents_take_next_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.incident_number = 0 THEN
        UPDATE incident_counter SET last_number = last_number + 1 WHERE id = 1
            RETURNING last_number INTO NEW.incident_number;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER incidents_take_next_number BEFORE INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_take_next_number();
