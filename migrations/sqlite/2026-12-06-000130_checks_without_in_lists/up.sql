-- The CHECK constraints of the tables every incident writes to (its row, its webhooks, its
-- escalation steps and emails) say their allowed values as comparisons instead of IN lists.
-- SQLite checks a value against an IN list of more than two constants by building a temporary
-- b-tree of the list, on every insert and on every update of the column: a page allocated and
-- freed per row, about 2 µs each time (docs/decisions.md, "CHECK constraints without IN
-- lists"). The constraints allow exactly what they allowed before.
--
-- A CHECK constraint does not change what is stored, so the table definitions are rewritten in
-- place, as SQLite documents for such changes, instead of copying every table (the incidents
-- table is referenced by nine others). `replace` changes nothing where a definition does not
-- hold the text; a unit test of `db` fails if one was missed.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (1, 2, 3))', 'CHECK (status = 1 OR status = 2 OR status = 3)')
WHERE type = 'table' AND name = 'incidents';

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (state IN (''pending'', ''succeeded'', ''failed''))',
                  'CHECK (state = ''pending'' OR state = ''succeeded'' OR state = ''failed'')')
WHERE type = 'table' AND name = 'deliveries';

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (state IN (''pending'', ''fired'', ''cancelled''))',
                  'CHECK (state = ''pending'' OR state = ''fired'' OR state = ''cancelled'')')
WHERE type = 'table' AND name = 'escalation_steps';

UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'CHECK (kind IN (''triggered'', ''resolved'', ''confirm_contact''))',
    'CHECK (kind = ''triggered'' OR kind = ''resolved'' OR kind = ''confirm_contact'')'),
    'CHECK (state IN (''pending'', ''succeeded'', ''failed'', ''cancelled''))',
    'CHECK (state = ''pending'' OR state = ''succeeded'' OR state = ''failed'' OR state = ''cancelled'')')
WHERE type = 'table' AND name = 'notifications';

-- Off, and this connection reads the definitions again (it goes on as the writer's). Other
-- connections read them again at their next transaction: the schema's version changes below.
PRAGMA writable_schema = RESET;
CREATE TABLE checks_without_in_lists (id INTEGER);
DROP TABLE checks_without_in_lists;
