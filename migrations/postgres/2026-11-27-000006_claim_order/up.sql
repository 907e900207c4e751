-- The sender claims due deliveries in (next_attempt_at, id) order. With id in the index the
-- claim walks the index in that order and stops at its limit, instead of sorting every due
-- row, which grew slower with every delivery waiting in a backlog.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, id);
