//! Helpers shared by the integration tests: a simulator on a loopback port, a configuration
//! pointing at it, an application on a fresh database of either backend, and dumps of what was
//! stored.
//!
//! Backends: every store and end-to-end test runs once per backend ([`for_each_backend!`]): on
//! a fresh SQLite file always, and on a fresh PostgreSQL database when [`PG_ENV`] names an admin
//! URL (`postgres://postgres@127.0.0.1:5432/postgres`): each test creates its own database
//! `dondoc_test_…` there and drops it at the end (it is kept, and named, when the test fails).
//! Without the variable the PostgreSQL half reports itself skipped, on the terminal.
#![allow(dead_code, unused_macros, unused_imports)]

use dondoc::app::App;
use dondoc::config::{Settings, load_from_str};
use dondoc::domain::time::{Clock, ManualClock};
use dondoc::simulator::{SimOptions, SimUnit, Simulator};
use sqlx::Row;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// 2024-06-20 10:00 in Asia/Ho_Chi_Minh: late in Q2, so that a quarter has a history.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-06-20T10:00:00+07:00")
        .unwrap()
        .to_utc()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

/// The units of the test city: a root and four units below it, two of them wards of one agency.
pub const UNITS: &str = r#"
[[units]]
code = "CITY"
name = "UBND thành phố Thử Nghiệm"
one_stop_codes = ["000.00.23.H50"]
document_codes = ["UBND"]
emails = ["vanphong@city.example.gov.vn"]

[[units]]
code = "PHONG_TNMT"
name = "Phòng Tài nguyên và Môi trường"
parent = "CITY"
one_stop_codes = ["000.10.23.H50"]
document_codes = ["TNMT"]

[[units]]
code = "PHUONG_1"
name = "UBND Phường 1"
parent = "CITY"
one_stop_codes = ["000.01.23.H50"]
document_codes = ["P1"]

[[units]]
code = "PHUONG_DONG_LE"
name = "UBND Phường Đông Lễ"
parent = "CITY"
one_stop_codes = ["000.02.23.H50", "000.03.23.H50"]
document_codes = ["DL"]

[field_groups]
land = ["G09-DD", "G09-XD", "G09-DT"]

[[scoped_targets]]
metric = "satisfaction_rate"
scope = "land"
min = 85.0
"#;

/// Simulator units matching [`UNITS`].
pub fn sim_units() -> Vec<SimUnit> {
    vec![
        SimUnit {
            one_stop_codes: vec!["000.00.23.H50".into()],
            document_codes: vec!["UBND".into()],
        },
        SimUnit {
            one_stop_codes: vec!["000.10.23.H50".into()],
            document_codes: vec!["TNMT".into()],
        },
        SimUnit {
            one_stop_codes: vec!["000.01.23.H50".into()],
            document_codes: vec!["P1".into()],
        },
        SimUnit {
            one_stop_codes: vec!["000.02.23.H50".into(), "000.03.23.H50".into()],
            document_codes: vec!["DL".into()],
        },
    ]
}

pub fn sim_options(dossiers: usize, documents: usize) -> SimOptions {
    let mut o = SimOptions::new(7, sim_units());
    o.dossiers = dossiers;
    o.documents = documents;
    o
}

/// A running simulator; it stops when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    pub sim: Arc<Simulator>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start_sim(options: SimOptions, clock: Arc<dyn Clock>) -> Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(options, clock);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        let _ = server
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await;
    });
    Sim {
        addr,
        sim,
        _stop: tx,
    }
}

/// A configuration with both sources on `addr` (fast retries for tests) and the test units.
pub fn config_text(addr: SocketAddr, db_url: &str, source_extra: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"

[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}"
page_size = 200
timeout_secs = 5
connect_timeout_secs = 2
backoff_initial_ms = 5
backoff_max_secs = 1
retry_after_max_secs = 1
max_attempts = 8
{source_extra}

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}"
page_size = 200
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
retry_after_max_secs = 1
max_attempts = 8
{source_extra}
{UNITS}
"#
    )
}

pub fn settings(text: &str) -> Settings {
    match load_from_str(text, &HashMap::new(), Path::new(".")) {
        Ok(s) => s,
        Err(problems) => panic!("test config invalid: {problems:#?}"),
    }
}

pub fn db_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

pub async fn app(addr: SocketAddr, dir: &Path, name: &str, clock: Arc<dyn Clock>) -> App {
    let s = settings(&config_text(addr, &db_url(dir, name), ""));
    App::build(s, clock).await.unwrap()
}

pub fn now(clock: &dyn Clock) -> i64 {
    clock.now().timestamp()
}

/// The environment variable naming a PostgreSQL server for the tests: an admin URL, whose role
/// may create databases.
pub const PG_ENV: &str = "DONDOC_TEST_POSTGRES_URL";
/// What to set it to on a machine whose PostgreSQL trusts local connections.
pub const PG_EXAMPLE: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test PostgreSQL server, when one is given.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|u| !u.trim().is_empty())
}

/// Every backend that this run tests: SQLite always, PostgreSQL when [`PG_ENV`] is set.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        b.push(Backend::Postgres);
    }
    b
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!` of passing
/// tests, and a skip must be seen.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Whether the PostgreSQL half of a test runs; when it cannot, says so once per test binary.
pub fn postgres_or_skip() -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    if postgres_admin_url().is_some() {
        return true;
    }
    SAID.call_once(|| {
        say(&format!(
            "SKIPPED (PostgreSQL): the ::postgres tests of this file ran nothing; set {PG_ENV}={PG_EXAMPLE} to run them"
        ))
    });
    false
}

/// Runs each named `async fn name(b: Backend)` once per backend, as the tests `name::sqlite` and
/// `name::postgres` (which passes, saying SKIPPED, when no PostgreSQL server is given).
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::common::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                if super::common::postgres_or_skip() {
                    super::$name(super::common::Backend::Postgres).await
                }
            }
        }
    )*};
}
pub(crate) use for_each_backend;

/// The test that tells, in every test binary that runs on both backends, whether PostgreSQL is
/// tested: it checks that the given server answers, or says SKIPPED and how to run it.
macro_rules! postgres_notice {
    () => {
        #[tokio::test]
        async fn postgres_tests_run_only_when_dondoc_test_postgres_url_is_set() {
            common::check_postgres_notice().await
        }
    };
}
pub(crate) use postgres_notice;

pub async fn check_postgres_notice() {
    match postgres_admin_url() {
        None => {
            postgres_or_skip();
        }
        Some(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{PG_ENV} is set but its server does not answer: {e}"));
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut c)
                .await
                .unwrap();
            let _ = c.close().await;
            say(&format!(
                "PostgreSQL {v}: the ::postgres tests of this file run against it"
            ));
        }
    }
}

/// A fresh, empty database of one backend; gone when dropped (a PostgreSQL database is kept
/// when its test failed, for a look, and its name printed).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.backend, self.url)
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDb {
                    backend,
                    url: db_url(dir.path(), "dondoc.db"),
                    dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url()
                    .unwrap_or_else(|| panic!("a PostgreSQL test needs {PG_ENV}"));
                let name = unique_name();
                {
                    use sqlx::Connection;
                    let mut c = sqlx::PgConnection::connect(&admin)
                        .await
                        .unwrap_or_else(|e| panic!("cannot reach {PG_ENV}={admin}: {e}"));
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                        .execute(&mut c)
                        .await
                        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
                    let _ = c.close().await;
                }
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                TestDb {
                    backend,
                    url: url.to_string(),
                    dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// The folder of a SQLite database (for other files a test needs).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The file of a SQLite database.
    pub fn file(&self) -> Option<std::path::PathBuf> {
        self.dir().map(|d| d.join("dondoc.db"))
    }

    /// An application on this database, its sources on the simulator at `addr`.
    pub async fn app(&self, addr: SocketAddr, clock: Arc<dyn Clock>) -> App {
        let s = settings(&config_text(addr, &self.url, ""));
        App::build(s, clock).await.unwrap()
    }
}

fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dondoc_test_{}_{n}_{nanos:09}", std::process::id())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        if std::thread::panicking() {
            say(&format!(
                "kept the PostgreSQL database {name} of the failed test"
            ));
            return;
        }
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// A connection to either engine, for the tests' own reads.
pub enum Conn {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Conn {
    pub async fn open(db_url: &str) -> Conn {
        if db_url.starts_with("postgres") {
            Conn::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(db_url)
                    .await
                    .unwrap(),
            )
        } else {
            Conn::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(db_url)
                    .await
                    .unwrap(),
            )
        }
    }

    pub async fn close(self) {
        match self {
            Conn::Sqlite(p) => p.close().await,
            Conn::Postgres(p) => p.close().await,
        }
    }

    /// One integer (SQL that both engines read alike).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Conn::Sqlite(p) => sqlx::query_scalar(q).fetch_one(p).await,
            Conn::Postgres(p) => sqlx::query_scalar(q).fetch_one(p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One text column.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Conn::Sqlite(p) => sqlx::query_scalar(q).fetch_all(p).await,
            Conn::Postgres(p) => sqlx::query_scalar(q).fetch_all(p).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Each row of `table` as one line, the columns rendered alike on both engines (integers
    /// and flags as integers, NULL as [`NULL`], distinct from '' and from every number), sorted.
    pub async fn lines(&self, table: &str, columns: &[(&str, Kind)]) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Conn::Sqlite(p) => {
                let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
                let sql = format!("SELECT {} FROM {table}", names.join(", "));
                for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
                    .unwrap()
                {
                    let mut parts = Vec::new();
                    for (i, (_, k)) in columns.iter().enumerate() {
                        parts.push(match k {
                            Kind::Int | Kind::Bool => r
                                .get::<Option<i64>, _>(i)
                                .map_or(NULL.to_string(), |v| v.to_string()),
                            Kind::Real => r
                                .get::<Option<f64>, _>(i)
                                .map_or(NULL.to_string(), |v| v.to_string()),
                            Kind::Text => {
                                r.get::<Option<String>, _>(i).unwrap_or_else(|| NULL.into())
                            }
                            Kind::Bytes => format!("{:?}", r.get::<Option<Vec<u8>>, _>(i)),
                        });
                    }
                    out.push(parts.join("|"));
                }
            }
            Conn::Postgres(p) => {
                let names: Vec<String> = columns
                    .iter()
                    .map(|(c, k)| match k {
                        Kind::Int => format!("{c}::int8"),
                        Kind::Bool => format!("{c}::int4::int8"),
                        _ => c.to_string(),
                    })
                    .collect();
                let sql = format!("SELECT {} FROM {table}", names.join(", "));
                for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
                    .unwrap()
                {
                    let mut parts = Vec::new();
                    for (i, (_, k)) in columns.iter().enumerate() {
                        parts.push(match k {
                            Kind::Int | Kind::Bool => r
                                .get::<Option<i64>, _>(i)
                                .map_or(NULL.to_string(), |v| v.to_string()),
                            Kind::Real => r
                                .get::<Option<f64>, _>(i)
                                .map_or(NULL.to_string(), |v| v.to_string()),
                            Kind::Text => {
                                r.get::<Option<String>, _>(i).unwrap_or_else(|| NULL.into())
                            }
                            Kind::Bytes => format!("{:?}", r.get::<Option<Vec<u8>>, _>(i)),
                        });
                    }
                    out.push(parts.join("|"));
                }
            }
        }
        out.sort();
        out
    }
}

pub use dondoc::store::copy::Kind;

/// How [`Conn::lines`] shows NULL.
pub const NULL: &str = "∅";

/// The columns of `table` as the copy knows them (every column of the schema).
pub fn all_columns(table: &str) -> Vec<(&'static str, Kind)> {
    dondoc::store::copy::TABLES
        .iter()
        .find(|t| t.name == table)
        .unwrap_or_else(|| panic!("no table {table}"))
        .columns
        .to_vec()
}

/// Every stored dossier and document, the rejections and the catalogue, one line each, sorted:
/// two databases (of either engine) hold the same data exactly when their dumps are equal.
pub async fn dump(db_url: &str) -> Vec<String> {
    let c = Conn::open(db_url).await;
    let mut out = Vec::new();
    for (prefix, table, columns) in [
        ("D", "dossiers", all_columns("dossiers")),
        ("V", "documents", all_columns("documents")),
        (
            "R",
            "rejected",
            vec![
                ("source", Kind::Text),
                ("kind", Kind::Text),
                ("key", Kind::Text),
                ("reason", Kind::Text),
            ],
        ),
        (
            "P",
            "procedures",
            vec![
                ("source", Kind::Text),
                ("code", Kind::Text),
                ("level", Kind::Int),
            ],
        ),
    ] {
        for line in c.lines(table, &columns).await {
            out.push(format!("{prefix}|{line}"));
        }
    }
    c.close().await;
    out
}

/// Every row of every table of the schema (outbox and job runs included), one line each.
pub async fn dump_all(db_url: &str) -> Vec<String> {
    let c = Conn::open(db_url).await;
    let mut out = Vec::new();
    for t in dondoc::store::copy::TABLES {
        for line in c.lines(t.name, t.columns).await {
            out.push(format!("{}|{line}", t.name));
        }
    }
    c.close().await;
    out
}

/// One integer from the database, in SQL that both engines read alike (flags compare with
/// `TRUE`/`FALSE`).
pub async fn scalar(db_url: &str, sql: &str) -> i64 {
    let c = Conn::open(db_url).await;
    let v = c.scalar(sql).await;
    c.close().await;
    v
}

/// One text column from the database.
pub async fn strings(db_url: &str, sql: &str) -> Vec<String> {
    let c = Conn::open(db_url).await;
    let v = c.strings(sql).await;
    c.close().await;
    v
}
pub mod smtp;
pub mod upstream;
