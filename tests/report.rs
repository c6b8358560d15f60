//! Reports (issue #9): every format built for a known dataset and read back (the xlsx with
//! calamine: sheet names, cells, number formats, fills; its XML through the zip for the frozen
//! header and the print setup), the reporting basis exact at the 14th 23:59:59 and the 15th
//! 00:00:00, the `dondoc report` command, and the scheduled report delivered once, with its
//! attachment, through a real SMTP server on loopback (clock injected: no test waits).

mod common;

use calamine::{Data, Reader, Xlsx};
use common::smtp::TestSmtp;
use common::*;
use dondoc::app::App;
use dondoc::daemon::{Daemon, Job, SyncCounters};
use dondoc::domain::time::ManualClock;
use dondoc::domain::time::{Epoch, parse_compact};
use dondoc::rates::{Metric, Period, RowState};
use dondoc::report::model::ActionKind;
use dondoc::report::{self, Basis, Report, ReportPeriod, xlsx};
use dondoc::upstream::records::{Dossier, Procedure, RecordKind, Rejection};
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

/// A local `yyyyMMddHHmmss` instant.
fn at(s: &str) -> Epoch {
    parse_compact(s).unwrap().unwrap()
}

fn rfc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

/// A finished (status 10), digitized, online dossier of full-online procedure P4.
fn dossier(code: &str, unit: &str, received: &str, due: &str, ended: &str) -> Dossier {
    Dossier {
        code: code.into(),
        procedure_code: "P4".into(),
        field_code: Some("G01".into()),
        unit_code: unit.into(),
        channel: Some(2),
        status: 10,
        received_at: Some(at(received)),
        appointed_at: Some(at(due)),
        due_at: Some(at(due)),
        ended_at: Some(at(ended)),
        returned_at: Some(at(ended)),
        paid_online: 0,
        fee_total: 0.0,
        digitized: true,
        first_apology_at: None,
        rating: None,
        rated_at: None,
        updated_at: at(ended),
        deleted: false,
    }
}

const P1: &str = "000.01.23.H50";
const TNMT: &str = "000.10.23.H50";
const DONG_LE: &str = "000.02.23.H50";

/// The known dataset (every instant local):
/// - UBND Phường 1: 40 dossiers received 2 May, due 20 May; 36 ended 10 May, 4 ended 25 May
///   (late; one with an apology slip); 2 not digitized; 30 online, 10 direct. In February, 20
///   dossiers all on time, digitized, half online (the previous quarter).
/// - Phòng Tài nguyên và Môi trường: 25 dossiers on time, all digitized, 20 online.
/// - UBND Phường Đông Lễ: B1 received and ended at 14 June 23:59:59, B2 at 15 June 00:00:00.
/// - One rejected dossier, and 3 dossiers of a code no unit claims.
fn dataset() -> Vec<Dossier> {
    let mut v = Vec::new();
    for i in 1..=40 {
        let ended = if i > 36 {
            "20240525100000"
        } else {
            "20240510100000"
        };
        let mut d = dossier(
            &format!("P1-{i:03}"),
            P1,
            "20240502080000",
            "20240520170000",
            ended,
        );
        d.digitized = i > 2;
        d.channel = Some(if i <= 30 { 2 } else { 1 });
        if i == 40 {
            d.first_apology_at = Some(at("20240526090000"));
        }
        v.push(d);
    }
    for i in 1..=20 {
        let mut d = dossier(
            &format!("P1-Q1-{i:03}"),
            P1,
            "20240205080000",
            "20240220170000",
            "20240210100000",
        );
        d.channel = Some(if i <= 10 { 2 } else { 1 });
        v.push(d);
    }
    for i in 1..=25 {
        let mut d = dossier(
            &format!("TN-{i:03}"),
            TNMT,
            "20240503080000",
            "20240530170000",
            "20240515100000",
        );
        d.channel = Some(if i <= 20 { 2 } else { 1 });
        v.push(d);
    }
    for (code, t) in [("B1", "20240614235959"), ("B2", "20240615000000")] {
        v.push(dossier(code, DONG_LE, t, "20240630170000", t));
    }
    for i in 1..=3 {
        v.push(dossier(
            &format!("X-{i}"),
            "999.99.99.H50",
            "20240502080000",
            "20240520170000",
            "20240510100000",
        ));
    }
    v
}

/// An application on a fresh SQLite file holding the known dataset (no upstream involved).
async fn known(dir: &Path, extra: &str) -> App {
    let db = db_url(dir, "known.db");
    let text = format!(
        "{}{extra}",
        config_text("127.0.0.1:9".parse().unwrap(), &db, "")
    );
    let clock = Arc::new(ManualClock::new(rfc("2024-07-10T00:00:00+07:00")));
    let app = App::build(settings(&text), clock).await.unwrap();
    let now = at("20240701000000");
    app.store
        .replace_procedures(
            "motcua",
            &[Procedure {
                code: "P4".into(),
                name: Some("Cấp giấy phép xây dựng".into()),
                field_code: Some("G01".into()),
                field_name: None,
                level: Some(4),
            }],
            &[],
            now,
        )
        .await
        .unwrap();
    let rejected = Rejection {
        kind: RecordKind::Dossier,
        key: "BAD-1".into(),
        updated_at: None,
        reason: "NgayTiepNhan is not a date".into(),
    };
    app.store
        .store_dossier_page("motcua", "ho-so", &dataset(), &[rejected], None, now)
        .await
        .unwrap();
    app
}

async fn build(app: &App, p: &str, basis: Basis, as_of: Epoch) -> Report {
    report::build(
        &app.store,
        &app.settings,
        ReportPeriod::new(period(p), basis),
        as_of,
        as_of,
    )
    .await
    .unwrap()
}

fn line<'a>(r: &'a Report, m: Metric, unit: &str) -> &'a report::model::Line {
    r.criteria
        .iter()
        .find(|c| c.metric == m && c.scope.is_none())
        .unwrap()
        .lines
        .iter()
        .find(|l| l.unit == unit)
        .unwrap()
}

#[tokio::test]
async fn the_reporting_basis_is_exact_at_the_14th_23_59_59_and_the_15th_00_00_00() {
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    let late = at("20240901000000");
    let results = |r: &Report| line(r, Metric::DigitizedRate, "PHUONG_DONG_LE").denominator;
    let received = |r: &Report| line(r, Metric::OnlineRate, "PHUONG_DONG_LE").denominator;

    // Reporting Q2 is [15 March, 15 June): B1 (14 June 23:59:59) is in, B2 (15 June 00:00:00)
    // is the first second of Q3.
    let q2 = build(&app, "2024-Q2", Basis::Reporting, late).await;
    assert_eq!((results(&q2), received(&q2)), (1, 1));
    let q3 = build(&app, "2024-Q3", Basis::Reporting, late).await;
    assert_eq!((results(&q3), received(&q3)), (1, 1));
    // The calendar Q2 holds both.
    let cal = build(&app, "2024-Q2", Basis::Calendar, late).await;
    assert_eq!((results(&cal), received(&cal)), (2, 2));

    // Evaluated at 14 June 23:59:59 the period sees up to that instant, excluded: not B1 yet,
    // and it is not final. At 15 June 00:00:00 it sees B1 and is final.
    let before = build(&app, "2024-Q2", Basis::Reporting, at("20240614235959")).await;
    assert_eq!((results(&before), received(&before)), (0, 0));
    assert!(!before.is_final());
    let after = build(&app, "2024-Q2", Basis::Reporting, at("20240615000000")).await;
    assert_eq!((results(&after), received(&after)), (1, 1));
    assert!(after.is_final());
    assert_eq!(after.period.bounds_vi(), "15/03/2024 – 14/06/2024");
}

#[tokio::test]
async fn the_report_holds_the_known_numbers_worst_first_with_actions_and_quality() {
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    let r = build(&app, "2024-Q2", Basis::Calendar, at("20240710000000")).await;
    // The committed criteria: the seven default targets and the scoped satisfaction target.
    let names: Vec<String> = r.criteria.iter().map(|c| c.label()).collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(
        !r.criteria.iter().any(|c| c.metric == Metric::EsignRate),
        "esign_rate has no target"
    );
    let late = line(&r, Metric::LateRate, "PHUONG_1");
    assert_eq!((late.numerator, late.denominator), (4, 40));
    assert_eq!(late.state, RowState::Breach);
    assert_eq!(late.previous, Some(0.0), "February: nothing late");
    assert!((late.change_points().unwrap() - 10.0).abs() < 1e-9);
    let city = line(&r, Metric::DigitizedRate, "CITY");
    assert_eq!(
        (city.numerator, city.denominator),
        (65, 67),
        "unmapped codes count nowhere"
    );
    let apology = line(&r, Metric::ApologyRate, "PHUONG_1");
    assert_eq!(
        (apology.numerator, apology.denominator, apology.state),
        (1, 4, RowState::InsufficientSample)
    );
    // Worst first: Phường 1 misses digitization (95 %), Đông Lễ has 2 of 2 but too few, the
    // agency has 25 of 25.
    let digit = r
        .criteria
        .iter()
        .find(|c| c.metric == Metric::DigitizedRate)
        .unwrap();
    let order: Vec<&str> = digit.ranked().iter().map(|l| l.unit.as_str()).collect();
    assert_eq!(order, ["PHUONG_1", "PHONG_TNMT", "PHUONG_DONG_LE"]);
    // Actions: the three late dossiers without an apology; the two results not digitized.
    let apology_codes: Vec<&str> = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Apology)
        .flat_map(|a| a.items.iter().map(|i| i.code.as_str()))
        .collect();
    assert_eq!(apology_codes, ["P1-037", "P1-038", "P1-039"]);
    let digitize: Vec<&str> = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Digitize)
        .flat_map(|a| a.items.iter().map(|i| i.code.as_str()))
        .collect();
    assert_eq!(digitize, ["P1-001", "P1-002"]);
    assert_eq!(
        r.quality.unmapped_dossier_codes,
        [("999.99.99.H50".to_string(), 3)]
    );
    assert_eq!(r.quality.rejected.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// xlsx read back

fn workbook(bytes: &[u8]) -> Xlsx<Cursor<Vec<u8>>> {
    Xlsx::new(Cursor::new(bytes.to_vec())).expect("calamine opens the workbook")
}

fn text(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    match range.get_value((row, col)) {
        Some(Data::String(s)) => s.clone(),
        other => panic!("({row}, {col}) is not text: {other:?}"),
    }
}

fn number(range: &calamine::Range<Data>, row: u32, col: u32) -> f64 {
    match range.get_value((row, col)) {
        Some(Data::Float(v)) => *v,
        Some(Data::Int(v)) => *v as f64,
        other => panic!("({row}, {col}) is not a number: {other:?}"),
    }
}

/// The row whose column `col` holds `value`.
fn row_of(range: &calamine::Range<Data>, col: u32, value: &str) -> u32 {
    (0..range.end().unwrap().0 + 1)
        .find(|r| matches!(range.get_value((*r, col)), Some(Data::String(s)) if s == value))
        .unwrap_or_else(|| panic!("no row with {value} in column {col}"))
}

fn zip_text(bytes: &[u8], name: &str) -> String {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).unwrap();
    let mut s = String::new();
    z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
    s
}

#[tokio::test]
async fn the_xlsx_reads_back_with_names_numbers_formats_fills_frozen_header_and_a4_landscape() {
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    let r = build(&app, "2024-Q2", Basis::Reporting, at("20240710000000")).await;
    let bytes = xlsx::workbook(&r).unwrap();
    let mut wb = workbook(&bytes);

    // Sheet names: Vietnamese, ≤ 31 characters, none of []:*?/\.
    let names = wb.sheet_names();
    assert_eq!(names.len(), 2 + r.criteria.len() + 2, "{names:?}");
    assert_eq!(names[0], "Tổng hợp");
    assert_eq!(names[1], "Hồ sơ trễ hạn");
    assert!(names.contains(&"Số hóa kết quả".to_string()));
    assert!(
        names.contains(&"Mức độ hài lòng - land".to_string()),
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["Điểm 766", "Việc cần làm", "Chất lượng dữ liệu"]
    );
    for n in &names {
        assert!(n.chars().count() <= 31, "{n}");
        assert!(!n.contains(['[', ']', ':', '*', '?', '/', '\\']), "{n}");
    }

    // The summary: header lines, the column header, the city's numbers.
    let sum = wb.worksheet_range("Tổng hợp").unwrap();
    assert!(text(&sum, 0, 0).starts_with("BÁO CÁO KẾT QUẢ THỰC HIỆN"));
    let period_line = text(&sum, 1, 0);
    assert!(
        period_line.contains("Quý 2/2024") && period_line.contains("15/03/2024 – 14/06/2024"),
        "{period_line}"
    );
    assert!(period_line.contains("kỳ báo cáo"), "{period_line}");
    let asof_line = text(&sum, 2, 0);
    assert!(
        asof_line.contains("10/07/2024 00:00")
            && asof_line.contains(&format!("dondoc {}", env!("CARGO_PKG_VERSION"))),
        "{asof_line}"
    );
    let header: Vec<String> = (0..12).map(|c| text(&sum, 3, c)).collect();
    assert_eq!(
        header,
        [
            "STT",
            "Chỉ tiêu",
            "Mức cam kết",
            "Tử số",
            "Mẫu số",
            "Kết quả",
            "Đánh giá",
            "Kỳ trước",
            "Thay đổi (điểm %)",
            "Số đơn vị đạt",
            "Số đơn vị không đạt",
            "Trang chi tiết"
        ]
    );
    let row = row_of(&sum, 1, "Số hóa kết quả");
    // Reporting Q2 holds B1 but not B2: 38 + 25 + 1 of 40 + 25 + 1.
    assert_eq!((number(&sum, row, 3), number(&sum, row, 4)), (64.0, 66.0));
    assert!(
        (number(&sum, row, 5) - 64.0 / 66.0).abs() < 1e-12,
        "the rate is a real number"
    );
    assert_eq!(text(&sum, row, 6), "Không đạt");
    assert!(
        (number(&sum, row, 2) - 0.99).abs() < 1e-12,
        "the target is a number too"
    );
    let ok_row = row_of(&sum, 1, "Trực tuyến toàn trình");
    assert_eq!(text(&sum, ok_row, 6), "Đạt");

    // Number formats and fills, through calamine's styles.
    let styles = wb.worksheet_style("Tổng hợp").unwrap();
    let fmt = |r: u32, c: u32| {
        styles
            .get((r, c))
            .and_then(|s| s.number_format.as_ref())
            .map(|f| f.format_code.clone())
            .unwrap_or_default()
    };
    assert_eq!(fmt(row, 5), "0.00%", "a percent format on the rate");
    assert_eq!(fmt(row, 7), "0.00%");
    assert_eq!(fmt(row, 3), "#,##0");
    assert!(
        fmt(row, 2).contains('%') && fmt(row, 2).contains('≥'),
        "{}",
        fmt(row, 2)
    );
    let fill = |r: u32, c: u32| {
        styles
            .get((r, c))
            .and_then(|s| s.fill.as_ref())
            .and_then(|f| f.foreground_color.or(f.background_color))
            .map(|c| (c.red, c.green, c.blue))
    };
    let (miss, met) = (fill(row, 6), fill(ok_row, 6));
    assert!(miss.is_some() && met.is_some(), "{miss:?} {met:?}");
    assert_ne!(miss, met, "met and not met have different fills");
    assert_eq!(
        miss,
        fill(row, 5),
        "the rate beside the words carries the same fill"
    );

    // A criterion sheet: every unit but the city, worst first, the city's total last.
    let digit = wb.worksheet_range("Số hóa kết quả").unwrap();
    assert_eq!(text(&digit, 3, 2), "Đơn vị");
    assert_eq!(text(&digit, 4, 1), "PHUONG_1");
    assert_eq!(text(&digit, 4, 2), "UBND Phường 1");
    assert_eq!(number(&digit, 4, 0), 1.0);
    assert!((number(&digit, 4, 6) - 0.95).abs() < 1e-12);
    assert_eq!(text(&digit, 7, 1), "CITY");
    assert!(text(&digit, 7, 2).starts_with("Toàn thành phố"));
    let late = wb.worksheet_range("Hồ sơ trễ hạn").unwrap();
    // Change from the previous quarter, in points, as a number: 10 % late against 0 %.
    assert_eq!(text(&late, 4, 1), "PHUONG_1");
    assert!((number(&late, 4, 9) - 10.0).abs() < 1e-9);
    assert!(
        (number(&late, 4, 8)).abs() < 1e-12,
        "the previous value, 0 %"
    );

    // Actions: dossier codes, dates as dates.
    let acts = wb.worksheet_range("Việc cần làm").unwrap();
    let codes: Vec<String> = (4..9).map(|r| text(&acts, r, 4)).collect();
    assert_eq!(codes, ["P1-037", "P1-038", "P1-039", "P1-001", "P1-002"]);
    assert_eq!(text(&acts, 4, 3), "Hồ sơ trễ hạn chưa có phiếu xin lỗi");
    assert!(
        matches!(acts.get_value((4, 6)), Some(Data::DateTime(_))),
        "{:?}",
        acts.get_value((4, 6))
    );
    let acts_style = wb.worksheet_style("Việc cần làm").unwrap();
    assert_eq!(
        acts_style
            .get((4, 6))
            .and_then(|s| s.number_format.as_ref())
            .map(|f| f.format_code.as_str()),
        Some("dd/mm/yyyy hh:mm")
    );

    // Data quality: the unclaimed code, the rejected record.
    let q = wb.worksheet_range("Chất lượng dữ liệu").unwrap();
    let r_code = row_of(&q, 2, "999.99.99.H50");
    assert_eq!(number(&q, r_code, 3), 3.0);
    let r_rej = row_of(&q, 2, "NgayTiepNhan is not a date");
    assert_eq!(number(&q, r_rej, 3), 1.0);

    // The XML: every sheet's header frozen below row 4, A4 landscape, one page wide, the column
    // header repeated when printed.
    for i in 1..=names.len() {
        let xml = zip_text(&bytes, &format!("xl/worksheets/sheet{i}.xml"));
        assert!(
            xml.contains(
                r#"<pane ySplit="4" topLeftCell="A5" activePane="bottomLeft" state="frozen"/>"#
            ),
            "sheet {i}: {}",
            &xml[..xml.len().min(600)]
        );
        assert!(
            xml.contains(r#"paperSize="9""#) && xml.contains(r#"orientation="landscape""#),
            "sheet {i}"
        );
        assert!(xml.contains(r#"<pageSetUpPr fitToPage="1"/>"#), "sheet {i}");
    }
    let book = zip_text(&bytes, "xl/workbook.xml");
    assert!(book.contains("_xlnm.Print_Titles"), "{book}");
}

#[tokio::test]
async fn csv_and_html_carry_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    let r = build(&app, "2024-Q2", Basis::Calendar, at("20240710000000")).await;

    let csv = report::csv::render(&r);
    assert!(csv.starts_with('\u{feff}'), "UTF-8 with a BOM");
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines[0].starts_with("period,basis,period_start,period_end,as_of,unit,unit_name,"));
    assert_eq!(
        lines.len(),
        1 + r.criteria.len() * 4,
        "a row per unit and criterion"
    );
    let head: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines
        .iter()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c[col("unit")] == "PHUONG_1" && c[col("metric")] == "late_rate")
        .unwrap();
    assert_eq!(row[col("unit_name")], "UBND Phường 1");
    assert_eq!(row[col("basis")], "calendar");
    assert_eq!(row[col("period_start")], "2024-04-01T00:00:00+07:00");
    assert_eq!(
        (row[col("numerator")], row[col("denominator")]),
        ("4", "40")
    );
    assert_eq!(row[col("value")], "0.1");
    assert_eq!(
        (row[col("state")], row[col("state_vi")]),
        ("breach", "Không đạt")
    );
    assert_eq!(row[col("target_max")], "1");
    assert_eq!(row[col("change_points")], "10");

    let page = report::html::page(&r);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<meta charset=\"utf-8\">"));
    assert!(page.contains("Quý 2/2024") && page.contains("01/04/2024 – 30/06/2024"));
    assert!(page.contains("UBND Phường 1") && page.contains("Không đạt") && page.contains("10%"));
    assert!(page.contains("P1-037") && page.contains("999.99.99.H50"));
    assert!(
        page.contains("background:#ffc7ce"),
        "not met is filled as well as worded"
    );
}

// ---------------------------------------------------------------------------------------------
// The command

fn dondoc(cwd: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_dondoc"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DONDOC") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.current_dir(cwd);
    c
}

#[tokio::test]
async fn dondoc_report_writes_each_format_and_explains_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    app.store.close().await;
    let cfg = dir.path().join("dondoc.toml");
    std::fs::write(
        &cfg,
        config_text(
            "127.0.0.1:9".parse().unwrap(),
            &db_url(dir.path(), "known.db"),
            "",
        ),
    )
    .unwrap();
    let base = |out: &str| {
        let mut c = dondoc(dir.path());
        c.args([
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "--period",
            "2024-Q2",
            "--as-of",
        ])
        .arg("2024-07-10T00:00:00+07:00")
        .args(["--out", out]);
        c
    };
    for out in ["r.xlsx", "r.csv", "r.html"] {
        let o = base(out).output().unwrap();
        assert!(
            o.status.success(),
            "{out}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let said = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            said.contains("Quý 2/2024") && said.contains("reporting basis"),
            "{said}"
        );
        assert!(std::fs::metadata(dir.path().join(out)).unwrap().len() > 100);
    }
    let mut wb = workbook(&std::fs::read(dir.path().join("r.xlsx")).unwrap());
    let sum = wb.worksheet_range("Tổng hợp").unwrap();
    assert!(
        text(&sum, 1, 0).contains("15/03/2024 – 14/06/2024"),
        "the configured basis: reporting"
    );

    // --basis calendar, --format with another extension, to standard output.
    let o = base("-")
        .args(["--basis", "calendar", "--format", "csv"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with('\u{feff}') && out.contains("2024-04-01T00:00:00+07:00"));

    // Usage errors exit 2 and say what to do.
    let o = base("r.txt").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format xlsx|csv|html"));
    let mut c = dondoc(dir.path());
    let o = c
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "--period",
            "2024-Q9",
        ])
        .args(["--out", "x.xlsx"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a period"));
    let mut c = dondoc(dir.path());
    let o = c
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "report",
            "--period",
            "2025-Q1",
        ])
        .args(["--as-of", "2024-07-10T00:00:00+07:00", "--out", "x.xlsx"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has not begun"));
}

// ---------------------------------------------------------------------------------------------
// Scheduled

fn scheduled_config(sim: std::net::SocketAddr, db: &str, smtp_port: u16) -> String {
    let units = UNITS.replace(
        "code = \"PHUONG_1\"\n",
        "code = \"PHUONG_1\"\nemails = [\"phuong1@city.example.gov.vn\"]\n",
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
hello_name = "dondoc.city.example.gov.vn"
timeout_secs = 2

[reports]
recipients = ["phongnoivu@city.example.gov.vn"]
cc = ["vanphong@city.example.gov.vn"]
unit_extracts = true
"#
    )
}

#[tokio::test]
async fn the_scheduled_report_is_delivered_once_with_its_xlsx_through_real_smtp() {
    // Wednesday 5 June 2024, 07:59:00: the simulator's history, then a sync.
    let clock = Arc::new(ManualClock::new(rfc("2024-06-05T07:59:00+07:00")));
    let sim = start_sim(sim_options(3000, 800), clock.clone()).await;
    let smtp = TestSmtp::start();
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "s.db");
    let s = settings(&scheduled_config(sim.addr, &db, smtp.port()));
    assert_eq!(s.reports.schedule, "0 0 8 5 3,6,9,12 *", "the default cron");
    assert_eq!(s.reports.basis, Basis::Reporting, "the default basis");
    let app = App::build(s, clock.clone()).await.unwrap();
    let report = dondoc::sync::run_once(&app, now(clock.as_ref())).await;
    assert!(report.failures().is_empty(), "{:?}", report.failures());

    // Two replicas on one database; the first one's tick at 08:00:05 runs the 08:00 fire.
    let replica = || {
        Daemon::with_runner(
            app.clone(),
            None,
            Arc::new(dondoc::daemon::Jobs::default()),
            Arc::new(SyncCounters::default()),
        )
        .unwrap()
    };
    let daemon = replica();
    let other = replica();
    clock.set(rfc("2024-06-05T08:00:05+07:00"));
    let started = daemon.tick(now(clock.as_ref())).await.unwrap();
    let fire = at("20240605080000");
    assert!(started.contains(&(Job::Reports, fire)), "{started:?}");
    assert!(daemon.drain(std::time::Duration::from_secs(30)).await);

    let got = smtp.received();
    assert_eq!(got.len(), 2, "the report and Phường 1's extract");
    let main = got
        .iter()
        .find(|m| {
            m.rcpt_to
                .contains(&"phongnoivu@city.example.gov.vn".to_string())
        })
        .expect("the report to the Home Affairs office");
    assert!(
        main.rcpt_to
            .contains(&"vanphong@city.example.gov.vn".to_string()),
        "cc"
    );
    let p = main.parsed();
    let subject = p.subject.clone().unwrap();
    assert!(
        subject.contains("Quý 2/2024") && subject.contains("15/03/2024 – 14/06/2024"),
        "{subject}"
    );
    assert!(
        p.message_id
            .as_deref()
            .unwrap()
            .starts_with("dondoc.report.2024-Q2.reporting.20240605T080000@"),
        "{:?}",
        p.message_id
    );
    let text_body = p.text.clone().unwrap();
    assert!(
        text_body.contains("Kính gửi Phòng Nội vụ")
            && text_body.contains("TỔNG HỢP TOÀN THÀNH PHỐ"),
        "{text_body}"
    );
    let html_body = p.html.clone().unwrap();
    assert!(html_body.contains("<table") && html_body.contains("Hồ sơ trễ hạn"));
    assert_eq!(p.attachments.len(), 1);
    let att = &p.attachments[0];
    assert_eq!(
        att.filename.as_deref(),
        Some("bao-cao-chi-tieu-2024-Q2-reporting.xlsx")
    );
    assert_eq!(att.content_type, report::XLSX_TYPE);
    let mut wb = workbook(&att.bytes);
    assert_eq!(wb.sheet_names()[0], "Tổng hợp");
    let sum = wb.worksheet_range("Tổng hợp").unwrap();
    assert!(
        text(&sum, 2, 0).contains("05/06/2024 08:00"),
        "as of the fire: {}",
        text(&sum, 2, 0)
    );
    assert!(
        text(&sum, 2, 0).contains("kỳ chưa kết thúc"),
        "5 June is inside the reporting Q2"
    );

    let unit = got
        .iter()
        .find(|m| m.rcpt_to == ["phuong1@city.example.gov.vn"])
        .expect("Phường 1's extract");
    let pu = unit.parsed();
    assert!(pu.subject.unwrap().starts_with("UBND Phường 1: kết quả"));
    let mut one = workbook(&pu.attachments[0].bytes);
    assert_eq!(one.sheet_names(), ["Kết quả đơn vị"]);
    let ext = one.worksheet_range("Kết quả đơn vị").unwrap();
    assert_eq!(text(&ext, 3, 0), "Chỉ tiêu");
    assert_eq!(text(&ext, 4, 0), "Hồ sơ trễ hạn");

    // Once: the same fire again (a second replica, or a retry) sends nothing more.
    let again = dondoc::report::scheduled::run_once(&app, fire, now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(again.queued, 0, "the same Message-IDs are not queued twice");
    clock.set(rfc("2024-06-05T08:00:20+07:00"));
    let started = other.tick(now(clock.as_ref())).await.unwrap();
    assert!(
        !started.iter().any(|(j, _)| *j == Job::Reports),
        "claimed already: {started:?}"
    );
    assert!(other.drain(std::time::Duration::from_secs(30)).await);
    dondoc::alerts::outbox::deliver_once(
        &app,
        &dondoc::alerts::mailer::Mailer::from_settings(app.settings.smtp.as_ref().unwrap())
            .unwrap(),
        now(clock.as_ref()),
    )
    .await
    .unwrap();
    assert_eq!(smtp.received().len(), 2, "delivered once");
}

#[tokio::test]
async fn december_reports_the_quarter_and_the_year_and_a_stale_fire_is_left_alone() {
    let clock = Arc::new(ManualClock::new(rfc("2024-12-05T08:00:10+07:00")));
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path(), "d.db");
    // No SMTP server is needed to queue; the port is never contacted.
    let s = settings(&scheduled_config("127.0.0.1:9".parse().unwrap(), &db, 9));
    let app = App::build(s, clock.clone()).await.unwrap();
    let fire = at("20241205080000");
    let out = dondoc::report::scheduled::run_once(&app, fire, now(clock.as_ref()))
        .await
        .unwrap();
    assert_eq!(out.periods, ["2024-Q4", "2024"]);
    assert_eq!(out.queued, 4, "a report and an extract for each period");
    let subjects: Vec<String> = app
        .store
        .outbox(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Năm 2024") && s.contains("15/12/2023 – 14/12/2024")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Quý 4/2024") && s.contains("15/09/2024 – 14/12/2024")),
        "{subjects:?}"
    );

    // A fire more than a week old (a daemon down past the deadline) is not served.
    let stale =
        dondoc::report::scheduled::run_once(&app, at("20240905080000"), now(clock.as_ref()))
            .await
            .unwrap();
    assert_eq!(stale.queued, 0);
    assert!(stale.skipped.unwrap().contains("more than 7 days"));
    assert_eq!(app.store.outbox(10).await.unwrap().len(), 4);
    // …nor caught up by a daemon starting now.
    clock.set(rfc("2024-12-20T09:00:00+07:00"));
    let d = Daemon::with_runner(
        app.clone(),
        None,
        Arc::new(Noop),
        Arc::new(SyncCounters::default()),
    )
    .unwrap();
    let started = d.catch_up(now(clock.as_ref())).await.unwrap();
    assert!(started.iter().any(|(j, _)| *j == Job::Sync), "{started:?}");
    assert!(
        !started.iter().any(|(j, _)| *j == Job::Reports),
        "{started:?}"
    );
    assert!(d.drain(std::time::Duration::from_secs(5)).await);
    // Within the week it is caught up (a daemon down on the 5th, back on the 9th).
    let dir2 = tempfile::tempdir().unwrap();
    let s = settings(&scheduled_config(
        "127.0.0.1:9".parse().unwrap(),
        &db_url(dir2.path(), "e.db"),
        9,
    ));
    clock.set(rfc("2024-06-09T10:00:00+07:00"));
    let app2 = App::build(s, clock.clone()).await.unwrap();
    let d = Daemon::with_runner(
        app2,
        None,
        Arc::new(Noop),
        Arc::new(SyncCounters::default()),
    )
    .unwrap();
    let started = d.catch_up(now(clock.as_ref())).await.unwrap();
    assert!(
        started.contains(&(Job::Reports, at("20240605080000"))),
        "{started:?}"
    );
    assert!(d.drain(std::time::Duration::from_secs(5)).await);
}

/// A runner that runs nothing (for what the scheduler starts).
struct Noop;

impl dondoc::daemon::Runner for Noop {
    fn run(
        &self,
        _job: Job,
        _app: App,
        _fire: i64,
        _now: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>> {
        Box::pin(async { Ok(()) })
    }
}

// ---------------------------------------------------------------------------------------------
// LibreOffice

fn soffice() -> Option<&'static str> {
    ["libreoffice", "soffice"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The shipped workbook opens in LibreOffice and converts to PDF. Runs where LibreOffice is
/// installed (`apt-get install libreoffice-calc-nogui`); `DONDOC_REQUIRE_LIBREOFFICE=1` makes its
/// absence a failure (for CI). docs/reports.md describes the check by eye.
#[tokio::test]
async fn the_xlsx_opens_in_libreoffice() {
    let Some(bin) = soffice() else {
        assert!(
            std::env::var("DONDOC_REQUIRE_LIBREOFFICE").is_err(),
            "DONDOC_REQUIRE_LIBREOFFICE is set but libreoffice is not installed"
        );
        eprintln!(
            "SKIPPED (LibreOffice): libreoffice is not installed; `apt-get install libreoffice-calc-nogui` (as .ci/run does) to run the conversion check"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let app = known(dir.path(), "").await;
    let r = build(&app, "2024-Q2", Basis::Reporting, at("20240710000000")).await;
    let xlsx_path = dir.path().join("report.xlsx");
    std::fs::write(&xlsx_path, xlsx::workbook(&r).unwrap()).unwrap();
    let unit_path = dir.path().join("unit.xlsx");
    std::fs::write(&unit_path, xlsx::unit_extract(&r, "PHUONG_1").unwrap()).unwrap();
    let profile = format!(
        "-env:UserInstallation=file://{}/lo-profile",
        dir.path().display()
    );
    let o = std::process::Command::new(bin)
        .args(["--headless", &profile, "--convert-to", "pdf", "--outdir"])
        .arg(dir.path())
        .arg(&xlsx_path)
        .arg(&unit_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for pdf in ["report.pdf", "unit.pdf"] {
        let bytes = std::fs::read(dir.path().join(pdf)).unwrap_or_default();
        assert!(
            bytes.starts_with(b"%PDF") && bytes.len() > 5_000,
            "{pdf}: {} bytes",
            bytes.len()
        );
    }
}
