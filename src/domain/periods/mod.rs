//! Calendar periods in Asia/Ho_Chi_Minh (metrics.md, "Time"): the one place that knows where a
//! month, a quarter or a year starts and ends.
//!
//! Pure: no clock, no I/O.

use super::time::{Epoch, local_to_epoch, to_local};
use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

pub mod reporting;
pub use reporting::{Basis, ReportPeriod};

/// Month, quarter or year.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 3] = [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }
}

/// One calendar period: `2024-05`, `2024-Q2` or `2024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub kind: PeriodKind,
    pub year: i32,
    /// Month 1..=12, quarter 1..=4, or 1 for a year.
    pub index: u32,
}

impl Period {
    /// The period of `kind` that contains the instant `t`.
    pub fn containing(kind: PeriodKind, t: Epoch) -> Period {
        let local = to_local(t);
        let (year, month) = (local.year(), local.month());
        let index = match kind {
            PeriodKind::Month => month,
            PeriodKind::Quarter => (month - 1) / 3 + 1,
            PeriodKind::Year => 1,
        };
        Period { kind, year, index }
    }

    fn first_month(&self) -> u32 {
        match self.kind {
            PeriodKind::Month => self.index,
            PeriodKind::Quarter => (self.index - 1) * 3 + 1,
            PeriodKind::Year => 1,
        }
    }

    fn months(&self) -> u32 {
        match self.kind {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        }
    }

    /// Local midnight starting the period, as epoch seconds.
    pub fn start(&self) -> Epoch {
        month_start(self.year, self.first_month())
    }

    /// Local midnight after the period (exclusive end).
    pub fn end(&self) -> Epoch {
        let m0 = self.first_month() - 1 + self.months();
        month_start(self.year + (m0 / 12) as i32, m0 % 12 + 1)
    }

    /// The evaluation horizon `e = min(P.end, as_of)`.
    pub fn horizon(&self, as_of: Epoch) -> Epoch {
        self.end().min(as_of)
    }

    /// The period just before this one, of the same kind.
    pub fn previous(&self) -> Period {
        let count = match self.kind {
            PeriodKind::Month => 12,
            PeriodKind::Quarter => 4,
            PeriodKind::Year => 1,
        };
        if self.kind == PeriodKind::Year {
            Period {
                year: self.year - 1,
                ..*self
            }
        } else if self.index == 1 {
            Period {
                year: self.year - 1,
                index: count,
                ..*self
            }
        } else {
            Period {
                index: self.index - 1,
                ..*self
            }
        }
    }

    /// The label, in Vietnamese, for mail and reports: "Tháng 5/2024", "Quý 2/2024", "Năm 2024".
    pub fn label_vi(&self) -> String {
        match self.kind {
            PeriodKind::Month => format!("Tháng {}/{}", self.index, self.year),
            PeriodKind::Quarter => format!("Quý {}/{}", self.index, self.year),
            PeriodKind::Year => format!("Năm {}", self.year),
        }
    }
}

fn month_start(year: i32, month: u32) -> Epoch {
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    local_to_epoch(date.and_hms_opt(0, 0, 0).unwrap_or_default()).unwrap_or_default()
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{}-{:02}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{}-Q{}", self.year, self.index),
            PeriodKind::Year => write!(f, "{}", self.year),
        }
    }
}

/// A period label that is none of `2024-05`, `2024-Q2`, `2024`.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a period: write 2024-05 (a month), 2024-Q2 (a quarter) or 2024 (a year)")]
pub struct PeriodParseError(String);

impl FromStr for Period {
    type Err = PeriodParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodParseError(s.to_string());
        let s = s.trim();
        let (year, rest) = match s.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (s, None),
        };
        if year.len() != 4 {
            return Err(err());
        }
        let year: i32 = year.parse().map_err(|_| err())?;
        match rest {
            None => Ok(Period {
                kind: PeriodKind::Year,
                year,
                index: 1,
            }),
            Some(r) if r.starts_with(['Q', 'q']) => {
                let q: u32 = r[1..].parse().map_err(|_| err())?;
                if (1..=4).contains(&q) {
                    Ok(Period {
                        kind: PeriodKind::Quarter,
                        year,
                        index: q,
                    })
                } else {
                    Err(err())
                }
            }
            Some(r) => {
                let m: u32 = r.parse().map_err(|_| err())?;
                if (1..=12).contains(&m) && r.len() == 2 {
                    Ok(Period {
                        kind: PeriodKind::Month,
                        year,
                        index: m,
                    })
                } else {
                    Err(err())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::{parse_compact, rfc3339};

    fn at(s: &str) -> Epoch {
        parse_compact(s).unwrap().unwrap()
    }

    #[test]
    fn quarter_boundaries_are_local_midnights() {
        let q = Period::containing(PeriodKind::Quarter, at("20240515120000"));
        assert_eq!(q.to_string(), "2024-Q2");
        assert_eq!(rfc3339(q.start()), "2024-04-01T00:00:00+07:00");
        assert_eq!(rfc3339(q.end()), "2024-07-01T00:00:00+07:00");
        // the first second of July belongs to Q3; the last second of June to Q2
        assert_eq!(
            Period::containing(PeriodKind::Quarter, at("20240701000000")).index,
            3
        );
        assert_eq!(
            Period::containing(PeriodKind::Quarter, at("20240630235959")).index,
            2
        );
    }

    #[test]
    fn months_years_and_previous() {
        let m = Period::containing(PeriodKind::Month, at("20241231235959"));
        assert_eq!(m.to_string(), "2024-12");
        assert_eq!(rfc3339(m.end()), "2025-01-01T00:00:00+07:00");
        assert_eq!(m.previous().to_string(), "2024-11");
        let q1: Period = "2024-Q1".parse().unwrap();
        assert_eq!(q1.previous().to_string(), "2023-Q4");
        let y: Period = "2024".parse().unwrap();
        assert_eq!(rfc3339(y.start()), "2024-01-01T00:00:00+07:00");
        assert_eq!(y.previous().to_string(), "2023");
        assert!("2024-13".parse::<Period>().is_err());
        assert!("2024-Q5".parse::<Period>().is_err());
        assert_eq!(
            "2024-05".parse::<Period>().unwrap().label_vi(),
            "Tháng 5/2024"
        );
    }
}
