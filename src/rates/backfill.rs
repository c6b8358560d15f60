//! History from the first day: the samples that the daily evaluation would have stored for every
//! past day the stored data covers, computed from the dossiers and documents already stored.
//!
//! - A day's samples are those of [`super::run_once`] evaluated **as of the day's end** (the
//!   local midnight in Asia/Ho_Chi_Minh that closes it), for the month, quarter and year that
//!   contain the day: one sample per unit, metric, scope, period and day. The stored `as_of` is
//!   that midnight.
//! - Days run from the local day of the earliest stored record (or `--from`) to yesterday (or
//!   `--to`, never later than yesterday: today belongs to the live evaluation).
//! - **Idempotent and resumable.** Days are computed newest first in batches of [`BATCH_DAYS`],
//!   each stored in one transaction: a kill loses at most the batch in flight. By default a day
//!   that already holds samples (stored by the daily evaluation, or by an earlier backfill) is
//!   skipped, so a second run does nothing and a killed run continues where it stopped. A run
//!   may be given a time budget ([`Options::budget`]; the daemon's sync job uses
//!   [`DAEMON_BUDGET`]): it stops after the batch that passes it, and the next run goes on.
//! - **Revisions.** With `recompute`, days already stored are computed again; a sample whose
//!   counts differ (a dossier updated after the fact) takes the new counts and is marked revised,
//!   keeping the counts first stored and when ([`crate::store::Sample::revision`]): the history
//!   tells both what was known when and what is known now.
//! - The facts of every day to compute are read once per run ([`super::engine::Engine`], from
//!   the start of the oldest day's year) and each batch is a sweep of them
//!   ([`super::evaluate::rows_at_many_with`]); the projection is dropped when the run ends.
//!
//! Never contacts upstream, never writes records: it reads the store and writes samples.

use super::engine::Engine;
use super::evaluate::{UnitTree, rows_at_many_with};
use crate::app::App;
use crate::domain::periods::{Period, PeriodKind};
use crate::domain::time::{Epoch, local_to_epoch, to_local};
use crate::store::{Sample, StoreError};
use chrono::{Duration, NaiveDate};
use std::collections::HashSet;

/// Days evaluated together (one scan of the dossiers, one transaction).
pub const BATCH_DAYS: usize = 8;

/// What to backfill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// First day (default: the local day of the earliest stored record).
    pub from: Option<NaiveDate>,
    /// Last day (default and latest: yesterday).
    pub to: Option<NaiveDate>,
    /// Compute again the days that already hold samples, marking changed ones as revised.
    pub recompute: bool,
    /// Stop after the batch that passes this much time (the rest is done by the next run): the
    /// daemon's sync job keeps its cadence however long the whole history takes.
    pub budget: Option<std::time::Duration>,
}

/// The daemon's budget per sync job (see [`Options::budget`]).
pub const DAEMON_BUDGET: std::time::Duration = std::time::Duration::from_secs(120);

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// First and last day of the range considered (`None`: nothing stored yet).
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Days of the range.
    pub days: usize,
    /// Days computed now.
    pub computed: usize,
    /// Days left as they were because they already held samples.
    pub skipped: usize,
    /// Samples written: new days, and stored days whose counts changed (revised).
    pub written: u64,
    /// Days left for a later run because the budget ran out.
    pub left: usize,
    pub elapsed_ms: u64,
    /// Of which the evaluation (reading the facts and sweeping the days), the rest being the
    /// writing of the samples.
    pub evaluation_ms: u64,
}

/// The local midnight that ends `day`: the instant a day is evaluated at.
pub fn day_end(day: NaiveDate) -> Epoch {
    let next = day.succ_opt().unwrap_or(day);
    local_to_epoch(next.and_hms_opt(0, 0, 0).unwrap_or_default()).unwrap_or_default()
}

/// The local midnight that starts `day`.
pub fn day_start(day: NaiveDate) -> Epoch {
    local_to_epoch(day.and_hms_opt(0, 0, 0).unwrap_or_default()).unwrap_or_default()
}

/// The local date of an instant.
pub fn local_day(t: Epoch) -> NaiveDate {
    to_local(t).date_naive()
}

/// The items (period, as-of) of `days`: each day as of its end, for every period kind.
fn day_items(days: &[NaiveDate]) -> Vec<(Period, Epoch)> {
    let mut items = Vec::with_capacity(days.len() * PeriodKind::ALL.len());
    for day in days {
        let (start, end) = (day_start(*day), day_end(*day));
        for kind in PeriodKind::ALL {
            items.push((Period::containing(kind, start), end));
        }
    }
    items
}

/// The samples of `days` (each as of its end), computed at `computed_at`, from `engine` (loaded
/// from the start of the oldest day's year or earlier).
pub async fn samples_for_days(
    app: &App,
    engine: &Engine,
    tree: &UnitTree,
    days: &[NaiveDate],
    computed_at: Epoch,
) -> Result<Vec<Sample>, StoreError> {
    let items = day_items(days);
    let labels: Vec<String> = days
        .iter()
        .flat_map(|d| std::iter::repeat_n(d.format("%Y-%m-%d").to_string(), PeriodKind::ALL.len()))
        .collect();
    let rows = rows_at_many_with(engine, &app.settings, tree, &items).await?;
    let mut out = Vec::new();
    for (k, rows) in rows.into_iter().enumerate() {
        let (period, as_of) = items[k];
        let period = period.to_string();
        for r in rows {
            out.push(Sample {
                unit: r.unit,
                metric: r.metric.as_str().to_string(),
                scope: r.scope.unwrap_or_default(),
                period: period.clone(),
                day: labels[k].clone(),
                as_of,
                numerator: r.numerator,
                denominator: r.denominator,
                computed_at,
                revision: None,
            });
        }
    }
    Ok(out)
}

/// Backfills the days of `opts` at `now`; `progress(done, total, day)` is called after each
/// stored batch (days done of the days to compute).
pub async fn run(
    app: &App,
    now: Epoch,
    opts: Options,
    progress: &mut (dyn FnMut(usize, usize, NaiveDate) + Send),
) -> Result<Report, StoreError> {
    let started = std::time::Instant::now();
    let yesterday = local_day(now) - Duration::days(1);
    let first = match opts.from {
        Some(d) => d,
        None => match app.store.data_start().await? {
            Some(t) => local_day(t),
            None => return Ok(Report::default()),
        },
    };
    let last = opts.to.map_or(yesterday, |d| d.min(yesterday));
    let mut report = Report::default();
    if first > last {
        return Ok(report);
    }
    report.first_day = Some(first.format("%Y-%m-%d").to_string());
    report.last_day = Some(last.format("%Y-%m-%d").to_string());
    let all: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    report.days = all.len();
    let stored: HashSet<String> = if opts.recompute {
        HashSet::new()
    } else {
        let (a, b) = (report.first_day.clone(), report.last_day.clone());
        app.store
            .sample_days(&a.unwrap_or_default(), &b.unwrap_or_default())
            .await?
            .into_iter()
            .collect()
    };
    // Newest first: the recent weeks (trends, projections) are there soonest.
    let todo: Vec<NaiveDate> = all
        .into_iter()
        .rev()
        .filter(|d| !stored.contains(&d.format("%Y-%m-%d").to_string()))
        .collect();
    report.skipped = report.days - todo.len();
    let tree = UnitTree::new(&app.settings);
    let all_items = day_items(&todo);
    let Some(since) = all_items.iter().map(|(p, _)| p.start()).min() else {
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    };
    let mut evaluating = std::time::Instant::now();
    let engine = Engine::load(&app.store, since, all_items.len()).await?;
    drop(all_items);
    let mut evaluation = evaluating.elapsed();
    for batch in todo.chunks(BATCH_DAYS) {
        evaluating = std::time::Instant::now();
        let samples = samples_for_days(app, &engine, &tree, batch, now).await?;
        evaluation += evaluating.elapsed();
        report.written += app.store.store_history(&samples).await?;
        report.computed += batch.len();
        if let Some(day) = batch.last() {
            progress(report.computed, todo.len(), *day);
        }
        if opts.budget.is_some_and(|b| started.elapsed() >= b) {
            report.left = todo.len() - report.computed;
            break;
        }
    }
    drop(engine);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report.evaluation_ms = evaluation.as_millis() as u64;
    if report.computed > 0 {
        tracing::info!(
            days = report.computed,
            skipped = report.skipped,
            written = report.written,
            left = report.left,
            elapsed_ms = report.elapsed_ms,
            evaluation_ms = report.evaluation_ms,
            "past days backfilled"
        );
    }
    Ok(report)
}
