-- Letters that replace one another: a letter about one unit (`unit`) supersedes the letters of the
-- same kind to the same recipients for that unit that are still waiting (status 'superseded':
-- listed by `alerts list`, never sent). `snapshot` keeps what the city summary showed (JSON), so
-- that the next summary can say what changed since the last letter that was actually sent.
ALTER TABLE outbox ADD COLUMN unit TEXT;
ALTER TABLE outbox ADD COLUMN snapshot TEXT;
CREATE INDEX outbox_unit ON outbox (kind, unit, status);
