-- Issue 16: the rate engine reads packed facts, not the record tables.
--
-- 1. Dossiers and documents become rowid tables: an integer `id` (assigned in arrival order) names
--    a record's slot in the facts, and a new record is appended at the end of the table instead of
--    being inserted in the middle of a B-tree clustered by unit and field. The record's identity
--    stays the unique (source, code); per-unit lookups (action lists, code counts) use the
--    `unit_code` index. Existing rows are copied in the order they were received, so that old,
--    finished dossiers share old fact blocks that no current window reads.
-- 2. `fact_blocks` holds, per 1,024 consecutive ids, the compact facts of every record that a rule
--    of metrics.md can count (store/facts.rs), with the first and last instant at which any window
--    can count one of them. They are written in the same transaction as the records, and built from
--    the tables when `fact_state` says their format is not the current one (at the first open
--    after this migration, for instance).

CREATE TABLE dossiers_by_id (
    id               INTEGER PRIMARY KEY,
    source           TEXT    NOT NULL,
    code             TEXT    NOT NULL,       -- MaHoSo
    procedure_code   TEXT    NOT NULL,       -- MaTTHC
    field_code       TEXT    NOT NULL DEFAULT '',  -- MaLinhVuc ('' when absent)
    unit_code        TEXT    NOT NULL,       -- DonViXuLy ('' for a tombstone)
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
    deleted          INTEGER NOT NULL DEFAULT 0
);
INSERT INTO dossiers_by_id (source, code, procedure_code, field_code, unit_code, channel, status,
    received_at, appointed_at, due_at, ended_at, returned_at, paid_online, fee_total, digitized,
    first_apology_at, rating, rated_at, updated_at, deleted)
SELECT source, code, procedure_code, field_code, unit_code, channel, status,
    received_at, appointed_at, due_at, ended_at, returned_at, paid_online, fee_total, digitized,
    first_apology_at, rating, rated_at, updated_at, deleted
FROM dossiers ORDER BY coalesce(received_at, updated_at), source, code;
DROP TABLE dossiers;
ALTER TABLE dossiers_by_id RENAME TO dossiers;
CREATE UNIQUE INDEX dossiers_key ON dossiers (source, code);
CREATE INDEX dossiers_unit ON dossiers (unit_code);

CREATE TABLE documents_by_id (
    id               INTEGER PRIMARY KEY,
    source           TEXT    NOT NULL,
    code             TEXT    NOT NULL,       -- MaVanBan
    unit_code        TEXT    NOT NULL,       -- MaDonVi ('' for a tombstone)
    direction        TEXT,                   -- DEN | DI (NULL for a tombstone)
    arrived_at       INTEGER,                -- NgayDen
    issued_at        INTEGER,                -- NgayBanHanh
    processed_online INTEGER NOT NULL,       -- XuLyTrenMang = 1
    signed           INTEGER NOT NULL,       -- KySo = 1
    updated_at       INTEGER NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0
);
INSERT INTO documents_by_id (source, code, unit_code, direction, arrived_at, issued_at,
    processed_online, signed, updated_at, deleted)
SELECT source, code, unit_code, direction, arrived_at, issued_at, processed_online, signed,
    updated_at, deleted
FROM documents ORDER BY coalesce(arrived_at, issued_at, updated_at), source, code;
DROP TABLE documents;
ALTER TABLE documents_by_id RENAME TO documents;
CREATE UNIQUE INDEX documents_key ON documents (source, code);
CREATE INDEX documents_unit ON documents (unit_code);

-- kind: 1 dossiers, 2 documents. block: id / 1024. first/last: the instants outside which no
-- window counts any record of the block (last = 9223372036854775807 while one is open).
-- units: its stored records per unit code (the data-quality counts read these, not the records);
-- data: the block's facts, encoded by store/facts.rs (codes, dates and flags only). `units` comes
-- before `data` so that reading it does not read the facts.
CREATE TABLE fact_blocks (
    kind  INTEGER NOT NULL,
    block INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last  INTEGER NOT NULL,
    units BLOB    NOT NULL,
    data  BLOB    NOT NULL,
    PRIMARY KEY (kind, block)
);
CREATE INDEX fact_blocks_last ON fact_blocks (kind, last);

-- The format of each kind's blocks; a kind without its current version is rebuilt at open.
CREATE TABLE fact_state (
    kind    INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);

-- Stored (not deleted) records per kind and unit code: the data-quality counts of unmapped codes.
-- Changed by the same transactions as the blocks (by the difference of the blocks' summaries), and
-- counted again from the summaries whenever blocks are rebuilt.
CREATE TABLE fact_units (
    kind      INTEGER NOT NULL,
    unit_code TEXT    NOT NULL,
    records   INTEGER NOT NULL,
    PRIMARY KEY (kind, unit_code)
);
