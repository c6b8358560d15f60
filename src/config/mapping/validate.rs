//! Validation of a source's mapping keys: every problem, each with its key path
//! (`sources.motcua.dossiers.fields.TrangThaiHoSo.map.Mới`), for [`crate::config::validate`].

use super::dates::DateFormat;
use super::plan::{ListPlan, pointer_problem};
use super::settings::{AuthStyle, PagingStyle};
use crate::config::{Problem, SourceKind, SourceSettings};
use crate::domain::records::RecordKind;

/// What the mapping of source `name` says that dondoc ignores (not an error): contract fields it
/// does not use.
pub fn warnings_source(name: &str, src: &SourceSettings, w: &mut Vec<Problem>) {
    for kind in [
        RecordKind::Dossier,
        RecordKind::Procedure,
        RecordKind::Document,
    ] {
        let m = match kind {
            RecordKind::Dossier => src.dossiers.as_ref(),
            RecordKind::Procedure => src.procedures.as_ref(),
            RecordKind::Document => src.documents.as_ref(),
        };
        let Some(m) = m else { continue };
        let table = super::fields::table_name(kind);
        for (path, msg) in super::plan::unused_fields(m) {
            w.push(Problem::new(format!("sources.{name}.{table}.{path}"), msg));
        }
    }
}

/// Every problem of the mapping keys of source `name`.
pub fn validate_source(name: &str, src: &SourceSettings, p: &mut Vec<Problem>) {
    let at = |k: &str| format!("sources.{name}.{k}");
    let lists: [(RecordKind, bool); 3] = [
        (RecordKind::Dossier, src.dossiers.is_some()),
        (RecordKind::Procedure, src.procedures.is_some()),
        (RecordKind::Document, src.documents.is_some()),
    ];
    // Which lists a kind of source has.
    for (kind, present) in lists {
        let table = super::fields::table_name(kind);
        let allowed = match src.kind {
            SourceKind::OneStop => kind != RecordKind::Document,
            SourceKind::Documents => kind == RecordKind::Document,
            SourceKind::Import => true,
        };
        if present && !allowed {
            p.push(Problem::new(
                at(table),
                format!(
                    "a source of kind \"{}\" has no {table} list: {}",
                    src.kind.as_str(),
                    if src.kind == SourceKind::Documents {
                        "a documents source has only [documents]"
                    } else {
                        "a one_stop source has [dossiers] and [procedures]; documents come from a source of kind \"documents\""
                    }
                ),
            ));
            continue;
        }
        if !allowed || (src.kind == SourceKind::Import && !present) {
            continue;
        }
        if let Err(problems) = ListPlan::of_source(kind, src) {
            for (path, msg) in problems {
                p.push(Problem::new(at(&format!("{table}.{path}")), msg));
            }
        }
        let m = match kind {
            RecordKind::Dossier => src.dossiers.as_ref(),
            RecordKind::Procedure => src.procedures.as_ref(),
            RecordKind::Document => src.documents.as_ref(),
        };
        let Some(m) = m else { continue };
        let import_only = [
            ("sheet", m.sheet.is_some()),
            ("header_row", m.header_row.is_some()),
            ("delimiter", m.delimiter.is_some()),
            ("files", m.files.is_some()),
        ];
        let http_only = [
            ("path", m.path.is_some()),
            ("records", m.records.is_some()),
            ("paged", m.paged.is_some()),
        ];
        let (wrong, why) = if src.kind == SourceKind::Import {
            (
                &http_only[..],
                "belongs to an HTTP source; an import source reads files",
            )
        } else {
            (
                &import_only[..],
                "belongs to an import source (kind = \"import\")",
            )
        };
        for (key, set) in wrong {
            if *set {
                p.push(Problem::new(
                    at(&format!("{table}.{key}")),
                    format!("{key} {why}"),
                ));
            }
        }
        if m.header_row == Some(0) {
            p.push(Problem::new(
                at(&format!("{table}.header_row")),
                "rows count from 1",
            ));
        }
        if let Some(d) = &m.delimiter
            && d.chars().count() != 1
            && d != "\\t"
        {
            p.push(Problem::new(
                at(&format!("{table}.delimiter")),
                format!("'{d}' is not one character (\",\", \";\" or \"\\t\")"),
            ));
        }
        if let Some(path) = &m.path
            && (path.contains("://") || path.contains('?'))
        {
            p.push(Problem::new(
                at(&format!("{table}.path")),
                format!("'{path}' is a path under base_url (put fixed parameters in [sources.{name}.paging] query)"),
            ));
        }
    }

    if src.kind == SourceKind::Import {
        match &src.folder {
            None => p.push(Problem::new(
                at("folder"),
                "is required for kind = \"import\": the folder whose .xlsx and .csv files are imported",
            )),
            Some(f) if f.as_os_str().is_empty() => {
                p.push(Problem::new(at("folder"), "is empty"))
            }
            _ => {}
        }
        if lists.iter().all(|(_, present)| !present) {
            p.push(Problem::new(
                format!("sources.{name}"),
                "an import source needs a column mapping: add [sources.NAME.dossiers] (or documents, procedures) with its fields",
            ));
        }
        if src.auth.is_some() {
            p.push(Problem::new(
                at("auth"),
                "an import source reads files: it has no auth",
            ));
        }
        return;
    }
    if src.folder.is_some() {
        p.push(Problem::new(
            at("folder"),
            "belongs to a source of kind \"import\"",
        ));
    }

    // Authentication.
    if let Some(a) = &src.auth {
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match a.style {
            AuthStyle::Bearer => {}
            AuthStyle::Basic | AuthStyle::Login => {
                if !present(&a.username) {
                    p.push(Problem::new(
                        at("auth.username"),
                        format!("is required with style = \"{}\"", style_name(a.style)),
                    ));
                }
                if a.password.is_none() {
                    p.push(Problem::new(
                        at("auth.password"),
                        format!(
                            "is required with style = \"{}\": set it in DONDOC__SOURCES__{}__AUTH__PASSWORD or auth.password_file",
                            style_name(a.style),
                            name.to_uppercase()
                        ),
                    ));
                }
                if src.token.is_some() {
                    p.push(Problem::new(
                        at("token"),
                        format!(
                            "is not used with auth.style = \"{}\": remove it",
                            style_name(a.style)
                        ),
                    ));
                }
            }
        }
        if a.style == AuthStyle::Login {
            if !present(&a.login_path) {
                p.push(Problem::new(
                    at("auth.login_path"),
                    "is required with style = \"login\": the path the credentials are POSTed to",
                ));
            }
            if let Some(msg) = pointer_problem(&a.token_pointer) {
                p.push(Problem::new(at("auth.token_pointer"), msg));
            }
            if let Some(e) = &a.expires_pointer
                && let Some(msg) = pointer_problem(e)
            {
                p.push(Problem::new(at("auth.expires_pointer"), msg));
            }
        }
        if a.header.trim().is_empty()
            || reqwest::header::HeaderName::from_bytes(a.header.as_bytes()).is_err()
        {
            p.push(Problem::new(
                at("auth.header"),
                format!("'{}' is not an HTTP header name", a.header),
            ));
        }
    }

    // Paging.
    let pg = &src.paging;
    if let Err(e) = DateFormat::parse(&pg.updated_since_format) {
        p.push(Problem::new(at("paging.updated_since_format"), e));
    }
    let required: &[(&str, &String)] = match pg.style {
        PagingStyle::Cursor => &[
            ("limit_param", &pg.limit_param),
            ("cursor_param", &pg.cursor_param),
        ],
        PagingStyle::Offset => &[
            ("limit_param", &pg.limit_param),
            ("offset_param", &pg.offset_param),
        ],
        PagingStyle::Page => &[
            ("limit_param", &pg.limit_param),
            ("page_param", &pg.page_param),
        ],
    };
    for (key, v) in required {
        if v.trim().is_empty() {
            p.push(Problem::new(
                at(&format!("paging.{key}")),
                format!("is empty; style = \"{}\" needs it", pg.style.as_str()),
            ));
        }
    }
    for (key, v) in [
        ("next_cursor", Some(&pg.next_cursor)),
        ("total", pg.total.as_ref()),
        ("pages", pg.pages.as_ref()),
    ] {
        if let Some(v) = v
            && let Some(msg) = pointer_problem(v)
        {
            p.push(Problem::new(at(&format!("paging.{key}")), msg));
        }
    }
    if pg.max_reads == 0 {
        p.push(Problem::new(at("paging.max_reads"), "must be at least 1"));
    }
    if pg.pages.is_some() && pg.style != PagingStyle::Page {
        p.push(Problem::new(
            at("paging.pages"),
            "is read only with style = \"page\"",
        ));
    }
}

fn style_name(s: AuthStyle) -> &'static str {
    match s {
        AuthStyle::Bearer => "bearer",
        AuthStyle::Basic => "basic",
        AuthStyle::Login => "login",
    }
}
