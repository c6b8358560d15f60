//! The store: every read and write of dondoc's database goes through [`Store`].
//!
//! What it is for: keeping what dondoc fetched, computed and decided (records and their sync,
//! exact counts for the rates, the time series, alerts, the outbox, job fires, the commitment
//! letter's forms, the portal's figures) in SQLite (embedded, the default) or PostgreSQL (a shared
//! server, several replicas), chosen by the URL's scheme, with the same behaviour on both.
//!
//! How: every query is written ONCE, over sqlx's generic executors and `QueryBuilder`, for
//! [`backend::Db<D>`] with `D` either engine, in one file per concern: [`records`] (pages,
//! catalogue, sync state, data quality), [`tallies`] (exact counts), [`samples`] (time series),
//! [`alerts`], [`outbox`], [`jobs`] (fire claims), [`actions`] (the letters' action lists),
//! [`letter`] (returned forms) and [`score`] (the portal). What truly differs between the engines
//! (how a write begins, how bulk rows travel, how a list is bound, conditional counts, row locks
//! for claims) is the small [`backend::Backend`] seam, answered by [`sqlite`] and [`postgres`],
//! which also open their pools. [`Store`] is the enum over the two, chosen at open (rather than
//! `sqlx::Any`, which has no date or array types); the same tests run against both
//! (`tests/common`). Every multi-row write is one transaction: a crash at any point leaves the
//! database as it was before the write, or after it. [`copy`] moves a whole history from one
//! backend to another (`dondoc migrate-store`); [`backup`] copies a live SQLite database
//! (`dondoc backup`).
//!
//! After a fault (a full disk, a server that cut the connection) the store heals without a
//! restart: a connection that failed inside a transaction is closed, never reused
//! ([`recovery`]). [`disk`] measures the free space of a SQLite database's filesystem.
//!
//! What it must never do: compute a rate (it returns exact counts; [`crate::rates`] turns them
//! into rows), contact an upstream system or send mail, import a module above it (it knows only
//! the plain record, tally, alert and mail types it persists), or hold personal data (the record
//! types it accepts have none).

mod actions;
mod alerts;
pub mod backend;
pub mod backup;
pub mod copy;
pub mod disk;
mod facts;
mod jobs;
mod letter;
mod outbox;
pub mod postgres;
mod records;
mod recovery;
mod samples;
mod score;
pub mod sqlite;
mod tallies;

pub use copy::{MigrationReport, migrate_store, run_migrate_store};
pub use disk::DiskSpace;
pub use facts::Facts;

// The plain types the store persists, imported here only: the files of each concern take them
// from `super`.
use crate::domain::Tally;
use crate::domain::alert::{AlertKey, AlertRecord, Notice, Phase};
use crate::domain::mail::{Attachment, OutgoingMail};
use crate::domain::records::{Document, Dossier, Procedure, Rejection};
use crate::domain::time::Epoch;

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {url}: {source}. Check database.url and that the folder is writable"
    )]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply the database migrations to {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "cannot connect to the PostgreSQL database {url}: {source}. Check database.url, that the server is running and that its role may log in"
    )]
    Connect { url: String, source: sqlx::Error },
    #[error(
        "database.url '{0}' is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
    )]
    Unsupported(String),
    #[error(
        "the target database already holds data ({table}: {rows} rows): migrate-store copies only into an empty database; drop and recreate it, then run the copy again"
    )]
    TargetNotEmpty { table: &'static str, rows: i64 },
    #[error("the source database {0} does not exist")]
    SourceMissing(String),
    #[error("the source and the target are the same database ({0})")]
    SameDatabase(String),
    #[error(
        "the copy does not match its source: {table} has {source_rows} rows in the source and {target_rows} in the target; nothing was committed"
    )]
    CopyMismatch {
        table: &'static str,
        source_rows: i64,
        target_rows: i64,
    },
    #[error("cannot create the folder {path} for the database: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("database error while {doing}: {source}")]
    Query {
        doing: &'static str,
        source: sqlx::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a pooled connection may stay unused before it is closed (with its caches): a
/// daemon idle between jobs holds no connection.
pub(crate) const IDLE: std::time::Duration = std::time::Duration::from_secs(20);

/// A helper to give every query error its context.
pub(crate) trait Context<T> {
    fn doing(self, what: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn doing(self, what: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Query {
            doing: what,
            source,
        })
    }
}

/// The sync position and health of one source endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SyncState {
    pub source: String,
    pub endpoint: String,
    pub mark: Option<Epoch>,
    pub last_success_at: Option<Epoch>,
    pub last_attempt_at: Option<Epoch>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
}

/// The outbox at a glance, for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
    pub sent: i64,
    /// Replaced by a newer letter to the same recipients about the same unit before being sent.
    pub superseded: i64,
}

/// Mail waiting for delivery (pending or being sent), for health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxWaiting {
    /// Messages queued before the instant asked about (waiting longer than allowed).
    pub stuck: i64,
    /// When the oldest waiting message was queued.
    pub oldest_queued_at: Option<Epoch>,
}

/// A letter to queue: the mail, its kind, and (for letters about one unit) the unit, so that a
/// newer letter of the same kind to the same recipients about that unit supersedes it while it
/// waits; `snapshot` is what a city summary showed (JSON), read back by the next summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedLetter {
    pub kind: String,
    pub unit: Option<String>,
    pub snapshot: Option<String>,
    pub mail: OutgoingMail,
}

/// The delivery history of the letters of one kind about one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterHistory {
    pub kind: String,
    pub unit: String,
    /// When the oldest letter still waiting (pending) was queued.
    pub waiting_since: Option<Epoch>,
    /// When the newest letter that was sent had been queued.
    pub last_sent_queued_at: Option<Epoch>,
}

/// The last run of a source endpoint, for health and metrics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SyncStats {
    #[sqlx(flatten)]
    pub state: SyncState,
    #[sqlx(flatten)]
    pub last: RunCounts,
}

/// Counts of one sync run of an endpoint, kept for `status`, health and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct RunCounts {
    pub fetched: i64,
    pub stored: i64,
    pub rejected: i64,
    pub pages: i64,
    pub duration_ms: i64,
}

/// Exact counts of one (unit code, field code) group, as the database aggregated them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTally {
    pub unit_code: String,
    pub field_code: Option<String>,
    pub tally: Tally,
}

/// A point of the time series.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct Sample {
    pub unit: String,
    pub metric: String,
    /// `""` for an unscoped rate.
    pub scope: String,
    pub period: String,
    pub day: String,
    pub as_of: Epoch,
    pub numerator: i64,
    pub denominator: i64,
    pub computed_at: Epoch,
    /// Set when a later recomputation of this day found other counts (a dossier updated after
    /// the fact): what was stored first, and when; `numerator`/`denominator` are what is known
    /// now. `None` for a day never revised.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
}

/// What a sample said before it was revised (see [`Sample::revision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Revision {
    pub first_numerator: i64,
    pub first_denominator: i64,
    pub first_computed_at: Epoch,
    pub revised_at: Epoch,
}

impl Revision {
    /// From the four nullable columns: a revision exists when all are set.
    pub fn from_columns(
        first_numerator: Option<i64>,
        first_denominator: Option<i64>,
        first_computed_at: Option<Epoch>,
        revised_at: Option<Epoch>,
    ) -> Option<Revision> {
        Some(Revision {
            first_numerator: first_numerator?,
            first_denominator: first_denominator?,
            first_computed_at: first_computed_at?,
            revised_at: revised_at?,
        })
    }
}

/// Rejected records of a source and kind, grouped by reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct RejectionCount {
    pub source: String,
    pub kind: String,
    pub reason: String,
    pub count: i64,
}

/// Records of one source endpoint whose update time lay too far in the future when read
/// (`future_updates`): how many, the furthest time claimed, and when one was last seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct FutureCount {
    pub source: String,
    pub endpoint: String,
    pub records: i64,
    pub latest_claimed: Epoch,
    pub last_seen: Epoch,
}

/// Records per upstream unit code (for the "unmapped" data-quality count).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeCount {
    pub code: String,
    pub count: i64,
}

/// A dossier named in an action list: codes and dates only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct ActionItem {
    /// `MaHoSo`.
    pub code: String,
    /// The procedure's name from the catalogue, or its code.
    pub procedure: String,
    pub due_at: Option<Epoch>,
    pub ended_at: Option<Epoch>,
}

/// The first items of an action list and how many there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ActionList {
    pub items: Vec<ActionItem>,
    pub total: i64,
}

/// A message of the outbox, as `alerts list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub recipients: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Epoch,
    pub last_error: Option<String>,
    pub created_at: Epoch,
    pub sent_at: Option<Epoch>,
}

/// A message claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub id: i64,
    pub attempts: i64,
    /// When the message was queued (its lifetime counts from here).
    pub created_at: Epoch,
    pub mail: OutgoingMail,
}

/// One returned form of the commitment letter (issue 20): a unit's manual values for a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LetterSubmission {
    pub unit: String,
    /// `2026-Q4` or `2026`.
    pub period: String,
    /// 1, 2, … in import order (assigned by the store).
    pub seq: i64,
    /// Who: the returned file's name.
    pub file_name: String,
    pub sha256: String,
    /// When: the import time.
    pub imported_at: Epoch,
    pub values: Vec<LetterValue>,
}

/// One manual criterion's answer in a returned form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct LetterValue {
    pub criterion: String,
    /// Canonical text (`92.5`, `3`, `done`, `not_done`, `2026-11-30`); `None`: left blank.
    pub value: Option<String>,
    pub evidence: String,
    pub note: String,
}

/// A fee-bearing procedure of a unit code in a window (the score's procedure-level ratio; the rule
/// is `metrics::rules::fee_procedure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeProcedure {
    pub unit_code: String,
    /// `MaTTHC`.
    pub procedure_code: String,
    /// At least one of its fee-bearing dossiers of the window was paid online.
    pub paid_online: bool,
}

/// One group's figures as the national portal published them for a unit and period, on the day
/// dondoc collected them (issue 19; aggregates only).
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct PortalFigure {
    /// dondoc's unit code.
    pub unit: String,
    /// `2026-Q4`, `2026-11` or `2026`.
    pub period: String,
    /// The group's code on the portal: CKMB, TDGQ, CLGQ, TTTT, MDHL, MDSH.
    pub group: String,
    /// The local day of the collection, `YYYY-MM-DD`.
    pub day: String,
    /// The portal's department code of the unit.
    pub department: String,
    /// `totalScore`.
    pub score: Option<f64>,
    /// `totalMaxScore`.
    pub max_score: Option<f64>,
    /// The portal's dossier count for the group (`totalReceived`), when the report gives one.
    pub received: Option<i64>,
    /// The report's metrics and counts, as JSON text.
    pub detail: String,
    pub fetched_at: Epoch,
}

/// The portal collector's circuit breaker, kept in the database so that it stays open across
/// restarts until a person resets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct PortalCircuit {
    pub open: bool,
    /// Why it opened, in words.
    pub reason: Option<String>,
    pub opened_at: Option<Epoch>,
    pub last_attempt_at: Option<Epoch>,
    pub last_success_at: Option<Epoch>,
    pub last_error: Option<String>,
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    crate::config::DatabaseKind::of(url) == Some(crate::config::DatabaseKind::Postgres)
}

/// The database, whichever engine holds it.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Opens and migrates the database at `url`: `sqlite://PATH` (the file and its folder are
    /// created when missing) or `postgres://…` / `postgresql://…` (the database must exist).
    ///
    /// The rate engine's facts are built from the records here when their stored format is not
    /// the current one (once after an upgrade; see [`facts`]).
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            Store::Sqlite(sqlite::SqliteStore::open(url, max_connections).await?)
        } else if is_postgres_url(url) {
            Store::Postgres(postgres::PostgresStore::open(url, max_connections).await?)
        } else {
            return Err(StoreError::Unsupported(url.to_string()));
        };
        if let Err(e) = store.ensure_facts().await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// The engine's name, for messages: `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        dispatch!(self, s => s.engine())
    }

    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// Free space of the filesystem holding a SQLite database file; `None` for PostgreSQL (the
    /// server's disk is not this machine's) and for a memory database.
    pub fn disk_space(&self) -> Option<std::io::Result<DiskSpace>> {
        match self {
            Store::Sqlite(s) => s.file().map(disk::measure),
            Store::Postgres(_) => None,
        }
    }

    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, s => s.ping().await)
    }

    pub async fn sync_state(&self, source: &str, endpoint: &str) -> Result<Option<SyncState>> {
        dispatch!(self, s => s.sync_state(source, endpoint).await)
    }

    pub async fn sync_states(&self) -> Result<Vec<SyncState>> {
        dispatch!(self, s => s.sync_states().await)
    }

    /// Stores one page of dossiers and its rejections, and moves the mark to `mark`, in one
    /// transaction. Returns how many records were written (an older version never overwrites a
    /// newer one).
    pub async fn store_dossier_page(
        &self,
        source: &str,
        endpoint: &str,
        dossiers: &[Dossier],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        dispatch!(self, s => s.store_dossier_page(source, endpoint, dossiers, rejections, mark, now).await)
    }

    /// Same as [`Store::store_dossier_page`] for documents.
    pub async fn store_document_page(
        &self,
        source: &str,
        endpoint: &str,
        documents: &[Document],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        dispatch!(self, s => s.store_document_page(source, endpoint, documents, rejections, mark, now).await)
    }

    /// Replaces a source's whole catalogue (one transaction).
    pub async fn replace_procedures(
        &self,
        source: &str,
        procedures: &[Procedure],
        rejections: &[Rejection],
        now: Epoch,
    ) -> Result<()> {
        dispatch!(self, s => s.replace_procedures(source, procedures, rejections, now).await)
    }

    pub async fn record_success(
        &self,
        source: &str,
        endpoint: &str,
        counts: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        dispatch!(self, s => s.record_success(source, endpoint, counts, now).await)
    }

    pub async fn record_failure(
        &self,
        source: &str,
        endpoint: &str,
        error: &str,
        counts: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        dispatch!(self, s => s.record_failure(source, endpoint, error, counts, now).await)
    }

    /// Sets a source endpoint's mark to exactly `mark` (which may move it back): the
    /// administrator's `sync --from`, and the repair of a mark found ahead of the clock.
    pub async fn set_mark(&self, source: &str, endpoint: &str, mark: Option<Epoch>) -> Result<()> {
        dispatch!(self, s => s.set_mark(source, endpoint, mark).await)
    }

    /// Notes records whose update time (`claimed`) lay too far in the future when read at `now`.
    pub async fn note_future_updates(
        &self,
        source: &str,
        endpoint: &str,
        items: &[(String, Epoch)],
        now: Epoch,
    ) -> Result<()> {
        // One row per key (a key twice in one statement is an error on PostgreSQL).
        let unique: std::collections::BTreeMap<&str, Epoch> =
            items.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        if unique.is_empty() {
            return Ok(());
        }
        let items: Vec<(String, Epoch)> = unique
            .into_iter()
            .map(|(k, t)| (k.to_string(), t))
            .collect();
        let items = items.as_slice();
        dispatch!(self, s => s.note_future_updates(source, endpoint, items, now).await)
    }

    /// The future-dated records per source endpoint.
    pub async fn future_counts(&self) -> Result<Vec<FutureCount>> {
        dispatch!(self, s => s.future_counts().await)
    }

    /// Exact dossier counts per (unit code, field code) for the window, in one pass.
    pub async fn dossier_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        dispatch!(self, s => s.dossier_tallies(start, horizon).await)
    }

    /// Exact dossier counts for several windows (month, quarter, year), in one pass of the table.
    /// Returns one list per window, in order.
    pub async fn dossier_tallies_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<GroupTally>>> {
        dispatch!(self, s => s.dossier_tallies_many(windows).await)
    }

    /// Fee-bearing procedures per unit code for several windows, in one pass (the score's
    /// procedure-level online-payment ratio). One list per window, in order.
    pub async fn fee_procedures_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<FeeProcedure>>> {
        dispatch!(self, s => s.fee_procedures_many(windows).await)
    }

    /// Upserts the portal's published figures (one transaction; one row per unit, period, group
    /// and day: a second collection on the same day replaces the first).
    pub async fn save_portal_figures(&self, figures: &[PortalFigure]) -> Result<()> {
        dispatch!(self, s => s.save_portal_figures(figures).await)
    }

    /// The newest collected figures of `period`, for every unit and group (the latest day each).
    pub async fn portal_figures(&self, period: &str) -> Result<Vec<PortalFigure>> {
        dispatch!(self, s => s.portal_figures(period).await)
    }

    /// The portal collector's circuit (closed and empty when never written).
    pub async fn portal_circuit(&self) -> Result<PortalCircuit> {
        dispatch!(self, s => s.portal_circuit().await)
    }

    pub async fn set_portal_circuit(&self, c: &PortalCircuit) -> Result<()> {
        dispatch!(self, s => s.set_portal_circuit(c).await)
    }

    /// Exact document counts per unit code for the window, in one pass.
    pub async fn document_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        dispatch!(self, s => s.document_tallies(start, horizon).await)
    }

    /// Stored (not deleted) dossiers per `DonViXuLy`.
    pub async fn dossier_codes(&self) -> Result<Vec<CodeCount>> {
        dispatch!(self, s => s.dossier_codes().await)
    }

    /// Stored (not deleted) documents per `MaDonVi`.
    pub async fn document_codes(&self) -> Result<Vec<CodeCount>> {
        dispatch!(self, s => s.document_codes().await)
    }

    pub async fn rejection_counts(&self) -> Result<Vec<RejectionCount>> {
        dispatch!(self, s => s.rejection_counts().await)
    }

    pub async fn upsert_samples(&self, samples: &[Sample]) -> Result<()> {
        dispatch!(self, s => s.upsert_samples(samples).await)
    }

    /// Stores recomputed samples of past days (the backfill), in one transaction: a new day is
    /// inserted; a stored day whose counts are unchanged is left as it was (nothing rewritten);
    /// a stored day whose counts differ takes the new counts and is marked revised, keeping the
    /// counts first stored (and when) through every later revision. Returns the rows written
    /// (new or revised).
    pub async fn store_history(&self, samples: &[Sample]) -> Result<u64> {
        dispatch!(self, s => s.store_history(samples).await)
    }

    /// The local days (`YYYY-MM-DD`) in `[from, to]` that hold at least one sample.
    pub async fn sample_days(&self, from: &str, to: &str) -> Result<Vec<String>> {
        dispatch!(self, s => s.sample_days(from, to).await)
    }

    /// The earliest instant any metric can count: the first reception of a stored dossier, the
    /// first arrival or issue of a stored document; `None` for an empty store.
    pub async fn data_start(&self) -> Result<Option<Epoch>> {
        dispatch!(self, s => s.data_start().await)
    }

    /// Every sample taken on `day` or later (for trends and projections).
    pub async fn samples_since(&self, day: &str) -> Result<Vec<Sample>> {
        dispatch!(self, s => s.samples_since(day).await)
    }

    pub async fn alerts(&self) -> Result<Vec<AlertRecord>> {
        dispatch!(self, s => s.alerts().await)
    }

    /// Upserts alert records in one transaction.
    pub async fn save_alerts(&self, records: &[AlertRecord]) -> Result<()> {
        dispatch!(self, s => s.save_alerts(records).await)
    }

    /// Queues mail and records the alerts it tells of as notified, in one transaction: a crash
    /// leaves either both or neither. A message whose Message-ID is already queued is not
    /// queued again. Returns how many messages were queued.
    pub async fn commit_digest(
        &self,
        mails: &[(String, OutgoingMail)],
        notified: &[AlertRecord],
        now: Epoch,
    ) -> Result<usize> {
        let letters: Vec<QueuedLetter> = mails
            .iter()
            .map(|(kind, mail)| QueuedLetter {
                kind: kind.clone(),
                unit: None,
                snapshot: None,
                mail: mail.clone(),
            })
            .collect();
        Ok(self.commit_letters(&letters, notified, now).await?.0)
    }

    /// Queues letters and records the alerts they tell of as notified, in one transaction (as
    /// [`Store::commit_digest`]); each letter with a unit marks the waiting letters of its kind to
    /// the same recipients (To and Cc) about the same unit as superseded. Returns (queued,
    /// superseded).
    pub async fn commit_letters(
        &self,
        letters: &[QueuedLetter],
        notified: &[AlertRecord],
        now: Epoch,
    ) -> Result<(usize, usize)> {
        dispatch!(self, s => s.commit_letters(letters, notified, now).await)
    }

    /// Per (kind, unit) of the letters about one unit: the oldest still waiting, the newest sent.
    pub async fn letter_history(&self) -> Result<Vec<LetterHistory>> {
        dispatch!(self, s => s.letter_history().await)
    }

    /// The snapshot of the newest letter of `kind` about `unit` that was sent.
    pub async fn last_sent_snapshot(&self, kind: &str, unit: &str) -> Result<Option<String>> {
        dispatch!(self, s => s.last_sent_snapshot(kind, unit).await)
    }

    /// Mail still waiting for delivery: how many were queued before `queued_before`, and the
    /// oldest's queue time.
    pub async fn outbox_waiting(&self, queued_before: Epoch) -> Result<OutboxWaiting> {
        dispatch!(self, s => s.outbox_waiting(queued_before).await)
    }

    /// Claims one fire of a scheduled job; false when another run (or replica) has it.
    pub async fn claim_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        claimed_by: &str,
        now: Epoch,
    ) -> Result<bool> {
        dispatch!(self, s => s.claim_fire(job, fire_at, claimed_by, now).await)
    }

    pub async fn finish_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        error: Option<&str>,
        now: Epoch,
    ) -> Result<()> {
        dispatch!(self, s => s.finish_fire(job, fire_at, error, now).await)
    }

    /// The latest fire of a job that finished without error.
    pub async fn last_success(&self, job: &str) -> Result<Option<Epoch>> {
        dispatch!(self, s => s.last_success(job).await)
    }

    /// Every job's latest successful fire, for the metrics endpoint.
    pub async fn job_successes(&self) -> Result<Vec<(String, Epoch)>> {
        dispatch!(self, s => s.job_successes().await)
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        dispatch!(self, s => s.outbox_counts().await)
    }

    /// Every source endpoint's state and last run.
    pub async fn sync_stats(&self) -> Result<Vec<SyncStats>> {
        dispatch!(self, s => s.sync_stats().await)
    }

    /// The latest claimed fire of a job.
    pub async fn last_fire(&self, job: &str) -> Result<Option<Epoch>> {
        dispatch!(self, s => s.last_fire(job).await)
    }

    /// Claims the next message due for delivery (pending and due, or whose earlier claim's lease
    /// ran out), leasing it for `lease_secs`.
    pub async fn claim_mail(&self, now: Epoch, lease_secs: i64) -> Result<Option<ClaimedMail>> {
        dispatch!(self, s => s.claim_mail(now, lease_secs).await)
    }

    pub async fn mail_sent(&self, id: i64, now: Epoch) -> Result<()> {
        dispatch!(self, s => s.mail_sent(id, now).await)
    }

    /// Records a failed attempt: retried at `next_attempt_at`, or failed for good when `None`.
    pub async fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<Epoch>,
    ) -> Result<()> {
        dispatch!(self, s => s.mail_failed(id, error, next_attempt_at).await)
    }

    /// The newest messages of the outbox.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        dispatch!(self, s => s.outbox(limit).await)
    }

    /// Late dossiers of `codes` without an apology slip, as seen at `now`, relevant to the period
    /// starting at `start`: worst (oldest due date) first.
    pub async fn late_without_apology(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        dispatch!(self, s => s.late_without_apology(codes, start, now, cap).await)
    }

    /// Open dossiers of `codes` due in `[now, until)`: soonest first.
    pub async fn due_soon(
        &self,
        codes: &[String],
        now: Epoch,
        until: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        dispatch!(self, s => s.due_soon(codes, now, until, cap).await)
    }

    /// Processed or returned dossiers of `codes` ended in `[start, now)` with no digitized result.
    pub async fn not_digitized(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        dispatch!(self, s => s.not_digitized(codes, start, now, cap).await)
    }

    /// The stored series of one rate (every period), oldest first.
    pub async fn samples(&self, unit: &str, metric: &str, scope: &str) -> Result<Vec<Sample>> {
        dispatch!(self, s => s.samples(unit, metric, scope).await)
    }

    /// Records a returned form as the newest submission of its unit and period (one
    /// transaction: the header and every value, or nothing); returns its `seq`.
    pub async fn record_letter_submission(&self, sub: &LetterSubmission) -> Result<i64> {
        dispatch!(self, s => s.record_letter_submission(sub).await)
    }

    /// Every submission of `period` (all units, history included), by unit then seq.
    pub async fn letter_submissions(&self, period: &str) -> Result<Vec<LetterSubmission>> {
        dispatch!(self, s => s.letter_submissions(period).await)
    }
}
