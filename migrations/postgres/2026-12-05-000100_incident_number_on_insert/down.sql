DROP TRIGGER incidents_take_number ON incidents;
DROP FUNCTION incidents_take_number();
