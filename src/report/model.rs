//! What a report says, gathered once from the store and then rendered in any format.
//!
//! - The criteria are the committed ones: every (metric, scope) that has a target for at least one
//!   unit, in metrics.md's order, each scoped criterion after its metric. `esign_rate`, tracked
//!   without a target by default, is therefore left out unless a target is configured for it.
//! - The previous period is the one just before, on the same basis, evaluated at the same
//!   `as_of` (so, for a finished period, its final numbers); "change" is the difference of the two
//!   values in percentage points, absent when either has no value.
//! - "Worst first" on a criterion's sheet: the units in breach first, then every other unit with a
//!   value, each group from the worst value to the best (for `late_rate` the highest value is the
//!   worst, for every other rate the lowest); ties by the larger denominator; units with no data
//!   last. The root (the whole city) is not ranked: it closes the table as its total.
//! - The action lists name dossiers by code only: for each unit's own one-stop codes, the late
//!   dossiers of the period without an apology slip and the processed ones without a digitized
//!   result, both as seen at the horizon, each capped at `reports.action_list_cap` per unit with
//!   the full count kept.
//! - The Decision 766 score (issue 19) is estimated over the report's own window (calendar or
//!   reporting basis) at the same `as_of`, without action lists (the sheet names no dossier).
//! - Data quality is what the evaluation reports (unmapped codes and rejected records as stored
//!   now; dossiers without a due date or with an unknown procedure in the window).

use crate::config::Settings;
use crate::domain::periods::ReportPeriod;
use crate::domain::time::Epoch;
use crate::rates::{self, Metric, Quality, Row, RowState, TargetView, UnitTree};
use crate::store::{ActionItem, Store, StoreError};
use std::cmp::Ordering;
use std::collections::HashMap;

/// The version written in every report's header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One unit's line of a criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub unit: String,
    pub unit_name: String,
    pub depth: usize,
    pub numerator: i64,
    pub denominator: i64,
    pub value: Option<f64>,
    pub target: Option<TargetView>,
    pub state: RowState,
    /// The previous period's value, when it had one.
    pub previous: Option<f64>,
}

impl Line {
    fn of(row: &Row, previous: Option<&Row>) -> Line {
        Line {
            unit: row.unit.clone(),
            unit_name: row.unit_name.clone(),
            depth: row.depth,
            numerator: row.numerator,
            denominator: row.denominator,
            value: row.value,
            target: row.target,
            state: row.state,
            previous: previous.and_then(|p| p.value),
        }
    }

    /// The change from the previous period, in percentage points.
    pub fn change_points(&self) -> Option<f64> {
        match (self.value, self.previous) {
            (Some(v), Some(p)) => Some(100.0 * (v - p)),
            _ => None,
        }
    }
}

/// A committed criterion: a metric, maybe narrowed to a field group, with every unit's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    pub metric: Metric,
    /// The field group's key (for csv and scripts).
    pub scope: Option<String>,
    /// The field group's display name (`[field_groups]`), shown to people; none: the key.
    pub scope_name: Option<String>,
    /// Every unit in tree order: the root (the whole city) first.
    pub lines: Vec<Line>,
}

impl Criterion {
    /// "Mức độ hài lòng" or "Mức độ hài lòng (nhóm lĩnh vực đất đai, xây dựng, đầu tư)".
    pub fn label(&self) -> String {
        match self.scope_label() {
            None => self.metric.label_vi().to_string(),
            Some(s) => format!("{} (nhóm lĩnh vực {s})", self.metric.label_vi()),
        }
    }

    /// The field group as people read it: its display name, else its key.
    pub fn scope_label(&self) -> Option<&str> {
        self.scope_name.as_deref().or(self.scope.as_deref())
    }

    /// The whole city's line.
    pub fn root(&self) -> Option<&Line> {
        self.lines.iter().find(|l| l.depth == 0)
    }

    /// Every unit but the root, worst first (see the module docs).
    pub fn ranked(&self) -> Vec<&Line> {
        let mut v: Vec<&Line> = self.lines.iter().filter(|l| l.depth > 0).collect();
        let lower_better = self.metric.lower_is_better();
        v.sort_by(|a, b| worse_first(a, b, lower_better));
        v
    }

    /// How many units (the root excepted) are in each state.
    pub fn count(&self, state: RowState) -> usize {
        self.lines
            .iter()
            .filter(|l| l.depth > 0 && l.state == state)
            .count()
    }
}

fn group(l: &Line) -> u8 {
    match (l.state, l.value) {
        (RowState::Breach, _) => 0,
        (_, Some(_)) => 1,
        (_, None) => 2,
    }
}

fn worse_first(a: &Line, b: &Line, lower_better: bool) -> Ordering {
    group(a)
        .cmp(&group(b))
        .then_with(|| {
            let (x, y) = (a.value.unwrap_or(0.0), b.value.unwrap_or(0.0));
            let by_value = if lower_better {
                y.partial_cmp(&x)
            } else {
                x.partial_cmp(&y)
            };
            by_value.unwrap_or(Ordering::Equal)
        })
        .then_with(|| b.denominator.cmp(&a.denominator))
        .then_with(|| a.unit_name.cmp(&b.unit_name))
}

/// What a dossier of the action sheet needs doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// Late, and no apology slip issued.
    Apology,
    /// Processed or returned, and its result not digitized.
    Digitize,
}

impl ActionKind {
    pub fn label_vi(self) -> &'static str {
        match self {
            ActionKind::Apology => "Hồ sơ trễ hạn chưa có phiếu xin lỗi",
            ActionKind::Digitize => "Hồ sơ đã giải quyết chưa số hóa kết quả",
        }
    }
}

/// One unit's list of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitActions {
    pub unit: String,
    pub unit_name: String,
    pub kind: ActionKind,
    /// The first items (oldest first), at most the cap.
    pub items: Vec<ActionItem>,
    /// How many there are in all.
    pub total: i64,
}

/// A whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub period: ReportPeriod,
    pub previous: ReportPeriod,
    /// The evaluation instant.
    pub as_of: Epoch,
    /// What the numbers see: `min(end, as_of)`.
    pub horizon: Epoch,
    /// When the report was made.
    pub generated_at: Epoch,
    pub version: &'static str,
    /// The root unit's name (the whole city).
    pub city: String,
    pub criteria: Vec<Criterion>,
    /// Non-empty lists only, in unit order, apology before digitize.
    pub actions: Vec<UnitActions>,
    /// The per-unit cap of the action lists.
    pub action_cap: usize,
    pub quality: Quality,
    /// The commitment letter's consolidated appendix (every criterion × unit), for a quarter or
    /// a year when `[[commitments]]` holds criteria (docs/letter.md).
    pub appendix: Option<crate::letter::status::Consolidation>,
    /// Issue 19: every unit's estimated Decision 766 points over the same window at the same
    /// instant (the sheet "Điểm 766").
    pub score: crate::score::ScoreSet,
}

impl Report {
    /// Whether the numbers are final (the period is over at `as_of`).
    pub fn is_final(&self) -> bool {
        self.period.is_complete(self.as_of)
    }

    /// The action lists of one unit.
    pub fn actions_of<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a UnitActions> + 'a {
        self.actions.iter().filter(move |a| a.unit == unit)
    }

    /// Criteria whose city-wide line misses its target.
    pub fn city_breaches(&self) -> usize {
        self.criteria
            .iter()
            .filter(|c| c.root().is_some_and(|l| l.state == RowState::Breach))
            .count()
    }
}

/// Builds the rows of `criteria` from an evaluation and the previous one (pure).
pub fn criteria(current: &[Row], previous: &[Row]) -> Vec<Criterion> {
    let key = |r: &Row| (r.unit.clone(), r.metric, r.scope.clone());
    let prev: HashMap<_, &Row> = previous.iter().map(|r| (key(r), r)).collect();
    let mut order: Vec<(Metric, Option<String>)> = Vec::new();
    for r in current {
        let k = (r.metric, r.scope.clone());
        if r.target.is_some() && !order.contains(&k) {
            order.push(k);
        }
    }
    // metrics.md's order; a scoped criterion after its metric, scopes in configuration order.
    order.sort_by_key(|(m, s)| (*m, s.is_some()));
    order
        .into_iter()
        .map(|(metric, scope)| Criterion {
            lines: current
                .iter()
                .filter(|r| r.metric == metric && r.scope == scope)
                .map(|r| Line::of(r, prev.get(&key(r)).copied()))
                .collect(),
            metric,
            scope,
            scope_name: None,
        })
        .collect()
}

/// Gathers a report of `period` at `as_of` from the store.
pub async fn build(
    store: &Store,
    s: &Settings,
    period: ReportPeriod,
    as_of: Epoch,
    generated_at: Epoch,
) -> Result<Report, StoreError> {
    let current =
        rates::evaluate_window(store, s, period.period, period.start, period.end, as_of).await?;
    let previous_period = period.previous();
    let previous = rates::evaluate_window(
        store,
        s,
        previous_period.period,
        previous_period.start,
        previous_period.end,
        as_of,
    )
    .await?;
    let horizon = period.horizon(as_of);
    let appendix = if !s.commitments.is_empty() && period.period.kind != rates::PeriodKind::Month {
        Some(crate::letter::status::build(store, s, period.period, as_of).await?)
    } else {
        None
    };
    let tree = UnitTree::new(s);
    let cap = s.reports.action_list_cap;
    let mut actions = Vec::new();
    for node in &tree.units {
        let Some(cfg) = s.units.iter().find(|u| u.code == node.code) else {
            continue;
        };
        let codes = &cfg.one_stop_codes;
        let lists = [
            (
                ActionKind::Apology,
                store
                    .late_without_apology(codes, period.start, horizon, cap)
                    .await?,
            ),
            (
                ActionKind::Digitize,
                store
                    .not_digitized(codes, period.start, horizon, cap)
                    .await?,
            ),
        ];
        for (kind, list) in lists {
            if list.total > 0 {
                actions.push(UnitActions {
                    unit: node.code.clone(),
                    unit_name: node.name.clone(),
                    kind,
                    items: list.items,
                    total: list.total,
                });
            }
        }
    }
    let score = crate::score::compute(
        store,
        s,
        period.period,
        period.start,
        period.end,
        as_of,
        crate::score::Options { codes_cap: 0 },
    )
    .await?;
    Ok(Report {
        score,
        period,
        previous: previous_period,
        as_of,
        horizon,
        generated_at,
        version: VERSION,
        city: tree
            .units
            .first()
            .map(|u| u.name.clone())
            .unwrap_or_default(),
        criteria: criteria(&current.rows, &previous.rows)
            .into_iter()
            .map(|c| Criterion {
                scope_name: c.scope.as_deref().map(|k| s.scope_name(k).to_string()),
                ..c
            })
            .collect(),
        actions,
        action_cap: cap,
        quality: current.quality,
        appendix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit: &str, n: i64, d: i64, state: RowState) -> Line {
        Line {
            unit: unit.into(),
            unit_name: unit.into(),
            depth: 1,
            numerator: n,
            denominator: d,
            value: (d > 0).then(|| n as f64 / d as f64),
            target: None,
            state,
            previous: None,
        }
    }

    #[test]
    fn worst_first_puts_breaches_first_then_values_then_no_data() {
        let c = Criterion {
            metric: Metric::DigitizedRate,
            scope: None,
            scope_name: None,
            lines: vec![
                line("A", 99, 100, RowState::Ok),
                line("B", 0, 0, RowState::NoData),
                line("C", 90, 100, RowState::Breach),
                line("D", 1, 3, RowState::InsufficientSample),
                line("E", 95, 100, RowState::Breach),
            ],
        };
        let order: Vec<&str> = c.ranked().iter().map(|l| l.unit.as_str()).collect();
        assert_eq!(order, ["C", "E", "D", "A", "B"]);
        // Lower is better for late dossiers: the highest share late is the worst.
        let c = Criterion {
            metric: Metric::LateRate,
            lines: vec![
                line("A", 1, 100, RowState::Ok),
                line("B", 5, 100, RowState::Breach),
                line("C", 9, 100, RowState::Breach),
            ],
            scope: None,
            scope_name: None,
        };
        let order: Vec<&str> = c.ranked().iter().map(|l| l.unit.as_str()).collect();
        assert_eq!(order, ["C", "B", "A"]);
    }

    #[test]
    fn change_is_in_points() {
        let mut l = line("A", 90, 100, RowState::Ok);
        l.previous = Some(0.85);
        assert!((l.change_points().unwrap() - 5.0).abs() < 1e-9);
        l.previous = None;
        assert_eq!(l.change_points(), None);
    }
}
