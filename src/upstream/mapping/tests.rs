use super::*;
use crate::config::mapping::ListMapping;
use crate::domain::records::RecordKind;
use serde_json::json;
use unicode_normalization::UnicodeNormalization;

/// Read as the loader reads the configuration (the config crate over TOML).
fn mapping(toml_text: &str) -> ListMapping {
    config::Config::builder()
        .add_source(config::File::from_str(toml_text, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap()
}

fn vendor_a() -> ListPlan {
    let m = mapping(
        r#"
path = "api/hoso"
records = "/result/items"
date_format = "dd/MM/yyyy HH:mm:ss"
[fields]
MaHoSo = "/soHoSo"
MaTTHC = "/thuTuc/ma"
DonViXuLy = "/donVi"
MaLinhVuc = "/linhVuc"
KenhThucHien = { from = "/kenh", map = { "Trực tiếp" = 1, "Trực tuyến" = 2, "Bưu chính" = 3 } }
TrangThaiHoSo = { from = "/trangThai", map = { "Đang xử lý" = 4, "Đã trả kết quả" = 10, "Chờ bổ sung" = 5 } }
NgayTiepNhan = "/ngayNhan"
NgayHenTra = "/ngayHen"
NgayKetThucXuLy = "/ngayXong"
NgayTra = "/ngayTra"
NgayCapNhat = { from = "/capNhat", format = "epoch_ms" }
DuocThanhToanTrucTuyen = { from = "/thanhToan", map = { "Không" = 0, "Cổng quốc gia" = 1 } }
DaXoa = { from = "/xoa", map = { "Có" = 1, "Không" = 0 }, default = 0 }
DanhSachLePhi = { from = "/phi", fields = { Gia = "/soTien" } }
DanhSachGiayToKetQua = { from = "/ketQua", fields = { DuongDanTepTinKetQua = "" } }
DanhSachPhieuXinLoi = { from = "/xinLoi", fields = { NgayBanHanh = "/ngay" } }
DanhGiaHaiLong = { from = "/danhGia", fields = { MucDo = "/muc", NgayDanhGia = "/ngay" } }
"#,
    );
    ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Pointer).unwrap()
}

fn vendor_record() -> Value {
    json!({
        "soHoSo": "HS-1",
        "thuTuc": {"ma": "1.001"},
        "donVi": "000.01.23.H50",
        "linhVuc": "G09-DD",
        "kenh": "Trực tuyến",
        "trangThai": "Đã trả kết quả",
        "ngayNhan": "01/05/2024 08:00:00",
        "ngayHen": "10/05/2024 17:00:00",
        "ngayXong": "",
        "ngayTra": "09/05/2024 10:00:00",
        "capNhat": 1715227200000i64,
        "thanhToan": "Cổng quốc gia",
        "phi": [{"soTien": "1.500.000"}, {"soTien": 5000}],
        "ketQua": ["", "https://x/y.pdf"],
        "xinLoi": [],
        "danhGia": {"muc": "1", "ngay": "09/05/2024 11:00:00"},
        "hoTen": "Nguyễn Văn A",
        "soDienThoai": "0912345678"
    })
}

#[test]
fn a_vendor_record_becomes_the_contract_record_it_stands_for() {
    let plan = vendor_a();
    assert!(!plan.identity);
    let c = plan.transform(&vendor_record()).unwrap();
    assert_eq!(c["MaHoSo"], "HS-1");
    assert_eq!(c["MaTTHC"], "1.001");
    assert_eq!(c["KenhThucHien"], 2);
    assert_eq!(c["TrangThaiHoSo"], 10);
    assert_eq!(c["NgayTiepNhan"], "20240501080000");
    assert_eq!(c["NgayCapNhat"], "20240509110000");
    assert_eq!(c["DaXoa"], 0, "the default of an absent flag");
    assert_eq!(
        c["DanhSachLePhi"],
        json!([{"Gia": "1500000"}, {"Gia": 5000}])
    );
    assert_eq!(
        c["DanhSachGiayToKetQua"],
        json!([{"DuongDanTepTinKetQua": ""}, {"DuongDanTepTinKetQua": "https://x/y.pdf"}])
    );
    assert!(
        c.get("NgayKetThucXuLy").is_none(),
        "an empty date is absent"
    );
    // Personal data is never copied.
    let text = c.to_string();
    assert!(!text.contains("Nguyễn") && !text.contains("0912345678"));

    let d = plan.parse_dossier(&vendor_record()).unwrap();
    assert_eq!(d.status, 10);
    assert_eq!(d.fee_total, 1_505_000.0);
    assert!(d.digitized);
    assert_eq!(d.rating, Some(1));
}

#[test]
fn rejections_name_the_vendor_field() {
    let plan = vendor_a();
    let mut r = vendor_record();
    r["trangThai"] = json!("Đang chờ");
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert_eq!(rej.key, "HS-1");
    assert!(
        rej.reason
            .starts_with("/trangThai (→ TrangThaiHoSo) = 'Đang chờ' is not in the value map"),
        "{}",
        rej.reason
    );
    assert_eq!(rej.updated_at, Some(1715227200));

    let mut r = vendor_record();
    r["ngayHen"] = json!("31/02/2024 17:00:00");
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert_eq!(
        rej.reason,
        "/ngayHen (→ NgayHenTra) = '31/02/2024 17:00:00' is not a date dd/MM/yyyy HH:mm:ss"
    );

    let mut r = vendor_record();
    r["phi"][1]["soTien"] = json!("năm nghìn");
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert!(
        rej.reason
            .starts_with("/phi/1/soTien (→ DanhSachLePhi[1].Gia) = 'năm nghìn'"),
        "{}",
        rej.reason
    );

    // The contract's own rules, in the vendor's words.
    let mut r = vendor_record();
    r["ngayTra"] = json!(null);
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert!(
        rej.reason.starts_with("/trangThai (→ TrangThaiHoSo) = 10 is a finished status but neither /ngayXong (→ NgayKetThucXuLy) nor /ngayTra (→ NgayTra)"),
        "{}",
        rej.reason
    );
    let mut r = vendor_record();
    r.as_object_mut().unwrap().remove("soHoSo");
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert_eq!(rej.reason, "/soHoSo (→ MaHoSo) is missing");
    assert!(rej.key.starts_with("(no key: dossier"));
    let mut r = vendor_record();
    r["danhGia"]["muc"] = json!(7);
    let rej = plan.parse_dossier(&r).unwrap_err();
    assert!(
        rej.reason
            .starts_with("/danhGia/muc (→ DanhGiaHaiLong.MucDo) = 7"),
        "{}",
        rej.reason
    );
}

#[test]
fn the_contract_is_the_identity_and_an_empty_table_too() {
    for m in [None, Some(mapping("records = \"/data\""))] {
        let plan = ListPlan::compile(RecordKind::Dossier, m.as_ref(), Addressing::Pointer).unwrap();
        assert!(plan.identity);
        assert_eq!(plan.path, "ho-so");
    }
    let plan = ListPlan::compile(RecordKind::Procedure, None, Addressing::Pointer).unwrap();
    assert!(!plan.paged);
    // A column mapping is never the identity.
    let plan = ListPlan::compile(RecordKind::Dossier, None, Addressing::Column).unwrap();
    assert!(!plan.identity);
    // The identity plan transforms to the same record.
    let plan = ListPlan::compile(RecordKind::Document, None, Addressing::Pointer).unwrap();
    let rec = json!({"MaVanBan": "V1", "MaDonVi": "P1", "LoaiVanBan": "DEN", "NgayDen": "20240502080000",
                     "XuLyTrenMang": true, "NgayCapNhat": "20240502080000"});
    let d = plan.parse_document(&rec).unwrap();
    assert!(d.processed_online, "true is a flag of 1");
}

#[test]
fn value_maps_ignore_case_spaces_and_composition() {
    let m = mapping(
        r#"[fields]
TrangThaiHoSo = { from = "/s", map = { "Đã trả kết quả" = 10, "true" = 4, "2" = 9 } }"#,
    );
    let plan = ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Pointer).unwrap();
    let decomposed: String = "đã trả  KẾT QUẢ ".nfd().collect();
    for (v, want) in [
        (json!(decomposed), 10),
        (json!(true), 4),
        (json!(2), 9),
        (json!(2.0), 9),
        (json!(" 2 "), 9),
    ] {
        let c = plan.transform(&json!({ "s": v })).unwrap();
        assert_eq!(c["TrangThaiHoSo"], want, "{v}");
    }
}

#[test]
fn a_flat_row_fills_lists_from_itself_and_columns_are_headers() {
    let m = mapping(
        r#"
date_format = ["dd/MM/yyyy HH:mm", "dd/MM/yyyy"]
[fields]
MaHoSo = "Số hồ sơ"
NgayCapNhat = "Cập nhật"
DanhSachLePhi = { fields = { Gia = "Lệ phí" } }
DanhSachPhieuXinLoi = { fields = { NgayBanHanh = "Ngày xin lỗi" } }
"#,
    );
    let plan = ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Column).unwrap();
    let cols: Vec<String> = plan
        .columns()
        .into_iter()
        .filter(|c| c.1)
        .map(|c| c.0)
        .collect();
    assert!(cols.contains(&"Lệ phí".to_string()) && cols.contains(&"Số hồ sơ".to_string()));
    let c = plan
        .transform(&json!({"Số hồ sơ": 12345.0, "Cập nhật": "2024-05-01T08:00:00", "Lệ phí": 15000, "Ngày xin lỗi": null}))
        .unwrap();
    assert_eq!(c["MaHoSo"], 12345, "a whole float is its digits");
    assert_eq!(
        c["NgayCapNhat"], "20240501080000",
        "a sheet's date cell whatever the format"
    );
    assert_eq!(c["DanhSachLePhi"], json!([{"Gia": 15000}]));
    assert!(
        c.get("DanhSachPhieuXinLoi").is_none(),
        "no slip when its columns are empty"
    );
    let c = plan
        .transform(&json!({"Số hồ sơ": "X", "Cập nhật": "02/05/2024"}))
        .unwrap();
    assert_eq!(c["NgayCapNhat"], "20240502000000", "the second format");
    let e = plan
        .transform(&json!({"Số hồ sơ": "X", "Cập nhật": "hôm qua"}))
        .unwrap_err();
    assert_eq!(
        e,
        "'Cập nhật' (→ NgayCapNhat) = 'hôm qua' is not a date dd/MM/yyyy HH:mm or dd/MM/yyyy"
    );
}

#[test]
fn compile_reports_every_problem_with_its_path() {
    let m = mapping(
        r#"
records = "data"
date_format = "dd/MM/yy"
[fields]
ChuHoSo = "/chuHoSo"
TenPhiLePhi = "/ten"
MaHoSoo = "/ma"
TrangThaiHoSo = { from = "/tt", map = { "Xong" = 11, "Mới" = "1" } }
NgayTiepNhan = { from = "/n", format = "HH:mm", map = { "a" = 1 } }
MaTTHC = { from = "thuTuc" }
DanhSachLePhi = { from = "/phi", fields = { Giaa = "/x" } }
KenhThucHien = { fields = { Gia = "/x" } }
"#,
    );
    let problems =
        ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Pointer).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "records",
        "date_format",
        "fields.ChuHoSo",
        "fields.MaHoSoo",
        "fields.TrangThaiHoSo.map.Xong",
        "fields.TrangThaiHoSo.map.Mới",
        "fields.NgayTiepNhan.format",
        "fields.NgayTiepNhan.map",
        "fields.MaTTHC.from",
        "fields.DanhSachLePhi.fields.Giaa",
        "fields.KenhThucHien.fields",
        "fields.KenhThucHien",
    ] {
        assert!(paths.contains(&want), "{want} missing from {problems:#?}");
    }
    let personal = problems
        .iter()
        .find(|(p, _)| p == "fields.ChuHoSo")
        .unwrap();
    assert!(personal.1.contains("personal data"));
    // A contract field dondoc does not use is no error: it is ignored, with a warning.
    assert!(!paths.contains(&"fields.TenPhiLePhi"), "{problems:#?}");
    assert_eq!(
        super::unused_fields(&m),
        [(
            "fields.TenPhiLePhi".to_string(),
            "TenPhiLePhi is part of the contract but dondoc does not use it: its mapping is ignored"
                .to_string()
        )]
    );
}
