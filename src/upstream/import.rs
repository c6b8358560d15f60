//! Spreadsheet imports: a source of `kind = "import"` watches a folder, and each `.xlsx` or
//! `.csv` file dropped there (a dossier, document or procedure list exported from a vendor
//! system) is read with the source's column mapping, stored like one page, and moved to `done/`
//! or `failed/` with a report beside it (`<file>.report.txt`) saying what was imported and which
//! rows were rejected and why. `dondoc import FILE --source NAME` does the same once, from the
//! command line, and leaves the file where it is.
//!
//! Choices (docs/mapping.md says them to administrators):
//! - A file is one transaction: every row of it is stored, or none (a database error leaves the
//!   file in the folder for the next pass).
//! - Which list a file holds: the first of the source's `dossiers`, `documents`, `procedures`
//!   tables whose `files` pattern (if any) matches its name and whose key column (`MaHoSo`'s
//!   header, …) stands in one of its first 20 rows (or in `header_row`). Headers match ignoring
//!   case, spaces and Unicode composition. A column named in the mapping and missing from the
//!   file fails the file, naming the missing headers and the ones it has.
//! - Only the mapped columns are read from a row: personal columns never leave the file.
//! - A date cell of a spreadsheet is a date whatever the field's format; text cells use it.
//! - Without an update-time column (`NgayCapNhat`), a row's update time is the file's
//!   modification time, so that a later export wins over an earlier one.
//! - A procedure file is the source's whole catalogue and replaces it.
//! - A file whose every row is rejected is failed and stores nothing: the mapping is probably
//!   wrong, and once it is fixed the same file can be dropped again.
//! - Re-importing changes nothing: each imported file's SHA-256 is kept in the folder's ledger
//!   `.dondoc-imported.tsv`; a file already there is moved to `done/` untouched, with a report
//!   saying so (`dondoc import --force` imports it again). The ledger is written after the
//!   database commit: a crash in between imports the file again at the next pass, which is
//!   harmless (the same rows, the same update times, upserted).
//! - A file modified less than `settle_secs` ago may still be being copied: it waits for the
//!   next pass. (This one check reads the file system's clock, which is what stamps the file.)
//! - A key listed twice in a file keeps its newest row (by update time, then the later row).

use crate::config::{SourceKind, SourceSettings};
use crate::domain::time::{Epoch, rfc3339};
pub use crate::upstream::endpoint::Records;
use crate::upstream::endpoint::{Endpoint, Page, SourceError, TimeGuard};
use crate::upstream::mapping::{self, Explained, ListPlan, fields};
use crate::upstream::records::{Document, Dossier, Procedure, RecordKind, Rejection};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The endpoint name of a folder's pages (`sync_state.endpoint`).
pub use crate::config::IMPORT_ENDPOINT as ENDPOINT;
/// The ledger of imported files, in the watched folder.
pub const LEDGER: &str = ".dondoc-imported.tsv";

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Something about the file itself: it goes to `failed/`.
    #[error("{0}")]
    File(String),
    /// The folder, the ledger, moving a file.
    #[error("{0}")]
    Io(String),
}

/// A file read through a mapping, before storing.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub list: RecordKind,
    /// Sheet name (xlsx) and header row number (from 1).
    pub sheet: Option<String>,
    pub header_row: usize,
    pub rows: usize,
    pub records: Records,
    /// `(row number, rejection)`, every one.
    pub rejections: Vec<(usize, Rejection)>,
    /// The first rows, explained for `check-source`.
    pub explained: Vec<(usize, Vec<Explained>, Result<(), String>)>,
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub file: PathBuf,
    pub sha256: String,
    /// `None`: failed; the reason is in `failure`.
    pub read: Option<ReadFile>,
    pub failure: Option<String>,
    /// When the file had been imported before (its ledger line).
    pub already: Option<String>,
    /// Its valid records (after a key listed twice kept its newest row).
    pub valid: usize,
    pub stored: u64,
    /// The report's text.
    pub report: String,
}

// ---------------------------------------------------------------------------------------------
// Reading cells

/// A table of cells as read from a file: rows of JSON scalars, with each row's number.
struct Table {
    sheet: Option<String>,
    rows: Vec<(usize, Vec<Value>)>,
}

fn cell_of(d: &calamine::Data) -> Value {
    use calamine::Data;
    match d {
        Data::Empty | Data::Error(_) => Value::Null,
        Data::Int(i) => Value::from(*i),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(*f as i64),
        Data::Float(f) => Value::from(*f),
        Data::String(s) => Value::String(s.clone()),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(dt) if !dt.is_duration() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            let naive = chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
                .and_then(|day| day.and_hms_opt(u32::from(h), u32::from(mi), u32::from(s)))
                .map(|t| t + chrono::Duration::seconds(i64::from(ms >= 500)));
            match naive {
                Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                None => Value::Null,
            }
        }
        Data::DateTime(dt) => Value::from(dt.as_f64()),
        Data::DateTimeIso(s) => {
            let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                });
            match t {
                Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                None => Value::String(s.clone()),
            }
        }
        Data::DurationIso(s) => Value::String(s.clone()),
    }
}

fn is_xlsx(path: &Path) -> bool {
    matches!(
        extension(path).as_str(),
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods"
    )
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Whether a folder entry is a file to import.
fn importable(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && !name.starts_with("~$")
        && matches!(extension(path).as_str(), "xlsx" | "xlsm" | "xls" | "csv")
}

/// Reads one sheet of a workbook (`sheet`, or the first).
fn read_workbook(bytes: &[u8], sheet: Option<&str>) -> Result<Table, String> {
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .map_err(|e| format!("cannot read the workbook: {e}"))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| mapping::fold(n) == mapping::fold(s))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "the workbook has no sheet '{s}'; its sheets are {}",
                    names.join(", ")
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| "the workbook has no sheet".to_string())?,
    };
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| format!("cannot read the sheet '{name}': {e}"))?;
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![Value::Null; first_col];
            cells.extend(r.iter().map(cell_of));
            (first_row + i + 1, cells)
        })
        .collect();
    Ok(Table {
        sheet: Some(name),
        rows,
    })
}

/// Reads a CSV file in UTF-8 (with or without a byte-order mark).
fn read_csv(bytes: &[u8], delimiter: Option<&str>) -> Result<Table, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        "the file is not UTF-8 text: save it from the spreadsheet as \"CSV UTF-8\"".to_string()
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delim = match delimiter {
        Some("\\t") => b'\t',
        Some(d) => d.bytes().next().unwrap_or(b','),
        None => {
            // The most frequent of , ; tab over the first lines.
            let head: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
            [b',', b';', b'\t']
                .into_iter()
                .max_by_key(|d| head.bytes().filter(|b| b == d).count())
                .unwrap_or(b',')
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("cannot read the CSV: {e}"))?;
        // The row a spreadsheet shows (a quoted cell over several lines is one row).
        rows.push((
            i + 1,
            rec.iter()
                .map(|c| {
                    if c.trim().is_empty() {
                        Value::Null
                    } else {
                        Value::String(c.to_string())
                    }
                })
                .collect(),
        ));
    }
    Ok(Table { sheet: None, rows })
}

/// `*` and `?` over a file name, ignoring case.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    go(&p, &n)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The lists an import source maps, in the order files are matched against them.
fn lists(src: &SourceSettings) -> Vec<(RecordKind, &crate::config::mapping::ListMapping)> {
    [
        (RecordKind::Dossier, src.dossiers.as_ref()),
        (RecordKind::Document, src.documents.as_ref()),
        (RecordKind::Procedure, src.procedures.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, m)| m.map(|m| (k, m)))
    .collect()
}

/// Reads `bytes` (the file `name`) through the source's mapping. `explain` rows are explained
/// for `check-source`. `mtime` stands in for a missing update time.
pub fn read_file(
    src: &SourceSettings,
    name: &str,
    bytes: &[u8],
    mtime: Epoch,
    explain: usize,
) -> Result<ReadFile, String> {
    let xlsx = is_xlsx(Path::new(name));
    if !xlsx && extension(Path::new(name)) != "csv" {
        return Err(format!(
            "'{name}' is neither a spreadsheet (.xlsx) nor a .csv file"
        ));
    }
    let mut tables: HashMap<Option<String>, Table> = HashMap::new();
    let mut tried = Vec::new();
    for (kind, m) in lists(src) {
        if let Some(p) = &m.files
            && !glob(p, name)
        {
            tried.push(format!(
                "{}: the name does not match files = \"{p}\"",
                fields::table_name(kind)
            ));
            continue;
        }
        let plan = ListPlan::of_source(kind, src).map_err(|problems| {
            let l: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
            format!("the mapping is invalid: {}", l.join("; "))
        })?;
        let key = m.sheet.clone();
        if !tables.contains_key(&key) {
            let t = if xlsx {
                read_workbook(bytes, m.sheet.as_deref())?
            } else {
                read_csv(bytes, m.delimiter.as_deref())?
            };
            tables.insert(key.clone(), t);
        }
        let table = &tables[&key];
        let key_header = plan
            .key_source()
            .unwrap_or(fields::key_field(kind))
            .to_string();
        let key_folded = mapping::fold(&key_header);
        let header_at = match m.header_row {
            Some(r) => table.rows.iter().position(|(n, _)| *n == r),
            None => table.rows.iter().take(20).position(|(_, cells)| {
                cells
                    .iter()
                    .any(|c| mapping::fold(&text_of(c)) == key_folded)
            }),
        };
        let Some(h) = header_at.filter(|h| {
            table.rows[*h]
                .1
                .iter()
                .any(|c| mapping::fold(&text_of(c)) == key_folded)
        }) else {
            tried.push(format!(
                "{}: no column '{key_header}' (→ {}) in {}",
                fields::table_name(kind),
                fields::key_field(kind),
                match m.header_row {
                    Some(r) => format!("row {r}"),
                    None => "the first 20 rows".into(),
                }
            ));
            continue;
        };
        return read_rows(&plan, table, h, mtime, explain);
    }
    Err(format!(
        "no mapping of this source fits the file ({})",
        if tried.is_empty() {
            "the source maps no list".to_string()
        } else {
            tried.join("; ")
        }
    ))
}

fn read_rows(
    plan: &ListPlan,
    table: &Table,
    header: usize,
    mtime: Epoch,
    explain: usize,
) -> Result<ReadFile, String> {
    let (header_row, headers) = &table.rows[header];
    let folded: Vec<String> = headers.iter().map(|c| mapping::fold(&text_of(c))).collect();
    // Each mapped column → its index in the file.
    let mut columns: Vec<(String, usize)> = Vec::new();
    let mut missing = Vec::new();
    for (h, explicit) in plan.columns() {
        match folded.iter().position(|f| *f == mapping::fold(&h)) {
            Some(i) => columns.push((h, i)),
            None if explicit => missing.push(format!("'{h}'")),
            None => {}
        }
    }
    if !missing.is_empty() {
        let has: Vec<String> = headers
            .iter()
            .map(text_of)
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("'{s}'"))
            .collect();
        return Err(format!(
            "the header row (row {header_row}) lacks the mapped column(s) {}; it has {}",
            missing.join(", "),
            has.join(", ")
        ));
    }
    let updated_header = plan
        .source_of("NgayCapNhat")
        .map(str::to_string)
        .filter(|_| plan.kind != RecordKind::Procedure);
    let mtime_cell = Value::String(
        crate::domain::time::to_local(mtime)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
    );

    let mut dossiers: Vec<(usize, Dossier)> = Vec::new();
    let mut documents: Vec<(usize, Document)> = Vec::new();
    let mut procedures: Vec<(usize, Procedure)> = Vec::new();
    let mut rejections = Vec::new();
    let mut explained = Vec::new();
    let mut rows = 0;
    for (number, cells) in table.rows.iter().skip(header + 1) {
        if cells.iter().all(|c| text_of(c).trim().is_empty()) {
            continue;
        }
        rows += 1;
        let mut rec = Map::new();
        for (h, i) in &columns {
            let v = cells.get(*i).cloned().unwrap_or(Value::Null);
            rec.insert(h.clone(), v);
        }
        if let Some(h) = &updated_header {
            let empty = rec.get(h).is_none_or(|v| text_of(v).trim().is_empty());
            if empty {
                rec.insert(h.clone(), mtime_cell.clone());
            }
        }
        let rec = Value::Object(rec);
        let outcome: Result<(), Rejection> = match plan.kind {
            RecordKind::Dossier => plan
                .parse_dossier(&rec)
                .map(|d| dossiers.push((*number, d))),
            RecordKind::Document => plan
                .parse_document(&rec)
                .map(|d| documents.push((*number, d))),
            RecordKind::Procedure => plan
                .parse_procedure(&rec)
                .map(|p| procedures.push((*number, p))),
        };
        if explained.len() < explain {
            explained.push((
                *number,
                plan.explain(&rec),
                outcome.as_ref().map(|_| ()).map_err(|r| r.reason.clone()),
            ));
        }
        if let Err(r) = outcome {
            rejections.push((*number, r));
        }
    }
    // A key listed twice keeps its newest row.
    fn newest<T>(items: Vec<(usize, T)>, key: impl Fn(&T) -> (&str, Epoch)) -> Vec<T> {
        let mut best: HashMap<String, (usize, Epoch, usize)> = HashMap::new();
        for (i, (row, item)) in items.iter().enumerate() {
            let (k, t) = key(item);
            let e = best.entry(k.to_string()).or_insert((i, t, *row));
            if t >= e.1 {
                *e = (i, t, *row);
            }
        }
        let keep: std::collections::HashSet<usize> = best.values().map(|(i, _, _)| *i).collect();
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, (_, item))| item)
            .collect()
    }
    let records = match plan.kind {
        RecordKind::Dossier => {
            Records::Dossiers(newest(dossiers, |d| (d.code.as_str(), d.updated_at)))
        }
        RecordKind::Document => {
            Records::Documents(newest(documents, |d| (d.code.as_str(), d.updated_at)))
        }
        RecordKind::Procedure => Records::Procedures(newest(procedures, |p| (p.code.as_str(), 0))),
    };
    Ok(ReadFile {
        list: plan.kind,
        sheet: table.sheet.clone(),
        header_row: *header_row,
        rows,
        records,
        rejections,
        explained,
    })
}

// ---------------------------------------------------------------------------------------------
// Preparing a file, and what follows its commit

fn sha256(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ledger's line of an imported file, when there is one.
fn ledger_entry(folder: &Path, sha: &str) -> Result<Option<String>, ImportError> {
    let path = folder.join(LEDGER);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .find(|l| l.split('\t').next() == Some(sha))
            .map(str::to_string)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImportError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn append_ledger(folder: &Path, line: &str) -> Result<(), ImportError> {
    use std::io::Write;
    let path = folder.join(LEDGER);
    let io = |e: std::io::Error| ImportError::Io(format!("cannot write {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    writeln!(f, "{line}").map_err(io)?;
    f.sync_all().map_err(io)
}

fn report_text(source: &str, name: &str, o: &FileOutcome, now: Epoch) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "dondoc import report");
    let _ = writeln!(r, "file:     {name}");
    let _ = writeln!(r, "source:   {source}");
    let _ = writeln!(r, "at:       {}", rfc3339(now));
    let _ = writeln!(r, "sha256:   {}", o.sha256);
    if let Some(line) = &o.already {
        let mut parts = line.split('\t').skip(1);
        let at = parts.next().unwrap_or("");
        let first_name = parts.next().unwrap_or("");
        let _ = writeln!(
            r,
            "result:   ALREADY IMPORTED on {at} (as {first_name}); nothing was changed"
        );
        return r;
    }
    if let Some(f) = &o.failure {
        let _ = writeln!(r, "result:   FAILED, nothing was stored: {f}");
    }
    if let Some(read) = &o.read {
        let _ = writeln!(
            r,
            "list:     {}{} (header row {})",
            fields::table_name(read.list),
            read.sheet
                .as_deref()
                .map(|s| format!(", sheet '{s}'"))
                .unwrap_or_default(),
            read.header_row
        );
        if o.failure.is_none() {
            let _ = writeln!(
                r,
                "result:   imported: {} row(s) read, {} valid ({} written), {} rejected",
                read.rows,
                o.valid,
                o.stored,
                read.rejections.len()
            );
        }
        if !read.rejections.is_empty() {
            let _ = writeln!(r, "\nRejected rows ({}):", read.rejections.len());
            for (row, rej) in &read.rejections {
                let _ = writeln!(r, "  row {row} ({}): {}", rej.key, rej.reason);
            }
        }
    }
    r
}

/// A name in `dir` that is not taken: `name`, else `stem-2.ext`, `stem-3.ext`, ….
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() && !dir.join(format!("{name}.report.txt")).exists() {
        return first;
    }
    let p = Path::new(name);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    for i in 2.. {
        let candidate = dir.join(format!("{stem}-{i}{ext}"));
        if !candidate.exists() {
            return candidate;
        }
    }
    unreachable!()
}

/// The files waiting in a folder, oldest name first, with those still being copied left out.
pub fn waiting_files(folder: &Path, settle_secs: u64) -> Result<Vec<PathBuf>, ImportError> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        ImportError::Io(format!(
            "cannot read the import folder {}: {e}",
            folder.display()
        ))
    })?;
    let wall = std::time::SystemTime::now();
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && importable(p))
        .filter(|p| {
            let age = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| wall.duration_since(t).ok());
            // A future modification time (a skewed file server) does not hold a file back.
            age.is_none_or(|a| a.as_secs() >= settle_secs)
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A file read and ready to store: its outcome so far, its page, and the ledger line to write
/// once the page is committed (`None`: nothing to store).
pub struct Prepared {
    pub outcome: FileOutcome,
    pub page: Page,
    pub ledger_line: Option<String>,
}

/// Reads one file and prepares its page (one transaction): its valid rows, its rejections
/// (a key with a valid row is not also set aside; a key rejected twice is set aside once),
/// nothing when it fails or was imported before (by the ledger, or `earlier` in this pass:
/// sha-256 → ledger line). Writes nothing.
pub fn prepare_file(
    source: &str,
    src: &SourceSettings,
    file: &Path,
    now: Epoch,
    force: bool,
    earlier: &HashMap<String, String>,
) -> Result<Prepared, ImportError> {
    let name = file_name(file);
    let bytes = std::fs::read(file)
        .map_err(|e| ImportError::Io(format!("cannot read {}: {e}", file.display())))?;
    let sha = sha256(&bytes);
    let folder = src.folder.clone().unwrap_or_default();
    let mut o = FileOutcome {
        file: file.to_path_buf(),
        sha256: sha.clone(),
        read: None,
        failure: None,
        already: None,
        valid: 0,
        stored: 0,
        report: String::new(),
    };
    let mut page = Page {
        records: Records::Nothing,
        rejections: Vec::new(),
        mark: None,
        future: Vec::new(),
        answers: 1,
        fetched: 0,
        rejected: 0,
        completes: true,
        then: None,
    };
    if !force {
        let line = match earlier.get(&sha) {
            Some(line) => Some(line.clone()),
            None => ledger_entry(&folder, &sha)?,
        };
        if let Some(line) = line {
            o.already = Some(line);
            o.report = report_text(source, &name, &o, now);
            return Ok(Prepared {
                outcome: o,
                page,
                ledger_line: None,
            });
        }
    }
    let mtime = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(now, |d| d.as_secs() as i64);
    let mut ledger_line = None;
    match read_file(src, &name, &bytes, mtime, 0) {
        Err(why) => o.failure = Some(why),
        Ok(mut read) => {
            page.fetched = read.rows as u64;
            page.rejected = read.rejections.len() as u64;
            o.valid = read.records.len();
            if read.records.is_empty() && !read.rejections.is_empty() {
                o.failure = Some(format!(
                    "every one of its {} row(s) was rejected (is the mapping right? `dondoc check-source {source} --file …` shows how each column is read)",
                    read.rows
                ));
            } else {
                page.rejections = unique_rejections(&read);
                page.records = std::mem::replace(&mut read.records, Records::Nothing);
                ledger_line = Some(format!(
                    "{sha}\t{}\t{name}\t{}\t{}\t{}\t{}",
                    rfc3339(now),
                    fields::table_name(read.list),
                    read.rows,
                    o.valid,
                    read.rejections.len()
                ));
            }
            o.read = Some(read);
        }
    }
    o.report = report_text(source, &name, &o, now);
    Ok(Prepared {
        outcome: o,
        page,
        ledger_line,
    })
}

/// The rejections of a file to store: none for a key that also has a valid row, one per key.
fn unique_rejections(read: &ReadFile) -> Vec<Rejection> {
    let valid: std::collections::HashSet<&str> = match &read.records {
        Records::Dossiers(v) => v.iter().map(|d| d.code.as_str()).collect(),
        Records::Documents(v) => v.iter().map(|d| d.code.as_str()).collect(),
        Records::Procedures(v) => v.iter().map(|p| p.code.as_str()).collect(),
        Records::Nothing => Default::default(),
    };
    let mut rejections: HashMap<&str, &Rejection> = HashMap::new();
    for (_, r) in &read.rejections {
        if !valid.contains(r.key.as_str()) {
            rejections.insert(r.key.as_str(), r);
        }
    }
    rejections.into_values().cloned().collect()
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string()
}

/// What follows a file's commit (`stored`: the records written): its line in the ledger (when
/// it was stored), its report, and, with `move_file`, the file and its report moved to
/// `done/` or `failed/`.
pub fn finish_file(
    source: &str,
    src: &SourceSettings,
    o: &mut FileOutcome,
    ledger_line: Option<&str>,
    stored: u64,
    now: Epoch,
    move_file: bool,
) -> Result<(), ImportError> {
    let folder = src.folder.clone().unwrap_or_default();
    if let Some(line) = ledger_line {
        std::fs::create_dir_all(&folder)
            .map_err(|e| ImportError::Io(format!("cannot create {}: {e}", folder.display())))?;
        append_ledger(&folder, line)?;
    }
    let name = file_name(&o.file);
    o.stored = stored;
    o.report = report_text(source, &name, o, now);
    if !move_file {
        return Ok(());
    }
    let dir = folder.join(if o.failure.is_some() {
        "failed"
    } else {
        "done"
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| ImportError::Io(format!("cannot create {}: {e}", dir.display())))?;
    let target = free_name(&dir, &name);
    let report_path = PathBuf::from(format!("{}.report.txt", target.display()));
    std::fs::write(&report_path, &o.report)
        .map_err(|e| ImportError::Io(format!("cannot write {}: {e}", report_path.display())))?;
    std::fs::rename(&o.file, &target).map_err(|e| {
        ImportError::Io(format!(
            "cannot move {} to {}: {e}",
            o.file.display(),
            target.display()
        ))
    })?;
    tracing::info!(source, file = %name, to = %target.display(), failed = o.failure.is_some(), "file imported");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The folder as an endpoint

/// An import source's folder as an [`Endpoint`]: each waiting file is one page (one
/// transaction), oldest name first; once committed it is moved with its report. Files that
/// failed fail the pass at its end, after the others are imported.
#[derive(Debug)]
pub struct Folder {
    source: String,
    settings: SourceSettings,
    now: Epoch,
    /// Whether pages are stored (files are then remembered within the pass).
    writes: bool,
    files: Vec<PathBuf>,
    at: usize,
    failed: Vec<String>,
    /// Files prepared earlier in this pass: sha-256 → ledger line.
    earlier: HashMap<String, String>,
}

impl Folder {
    /// The folder of `source` read at `now`; `writes`: the pages will be stored.
    pub fn new(source: &str, settings: &SourceSettings, now: Epoch, writes: bool) -> Self {
        Folder {
            source: source.to_string(),
            settings: settings.clone(),
            now,
            writes,
            files: Vec::new(),
            at: 0,
            failed: Vec::new(),
            earlier: HashMap::new(),
        }
    }
}

impl Endpoint for Folder {
    type Answer = PathBuf;
    type Position = usize;

    fn name(&self) -> &'static str {
        ENDPOINT
    }

    fn origin(&self) -> String {
        format!("{}/{ENDPOINT}", self.source)
    }

    fn keeps_mark(&self) -> bool {
        false
    }

    async fn first(&mut self, _since: Option<Epoch>) -> Result<Option<PathBuf>, SourceError> {
        debug_assert_eq!(self.settings.kind, SourceKind::Import);
        let folder =
            self.settings.folder.clone().ok_or_else(|| {
                ImportError::Io(format!("sources.{}.folder is not set", self.source))
            })?;
        self.files = waiting_files(&folder, self.settings.settle_secs)?;
        self.at = 0;
        Ok(self.files.first().cloned())
    }

    async fn next(&mut self, at: usize) -> Result<Option<PathBuf>, SourceError> {
        self.at = at;
        Ok(self.files.get(at).cloned())
    }

    fn parse(
        &mut self,
        file: PathBuf,
        _guard: TimeGuard,
    ) -> Result<(Page, Option<usize>), SourceError> {
        let Prepared {
            mut outcome,
            mut page,
            ledger_line,
        } = prepare_file(
            &self.source,
            &self.settings,
            &file,
            self.now,
            false,
            &self.earlier,
        )?;
        if let Some(f) = &outcome.failure {
            self.failed.push(format!("{} ({f})", file_name(&file)));
        }
        if self.writes
            && let Some(line) = &ledger_line
        {
            self.earlier.insert(outcome.sha256.clone(), line.clone());
        }
        let (source, settings, now) = (self.source.clone(), self.settings.clone(), self.now);
        page.then = Some(Box::new(move |stored| {
            finish_file(
                &source,
                &settings,
                &mut outcome,
                ledger_line.as_deref(),
                stored,
                now,
                true,
            )
            .map_err(SourceError::from)
        }));
        let next = (self.at + 1 < self.files.len()).then_some(self.at + 1);
        Ok((page, next))
    }

    fn end(self) -> Result<(), SourceError> {
        if self.failed.is_empty() {
            return Ok(());
        }
        let folder = self.settings.folder.clone().unwrap_or_default();
        Err(ImportError::File(format!(
            "{} file(s) could not be imported and were moved to {}: {} (each has a .report.txt saying why)",
            self.failed.len(),
            folder.join("failed").display(),
            self.failed.join(", ")
        ))
        .into())
    }
}
