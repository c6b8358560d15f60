//! Two vendor-shaped upstream servers for the mapping tests, each serving over a real socket the
//! same dossiers, documents and procedures as a contract simulator, re-shaped into its own
//! dialect:
//!
//! | | vendor A ("Một cửa A") | vendor B ("One-stop B") |
//! |---|---|---|
//! | paging | offset + limit, with a total | page number + page size, with a page count |
//! | order | oldest update first | newest update first |
//! | auth | HTTP basic | login call answering a session token that dies after a few requests |
//! | dates | `dd/MM/yyyy HH:mm:ss` | RFC 3339 in UTC; update times in epoch milliseconds |
//! | codes | Vietnamese names (`Đã trả kết quả`, `Trực tuyến`, `Có`/`Không`) | English enums, `true`/`false` flags |
//! | fields | Vietnamese names, nested objects and renamed arrays | English names |
//!
//! Each also keeps personal data in its records, and can move records (a newer update time) in
//! the middle of a read, to test that none is lost.
#![allow(dead_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const STATUS_VI: [&str; 10] = [
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
pub const STATUS_EN: [&str; 10] = [
    "REGISTERED",
    "RECEIVED",
    "REFUSED",
    "PROCESSING",
    "WAITING_SUPPLEMENT",
    "WAITING_PAYMENT",
    "WITHDRAWN",
    "STOPPED",
    "PROCESSED",
    "RETURNED",
];
pub const CHANNEL_VI: [&str; 3] = ["Trực tiếp", "Trực tuyến", "Bưu chính công ích"];
pub const CHANNEL_EN: [&str; 3] = ["DIRECT", "ONLINE", "POSTAL"];
pub const PAYMENT_VI: [&str; 4] = [
    "Chưa thanh toán trực tuyến",
    "Cổng DVC quốc gia",
    "Cổng thanh toán của tỉnh",
    "Hình thức khác",
];
pub const PAYMENT_EN: [&str; 4] = ["NONE", "NATIONAL", "PROVINCE", "OTHER"];
pub const LEVEL_VI: [&str; 4] = ["Mức 1", "Cung cấp thông tin", "Một phần", "Toàn trình"];
pub const LEVEL_EN: [&str; 4] = ["LEVEL_1", "INFO", "PARTIAL", "FULL"];
pub const RATING_VI: [&str; 3] = ["Rất hài lòng", "Hài lòng", "Không hài lòng"];
pub const RATING_EN: [&str; 3] = ["VERY_SATISFIED", "SATISFIED", "NOT_SATISFIED"];

pub const USER_A: &str = "dondoc";
pub const PASSWORD_A: &str = "mật-khẩu-A";
pub const USER_B: &str = "dondoc-b";
pub const PASSWORD_B: &str = "s3cret-B";
/// Vendor B's session tokens answer this many requests, then 401.
pub const TOKEN_USES: u32 = 6;

/// Which dialect a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    A,
    B,
}

// ---------------------------------------------------------------------------------------------
// Contract values → vendor values

fn code(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.trim().is_empty() => s.trim().parse().ok(),
        _ => None,
    }
}

fn epoch_of(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    if s.is_empty() {
        return None;
    }
    dondoc::domain::time::parse_compact(s).ok().flatten()
}

fn named(v: &Value, names: &[&str], from: i64) -> Value {
    match code(v) {
        Some(c) => names
            .get((c - from) as usize)
            .map_or_else(|| Value::from(c), |n| Value::from(*n)),
        None => Value::Null,
    }
}

fn date_a(v: &Value) -> Value {
    match epoch_of(v) {
        Some(t) => Value::from(
            dondoc::domain::time::to_local(t)
                .format("%d/%m/%Y %H:%M:%S")
                .to_string(),
        ),
        None => Value::Null,
    }
}

fn date_b(v: &Value) -> Value {
    match epoch_of(v) {
        Some(t) => Value::from(
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
        None => Value::Null,
    }
}

fn items(d: &Value, key: &str) -> Vec<Value> {
    d.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn flag_vi(v: Option<&Value>) -> Value {
    match v.and_then(code) {
        Some(1) => "Có".into(),
        Some(_) => "Không".into(),
        None => Value::Null,
    }
}

fn flag_bool(v: Option<&Value>) -> Value {
    match v.and_then(code) {
        Some(c) => Value::Bool(c == 1),
        None => Value::Null,
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

pub fn dossier_a(d: &Value) -> Value {
    let rating = d.get("DanhGiaHaiLong").filter(|r| r.is_object()).map(
        |r| json!({"mucDo": named(&r["MucDo"], &RATING_VI, 1), "ngay": date_a(&r["NgayDanhGia"])}),
    );
    strip_nulls(json!({
        "soHoSo": d["MaHoSo"],
        "thuTuc": {"ma": d.get("MaTTHC"), "ten": d.get("TenTTHC")},
        "linhVuc": d.get("MaLinhVuc"),
        "coQuan": {"maDonVi": d.get("DonViXuLy")},
        "hinhThuc": named(&d["KenhThucHien"], &CHANNEL_VI, 1),
        "trangThai": named(&d["TrangThaiHoSo"], &STATUS_VI, 1),
        "ngayNhan": date_a(&d["NgayTiepNhan"]),
        "ngayHenTra": date_a(&d["NgayHenTra"]),
        "ngayXuLyXong": date_a(&d["NgayKetThucXuLy"]),
        "ngayTraKetQua": date_a(&d["NgayTra"]),
        "thanhToan": named(&d["DuocThanhToanTrucTuyen"], &PAYMENT_VI, 0),
        "phiLePhi": items(d, "DanhSachLePhi").iter().map(|f| json!({"tenPhi": f.get("TenPhiLePhi"), "soTien": f["Gia"]})).collect::<Vec<_>>(),
        "ketQua": items(d, "DanhSachGiayToKetQua").iter().map(|p| json!({"tenGiayTo": p.get("TenGiayTo"), "tepDinhKem": p["DuongDanTepTinKetQua"]})).collect::<Vec<_>>(),
        "boSung": items(d, "DanhSachHoSoBoSung").iter().map(|s| json!({"hanCu": date_a(&s["NgayHenTraTruoc"]), "hanMoi": date_a(&s["NgayHenTraMoi"])})).collect::<Vec<_>>(),
        "xinLoi": items(d, "DanhSachPhieuXinLoi").iter().map(|a| json!({"soPhieu": a.get("SoPhieu"), "ngayPhieu": date_a(&a["NgayBanHanh"])})).collect::<Vec<_>>(),
        "danhGia": rating,
        "capNhat": date_a(&d["NgayCapNhat"]),
        "daXoa": flag_vi(d.get("DaXoa")),
        "nguoiNop": {"hoTen": d.get("ChuHoSo"), "dienThoai": d.get("SoDienThoai"), "cccd": d.get("SoGiayToChuHoSo")},
    }))
}

pub fn dossier_b(d: &Value) -> Value {
    let rating = d.get("DanhGiaHaiLong").filter(|r| r.is_object()).map(|r| {
        json!({"level": named(&r["MucDo"], &RATING_EN, 1), "ratedAt": date_b(&r["NgayDanhGia"])})
    });
    let payment = match code(&d["DuocThanhToanTrucTuyen"]) {
        Some(0) | None => Value::Null,
        Some(_) => named(&d["DuocThanhToanTrucTuyen"], &PAYMENT_EN, 0),
    };
    strip_nulls(json!({
        "id": d["MaHoSo"],
        "procedure": {"code": d.get("MaTTHC"), "field": d.get("MaLinhVuc")},
        "office": d.get("DonViXuLy"),
        "channel": named(&d["KenhThucHien"], &CHANNEL_EN, 1),
        "state": named(&d["TrangThaiHoSo"], &STATUS_EN, 1),
        "receivedAt": date_b(&d["NgayTiepNhan"]),
        "dueAt": date_b(&d["NgayHenTra"]),
        "finishedAt": date_b(&d["NgayKetThucXuLy"]),
        "returnedAt": date_b(&d["NgayTra"]),
        "paymentChannel": payment,
        "fees": items(d, "DanhSachLePhi").iter().map(|f| json!({"amount": f["Gia"]})).collect::<Vec<_>>(),
        "results": items(d, "DanhSachGiayToKetQua").iter().map(|p| json!({"fileUrl": p["DuongDanTepTinKetQua"]})).collect::<Vec<_>>(),
        "supplements": items(d, "DanhSachHoSoBoSung").iter().map(|s| json!({"newDueAt": date_b(&s["NgayHenTraMoi"])})).collect::<Vec<_>>(),
        "apologies": items(d, "DanhSachPhieuXinLoi").iter().map(|a| json!({"issuedAt": date_b(&a["NgayBanHanh"])})).collect::<Vec<_>>(),
        "rating": rating,
        "updatedAt": epoch_of(&d["NgayCapNhat"]).map(|t| t * 1000),
        "deleted": flag_bool(d.get("DaXoa")),
        "applicant": {"name": d.get("ChuHoSo"), "phone": d.get("SoDienThoai"), "email": d.get("Email")},
    }))
}

pub fn procedure_a(p: &Value) -> Value {
    strip_nulls(json!({
        "ma": p["MaTTHC"],
        "ten": p.get("TenTTHC"),
        "linhVuc": {"ma": p.get("MaLinhVuc"), "ten": p.get("TenLinhVuc")},
        "mucDo": named(&p["MucDo"], &LEVEL_VI, 1),
    }))
}

pub fn procedure_b(p: &Value) -> Value {
    strip_nulls(json!({
        "code": p["MaTTHC"],
        "name": p.get("TenTTHC"),
        "fieldCode": p.get("MaLinhVuc"),
        "level": named(&p["MucDo"], &LEVEL_EN, 1),
    }))
}

pub fn document_a(v: &Value) -> Value {
    strip_nulls(json!({
        "soVanBan": v["MaVanBan"],
        "donVi": v.get("MaDonVi"),
        "loai": match v["LoaiVanBan"].as_str() { Some("DEN") => json!("Văn bản đến"), Some("DI") => json!("Văn bản đi"), _ => Value::Null },
        "ngayDen": v.get("NgayDen").map(date_a),
        "ngayBanHanh": v.get("NgayBanHanh").map(date_a),
        "xuLyTrenMang": flag_vi(v.get("XuLyTrenMang")),
        "kySo": flag_vi(v.get("KySo")),
        "trichYeu": v.get("TrichYeu"),
        "capNhat": date_a(&v["NgayCapNhat"]),
        "daXoa": flag_vi(v.get("DaXoa")),
    }))
}

pub fn document_b(v: &Value) -> Value {
    strip_nulls(json!({
        "id": v["MaVanBan"],
        "unit": v.get("MaDonVi"),
        "direction": match v["LoaiVanBan"].as_str() { Some("DEN") => json!("IN"), Some("DI") => json!("OUT"), _ => Value::Null },
        "receivedAt": v.get("NgayDen").map(date_b),
        "issuedAt": v.get("NgayBanHanh").map(date_b),
        "processedOnline": flag_bool(v.get("XuLyTrenMang")),
        "signed": flag_bool(v.get("KySo")),
        "updatedAt": epoch_of(&v["NgayCapNhat"]).map(|t| t * 1000),
        "deleted": flag_bool(v.get("DaXoa")),
    }))
}

// ---------------------------------------------------------------------------------------------
// The server

/// One record of a list: its key, its update time (for filtering and order), its vendor shape.
#[derive(Debug, Clone)]
pub struct Rec {
    pub key: String,
    pub updated: i64,
    pub value: Value,
}

/// Records to move (a newer update time) when a read reaches a position, once.
#[derive(Clone)]
pub struct Mover {
    /// The list position (offset, or page number) whose request triggers the move.
    pub at: u64,
    /// Keys of the records to move.
    pub keys: Vec<String>,
    /// Their new update time (with a clock: a second after its time when they move).
    pub to: i64,
    pub fired: bool,
    /// A clock moved a minute on when the records move (a later read begins later).
    pub clock: Option<Arc<dondoc::domain::time::ManualClock>>,
}

#[derive(Default)]
pub struct VendorState {
    pub dossiers: Vec<Rec>,
    pub documents: Vec<Rec>,
    pub procedures: Vec<Value>,
    pub mover: Option<Mover>,
    /// Dossier keys served by each full read (a read starts at the first position without an
    /// update filter).
    pub reads: Vec<HashSet<String>>,
    pub list_requests: u64,
    pub logins: u64,
    pub refused: u64,
    /// B: token → requests left.
    pub tokens: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct Vendor {
    pub dialect: Dialect,
    pub state: Arc<Mutex<VendorState>>,
}

impl Vendor {
    /// A vendor serving what `dossiers`, `documents` and `procedures` (contract records, as the
    /// simulator serves them) stand for.
    pub fn new(
        dialect: Dialect,
        dossiers: &[Value],
        documents: &[Value],
        procedures: &[Value],
    ) -> Vendor {
        let rec = |v: &Value, key: &str, shape: fn(&Value) -> Value| Rec {
            key: v[key].as_str().unwrap_or_default().to_string(),
            updated: epoch_of(&v["NgayCapNhat"]).unwrap_or(0),
            value: shape(v),
        };
        type Shape = fn(&Value) -> Value;
        let (d, doc, p): (Shape, Shape, Shape) = match dialect {
            Dialect::A => (dossier_a, document_a, procedure_a),
            Dialect::B => (dossier_b, document_b, procedure_b),
        };
        let state = VendorState {
            dossiers: dossiers.iter().map(|v| rec(v, "MaHoSo", d)).collect(),
            documents: documents.iter().map(|v| rec(v, "MaVanBan", doc)).collect(),
            procedures: procedures.iter().map(p).collect(),
            ..VendorState::default()
        };
        Vendor {
            dialect,
            state: Arc::new(Mutex::new(state)),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, VendorState> {
        self.state.lock().unwrap()
    }

    /// Sets a record's update time, in its vendor shape too.
    fn touch(&self, rec: &mut Rec, to: i64) {
        rec.updated = to;
        match self.dialect {
            Dialect::A => {
                rec.value["capNhat"] = date_a(&json!(dondoc::domain::time::format_compact(to)))
            }
            Dialect::B => rec.value["updatedAt"] = json!(to * 1000),
        }
    }

    pub fn router(&self) -> Router {
        match self.dialect {
            Dialect::A => Router::new()
                .route("/api/v2/ho-so/danh-sach", get(list_a_dossiers))
                .route("/api/v2/van-ban", get(list_a_documents))
                .route("/api/v2/danh-muc/thu-tuc", get(catalogue_a))
                .with_state(self.clone()),
            Dialect::B => Router::new()
                .route("/v1/auth/login", post(login_b))
                .route("/v1/dossiers", get(list_b_dossiers))
                .route("/v1/documents", get(list_b_documents))
                .route("/v1/procedures", get(list_b_procedures))
                .with_state(self.clone()),
        }
    }

    /// Serves on a loopback port until the returned sender is dropped.
    pub async fn serve(&self) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        (addr, tx)
    }

    fn basic_ok(&self, h: &HeaderMap) -> bool {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER_A}:{PASSWORD_A}"))
        );
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
    }

    fn token_ok(&self, h: &HeaderMap) -> bool {
        let Some(token) = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let mut st = self.state();
        match st.tokens.get_mut(token) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => {
                st.refused += 1;
                false
            }
        }
    }

    /// The page of `list` at `pos` (0-based record index) of size `limit`, with the records
    /// updated at or after `since`, in this vendor's order; and the total.
    fn page(
        &self,
        dossiers: bool,
        since: Option<i64>,
        pos: u64,
        limit: u64,
        first: bool,
    ) -> (Vec<Value>, u64) {
        let mut st = self.state();
        st.list_requests += 1;
        if dossiers
            && let Some(m) = st.mover.clone()
            && !m.fired
            && pos >= m.at
        {
            let mut moved = Vec::new();
            for (i, r) in st.dossiers.iter().enumerate() {
                if m.keys.contains(&r.key) {
                    moved.push(i);
                }
            }
            // An update is stamped with the time it happens.
            let to = m.clock.as_ref().map_or(m.to, |c| {
                dondoc::domain::time::Clock::now(c.as_ref()).timestamp() + 1
            });
            let mut recs = std::mem::take(&mut st.dossiers);
            for i in moved {
                self.touch(&mut recs[i], to);
            }
            st.dossiers = recs;
            st.mover.as_mut().unwrap().fired = true;
            if let Some(c) = &m.clock {
                c.advance(chrono::Duration::seconds(60));
            }
        }
        let list = if dossiers {
            &st.dossiers
        } else {
            &st.documents
        };
        let mut selected: Vec<&Rec> = list
            .iter()
            .filter(|r| since.is_none_or(|s| r.updated >= s))
            .collect();
        match self.dialect {
            Dialect::A => selected.sort_by(|a, b| (a.updated, &a.key).cmp(&(b.updated, &b.key))),
            Dialect::B => selected.sort_by(|a, b| (b.updated, &b.key).cmp(&(a.updated, &a.key))),
        }
        let total = selected.len() as u64;
        let page: Vec<Rec> = selected
            .into_iter()
            .skip(pos as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        if dossiers && since.is_none() {
            if first {
                st.reads.push(HashSet::new());
            }
            if let Some(read) = st.reads.last_mut() {
                read.extend(page.iter().map(|r| r.key.clone()));
            }
        }
        (page.into_iter().map(|r| r.value).collect(), total)
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized"})),
    )
        .into_response()
}

fn since_a(q: &HashMap<String, String>) -> Option<i64> {
    let s = q.get("tuNgay")?;
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%d/%m/%Y %H:%M:%S").ok()?;
    dondoc::domain::time::local_to_epoch(naive)
}

fn since_b(q: &HashMap<String, String>) -> Option<i64> {
    let s = q.get("updatedFrom")?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

fn num(q: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn list_a(v: &Vendor, h: &HeaderMap, q: &HashMap<String, String>, dossiers: bool) -> Response {
    if !v.basic_ok(h) {
        v.state().refused += 1;
        return unauthorized();
    }
    let offset = num(q, "offset", 0);
    let limit = num(q, "limit", 100).min(500);
    let (items, total) = v.page(dossiers, since_a(q), offset, limit, offset == 0);
    Json(json!({"status": "OK", "result": {"total": total, "items": items}})).into_response()
}

async fn list_a_dossiers(
    State(v): State<Vendor>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_a(&v, &h, &q, true)
}

async fn list_a_documents(
    State(v): State<Vendor>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_a(&v, &h, &q, false)
}

async fn catalogue_a(State(v): State<Vendor>, h: HeaderMap) -> Response {
    if !v.basic_ok(&h) {
        return unauthorized();
    }
    let items = v.state().procedures.clone();
    Json(json!({"items": items})).into_response()
}

async fn login_b(State(v): State<Vendor>, Json(body): Json<Value>) -> Response {
    if body["tenDangNhap"] != USER_B || body["matKhau"] != PASSWORD_B || body["ungDung"] != "dondoc"
    {
        return unauthorized();
    }
    let mut st = v.state();
    st.logins += 1;
    let token = format!("phien-{}", st.logins);
    st.tokens.insert(token.clone(), TOKEN_USES);
    Json(json!({"data": {"accessToken": token, "expiresIn": 3600}})).into_response()
}

fn list_b(v: &Vendor, h: &HeaderMap, q: &HashMap<String, String>, dossiers: bool) -> Response {
    if !v.token_ok(h) {
        return unauthorized();
    }
    let page = num(q, "page", 1).max(1);
    let size = num(q, "pageSize", 50).min(500);
    let (items, total) = v.page(dossiers, since_b(q), (page - 1) * size, size, page == 1);
    let pages = total.div_ceil(size);
    Json(json!({"data": items, "meta": {"page": page, "pageSize": size, "totalPages": pages}}))
        .into_response()
}

async fn list_b_dossiers(
    State(v): State<Vendor>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_b(&v, &h, &q, true)
}

async fn list_b_documents(
    State(v): State<Vendor>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    list_b(&v, &h, &q, false)
}

async fn list_b_procedures(
    State(v): State<Vendor>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !v.token_ok(&h) {
        return unauthorized();
    }
    let page = num(&q, "page", 1).max(1);
    let size = num(&q, "pageSize", 50);
    let all = v.state().procedures.clone();
    let total = all.len() as u64;
    let items: Vec<Value> = all
        .into_iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .collect();
    Json(json!({"data": items, "meta": {"page": page, "totalPages": total.div_ceil(size)}}))
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// The mappings, as an administrator writes them

fn value_map(names: &[&str], from: i64) -> String {
    let pairs: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"{n}\" = {}", i as i64 + from))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// Sources `motcua` and `qlvb` for vendor A at `addr`.
pub fn sources_a(addr: SocketAddr, page_size: u32) -> String {
    let auth = format!(
        r#"style = "basic"
username = "{USER_A}"
password = "{PASSWORD_A}""#
    );
    let paging = r#"style = "offset"
offset_param = "offset"
limit_param = "limit"
total = "/result/total"
updated_since_param = "tuNgay"
updated_since_format = "dd/MM/yyyy HH:mm:ss""#;
    format!(
        r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}/api/v2"
page_size = {page_size}
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 4

[sources.motcua.auth]
{auth}

[sources.motcua.paging]
{paging}

[sources.motcua.procedures]
path = "danh-muc/thu-tuc"
records = "/items"

[sources.motcua.procedures.fields]
MaTTHC = "/ma"
TenTTHC = "/ten"
MaLinhVuc = "/linhVuc/ma"
TenLinhVuc = "/linhVuc/ten"
MucDo = {{ from = "/mucDo", map = {level} }}

[sources.motcua.dossiers]
path = "ho-so/danh-sach"
records = "/result/items"
date_format = "dd/MM/yyyy HH:mm:ss"

[sources.motcua.dossiers.fields]
MaHoSo = "/soHoSo"
MaTTHC = "/thuTuc/ma"
MaLinhVuc = "/linhVuc"
DonViXuLy = "/coQuan/maDonVi"
KenhThucHien = {{ from = "/hinhThuc", map = {channel} }}
TrangThaiHoSo = {{ from = "/trangThai", map = {status} }}
NgayTiepNhan = "/ngayNhan"
NgayHenTra = "/ngayHenTra"
NgayKetThucXuLy = "/ngayXuLyXong"
NgayTra = "/ngayTraKetQua"
DuocThanhToanTrucTuyen = {{ from = "/thanhToan", map = {payment} }}
DanhSachLePhi = {{ from = "/phiLePhi", fields = {{ Gia = "/soTien" }} }}
DanhSachGiayToKetQua = {{ from = "/ketQua", fields = {{ DuongDanTepTinKetQua = "/tepDinhKem" }} }}
DanhSachHoSoBoSung = {{ from = "/boSung", fields = {{ NgayHenTraMoi = "/hanMoi" }} }}
DanhSachPhieuXinLoi = {{ from = "/xinLoi", fields = {{ NgayBanHanh = "/ngayPhieu" }} }}
DanhGiaHaiLong = {{ from = "/danhGia", fields = {{ MucDo = {{ from = "/mucDo", map = {rating} }}, NgayDanhGia = "/ngay" }} }}
NgayCapNhat = "/capNhat"
DaXoa = {{ from = "/daXoa", map = {{ "Có" = 1, "Không" = 0 }} }}

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}/api/v2"
page_size = {page_size}
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 4

[sources.qlvb.auth]
{auth}

[sources.qlvb.paging]
{paging}

[sources.qlvb.documents]
path = "van-ban"
records = "/result/items"
date_format = "dd/MM/yyyy HH:mm:ss"

[sources.qlvb.documents.fields]
MaVanBan = "/soVanBan"
MaDonVi = "/donVi"
LoaiVanBan = {{ from = "/loai", map = {{ "Văn bản đến" = "DEN", "Văn bản đi" = "DI" }} }}
NgayDen = "/ngayDen"
NgayBanHanh = "/ngayBanHanh"
XuLyTrenMang = {{ from = "/xuLyTrenMang", map = {{ "Có" = 1, "Không" = 0 }} }}
KySo = {{ from = "/kySo", map = {{ "Có" = 1, "Không" = 0 }} }}
NgayCapNhat = "/capNhat"
DaXoa = {{ from = "/daXoa", map = {{ "Có" = 1, "Không" = 0 }} }}
"#,
        level = value_map(&LEVEL_VI, 1),
        channel = value_map(&CHANNEL_VI, 1),
        status = value_map(&STATUS_VI, 1),
        payment = value_map(&PAYMENT_VI, 0),
        rating = value_map(&RATING_VI, 1),
    )
}

/// Sources `motcua` and `qlvb` for vendor B at `addr`.
pub fn sources_b(addr: SocketAddr, page_size: u32) -> String {
    let auth = format!(
        r#"style = "login"
login_path = "auth/login"
username = "{USER_B}"
password = "{PASSWORD_B}"
username_field = "tenDangNhap"
password_field = "matKhau"
login_fields = {{ ungDung = "dondoc" }}
token_pointer = "/data/accessToken"
expires_pointer = "/data/expiresIn""#
    );
    let paging = r#"style = "page"
page_param = "page"
limit_param = "pageSize"
first_page = 1
pages = "/meta/totalPages"
updated_since_param = "updatedFrom"
updated_since_format = "rfc3339""#;
    format!(
        r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}/v1"
page_size = {page_size}
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 4

[sources.motcua.auth]
{auth}

[sources.motcua.paging]
{paging}

[sources.motcua.procedures]
path = "procedures"
paged = true

[sources.motcua.procedures.fields]
MaTTHC = "/code"
TenTTHC = "/name"
MaLinhVuc = "/fieldCode"
TenLinhVuc = {{ value = "" }}
MucDo = {{ from = "/level", map = {level} }}

[sources.motcua.dossiers]
path = "dossiers"
date_format = "rfc3339"

[sources.motcua.dossiers.fields]
MaHoSo = "/id"
MaTTHC = "/procedure/code"
MaLinhVuc = "/procedure/field"
DonViXuLy = "/office"
KenhThucHien = {{ from = "/channel", map = {channel} }}
TrangThaiHoSo = {{ from = "/state", map = {status} }}
NgayTiepNhan = "/receivedAt"
NgayHenTra = "/dueAt"
NgayKetThucXuLy = "/finishedAt"
NgayTra = "/returnedAt"
DuocThanhToanTrucTuyen = {{ from = "/paymentChannel", map = {payment} }}
DanhSachLePhi = {{ from = "/fees", fields = {{ Gia = "/amount" }} }}
DanhSachGiayToKetQua = {{ from = "/results", fields = {{ DuongDanTepTinKetQua = "/fileUrl" }} }}
DanhSachHoSoBoSung = {{ from = "/supplements", fields = {{ NgayHenTraMoi = "/newDueAt" }} }}
DanhSachPhieuXinLoi = {{ from = "/apologies", fields = {{ NgayBanHanh = "/issuedAt" }} }}
DanhGiaHaiLong = {{ from = "/rating", fields = {{ MucDo = {{ from = "/level", map = {rating} }}, NgayDanhGia = "/ratedAt" }} }}
NgayCapNhat = {{ from = "/updatedAt", format = "epoch_ms" }}
DaXoa = "/deleted"

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}/v1"
page_size = {page_size}
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 4

[sources.qlvb.auth]
{auth}

[sources.qlvb.paging]
{paging}

[sources.qlvb.documents]
path = "documents"
records = "/data"
date_format = "rfc3339"

[sources.qlvb.documents.fields]
MaVanBan = "/id"
MaDonVi = "/unit"
LoaiVanBan = {{ from = "/direction", map = {{ IN = "DEN", OUT = "DI" }} }}
NgayDen = "/receivedAt"
NgayBanHanh = "/issuedAt"
XuLyTrenMang = "/processedOnline"
KySo = "/signed"
NgayCapNhat = {{ from = "/updatedAt", format = "epoch_ms" }}
DaXoa = "/deleted"
"#,
        level = value_map(&LEVEL_EN, 1),
        channel = value_map(&CHANNEL_EN, 1),
        status = value_map(&STATUS_EN, 1),
        payment = value_map(&PAYMENT_EN, 0),
        rating = value_map(&RATING_EN, 1),
    )
}

/// Keeps `Map` in use for helpers that build records by hand.
pub fn object(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}
