//! The mapping layer: how a source whose API (or spreadsheet) differs from the contract becomes
//! contract records, declared in the configuration rather than in code (docs/mapping.md).
//!
//! - [`paging`]: the requests of the cursor, offset and page styles, and reading an answer;
//! - [`check`]: `dondoc check-source`, a page read through the mapping and explained;
//! - [`list`]: a mapped list as an endpoint of the one poll loop;
//! - this module: parsing through a [`ListPlan`] (compiled and validated with the configuration,
//!   `crate::config::mapping`): a vendor record becomes a contract-shaped record and goes to
//!   [`crate::upstream::records`], so that a mapped record goes through exactly the validation
//!   of a contract record.
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
pub mod list;
pub mod paging;

pub(crate) use crate::config::mapping::plan::fold;
pub use crate::config::mapping::plan::{
    Addressing, Explained, ListPlan, PlanProblem, unused_fields,
};
/// The configuration side of a mapping: its keys, contract fields, date formats and validation.
pub use crate::config::mapping::{dates, fields, settings, validate};
pub use validate::validate_source;

use crate::config::{SourceKind, SourceSettings};
use crate::upstream::records::{self, Document, Dossier, Parsed, Procedure, Rejection};
use serde_json::Value;

/// Parsing through a plan: the transformed record goes through exactly the validation of a
/// contract record (`crate::upstream::records`), and its rejections name the vendor's fields.
impl ListPlan {
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
