-- As in SQLite: a dossier without a field (MaLinhVuc absent) keeps field_code '' (not NULL), so
-- that copies between the engines are exact and every group has a key.
UPDATE dossiers SET field_code = '' WHERE field_code IS NULL;
ALTER TABLE dossiers ALTER COLUMN field_code SET DEFAULT '', ALTER COLUMN field_code SET NOT NULL;

-- The metric aggregation reads the whole table (one scan for every period at once): the date
-- indexes were never used and only slowed every insert. Per-unit lookups (action lists, code
-- counts) keep dossiers_unit.
DROP INDEX IF EXISTS dossiers_received;
DROP INDEX IF EXISTS dossiers_ended;
