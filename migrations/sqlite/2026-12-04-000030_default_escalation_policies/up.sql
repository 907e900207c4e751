-- Every team gets a "Default" escalation policy that notifies its managers (as they are now) at
-- once, and every service of the team without a policy gets it: a service is never silently
-- unpaged. Teams created later get theirs from the app, with the same shape.

CREATE TEMPORARY TABLE default_policy_teams AS
SELECT t.id AS team_id,
       lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
           || '-' || lower(hex(randomblob(6))) AS policy_uid,
       lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
           || substr(lower(hex(randomblob(2))), 2) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
           || '-' || lower(hex(randomblob(6))) AS rule_uid
FROM teams t
WHERE NOT EXISTS (SELECT 1 FROM escalation_policies p WHERE p.team_id = t.id);

INSERT INTO escalation_policies (unique_id, team_id, name, summary, description, repeat_policy,
                                 move_to_next, created_by, created_at)
SELECT policy_uid, team_id, 'Default', '', 'Notifies the team''s managers at once.', 0, 0, NULL,
       strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM default_policy_teams;

INSERT INTO escalation_rules (unique_id, policy_id, position, delay)
SELECT d.rule_uid, p.id, 0, 0
FROM default_policy_teams d JOIN escalation_policies p ON p.unique_id = d.policy_uid;

INSERT INTO escalation_targets (rule_id, target_type, schedule_id, user_id)
SELECT r.id, 2, NULL, m.user_id
FROM default_policy_teams d
JOIN escalation_rules r ON r.unique_id = d.rule_uid
JOIN team_members m ON m.team_id = d.team_id AND m.role = 1
ORDER BY r.id, m.id;

INSERT INTO on_call_audit (team_id, subject_type, subject_id, actor_id, action, detail, created_at)
SELECT d.team_id, 'escalation_policy', p.id, NULL, 'created',
       'Made by the upgrade: the team''s managers, at once.', strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM default_policy_teams d JOIN escalation_policies p ON p.unique_id = d.policy_uid;

UPDATE services
SET escalation_policy_id = (SELECT p.id FROM default_policy_teams d
                            JOIN escalation_policies p ON p.unique_id = d.policy_uid
                            WHERE d.team_id = services.team_id)
WHERE escalation_policy_id IS NULL
  AND team_id IN (SELECT team_id FROM default_policy_teams);

DROP TABLE default_policy_teams;
