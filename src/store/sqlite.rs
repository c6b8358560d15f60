//! SQLite's side of the store: opening one file (WAL journal, a busy timeout, foreign keys on,
//! migrations from `migrations/sqlite/` applied at open), the page cap of the fault drills, and
//! SQLite's answers to [`Backend`] (the queries themselves are shared, in the files beside this).
//!
//! Writes begin with `BEGIN IMMEDIATE` so that two writers queue on the busy timeout instead of
//! failing with SQLITE_BUSY halfway through a transaction. A bulk write sends its rows as ONE bound JSON array,
//! unpacked by `jsonb_each` in C: binding twenty values per row through the driver costs several
//! times more than the insert itself (docs/performance.md).
//!
//! A connection whose transaction failed (SQLITE_FULL, an I/O error) is closed instead of being
//! reused ([`super::recovery`]), so that the store works again as soon as the disk has room.

use super::backend::{Backend, Db, Table, Val};
use super::{Context, Result, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Pool, QueryBuilder, Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Keys bound one by one in a statement at the most (SQLite allows 32766 parameters).
const MAX_BINDS: usize = 32_000;

/// SQLite's largest `max_page_count` (what "no cap" means).
const NO_PAGE_CAP: u64 = 4_294_967_294;

/// The store on SQLite.
pub type SqliteStore = Db<Sqlite>;

/// What the SQLite store keeps beside its pool.
#[derive(Debug, Clone)]
pub struct SqliteInfo {
    /// The database file (none for a memory database).
    file: Option<std::path::PathBuf>,
    /// A cap on the file's pages set by [`SqliteStore::set_page_cap`] (0: never set).
    page_cap: Arc<AtomicU64>,
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

impl Db<Sqlite> {
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
            // The WAL is copied back into the file (with an fsync) once it holds 16384 pages
            // (64 MiB) instead of SQLite's 1000: a page of dossiers dirties pages all over both
            // B-trees, so with 1000 nearly every commit ran a checkpoint, and a B-tree page
            // changed by many commits was written back as often (docs/sync-writes.md: the full
            // sync 1.7–2.4× faster). Crash safety is the same: a commit is in the WAL either way.
            // After a checkpoint the file is cut back to 64 MiB, so it never stays larger.
            .pragma("wal_autocheckpoint", "16384")
            .pragma("journal_size_limit", "67108864")
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
        Ok(Db::new(
            pool,
            SqliteInfo {
                file: file_of(url),
                page_cap,
            },
        ))
    }

    /// The database file (none for a memory database).
    pub fn file(&self) -> Option<&std::path::Path> {
        self.info.file.as_deref()
    }

    /// Fault drill: caps the database file at `pages` pages on every connection of the pool
    /// (SQLite's `PRAGMA max_page_count`: a write that would grow the file past it fails with
    /// SQLITE_FULL, "database or disk is full", exactly as on a full disk); `None` lifts the cap.
    /// It applies to each connection when it is next handed out. For tests and drills
    /// (docs/operations.md); the cap is not stored in the file and ends with the process.
    pub fn set_page_cap(&self, pages: Option<u64>) {
        self.info
            .page_cap
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
}

impl Backend for Sqlite {
    type Info = SqliteInfo;
    const ENGINE: &'static str = "sqlite";
    const LIST_CHUNK: usize = MAX_BINDS - 8;
    // One writer holds the whole database (BEGIN IMMEDIATE): nothing to lock row by row.
    const CLAIM_LOCK: &'static str = "";
    const UPSERT_CHUNK: usize = 1000;
    const REPEATED_KEYS: bool = true;
    // BEGIN IMMEDIATE: one writer at a time already.
    const FACTS_LOCK: &'static str = "";

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn count_if(cond: &str) -> String {
        format!("sum({cond})")
    }

    async fn begin_write(pool: &Pool<Sqlite>) -> sqlx::Result<Transaction<'static, Sqlite>> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn begin_recomputable(pool: &Pool<Sqlite>) -> sqlx::Result<Transaction<'static, Sqlite>> {
        Self::begin_write(pool).await
    }

    fn push_in(qb: &mut QueryBuilder<Sqlite>, values: &[&str]) {
        qb.push(" IN (");
        let mut sep = qb.separated(", ");
        for v in values {
            sep.push_bind(*v);
        }
        qb.push(")");
    }

    async fn upsert_rows<'t>(
        tx: &'t mut Transaction<'static, Sqlite>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
    ) -> sqlx::Result<u64> {
        let (sql, json) = bulk_upsert(table, rows, "")?;
        // Only fixed names and numbers are formatted into the statement; the rows are bound.
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json)
            .execute(&mut **tx)
            .await?
            .rows_affected())
    }

    async fn upsert_rows_returning<'t>(
        tx: &'t mut Transaction<'static, Sqlite>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
        returning: &'t str,
    ) -> sqlx::Result<Vec<SqliteRow>> {
        let (sql, json) = bulk_upsert(table, rows, returning)?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json)
            .fetch_all(&mut **tx)
            .await
    }
}

/// The bulk upsert of `rows` into `table` (with `RETURNING returning` unless empty) and its one
/// bound value.
fn bulk_upsert(
    table: &Table,
    rows: &[Vec<Val<'_>>],
    returning: &str,
) -> sqlx::Result<(String, String)> {
    let picks: Vec<String> = (0..table.columns.len())
        .map(|i| format!("r.value ->> {i}"))
        .collect();
    // The array is converted to SQLite's binary JSON once, and `jsonb_each` hands each row
    // over as binary JSON: `json_each` gave each row back as text that every `->>` parsed
    // again (one parse per column; docs/sync-writes.md).
    // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    let mut sql = format!(
        "INSERT INTO {} SELECT {} FROM jsonb_each(jsonb($1)) AS r WHERE true {}",
        table.target(),
        picks.join(", "),
        table.on_conflict
    );
    if !returning.is_empty() {
        sql.push_str(" RETURNING ");
        sql.push_str(returning);
    }
    let json = serde_json::to_string(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok((sql, json))
}
