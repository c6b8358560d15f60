//! Spreadsheet imports end to end: an .xlsx of the simulator's dossiers (real date cells,
//! Vietnamese headers and values, flattened lists, personal columns) and .csv files of its
//! documents and catalogue, written by the test and dropped into an import source's folder, give
//! exactly the rates of a sync from the contract simulator; re-importing changes nothing; bad rows
//! are set aside with reasons naming their columns, in a report beside the moved file; a file
//! that does not fit the mapping is failed; `dondoc import` and `dondoc check-source` on files.

use dondoc::app::App;
use dondoc::config::{Settings, load_from_str};
use dondoc::domain::time::{Clock, ManualClock};
use dondoc::domain::{Period, PeriodKind};
use dondoc::simulator::{SimOptions, SimUnit, Simulator};
use dondoc::sync::run_once;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
code = "PHUONG_1"
name = "UBND Phường 1"
parent = "CITY"
one_stop_codes = ["000.01.23.H50", "000.10.23.H50"]
document_codes = ["P1", "TNMT"]

[[units]]
code = "PHUONG_DONG_LE"
name = "UBND Phường Đông Lễ"
parent = "CITY"
one_stop_codes = ["000.02.23.H50", "000.03.23.H50"]
document_codes = ["DL"]
"#;

const STATUS: [&str; 10] = [
    "Mới đăng ký",
    "Được tiếp nhận",
    "Không được tiếp nhận",
    "Đang xử lý",
    "Yêu cầu bổ sung giấy tờ",
    "Yêu cầu thực hiện nghĩa vụ tài chính",
    "Công dân yêu cầu rút hồ sơ",
    "Dừng xử lý",
    "Đã xử lý xong",
    "Đã trả kết quả",
];

/// The import source, as an administrator would write it.
fn import_source(folder: &Path) -> String {
    let status: Vec<String> = STATUS
        .iter()
        .enumerate()
        .map(|(i, s)| format!("\"{s}\" = {}", i + 1))
        .collect();
    format!(
        r#"
[sources.motcua]
kind = "import"
folder = "{folder}"
settle_secs = 0

[sources.motcua.dossiers]
files = "ho-so*"
date_format = "dd/MM/yyyy HH:mm:ss"

[sources.motcua.dossiers.fields]
MaHoSo = "Số hồ sơ"
MaTTHC = "Mã thủ tục"
MaLinhVuc = "Lĩnh vực"
DonViXuLy = "Đơn vị xử lý"
KenhThucHien = {{ from = "Hình thức nộp", map = {{ "Trực tiếp" = 1, "Trực tuyến" = 2, "Bưu chính" = 3 }} }}
TrangThaiHoSo = {{ from = "Trạng thái", map = {{ {status} }} }}
NgayTiepNhan = "Ngày tiếp nhận"
NgayHenTra = "Ngày hẹn trả"
NgayKetThucXuLy = "Ngày kết thúc xử lý"
NgayTra = "Ngày trả kết quả"
DuocThanhToanTrucTuyen = {{ from = "Thanh toán trực tuyến", default = 0 }}
DanhSachLePhi = {{ fields = {{ Gia = "Tổng phí, lệ phí" }} }}
DanhSachGiayToKetQua = {{ fields = {{ DuongDanTepTinKetQua = "Tệp kết quả" }} }}
DanhSachHoSoBoSung = {{ fields = {{ NgayHenTraMoi = "Hạn mới sau bổ sung" }} }}
DanhSachPhieuXinLoi = {{ fields = {{ NgayBanHanh = "Ngày phiếu xin lỗi" }} }}
DanhGiaHaiLong = {{ fields = {{ MucDo = {{ from = "Đánh giá", map = {{ "Rất hài lòng" = 1, "Hài lòng" = 2, "Không hài lòng" = 3 }} }}, NgayDanhGia = "Ngày đánh giá" }} }}
NgayCapNhat = "Cập nhật"
DaXoa = {{ from = "Đã xóa", map = {{ "Có" = 1, "Không" = 0 }}, default = 0 }}

[sources.motcua.documents]
files = "van-ban*"
date_format = "dd/MM/yyyy HH:mm:ss"

[sources.motcua.documents.fields]
MaVanBan = "Số văn bản"
MaDonVi = "Đơn vị"
LoaiVanBan = {{ from = "Loại", map = {{ "Đến" = "DEN", "Đi" = "DI" }} }}
NgayDen = "Ngày đến"
NgayBanHanh = "Ngày ban hành"
XuLyTrenMang = {{ from = "Xử lý trên mạng", map = {{ "x" = 1, "" = 0 }} }}
KySo = {{ from = "Ký số", map = {{ "x" = 1, "" = 0 }} }}
NgayCapNhat = "Cập nhật lần cuối"
DaXoa = {{ from = "Đã xóa", map = {{ "Có" = 1, "Không" = 0 }} }}

[sources.motcua.procedures]
files = "thu-tuc*"

[sources.motcua.procedures.fields]
MaTTHC = "Mã TTHC"
TenTTHC = "Tên thủ tục"
MaLinhVuc = "Mã lĩnh vực"
MucDo = {{ from = "Mức độ", map = {{ "Một phần" = 3, "Toàn trình" = 4, "Cung cấp thông tin" = 2, "Mức 1" = 1 }} }}
"#,
        folder = folder.display(),
        status = status.join(", "),
    )
}

fn sim_units() -> Vec<SimUnit> {
    [
        (vec!["000.00.23.H50"], "UBND"),
        (vec!["000.01.23.H50", "000.10.23.H50"], "P1"),
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

async fn start_sim(clock: Arc<dyn Clock>) -> Sim {
    let mut o = SimOptions::new(11, sim_units());
    o.dossiers = 1500;
    o.documents = 400;
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
    load_from_str(text, &HashMap::new(), Path::new("."))
        .unwrap_or_else(|p| panic!("test config invalid: {p:#?}"))
}

fn config(dir: &Path, db: &str, sources: &str) -> String {
    format!(
        "[database]\nurl = \"sqlite://{}\"\n{sources}\n{UNITS}",
        dir.join(db).display()
    )
}

// ---------------------------------------------------------------------------------------------
// Writing the files

fn code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.trim().is_empty() => s.trim().parse().ok(),
        _ => None,
    }
}

fn epoch(v: &Value) -> Option<i64> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .and_then(|s| dondoc::domain::time::parse_compact(s).ok().flatten())
}

fn local(t: i64) -> chrono::DateTime<chrono_tz::Tz> {
    dondoc::domain::time::to_local(t)
}

fn text_date(v: &Value) -> String {
    epoch(v)
        .map(|t| local(t).format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn list<'a>(d: &'a Value, k: &str) -> Vec<&'a Value> {
    d.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A dossier as one row of a vendor's export: lists flattened the way a metric reads them.
fn dossier_row(d: &Value) -> Vec<(&'static str, Cell)> {
    use Cell::*;
    let fee: f64 = list(d, "DanhSachLePhi")
        .iter()
        .map(|f| match &f["Gia"] {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s.parse().unwrap_or(0.0),
            _ => 0.0,
        })
        .sum();
    let link = list(d, "DanhSachGiayToKetQua")
        .iter()
        .filter_map(|p| p["DuongDanTepTinKetQua"].as_str())
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_string();
    let new_due = list(d, "DanhSachHoSoBoSung")
        .iter()
        .filter_map(|s| epoch(&s["NgayHenTraMoi"]))
        .max();
    let apology = list(d, "DanhSachPhieuXinLoi")
        .iter()
        .filter_map(|a| epoch(&a["NgayBanHanh"]))
        .min();
    let rating = d.get("DanhGiaHaiLong").filter(|r| r.is_object());
    let date = |v: &Value| epoch(v).map_or(Empty, Date);
    vec![
        ("STT", Empty),
        ("Số hồ sơ", Text(d["MaHoSo"].as_str().unwrap_or("").into())),
        (
            "Mã thủ tục",
            Text(d.get("MaTTHC").and_then(Value::as_str).unwrap_or("").into()),
        ),
        (
            "Lĩnh vực",
            Text(d["MaLinhVuc"].as_str().unwrap_or("").into()),
        ),
        (
            "Đơn vị xử lý",
            Text(d["DonViXuLy"].as_str().unwrap_or("").into()),
        ),
        (
            "Hình thức nộp",
            Text(match code(&d["KenhThucHien"]) {
                Some(1) => "Trực tiếp".into(),
                Some(2) => "Trực tuyến".into(),
                Some(3) => "Bưu chính".into(),
                _ => String::new(),
            }),
        ),
        (
            "Trạng thái",
            Text(
                code(&d["TrangThaiHoSo"])
                    .map_or(String::new(), |c| STATUS[(c - 1) as usize].into()),
            ),
        ),
        ("Ngày tiếp nhận", date(&d["NgayTiepNhan"])),
        ("Ngày hẹn trả", date(&d["NgayHenTra"])),
        ("Ngày kết thúc xử lý", date(&d["NgayKetThucXuLy"])),
        ("Ngày trả kết quả", date(&d["NgayTra"])),
        (
            "Thanh toán trực tuyến",
            code(&d["DuocThanhToanTrucTuyen"]).map_or(Empty, |c| Number(c as f64)),
        ),
        (
            "Tổng phí, lệ phí",
            if fee > 0.0 { Number(fee) } else { Empty },
        ),
        ("Tệp kết quả", Text(link)),
        ("Hạn mới sau bổ sung", new_due.map_or(Empty, Date)),
        ("Ngày phiếu xin lỗi", apology.map_or(Empty, Date)),
        (
            "Đánh giá",
            Text(
                rating
                    .and_then(|r| code(&r["MucDo"]))
                    .map_or(String::new(), |c| {
                        ["Rất hài lòng", "Hài lòng", "Không hài lòng"][(c - 1) as usize].into()
                    }),
            ),
        ),
        (
            "Ngày đánh giá",
            rating.map_or(Empty, |r| date(&r["NgayDanhGia"])),
        ),
        ("Cập nhật", Text(text_date(&d["NgayCapNhat"]))),
        (
            "Đã xóa",
            Text(
                if code(d.get("DaXoa").unwrap_or(&Value::Null)) == Some(1) {
                    "Có"
                } else {
                    "Không"
                }
                .into(),
            ),
        ),
        (
            "Họ tên người nộp",
            Text(d["ChuHoSo"].as_str().unwrap_or("").into()),
        ),
        (
            "Số điện thoại",
            Text(d["SoDienThoai"].as_str().unwrap_or("").into()),
        ),
    ]
}

enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(i64),
}

/// An xlsx like a vendor's export: two title rows, then the header, then the rows.
fn write_xlsx(path: &Path, rows: &[Vec<(&'static str, Cell)>]) {
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.set_name("Danh sách hồ sơ").unwrap();
    sheet
        .write_string(0, 0, "UBND THÀNH PHỐ THỬ NGHIỆM")
        .unwrap();
    sheet.write_string(1, 0, "DANH SÁCH HỒ SƠ TTHC").unwrap();
    let fmt = Format::new().set_num_format("dd/mm/yyyy hh:mm:ss");
    if let Some(first) = rows.first() {
        for (c, (h, _)) in first.iter().enumerate() {
            sheet.write_string(3, c as u16, *h).unwrap();
        }
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 4;
        for (c, (_, cell)) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) if s.is_empty() => {}
                Cell::Text(s) => {
                    sheet.write_string(r, c, s).unwrap();
                }
                Cell::Number(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
                Cell::Date(t) => {
                    let l = local(*t);
                    use chrono::{Datelike, Timelike};
                    let d =
                        ExcelDateTime::from_ymd(l.year() as u16, l.month() as u8, l.day() as u8)
                            .unwrap()
                            .and_hms(l.hour() as u16, l.minute() as u8, l.second())
                            .unwrap();
                    sheet.write_datetime_with_format(r, c, &d, &fmt).unwrap();
                }
            }
        }
    }
    wb.save(path).unwrap();
}

fn csv_field(s: &str) -> String {
    if s.contains([';', '"', '\n', ',']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV "UTF-8 with BOM", `;`-separated, as Excel in a Vietnamese locale saves it.
fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut out = String::from("\u{feff}");
    out.push_str(
        &header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(";"),
    );
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(";"));
        out.push_str("\r\n");
    }
    std::fs::write(path, out).unwrap();
}

const DOC_HEADER: [&str; 9] = [
    "Số văn bản",
    "Đơn vị",
    "Loại",
    "Ngày đến",
    "Ngày ban hành",
    "Xử lý trên mạng",
    "Ký số",
    "Cập nhật lần cuối",
    "Đã xóa",
];

fn document_row(v: &Value) -> Vec<String> {
    let flag = |k: &str| {
        if v.get(k).and_then(code) == Some(1) {
            "x".to_string()
        } else {
            String::new()
        }
    };
    vec![
        v["MaVanBan"].as_str().unwrap_or("").into(),
        v["MaDonVi"].as_str().unwrap_or("").into(),
        match v["LoaiVanBan"].as_str() {
            Some("DEN") => "Đến".into(),
            Some("DI") => "Đi".into(),
            _ => String::new(),
        },
        v.get("NgayDen").map(text_date).unwrap_or_default(),
        v.get("NgayBanHanh").map(text_date).unwrap_or_default(),
        flag("XuLyTrenMang"),
        flag("KySo"),
        text_date(&v["NgayCapNhat"]),
        if v.get("DaXoa").and_then(code) == Some(1) {
            "Có"
        } else {
            "Không"
        }
        .into(),
    ]
}

fn write_catalogue(path: &Path, procedures: &[Value]) {
    let level = |p: &Value| match code(&p["MucDo"]) {
        Some(1) => "Mức 1",
        Some(2) => "Cung cấp thông tin",
        Some(3) => "Một phần",
        Some(4) => "Toàn trình",
        _ => "",
    };
    let rows: Vec<Vec<String>> = procedures
        .iter()
        .map(|p| {
            vec![
                p["MaTTHC"].as_str().unwrap_or("").into(),
                p["TenTTHC"].as_str().unwrap_or("").into(),
                p["MaLinhVuc"].as_str().unwrap_or("").into(),
                level(p).into(),
            ]
        })
        .collect();
    write_csv(
        path,
        &["Mã TTHC", "Tên thủ tục", "Mã lĩnh vực", "Mức độ"],
        &rows,
    );
}

// ---------------------------------------------------------------------------------------------
// Looking at the results

async fn rates(app: &App) -> Vec<String> {
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    let mut out = Vec::new();
    for (kind, as_of) in [
        (PeriodKind::Quarter, at("2024-06-20T10:00:00+07:00")),
        (PeriodKind::Year, at("2024-06-20T10:00:00+07:00")),
        (PeriodKind::Month, at("2024-03-31T23:59:59+07:00")),
        (PeriodKind::Quarter, at("2023-11-15T08:00:00+07:00")),
    ] {
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
            "{period}: no due {}, unknown procedure {}",
            ev.quality.no_due_date, ev.quality.unknown_procedure
        ));
    }
    out
}

async fn pool(dir: &Path, db: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join(db).display()))
        .await
        .unwrap()
}

/// Everything stored by a source's data, to compare before and after.
async fn dump(p: &sqlx::SqlitePool) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT code || ':' || status || ':' || coalesce(due_at, '') || ':' || updated_at || ':' || deleted FROM dossiers ORDER BY code",
        "SELECT code || ':' || coalesce(direction, '') || ':' || updated_at FROM documents ORDER BY code",
        "SELECT code || ':' || coalesce(level, '') FROM procedures ORDER BY code",
        "SELECT kind || ':' || key || ':' || reason || ':' || times_seen || ':' || last_seen FROM rejected ORDER BY kind, key",
    ] {
        out.extend(
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(p)
                .await
                .unwrap(),
        );
    }
    out
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

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

struct Setup {
    _sim: Sim,
    dir: tempfile::TempDir,
    inbox: PathBuf,
    config_file: PathBuf,
    dossiers: Vec<Value>,
    clock: Arc<ManualClock>,
}

/// The contract sync's rates, and an import source's folder with the three files written.
async fn setup() -> (Setup, Vec<String>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = start_sim(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let contract_sources = format!(
        "[sources.motcua]\nkind = \"one_stop\"\nbase_url = \"http://{a}\"\npage_size = 500\n\n[sources.qlvb]\nkind = \"documents\"\nbase_url = \"http://{a}\"\n",
        a = sim.addr
    );
    let contract = App::build(
        settings(&config(dir.path(), "contract.db", &contract_sources)),
        clock.clone(),
    )
    .await
    .unwrap();
    let r = run_once(&contract, t0().timestamp()).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let want = rates(&contract).await;
    contract.store.close().await;

    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let dossiers = sim.sim.dossiers_json();
    let rows: Vec<_> = dossiers.iter().map(dossier_row).collect();
    write_xlsx(&inbox.join("ho-so-2024.xlsx"), &rows);
    let docs: Vec<Vec<String>> = sim.sim.documents_json().iter().map(document_row).collect();
    write_csv(&inbox.join("van-ban-2024.csv"), &DOC_HEADER, &docs);
    write_catalogue(&inbox.join("thu-tuc.csv"), &sim.sim.procedures_json());

    let config_file = dir.path().join("dondoc.toml");
    std::fs::write(
        &config_file,
        config(dir.path(), "import.db", &import_source(&inbox)),
    )
    .unwrap();
    (
        Setup {
            _sim: sim,
            inbox,
            config_file,
            dossiers,
            clock,
            dir,
        },
        want,
    )
}

impl Setup {
    async fn app(&self) -> App {
        let text = std::fs::read_to_string(&self.config_file).unwrap();
        App::build(settings(&text), self.clock.clone())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_xlsx_and_csv_files_import_to_the_rates_of_the_contract_and_a_reimport_changes_nothing()
{
    let (s, want) = setup().await;
    let app = s.app().await;
    let now = t0().timestamp();
    let r = run_once(&app, now).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let e = &r.endpoints[0];
    assert_eq!(e.endpoint, "import");
    assert_eq!(e.pages, 3, "three files");
    assert_eq!(
        rates(&app).await,
        want,
        "the imported city has the contract's rates"
    );

    // Each file moved to done/ with its report; the folder is empty.
    let done = s.inbox.join("done");
    assert_eq!(
        files_in(&done),
        [
            "ho-so-2024.xlsx",
            "ho-so-2024.xlsx.report.txt",
            "thu-tuc.csv",
            "thu-tuc.csv.report.txt",
            "van-ban-2024.csv",
            "van-ban-2024.csv.report.txt"
        ]
    );
    let report = std::fs::read_to_string(done.join("ho-so-2024.xlsx.report.txt")).unwrap();
    assert!(
        report.contains("list:     dossiers, sheet 'Danh sách hồ sơ' (header row 4)"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "result:   imported: {} row(s) read",
            s.dossiers.len()
        )),
        "{report}"
    );
    let p = pool(s.dir.path(), "import.db").await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&p)
        .await
        .unwrap();
    let rejected: i64 = sqlx::query_scalar("SELECT count(*) FROM rejected WHERE kind = 'dossier'")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!((stored + rejected) as usize, s.dossiers.len());
    // No personal column reached the database.
    let bytes = std::fs::read(s.dir.path().join("import.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for d in s.dossiers.iter().take(100) {
        let phone = d["SoDienThoai"].as_str().unwrap_or("");
        assert!(
            phone.len() < 6 || !text.contains(phone),
            "a phone number was stored"
        );
    }

    // Re-importing the same file, by the folder and by the command line, changes nothing.
    let before = dump(&p).await;
    s.clock.advance(chrono::Duration::hours(1));
    std::fs::copy(
        done.join("ho-so-2024.xlsx"),
        s.inbox.join("ho-so-2024.xlsx"),
    )
    .unwrap();
    let r = run_once(&app, now + 3600).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_eq!(dump(&p).await, before);
    let again = std::fs::read_to_string(done.join("ho-so-2024-2.xlsx.report.txt")).unwrap();
    assert!(again.contains("ALREADY IMPORTED on 2024-06-20T10:00:00+07:00 (as ho-so-2024.xlsx); nothing was changed"), "{again}");
    assert!(!s.inbox.join("ho-so-2024.xlsx").exists());

    let config_file = s.config_file.clone();
    let file = done.join("thu-tuc.csv");
    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args(["import", file.to_str().unwrap(), "--source", "motcua"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ALREADY IMPORTED") && stdout.contains("--force"),
        "{stdout}"
    );
    assert_eq!(dump(&p).await, before);
    assert!(
        done.join("thu-tuc.csv").exists(),
        "the command line leaves the file where it is"
    );
    app.store.close().await;
}

#[tokio::test]
async fn bad_rows_are_reported_by_column_and_a_file_that_does_not_fit_is_failed() {
    let (s, _) = setup().await;
    // Only the bad files this time.
    for f in ["ho-so-2024.xlsx", "van-ban-2024.csv", "thu-tuc.csv"] {
        std::fs::remove_file(s.inbox.join(f)).unwrap();
    }
    let good = document_row(&serde_json::json!({
        "MaVanBan": "VB-1", "MaDonVi": "P1", "LoaiVanBan": "DEN", "NgayDen": "20240502080000",
        "XuLyTrenMang": 1, "NgayCapNhat": "20240502080000", "DaXoa": 0
    }));
    let mut bad_date = good.clone();
    bad_date[0] = "VB-2".into();
    bad_date[3] = "31/02/2024 08:00:00".into();
    let mut bad_kind = good.clone();
    bad_kind[0] = "VB-3".into();
    bad_kind[2] = "Nội bộ".into();
    let mut no_key = good.clone();
    no_key[0] = String::new();
    let mut no_unit = good.clone();
    no_unit[0] = "VB-5".into();
    no_unit[1] = String::new();
    write_csv(
        &s.inbox.join("van-ban-thang-5.csv"),
        &DOC_HEADER,
        &[good.clone(), bad_date, bad_kind, no_key, no_unit],
    );
    // A dossier file missing a mapped column, and one whose every row is bad.
    let rows: Vec<_> = s
        .dossiers
        .iter()
        .take(5)
        .map(|d| {
            dossier_row(d)
                .into_iter()
                .filter(|(h, _)| *h != "Ngày hẹn trả")
                .collect::<Vec<_>>()
        })
        .collect();
    write_xlsx(&s.inbox.join("ho-so-thieu-cot.xlsx"), &rows);
    let mut all_bad = good.clone();
    all_bad[3] = "hôm qua".into();
    write_csv(
        &s.inbox.join("van-ban-hong.csv"),
        &DOC_HEADER,
        &[all_bad.clone(), all_bad],
    );
    std::fs::write(s.inbox.join("ghi-chu.txt"), "not a spreadsheet").unwrap();

    let app = s.app().await;
    let r = run_once(&app, t0().timestamp()).await;
    let e = &r.endpoints[0];
    let err = e.error.as_deref().expect("failed files are reported");
    assert!(err.contains("2 file(s) could not be imported"), "{err}");
    assert!(
        err.contains("ho-so-thieu-cot.xlsx") && err.contains("van-ban-hong.csv"),
        "{err}"
    );

    let done = s.inbox.join("done");
    let failed = s.inbox.join("failed");
    assert_eq!(
        files_in(&done),
        ["van-ban-thang-5.csv", "van-ban-thang-5.csv.report.txt"]
    );
    assert_eq!(
        files_in(&failed),
        [
            "ho-so-thieu-cot.xlsx",
            "ho-so-thieu-cot.xlsx.report.txt",
            "van-ban-hong.csv",
            "van-ban-hong.csv.report.txt"
        ]
    );
    assert!(
        s.inbox.join("ghi-chu.txt").exists(),
        "other files are left alone"
    );

    let report = std::fs::read_to_string(done.join("van-ban-thang-5.csv.report.txt")).unwrap();
    assert!(
        report.contains("result:   imported: 5 row(s) read, 1 valid (1 written), 4 rejected"),
        "{report}"
    );
    for line in [
        "row 3 (VB-2): 'Ngày đến' (→ NgayDen) = '31/02/2024 08:00:00' is not a date dd/MM/yyyy HH:mm:ss",
        "row 4 (VB-3): 'Loại' (→ LoaiVanBan) = 'Nội bộ' is not in the value map ('Đi', 'Đến')",
        ": 'Số văn bản' (→ MaVanBan) is missing",
        "row 6 (VB-5): 'Đơn vị' (→ MaDonVi) is missing",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    let missing = std::fs::read_to_string(failed.join("ho-so-thieu-cot.xlsx.report.txt")).unwrap();
    assert!(missing.contains("FAILED, nothing was stored"), "{missing}");
    assert!(
        missing.contains("lacks the mapped column(s) 'Ngày hẹn trả'"),
        "{missing}"
    );
    let hong = std::fs::read_to_string(failed.join("van-ban-hong.csv.report.txt")).unwrap();
    assert!(
        hong.contains("every one of its 2 row(s) was rejected"),
        "{hong}"
    );
    assert!(
        hong.contains("row 2 (VB-1): 'Ngày đến' (→ NgayDen) = 'hôm qua'"),
        "{hong}"
    );

    // What was stored: the one good row, the four bad ones set aside with their reasons.
    let p = pool(s.dir.path(), "import.db").await;
    let docs: Vec<String> = sqlx::query_scalar("SELECT code FROM documents")
        .fetch_all(&p)
        .await
        .unwrap();
    assert_eq!(docs, ["VB-1"]);
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM rejected ORDER BY key")
        .fetch_all(&p)
        .await
        .unwrap();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("'Ngày đến' (→ NgayDen)")),
        "{reasons:?}"
    );
    app.store.close().await;

    // A failed file is not in the ledger: the command line reads it again (and, its rows still
    // bad, fails again with exit status 1).
    let config_file = s.config_file.clone();
    let file = failed.join("van-ban-hong.csv");
    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args(["import", file.to_str().unwrap(), "--source", "motcua"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a file whose rows are all rejected fails"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not imported"));
}

#[tokio::test]
async fn import_and_check_source_work_on_a_file_from_the_command_line() {
    let (s, _) = setup().await;
    let config_file = s.config_file.clone();
    let file = s.inbox.join("ho-so-2024.xlsx");
    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args([
                "check-source",
                "motcua",
                "--records",
                "1",
                "--file",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Source motcua (import)"), "{stdout}");
    assert!(stdout.contains("dossiers: "), "{stdout}");
    assert!(stdout.contains("header row 4"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("TrangThaiHoSo"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("'Trạng thái'"), "{line}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("NgayTiepNhan"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("'Ngày tiếp nhận'") && line.contains("+07:00"),
        "{line}"
    );
    assert!(
        !stdout.contains("Họ tên"),
        "personal columns are not shown: {stdout}"
    );
    assert!(
        s.inbox.join("ho-so-2024.xlsx").exists(),
        "check-source moves nothing"
    );

    // `dondoc import` stores the file now and leaves it where it is.
    let config_file = s.config_file.clone();
    let file = s.inbox.join("van-ban-2024.csv");
    let out = tokio::task::spawn_blocking(move || {
        dondoc_cmd(&config_file)
            .args(["import", file.to_str().unwrap(), "--source", "motcua"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("list:     documents"), "{stdout}");
    assert!(stdout.contains("result:   imported:"), "{stdout}");
    assert!(s.inbox.join("van-ban-2024.csv").exists());
    let p = pool(s.dir.path(), "import.db").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM documents")
        .fetch_one(&p)
        .await
        .unwrap();
    assert!(n > 100, "{n}");
    // The next pass over the folder sees the same file already imported.
    let app = s.app().await;
    let r = run_once(&app, t0().timestamp()).await;
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let report = std::fs::read_to_string(s.inbox.join("done/van-ban-2024.csv.report.txt")).unwrap();
    assert!(report.contains("ALREADY IMPORTED"), "{report}");
    app.store.close().await;
}
