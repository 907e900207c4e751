-- An integration's deliveries by state, most recently finished last: whether it is failing
-- (docs/operations.md, "Failing integrations") reads its retrying deliveries, its last success
-- and its failures since, each a short walk of this index however many deliveries it sent.
-- Pending deliveries have no completed_at; `id` orders them.
CREATE INDEX deliveries_by_integration_state ON deliveries (integration_id, state, completed_at, id);
