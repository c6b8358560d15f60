//! A contract upstream (`../shared/spec/upstream-api.md`) that serves fixed records over a real
//! socket: `/ho-so`, `/van-ban` and `/thu-tuc`, every record on one page (`next_cursor: null`),
//! whatever the query. For tests that need exactly these dossiers (or hostile ones), where the
//! simulator's random city would not do. It stops when dropped.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::net::SocketAddr;

pub struct FixedUpstream {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn serve_fixed(
    dossiers: Vec<Value>,
    procedures: Vec<Value>,
    documents: Vec<Value>,
) -> FixedUpstream {
    use axum::routing::get;
    let page = |records: Vec<Value>| {
        let body = json!({ "data": records, "next_cursor": null });
        move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }
    };
    let router = axum::Router::new()
        .route("/ho-so", get(page(dossiers)))
        .route("/van-ban", get(page(documents)))
        .route("/thu-tuc", get(page(procedures)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    FixedUpstream { addr, _stop: tx }
}

/// A dossier of the contract: `unit` its `DonViXuLy`, dates as `yyyyMMddHHmmss` (local time);
/// `ended` makes it returned (status 10) with a digitized result, otherwise it is being
/// processed (status 4). No apology slip.
pub fn dossier(code: &str, unit: &str, received: &str, due: &str, ended: Option<&str>) -> Value {
    let mut d = json!({
        "MaHoSo": code,
        "MaTTHC": "1.001",
        "MaLinhVuc": "G09-HT",
        "DonViXuLy": unit,
        "KenhThucHien": 2,
        "TrangThaiHoSo": 4,
        "NgayTiepNhan": received,
        "NgayHenTra": due,
        "NgayCapNhat": received,
        "DuocThanhToanTrucTuyen": 0,
        "ChuHoSo": "Nguyễn Văn Bí Mật",
    });
    if let Some(e) = ended {
        d["TrangThaiHoSo"] = 10.into();
        d["NgayKetThucXuLy"] = e.into();
        d["NgayTra"] = e.into();
        d["NgayCapNhat"] = e.into();
        d["DanhSachGiayToKetQua"] =
            json!([{ "DuongDanTepTinKetQua": "https://motcua.example/kq.pdf" }]);
    }
    d
}

pub fn procedure(code: &str, name: &str) -> Value {
    json!({ "MaTTHC": code, "TenTTHC": name, "MaLinhVuc": "G09-HT", "TenLinhVuc": "Hộ tịch", "MucDo": 4 })
}

pub fn document(code: &str, unit: &str) -> Value {
    json!({
        "MaVanBan": code, "MaDonVi": unit, "LoaiVanBan": "DEN", "NgayDen": "20240603080000",
        "XuLyTrenMang": 1, "NgayCapNhat": "20240603080000"
    })
}

/// A configuration with both sources on `addr` (fast retries), `units` and `extra` sections.
pub fn fixed_config(addr: SocketAddr, db_url: &str, units: &str, extra: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"

[sources.motcua]
kind = "one_stop"
base_url = "http://{addr}"
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 3

[sources.qlvb]
kind = "documents"
base_url = "http://{addr}"
timeout_secs = 5
backoff_initial_ms = 5
backoff_max_secs = 1
max_attempts = 3
{units}
{extra}
"#
    )
}
