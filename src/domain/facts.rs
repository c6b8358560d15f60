//! The facts of one dossier or document that the rules of metrics.md read, and nothing else:
//! compact, copyable records that the rate engine (`crate::rates::engine`) sweeps at memory speed
//! and the store (`crate::store`'s facts query) fills from what some window can count. The rules
//! over them are `crate::rates::rules`; this module holds the data and its codes only.

use super::time::Epoch;

/// "No such instant": an absent date in [`DossierFacts`] and [`DocumentFacts`]. Every rule
/// that reads a date first checks that it is present, so the value never takes part in a
/// comparison.
pub const NONE: Epoch = i64::MIN;

/// The facts of one dossier that the rules read, and nothing else: a compact, copyable record
/// (56 bytes) that the rate engine (`crate::rates::engine`) sweeps at memory speed. The rules below are
/// written once, over these facts; [`tally_dossier`] is the same rules over a whole [`Dossier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DossierFacts {
    /// `NgayTiepNhan`, or [`NONE`].
    pub received_at: Epoch,
    /// The effective due instant, or [`NONE`].
    pub due_at: Epoch,
    /// `NgayKetThucXuLy`, else `NgayTra`, or [`NONE`].
    pub ended_at: Epoch,
    /// The earliest apology slip, or [`NONE`].
    pub first_apology_at: Epoch,
    /// `DanhGiaHaiLong.NgayDanhGia`, or [`NONE`].
    pub rated_at: Epoch,
    /// The engine's group (unit code × field code); 0 when not grouped.
    pub group: u32,
    /// `TrangThaiHoSo`.
    pub status: u8,
    /// The rating: [`RATING_NONE`], [`RATING_SATISFIED`] (`MucDo` 1 or 2) or [`RATING_OTHER`].
    pub rating: u8,
    /// The procedure in the catalogue: [`PROC_UNKNOWN`], [`PROC_LISTED`] or [`PROC_LEVEL4`].
    pub procedure: u8,
    /// [`F_IN_SCOPE`], [`F_ONLINE`], [`F_FEE`], [`F_PAID_ONLINE`], [`F_DIGITIZED`].
    pub flags: u8,
}

pub const RATING_NONE: u8 = 0;
pub const RATING_SATISFIED: u8 = 1;
pub const RATING_OTHER: u8 = 2;
pub const PROC_UNKNOWN: u8 = 0;
pub const PROC_LISTED: u8 = 1;
pub const PROC_LEVEL4: u8 = 2;
/// Not deleted, status not 0, 1, 3 or 7, and a receipt instant.
pub const F_IN_SCOPE: u8 = 1;
/// `KenhThucHien` = 2.
pub const F_ONLINE: u8 = 2;
/// Fees above 0.
pub const F_FEE: u8 = 4;
/// `DuocThanhToanTrucTuyen` 1 or 2.
pub const F_PAID_ONLINE: u8 = 8;
/// A result paper with a file.
pub const F_DIGITIZED: u8 = 16;

/// The facts of one document that the rules read: its group (unit code), direction, the
/// instant that places it in a window (arrival for incoming, issue for outgoing) and its flag
/// (processed online for incoming, signed for outgoing). 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentFacts {
    /// `NgayDen` for incoming, `NgayBanHanh` for outgoing, or [`NONE`].
    pub at: Epoch,
    /// The engine's group (unit code); 0 when not grouped.
    pub group: u32,
    /// [`DOC_NONE`] (deleted, or no direction), [`DOC_INCOMING`] or [`DOC_OUTGOING`].
    pub direction: u8,
    /// `XuLyTrenMang` = 1 for incoming, `KySo` = 1 for outgoing.
    pub flag: bool,
}

pub const DOC_NONE: u8 = 0;
pub const DOC_INCOMING: u8 = 1;
pub const DOC_OUTGOING: u8 = 2;
