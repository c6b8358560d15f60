-- dondoc's schema, SQLite. Every instant is INTEGER seconds since the Unix epoch (UTC).
-- No table holds personal data of citizens: dossiers keep codes, dates, flags and amounts only.

-- Incremental sync: one row per source and endpoint ('ho-so', 'thu-tuc', 'van-ban').
CREATE TABLE sync_state (
    source               TEXT    NOT NULL,
    endpoint             TEXT    NOT NULL,
    mark                 INTEGER,            -- high-water NgayCapNhat of what is stored
    last_success_at      INTEGER,
    last_attempt_at      INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_fetched         INTEGER NOT NULL DEFAULT 0,
    last_stored          INTEGER NOT NULL DEFAULT 0,
    last_rejected        INTEGER NOT NULL DEFAULT 0,
    last_pages           INTEGER NOT NULL DEFAULT 0,
    last_duration_ms     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, endpoint)
);

-- The procedure catalogue of each one-stop source, replaced whole at every sync.
CREATE TABLE procedures (
    source     TEXT    NOT NULL,
    code       TEXT    NOT NULL,             -- MaTTHC
    name       TEXT,
    field_code TEXT,
    field_name TEXT,
    level      INTEGER,                      -- MucDo
    PRIMARY KEY (source, code)
);

-- Dossiers, normalized to what metrics.md and the action lists need. Clustered by unit and field
-- (WITHOUT ROWID, primary key first on unit_code, field_code): the metric aggregation groups by
-- exactly that, so it streams through the table in order without sorting a million rows, and
-- per-unit lookups (action lists, code counts) read one contiguous range. The record's identity
-- is the unique (source, code).
CREATE TABLE dossiers (
    unit_code        TEXT    NOT NULL,       -- DonViXuLy ('' for a tombstone)
    field_code       TEXT    NOT NULL DEFAULT '',  -- MaLinhVuc ('' when absent)
    source           TEXT    NOT NULL,
    code             TEXT    NOT NULL,       -- MaHoSo
    procedure_code   TEXT    NOT NULL,       -- MaTTHC
    channel          INTEGER,                -- KenhThucHien
    status           INTEGER NOT NULL,       -- TrangThaiHoSo (0 for a tombstone)
    received_at      INTEGER,                -- NgayTiepNhan
    appointed_at     INTEGER,                -- NgayHenTra as first appointed
    due_at           INTEGER,                -- effective due: latest of NgayHenTra and supplements
    ended_at         INTEGER,                -- NgayKetThucXuLy, else NgayTra
    returned_at      INTEGER,                -- NgayTra
    paid_online      INTEGER NOT NULL,       -- DuocThanhToanTrucTuyen
    fee_total        REAL    NOT NULL,       -- sum of Gia
    digitized        INTEGER NOT NULL,       -- a result paper with a file
    first_apology_at INTEGER,                -- earliest apology slip
    rating           INTEGER,                -- DanhGiaHaiLong.MucDo
    rated_at         INTEGER,                -- DanhGiaHaiLong.NgayDanhGia
    updated_at       INTEGER NOT NULL,       -- NgayCapNhat
    deleted          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_code, field_code, source, code)
) WITHOUT ROWID;
CREATE UNIQUE INDEX dossiers_key ON dossiers (source, code);

-- Documents, clustered by unit likewise.
CREATE TABLE documents (
    unit_code        TEXT    NOT NULL,       -- MaDonVi ('' for a tombstone)
    source           TEXT    NOT NULL,
    code             TEXT    NOT NULL,       -- MaVanBan
    direction        TEXT,                   -- DEN | DI (NULL for a tombstone)
    arrived_at       INTEGER,                -- NgayDen
    issued_at        INTEGER,                -- NgayBanHanh
    processed_online INTEGER NOT NULL,       -- XuLyTrenMang = 1
    signed           INTEGER NOT NULL,       -- KySo = 1
    updated_at       INTEGER NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_code, source, code)
) WITHOUT ROWID;
CREATE UNIQUE INDEX documents_key ON documents (source, code);

-- Records that broke the contract: key and reason only, never the record's content.
CREATE TABLE rejected (
    source     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,             -- dossier | procedure | document
    key        TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    updated_at INTEGER,                      -- NgayCapNhat of the rejected version, if readable
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, kind, key)
);

-- The time series: one sample per unit, metric, scope, period and local day, upserted.
CREATE TABLE metric_samples (
    unit        TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    scope       TEXT    NOT NULL DEFAULT '',  -- '' = unscoped, else a field group
    period      TEXT    NOT NULL,             -- 2024-05 | 2024-Q2 | 2024
    day         TEXT    NOT NULL,             -- local date of as_of, YYYY-MM-DD
    as_of       INTEGER NOT NULL,
    numerator   INTEGER NOT NULL,
    denominator INTEGER NOT NULL,
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (unit, metric, scope, period, day)
);

-- Alert lifecycle, one row per (unit, metric, scope, period). Data-source alerts use unit '_source'.
CREATE TABLE alerts (
    unit                 TEXT    NOT NULL,
    metric               TEXT    NOT NULL,
    scope                TEXT    NOT NULL DEFAULT '',
    period               TEXT    NOT NULL,
    phase                TEXT    NOT NULL,        -- clear | pending | firing | resolved | warning
    breach_count         INTEGER NOT NULL DEFAULT 0,
    first_breach_at      INTEGER,
    fired_at             INTEGER,
    resolved_at          INTEGER,
    last_notified_at     INTEGER,
    notice               TEXT,                    -- what the next digest must say: new | resolved | warning
    numerator            INTEGER NOT NULL DEFAULT 0,
    denominator          INTEGER NOT NULL DEFAULT 0,
    notified_numerator   INTEGER,                 -- the numbers of the last mail, for "change since"
    notified_denominator INTEGER,
    detail               TEXT,                    -- data-source alerts: what is wrong, in words
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (unit, metric, scope, period)
);

-- Transactional outbox of mail: written with the alert changes that cause it, sent once.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT    NOT NULL UNIQUE,  -- deterministic Message-ID
    kind            TEXT    NOT NULL,         -- alert_digest | city_summary | source_alert | report
    recipients      TEXT    NOT NULL,         -- comma-separated
    cc              TEXT    NOT NULL DEFAULT '',
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT,
    attachment_name TEXT,
    attachment_type TEXT,
    attachment      BLOB,
    status          TEXT    NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Scheduled job fires, claimed by one row so that a fire runs once across replicas.
CREATE TABLE job_runs (
    job         TEXT    NOT NULL,
    fire_at     INTEGER NOT NULL,
    claimed_by  TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    ok          INTEGER,
    error       TEXT,
    PRIMARY KEY (job, fire_at)
);
