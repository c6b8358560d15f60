//! End to end: simulator → sync → `dondoc status --format json`, checked against an independent
//! computation of metrics.md written here from the simulator's raw records (it shares no code
//! with dondoc's rules or SQL).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

postgres_notice!();
for_each_backend!(status_json_equals_an_independent_computation_from_the_simulators_records);

/// `yyyyMMddHHmmss` in UTC+7 → epoch seconds; `None` for absent.
fn date(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    if s.is_empty() {
        return None;
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    Some(naive.and_utc().timestamp() - 7 * 3600)
}

fn code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() => s.parse().ok(),
        _ => None,
    }
}

fn amount(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn items<'a>(d: &'a Value, key: &str) -> Vec<&'a Value> {
    d[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// (numerator, denominator) per metric for one dossier set, following metrics.md literally.
fn expected(
    dossiers: &[&Value],
    documents: &[&Value],
    levels: &HashMap<String, Option<i64>>,
    start: i64,
    e: i64,
) -> BTreeMap<&'static str, (i64, i64)> {
    let mut m: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
    for k in [
        "late_rate",
        "apology_rate",
        "digitized_rate",
        "online_rate",
        "online_payment_rate",
        "satisfaction_rate",
        "edoc_rate",
        "esign_rate",
    ] {
        m.insert(k, (0, 0));
    }
    let inc = |m: &mut BTreeMap<&'static str, (i64, i64)>, k: &'static str, num: bool| {
        let x = m.get_mut(k).unwrap();
        x.1 += 1;
        if num {
            x.0 += 1;
        }
    };
    for d in dossiers {
        if code(&d["DaXoa"]) == Some(1) {
            continue;
        }
        let status = code(&d["TrangThaiHoSo"]).unwrap();
        let Some(received) = date(&d["NgayTiepNhan"]) else {
            continue;
        };
        if [1, 3, 7].contains(&status) {
            continue;
        }
        let mut due = date(&d["NgayHenTra"]);
        for s in items(d, "DanhSachHoSoBoSung") {
            if let Some(t) = date(&s["NgayHenTraMoi"]) {
                due = Some(due.map_or(t, |x: i64| x.max(t)));
            }
        }
        let end = date(&d["NgayKetThucXuLy"]).or_else(|| date(&d["NgayTra"]));
        let finished = |t: i64| (8..=10).contains(&status) && end.is_some_and(|x| x < t);
        // late_rate and apology_rate
        if received < e && !finished(start) {
            let late = match due {
                None => false,
                Some(due) if finished(e) => end.unwrap() > due,
                Some(due) => due < e,
            };
            inc(&mut m, "late_rate", late);
            if late {
                let apologized = items(d, "DanhSachPhieuXinLoi")
                    .iter()
                    .any(|a| date(&a["NgayBanHanh"]).is_some_and(|t| t < e));
                inc(&mut m, "apology_rate", apologized);
            }
        }
        if (status == 9 || status == 10) && end.is_some_and(|x| start <= x && x < e) {
            let digitized = items(d, "DanhSachGiayToKetQua").iter().any(|p| {
                p["DuongDanTepTinKetQua"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            });
            inc(&mut m, "digitized_rate", digitized);
        }
        if start <= received && received < e {
            let procedure = d["MaTTHC"].as_str().unwrap();
            if levels.get(procedure).copied().flatten() == Some(4) {
                inc(&mut m, "online_rate", code(&d["KenhThucHien"]) == Some(2));
            }
            let fees: f64 = items(d, "DanhSachLePhi")
                .iter()
                .map(|f| amount(&f["Gia"]))
                .sum();
            if fees > 0.0 {
                let paid = matches!(code(&d["DuocThanhToanTrucTuyen"]), Some(1 | 2));
                inc(&mut m, "online_payment_rate", paid);
            }
        }
        let rating = &d["DanhGiaHaiLong"];
        if rating.is_object() && date(&rating["NgayDanhGia"]).is_some_and(|t| start <= t && t < e) {
            inc(
                &mut m,
                "satisfaction_rate",
                matches!(code(&rating["MucDo"]), Some(1 | 2)),
            );
        }
    }
    for v in documents {
        if code(&v["DaXoa"]) == Some(1) {
            continue;
        }
        match v["LoaiVanBan"].as_str() {
            Some("DEN") if date(&v["NgayDen"]).is_some_and(|t| start <= t && t < e) => {
                inc(&mut m, "edoc_rate", code(&v["XuLyTrenMang"]) == Some(1))
            }
            Some("DI") if date(&v["NgayBanHanh"]).is_some_and(|t| start <= t && t < e) => {
                inc(&mut m, "esign_rate", code(&v["KySo"]) == Some(1))
            }
            _ => {}
        }
    }
    m
}

/// Unit → the upstream codes of its subtree, from the test configuration.
fn subtree_codes() -> BTreeMap<&'static str, (Vec<&'static str>, Vec<&'static str>)> {
    let children = [
        ("PHONG_TNMT", vec!["000.10.23.H50"], vec!["TNMT"]),
        ("PHUONG_1", vec!["000.01.23.H50"], vec!["P1"]),
        (
            "PHUONG_DONG_LE",
            vec!["000.02.23.H50", "000.03.23.H50"],
            vec!["DL"],
        ),
    ];
    let mut out = BTreeMap::new();
    let mut all_os = vec!["000.00.23.H50"];
    let mut all_doc = vec!["UBND"];
    for (u, os, doc) in children {
        all_os.extend(os.iter().copied());
        all_doc.extend(doc.iter().copied());
        out.insert(u, (os, doc));
    }
    out.insert("CITY", (all_os, all_doc));
    out
}

fn status_json(config: &std::path::Path, as_of: &str, period: &str) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "status",
            "--as-of",
            as_of,
            "--period",
            period,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn status_json_equals_an_independent_computation_from_the_simulators_records(b: Backend) {
    let clock = clock();
    let sim = start_sim(sim_options(12_000, 3_000), clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(b).await;
    let url = db.url.clone();
    let text = config_text(sim.addr, &url, "");
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();
    let app = dondoc::app::App::build(settings(&text), clock.clone())
        .await
        .unwrap();
    let report = dondoc::sync::run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    app.store.close().await;

    let dossiers = sim.sim.dossiers_json();
    let documents = sim.sim.documents_json();
    let levels: HashMap<String, Option<i64>> = sim
        .sim
        .procedures_json()
        .iter()
        .map(|p| (p["MaTTHC"].as_str().unwrap().to_string(), code(&p["MucDo"])))
        .collect();
    let tree = subtree_codes();

    // The current quarter (to date), a past month, and the year, each at its own as_of.
    let cases = [
        (
            "2024-06-20T10:00:00+07:00",
            "quarter",
            "2024-Q2",
            "2024-04-01T00:00:00+07:00",
            "2024-06-20T10:00:00+07:00",
        ),
        (
            "2024-06-20T10:00:00+07:00",
            "year",
            "2024",
            "2024-01-01T00:00:00+07:00",
            "2024-06-20T10:00:00+07:00",
        ),
        (
            "2024-03-31T23:59:59+07:00",
            "month",
            "2024-03",
            "2024-03-01T00:00:00+07:00",
            "2024-03-31T23:59:59+07:00",
        ),
        (
            "2024-02-10T08:00:00+07:00",
            "quarter",
            "2024-Q1",
            "2024-01-01T00:00:00+07:00",
            "2024-02-10T08:00:00+07:00",
        ),
    ];
    let mut compared = 0;
    let mut nonzero = 0;
    for (as_of, kind, label, start, e) in cases {
        let json = status_json(&config, as_of, kind);
        assert_eq!(json["as_of"], as_of);
        let start = chrono::DateTime::parse_from_rfc3339(start)
            .unwrap()
            .timestamp();
        let e = chrono::DateTime::parse_from_rfc3339(e).unwrap().timestamp();
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 4 * 9, "4 units × (8 metrics + 1 scoped)");
        for (unit, (os, docs)) in &tree {
            let ds: Vec<&Value> = dossiers
                .iter()
                .filter(|d| d["DonViXuLy"].as_str().is_some_and(|c| os.contains(&c)))
                .collect();
            let vs: Vec<&Value> = documents
                .iter()
                .filter(|d| d["MaDonVi"].as_str().is_some_and(|c| docs.contains(&c)))
                .collect();
            let want = expected(&ds, &vs, &levels, start, e);
            let land: Vec<&Value> = ds
                .iter()
                .copied()
                .filter(|d| {
                    d["MaLinhVuc"]
                        .as_str()
                        .is_some_and(|f| ["G09-DD", "G09-XD", "G09-DT"].contains(&f))
                })
                .collect();
            let want_land = expected(&land, &[], &levels, start, e);
            for row in rows.iter().filter(|r| r["unit"] == *unit) {
                assert_eq!(row["period"], label);
                let metric = row["metric"].as_str().unwrap();
                let (num, den) = if row["scope"].is_null() {
                    want[metric]
                } else {
                    want_land[metric]
                };
                assert_eq!(
                    (
                        row["numerator"].as_i64().unwrap(),
                        row["denominator"].as_i64().unwrap()
                    ),
                    (num, den),
                    "{unit} {metric} scope {} {label} as of {as_of}",
                    row["scope"]
                );
                if den == 0 {
                    assert!(row["value"].is_null());
                    assert!(["no_data", "untargeted"].contains(&row["state"].as_str().unwrap()));
                } else {
                    let v = row["value"].as_f64().unwrap();
                    assert_eq!(v, num as f64 / den as f64);
                    nonzero += 1;
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 4 * 36);
    assert!(nonzero > 120, "the data exercise most rates: {nonzero}");

    // The simulated city has units on and off target.
    let json = status_json(&config, "2024-06-20T10:00:00+07:00", "quarter");
    let states: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"breach") && states.contains(&"ok"),
        "{states:?}"
    );
}
