-- Each policy keeps its rules as an escalation freezes them (the JSON list of
-- domain::incidents::escalation::FrozenRule, target names included), rewritten in the transaction
-- of every change that alters them, so that a trigger reads its policy in one statement. NULL
-- means "not computed": existing policies are filled by Klaxon at its start, and a trigger that
-- finds NULL reads the rules, targets and names as before (docs/decisions.md).
ALTER TABLE escalation_policies ADD COLUMN frozen_rules TEXT;
