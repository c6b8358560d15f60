//! The jobs, each defined once: what `dondoc sync`, `evaluate`, … and the daemon's scheduler run.
//!
//! One file per job, each with a `run_once(&App, now, …) -> Result<Report, JobError>`:
//! - [`sync`]: pull every source, store, evaluate the current periods, step the alerts, backfill
//!   the past days still missing, and (for the command) serve a due digest and deliver;
//! - [`evaluate`]: the current month, quarter and year from what is stored;
//! - [`alerts`]: the alert step after an evaluation (lifecycle, then a due digest and delivery);
//! - [`digest`]: the scheduled digest (`schedule.alerts`); [`deliver`]: the outbox's delivery;
//! - [`reports`]: the scheduled commitment report; [`letter`]: the commitment letter's forms and
//!   reminders; [`portal`]: the portal's published Decision 766 figures.
//!
//! [`run`] is the scheduler's one entry: it runs a [`Job`] at a fire and tells how it ended as an
//! internal event ([`crate::events::JobFinished`]: logged and counted for `/metrics`). The CLI
//! calls the same `run_once` functions and prints their reports.
//!
//! This module never decides *when* a job runs (fires, claims, catch-up, reload and the watchdog
//! are [`crate::daemon`]'s), never prints (the CLI does), and never computes rates, composes
//! mail or parses pages itself: it sequences the layers below it.

pub mod alerts;
pub mod deliver;
pub mod digest;
pub mod evaluate;
pub mod letter;
pub mod portal;
pub mod reports;
pub mod sync;

use crate::app::App;
use crate::domain::time::Epoch;
use crate::events::JobFinished;
use crate::rates::{Evaluation, PeriodKind};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    Sync,
    AlertsDigest,
    Deliver,
    Reports,
    Letter,
    /// Issue 19: collect the portal's published Decision 766 figures (only with an enabled
    /// `[portal]` section; `portal.schedule`, daily).
    Portal,
}

impl Job {
    pub const ALL: [Job; 6] = [
        Job::Sync,
        Job::AlertsDigest,
        Job::Deliver,
        Job::Reports,
        Job::Letter,
        Job::Portal,
    ];

    /// The name in `job_runs` (the digest shares its name with `dondoc sync`'s digest step, so
    /// that the two never serve one fire twice).
    pub fn name(self) -> &'static str {
        match self {
            Job::Sync => "sync",
            Job::AlertsDigest => crate::alerts::DIGEST_JOB,
            Job::Deliver => "deliver",
            Job::Reports => crate::report::scheduled::JOB,
            Job::Letter => crate::letter::job::JOB,
            Job::Portal => crate::score::portal::JOB,
        }
    }
}

/// Why a job failed. Its text is what `job_runs` records and the log says.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sources that failed in a sync (the rest was stored, evaluated and alerted on).
    #[error("{}", .0.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "))]
    Sources(Vec<(String, String)>),
    #[error("backfilling past days: {0}")]
    Backfill(#[source] StoreError),
    /// The `[smtp]` section cannot make a mailer.
    #[error(transparent)]
    Mailer(#[from] crate::alerts::mailer::MailError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Letter(#[from] crate::letter::LetterError),
    #[error(transparent)]
    Portal(#[from] crate::score::portal::PortalError),
}

/// What a job's run did.
#[derive(Debug)]
pub enum Report {
    Sync(sync::Report),
    Digest(digest::Report),
    Deliver(deliver::Report),
    Reports(crate::report::scheduled::Outcome),
    Letter(crate::letter::job::Outcome),
    Portal(crate::score::portal::CollectReport),
}

/// What the jobs leave for the HTTP server: the latest evaluations (for the dashboard's
/// data-quality page) and the dashboard's Decision 766 scores. (Run counts are internal events:
/// [`App::events`].)
#[derive(Debug, Default)]
pub struct SyncCounters {
    /// The evaluations of the last sync (month, quarter, year).
    pub latest: Mutex<Option<Arc<Vec<Evaluation>>>>,
    /// Issue 19: the dashboard's Decision 766 scores per period kind, with the instant of the
    /// last successful sync they were computed after (recomputed after the next sync).
    #[allow(clippy::type_complexity)]
    pub scores: Mutex<HashMap<PeriodKind, (Option<Epoch>, Arc<crate::score::ScoreSet>)>>,
}

/// One scheduled run of `job` for its `fire`, as the daemon runs it: the job's `run_once`, then
/// the event of its end (logged and counted). A sync whose sources partly failed is an error
/// ([`JobError::Sources`]) after the rest was done.
pub async fn run(
    job: Job,
    app: &App,
    fire: Epoch,
    now: Epoch,
    counters: &SyncCounters,
) -> Result<Report, JobError> {
    let began = std::time::Instant::now();
    let result = run_job(job, app, fire, now, counters).await;
    app.emit(JobFinished {
        job: job.name(),
        elapsed: began.elapsed(),
        error: result
            .as_ref()
            .err()
            .map(|e| e as &(dyn std::error::Error + 'static)),
    });
    result
}

async fn run_job(
    job: Job,
    app: &App,
    fire: Epoch,
    now: Epoch,
    counters: &SyncCounters,
) -> Result<Report, JobError> {
    Ok(match job {
        Job::Sync => {
            let mut opts = sync::Options::scheduled();
            let mut keep = |evaluations: &Arc<Vec<Evaluation>>| {
                if let Ok(mut latest) = counters.latest.lock() {
                    *latest = Some(evaluations.clone());
                }
            };
            opts.evaluated = Some(&mut keep);
            let report = sync::run_once(app, now, opts).await?;
            let failures = report.failures();
            if !failures.is_empty() {
                return Err(JobError::Sources(failures));
            }
            Report::Sync(report)
        }
        Job::AlertsDigest => Report::Digest(digest::run_once(app, fire, now).await?),
        Job::Deliver => Report::Deliver(deliver::run_once(app, now).await?),
        Job::Reports => Report::Reports(reports::run_once(app, fire, now).await?),
        Job::Letter => Report::Letter(letter::run_once(app, fire, now).await?),
        Job::Portal => Report::Portal(portal::run_once(app, now).await?),
    })
}

/// Who claims a job fire: host name and process id.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dondoc".into());
    format!("{host}:{}", std::process::id())
}
