-- Cost that follows the window, not the history (issue 16): until when a dossier can be counted by
-- some window. A finished dossier (status 8, 9 or 10 with an end) counts in no window that starts
-- after the latest of its end, its receipt and its rating; an open one may count in any window
-- (9223372036854775807, the largest instant). The evaluation keeps `>= the earliest window start`,
-- so that it reads the open dossiers and those settled since then, through this index, instead of
-- every dossier ever stored. An index on the expression, not a column: no write path changes, and
-- the expression must stay word for word the one in src/store/tallies.rs (MATTERS_UNTIL); a test
-- reads the query plan on both engines.
CREATE INDEX IF NOT EXISTS dossiers_matter_until ON dossiers ((
    CASE WHEN status IN (8, 9, 10) AND ended_at IS NOT NULL THEN
        CASE WHEN coalesce(received_at, ended_at) >= ended_at
                  AND coalesce(received_at, ended_at) >= coalesce(rated_at, ended_at)
             THEN coalesce(received_at, ended_at)
             WHEN coalesce(rated_at, ended_at) >= ended_at THEN coalesce(rated_at, ended_at)
             ELSE ended_at END
    ELSE 9223372036854775807 END
));
