PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status = 1 OR status = 2 OR status = 3)', 'CHECK (status IN (1, 2, 3))')
WHERE type = 'table' AND name = 'incidents';

UPDATE sqlite_schema
SET sql = replace(sql,
                  'CHECK (state = ''pending'' OR state = ''succeeded'' OR state = ''failed'')',
                  'CHECK (state IN (''pending'', ''succeeded'', ''failed''))')
WHERE type = 'table' AND name = 'deliveries';

UPDATE sqlite_schema
SET sql = replace(sql,
                  'CHECK (state = ''pending'' OR state = ''fired'' OR state = ''cancelled'')',
                  'CHECK (state IN (''pending'', ''fired'', ''cancelled''))')
WHERE type = 'table' AND name = 'escalation_steps';

UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'CHECK (kind = ''triggered'' OR kind = ''resolved'' OR kind = ''confirm_contact'')',
    'CHECK (kind IN (''triggered'', ''resolved'', ''confirm_contact''))'),
    'CHECK (state = ''pending'' OR state = ''succeeded'' OR state = ''failed'' OR state = ''cancelled'')',
    'CHECK (state IN (''pending'', ''succeeded'', ''failed'', ''cancelled''))')
WHERE type = 'table' AND name = 'notifications';

PRAGMA writable_schema = RESET;
CREATE TABLE checks_without_in_lists (id INTEGER);
DROP TABLE checks_without_in_lists;
