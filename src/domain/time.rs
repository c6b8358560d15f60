//! Time in dondoc: the clock every job reads "now" from, and instants as dondoc stores and
//! exchanges them (the one date parser of the project).
//!
//! **The clock.** Nothing deep inside dondoc calls `Utc::now()`: jobs receive the instant they run
//! at, and the few places that need the wall clock (the CLI, the simulator, the daemon) get a
//! [`Clock`] passed in. Tests use [`ManualClock`] so that time moves only when they say so.
//!
//! **Instants.** Upstream systems write dates as `yyyyMMddHHmmss` in local time
//! (Asia/Ho_Chi_Minh, UTC+7, no daylight saving). dondoc stores every instant as whole seconds
//! since the Unix epoch (an `i64`), which compares to the second as metrics.md asks and is the
//! same in SQLite and PostgreSQL.
//!
//! This module must never sleep or schedule: it only tells the time and converts it.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::Mutex;

/// The zone of every period and every upstream date.
pub const ZONE: Tz = chrono_tz::Asia::Ho_Chi_Minh;

/// Seconds since the Unix epoch, UTC.
pub type Epoch = i64;

/// Why a compact upstream date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("'{0}' is not a date of the form yyyyMMddHHmmss")]
    Shape(String),
    #[error("'{0}' is not a real date and time")]
    Invalid(String),
}

/// Parses `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh. An empty string is absent (`Ok(None)`).
pub fn parse_compact(s: &str) -> Result<Option<Epoch>, DateError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Shape(shorten(s)));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .map_err(|_| DateError::Invalid(s.to_string()))?;
    local_to_epoch(naive)
        .map(Some)
        .ok_or_else(|| DateError::Invalid(s.to_string()))
}

/// A local (Asia/Ho_Chi_Minh) wall time as epoch seconds; `None` only for a time that does not
/// exist in the zone (never since 1975, as Vietnam keeps no daylight saving).
pub fn local_to_epoch(naive: NaiveDateTime) -> Option<Epoch> {
    ZONE.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp())
}

/// Formats epoch seconds as the upstream `yyyyMMddHHmmss`, local time.
pub fn format_compact(t: Epoch) -> String {
    to_local(t).format("%Y%m%d%H%M%S").to_string()
}

/// Epoch seconds as a local date-time.
pub fn to_local(t: Epoch) -> DateTime<Tz> {
    ZONE.timestamp_opt(t, 0)
        .single()
        .unwrap_or_else(|| ZONE.timestamp_opt(0, 0).unwrap())
}

/// RFC 3339 with the local offset (`2024-06-30T17:00:00+07:00`), as the CLI prints instants.
pub fn rfc3339(t: Epoch) -> String {
    let local = to_local(t);
    let fixed: DateTime<FixedOffset> = local.fixed_offset();
    fixed.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Epoch seconds of a UTC instant.
pub fn epoch(t: DateTime<Utc>) -> Epoch {
    t.timestamp()
}

/// A UTC instant of epoch seconds.
pub fn utc(t: Epoch) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        let head: String = s.chars().take(40).collect();
        format!("{head}…")
    } else {
        s.to_string()
    }
}

// ---- the clock ----

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced (for tests and benchmarks).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    pub fn advance(&self, by: Duration) {
        let mut guard = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *guard += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_time_as_utc_plus_7() {
        let t = parse_compact("20240501000000").unwrap().unwrap();
        assert_eq!(rfc3339(t), "2024-05-01T00:00:00+07:00");
        assert_eq!(utc(t).to_rfc3339(), "2024-04-30T17:00:00+00:00");
        assert_eq!(format_compact(t), "20240501000000");
    }

    #[test]
    fn empty_is_absent_and_garbage_is_an_error() {
        assert_eq!(parse_compact(""), Ok(None));
        assert_eq!(parse_compact("  "), Ok(None));
        assert!(matches!(
            parse_compact("2024-05-01"),
            Err(DateError::Shape(_))
        ));
        assert!(matches!(
            parse_compact("20241301000000"),
            Err(DateError::Invalid(_))
        ));
        assert!(matches!(
            parse_compact("20240230000000"),
            Err(DateError::Invalid(_))
        ));
    }
}
