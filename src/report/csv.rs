//! The report as CSV, for scripts: one row per unit and committed criterion (the root unit, the
//! whole city, first within each criterion), RFC 4180 (CRLF, fields quoted when needed), UTF-8
//! with a byte-order mark so that spreadsheet programs show the diacritics of unit names.
//!
//! Column names are ASCII for scripts; `value` and `previous_value` are fractions (0..1, a dot as
//! the decimal separator), empty when there is none; `target_min` / `target_max` are in percent
//! as in the configuration; `state` is the machine name (`ok`, `breach`, …) and `state_vi` the
//! words of the xlsx. The action lists and data quality are in the xlsx and html formats only.
//!
//! Pure.

use super::model::Report;
use super::state_vi;
use crate::domain::time::rfc3339;

/// The byte-order mark that opens the file.
pub const BOM: &str = "\u{feff}";

/// The header row.
pub const COLUMNS: [&str; 21] = [
    "period",
    "basis",
    "period_start",
    "period_end",
    "as_of",
    "unit",
    "unit_name",
    "depth",
    "metric",
    "metric_vi",
    "scope",
    "target_min",
    "target_max",
    "numerator",
    "denominator",
    "value",
    "state",
    "state_vi",
    "previous_value",
    "change_points",
    "dondoc_version",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The whole CSV text, BOM first.
pub fn render(r: &Report) -> String {
    let mut out = String::from(BOM);
    out.push_str(&COLUMNS.join(","));
    out.push_str("\r\n");
    for c in &r.criteria {
        for l in &c.lines {
            let cells = [
                r.period.period.to_string(),
                r.period.basis.as_str().to_string(),
                rfc3339(r.period.start),
                rfc3339(r.period.end),
                rfc3339(r.as_of),
                l.unit.clone(),
                l.unit_name.clone(),
                l.depth.to_string(),
                c.metric.as_str().to_string(),
                c.metric.label_vi().to_string(),
                c.scope.clone().unwrap_or_default(),
                num(l.target.and_then(|t| t.min)),
                num(l.target.and_then(|t| t.max)),
                l.numerator.to_string(),
                l.denominator.to_string(),
                num(l.value),
                l.state.as_str().to_string(),
                state_vi(l.state).to_string(),
                num(l.previous),
                num(l.change_points().map(|p| (p * 10_000.0).round() / 10_000.0)),
                r.version.to_string(),
            ];
            let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(super::field("UBND Phường 1"), "UBND Phường 1");
        assert_eq!(super::field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }
}
