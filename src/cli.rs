//! The command line of `../shared/spec/cli.md`: `sync`, `status`, `history`, `check-config`,
//! `simulate`. Each command calls the same `run_once` functions a scheduled job would.
//!
//! Exit status: 0 success; 1 the work failed (a source unreachable, the database unusable), with
//! a message naming the cause; 2 a usage or configuration error. Results go to standard output;
//! logs go to standard error.

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, LoadedConfig, LogFormat, Settings};
use crate::metrics::{self, Evaluation, Metric, Period, PeriodKind, Row, RowState};
use crate::time::{Epoch, epoch, rfc3339, to_local};
use crate::upstream::simulator::{Faults, SimOptions, SimUnit, Simulator};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use unicode_width::UnicodeWidthStr;

#[derive(Debug, Parser)]
#[command(
    name = "dondoc",
    version = crate::VERSION_LONG,
    about = "Watches a city's one-stop and document systems and reports each unit's PAR/SIPAS rates against its targets.",
    long_about = None
)]
pub struct Cli {
    /// The configuration file (TOML).
    #[arg(
        long,
        global = true,
        env = "DONDOC_CONFIG",
        default_value = "config/dondoc.toml"
    )]
    pub config: PathBuf,
    /// Log lines as text (default) or JSON; overrides log.format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: run every scheduled job until SIGTERM/SIGINT; serve /healthz and /metrics.
    Run,
    /// One pass now: pull every source incrementally, store, evaluate the current periods.
    Sync(SyncArgs),
    /// Evaluate the current month, quarter and year now from what is stored, and store them.
    Evaluate,
    /// Print every unit's rates for the period containing --as-of (reads the database only).
    Status(StatusArgs),
    /// Print the stored time series of one rate.
    History(HistoryArgs),
    /// Compute the samples of past days from the stored records (history from the first day);
    /// `sync` does this by itself for the days missing. Idempotent; resumes after a kill.
    Backfill(BackfillArgs),
    /// Validate the configuration and say exactly what is wrong.
    CheckConfig,
    /// Read one page of each list of a source (or the first rows of a file) through its mapping:
    /// each contract field beside the vendor's value, and every rejection. Stores nothing.
    CheckSource(CheckSourceArgs),
    /// Import one spreadsheet (.xlsx or .csv) now with an import source's column mapping.
    Import(ImportArgs),
    /// Serve a simulated one-stop and document system (upstream-api.md) until Ctrl-C.
    Simulate(SimulateArgs),
    /// Copy a city's whole history from one database into another (SQLite to PostgreSQL), and
    /// check every table's count; nothing is committed unless all of it copied.
    MigrateStore {
        /// The database to copy from, e.g. sqlite://data/dondoc.db
        #[arg(long)]
        from: String,
        /// An empty database to copy into, e.g. postgres://dondoc@db.example/dondoc
        #[arg(long)]
        to: String,
    },
    /// Copy the SQLite database into a new file while dondoc runs (a consistent snapshot,
    /// checked before it is named). PostgreSQL: use pg_dump (exit 2).
    Backup {
        /// The file to create (it must not exist), e.g. /backup/dondoc-2024-06-20.db
        #[arg(long)]
        out: PathBuf,
    },
    /// Current alerts and the outbox; preview a unit's mail; test the SMTP settings.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Make the commitment report of a period as xlsx, csv or html (reads the database only).
    Report(ReportArgs),
    /// Each unit's estimated Decision 766 points, the points it loses, what wins them back, and
    /// the portal's published figures beside them (reads the database only); `portal-collect`
    /// and `portal-reset` manage the collection of the portal's figures.
    Score(ScoreArgs),
    /// The commitment letter's criteria: each unit's pre-filled form, returned forms, the
    /// consolidation (docs/letter.md).
    #[command(subcommand)]
    Letter(LetterCommand),
}

#[derive(Debug, Subcommand)]
pub enum LetterCommand {
    /// Write one pre-filled form per unit, DIR/<UNIT>.xlsx.
    Forms {
        /// The period: 2026-Q4 (a quarter) or 2026 (the year).
        #[arg(long)]
        period: String,
        /// The folder to write into (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// The evaluation instant of the automatic figures, RFC 3339 (default: now).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Import a returned form (.xlsx): recorded whole, or refused naming every bad cell.
    Import { file: PathBuf },
    /// Every criterion × unit with its value, target and state; the units whose form is not back.
    Status {
        /// The period (default: the quarter containing --as-of).
        #[arg(long)]
        period: Option<String>,
        /// The evaluation instant, RFC 3339 (default: now).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

// ---- issue 19: `dondoc score` ----

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScoreArgs {
    #[command(subcommand)]
    pub action: Option<ScoreCommand>,
    #[arg(long, value_enum, default_value = "quarter")]
    pub period: PeriodKind,
    /// The evaluation instant, RFC 3339 (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Keep one unit (default: all, parents included); the table then shows every indicator.
    #[arg(long)]
    pub unit: Option<String>,
    /// calendar (default, as `status`) or reporting (the 15th of the month before to the 14th).
    #[arg(long, value_enum, default_value = "calendar")]
    pub basis: crate::report::Basis,
    /// table (for people) or json (for scripts).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum ScoreCommand {
    /// Collect the portal's published figures now ([portal] section), politely.
    PortalCollect,
    /// Close the portal collector's circuit after a person dealt with its cause.
    PortalReset,
}

mod score; // `dondoc score`: src/cli/score.rs
// ---- end issue 19 ----

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period: 2024-Q2 (a quarter), 2024-05 (a month) or 2024 (a year).
    #[arg(long)]
    pub period: Period,
    /// calendar (as metrics.md), or reporting (the 15th of the month before to the 14th);
    /// default: reports.basis of the configuration (reporting unless set).
    #[arg(long, value_enum)]
    pub basis: Option<crate::report::Basis>,
    /// The evaluation instant, RFC 3339 (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// xlsx (for officials), csv (for scripts) or html; default: from --out's extension.
    #[arg(long, value_enum)]
    pub format: Option<crate::report::Format>,
    /// The file to write; `-` writes to standard output.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Current alerts (firing, pending, warnings) and the newest messages of the outbox.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print the letters a unit would receive if a digest were composed now, exactly as they
    /// would be queued (nothing is sent or marked); the root unit's summary and its own action
    /// list are two letters, separated by a line of `=`.
    Preview {
        #[arg(long)]
        unit: String,
        /// Print the HTML alternative instead of the plain text.
        #[arg(long)]
        html: bool,
    },
    /// Send a short test message to check the SMTP settings, and report the server's answer.
    SendTest {
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct CheckSourceArgs {
    /// The source's name (its [sources.NAME] section).
    pub source: String,
    /// How many records (or rows) to show field by field.
    #[arg(long, default_value_t = 3)]
    pub records: usize,
    /// Import sources: the file to read (default: the first one waiting in the folder).
    #[arg(long)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The .xlsx or .csv file.
    pub file: PathBuf,
    /// The import source whose mapping reads it (kind = "import").
    #[arg(long)]
    pub source: String,
    /// Import it even if the same file was imported before.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Fetch, parse and validate every page, and store nothing (a check of the sources).
    #[arg(long)]
    pub dry_run: bool,
    /// Sync this source only (its circuit, if open, is ignored: it is tried now).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// With --source: first set the source's mark back (or forward) to DATE, so that the pass
    /// reads again what changed since then. DATE is YYYY-MM-DD (local midnight, UTC+7) or an
    /// RFC 3339 instant.
    #[arg(long, value_name = "DATE", requires = "source")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The evaluation instant, RFC 3339 (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value = "quarter")]
    pub period: PeriodKind,
    /// Keep one unit (default: all, parents included).
    #[arg(long)]
    pub unit: Option<String>,
    /// table (for people) or json (for scripts).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long)]
    pub unit: String,
    #[arg(long)]
    pub metric: String,
    /// A field group, for a scoped rate.
    #[arg(long)]
    pub scope: Option<String>,
    #[arg(long, value_enum, default_value = "quarter")]
    pub period: PeriodKind,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// First local day, YYYY-MM-DD (default: the day of the earliest stored record).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last local day, YYYY-MM-DD (default and latest: yesterday).
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Compute again the days already stored; samples whose counts changed are marked revised
    /// (the first counts are kept beside the new ones).
    #[arg(long)]
    pub recompute: bool,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (default: simulator.listen of the configuration).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub dossiers: Option<usize>,
    #[arg(long)]
    pub documents: Option<usize>,
    /// Days of history before now.
    #[arg(long, default_value_t = 365)]
    pub history_days: u32,
    /// Share of requests answered 503 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_503_share: f64,
    /// Share of requests answered 429 with Retry-After (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_429_share: f64,
    #[arg(long, default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Latency added to every answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of dossiers served invalid (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub invalid_share: f64,
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn usage(m: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: m.into(),
        }
    }
    fn work(m: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: m.into(),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::work(e.to_string())
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // A one-shot command piped into `head` or `less` ends quietly when the reader goes away, as
    // Unix tools do, instead of panicking on a broken pipe. The long-running commands (`run`,
    // `simulate`) keep Rust's default (SIGPIPE ignored), so that a peer closing a socket is an
    // error to handle, never a kill.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Run | Command::Simulate(_)) {
        // SAFETY: called once, before the runtime starts any thread; SIG_DFL is a valid handler.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dondoc: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, Arc::new(SystemClock))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("dondoc: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn load(cli: &Cli) -> Result<LoadedConfig, Failure> {
    config::load(&cli.config).map_err(|e| Failure::usage(e.to_string()))
}

/// Runs a parsed command with the given clock.
pub async fn run(cli: Cli, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    if let Command::MigrateStore { from, to } = &cli.command {
        // Needs no configuration file: both databases are named on the command line.
        crate::telemetry::init(cli.log_format.unwrap_or_default(), None);
        return match crate::store::run_migrate_store(from, to).await {
            Ok(report) => {
                print!("{report}");
                Ok(())
            }
            Err(e) => Err(Failure::work(format!(
                "migrate-store: nothing was committed: {e}"
            ))),
        };
    }
    if let Command::CheckConfig = cli.command {
        return check_config(&cli);
    }
    let loaded = load(&cli)?;
    let s = &loaded.settings;
    crate::telemetry::init(
        cli.log_format.unwrap_or(s.log.format),
        s.log.level.as_deref(),
    );
    match &cli.command {
        Command::Run => run_daemon(loaded, clock).await,
        Command::Sync(a) => sync(loaded.settings, clock, a).await,
        Command::CheckSource(a) => check_source(&loaded.settings, clock, a).await,
        Command::Import(a) => import(loaded.settings, clock, a).await,
        Command::Evaluate => evaluate_now(loaded.settings, clock).await,
        Command::Status(a) => status(loaded.settings, clock, a).await,
        Command::History(a) => history(loaded.settings, clock, a).await,
        Command::Backfill(a) => backfill(loaded.settings, clock, a).await,
        Command::Simulate(a) => simulate(&loaded.settings, clock, a).await,
        Command::Alerts(a) => alerts(loaded.settings, clock, a).await,
        Command::Report(a) => report(loaded.settings, clock, a).await,
        Command::Score(a) => score::score(loaded.settings, clock, a).await,
        Command::Backup { out } => backup(&loaded.settings, out).await,
        Command::Letter(a) => letter(loaded.settings, clock, a).await,
        Command::CheckConfig | Command::MigrateStore { .. } => Ok(()),
    }
}

fn check_config(cli: &Cli) -> Result<(), Failure> {
    let loaded = load(cli)?;
    let s = &loaded.settings;
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "{}: valid.", loaded.file.display());
    let _ = writeln!(out, "database   {}", s.database.url);
    for (name, src) in &s.sources {
        let _ = writeln!(
            out,
            "source     {name} ({}) {}",
            src.kind.as_str(),
            crate::upstream::mapping::describe(src)
        );
    }
    if s.simulator.enabled {
        let _ = writeln!(
            out,
            "simulator  enabled on {} (seed {}, {} dossiers)",
            s.simulator.listen, s.simulator.seed, s.simulator.dossiers
        );
    }
    let tree = metrics::UnitTree::new(s);
    let wards = tree.units.iter().filter(|u| u.depth > 0).count();
    let root = tree.units.first().map(|u| u.name.as_str()).unwrap_or("");
    let _ = writeln!(
        out,
        "units      {} ({root} and {wards} below it)",
        tree.units.len()
    );
    let mut schedules = vec![
        ("sync", &s.schedule.sync),
        ("alerts", &s.schedule.alerts),
        ("reports", &s.reports.schedule),
    ];
    if !s.commitments.is_empty() {
        schedules.push(("letter", &s.letter.schedule));
    }
    for (key, expr) in schedules {
        let next = crate::schedule::Schedule::parse(expr)
            .ok()
            .and_then(|sc| sc.next_fires(chrono::Utc::now(), 1).into_iter().next())
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "schedule   {key:<8}{expr:<22} next {next}");
    }
    match &s.smtp {
        Some(m) if m.transport == crate::config::MailTransport::File => {
            let _ = writeln!(
                out,
                "smtp       transport = file: each mail written as .eml into {}, from {}",
                m.file_dir.display(),
                m.from
            );
        }
        Some(m) => {
            let _ = writeln!(
                out,
                "smtp       {}:{} ({}) from {}",
                m.host,
                m.port,
                match m.tls {
                    crate::config::TlsMode::Starttls => "starttls",
                    crate::config::TlsMode::Tls => "tls",
                    crate::config::TlsMode::None => "no TLS",
                },
                m.from
            );
        }
        None => {
            let _ = writeln!(
                out,
                "smtp       not configured: alerts are evaluated and listed, not mailed"
            );
        }
    }
    // issue 19: the portal's published figures
    if let Some(p) = s.portal.as_ref().filter(|p| p.enabled) {
        let _ = writeln!(
            out,
            "portal     {} (root {}, {} unit(s) mapped), collected at \"{}\"",
            p.base_url,
            p.root_department_id,
            p.departments.len(),
            p.schedule
        );
    }
    let targets: Vec<String> = Metric::ALL
        .iter()
        .filter_map(|m| {
            s.targets.get(m.as_str()).map(|t| match (t.min, t.max) {
                (Some(v), _) => format!("{m} ≥ {v}%"),
                (_, Some(v)) => format!("{m} ≤ {v}%"),
                _ => m.to_string(),
            })
        })
        .collect();
    let _ = writeln!(out, "targets    {}", targets.join(", "));
    for st in &s.scoped_targets {
        let bound = st
            .min
            .map(|v| format!("≥ {v}%"))
            .or(st.max.map(|v| format!("≤ {v}%")))
            .unwrap_or_default();
        let name = s.scope_name(&st.scope);
        let named = if name == st.scope {
            String::new()
        } else {
            format!(" ({name})")
        };
        let _ = writeln!(
            out,
            "           {} on {}{named} {bound}",
            st.metric, st.scope
        );
    }
    let overrides = s.units.iter().filter(|u| !u.targets.is_empty()).count();
    if overrides > 0 {
        let _ = writeln!(out, "           {overrides} unit(s) override some targets");
    }
    let _ = writeln!(out, "min sample {}", s.alerts.min_sample);
    if !s.commitments.is_empty() {
        let auto = s.commitments.iter().filter(|c| c.is_automatic()).count();
        let _ = writeln!(
            out,
            "letter     {} criteria ({auto} measured by rates, {} reported on the units' forms)",
            s.commitments.len(),
            s.commitments.len() - auto
        );
    }
    for w in &loaded.warnings {
        let _ = writeln!(out, "warning    {w}");
    }
    print!("{out}");
    Ok(())
}

/// The built-in simulator's options for the configured units.
pub fn sim_options(s: &Settings) -> SimOptions {
    let units = s
        .units
        .iter()
        .map(|u| SimUnit {
            one_stop_codes: u.one_stop_codes.clone(),
            document_codes: u.document_codes.clone(),
        })
        .collect();
    let mut o = SimOptions::new(s.simulator.seed, units);
    o.dossiers = s.simulator.dossiers;
    o.documents = s.simulator.documents;
    o
}

/// Starts the simulator on `listen`; it stops when the returned sender is dropped or fired.
pub async fn start_simulator(
    options: SimOptions,
    listen: &str,
    clock: Arc<dyn Clock>,
) -> Result<(SocketAddr, Arc<Simulator>, tokio::sync::oneshot::Sender<()>), Failure> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Failure::work(format!("the simulator cannot listen on {listen}: {e}. Is another dondoc or simulator running? Change simulator.listen"))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::work(e.to_string()))?;
    let sim = Simulator::new(options, clock);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await
        {
            tracing::error!(error = %e, "the simulator stopped");
        }
    });
    Ok((addr, sim, tx))
}

/// `--from`: YYYY-MM-DD (local midnight in Asia/Ho_Chi_Minh) or an RFC 3339 instant.
fn parse_from(s: &str) -> Result<Epoch, Failure> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.timestamp());
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(chrono_tz::Asia::Ho_Chi_Minh).single())
        .map(|t| t.timestamp())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--from '{s}' is neither a date YYYY-MM-DD nor an RFC 3339 instant such as 2024-06-01T00:00:00+07:00"
            ))
        })
}

async fn sync(settings: Settings, clock: Arc<dyn Clock>, args: &SyncArgs) -> Result<(), Failure> {
    let dry_run = args.dry_run;
    if let Some(name) = &args.source
        && !settings.sources.contains_key(name)
    {
        let names: Vec<&str> = settings.sources.keys().map(String::as_str).collect();
        return Err(Failure::usage(format!(
            "--source '{name}' is not a configured source; the sources are {}",
            names.join(", ")
        )));
    }
    let from = args.from.as_deref().map(parse_from).transpose()?;
    if from.is_some() && dry_run {
        return Err(Failure::usage(
            "--from changes the stored mark: it cannot go with --dry-run",
        ));
    }
    let _sim = if settings.simulator.enabled {
        let (addr, _, stop) = start_simulator(
            sim_options(&settings),
            &settings.simulator.listen,
            clock.clone(),
        )
        .await?;
        tracing::info!(%addr, "built-in simulator started");
        Some(stop)
    } else {
        None
    };
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let mode = if dry_run {
        crate::sync::Mode::DryRun
    } else {
        crate::sync::Mode::Store
    };
    if let (Some(name), Some(from)) = (&args.source, from) {
        let changes = crate::sync::set_marks(&app, name, from)
            .await
            .map_err(Failure::usage)?;
        for c in changes {
            println!(
                "{name}/{}: mark set from {} to {}; this pass reads what changed since then",
                c.endpoint,
                c.before.map(rfc3339).unwrap_or_else(|| "none".into()),
                rfc3339(c.after)
            );
        }
    }
    let report = crate::sync::run_with(&app, now, mode, args.source.as_deref()).await;
    let mut out = std::io::stdout().lock();
    if dry_run {
        let _ = writeln!(
            out,
            "Dry run: every page fetched and validated; nothing stored."
        );
    }
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>9} {:>9} {:>9} {:>6} {:>9}  result",
        "source", "endpoint", "fetched", "stored", "rejected", "pages", "time"
    );
    for e in &report.endpoints {
        let result = match &e.error {
            None => "ok".to_string(),
            Some(err) => format!("FAILED: {err}"),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:>9} {:>9} {:>9} {:>6} {:>8.3}s  {result}",
            e.source,
            e.endpoint,
            e.fetched,
            e.stored,
            e.rejected,
            e.pages,
            e.duration_ms as f64 / 1000.0
        );
    }
    if dry_run {
        drop(out);
        app.store.close().await;
        return sync_result(&report);
    }
    let evaluations = metrics::run_once(&app, now).await?;
    // History from the first day: the past days still missing (all of them after a first
    // sync), only from a complete sync (a day computed from half the records would stand).
    if report.failures().is_empty() {
        let mut progress = backfill_progress();
        let history = metrics::backfill::run(
            &app,
            now,
            metrics::backfill::Options::default(),
            &mut progress,
        )
        .await?;
        if history.computed > 0 {
            let _ = writeln!(out, "{}", backfill_summary(&history));
        }
    }
    let mailer = mailer_of(&app.settings)?;
    let alerts = crate::alerts::run_once(&app, &evaluations, mailer.as_ref(), now).await?;
    if let Some(q) = evaluations
        .iter()
        .find(|e| e.period.kind == PeriodKind::Quarter)
    {
        let breaches: Vec<&Row> = q
            .rows
            .iter()
            .filter(|r| r.state == RowState::Breach)
            .collect();
        let units: std::collections::BTreeSet<&str> =
            breaches.iter().map(|r| r.unit.as_str()).collect();
        let _ = writeln!(
            out,
            "\n{}: {} rate(s) under target in {} unit(s). `dondoc status` shows them.",
            q.period.label_vi(),
            breaches.len(),
            units.len()
        );
    }
    match &alerts.not_mailed {
        Some(why) => {
            let _ = writeln!(out, "Alerts: {why}.");
        }
        None => {
            let d = alerts.delivery;
            let _ = writeln!(
                out,
                "Alerts: {} digest message(s) queued{}; {} sent, {} to retry, {} failed.",
                alerts.queued,
                alerts
                    .digest_fire
                    .map(|f| format!(" for the {} digest", to_local(f).format("%d/%m %H:%M")))
                    .unwrap_or_default(),
                d.sent,
                d.retried,
                d.failed
            );
        }
    }
    drop(out);
    app.store.close().await;
    sync_result(&report)
}

async fn run_daemon(loaded: LoadedConfig, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    for w in &loaded.warnings {
        tracing::warn!("configuration: {w}");
    }
    let settings = loaded.settings;
    let _sim = if settings.simulator.enabled {
        let (addr, _, stop) = start_simulator(
            sim_options(&settings),
            &settings.simulator.listen,
            clock.clone(),
        )
        .await?;
        tracing::info!(%addr, "built-in simulator started");
        Some(stop)
    } else {
        None
    };
    let listen = settings.http.listen.clone();
    let application =
        crate::application::Application::build(settings, clock, Some(loaded.file.clone()))
            .await
            .map_err(|e| match e {
                crate::daemon::DaemonError::Schedule(_) => Failure::usage(e.to_string()),
                _ => Failure::work(e.to_string()),
            })?;
    tracing::info!(%listen, config = %loaded.file.display(), version = crate::VERSION_LONG, "dondoc running: /healthz and /metrics served; SIGHUP reloads the configuration");
    let result = application
        .run_until_stopped(crate::daemon::termination())
        .await;
    tracing::info!("dondoc stopped");
    result.map_err(|e| Failure::work(e.to_string()))
}

async fn backup(s: &Settings, out: &std::path::Path) -> Result<(), Failure> {
    use crate::store::backup::BackupError;
    match crate::store::backup::backup(&s.database.url, out).await {
        Ok(report) => {
            print!("Backed up {} to {report}", s.database.url);
            Ok(())
        }
        Err(
            e @ (BackupError::Postgres { .. }
            | BackupError::Unsupported(_)
            | BackupError::Exists(_)
            | BackupError::NotUtf8(_)),
        ) => Err(Failure::usage(format!("backup: {e}"))),
        Err(e) => Err(Failure::work(format!("backup: {e}"))),
    }
}

fn mailer_of(s: &Settings) -> Result<Option<crate::alerts::mailer::Mailer>, Failure> {
    match &s.smtp {
        None => Ok(None),
        Some(smtp) => crate::alerts::mailer::Mailer::from_settings(smtp)
            .map(Some)
            .map_err(|e| Failure::usage(format!("smtp: {e}"))),
    }
}

async fn alerts(
    settings: Settings,
    clock: Arc<dyn Clock>,
    cmd: &AlertsCommand,
) -> Result<(), Failure> {
    use std::fmt::Write as _;
    if let AlertsCommand::SendTest { to } = cmd {
        let Some(mailer) = mailer_of(&settings)? else {
            return Err(Failure::usage(
                "there is no [smtp] section in the configuration: nothing to test",
            ));
        };
        return match mailer.send_test(to).await {
            Ok(reply) => {
                println!(
                    "Sent a test message to {to} through {}.\nThe server answered: {reply}",
                    mailer.describe()
                );
                Ok(())
            }
            Err(e) => Err(Failure::work(format!(
                "the test message to {to} through {} was not sent: {e}",
                mailer.describe()
            ))),
        };
    }
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let result = match cmd {
        AlertsCommand::Preview { unit, html } => {
            if !app.settings.units.iter().any(|u| &u.code == unit) {
                return Err(Failure::usage(format!(
                    "--unit '{unit}' is not a configured unit"
                )));
            }
            let letters = crate::alerts::digest::preview(&app, unit, now).await?;
            if letters.is_empty() {
                println!(
                    "{unit} would receive no letter now: no alert to hear of and nothing to act on{}.",
                    if app
                        .settings
                        .units
                        .iter()
                        .any(|u| &u.code == unit && u.emails.is_empty())
                    {
                        " (or no address: units.emails is empty)"
                    } else {
                        ""
                    }
                );
            }
            for (i, m) in letters.iter().enumerate() {
                if i > 0 {
                    println!("\n{}\n", "=".repeat(72));
                }
                println!("To: {}", m.to.join(", "));
                if !m.cc.is_empty() {
                    println!("Cc: {}", m.cc.join(", "));
                }
                println!("Subject: {}\n", m.subject);
                if *html {
                    println!("{}", m.html.clone().unwrap_or_default());
                } else {
                    print!("{}", m.text);
                }
            }
            Ok(())
        }
        AlertsCommand::List { format } => {
            let alerts: Vec<_> = app
                .store
                .alerts()
                .await?
                .into_iter()
                .filter(|a| a.phase != crate::alerts::lifecycle::Phase::Clear)
                .collect();
            let outbox = app.store.outbox(50).await?;
            if *format == Format::Json {
                let rows: Vec<serde_json::Value> = alerts
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "unit": a.key.unit, "metric": a.key.metric,
                            "scope": if a.key.scope.is_empty() { None } else { Some(&a.key.scope) },
                            "period": a.key.period, "phase": a.phase.as_str(),
                            "notice": a.notice.map(|n| n.as_str()),
                            "numerator": a.numerator, "denominator": a.denominator,
                            "fired_at": a.fired_at.map(rfc3339), "last_notified_at": a.last_notified_at.map(rfc3339),
                            "detail": a.detail,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"alerts": rows, "outbox": outbox})
                    )
                    .unwrap_or_default()
                );
            } else {
                let mut out = String::new();
                let _ = writeln!(out, "Alerts ({}):", alerts.len());
                for a in &alerts {
                    let scope = if a.key.scope.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", a.key.scope)
                    };
                    let notice = a
                        .notice
                        .map(|n| format!(", to tell: {}", n.as_str()))
                        .unwrap_or_default();
                    let detail = a
                        .detail
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {:<9} {} {}{scope} {} {}/{}{notice}{detail}",
                        a.phase.as_str(),
                        a.key.unit,
                        a.key.metric,
                        a.key.period,
                        a.numerator,
                        a.denominator
                    );
                }
                let _ = writeln!(out, "\nOutbox (newest {}):", outbox.len());
                for m in &outbox {
                    let err = m
                        .last_error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  #{:<4} {:<10} attempts {} {} → {}: {}{err}",
                        m.id,
                        m.status,
                        m.attempts,
                        to_local(m.created_at).format("%d/%m %H:%M"),
                        m.recipients,
                        m.subject
                    );
                }
                if app.settings.smtp.is_none() {
                    let _ = writeln!(
                        out,
                        "\n(no [smtp] section: alerts are evaluated and listed here, not mailed)"
                    );
                }
                print!("{out}");
            }
            Ok(())
        }
        AlertsCommand::SendTest { .. } => Ok(()),
    };
    app.store.close().await;
    result
}

fn sync_result(report: &crate::sync::SyncReport) -> Result<(), Failure> {
    let failures = report.failures();
    if failures.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        Err(Failure::work(format!(
            "sync failed for {}",
            names.join("; ")
        )))
    }
}

async fn evaluate_now(settings: Settings, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    let app = App::build(settings, clock.clone()).await?;
    let started = std::time::Instant::now();
    let evaluations = metrics::run_once(&app, epoch(clock.now())).await?;
    app.store.close().await;
    let rows: usize = evaluations.iter().map(|e| e.rows.len()).sum();
    let periods: Vec<String> = evaluations.iter().map(|e| e.period.to_string()).collect();
    println!(
        "Evaluated {rows} rows ({}) in {:.2}s and stored them as today's samples.",
        periods.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `dondoc report`: builds the report of one period from the database and writes it.
async fn report(settings: Settings, clock: Arc<dyn Clock>, a: &ReportArgs) -> Result<(), Failure> {
    use crate::report::{self, ReportPeriod};
    use std::io::IsTerminal as _;
    let as_of = parse_as_of(a.as_of.as_deref(), clock.as_ref())?;
    let to_stdout = a.out.as_os_str() == "-";
    let Some(format) = a.format.or_else(|| report::Format::from_path(&a.out)) else {
        return Err(Failure::usage(format!(
            "say which format to write: --format xlsx|csv|html (or an --out ending in .xlsx, .csv or .html, not '{}')",
            a.out.display()
        )));
    };
    if to_stdout && format == report::Format::Xlsx && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "an xlsx workbook is binary: give --out FILE.xlsx, or redirect standard output",
        ));
    }
    let period = ReportPeriod::new(a.period, a.basis.unwrap_or(settings.reports.basis));
    if as_of < period.start {
        return Err(Failure::usage(format!(
            "{} ({}, {} basis) has not begun at --as-of {}",
            period.period,
            period.bounds_vi(),
            period.basis.as_str(),
            rfc3339(as_of)
        )));
    }
    let generated_at = epoch(clock.now());
    let app = App::build(settings, clock).await?;
    let built = report::build(&app.store, &app.settings, period, as_of, generated_at).await;
    app.store.close().await;
    let r = built?;
    let bytes = format
        .render(&r)
        .map_err(|e| Failure::work(e.to_string()))?;
    if to_stdout {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(&bytes)
            .and_then(|_| out.flush())
            .map_err(|e| {
                Failure::work(format!("cannot write the report to standard output: {e}"))
            });
    }
    // Written beside the target, then renamed: a reader never sees half a file.
    let name = a
        .out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".into());
    let tmp = a
        .out
        .with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &a.out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::work(format!(
            "cannot write {}: {e}",
            a.out.display()
        )));
    }
    let to_act: i64 = r.actions.iter().map(|x| x.total).sum();
    println!(
        "Wrote {} ({} bytes): {} {} ({}, {} basis) as of {}{}; {} committed criteria, {} missed city-wide; {to_act} dossier(s) to act on.",
        a.out.display(),
        bytes.len(),
        r.city,
        r.period.label_vi(),
        r.period.bounds_vi(),
        r.period.basis.as_str(),
        rfc3339(r.as_of),
        if r.is_final() {
            ""
        } else {
            " (period to date)"
        },
        r.criteria.len(),
        r.city_breaches()
    );
    Ok(())
}

/// `dondoc letter …` (issue 20).
async fn letter(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &LetterCommand,
) -> Result<(), Failure> {
    use crate::letter::{LetterError, forms, import, register, status};
    if settings.commitments.is_empty() {
        return Err(Failure::usage(
            "the configuration has no [[commitments]]: add the letter's criteria (see docs/letter.md)",
        ));
    }
    let now = epoch(clock.now());
    let period_of = |p: Option<&str>, as_of: Epoch| -> Result<Period, Failure> {
        match p {
            Some(p) => register::parse_period(p).map_err(Failure::usage),
            None => Ok(Period::containing(PeriodKind::Quarter, as_of)),
        }
    };
    let letter_err = |e: LetterError| match e {
        LetterError::Usage(m) => Failure::usage(m),
        other => Failure::work(other.to_string()),
    };
    match a {
        LetterCommand::Forms { period, out, as_of } => {
            let as_of = parse_as_of(as_of.as_deref(), clock.as_ref())?;
            let p = period_of(Some(period), as_of)?;
            std::fs::create_dir_all(out).map_err(|e| {
                Failure::work(format!("cannot create the folder {}: {e}", out.display()))
            })?;
            let app = App::build(settings, clock).await?;
            let built = status::build(&app.store, &app.settings, p, as_of).await;
            app.store.close().await;
            let c = built?;
            let units = register::form_units(&app.settings, p);
            for unit in &units {
                let bytes = forms::workbook(&app.settings, &c, unit).map_err(letter_err)?;
                let path = out.join(forms::file_name(unit));
                std::fs::write(&path, bytes)
                    .map_err(|e| Failure::work(format!("cannot write {}: {e}", path.display())))?;
                println!("{}", path.display());
            }
            eprintln!(
                "{} forms of {p} written into {} (due {})",
                units.len(),
                out.display(),
                register::deadline_date(p).format("%d/%m/%Y")
            );
            Ok(())
        }
        LetterCommand::Import { file } => {
            let app = App::build(settings, clock).await?;
            let done = import::import_file(&app.store, &app.settings, file, now).await;
            app.store.close().await;
            let done = done.map_err(letter_err)?;
            if done.unchanged {
                println!(
                    "{}: the same form as submission {} of {} for {}: nothing new recorded",
                    file.display(),
                    done.seq,
                    done.unit,
                    done.period
                );
            } else {
                println!(
                    "{}: recorded as submission {} of {} for {} ({} values)",
                    file.display(),
                    done.seq,
                    done.unit,
                    done.period,
                    done.values
                );
            }
            Ok(())
        }
        LetterCommand::Status {
            period,
            as_of,
            format,
        } => {
            let as_of = parse_as_of(as_of.as_deref(), clock.as_ref())?;
            let p = period_of(period.as_deref(), as_of)?;
            let app = App::build(settings, clock).await?;
            let built = status::build(&app.store, &app.settings, p, as_of).await;
            app.store.close().await;
            let c = built?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&c).map_err(|e| Failure::work(e.to_string()))?
                ),
                Format::Table => print!("{}", status::table(&c)),
                Format::Csv => {
                    let mut w = ::csv::Writer::from_writer(Vec::new());
                    let _ = w.write_record([
                        "criterion",
                        "unit",
                        "value",
                        "target",
                        "state",
                        "evidence",
                        "note",
                    ]);
                    for r in &c.rows {
                        let _ = w.write_record([
                            r.criterion.as_str(),
                            r.unit.as_str(),
                            r.value.as_deref().unwrap_or(""),
                            r.target.as_str(),
                            r.state.as_str(),
                            r.evidence.as_str(),
                            r.note.as_str(),
                        ]);
                    }
                    let bytes = w.into_inner().map_err(|e| Failure::work(e.to_string()))?;
                    print!("{}", String::from_utf8_lossy(&bytes));
                }
            }
            Ok(())
        }
    }
}

fn parse_as_of(s: Option<&str>, clock: &dyn Clock) -> Result<Epoch, Failure> {
    match s {
        None => Ok(epoch(clock.now())),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .map_err(|e| Failure::usage(format!("--as-of '{s}' is not an RFC 3339 instant such as 2024-06-30T17:00:00+07:00: {e}"))),
    }
}

#[derive(serde::Serialize)]
struct JsonRow<'a> {
    unit: &'a str,
    metric: &'a str,
    scope: Option<&'a str>,
    period: String,
    period_start: String,
    period_end: String,
    numerator: i64,
    denominator: i64,
    value: Option<f64>,
    target: Option<metrics::TargetView>,
    state: &'static str,
}

async fn status(settings: Settings, clock: Arc<dyn Clock>, a: &StatusArgs) -> Result<(), Failure> {
    let as_of = parse_as_of(a.as_of.as_deref(), clock.as_ref())?;
    if let Some(u) = &a.unit
        && !settings.units.iter().any(|x| &x.code == u)
    {
        let codes: Vec<&str> = settings.units.iter().map(|u| u.code.as_str()).collect();
        return Err(Failure::usage(format!(
            "--unit '{u}' is not a configured unit; the units are {}",
            codes.join(", ")
        )));
    }
    let app = App::build(settings, clock).await?;
    let period = Period::containing(a.period, as_of);
    let ev = metrics::evaluate(&app.store, &app.settings, period, as_of).await?;
    let states = app.store.sync_states().await?;
    app.store.close().await;
    let rows: Vec<&Row> = ev
        .rows
        .iter()
        .filter(|r| a.unit.as_ref().is_none_or(|u| &r.unit == u))
        .collect();
    let text = match a.format {
        Format::Json | Format::Csv if a.format == Format::Csv => {
            return Err(Failure::usage("status prints table or json"));
        }
        Format::Json => status_json(&ev, &rows),
        _ => status_table(&ev, &rows, &states, &app.settings),
    };
    print!("{text}");
    Ok(())
}

fn status_json(ev: &Evaluation, rows: &[&Row]) -> String {
    let period_start = rfc3339(ev.period.start());
    let period_end = rfc3339(ev.period.end());
    let json_rows: Vec<JsonRow> = rows
        .iter()
        .map(|r| JsonRow {
            unit: &r.unit,
            metric: r.metric.as_str(),
            scope: r.scope.as_deref(),
            period: ev.period.to_string(),
            period_start: period_start.clone(),
            period_end: period_end.clone(),
            numerator: r.numerator,
            denominator: r.denominator,
            value: r.value,
            target: r.target,
            state: r.state.as_str(),
        })
        .collect();
    let doc = serde_json::json!({
        "as_of": rfc3339(ev.as_of),
        "rows": json_rows,
        "data_quality": ev.quality,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

/// Pads `s` to `width` terminal columns (Vietnamese letters are one column each).
fn pad(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn pct(v: f64) -> String {
    let p = v * 100.0;
    if p == 0.0 || p == 100.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.2} %")
    }
}

fn status_table(
    ev: &Evaluation,
    rows: &[&Row],
    states: &[crate::store::SyncState],
    settings: &Settings,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let local = to_local(ev.as_of);
    let _ = writeln!(
        out,
        "{} ({}), {} → {} — as of {}\n",
        ev.period.label_vi(),
        ev.period,
        to_local(ev.period.start()).format("%d/%m/%Y"),
        to_local(ev.period.end() - 1).format("%d/%m/%Y"),
        local.format("%d/%m/%Y %H:%M (UTC+7)")
    );
    let names: Vec<String> = rows
        .iter()
        .map(|r| format!("{}{}", "  ".repeat(r.depth), r.unit_name))
        .collect();
    let name_w = names
        .iter()
        .map(|n| UnicodeWidthStr::width(n.as_str()))
        .max()
        .unwrap_or(4)
        .max(4);
    // A scoped rate by its field group's display name (the key is in `--format json`).
    let metric_label = |r: &Row| match &r.scope {
        Some(s) => format!("{} [{}]", r.metric, settings.scope_name(s)),
        None => r.metric.to_string(),
    };
    let metric_w = rows
        .iter()
        .map(|r| UnicodeWidthStr::width(metric_label(r).as_str()))
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{}  {}  {:>9}  {:>17}  {:>8}  state",
        pad("unit", name_w),
        pad("metric", metric_w),
        "value",
        "numerator/denom.",
        "target"
    );
    let mut last_unit = "";
    for (r, name) in rows.iter().zip(&names) {
        let shown = if r.unit == last_unit {
            String::new()
        } else {
            name.clone()
        };
        last_unit = &r.unit;
        let value = r.value.map(pct).unwrap_or_else(|| "—".into());
        let target = match r.target {
            Some(t) => match (t.min, t.max) {
                (Some(v), _) => format!("≥ {v} %"),
                (_, Some(v)) => format!("≤ {v} %"),
                _ => String::new(),
            },
            None => "—".into(),
        };
        let state = match r.state {
            RowState::Breach => "✗ BREACH".to_string(),
            RowState::Ok => "ok".into(),
            RowState::InsufficientSample => {
                format!("(n < {})", r.target.map(|t| t.min_sample).unwrap_or(0))
            }
            RowState::NoData => "no data".into(),
            RowState::Untargeted => "untargeted".into(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {:>9}  {:>17}  {}  {state}",
            pad(&shown, name_w),
            pad(&metric_label(r), metric_w),
            value,
            format!("{}/{}", r.numerator, r.denominator),
            pad_left(&target, 8),
        );
    }
    let breaches = rows.iter().filter(|r| r.state == RowState::Breach).count();
    let _ = writeln!(out, "\n{breaches} rate(s) under target.");
    let q = &ev.quality;
    let _ = writeln!(out, "\nData quality");
    let _ = writeln!(
        out,
        "  dossiers without a due date (never judged late): {}",
        q.no_due_date
    );
    let _ = writeln!(
        out,
        "  dossiers whose procedure is not in the catalogue (left out of online_rate): {}",
        q.unknown_procedure
    );
    if q.unmapped_dossier_codes.is_empty() && q.unmapped_document_codes.is_empty() {
        let _ = writeln!(out, "  unmapped codes: none");
    }
    for (code, n) in &q.unmapped_dossier_codes {
        let _ = writeln!(
            out,
            "  unmapped DonViXuLy {code}: {n} dossier(s); add it to a unit's one_stop_codes"
        );
    }
    for (code, n) in &q.unmapped_document_codes {
        let _ = writeln!(
            out,
            "  unmapped MaDonVi {code}: {n} document(s); add it to a unit's document_codes"
        );
    }
    let rejected: i64 = q.rejected.iter().map(|r| r.count).sum();
    let future: i64 = q.future_dated.iter().map(|f| f.records).sum();
    let _ = writeln!(
        out,
        "  records updated in the future (time not trusted for the mark): {future}"
    );
    for f in &q.future_dated {
        let _ = writeln!(
            out,
            "    {:>6}  {}/{}: furthest NgayCapNhat {}, last seen {}",
            f.records,
            f.source,
            f.endpoint,
            to_local(f.latest_claimed).format("%d/%m/%Y %H:%M"),
            to_local(f.last_seen).format("%d/%m/%Y %H:%M")
        );
    }
    let _ = writeln!(out, "  rejected records: {rejected}");
    for r in q.rejected.iter().take(10) {
        let _ = writeln!(
            out,
            "    {:>6}  {} {}: {}",
            r.count, r.source, r.kind, r.reason
        );
    }
    if !states.is_empty() {
        let _ = writeln!(out, "\nSources");
        for s in states {
            let last = s
                .last_success_at
                .map(|t| to_local(t).format("%d/%m/%Y %H:%M").to_string())
                .unwrap_or_else(|| "never".into());
            let err = match (&s.last_error, s.consecutive_failures) {
                (Some(e), n) if n > 0 => format!(" — failing ({n}×): {e}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {}/{}: last success {last}{err}",
                s.source, s.endpoint
            );
        }
    }
    out
}

fn pad_left(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}

/// A progress line on a terminal (stderr), nothing otherwise.
fn backfill_progress() -> impl FnMut(usize, usize, chrono::NaiveDate) + Send {
    use std::io::IsTerminal as _;
    let tty = std::io::stderr().is_terminal();
    move |done, total, day| {
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rbackfill: {done}/{total} days (back to {day})   ");
            if done == total {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
    }
}

fn backfill_summary(r: &metrics::backfill::Report) -> String {
    match (&r.first_day, &r.last_day) {
        (Some(a), Some(b)) => format!(
            "History {a} … {b}: {} day(s) computed, {} already stored, {} sample(s) written, in {:.1} s (evaluation {:.1} s).",
            r.computed,
            r.skipped,
            r.written,
            r.elapsed_ms as f64 / 1000.0,
            r.evaluation_ms as f64 / 1000.0
        ),
        _ => "History: no past day to compute (nothing stored yet, or the range is empty).".into(),
    }
}

async fn backfill(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &BackfillArgs,
) -> Result<(), Failure> {
    if let (Some(f), Some(t)) = (a.from, a.to)
        && f > t
    {
        return Err(Failure::usage(format!(
            "--from {f} is after --to {t}: give the first day, then the last"
        )));
    }
    let app = App::build(settings, clock.clone()).await?;
    let opts = metrics::backfill::Options {
        from: a.from,
        to: a.to,
        recompute: a.recompute,
        budget: None,
    };
    let mut progress = backfill_progress();
    let report = metrics::backfill::run(&app, epoch(clock.now()), opts, &mut progress).await;
    app.store.close().await;
    let report = report?;
    println!("{}", backfill_summary(&report));
    Ok(())
}

async fn history(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &HistoryArgs,
) -> Result<(), Failure> {
    let Some(metric) = Metric::from_name(&a.metric) else {
        return Err(Failure::usage(format!(
            "--metric '{}' is unknown; the metrics are {}",
            a.metric,
            metrics::names::all_names()
        )));
    };
    if !settings.units.iter().any(|u| u.code == a.unit) {
        return Err(Failure::usage(format!(
            "--unit '{}' is not a configured unit",
            a.unit
        )));
    }
    let app = App::build(settings, clock).await?;
    let all = app
        .store
        .samples(&a.unit, metric.as_str(), a.scope.as_deref().unwrap_or(""))
        .await?;
    app.store.close().await;
    let samples: Vec<_> = all
        .into_iter()
        .filter(|s| s.period.parse::<Period>().is_ok_and(|p| p.kind == a.period))
        .collect();
    let mut out = String::new();
    use std::fmt::Write as _;
    match a.format {
        Format::Json => {
            out = format!(
                "{}\n",
                serde_json::to_string_pretty(&samples).unwrap_or_default()
            )
        }
        Format::Csv => {
            out.push_str("unit,metric,scope,period,day,as_of,numerator,denominator,value,revised_at,first_numerator,first_denominator\n");
            for s in &samples {
                let v = if s.denominator == 0 {
                    String::new()
                } else {
                    (s.numerator as f64 / s.denominator as f64).to_string()
                };
                let rev = s
                    .revision
                    .map(|r| {
                        format!(
                            "{},{},{}",
                            rfc3339(r.revised_at),
                            r.first_numerator,
                            r.first_denominator
                        )
                    })
                    .unwrap_or_else(|| ",,".into());
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{v},{rev}",
                    s.unit,
                    s.metric,
                    s.scope,
                    s.period,
                    s.day,
                    rfc3339(s.as_of),
                    s.numerator,
                    s.denominator
                );
            }
        }
        Format::Table => {
            let _ = writeln!(
                out,
                "{:<10} {:<10} {:>9} {:>17}",
                "period", "day", "value", "numerator/denom."
            );
            for s in &samples {
                let v = if s.denominator == 0 {
                    "—".to_string()
                } else {
                    pct(s.numerator as f64 / s.denominator as f64)
                };
                let revised = s
                    .revision
                    .map(|r| {
                        format!(
                            "  revised {}: was {}/{}",
                            to_local(r.revised_at).format("%Y-%m-%d"),
                            r.first_numerator,
                            r.first_denominator
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<10} {:<10} {:>9} {:>17}{revised}",
                    s.period,
                    s.day,
                    v,
                    format!("{}/{}", s.numerator, s.denominator)
                );
            }
            if samples.is_empty() {
                let _ = writeln!(
                    out,
                    "(no samples yet: `dondoc sync` stores one per day and period, and computes the past days from the stored records)"
                );
            }
        }
    }
    print!("{out}");
    Ok(())
}

async fn simulate(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    a: &SimulateArgs,
) -> Result<(), Failure> {
    let mut o = sim_options(settings);
    if let Some(seed) = a.seed {
        o.seed = seed;
    }
    if let Some(n) = a.dossiers {
        o.dossiers = n;
    }
    if let Some(n) = a.documents {
        o.documents = n;
    }
    o.history_days = a.history_days;
    o.faults = Faults {
        error_503_share: a.error_503_share,
        error_429_share: a.error_429_share,
        retry_after_secs: a.retry_after_secs,
        latency_ms: a.latency_ms,
        invalid_share: a.invalid_share,
    };
    let listen = a
        .listen
        .map(|l| l.to_string())
        .unwrap_or_else(|| settings.simulator.listen.clone());
    let (addr, _sim, stop) = start_simulator(o, &listen, clock).await?;
    println!("dondoc simulator serving http://{addr}/ho-so, /thu-tuc, /van-ban — Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(());
    Ok(())
}

fn source_of<'s>(
    settings: &'s Settings,
    name: &str,
) -> Result<&'s crate::config::SourceSettings, Failure> {
    settings.sources.get(name).ok_or_else(|| {
        let names: Vec<&str> = settings.sources.keys().map(String::as_str).collect();
        Failure::usage(format!(
            "'{name}' is not a configured source; the sources are {}",
            names.join(", ")
        ))
    })
}

/// `dondoc check-source NAME`: see [`crate::upstream::mapping::check`].
async fn check_source(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    a: &CheckSourceArgs,
) -> Result<(), Failure> {
    let src = source_of(settings, &a.source)?;
    let text = crate::upstream::mapping::check::check_source(
        &a.source,
        src,
        a.records,
        a.file.as_deref(),
        clock,
    )
    .await
    .map_err(|e| Failure::work(format!("check-source {}: {}", a.source, e.0)))?;
    print!("{text}");
    Ok(())
}

/// `dondoc import FILE --source NAME`: one file through an import source's mapping, stored in
/// one transaction; the report is printed and the file is left where it is.
async fn import(settings: Settings, clock: Arc<dyn Clock>, a: &ImportArgs) -> Result<(), Failure> {
    let src = source_of(&settings, &a.source)?.clone();
    if src.kind != crate::config::SourceKind::Import {
        return Err(Failure::usage(format!(
            "source '{}' is of kind \"{}\": import reads files with the column mapping of a source of kind \"import\"",
            a.source,
            src.kind.as_str()
        )));
    }
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let outcome = crate::upstream::import::import_file(
        &app,
        &a.source,
        &src,
        &a.file,
        now,
        a.force,
        crate::sync::Mode::Store,
    )
    .await;
    app.store.close().await;
    let o = outcome.map_err(|e| Failure::work(format!("{}: {e}", a.file.display())))?;
    print!("{}", o.report);
    if o.already.is_some() {
        println!("(give --force to import it again)");
    }
    match o.failure {
        Some(f) => Err(Failure::work(format!(
            "{} was not imported: {f}",
            a.file.display()
        ))),
        None => Ok(()),
    }
}
