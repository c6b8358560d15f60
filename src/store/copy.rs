//! `dondoc migrate-store`: copies a city's whole history from one database to another (SQLite to
//! PostgreSQL when a city outgrows its file; any direction works), verifiably.
//!
//! - The source is read in one read-only transaction: a consistent snapshot, even while a
//!   daemon keeps writing to it. Its sync marks are copied from the same snapshot as its records,
//!   so whatever changed upstream after the snapshot is simply pulled again by the next sync.
//! - Every table is streamed in batches (bounded in rows and bytes), written to the target with
//!   the engine's bulk insert, all inside ONE target transaction. Before it commits, every
//!   table's row count in the target is compared to the source's: a mismatch (or any error)
//!   rolls everything back, so a failed copy leaves the target as empty as it was and can simply
//!   be run again.
//! - The target must be empty (freshly created, migrations applied by opening it): the copy never
//!   merges two histories. To copy again, drop and recreate the target database.
//!
//! Every column of every table is copied as it is stored, outbox ids included (the target's id
//! sequence then continues after the largest).

use super::{Context, Result, Store, StoreError};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder, Row, Sqlite, Transaction};
use std::fmt;
use std::time::{Duration, Instant};

/// How a column is stored (SQLite's storage class; PostgreSQL's type family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INTEGER in SQLite; INTEGER or BIGINT in PostgreSQL.
    Int,
    /// REAL; DOUBLE PRECISION.
    Real,
    Text,
    /// BLOB; BYTEA.
    Bytes,
    /// INTEGER 0/1 in SQLite; BOOLEAN in PostgreSQL.
    Bool,
}

use Kind::{Bool, Bytes, Int, Real, Text};

/// A table of the schema, every column of it, and its primary key (the copy's order).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub key: &'static str,
}

/// Columns of the schema that the copy does not carry, because the target derives them: the
/// records' `id` (the target numbers them in the order they arrive) and the rate engine's facts
/// (built from the copied records once the copy is committed; see `store/facts.rs`). The schema
/// test counts them with [`TABLES`].
pub const DERIVED: &[&str] = &[
    "dossiers.id",
    "documents.id",
    "fact_blocks.kind",
    "fact_blocks.block",
    "fact_blocks.first",
    "fact_blocks.last",
    "fact_blocks.units",
    "fact_blocks.data",
    "fact_units.kind",
    "fact_units.unit_code",
    "fact_units.records",
    "fact_state.kind",
    "fact_state.version",
];

/// Every table of dondoc's schema (both migrations folders), every column. A test compares this
/// list with both engines' schemas so that a new column cannot be forgotten here.
pub const TABLES: &[Table] = &[
    Table {
        name: "sync_state",
        columns: &[
            ("source", Text),
            ("endpoint", Text),
            ("mark", Int),
            ("last_success_at", Int),
            ("last_attempt_at", Int),
            ("last_error", Text),
            ("consecutive_failures", Int),
            ("last_fetched", Int),
            ("last_stored", Int),
            ("last_rejected", Int),
            ("last_pages", Int),
            ("last_duration_ms", Int),
        ],
        key: "source, endpoint",
    },
    Table {
        name: "procedures",
        columns: &[
            ("source", Text),
            ("code", Text),
            ("name", Text),
            ("field_code", Text),
            ("field_name", Text),
            ("level", Int),
        ],
        key: "source, code",
    },
    Table {
        name: "dossiers",
        columns: &[
            ("source", Text),
            ("code", Text),
            ("procedure_code", Text),
            ("field_code", Text),
            ("unit_code", Text),
            ("channel", Int),
            ("status", Int),
            ("received_at", Int),
            ("appointed_at", Int),
            ("due_at", Int),
            ("ended_at", Int),
            ("returned_at", Int),
            ("paid_online", Int),
            ("fee_total", Real),
            ("digitized", Bool),
            ("first_apology_at", Int),
            ("rating", Int),
            ("rated_at", Int),
            ("updated_at", Int),
            ("deleted", Bool),
        ],
        // The source's arrival order, which the target's own numbering keeps.
        key: "id",
    },
    Table {
        name: "documents",
        columns: &[
            ("source", Text),
            ("code", Text),
            ("unit_code", Text),
            ("direction", Text),
            ("arrived_at", Int),
            ("issued_at", Int),
            ("processed_online", Bool),
            ("signed", Bool),
            ("updated_at", Int),
            ("deleted", Bool),
        ],
        // The source's arrival order, which the target's own numbering keeps.
        key: "id",
    },
    Table {
        name: "rejected",
        columns: &[
            ("source", Text),
            ("kind", Text),
            ("key", Text),
            ("reason", Text),
            ("updated_at", Int),
            ("first_seen", Int),
            ("last_seen", Int),
            ("times_seen", Int),
        ],
        key: "source, kind, key",
    },
    Table {
        name: "future_updates",
        columns: &[
            ("source", Text),
            ("endpoint", Text),
            ("key", Text),
            ("claimed_at", Int),
            ("first_seen", Int),
            ("last_seen", Int),
            ("times_seen", Int),
        ],
        key: "source, endpoint, key",
    },
    Table {
        name: "letter_submissions",
        columns: &[
            ("unit", Text),
            ("period", Text),
            ("seq", Int),
            ("file_name", Text),
            ("sha256", Text),
            ("imported_at", Int),
        ],
        key: "unit, period, seq",
    },
    Table {
        name: "letter_values",
        columns: &[
            ("unit", Text),
            ("period", Text),
            ("seq", Int),
            ("criterion", Text),
            ("value", Text),
            ("evidence", Text),
            ("note", Text),
        ],
        key: "unit, period, seq, criterion",
    },
    Table {
        name: "metric_samples",
        columns: &[
            ("unit", Text),
            ("metric", Text),
            ("scope", Text),
            ("period", Text),
            ("day", Text),
            ("as_of", Int),
            ("numerator", Int),
            ("denominator", Int),
            ("computed_at", Int),
            ("first_numerator", Int),
            ("first_denominator", Int),
            ("first_computed_at", Int),
            ("revised_at", Int),
        ],
        key: "unit, metric, scope, period, day",
    },
    Table {
        name: "alerts",
        columns: &[
            ("unit", Text),
            ("metric", Text),
            ("scope", Text),
            ("period", Text),
            ("phase", Text),
            ("breach_count", Int),
            ("first_breach_at", Int),
            ("fired_at", Int),
            ("resolved_at", Int),
            ("last_notified_at", Int),
            ("notice", Text),
            ("numerator", Int),
            ("denominator", Int),
            ("notified_numerator", Int),
            ("notified_denominator", Int),
            ("detail", Text),
            ("updated_at", Int),
        ],
        key: "unit, metric, scope, period",
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Int),
            ("message_id", Text),
            ("kind", Text),
            ("recipients", Text),
            ("cc", Text),
            ("subject", Text),
            ("body_text", Text),
            ("body_html", Text),
            ("attachment_name", Text),
            ("attachment_type", Text),
            ("attachment", Bytes),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("claimed_until", Int),
            ("last_error", Text),
            ("created_at", Int),
            ("sent_at", Int),
            ("unit", Text),
            ("snapshot", Text),
        ],
        key: "id",
    },
    Table {
        name: "job_runs",
        columns: &[
            ("job", Text),
            ("fire_at", Int),
            ("claimed_by", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("ok", Bool),
            ("error", Text),
        ],
        key: "job, fire_at",
    },
    // Issue 19 (the Decision 766 score): the portal's published figures and the collector's circuit.
    Table {
        name: "portal_figures",
        columns: &[
            ("unit", Text),
            ("period", Text),
            ("grp", Text),
            ("day", Text),
            ("department", Text),
            ("score", Real),
            ("max_score", Real),
            ("received", Int),
            ("detail", Text),
            ("fetched_at", Int),
        ],
        key: "unit, period, grp, day",
    },
    Table {
        name: "portal_circuit",
        columns: &[
            ("id", Int),
            ("open", Bool),
            ("reason", Text),
            ("opened_at", Int),
            ("last_attempt_at", Int),
            ("last_success_at", Int),
            ("last_error", Text),
        ],
        key: "id",
    },
];

/// At most this many rows per batch (SQLite's bind limit is the tighter: 32766 per statement).
const BATCH_ROWS: usize = 2_000;
/// A batch is written as soon as it holds this many bytes of text and attachments.
const BATCH_BYTES: usize = 8 << 20;
const SQLITE_MAX_BINDS: usize = 32_000;

/// One table of a finished copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the source's snapshot.
    pub source_rows: i64,
    /// Rows in the target, counted in the copy's transaction before it committed.
    pub target_rows: i64,
}

/// What `migrate-store` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MigrationReport {
    pub from: &'static str,
    pub to: &'static str,
    pub tables: Vec<TableReport>,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl MigrationReport {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|t| t.target_rows).sum()
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Copied {} rows from {} to {} in {:.1} s; every table's count matches:",
            self.rows(),
            self.from,
            self.to,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "{:<16} {:>12} {:>12}", "table", "source", "target")?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<16} {:>12} {:>12}",
                t.table, t.source_rows, t.target_rows
            )?;
        }
        Ok(())
    }
}

/// The columns of one batch, one vector per column, decoded by [`Kind`].
enum Column {
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
    Bool(Vec<Option<bool>>),
}

struct Batch {
    columns: Vec<Column>,
    rows: usize,
    bytes: usize,
}

impl Batch {
    fn new(table: &Table) -> Batch {
        Batch {
            columns: table
                .columns
                .iter()
                .map(|(_, k)| match k {
                    Int => Column::Int(Vec::new()),
                    Real => Column::Real(Vec::new()),
                    Text => Column::Text(Vec::new()),
                    Bytes => Column::Bytes(Vec::new()),
                    Bool => Column::Bool(Vec::new()),
                })
                .collect(),
            rows: 0,
            bytes: 0,
        }
    }

    fn full(&self, table: &Table) -> bool {
        self.rows >= BATCH_ROWS.min(SQLITE_MAX_BINDS / table.columns.len())
            || self.bytes >= BATCH_BYTES
    }

    fn push_sqlite(&mut self, r: &SqliteRow) -> std::result::Result<(), sqlx::Error> {
        for (i, c) in self.columns.iter_mut().enumerate() {
            match c {
                Column::Int(v) => v.push(r.try_get(i)?),
                Column::Real(v) => v.push(r.try_get(i)?),
                Column::Text(v) => {
                    let s: Option<String> = r.try_get(i)?;
                    self.bytes += s.as_ref().map_or(0, String::len);
                    v.push(s);
                }
                Column::Bytes(v) => {
                    let b: Option<Vec<u8>> = r.try_get(i)?;
                    self.bytes += b.as_ref().map_or(0, Vec::len);
                    v.push(b);
                }
                Column::Bool(v) => v.push(r.try_get::<Option<i64>, _>(i)?.map(|x| x != 0)),
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn push_pg(&mut self, r: &PgRow) -> std::result::Result<(), sqlx::Error> {
        for (i, c) in self.columns.iter_mut().enumerate() {
            match c {
                Column::Int(v) => v.push(r.try_get(i)?),
                Column::Real(v) => v.push(r.try_get(i)?),
                Column::Text(v) => {
                    let s: Option<String> = r.try_get(i)?;
                    self.bytes += s.as_ref().map_or(0, String::len);
                    v.push(s);
                }
                Column::Bytes(v) => {
                    let b: Option<Vec<u8>> = r.try_get(i)?;
                    self.bytes += b.as_ref().map_or(0, Vec::len);
                    v.push(b);
                }
                Column::Bool(v) => v.push(r.try_get(i)?),
            }
        }
        self.rows += 1;
        Ok(())
    }
}

/// The source's snapshot.
enum Reader {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// The target's one transaction.
enum Writer {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Reader {
    async fn begin(store: &Store) -> Result<Reader> {
        Ok(match store {
            Store::Sqlite(s) => Reader::Sqlite(
                s.pool()
                    .begin()
                    .await
                    .doing("starting to read the source")?,
            ),
            Store::Postgres(s) => Reader::Postgres(
                s.pool()
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
                    .doing("starting to read the source")?,
            ),
        })
    }

    async fn count(&mut self, table: &Table) -> Result<i64> {
        let sql = AssertSqlSafe(format!("SELECT count(*) FROM {}", table.name));
        match self {
            Reader::Sqlite(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await,
            Reader::Postgres(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await,
        }
        .doing("counting the source's rows")
    }

    /// Streams `table` into `writer`, batch by batch; returns the rows written.
    async fn copy(&mut self, table: &Table, writer: &mut Writer) -> Result<i64> {
        let mut batch = Batch::new(table);
        let mut written = 0;
        match self {
            Reader::Sqlite(tx) => {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    column_list(table),
                    table.name,
                    table.key
                );
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut **tx);
                while let Some(r) = rows.try_next().await.doing("reading the source")? {
                    batch.push_sqlite(&r).doing("reading the source")?;
                    if batch.full(table) {
                        written += writer.write(table, &batch).await?;
                        batch = Batch::new(table);
                    }
                }
            }
            Reader::Postgres(tx) => {
                // Integers of any width are read as BIGINT.
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .map(|(c, k)| match k {
                        Int => format!("{c}::int8"),
                        _ => (*c).to_string(),
                    })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    columns.join(", "),
                    table.name,
                    table.key
                );
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut **tx);
                while let Some(r) = rows.try_next().await.doing("reading the source")? {
                    batch.push_pg(&r).doing("reading the source")?;
                    if batch.full(table) {
                        written += writer.write(table, &batch).await?;
                        batch = Batch::new(table);
                    }
                }
            }
        }
        if batch.rows > 0 {
            written += writer.write(table, &batch).await?;
        }
        Ok(written)
    }

    async fn end(self) {
        // Read-only: nothing to keep.
        let _ = match self {
            Reader::Sqlite(tx) => tx.rollback().await,
            Reader::Postgres(tx) => tx.rollback().await,
        };
    }
}

impl Writer {
    async fn begin(store: &Store) -> Result<Writer> {
        Ok(match store {
            Store::Sqlite(s) => Writer::Sqlite(
                s.pool()
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .doing("starting to write the target")?,
            ),
            Store::Postgres(s) => Writer::Postgres(
                s.pool()
                    .begin()
                    .await
                    .doing("starting to write the target")?,
            ),
        })
    }

    async fn count(&mut self, table: &Table) -> Result<i64> {
        let sql = AssertSqlSafe(format!("SELECT count(*) FROM {}", table.name));
        match self {
            Writer::Sqlite(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await,
            Writer::Postgres(tx) => sqlx::query_scalar(sql).fetch_one(&mut **tx).await,
        }
        .doing("counting the target's rows")
    }

    async fn write(&mut self, table: &Table, batch: &Batch) -> Result<i64> {
        let done = match self {
            Writer::Sqlite(tx) => {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
                    "INSERT INTO {} ({}) ",
                    table.name,
                    column_list(table)
                ));
                qb.push_values(0..batch.rows, |mut b, i| {
                    for c in &batch.columns {
                        match c {
                            Column::Int(v) => b.push_bind(v[i]),
                            Column::Real(v) => b.push_bind(v[i]),
                            Column::Text(v) => b.push_bind(v[i].clone()),
                            Column::Bytes(v) => b.push_bind(v[i].clone()),
                            Column::Bool(v) => b.push_bind(v[i]),
                        };
                    }
                });
                qb.build()
                    .execute(&mut **tx)
                    .await
                    .map(|d| d.rows_affected())
            }
            Writer::Postgres(tx) => {
                // One array per column; INSERT … SELECT casts BIGINT to the column's width.
                let arrays: Vec<String> = batch
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let ty = match c {
                            Column::Int(_) => "int8",
                            Column::Real(_) => "float8",
                            Column::Text(_) => "text",
                            Column::Bytes(_) => "bytea",
                            Column::Bool(_) => "bool",
                        };
                        format!("${}::{ty}[]", i + 1)
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
                    table.name,
                    column_list(table),
                    arrays.join(", ")
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for c in &batch.columns {
                    q = match c {
                        Column::Int(v) => q.bind(v),
                        Column::Real(v) => q.bind(v),
                        Column::Text(v) => q.bind(v),
                        Column::Bytes(v) => q.bind(v),
                        Column::Bool(v) => q.bind(v),
                    };
                }
                q.execute(&mut **tx).await.map(|d| d.rows_affected())
            }
        }
        .doing("writing to the target")?;
        Ok(done as i64)
    }

    /// What the engine needs after rows were inserted with their own ids.
    async fn finish_table(&mut self, table: &Table) -> Result<()> {
        if let (Writer::Postgres(tx), "outbox") = (&mut *self, table.name) {
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'), coalesce(max(id), 0) + 1, false) FROM outbox",
            )
            .execute(&mut **tx)
            .await
            .doing("moving the outbox's id sequence past the copied ids")?;
        }
        Ok(())
    }

    async fn commit(self) -> Result<()> {
        match self {
            Writer::Sqlite(tx) => tx.commit().await,
            Writer::Postgres(tx) => tx.commit().await,
        }
        .doing("committing the copy")
    }

    async fn rollback(self) {
        let _ = match self {
            Writer::Sqlite(tx) => tx.rollback().await,
            Writer::Postgres(tx) => tx.rollback().await,
        };
    }
}

/// Copies every table of `from` into `to`, which must be empty; see the module's docs.
pub async fn migrate_store(from: &Store, to: &Store) -> Result<MigrationReport> {
    let started = Instant::now();
    let mut writer = Writer::begin(to).await?;
    for t in TABLES {
        let rows = writer.count(t).await?;
        if rows > 0 {
            writer.rollback().await;
            return Err(StoreError::TargetNotEmpty {
                table: t.name,
                rows,
            });
        }
    }
    let mut reader = Reader::begin(from).await?;
    let result = copy_all(&mut reader, &mut writer).await;
    reader.end().await;
    let tables = match result {
        Ok(tables) => tables,
        Err(e) => {
            writer.rollback().await;
            return Err(e);
        }
    };
    writer.commit().await?;
    // The target numbered the records itself: its rate engine's facts are built from them.
    to.rebuild_facts().await?;
    let report = MigrationReport {
        from: from.engine(),
        to: to.engine(),
        tables,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        rows = report.rows(),
        secs = report.elapsed.as_secs_f64(),
        "store copied"
    );
    Ok(report)
}

async fn copy_all(reader: &mut Reader, writer: &mut Writer) -> Result<Vec<TableReport>> {
    let mut tables = Vec::new();
    for t in TABLES {
        let table_started = Instant::now();
        let copied = reader.copy(t, writer).await?;
        writer.finish_table(t).await?;
        let source_rows = reader.count(t).await?;
        let target_rows = writer.count(t).await?;
        if source_rows != target_rows || copied != source_rows {
            return Err(StoreError::CopyMismatch {
                table: t.name,
                source_rows,
                target_rows,
            });
        }
        tracing::info!(
            table = t.name,
            rows = target_rows,
            secs = table_started.elapsed().as_secs_f64(),
            "table copied"
        );
        tables.push(TableReport {
            table: t.name,
            source_rows,
            target_rows,
        });
    }
    Ok(tables)
}

/// The file of a `sqlite:` URL, when it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// `dondoc migrate-store --from URL --to URL`: opens both databases (applying migrations; the
/// target must exist for PostgreSQL, and is created for SQLite), copies, and returns the report
/// as text for the terminal. A SQLite source must exist: a mistyped path is never taken for an
/// empty history.
pub async fn run_migrate_store(from_url: &str, to_url: &str) -> Result<String> {
    let (from_url, to_url) = (from_url.trim(), to_url.trim());
    if from_url == to_url {
        return Err(StoreError::SameDatabase(shown(from_url)));
    }
    if let Some(path) = sqlite_file(from_url)
        && !std::path::Path::new(path).is_file()
    {
        return Err(StoreError::SourceMissing(path.to_string()));
    }
    let from = Store::open(from_url, 2).await?;
    let to = match Store::open(to_url, 2).await {
        Ok(to) => to,
        Err(e) => {
            from.close().await;
            return Err(e);
        }
    };
    let result = migrate_store(&from, &to).await;
    from.close().await;
    to.close().await;
    let report = result?;
    Ok(format!(
        "{report}From: {}\nTo:   {}\n",
        shown(from_url),
        shown(to_url)
    ))
}

fn shown(url: &str) -> String {
    if super::is_postgres_url(url) {
        super::postgres::redact(url)
    } else {
        url.to_string()
    }
}
