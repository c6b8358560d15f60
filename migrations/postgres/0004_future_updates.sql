-- Records whose update time (NgayCapNhat) lay further in the future than a source's
-- allowed_skew_secs when dondoc read them (issue 17): such a time is not trusted for the mark.
-- The record itself is stored, with the time dondoc read it; this table keeps the anomaly: the
-- key and the time the upstream claimed, never the record's content.
CREATE TABLE future_updates (
    source     TEXT COLLATE "C" NOT NULL,
    endpoint   TEXT COLLATE "C" NOT NULL,   -- ho-so | van-ban
    key        TEXT COLLATE "C" NOT NULL,   -- MaHoSo | MaVanBan
    claimed_at BIGINT NOT NULL,             -- the NgayCapNhat the upstream gave, last seen
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    times_seen BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (source, endpoint, key)
);
