-- The commitment letter's returned forms (issue 20): each import of a unit's form for a period is
-- one submission (seq 1, 2, … in import order; the highest is current, the others are history),
-- with the manual values it carried. Who = the file's name, when = the import time.
CREATE TABLE letter_submissions (
    unit        TEXT COLLATE "C" NOT NULL,
    period      TEXT COLLATE "C" NOT NULL,            -- 2026-Q4 | 2026
    seq         BIGINT NOT NULL,
    file_name   TEXT COLLATE "C" NOT NULL,
    sha256      TEXT COLLATE "C" NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (unit, period, seq)
);

CREATE TABLE letter_values (
    unit      TEXT COLLATE "C" NOT NULL,
    period    TEXT COLLATE "C" NOT NULL,
    seq       BIGINT NOT NULL,
    criterion TEXT COLLATE "C" NOT NULL,              -- commitments[].code
    value TEXT,                          -- canonical: 92.5 | 3 | done | not_done | 2026-11-30; NULL: blank
    evidence  TEXT COLLATE "C" NOT NULL DEFAULT '',
    note      TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (unit, period, seq, criterion)
);
