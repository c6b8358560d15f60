//! The mapping layer: how a source whose API (or spreadsheet) differs from the contract becomes
//! contract records, declared in the configuration rather than in code (docs/mapping.md).
//!
//! - [`settings`]: the configuration keys (`auth`, `paging`, and per list `dossiers`,
//!   `procedures`, `documents` with their `fields`);
//! - [`fields`]: the contract fields a mapping may fill, and their kinds;
//! - [`dates`]: date formats, both directions;
//! - [`paging`]: the requests of the cursor, offset and page styles, and reading an answer;
//! - [`validate`]: every problem of a source's mapping, with its key path;
//! - [`check`]: `dondoc check-source`, a page read through the mapping and explained;
//! - this module: a [`ListPlan`], the compiled mapping of one list, which turns one vendor record
//!   into a contract-shaped record and hands it to [`crate::upstream::records`], so that a mapped
//!   record goes through exactly the validation of a contract record.
//!
//! Choices:
//! - The contract is the default mapping. A list without a table, or with a table that changes
//!   no field and no date format, is an *identity* plan: sync parses its records straight from
//!   the answer's bytes with `records::parse_dossier(&RawValue)`, as fast as before. Only a real
//!   mapping pays for a `serde_json::Value` per record and its transformation.
//! - A contract field left out of `fields` is read from the vendor field (or column) of the same
//!   name, so a vendor close to the contract maps only its differences; a field that the vendor
//!   lacks is simply absent.
//! - Only the contract fields of [`fields`] are ever copied: the rest of a vendor record,
//!   personal data included, is never read into the contract record, stored or logged.
//! - A rejection names the vendor's field beside the contract's:
//!   `/trangThai (→ TrangThaiHoSo) = 'Đang chờ' is not in the value map`. Conversion problems
//!   (a date in the wrong format, a value missing from a map) are found here; the contract's own
//!   rules (a required field, a finished status without an end) are found by `records` and
//!   their reason is rewritten with the vendor's names.
//! - A value map is looked up by the vendor value's text (`2`, `true`, `Đã trả kết quả`), first
//!   exactly, then ignoring case, surrounding spaces and Unicode composition. A value missing
//!   from the map rejects the record (a new status upstream must not be guessed).
//! - A JSON `true`/`false` in a 0/1 flag (`DaXoa`, `XuLyTrenMang`, `KySo`) is 1/0 without a map.
//! - A text amount written with thousands separators (`1.500.000`, `1,500,000`) is read as the
//!   whole number (fees are in VND, which has no decimals).

pub mod check;
pub mod dates;
pub mod fields;
pub mod list;
pub mod paging;
pub mod settings;
pub mod validate;

pub use validate::validate_source;

use crate::config::{SourceKind, SourceSettings};
use crate::time::{Epoch, format_compact};
use crate::upstream::records::{self, Document, Dossier, Parsed, Procedure, RecordKind, Rejection};
use dates::DateFormat;
use fields::{FieldDef, FieldKind};
use serde_json::{Map, Value};
use settings::{FieldSpec, FieldTable, ListMapping, MapValue};
use std::collections::{BTreeMap, HashMap};
use unicode_normalization::UnicodeNormalization;

/// How a plan's references address a vendor record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// JSON pointers (`/trangThai`, `/thongTin/ngayNhan`): an HTTP source.
    Pointer,
    /// Column headers (`Ngày tiếp nhận`): a spreadsheet import.
    Column,
}

/// A problem of a mapping: the key path below the list's table, and what is wrong.
pub type PlanProblem = (String, String);

/// The compiled mapping of one list of one source.
#[derive(Debug, Clone)]
pub struct ListPlan {
    pub kind: RecordKind,
    /// The list's path under `base_url`.
    pub path: String,
    /// JSON pointer of the records' array in an answer.
    pub records: String,
    /// Whether the list is paged.
    pub paged: bool,
    /// The contract's own shape: records are parsed from bytes, without transformation.
    pub identity: bool,
    pub addressing: Addressing,
    fields: Vec<FieldPlan>,
}

/// The compiled mapping of one contract field.
#[derive(Debug, Clone)]
struct FieldPlan {
    def: FieldDef,
    /// The reference as configured (pointer or header); `None` for a constant, or for a list or
    /// object read from the record itself.
    source: Option<String>,
    /// The JSON pointer of `source` in a record.
    pointer: Option<String>,
    /// Named in the configuration (a default reference that finds nothing is not an error).
    explicit: bool,
    formats: Vec<DateFormat>,
    /// A spreadsheet column (imports): its date cells are dates whatever the format.
    column: bool,
    map: Option<ValueMap>,
    default: Option<Value>,
    constant: Option<Value>,
    children: Vec<FieldPlan>,
}

#[derive(Debug, Clone)]
struct ValueMap {
    exact: HashMap<String, Value>,
    folded: HashMap<String, Value>,
    keys: Vec<String>,
}

impl ValueMap {
    fn new(m: &BTreeMap<String, MapValue>) -> Self {
        let mut exact = HashMap::new();
        let mut folded = HashMap::new();
        for (k, v) in m {
            exact.insert(k.clone(), v.to_json());
            folded.insert(fold(k), v.to_json());
        }
        Self {
            exact,
            folded,
            keys: m.keys().cloned().collect(),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.exact.get(key).or_else(|| self.folded.get(&fold(key)))
    }
}

/// Case, surrounding spaces, inner runs of spaces and Unicode composition do not matter.
pub(crate) fn fold(s: &str) -> String {
    let composed: String = s.nfc().collect();
    composed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A JSON pointer to the key `name` of an object.
pub(crate) fn pointer_to(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Whether `p` is a JSON pointer (RFC 6901): empty, or `/` then tokens with `~0`/`~1` escapes.
pub(crate) fn pointer_problem(p: &str) -> Option<String> {
    if p.is_empty() {
        return None;
    }
    if !p.starts_with('/') {
        return Some(format!(
            "'{p}' is not a JSON pointer: it starts with / (e.g. /data/items or /trangThai)"
        ));
    }
    let bytes = p.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
            return Some(format!(
                "'{p}' is not a JSON pointer: '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')"
            ));
        }
    }
    None
}

/// The vendor value's text, as value maps and messages see it.
pub(crate) fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => format!("[{} item(s)]", a.len()),
        Value::Object(_) => "{…}".into(),
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `1.500.000` or `1,500,000` → `1500000`; anything else unchanged.
fn thousands(s: &str) -> Option<String> {
    let t = s.trim();
    for sep in ['.', ','] {
        let groups: Vec<&str> = t.split(sep).collect();
        if groups.len() >= 2
            && (1..=3).contains(&groups[0].len())
            && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
            && groups[1..].iter().all(|g| g.len() == 3)
            && !(groups.len() == 2 && sep == '.' && groups[1].len() != 3)
        {
            return Some(groups.concat());
        }
    }
    None
}

impl ListPlan {
    /// The plan of list `kind` of a source (its table, or the contract's shape when absent).
    pub fn of_source(kind: RecordKind, src: &SourceSettings) -> Result<ListPlan, Vec<PlanProblem>> {
        let table = match kind {
            RecordKind::Dossier => src.dossiers.as_ref(),
            RecordKind::Procedure => src.procedures.as_ref(),
            RecordKind::Document => src.documents.as_ref(),
        };
        let addressing = if src.kind == SourceKind::Import {
            Addressing::Column
        } else {
            Addressing::Pointer
        };
        ListPlan::compile(kind, table, addressing)
    }

    /// Compiles a list's table; every problem is returned, each with its key path below the
    /// table (`fields.TrangThaiHoSo.map`).
    pub fn compile(
        kind: RecordKind,
        table: Option<&ListMapping>,
        addressing: Addressing,
    ) -> Result<ListPlan, Vec<PlanProblem>> {
        let empty = ListMapping::default();
        let m = table.unwrap_or(&empty);
        let mut problems = Vec::new();
        let default_formats = match &m.date_format {
            None => vec![DateFormat::Compact],
            Some(f) => formats(&f.0, "date_format", &mut problems),
        };
        for name in m.fields.keys() {
            check_name(name, fields::of(kind), "fields", &mut problems);
        }
        let ctx = Ctx {
            addressing,
            default_formats: &default_formats,
        };
        let fields: Vec<FieldPlan> = fields::of(kind)
            .iter()
            .map(|def| {
                ctx.field(
                    *def,
                    m.fields.get(def.name),
                    &format!("fields.{}", def.name),
                    &mut problems,
                )
            })
            .collect();
        if let Some(r) = &m.records
            && let Some(msg) = pointer_problem(r)
        {
            problems.push(("records".into(), msg));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let identity = addressing == Addressing::Pointer
            && m.fields.is_empty()
            && default_formats == [DateFormat::Compact];
        Ok(ListPlan {
            kind,
            path: m
                .path
                .clone()
                .unwrap_or_else(|| fields::contract_path(kind).to_string()),
            records: m.records.clone().unwrap_or_else(|| "/data".into()),
            paged: m.paged.unwrap_or(kind != RecordKind::Procedure),
            identity,
            addressing,
            fields,
        })
    }

    /// The column headers a spreadsheet must or may have: `(header, explicit)`.
    pub fn columns(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        fn walk(fs: &[FieldPlan], out: &mut Vec<(String, bool)>) {
            for f in fs {
                if let Some(s) = &f.source
                    && f.children.is_empty()
                {
                    out.push((s.clone(), f.explicit));
                }
                walk(&f.children, out);
            }
        }
        walk(&self.fields, &mut out);
        out
    }

    /// The configured reference of the list's key field (`MaHoSo`'s column, for instance).
    pub fn key_source(&self) -> Option<&str> {
        let key = fields::key_field(self.kind);
        self.fields
            .iter()
            .find(|f| f.def.name == key)
            .and_then(|f| f.source.as_deref())
    }

    /// The configured reference of a top-level contract field.
    pub fn source_of(&self, name: &str) -> Option<&str> {
        self.field_plan(name).and_then(|f| f.source.as_deref())
    }

    fn field_plan(&self, name: &str) -> Option<&FieldPlan> {
        self.fields.iter().find(|f| f.def.name == name)
    }

    /// Turns a vendor record into a contract-shaped record; the error is a rejection reason
    /// naming the vendor's field.
    pub fn transform(&self, rec: &Value) -> Result<Value, String> {
        let mut out = Map::new();
        for f in &self.fields {
            if let Some(v) = f.produce(rec, "")? {
                out.insert(f.def.name.to_string(), v);
            }
        }
        Ok(Value::Object(out))
    }

    /// The key of a vendor record, when it has one.
    pub fn key_of(&self, rec: &Value) -> Option<String> {
        let f = self.field_plan(fields::key_field(self.kind))?;
        f.produce(rec, "")
            .ok()
            .flatten()
            .map(|v| render(&v))
            .filter(|s| !s.is_empty())
    }

    /// The update time of a vendor record, when it can be read.
    pub fn updated_of(&self, rec: &Value) -> Option<Epoch> {
        let f = self.field_plan("NgayCapNhat")?;
        match f.produce(rec, "").ok().flatten()? {
            Value::String(s) => crate::time::parse_compact(&s).ok().flatten(),
            _ => None,
        }
    }

    fn rejection(&self, rec: &Value, reason: String) -> Rejection {
        Rejection {
            kind: self.kind,
            key: self.key_of(rec).unwrap_or_else(|| self.stand_in(rec)),
            updated_at: self.updated_of(rec),
            reason,
        }
    }

    fn stand_in(&self, rec: &Value) -> String {
        records::stand_in_key(self.kind, &serde_json::to_vec(rec).unwrap_or_default())
    }

    fn vendorized(&self, mut r: Rejection) -> Rejection {
        r.reason = self.vendorize(&r.reason);
        r
    }

    /// Parses one vendor dossier through the mapping and the contract's validation.
    pub fn parse_dossier(&self, rec: &Value) -> Parsed<Dossier> {
        match self.transform(rec) {
            Ok(c) => records::parse_dossier_value(&c, || self.stand_in(rec))
                .map_err(|r| self.vendorized(r)),
            Err(reason) => Err(self.rejection(rec, reason)),
        }
    }

    /// Parses one vendor procedure.
    pub fn parse_procedure(&self, rec: &Value) -> Parsed<Procedure> {
        match self.transform(rec) {
            Ok(c) => records::parse_procedure_value(&c, || self.stand_in(rec))
                .map_err(|r| self.vendorized(r)),
            Err(reason) => Err(self.rejection(rec, reason)),
        }
    }

    /// Parses one vendor document.
    pub fn parse_document(&self, rec: &Value) -> Parsed<Document> {
        match self.transform(rec) {
            Ok(c) => records::parse_document_value(&c, || self.stand_in(rec))
                .map_err(|r| self.vendorized(r)),
            Err(reason) => Err(self.rejection(rec, reason)),
        }
    }

    /// How a contract path (`TrangThaiHoSo`, `DanhSachLePhi[1].Gia`, `DanhGiaHaiLong.MucDo`) is
    /// named for an administrator: the vendor's reference, then the contract's name.
    pub fn label(&self, path: &str) -> Option<String> {
        let (top, rest) = match path.find(['[', '.']) {
            Some(i) => (&path[..i], &path[i..]),
            None => (path, ""),
        };
        let f = self.field_plan(top)?;
        if rest.is_empty() {
            return Some(format!(
                "{} (→ {path})",
                f.vendor_label(self.addressing, "")
            ));
        }
        let (index, child) = if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            let idx: usize = r[..close].parse().ok()?;
            (Some(idx), r[close + 1..].strip_prefix('.')?)
        } else {
            (None, &rest[1..])
        };
        let c = f.children.iter().find(|c| c.def.name == child)?;
        let prefix = match (&f.source, index) {
            (Some(s), Some(i)) => format!("{s}/{i}"),
            (Some(s), None) => s.clone(),
            (None, _) => String::new(),
        };
        Some(format!(
            "{} (→ {path})",
            c.vendor_label(self.addressing, &prefix)
        ))
    }

    /// Rewrites a contract reason so that each contract field it names carries the vendor's
    /// reference: `TrangThaiHoSo = 42 …` → `/trangThai (→ TrangThaiHoSo) = 42 …`.
    pub fn vendorize(&self, reason: &str) -> String {
        let mut out = String::with_capacity(reason.len() + 32);
        let chars: Vec<char> = reason.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let starts_word = c.is_ascii_uppercase()
                && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
            if !starts_word {
                out.push(c);
                i += 1;
                continue;
            }
            // An identifier, possibly followed by [n] and .Child
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_alphanumeric() {
                j += 1;
            }
            let mut end = j;
            if end < chars.len() && chars[end] == '[' {
                let mut k = end + 1;
                while k < chars.len() && chars[k].is_ascii_digit() {
                    k += 1;
                }
                if k < chars.len() && chars[k] == ']' {
                    end = k + 1;
                }
            }
            if end < chars.len()
                && chars[end] == '.'
                && chars.get(end + 1).is_some_and(|c| c.is_ascii_uppercase())
            {
                let mut k = end + 1;
                while k < chars.len() && chars[k].is_ascii_alphanumeric() {
                    k += 1;
                }
                end = k;
            }
            let token: String = chars[i..end].iter().collect();
            let word: String = chars[i..j].iter().collect();
            match self
                .label(&token)
                .or_else(|| (end == j).then(|| self.label(&word)).flatten())
            {
                Some(l) => out.push_str(&l),
                None => out.push_str(&token),
            }
            i = end;
        }
        out
    }

    /// For `check-source`: each contract field of a record beside the vendor value it came
    /// from and what it became.
    pub fn explain(&self, rec: &Value) -> Vec<Explained> {
        let mut out = Vec::new();
        for f in &self.fields {
            f.explain(rec, self.addressing, "", f.def.name, &mut out);
        }
        out
    }
}

/// One line of [`ListPlan::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// `TrangThaiHoSo`, `DanhSachLePhi[0].Gia`.
    pub contract: String,
    /// The vendor reference (`/trangThai`, `'Ngày nhận'`, `(constant)`).
    pub vendor: String,
    /// The vendor's value as text; `None` when absent.
    pub vendor_value: Option<String>,
    /// What the contract record holds, or why the value was refused.
    pub contract_value: Result<Option<String>, String>,
}

struct Ctx<'a> {
    addressing: Addressing,
    default_formats: &'a [DateFormat],
}

fn formats(list: &[String], path: &str, problems: &mut Vec<PlanProblem>) -> Vec<DateFormat> {
    if list.is_empty() {
        problems.push((path.into(), "names no date format".into()));
    }
    list.iter()
        .filter_map(|f| match DateFormat::parse(f) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push((path.into(), e));
                None
            }
        })
        .collect()
}

fn check_name(name: &str, defs: &[FieldDef], path: &str, problems: &mut Vec<PlanProblem>) {
    // A contract field dondoc does not read is ignored with a warning ([`unused_fields`]): an
    // administrator mapping everything the vendor offers is not wrong.
    if defs.iter().any(|d| d.name == name) || fields::UNUSED.contains(&name) {
        return;
    }
    let msg = if fields::PERSONAL.contains(&name) {
        format!(
            "{name} is personal data: dondoc never reads it (Decree 13/2023/NĐ-CP); leave it out"
        )
    } else {
        let known: Vec<&str> = defs.iter().map(|d| d.name).collect();
        format!(
            "'{name}' is not a contract field of this list; the fields are {}",
            known.join(", ")
        )
    };
    problems.push((format!("{path}.{name}"), msg));
}

/// Contract fields that a list's mapping names but dondoc does not read (`NgayBoSung`,
/// `SoPhieu`, …), at any depth: `(key path below the table, message)`. They are ignored; the
/// configuration check reports them as warnings.
pub fn unused_fields(m: &ListMapping) -> Vec<PlanProblem> {
    fn walk(map: &BTreeMap<String, FieldSpec>, path: &str, out: &mut Vec<PlanProblem>) {
        for (name, spec) in map {
            let here = format!("{path}.{name}");
            if fields::UNUSED.contains(&name.as_str()) {
                out.push((
                    here.clone(),
                    format!(
                        "{name} is part of the contract but dondoc does not use it: its mapping is ignored"
                    ),
                ));
            }
            if let Some(sub) = spec.table().fields {
                walk(&sub, &format!("{here}.fields"), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&m.fields, "fields", &mut out);
    out
}

fn code_value_problem(kind: FieldKind, v: &MapValue) -> Option<String> {
    match (kind, v) {
        (FieldKind::Code { min, max }, MapValue::Int(n)) if !(min..=max).contains(n) => Some(
            format!("{n} is outside the contract's table ({min}..{max})"),
        ),
        (FieldKind::Code { .. } | FieldKind::Flag, MapValue::Text(s)) => Some(format!(
            "'{s}' is not a contract code: give the contract's number (e.g. 10, not \"10\" or a name)"
        )),
        (FieldKind::Code { .. }, MapValue::Bool(_)) => {
            Some("a code is a number, not true or false".into())
        }
        (FieldKind::Flag, MapValue::Int(n)) if !(0..=1).contains(n) => {
            Some(format!("{n} is not a flag (0 or 1)"))
        }
        (FieldKind::Direction, MapValue::Text(s)) if s != "DEN" && s != "DI" => {
            Some(format!("'{s}' is neither DEN nor DI"))
        }
        (FieldKind::Direction, MapValue::Int(_) | MapValue::Bool(_)) => {
            Some("LoaiVanBan is \"DEN\" or \"DI\"".into())
        }
        _ => None,
    }
}

impl Ctx<'_> {
    fn field(
        &self,
        def: FieldDef,
        spec: Option<&FieldSpec>,
        path: &str,
        problems: &mut Vec<PlanProblem>,
    ) -> FieldPlan {
        let explicit = spec.is_some();
        let t: FieldTable = spec.map(FieldSpec::table).unwrap_or_default();
        let is_group = matches!(def.kind, FieldKind::List(_) | FieldKind::Object(_));
        // Where the value comes from.
        let source: Option<String> = match (&t.from, explicit, is_group) {
            (Some(s), _, _) => Some(s.trim().to_string())
                .filter(|s| !s.is_empty() || self.addressing == Addressing::Pointer),
            // A group named in the configuration without `from`: the record itself.
            (None, true, true) => None,
            (None, true, false) if t.value.is_some() => None,
            (None, true, false) => {
                problems.push((
                    path.into(),
                    "names no source: give `from` (a JSON pointer or a column header) or a constant `value`"
                        .into(),
                ));
                None
            }
            // Not named: the vendor field of the contract's own name.
            (None, false, _) => Some(match self.addressing {
                Addressing::Pointer => pointer_to(def.name),
                Addressing::Column => def.name.to_string(),
            }),
        };
        if is_group && self.addressing == Addressing::Column && t.from.is_some() {
            problems.push((
                format!("{path}.from"),
                "a spreadsheet row has no nested list: leave out `from` and name the columns in `fields`"
                    .into(),
            ));
        }
        let pointer = match (&source, self.addressing) {
            (Some(s), Addressing::Pointer) => {
                if let Some(msg) = pointer_problem(s) {
                    problems.push((
                        if matches!(spec, Some(FieldSpec::From(_))) {
                            path.to_string()
                        } else {
                            format!("{path}.from")
                        },
                        msg,
                    ));
                }
                Some(s.clone())
            }
            (Some(s), Addressing::Column) => {
                if s.is_empty() {
                    problems.push((path.into(), "is an empty column header".into()));
                }
                Some(pointer_to(s))
            }
            (None, _) => None,
        };
        // Options that only fit some kinds.
        let formats_here = match (&t.format, def.kind) {
            (Some(f), FieldKind::Date) => formats(&f.0, &format!("{path}.format"), problems),
            (Some(_), k) => {
                problems.push((
                    format!("{path}.format"),
                    format!(
                        "{} is {}, not a date: it has no format",
                        def.name,
                        k.describe()
                    ),
                ));
                Vec::new()
            }
            (None, _) => self.default_formats.to_vec(),
        };
        if let Some(m) = &t.map {
            if matches!(
                def.kind,
                FieldKind::Date | FieldKind::Amount | FieldKind::List(_) | FieldKind::Object(_)
            ) {
                problems.push((
                    format!("{path}.map"),
                    format!(
                        "{} is {}: a value map does not apply",
                        def.name,
                        def.kind.describe()
                    ),
                ));
            }
            for (k, v) in m {
                if let Some(msg) = code_value_problem(def.kind, v) {
                    problems.push((format!("{path}.map.{k}"), msg));
                }
            }
        }
        for (key, v) in [("default", &t.default), ("value", &t.value)] {
            if let Some(v) = v {
                if is_group {
                    problems.push((
                        format!("{path}.{key}"),
                        format!("{} is {}: it takes no {key}", def.name, def.kind.describe()),
                    ));
                } else if let Some(msg) = code_value_problem(def.kind, v) {
                    problems.push((format!("{path}.{key}"), msg));
                } else if def.kind == FieldKind::Date
                    && let MapValue::Text(s) = v
                    && crate::time::parse_compact(s).is_err()
                {
                    problems.push((
                        format!("{path}.{key}"),
                        format!("'{s}' is not a date yyyyMMddHHmmss"),
                    ));
                }
            }
        }
        if t.value.is_some() && t.from.is_some() {
            problems.push((
                format!("{path}.value"),
                "a field has a constant `value` or a source `from`, not both".into(),
            ));
        }
        let children = match def.kind {
            FieldKind::List(defs) | FieldKind::Object(defs) => {
                let sub = t.fields.clone().unwrap_or_default();
                for name in sub.keys() {
                    check_name(name, defs, &format!("{path}.fields"), problems);
                }
                defs.iter()
                    .map(|d| {
                        self.field(
                            *d,
                            sub.get(d.name),
                            &format!("{path}.fields.{}", d.name),
                            problems,
                        )
                    })
                    .collect()
            }
            _ => {
                if t.fields.is_some() {
                    problems.push((
                        format!("{path}.fields"),
                        format!("{} is {}: it has no fields", def.name, def.kind.describe()),
                    ));
                }
                Vec::new()
            }
        };
        FieldPlan {
            def,
            source,
            pointer,
            explicit,
            formats: formats_here,
            column: self.addressing == Addressing::Column,
            map: t.map.as_ref().map(ValueMap::new),
            default: t.default.as_ref().map(MapValue::to_json),
            constant: t.value.as_ref().map(MapValue::to_json),
            children,
        }
    }
}

impl FieldPlan {
    fn vendor_label(&self, addressing: Addressing, prefix: &str) -> String {
        match (&self.source, addressing) {
            (None, _) if self.constant.is_some() => "(constant)".into(),
            (None, _) => "(the record itself)".into(),
            (Some(s), Addressing::Pointer) => format!("{prefix}{s}"),
            (Some(s), Addressing::Column) => format!("'{s}'"),
        }
    }

    fn lookup<'v>(&self, rec: &'v Value) -> Option<&'v Value> {
        match &self.pointer {
            Some(p) => rec.pointer(p).filter(|v| !v.is_null()),
            None => None,
        }
    }

    /// The contract value of this field from `rec` (`prefix` is the vendor path of the element
    /// `rec` is, for messages).
    fn produce(&self, rec: &Value, prefix: &str) -> Result<Option<Value>, String> {
        match self.def.kind {
            FieldKind::List(_) => {
                let elements: Vec<(String, &Value)> = match &self.pointer {
                    None => vec![(String::new(), rec)],
                    Some(_) => match self.lookup(rec) {
                        None => return Ok(None),
                        Some(Value::Array(a)) => {
                            let base = self.source.clone().unwrap_or_default();
                            a.iter()
                                .enumerate()
                                .map(|(i, v)| (format!("{prefix}{base}/{i}"), v))
                                .collect()
                        }
                        Some(v @ Value::Object(_)) => {
                            vec![(
                                format!("{prefix}{}", self.source.clone().unwrap_or_default()),
                                v,
                            )]
                        }
                        Some(v) => {
                            return Err(format!(
                                "{} = '{}' is not a list",
                                self.label_with(prefix),
                                clip(&render(v))
                            ));
                        }
                    },
                };
                let itself = self.pointer.is_none();
                let mut items = Vec::with_capacity(elements.len());
                for (p, el) in elements {
                    let mut obj = Map::new();
                    for c in &self.children {
                        if let Some(v) = c.produce(el, &p)? {
                            obj.insert(c.def.name.to_string(), v);
                        }
                    }
                    if !(itself && obj.is_empty()) {
                        items.push(Value::Object(obj));
                    }
                }
                Ok((!items.is_empty()).then_some(Value::Array(items)))
            }
            FieldKind::Object(_) => {
                let (el, p) = match &self.pointer {
                    None => (rec, String::new()),
                    Some(_) => match self.lookup(rec) {
                        None => return Ok(None),
                        Some(v @ Value::Object(_)) => (
                            v,
                            format!("{prefix}{}", self.source.clone().unwrap_or_default()),
                        ),
                        Some(v) => {
                            return Err(format!(
                                "{} = '{}' is not an object",
                                self.label_with(prefix),
                                clip(&render(v))
                            ));
                        }
                    },
                };
                let mut obj = Map::new();
                for c in &self.children {
                    if let Some(v) = c.produce(el, &p)? {
                        obj.insert(c.def.name.to_string(), v);
                    }
                }
                Ok((!obj.is_empty()).then_some(Value::Object(obj)))
            }
            _ => self
                .convert(self.lookup(rec))
                .map_err(|why| format!("{}{why}", self.label_with(prefix))),
        }
    }

    fn label_with(&self, prefix: &str) -> String {
        let vendor = match (&self.source, self.column) {
            (Some(s), true) => format!("'{s}'"),
            (Some(s), false) => format!("{prefix}{s}"),
            (None, _) if self.constant.is_some() => "(constant)".into(),
            (None, _) => "(the record itself)".into(),
        };
        format!("{vendor} (→ {})", self.def.name)
    }

    /// Converts one scalar; the error continues a sentence that starts with the field's label.
    fn convert(&self, v: Option<&Value>) -> Result<Option<Value>, String> {
        if let Some(c) = &self.constant {
            return Ok(Some(c.clone()));
        }
        let Some(v) = v else {
            return Ok(self.default.clone());
        };
        if let Some(map) = &self.map {
            let key = render(v);
            if let Some(x) = map.get(&key) {
                return Ok(Some(x.clone()));
            }
            if key.is_empty() {
                return Ok(self.default.clone());
            }
            let mut known: Vec<String> = map.keys.iter().map(|k| format!("'{k}'")).collect();
            if known.len() > 12 {
                known.truncate(12);
                known.push("…".into());
            }
            return Err(format!(
                " = '{}' is not in the value map ({})",
                clip(&key),
                known.join(", ")
            ));
        }
        match self.def.kind {
            FieldKind::Date => {
                if matches!(v, Value::String(s) if s.trim().is_empty()) {
                    return Ok(self.default.clone());
                }
                for f in &self.formats {
                    if let Ok(t) = f.read(v) {
                        return Ok(t.map(|t| Value::String(format_compact(t))));
                    }
                }
                if self.column
                    && let Value::String(s) = v
                    && let Some(t) = dates::read_sheet_date(s)
                {
                    return Ok(Some(Value::String(format_compact(t))));
                }
                let names: Vec<&str> = self.formats.iter().map(DateFormat::label).collect();
                Err(format!(
                    " = '{}' is not a date {}",
                    clip(&render(v)),
                    names.join(" or ")
                ))
            }
            FieldKind::Flag => Ok(Some(match v {
                Value::Bool(b) => Value::from(i64::from(*b)),
                other => other.clone(),
            })),
            FieldKind::Amount => Ok(Some(match v {
                Value::String(s) => thousands(s).map_or_else(|| v.clone(), Value::String),
                other => other.clone(),
            })),
            FieldKind::Text | FieldKind::Direction | FieldKind::Code { .. } => Ok(Some(match v {
                // A spreadsheet's whole numbers arrive as floats: 12345.0 is the text 12345.
                Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
                    match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
                        _ => v.clone(),
                    }
                }
                other => other.clone(),
            })),
            FieldKind::List(_) | FieldKind::Object(_) => Ok(None),
        }
    }

    fn explain(
        &self,
        rec: &Value,
        addressing: Addressing,
        prefix: &str,
        path: &str,
        out: &mut Vec<Explained>,
    ) {
        match self.def.kind {
            FieldKind::List(_) | FieldKind::Object(_) => {
                let elements: Vec<(String, String, &Value)> = match &self.pointer {
                    None => vec![(path.to_string(), String::new(), rec)],
                    Some(_) => match self.lookup(rec) {
                        None => {
                            out.push(Explained {
                                contract: path.to_string(),
                                vendor: self.vendor_label(addressing, prefix),
                                vendor_value: None,
                                contract_value: Ok(None),
                            });
                            return;
                        }
                        Some(Value::Array(a)) => {
                            let base = self.source.clone().unwrap_or_default();
                            a.iter()
                                .enumerate()
                                .map(|(i, v)| {
                                    let contract = if matches!(self.def.kind, FieldKind::List(_)) {
                                        format!("{path}[{i}]")
                                    } else {
                                        path.to_string()
                                    };
                                    (contract, format!("{prefix}{base}/{i}"), v)
                                })
                                .collect()
                        }
                        Some(v) => {
                            let contract = if matches!(self.def.kind, FieldKind::List(_)) {
                                format!("{path}[0]")
                            } else {
                                path.to_string()
                            };
                            let base = self.source.clone().unwrap_or_default();
                            vec![(contract, format!("{prefix}{base}"), v)]
                        }
                    },
                };
                for (contract, p, el) in elements {
                    for c in &self.children {
                        c.explain(
                            el,
                            addressing,
                            &p,
                            &format!("{contract}.{}", c.def.name),
                            out,
                        );
                    }
                }
            }
            _ => {
                let raw = self.lookup(rec);
                let converted = self.convert(raw).map(|v| {
                    v.map(|v| match (&v, self.def.kind) {
                        (Value::String(s), FieldKind::Date) => crate::time::parse_compact(s)
                            .ok()
                            .flatten()
                            .map(crate::time::rfc3339)
                            .unwrap_or_else(|| s.clone()),
                        (Value::String(s), _) => s.clone(),
                        _ => v.to_string(),
                    })
                });
                out.push(Explained {
                    contract: path.to_string(),
                    vendor: self.vendor_label(addressing, prefix),
                    vendor_value: raw.map(|v| match v {
                        Value::String(s) => format!("\"{}\"", clip(s)),
                        other => clip(&other.to_string()),
                    }),
                    contract_value: converted.map_err(|e| e.trim_start_matches(" = ").to_string()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// One line about a source for `check-config`: where it is, and what its mapping changes.
pub fn describe(src: &SourceSettings) -> String {
    let lists = |src: &SourceSettings| -> Vec<&'static str> {
        [
            ("procedures", src.procedures.is_some()),
            ("dossiers", src.dossiers.is_some()),
            ("documents", src.documents.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect()
    };
    if src.kind == SourceKind::Import {
        return format!(
            "folder {}, mapped: {}",
            src.folder
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display(),
            lists(src).join(", ")
        );
    }
    let auth = match src.auth.as_ref().map(|a| a.style) {
        Some(settings::AuthStyle::Basic) => ", basic auth".to_string(),
        Some(settings::AuthStyle::Login) => ", login auth".to_string(),
        _ if src.token.is_some() => ", token set".to_string(),
        _ => String::new(),
    };
    let mut out = format!("{} page {}{auth}", src.base_url, src.page_size);
    if !src.is_contract() {
        out.push_str(&format!(", {} paging", src.paging.style.as_str()));
        let mapped = lists(src);
        if !mapped.is_empty() {
            out.push_str(&format!(", mapped: {}", mapped.join(", ")));
        }
    }
    out
}
