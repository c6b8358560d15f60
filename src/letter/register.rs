//! The register of the letter's criteria (`[[commitments]]`), periods and deadlines. Pure: no
//! clock, no I/O.
//!
//! - A letter period is a quarter (`2026-Q4`) or a year (`2026`); its form is due on the 12th of
//!   the quarter's last month, or 12 December for the year, to the end of that day in
//!   Asia/Ho_Chi_Minh.
//! - `owners = "all"` is every unit below the root (the root's figures are the city's total).
//! - A criterion due `each_quarter` or `year` appears on every form of its owners; one due on a
//!   date appears on the forms of that date's year. A `year` (or dated) criterion not yet met on a
//!   quarterly form is `pending` until its own deadline.

use crate::config::{CommitmentKind, CommitmentSettings, Settings};
use crate::domain::time::{Epoch, local_to_epoch};
use crate::rates::{Period, PeriodKind, UnitTree};
use chrono::{Datelike, NaiveDate};

/// Parses a letter period: a quarter or a year.
pub fn parse_period(s: &str) -> Result<Period, String> {
    let p: Period = s
        .parse()
        .map_err(|e: crate::domain::periods::PeriodParseError| e.to_string())?;
    if p.kind == PeriodKind::Month {
        return Err(format!(
            "'{s}' is a month: the letter's forms are quarterly (2026-Q4) or yearly (2026)"
        ));
    }
    Ok(p)
}

/// The day a period's form is due.
pub fn deadline_date(p: Period) -> NaiveDate {
    let month = match p.kind {
        PeriodKind::Quarter => p.index * 3,
        _ => 12,
    };
    NaiveDate::from_ymd_opt(p.year, month, 12).unwrap_or(NaiveDate::MIN)
}

/// The first instant after a local day (its end, exclusive).
pub fn end_of_day(d: NaiveDate) -> Epoch {
    let next = d.succ_opt().unwrap_or(d);
    local_to_epoch(next.and_hms_opt(0, 0, 0).unwrap_or_default()).unwrap_or_default()
}

/// The end of a period's form deadline (exclusive).
pub fn deadline_end(p: Period) -> Epoch {
    end_of_day(deadline_date(p))
}

/// The end of a criterion's own deadline within a period (exclusive).
pub fn criterion_deadline_end(c: &CommitmentSettings, p: Period) -> Epoch {
    match c.due.trim() {
        "each_quarter" => deadline_end(p),
        "year" => deadline_end(Period {
            kind: PeriodKind::Year,
            year: p.year,
            index: 1,
        }),
        d => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(end_of_day)
            .unwrap_or_else(|_| deadline_end(p)),
    }
}

/// Whether a criterion is asked on the forms of `p`.
pub fn applies(c: &CommitmentSettings, p: Period) -> bool {
    match NaiveDate::parse_from_str(c.due.trim(), "%Y-%m-%d") {
        Ok(d) => d.year() == p.year,
        Err(_) => true,
    }
}

/// The units a criterion is owned by, in the configuration's tree order.
pub fn owners(s: &Settings, c: &CommitmentSettings) -> Vec<String> {
    let tree = UnitTree::new(s);
    tree.units
        .iter()
        .filter(|u| {
            c.owners
                .iter()
                .any(|o| (o == "all" && u.depth > 0) || *o == u.code)
        })
        .map(|u| u.code.clone())
        .collect()
}

/// The criteria of `p` that `unit` answers for, in register order.
pub fn criteria_of<'a>(s: &'a Settings, unit: &str, p: Period) -> Vec<&'a CommitmentSettings> {
    s.commitments
        .iter()
        .filter(|c| applies(c, p) && owners(s, c).iter().any(|o| o == unit))
        .collect()
}

/// The units that get a form for `p` (own at least one criterion), in tree order.
pub fn form_units(s: &Settings, p: Period) -> Vec<String> {
    let tree = UnitTree::new(s);
    tree.units
        .iter()
        .filter(|u| !criteria_of(s, &u.code, p).is_empty())
        .map(|u| u.code.clone())
        .collect()
}

/// The kind in words, for the form.
pub fn kind_vi(k: CommitmentKind) -> &'static str {
    match k {
        CommitmentKind::Percent => "Tỷ lệ (%)",
        CommitmentKind::Count => "Số lượng",
        CommitmentKind::Done => "Hoàn thành / Chưa",
        CommitmentKind::Date => "Ngày hoàn thành",
    }
}

/// A manual criterion's target in words ("≥ 90 %", "≥ 2", "Hoàn thành trước 12/12/2026").
pub fn target_vi(c: &CommitmentSettings, p: Period) -> String {
    let unit = if c.kind == CommitmentKind::Percent {
        " %"
    } else {
        ""
    };
    let by = crate::domain::time::to_local(criterion_deadline_end(c, p) - 1)
        .format("%d/%m/%Y")
        .to_string();
    match (c.min, c.max, c.kind) {
        (Some(v), _, _) => format!("≥ {}{unit}", num(v)),
        (_, Some(v), _) => format!("≤ {}{unit}", num(v)),
        (_, _, CommitmentKind::Date) => format!("Hoàn thành trước {by}"),
        _ => format!("Hoàn thành (hạn {by})"),
    }
}

/// A number without a useless `.0`.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_the_12th_of_the_quarters_last_month_and_12_december() {
        let q = parse_period("2026-Q4").unwrap();
        assert_eq!(deadline_date(q).to_string(), "2026-12-12");
        assert_eq!(
            deadline_date(parse_period("2026-Q1").unwrap()).to_string(),
            "2026-03-12"
        );
        assert_eq!(
            deadline_date(parse_period("2026").unwrap()).to_string(),
            "2026-12-12"
        );
        // 12 March 23:59:59 (UTC+7) is inside; 13 March 00:00 is not.
        let end = deadline_end(parse_period("2026-Q1").unwrap());
        assert_eq!(
            crate::domain::time::rfc3339(end),
            "2026-03-13T00:00:00+07:00"
        );
        assert!(parse_period("2026-05").is_err());
    }

    #[test]
    fn numbers_print_without_useless_decimals() {
        assert_eq!(num(90.0), "90");
        assert_eq!(num(92.5), "92.5");
        assert_eq!(num(1.0 / 3.0), "0.33");
    }
}
