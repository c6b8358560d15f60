-- The commitment letter's returned forms (issue 20): each import of a unit's form for a period is
-- one submission (seq 1, 2, … in import order; the highest is current, the others are history),
-- with the manual values it carried. Who = the file's name, when = the import time.
CREATE TABLE letter_submissions (
    unit        TEXT    NOT NULL,
    period      TEXT    NOT NULL,            -- 2026-Q4 | 2026
    seq         INTEGER NOT NULL,
    file_name   TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (unit, period, seq)
);

CREATE TABLE letter_values (
    unit      TEXT    NOT NULL,
    period    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    criterion TEXT    NOT NULL,              -- commitments[].code
    value     TEXT,                          -- canonical: 92.5 | 3 | done | not_done | 2026-11-30; NULL: blank
    evidence  TEXT    NOT NULL DEFAULT '',
    note      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (unit, period, seq, criterion)
);
