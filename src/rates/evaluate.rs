//! From exact counts to judged rows, and the evaluation job.
//!
//! Choices, written down for officials:
//! - a unit's counts are those of its own upstream codes plus all its descendants' (the root is
//!   the whole city); records of codes that no unit claims count in no unit, and are listed under
//!   "unmapped";
//! - a row is judged in exact integer arithmetic: `min = 99` holds when
//!   `100 × numerator ≥ 99 × denominator` (targets are read to 6 decimals), so that no rounding
//!   ever moves a unit across its target;
//! - scoped rows exist for every `[[scoped_targets]]` entry (metric × field group), for every unit.

use super::rules::Tally;
use crate::app::App;
use crate::config::{Settings, TargetSpec};
use crate::domain::Metric;
use crate::domain::periods::{Period, PeriodKind};
use crate::domain::time::{Epoch, to_local};
use crate::store::{CodeCount, GroupTally, RejectionCount, Sample, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The configured units as a tree.
#[derive(Debug, Clone)]
pub struct UnitTree {
    /// In display order: each parent before its children, siblings in configuration order.
    pub units: Vec<UnitNode>,
    one_stop_owner: HashMap<String, usize>,
    document_owner: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct UnitNode {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    pub depth: usize,
    /// Indexes (into `units`) of this unit and every ancestor up to the root.
    pub lineage: Vec<usize>,
}

impl UnitTree {
    /// Builds the tree of a validated configuration.
    pub fn new(s: &Settings) -> UnitTree {
        let by_code: HashMap<&str, usize> = s
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.as_str(), i))
            .collect();
        let mut children: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
        for (i, u) in s.units.iter().enumerate() {
            let parent = u.parent.as_deref().filter(|p| by_code.contains_key(p));
            children.entry(parent).or_default().push(i);
        }
        // Depth-first from the roots, keeping configuration order among siblings.
        let mut order: Vec<(usize, usize)> = Vec::new();
        let mut stack: Vec<(usize, usize)> = children
            .get(&None)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .rev()
            .map(|i| (i, 0))
            .collect();
        let mut seen = HashSet::new();
        while let Some((i, depth)) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            order.push((i, depth));
            if let Some(kids) = children.get(&Some(s.units[i].code.as_str())) {
                for k in kids.iter().rev() {
                    stack.push((*k, depth + 1));
                }
            }
        }
        let position: HashMap<usize, usize> = order
            .iter()
            .enumerate()
            .map(|(pos, (i, _))| (*i, pos))
            .collect();
        let mut units = Vec::with_capacity(order.len());
        for (i, depth) in &order {
            let u = &s.units[*i];
            let mut lineage = vec![position[i]];
            let mut cur = u.parent.as_deref();
            while let Some(p) = cur {
                let Some(&j) = by_code.get(p) else { break };
                if lineage.len() > s.units.len() {
                    break;
                }
                lineage.push(position[&j]);
                cur = s.units[j].parent.as_deref();
            }
            units.push(UnitNode {
                code: u.code.clone(),
                name: u.name.clone(),
                parent: u.parent.clone(),
                depth: *depth,
                lineage,
            });
        }
        let mut one_stop_owner = HashMap::new();
        let mut document_owner = HashMap::new();
        for (i, u) in s.units.iter().enumerate() {
            let Some(&pos) = position.get(&i) else {
                continue;
            };
            for c in &u.one_stop_codes {
                one_stop_owner.entry(c.clone()).or_insert(pos);
            }
            for c in &u.document_codes {
                document_owner.entry(c.clone()).or_insert(pos);
            }
        }
        UnitTree {
            units,
            one_stop_owner,
            document_owner,
        }
    }

    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.units.iter().position(|u| u.code == code)
    }

    pub fn claims_one_stop(&self, code: &str) -> bool {
        self.one_stop_owner.contains_key(code)
    }

    pub fn claims_document(&self, code: &str) -> bool {
        self.document_owner.contains_key(code)
    }

    /// The unit (index into `units`) that claims a one-stop `DonViXuLy` code.
    pub fn one_stop_owner(&self, code: &str) -> Option<usize> {
        self.one_stop_owner.get(code).copied()
    }

    /// The one-stop codes of the unit at `idx` and of every unit below it.
    pub fn subtree_one_stop_codes(&self, s: &Settings, idx: usize) -> Vec<String> {
        let mut codes = Vec::new();
        for u in self.units.iter().filter(|u| u.lineage.contains(&idx)) {
            if let Some(cfg) = s.units.iter().find(|c| c.code == u.code) {
                codes.extend(cfg.one_stop_codes.iter().cloned());
            }
        }
        codes
    }
}

/// A row's judgement (metrics.md, "Samples and minimum size").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    Ok,
    Breach,
    InsufficientSample,
    NoData,
    Untargeted,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Ok => "ok",
            RowState::Breach => "breach",
            RowState::InsufficientSample => "insufficient_sample",
            RowState::NoData => "no_data",
            RowState::Untargeted => "untargeted",
        }
    }
}

/// The target that applies to a row, as the CLI's JSON shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TargetView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    pub min_sample: u64,
}

/// One unit × metric × scope × period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub unit: String,
    #[serde(skip)]
    pub unit_name: String,
    #[serde(skip)]
    pub depth: usize,
    pub metric: Metric,
    pub scope: Option<String>,
    #[serde(serialize_with = "ser_display")]
    pub period: Period,
    pub numerator: i64,
    pub denominator: i64,
    pub value: Option<f64>,
    pub target: Option<TargetView>,
    pub state: RowState,
}

fn ser_display<S: serde::Serializer>(p: &Period, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Data-quality counts: what the numbers do not see, so that readers know how far to trust them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    /// `DonViXuLy` codes that no unit claims, with their stored dossiers.
    pub unmapped_dossier_codes: Vec<(String, i64)>,
    /// `MaDonVi` codes that no unit claims, with their stored documents.
    pub unmapped_document_codes: Vec<(String, i64)>,
    /// Dossiers counted in `late_rate`'s denominator that have no due date (never judged late).
    pub no_due_date: i64,
    /// Dossiers received in the period whose procedure is missing from the catalogue (left out of
    /// `online_rate`).
    pub unknown_procedure: i64,
    /// Rejected records per source, kind and reason.
    pub rejected: Vec<RejectionCount>,
    /// Records whose update time lay past now + `allowed_skew_secs` when read, per source
    /// endpoint (stored, but their time not trusted for the mark).
    pub future_dated: Vec<crate::store::FutureCount>,
}

/// The rows of one period at one instant.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub as_of: Epoch,
    pub period: Period,
    pub rows: Vec<Row>,
    pub quality: Quality,
}

fn num_den(m: Metric, t: &Tally) -> (i64, i64) {
    match m {
        Metric::LateRate => (t.late, t.handled),
        Metric::ApologyRate => (t.apologized, t.late),
        Metric::DigitizedRate => (t.digitized, t.results),
        Metric::OnlineRate => (t.online, t.full_online_eligible),
        Metric::OnlinePaymentRate => (t.paid_online, t.with_fee),
        Metric::SatisfactionRate => (t.satisfied, t.rated),
        Metric::EdocRate => (t.edoc, t.incoming),
        Metric::EsignRate => (t.esigned, t.outgoing),
    }
}

/// Micro-percent of a target, for exact comparisons.
fn micro(pct: f64) -> i128 {
    (pct * 1_000_000.0).round() as i128
}

/// Judges a row: exact integer arithmetic, see the module docs.
pub fn judge(numerator: i64, denominator: i64, target: Option<TargetView>) -> RowState {
    let Some(t) = target else {
        return RowState::Untargeted;
    };
    if denominator == 0 {
        return RowState::NoData;
    }
    if (denominator as u64) < t.min_sample {
        return RowState::InsufficientSample;
    }
    let lhs = 100 * 1_000_000 * numerator as i128;
    let holds = match (t.min, t.max) {
        (Some(min), _) => lhs >= micro(min) * denominator as i128,
        (None, Some(max)) => lhs <= micro(max) * denominator as i128,
        (None, None) => true,
    };
    if holds {
        RowState::Ok
    } else {
        RowState::Breach
    }
}

fn view(spec: &TargetSpec, default_min_sample: u64) -> Option<TargetView> {
    if spec.min.is_none() && spec.max.is_none() {
        return None;
    }
    Some(TargetView {
        min: spec.min,
        max: spec.max,
        min_sample: spec.min_sample.unwrap_or(default_min_sample),
    })
}

/// The target of `metric` (unscoped) for a unit: its own override, else `[targets]`.
pub fn unit_target(s: &Settings, unit: &str, metric: Metric) -> Option<TargetView> {
    let own = s
        .units
        .iter()
        .find(|u| u.code == unit)
        .and_then(|u| u.targets.get(metric.as_str()));
    own.or_else(|| s.targets.get(metric.as_str()))
        .and_then(|spec| view(spec, s.alerts.min_sample))
}

/// Pure: turns grouped counts into rows for every unit, metric and configured scope.
pub fn rows_from_tallies(
    s: &Settings,
    tree: &UnitTree,
    period: Period,
    dossier_groups: &[GroupTally],
    document_groups: &[GroupTally],
) -> (Vec<Row>, Tally) {
    let n = tree.units.len();
    let mut totals = vec![Tally::default(); n];
    let scopes: Vec<(usize, &crate::config::ScopedTarget, HashSet<&str>)> = s
        .scoped_targets
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let codes = s
                .field_groups
                .get(&st.scope)
                .map(|g| g.codes.iter().map(String::as_str).collect())
                .unwrap_or_default();
            (i, st, codes)
        })
        .collect();
    let mut scoped = vec![vec![Tally::default(); n]; scopes.len()];
    let mut mapped_quality = Tally::default();
    for g in dossier_groups {
        let Some(&owner) = tree.one_stop_owner.get(&g.unit_code) else {
            continue;
        };
        mapped_quality += g.tally;
        for &u in &tree.units[owner].lineage {
            totals[u] += g.tally;
        }
        for (k, (_, _, codes)) in scopes.iter().enumerate() {
            if g.field_code.as_deref().is_some_and(|f| codes.contains(f)) {
                for &u in &tree.units[owner].lineage {
                    scoped[k][u] += g.tally;
                }
            }
        }
    }
    for g in document_groups {
        let Some(&owner) = tree.document_owner.get(&g.unit_code) else {
            continue;
        };
        for &u in &tree.units[owner].lineage {
            totals[u] += g.tally;
        }
    }
    // Each unit's targets, looked up once (not once per row in the configuration's list).
    let mut configured: HashMap<&str, &crate::config::UnitSettings> = HashMap::new();
    for u in &s.units {
        configured.entry(u.code.as_str()).or_insert(u);
    }
    let mut rows = Vec::with_capacity(n * (Metric::ALL.len() + scopes.len()));
    for (i, unit) in tree.units.iter().enumerate() {
        let own = configured.get(unit.code.as_str());
        let mut push =
            |metric: Metric, scope: Option<String>, tally: &Tally, target: Option<TargetView>| {
                let (numerator, denominator) = num_den(metric, tally);
                rows.push(Row {
                    unit: unit.code.clone(),
                    unit_name: unit.name.clone(),
                    depth: unit.depth,
                    metric,
                    scope,
                    period,
                    numerator,
                    denominator,
                    value: if denominator == 0 {
                        None
                    } else {
                        Some(numerator as f64 / denominator as f64)
                    },
                    target,
                    state: judge(numerator, denominator, target),
                });
            };
        for m in Metric::ALL {
            let target = own
                .and_then(|u| u.targets.get(m.as_str()))
                .or_else(|| s.targets.get(m.as_str()))
                .and_then(|spec| view(spec, s.alerts.min_sample));
            push(m, None, &totals[i], target);
        }
        for (k, (_, st, _)) in scopes.iter().enumerate() {
            let Some(m) = Metric::from_name(&st.metric) else {
                continue;
            };
            push(
                m,
                Some(st.scope.clone()),
                &scoped[k][i],
                view(&st.spec(), s.alerts.min_sample),
            );
        }
    }
    (rows, mapped_quality)
}

/// Evaluates one period at `as_of` from what is stored.
pub async fn evaluate(
    store: &Store,
    s: &Settings,
    period: Period,
    as_of: Epoch,
) -> Result<Evaluation, StoreError> {
    evaluate_window(store, s, period, period.start(), period.end(), as_of).await
}

/// Evaluates the window `[start, end)` at `as_of`, with the rules of metrics.md applied to that
/// window instead of `period`'s calendar bounds (`e = min(end, as_of)`); the rows are labelled
/// with `period`. [`evaluate`] is this over the calendar bounds; the reports use it for the
/// official reporting periods (15th to 14th).
pub async fn evaluate_window(
    store: &Store,
    s: &Settings,
    period: Period,
    start: Epoch,
    end: Epoch,
    as_of: Epoch,
) -> Result<Evaluation, StoreError> {
    let mut evs = evaluate_many(store, s, &[(period, start, end)], as_of).await?;
    evs.pop()
        .ok_or_else(|| StoreError::Unsupported("an evaluation returned nothing".into()))
}

/// Evaluates several windows at `as_of` with one reading of the facts (the month, quarter and
/// year of an evaluation run) and one reading of the data-quality counts.
///
/// The counts come from the rate engine ([`super::engine`]): the facts blocks that a window from
/// the earliest start can count are read once (store/facts.rs; a block of dossiers all finished
/// before that start is never read), and each window is a sweep of the rules over them. The
/// store's SQL aggregation (`Store::dossier_tallies_many`) gives the same numbers and stays the
/// independent reference of the property tests. docs/performance.md has the runs.
pub async fn evaluate_many(
    store: &Store,
    s: &Settings,
    windows: &[(Period, Epoch, Epoch)],
    as_of: Epoch,
) -> Result<Vec<Evaluation>, StoreError> {
    let tree = UnitTree::new(s);
    // A window that starts after as_of sees nothing: an empty window.
    let bounds: Vec<(Epoch, Epoch)> = windows
        .iter()
        .map(|(_, start, end)| (*start, (*end).min(as_of).max(*start)))
        .collect();
    let mut tallies = match bounds.iter().map(|(start, _)| *start).min() {
        None => Vec::new(),
        Some(since) => {
            let engine = super::engine::Engine::load(store, since, bounds.len()).await?;
            engine.tallies(&bounds).await?
        }
    };
    let unmapped = |codes: Vec<CodeCount>, claims: &dyn Fn(&str) -> bool| -> Vec<(String, i64)> {
        codes
            .into_iter()
            .filter(|c| !claims(&c.code))
            .map(|c| (c.code, c.count))
            .collect()
    };
    let unmapped_dossier_codes =
        unmapped(store.dossier_codes().await?, &|c| tree.claims_one_stop(c));
    let unmapped_document_codes =
        unmapped(store.document_codes().await?, &|c| tree.claims_document(c));
    let rejected = store.rejection_counts().await?;
    let future_dated = store.future_counts().await?;
    let mut out = Vec::with_capacity(windows.len());
    for (k, (period, _, _)) in windows.iter().enumerate() {
        let (groups, documents) = std::mem::take(&mut tallies[k]);
        let (rows, q) = rows_from_tallies(s, &tree, *period, &groups, &documents);
        let quality = Quality {
            unmapped_dossier_codes: unmapped_dossier_codes.clone(),
            unmapped_document_codes: unmapped_document_codes.clone(),
            no_due_date: q.no_due_date,
            unknown_procedure: q.unknown_procedure,
            rejected: rejected.clone(),
            future_dated: future_dated.clone(),
        };
        out.push(Evaluation {
            as_of,
            period: *period,
            rows,
            quality,
        });
    }
    Ok(out)
}

/// The rows of several (period, as-of) pairs, without the data-quality counts: what the
/// backfill of past days needs. The facts are read once for all of them and every pair (a window
/// `[P.start, min(P.end, as_of))`, the same bounds as [`evaluate`]) is a sweep of the rate
/// engine ([`super::engine`]). This is the one call through which past days are evaluated.
pub async fn rows_at_many(
    store: &Store,
    s: &Settings,
    tree: &UnitTree,
    items: &[(Period, Epoch)],
) -> Result<Vec<Vec<Row>>, StoreError> {
    let Some(since) = items.iter().map(|(p, _)| p.start()).min() else {
        return Ok(Vec::new());
    };
    let engine = super::engine::Engine::load(store, since, items.len()).await?;
    rows_at_many_with(&engine, s, tree, items).await
}

/// [`rows_at_many`] over an already loaded engine (the backfill loads it once for all its
/// batches); every period must start at or after the engine's `since`.
pub async fn rows_at_many_with(
    engine: &super::engine::Engine,
    s: &Settings,
    tree: &UnitTree,
    items: &[(Period, Epoch)],
) -> Result<Vec<Vec<Row>>, StoreError> {
    let bounds: Vec<(Epoch, Epoch)> = items
        .iter()
        .map(|(p, as_of)| (p.start(), p.end().min(*as_of).max(p.start())))
        .collect();
    let tallies = engine.tallies(&bounds).await?;
    let mut out = Vec::with_capacity(items.len());
    for ((period, _), (groups, documents)) in items.iter().zip(tallies) {
        out.push(rows_from_tallies(s, tree, *period, &groups, &documents).0);
    }
    Ok(out)
}

/// The evaluation job: the current month, quarter and year at `now`, for every unit, metric and
/// scope, upserted into the time series (one sample per unit/metric/scope/period/local day).
/// Returns the evaluations, current quarter first is not guaranteed: month, quarter, year.
pub async fn run_once(app: &App, now: Epoch) -> Result<Vec<Evaluation>, StoreError> {
    let day = to_local(now).format("%Y-%m-%d").to_string();
    let mut out = Vec::new();
    let mut samples = Vec::new();
    let windows: Vec<(Period, Epoch, Epoch)> = PeriodKind::ALL
        .iter()
        .map(|k| {
            let p = Period::containing(*k, now);
            (p, p.start(), p.end())
        })
        .collect();
    for ev in evaluate_many(&app.store, &app.settings, &windows, now).await? {
        let period = ev.period;
        for r in &ev.rows {
            samples.push(Sample {
                unit: r.unit.clone(),
                metric: r.metric.as_str().to_string(),
                scope: r.scope.clone().unwrap_or_default(),
                period: period.to_string(),
                day: day.clone(),
                as_of: now,
                numerator: r.numerator,
                denominator: r.denominator,
                computed_at: now,
                revision: None,
            });
        }
        out.push(ev);
    }
    app.store.upsert_samples(&samples).await?;
    let breaches = out
        .iter()
        .flat_map(|e| &e.rows)
        .filter(|r| r.state == RowState::Breach)
        .count();
    tracing::info!(samples = samples.len(), breaches, "metrics evaluated");
    Ok(out)
}

/// Groups rows by unit, preserving order (for printing).
pub fn by_unit(rows: &[Row]) -> BTreeMap<usize, Vec<&Row>> {
    let mut out: BTreeMap<usize, Vec<&Row>> = BTreeMap::new();
    let mut order: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        let next = order.len();
        let k = *order.entry(r.unit.as_str()).or_insert(next);
        out.entry(k).or_default().push(r);
    }
    out
}
