//! `dondoc check-source NAME`: one page of each list of a source (or the first rows of a file)
//! read through its mapping, printed for an administrator: for a few records, each contract
//! field beside the vendor field and value it came from and what it became, then every rejection
//! of the page with its reason. Nothing is stored.
//!
//! Only mapped contract fields are shown, so personal data of the vendor's records is never
//! printed.

use super::paging::{self, Pager};
use super::{Explained, ListPlan, fields};
use crate::config::{SourceKind, SourceSettings};
use crate::domain::time::Clock;
use crate::upstream::client::SourceClient;
use crate::upstream::import;
use crate::upstream::records::RecordKind;
use serde_json::value::RawValue;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use unicode_width::UnicodeWidthStr;

/// Why a check could not be made (the source unreachable, the file unreadable).
#[derive(Debug)]
pub struct CheckError(pub String);

/// The whole printout of `check-source` for source `name`.
pub async fn check_source(
    name: &str,
    src: &SourceSettings,
    records: usize,
    file: Option<&Path>,
    clock: Arc<dyn Clock>,
) -> Result<String, CheckError> {
    let mut out = String::new();
    if src.kind == SourceKind::Import {
        let _ = writeln!(
            out,
            "Source {name} (import), folder {}",
            src.folder.as_deref().unwrap_or(Path::new("")).display()
        );
        let path = match file {
            Some(f) => f.to_path_buf(),
            None => {
                let folder = src.folder.clone().unwrap_or_default();
                let waiting =
                    import::waiting_files(&folder, 0).map_err(|e| CheckError(e.to_string()))?;
                waiting.into_iter().next().ok_or_else(|| {
                    CheckError(format!(
                        "no .xlsx or .csv file waits in {}: give one with --file FILE",
                        folder.display()
                    ))
                })?
            }
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| CheckError(format!("cannot read {}: {e}", path.display())))?;
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let now = crate::domain::time::epoch(clock.now());
        let read = import::read_file(src, &file_name, &bytes, now, records)
            .map_err(|e| CheckError(format!("{}: {e}", path.display())))?;
        let _ = writeln!(
            out,
            "\n{}: {}{}, header row {}: {} row(s), {} valid, {} rejected",
            fields::table_name(read.list),
            path.display(),
            read.sheet
                .as_deref()
                .map(|s| format!(", sheet '{s}'"))
                .unwrap_or_default(),
            read.header_row,
            read.rows,
            read.records.len(),
            read.rejections.len()
        );
        for (row, lines, outcome) in &read.explained {
            let key = lines
                .iter()
                .find(|l| l.contract == fields::key_field(read.list))
                .and_then(|l| l.contract_value.clone().ok().flatten())
                .unwrap_or_default();
            write_record(
                &mut out,
                &format!("row {row} ({} {key})", fields::key_field(read.list)),
                lines,
                outcome,
            );
        }
        write_rejections(
            &mut out,
            read.rejections
                .iter()
                .map(|(row, r)| format!("row {row} ({}): {}", r.key, r.reason)),
            read.rows,
        );
        return Ok(out);
    }

    let client = SourceClient::new(name, src, clock).map_err(|e| CheckError(e.to_string()))?;
    let pager = Pager::new(&src.paging).map_err(CheckError)?;
    let style = if src.is_contract() {
        "the contract's shape".to_string()
    } else {
        format!("mapped, {} paging", pager.style().as_str())
    };
    let _ = writeln!(
        out,
        "Source {name} ({}), {}, {style}",
        src.kind.as_str(),
        src.base_url
    );
    let lists: &[RecordKind] = match src.kind {
        SourceKind::OneStop => &[RecordKind::Procedure, RecordKind::Dossier],
        _ => &[RecordKind::Document],
    };
    for kind in lists {
        let plan = ListPlan::of_source(*kind, src).map_err(|problems| {
            let l: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
            CheckError(format!("the mapping is invalid: {}", l.join("; ")))
        })?;
        let query = if plan.paged {
            pager.query(None, &pager.first(), client.page_size)
        } else {
            pager
                .settings
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let shown_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "\n{}: GET {}{}{}",
            fields::table_name(*kind),
            client.url(&plan.path),
            if shown_query.is_empty() { "" } else { "?" },
            shown_query.join("&")
        );
        let fetched = client
            .fetch(&plan.path, &query)
            .await
            .map_err(|e| CheckError(e.to_string()))?;
        let root: &RawValue = serde_json::from_slice(&fetched.body)
            .map_err(|e| CheckError(format!("the answer is not JSON: {e}")))?;
        let raws = paging::records_at(root, &plan.records).map_err(CheckError)?;
        let mut rejections = Vec::new();
        let mut shown = 0;
        for raw in &raws {
            let v: serde_json::Value = serde_json::from_str(raw.get())
                .map_err(|e| CheckError(format!("a record is not JSON: {e}")))?;
            let outcome = match kind {
                RecordKind::Dossier => plan.parse_dossier(&v).map(|_| ()),
                RecordKind::Document => plan.parse_document(&v).map(|_| ()),
                RecordKind::Procedure => plan.parse_procedure(&v).map(|_| ()),
            };
            if shown < records {
                shown += 1;
                let lines = plan.explain(&v);
                let key = plan.key_of(&v).unwrap_or_else(|| "(no key)".into());
                write_record(
                    &mut out,
                    &format!("record {shown} ({} {key})", fields::key_field(*kind)),
                    &lines,
                    &outcome.as_ref().map(|_| ()).map_err(|r| r.reason.clone()),
                );
            }
            if let Err(r) = outcome {
                rejections.push(format!("{}: {}", r.key, r.reason));
            }
        }
        let _ = writeln!(out, "  {} record(s) on this page", raws.len());
        write_rejections(&mut out, rejections.into_iter(), raws.len());
    }
    Ok(out)
}

fn pad(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn write_record(out: &mut String, title: &str, lines: &[Explained], outcome: &Result<(), String>) {
    let verdict = match outcome {
        Ok(()) => "valid".to_string(),
        Err(reason) => format!("REJECTED: {reason}"),
    };
    let _ = writeln!(out, "  {title}: {verdict}");
    let cw = lines
        .iter()
        .map(|l| UnicodeWidthStr::width(l.contract.as_str()))
        .max()
        .unwrap_or(0)
        .max(14);
    let vw = lines
        .iter()
        .map(|l| UnicodeWidthStr::width(l.vendor.as_str()))
        .max()
        .unwrap_or(0)
        .max(12);
    let valw = lines
        .iter()
        .map(|l| UnicodeWidthStr::width(l.vendor_value.as_deref().unwrap_or("(absent)")))
        .max()
        .unwrap_or(0)
        .clamp(12, 44);
    let _ = writeln!(
        out,
        "    {}  {}  {}  → contract value",
        pad("contract field", cw),
        pad("vendor field", vw),
        pad("vendor value", valw)
    );
    for l in lines {
        let contract_value = match &l.contract_value {
            Ok(Some(v)) => v.clone(),
            Ok(None) => "(absent)".into(),
            Err(e) => format!("✗ {e}"),
        };
        let _ = writeln!(
            out,
            "    {}  {}  {}  → {contract_value}",
            pad(&l.contract, cw),
            pad(&l.vendor, vw),
            pad(l.vendor_value.as_deref().unwrap_or("(absent)"), valw)
        );
    }
}

fn write_rejections(out: &mut String, rejections: impl Iterator<Item = String>, of: usize) {
    let list: Vec<String> = rejections.collect();
    let _ = writeln!(out, "  rejections: {} of {of}", list.len());
    for r in list {
        let _ = writeln!(out, "    {r}");
    }
}
