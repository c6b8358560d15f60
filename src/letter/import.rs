//! A returned form read back: every cell that matters is checked, each bad cell named with its
//! address and what to write instead, and the form is recorded whole or not at all (one store
//! transaction). Who = the file's name, when = the import time; earlier submissions of the same
//! unit and period stay as history. The same bytes imported twice in a row are recorded once.
//!
//! Accepted values: percent, a number 0–1000 (`92.5`, `92,5`, `92,5%`; a share of a plan may pass 100); count, a whole number ≥ 0;
//! done, `Đã hoàn thành` / `Chưa hoàn thành` (also `Hoàn thành`, `Chưa`, `x`, `có`, `không`,
//! `done`, `not done`, TRUE/FALSE); date, a date cell or `dd/mm/yyyy` / `yyyy-mm-dd`. A blank
//! value is recorded as blank (the criterion stays pending, then missing).

use super::LetterError;
use super::forms::{
    COL_CODE, COL_EVIDENCE, COL_NOTE, COL_VALUE, MARKER, ROW_HEADER, ROW_MARKER, ROW_PERIOD,
    ROW_UNIT_CODE, SHEET,
};
use super::register::{self, criteria_of};
use crate::config::{CommitmentKind, Settings};
use crate::domain::time::Epoch;
use crate::store::{LetterSubmission, LetterValue, Store};
use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use sha2::Digest;
use std::collections::HashSet;
use std::path::Path;

/// The largest returned form read (a form is a few kilobytes).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// The largest percentage accepted (of a plan: it may exceed 100).
pub const MAX_PERCENT: f64 = 1000.0;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    pub unit: String,
    pub period: String,
    /// The submission's number (1 for the first form of the unit and period).
    pub seq: i64,
    pub values: usize,
    /// The same bytes were the newest submission already: nothing new recorded.
    pub unchanged: bool,
}

/// An A1 address.
pub fn a1(row: u32, col: u16) -> String {
    let mut c = col as u32 + 1;
    let mut letters = String::new();
    while c > 0 {
        let r = ((c - 1) % 26) as u8;
        letters.insert(0, (b'A' + r) as char);
        c = (c - 1) / 26;
    }
    format!("{letters}{}", row + 1)
}

fn text(d: Option<&Data>) -> String {
    match d {
        None | Some(Data::Empty) => String::new(),
        Some(Data::String(s)) => s.trim().to_string(),
        Some(Data::Float(f)) => register::num(*f),
        Some(Data::Int(i)) => i.to_string(),
        Some(Data::Bool(b)) => b.to_string(),
        Some(other) => other.to_string().trim().to_string(),
    }
}

fn parse_number(d: &Data) -> Result<f64, ()> {
    match d {
        Data::Float(f) => Ok(*f),
        Data::Int(i) => Ok(*i as f64),
        Data::String(s) => s
            .trim()
            .trim_end_matches('%')
            .trim()
            .replace(',', ".")
            .parse::<f64>()
            .map_err(|_| ()),
        _ => Err(()),
    }
}

/// One value cell checked against its criterion's kind: the canonical text, or what is wrong.
pub fn parse_value(kind: CommitmentKind, d: &Data) -> Result<Option<String>, String> {
    if matches!(d, Data::Empty) || matches!(d, Data::String(s) if s.trim().is_empty()) {
        return Ok(None);
    }
    match kind {
        CommitmentKind::Percent => match parse_number(d) {
            // A share of a plan may exceed 100 (revenue at 104 % of the estimate).
            Ok(v) if v.is_finite() && (0.0..=MAX_PERCENT).contains(&v) => {
                Ok(Some(register::num(v)))
            }
            Ok(v) => Err(format!(
                "{} is not a percentage: write a number from 0 to {MAX_PERCENT}",
                register::num(v)
            )),
            Err(()) => Err(format!(
                "'{}' is not a percentage: write a number such as 92,5 (no words)",
                text(Some(d))
            )),
        },
        CommitmentKind::Count => match parse_number(d) {
            Ok(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e12 => {
                Ok(Some(format!("{}", v as i64)))
            }
            _ => Err(format!(
                "'{}' is not a count: write a whole number, e.g. 2",
                text(Some(d))
            )),
        },
        CommitmentKind::Done => {
            if let Data::Bool(b) = d {
                return Ok(Some(if *b { "done" } else { "not_done" }.into()));
            }
            let t = text(Some(d)).to_lowercase();
            match t.as_str() {
                "đã hoàn thành" | "hoàn thành" | "đã" | "x" | "có" | "done" | "yes" | "true" => {
                    Ok(Some("done".into()))
                }
                "chưa hoàn thành" | "chưa" | "không" | "not done" | "no" | "false" => {
                    Ok(Some("not_done".into()))
                }
                _ => Err(format!(
                    "'{}' is neither 'Đã hoàn thành' nor 'Chưa hoàn thành'",
                    text(Some(d))
                )),
            }
        }
        CommitmentKind::Date => {
            let date = match d {
                // An Excel serial: days since 30 December 1899 (the 1900 leap-year bug included).
                Data::DateTime(dt) => NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|z| {
                    z.checked_add_signed(chrono::Duration::days(dt.as_f64().floor() as i64))
                }),
                Data::DateTimeIso(iso) => iso
                    .get(..10)
                    .and_then(|x| NaiveDate::parse_from_str(x, "%Y-%m-%d").ok()),
                Data::String(s) => {
                    let s = s.trim();
                    NaiveDate::parse_from_str(s, "%d/%m/%Y")
                        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
                        .ok()
                }
                _ => None,
            };
            match date {
                Some(date) => Ok(Some(date.to_string())),
                None => Err(format!(
                    "'{}' is not a date: write it as dd/mm/yyyy, e.g. 30/11/2026",
                    text(Some(d))
                )),
            }
        }
    }
}

/// Reads and checks a returned form (pure): the submission to record, or every problem.
pub fn parse_form(
    s: &Settings,
    bytes: &[u8],
    file_name: &str,
    now: Epoch,
) -> Result<LetterSubmission, LetterError> {
    let invalid = |problems: Vec<String>| LetterError::Invalid {
        file: file_name.to_string(),
        problems,
    };
    let mut wb = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| {
        invalid(vec![format!(
            "not a readable .xlsx workbook ({e}): return the form dondoc sent, saved as .xlsx"
        )])
    })?;
    let range = wb.worksheet_range(SHEET).map_err(|_| {
        invalid(vec![format!(
            "no sheet named '{SHEET}': this is not a dondoc form (use the workbook from `dondoc letter forms`)"
        )])
    })?;
    let at = |r: u32, c: u16| range.get_value((r, c as u32));
    let mut problems = Vec::new();
    let marker = text(at(ROW_MARKER, 1));
    if marker != MARKER {
        return Err(invalid(vec![format!(
            "{}: expected '{MARKER}', found '{marker}': this is not a dondoc form of this version (use the workbook from `dondoc letter forms`)",
            a1(ROW_MARKER, 1)
        )]));
    }
    let unit = text(at(ROW_UNIT_CODE, 1));
    if !s.units.iter().any(|u| u.code == unit) {
        problems.push(format!(
            "{}: '{unit}' is not the code of any unit of the configuration",
            a1(ROW_UNIT_CODE, 1)
        ));
    }
    let period_text = text(at(ROW_PERIOD, 1));
    let period = match register::parse_period(&period_text) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.push(format!("{}: {e}", a1(ROW_PERIOD, 1)));
            None
        }
    };
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let Some(period) = period else {
        return Err(invalid(problems));
    };
    if criteria_of(s, &unit, period).is_empty() {
        return Err(invalid(vec![format!(
            "{}: {unit} answers for no criterion of [[commitments]] in {period}: this form was not made for it",
            a1(ROW_UNIT_CODE, 1)
        )]));
    }
    let manual: Vec<_> = criteria_of(s, &unit, period)
        .into_iter()
        .filter(|c| !c.is_automatic())
        .collect();
    let automatic: HashSet<&str> = criteria_of(s, &unit, period)
        .into_iter()
        .filter(|c| c.is_automatic())
        .map(|c| c.code.as_str())
        .collect();
    let mut values: Vec<LetterValue> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let last = range.end().map(|(r, _)| r).unwrap_or(0);
    for r in ROW_HEADER + 1..=last {
        let code = text(at(r, COL_CODE));
        let filled = [COL_VALUE, COL_EVIDENCE, COL_NOTE]
            .iter()
            .any(|c| !text(at(r, *c)).is_empty());
        if code.is_empty() {
            if filled {
                problems.push(format!(
                    "row {}: values without a criterion code in {}: write on the criteria's rows only",
                    r + 1,
                    a1(r, COL_CODE)
                ));
            }
            continue;
        }
        if automatic.contains(code.as_str()) {
            continue; // dondoc's own figures, protected: not read back
        }
        let Some(c) = manual.iter().find(|c| c.code == code) else {
            problems.push(format!(
                "{}: '{code}' is not a criterion of {unit} for {period}",
                a1(r, COL_CODE)
            ));
            continue;
        };
        if !seen.insert(code.clone()) {
            problems.push(format!(
                "{}: '{code}' appears twice: keep one row per criterion",
                a1(r, COL_CODE)
            ));
            continue;
        }
        let cell = at(r, COL_VALUE).cloned().unwrap_or(Data::Empty);
        match parse_value(c.kind, &cell) {
            Ok(value) => values.push(LetterValue {
                criterion: code,
                value,
                evidence: text(at(r, COL_EVIDENCE)),
                note: text(at(r, COL_NOTE)),
            }),
            Err(msg) => problems.push(format!("{} ({code}): {msg}", a1(r, COL_VALUE))),
        }
    }
    for c in &manual {
        if !seen.contains(&c.code) {
            problems.push(format!(
                "the row of criterion '{}' is missing: return the whole form",
                c.code
            ));
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(LetterSubmission {
        unit,
        period: period.to_string(),
        seq: 0,
        file_name: file_name.to_string(),
        sha256: format!("{:x}", sha2::Sha256::digest(bytes)),
        imported_at: now,
        values,
    })
}

/// Imports the returned form `bytes` named `file_name`.
pub async fn import_bytes(
    store: &Store,
    s: &Settings,
    bytes: &[u8],
    file_name: &str,
    now: Epoch,
) -> Result<Imported, LetterError> {
    let sub = parse_form(s, bytes, file_name, now)?;
    let earlier = store.letter_submissions(&sub.period).await?;
    if let Some(newest) = earlier
        .iter()
        .filter(|e| e.unit == sub.unit)
        .max_by_key(|e| e.seq)
        && newest.sha256 == sub.sha256
    {
        return Ok(Imported {
            unit: sub.unit,
            period: sub.period,
            seq: newest.seq,
            values: newest.values.len(),
            unchanged: true,
        });
    }
    let seq = store.record_letter_submission(&sub).await?;
    tracing::info!(
        unit = %sub.unit,
        period = %sub.period,
        seq,
        file = %file_name,
        "returned letter form recorded"
    );
    Ok(Imported {
        unit: sub.unit,
        period: sub.period,
        seq,
        values: sub.values.len(),
        unchanged: false,
    })
}

/// Imports the returned form at `path` (its file name is who returned it).
pub async fn import_file(
    store: &Store,
    s: &Settings,
    path: &Path,
    now: Epoch,
) -> Result<Imported, LetterError> {
    let io = |source| LetterError::Io {
        what: "read",
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_BYTES as u64 {
        return Err(LetterError::Invalid {
            file: path.display().to_string(),
            problems: vec![format!(
                "{} bytes is larger than a form can be ({MAX_BYTES})",
                meta.len()
            )],
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    import_bytes(store, s, &bytes, &name, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_values() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(11, 4), "E12");
        assert_eq!(a1(0, 27), "AB1");
        let p = |k, d: Data| parse_value(k, &d);
        assert_eq!(
            p(CommitmentKind::Percent, Data::String("92,5%".into())),
            Ok(Some("92.5".into()))
        );
        assert!(p(CommitmentKind::Percent, Data::Float(1200.0)).is_err());
        assert!(p(CommitmentKind::Percent, Data::Float(-1.0)).is_err());
        assert!(p(CommitmentKind::Count, Data::Float(2.5)).is_err());
        assert_eq!(
            p(CommitmentKind::Done, Data::String(" Đã hoàn thành ".into())),
            Ok(Some("done".into()))
        );
        assert!(p(CommitmentKind::Done, Data::String("sắp xong".into())).is_err());
        assert_eq!(
            p(CommitmentKind::Date, Data::String("30/11/2026".into())),
            Ok(Some("2026-11-30".into()))
        );
        assert!(p(CommitmentKind::Date, Data::String("31/02/2026".into())).is_err());
        assert_eq!(p(CommitmentKind::Count, Data::Empty), Ok(None));
    }
}
