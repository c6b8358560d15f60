//! The records dondoc keeps from its upstream systems: a dossier, a procedure of the catalogue,
//! a document, and a record set aside with its reason.
//!
//! These are plain data: the sources produce them (`crate::upstream` parses the contract and the
//! vendor mappings into them), the store persists them, the rates count them. They hold only what
//! a rate or an action list needs: never a citizen's name, phone, address or identity number.
//! This module must never parse, read or write anything.

use super::time::Epoch;

/// Which list a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Dossier,
    Procedure,
    Document,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Dossier => "dossier",
            RecordKind::Procedure => "procedure",
            RecordKind::Document => "document",
        }
    }
}

/// A record that breaks the contract: its key and why, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RecordKind,
    pub key: String,
    /// `NgayCapNhat` of the rejected version, when it could be read.
    pub updated_at: Option<Epoch>,
    pub reason: String,
}

/// A dossier as dondoc keeps it: only what the metrics and the action lists need.
#[derive(Debug, Clone, PartialEq)]
pub struct Dossier {
    /// `MaHoSo`.
    pub code: String,
    /// `MaTTHC`; empty for a tombstone.
    pub procedure_code: String,
    /// `MaLinhVuc`.
    pub field_code: Option<String>,
    /// `DonViXuLy`; empty for a tombstone.
    pub unit_code: String,
    /// `KenhThucHien`: 1 direct, 2 online, 3 postal.
    pub channel: Option<u8>,
    /// `TrangThaiHoSo`, 1..=10; 0 for a tombstone.
    pub status: u8,
    /// `NgayTiepNhan`.
    pub received_at: Option<Epoch>,
    /// `NgayHenTra` as first appointed.
    pub appointed_at: Option<Epoch>,
    /// The effective due date: the latest of `NgayHenTra` and every supplement's `NgayHenTraMoi`.
    /// Apology slips never move it.
    pub due_at: Option<Epoch>,
    /// `NgayKetThucXuLy`, or `NgayTra` where it is absent.
    pub ended_at: Option<Epoch>,
    /// `NgayTra`.
    pub returned_at: Option<Epoch>,
    /// `DuocThanhToanTrucTuyen`: 0 not online, 1 national portal, 2 provincial gateway, 3 other.
    pub paid_online: u8,
    /// `Gia` summed over `DanhSachLePhi`, in VND.
    pub fee_total: f64,
    /// At least one result paper with a non-empty `DuongDanTepTinKetQua`.
    pub digitized: bool,
    /// The earliest `NgayBanHanh` of the apology slips.
    pub first_apology_at: Option<Epoch>,
    /// `DanhGiaHaiLong.MucDo`: 1 very satisfied, 2 satisfied, 3 not satisfied.
    pub rating: Option<u8>,
    /// `DanhGiaHaiLong.NgayDanhGia`.
    pub rated_at: Option<Epoch>,
    /// `NgayCapNhat`.
    pub updated_at: Epoch,
    /// `DaXoa` = 1: a tombstone.
    pub deleted: bool,
}

/// A procedure of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Procedure {
    pub code: String,
    pub name: Option<String>,
    pub field_code: Option<String>,
    pub field_name: Option<String>,
    /// `MucDo`: 2 basic, 3 partly online, 4 full-process online (1 is accepted for old catalogues).
    pub level: Option<u8>,
}

/// Incoming (`DEN`) or outgoing (`DI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "DEN",
            Direction::Outgoing => "DI",
        }
    }
}

/// A document of the document-management system.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub code: String,
    pub unit_code: String,
    /// `None` only for a tombstone.
    pub direction: Option<Direction>,
    pub arrived_at: Option<Epoch>,
    pub issued_at: Option<Epoch>,
    pub processed_online: bool,
    pub signed: bool,
    pub updated_at: Epoch,
    pub deleted: bool,
}

impl Dossier {
    /// A deleted dossier: only its key and the time of deletion are kept.
    pub fn tombstone(code: String, updated_at: Epoch) -> Self {
        Dossier {
            code,
            procedure_code: String::new(),
            field_code: None,
            unit_code: String::new(),
            channel: None,
            status: 0,
            received_at: None,
            appointed_at: None,
            due_at: None,
            ended_at: None,
            returned_at: None,
            paid_online: 0,
            fee_total: 0.0,
            digitized: false,
            first_apology_at: None,
            rating: None,
            rated_at: None,
            updated_at,
            deleted: true,
        }
    }
}
