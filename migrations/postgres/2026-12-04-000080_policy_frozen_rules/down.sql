ALTER TABLE escalation_policies DROP COLUMN frozen_rules;
