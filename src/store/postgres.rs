//! PostgreSQL's side of the store, for a province's shared server or a city with a standby:
//! opening the pool, and PostgreSQL's answers to [`Backend`] (the queries themselves are shared,
//! in the files beside this). Migrations from `migrations/postgres/` are
//! applied at open (the migrator serializes replicas that start together with its own lock).
//!
//! What differs is only how the engine is used best:
//! - bulk upserts send one array per column (`INSERT … SELECT … FROM UNNEST($1::text[], …)`), in
//!   chunks, so that a page costs one statement whatever its size and never nears the 65535 bind
//!   limit. PostgreSQL refuses to update one row twice in a statement, so rows repeating a key
//!   are written in later statements of the same transaction, in their order: the outcome (and the
//!   count) is SQLite's row-by-row one.
//! - several replicas share the database: a job fire is claimed by the row that
//!   `INSERT … ON CONFLICT DO NOTHING` lands, and an outbox message by an `UPDATE` of the row that
//!   `SELECT … FOR UPDATE SKIP LOCKED` picked, leased until `claimed_until`, so two replicas never
//!   hold one message and a replica that died lets another take it when the lease runs out. No
//!   advisory lock is held.
//! - flags are BOOLEAN (`count(*) FILTER (WHERE …)` in the aggregation), and every text column
//!   compares byte by byte (`COLLATE "C"`), as SQLite's do.

use super::backend::{Backend, Db, Kind, Table, Val};
use super::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{ConnectOptions as _, Pool, Postgres, QueryBuilder, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Rows per bulk statement: each column is one array parameter, so this bounds the size of one
/// statement, not its parameter count.
const CHUNK: usize = 5_000;

/// The store on PostgreSQL.
pub type PostgresStore = Db<Postgres>;

/// What the PostgreSQL store keeps beside its pool: the URL without its password, for messages.
#[derive(Debug, Clone)]
pub struct PgInfo {
    pub shown: String,
}

/// `url` with its password (if any) replaced by `***`, fit for logs and messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<a PostgreSQL URL that does not parse>".into(),
    }
}

impl Db<Postgres> {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let shown = redact(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?
            .application_name("dondoc")
            // Slow statements at debug, not sqlx's WARN with the whole SQL (see sqlite.rs).
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        // TLS only when asked for (`sslmode=require`, `verify-full`, … in the URL, or PGSSLMODE):
        // sqlx 0.9.0 leaves Nagle's algorithm on, which costs about 40 ms per round trip over
        // TLS (transact-rs/sqlx#4335), so its default `prefer` would make every local server with
        // a certificate seven times slower without anyone asking for encryption.
        let options = if url.contains("sslmode=")
            || url.contains("ssl-mode=")
            || std::env::var_os("PGSSLMODE").is_some()
        {
            options
        } else {
            options.ssl_mode(PgSslMode::Disable)
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            // As SQLite's: no connection kept through idle hours.
            .min_connections(0)
            .idle_timeout(super::IDLE)
            .acquire_timeout(Duration::from_secs(10))
            // A connection left inside a failed transaction is closed, never reused
            // (super::recovery): the same rule as SQLite's.
            .after_release(|conn, _| {
                Box::pin(async move {
                    super::recovery::reusable(conn, false, "returned to the pool").await
                })
            })
            .before_acquire(|conn, _| {
                Box::pin(async move { super::recovery::reusable(conn, false, "handed out").await })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        // The migrator holds PostgreSQL's advisory lock while it works (replicas starting
        // together wait for each other) and releases it when done; on failure the pool is closed
        // at once, so that no pooled connection keeps the lock.
        if let Err(source) = sqlx::migrate!("migrations/postgres").run(&pool).await {
            pool.close().await;
            return Err(StoreError::Migrate {
                url: shown.clone(),
                source,
            });
        }
        Ok(Db::new(pool, PgInfo { shown }))
    }
}

impl Backend for Postgres {
    type Info = PgInfo;
    const ENGINE: &'static str = "postgres";
    // One array parameter: this bounds the size of a statement, not its parameter count.
    const LIST_CHUNK: usize = CHUNK;
    // Rows another replica is claiming right now are skipped, not waited for.
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    const UPSERT_CHUNK: usize = CHUNK;
    const REPEATED_KEYS: bool = false;
    // A transaction-scoped advisory lock per kind of facts (class 16 is dondoc's).
    const FACTS_LOCK: &'static str = "SELECT pg_advisory_xact_lock(16, CAST($1 AS INTEGER))";

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    fn count_if(cond: &str) -> String {
        format!("count(*) FILTER (WHERE {cond})")
    }

    async fn begin_write(pool: &Pool<Postgres>) -> sqlx::Result<Transaction<'static, Postgres>> {
        pool.begin().await
    }

    /// Its commit does not wait for the WAL to reach the disk (`synchronous_commit = off`, for
    /// this transaction only). A crash of the server may lose the last such commits, never part
    /// of one: a lost page goes with its mark, so the next sync fetches it again. Claims, alerts
    /// and the outbox stay synchronous.
    async fn begin_recomputable(
        pool: &Pool<Postgres>,
    ) -> sqlx::Result<Transaction<'static, Postgres>> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    fn push_in(qb: &mut QueryBuilder<Postgres>, values: &[&str]) {
        qb.push(" = ANY(");
        qb.push_bind(values.iter().map(|v| v.to_string()).collect::<Vec<_>>());
        qb.push(")");
    }

    async fn upsert_rows<'t>(
        tx: &'t mut Transaction<'static, Postgres>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
    ) -> sqlx::Result<u64> {
        let q = bulk_upsert(table, rows, "");
        Ok(q.execute(&mut **tx).await?.rows_affected())
    }

    async fn upsert_rows_returning<'t>(
        tx: &'t mut Transaction<'static, Postgres>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
        returning: &'t str,
    ) -> sqlx::Result<Vec<PgRow>> {
        bulk_upsert(table, rows, returning)
            .fetch_all(&mut **tx)
            .await
    }
}

/// The bulk upsert of `rows` into `table` (with `RETURNING returning` unless empty), its rows
/// bound as one array per column.
fn bulk_upsert<'t>(
    table: &Table,
    rows: &'t [Vec<Val<'t>>],
    returning: &str,
) -> sqlx::query::Query<'t, Postgres, sqlx::postgres::PgArguments> {
    let arrays: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 1, kind.array()))
        .collect();
    let mut sql = format!(
        "INSERT INTO {} SELECT * FROM UNNEST({}) {}",
        table.target(),
        arrays.join(", "),
        table.on_conflict
    );
    if !returning.is_empty() {
        sql.push_str(" RETURNING ");
        sql.push_str(returning);
    }
    // Only fixed names and numbers are formatted into the statement; the rows are bound,
    // one array per column.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, (_, kind)) in table.columns.iter().enumerate() {
        let cell = |r: &Vec<Val<'t>>| r.get(i).copied();
        q = match kind {
            Kind::Text => q.bind(
                rows.iter()
                    .map(|r| match cell(r) {
                        Some(Val::Text(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Int => q.bind(
                rows.iter()
                    .map(|r| match cell(r) {
                        Some(Val::Int(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Float => q.bind(
                rows.iter()
                    .map(|r| match cell(r) {
                        Some(Val::Float(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Bool => q.bind(
                rows.iter()
                    .map(|r| match cell(r) {
                        Some(Val::Bool(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
    }
    q
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_reaches_a_message() {
        let shown = redact("postgres://dondoc:s3cr%40t@db.example:5432/dondoc?sslmode=require");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(
            shown.contains("dondoc:***@db.example:5432/dondoc"),
            "{shown}"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
