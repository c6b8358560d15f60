//! The command line of `../shared/spec/cli.md`: the clap definitions and the dispatch, one file
//! per command or group of commands beside this one (`sync`, `status`, `history`, `backfill`,
//! `alerts`, `report`, `letter`, `score`, `check_config`, `backup`, `simulate`, `run`, `evaluate`,
//! `sources`). A command that does what a scheduled job does calls the same function
//! ([`crate::jobs`]); the commands only parse, call and print.
//!
//! It never holds a job's logic, never logs to standard output (results only), and never ends
//! with a panic on a bad input: a usage or configuration error exits 2, failed work exits 1.
//!
//! Exit status: 0 success; 1 the work failed (a source unreachable, the database unusable), with
//! a message naming the cause; 2 a usage or configuration error. Results go to standard output;
//! logs go to standard error.

use crate::app::App;
use crate::config::{self, LoadedConfig, LogFormat, Settings};
use crate::domain::time::{Clock, SystemClock};
use crate::domain::time::{Epoch, epoch, rfc3339, to_local};
use crate::rates::{self, Evaluation, Metric, Period, PeriodKind, Row, RowState};
use crate::simulator::{Faults, SimOptions, SimUnit, Simulator};
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
    pub basis: crate::domain::periods::Basis,
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

mod alerts;
mod backfill;
mod backup;
mod check_config;
mod evaluate;
mod history;
mod letter;
mod report;
mod run;
mod score;
mod simulate;
mod sources;
mod status;
mod sync;

pub use simulate::{sim_options, start_configured_simulator, start_simulator};
// ---- end issue 19 ----

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period: 2024-Q2 (a quarter), 2024-05 (a month) or 2024 (a year).
    #[arg(long)]
    pub period: Period,
    /// calendar (as metrics.md), or reporting (the 15th of the month before to the 14th);
    /// default: reports.basis of the configuration (reporting unless set).
    #[arg(long, value_enum)]
    pub basis: Option<crate::domain::periods::Basis>,
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
        return check_config::check_config(&cli);
    }
    let loaded = load(&cli)?;
    let s = &loaded.settings;
    crate::telemetry::init(
        cli.log_format.unwrap_or(s.log.format),
        s.log.level.as_deref(),
    );
    match &cli.command {
        Command::Run => run::run_daemon(loaded, clock).await,
        Command::Sync(a) => sync::sync(loaded.settings, clock, a).await,
        Command::CheckSource(a) => sources::check_source(&loaded.settings, clock, a).await,
        Command::Import(a) => sources::import(loaded.settings, clock, a).await,
        Command::Evaluate => evaluate::evaluate_now(loaded.settings, clock).await,
        Command::Status(a) => status::status(loaded.settings, clock, a).await,
        Command::History(a) => history::history(loaded.settings, clock, a).await,
        Command::Backfill(a) => backfill::backfill(loaded.settings, clock, a).await,
        Command::Simulate(a) => simulate::simulate(&loaded.settings, clock, a).await,
        Command::Alerts(a) => alerts::alerts(loaded.settings, clock, a).await,
        Command::Report(a) => report::report(loaded.settings, clock, a).await,
        Command::Score(a) => score::score(loaded.settings, clock, a).await,
        Command::Backup { out } => backup::backup(&loaded.settings, out).await,
        Command::Letter(a) => letter::letter(loaded.settings, clock, a).await,
        Command::CheckConfig | Command::MigrateStore { .. } => Ok(()),
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

fn pad_left(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}
