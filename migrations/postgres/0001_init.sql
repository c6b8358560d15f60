-- dondoc's schema, PostgreSQL: the same tables, columns and keys as migrations/sqlite/, in
-- PostgreSQL's types. Every instant is BIGINT seconds since the Unix epoch (UTC); flags are
-- BOOLEAN; codes of the upstream contract are INTEGER; amounts DOUBLE PRECISION.
-- Every text column sorts and compares byte by byte (COLLATE "C"), as SQLite does, so that both
-- engines give the same order whatever the database's default collation.
-- No table holds personal data of citizens: dossiers keep codes, dates, flags and amounts only.

-- Incremental sync: one row per source and endpoint ('ho-so', 'thu-tuc', 'van-ban').
CREATE TABLE sync_state (
    source               TEXT COLLATE "C" NOT NULL,
    endpoint             TEXT COLLATE "C" NOT NULL,
    mark                 BIGINT,             -- high-water NgayCapNhat of what is stored
    last_success_at      BIGINT,
    last_attempt_at      BIGINT,
    last_error           TEXT,
    consecutive_failures BIGINT  NOT NULL DEFAULT 0,
    last_fetched         BIGINT  NOT NULL DEFAULT 0,
    last_stored          BIGINT  NOT NULL DEFAULT 0,
    last_rejected        BIGINT  NOT NULL DEFAULT 0,
    last_pages           BIGINT  NOT NULL DEFAULT 0,
    last_duration_ms     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (source, endpoint)
);

-- The procedure catalogue of each one-stop source, replaced whole at every sync.
CREATE TABLE procedures (
    source     TEXT COLLATE "C" NOT NULL,
    code       TEXT COLLATE "C" NOT NULL,   -- MaTTHC
    name       TEXT COLLATE "C",
    field_code TEXT COLLATE "C",
    field_name TEXT COLLATE "C",
    level      INTEGER,                     -- MucDo
    PRIMARY KEY (source, code)
);

-- Dossiers, normalized to what metrics.md and the action lists need.
CREATE TABLE dossiers (
    source           TEXT COLLATE "C" NOT NULL,
    code             TEXT COLLATE "C" NOT NULL,  -- MaHoSo
    procedure_code   TEXT COLLATE "C" NOT NULL,  -- MaTTHC
    field_code       TEXT COLLATE "C",           -- MaLinhVuc
    unit_code        TEXT COLLATE "C" NOT NULL,  -- DonViXuLy
    channel          INTEGER,                    -- KenhThucHien
    status           INTEGER NOT NULL,           -- TrangThaiHoSo (0 for a tombstone)
    received_at      BIGINT,                     -- NgayTiepNhan
    appointed_at     BIGINT,                     -- NgayHenTra as first appointed
    due_at           BIGINT,                     -- effective due: latest of NgayHenTra and supplements
    ended_at         BIGINT,                     -- NgayKetThucXuLy, else NgayTra
    returned_at      BIGINT,                     -- NgayTra
    paid_online      INTEGER NOT NULL,           -- DuocThanhToanTrucTuyen
    fee_total        DOUBLE PRECISION NOT NULL,  -- sum of Gia
    digitized        BOOLEAN NOT NULL,           -- a result paper with a file
    first_apology_at BIGINT,                     -- earliest apology slip
    rating           INTEGER,                    -- DanhGiaHaiLong.MucDo
    rated_at         BIGINT,                     -- DanhGiaHaiLong.NgayDanhGia
    updated_at       BIGINT  NOT NULL,           -- NgayCapNhat
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (source, code)
);
CREATE INDEX dossiers_unit ON dossiers (unit_code);
CREATE INDEX dossiers_received ON dossiers (received_at);
CREATE INDEX dossiers_ended ON dossiers (ended_at);

CREATE TABLE documents (
    source           TEXT COLLATE "C" NOT NULL,
    code             TEXT COLLATE "C" NOT NULL,  -- MaVanBan
    unit_code        TEXT COLLATE "C" NOT NULL,  -- MaDonVi
    direction        TEXT COLLATE "C",           -- DEN | DI (NULL for a tombstone)
    arrived_at       BIGINT,                     -- NgayDen
    issued_at        BIGINT,                     -- NgayBanHanh
    processed_online BOOLEAN NOT NULL,           -- XuLyTrenMang = 1
    signed           BOOLEAN NOT NULL,           -- KySo = 1
    updated_at       BIGINT  NOT NULL,
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (source, code)
);
CREATE INDEX documents_unit ON documents (unit_code);

-- Records that broke the contract: key and reason only, never the record's content.
CREATE TABLE rejected (
    source     TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,   -- dossier | procedure | document
    key        TEXT COLLATE "C" NOT NULL,
    reason     TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT,                      -- NgayCapNhat of the rejected version, if readable
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    times_seen BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (source, kind, key)
);

-- The time series: one sample per unit, metric, scope, period and local day, upserted.
CREATE TABLE metric_samples (
    unit        TEXT COLLATE "C" NOT NULL,
    metric      TEXT COLLATE "C" NOT NULL,
    scope       TEXT COLLATE "C" NOT NULL DEFAULT '',  -- '' = unscoped, else a field group
    period      TEXT COLLATE "C" NOT NULL,             -- 2024-05 | 2024-Q2 | 2024
    day         TEXT COLLATE "C" NOT NULL,             -- local date of as_of, YYYY-MM-DD
    as_of       BIGINT NOT NULL,
    numerator   BIGINT NOT NULL,
    denominator BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (unit, metric, scope, period, day)
);
-- samples_since(day) reads the recent days of every series.
CREATE INDEX metric_samples_day ON metric_samples (day);

-- Alert lifecycle, one row per (unit, metric, scope, period). Data-source alerts use unit '_source'.
CREATE TABLE alerts (
    unit                 TEXT COLLATE "C" NOT NULL,
    metric               TEXT COLLATE "C" NOT NULL,
    scope                TEXT COLLATE "C" NOT NULL DEFAULT '',
    period               TEXT COLLATE "C" NOT NULL,
    phase                TEXT COLLATE "C" NOT NULL,  -- clear | pending | firing | resolved | warning
    breach_count         BIGINT NOT NULL DEFAULT 0,
    first_breach_at      BIGINT,
    fired_at             BIGINT,
    resolved_at          BIGINT,
    last_notified_at     BIGINT,
    notice               TEXT COLLATE "C",           -- what the next digest must say: new | resolved | warning
    numerator            BIGINT NOT NULL DEFAULT 0,
    denominator          BIGINT NOT NULL DEFAULT 0,
    notified_numerator   BIGINT,                     -- the numbers of the last mail, for "change since"
    notified_denominator BIGINT,
    detail               TEXT,                       -- data-source alerts: what is wrong, in words
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (unit, metric, scope, period)
);

-- Transactional outbox of mail: written with the alert changes that cause it, sent once.
-- Replicas claim a message with SELECT … FOR UPDATE SKIP LOCKED and lease it (claimed_until).
CREATE TABLE outbox (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    message_id      TEXT COLLATE "C" NOT NULL UNIQUE,  -- deterministic Message-ID
    kind            TEXT COLLATE "C" NOT NULL,         -- alert_digest | city_summary | source_alert | report
    recipients      TEXT NOT NULL,                     -- comma-separated
    cc              TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    attachment_name TEXT,
    attachment_type TEXT,
    attachment      BYTEA,
    status          TEXT COLLATE "C" NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Scheduled job fires, claimed by one row so that a fire runs once across replicas
-- (INSERT … ON CONFLICT DO NOTHING: the replica whose insert lands runs the fire).
CREATE TABLE job_runs (
    job         TEXT COLLATE "C" NOT NULL,
    fire_at     BIGINT NOT NULL,
    claimed_by  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    ok          BOOLEAN,
    error       TEXT,
    PRIMARY KEY (job, fire_at)
);
