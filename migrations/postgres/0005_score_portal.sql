-- The Decision 766 score (issue 19, docs/score.md): the national portal's published figures, kept
-- as their own time series beside dondoc's estimate, and the collector's circuit breaker.
-- Aggregates only: no dossier and no personal data.

-- One row per dondoc unit, period (2026-Q4, 2026-11, 2026), group (CKMB, TDGQ, CLGQ, TTTT, MDHL,
-- MDSH) and local day of collection: the portal's totalScore/totalMaxScore, its dossier count
-- where the report gives one, and its metrics and counts as JSON (detail).
CREATE TABLE portal_figures (
    unit        TEXT COLLATE "C" NOT NULL,
    period      TEXT COLLATE "C" NOT NULL,
    grp         TEXT COLLATE "C" NOT NULL,
    day         TEXT COLLATE "C" NOT NULL,             -- YYYY-MM-DD, Asia/Ho_Chi_Minh
    department  TEXT COLLATE "C" NOT NULL,             -- the portal's department code of the unit
    score       DOUBLE PRECISION,
    max_score   DOUBLE PRECISION,
    received    BIGINT,                      -- totalReceived (or the report's dossier count)
    detail      TEXT NOT NULL,
    fetched_at  BIGINT NOT NULL,
    PRIMARY KEY (unit, period, grp, day)
);

-- The collector's circuit: one row (id 1). Open after 401/403/429 or an HTML answer; it stays
-- open until a person runs `dondoc score portal-reset`.
CREATE TABLE portal_circuit (
    id              BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    open            BOOLEAN NOT NULL DEFAULT FALSE,
    reason          TEXT,
    opened_at       BIGINT,
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    last_error      TEXT
);
