//! Helpers shared by the integration tests: a simulator on a loopback port, a configuration
//! pointing at it, an application on a fresh SQLite file, and dumps of what was stored.
#![allow(dead_code)]

use dondoc::app::App;
use dondoc::clock::{Clock, ManualClock};
use dondoc::config::{Settings, load_from_str};
use dondoc::upstream::simulator::{SimOptions, SimUnit, Simulator};
use sqlx::Row;
use std::collections::HashMap;
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

/// Every stored dossier and document, one line each, sorted: two databases hold the same data
/// exactly when their dumps are equal.
pub async fn dump(db_url: &str) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
    let mut out = Vec::new();
    let rows = sqlx::query(
        "SELECT source, code, procedure_code, coalesce(field_code, ''), unit_code, coalesce(channel, -1), status,
                coalesce(received_at, -1), coalesce(appointed_at, -1), coalesce(due_at, -1), coalesce(ended_at, -1),
                coalesce(returned_at, -1), paid_online, fee_total, digitized, coalesce(first_apology_at, -1),
                coalesce(rating, -1), coalesce(rated_at, -1), updated_at, deleted
         FROM dossiers ORDER BY source, code",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for r in rows {
        let mut parts = Vec::new();
        for i in 0..20 {
            let v: String = match r.try_get::<i64, _>(i) {
                Ok(n) => n.to_string(),
                Err(_) => match r.try_get::<f64, _>(i) {
                    Ok(f) => f.to_string(),
                    Err(_) => r.try_get::<String, _>(i).unwrap(),
                },
            };
            parts.push(v);
        }
        out.push(format!("D|{}", parts.join("|")));
    }
    let rows = sqlx::query(
        "SELECT source || '|' || code || '|' || unit_code || '|' || coalesce(direction, '') || '|' ||
                coalesce(arrived_at, -1) || '|' || coalesce(issued_at, -1) || '|' || processed_online || '|' ||
                signed || '|' || updated_at || '|' || deleted FROM documents ORDER BY source, code",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for r in rows {
        out.push(format!("V|{}", r.get::<String, _>(0)));
    }
    let rows = sqlx::query(
        "SELECT source || '|' || kind || '|' || key || '|' || reason FROM rejected ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for r in rows {
        out.push(format!("R|{}", r.get::<String, _>(0)));
    }
    let rows = sqlx::query(
        "SELECT source || '|' || code || '|' || coalesce(level, -1) FROM procedures ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for r in rows {
        out.push(format!("P|{}", r.get::<String, _>(0)));
    }
    pool.close().await;
    out
}

/// One scalar from the database.
pub async fn scalar(db_url: &str, sql: &'static str) -> i64 {
    let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}
pub mod smtp;
