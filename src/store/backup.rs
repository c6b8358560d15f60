//! `dondoc backup`: a consistent copy of the SQLite database, safe while the daemon writes.
//!
//! `VACUUM INTO` reads the database inside one read transaction: the copy is the snapshot of one
//! instant (every write transaction wholly in it or wholly out), and in WAL mode the daemon's
//! writers go on meanwhile. The copy is written beside its destination as `FILE.partial`, checked
//! (`PRAGMA integrity_check`, every table counted), flushed to disk and only then renamed to
//! `FILE`, so that a file with the final name is always a whole, checked database.
//!
//! Never writes to the live database (no migration, no journal-mode change, no file created when
//! the database is missing) and never overwrites an existing file. PostgreSQL is backed up with
//! its own tools (`pg_dump`), which this module only names.

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "database.url is a PostgreSQL database: back it up with PostgreSQL's own tool, e.g. \
         `pg_dump -Fc -d '{url}' -f dondoc-$(date +%F).dump` (restore with `pg_restore --clean -d …`); \
         see deploy/README.md"
    )]
    Postgres { url: String },
    #[error("database.url '{0}' is not a sqlite:// or postgres:// URL")]
    Unsupported(String),
    #[error("there is no database at {0}: nothing to back up. Check database.url")]
    Missing(PathBuf),
    #[error("{0} already exists: a backup never overwrites a file; give a new name with --out")]
    Exists(PathBuf),
    #[error("the backup file name {0} is not valid UTF-8: choose another --out")]
    NotUtf8(PathBuf),
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error(
        "copying the database into {path} failed: {source}. Nothing was left under the final name"
    )]
    Copy { path: PathBuf, source: sqlx::Error },
    #[error("the copy {path} fails SQLite's integrity check ({detail}); it was removed")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{doing} {path} failed: {source}")]
    File {
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A checked backup: where it is, its size, and each table's row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Every table of the copy, by name, with its number of rows.
    pub tables: Vec<(String, i64)>,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {:.1} MiB, integrity ok",
            self.path.display(),
            self.bytes as f64 / 1_048_576.0
        )?;
        let w = self.tables.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        for (t, n) in &self.tables {
            writeln!(f, "  {t:<w$}  {n:>10}")?;
        }
        Ok(())
    }
}

/// The file path of a `sqlite://` or `sqlite:` URL (none for an in-memory database).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

fn partial_of(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Copies the database of `url` into `out` (which must not exist), checks the copy and reports it.
pub async fn backup(url: &str, out: &Path) -> Result<BackupReport, BackupError> {
    if super::is_postgres_url(url) {
        return Err(BackupError::Postgres {
            url: super::postgres::redact(url),
        });
    }
    let Some(db) = sqlite_path(url) else {
        return Err(BackupError::Unsupported(url.to_string()));
    };
    if !db.exists() {
        return Err(BackupError::Missing(db));
    }
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let partial = partial_of(out);
    let Some(partial_str) = partial.to_str() else {
        return Err(BackupError::NotUtf8(out.to_path_buf()));
    };
    if partial.exists() {
        // Left by an interrupted backup.
        std::fs::remove_file(&partial).map_err(|source| BackupError::File {
            doing: "removing the unfinished copy",
            path: partial.clone(),
            source,
        })?;
    }

    let options = SqliteConnectOptions::from_str(url)
        .map_err(|source| BackupError::Open {
            url: url.to_string(),
            source,
        })?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
    let mut conn = options
        .connect()
        .await
        .map_err(|source| BackupError::Open {
            url: url.to_string(),
            source,
        })?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(partial_str)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    if let Err(source) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Copy {
            path: out.to_path_buf(),
            source,
        });
    }

    let tables = match inspect(&partial).await {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let file = |doing: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::File {
            doing,
            path,
            source,
        }
    };
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(file("flushing", &partial))?;
    std::fs::rename(&partial, out).map_err(file("naming the copy", out))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the folder is flushed.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    let bytes = std::fs::metadata(out)
        .map_err(file("reading the size of", out))?
        .len();
    Ok(BackupReport {
        path: out.to_path_buf(),
        bytes,
        tables,
    })
}

/// Opens a database file read-only, runs SQLite's integrity check, and counts every table's
/// rows (tables in name order). Used on each copy before it is named, and by tests.
pub async fn inspect(path: &Path) -> Result<Vec<(String, i64)>, BackupError> {
    let open_err = |source| BackupError::Open {
        url: path.display().to_string(),
        source,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
        .connect()
        .await
        .map_err(open_err)?;
    let corrupt = |detail: String| BackupError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| corrupt(e.to_string()))?;
    if lines != ["ok"] {
        return Err(corrupt(lines.join("; ")));
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| corrupt(e.to_string()))?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = sqlx::query(AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| corrupt(format!("counting {name}: {e}")))?;
        tables.push((name, n));
    }
    let _ = conn.close().await;
    Ok(tables)
}
