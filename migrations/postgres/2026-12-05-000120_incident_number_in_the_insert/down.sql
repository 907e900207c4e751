DROP TRIGGER incidents_take_next_number ON incidents;
DROP FUNCTION incidents_take_next_number();
