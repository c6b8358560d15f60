//! The consolidation of a period: every criterion × owner unit with its value, target and state,
//! and which units have not returned their form. The forms, `letter status`, the report's
//! appendix and the dashboard page all read this one model.
//!
//! States: `met`, `missed` (judged against the target), `missing` (no value and the deadline has
//! passed), `late` (the form came back after the deadline), `pending` (no value yet before the
//! deadline, or a criterion due later not met yet), `not_judged` (a rate without data, under its
//! minimum sample or without a target).

use super::register::{self, criteria_of, criterion_deadline_end, deadline_end, form_units};
use crate::config::{CommitmentKind, CommitmentSettings, Settings};
use crate::domain::periods::ReportPeriod;
use crate::domain::time::{Epoch, rfc3339};
use crate::rates::{self, Metric, Period, RowState};
use crate::store::{LetterSubmission, Store, StoreError};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// How many dossier codes a form lists per action list.
pub const CODES_CAP: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Met,
    Missed,
    Missing,
    Late,
    Pending,
    NotJudged,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Met => "met",
            State::Missed => "missed",
            State::Missing => "missing",
            State::Late => "late",
            State::Pending => "pending",
            State::NotJudged => "not_judged",
        }
    }
    pub fn label_vi(self) -> &'static str {
        match self {
            State::Met => "Đạt",
            State::Missed => "Không đạt",
            State::Missing => "Chưa có số liệu",
            State::Late => "Báo cáo trễ hạn",
            State::Pending => "Đang thực hiện",
            State::NotJudged => "Chưa đủ cơ sở đánh giá",
        }
    }
}

/// One criterion × unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusRow {
    pub criterion: String,
    pub text: String,
    pub kind: CommitmentKind,
    pub automatic: bool,
    pub unit: String,
    pub unit_name: String,
    /// Canonical value (`92.5`, `3`, `done`, `2026-11-30`); none when there is none.
    pub value: Option<String>,
    /// The value as people read it.
    pub display: String,
    /// The target in words.
    pub target: String,
    pub state: State,
    pub evidence: String,
    pub note: String,
    /// For a rate: numerator / denominator.
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// Dossier codes to act on (late without apology, not digitized), first [`CODES_CAP`].
    pub codes: Vec<String>,
    pub codes_total: i64,
}

/// A returned form, as the consolidation shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Returned {
    pub unit: String,
    pub file_name: String,
    pub imported_at: String,
    pub late: bool,
    /// Earlier submissions of the same unit and period, kept as history.
    pub earlier: usize,
}

/// The whole consolidation of a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Consolidation {
    pub period: String,
    pub label: String,
    /// The form's deadline, `YYYY-MM-DD` (local).
    pub deadline: String,
    pub as_of: String,
    pub rows: Vec<StatusRow>,
    pub returned: Vec<Returned>,
    /// Units with a form that has not come back.
    pub not_returned: Vec<String>,
}

impl Consolidation {
    pub fn rows_of<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a StatusRow> + 'a {
        self.rows.iter().filter(move |r| r.unit == unit)
    }
}

/// Judges a manual value (see the module docs).
pub fn judge_manual(
    c: &CommitmentSettings,
    value: Option<&str>,
    submitted_at: Option<Epoch>,
    p: Period,
    as_of: Epoch,
) -> State {
    let form_end = deadline_end(p);
    let own_end = criterion_deadline_end(c, p);
    let Some(v) = value else {
        return if as_of < form_end {
            State::Pending
        } else {
            State::Missing
        };
    };
    if submitted_at.is_some_and(|t| t >= form_end) {
        return State::Late;
    }
    let met = match c.kind {
        CommitmentKind::Percent | CommitmentKind::Count => match v.parse::<f64>() {
            Ok(x) => match (c.min, c.max) {
                (Some(m), _) => x >= m,
                (_, Some(m)) => x <= m,
                _ => true,
            },
            Err(_) => false,
        },
        CommitmentKind::Done => v == "done",
        CommitmentKind::Date => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .is_ok_and(|d| register::end_of_day(d) <= own_end),
    };
    if met {
        State::Met
    } else if own_end > form_end && as_of < own_end {
        State::Pending
    } else {
        State::Missed
    }
}

/// A canonical value as people read it.
pub fn display(kind: CommitmentKind, v: Option<&str>) -> String {
    let Some(v) = v else { return String::new() };
    match kind {
        CommitmentKind::Percent => format!("{v} %"),
        CommitmentKind::Count => v.to_string(),
        CommitmentKind::Done if v == "done" => "Đã hoàn thành".into(),
        CommitmentKind::Done => "Chưa hoàn thành".into(),
        CommitmentKind::Date => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_else(|_| v.to_string()),
    }
}

/// The newest submission of each unit, and how many came before it.
pub fn latest(subs: &[LetterSubmission]) -> BTreeMap<&str, (&LetterSubmission, usize)> {
    let mut out: BTreeMap<&str, (&LetterSubmission, usize)> = BTreeMap::new();
    for s in subs {
        let e = out.entry(s.unit.as_str()).or_insert((s, 0));
        if s.seq > e.0.seq {
            *e = (s, e.1 + 1);
        } else if s.seq != e.0.seq {
            e.1 += 1;
        }
    }
    out
}

/// Builds the consolidation of `p` at `as_of` from the store.
pub async fn build(
    store: &Store,
    s: &Settings,
    p: Period,
    as_of: Epoch,
) -> Result<Consolidation, StoreError> {
    let rp = ReportPeriod::new(p, s.reports.basis);
    let automatic = s.commitments.iter().any(|c| c.is_automatic());
    let rows_auto = if automatic {
        rates::evaluate_window(store, s, p, rp.start, rp.end, as_of)
            .await?
            .rows
    } else {
        Vec::new()
    };
    let horizon = rp.horizon(as_of);
    let subs = store.letter_submissions(&p.to_string()).await?;
    let newest = latest(&subs);
    let form_end = deadline_end(p);
    let tree = rates::UnitTree::new(s);
    let mut rows = Vec::new();
    let units = form_units(s, p);
    for unit in &units {
        let name = tree
            .units
            .iter()
            .find(|u| u.code == *unit)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let sub = newest.get(unit.as_str()).map(|(s, _)| *s);
        for c in criteria_of(s, unit, p) {
            let mut row = StatusRow {
                criterion: c.code.clone(),
                text: c.text.clone(),
                kind: c.kind,
                automatic: c.is_automatic(),
                unit: unit.clone(),
                unit_name: name.clone(),
                value: None,
                display: String::new(),
                target: String::new(),
                state: State::Missing,
                evidence: String::new(),
                note: String::new(),
                numerator: None,
                denominator: None,
                codes: Vec::new(),
                codes_total: 0,
            };
            if let Some(metric) = c.metric.as_deref().and_then(Metric::from_name) {
                let r = rows_auto
                    .iter()
                    .find(|r| r.unit == *unit && r.metric == metric && r.scope == c.scope);
                if let Some(r) = r {
                    row.numerator = Some(r.numerator);
                    row.denominator = Some(r.denominator);
                    row.value = r
                        .value
                        .map(|v| register::num((v * 10_000.0).round() / 100.0));
                    row.display = row
                        .value
                        .as_deref()
                        .map(|v| format!("{v} % ({}/{})", r.numerator, r.denominator))
                        .unwrap_or_else(|| "Không có số liệu".into());
                    row.target = match r.target {
                        Some(t) => match (t.min, t.max) {
                            (Some(m), _) => format!("≥ {} %", register::num(m)),
                            (_, Some(m)) => format!("≤ {} %", register::num(m)),
                            _ => String::new(),
                        },
                        None => "Không đặt chỉ tiêu".into(),
                    };
                    row.state = match r.state {
                        RowState::Ok => State::Met,
                        RowState::Breach => State::Missed,
                        // Nothing to measure (no late dossier to apologise for) is no failure.
                        RowState::NoData | RowState::InsufficientSample | RowState::Untargeted => {
                            State::NotJudged
                        }
                    };
                }
                let list = match metric {
                    Metric::ApologyRate | Metric::LateRate => Some(
                        store
                            .late_without_apology(&codes_of(s, unit), rp.start, horizon, CODES_CAP)
                            .await?,
                    ),
                    Metric::DigitizedRate => Some(
                        store
                            .not_digitized(&codes_of(s, unit), rp.start, horizon, CODES_CAP)
                            .await?,
                    ),
                    _ => None,
                };
                if let Some(list) = list {
                    row.codes = list.items.into_iter().map(|i| i.code).collect();
                    row.codes_total = list.total;
                }
            } else {
                let v = sub.and_then(|s| s.values.iter().find(|v| v.criterion == c.code));
                row.value = v.and_then(|v| v.value.clone());
                row.evidence = v.map(|v| v.evidence.clone()).unwrap_or_default();
                row.note = v.map(|v| v.note.clone()).unwrap_or_default();
                row.display = display(c.kind, row.value.as_deref());
                row.target = register::target_vi(c, p);
                row.state = judge_manual(
                    c,
                    row.value.as_deref(),
                    sub.map(|s| s.imported_at),
                    p,
                    as_of,
                );
            }
            rows.push(row);
        }
    }
    let returned = newest
        .values()
        .map(|(s, earlier)| Returned {
            unit: s.unit.clone(),
            file_name: s.file_name.clone(),
            imported_at: rfc3339(s.imported_at),
            late: s.imported_at >= form_end,
            earlier: *earlier,
        })
        .collect();
    let not_returned = units
        .iter()
        .filter(|u| !newest.contains_key(u.as_str()))
        .cloned()
        .collect();
    Ok(Consolidation {
        period: p.to_string(),
        label: p.label_vi(),
        deadline: register::deadline_date(p).to_string(),
        as_of: rfc3339(as_of),
        rows,
        returned,
        not_returned,
    })
}

fn codes_of(s: &Settings, unit: &str) -> Vec<String> {
    s.units
        .iter()
        .find(|u| u.code == unit)
        .map(|u| u.one_stop_codes.clone())
        .unwrap_or_default()
}

/// The consolidation as a table for a terminal.
pub fn table(c: &Consolidation) -> String {
    use std::fmt::Write as _;
    use unicode_width::UnicodeWidthStr;
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.width())));
    let deadline = NaiveDate::parse_from_str(&c.deadline, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| c.deadline.clone());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}), due {deadline}, as of {}",
        c.label, c.period, c.as_of
    );
    let head = ["criterion", "unit", "value", "target", "state"];
    let cells: Vec<[String; 5]> = c
        .rows
        .iter()
        .map(|r| {
            [
                r.criterion.clone(),
                r.unit.clone(),
                r.display.clone(),
                r.target.clone(),
                r.state.as_str().to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].width())
                .chain([head[i].width()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[&str]| -> String {
        r.iter()
            .enumerate()
            .map(|(i, s)| pad(s, widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(out, "{}", line(&head));
    for r in &cells {
        let refs: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&refs));
    }
    let returned = if c.returned.is_empty() {
        "none".to_string()
    } else {
        c.returned
            .iter()
            .map(|r| format!("{} ({}, {})", r.unit, r.file_name, r.imported_at))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "returned: {returned}");
    let not_returned = if c.not_returned.is_empty() {
        "none".to_string()
    } else {
        c.not_returned.join(", ")
    };
    let _ = writeln!(out, "not returned: {not_returned}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crit(kind: CommitmentKind, min: Option<f64>, due: &str) -> CommitmentSettings {
        CommitmentSettings {
            code: "C".into(),
            text: "t".into(),
            owners: vec!["all".into()],
            kind,
            min,
            max: None,
            due: due.into(),
            metric: None,
            scope: None,
        }
    }

    #[test]
    fn manual_values_are_judged_against_target_and_deadlines() {
        let q3 = register::parse_period("2026-Q3").unwrap();
        let before = deadline_end(q3) - 3600;
        let after = deadline_end(q3) + 3600;
        let pct = crit(CommitmentKind::Percent, Some(90.0), "each_quarter");
        assert_eq!(
            judge_manual(&pct, Some("92.5"), Some(before), q3, before),
            State::Met
        );
        assert_eq!(
            judge_manual(&pct, Some("80"), Some(before), q3, before),
            State::Missed
        );
        assert_eq!(judge_manual(&pct, None, None, q3, before), State::Pending);
        assert_eq!(judge_manual(&pct, None, None, q3, after), State::Missing);
        assert_eq!(
            judge_manual(&pct, Some("95"), Some(after), q3, after),
            State::Late
        );
        // A year's criterion not yet done on a quarterly form is still in progress.
        let year = crit(CommitmentKind::Done, None, "year");
        assert_eq!(
            judge_manual(&year, Some("not_done"), Some(before), q3, before),
            State::Pending
        );
        let y = register::parse_period("2026").unwrap();
        assert_eq!(
            judge_manual(
                &year,
                Some("not_done"),
                Some(before),
                y,
                deadline_end(y) + 1
            ),
            State::Missed
        );
        let date = crit(CommitmentKind::Date, None, "2026-06-30");
        let q2 = register::parse_period("2026-Q2").unwrap();
        let t = deadline_end(q2) - 10;
        assert_eq!(
            judge_manual(&date, Some("2026-06-30"), Some(t), q2, t),
            State::Met
        );
        assert_eq!(
            judge_manual(&date, Some("2026-07-01"), Some(t), q2, t),
            State::Pending
        );
        let later = register::end_of_day(NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
        assert_eq!(
            judge_manual(&date, Some("2026-07-01"), Some(t), q2, later),
            State::Missed
        );
    }
}
