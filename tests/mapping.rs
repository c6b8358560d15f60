//! The mapping layer end to end: sync against two vendor-shaped servers over real sockets (each
//! with its own paging style, authentication, date formats, field names and code values; see
//! `vendor/mod.rs`) ends with exactly the rates of a sync from the contract simulator serving the
//! same dossiers; records moved during an offset- or page-numbered read are not lost;
//! `check-source` shows vendor values beside contract fields; mapping keys are validated with
//! their key paths.

mod vendor;

use dondoc::app::App;
use dondoc::config::{Settings, load_from_str};
use dondoc::domain::time::{Clock, ManualClock};
use dondoc::domain::{Period, PeriodKind};
use dondoc::simulator::{SimOptions, SimUnit, Simulator};
use dondoc::sync::run_once;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use vendor::{Dialect, Mover, Vendor};

/// 2024-06-20 10:00 in Asia/Ho_Chi_Minh.
fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-06-20T10:00:00+07:00")
        .unwrap()
        .to_utc()
}

const UNITS: &str = r#"
[[units]]
code = "CITY"
name = "UBND thành phố Thử Nghiệm"
one_stop_codes = ["000.00.23.H50"]
document_codes = ["UBND"]

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

fn sim_units() -> Vec<SimUnit> {
    [
        (vec!["000.00.23.H50"], "UBND"),
        (vec!["000.10.23.H50"], "TNMT"),
        (vec!["000.01.23.H50"], "P1"),
        (vec!["000.02.23.H50", "000.03.23.H50"], "DL"),
    ]
    .into_iter()
    .map(|(os, doc)| SimUnit {
        one_stop_codes: os.into_iter().map(String::from).collect(),
        document_codes: vec![doc.to_string()],
    })
    .collect()
}

struct Sim {
    addr: SocketAddr,
    sim: Arc<Simulator>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_sim(dossiers: usize, documents: usize, clock: Arc<dyn Clock>) -> Sim {
    let mut o = SimOptions::new(7, sim_units());
    o.dossiers = dossiers;
    o.documents = documents;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(o, clock);
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

fn settings(text: &str) -> Settings {
    match load_from_str(text, &HashMap::new(), Path::new(".")) {
        Ok(s) => s,
        Err(problems) => panic!("test config invalid: {problems:#?}"),
    }
}

fn contract_sources(addr: SocketAddr) -> String {
    format!(
        r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}"
page_size = 200
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}"
page_size = 200
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
"#
    )
}

fn config(dir: &Path, db: &str, sources: &str) -> String {
    format!(
        "[database]\nurl = \"sqlite://{}\"\n{sources}\n{UNITS}",
        dir.join(db).display()
    )
}

async fn app(dir: &Path, db: &str, sources: &str, clock: Arc<dyn Clock>) -> App {
    App::build(settings(&config(dir, db, sources)), clock)
        .await
        .unwrap()
}

/// Every (period, unit, metric, scope) → (numerator, denominator), and the data-quality counts.
async fn rates(app: &App) -> Vec<String> {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    let cases = [
        (PeriodKind::Quarter, at("2024-06-20T10:00:00+07:00")),
        (PeriodKind::Year, at("2024-06-20T10:00:00+07:00")),
        (PeriodKind::Month, at("2024-03-31T23:59:59+07:00")),
        (PeriodKind::Quarter, at("2024-02-10T08:00:00+07:00")),
        (PeriodKind::Month, at("2023-11-15T08:00:00+07:00")),
    ];
    let mut out = Vec::new();
    for (kind, as_of) in cases {
        let period = Period::containing(kind, as_of);
        let ev = dondoc::rates::evaluate(&app.store, &app.settings, period, as_of)
            .await
            .unwrap();
        for r in &ev.rows {
            out.push(format!(
                "{} {} {} {:?}: {}/{}",
                r.period, r.unit, r.metric, r.scope, r.numerator, r.denominator
            ));
        }
        out.push(format!(
            "{period} quality: no due {}, unknown procedure {}, unmapped {:?} {:?}",
            ev.quality.no_due_date,
            ev.quality.unknown_procedure,
            ev.quality.unmapped_dossier_codes,
            ev.quality.unmapped_document_codes
        ));
    }
    out
}

/// A second connection to a test database, for looking at what was stored.
async fn pool(dir: &Path, db: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join(db).display()))
        .await
        .unwrap()
}

async fn scalar(pool: &sqlx::SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_vendor_servers_give_exactly_the_rates_of_the_contract_simulator() {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(3000, 800, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let now = t0().timestamp();

    let contract = app(
        dir.path(),
        "contract.db",
        &contract_sources(sim.addr),
        clock.clone(),
    )
    .await;
    let r = run_once(&contract, now).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let want = rates(&contract).await;
    let nonzero = want
        .iter()
        .filter(|l| !l.ends_with("/0") && !l.contains("quality"))
        .count();
    assert!(nonzero > 150, "the data exercise the rates: {nonzero}");

    let dossiers = sim.sim.dossiers_json();
    let documents = sim.sim.documents_json();
    let procedures = sim.sim.procedures_json();
    for dialect in [Dialect::A, Dialect::B] {
        let v = Vendor::new(dialect, &dossiers, &documents, &procedures);
        let (addr, _stop) = v.serve().await;
        let sources = match dialect {
            Dialect::A => vendor::sources_a(addr, 200),
            Dialect::B => vendor::sources_b(addr, 150),
        };
        let db = format!("vendor-{dialect:?}.db");
        let mapped = app(dir.path(), &db, &sources, clock.clone()).await;
        let r = run_once(&mapped, now).await;
        assert!(r.failures().is_empty(), "{dialect:?}: {:?}", r.failures());
        assert_eq!(r.endpoints.len(), 3, "{dialect:?}: thu-tuc, ho-so, van-ban");
        let got = rates(&mapped).await;
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{dialect:?}");
        }
        // The same records stored and set aside as from the contract.
        let (pa, pb) = (
            pool(dir.path(), &db).await,
            pool(dir.path(), "contract.db").await,
        );
        for sql in [
            "SELECT count(*) FROM dossiers",
            "SELECT count(*) FROM dossiers WHERE deleted = 1",
            "SELECT count(*) FROM documents",
            "SELECT count(*) FROM procedures",
            "SELECT count(*) FROM rejected",
            "SELECT coalesce(sum(digitized), 0) FROM dossiers",
        ] {
            assert_eq!(
                scalar(&pa, sql).await,
                scalar(&pb, sql).await,
                "{dialect:?}: {sql}"
            );
        }
        // Every stored dossier is the one the contract stored.
        let dump = "SELECT group_concat(code || ':' || status || ':' || coalesce(due_at, '') || ':' || coalesce(ended_at, '') || ':' || \
                    coalesce(first_apology_at, '') || ':' || coalesce(rating, '') || ':' || paid_online || ':' || fee_total || ':' || updated_at, ',') \
                    FROM (SELECT * FROM dossiers ORDER BY code)";
        let x: String = sqlx::query_scalar(dump).fetch_one(&pa).await.unwrap();
        let y: String = sqlx::query_scalar(dump).fetch_one(&pb).await.unwrap();
        assert!(x == y, "{dialect:?}: the stored dossiers differ");

        // The vendors' own checks: A never refused dondoc; B's session died and dondoc logged
        // in again.
        {
            let st = v.state();
            if dialect == Dialect::A {
                assert_eq!(st.refused, 0);
            } else {
                assert!(
                    st.logins >= 2,
                    "the session died and dondoc logged in again: {} logins",
                    st.logins
                );
                assert!(
                    st.refused >= 1,
                    "a request was refused with 401 before the new login"
                );
            }
        }

        // A second pass is incremental and changes nothing.
        let r = run_once(&mapped, now).await;
        assert!(r.failures().is_empty(), "{dialect:?}: {:?}", r.failures());
        let ho_so = r.endpoints.iter().find(|e| e.endpoint == "ho-so").unwrap();
        assert!(
            ho_so.fetched < 3000 / 4,
            "{dialect:?}: incremental: {ho_so:?}"
        );
        assert_eq!(rates(&mapped).await, want, "{dialect:?}");
        mapped.store.close().await;
    }
    let db_text = std::fs::read(dir.path().join("vendor-A.db")).unwrap();
    let text = String::from_utf8_lossy(&db_text);
    for d in dossiers.iter().take(200) {
        for key in ["ChuHoSo", "SoDienThoai"] {
            if let Some(p) = d[key].as_str().filter(|p| p.len() > 5) {
                assert!(
                    !text.contains(p),
                    "personal data {key} reached the database"
                );
            }
        }
    }
}

/// Keys of every dossier the vendor serves, with their update times.
fn vendor_versions(v: &Vendor) -> HashMap<String, i64> {
    v.state()
        .dossiers
        .iter()
        .map(|r| (r.key.clone(), r.updated))
        .collect()
}

async fn stored_versions(s: &sqlx::SqlitePool) -> HashMap<String, i64> {
    let mut out: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT code, updated_at FROM dossiers")
            .fetch_all(s)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let rejected: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT key, updated_at FROM rejected WHERE kind = 'dossier'")
            .fetch_all(s)
            .await
            .unwrap();
    for (k, t) in rejected {
        out.insert(k, t.unwrap_or(0));
    }
    out
}

#[tokio::test]
async fn records_moved_during_an_offset_or_page_numbered_read_are_not_lost() {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(1500, 100, clock.clone()).await;
    let dossiers = sim.sim.dossiers_json();
    let documents = sim.sim.documents_json();
    let procedures = sim.sim.procedures_json();
    let dir = tempfile::tempdir().unwrap();
    let now = t0().timestamp();
    for dialect in [Dialect::A, Dialect::B] {
        let v = Vendor::new(dialect, &dossiers, &documents, &procedures);
        // The records to move: for A (oldest first), some of the first page, which then jump
        // to the end and shift every later record one place back, onto pages already read.
        // For B (newest first), some of the last pages not yet read, which jump to the first
        // page, already read.
        let mut order: Vec<(i64, String)> = v
            .state()
            .dossiers
            .iter()
            .map(|r| (r.updated, r.key.clone()))
            .collect();
        order.sort();
        let keys: Vec<String> = match dialect {
            Dialect::A => order
                .iter()
                .take(100)
                .step_by(10)
                .map(|x| x.1.clone())
                .collect(),
            Dialect::B => order
                .iter()
                .take(100)
                .step_by(10)
                .map(|x| x.1.clone())
                .collect(),
        };
        v.state().mover = Some(Mover {
            at: match dialect {
                Dialect::A => 400,
                Dialect::B => 4,
            },
            keys: keys.clone(),
            to: now + 1,
            fired: false,
            // Time goes on: the next read begins after the move.
            clock: Some(clock.clone()),
        });
        let (addr, _stop) = v.serve().await;
        let sources = match dialect {
            Dialect::A => vendor::sources_a(addr, 100),
            Dialect::B => vendor::sources_b(addr, 100),
        };
        let mapped = app(
            dir.path(),
            &format!("moving-{dialect:?}.db"),
            &sources,
            clock.clone(),
        )
        .await;
        let r = run_once(&mapped, now).await;
        assert!(r.failures().is_empty(), "{dialect:?}: {:?}", r.failures());

        {
            let st = v.state();
            let m = st.mover.as_ref().unwrap();
            assert!(m.fired, "{dialect:?}: the records moved during the read");
            // The first read did miss some: that is what the check is for.
            let all: std::collections::HashSet<String> =
                st.dossiers.iter().map(|r| r.key.clone()).collect();
            let first_read = &st.reads[0];
            let missed = all.difference(first_read).count();
            assert!(missed > 0, "{dialect:?}: the first read skipped records");
            if dialect == Dialect::B {
                assert!(
                    keys.iter().all(|k| !first_read.contains(k)),
                    "B: the moved records jumped over the read"
                );
            }
            assert!(
                st.reads.len() >= 2,
                "{dialect:?}: the window was read again ({} reads)",
                st.reads.len()
            );
        }

        // After the pass: every record, each in its newest version.
        let want = vendor_versions(&v);
        let got = stored_versions(&pool(dir.path(), &format!("moving-{dialect:?}.db")).await).await;
        let lost: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        assert!(
            lost.is_empty(),
            "{dialect:?}: {} lost: {lost:?}",
            lost.len()
        );
        for k in &keys {
            assert!(want[k] > now, "{dialect:?}: {k} moved");
            assert_eq!(got[k], want[k], "{dialect:?}: {k} in its new version");
        }
        // The mark moved only after a settled read, to the newest update seen.
        let state = mapped
            .store
            .sync_state("motcua", "ho-so")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.mark, want.values().max().copied(), "{dialect:?}");
        mapped.store.close().await;
    }
}

fn dondoc_cmd(config: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DONDOC") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.arg("--config").arg(config);
    c
}

#[tokio::test]
async fn check_source_shows_vendor_values_beside_contract_fields_and_every_rejection() {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(300, 50, clock.clone()).await;
    let mut dossiers = sim.sim.dossiers_json();
    // Two records the mapping cannot read, on the first page (the oldest first).
    let oldest = |ds: &[Value]| {
        let mut v: Vec<(String, String)> = ds
            .iter()
            .map(|d| {
                (
                    d["NgayCapNhat"].as_str().unwrap_or("").to_string(),
                    d["MaHoSo"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let order = oldest(&dossiers);
    let (bad_status, bad_date) = (order[0].1.clone(), order[1].1.clone());
    let v = Vendor::new(
        Dialect::A,
        &dossiers,
        &sim.sim.documents_json(),
        &sim.sim.procedures_json(),
    );
    {
        let mut st = v.state();
        for r in st.dossiers.iter_mut() {
            if r.key == bad_status {
                r.value["trangThai"] = "Đang chờ".into();
            }
            if r.key == bad_date {
                r.value["ngayHenTra"] = "31/02/2024 17:00:00".into();
            }
        }
    }
    dossiers.clear();
    let (addr, _stop) = v.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("dondoc.toml");
    std::fs::write(
        &config_file,
        config(dir.path(), "check.db", &vendor::sources_a(addr, 50)),
    )
    .unwrap();

    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args(["check-source", "motcua", "--records", "2"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The page requested, in the vendor's own terms.
    assert!(stdout.contains("dossiers: GET http://"), "{stdout}");
    assert!(
        stdout.contains("/api/v2/ho-so/danh-sach?limit=50&offset=0"),
        "{stdout}"
    );
    // Vendor values beside the contract fields they became.
    let status_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("TrangThaiHoSo") && l.contains("/trangThai"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        status_line.contains("\"Đang chờ\"") && status_line.contains("✗"),
        "{status_line}"
    );
    let received = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("NgayTiepNhan") && l.contains("/ngayNhan"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        received.contains("→ 20") && received.contains("+07:00"),
        "{received}"
    );
    assert!(
        stdout.contains("DanhSachLePhi[0].Gia") || stdout.contains("DanhSachLePhi"),
        "{stdout}"
    );
    // Every rejection of the page, naming the vendor field.
    assert!(stdout.contains("rejections: 2 of 50"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{bad_status}: /trangThai (→ TrangThaiHoSo) = 'Đang chờ' is not in the value map"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{bad_date}: /ngayHenTra (→ NgayHenTra) = '31/02/2024 17:00:00' is not a date dd/MM/yyyy HH:mm:ss"
        )),
        "{stdout}"
    );
    // The catalogue is checked too; no personal value is printed.
    assert!(stdout.contains("procedures: GET"), "{stdout}");
    for d in sim.sim.dossiers_json().iter().take(50) {
        if let Some(p) = d["SoDienThoai"].as_str().filter(|p| p.len() > 5) {
            assert!(!stdout.contains(p), "a phone number was printed");
        }
    }
    // A documents source shows its list.
    let config_file = dir.path().join("dondoc.toml");
    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args(["check-source", "qlvb", "--records", "1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("documents: GET") && stdout.contains("LoaiVanBan"),
        "{stdout}"
    );
    assert!(stdout.contains("rejections: 0 of "), "{stdout}");
    // Nothing was stored.
    assert!(
        !dir.path().join("check.db").exists(),
        "check-source opens no database"
    );
}

#[tokio::test]
async fn refused_credentials_stop_the_source_with_a_message_naming_the_keys() {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(50, 10, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    for dialect in [Dialect::A, Dialect::B] {
        let v = Vendor::new(
            dialect,
            &sim.sim.dossiers_json(),
            &sim.sim.documents_json(),
            &sim.sim.procedures_json(),
        );
        let (addr, _stop) = v.serve().await;
        let sources = match dialect {
            Dialect::A => vendor::sources_a(addr, 50).replace(vendor::PASSWORD_A, "sai"),
            Dialect::B => vendor::sources_b(addr, 50).replace(vendor::PASSWORD_B, "sai"),
        };
        let a = app(
            dir.path(),
            &format!("refused-{dialect:?}.db"),
            &sources,
            clock.clone(),
        )
        .await;
        let r = run_once(&a, t0().timestamp()).await;
        let failures = r.failures();
        assert_eq!(failures.len(), 2, "{dialect:?}: {failures:?}");
        let msg = failures[0].1;
        assert!(msg.contains("answered 401"), "{msg}");
        assert!(msg.contains("sources.motcua.auth.username"), "{msg}");
        assert!(
            msg.contains("DONDOC__SOURCES__MOTCUA__AUTH__PASSWORD"),
            "{msg}"
        );
        assert!(!msg.contains("sai"), "the password is never shown: {msg}");
        a.store.close().await;
    }
}

#[test]
fn mapping_keys_are_validated_with_their_key_paths_and_lines() {
    let text = format!(
        r#"
[sources.motcua]
kind = "one_stop"
base_url = "https://motcua.example.gov.vn/api"

[sources.motcua.auth]
style = "login"
username = "dondoc"

[sources.motcua.paging]
style = "offset"
total = "result/total"
updated_since_format = "dd/MM/yy"
limitt = "x"

[sources.motcua.dossiers]
records = "/data"
[sources.motcua.dossiers.fields]
MaHoSo = "soHoSo"
ChuHoSo = "/hoTen"
TrangThaiHoSo = {{ from = "/tt", map = {{ "Xong" = 12 }}, fromat = "x" }}
NgayTiepNhan = {{ from = "/n", format = "dd-MM-yyyy hh:mm" }}

[sources.motcua.documents]
path = "van-ban"

[sources.excel]
kind = "import"
base_url = "http://x"

[sources.excel.dossiers]
path = "ho-so"
[sources.excel.dossiers.fields]
DanhSachLePhi = {{ from = "Phí", fields = {{ Gia = "Số tiền" }} }}
{UNITS}"#
    );
    let problems = load_from_str(&text, &HashMap::new(), Path::new(".")).unwrap_err();
    let find = |path: &str| {
        problems
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {problems:#?}"))
    };
    assert!(
        find("sources.motcua.auth.password")
            .message
            .contains("DONDOC__SOURCES__MOTCUA__AUTH__PASSWORD")
    );
    assert!(
        find("sources.motcua.auth.login_path")
            .message
            .contains("required")
    );
    assert!(
        find("sources.motcua.paging.total")
            .message
            .contains("JSON pointer")
    );
    assert!(
        find("sources.motcua.paging.updated_since_format")
            .message
            .contains("yy")
    );
    assert!(
        find("sources.motcua.paging.limitt")
            .message
            .contains("unknown key")
    );
    assert!(
        find("sources.motcua.dossiers.fields.MaHoSo")
            .message
            .contains("JSON pointer")
    );
    assert!(
        find("sources.motcua.dossiers.fields.ChuHoSo")
            .message
            .contains("personal data")
    );
    assert!(
        find("sources.motcua.dossiers.fields.TrangThaiHoSo.map.Xong")
            .message
            .contains("1..10")
    );
    assert!(
        find("sources.motcua.dossiers.fields.TrangThaiHoSo.fromat")
            .message
            .contains("unknown key")
    );
    assert!(
        find("sources.motcua.dossiers.fields.NgayTiepNhan.format")
            .message
            .contains("'hh'")
    );
    assert!(
        find("sources.motcua.documents")
            .message
            .contains("one_stop")
    );
    assert!(find("sources.excel.folder").message.contains("required"));
    assert!(
        find("sources.excel.base_url")
            .message
            .contains("remove base_url")
    );
    assert!(
        find("sources.excel.dossiers.path")
            .message
            .contains("HTTP source")
    );
    assert!(
        find("sources.excel.dossiers.fields.DanhSachLePhi.from")
            .message
            .contains("nested")
    );
    // Lines point into the file.
    let line = find("sources.motcua.dossiers.fields.ChuHoSo").line.unwrap();
    assert_eq!(
        text.lines().nth(line - 1).unwrap().trim(),
        "ChuHoSo = \"/hoTen\""
    );
    let line = find("sources.motcua.paging.total").line.unwrap();
    assert!(text.lines().nth(line - 1).unwrap().starts_with("total"));
}

/// The cost of a mapping, for the record (`cargo test --release --test mapping -- --ignored
/// --nocapture timing`): a full sync of 20 000 dossiers from the contract simulator and from
/// each vendor server, and the parsing alone, per record, of the contract path and of a mapping.
#[tokio::test]
#[ignore]
async fn timing_of_a_mapped_source_against_the_contract_path() {
    use dondoc::upstream::mapping::ListPlan;
    use dondoc::upstream::records::RecordKind;
    use std::time::Instant;
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(20_000, 5_000, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let now = t0().timestamp();
    let dossiers = sim.sim.dossiers_json();

    // Parsing alone.
    let contract_raw: Vec<String> = dossiers.iter().map(|d| d.to_string()).collect();
    let vendor_raw: Vec<String> = dossiers
        .iter()
        .map(|d| vendor::dossier_a(d).to_string())
        .collect();
    let settings = settings(&config(
        dir.path(),
        "x.db",
        &vendor::sources_a("127.0.0.1:1".parse().unwrap(), 500),
    ));
    let plan = ListPlan::of_source(RecordKind::Dossier, &settings.sources["motcua"]).unwrap();
    for round in 0..2 {
        let t = Instant::now();
        let mut ok = 0;
        for r in &contract_raw {
            let raw = serde_json::value::RawValue::from_string(r.clone()).unwrap();
            ok += dondoc::upstream::records::parse_dossier(&raw).is_ok() as usize;
        }
        let contract = t.elapsed();
        let t = Instant::now();
        let mut ok2 = 0;
        for r in &vendor_raw {
            let v: Value = serde_json::from_str(r).unwrap();
            ok2 += plan.parse_dossier(&v).is_ok() as usize;
        }
        let mapped = t.elapsed();
        assert_eq!(ok, ok2);
        if round == 1 {
            eprintln!(
                "parse {} dossiers: contract {:?} ({:.1} µs each), mapped {:?} ({:.1} µs each)",
                dossiers.len(),
                contract,
                contract.as_secs_f64() * 1e6 / dossiers.len() as f64,
                mapped,
                mapped.as_secs_f64() * 1e6 / dossiers.len() as f64
            );
        }
    }

    // Whole syncs (the servers' own work included).
    let t = Instant::now();
    let contract = app(
        dir.path(),
        "c.db",
        &contract_sources(sim.addr).replace("page_size = 200", "page_size = 500"),
        clock.clone(),
    )
    .await;
    let r = run_once(&contract, now).await;
    assert!(r.failures().is_empty());
    let ho_so = r.endpoints.iter().find(|e| e.endpoint == "ho-so").unwrap();
    eprintln!(
        "sync from the contract simulator: {:?} (ho-so {} ms, {} pages, {} fetched)",
        t.elapsed(),
        ho_so.duration_ms,
        ho_so.pages,
        ho_so.fetched
    );
    let documents = sim.sim.documents_json();
    let procedures = sim.sim.procedures_json();
    for dialect in [Dialect::A, Dialect::B] {
        let v = Vendor::new(dialect, &dossiers, &documents, &procedures);
        let (addr, _stop) = v.serve().await;
        let sources = match dialect {
            Dialect::A => vendor::sources_a(addr, 500),
            Dialect::B => vendor::sources_b(addr, 500),
        };
        let t = Instant::now();
        let mapped = app(
            dir.path(),
            &format!("{dialect:?}.db"),
            &sources,
            clock.clone(),
        )
        .await;
        let r = run_once(&mapped, now).await;
        assert!(r.failures().is_empty());
        let ho_so = r.endpoints.iter().find(|e| e.endpoint == "ho-so").unwrap();
        eprintln!(
            "sync from vendor {dialect:?}: {:?} (ho-so {} ms, {} pages, {} fetched)",
            t.elapsed(),
            ho_so.duration_ms,
            ho_so.pages,
            ho_so.fetched
        );
    }
}
