-- A new incident inserted without a number (0) takes the next one from the counter as it is
-- inserted: one statement instead of the counter's UPDATE and the INSERT, each a round trip on
-- the connection a storm's alerts wait for. The counter's row is locked until the commit as
-- before, so numbers still have no gaps. Rows inserted with a number (an import) keep it.
CREATE FUNCTION incidents_take_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.incident_number = 0 THEN
        UPDATE incident_counter SET last_number = last_number + 1 WHERE id = 1
            RETURNING last_number INTO NEW.incident_number;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the incident counter has no row';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incidents_take_number BEFORE INSERT ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_take_number();
