//! The upstream contract's records (`../shared/spec/upstream-api.md`): parsing, validation and
//! the normalized shapes that the store keeps.
//!
//! A page is split into records first, and each record is parsed on its own, so that one broken
//! record is set aside with a reason a person understands while the rest of its page is stored.
//!
//! This module must never keep personal data: the raw structs name only the fields a metric or an
//! action list needs, so `ChuHoSo`, `SoDienThoai`, `Email`, `DiaChi`, `SoGiayToChuHoSo`,
//! `DinhDanhCHS` and every other field are skipped by the parser and never reach memory that
//! outlives the page, the database or the logs. It does no I/O.

use crate::domain::time::{Epoch, parse_compact};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;

pub use crate::domain::records::{Direction, Document, Dossier, Procedure, RecordKind, Rejection};

/// One page of a list endpoint, split into records but not yet parsed.
#[derive(Debug, Deserialize)]
pub struct RawPage<'a> {
    #[serde(borrow, default)]
    pub data: Vec<&'a RawValue>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The outcome of parsing one record.
pub type Parsed<T> = Result<T, Rejection>;

// ---------------------------------------------------------------------------------------------
// Lenient scalar readers: they never fail, so that a bad value becomes a rejection reason
// instead of an error that would take the whole page with it.

/// A code field: a JSON number or a string of digits.
#[derive(Debug, Clone, Default, PartialEq)]
enum Code {
    #[default]
    Absent,
    Int(i64),
    Bad(String),
}

/// A text field (a number is taken as its decimal text).
#[derive(Debug, Clone, Default, PartialEq)]
enum Text {
    #[default]
    Absent,
    Str(String),
    Bad(&'static str),
}

/// An amount: a number or a numeric string.
#[derive(Debug, Clone, Default, PartialEq)]
enum Amount {
    #[default]
    Absent,
    Num(f64),
    Bad(String),
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

macro_rules! lenient_visitor_common {
    ($bad:expr) => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok($bad("a list"))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map)?;
            Ok($bad("an object"))
        }
    };
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a code")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                Ok(Code::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
                Ok(i64::try_from(v).map_or_else(|_| Code::Bad(v.to_string()), Code::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Code, E> {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    Ok(Code::Int(v as i64))
                } else {
                    Ok(Code::Bad(v.to_string()))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Code, E> {
                Ok(Code::Bad(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                let t = v.trim();
                if t.is_empty() {
                    Ok(Code::Absent)
                } else if t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(t.parse()
                        .map_or_else(|_| Code::Bad(t.to_string()), Code::Int))
                } else {
                    Ok(Code::Bad(clip(t)))
                }
            }
            lenient_visitor_common!(|s: &str| Code::Bad(s.to_string()));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                let t = v.trim();
                Ok(if t.is_empty() {
                    Text::Absent
                } else {
                    Text::Str(t.to_string())
                })
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                if v.trim().len() == v.len() {
                    Ok(if v.is_empty() {
                        Text::Absent
                    } else {
                        Text::Str(v)
                    })
                } else {
                    self.visit_str(&v)
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text::Str(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text::Str(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Text, E> {
                Ok(Text::Bad("a fractional number"))
            }
            fn visit_bool<E: de::Error>(self, _v: bool) -> Result<Text, E> {
                Ok(Text::Bad("true or false"))
            }
            lenient_visitor_common!(Text::Bad);
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                Ok(Amount::Num(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Amount, E> {
                Ok(Amount::Bad(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                let t = v.trim();
                if t.is_empty() {
                    return Ok(Amount::Absent);
                }
                match t.parse::<f64>() {
                    Ok(n) if n.is_finite() => Ok(Amount::Num(n)),
                    _ => Ok(Amount::Bad(clip(t))),
                }
            }
            lenient_visitor_common!(|s: &str| Amount::Bad(s.to_string()));
        }
        d.deserialize_any(V)
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 30 {
        format!("{}…", s.chars().take(30).collect::<String>())
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shapes: only the contract fields dondoc uses. Everything else, personal data included, is
// skipped by serde without being copied.

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDossier {
    #[serde(rename = "MaHoSo")]
    code: Text,
    #[serde(rename = "MaTTHC")]
    procedure_code: Text,
    #[serde(rename = "MaLinhVuc")]
    field_code: Text,
    #[serde(rename = "DonViXuLy")]
    unit_code: Text,
    #[serde(rename = "KenhThucHien")]
    channel: Code,
    #[serde(rename = "TrangThaiHoSo")]
    status: Code,
    #[serde(rename = "NgayTiepNhan")]
    received: Text,
    #[serde(rename = "NgayHenTra")]
    appointed: Text,
    #[serde(rename = "NgayKetThucXuLy")]
    processing_ended: Text,
    #[serde(rename = "NgayTra")]
    returned: Text,
    #[serde(rename = "DuocThanhToanTrucTuyen")]
    paid_online: Code,
    #[serde(rename = "DanhSachLePhi")]
    fees: Option<Vec<RawFee>>,
    #[serde(rename = "DanhSachGiayToKetQua")]
    papers: Option<Vec<RawPaper>>,
    #[serde(rename = "DanhSachHoSoBoSung")]
    supplements: Option<Vec<RawSupplement>>,
    #[serde(rename = "DanhSachPhieuXinLoi")]
    apologies: Option<Vec<RawApology>>,
    #[serde(rename = "DanhGiaHaiLong")]
    rating: Option<RawRating>,
    #[serde(rename = "NgayCapNhat")]
    updated: Text,
    #[serde(rename = "DaXoa")]
    deleted: Code,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFee {
    #[serde(rename = "Gia")]
    amount: Amount,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPaper {
    #[serde(rename = "DuongDanTepTinKetQua")]
    link: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSupplement {
    #[serde(rename = "NgayHenTraMoi")]
    new_due: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawApology {
    #[serde(rename = "NgayBanHanh")]
    issued: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRating {
    #[serde(rename = "MucDo")]
    level: Code,
    #[serde(rename = "NgayDanhGia")]
    rated: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProcedure {
    #[serde(rename = "MaTTHC")]
    code: Text,
    #[serde(rename = "TenTTHC")]
    name: Text,
    #[serde(rename = "MaLinhVuc")]
    field_code: Text,
    #[serde(rename = "TenLinhVuc")]
    field_name: Text,
    #[serde(rename = "MucDo")]
    level: Code,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDocument {
    #[serde(rename = "MaVanBan")]
    code: Text,
    #[serde(rename = "MaDonVi")]
    unit_code: Text,
    #[serde(rename = "LoaiVanBan")]
    direction: Text,
    #[serde(rename = "NgayDen")]
    arrived: Text,
    #[serde(rename = "NgayBanHanh")]
    issued: Text,
    #[serde(rename = "XuLyTrenMang")]
    processed_online: Code,
    #[serde(rename = "KySo")]
    signed: Code,
    #[serde(rename = "NgayCapNhat")]
    updated: Text,
    #[serde(rename = "DaXoa")]
    deleted: Code,
}

/// Only the key, for a record whose shape is too broken to read in full.
#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyOnly {
    #[serde(rename = "MaHoSo")]
    dossier: Text,
    #[serde(rename = "MaTTHC")]
    procedure: Text,
    #[serde(rename = "MaVanBan")]
    document: Text,
    #[serde(rename = "NgayCapNhat")]
    updated: Text,
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Collects the first problem of a record (a person fixes one thing at a time upstream, and the
/// reason stays short enough for a table cell).
struct Check {
    problem: Option<String>,
}

impl Check {
    fn new() -> Self {
        Self { problem: None }
    }

    fn fail(&mut self, reason: String) {
        if self.problem.is_none() {
            self.problem = Some(reason);
        }
    }

    fn required_text(&mut self, field: &str, v: Text) -> String {
        match v {
            Text::Str(s) => s,
            Text::Absent => {
                self.fail(format!("{field} is missing"));
                String::new()
            }
            Text::Bad(what) => {
                self.fail(format!("{field} is {what}, not a text"));
                String::new()
            }
        }
    }

    fn optional_text(&mut self, field: &str, v: Text) -> Option<String> {
        match v {
            Text::Str(s) => Some(s),
            Text::Absent => None,
            Text::Bad(what) => {
                self.fail(format!("{field} is {what}, not a text"));
                None
            }
        }
    }

    fn date(&mut self, field: &str, v: &Text) -> Option<Epoch> {
        match v {
            Text::Absent => None,
            Text::Bad(what) => {
                self.fail(format!("{field} is {what}, not a date yyyyMMddHHmmss"));
                None
            }
            Text::Str(s) => match parse_compact(s) {
                Ok(t) => t,
                Err(e) => {
                    self.fail(format!("{field}: {e}"));
                    None
                }
            },
        }
    }

    /// A code field (a key or a reference to another record: dossier, procedure, field, unit,
    /// document) must be single-line printable text: a control character (CR, LF, NUL, …), a
    /// line or paragraph separator or a bidirectional override in it rejects the record. Such a
    /// value would otherwise reach a letter's plain text (a forged "Bcc:" line), a log line or a
    /// spreadsheet as if it were dondoc's own text.
    fn single_line(&mut self, field: &str, value: &str) {
        if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| is_hostile(*c)) {
            self.fail(format!(
                "{field} contains {} at character {}: a code must be single-line printable text",
                char_name(c),
                at + 1
            ));
        }
    }

    fn required_code(&mut self, field: &str, v: Text) -> String {
        let code = self.required_text(field, v);
        self.single_line(field, &code);
        code
    }

    fn optional_code(&mut self, field: &str, v: Text) -> Option<String> {
        let code = self.optional_text(field, v);
        if let Some(c) = &code {
            self.single_line(field, c);
        }
        code
    }

    /// A code that must be one of `allowed`; absent is `None`.
    fn code(
        &mut self,
        field: &str,
        v: &Code,
        allowed: std::ops::RangeInclusive<i64>,
    ) -> Option<u8> {
        match v {
            Code::Absent => None,
            Code::Int(n) if allowed.contains(n) => Some(*n as u8),
            Code::Int(n) => {
                self.fail(format!(
                    "{field} = {n} is outside its table ({}..{})",
                    allowed.start(),
                    allowed.end()
                ));
                None
            }
            Code::Bad(s) => {
                self.fail(format!(
                    "{field} = '{s}' is not a code (a number or a string of digits)"
                ));
                None
            }
        }
    }

    fn finish<T>(
        self,
        kind: RecordKind,
        key: &str,
        updated_at: Option<Epoch>,
        value: T,
    ) -> Parsed<T> {
        match self.problem {
            None => Ok(value),
            Some(reason) => Err(Rejection {
                kind,
                key: printable_key(key),
                updated_at,
                reason,
            }),
        }
    }
}

/// Characters a code must never hold: control characters (C0, DEL, C1), line and paragraph
/// separators, and the bidirectional embeddings, overrides and isolates.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn char_name(c: char) -> String {
    match c {
        '\r' => "a carriage return (CR)".into(),
        '\n' => "a line feed (LF)".into(),
        '\0' => "a NUL character".into(),
        '\t' => "a tab".into(),
        c => format!("the control character U+{:04X}", u32::from(c)),
    }
}

/// A key as it may be stored and shown: each hostile character written as an escape (`\r`,
/// `\n`, `\u{0}`), so that a rejected record's key never breaks a line where it is printed.
pub fn printable_key(key: &str) -> String {
    if !key.chars().any(is_hostile) {
        return key.to_string();
    }
    key.chars()
        .map(|c| {
            if is_hostile(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn shape_rejection(kind: RecordKind, raw: &RawValue, err: serde_json::Error) -> Rejection {
    let key_only: KeyOnly = serde_json::from_str(raw.get()).unwrap_or_default();
    let key = match kind {
        RecordKind::Dossier => key_only.dossier,
        RecordKind::Procedure => key_only.procedure,
        RecordKind::Document => key_only.document,
    };
    let updated_at = match key_only.updated {
        Text::Str(s) => parse_compact(&s).ok().flatten(),
        _ => None,
    };
    // serde_json names the line and column of the problem; the value itself may be long, so
    // the message is clipped to stay readable.
    let msg = err.to_string();
    Rejection {
        kind,
        key: printable_key(&keyless(key, || stand_in_key(kind, raw.get().as_bytes()))),
        updated_at,
        reason: format!(
            "the record does not have the contract's shape: {}",
            clip_long(&msg)
        ),
    }
}

/// [`shape_rejection`] of a record in memory.
fn value_shape_rejection(
    kind: RecordKind,
    v: &Value,
    err: serde_json::Error,
    stand_in: impl FnOnce() -> String,
) -> Rejection {
    let key_only = KeyOnly::deserialize(v).unwrap_or_default();
    let key = match kind {
        RecordKind::Dossier => key_only.dossier,
        RecordKind::Procedure => key_only.procedure,
        RecordKind::Document => key_only.document,
    };
    let updated_at = match key_only.updated {
        Text::Str(s) => parse_compact(&s).ok().flatten(),
        _ => None,
    };
    Rejection {
        kind,
        key: printable_key(&keyless(key, stand_in)),
        updated_at,
        reason: format!(
            "the record does not have the contract's shape: {}",
            clip_long(&err.to_string())
        ),
    }
}

fn clip_long(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The key of a rejected record; a record without one gets a stable stand-in (see
/// [`stand_in_key`]).
fn keyless(key: Text, stand_in: impl FnOnce() -> String) -> String {
    match key {
        Text::Str(s) => s,
        _ => stand_in(),
    }
}

/// The stand-in key of a record that has none, made from a hash of its bytes (FNV-1a), so that
/// the same broken record is counted once however often it is seen.
pub fn stand_in_key(kind: RecordKind, bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("(no key: {} {h:016x})", kind.as_str())
}

fn is_tombstone(deleted: &Code) -> bool {
    matches!(deleted, Code::Int(1))
}

/// Parses one dossier record of `/ho-so`.
pub fn parse_dossier(raw: &RawValue) -> Parsed<Dossier> {
    let r: RawDossier = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(e) => return Err(shape_rejection(RecordKind::Dossier, raw, e)),
    };
    dossier_of(r, || {
        stand_in_key(RecordKind::Dossier, raw.get().as_bytes())
    })
}

/// Parses a contract-shaped dossier already in memory (what a mapping makes of a vendor's
/// record); `stand_in` names a record without a key.
pub fn parse_dossier_value(v: &Value, stand_in: impl FnOnce() -> String) -> Parsed<Dossier> {
    match RawDossier::deserialize(v) {
        Ok(r) => dossier_of(r, stand_in),
        Err(e) => Err(value_shape_rejection(RecordKind::Dossier, v, e, stand_in)),
    }
}

fn dossier_of(r: RawDossier, stand_in: impl FnOnce() -> String) -> Parsed<Dossier> {
    let mut c = Check::new();
    let key_text = r.code.clone();
    let code = c.required_code("MaHoSo", r.code);
    let key = if code.is_empty() {
        keyless(key_text, stand_in)
    } else {
        code.clone()
    };
    let updated_at = c.date("NgayCapNhat", &r.updated);
    if updated_at.is_none() && c.problem.is_none() {
        c.fail("NgayCapNhat is missing".into());
    }
    match &r.deleted {
        Code::Absent | Code::Int(0) | Code::Int(1) => {}
        other => {
            c.code("DaXoa", other, 0..=1);
        }
    }
    if is_tombstone(&r.deleted) {
        let updated = updated_at.unwrap_or_default();
        return c.finish(
            RecordKind::Dossier,
            &key,
            updated_at,
            Dossier::tombstone(code, updated),
        );
    }

    let procedure_code = c.required_code("MaTTHC", r.procedure_code);
    let field_code = c.optional_code("MaLinhVuc", r.field_code);
    let unit_code = c.required_code("DonViXuLy", r.unit_code);
    let channel = c.code("KenhThucHien", &r.channel, 1..=3);
    let status = match c.code("TrangThaiHoSo", &r.status, 1..=10) {
        Some(s) => s,
        None => {
            if r.status == Code::Absent {
                c.fail("TrangThaiHoSo is missing".into());
            }
            0
        }
    };
    let received_at = c.date("NgayTiepNhan", &r.received);
    let appointed_at = c.date("NgayHenTra", &r.appointed);
    let processing_ended = c.date("NgayKetThucXuLy", &r.processing_ended);
    let returned_at = c.date("NgayTra", &r.returned);
    let paid_online = c
        .code("DuocThanhToanTrucTuyen", &r.paid_online, 0..=3)
        .unwrap_or(0);

    let mut fee_total = 0.0;
    for (i, fee) in r.fees.unwrap_or_default().into_iter().enumerate() {
        match fee.amount {
            Amount::Absent => {}
            Amount::Num(n) if n >= 0.0 => fee_total += n,
            Amount::Num(n) => c.fail(format!("DanhSachLePhi[{i}].Gia = {n} is negative")),
            Amount::Bad(s) => c.fail(format!("DanhSachLePhi[{i}].Gia = '{s}' is not an amount")),
        }
    }
    let digitized = r
        .papers
        .unwrap_or_default()
        .iter()
        .any(|p| matches!(&p.link, Text::Str(s) if !s.is_empty()));

    let mut due_at = appointed_at;
    for (i, s) in r.supplements.unwrap_or_default().iter().enumerate() {
        if let Some(t) = c.date(
            &format!("DanhSachHoSoBoSung[{i}].NgayHenTraMoi"),
            &s.new_due,
        ) {
            due_at = Some(due_at.map_or(t, |d| d.max(t)));
        }
    }
    let mut first_apology_at: Option<Epoch> = None;
    for (i, a) in r.apologies.unwrap_or_default().iter().enumerate() {
        let field = format!("DanhSachPhieuXinLoi[{i}].NgayBanHanh");
        match c.date(&field, &a.issued) {
            Some(t) => first_apology_at = Some(first_apology_at.map_or(t, |f| f.min(t))),
            None if a.issued == Text::Absent => c.fail(format!(
                "{field} is missing: an apology slip must say when it was issued"
            )),
            None => {}
        }
    }
    let (rating, rated_at) = match r.rating {
        None => (None, None),
        Some(rr) => {
            let level = c.code("DanhGiaHaiLong.MucDo", &rr.level, 1..=3);
            let at = c.date("DanhGiaHaiLong.NgayDanhGia", &rr.rated);
            match (level, at) {
                (None, None) => (None, None),
                (Some(_), None) => {
                    c.fail("DanhGiaHaiLong.NgayDanhGia is missing: a rating must say when it was given".into());
                    (None, None)
                }
                (None, Some(_)) => {
                    if rr.level == Code::Absent {
                        c.fail("DanhGiaHaiLong.MucDo is missing".into());
                    }
                    (None, None)
                }
                (Some(l), Some(t)) => (Some(l), Some(t)),
            }
        }
    };

    let ended_at = processing_ended.or(returned_at);
    if matches!(status, 8..=10) && ended_at.is_none() {
        c.fail(format!(
            "TrangThaiHoSo = {status} is a finished status but neither NgayKetThucXuLy nor NgayTra is given"
        ));
    }

    let dossier = Dossier {
        code,
        procedure_code,
        field_code,
        unit_code,
        channel,
        status,
        received_at,
        appointed_at,
        due_at,
        ended_at,
        returned_at,
        paid_online,
        fee_total,
        digitized,
        first_apology_at,
        rating,
        rated_at,
        updated_at: updated_at.unwrap_or_default(),
        deleted: false,
    };
    c.finish(RecordKind::Dossier, &key, updated_at, dossier)
}

/// Parses one procedure of `/thu-tuc`.
pub fn parse_procedure(raw: &RawValue) -> Parsed<Procedure> {
    let r: RawProcedure = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(e) => return Err(shape_rejection(RecordKind::Procedure, raw, e)),
    };
    procedure_of(r, || {
        stand_in_key(RecordKind::Procedure, raw.get().as_bytes())
    })
}

/// [`parse_procedure`] of a contract-shaped record in memory.
pub fn parse_procedure_value(v: &Value, stand_in: impl FnOnce() -> String) -> Parsed<Procedure> {
    match RawProcedure::deserialize(v) {
        Ok(r) => procedure_of(r, stand_in),
        Err(e) => Err(value_shape_rejection(RecordKind::Procedure, v, e, stand_in)),
    }
}

fn procedure_of(r: RawProcedure, stand_in: impl FnOnce() -> String) -> Parsed<Procedure> {
    let mut c = Check::new();
    let key_text = r.code.clone();
    let code = c.required_code("MaTTHC", r.code);
    let key = if code.is_empty() {
        keyless(key_text, stand_in)
    } else {
        code.clone()
    };
    let p = Procedure {
        code,
        name: c.optional_text("TenTTHC", r.name),
        field_code: c.optional_code("MaLinhVuc", r.field_code),
        field_name: c.optional_text("TenLinhVuc", r.field_name),
        level: c.code("MucDo", &r.level, 1..=4),
    };
    c.finish(RecordKind::Procedure, &key, None, p)
}

/// Parses one document of `/van-ban`.
pub fn parse_document(raw: &RawValue) -> Parsed<Document> {
    let r: RawDocument = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(e) => return Err(shape_rejection(RecordKind::Document, raw, e)),
    };
    document_of(r, || {
        stand_in_key(RecordKind::Document, raw.get().as_bytes())
    })
}

/// [`parse_document`] of a contract-shaped record in memory.
pub fn parse_document_value(v: &Value, stand_in: impl FnOnce() -> String) -> Parsed<Document> {
    match RawDocument::deserialize(v) {
        Ok(r) => document_of(r, stand_in),
        Err(e) => Err(value_shape_rejection(RecordKind::Document, v, e, stand_in)),
    }
}

fn document_of(r: RawDocument, stand_in: impl FnOnce() -> String) -> Parsed<Document> {
    let mut c = Check::new();
    let key_text = r.code.clone();
    let code = c.required_code("MaVanBan", r.code);
    let key = if code.is_empty() {
        keyless(key_text, stand_in)
    } else {
        code.clone()
    };
    let updated_at = c.date("NgayCapNhat", &r.updated);
    if updated_at.is_none() && c.problem.is_none() {
        c.fail("NgayCapNhat is missing".into());
    }
    let deleted = c.code("DaXoa", &r.deleted, 0..=1) == Some(1);
    if deleted {
        let doc = Document {
            code,
            unit_code: String::new(),
            direction: None,
            arrived_at: None,
            issued_at: None,
            processed_online: false,
            signed: false,
            updated_at: updated_at.unwrap_or_default(),
            deleted: true,
        };
        return c.finish(RecordKind::Document, &key, updated_at, doc);
    }
    let unit_code = c.required_code("MaDonVi", r.unit_code);
    let direction = match c.required_text("LoaiVanBan", r.direction).as_str() {
        "DEN" => Some(Direction::Incoming),
        "DI" => Some(Direction::Outgoing),
        "" => None,
        other => {
            c.fail(format!(
                "LoaiVanBan = '{}' is neither DEN nor DI",
                clip(other)
            ));
            None
        }
    };
    let arrived_at = c.date("NgayDen", &r.arrived);
    let issued_at = c.date("NgayBanHanh", &r.issued);
    let processed_online = c.code("XuLyTrenMang", &r.processed_online, 0..=1) == Some(1);
    let signed = c.code("KySo", &r.signed, 0..=1) == Some(1);
    let doc = Document {
        code,
        unit_code,
        direction,
        arrived_at,
        issued_at,
        processed_online,
        signed,
        updated_at: updated_at.unwrap_or_default(),
        deleted: false,
    };
    c.finish(RecordKind::Document, &key, updated_at, doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    fn full() -> serde_json::Value {
        serde_json::json!({
            "MaHoSo": "H50.01-240501-0001",
            "MaTTHC": "1.001",
            "MaLinhVuc": "G09-DD",
            "DonViXuLy": "000.01.23.H50",
            "KenhThucHien": "2",
            "TrangThaiHoSo": 10,
            "NgayTiepNhan": "20240501080000",
            "NgayHenTra": "20240510170000",
            "NgayKetThucXuLy": "",
            "NgayTra": "20240509100000",
            "DuocThanhToanTrucTuyen": 1,
            "DanhSachLePhi": [{"MaPhiLePhi": "P1", "TenPhiLePhi": "Lệ phí", "Gia": "15000"}, {"Gia": 5000}],
            "DanhSachGiayToKetQua": [{"MaGiayToKetQua": "K1", "TenGiayTo": "Giấy", "DuongDanTepTinKetQua": ""},
                                     {"DuongDanTepTinKetQua": "https://x/y.pdf"}],
            "DanhSachHoSoBoSung": [{"NgayBoSung": "20240503000000", "NgayHenTraTruoc": "20240510170000", "NgayHenTraMoi": "20240515170000"}],
            "DanhSachPhieuXinLoi": [{"SoPhieu": "1", "NgayBanHanh": "20240520000000", "NgayHenTraMoi": "20240601000000"}],
            "DanhGiaHaiLong": {"MucDo": "1", "NgayDanhGia": "20240509110000"},
            "NgayCapNhat": "20240509110000",
            "ChuHoSo": "Nguyễn Văn A",
            "SoDienThoai": "0912345678",
            "DaXoa": 0
        })
    }

    #[test]
    fn parses_a_full_dossier_and_derives_its_fields() {
        let d = parse_dossier(&raw(&full().to_string())).unwrap();
        assert_eq!(d.code, "H50.01-240501-0001");
        assert_eq!(d.channel, Some(2));
        assert_eq!(d.status, 10);
        assert_eq!(d.fee_total, 20000.0);
        assert!(d.digitized);
        // the supplement moves the due date; the apology's NgayHenTraMoi does not
        assert_eq!(d.due_at, parse_compact("20240515170000").unwrap());
        assert_eq!(d.appointed_at, parse_compact("20240510170000").unwrap());
        // NgayKetThucXuLy is empty, so the end is NgayTra
        assert_eq!(d.ended_at, parse_compact("20240509100000").unwrap());
        assert_eq!(d.first_apology_at, parse_compact("20240520000000").unwrap());
        assert_eq!(d.rating, Some(1));
        assert!(!d.deleted);
    }

    #[test]
    fn rejects_with_a_reason_and_keeps_the_key() {
        let mut v = full();
        v["TrangThaiHoSo"] = serde_json::json!(42);
        let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
        assert_eq!(r.key, "H50.01-240501-0001");
        assert!(r.reason.contains("TrangThaiHoSo = 42"), "{}", r.reason);

        let mut v = full();
        v["NgayTiepNhan"] = serde_json::json!("2024-05-01");
        let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
        assert!(r.reason.starts_with("NgayTiepNhan"), "{}", r.reason);

        let mut v = full();
        v["NgayTra"] = serde_json::json!(null);
        let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
        assert!(r.reason.contains("finished status"), "{}", r.reason);

        let mut v = full();
        v["DanhSachLePhi"] = serde_json::json!("không");
        let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
        assert_eq!(r.key, "H50.01-240501-0001");
        assert!(r.reason.contains("shape"), "{}", r.reason);
    }

    #[test]
    fn a_code_with_a_control_character_rejects_the_record_and_names_it() {
        let mut v = full();
        v["MaHoSo"] = "X\r\nBcc: evil@example.com\r\nSubject: forged-028".into();
        let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
        assert!(
            r.reason
                .starts_with("MaHoSo contains a carriage return (CR) at character 2"),
            "{}",
            r.reason
        );
        assert_eq!(
            r.key,
            "X\\r\\nBcc: evil@example.com\\r\\nSubject: forged-028"
        );
        assert!(!r.key.contains(['\r', '\n']));
        for (field, value, what) in [
            ("DonViXuLy", "000.01\u{0}.H50", "a NUL character"),
            ("MaTTHC", "1.0\n01", "a line feed (LF)"),
            ("MaLinhVuc", "G09\u{85}DD", "U+0085"),
            ("DonViXuLy", "000\u{202E}01", "U+202E"),
        ] {
            let mut v = full();
            v[field] = value.into();
            let r = parse_dossier(&raw(&v.to_string())).unwrap_err();
            assert!(
                r.reason.starts_with(&format!("{field} contains")) && r.reason.contains(what),
                "{}",
                r.reason
            );
        }
        // Vietnamese text and ordinary punctuation stay valid.
        let mut v = full();
        v["MaHoSo"] = "000.01.23.H50-240601-0001/Đợt-1".into();
        assert!(parse_dossier(&raw(&v.to_string())).is_ok());
        let d = r#"{"MaVanBan":"VB\u0000","MaDonVi":"P1","LoaiVanBan":"DEN","NgayCapNhat":"20240601000000"}"#;
        let r = parse_document(&raw(d)).unwrap_err();
        assert!(
            r.reason.contains("MaVanBan contains a NUL character"),
            "{}",
            r.reason
        );
        assert_eq!(r.key, "VB\\u{0}");
        let p = r#"{"MaTTHC":"1.00\r1","TenTTHC":"Cấp phép"}"#;
        assert!(
            parse_procedure(&raw(p))
                .unwrap_err()
                .reason
                .contains("MaTTHC contains")
        );
    }

    #[test]
    fn a_tombstone_needs_only_its_key_and_update_time() {
        let d = parse_dossier(&raw(
            r#"{"MaHoSo":"X","NgayCapNhat":"20240101000000","DaXoa":"1"}"#,
        ))
        .unwrap();
        assert!(d.deleted);
    }

    #[test]
    fn a_record_without_key_gets_a_stable_stand_in() {
        let a = parse_dossier(&raw(r#"{"NgayCapNhat":"20240101000000"}"#)).unwrap_err();
        let b = parse_dossier(&raw(r#"{"NgayCapNhat":"20240101000000"}"#)).unwrap_err();
        assert_eq!(a.key, b.key);
        assert!(a.key.starts_with("(no key"));
        assert_eq!(a.reason, "MaHoSo is missing");
    }

    #[test]
    fn documents_parse_and_validate() {
        let d = parse_document(&raw(
            r#"{"MaVanBan":"VB1","MaDonVi":"P1","LoaiVanBan":"DEN","NgayDen":"20240502080000","XuLyTrenMang":"1","NgayCapNhat":"20240502080000"}"#,
        ))
        .unwrap();
        assert_eq!(d.direction, Some(Direction::Incoming));
        assert!(d.processed_online);
        let r = parse_document(&raw(
            r#"{"MaVanBan":"VB2","MaDonVi":"P1","LoaiVanBan":"XX","NgayCapNhat":"20240502080000"}"#,
        ))
        .unwrap_err();
        assert!(r.reason.contains("neither DEN nor DI"));
    }
}
