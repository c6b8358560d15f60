//! The SQLite store: one file, WAL journal, a busy timeout, foreign keys on, migrations from
//! `migrations/sqlite/` applied at open.
//!
//! Writes begin with `BEGIN IMMEDIATE` so that two writers queue on the busy timeout instead of
//! failing with SQLITE_BUSY halfway through a transaction. Multi-row statements stay under
//! SQLite's 32766 bind parameters.
//!
//! A connection whose transaction failed (SQLITE_FULL, an I/O error) is closed instead of being
//! reused ([`super::recovery`]), so that the store works again as soon as the disk has room.

use super::{
    ActionItem, ActionList, ClaimedMail, CodeCount, Context, FeeProcedure, GroupTally, OutboxRow,
    PortalCircuit, PortalFigure, RejectionCount, Result, RunCounts, Sample, StoreError, SyncState,
};
use crate::alerts::lifecycle::{AlertKey, AlertRecord, Notice, Phase};
use crate::alerts::message::{Attachment, OutgoingMail};
use crate::metrics::rules::Tally;
use crate::time::Epoch;
use crate::upstream::records::{Document, Dossier, Procedure, Rejection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const MAX_BINDS: usize = 32_000;

/// SQLite's largest `max_page_count` (what "no cap" means).
const NO_PAGE_CAP: u64 = 4_294_967_294;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file (none for a memory database).
    file: Option<std::path::PathBuf>,
    /// A cap on the file's pages set by [`SqliteStore::set_page_cap`] (0: never set).
    page_cap: Arc<AtomicU64>,
    unmarked: super::recovery::UnmarkedSent,
}

/// The database file of a `sqlite://` URL (none for memory databases).
fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Applies the page cap (when one was ever set) to a connection.
async fn apply_page_cap(conn: &mut sqlx::SqliteConnection, cap: u64) -> sqlx::Result<()> {
    if cap != 0 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {cap}"
        )))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The folder of a `sqlite://` file URL (none for memory databases).
fn folder_of(url: &str) -> Option<std::path::PathBuf> {
    file_of(url)?
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        if let Some(dir) = folder_of(url) {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // A 16 MiB page cache per connection (SQLite's default is 2 MiB): inserts touch pages
            // all over the key index. No memory-mapped I/O: it counts every touched page of the
            // file as resident memory, and buys nothing once the scans are clustered.
            .pragma("cache_size", "-16384")
            .pragma("temp_store", "memory")
            // sqlx logs a statement slower than a second at WARN, whole: a normal sync's bulk
            // writes would fill the journal with SQL. Debug: seen only when asked for.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let page_cap = Arc::new(AtomicU64::new(0));
        let (on_connect, on_acquire) = (page_cap.clone(), page_cap.clone());
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // An idle daemon holds no connection, hence no page cache: each is closed after
            // IDLE of disuse (issue 16, memory). A memory database lives only while a
            // connection does: its connections are kept.
            .min_connections(0)
            .idle_timeout(file_of(url).map(|_| super::IDLE))
            .after_connect(move |conn, _| {
                let cap = on_connect.load(Ordering::SeqCst);
                Box::pin(async move { apply_page_cap(conn, cap).await })
            })
            // A connection left inside a failed transaction is closed, never reused.
            .after_release(|conn, _| {
                Box::pin(async move {
                    super::recovery::reusable(conn, true, "returned to the pool").await
                })
            })
            .before_acquire(move |conn, _| {
                let cap = on_acquire.load(Ordering::SeqCst);
                Box::pin(async move {
                    if !super::recovery::reusable(conn, false, "handed out").await? {
                        return Ok(false);
                    }
                    apply_page_cap(conn, cap).await?;
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: url.to_string(),
                source,
            })?;
        Ok(Self {
            pool,
            file: file_of(url),
            page_cap,
            unmarked: Default::default(),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The database file (none for a memory database).
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Fault drill: caps the database file at `pages` pages on every connection of the pool
    /// (SQLite's `PRAGMA max_page_count`: a write that would grow the file past it fails with
    /// SQLITE_FULL, "database or disk is full", exactly as on a full disk); `None` lifts the cap.
    /// It applies to each connection when it is next handed out. For tests and drills
    /// (docs/operations.md); the cap is not stored in the file and ends with the process.
    pub fn set_page_cap(&self, pages: Option<u64>) {
        self.page_cap
            .store(pages.unwrap_or(NO_PAGE_CAP).max(1), Ordering::SeqCst);
    }

    /// The database file's size in pages.
    pub async fn page_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.pool)
            .await
            .doing("reading the database's size")?;
        Ok(n.max(0) as u64)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .doing("checking the database")
            .map(|_| ())
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .doing("starting a write transaction")
    }

    pub async fn sync_state(&self, source: &str, endpoint: &str) -> Result<Option<SyncState>> {
        let row = sqlx::query(
            "SELECT source, endpoint, mark, last_success_at, last_attempt_at, last_error, consecutive_failures
             FROM sync_state WHERE source = ? AND endpoint = ?",
        )
        .bind(source)
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await
        .doing("reading the sync state")?;
        row.map(|r| sync_state_of(&r)).transpose()
    }

    pub async fn sync_states(&self) -> Result<Vec<SyncState>> {
        let rows = sqlx::query(
            "SELECT source, endpoint, mark, last_success_at, last_attempt_at, last_error, consecutive_failures
             FROM sync_state ORDER BY source, endpoint",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading the sync states")?;
        rows.iter().map(sync_state_of).collect()
    }

    async fn ensure_state(
        tx: &mut Transaction<'static, Sqlite>,
        source: &str,
        endpoint: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_state (source, endpoint) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(source)
        .bind(endpoint)
        .execute(&mut **tx)
        .await
        .doing("creating the sync state")?;
        Ok(())
    }

    async fn advance_mark(
        tx: &mut Transaction<'static, Sqlite>,
        source: &str,
        endpoint: &str,
        mark: Option<Epoch>,
    ) -> Result<()> {
        Self::ensure_state(tx, source, endpoint).await?;
        if let Some(m) = mark {
            sqlx::query(
                "UPDATE sync_state SET mark = max(coalesce(mark, ?1), ?1) WHERE source = ?2 AND endpoint = ?3",
            )
            .bind(m)
            .bind(source)
            .bind(endpoint)
            .execute(&mut **tx)
            .await
            .doing("advancing the sync mark")?;
        }
        Ok(())
    }

    async fn put_rejections(
        tx: &mut Transaction<'static, Sqlite>,
        source: &str,
        rejections: &[Rejection],
        now: Epoch,
    ) -> Result<()> {
        for chunk in rejections.chunks(MAX_BINDS / 6) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO rejected (source, kind, key, reason, updated_at, first_seen, last_seen) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(source)
                    .push_bind(r.kind.as_str())
                    .push_bind(&r.key)
                    .push_bind(&r.reason)
                    .push_bind(r.updated_at)
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.push(
                " ON CONFLICT (source, kind, key) DO UPDATE SET reason = excluded.reason, \
                 updated_at = excluded.updated_at, last_seen = excluded.last_seen, \
                 times_seen = rejected.times_seen + 1",
            );
            qb.build()
                .execute(&mut **tx)
                .await
                .doing("setting rejected records aside")?;
        }
        Ok(())
    }

    /// A valid version of a record clears its earlier rejection.
    async fn clear_rejections<'k>(
        tx: &mut Transaction<'static, Sqlite>,
        source: &str,
        kind: &str,
        keys: impl ExactSizeIterator<Item = &'k str> + Clone,
    ) -> Result<()> {
        if keys.len() == 0 {
            return Ok(());
        }
        let any: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM rejected WHERE source = ? AND kind = ? LIMIT 1)",
        )
        .bind(source)
        .bind(kind)
        .fetch_one(&mut **tx)
        .await
        .doing("looking up rejected records")?;
        if any == 0 {
            return Ok(());
        }
        let keys: Vec<&str> = keys.collect();
        for chunk in keys.chunks(MAX_BINDS - 2) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("DELETE FROM rejected WHERE source = ");
            qb.push_bind(source)
                .push(" AND kind = ")
                .push_bind(kind)
                .push(" AND key IN (");
            let mut sep = qb.separated(", ");
            for k in chunk {
                sep.push_bind(*k);
            }
            qb.push(")");
            qb.build()
                .execute(&mut **tx)
                .await
                .doing("clearing rejections")?;
        }
        Ok(())
    }

    pub async fn store_dossier_page(
        &self,
        source: &str,
        endpoint: &str,
        dossiers: &[Dossier],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut written = 0;
        // The page goes to SQLite as ONE bound JSON array of rows, unpacked by json_each in C:
        // binding twenty values per row through the driver costs several times more than the
        // insert itself (docs/performance.md).
        for chunk in dossiers.chunks(1000) {
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|d| {
                    serde_json::json!([
                        d.code,
                        d.procedure_code,
                        d.field_code.as_deref().unwrap_or(""),
                        d.unit_code,
                        d.channel,
                        d.status,
                        d.received_at,
                        d.appointed_at,
                        d.due_at,
                        d.ended_at,
                        d.returned_at,
                        d.paid_online,
                        d.fee_total,
                        i64::from(d.digitized),
                        d.first_apology_at,
                        d.rating,
                        d.rated_at,
                        d.updated_at,
                        i64::from(d.deleted)
                    ])
                })
                .collect();
            let json = serde_json::Value::Array(rows).to_string();
            written += sqlx::query(
                "INSERT INTO dossiers (source, code, procedure_code, field_code, unit_code, channel, status, \
                 received_at, appointed_at, due_at, ended_at, returned_at, paid_online, fee_total, digitized, \
                 first_apology_at, rating, rated_at, updated_at, deleted) \
                 SELECT ?1, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, \
                 r.value ->> 6, r.value ->> 7, r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11, \
                 r.value ->> 12, r.value ->> 13, r.value ->> 14, r.value ->> 15, r.value ->> 16, r.value ->> 17, \
                 r.value ->> 18 FROM json_each(?2) AS r WHERE true \
                 ON CONFLICT (source, code) DO UPDATE SET procedure_code = excluded.procedure_code, \
                 field_code = excluded.field_code, unit_code = excluded.unit_code, channel = excluded.channel, \
                 status = excluded.status, received_at = excluded.received_at, appointed_at = excluded.appointed_at, \
                 due_at = excluded.due_at, ended_at = excluded.ended_at, returned_at = excluded.returned_at, \
                 paid_online = excluded.paid_online, fee_total = excluded.fee_total, digitized = excluded.digitized, \
                 first_apology_at = excluded.first_apology_at, rating = excluded.rating, rated_at = excluded.rated_at, \
                 updated_at = excluded.updated_at, deleted = excluded.deleted \
                 WHERE excluded.updated_at >= dossiers.updated_at",
            )
            .bind(source)
            .bind(json)
            .execute(&mut *tx)
            .await
            .doing("storing dossiers")?
            .rows_affected();
        }
        Self::clear_rejections(
            &mut tx,
            source,
            "dossier",
            dossiers.iter().map(|d| d.code.as_str()),
        )
        .await?;
        Self::put_rejections(&mut tx, source, rejections, now).await?;
        Self::advance_mark(&mut tx, source, endpoint, mark).await?;
        tx.commit().await.doing("committing a page of dossiers")?;
        Ok(written)
    }

    pub async fn store_document_page(
        &self,
        source: &str,
        endpoint: &str,
        documents: &[Document],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut written = 0;
        for chunk in documents.chunks(MAX_BINDS / 10) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO documents (source, code, unit_code, direction, arrived_at, issued_at, \
                 processed_online, signed, updated_at, deleted) ",
            );
            qb.push_values(chunk, |mut b, d| {
                b.push_bind(source)
                    .push_bind(&d.code)
                    .push_bind(&d.unit_code)
                    .push_bind(d.direction.map(|x| x.as_str()))
                    .push_bind(d.arrived_at)
                    .push_bind(d.issued_at)
                    .push_bind(d.processed_online)
                    .push_bind(d.signed)
                    .push_bind(d.updated_at)
                    .push_bind(d.deleted);
            });
            qb.push(
                " ON CONFLICT (source, code) DO UPDATE SET unit_code = excluded.unit_code, \
                 direction = excluded.direction, arrived_at = excluded.arrived_at, issued_at = excluded.issued_at, \
                 processed_online = excluded.processed_online, signed = excluded.signed, \
                 updated_at = excluded.updated_at, deleted = excluded.deleted \
                 WHERE excluded.updated_at >= documents.updated_at",
            );
            written += qb
                .build()
                .execute(&mut *tx)
                .await
                .doing("storing documents")?
                .rows_affected();
        }
        Self::clear_rejections(
            &mut tx,
            source,
            "document",
            documents.iter().map(|d| d.code.as_str()),
        )
        .await?;
        Self::put_rejections(&mut tx, source, rejections, now).await?;
        Self::advance_mark(&mut tx, source, endpoint, mark).await?;
        tx.commit().await.doing("committing a page of documents")?;
        Ok(written)
    }

    pub async fn replace_procedures(
        &self,
        source: &str,
        procedures: &[Procedure],
        rejections: &[Rejection],
        now: Epoch,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM procedures WHERE source = ?")
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing("replacing the catalogue")?;
        for chunk in procedures.chunks(MAX_BINDS / 6) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO procedures (source, code, name, field_code, field_name, level) ",
            );
            qb.push_values(chunk, |mut b, p| {
                b.push_bind(source)
                    .push_bind(&p.code)
                    .push_bind(&p.name)
                    .push_bind(&p.field_code)
                    .push_bind(&p.field_name)
                    .push_bind(p.level.map(i64::from));
            });
            // A catalogue listing a code twice keeps the last listing.
            qb.push(
                " ON CONFLICT (source, code) DO UPDATE SET name = excluded.name, field_code = excluded.field_code, \
                 field_name = excluded.field_name, level = excluded.level",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .doing("storing the catalogue")?;
        }
        sqlx::query("DELETE FROM rejected WHERE source = ? AND kind = 'procedure'")
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing("replacing the catalogue's rejections")?;
        Self::put_rejections(&mut tx, source, rejections, now).await?;
        Self::ensure_state(&mut tx, source, "thu-tuc").await?;
        tx.commit().await.doing("committing the catalogue")?;
        Ok(())
    }

    pub async fn record_success(
        &self,
        source: &str,
        endpoint: &str,
        c: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        Self::ensure_state(&mut tx, source, endpoint).await?;
        sqlx::query(
            "UPDATE sync_state SET last_success_at = ?1, last_attempt_at = ?1, last_error = NULL, \
             consecutive_failures = 0, last_fetched = ?2, last_stored = ?3, last_rejected = ?4, \
             last_pages = ?5, last_duration_ms = ?6 WHERE source = ?7 AND endpoint = ?8",
        )
        .bind(now)
        .bind(c.fetched)
        .bind(c.stored)
        .bind(c.rejected)
        .bind(c.pages)
        .bind(c.duration_ms)
        .bind(source)
        .bind(endpoint)
        .execute(&mut *tx)
        .await
        .doing("recording a successful sync")?;
        tx.commit().await.doing("recording a successful sync")
    }

    pub async fn record_failure(
        &self,
        source: &str,
        endpoint: &str,
        error: &str,
        c: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        Self::ensure_state(&mut tx, source, endpoint).await?;
        sqlx::query(
            "UPDATE sync_state SET last_attempt_at = ?1, last_error = ?2, \
             consecutive_failures = consecutive_failures + 1, last_fetched = ?3, last_stored = ?4, \
             last_rejected = ?5, last_pages = ?6, last_duration_ms = ?7 WHERE source = ?8 AND endpoint = ?9",
        )
        .bind(now)
        .bind(error)
        .bind(c.fetched)
        .bind(c.stored)
        .bind(c.rejected)
        .bind(c.pages)
        .bind(c.duration_ms)
        .bind(source)
        .bind(endpoint)
        .execute(&mut *tx)
        .await
        .doing("recording a failed sync")?;
        tx.commit().await.doing("recording a failed sync")
    }

    pub async fn dossier_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        Ok(self
            .dossier_tallies_many(&[(start, horizon)])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// Exact dossier counts per (unit code, field code) for several windows in ONE scan of the
    /// table: the rules of metrics.md (see metrics::rules for the same rules in Rust) as
    /// conditional sums, one set of columns per window. Window k binds `?{2k+1}` = P.start and
    /// `?{2k+2}` = e. finished(t) = status IN (8,9,10) AND ended_at IS NOT NULL AND ended_at < t.
    pub async fn dossier_tallies_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<GroupTally>>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut inner = String::from(
            "SELECT d.unit_code, d.field_code, d.status, d.ended_at, d.due_at, d.received_at, d.channel, \
             d.paid_online, d.fee_total, d.digitized, d.first_apology_at, d.rating, d.rated_at, \
             p.code IS NULL AS no_proc, p.level AS level",
        );
        let mut prune = Vec::new();
        let mut sums = String::new();
        for k in 0..windows.len() {
            let (s, e) = (2 * k + 1, 2 * k + 2);
            // Per window: membership of H, late as seen at e, received in the window.
            inner.push_str(&format!(
                ", (d.received_at < ?{e} AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?{s})) AS h{k}\
                 , (d.due_at IS NOT NULL AND CASE WHEN d.status IN (8, 9, 10) AND d.ended_at < ?{e} \
                   THEN d.ended_at > d.due_at ELSE d.due_at < ?{e} END) AS late{k}\
                 , (d.received_at >= ?{s} AND d.received_at < ?{e}) AS recv{k}"
            ));
            // Keep exactly the dossiers that some rule can count: each rule on its own date,
            // whatever order the upstream's dates are in.
            prune.push(format!(
                "(d.received_at < ?{e} AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?{s})) \
                 OR (d.ended_at >= ?{s} AND d.ended_at < ?{e}) OR (d.received_at >= ?{s} AND d.received_at < ?{e}) \
                 OR (d.rated_at >= ?{s} AND d.rated_at < ?{e})"
            ));
            sums.push_str(&format!(
                ", sum(h{k} AND late{k}) AS late_{k}\
                 , sum(h{k}) AS handled_{k}\
                 , sum(h{k} AND late{k} AND first_apology_at < ?{e}) AS apologized_{k}\
                 , sum(status IN (9, 10) AND ended_at >= ?{s} AND ended_at < ?{e} AND digitized) AS digitized_{k}\
                 , sum(status IN (9, 10) AND ended_at >= ?{s} AND ended_at < ?{e}) AS results_{k}\
                 , sum(recv{k} AND level = 4 AND channel = 2) AS online_{k}\
                 , sum(recv{k} AND level = 4) AS full_online_eligible_{k}\
                 , sum(recv{k} AND fee_total > 0 AND paid_online IN (1, 2)) AS paid_online_{k}\
                 , sum(recv{k} AND fee_total > 0) AS with_fee_{k}\
                 , sum(rating IS NOT NULL AND rated_at >= ?{s} AND rated_at < ?{e} AND rating IN (1, 2)) AS satisfied_{k}\
                 , sum(rating IS NOT NULL AND rated_at >= ?{s} AND rated_at < ?{e}) AS rated_{k}\
                 , sum(h{k} AND due_at IS NULL) AS no_due_date_{k}\
                 , sum(recv{k} AND no_proc) AS unknown_procedure_{k}\
                 , sum(recv{k}) AS received_{k}\
                 , sum(recv{k} AND channel = 2) AS received_online_{k}\
                 , sum(h{k} AND rating IS NOT NULL AND rating NOT IN (1, 2) AND rated_at < ?{e}) AS unsatisfied_{k}"
            ));
        }
        let sql = format!(
            "WITH d AS ({inner} FROM dossiers d \
             LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code \
             WHERE d.deleted = 0 AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL AND ({})) \
             SELECT unit_code, field_code{sums} FROM d GROUP BY unit_code, field_code",
            prune.join(" OR ")
        );
        // Only numbers and fixed names are formatted into the statement; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (start, horizon) in windows {
            q = q.bind(*start).bind(*horizon);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .doing("counting dossiers for the metrics")?;
        let mut out = vec![Vec::with_capacity(rows.len()); windows.len()];
        for r in &rows {
            let unit_code: String = r.try_get("unit_code").doing("reading dossier counts")?;
            let field_code: Option<String> = r
                .try_get::<Option<String>, _>("field_code")
                .doing("reading dossier counts")?
                .filter(|f| !f.is_empty());
            for (k, groups) in out.iter_mut().enumerate() {
                let n = |c: &str| -> Result<i64> {
                    Ok(r.try_get::<Option<i64>, _>(format!("{c}_{k}").as_str())
                        .doing("reading dossier counts")?
                        .unwrap_or(0))
                };
                let tally = Tally {
                    late: n("late")?,
                    handled: n("handled")?,
                    apologized: n("apologized")?,
                    digitized: n("digitized")?,
                    results: n("results")?,
                    online: n("online")?,
                    full_online_eligible: n("full_online_eligible")?,
                    paid_online: n("paid_online")?,
                    with_fee: n("with_fee")?,
                    satisfied: n("satisfied")?,
                    rated: n("rated")?,
                    no_due_date: n("no_due_date")?,
                    unknown_procedure: n("unknown_procedure")?,
                    received: n("received")?,
                    received_online: n("received_online")?,
                    unsatisfied: n("unsatisfied")?,
                    ..Tally::default()
                };
                groups.push(GroupTally {
                    unit_code: unit_code.clone(),
                    field_code: field_code.clone(),
                    tally,
                });
            }
        }
        Ok(out)
    }

    /// Fee-bearing procedures per unit code for several windows, in one scan: for each
    /// (`DonViXuLy`, `MaTTHC`) with at least one dossier of the population F of
    /// `online_payment_rate` in a window, whether one of them was paid online (the rule is
    /// `metrics::rules::fee_procedure`). Returns one list per window, in order.
    pub async fn fee_procedures_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<FeeProcedure>>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut cols = String::new();
        let mut any = Vec::new();
        for k in 0..windows.len() {
            let (s, e) = (2 * k + 1, 2 * k + 2);
            let recv = format!("(received_at >= ?{s} AND received_at < ?{e})");
            cols.push_str(&format!(
                ", sum({recv}) AS fee_{k}, sum({recv} AND paid_online IN (1, 2)) AS paid_{k}"
            ));
            any.push(recv);
        }
        let sql = format!(
            "SELECT unit_code, procedure_code{cols} FROM dossiers \
             WHERE deleted = 0 AND status NOT IN (0, 1, 3, 7) AND received_at IS NOT NULL \
             AND fee_total > 0 AND procedure_code <> '' AND ({}) \
             GROUP BY unit_code, procedure_code",
            any.join(" OR ")
        );
        // Only numbers and fixed names are formatted into the statement; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (start, horizon) in windows {
            q = q.bind(*start).bind(*horizon);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .doing("counting fee-bearing procedures for the score")?;
        let mut out = vec![Vec::new(); windows.len()];
        for r in &rows {
            let unit_code: String = r.try_get("unit_code").doing("reading procedure counts")?;
            let procedure_code: String = r
                .try_get("procedure_code")
                .doing("reading procedure counts")?;
            for (k, list) in out.iter_mut().enumerate() {
                let n = |c: &str| -> Result<i64> {
                    Ok(r.try_get::<Option<i64>, _>(format!("{c}_{k}").as_str())
                        .doing("reading procedure counts")?
                        .unwrap_or(0))
                };
                if n("fee")? > 0 {
                    list.push(FeeProcedure {
                        unit_code: unit_code.clone(),
                        procedure_code: procedure_code.clone(),
                        paid_online: n("paid")? > 0,
                    });
                }
            }
        }
        Ok(out)
    }

    pub async fn save_portal_figures(&self, figures: &[PortalFigure]) -> Result<()> {
        let mut tx = self.write().await?;
        for f in figures {
            sqlx::query(
                "INSERT INTO portal_figures (unit, period, grp, day, department, score, max_score, received, detail, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (unit, period, grp, day) DO UPDATE SET department = excluded.department, score = excluded.score, max_score = excluded.max_score, received = excluded.received, detail = excluded.detail, fetched_at = excluded.fetched_at",
            )
            .bind(&f.unit)
            .bind(&f.period)
            .bind(&f.group)
            .bind(&f.day)
            .bind(&f.department)
            .bind(f.score)
            .bind(f.max_score)
            .bind(f.received)
            .bind(&f.detail)
            .bind(f.fetched_at)
            .execute(&mut *tx)
            .await
            .doing("storing the portal's figures")?;
        }
        tx.commit().await.doing("committing the portal's figures")
    }

    pub async fn portal_figures(&self, period: &str) -> Result<Vec<PortalFigure>> {
        let rows = sqlx::query(
            "SELECT f.unit, f.period, f.grp, f.day, f.department, f.score, f.max_score, f.received, f.detail, f.fetched_at FROM portal_figures f WHERE f.period = ? AND f.day = (SELECT max(g.day) FROM portal_figures g WHERE g.unit = f.unit AND g.period = f.period AND g.grp = f.grp) ORDER BY f.unit, f.grp",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing("reading the portal's figures")?;
        rows.iter()
            .map(|r| {
                Ok(PortalFigure {
                    unit: r.try_get("unit")?,
                    period: r.try_get("period")?,
                    group: r.try_get("grp")?,
                    day: r.try_get("day")?,
                    department: r.try_get("department")?,
                    score: r.try_get("score")?,
                    max_score: r.try_get("max_score")?,
                    received: r.try_get("received")?,
                    detail: r.try_get("detail")?,
                    fetched_at: r.try_get("fetched_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading the portal's figures")
    }

    pub async fn portal_circuit(&self) -> Result<PortalCircuit> {
        let row = sqlx::query(
            "SELECT open, reason, opened_at, last_attempt_at, last_success_at, last_error FROM portal_circuit WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .doing("reading the portal collector's circuit")?;
        let Some(r) = row else {
            return Ok(PortalCircuit::default());
        };
        (|| -> std::result::Result<PortalCircuit, sqlx::Error> {
            Ok(PortalCircuit {
                open: r.try_get("open")?,
                reason: r.try_get("reason")?,
                opened_at: r.try_get("opened_at")?,
                last_attempt_at: r.try_get("last_attempt_at")?,
                last_success_at: r.try_get("last_success_at")?,
                last_error: r.try_get("last_error")?,
            })
        })()
        .doing("reading the portal collector's circuit")
    }

    pub async fn set_portal_circuit(&self, c: &PortalCircuit) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_circuit (id, open, reason, opened_at, last_attempt_at, last_success_at, last_error) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET open = excluded.open, reason = excluded.reason, opened_at = excluded.opened_at, last_attempt_at = excluded.last_attempt_at, last_success_at = excluded.last_success_at, last_error = excluded.last_error",
        )
        .bind(c.open)
        .bind(&c.reason)
        .bind(c.opened_at)
        .bind(c.last_attempt_at)
        .bind(c.last_success_at)
        .bind(&c.last_error)
        .execute(&self.pool)
        .await
        .doing("writing the portal collector's circuit")?;
        Ok(())
    }

    pub async fn document_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        let rows = sqlx::query(
            "SELECT unit_code,
               sum(direction = 'DEN' AND arrived_at >= ?1 AND arrived_at < ?2 AND processed_online) AS edoc,
               sum(direction = 'DEN' AND arrived_at >= ?1 AND arrived_at < ?2) AS incoming,
               sum(direction = 'DI' AND issued_at >= ?1 AND issued_at < ?2 AND signed) AS esigned,
               sum(direction = 'DI' AND issued_at >= ?1 AND issued_at < ?2) AS outgoing
             FROM documents WHERE deleted = 0 GROUP BY unit_code",
        )
        .bind(start)
        .bind(horizon)
        .fetch_all(&self.pool)
        .await
        .doing("counting documents for the metrics")?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| -> std::result::Result<i64, sqlx::Error> {
                    Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0))
                };
                let tally = Tally {
                    edoc: n("edoc")?,
                    incoming: n("incoming")?,
                    esigned: n("esigned")?,
                    outgoing: n("outgoing")?,
                    ..Tally::default()
                };
                Ok(GroupTally {
                    unit_code: r.try_get("unit_code")?,
                    field_code: None,
                    tally,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading document counts")
    }

    async fn code_counts(&self, sql: &'static str, doing: &'static str) -> Result<Vec<CodeCount>> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.doing(doing)?;
        rows.iter()
            .map(|r| {
                Ok(CodeCount {
                    code: r.try_get(0)?,
                    count: r.try_get(1)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing(doing)
    }

    pub async fn dossier_codes(&self) -> Result<Vec<CodeCount>> {
        self.code_counts(
            "SELECT unit_code, count(*) FROM dossiers WHERE deleted = 0 GROUP BY unit_code ORDER BY unit_code",
            "counting dossiers per unit code",
        )
        .await
    }

    pub async fn document_codes(&self) -> Result<Vec<CodeCount>> {
        self.code_counts(
            "SELECT unit_code, count(*) FROM documents WHERE deleted = 0 GROUP BY unit_code ORDER BY unit_code",
            "counting documents per unit code",
        )
        .await
    }

    pub async fn set_mark(&self, source: &str, endpoint: &str, mark: Option<Epoch>) -> Result<()> {
        let mut tx = self.write().await?;
        Self::ensure_state(&mut tx, source, endpoint).await?;
        sqlx::query("UPDATE sync_state SET mark = ?1 WHERE source = ?2 AND endpoint = ?3")
            .bind(mark)
            .bind(source)
            .bind(endpoint)
            .execute(&mut *tx)
            .await
            .doing("setting the sync mark")?;
        tx.commit().await.doing("setting the sync mark")
    }

    pub async fn record_letter_submission(&self, sub: &super::LetterSubmission) -> Result<i64> {
        let what = "recording a returned letter form";
        let mut tx = self.write().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM letter_submissions WHERE unit = ? AND period = ?",
        )
        .bind(&sub.unit)
        .bind(&sub.period)
        .fetch_one(&mut *tx)
        .await
        .doing(what)?;
        sqlx::query(
            "INSERT INTO letter_submissions (unit, period, seq, file_name, sha256, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&sub.unit)
        .bind(&sub.period)
        .bind(seq)
        .bind(&sub.file_name)
        .bind(&sub.sha256)
        .bind(sub.imported_at)
        .execute(&mut *tx)
        .await
        .doing(what)?;
        for v in &sub.values {
            sqlx::query(
                "INSERT INTO letter_values (unit, period, seq, criterion, value, evidence, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&sub.unit)
            .bind(&sub.period)
            .bind(seq)
            .bind(&v.criterion)
            .bind(&v.value)
            .bind(&v.evidence)
            .bind(&v.note)
            .execute(&mut *tx)
            .await
            .doing(what)?;
        }
        tx.commit().await.doing(what)?;
        Ok(seq)
    }

    pub async fn letter_submissions(&self, period: &str) -> Result<Vec<super::LetterSubmission>> {
        let what = "reading returned letter forms";
        let heads = sqlx::query(
            "SELECT unit, seq, file_name, sha256, imported_at FROM letter_submissions WHERE period = ? ORDER BY unit, seq",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing(what)?;
        let values = sqlx::query(
            "SELECT unit, seq, criterion, value, evidence, note FROM letter_values WHERE period = ? ORDER BY unit, seq, criterion",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing(what)?;
        let mut out = Vec::with_capacity(heads.len());
        for r in &heads {
            out.push(super::LetterSubmission {
                unit: r.try_get("unit").doing(what)?,
                period: period.to_string(),
                seq: r.try_get("seq").doing(what)?,
                file_name: r.try_get("file_name").doing(what)?,
                sha256: r.try_get("sha256").doing(what)?,
                imported_at: r.try_get("imported_at").doing(what)?,
                values: Vec::new(),
            });
        }
        for r in &values {
            let unit: String = r.try_get("unit").doing(what)?;
            let seq: i64 = r.try_get("seq").doing(what)?;
            let v = super::LetterValue {
                criterion: r.try_get("criterion").doing(what)?,
                value: r.try_get("value").doing(what)?,
                evidence: r.try_get("evidence").doing(what)?,
                note: r.try_get("note").doing(what)?,
            };
            if let Some(sub) = out.iter_mut().find(|s| s.unit == unit && s.seq == seq) {
                sub.values.push(v);
            }
        }
        Ok(out)
    }

    pub async fn note_future_updates(
        &self,
        source: &str,
        endpoint: &str,
        items: &[(String, Epoch)],
        now: Epoch,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        for chunk in items.chunks(1000) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO future_updates (source, endpoint, key, claimed_at, first_seen, last_seen) ",
            );
            qb.push_values(chunk, |mut b, (key, claimed)| {
                b.push_bind(source)
                    .push_bind(endpoint)
                    .push_bind(key)
                    .push_bind(*claimed)
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.push(
                " ON CONFLICT (source, endpoint, key) DO UPDATE SET claimed_at = excluded.claimed_at, \
                 last_seen = excluded.last_seen, times_seen = future_updates.times_seen + 1",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .doing("noting future-dated records")?;
        }
        tx.commit().await.doing("noting future-dated records")
    }

    pub async fn future_counts(&self) -> Result<Vec<super::FutureCount>> {
        let rows = sqlx::query(
            "SELECT source, endpoint, count(*) AS n, max(claimed_at) AS latest, max(last_seen) AS seen \
             FROM future_updates GROUP BY source, endpoint ORDER BY source, endpoint",
        )
        .fetch_all(&self.pool)
        .await
        .doing("counting future-dated records")?;
        rows.iter()
            .map(|r| {
                Ok(super::FutureCount {
                    source: r.try_get("source")?,
                    endpoint: r.try_get("endpoint")?,
                    records: r.try_get("n")?,
                    latest_claimed: r.try_get("latest")?,
                    last_seen: r.try_get("seen")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading future-dated records")
    }

    pub async fn rejection_counts(&self) -> Result<Vec<RejectionCount>> {
        let rows = sqlx::query(
            "SELECT source, kind, reason, count(*) AS n FROM rejected GROUP BY source, kind, reason ORDER BY n DESC, reason",
        )
        .fetch_all(&self.pool)
        .await
        .doing("counting rejected records")?;
        rows.iter()
            .map(|r| {
                Ok(RejectionCount {
                    source: r.try_get("source")?,
                    kind: r.try_get("kind")?,
                    reason: r.try_get("reason")?,
                    count: r.try_get("n")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading rejected records")
    }

    pub async fn upsert_samples(&self, samples: &[Sample]) -> Result<()> {
        let mut tx = self.write().await?;
        for chunk in samples.chunks(MAX_BINDS / 9) {
            let mut qb = sample_values(chunk);
            qb.push(
                " ON CONFLICT (unit, metric, scope, period, day) DO UPDATE SET as_of = excluded.as_of, \
                 numerator = excluded.numerator, denominator = excluded.denominator, computed_at = excluded.computed_at",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .doing("storing metric samples")?;
        }
        tx.commit().await.doing("committing metric samples")
    }

    pub async fn samples(&self, unit: &str, metric: &str, scope: &str) -> Result<Vec<Sample>> {
        let rows = sqlx::query(
            "SELECT unit, metric, scope, period, day, as_of, numerator, denominator, computed_at,
               first_numerator, first_denominator, first_computed_at, revised_at
             FROM metric_samples WHERE unit = ? AND metric = ? AND scope = ? ORDER BY as_of, period",
        )
        .bind(unit)
        .bind(metric)
        .bind(scope)
        .fetch_all(&self.pool)
        .await
        .doing("reading the time series")?;
        rows.iter()
            .map(|r| {
                Ok(Sample {
                    unit: r.try_get("unit")?,
                    metric: r.try_get("metric")?,
                    scope: r.try_get("scope")?,
                    period: r.try_get("period")?,
                    day: r.try_get("day")?,
                    as_of: r.try_get("as_of")?,
                    numerator: r.try_get("numerator")?,
                    denominator: r.try_get("denominator")?,
                    computed_at: r.try_get("computed_at")?,
                    revision: crate::store::Revision::from_columns(
                        r.try_get("first_numerator")?,
                        r.try_get("first_denominator")?,
                        r.try_get("first_computed_at")?,
                        r.try_get("revised_at")?,
                    ),
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading the time series")
    }

    pub async fn store_history(&self, samples: &[Sample]) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut written = 0;
        for chunk in samples.chunks(MAX_BINDS / 9) {
            let mut qb = sample_values(chunk);
            // A stored day is rewritten only when its counts differ: then it is a revision.
            qb.push(
                " ON CONFLICT (unit, metric, scope, period, day) DO UPDATE SET \
                 first_numerator = coalesce(metric_samples.first_numerator, metric_samples.numerator), \
                 first_denominator = coalesce(metric_samples.first_denominator, metric_samples.denominator), \
                 first_computed_at = coalesce(metric_samples.first_computed_at, metric_samples.computed_at), \
                 revised_at = excluded.computed_at, as_of = excluded.as_of, \
                 numerator = excluded.numerator, denominator = excluded.denominator, computed_at = excluded.computed_at \
                 WHERE metric_samples.numerator <> excluded.numerator OR metric_samples.denominator <> excluded.denominator",
            );
            written += qb
                .build()
                .execute(&mut *tx)
                .await
                .doing("storing past days' samples")?
                .rows_affected();
        }
        tx.commit().await.doing("committing past days' samples")?;
        Ok(written)
    }

    pub async fn sample_days(&self, from: &str, to: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT day FROM metric_samples WHERE day >= ? AND day <= ? ORDER BY day",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .doing("reading which days hold samples")
    }

    pub async fn data_start(&self) -> Result<Option<Epoch>> {
        sqlx::query_scalar(
            "SELECT min(t) FROM (
               SELECT min(received_at) AS t FROM dossiers WHERE deleted = 0 AND received_at IS NOT NULL
               UNION ALL SELECT min(arrived_at) FROM documents WHERE deleted = 0
               UNION ALL SELECT min(issued_at) FROM documents WHERE deleted = 0)",
        )
        .fetch_one(&self.pool)
        .await
        .doing("reading when the stored data begins")
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts, outbox, fire claims, action lists

impl SqliteStore {
    pub async fn samples_since(&self, day: &str) -> Result<Vec<Sample>> {
        sqlx::query_as::<_, Sample>(
            "SELECT unit, metric, scope, period, day, as_of, numerator, denominator, computed_at
             FROM metric_samples WHERE day >= ? ORDER BY as_of",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await
        .doing("reading recent samples")
    }

    pub async fn alerts(&self) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query(
            "SELECT unit, metric, scope, period, phase, breach_count, first_breach_at, fired_at, resolved_at,
                    last_notified_at, notice, numerator, denominator, notified_numerator, notified_denominator,
                    detail, updated_at
             FROM alerts ORDER BY unit, metric, scope, period",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading alerts")?;
        rows.iter()
            .map(|r| {
                Ok(AlertRecord {
                    key: AlertKey {
                        unit: r.try_get("unit")?,
                        metric: r.try_get("metric")?,
                        scope: r.try_get("scope")?,
                        period: r.try_get("period")?,
                    },
                    phase: Phase::parse(&r.try_get::<String, _>("phase")?),
                    breach_count: r.try_get::<i64, _>("breach_count")? as u32,
                    first_breach_at: r.try_get("first_breach_at")?,
                    fired_at: r.try_get("fired_at")?,
                    resolved_at: r.try_get("resolved_at")?,
                    last_notified_at: r.try_get("last_notified_at")?,
                    notice: r
                        .try_get::<Option<String>, _>("notice")?
                        .as_deref()
                        .and_then(Notice::parse),
                    numerator: r.try_get("numerator")?,
                    denominator: r.try_get("denominator")?,
                    notified_numerator: r.try_get("notified_numerator")?,
                    notified_denominator: r.try_get("notified_denominator")?,
                    detail: r.try_get("detail")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading alerts")
    }

    async fn put_alerts(
        tx: &mut Transaction<'static, Sqlite>,
        records: &[AlertRecord],
    ) -> Result<()> {
        for chunk in records.chunks(MAX_BINDS / 17) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO alerts (unit, metric, scope, period, phase, breach_count, first_breach_at, fired_at, \
                 resolved_at, last_notified_at, notice, numerator, denominator, notified_numerator, \
                 notified_denominator, detail, updated_at) ",
            );
            qb.push_values(chunk, |mut b, a| {
                b.push_bind(&a.key.unit)
                    .push_bind(&a.key.metric)
                    .push_bind(&a.key.scope)
                    .push_bind(&a.key.period)
                    .push_bind(a.phase.as_str())
                    .push_bind(i64::from(a.breach_count))
                    .push_bind(a.first_breach_at)
                    .push_bind(a.fired_at)
                    .push_bind(a.resolved_at)
                    .push_bind(a.last_notified_at)
                    .push_bind(a.notice.map(Notice::as_str))
                    .push_bind(a.numerator)
                    .push_bind(a.denominator)
                    .push_bind(a.notified_numerator)
                    .push_bind(a.notified_denominator)
                    .push_bind(&a.detail)
                    .push_bind(a.updated_at);
            });
            qb.push(
                " ON CONFLICT (unit, metric, scope, period) DO UPDATE SET phase = excluded.phase, \
                 breach_count = excluded.breach_count, first_breach_at = excluded.first_breach_at, \
                 fired_at = excluded.fired_at, resolved_at = excluded.resolved_at, \
                 last_notified_at = excluded.last_notified_at, notice = excluded.notice, \
                 numerator = excluded.numerator, denominator = excluded.denominator, \
                 notified_numerator = excluded.notified_numerator, notified_denominator = excluded.notified_denominator, \
                 detail = excluded.detail, updated_at = excluded.updated_at",
            );
            qb.build()
                .execute(&mut **tx)
                .await
                .doing("storing alerts")?;
        }
        Ok(())
    }

    pub async fn save_alerts(&self, records: &[AlertRecord]) -> Result<()> {
        let mut tx = self.write().await?;
        Self::put_alerts(&mut tx, records).await?;
        tx.commit().await.doing("committing alerts")
    }

    pub async fn commit_letters(
        &self,
        letters: &[super::QueuedLetter],
        notified: &[AlertRecord],
        now: Epoch,
    ) -> Result<(usize, usize)> {
        let mut tx = self.write().await?;
        let (mut queued, mut superseded) = (0, 0);
        for l in letters {
            let m = &l.mail;
            let (to, cc) = (m.to.join(","), m.cc.join(","));
            let done = sqlx::query(
                "INSERT INTO outbox (message_id, kind, recipients, cc, subject, body_text, body_html, attachment_name,
                                     attachment_type, attachment, status, attempts, next_attempt_at, created_at,
                                     unit, snapshot)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(&m.message_id)
            .bind(&l.kind)
            .bind(&to)
            .bind(&cc)
            .bind(&m.subject)
            .bind(&m.text)
            .bind(&m.html)
            .bind(m.attachment.as_ref().map(|a| a.filename.as_str()))
            .bind(m.attachment.as_ref().map(|a| a.content_type.as_str()))
            .bind(m.attachment.as_ref().map(|a| a.bytes.as_slice()))
            .bind(now)
            .bind(now)
            .bind(&l.unit)
            .bind(&l.snapshot)
            .execute(&mut *tx)
            .await
            .doing("queueing mail")?;
            queued += done.rows_affected() as usize;
            if let (Some(unit), 1) = (&l.unit, done.rows_affected()) {
                let older = sqlx::query(
                    "UPDATE outbox SET status = 'superseded', claimed_until = NULL, last_error = ?
                     WHERE kind = ? AND unit = ? AND recipients = ? AND cc = ? AND status = 'pending'
                       AND message_id <> ?",
                )
                .bind(format!("superseded by {}", m.message_id))
                .bind(&l.kind)
                .bind(unit)
                .bind(&to)
                .bind(&cc)
                .bind(&m.message_id)
                .execute(&mut *tx)
                .await
                .doing("superseding waiting mail")?;
                superseded += older.rows_affected() as usize;
            }
        }
        Self::put_alerts(&mut tx, notified).await?;
        tx.commit().await.doing("committing queued mail")?;
        Ok((queued, superseded))
    }

    pub async fn letter_history(&self) -> Result<Vec<super::LetterHistory>> {
        let rows: Vec<(String, String, Option<Epoch>, Option<Epoch>)> = sqlx::query_as(
            "SELECT kind, unit, min(CASE WHEN status = 'pending' THEN created_at END),
                    max(CASE WHEN status = 'sent' THEN created_at END)
             FROM outbox WHERE unit IS NOT NULL GROUP BY kind, unit ORDER BY kind, unit",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading the letters' history")?;
        Ok(rows
            .into_iter()
            .map(
                |(kind, unit, waiting_since, last_sent_queued_at)| super::LetterHistory {
                    kind,
                    unit,
                    waiting_since,
                    last_sent_queued_at,
                },
            )
            .collect())
    }

    pub async fn last_sent_snapshot(&self, kind: &str, unit: &str) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT snapshot FROM outbox
             WHERE kind = ? AND unit = ? AND status = 'sent' AND snapshot IS NOT NULL
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(kind)
        .bind(unit)
        .fetch_optional(&self.pool)
        .await
        .doing("reading the last summary sent")
    }

    pub async fn outbox_waiting(&self, queued_before: Epoch) -> Result<super::OutboxWaiting> {
        let (stuck, oldest_queued_at): (i64, Option<Epoch>) = sqlx::query_as(
            "SELECT coalesce(sum(created_at < ?), 0), min(created_at)
             FROM outbox WHERE status IN ('pending', 'sending')",
        )
        .bind(queued_before)
        .fetch_one(&self.pool)
        .await
        .doing("reading the mail waiting for delivery")?;
        Ok(super::OutboxWaiting {
            stuck,
            oldest_queued_at,
        })
    }

    pub async fn claim_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        claimed_by: &str,
        now: Epoch,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO job_runs (job, fire_at, claimed_by, started_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(fire_at)
        .bind(claimed_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .doing("claiming a job fire")?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn finish_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        error: Option<&str>,
        now: Epoch,
    ) -> Result<()> {
        super::recovery::once_more(|| {
            sqlx::query(
                "UPDATE job_runs SET finished_at = ?, ok = ?, error = ? WHERE job = ? AND fire_at = ?",
            )
            .bind(now)
            .bind(error.is_none())
            .bind(error)
            .bind(job)
            .bind(fire_at)
            .execute(&self.pool)
        })
        .await
        .doing("finishing a job fire")?;
        Ok(())
    }

    pub async fn last_success(&self, job: &str) -> Result<Option<Epoch>> {
        sqlx::query_scalar("SELECT max(fire_at) FROM job_runs WHERE job = ? AND ok = 1")
            .bind(job)
            .fetch_one(&self.pool)
            .await
            .doing("reading the last successful job run")
    }

    pub async fn job_successes(&self) -> Result<Vec<(String, Epoch)>> {
        sqlx::query_as(
            "SELECT job, max(finished_at) FROM job_runs WHERE ok = 1 GROUP BY job ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading job successes")
    }

    pub async fn outbox_counts(&self) -> Result<super::OutboxCounts> {
        let (pending, failed, sent, superseded): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(status IN ('pending', 'sending')), 0), coalesce(sum(status = 'failed'), 0),
                    coalesce(sum(status = 'sent'), 0), coalesce(sum(status = 'superseded'), 0) FROM outbox",
        )
        .fetch_one(&self.pool)
        .await
        .doing("counting the outbox")?;
        Ok(super::OutboxCounts {
            pending,
            failed,
            sent,
            superseded,
        })
    }

    pub async fn sync_stats(&self) -> Result<Vec<super::SyncStats>> {
        let rows = sqlx::query(
            "SELECT source, endpoint, mark, last_success_at, last_attempt_at, last_error, consecutive_failures,
                    last_fetched, last_stored, last_rejected, last_pages, last_duration_ms
             FROM sync_state ORDER BY source, endpoint",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading sync statistics")?;
        rows.iter()
            .map(|r| {
                Ok(super::SyncStats {
                    state: sync_state_of(r)?,
                    last: (|| -> std::result::Result<RunCounts, sqlx::Error> {
                        Ok(RunCounts {
                            fetched: r.try_get("last_fetched")?,
                            stored: r.try_get("last_stored")?,
                            rejected: r.try_get("last_rejected")?,
                            pages: r.try_get("last_pages")?,
                            duration_ms: r.try_get("last_duration_ms")?,
                        })
                    })()
                    .doing("reading sync statistics")?,
                })
            })
            .collect()
    }

    pub async fn last_fire(&self, job: &str) -> Result<Option<Epoch>> {
        sqlx::query_scalar("SELECT max(fire_at) FROM job_runs WHERE job = ?")
            .bind(job)
            .fetch_one(&self.pool)
            .await
            .doing("reading the last job fire")
    }

    pub async fn claim_mail(&self, now: Epoch, lease_secs: i64) -> Result<Option<ClaimedMail>> {
        self.mark_unmarked().await?;
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT id, message_id, recipients, cc, subject, body_text, body_html, attachment_name, attachment_type,
                    attachment, attempts, created_at
             FROM outbox
             WHERE (status = 'pending' AND next_attempt_at <= ?1) OR (status = 'sending' AND claimed_until < ?1)
             ORDER BY next_attempt_at, id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .doing("looking for mail to send")?;
        let Some(r) = row else {
            tx.commit().await.doing("looking for mail to send")?;
            return Ok(None);
        };
        let split = |s: String| -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let claimed = (|| -> std::result::Result<ClaimedMail, sqlx::Error> {
            let attachment = match r.try_get::<Option<String>, _>("attachment_name")? {
                Some(filename) => Some(Attachment {
                    filename,
                    content_type: r
                        .try_get::<Option<String>, _>("attachment_type")?
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    bytes: r
                        .try_get::<Option<Vec<u8>>, _>("attachment")?
                        .unwrap_or_default(),
                }),
                None => None,
            };
            Ok(ClaimedMail {
                id: r.try_get("id")?,
                attempts: r.try_get("attempts")?,
                created_at: r.try_get("created_at")?,
                mail: OutgoingMail {
                    message_id: r.try_get("message_id")?,
                    to: split(r.try_get("recipients")?),
                    cc: split(r.try_get("cc")?),
                    subject: r.try_get("subject")?,
                    text: r.try_get("body_text")?,
                    html: r.try_get("body_html")?,
                    attachment,
                },
            })
        })()
        .doing("reading mail to send")?;
        sqlx::query("UPDATE outbox SET status = 'sending', claimed_until = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(now + lease_secs)
            .bind(claimed.id)
            .execute(&mut *tx)
            .await
            .doing("claiming mail")?;
        tx.commit().await.doing("claiming mail")?;
        Ok(Some(ClaimedMail {
            attempts: claimed.attempts + 1,
            ..claimed
        }))
    }

    async fn mark_sent(&self, id: i64, now: Epoch) -> std::result::Result<(), sqlx::Error> {
        super::recovery::once_more(|| {
            sqlx::query("UPDATE outbox SET status = 'sent', sent_at = ?, claimed_until = NULL, last_error = NULL WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
        })
        .await
        .map(|_| ())
    }

    pub async fn mail_sent(&self, id: i64, now: Epoch) -> Result<()> {
        if let Err(e) = self.mark_sent(id, now).await {
            self.unmarked.remember(id, now);
            return Err(e).doing("marking mail sent (it is marked before the next claim)");
        }
        Ok(())
    }

    /// Records the "sent" marks the database refused earlier.
    async fn mark_unmarked(&self) -> Result<()> {
        let pending = self.unmarked.take();
        for (i, (id, at)) in pending.iter().enumerate() {
            if let Err(e) = self.mark_sent(*id, *at).await {
                self.unmarked.put_back(pending[i..].to_vec());
                return Err(e)
                    .doing("marking mail sent earlier (no other mail is sent until then)");
            }
        }
        Ok(())
    }

    pub async fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<Epoch>,
    ) -> Result<()> {
        super::recovery::once_more(|| {
            match next_attempt_at {
                Some(at) => sqlx::query(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?, claimed_until = NULL, last_error = ? WHERE id = ?",
                )
                .bind(at)
                .bind(error)
                .bind(id),
                None => sqlx::query("UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = ? WHERE id = ?")
                    .bind(error)
                    .bind(id),
            }
            .execute(&self.pool)
        })
        .await
        .doing("recording a failed delivery")?;
        Ok(())
    }

    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT id, message_id, kind, recipients, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at
             FROM outbox ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .doing("reading the outbox")?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.try_get("id")?,
                    message_id: r.try_get("message_id")?,
                    kind: r.try_get("kind")?,
                    recipients: r.try_get("recipients")?,
                    subject: r.try_get("subject")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                    created_at: r.try_get("created_at")?,
                    sent_at: r.try_get("sent_at")?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .doing("reading the outbox")
    }

    async fn action_list(
        &self,
        sql_where: &str,
        order: &str,
        codes: &[String],
        binds: &[Epoch],
        cap: usize,
    ) -> Result<ActionList> {
        if codes.is_empty() {
            return Ok(ActionList::default());
        }
        let mut list = ActionList::default();
        for counting in [true, false] {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(if counting {
                "SELECT count(*) FROM dossiers d WHERE d.unit_code IN ("
            } else {
                "SELECT d.code, coalesce(p.name, d.procedure_code) AS procedure, d.due_at, d.ended_at FROM dossiers d \
                 LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code WHERE d.unit_code IN ("
            });
            let mut sep = qb.separated(", ");
            for c in codes {
                sep.push_bind(c.as_str());
            }
            qb.push(") AND d.deleted = 0 AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL AND ");
            // The condition's `?` placeholders are bound in order.
            let mut parts = sql_where.split('?');
            if let Some(first) = parts.next() {
                qb.push(first);
            }
            for (part, value) in parts.zip(binds.iter()) {
                qb.push_bind(*value);
                qb.push(part);
            }
            if counting {
                list.total = qb
                    .build_query_scalar::<i64>()
                    .fetch_one(&self.pool)
                    .await
                    .doing("counting an action list")?;
            } else {
                qb.push(format!(" ORDER BY {order} LIMIT {cap}"));
                let rows = qb
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .doing("reading an action list")?;
                list.items = rows
                    .iter()
                    .map(|r| {
                        Ok(ActionItem {
                            code: r.try_get("code")?,
                            procedure: r.try_get("procedure")?,
                            due_at: r.try_get("due_at")?,
                            ended_at: r.try_get("ended_at")?,
                        })
                    })
                    .collect::<std::result::Result<_, sqlx::Error>>()
                    .doing("reading an action list")?;
            }
        }
        Ok(list)
    }

    pub async fn late_without_apology(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        // In H of the period (not finished at its start), late as seen now, no apology yet.
        self.action_list(
            "d.received_at < ? AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?) \
             AND d.due_at IS NOT NULL \
             AND CASE WHEN d.status IN (8, 9, 10) AND d.ended_at < ? THEN d.ended_at > d.due_at ELSE d.due_at < ? END \
             AND (d.first_apology_at IS NULL OR d.first_apology_at >= ?)",
            "d.due_at, d.code",
            codes,
            &[now, start, now, now, now],
            cap,
        )
        .await
    }

    pub async fn due_soon(
        &self,
        codes: &[String],
        now: Epoch,
        until: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        self.action_list(
            "NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?) AND d.due_at >= ? AND d.due_at < ?",
            "d.due_at, d.code",
            codes,
            &[now, now, until],
            cap,
        )
        .await
    }

    pub async fn not_digitized(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        self.action_list(
            "d.status IN (9, 10) AND d.ended_at >= ? AND d.ended_at < ? AND d.digitized = 0",
            "d.ended_at, d.code",
            codes,
            &[start, now],
            cap,
        )
        .await
    }
}

fn sync_state_of(r: &sqlx::sqlite::SqliteRow) -> Result<SyncState> {
    (|| -> std::result::Result<SyncState, sqlx::Error> {
        Ok(SyncState {
            source: r.try_get("source")?,
            endpoint: r.try_get("endpoint")?,
            mark: r.try_get("mark")?,
            last_success_at: r.try_get("last_success_at")?,
            last_attempt_at: r.try_get("last_attempt_at")?,
            last_error: r.try_get("last_error")?,
            consecutive_failures: r.try_get("consecutive_failures")?,
        })
    })()
    .doing("reading the sync state")
}

/// `INSERT INTO metric_samples (…) VALUES (…), …` for a chunk of samples, without its conflict
/// clause: `upsert_samples` overwrites a stored day, `store_history` marks a changed one revised.
fn sample_values(chunk: &[Sample]) -> QueryBuilder<Sqlite> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO metric_samples (unit, metric, scope, period, day, as_of, numerator, denominator, computed_at) ",
    );
    qb.push_values(chunk, |mut b, s| {
        b.push_bind(&s.unit)
            .push_bind(&s.metric)
            .push_bind(&s.scope)
            .push_bind(&s.period)
            .push_bind(&s.day)
            .push_bind(s.as_of)
            .push_bind(s.numerator)
            .push_bind(s.denominator)
            .push_bind(s.computed_at);
    });
    qb
}
