//! The contract fields a mapping may fill: exactly those that dondoc reads from each list
//! (`../shared/spec/upstream-api.md`), with their kind. A field outside this catalogue cannot be
//! mapped: personal data (`ChuHoSo`, `SoDienThoai`, …) has no place to go; contract fields
//! dondoc does not use (`TenPhiLePhi`, …) are ignored, with a warning from `check-config`.

use crate::domain::records::RecordKind;

/// What a contract field holds, which decides how a vendor value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A code or a text (a number is taken as its digits).
    Text,
    /// `LoaiVanBan`: `DEN` or `DI`.
    Direction,
    /// A code within `min..=max`.
    Code {
        min: i64,
        max: i64,
    },
    /// A 0/1 flag: a JSON `true`/`false` is read as 1/0 without a value map.
    Flag,
    Date,
    /// An amount in VND.
    Amount,
    /// An array of objects with these fields.
    List(&'static [FieldDef]),
    /// An object with these fields.
    Object(&'static [FieldDef]),
}

impl FieldKind {
    pub fn describe(self) -> &'static str {
        match self {
            FieldKind::Text => "a text",
            FieldKind::Direction => "DEN or DI",
            FieldKind::Code { .. } => "a code",
            FieldKind::Flag => "a 0/1 flag",
            FieldKind::Date => "a date",
            FieldKind::Amount => "an amount",
            FieldKind::List(_) => "a list",
            FieldKind::Object(_) => "an object",
        }
    }
}

/// One contract field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: FieldKind,
}

const fn f(name: &'static str, kind: FieldKind) -> FieldDef {
    FieldDef { name, kind }
}

const FEE: &[FieldDef] = &[f("Gia", FieldKind::Amount)];
const PAPER: &[FieldDef] = &[f("DuongDanTepTinKetQua", FieldKind::Text)];
const SUPPLEMENT: &[FieldDef] = &[f("NgayHenTraMoi", FieldKind::Date)];
const APOLOGY: &[FieldDef] = &[f("NgayBanHanh", FieldKind::Date)];
const RATING: &[FieldDef] = &[
    f("MucDo", FieldKind::Code { min: 1, max: 3 }),
    f("NgayDanhGia", FieldKind::Date),
];

/// The fields of `/ho-so` that dondoc reads.
pub const DOSSIER: &[FieldDef] = &[
    f("MaHoSo", FieldKind::Text),
    f("MaTTHC", FieldKind::Text),
    f("MaLinhVuc", FieldKind::Text),
    f("DonViXuLy", FieldKind::Text),
    f("KenhThucHien", FieldKind::Code { min: 1, max: 3 }),
    f("TrangThaiHoSo", FieldKind::Code { min: 1, max: 10 }),
    f("NgayTiepNhan", FieldKind::Date),
    f("NgayHenTra", FieldKind::Date),
    f("NgayKetThucXuLy", FieldKind::Date),
    f("NgayTra", FieldKind::Date),
    f("DuocThanhToanTrucTuyen", FieldKind::Code { min: 0, max: 3 }),
    f("DanhSachLePhi", FieldKind::List(FEE)),
    f("DanhSachGiayToKetQua", FieldKind::List(PAPER)),
    f("DanhSachHoSoBoSung", FieldKind::List(SUPPLEMENT)),
    f("DanhSachPhieuXinLoi", FieldKind::List(APOLOGY)),
    f("DanhGiaHaiLong", FieldKind::Object(RATING)),
    f("NgayCapNhat", FieldKind::Date),
    f("DaXoa", FieldKind::Flag),
];

/// The fields of `/thu-tuc` that dondoc reads.
pub const PROCEDURE: &[FieldDef] = &[
    f("MaTTHC", FieldKind::Text),
    f("TenTTHC", FieldKind::Text),
    f("MaLinhVuc", FieldKind::Text),
    f("TenLinhVuc", FieldKind::Text),
    f("MucDo", FieldKind::Code { min: 1, max: 4 }),
];

/// The fields of `/van-ban` that dondoc reads.
pub const DOCUMENT: &[FieldDef] = &[
    f("MaVanBan", FieldKind::Text),
    f("MaDonVi", FieldKind::Text),
    f("LoaiVanBan", FieldKind::Direction),
    f("NgayDen", FieldKind::Date),
    f("NgayBanHanh", FieldKind::Date),
    f("XuLyTrenMang", FieldKind::Flag),
    f("KySo", FieldKind::Flag),
    f("NgayCapNhat", FieldKind::Date),
    f("DaXoa", FieldKind::Flag),
];

/// Contract fields that dondoc does not read: a mapping that names them is ignored (a warning).
pub const UNUSED: &[&str] = &[
    "MaPhiLePhi",
    "TenPhiLePhi",
    "MaGiayToKetQua",
    "TenGiayTo",
    "NgayBoSung",
    "NgayHenTraTruoc",
    "SoPhieu",
];

/// Personal fields of real feeds: never read, never mapped (Decree 13/2023/NĐ-CP).
pub const PERSONAL: &[&str] = &[
    "ChuHoSo",
    "SoGiayToChuHoSo",
    "SoDienThoai",
    "Email",
    "DiaChi",
    "DinhDanhCHS",
];

/// The catalogue of a list.
pub fn of(kind: RecordKind) -> &'static [FieldDef] {
    match kind {
        RecordKind::Dossier => DOSSIER,
        RecordKind::Procedure => PROCEDURE,
        RecordKind::Document => DOCUMENT,
    }
}

/// The key field of a list.
pub fn key_field(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Dossier => "MaHoSo",
        RecordKind::Procedure => "MaTTHC",
        RecordKind::Document => "MaVanBan",
    }
}

/// The contract's path of a list under `base_url`.
pub fn contract_path(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Dossier => "ho-so",
        RecordKind::Procedure => "thu-tuc",
        RecordKind::Document => "van-ban",
    }
}

/// The configuration table of a list (`[sources.NAME.dossiers]`).
pub fn table_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Dossier => "dossiers",
        RecordKind::Procedure => "procedures",
        RecordKind::Document => "documents",
    }
}
