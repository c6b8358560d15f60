//! The sync job: one pass from every source into the store, then the evaluation of the current
//! periods ([`super::evaluate`]), the alerts' lifecycle, the past days still missing (only after
//! a complete pass: a day computed from half the records would stand as known), and, for the
//! command, a due digest and the outbox's delivery ([`super::alerts`]).
//!
//! `dondoc sync` and the daemon's sync fire both run [`run_once`]; they differ only in their
//! [`Options`] (the daemon gives the backfill a budget and leaves mail to its own jobs).
//! This is the one place dondoc calls [`crate::sync::run_with`] from.
//!
//! It never prints and never decides when it runs; a source that fails is in the report, not an
//! error (the rest of the pass goes on), so that the caller decides how a partial pass ends.

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;
use crate::events::SyncEndpointFinished;
use crate::rates::{Evaluation, backfill};
use crate::sync::{Mode, SyncReport};
use chrono::NaiveDate;
use std::sync::Arc;
use std::time::Duration;

/// What happens after the pass with the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    /// The lifecycle only: the daemon's digest and deliver jobs mail.
    LifecycleOnly,
    /// The lifecycle, then, with `[smtp]`, the digest if one is due and the delivery of what is
    /// queued (`dondoc sync`).
    DueDigestAndDeliver,
}

/// A listener told a step's result as soon as it is there.
pub type Tell<'a, T> = Option<&'a mut (dyn FnMut(&T) + Send)>;

/// How a sync runs.
pub struct Options<'a> {
    /// Store the pages, or only fetch and validate them (then nothing follows the pass).
    pub mode: Mode,
    /// One source only (its circuit, if open, is ignored).
    pub only: Option<&'a str>,
    /// The backfill's budget (`None`: all the days missing).
    pub backfill_budget: Option<Duration>,
    /// The backfill's progress: (days done, days in all, the day just done).
    pub progress: Option<&'a mut (dyn FnMut(usize, usize, NaiveDate) + Send)>,
    pub mail: Mail,
    /// Told the pass's report as soon as the pass is done (before the evaluation and backfill).
    pub synced: Tell<'a, SyncReport>,
    /// Told the evaluations as soon as they (and the alerts' lifecycle) are stored.
    pub evaluated: Tell<'a, Arc<Vec<Evaluation>>>,
}

impl Options<'_> {
    /// The daemon's sync fire: store, the backfill within [`backfill::DAEMON_BUDGET`], no mail.
    pub fn scheduled() -> Self {
        Options {
            mode: Mode::Store,
            only: None,
            backfill_budget: Some(backfill::DAEMON_BUDGET),
            progress: None,
            mail: Mail::LifecycleOnly,
            synced: None,
            evaluated: None,
        }
    }
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct Report {
    pub sync: SyncReport,
    /// The evaluations of the current periods (`None` on a dry run).
    pub evaluations: Option<Arc<Vec<Evaluation>>>,
    /// The backfill of past days (`None` on a dry run or after a partial pass).
    pub backfill: Option<backfill::Report>,
    /// The alert step (`None` on a dry run).
    pub alerts: Option<super::alerts::AlertsReport>,
}

impl Report {
    /// The sources that failed, with their errors.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.sync
            .failures()
            .into_iter()
            .map(|(s, e)| (s.to_string(), e.to_string()))
            .collect()
    }
}

/// One sync: see the module's documentation.
pub async fn run_once(app: &App, now: Epoch, opts: Options<'_>) -> Result<Report, JobError> {
    let Options {
        mode,
        only,
        backfill_budget,
        progress,
        mail,
        synced,
        evaluated,
    } = opts;
    let sync = crate::sync::run_with(app, now, mode, only).await;
    for e in &sync.endpoints {
        app.emit(SyncEndpointFinished {
            source: &e.source,
            endpoint: &e.endpoint,
            fetched: e.fetched,
            stored: e.stored,
            rejected: e.rejected,
            pages: e.pages,
            duration_ms: e.duration_ms,
            error: e.error.as_deref(),
        });
    }
    if let Some(tell) = synced {
        tell(&sync);
    }
    let mut report = Report {
        sync,
        ..Default::default()
    };
    if mode == Mode::DryRun {
        return Ok(report);
    }
    let evaluations = Arc::new(super::evaluate::run_once(app, now).await?.evaluations);
    let mailer = match mail {
        Mail::DueDigestAndDeliver => super::alerts::mailer(app)?,
        Mail::LifecycleOnly => None,
    };
    let changed = crate::alerts::observe::run_once(app, &evaluations, now)
        .await?
        .len();
    if let Some(tell) = evaluated {
        tell(&evaluations);
    }
    report.evaluations = Some(evaluations);
    if report.sync.failures().is_empty() {
        let mut quiet = |_: usize, _: usize, _: NaiveDate| {};
        let progress = progress.unwrap_or(&mut quiet);
        let opts = backfill::Options {
            budget: backfill_budget,
            ..Default::default()
        };
        report.backfill = Some(
            backfill::run(app, now, opts, progress)
                .await
                .map_err(JobError::Backfill)?,
        );
    }
    let mut alerts = match mail {
        Mail::LifecycleOnly => super::alerts::AlertsReport::default(),
        Mail::DueDigestAndDeliver => super::alerts::mail(app, mailer.as_ref(), now).await?,
    };
    alerts.changed = changed;
    report.alerts = Some(alerts);
    Ok(report)
}
