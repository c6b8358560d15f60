//! Sync against the simulator over a real socket: full and incremental passes, faults, a pass
//! killed midway, invalid records, personal data, refused tokens.

mod common;

use common::*;
use dondoc::app::App;
use dondoc::simulator::Faults;
use dondoc::sync::run_once;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

postgres_notice!();
for_each_backend!(
    a_first_full_sync_stores_every_record_and_marks_its_position,
    an_incremental_sync_fetches_only_what_changed,
    faults_are_retried_and_end_with_the_data_of_a_fault_free_run,
    a_source_that_times_out_keeps_its_mark_records_the_failure_and_recovers,
    a_sync_killed_midway_and_restarted_ends_with_the_same_database,
    invalid_records_are_set_aside_with_reasons_and_cleared_by_a_valid_version,
    no_personal_field_reaches_the_database_file,
    a_refused_token_stops_that_source_at_once_and_the_others_continue,
    a_deleted_dossier_leaves_the_metrics_and_an_old_copy_cannot_bring_it_back,
);

fn valid_keys(records: &[Value], key: &str) -> usize {
    records.iter().filter(|r| r.get(key).is_some()).count()
}

async fn a_first_full_sync_stores_every_record_and_marks_its_position(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(3000, 800), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;

    let report = run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    let dossiers = sim.sim.dossiers_json();
    let documents = sim.sim.documents_json();
    let url = db.url.clone();
    let stored = scalar(&url, "SELECT count(*) FROM dossiers").await as usize;
    let rejected =
        scalar(&url, "SELECT count(*) FROM rejected WHERE kind = 'dossier'").await as usize;
    assert_eq!(
        stored + rejected,
        dossiers.len(),
        "every dossier stored or set aside"
    );
    assert_eq!(rejected, 0, "no invalid records were asked for");
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM documents").await as usize,
        documents.len()
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM procedures").await as usize,
        sim.sim.procedures_json().len()
    );
    assert_eq!(valid_keys(&dossiers, "MaHoSo"), dossiers.len());

    // The mark is the newest NgayCapNhat served.
    let newest = dossiers
        .iter()
        .filter_map(|d| d["NgayCapNhat"].as_str())
        .max()
        .map(|s| dondoc::domain::time::parse_compact(s).unwrap().unwrap());
    let state = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.mark, newest);
    assert_eq!(state.consecutive_failures, 0);
    assert!(state.last_success_at.is_some());

    let ho_so = report
        .endpoints
        .iter()
        .find(|e| e.endpoint == "ho-so")
        .unwrap();
    assert_eq!(ho_so.fetched as usize, dossiers.len());
    assert_eq!(ho_so.pages as usize, dossiers.len().div_ceil(200).max(1));
}

async fn an_incremental_sync_fetches_only_what_changed(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(3000, 800), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    run_once(&app, now(clock.as_ref())).await;
    let before = dump(&db.url.clone()).await;

    // An hour later, 25 dossiers change upstream (plus whatever the simulated city did).
    clock.advance(chrono::Duration::hours(1));
    let touched = sim.sim.touch(25);
    assert_eq!(touched, 25);
    sim.sim.reset_requests();
    let report = run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    let requests = sim.sim.requests();
    let ho_so = report
        .endpoints
        .iter()
        .find(|e| e.endpoint == "ho-so")
        .unwrap();
    // Only the changes (and the few records inside the overlap window) were served: one page.
    assert!(
        ho_so.fetched >= 25 && ho_so.fetched < 200,
        "fetched {}",
        ho_so.fetched
    );
    assert_eq!(requests.ho_so, 1, "one page per endpoint: {requests:?}");
    assert_eq!(requests.van_ban, 1, "{requests:?}");

    // The database now equals a fresh full sync of the changed upstream.
    let fresh_db = TestDb::new(b).await;
    let fresh = app_for(&sim, &fresh_db, clock.clone()).await;
    run_once(&fresh, now(clock.as_ref())).await;
    let after = dump(&db.url.clone()).await;
    assert_ne!(before, after);
    assert_eq!(after, dump(&fresh_db.url).await);
}

async fn app_for(sim: &Sim, db: &TestDb, clock: Arc<dondoc::domain::time::ManualClock>) -> App {
    db.app(sim.addr, clock).await
}

async fn faults_are_retried_and_end_with_the_data_of_a_fault_free_run(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(2500, 600), clock.clone()).await;
    let clean_db = TestDb::new(b).await;
    let faulty_db = TestDb::new(b).await;

    let clean = clean_db.app(sim.addr, clock.clone()).await;
    assert!(
        run_once(&clean, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );

    sim.sim.set_faults(Faults {
        error_503_share: 0.3,
        error_429_share: 0.1,
        retry_after_secs: 1,
        latency_ms: 0,
        invalid_share: 0.0,
    });
    sim.sim.reset_requests();
    let faulty = faulty_db.app(sim.addr, clock.clone()).await;
    let report = run_once(&faulty, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let r = sim.sim.requests();
    let pages: i64 = report.endpoints.iter().map(|e| e.pages).sum();
    assert!(
        (r.ho_so + r.thu_tuc + r.van_ban) as i64 > pages,
        "faults were injected: {r:?}"
    );

    assert_eq!(dump(&clean_db.url).await, dump(&faulty_db.url).await);
}

async fn a_source_that_times_out_keeps_its_mark_records_the_failure_and_recovers(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(600, 200), clock.clone()).await;
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    let text = config_text(sim.addr, &url, "")
        .replace("timeout_secs = 5", "timeout_secs = 1")
        .replace("max_attempts = 8", "max_attempts = 2");
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    assert!(
        run_once(&app, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );
    let mark = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap()
        .mark;

    clock.advance(chrono::Duration::hours(2));
    sim.sim.touch(5);
    sim.sim.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    let report = run_once(&app, now(clock.as_ref())).await;
    let failures = report.failures();
    assert_eq!(failures.len(), 2, "both sources time out: {failures:?}");
    assert!(
        failures.iter().all(|(_, e)| e.contains("timed out")),
        "{failures:?}"
    );
    let state = app
        .store
        .sync_state("motcua", "thu-tuc")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.consecutive_failures, 1);
    assert!(state.last_error.unwrap().contains("timed out"));
    assert_eq!(
        app.store
            .sync_state("motcua", "ho-so")
            .await
            .unwrap()
            .unwrap()
            .mark,
        mark,
        "the mark did not move"
    );

    // A second failure counts up; then the upstream recovers and the changes arrive.
    run_once(&app, now(clock.as_ref())).await;
    assert_eq!(
        app.store
            .sync_state("qlvb", "van-ban")
            .await
            .unwrap()
            .unwrap()
            .consecutive_failures,
        2
    );
    sim.sim.set_faults(Faults::default());
    let report = run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let state = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.consecutive_failures, 0);
    assert!(state.mark > mark);
}

async fn a_sync_killed_midway_and_restarted_ends_with_the_same_database(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(4000, 400), clock.clone()).await;
    let ref_db = TestDb::new(b).await;
    let killed_db = TestDb::new(b).await;
    let reference = ref_db.app(sim.addr, clock.clone()).await;
    assert!(
        run_once(&reference, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );
    let expected = dump(&ref_db.url).await;

    // Slow pages, and the pass dropped (as a kill would) once a few pages are in.
    sim.sim.set_faults(Faults {
        latency_ms: 30,
        ..Faults::default()
    });
    let killed = killed_db.app(sim.addr, clock.clone()).await;
    let url = killed_db.url.clone();
    let mut partial = 0;
    for attempt in 0..5u64 {
        sim.sim.reset_requests();
        let pass = run_once(&killed, now(clock.as_ref()));
        let stop = async {
            // Resolve once a handful of dossier pages have been requested.
            loop {
                if sim.sim.requests().ho_so >= 4 + attempt {
                    break;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            _ = pass => {}
            _ = stop => {}
        }
        partial = scalar(&url, "SELECT count(*) FROM dossiers").await;
        if partial > 0 {
            break;
        }
    }
    assert!(
        partial > 0 && (partial as usize) < sim.sim.dossiers_json().len(),
        "killed midway: {partial}"
    );
    let mark: i64 = scalar(
        &url,
        "SELECT coalesce(max(mark), 0) FROM sync_state WHERE endpoint = 'ho-so'",
    )
    .await;
    let newest: i64 = scalar(&url, "SELECT max(updated_at) FROM dossiers").await;
    assert!(
        mark <= newest,
        "the mark never runs ahead of the stored data"
    );

    sim.sim.set_faults(Faults::default());
    let report = run_once(&killed, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    assert_eq!(dump(&url).await, expected);
}

async fn invalid_records_are_set_aside_with_reasons_and_cleared_by_a_valid_version(b: Backend) {
    let clock = clock();
    let mut options = sim_options(3000, 300);
    options.faults.invalid_share = 0.02;
    let sim = start_sim(options, clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    let report = run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty());

    let url = db.url.clone();
    let rejected =
        scalar(&url, "SELECT count(*) FROM rejected WHERE kind = 'dossier'").await as usize;
    let stored = scalar(&url, "SELECT count(*) FROM dossiers").await as usize;
    let served = sim.sim.dossiers_json();
    assert_eq!(rejected + stored, served.len());
    assert!((20..=120).contains(&rejected), "about 2 %: {rejected}");
    let ho_so = report
        .endpoints
        .iter()
        .find(|e| e.endpoint == "ho-so")
        .unwrap();
    assert_eq!(ho_so.rejected as usize, rejected);

    // Every reason names the contract field that was wrong, in words.
    let counts = app.store.rejection_counts().await.unwrap();
    for c in &counts {
        assert!(
            [
                "TrangThaiHoSo",
                "NgayTiepNhan",
                "NgayHenTra",
                "NgayKetThucXuLy",
                "NgayTra",
                "MaTTHC",
                "NgayCapNhat",
                "finished status",
                "DanhSach",
                "DanhGia",
                "DonViXuLy",
                "MaHoSo"
            ]
            .iter()
            .any(|f| c.reason.contains(f)),
            "reason: {}",
            c.reason
        );
    }
    // The rejected keys are exactly the dossiers that break the contract.
    let keys: Vec<String> = strings(&url, "SELECT key FROM rejected WHERE kind = 'dossier'").await;
    let keys: HashSet<String> = keys.into_iter().collect();
    let invalid: HashSet<String> = served
        .iter()
        .filter(|d| {
            let raw = serde_json::value::RawValue::from_string(d.to_string()).unwrap();
            dondoc::upstream::records::parse_dossier(&raw).is_err()
        })
        .filter_map(|d| d["MaHoSo"].as_str().map(str::to_string))
        .collect();
    assert!(!invalid.is_empty());
    assert!(invalid.is_subset(&keys));

    // When the upstream fixes them, their rejections are cleared.
    clock.advance(chrono::Duration::minutes(30));
    let mut fixed = sim.sim.faults();
    fixed.invalid_share = 0.0;
    sim.sim.set_faults(fixed);
    let _ = sim
        .sim
        .touch_keys(&invalid.iter().cloned().collect::<Vec<_>>());
    assert!(
        run_once(&app, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );
    let left = scalar(&url, "SELECT count(*) FROM rejected WHERE kind = 'dossier'").await;
    assert_eq!(left, 0, "a valid version clears the rejection");
}

async fn no_personal_field_reaches_the_database_file(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(1500, 100), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    assert!(
        run_once(&app, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );
    app.store.close().await; // checkpoints the WAL into the file

    let haystack = match db.file() {
        // SQLite: the file's bytes, and its WAL's.
        Some(file) => {
            let mut bytes = std::fs::read(&file).unwrap();
            if let Ok(wal) = std::fs::read(file.with_extension("db-wal")) {
                bytes.extend(wal);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        // PostgreSQL: every row of every table, as text.
        None => {
            let c = Conn::open(&db.url).await;
            let mut all = String::new();
            for t in dondoc::store::copy::TABLES {
                let sql = format!(
                    "SELECT coalesce(string_agg(t::text, '\n'), '') FROM {} t",
                    t.name
                );
                all.extend(c.strings(&sql).await);
            }
            c.close().await;
            assert!(
                all.len() > 100_000,
                "the rows were read: {} bytes",
                all.len()
            );
            all
        }
    };
    let mut checked = 0;
    for d in sim.sim.dossiers_json() {
        for field in [
            "ChuHoSo",
            "SoGiayToChuHoSo",
            "SoDienThoai",
            "Email",
            "DiaChi",
            "DinhDanhCHS",
        ] {
            let v = d[field]
                .as_str()
                .unwrap_or_else(|| panic!("the simulator serves {field}"));
            assert!(!v.is_empty());
            // Short values (a 3-letter name part) could match by chance; whole values cannot.
            assert!(!haystack.contains(v), "{field} = {v} found in the database");
            checked += 1;
        }
    }
    assert!(checked > 5000);
}

async fn a_refused_token_stops_that_source_at_once_and_the_others_continue(b: Backend) {
    let clock = clock();
    let mut options = sim_options(500, 100);
    options.token = Some("đúng-token".into());
    let sim = start_sim(options, clock.clone()).await;
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    // motcua sends a wrong token; qlvb the right one.
    let text = config_text(sim.addr, &url, "")
        .replacen(
            "max_attempts = 8\n",
            "max_attempts = 8\ntoken = \"sai\"\n",
            1,
        )
        .replacen(
            "max_attempts = 8\n\n",
            "max_attempts = 8\ntoken = \"đúng-token\"\n",
            1,
        );
    let app = App::build(settings(&text), clock.clone()).await.unwrap();
    sim.sim.reset_requests();
    let report = run_once(&app, now(clock.as_ref())).await;
    let failures = report.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "motcua");
    assert!(
        failures[0].1.contains("401") && failures[0].1.contains("token"),
        "{}",
        failures[0].1
    );
    assert!(
        !failures[0].1.contains("sai\""),
        "the token itself is never shown"
    );
    assert_eq!(sim.sim.requests().thu_tuc, 1, "401 is not retried");
    assert!(
        scalar(&url, "SELECT count(*) FROM documents").await > 0,
        "the other source continued"
    );
}

async fn a_deleted_dossier_leaves_the_metrics_and_an_old_copy_cannot_bring_it_back(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(800, 50), clock.clone()).await;
    let db = TestDb::new(b).await;
    let app = db.app(sim.addr, clock.clone()).await;
    assert!(
        run_once(&app, now(clock.as_ref()))
            .await
            .failures()
            .is_empty()
    );
    let url = db.url.clone();
    let deleted: i64 = scalar(&url, "SELECT count(*) FROM dossiers WHERE deleted = TRUE").await;
    let tombstones = sim
        .sim
        .dossiers_json()
        .iter()
        .filter(|d| d["DaXoa"].as_i64() == Some(1) || d["DaXoa"].as_str() == Some("1"))
        .count() as i64;
    assert_eq!(deleted, tombstones);

    // Replaying an old version of a record (older NgayCapNhat) changes nothing.
    let row: (String, i64) = {
        let c = Conn::open(&url).await;
        let code = c
            .strings("SELECT code FROM dossiers WHERE deleted = FALSE ORDER BY code LIMIT 1")
            .await
            .remove(0);
        let updated_at = c
            .scalar(&format!(
                "SELECT updated_at FROM dossiers WHERE code = '{code}'"
            ))
            .await;
        c.close().await;
        (code, updated_at)
    };
    let old = dondoc::upstream::records::Dossier {
        status: 2,
        ..dondoc::upstream::records::Dossier::tombstone(row.0.clone(), row.1 - 10)
    };
    let old = dondoc::upstream::records::Dossier {
        deleted: false,
        unit_code: "X".into(),
        procedure_code: "Y".into(),
        received_at: Some(0),
        ..old
    };
    let before = dump(&url).await;
    app.store
        .store_dossier_page("motcua", "ho-so", &[old], &[], None, now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(dump(&url).await, before);
}
