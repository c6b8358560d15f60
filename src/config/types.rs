//! The configuration's shape and defaults. Keys keep the names of config.md; every key added
//! here has a default so that a short file works.
//!
//! Choice, documented for administrators: when `[targets]` is absent the commitment letter's
//! defaults apply (metrics.md); when it is present it lists *exactly* the targeted metrics, so
//! that what the file says is what is measured.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSettings>,
    #[serde(default)]
    pub simulator: SimulatorSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub schedule: ScheduleSettings,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default)]
    pub reports: ReportSettings,
    #[serde(default = "default_targets")]
    pub targets: BTreeMap<String, TargetSpec>,
    #[serde(default)]
    pub field_groups: BTreeMap<String, FieldGroup>,
    #[serde(default)]
    pub scoped_targets: Vec<ScopedTarget>,
    #[serde(default)]
    pub units: Vec<UnitSettings>,
    #[serde(default)]
    pub log: LogSettings,
    /// The commitment letter's register of criteria (issue 20, docs/letter.md).
    #[serde(default)]
    pub commitments: Vec<CommitmentSettings>,
    /// The letter's forms: when they are mailed, reminded, and where returned ones are dropped.
    #[serde(default)]
    pub letter: LetterSettings,
    /// The national portal's published Decision 766 figures (issue 19); absent: not collected.
    #[serde(default)]
    pub portal: Option<PortalSettings>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path` (relative to the working directory) or `postgres://…`.
    #[serde(default = "default_db_url")]
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

/// The engine a `database.url` names. The URL is told apart here, once: the store opens what
/// this says, validation refuses what it cannot name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `sqlite:PATH`, `sqlite://PATH`.
    Sqlite,
    /// `postgres://…`, `postgresql://…`.
    Postgres,
}

impl DatabaseKind {
    /// The engine `url` names, or `None` for a URL dondoc cannot open.
    pub fn of(url: &str) -> Option<DatabaseKind> {
        let url = url.trim();
        if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else {
            None
        }
    }
}

impl DatabaseSettings {
    /// The engine of `url` (see [`DatabaseKind::of`]).
    pub fn kind(&self) -> Option<DatabaseKind> {
        DatabaseKind::of(&self.url)
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: default_db_url(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_db_url() -> String {
    "sqlite://data/dondoc.db".into()
}
fn default_max_connections() -> u32 {
    5
}

/// Which contract a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The one-stop system: `/thu-tuc` and `/ho-so`.
    OneStop,
    /// The document system: `/van-ban`.
    Documents,
    /// Spreadsheets (.xlsx, .csv) dropped into a folder (`folder`), read with a column mapping.
    Import,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::OneStop => "one_stop",
            SourceKind::Documents => "documents",
            SourceKind::Import => "import",
        }
    }

    /// The endpoints a source of this kind is synced by, in sync order: what `sync_state` rows,
    /// `status` and `/healthz` expect of it (the contract's lists, or the folder's one endpoint).
    pub fn endpoints(self) -> &'static [&'static str] {
        match self {
            SourceKind::OneStop => &["thu-tuc", "ho-so"],
            SourceKind::Documents => &["van-ban"],
            SourceKind::Import => &[IMPORT_ENDPOINT],
        }
    }
}

/// The endpoint name of a spreadsheet folder's pages (`sync_state.endpoint`).
pub const IMPORT_ENDPOINT: &str = "import";

/// One upstream system.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceSettings {
    pub kind: SourceKind,
    /// Required for HTTP sources; an import source has none.
    #[serde(default)]
    pub base_url: String,
    /// Bearer token; prefer `token_file` or `DONDOC__SOURCES__<NAME>__TOKEN`.
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Records asked per page (1..=1000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Total time allowed for one request, body included.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// PEM file of extra CA certificates (a government CA); the issuing CA, not the leaf.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How far before the high-water mark each poll starts again, so that records committed
    /// late upstream are not missed.
    #[serde(default = "default_overlap")]
    pub overlap_secs: u64,
    /// Attempts per request before the source is marked failed for this sync.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max_secs")]
    pub backoff_max_secs: u64,
    /// The longest `Retry-After` honoured; a longer one is capped to this.
    #[serde(default = "default_retry_after_max")]
    pub retry_after_max_secs: u64,
    // The mapping of a source whose API or files differ from the contract (docs/mapping.md);
    // every key defaults to the contract.
    /// How dondoc authenticates (default: the bearer `token`, when set).
    #[serde(default)]
    pub auth: Option<super::mapping::AuthSettings>,
    #[serde(default)]
    pub paging: super::mapping::PagingSettings,
    #[serde(default)]
    pub dossiers: Option<super::mapping::ListMapping>,
    #[serde(default)]
    pub procedures: Option<super::mapping::ListMapping>,
    #[serde(default)]
    pub documents: Option<super::mapping::ListMapping>,
    /// `kind = "import"`: the folder watched for spreadsheets.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// `kind = "import"`: a file changed less than this many seconds ago may still be being
    /// copied, and waits for the next pass.
    #[serde(default = "default_settle_secs")]
    pub settle_secs: u64,
    // --- An upstream dondoc does not control (issue 17; docs/upstream-safety.md) ---
    /// How far ahead of dondoc's clock an update time (`NgayCapNhat`) may be and still be
    /// trusted for the high-water mark. A later one is counted as an anomaly, the record stored
    /// with the time dondoc read it, and the mark moves at most to now + this. At most
    /// `overlap_secs`.
    #[serde(default = "default_allowed_skew")]
    pub allowed_skew_secs: u64,
    /// The largest answer (one page) read, in MiB; a larger one fails the page while it streams.
    #[serde(default = "default_max_page_mib")]
    pub max_page_mib: u64,
    /// Requests per second at most to this source (each spaced by 1/rate, plus up to 20 %
    /// jitter); 0 = no cap.
    #[serde(default = "default_max_requests_per_sec")]
    pub max_requests_per_sec: f64,
    /// Requests to this source in flight at once, at most.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Who to call about dondoc's requests, sent in the `User-Agent` (an address or a URL).
    #[serde(default)]
    pub contact: Option<String>,
    /// Consecutive failed passes after which the source's circuit opens (0 = never).
    #[serde(default = "default_circuit_failures")]
    pub circuit_failures: u32,
    /// How long an open circuit stays open before one pass tries the source again.
    #[serde(default = "default_circuit_cooldown")]
    pub circuit_cooldown_secs: u64,
}

impl SourceSettings {
    /// Whether the source speaks the contract as it is (whatever its authentication): no list
    /// table and the contract's paging. Such a source is read by the contract's own parser; any
    /// other by its mapping.
    pub fn is_contract(&self) -> bool {
        let p = &self.paging;
        let d = crate::config::mapping::PagingSettings::default();
        self.dossiers.is_none()
            && self.procedures.is_none()
            && self.documents.is_none()
            && p.style == d.style
            && p.limit_param == d.limit_param
            && p.cursor_param == d.cursor_param
            && p.next_cursor == d.next_cursor
            && p.updated_since_param == d.updated_since_param
            && p.updated_since_format == d.updated_since_format
            && p.query.is_empty()
    }
}

fn default_page_size() -> u32 {
    500
}
fn default_timeout() -> u64 {
    30
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_overlap() -> u64 {
    300
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_initial_ms() -> u64 {
    500
}
fn default_backoff_max_secs() -> u64 {
    30
}
fn default_retry_after_max() -> u64 {
    300
}
fn default_settle_secs() -> u64 {
    5
}
fn default_allowed_skew() -> u64 {
    300
}
fn default_max_page_mib() -> u64 {
    64
}
fn default_max_requests_per_sec() -> f64 {
    10.0
}
fn default_max_in_flight() -> u32 {
    1
}
fn default_circuit_failures() -> u32 {
    5
}
fn default_circuit_cooldown() -> u64 {
    3600
}

/// The built-in upstream for demos, tests and benchmarks.
#[derive(Debug, Clone, Deserialize)]
pub struct SimulatorSettings {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_sim_listen")]
    pub listen: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_sim_dossiers")]
    pub dossiers: usize,
    #[serde(default = "default_sim_documents")]
    pub documents: usize,
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: default_sim_listen(),
            seed: default_seed(),
            dossiers: default_sim_dossiers(),
            documents: default_sim_documents(),
        }
    }
}

fn default_sim_listen() -> String {
    "127.0.0.1:8091".into()
}
fn default_seed() -> u64 {
    1
}
fn default_sim_dossiers() -> usize {
    20_000
}
fn default_sim_documents() -> usize {
    5_000
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Where /healthz, /metrics and the dashboard listen: loopback unless opened on purpose.
    #[serde(default = "default_http_listen")]
    pub listen: String,
    /// With `password` (or `password_file`): HTTP basic authentication on the dashboard pages.
    /// `/healthz` and `/metrics` stay open for monitoring (restrict them with the firewall).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The dashboard's address as officials reach it (e.g. `https://dondoc.dongha.gov.vn`), for
    /// the links in the letters; without it the letters carry no link.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Set true only when TLS is terminated in front of dondoc (a reverse proxy or load balancer
    /// serving HTTPS): basic authentication on a `listen` address other machines reach is
    /// refused otherwise, because its password would cross the network in clear text.
    #[serde(default)]
    pub behind_tls_proxy: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: default_http_listen(),
            username: None,
            password: None,
            password_file: None,
            public_url: None,
            behind_tls_proxy: false,
        }
    }
}

fn default_http_listen() -> String {
    "127.0.0.1:9464".into()
}

/// Cron expressions with seconds (6 or 7 fields), local time Asia/Ho_Chi_Minh.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleSettings {
    /// Pull every source, store, evaluate, update the alerts.
    #[serde(default = "default_sync_cron")]
    pub sync: String,
    /// Compose and queue the alert digests.
    #[serde(default = "default_alerts_cron")]
    pub alerts: String,
    /// Deliver queued mail (and retry what failed) promptly.
    #[serde(default = "default_deliver_cron")]
    pub deliver: String,
    /// On SIGTERM/SIGINT, how long running jobs may take to finish before dondoc exits anyway.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            sync: default_sync_cron(),
            alerts: default_alerts_cron(),
            deliver: default_deliver_cron(),
            shutdown_timeout_secs: default_shutdown_timeout(),
        }
    }
}

fn default_deliver_cron() -> String {
    "30 * * * * *".into()
}
fn default_shutdown_timeout() -> u64 {
    30
}

/// `/healthz`.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthSettings {
    /// A source whose last successful sync is older than this makes `/healthz` answer 503.
    #[serde(default = "default_max_staleness")]
    pub max_staleness_hours: u64,
    /// Free space of the SQLite database's filesystem below which dondoc warns (log, the
    /// administrators' letter) and `/healthz` says `degraded`, in MiB (0: no limit in MiB).
    #[serde(default = "default_min_free_disk_mib")]
    pub min_free_disk_mib: u64,
    /// The same limit in percent of the filesystem's size (0: no limit in percent); below
    /// either limit is low.
    #[serde(default = "default_min_free_disk_percent")]
    pub min_free_disk_percent: f64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            max_staleness_hours: default_max_staleness(),
            min_free_disk_mib: default_min_free_disk_mib(),
            min_free_disk_percent: default_min_free_disk_percent(),
        }
    }
}

fn default_min_free_disk_mib() -> u64 {
    1024
}
fn default_min_free_disk_percent() -> f64 {
    5.0
}

fn default_max_staleness() -> u64 {
    6
}

fn default_sync_cron() -> String {
    "0 */15 * * * *".into()
}
fn default_alerts_cron() -> String {
    "0 0 8 * * Mon-Fri".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    Starttls,
    Tls,
    None,
}

/// How mail leaves dondoc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// An SMTP server (`host`, `port`, `tls`).
    #[default]
    Smtp,
    /// Each message written as an `.eml` file into `file_dir` (demos without a mail server).
    File,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// `smtp` (default) or `file`: the file transport is only ever used when asked for here.
    #[serde(default)]
    pub transport: MailTransport,
    /// Folder of the `.eml` files of `transport = "file"`.
    #[serde(default = "default_mail_dir")]
    pub file_dir: PathBuf,
    /// The SMTP server; required with `transport = "smtp"`.
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `Name <address>` or a bare address.
    pub from: String,
    /// The name dondoc gives in HELO/EHLO; default: the host name of `from`'s domain.
    #[serde(default)]
    pub hello_name: Option<String>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
    /// PEM file of the CA that issued the SMTP server's certificate, when not in the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_mail_dir() -> PathBuf {
    PathBuf::from("data/outbox")
}

fn default_smtp_port() -> u16 {
    587
}
fn default_tls() -> TlsMode {
    TlsMode::Starttls
}
fn default_smtp_timeout() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
pub struct AlertSettings {
    /// Copied on every alert (the supervising office).
    #[serde(default, deserialize_with = "string_or_list")]
    pub cc: Vec<String>,
    /// Administrators who receive data-source alerts.
    #[serde(default, deserialize_with = "string_or_list")]
    pub admin: Vec<String>,
    /// Default minimum denominator of every target.
    #[serde(default = "default_min_sample")]
    pub min_sample: u64,
    /// Remind while a breach lasts, every this many days.
    #[serde(default = "default_repeat_days")]
    pub repeat_days: u32,
    /// Tell the unit when it is back on target.
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// Consecutive evaluations in breach before an alert fires (one bad sync mails nobody).
    #[serde(default = "default_pending_evaluations")]
    pub pending_evaluations: u32,
    /// Warn when a rate is on target but within this many percentage points of it and falling.
    #[serde(default = "default_warn_margin")]
    pub warn_margin: f64,
    /// The window, in days, over which a falling trend is judged and the pace is measured.
    #[serde(default = "default_trend_days")]
    pub trend_days: u32,
    /// The periods that are alerted (month, quarter, year).
    #[serde(default = "default_alert_periods")]
    pub periods: Vec<crate::domain::PeriodKind>,
    /// Mail language: vi (default) or en.
    #[serde(default)]
    pub language: Language,
    /// Open dossiers due within this many days are listed in the mail.
    #[serde(default = "default_due_soon_days")]
    pub due_soon_days: u32,
    /// Action lists show this many dossier codes, then a count of the rest.
    #[serde(default = "default_action_cap")]
    pub action_list_cap: usize,
    /// Data-source alert: a source failing this many consecutive syncs.
    #[serde(default = "default_failing_syncs")]
    pub failing_syncs: u32,
    /// Data-source alert: no successful sync for this many hours.
    #[serde(default = "default_stale_hours")]
    pub stale_hours: u64,
    /// Data-source alert: this many more rejected records than at the last digest.
    #[serde(default = "default_rejected_jump")]
    pub rejected_jump: i64,
    /// An optional cap on the attempts to deliver one mail (transient errors only); without it,
    /// `mail_lifetime` alone decides when a message is given up.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// How long a message that the server does not take is retried before it is marked failed,
    /// as a number with its unit: "3d", "72h", "90m" (Postfix keeps trying for 5 days).
    #[serde(default = "default_mail_lifetime")]
    pub mail_lifetime: Span,
    /// A message waiting longer than this makes /healthz `degraded` and shows in
    /// `dondoc_outbox_stuck_messages`.
    #[serde(default = "default_mail_stuck_hours")]
    pub mail_stuck_hours: u64,
}

/// A span of time written with its unit: `"3d"`, `"72h"`, `"90m"`, `"600s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub secs: i64,
}

impl Span {
    /// Reads `"<whole number><s|m|h|d>"`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let t = text.trim();
        let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let per = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(format!(
                    "'{text}' is not a span of time: write a whole number and a unit, e.g. \"3d\", \"72h\", \"90m\" or \"600s\""
                ));
            }
        };
        let n: i64 = digits.parse().map_err(|_| {
            format!("'{text}' is not a span of time: the number is missing or too large")
        })?;
        n.checked_mul(per)
            .map(|secs| Span { secs })
            .ok_or_else(|| format!("'{text}' is too long a span of time"))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            cc: Vec::new(),
            admin: Vec::new(),
            min_sample: default_min_sample(),
            repeat_days: default_repeat_days(),
            send_resolved: true,
            pending_evaluations: default_pending_evaluations(),
            warn_margin: default_warn_margin(),
            trend_days: default_trend_days(),
            periods: default_alert_periods(),
            language: Language::default(),
            due_soon_days: default_due_soon_days(),
            action_list_cap: default_action_cap(),
            failing_syncs: default_failing_syncs(),
            stale_hours: default_stale_hours(),
            rejected_jump: default_rejected_jump(),
            max_attempts: None,
            mail_lifetime: default_mail_lifetime(),
            mail_stuck_hours: default_mail_stuck_hours(),
        }
    }
}

/// `[reports]`: the quarterly and annual commitment report (docs/reports.md).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportSettings {
    /// Who receives the scheduled report (the Home Affairs office); none: no report is mailed.
    #[serde(default, deserialize_with = "string_or_list")]
    pub recipients: Vec<String>,
    /// Copied on the scheduled report.
    #[serde(default, deserialize_with = "string_or_list")]
    pub cc: Vec<String>,
    /// Whom the report's mail is addressed to ("Kính gửi …").
    #[serde(default = "default_report_addressee")]
    pub addressee: String,
    /// How periods are cut: `reporting` (the 15th of the month before to the 14th, the official
    /// cut-off of periodic reports) or `calendar`. Also the default of `dondoc report --basis`.
    #[serde(default)]
    pub basis: crate::domain::periods::Basis,
    /// When the report is made and mailed (cron with seconds, local time): by default 08:00 on
    /// the 5th of each quarter's last month, a week before the 12th; December's fire also
    /// reports on the year.
    #[serde(default = "default_report_cron")]
    pub schedule: String,
    /// Also mail each unit (its `emails`) its own one-page extract.
    #[serde(default)]
    pub unit_extracts: bool,
    /// The action lists of the report show at most this many dossier codes per unit and list.
    #[serde(default = "default_report_action_cap")]
    pub action_list_cap: usize,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            recipients: Vec::new(),
            cc: Vec::new(),
            addressee: default_report_addressee(),
            basis: crate::domain::periods::Basis::default(),
            schedule: default_report_cron(),
            unit_extracts: false,
            action_list_cap: default_report_action_cap(),
        }
    }
}

fn default_report_addressee() -> String {
    "Phòng Nội vụ".into()
}
fn default_report_cron() -> String {
    "0 0 8 5 3,6,9,12 *".into()
}
fn default_report_action_cap() -> usize {
    1000
}

/// The language of the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Vi,
    En,
}

fn default_pending_evaluations() -> u32 {
    2
}
fn default_warn_margin() -> f64 {
    2.0
}
fn default_trend_days() -> u32 {
    14
}
fn default_alert_periods() -> Vec<crate::domain::PeriodKind> {
    vec![
        crate::domain::PeriodKind::Quarter,
        crate::domain::PeriodKind::Year,
    ]
}
fn default_due_soon_days() -> u32 {
    2
}
fn default_action_cap() -> usize {
    50
}
fn default_failing_syncs() -> u32 {
    3
}
fn default_stale_hours() -> u64 {
    24
}
fn default_rejected_jump() -> i64 {
    100
}
fn default_mail_lifetime() -> Span {
    Span { secs: 3 * 86_400 }
}
fn default_mail_stuck_hours() -> u64 {
    4
}
fn default_min_sample() -> u64 {
    20
}
fn default_repeat_days() -> u32 {
    7
}
fn default_true() -> bool {
    true
}

/// A target in percent: `min` (higher is better) or `max` (lower is better).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
pub struct TargetSpec {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Overrides `alerts.min_sample` for this target.
    #[serde(default)]
    pub min_sample: Option<u64>,
}

/// The commitment letter's targets (Đông Hà, 2024), used when `[targets]` is absent.
pub fn default_targets() -> BTreeMap<String, TargetSpec> {
    let t = |min: Option<f64>, max: Option<f64>| TargetSpec {
        min,
        max,
        min_sample: None,
    };
    BTreeMap::from([
        ("late_rate".into(), t(None, Some(1.0))),
        ("apology_rate".into(), t(Some(100.0), None)),
        ("digitized_rate".into(), t(Some(99.0), None)),
        ("online_rate".into(), t(Some(70.0), None)),
        ("online_payment_rate".into(), t(Some(60.0), None)),
        ("satisfaction_rate".into(), t(Some(99.0), None)),
        ("edoc_rate".into(), t(Some(80.0), None)),
    ])
}

/// A group of fields (lĩnh vực) under its key in `[field_groups]`: the key stays in the
/// configuration, `[[scoped_targets]]`, JSON and `/metrics`; the display name is what people read
/// (mail, dashboard, `status`, reports). Written either as the codes alone, or as a table:
///
/// ```toml
/// [field_groups]
/// land = ["G09-DD", "G09-XD"]
/// investment = { name = "đất đai, xây dựng, đầu tư", codes = ["G09-DD", "G09-XD", "G09-DT"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldGroup {
    /// The display name; none: the key is shown.
    pub name: Option<String>,
    /// `MaLinhVuc` codes.
    pub codes: Vec<String>,
}

impl FieldGroup {
    /// The name shown to people: the configured name, else the key.
    pub fn display_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(key)
    }
}

/// The table form of a field group (unknown keys are reported like everywhere else).
#[derive(Deserialize)]
struct FieldGroupTable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    codes: Vec<String>,
}

impl<'de> Deserialize<'de> for FieldGroup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FieldGroup;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a list of MaLinhVuc codes, or a table { name = \"…\", codes = [\"…\"] }",
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<FieldGroup, A::Error> {
                let codes =
                    Vec::<String>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(FieldGroup { name: None, codes })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldGroup, E> {
                // An environment variable: comma-separated codes.
                Ok(FieldGroup {
                    name: None,
                    codes: v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FieldGroup, A::Error> {
                let t = FieldGroupTable::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(FieldGroup {
                    name: t.name,
                    codes: t.codes,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Settings {
    /// The display name of a field group's key (the key itself when it names no group).
    pub fn scope_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.field_groups
            .get(key)
            .map(|g| g.display_name(key))
            .unwrap_or(key)
    }
}

/// A target for a metric narrowed to a field group.
#[derive(Debug, Clone, Deserialize)]
pub struct ScopedTarget {
    pub metric: String,
    pub scope: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min_sample: Option<u64>,
}

impl ScopedTarget {
    pub fn spec(&self) -> TargetSpec {
        TargetSpec {
            min: self.min,
            max: self.max,
            min_sample: self.min_sample,
        }
    }
}

/// An agency or ward (or the city itself, the one unit without a parent).
#[derive(Debug, Clone, Deserialize)]
pub struct UnitSettings {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// `DonViXuLy` values of the one-stop system that belong to this unit.
    #[serde(default, deserialize_with = "string_or_list")]
    pub one_stop_codes: Vec<String>,
    /// `MaDonVi` values of the document system that belong to this unit.
    #[serde(default, deserialize_with = "string_or_list")]
    pub document_codes: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub emails: Vec<String>,
    /// Overrides of `[targets]` for this unit only.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal or journald.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct LogSettings {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `dondoc=debug`; `RUST_LOG` wins over it.
    #[serde(default)]
    pub level: Option<String>,
}

/// Accepts a TOML list or a comma-separated string (what an environment variable can carry).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

// ---- The commitment letter (issue 20) ------------------------------------------------------

/// What a criterion of the letter measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentKind {
    /// A percentage (0 to 100) judged against `min` or `max`.
    Percent,
    /// A whole number judged against `min` or `max`.
    Count,
    /// Done or not done.
    Done,
    /// The date it was done, on or before the criterion's deadline.
    Date,
}

impl CommitmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitmentKind::Percent => "percent",
            CommitmentKind::Count => "count",
            CommitmentKind::Done => "done",
            CommitmentKind::Date => "date",
        }
    }
}

/// One criterion of the commitment letter (`[[commitments]]`).
#[derive(Debug, Clone, Deserialize)]
pub struct CommitmentSettings {
    /// A short code, unique in the register: `TCKH_THU_NGAN_SACH`.
    pub code: String,
    /// The criterion as the letter words it.
    pub text: String,
    /// The units that answer for it (unit codes), or `"all"`: every unit below the root.
    #[serde(deserialize_with = "string_or_list")]
    pub owners: Vec<String>,
    pub kind: CommitmentKind,
    /// Target for percent and count: at least this much.
    #[serde(default)]
    pub min: Option<f64>,
    /// Target for percent and count: at most this much.
    #[serde(default)]
    pub max: Option<f64>,
    /// When it is due: `each_quarter` (every quarterly form), `year` (by the year's deadline,
    /// 12 December), or a date `YYYY-MM-DD`.
    #[serde(default = "default_commitment_due")]
    pub due: String,
    /// For an automatic criterion: the rate that measures it (its target is the rate's target).
    #[serde(default)]
    pub metric: Option<String>,
    /// With `metric`: a field group of `[field_groups]`.
    #[serde(default)]
    pub scope: Option<String>,
}

impl CommitmentSettings {
    /// Whether dondoc measures it (a rate) rather than the unit reporting it.
    pub fn is_automatic(&self) -> bool {
        self.metric.is_some()
    }
}

fn default_commitment_due() -> String {
    "each_quarter".into()
}

/// `[letter]`: the quarterly forms of the commitment letter.
#[derive(Debug, Clone, Deserialize)]
pub struct LetterSettings {
    /// When the forms job runs (cron with seconds, local time); it only mails inside the windows
    /// below. Scheduled only when `[[commitments]]` holds criteria.
    #[serde(default = "default_letter_cron")]
    pub schedule: String,
    /// Each unit is mailed its pre-filled form this many days before the deadline.
    #[serde(default = "default_form_days")]
    pub form_days_before: u32,
    /// Units that have not returned their form are reminded daily from this many days before
    /// the deadline to the deadline.
    #[serde(default = "default_remind_days")]
    pub remind_days_before: u32,
    /// A folder where returned forms (.xlsx) are dropped; the job imports them (done ones move to
    /// `imported/`, refused ones to `refused/` with the reasons beside them).
    #[serde(default)]
    pub inbox: Option<PathBuf>,
    /// Copied on the forms and reminders (Home Affairs, who consolidates).
    #[serde(default, deserialize_with = "string_or_list")]
    pub cc: Vec<String>,
}

impl Default for LetterSettings {
    fn default() -> Self {
        Self {
            schedule: default_letter_cron(),
            form_days_before: default_form_days(),
            remind_days_before: default_remind_days(),
            inbox: None,
            cc: Vec::new(),
        }
    }
}

fn default_letter_cron() -> String {
    "0 0 8 * * *".into()
}
fn default_form_days() -> u32 {
    10
}
fn default_remind_days() -> u32 {
    3
}

// ---- [portal] (issue 19: the Decision 766 score, docs/score.md) ----

/// `[portal]`: collecting the national public-service portal's published Decision 766 figures.
/// Absent (the default, and the demo): nothing is collected and the score shows dondoc's estimate
/// alone.
#[derive(Debug, Clone, Deserialize)]
pub struct PortalSettings {
    /// Collect (default true when the section is present).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The portal's address before `/api/v1/reporting/evaluation/…`.
    pub base_url: String,
    /// The province's `rootDepartmentId` on the portal.
    pub root_department_id: String,
    /// A contact (mail address or URL) put in the User-Agent, so that the portal's operators can
    /// reach the city's IT office.
    pub contact: String,
    /// dondoc unit code → the unit's department code on the portal. Units not listed get no
    /// published figures.
    #[serde(default)]
    pub departments: BTreeMap<String, String>,
    /// When the daily collection runs (6-field cron, Asia/Ho_Chi_Minh). The portal refreshes
    /// once a night: once a day is enough.
    #[serde(default = "default_portal_cron")]
    pub schedule: String,
    /// The least time between two requests (one request at a time).
    #[serde(default = "default_portal_interval")]
    pub min_interval_ms: u64,
    /// A random extra wait of up to this much is added to every interval.
    #[serde(default = "default_portal_jitter")]
    pub jitter_ms: u64,
    /// Attempts per request (timeouts and 5xx are retried with exponential backoff).
    #[serde(default = "default_portal_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_portal_backoff")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_portal_timeout")]
    pub timeout_secs: u64,
    /// Units asked per page.
    #[serde(default = "default_portal_page_size")]
    pub page_size: u32,
    /// A published TDGQ score further than this from dondoc's estimate is reported on the
    /// data-quality page.
    #[serde(default = "default_portal_tolerance_points")]
    pub tolerance_points: f64,
    /// A portal dossier count further than this (percent of dondoc's) is reported.
    #[serde(default = "default_portal_tolerance_pct")]
    pub tolerance_count_pct: f64,
}

fn default_portal_cron() -> String {
    "0 30 6 * * *".into()
}
fn default_portal_interval() -> u64 {
    1000
}
fn default_portal_jitter() -> u64 {
    500
}
fn default_portal_attempts() -> u32 {
    3
}
fn default_portal_backoff() -> u64 {
    2000
}
fn default_portal_timeout() -> u64 {
    30
}
fn default_portal_page_size() -> u32 {
    100
}
fn default_portal_tolerance_points() -> f64 {
    1.0
}
fn default_portal_tolerance_pct() -> f64 {
    5.0
}
