//! The page parsers (contract and mapped) against arbitrary bytes and arbitrary JSON: never
//! a panic; every outcome an error naming the source, or records stored and set aside.

use crate::config::mapping::{ListMapping, PagingSettings};
use crate::upstream::contract::parse_page;
use crate::upstream::endpoint::{Page, Records, TimeGuard};
use crate::upstream::mapping::list::{parse_mapped, update_times};
use crate::upstream::mapping::paging::Pager;
use crate::upstream::mapping::{Addressing, ListPlan};
use crate::upstream::records::RecordKind;
use proptest::prelude::*;
use serde_json::{Value, json};

fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A vendor's dossier list: own field names, dd/MM/yyyy dates, value maps, nested lists.
fn vendor_plan() -> ListPlan {
    let m: ListMapping = from_toml(
        r#"
path = "api/hoso"
records = "/result/items"
date_format = "dd/MM/yyyy HH:mm:ss"
[fields]
MaHoSo = "/soHoSo"
MaTTHC = "/thuTuc/ma"
DonViXuLy = "/donVi"
MaLinhVuc = "/linhVuc"
KenhThucHien = { from = "/kenh", map = { "Trực tiếp" = 1, "Trực tuyến" = 2 } }
TrangThaiHoSo = { from = "/trangThai", map = { "Đang xử lý" = 4, "Đã trả kết quả" = 10 } }
NgayTiepNhan = "/ngayNhan"
NgayHenTra = "/ngayHen"
NgayTra = "/ngayTra"
NgayCapNhat = { from = "/capNhat", format = "epoch_ms" }
DaXoa = { from = "/xoa", map = { "Có" = 1, "Không" = 0 }, default = 0 }
DanhSachLePhi = { from = "/phi", fields = { Gia = "/soTien" } }
DanhGiaHaiLong = { from = "/danhGia", fields = { MucDo = "/muc", NgayDanhGia = "/ngay" } }
"#,
    );
    ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Pointer)
        .unwrap_or_else(|p| panic!("{p:?}"))
}

fn offset_pager() -> Pager {
    let p: PagingSettings =
        from_toml("style = \"offset\"\noffset_param = \"skip\"\ntotal = \"/result/total\"\n");
    Pager::new(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn guard() -> TimeGuard {
    TimeGuard::new(1_718_852_400, 300)
}

/// Both contract lists, the vendor's mapped list and the contract through the mapped path:
/// each outcome is an error naming the source, or counts that add up.
fn check_all(body: &[u8]) {
    for endpoint in ["ho-so", "van-ban"] {
        match parse_page("fuzz", endpoint, body, guard()) {
            Ok((p, _)) => check_page(&p),
            Err(e) => assert!(e.to_string().starts_with("fuzz/"), "{e}"),
        }
    }
    let plans = [
        (vendor_plan(), offset_pager()),
        (
            ListPlan::compile(RecordKind::Document, None, Addressing::Pointer)
                .unwrap_or_else(|p| panic!("{p:?}")),
            Pager::new(&PagingSettings::default()).unwrap_or_else(|e| panic!("{e}")),
        ),
    ];
    for (plan, pager) in &plans {
        let first = pager.first();
        match parse_mapped("fuzz", 50, plan, pager, body, &first, 0, guard()) {
            Ok((p, _)) => check_page(&p),
            Err(e) => assert!(e.to_string().starts_with("fuzz/"), "{e}"),
        }
        let _ = update_times(plan, body, guard().ceiling);
    }
}

fn check_page(p: &Page) {
    let stored = match &p.records {
        Records::Dossiers(d) => {
            assert!(d.iter().all(|d| d.updated_at <= guard().ceiling));
            d.len()
        }
        Records::Documents(d) => {
            assert!(d.iter().all(|d| d.updated_at <= guard().ceiling));
            d.len()
        }
        other => panic!(
            "a list of dossiers or documents gave {} other records",
            other.len()
        ),
    };
    assert_eq!(p.rejected as usize, p.rejections.len());
    assert_eq!((stored + p.rejections.len()) as u64, p.fetched);
    assert!(p.mark.is_none_or(|m| m <= guard().ceiling), "{:?}", p.mark);
}

/// Any JSON value, a few levels deep, with Vietnamese text and awkward numbers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("20240620100000"),
            Just("20990101000000"),
            Just("00000000000000"),
            Just("20/06/2024 10:00:00"),
            Just("Đã trả kết quả"),
            Just("1.500.000"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field name of the contract, of the vendor's mapping, or anything.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "data",
            "next_cursor",
            "MaHoSo",
            "MaTTHC",
            "DonViXuLy",
            "MaLinhVuc",
            "KenhThucHien",
            "TrangThaiHoSo",
            "NgayTiepNhan",
            "NgayHenTra",
            "NgayKetThucXuLy",
            "NgayTra",
            "NgayCapNhat",
            "DaXoa",
            "DanhSachLePhi",
            "Gia",
            "DanhSachGiayToKetQua",
            "DuongDanTepTinKetQua",
            "DanhSachHoSoBoSung",
            "NgayHenTraMoi",
            "DanhSachPhieuXinLoi",
            "NgayBanHanh",
            "DanhGiaHaiLong",
            "MucDo",
            "NgayDanhGia",
            "DuocThanhToanTrucTuyen",
            "MaVanBan",
            "MaDonVi",
            "LoaiVanBan",
            "NgayDen",
            "XuLyTrenMang",
            "KySo",
            "result",
            "items",
            "total",
            "soHoSo",
            "thuTuc",
            "ma",
            "donVi",
            "kenh",
            "trangThai",
            "capNhat",
            "phi",
            "soTien",
            "danhGia",
            "muc",
            "ngay",
            "xoa",
        ])
        .prop_map(str::to_string),
        "\\PC{0,6}",
    ]
}

/// A page shaped like the contract's or the vendor's, its records anything.
fn page_like() -> impl Strategy<Value = Value> {
    let record = prop::collection::btree_map(field_name(), any_json(), 0..14)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let records = prop::collection::vec(prop_oneof![record, any_json()], 0..6);
    (records, any_json()).prop_map(|(rs, cursor)| {
        json!({
            "data": rs.clone(),
            "next_cursor": cursor,
            "result": { "items": rs, "total": 7 },
        })
    })
}

/// Valid dossiers and documents as the simulator serves them (built once).
fn valid_records() -> &'static (Vec<Value>, Vec<Value>) {
    static RECORDS: std::sync::OnceLock<(Vec<Value>, Vec<Value>)> = std::sync::OnceLock::new();
    RECORDS.get_or_init(|| {
        let t0 = chrono::DateTime::from_timestamp(1_718_852_400, 0).unwrap_or_default();
        let clock = std::sync::Arc::new(crate::domain::time::ManualClock::new(t0));
        let sim = crate::simulator::Simulator::new(
            crate::simulator::SimOptions {
                dossiers: 40,
                documents: 20,
                ..crate::simulator::SimOptions::new(3, Vec::new())
            },
            clock,
        );
        (sim.dossiers_json(), sim.documents_json())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Valid records with one field replaced by anything (or removed): parsed, or set aside
    /// with a reason; the unchanged records of the page are stored.
    #[test]
    fn valid_records_with_one_field_mangled_never_panic(
        which in any::<prop::sample::Index>(),
        field in field_name(),
        value in prop::option::of(any_json()),
    ) {
        let (dossiers, documents) = valid_records();
        for (endpoint, list) in [("ho-so", dossiers), ("van-ban", documents)] {
            prop_assume!(!list.is_empty());
            let mut page = list.clone();
            let i = which.index(page.len());
            if let Value::Object(m) = &mut page[i] {
                match &value {
                    Some(v) => { m.insert(field.clone(), v.clone()); }
                    None => { m.remove(&field); }
                }
            }
            let body = serde_json::to_vec(&json!({ "data": page })).unwrap_or_default();
            let (p, _) = parse_page("fuzz", endpoint, &body, guard())
                .unwrap_or_else(|e| panic!("a page of objects is a page: {e}"));
            check_page(&p);
            prop_assert!(p.rejections.len() <= 1, "only the mangled record may be set aside");
            check_all(&body);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_all(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        check_all(&serde_json::to_vec(&v).unwrap_or_default());
    }

    #[test]
    fn page_shaped_json_never_panics(v in page_like()) {
        check_all(&serde_json::to_vec(&v).unwrap_or_default());
    }

    #[test]
    fn a_page_cut_anywhere_never_panics(v in page_like(), cut in any::<prop::sample::Index>()) {
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        let at = cut.index(bytes.len() + 1);
        check_all(&bytes[..at]);
    }
}

#[test]
fn non_json_answers_fail_the_page_with_their_reason_on_both_paths() {
    let html = b"<!DOCTYPE html><html><body>Dang nhap</body></html>";
    let deep_record = format!(
        "{{\"result\": {{\"items\": [{{\"soHoSo\": {}1{}}}]}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let plan = vendor_plan();
    let pager = offset_pager();
    let mapped = |body: &[u8]| match parse_mapped(
        "motcua",
        50,
        &plan,
        &pager,
        body,
        &pager.first(),
        0,
        guard(),
    ) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let e = mapped(html);
    assert!(
        e.starts_with("motcua/api/hoso: the answer is an HTML page"),
        "{e}"
    );
    let e = mapped(deep_record.as_bytes());
    assert!(
        e.contains("a record cannot be read: the JSON is nested more than 128 levels deep"),
        "{e}"
    );
    let e = mapped(b"{\"result\": {\"items\": [\"\xff\"]}}");
    assert!(e.contains("not valid UTF-8"), "{e}");
    let e = match parse_page("motcua", "ho-so", html, guard()) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        e.starts_with("motcua/ho-so: the answer is an HTML page"),
        "{e}"
    );
}
