-- Records whose update time (NgayCapNhat) lay further in the future than a source's
-- allowed_skew_secs when dondoc read them (issue 17): such a time is not trusted for the mark.
-- The record itself is stored, with the time dondoc read it; this table keeps the anomaly: the
-- key and the time the upstream claimed, never the record's content.
CREATE TABLE future_updates (
    source     TEXT    NOT NULL,
    endpoint   TEXT    NOT NULL,             -- ho-so | van-ban
    key        TEXT    NOT NULL,             -- MaHoSo | MaVanBan
    claimed_at INTEGER NOT NULL,             -- the NgayCapNhat the upstream gave, last seen
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source, endpoint, key)
);
