//! The commitment letter end to end (issue 20): on the demo configuration, `dondoc letter forms`
//! writes one workbook per unit (opened by LibreOffice when installed) with the unit's name, its
//! automatic figures (checked against an independent evaluation) and its manual rows; a form is
//! filled as a person would (read with calamine, written back with rust_xlsxwriter), imported with
//! `dondoc letter import`, and `dondoc letter status --format json` shows the values; a form with
//! bad cells is refused whole, naming each cell; a corrected form becomes the current submission
//! and the first stays as history. The letter job mails each unit its form ten days before the
//! deadline and reminds, three days before, only the units that have not returned it, through a
//! real SMTP server on loopback (deadlines in Asia/Ho_Chi_Minh; clock injected). Both backends.

mod common;

use calamine::{Data, Reader, Xlsx};
use common::smtp::TestSmtp;
use common::*;
use dondoc::app::App;
use dondoc::config::Settings;
use dondoc::daemon::{Daemon, Job, Jobs, SyncCounters};
use dondoc::domain::Metric;
use dondoc::domain::time::ManualClock;
use dondoc::letter::{forms, import, job, register};
use dondoc::report::ReportPeriod;
use dondoc::simulator::{SimOptions, SimUnit};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

postgres_notice!();
for_each_backend!(
    demo_forms_are_filled_imported_and_consolidated,
    forms_and_reminders_go_only_to_units_without_a_returned_form
);

fn rfc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The demo configuration, on the test database, the test simulator and (optionally) a real
/// SMTP server; the returned forms' inbox in `dir`.
fn demo_text(db: &str, sim: std::net::SocketAddr, dir: &Path, smtp_port: Option<u16>) -> String {
    let text = std::fs::read_to_string(repo_file("config/dondoc.toml")).unwrap();
    let mut text = text
        .replace(
            "url = \"sqlite://data/dondoc.db\"",
            &format!("url = \"{db}\""),
        )
        .replace("http://127.0.0.1:8091", &format!("http://{sim}"))
        .replace("enabled = true", "enabled = false")
        .replace(
            "inbox = \"data/letter-inbox\"",
            &format!("inbox = \"{}\"", dir.join("inbox").display()),
        );
    assert!(text.contains(db), "the demo's database line moved");
    if let Some(port) = smtp_port {
        text = text.replace(
            "transport = \"file\"\nfile_dir = \"data/outbox\"\n",
            &format!("host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 2\n"),
        );
        assert!(text.contains(&format!("port = {port}")));
    }
    text
}

fn sim_units_of(s: &Settings) -> Vec<SimUnit> {
    s.units
        .iter()
        .map(|u| SimUnit {
            one_stop_codes: u.one_stop_codes.clone(),
            document_codes: u.document_codes.clone(),
        })
        .collect()
}

fn dondoc(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dondoc"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DONDOC") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.arg("--config").arg(config);
    c
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn sheet(bytes: &[u8]) -> calamine::Range<Data> {
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).unwrap();
    wb.worksheet_range(forms::SHEET).unwrap()
}

fn cell(r: &calamine::Range<Data>, row: u32, col: u16) -> String {
    match r.get_value((row, col as u32)) {
        None | Some(Data::Empty) => String::new(),
        Some(Data::String(s)) => s.clone(),
        Some(d) => d.to_string(),
    }
}

/// The row (0-based) of a criterion on a form.
fn row_of(r: &calamine::Range<Data>, code: &str) -> u32 {
    (forms::ROW_HEADER + 1..=r.end().unwrap().0)
        .find(|i| cell(r, *i, forms::COL_CODE) == code)
        .unwrap_or_else(|| panic!("no row {code} on the form"))
}

/// A value a person types.
enum Typed<'a> {
    Text(&'a str),
    Number(f64),
}

/// Fills a form as a person would: every cell as it was, and the given (value, evidence) typed
/// into the rows of the given criteria.
fn fill(bytes: &[u8], answers: &[(&str, Typed, &str)]) -> Vec<u8> {
    let r = sheet(bytes);
    let (r0, c0) = r.start().unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(forms::SHEET).unwrap();
    for (i, row) in r.rows().enumerate() {
        for (j, d) in row.iter().enumerate() {
            let (ri, cj) = (r0 + i as u32, (c0 as usize + j) as u16);
            match d {
                Data::String(s) => {
                    ws.write_string(ri, cj, s).unwrap();
                }
                Data::Float(f) => {
                    ws.write_number(ri, cj, *f).unwrap();
                }
                Data::Int(n) => {
                    ws.write_number(ri, cj, *n as f64).unwrap();
                }
                _ => {}
            }
        }
    }
    for (code, value, evidence) in answers {
        let row = row_of(&r, code);
        match value {
            Typed::Text(t) => ws.write_string(row, forms::COL_VALUE, *t).unwrap(),
            Typed::Number(n) => ws.write_number(row, forms::COL_VALUE, *n).unwrap(),
        };
        ws.write_string(row, forms::COL_EVIDENCE, *evidence)
            .unwrap();
    }
    wb.save_to_buffer().unwrap()
}

fn soffice() -> Option<&'static str> {
    ["libreoffice", "soffice"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The form converted to CSV by LibreOffice (UTF-8), or None when it is not installed.
fn libreoffice_csv(xlsx: &Path, dir: &Path) -> Option<String> {
    let Some(bin) = soffice() else {
        assert!(
            std::env::var("DONDOC_REQUIRE_LIBREOFFICE").is_err(),
            "DONDOC_REQUIRE_LIBREOFFICE is set but libreoffice is not installed"
        );
        say(
            "SKIPPED (LibreOffice): libreoffice is not installed; the forms were checked with calamine only",
        );
        return None;
    };
    let out = dir.join("lo-csv");
    let o = Command::new(bin)
        .arg("--headless")
        .arg(format!(
            "-env:UserInstallation=file://{}/lo-profile",
            dir.display()
        ))
        .args([
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",
            "--outdir",
        ])
        .arg(&out)
        .arg(xlsx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let name = xlsx.file_stem().unwrap().to_string_lossy().to_string() + ".csv";
    Some(std::fs::read_to_string(out.join(name)).expect("LibreOffice wrote the CSV"))
}

async fn demo_forms_are_filled_imported_and_consolidated(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    // 1 December 2026, 10:00 local: inside Q4, before its deadline (12 December).
    let clock = Arc::new(ManualClock::new(rfc("2026-12-01T10:00:00+07:00")));
    let placeholder = settings(&demo_text(
        &db.url,
        "127.0.0.1:9".parse().unwrap(),
        dir.path(),
        None,
    ));
    let mut opts = SimOptions::new(11, sim_units_of(&placeholder));
    opts.dossiers = 3000;
    opts.documents = 600;
    let sim = start_sim(opts, clock.clone()).await;
    let text = demo_text(&db.url, sim.addr, dir.path(), None);
    let config = dir.path().join("dondoc.toml");
    std::fs::write(&config, &text).unwrap();
    let s = settings(&text);
    let app = App::build(s.clone(), clock.clone()).await.unwrap();
    let report = dondoc::sync::run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    // Forms: one per unit below the root, each with its name and figures.
    let out = dir.path().join("forms");
    let as_of = "2026-12-01T10:00:00+07:00";
    ok(dondoc(&config)
        .args([
            "letter", "forms", "--period", "2026-Q4", "--as-of", as_of, "--out",
        ])
        .arg(&out)
        .output()
        .unwrap());
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = s
        .units
        .iter()
        .filter(|u| u.parent.is_some())
        .map(|u| format!("{}.xlsx", u.code))
        .collect();
    expected.sort();
    assert_eq!(written, expected, "one workbook per unit below the city");
    assert_eq!(written.len(), 20);

    // An independent evaluation of Q4 (reporting basis) at the same instant.
    let p = register::parse_period("2026-Q4").unwrap();
    let rp = ReportPeriod::new(p, s.reports.basis);
    let ev =
        dondoc::rates::evaluate_window(&app.store, &s, p, rp.start, rp.end, rfc(as_of).timestamp())
            .await
            .unwrap();
    let tckh_late = ev
        .rows
        .iter()
        .find(|r| r.unit == "PHONG_TCKH" && r.metric == Metric::LateRate && r.scope.is_none())
        .unwrap();
    assert!(
        tckh_late.denominator > 0,
        "the simulator gave the office dossiers"
    );

    let tckh_path = out.join("PHONG_TCKH.xlsx");
    let tckh = std::fs::read(&tckh_path).unwrap();
    let form = sheet(&tckh);
    assert_eq!(
        cell(&form, forms::ROW_UNIT_NAME, 1),
        "Phòng Tài chính - Kế hoạch"
    );
    assert_eq!(cell(&form, forms::ROW_UNIT_CODE, 1), "PHONG_TCKH");
    assert_eq!(cell(&form, forms::ROW_PERIOD, 1), "2026-Q4");
    assert!(cell(&form, forms::ROW_PERIOD, 2).contains("12/12/2026"));
    let late = row_of(&form, "TRE_HAN");
    let figure = format!("({}/{})", tckh_late.numerator, tckh_late.denominator);
    assert!(
        cell(&form, late, forms::COL_VALUE).ends_with(&figure),
        "{} vs {figure}",
        cell(&form, late, forms::COL_VALUE)
    );
    assert_eq!(cell(&form, late, forms::COL_TARGET), "≤ 1 %");
    // The dossiers to act on, by code: those the store lists as not digitized.
    let codes = &s
        .units
        .iter()
        .find(|u| u.code == "PHONG_TCKH")
        .unwrap()
        .one_stop_codes;
    let todo = app
        .store
        .not_digitized(codes, rp.start, rp.horizon(rfc(as_of).timestamp()), 30)
        .await
        .unwrap();
    let source = cell(&form, row_of(&form, "SO_HOA"), forms::COL_SOURCE);
    if todo.total > 0 {
        assert!(
            source.contains(&format!("{} hồ sơ cần xử lý", todo.total)),
            "{source}"
        );
        for item in &todo.items {
            assert!(
                source.contains(&item.code),
                "{} missing from {source}",
                item.code
            );
        }
    } else {
        assert_eq!(source, "Tự động (dondoc)");
    }
    for code in ["TCKH_THU_NSNN", "TCKH_GIAI_NGAN", "TCKH_DOI_THOAI_PCI"] {
        let r = row_of(&form, code);
        assert_eq!(
            cell(&form, r, forms::COL_VALUE),
            "",
            "{code} is for the unit to fill"
        );
    }
    // Home Affairs' criteria are not on the finance office's form, and automatic rows come first.
    assert!(
        (forms::ROW_HEADER + 1..=form.end().unwrap().0)
            .all(|r| !cell(&form, r, 0).starts_with("NV_"))
    );
    assert!(row_of(&form, "VAN_BAN_DIEN_TU") < row_of(&form, "TCKH_THU_NSNN"));
    // Protected, with the manual cells unlocked.
    let mut zip = zip::ZipArchive::new(Cursor::new(tckh.clone())).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(xml.contains("<sheetProtection"), "the sheet is protected");
    let mut styles = String::new();
    zip.by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(styles.contains("locked=\"0\""), "some cells are unlocked");
    if let Some(csv) = libreoffice_csv(&tckh_path, dir.path()) {
        assert!(csv.contains("Phòng Tài chính - Kế hoạch"), "{csv}");
        assert!(csv.contains(&figure), "{csv}");
        assert!(csv.contains("TCKH_GIAI_NGAN"), "{csv}");
    }

    // Filled and returned.
    let filled = fill(
        &tckh,
        &[
            (
                "TCKH_THU_NSNN",
                Typed::Number(102.5),
                "Báo cáo 123/BC-TCKH ngày 30/11/2026",
            ),
            (
                "TCKH_GIAI_NGAN",
                Typed::Text("85,5%"),
                "Báo cáo 124/BC-TCKH",
            ),
            (
                "TCKH_DOI_THOAI_PCI",
                Typed::Text("Đã hoàn thành"),
                "Hội nghị ngày 15/10/2026",
            ),
        ],
    );
    let returned = dir.path().join("PHONG_TCKH-tra-lai.xlsx");
    std::fs::write(&returned, &filled).unwrap();
    let said = ok(dondoc(&config)
        .args(["letter", "import"])
        .arg(&returned)
        .output()
        .unwrap());
    assert!(
        said.contains("submission 1 of PHONG_TCKH for 2026-Q4 (3 values)"),
        "{said}"
    );

    let status = |at: &str| -> serde_json::Value {
        let out = ok(dondoc(&config)
            .args([
                "letter", "status", "--period", "2026-Q4", "--format", "json", "--as-of", at,
            ])
            .output()
            .unwrap());
        serde_json::from_str(&out).unwrap()
    };
    let find = |v: &serde_json::Value, unit: &str, code: &str| -> serde_json::Value {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unit"] == unit && r["criterion"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no row {unit} {code}"))
    };
    let v = status("2026-12-05T10:00:00+07:00");
    let r = find(&v, "PHONG_TCKH", "TCKH_THU_NSNN");
    assert_eq!(r["value"], "102.5");
    assert_eq!(r["state"], "met");
    assert_eq!(r["evidence"], "Báo cáo 123/BC-TCKH ngày 30/11/2026");
    let r = find(&v, "PHONG_TCKH", "TCKH_GIAI_NGAN");
    assert_eq!(
        (r["value"].as_str(), r["state"].as_str()),
        (Some("85.5"), Some("missed"))
    );
    let r = find(&v, "PHONG_TCKH", "TCKH_DOI_THOAI_PCI");
    assert_eq!(
        (r["value"].as_str(), r["state"].as_str()),
        (Some("done"), Some("met"))
    );
    let r = find(&v, "PHONG_TCKH", "TRE_HAN");
    assert_eq!(r["numerator"], tckh_late.numerator);
    assert_eq!(r["denominator"], tckh_late.denominator);
    // Home Affairs has not returned its form: pending before the deadline, missing after.
    assert_eq!(find(&v, "PHONG_NOI_VU", "NV_SANG_KIEN")["state"], "pending");
    let not_back: Vec<&str> = v["not_returned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(!not_back.contains(&"PHONG_TCKH") && not_back.contains(&"VP_HDND_UBND"));
    assert_eq!(not_back.len(), 19);
    assert_eq!(v["returned"][0]["file_name"], "PHONG_TCKH-tra-lai.xlsx");
    let after = status("2026-12-13T00:00:00+07:00");
    assert_eq!(
        find(&after, "PHONG_NOI_VU", "NV_SANG_KIEN")["state"],
        "missing"
    );

    // A form with bad cells is refused whole, naming each cell.
    let vp = std::fs::read(out.join("VP_HDND_UBND.xlsx")).unwrap();
    let vp_form = sheet(&vp);
    let bad_pct = row_of(&vp_form, "VP_BAO_CAO_DUNG_HAN");
    let bad_done = row_of(&vp_form, "VP_CONG_KHAI_QUY_HOACH");
    let bad = fill(
        &vp,
        &[
            ("VP_BAO_CAO_DUNG_HAN", Typed::Text("khoảng 90"), ""),
            ("VP_CONG_KHAI_QUY_HOACH", Typed::Text("sắp xong"), ""),
            (
                "VP_CONG_KHAI_TUYEN_DUNG_TTHC",
                Typed::Text("Đã hoàn thành"),
                "ok",
            ),
        ],
    );
    let bad_path = dir.path().join("VP_HDND_UBND.xlsx");
    std::fs::write(&bad_path, &bad).unwrap();
    let o = dondoc(&config)
        .args(["letter", "import"])
        .arg(&bad_path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused whole"), "{err}");
    assert!(
        err.contains(&format!("E{} (VP_BAO_CAO_DUNG_HAN)", bad_pct + 1)),
        "{err}"
    );
    assert!(
        err.contains(&format!("E{} (VP_CONG_KHAI_QUY_HOACH)", bad_done + 1)),
        "{err}"
    );
    assert!(err.contains("2 problems"), "{err}");
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM letter_values WHERE unit = 'VP_HDND_UBND'"
        )
        .await,
        0,
        "nothing of a refused form is recorded"
    );

    // A corrected form becomes the current one; the first stays as history.
    let corrected = fill(
        &tckh,
        &[
            ("TCKH_THU_NSNN", Typed::Number(104.0), "Báo cáo 130/BC-TCKH"),
            ("TCKH_GIAI_NGAN", Typed::Number(91.0), "Báo cáo 131/BC-TCKH"),
            (
                "TCKH_DOI_THOAI_PCI",
                Typed::Text("Đã hoàn thành"),
                "Hội nghị ngày 15/10/2026",
            ),
        ],
    );
    let returned2 = dir.path().join("PHONG_TCKH-bo-sung.xlsx");
    std::fs::write(&returned2, &corrected).unwrap();
    let said = ok(dondoc(&config)
        .args(["letter", "import"])
        .arg(&returned2)
        .output()
        .unwrap());
    assert!(said.contains("submission 2 of PHONG_TCKH"), "{said}");
    // The same file again records nothing new.
    let said = ok(dondoc(&config)
        .args(["letter", "import"])
        .arg(&returned2)
        .output()
        .unwrap());
    assert!(said.contains("nothing new recorded"), "{said}");
    let v = status("2026-12-05T10:00:00+07:00");
    let r = find(&v, "PHONG_TCKH", "TCKH_GIAI_NGAN");
    assert_eq!(
        (r["value"].as_str(), r["state"].as_str()),
        (Some("91"), Some("met"))
    );
    assert_eq!(v["returned"][0]["earlier"], 1);
    assert_eq!(v["returned"][0]["file_name"], "PHONG_TCKH-bo-sung.xlsx");
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM letter_submissions WHERE unit = 'PHONG_TCKH'"
        )
        .await,
        2
    );
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM letter_values WHERE unit = 'PHONG_TCKH' AND seq = 1 AND value = '85.5'").await,
        1,
        "the first submission's values are kept"
    );

    // The quarterly report carries the consolidated appendix Home Affairs sends up.
    let rpt = dir.path().join("report.xlsx");
    ok(dondoc(&config)
        .args([
            "report",
            "--period",
            "2026-Q4",
            "--as-of",
            "2026-12-05T10:00:00+07:00",
            "--out",
        ])
        .arg(&rpt)
        .output()
        .unwrap());
    let mut wb: Xlsx<_> = Xlsx::new(Cursor::new(std::fs::read(&rpt).unwrap())).unwrap();
    assert!(
        wb.sheet_names()
            .contains(&dondoc::report::xlsx::APPENDIX_SHEET.to_string())
    );
    let ap = wb
        .worksheet_range(dondoc::report::xlsx::APPENDIX_SHEET)
        .unwrap();
    let last = ap.end().unwrap().0;
    let row = (0..=last)
        .find(|r| cell(&ap, *r, 0) == "TCKH_GIAI_NGAN")
        .expect("the criterion's line");
    assert_eq!(cell(&ap, row, 2), "Phòng Tài chính - Kế hoạch");
    assert_eq!(cell(&ap, row, 3), "91 %");
    assert_eq!(cell(&ap, row, 5), "Đạt");
    assert_eq!(cell(&ap, row, 6), "Báo cáo 131/BC-TCKH");
    assert!(
        (0..=last).any(|r| cell(&ap, r, 0).contains("Đơn vị chưa gửi báo cáo (19)")),
        "the units still silent are named"
    );

    // And the dashboard has a page for it.
    clock.set(rfc("2026-12-05T10:00:00+07:00"));
    let daemon = Daemon::new(app.clone(), None).unwrap();
    let served = dondoc::application::Application::with_daemon(daemon, "127.0.0.1:0")
        .await
        .unwrap();
    let base = served.local_url();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (code, html) = get("/letter?period=2026-Q4").await;
    assert_eq!(code, 200);
    assert!(
        html.contains("Kết quả thực hiện cam kết — Quý 4/2026"),
        "{html}"
    );
    assert!(
        html.contains("TCKH_GIAI_NGAN") && html.contains("91 %"),
        "{html}"
    );
    assert!(html.contains("chưa gửi: 19 đơn vị"), "{html}");
    let (_, home) = get("/").await;
    assert!(home.contains("href=\"/letter\""), "the page is in the menu");
    let (_, month) = get("/letter?period=2026-05").await;
    assert!(month.contains("is a month"), "{month}");
    drop(served);
    app.store.close().await;
}

/// A small city whose units all have mail, with one automatic and two manual criteria.
fn mail_config(db: &str, sim: std::net::SocketAddr, smtp_port: u16, inbox: &Path) -> String {
    let units = UNITS
        .replace(
            "code = \"PHONG_TNMT\"\n",
            "code = \"PHONG_TNMT\"\nemails = [\"tnmt@city.example.gov.vn\"]\n",
        )
        .replace(
            "code = \"PHUONG_1\"\n",
            "code = \"PHUONG_1\"\nemails = [\"phuong1@city.example.gov.vn\"]\n",
        )
        .replace(
            "code = \"PHUONG_DONG_LE\"\n",
            "code = \"PHUONG_DONG_LE\"\nemails = [\"dongle@city.example.gov.vn\"]\n",
        );
    let base = config_text(sim, db, "").replace(UNITS, &units);
    format!(
        r#"{base}
[schedule]
sync = "0 0 3 * * *"
alerts = "0 0 7 * * *"
deliver = "30 * * * * *"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Theo dõi CCHC <dondoc@city.example.gov.vn>"
timeout_secs = 2

[letter]
cc = ["phongnoivu@city.example.gov.vn"]
inbox = "{inbox}"

[[commitments]]
code = "TRE_HAN"
text = "Tỷ lệ hồ sơ trễ hạn không quá 1 %"
owners = "all"
kind = "percent"
metric = "late_rate"

[[commitments]]
code = "P1_SANG_KIEN"
text = "Xây dựng ít nhất 02 sáng kiến cải cách hành chính"
owners = ["PHUONG_1", "PHONG_TNMT"]
kind = "count"
min = 2
due = "year"

[[commitments]]
code = "DL_DOI_THOAI"
text = "Tổ chức đối thoại với người dân"
owners = "PHUONG_DONG_LE"
kind = "done"
"#,
        inbox = inbox.display()
    )
}

async fn forms_and_reminders_go_only_to_units_without_a_returned_form(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = TestSmtp::start();
    // 2 September 2026 06:30 in Hanoi is still 1 September in UTC: the Q3 form is due on
    // 12 September, ten days later by the local date only.
    let clock = Arc::new(ManualClock::new(rfc("2026-09-02T06:30:00+07:00")));
    let sim = start_sim(sim_options(400, 100), clock.clone()).await;
    let inbox = dir.path().join("inbox");
    let s = settings(&mail_config(&db.url, sim.addr, smtp.port(), &inbox));
    assert_eq!(s.letter.form_days_before, 10, "the default");
    assert_eq!(s.letter.remind_days_before, 3, "the default");
    assert_eq!(s.letter.schedule, "0 0 8 * * *", "the default");
    let app = App::build(s, clock.clone()).await.unwrap();
    let t = |x: &str| rfc(x).timestamp();

    // The day before the window (by the local date) queues nothing.
    let early = job::run_once(
        &app,
        t("2026-09-01T23:59:00+07:00"),
        t("2026-09-01T23:59:00+07:00"),
    )
    .await
    .unwrap();
    assert!(early.forms.is_empty() && early.queued == 0, "{early:?}");
    let first = job::run_once(&app, now(clock.as_ref()), now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(first.forms, ["PHONG_TNMT", "PHUONG_1", "PHUONG_DONG_LE"]);
    assert_eq!(first.queued, 3);

    // The daemon's 08:00 fire: the letter job is scheduled, and the forms are not queued twice.
    let daemon = Daemon::with_runner(
        app.clone(),
        None,
        Arc::new(Jobs::default()),
        Arc::new(SyncCounters::default()),
    )
    .unwrap();
    clock.set(rfc("2026-09-02T08:00:05+07:00"));
    let started = daemon.tick(now(clock.as_ref())).await.unwrap();
    let fire = t("2026-09-02T08:00:00+07:00");
    assert!(started.contains(&(Job::Letter, fire)), "{started:?}");
    assert!(daemon.drain(std::time::Duration::from_secs(30)).await);
    let got = smtp.received();
    assert_eq!(got.len(), 3, "one form per unit, delivered once");
    let mut to: Vec<String> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "dongle@city.example.gov.vn",
            "phuong1@city.example.gov.vn",
            "tnmt@city.example.gov.vn"
        ]
    );
    let p1 = got
        .iter()
        .find(|m| m.rcpt_to[0] == "phuong1@city.example.gov.vn")
        .unwrap();
    assert!(
        p1.rcpt_to
            .contains(&"phongnoivu@city.example.gov.vn".to_string()),
        "cc"
    );
    let parsed = p1.parsed();
    let subject = parsed.subject.clone().unwrap();
    assert!(
        subject.contains("Quý 3/2026")
            && subject.contains("UBND Phường 1")
            && subject.contains("12/09/2026"),
        "{subject}"
    );
    assert_eq!(parsed.attachments.len(), 1);
    let form = parsed.attachments[0].bytes.clone();
    let r = sheet(&form);
    assert_eq!(cell(&r, forms::ROW_UNIT_CODE, 1), "PHUONG_1");
    assert_eq!(cell(&r, forms::ROW_PERIOD, 1), "2026-Q3");

    // Phường 1 returns its form through the inbox folder; a broken file beside it is refused.
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("phuong1-q3.xlsx"),
        fill(
            &form,
            &[("P1_SANG_KIEN", Typed::Number(1.0), "QĐ 12/QĐ-UBND")],
        ),
    )
    .unwrap();
    std::fs::write(inbox.join("broken.xlsx"), b"not a workbook").unwrap();
    clock.set(rfc("2026-09-05T08:00:00+07:00"));
    let done = job::run_once(&app, now(clock.as_ref()), now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!((done.imported, done.refused), (1, 1), "{done:?}");
    assert!(inbox.join("imported/phuong1-q3.xlsx").exists());
    assert!(inbox.join("refused/broken.xlsx").exists());
    let why = std::fs::read_to_string(inbox.join("refused/broken.xlsx.txt")).unwrap();
    assert!(why.contains("not a readable .xlsx"), "{why}");
    assert!(done.forms.is_empty() || !done.forms.contains(&"PHUONG_1".to_string()));

    // Three days before the deadline: reminders to the two units still silent, not to Phường 1.
    let before = smtp.received().len();
    clock.set(rfc("2026-09-09T07:59:00+07:00"));
    let daemon = Daemon::with_runner(
        app.clone(),
        None,
        Arc::new(Jobs::default()),
        Arc::new(SyncCounters::default()),
    )
    .unwrap();
    clock.set(rfc("2026-09-09T08:00:05+07:00"));
    let started = daemon.tick(now(clock.as_ref())).await.unwrap();
    assert!(
        started.contains(&(Job::Letter, t("2026-09-09T08:00:00+07:00"))),
        "{started:?}"
    );
    assert!(daemon.drain(std::time::Duration::from_secs(30)).await);
    let got = smtp.received();
    let reminders: Vec<_> = got[before..].iter().collect();
    let mut to: Vec<String> = reminders.iter().map(|m| m.rcpt_to[0].clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["dongle@city.example.gov.vn", "tnmt@city.example.gov.vn"]
    );
    for m in &reminders {
        let subject = m.parsed().subject.unwrap();
        assert!(subject.starts_with("Nhắc báo cáo"), "{subject}");
    }
    // After the deadline (13 September local) nothing more is sent.
    let late = job::run_once(
        &app,
        t("2026-09-13T08:00:00+07:00"),
        t("2026-09-13T08:00:00+07:00"),
    )
    .await
    .unwrap();
    assert_eq!(late.queued, 0);
    let _ = import::MAX_BYTES;
    app.store.close().await;
}

#[test]
fn the_register_is_validated_with_key_paths() {
    let base = config_text("127.0.0.1:9".parse().unwrap(), "sqlite://x.db", "");
    let text = format!(
        r#"{base}
[[commitments]]
code = "A"
text = "x"
owners = ["PHUONG_1", "NOWHERE"]
kind = "percent"
colour = "red"

[[commitments]]
code = "A"
text = "y"
owners = "all"
kind = "percent"
metric = "late_rate"
min = 3.0
due = "sometimes"
"#
    );
    let problems =
        dondoc::config::load_from_str(&text, &HashMap::new(), Path::new(".")).expect_err("refused");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "commitments[0].colour",
        "commitments[0].owners[1]",
        "commitments[0].min",
        "commitments[1].code",
        "commitments[1].min",
        "commitments[1].due",
    ] {
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    // The demo and the example hold valid registers.
    for f in ["config/dondoc.toml", "config/dondoc.example.toml"] {
        let text = std::fs::read_to_string(repo_file(f)).unwrap();
        let s = dondoc::config::load_from_str(&text, &HashMap::new(), Path::new("."))
            .unwrap_or_else(|p| panic!("{f}: {p:#?}"));
        assert!(!s.commitments.is_empty(), "{f} has a register");
    }
}
