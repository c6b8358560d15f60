//! The daemon (`dondoc run`): runs the jobs of `[schedule]` until SIGTERM/SIGINT.
//!
//! - Jobs are `run_once` functions ([`Job::Sync`]: pull, store, evaluate, update alerts;
//!   [`Job::AlertsDigest`]: compose and queue the digests; [`Job::Deliver`]: send queued mail;
//!   [`Job::Reports`]: build and queue the commitment report, `reports.schedule`;
//!   [`Job::Letter`]: the commitment letter's forms and reminders, `letter.schedule`, scheduled
//!   only when `[[commitments]]` holds criteria).
//!   The schedule only decides *when*: [`Daemon::tick`] runs what is due at an instant, and the
//!   loop in [`Daemon::run`] sleeps until the next fire computed from the injected clock. Tests
//!   call `tick` with a manual clock and never wait for time to pass.
//! - Each (job, fire time) is claimed by one row in `job_runs` before it runs, so that replicas
//!   sharing a database run every fire once.
//! - A job never overlaps itself: a fire that comes while it still runs is skipped and logged.
//! - Catch-up: at start, a job whose last successful run is older than its interval runs once
//!   (for its latest missed fire), not once per missed fire; missed fires are likewise coalesced
//!   while running. A reports fire is caught up only within a week of it (its deadline).
//! - SIGHUP re-reads the configuration: a valid one applies from the next fire (a changed
//!   `database.url` or `http.listen` needs a restart, and says so); an invalid one is refused with
//!   every problem logged, and the old one stays.
//! - SIGTERM/SIGINT stop scheduling; running jobs get `schedule.shutdown_timeout_secs` to finish
//!   (a sync stops between pages; a transaction is never cut in half: an abandoned one rolls back).
//! - Faults of its own machine do not stop it for good (docs/operations.md): a fire whose end
//!   could not be recorded (a full disk, a lost database connection) is recorded at a later tick;
//!   a claim that fails skips that job's fire only; a job still running long after its fire
//!   (wedged on a dead connection) is abandoned at a later fire of its own, so that it is not
//!   skipped as "still running" forever. The free space of a SQLite database's filesystem is
//!   checked at every tick and a warning logged when it runs low (`health.min_free_disk_*`).
//! - Under systemd (`Type=notify`, `WatchdogSec=`), the loop of [`Daemon::run`] tells the watchdog
//!   it is alive at least twice per watchdog period ([`Watchdog`]): a loop that stops is
//!   restarted by systemd.
//!
//! This module never computes rates, syncs or composes mail itself: what a job does is
//! [`crate::jobs`]' (`run_once`, through [`crate::jobs::run`]); the daemon keeps only scheduling,
//! fire claims, reload and the watchdog.

use crate::app::App;
use crate::config::{self, Settings};
use crate::domain::time::{Epoch, epoch, utc};
use crate::schedule::{Schedule, ScheduleError};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How a job's run ended, as the daemon saw it (kept in memory for tests and `/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobOutcome {
    pub fire: Epoch,
    pub finished: Epoch,
    /// `None` when the run succeeded.
    pub error: Option<String>,
}

/// A fire's end that the store did not take yet (recorded again at the next tick).
#[derive(Debug, Clone)]
struct Unrecorded {
    job: Job,
    fire: Epoch,
    error: Option<String>,
    finished: Epoch,
}

/// A job's run in progress.
struct Running {
    handle: tokio::task::JoinHandle<()>,
    fire: Epoch,
    started: Epoch,
}

/// A run older than this many intervals of its job (and at least [`MIN_STUCK_SECS`]) is taken
/// for wedged when its job fires again: it is abandoned and the new fire runs.
const STUCK_INTERVALS: i64 = 4;
const MIN_STUCK_SECS: i64 = 2 * 3600;
/// While the disk stays low, the warning is logged again after this long.
const DISK_WARN_EVERY_SECS: i64 = 3600;

pub use crate::jobs::{Job, SyncCounters};

/// When each job runs: the daemon's part of a [`Job`] (what it does is [`crate::jobs`]').
impl Job {
    /// The jobs a configuration schedules: every job, but the letter's only with a register of
    /// criteria (`[[commitments]]`) and the portal's only with an enabled `[portal]`.
    pub fn scheduled(s: &Settings) -> Vec<Job> {
        Job::ALL.into_iter().filter(|j| j.is_scheduled(s)).collect()
    }

    /// How old a fire may be and still be caught up at start (`None`: any age).
    fn max_catch_up(self) -> Option<i64> {
        match self {
            Job::Reports => Some(crate::report::scheduled::MAX_DELAY_SECS),
            _ => None,
        }
    }

    /// Whether the configuration schedules this job at all (the portal's collection only with an
    /// enabled `[portal]`).
    pub fn is_scheduled(self, s: &Settings) -> bool {
        self.expr(s).is_some()
    }

    /// The job's schedule; `None` for a job that is not configured (the portal's collection
    /// without an enabled `[portal]`).
    fn expr(self, s: &Settings) -> Option<&str> {
        Some(match self {
            Job::Sync => &s.schedule.sync,
            Job::AlertsDigest => &s.schedule.alerts,
            Job::Deliver => &s.schedule.deliver,
            Job::Reports => &s.reports.schedule,
            Job::Letter if s.commitments.is_empty() => return None,
            Job::Letter => &s.letter.schedule,
            Job::Portal => &s.portal.as_ref().filter(|p| p.enabled)?.schedule,
        })
    }
}

/// What runs a job (the real jobs by default; tests put their own in).
pub trait Runner: Send + Sync + 'static {
    fn run(
        &self,
        job: Job,
        app: App,
        fire: Epoch,
        now: Epoch,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

/// The real jobs ([`crate::jobs::run`]).
#[derive(Debug, Default)]
pub struct Jobs {
    counters: Arc<SyncCounters>,
}

impl Runner for Jobs {
    fn run(
        &self,
        job: Job,
        app: App,
        fire: Epoch,
        now: Epoch,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let counters = self.counters.clone();
        Box::pin(async move {
            crate::jobs::run(job, &app, fire, now, &counters)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// When each job fires.
#[derive(Debug, Clone)]
pub struct Scheduler {
    schedules: Vec<(Job, Schedule)>,
    /// Fires up to this instant have been considered.
    seen_until: Epoch,
}

impl Scheduler {
    pub fn new(s: &Settings, now: Epoch) -> Result<Scheduler, ScheduleError> {
        let schedules = Job::ALL
            .iter()
            .filter_map(|j| j.expr(s).map(|e| (j, e)))
            .map(|(j, e)| Ok((*j, Schedule::parse(e)?)))
            .collect::<Result<_, ScheduleError>>()?;
        Ok(Scheduler {
            schedules,
            seen_until: now,
        })
    }

    fn next_after(schedule: &Schedule, t: Epoch) -> Option<Epoch> {
        schedule
            .fires_after(utc(t))
            .next()
            .map(|f| epoch(f.to_utc()))
    }

    /// The latest fire of `schedule` in `(after, until]`.
    fn latest_in(schedule: &Schedule, after: Epoch, until: Epoch) -> Option<Epoch> {
        let mut latest = None;
        for f in schedule.fires_after(utc(after)) {
            let f = epoch(f.to_utc());
            if f > until {
                break;
            }
            latest = Some(f);
        }
        latest
    }

    /// The next instant something fires after what has been seen.
    pub fn next_wake(&self) -> Option<Epoch> {
        self.schedules
            .iter()
            .filter_map(|(_, s)| Self::next_after(s, self.seen_until))
            .min()
    }

    /// The jobs due in `(seen_until, now]`, each once at its latest fire (missed fires coalesce).
    pub fn due(&mut self, now: Epoch) -> Vec<(Job, Epoch)> {
        if now <= self.seen_until {
            return Vec::new();
        }
        let from = self.seen_until;
        self.seen_until = now;
        // Look back at most a few days: a clock jump does not replay months of fires.
        let from = from.max(now - 7 * 86_400);
        self.schedules
            .iter()
            .filter_map(|(j, s)| Self::latest_in(s, from, now).map(|f| (*j, f)))
            .collect()
    }

    /// The interval of a job: the gap between its next two fires.
    pub fn interval(&self, job: Job, now: Epoch) -> Option<i64> {
        let (_, s) = self.schedules.iter().find(|(j, _)| *j == job)?;
        let a = Self::next_after(s, now)?;
        let b = Self::next_after(s, a)?;
        Some(b - a)
    }

    /// The latest fire of `job` at or before `now`, looking back twice its interval and at least
    /// 8 days (a working-day schedule has gaps longer than its interval over a weekend or a
    /// holiday), at most 400 days.
    pub fn latest_fire(&self, job: Job, now: Epoch) -> Option<Epoch> {
        let (_, s) = self.schedules.iter().find(|(j, _)| *j == job)?;
        let interval = self.interval(job, now)?.max(1);
        let lookback = (2 * interval).clamp(8 * 86_400, 400 * 86_400);
        Self::latest_in(s, now - lookback, now)
    }
}

/// Why the daemon could not start or keep going.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("schedule: {0}")]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(
        "cannot listen on {addr} for /healthz and /metrics: {source}. Change http.listen or stop what uses it"
    )]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// The running daemon's shared state (also read by the HTTP server).
pub struct Daemon {
    app: RwLock<App>,
    scheduler: Mutex<Scheduler>,
    config_path: Option<PathBuf>,
    runner: Arc<dyn Runner>,
    running: Mutex<HashMap<Job, Running>>,
    pub counters: Arc<SyncCounters>,
    instance: String,
    started_at: Epoch,
    outcomes: Arc<Mutex<HashMap<Job, JobOutcome>>>,
    unrecorded: Arc<Mutex<Vec<Unrecorded>>>,
    /// When the low-disk warning was last logged (None: the disk is not low).
    disk_warned: Mutex<Option<Epoch>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// A daemon over `app` with the real jobs. `config_path` is what SIGHUP re-reads.
    pub fn new(app: App, config_path: Option<PathBuf>) -> Result<Arc<Daemon>, DaemonError> {
        let counters = Arc::new(SyncCounters::default());
        let runner = Arc::new(Jobs {
            counters: counters.clone(),
        });
        Self::with_runner(app, config_path, runner, counters)
    }

    /// A daemon whose jobs are run by `runner` (tests count and hold jobs with it).
    pub fn with_runner(
        app: App,
        config_path: Option<PathBuf>,
        runner: Arc<dyn Runner>,
        counters: Arc<SyncCounters>,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let now = epoch(app.clock.now());
        let scheduler = Scheduler::new(&app.settings, now)?;
        Ok(Arc::new(Daemon {
            app: RwLock::new(app),
            scheduler: Mutex::new(scheduler),
            config_path,
            runner,
            running: Mutex::new(HashMap::new()),
            counters,
            instance: crate::jobs::instance_name(),
            started_at: now,
            outcomes: Arc::new(Mutex::new(HashMap::new())),
            unrecorded: Arc::new(Mutex::new(Vec::new())),
            disk_warned: Mutex::new(None),
        }))
    }

    /// The application as configured now.
    pub fn app(&self) -> App {
        self.app.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn started_at(&self) -> Epoch {
        self.started_at
    }

    /// Whether `job` is running now.
    pub fn is_running(&self, job: Job) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job)
            .is_some_and(|r| !r.handle.is_finished())
    }

    /// How the latest finished run of `job` ended (since this daemon started).
    pub fn last_outcome(&self, job: Job) -> Option<JobOutcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job)
            .cloned()
    }

    /// Fires whose end is not recorded in the store yet.
    pub fn unrecorded_fires(&self) -> usize {
        self.unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Records the ends of runs that the store refused earlier (a full disk, a lost connection).
    /// Those it refuses again wait for the next tick.
    async fn record_unrecorded(&self, app: &App) {
        let pending: Vec<Unrecorded> =
            std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(|e| e.into_inner()));
        let mut left = Vec::new();
        for u in pending {
            match app
                .store
                .finish_fire(u.job.name(), u.fire, u.error.as_deref(), u.finished)
                .await
            {
                Ok(()) => tracing::info!(
                    job = u.job.name(),
                    fire = %crate::domain::time::rfc3339(u.fire),
                    "the end of an earlier run is recorded now"
                ),
                Err(_) => left.push(u),
            }
        }
        if !left.is_empty() {
            self.unrecorded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(left);
        }
    }

    /// The free space of a SQLite database's filesystem, with whether it is below the configured
    /// limits. Logs a warning when it is low (again every hour while it stays low) and a note
    /// when it has room again.
    pub fn check_disk(&self, now: Epoch) -> Option<(crate::store::DiskSpace, bool)> {
        let app = self.app();
        let h = &app.settings.health;
        let disk = match app.store.disk_space()? {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the free space of the database's filesystem");
                return None;
            }
        };
        let low = disk.is_low(h.min_free_disk_mib, h.min_free_disk_percent);
        let mut warned = self.disk_warned.lock().unwrap_or_else(|e| e.into_inner());
        match (low, *warned) {
            (true, last) if last.is_none_or(|t| now - t >= DISK_WARN_EVERY_SECS) => {
                tracing::warn!(
                    free_bytes = disk.free_bytes,
                    min_free_mib = h.min_free_disk_mib,
                    min_free_percent = h.min_free_disk_percent,
                    "disk space low: {}. Free space (old logs, backups) before the database's writes fail",
                    disk.describe()
                );
                *warned = Some(now);
            }
            (false, Some(_)) => {
                tracing::info!("disk space back above the limit: {}", disk.describe());
                *warned = None;
            }
            _ => {}
        }
        Some((disk, low))
    }

    /// At start: every job whose last success is older than its interval runs once, for its
    /// latest fire. Returns what was started.
    pub async fn catch_up(self: &Arc<Self>, now: Epoch) -> Result<Vec<(Job, Epoch)>, DaemonError> {
        let app = self.app();
        let mut due = Vec::new();
        {
            let sched = self
                .scheduler
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for job in Job::ALL {
                let interval = sched.interval(job, now).unwrap_or(i64::MAX);
                let last = app.store.last_success(job.name()).await?;
                if last.is_none_or(|l| now - l > interval)
                    && let Some(fire) = sched.latest_fire(job, now)
                    && job.max_catch_up().is_none_or(|max| now - fire <= max)
                {
                    due.push((job, fire));
                }
            }
        }
        self.start(due, now).await
    }

    /// Runs what is due at `now` (each job at most once, at its latest fire).
    pub async fn tick(self: &Arc<Self>, now: Epoch) -> Result<Vec<(Job, Epoch)>, DaemonError> {
        self.check_disk(now);
        let due = self
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .due(now);
        self.start(due, now).await
    }

    async fn start(
        self: &Arc<Self>,
        due: Vec<(Job, Epoch)>,
        now: Epoch,
    ) -> Result<Vec<(Job, Epoch)>, DaemonError> {
        let app = self.app();
        let anything_due = !due.is_empty();
        let mut started = Vec::new();
        for (job, fire) in due {
            if self.is_running(job) && !self.abandon_if_stuck(job, now) {
                tracing::warn!(job = job.name(), fire = %crate::domain::time::rfc3339(fire), "still running from an earlier fire: this fire is skipped");
                continue;
            }
            let claimed = match app
                .store
                .claim_fire(job.name(), fire, &self.instance, now)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    // This job's fire only: the others are tried, and the next fire runs.
                    tracing::error!(job = job.name(), fire = %crate::domain::time::rfc3339(fire), error = %e, "could not claim the fire: it is skipped");
                    continue;
                }
            };
            if !claimed {
                tracing::debug!(
                    job = job.name(),
                    fire,
                    "fire already claimed (another replica, or done)"
                );
                continue;
            }
            let runner = self.runner.clone();
            let app2 = app.clone();
            let (outcomes, unrecorded) = (self.outcomes.clone(), self.unrecorded.clone());
            let handle = tokio::spawn(async move {
                // How the run went is told by the job itself (an internal event, logged and
                // counted); the daemon records its end.
                let result = runner.run(job, app2.clone(), fire, now).await;
                release_after_job();
                let finished = epoch(app2.clock.now());
                let error = result.err();
                outcomes.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    job,
                    JobOutcome {
                        fire,
                        finished,
                        error: error.clone(),
                    },
                );
                if let Err(e) = app2
                    .store
                    .finish_fire(job.name(), fire, error.as_deref(), finished)
                    .await
                {
                    tracing::error!(job = job.name(), error = %e, "could not record the job's end: trying again at the next tick");
                    unrecorded
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Unrecorded {
                            job,
                            fire,
                            error,
                            finished,
                        });
                }
            });
            self.running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    job,
                    Running {
                        handle,
                        fire,
                        started: now,
                    },
                );
            started.push((job, fire));
        }
        if anything_due {
            self.record_unrecorded(&app).await;
        }
        Ok(started)
    }

    /// When `job`'s run has gone on for much longer than the job's interval, abandons it (its
    /// open transaction rolls back and its connection is closed) and records its fire as failed.
    /// Returns whether it was abandoned.
    fn abandon_if_stuck(&self, job: Job, now: Epoch) -> bool {
        let interval = self
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .interval(job, now)
            .unwrap_or(0);
        let limit = (STUCK_INTERVALS * interval).max(MIN_STUCK_SECS);
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = running.get(&job) else {
            return true;
        };
        if now - r.started < limit {
            return false;
        }
        r.handle.abort();
        let error = format!(
            "abandoned: still running {} minute(s) after it began (wedged?); the next fire ran instead",
            (now - r.started) / 60
        );
        tracing::error!(job = job.name(), fire = %crate::domain::time::rfc3339(r.fire), "{error}");
        let fire = r.fire;
        running.remove(&job);
        drop(running);
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                job,
                JobOutcome {
                    fire,
                    finished: now,
                    error: Some(error.clone()),
                },
            );
        self.unrecorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Unrecorded {
                job,
                fire,
                error: Some(error),
                finished: now,
            });
        true
    }

    /// Waits for the running jobs to end, at most `timeout`; abandons the rest (their open
    /// transactions roll back). Returns whether all ended in time.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let handles: Vec<(Job, tokio::task::JoinHandle<()>)> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(j, r)| (j, r.handle))
            .collect();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut all = true;
        for (job, mut h) in handles {
            match tokio::time::timeout_at(deadline, &mut h).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        job = job.name(),
                        "still running at shutdown: abandoned (its open transaction rolls back)"
                    );
                    h.abort();
                    all = false;
                }
            }
        }
        all
    }

    /// Re-reads the configuration file. A valid one replaces the settings from the next fire;
    /// an invalid one is refused and the old one stays.
    pub fn reload(&self) -> Result<(), config::ConfigError> {
        let Some(path) = &self.config_path else {
            return Ok(());
        };
        let loaded = match config::load(path) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("configuration not reloaded, the running one stays: {e}");
                return Err(e);
            }
        };
        for w in &loaded.warnings {
            tracing::warn!("configuration: {w}");
        }
        let mut app = self.app.write().unwrap_or_else(|e| e.into_inner());
        if loaded.settings.database.url != app.settings.database.url {
            tracing::warn!(
                "database.url changed: that takes a restart; the rest of the configuration applies now"
            );
        }
        if loaded.settings.http.listen != app.settings.http.listen {
            tracing::warn!("http.listen changed: that takes a restart");
        }
        let now = epoch(app.clock.now());
        match Scheduler::new(&loaded.settings, now) {
            Ok(mut sched) => {
                let old = self
                    .scheduler
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .seen_until;
                sched.seen_until = old.max(now);
                *self.scheduler.lock().unwrap_or_else(|e| e.into_inner()) = sched;
            }
            Err(e) => {
                tracing::error!("configuration not reloaded: {e}");
                return Ok(());
            }
        }
        let mut settings = loaded.settings;
        settings.database = app.settings.database.clone();
        app.settings = Arc::new(settings);
        tracing::info!(file = %path.display(), "configuration reloaded; it applies from the next fire");
        Ok(())
    }

    /// Runs until `shutdown` resolves: catch-up, then each fire as it comes; SIGHUP reloads.
    pub async fn run(
        self: &Arc<Self>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        tokio::pin!(shutdown);
        let mut hup = hangup();
        let watchdog = Watchdog::from_env();
        watchdog.alive();
        self.catch_up(epoch(self.app().clock.now())).await?;
        loop {
            // Each turn of the loop tells systemd's watchdog that the scheduler is alive; a loop
            // that stops turning (wedged) gets the process restarted.
            watchdog.alive();
            let app = self.app();
            let now = epoch(app.clock.now());
            let wake = self
                .scheduler
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_wake();
            let wait = wake
                .map(|w| Duration::from_secs((w - now).max(0) as u64))
                .unwrap_or(Duration::from_secs(3600));
            let nap = watchdog.every().map_or(wait, |every| wait.min(every));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = hup.recv() => {
                    let _ = self.reload();
                }
                _ = tokio::time::sleep(nap) => {
                    if nap < wait {
                        continue; // only the watchdog's turn: nothing is due yet
                    }
                    // Fires are whole seconds; the wall clock may lag the timer by a little.
                    let mut now = epoch(self.app().clock.now());
                    if let Some(w) = wake && now < w {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        now = epoch(self.app().clock.now()).max(now);
                    }
                    if let Err(e) = self.tick(now).await {
                        tracing::error!(error = %e, "could not start the due jobs; trying again at the next fire");
                    }
                }
            }
        }
        self.app().stop();
        watchdog.stopping();
        let timeout = Duration::from_secs(self.app().settings.schedule.shutdown_timeout_secs);
        tracing::info!(
            timeout_secs = timeout.as_secs(),
            "stopping: waiting for running jobs"
        );
        self.drain(timeout).await;
        Ok(())
    }
}

/// Hands what a job freed back to the system, now and again after the store's idle connections
/// (and their SQLite page caches) have been closed: glibc keeps freed pages in its arenas
/// otherwise, and an idle daemon would hold the peak of its last job (issue 16). The pool closes
/// a connection between one and two idle timeouts after its last use (its reaper runs once per
/// timeout), hence a trim after each.
fn release_after_job() {
    crate::rates::engine::release_free_memory();
    tokio::spawn(async {
        let idle = crate::store::IDLE;
        tokio::time::sleep(idle + Duration::from_secs(5)).await;
        crate::rates::engine::release_free_memory();
        tokio::time::sleep(idle).await;
        crate::rates::engine::release_free_memory();
    });
}

/// systemd's service notifications (`sd_notify(3)`): readiness, the watchdog's keep-alive and
/// stopping. Without `NOTIFY_SOCKET` (not under systemd, or `Type=` other than notify) every
/// call does nothing.
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    /// Half the watchdog period that systemd asked for (`WATCHDOG_USEC`), when it asked.
    every: Option<Duration>,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment.
    pub fn from_env() -> Watchdog {
        #[cfg(unix)]
        let period = sd_notify::watchdog_enabled();
        #[cfg(not(unix))]
        let period: Option<Duration> = None;
        Watchdog {
            every: period
                .filter(|p| !p.is_zero())
                .map(|p| (p / 2).max(Duration::from_millis(10))),
        }
    }

    /// How often the loop must tell that it is alive, when a watchdog is set.
    pub fn every(&self) -> Option<Duration> {
        self.every
    }

    /// `READY=1`: the database is open and migrated, `/healthz` is served.
    pub fn ready() {
        notify(Note::Ready);
    }

    /// `WATCHDOG=1`, when systemd asked for a watchdog.
    pub fn alive(&self) {
        if self.every.is_some() {
            notify(Note::Alive);
        }
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        notify(Note::Stopping);
    }
}

/// What is told to systemd.
#[derive(Debug, Clone, Copy)]
enum Note {
    Ready,
    Alive,
    Stopping,
}

#[cfg(unix)]
fn notify(note: Note) {
    use sd_notify::NotifyState as S;
    let state: &[S] = match note {
        Note::Ready => &[S::Ready, S::Status("running")],
        Note::Alive => &[S::Watchdog],
        Note::Stopping => &[S::Stopping],
    };
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, ?note, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

#[cfg(not(unix))]
fn notify(_note: Note) {}

/// SIGHUP as a stream of notifications (never fires where signals are not available).
struct Hangup {
    #[cfg(unix)]
    inner: Option<tokio::signal::unix::Signal>,
}

fn hangup() -> Hangup {
    #[cfg(unix)]
    {
        Hangup {
            inner: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        }
    }
    #[cfg(not(unix))]
    {
        Hangup {}
    }
}

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.inner.as_mut() {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
