//! Date formats of a mapping: how a vendor writes an instant, in both directions (reading its
//! records, writing its `updated_since` parameter).
//!
//! A format is one of
//! - a pattern of `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`, `SSS` (milliseconds) and literal
//!   characters, such as `yyyyMMddHHmmss` (the contract's) or `dd/MM/yyyy HH:mm:ss`; a pattern
//!   without a time of day reads midnight; a pattern is local time, Asia/Ho_Chi_Minh;
//! - `rfc3339`: `2024-05-01T08:00:00+07:00`, `…Z`, with or without fractions; without an offset
//!   the value is local time;
//! - `epoch_ms` or `epoch_s`: milliseconds or seconds since 1970-01-01 UTC, as a number or a
//!   string of digits.
//!
//! Fractions of a second are dropped (the contract counts whole seconds).

use crate::domain::time::{Epoch, local_to_epoch, parse_compact, to_local};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

/// A value that is not a date of the format (the caller names the field and the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotADate;

/// One date format, ready to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    /// `yyyyMMddHHmmss` (through the project's one compact parser).
    Compact,
    Rfc3339,
    EpochMs,
    EpochS,
    Pattern {
        /// The administrator's spelling, for messages.
        label: String,
        /// The same as a chrono format string.
        chrono: String,
        has_time: bool,
    },
}

impl DateFormat {
    /// Reads a format as the configuration spells it; the error says what is wrong.
    pub fn parse(spec: &str) -> Result<DateFormat, String> {
        let s = spec.trim();
        match s {
            "yyyyMMddHHmmss" => return Ok(DateFormat::Compact),
            "rfc3339" | "RFC3339" | "iso8601" => return Ok(DateFormat::Rfc3339),
            "epoch_ms" => return Ok(DateFormat::EpochMs),
            "epoch_s" | "epoch_seconds" => return Ok(DateFormat::EpochS),
            "" => return Err("is empty".into()),
            _ => {}
        }
        let mut chrono = String::new();
        let mut has_date = (false, false, false);
        let mut has_time = false;
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|x| **x == c).count();
            let item = match (c, run) {
                ('y', 4) => {
                    has_date.0 = true;
                    "%Y"
                }
                ('M', 1 | 2) => {
                    has_date.1 = true;
                    "%m"
                }
                ('d', 1 | 2) => {
                    has_date.2 = true;
                    "%d"
                }
                ('H', 1 | 2) => {
                    has_time = true;
                    "%H"
                }
                ('m', 1 | 2) => "%M",
                ('s', 1 | 2) => "%S",
                ('S', 3) => "%3f",
                ('T', 1) => "T",
                (c, _) if c.is_ascii_alphabetic() => {
                    return Err(format!(
                        "'{spec}' is not a date format: '{}' is not one of yyyy MM dd HH mm ss SSS \
                         (or use rfc3339, epoch_ms, epoch_s)",
                        chars[i..i + run].iter().collect::<String>()
                    ));
                }
                ('%', _) => {
                    return Err(format!("'{spec}' is not a date format: '%' is not allowed"));
                }
                _ => {
                    chrono.extend(std::iter::repeat_n(c, run));
                    i += run;
                    continue;
                }
            };
            chrono.push_str(item);
            i += run;
        }
        if has_date != (true, true, true) {
            return Err(format!(
                "'{spec}' is not a date format: it needs yyyy, MM and dd"
            ));
        }
        Ok(DateFormat::Pattern {
            label: s.to_string(),
            chrono,
            has_time,
        })
    }

    /// How the format is named in messages.
    pub fn label(&self) -> &str {
        match self {
            DateFormat::Compact => "yyyyMMddHHmmss",
            DateFormat::Rfc3339 => "rfc3339",
            DateFormat::EpochMs => "epoch_ms",
            DateFormat::EpochS => "epoch_s",
            DateFormat::Pattern { label, .. } => label,
        }
    }

    /// Reads one vendor value: `Ok(None)` when absent (`null`, `""`), `Err(NotADate)` when the
    /// value is not a date of this format.
    pub fn read(&self, v: &Value) -> Result<Option<Epoch>, NotADate> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => self.read_str(s),
            Value::Number(n) => match self {
                DateFormat::EpochMs => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                    .map(|ms| Some(ms.div_euclid(1000)))
                    .ok_or(NotADate),
                DateFormat::EpochS => n
                    .as_i64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.is_finite())
                            .map(|f| f.floor() as i64)
                    })
                    .map(Some)
                    .ok_or(NotADate),
                _ => match n.as_u64() {
                    Some(u) => self.read_str(&u.to_string()),
                    None => Err(NotADate),
                },
            },
            _ => Err(NotADate),
        }
    }

    fn read_str(&self, s: &str) -> Result<Option<Epoch>, NotADate> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        match self {
            DateFormat::Compact => parse_compact(s).map_err(|_| NotADate),
            DateFormat::Rfc3339 => read_rfc3339(s).map(Some).ok_or(NotADate),
            DateFormat::EpochMs | DateFormat::EpochS => {
                let n: i64 = s.parse().map_err(|_| NotADate)?;
                Ok(Some(if *self == DateFormat::EpochMs {
                    n.div_euclid(1000)
                } else {
                    n
                }))
            }
            DateFormat::Pattern {
                chrono, has_time, ..
            } => {
                let naive = if *has_time {
                    NaiveDateTime::parse_from_str(s, chrono).map_err(|_| NotADate)?
                } else {
                    NaiveDate::parse_from_str(s, chrono)
                        .map_err(|_| NotADate)?
                        .and_hms_opt(0, 0, 0)
                        .ok_or(NotADate)?
                };
                local_to_epoch(naive).map(Some).ok_or(NotADate)
            }
        }
    }

    /// Writes an instant in this format (for `updated_since`).
    pub fn write(&self, t: Epoch) -> String {
        match self {
            DateFormat::Compact => crate::domain::time::format_compact(t),
            DateFormat::Rfc3339 => crate::domain::time::rfc3339(t),
            DateFormat::EpochMs => (t * 1000).to_string(),
            DateFormat::EpochS => t.to_string(),
            DateFormat::Pattern { chrono, .. } => to_local(t)
                .format(&chrono.replace("%3f", "000"))
                .to_string(),
        }
    }
}

/// RFC 3339 / ISO 8601 with `T` or a space; without an offset, local time.
fn read_rfc3339(s: &str) -> Option<Epoch> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    let normalized = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(t.timestamp());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&normalized, f) {
            return local_to_epoch(n);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local_to_epoch(d.and_hms_opt(0, 0, 0)?);
    }
    None
}

/// A spreadsheet's own date cell, as the import reader renders it (`yyyy-MM-ddTHH:mm:ss`, local
/// time): accepted in every import date field whatever its format, since the cell is a date.
pub fn read_sheet_date(s: &str) -> Option<Epoch> {
    let s = s.trim();
    if s.len() != 19 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .and_then(local_to_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Epoch {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn every_documented_format_reads_the_same_instant() {
        let t = at("2024-05-01T08:30:15+07:00");
        let cases = [
            ("yyyyMMddHHmmss", json!("20240501083015")),
            ("dd/MM/yyyy HH:mm:ss", json!("01/05/2024 08:30:15")),
            ("d/M/yyyy H:mm:ss", json!("1/5/2024 8:30:15")),
            ("yyyy-MM-dd HH:mm:ss.SSS", json!("2024-05-01 08:30:15.250")),
            ("rfc3339", json!("2024-05-01T01:30:15Z")),
            ("rfc3339", json!("2024-05-01T08:30:15+07:00")),
            ("rfc3339", json!("2024-05-01T08:30:15")),
            ("rfc3339", json!("2024-05-01T08:30:15.123+07:00")),
            ("epoch_ms", json!(t * 1000 + 999)),
            ("epoch_ms", json!((t * 1000).to_string())),
            ("epoch_s", json!(t)),
        ];
        for (f, v) in cases {
            let fmt = DateFormat::parse(f).unwrap();
            assert_eq!(fmt.read(&v), Ok(Some(t)), "{f} {v}");
        }
        let d = DateFormat::parse("dd/MM/yyyy").unwrap();
        assert_eq!(
            d.read(&json!("01/05/2024")),
            Ok(Some(at("2024-05-01T00:00:00+07:00")))
        );
        assert_eq!(d.read(&json!("")), Ok(None));
        assert_eq!(d.read(&Value::Null), Ok(None));
        assert_eq!(d.read(&json!("31/02/2024")), Err(NotADate));
        assert_eq!(d.read(&json!(true)), Err(NotADate));
    }

    #[test]
    fn formats_write_what_they_read() {
        let t = at("2024-05-01T08:30:15+07:00");
        for f in [
            "yyyyMMddHHmmss",
            "dd/MM/yyyy HH:mm:ss",
            "rfc3339",
            "epoch_ms",
            "epoch_s",
            "yyyy-MM-ddTHH:mm:ss",
        ] {
            let fmt = DateFormat::parse(f).unwrap();
            let w = fmt.write(t);
            assert_eq!(fmt.read(&json!(w)), Ok(Some(t)), "{f}: {w}");
        }
        assert_eq!(
            DateFormat::parse("dd/MM/yyyy HH:mm:ss").unwrap().write(t),
            "01/05/2024 08:30:15"
        );
    }

    #[test]
    fn bad_formats_say_why() {
        assert!(DateFormat::parse("dd/MM/yy").unwrap_err().contains("yy"));
        assert!(
            DateFormat::parse("HH:mm")
                .unwrap_err()
                .contains("needs yyyy")
        );
        assert!(DateFormat::parse("%Y").is_err());
        assert!(DateFormat::parse("").is_err());
        assert_eq!(
            read_sheet_date("2024-05-01T08:30:15"),
            Some(at("2024-05-01T08:30:15+07:00"))
        );
    }
}
