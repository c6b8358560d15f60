//! The period a report covers: a month, quarter or year named as in metrics.md (`2024-05`,
//! `2024-Q2`, `2024`), cut on one of two bases.
//!
//! - [`Basis::Calendar`]: the calendar period of metrics.md ("Time"): `2024-Q2` is
//!   [1 April 00:00, 1 July 00:00).
//! - [`Basis::Reporting`]: the official cut-off of periodic reports in Vietnam (Nghị định
//!   09/2019/NĐ-CP, Điều 12): a month runs from the 15th of the month before it to the 14th of the
//!   month; a quarter from the 15th of the month before it to the 14th of its last month
//!   (`2024-Q2` is [15 March 00:00, 15 June 00:00)); a year from 15 December of the previous
//!   year to 14 December (`2024` is [15 December 2023 00:00, 15 December 2024 00:00)).
//!
//! Choices, written down: a reporting period keeps the name of the calendar period it mostly
//! overlaps and ends in (the reporting `2024-Q2` ends on 14 June, inside the calendar Q2); a
//! reporting quarter is exactly the union of its three reporting months and a reporting year of
//! its four quarters, so the two bases never disagree on which dossiers a period holds except at
//! its edges. Bounds are local midnights in Asia/Ho_Chi_Minh, exact to the second: the 14th
//! 23:59:59 is inside, the 15th 00:00:00 is the next period's first second.
//!
//! Pure: no clock, no I/O.

use super::super::time::{Epoch, local_to_epoch, to_local};
use super::{Period, PeriodKind};
use chrono::{Datelike, NaiveDate};

/// How a period is cut.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Calendar months, quarters and years (metrics.md).
    Calendar,
    /// The official reporting cut-off: the 15th of the month before to the 14th.
    #[default]
    Reporting,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Calendar => "calendar",
            Basis::Reporting => "reporting",
        }
    }

    /// How the basis is named in a report.
    pub fn label_vi(self) -> &'static str {
        match self {
            Basis::Calendar => "theo lịch (tháng, quý, năm dương lịch)",
            Basis::Reporting => {
                "theo kỳ báo cáo định kỳ (từ ngày 15 tháng trước đến ngày 14, Nghị định 09/2019/NĐ-CP)"
            }
        }
    }
}

/// A named period cut on a basis: the window `[start, end)` a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportPeriod {
    /// The name: `2024-Q2` on either basis.
    pub period: Period,
    pub basis: Basis,
    /// The first second, a local midnight.
    pub start: Epoch,
    /// The first second after the period (exclusive), a local midnight.
    pub end: Epoch,
}

/// The local midnight starting `day` of `month` (which may be 0: December of the year before).
fn local_midnight(year: i32, month: i32, day: u32) -> Epoch {
    let (y, m) = if month < 1 {
        (year - 1, month + 12)
    } else if month > 12 {
        (year + 1, month - 12)
    } else {
        (year, month)
    };
    let date = NaiveDate::from_ymd_opt(y, m as u32, day).unwrap_or(NaiveDate::MIN);
    local_to_epoch(date.and_hms_opt(0, 0, 0).unwrap_or_default()).unwrap_or_default()
}

impl ReportPeriod {
    /// `period` cut on `basis`.
    pub fn new(period: Period, basis: Basis) -> ReportPeriod {
        let (start, end) = match basis {
            Basis::Calendar => (period.start(), period.end()),
            Basis::Reporting => {
                // The 15th of the month before the calendar start, to the 15th of the calendar
                // period's last month (exclusive: the 14th is the last day).
                let s = to_local(period.start());
                let e = to_local(period.end());
                (
                    local_midnight(s.year(), s.month() as i32 - 1, 15),
                    local_midnight(e.year(), e.month() as i32 - 1, 15),
                )
            }
        };
        ReportPeriod {
            period,
            basis,
            start,
            end,
        }
    }

    /// The period of `kind` on `basis` that contains the instant `t`.
    pub fn containing(kind: PeriodKind, basis: Basis, t: Epoch) -> ReportPeriod {
        let local = to_local(t);
        let named_at = match basis {
            Basis::Calendar => t,
            // From the 15th on, an instant belongs to the next month's reporting period.
            Basis::Reporting if local.day() >= 15 => {
                local_midnight(local.year(), local.month() as i32 + 1, 1)
            }
            Basis::Reporting => t,
        };
        ReportPeriod::new(Period::containing(kind, named_at), basis)
    }

    /// The period just before, of the same kind and basis.
    pub fn previous(&self) -> ReportPeriod {
        ReportPeriod::new(self.period.previous(), self.basis)
    }

    /// `e = min(end, as_of)`, never before the start (a period not yet begun is empty).
    pub fn horizon(&self, as_of: Epoch) -> Epoch {
        self.end.min(as_of).max(self.start)
    }

    /// Whether the period is over at `as_of` (its numbers are final).
    pub fn is_complete(&self, as_of: Epoch) -> bool {
        as_of >= self.end
    }

    /// "Quý 2/2024", "Tháng 5/2024", "Năm 2024".
    pub fn label_vi(&self) -> String {
        self.period.label_vi()
    }

    /// The last second of the period, as officials write the bounds: "15/03/2024 – 14/06/2024".
    pub fn bounds_vi(&self) -> String {
        format!(
            "{} – {}",
            to_local(self.start).format("%d/%m/%Y"),
            to_local(self.end - 1).format("%d/%m/%Y")
        )
    }

    /// A file-name-safe slug: `2024-Q2-reporting`.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.period, self.basis.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::{parse_compact, rfc3339};

    fn at(s: &str) -> Epoch {
        parse_compact(s).unwrap().unwrap()
    }

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn reporting_quarter_runs_from_the_15th_before_to_the_14th_of_its_last_month() {
        let q2 = ReportPeriod::new(p("2024-Q2"), Basis::Reporting);
        assert_eq!(rfc3339(q2.start), "2024-03-15T00:00:00+07:00");
        assert_eq!(rfc3339(q2.end), "2024-06-15T00:00:00+07:00");
        assert_eq!(q2.bounds_vi(), "15/03/2024 – 14/06/2024");
        let q1 = ReportPeriod::new(p("2024-Q1"), Basis::Reporting);
        assert_eq!(rfc3339(q1.start), "2023-12-15T00:00:00+07:00");
        assert_eq!(rfc3339(q1.end), "2024-03-15T00:00:00+07:00");
        assert_eq!(q1.previous().end, q1.start);
        assert_eq!(q2.previous(), q1);
    }

    #[test]
    fn reporting_year_and_month() {
        let y = ReportPeriod::new(p("2024"), Basis::Reporting);
        assert_eq!(rfc3339(y.start), "2023-12-15T00:00:00+07:00");
        assert_eq!(rfc3339(y.end), "2024-12-15T00:00:00+07:00");
        let m = ReportPeriod::new(p("2024-01"), Basis::Reporting);
        assert_eq!(rfc3339(m.start), "2023-12-15T00:00:00+07:00");
        assert_eq!(rfc3339(m.end), "2024-01-15T00:00:00+07:00");
        let m = ReportPeriod::new(p("2024-03"), Basis::Reporting);
        assert_eq!(rfc3339(m.start), "2024-02-15T00:00:00+07:00");
        // A quarter is its three months; a year its four quarters.
        let q1 = ReportPeriod::new(p("2024-Q1"), Basis::Reporting);
        assert_eq!(
            ReportPeriod::new(p("2024-01"), Basis::Reporting).start,
            q1.start
        );
        assert_eq!(m.end, q1.end);
        assert_eq!(ReportPeriod::new(p("2024-Q4"), Basis::Reporting).end, y.end);
    }

    #[test]
    fn calendar_basis_is_metrics_md() {
        let q2 = ReportPeriod::new(p("2024-Q2"), Basis::Calendar);
        assert_eq!(
            (q2.start, q2.end),
            (p("2024-Q2").start(), p("2024-Q2").end())
        );
    }

    #[test]
    fn the_14th_last_second_and_the_15th_first_second() {
        let k = PeriodKind::Quarter;
        let last = at("20240614235959");
        let first = at("20240615000000");
        let a = ReportPeriod::containing(k, Basis::Reporting, last);
        let b = ReportPeriod::containing(k, Basis::Reporting, first);
        assert_eq!(a.period.to_string(), "2024-Q2");
        assert_eq!(b.period.to_string(), "2024-Q3");
        assert!(a.start <= last && last < a.end);
        assert_eq!(a.end, first);
        assert!(b.start <= first && first < b.end);
        // December 15 starts the next reporting year.
        assert_eq!(
            ReportPeriod::containing(PeriodKind::Year, Basis::Reporting, at("20241215000000"))
                .period
                .to_string(),
            "2025"
        );
        assert_eq!(
            ReportPeriod::containing(PeriodKind::Year, Basis::Reporting, at("20241214235959"))
                .period
                .to_string(),
            "2024"
        );
        // On the calendar basis the 15th changes nothing.
        assert_eq!(
            ReportPeriod::containing(k, Basis::Calendar, first)
                .period
                .to_string(),
            "2024-Q2"
        );
    }
}
