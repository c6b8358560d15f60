//! Sync: one pass over every source, pulling incrementally into the store.
//!
//! For each paged endpoint the high-water mark of `NgayCapNhat` is kept in `sync_state`; a poll
//! asks `updated_since = mark − overlap`, follows `next_cursor` to the end, and stores each page in
//! one transaction together with the mark it reaches. Killed at any moment, the database holds
//! whole pages and a mark that never runs ahead of them; the next pass resumes from the mark.
//! Pages are parsed and stored as they arrive (the next page is fetched while the current one is
//! written), so memory stays flat whatever the upstream's size.
//!
//! A failing source records its error and its count of consecutive failures, keeps its mark, and
//! the other sources go on. This module never computes rates and never logs record content.
//!
//! A source that speaks the contract takes the original path below (`sync_paged`), untouched by
//! the mapping layer. A source with a mapping (docs/mapping.md) takes `sync_mapped`: the same
//! page-by-page store, with the vendor's paging and each record through its
//! [`ListPlan`](crate::upstream::mapping::ListPlan). Its cursor style keeps the contract's
//! guarantee and moves the mark with each page. Its offset and page styles cannot: a record
//! updated during a read moves in the vendor's order and may shift another onto a page already
//! read. So for those styles:
//! - pages are stored without moving the mark; a read that fits on one page is one answer, a
//!   snapshot, and moves the mark with that page;
//! - after a read of several pages, one more request asks for what changed since the read began
//!   (`updated_since` = the earlier of dondoc's clock and the server's `Date` at the first answer,
//!   less `paging.clock_skew_secs`). Nothing: the read saw every record of the window, and the
//!   mark moves to the newest update it saw. Something: positions may have shifted, and the same
//!   window is read again from its start, up to `paging.max_reads` reads in the pass;
//! - a window that never settles keeps its old mark (what was read is stored): the next pass
//!   reads it again. Nothing is lost; the price is the re-reads, paid only when the source
//!   changes during a multi-page read (docs/mapping.md gives the numbers).
//!
//! Import sources (`kind = "import"`) are read from their folder by [`crate::upstream::import`].
//!
//! An upstream dondoc does not control (docs/upstream-safety.md):
//! - **The mark never runs ahead of the clock.** An update time later than the pass's `now` +
//!   `allowed_skew_secs` is not trusted: the record is stored with `now` as its update time (so
//!   that a later real update still replaces it), the anomaly is noted in `future_updates` (key
//!   and claimed time), and the page's mark therefore never passes now + skew. A stored mark
//!   already ahead of the clock (from an older version) is brought back to now + skew.
//!   `dondoc sync --source NAME --from DATE` sets a mark back by hand ([`set_marks`]).
//! - **A circuit per source.** After `circuit_failures` failed passes in a row, the source is
//!   left alone for `circuit_cooldown_secs` after its last attempt; then one pass tries it
//!   again (a failure opens the circuit for another cool-down, a success closes it). The state
//!   is the stored `consecutive_failures` and `last_attempt_at`, so it holds across restarts and
//!   replicas. A pass asked for one source by name ignores its circuit.
//! - Answers are capped in size and requests spaced and limited per source by the client
//!   ([`crate::upstream::client::Gate`]).

use crate::app::App;
use crate::config::SourceKind;
use crate::domain::time::Epoch;
use crate::store::{RunCounts, StoreError};
use crate::upstream::body::not_json;
use crate::upstream::client::{FetchError, SourceClient};
use crate::upstream::mapping::ListPlan;
use crate::upstream::mapping::paging::{self, Pager, Position};
use crate::upstream::records::{self, RawPage, RecordKind, Rejection};
use serde_json::value::RawValue;
use std::time::Instant;

/// What one endpoint of one source did in a pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointReport {
    pub source: String,
    pub endpoint: String,
    pub fetched: i64,
    pub stored: i64,
    pub rejected: i64,
    pub pages: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// What a whole pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub endpoints: Vec<EndpointReport>,
}

impl SyncReport {
    /// The sources that failed, with their errors.
    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.endpoints
            .iter()
            .filter_map(|e| e.error.as_deref().map(|err| (e.source.as_str(), err)))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
enum EndpointError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Protocol(String),
    #[error(
        "stopped between two pages because dondoc is shutting down; the next sync resumes from the stored mark"
    )]
    Interrupted,
}

/// Whether a pass writes what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Store every page and move the marks (a real sync).
    Store,
    /// Fetch, parse and validate every page from the stored marks, and write nothing (neither
    /// records, nor marks, nor the sources' health): a check of the sources, and the benchmark's
    /// parsing floor.
    DryRun,
}

/// One sync pass over every configured source, at `now`.
pub async fn run_once(app: &App, now: Epoch) -> SyncReport {
    run(app, now, Mode::Store).await
}

/// One pass over every configured source in the given mode.
pub async fn run(app: &App, now: Epoch, mode: Mode) -> SyncReport {
    run_with(app, now, mode, None).await
}

/// The endpoints of a source that keep a mark or a health row, in pass order.
pub fn endpoints_of(kind: SourceKind) -> &'static [&'static str] {
    match kind {
        SourceKind::OneStop => &["thu-tuc", "ho-so"],
        SourceKind::Documents => &["van-ban"],
        SourceKind::Import => &[crate::upstream::import::ENDPOINT],
    }
}

/// When the circuit of a source is open at `now`: the instant it lets one pass try again, and
/// the failed passes in a row that opened it. `states` are the source's stored states.
pub fn circuit_open_until(
    settings: &crate::config::SourceSettings,
    states: &[&crate::store::SyncState],
    now: Epoch,
) -> Option<(Epoch, i64)> {
    if settings.circuit_failures == 0 {
        return None;
    }
    let failing = states
        .iter()
        .filter(|s| s.consecutive_failures >= i64::from(settings.circuit_failures))
        .filter_map(|s| Some((s.last_attempt_at?, s.consecutive_failures)))
        .max()?;
    let until = failing.0 + settings.circuit_cooldown_secs as i64;
    (now < until).then_some((until, failing.1))
}

/// One pass in the given mode, over every source or only `only` (which then ignores its
/// circuit: an administrator naming a source is trying it now).
pub async fn run_with(app: &App, now: Epoch, mode: Mode, only: Option<&str>) -> SyncReport {
    let mut report = SyncReport::default();
    let states = match app.store.sync_states().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the sync states; every circuit counts as closed");
            Vec::new()
        }
    };
    for (name, settings) in &app.settings.sources {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        if settings.kind != SourceKind::Import && only.is_none() && mode == Mode::Store {
            let mine: Vec<&crate::store::SyncState> =
                states.iter().filter(|s| &s.source == name).collect();
            if let Some((until, failures)) = circuit_open_until(settings, &mine, now) {
                let last = mine
                    .iter()
                    .filter_map(|s| s.last_error.as_deref())
                    .next()
                    .unwrap_or("");
                let error = format!(
                    "circuit open: {failures} failed passes in a row (sources.{name}.circuit_failures = {});                      dondoc leaves this source alone until {} and then tries it once                      (sources.{name}.circuit_cooldown_secs). Try it now with `dondoc sync --source {name}`.                      Last error: {last}",
                    settings.circuit_failures,
                    crate::domain::time::rfc3339(until),
                );
                tracing::warn!(source = %name, until = %crate::domain::time::rfc3339(until), "circuit open: source skipped");
                for endpoint in endpoints_of(settings.kind) {
                    report.endpoints.push(EndpointReport {
                        source: name.clone(),
                        endpoint: endpoint.to_string(),
                        fetched: 0,
                        stored: 0,
                        rejected: 0,
                        pages: 0,
                        duration_ms: 0,
                        error: Some(error.clone()),
                    });
                }
                continue;
            }
        }
        if settings.kind == SourceKind::Import {
            report
                .endpoints
                .push(crate::upstream::import::sync_folder(app, name, settings, now, mode).await);
            continue;
        }
        let client = match SourceClient::new(name, settings, app.clock.clone()) {
            Ok(c) => c.with_gate(app.gates.of(name, settings)),
            Err(e) => {
                let endpoint = match settings.kind {
                    SourceKind::OneStop => "ho-so",
                    SourceKind::Documents | SourceKind::Import => "van-ban",
                };
                report.endpoints.push(
                    fail(
                        mode,
                        app,
                        name,
                        endpoint,
                        &e.to_string(),
                        RunCounts::default(),
                        now,
                    )
                    .await,
                );
                continue;
            }
        };
        let overlap = settings.overlap_secs as i64;
        let guard = TimeGuard::new(now, settings.allowed_skew_secs);
        if !is_contract(settings) {
            sync_mapped_source(app, &client, settings, overlap, guard, mode, &mut report).await;
            continue;
        }
        match settings.kind {
            SourceKind::OneStop => {
                let catalogue = sync_catalogue(app, &client, now, mode).await;
                let failed = catalogue.error.is_some();
                report.endpoints.push(catalogue);
                if failed {
                    continue;
                }
                report
                    .endpoints
                    .push(sync_paged(app, &client, "ho-so", overlap, guard, mode).await);
            }
            SourceKind::Documents => {
                report
                    .endpoints
                    .push(sync_paged(app, &client, "van-ban", overlap, guard, mode).await);
            }
            SourceKind::Import => {}
        }
    }
    report
}

/// Whether a source speaks the contract as it is (whatever its authentication): no list table
/// and the contract's paging.
pub fn is_contract(s: &crate::config::SourceSettings) -> bool {
    let p = &s.paging;
    let d = crate::config::mapping::PagingSettings::default();
    s.dossiers.is_none()
        && s.procedures.is_none()
        && s.documents.is_none()
        && p.style == d.style
        && p.limit_param == d.limit_param
        && p.cursor_param == d.cursor_param
        && p.next_cursor == d.next_cursor
        && p.updated_since_param == d.updated_since_param
        && p.updated_since_format == d.updated_since_format
        && p.query.is_empty()
}

async fn fail(
    mode: Mode,
    app: &App,
    source: &str,
    endpoint: &str,
    error: &str,
    c: RunCounts,
    now: Epoch,
) -> EndpointReport {
    tracing::error!(source, endpoint, error, "sync of the source failed");
    if mode == Mode::Store
        && let Err(e) = app
            .store
            .record_failure(source, endpoint, error, c, now)
            .await
    {
        tracing::error!(source, endpoint, error = %e, "could not record the failure");
    }
    EndpointReport {
        source: source.to_string(),
        endpoint: endpoint.to_string(),
        fetched: c.fetched,
        stored: c.stored,
        rejected: c.rejected,
        pages: c.pages,
        duration_ms: c.duration_ms,
        error: Some(error.to_string()),
    }
}

#[allow(clippy::too_many_arguments)] // one call site per endpoint kind; a struct would only rename them
async fn finish(
    mode: Mode,
    app: &App,
    source: &str,
    endpoint: &str,
    result: Result<(), EndpointError>,
    mut c: RunCounts,
    started: Instant,
    now: Epoch,
) -> EndpointReport {
    c.duration_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok(()) => {
            if mode == Mode::Store
                && let Err(e) = app.store.record_success(source, endpoint, c, now).await
            {
                return fail(mode, app, source, endpoint, &e.to_string(), c, now).await;
            }
            tracing::info!(
                source,
                endpoint,
                fetched = c.fetched,
                stored = c.stored,
                rejected = c.rejected,
                pages = c.pages,
                ms = c.duration_ms,
                "synced"
            );
            EndpointReport {
                source: source.to_string(),
                endpoint: endpoint.to_string(),
                fetched: c.fetched,
                stored: c.stored,
                rejected: c.rejected,
                pages: c.pages,
                duration_ms: c.duration_ms,
                error: None,
            }
        }
        Err(EndpointError::Interrupted) => {
            tracing::info!(
                source,
                endpoint,
                stored = c.stored,
                "sync stopped between pages for shutdown"
            );
            EndpointReport {
                source: source.to_string(),
                endpoint: endpoint.to_string(),
                fetched: c.fetched,
                stored: c.stored,
                rejected: c.rejected,
                pages: c.pages,
                duration_ms: c.duration_ms,
                error: Some(EndpointError::Interrupted.to_string()),
            }
        }
        Err(e) => fail(mode, app, source, endpoint, &e.to_string(), c, now).await,
    }
}

async fn sync_catalogue(
    app: &App,
    client: &SourceClient,
    now: Epoch,
    mode: Mode,
) -> EndpointReport {
    let started = Instant::now();
    let mut c = RunCounts::default();
    let result: Result<(), EndpointError> = async {
        let body = client.get("thu-tuc", None, None, false).await?;
        c.pages = 1;
        let page: RawPage = serde_json::from_slice(&body)
            .map_err(|e| EndpointError::Protocol(contract_error(&client.name, "thu-tuc", "{\"data\": [...]}", &body, &e)))?;
        let mut procedures = Vec::with_capacity(page.data.len());
        let mut rejections = Vec::new();
        for raw in page.data {
            match records::parse_procedure(raw) {
                Ok(p) => procedures.push(p),
                Err(r) => rejections.push(r),
            }
        }
        c.fetched = (procedures.len() + rejections.len()) as i64;
        c.rejected = rejections.len() as i64;
        c.stored = procedures.len() as i64;
        if procedures.is_empty() {
            tracing::warn!(source = %client.name, "the procedure catalogue is empty: online_rate will have no denominator");
        }
        if mode == Mode::Store {
            app.store.replace_procedures(&client.name, &procedures, &rejections, now).await?;
        } else {
            c.stored = 0;
        }
        Ok(())
    }
    .await;
    finish(mode, app, &client.name, "thu-tuc", result, c, started, now).await
}

/// Why an answer is not the contract's page: its shape, or what is wrong with its bytes.
fn contract_error(
    source: &str,
    endpoint: &str,
    shape: &str,
    body: &[u8],
    e: &serde_json::Error,
) -> String {
    match e.classify() {
        serde_json::error::Category::Data => {
            format!("{source}/{endpoint} did not answer the contract's {shape}: {e}")
        }
        _ => format!("{source}/{endpoint}: {}", not_json(body, e)),
    }
}

/// The update times a pass trusts (see the module's documentation): up to its `now` + the
/// source's `allowed_skew_secs`.
#[derive(Debug, Clone, Copy)]
pub struct TimeGuard {
    /// The pass's instant: the update time given to a record whose own is not trusted.
    pub now: Epoch,
    /// now + allowed skew: no mark ever passes it.
    pub ceiling: Epoch,
}

impl TimeGuard {
    pub fn new(now: Epoch, allowed_skew_secs: u64) -> Self {
        TimeGuard {
            now,
            ceiling: now.saturating_add(allowed_skew_secs.min(i64::MAX as u64) as i64),
        }
    }

    /// The update time to keep for the record `key` claiming `t`: `t`, or `now` when `t` is
    /// past the ceiling (the claim is then noted in `future`).
    fn admit(&self, key: &str, t: Epoch, future: &mut Vec<(String, Epoch)>) -> Epoch {
        if t > self.ceiling {
            future.push((key.to_string(), t));
            self.now
        } else {
            t
        }
    }

    /// A time for a mark only (a rejected record's, a stored mark): never past the ceiling.
    fn cap(&self, t: Epoch) -> Epoch {
        t.min(self.ceiling)
    }
}

/// A parsed page, ready to store.
enum Batch {
    Dossiers(Vec<records::Dossier>),
    Documents(Vec<records::Document>),
}

struct ParsedPage {
    batch: Batch,
    rejections: Vec<Rejection>,
    mark: Option<Epoch>,
    next_cursor: Option<String>,
    fetched: usize,
    /// Records whose update time was past the guard's ceiling: key and claimed time.
    future: Vec<(String, Epoch)>,
}

/// Gathers the parsed records of one answer, applying the [`TimeGuard`] and keeping the mark.
struct PageBuilder {
    guard: TimeGuard,
    rejections: Vec<Rejection>,
    mark: Option<Epoch>,
    future: Vec<(String, Epoch)>,
}

impl PageBuilder {
    fn new(guard: TimeGuard) -> Self {
        PageBuilder {
            guard,
            rejections: Vec::new(),
            mark: None,
            future: Vec::new(),
        }
    }

    fn bump(&mut self, t: Epoch) {
        self.mark = Some(self.mark.map_or(t, |m| m.max(t)));
    }

    fn rejected(&mut self, r: Rejection) {
        if let Some(t) = r.updated_at {
            self.bump(self.guard.cap(t));
        }
        self.rejections.push(r);
    }

    fn dossier(
        &mut self,
        parsed: records::Parsed<records::Dossier>,
        out: &mut Vec<records::Dossier>,
    ) {
        match parsed {
            Ok(mut d) => {
                d.updated_at = self.guard.admit(&d.code, d.updated_at, &mut self.future);
                self.bump(d.updated_at);
                out.push(d);
            }
            Err(r) => self.rejected(r),
        }
    }

    fn document(
        &mut self,
        parsed: records::Parsed<records::Document>,
        out: &mut Vec<records::Document>,
    ) {
        match parsed {
            Ok(mut d) => {
                d.updated_at = self.guard.admit(&d.code, d.updated_at, &mut self.future);
                self.bump(d.updated_at);
                out.push(d);
            }
            Err(r) => self.rejected(r),
        }
    }

    fn finish(self, batch: Batch, fetched: usize, next_cursor: Option<String>) -> ParsedPage {
        ParsedPage {
            batch,
            rejections: self.rejections,
            mark: self.mark,
            next_cursor,
            fetched,
            future: self.future,
        }
    }
}

/// Parses one answer of a contract list (`ho-so` or `van-ban`) of `source`. Never panics,
/// whatever the bytes: an answer that is not the contract's page is an error, a record that
/// breaks the contract a rejection.
fn parse_page(
    source: &str,
    endpoint: &str,
    body: &[u8],
    guard: TimeGuard,
) -> Result<ParsedPage, EndpointError> {
    let page: RawPage = serde_json::from_slice(body).map_err(|e| {
        EndpointError::Protocol(contract_error(
            source,
            endpoint,
            "{\"data\": [...], \"next_cursor\": ...}",
            body,
            &e,
        ))
    })?;
    let fetched = page.data.len();
    let mut b = PageBuilder::new(guard);
    let batch = if endpoint == "ho-so" {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            b.dossier(records::parse_dossier(raw), &mut out);
        }
        Batch::Dossiers(out)
    } else {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            b.document(records::parse_document(raw), &mut out);
        }
        Batch::Documents(out)
    };
    let next_cursor = page.next_cursor.filter(|c| !c.is_empty() && fetched > 0);
    Ok(b.finish(batch, fetched, next_cursor))
}

async fn store_page(
    app: &App,
    source: &str,
    endpoint: &str,
    p: &ParsedPage,
    now: Epoch,
    mode: Mode,
) -> Result<u64, StoreError> {
    if mode == Mode::DryRun {
        return Ok(0);
    }
    let written = match &p.batch {
        Batch::Dossiers(d) => {
            app.store
                .store_dossier_page(source, endpoint, d, &p.rejections, p.mark, now)
                .await?
        }
        Batch::Documents(d) => {
            app.store
                .store_document_page(source, endpoint, d, &p.rejections, p.mark, now)
                .await?
        }
    };
    if !p.future.is_empty() {
        let furthest = p.future.iter().map(|f| f.1).max().unwrap_or(now);
        tracing::warn!(
            source,
            endpoint,
            records = p.future.len(),
            furthest = %crate::domain::time::rfc3339(furthest),
            "records updated in the future: stored with the time they were read; the mark stays within the allowed skew"
        );
        app.store
            .note_future_updates(source, endpoint, &p.future, now)
            .await?;
    }
    Ok(written)
}

/// The stored mark of an endpoint, brought back to the guard's ceiling when it is ahead of it
/// (a mark moved by a future-dated record before this guard existed).
async fn trusted_mark(
    app: &App,
    source: &str,
    endpoint: &str,
    guard: TimeGuard,
    mode: Mode,
) -> Result<Option<Epoch>, StoreError> {
    let mark = app
        .store
        .sync_state(source, endpoint)
        .await?
        .and_then(|s| s.mark);
    match mark {
        Some(m) if m > guard.ceiling => {
            tracing::warn!(
                source,
                endpoint,
                mark = %crate::domain::time::rfc3339(m),
                "the stored mark is ahead of the clock; it is brought back to now + allowed_skew_secs"
            );
            if mode == Mode::Store {
                app.store
                    .set_mark(source, endpoint, Some(guard.ceiling))
                    .await?;
            }
            Ok(Some(guard.ceiling))
        }
        other => Ok(other),
    }
}

/// What [`set_marks`] did to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkChange {
    pub endpoint: String,
    pub before: Option<Epoch>,
    pub after: Epoch,
}

/// Sets the marks of every paged endpoint of `source` to `from`, so that the next pass reads
/// again what changed since `from` (less `overlap_secs`): `dondoc sync --source NAME --from
/// DATE`. Records read again are harmless (an older version never overwrites a newer one).
pub async fn set_marks(app: &App, source: &str, from: Epoch) -> Result<Vec<MarkChange>, String> {
    let Some(settings) = app.settings.sources.get(source) else {
        let names: Vec<&str> = app.settings.sources.keys().map(String::as_str).collect();
        return Err(format!(
            "'{source}' is not a configured source; the sources are {}",
            names.join(", ")
        ));
    };
    let endpoints: Vec<&str> = match settings.kind {
        SourceKind::OneStop => vec!["ho-so"],
        SourceKind::Documents => vec!["van-ban"],
        SourceKind::Import => {
            return Err(format!(
                "'{source}' is an import source: it has no mark (drop the file into its folder again)"
            ));
        }
    };
    let mut out = Vec::new();
    for endpoint in endpoints {
        let before = app
            .store
            .sync_state(source, endpoint)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|s| s.mark);
        app.store
            .set_mark(source, endpoint, Some(from))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(source, endpoint, from = %crate::domain::time::rfc3339(from), "mark set by the administrator");
        out.push(MarkChange {
            endpoint: endpoint.to_string(),
            before,
            after: from,
        });
    }
    Ok(out)
}

async fn sync_paged(
    app: &App,
    client: &SourceClient,
    endpoint: &str,
    overlap: i64,
    guard: TimeGuard,
    mode: Mode,
) -> EndpointReport {
    let now = guard.now;
    let started = Instant::now();
    let mut c = RunCounts::default();
    let result: Result<(), EndpointError> = async {
        let mark = trusted_mark(app, &client.name, endpoint, guard, mode).await?;
        let since = mark.map(|m| m - overlap);
        let mut body = client.get(endpoint, since, None, true).await?;
        let mut previous_cursor: Option<String> = None;
        loop {
            let page = parse_page(&client.name, endpoint, &body, guard)?;
            if page.next_cursor.is_some() && page.next_cursor == previous_cursor {
                return Err(EndpointError::Protocol(format!(
                    "{}/{endpoint} answered the same next_cursor twice; stopping so as not to loop forever \
                     (the pages read so far are stored)",
                    client.name
                )));
            }
            previous_cursor = page.next_cursor.clone();
            c.pages += 1;
            c.fetched += page.fetched as i64;
            c.rejected += page.rejections.len() as i64;
            for r in &page.rejections {
                tracing::debug!(source = %client.name, endpoint, key = %r.key, reason = %r.reason, "record set aside");
            }
            // Fetch the next page while this one is written.
            let next = page.next_cursor.clone();
            let (stored, next_body) = match &next {
                Some(cursor) => {
                    let (s, b) = tokio::join!(
                        store_page(app, &client.name, endpoint, &page, now, mode),
                        client.get(endpoint, since, Some(cursor), true)
                    );
                    (s?, Some(b))
                }
                None => (store_page(app, &client.name, endpoint, &page, now, mode).await?, None),
            };
            c.stored += stored as i64;
            if app.is_stopping() {
                return Err(EndpointError::Interrupted);
            }
            match next_body {
                None => return Ok(()),
                Some(b) => body = b?,
            }
        }
    }
    .await;
    finish(mode, app, &client.name, endpoint, result, c, started, now).await
}

// ---------------------------------------------------------------------------------------------
// Sources with a mapping

/// The endpoint name of a list in `sync_state` (the contract's, whatever the vendor's path).
fn endpoint_of(kind: RecordKind) -> &'static str {
    crate::upstream::mapping::fields::contract_path(kind)
}

async fn sync_mapped_source(
    app: &App,
    client: &SourceClient,
    settings: &crate::config::SourceSettings,
    overlap: i64,
    guard: TimeGuard,
    mode: Mode,
    report: &mut SyncReport,
) {
    let now = guard.now;
    let pager = Pager::new(&settings.paging);
    let lists: &[RecordKind] = match settings.kind {
        SourceKind::OneStop => &[RecordKind::Procedure, RecordKind::Dossier],
        _ => &[RecordKind::Document],
    };
    for kind in lists {
        let endpoint = endpoint_of(*kind);
        let plan = ListPlan::of_source(*kind, settings).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
            list.join("; ")
        });
        let (plan, pager) = match (plan, pager.as_ref().map_err(String::clone)) {
            (Ok(plan), Ok(pager)) => (plan, pager),
            (Err(e), _) | (_, Err(e)) => {
                report.endpoints.push(
                    fail(
                        mode,
                        app,
                        &client.name,
                        endpoint,
                        &format!("the mapping is invalid: {e}"),
                        RunCounts::default(),
                        now,
                    )
                    .await,
                );
                return;
            }
        };
        let r = if *kind == RecordKind::Procedure {
            sync_catalogue_mapped(app, client, &plan, pager, now, mode).await
        } else {
            sync_mapped(app, client, &plan, pager, overlap, guard, mode).await
        };
        let failed = r.error.is_some();
        report.endpoints.push(r);
        if failed {
            return;
        }
    }
}

/// One answer of a mapped list, parsed.
struct MappedPage {
    page: ParsedPage,
    next: Option<Position>,
}

/// Splits an answer into records at the plan's pointer and parses each through the plan.
/// Never panics, whatever the bytes.
#[allow(clippy::too_many_arguments)] // the answer and where it stands in the read
fn parse_mapped(
    source: &str,
    page_size: u32,
    plan: &ListPlan,
    pager: &Pager,
    body: &[u8],
    pos: &Position,
    read_before: u64,
    guard: TimeGuard,
) -> Result<MappedPage, EndpointError> {
    let protocol =
        |what: String| EndpointError::Protocol(format!("{source}/{}: {what}", plan.path));
    let root: &RawValue = serde_json::from_slice(body).map_err(|e| protocol(not_json(body, &e)))?;
    let raws = paging::records_at(root, &plan.records).map_err(protocol)?;
    let fetched = raws.len();
    let next = if plan.paged {
        pager.next(pos, root, fetched, read_before + fetched as u64, page_size)
    } else {
        None
    };
    let mut b = PageBuilder::new(guard);
    let value = |raw: &RawValue| serde_json::from_str::<serde_json::Value>(raw.get());
    let batch = match plan.kind {
        RecordKind::Dossier => {
            let mut out = Vec::with_capacity(fetched);
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_dossier(raw)
                } else {
                    match value(raw) {
                        Ok(v) => plan.parse_dossier(&v),
                        Err(e) => {
                            return Err(protocol(format!(
                                "a record cannot be read: {}",
                                not_json(raw.get().as_bytes(), &e)
                            )));
                        }
                    }
                };
                b.dossier(parsed, &mut out);
            }
            Batch::Dossiers(out)
        }
        _ => {
            let mut out = Vec::with_capacity(fetched);
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_document(raw)
                } else {
                    match value(raw) {
                        Ok(v) => plan.parse_document(&v),
                        Err(e) => {
                            return Err(protocol(format!(
                                "a record cannot be read: {}",
                                not_json(raw.get().as_bytes(), &e)
                            )));
                        }
                    }
                };
                b.document(parsed, &mut out);
            }
            Batch::Documents(out)
        }
    };
    Ok(MappedPage {
        page: b.finish(batch, fetched, None),
        next,
    })
}

/// The update times of the records of an answer (for the change check). A time past the
/// guard's ceiling is left out: such a record is served by every incremental query whatever
/// happens, so it proves no change (it would otherwise keep every read from settling).
fn update_times(plan: &ListPlan, body: &[u8], guard: TimeGuard) -> Option<Vec<Option<Epoch>>> {
    let root: &RawValue = serde_json::from_slice(body).ok()?;
    let raws = paging::records_at(root, &plan.records).ok()?;
    Some(
        raws.iter()
            .map(|raw| {
                serde_json::from_str::<serde_json::Value>(raw.get())
                    .ok()
                    .and_then(|v| plan.updated_of(&v))
            })
            .filter(|t| t.is_none_or(|t| t <= guard.ceiling))
            .collect(),
    )
}

/// Moves the mark alone (after a settled read of several pages), in its own transaction.
async fn store_mark(
    app: &App,
    source: &str,
    kind: RecordKind,
    mark: Option<Epoch>,
    now: Epoch,
    mode: Mode,
) -> Result<(), StoreError> {
    if mode == Mode::DryRun || mark.is_none() {
        return Ok(());
    }
    let endpoint = endpoint_of(kind);
    if kind == RecordKind::Dossier {
        app.store
            .store_dossier_page(source, endpoint, &[], &[], mark, now)
            .await?;
    } else {
        app.store
            .store_document_page(source, endpoint, &[], &[], mark, now)
            .await?;
    }
    Ok(())
}

/// A paged list of a mapped source: the vendor's paging, each record through the plan.
async fn sync_mapped(
    app: &App,
    client: &SourceClient,
    plan: &ListPlan,
    pager: &Pager,
    overlap: i64,
    guard: TimeGuard,
    mode: Mode,
) -> EndpointReport {
    let now = guard.now;
    let started = Instant::now();
    let endpoint = endpoint_of(plan.kind);
    let mut c = RunCounts::default();
    let limit = client.page_size;
    let result: Result<(), EndpointError> = async {
        let since = if pager.incremental() {
            trusted_mark(app, &client.name, endpoint, guard, mode)
                .await?
                .map(|m| m - overlap)
        } else {
            None
        };
        let max_reads = pager.settings.max_reads.max(1);
        for read in 1..=max_reads {
            let read_began = crate::domain::time::epoch(app.clock.now());
            let mut pos = pager.first();
            let first = client.fetch(&plan.path, &pager.query(since, &pos, limit)).await?;
            // The earlier of the two clocks, less the allowed skew: a record updated after
            // this counts as changed during the read.
            let changed_after = first.date.unwrap_or(read_began).min(read_began)
                - pager.settings.clock_skew_secs as i64;
            let mut body = first.body;
            let mut read_count: u64 = 0;
            let mut pages_in_read: u64 = 0;
            let mut read_mark: Option<Epoch> = None;
            let mut previous: Option<Position> = None;
            loop {
                let parsed = parse_mapped(
                    &client.name,
                    client.page_size,
                    plan,
                    pager,
                    &body,
                    &pos,
                    read_count,
                    guard,
                )?;
                let mut page = parsed.page;
                if parsed.next.is_some() && parsed.next == previous {
                    return Err(EndpointError::Protocol(format!(
                        "{}/{} answered the same next position twice; stopping so as not to loop forever \
                         (the pages read so far are stored)",
                        client.name, plan.path
                    )));
                }
                previous = parsed.next.clone();
                pages_in_read += 1;
                read_count += page.fetched as u64;
                c.pages += 1;
                c.fetched += page.fetched as i64;
                c.rejected += page.rejections.len() as i64;
                for r in &page.rejections {
                    tracing::debug!(source = %client.name, endpoint, key = %r.key, reason = %r.reason, "record set aside");
                }
                if let Some(m) = page.mark {
                    read_mark = Some(read_mark.map_or(m, |x| x.max(m)));
                }
                // Positional paging moves the mark only after a settled read; a one-page read
                // is a snapshot and moves it with its page.
                if pager.positional() && !(parsed.next.is_none() && pages_in_read == 1) {
                    page.mark = None;
                }
                if pages_in_read > 1_000_000 {
                    return Err(EndpointError::Protocol(format!(
                        "{}/{} kept answering pages past a million; stopping",
                        client.name, plan.path
                    )));
                }
                let (stored, next_body) = match &parsed.next {
                    Some(next) => {
                        let q = pager.query(since, next, limit);
                        let (s, b) = tokio::join!(
                            store_page(app, &client.name, endpoint, &page, now, mode),
                            client.fetch(&plan.path, &q)
                        );
                        (s?, Some(b))
                    }
                    None => (
                        store_page(app, &client.name, endpoint, &page, now, mode).await?,
                        None,
                    ),
                };
                c.stored += stored as i64;
                if app.is_stopping() {
                    return Err(EndpointError::Interrupted);
                }
                match (next_body, parsed.next) {
                    (Some(b), Some(next)) => {
                        body = b?.body;
                        pos = next;
                    }
                    _ => break,
                }
            }
            if !pager.positional() || pages_in_read == 1 {
                return Ok(());
            }
            if !pager.incremental() {
                // Every pass reads the whole list: a record skipped now is read by the next.
                return Ok(());
            }
            // Did anything change while the pages were read?
            let probe = client
                .fetch(&plan.path, &pager.query(Some(changed_after), &pager.first(), limit))
                .await?;
            let times = update_times(plan, &probe.body, guard).ok_or_else(|| {
                EndpointError::Protocol(format!(
                    "{}/{}: the check for changes did not answer a list of records",
                    client.name, plan.path
                ))
            })?;
            let changed = times.iter().any(|t| t.is_none_or(|t| t >= changed_after))
                || times.len() as u64 >= u64::from(limit);
            if !changed {
                store_mark(app, &client.name, plan.kind, read_mark, now, mode).await?;
                return Ok(());
            }
            if read < max_reads {
                tracing::info!(
                    source = %client.name,
                    endpoint,
                    read,
                    "records changed during a paged read; reading the window again so that none is skipped"
                );
            } else {
                tracing::warn!(
                    source = %client.name,
                    endpoint,
                    reads = read,
                    "the source kept changing during every read; what was read is stored and the mark \
                     stays, so the next pass reads the window again"
                );
            }
        }
        Ok(())
    }
    .await;
    finish(mode, app, &client.name, endpoint, result, c, started, now).await
}

/// The procedure catalogue of a mapped source (every page when it is paged), replacing the
/// stored one.
async fn sync_catalogue_mapped(
    app: &App,
    client: &SourceClient,
    plan: &ListPlan,
    pager: &Pager,
    now: Epoch,
    mode: Mode,
) -> EndpointReport {
    let started = Instant::now();
    let endpoint = endpoint_of(RecordKind::Procedure);
    let mut c = RunCounts::default();
    let result: Result<(), EndpointError> = async {
        let mut procedures = Vec::new();
        let mut rejections = Vec::new();
        let mut pos = pager.first();
        let mut read: u64 = 0;
        loop {
            let query = if plan.paged {
                pager.query(None, &pos, client.page_size)
            } else {
                pager.settings.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            let body = client.fetch(&plan.path, &query).await?.body;
            c.pages += 1;
            let root: &RawValue = serde_json::from_slice(&body).map_err(|e| {
                EndpointError::Protocol(format!("{}/{}: {}", client.name, plan.path, not_json(&body, &e)))
            })?;
            let raws = paging::records_at(root, &plan.records).map_err(|e| {
                EndpointError::Protocol(format!("{}/{}: {e}", client.name, plan.path))
            })?;
            read += raws.len() as u64;
            let next = if plan.paged {
                pager.next(&pos, root, raws.len(), read, client.page_size)
            } else {
                None
            };
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_procedure(raw)
                } else {
                    let v: serde_json::Value = serde_json::from_str(raw.get()).map_err(|e| {
                        EndpointError::Protocol(format!("{}/{}: {e}", client.name, plan.path))
                    })?;
                    plan.parse_procedure(&v)
                };
                match parsed {
                    Ok(p) => procedures.push(p),
                    Err(r) => rejections.push(r),
                }
            }
            match next {
                Some(n) if n != pos && c.pages < 100_000 => pos = n,
                _ => break,
            }
        }
        c.fetched = (procedures.len() + rejections.len()) as i64;
        c.rejected = rejections.len() as i64;
        c.stored = procedures.len() as i64;
        if procedures.is_empty() {
            tracing::warn!(source = %client.name, "the procedure catalogue is empty: online_rate will have no denominator");
        }
        if mode == Mode::Store {
            app.store.replace_procedures(&client.name, &procedures, &rejections, now).await?;
        } else {
            c.stored = 0;
        }
        Ok(())
    }
    .await;
    finish(mode, app, &client.name, endpoint, result, c, started, now).await
}

#[cfg(test)]
mod tests {
    //! The page parsers (contract and mapped) against arbitrary bytes and arbitrary JSON: never
    //! a panic; every outcome an error naming the source, or records stored and set aside.

    use super::*;
    use crate::config::mapping::{ListMapping, PagingSettings};
    use crate::upstream::mapping::Addressing;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> T {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A vendor's dossier list: own field names, dd/MM/yyyy dates, value maps, nested lists.
    fn vendor_plan() -> ListPlan {
        let m: ListMapping = from_toml(
            r#"
path = "api/hoso"
records = "/result/items"
date_format = "dd/MM/yyyy HH:mm:ss"
[fields]
MaHoSo = "/soHoSo"
MaTTHC = "/thuTuc/ma"
DonViXuLy = "/donVi"
MaLinhVuc = "/linhVuc"
KenhThucHien = { from = "/kenh", map = { "Trực tiếp" = 1, "Trực tuyến" = 2 } }
TrangThaiHoSo = { from = "/trangThai", map = { "Đang xử lý" = 4, "Đã trả kết quả" = 10 } }
NgayTiepNhan = "/ngayNhan"
NgayHenTra = "/ngayHen"
NgayTra = "/ngayTra"
NgayCapNhat = { from = "/capNhat", format = "epoch_ms" }
DaXoa = { from = "/xoa", map = { "Có" = 1, "Không" = 0 }, default = 0 }
DanhSachLePhi = { from = "/phi", fields = { Gia = "/soTien" } }
DanhGiaHaiLong = { from = "/danhGia", fields = { MucDo = "/muc", NgayDanhGia = "/ngay" } }
"#,
        );
        ListPlan::compile(RecordKind::Dossier, Some(&m), Addressing::Pointer)
            .unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn offset_pager() -> Pager {
        let p: PagingSettings =
            from_toml("style = \"offset\"\noffset_param = \"skip\"\ntotal = \"/result/total\"\n");
        Pager::new(&p).unwrap_or_else(|e| panic!("{e}"))
    }

    fn guard() -> TimeGuard {
        TimeGuard::new(1_718_852_400, 300)
    }

    /// Both contract lists, the vendor's mapped list and the contract through the mapped path:
    /// each outcome is an error naming the source, or counts that add up.
    fn check_all(body: &[u8]) {
        for endpoint in ["ho-so", "van-ban"] {
            match parse_page("fuzz", endpoint, body, guard()) {
                Ok(p) => check_page(&p),
                Err(e) => assert!(e.to_string().starts_with("fuzz/"), "{e}"),
            }
        }
        let plans = [
            (vendor_plan(), offset_pager()),
            (
                ListPlan::compile(RecordKind::Document, None, Addressing::Pointer)
                    .unwrap_or_else(|p| panic!("{p:?}")),
                Pager::new(&PagingSettings::default()).unwrap_or_else(|e| panic!("{e}")),
            ),
        ];
        for (plan, pager) in &plans {
            let first = pager.first();
            match parse_mapped("fuzz", 50, plan, pager, body, &first, 0, guard()) {
                Ok(m) => check_page(&m.page),
                Err(e) => assert!(e.to_string().starts_with("fuzz/"), "{e}"),
            }
            let _ = update_times(plan, body, guard());
        }
    }

    fn check_page(p: &ParsedPage) {
        let stored = match &p.batch {
            Batch::Dossiers(d) => {
                assert!(d.iter().all(|d| d.updated_at <= guard().ceiling));
                d.len()
            }
            Batch::Documents(d) => {
                assert!(d.iter().all(|d| d.updated_at <= guard().ceiling));
                d.len()
            }
        };
        assert_eq!(stored + p.rejections.len(), p.fetched);
        assert!(p.mark.is_none_or(|m| m <= guard().ceiling), "{:?}", p.mark);
    }

    /// Any JSON value, a few levels deep, with Vietnamese text and awkward numbers.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("20240620100000"),
                Just("20990101000000"),
                Just("00000000000000"),
                Just("20/06/2024 10:00:00"),
                Just("Đã trả kết quả"),
                Just("1.500.000"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A field name of the contract, of the vendor's mapping, or anything.
    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "data",
                "next_cursor",
                "MaHoSo",
                "MaTTHC",
                "DonViXuLy",
                "MaLinhVuc",
                "KenhThucHien",
                "TrangThaiHoSo",
                "NgayTiepNhan",
                "NgayHenTra",
                "NgayKetThucXuLy",
                "NgayTra",
                "NgayCapNhat",
                "DaXoa",
                "DanhSachLePhi",
                "Gia",
                "DanhSachGiayToKetQua",
                "DuongDanTepTinKetQua",
                "DanhSachHoSoBoSung",
                "NgayHenTraMoi",
                "DanhSachPhieuXinLoi",
                "NgayBanHanh",
                "DanhGiaHaiLong",
                "MucDo",
                "NgayDanhGia",
                "DuocThanhToanTrucTuyen",
                "MaVanBan",
                "MaDonVi",
                "LoaiVanBan",
                "NgayDen",
                "XuLyTrenMang",
                "KySo",
                "result",
                "items",
                "total",
                "soHoSo",
                "thuTuc",
                "ma",
                "donVi",
                "kenh",
                "trangThai",
                "capNhat",
                "phi",
                "soTien",
                "danhGia",
                "muc",
                "ngay",
                "xoa",
            ])
            .prop_map(str::to_string),
            "\\PC{0,6}",
        ]
    }

    /// A page shaped like the contract's or the vendor's, its records anything.
    fn page_like() -> impl Strategy<Value = Value> {
        let record = prop::collection::btree_map(field_name(), any_json(), 0..14)
            .prop_map(|m| Value::Object(m.into_iter().collect()));
        let records = prop::collection::vec(prop_oneof![record, any_json()], 0..6);
        (records, any_json()).prop_map(|(rs, cursor)| {
            json!({
                "data": rs.clone(),
                "next_cursor": cursor,
                "result": { "items": rs, "total": 7 },
            })
        })
    }

    /// Valid dossiers and documents as the simulator serves them (built once).
    fn valid_records() -> &'static (Vec<Value>, Vec<Value>) {
        static RECORDS: std::sync::OnceLock<(Vec<Value>, Vec<Value>)> = std::sync::OnceLock::new();
        RECORDS.get_or_init(|| {
            let t0 = chrono::DateTime::from_timestamp(1_718_852_400, 0).unwrap_or_default();
            let clock = std::sync::Arc::new(crate::domain::time::ManualClock::new(t0));
            let sim = crate::simulator::Simulator::new(
                crate::simulator::SimOptions {
                    dossiers: 40,
                    documents: 20,
                    ..crate::simulator::SimOptions::new(3, Vec::new())
                },
                clock,
            );
            (sim.dossiers_json(), sim.documents_json())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Valid records with one field replaced by anything (or removed): parsed, or set aside
        /// with a reason; the unchanged records of the page are stored.
        #[test]
        fn valid_records_with_one_field_mangled_never_panic(
            which in any::<prop::sample::Index>(),
            field in field_name(),
            value in prop::option::of(any_json()),
        ) {
            let (dossiers, documents) = valid_records();
            for (endpoint, list) in [("ho-so", dossiers), ("van-ban", documents)] {
                prop_assume!(!list.is_empty());
                let mut page = list.clone();
                let i = which.index(page.len());
                if let Value::Object(m) = &mut page[i] {
                    match &value {
                        Some(v) => { m.insert(field.clone(), v.clone()); }
                        None => { m.remove(&field); }
                    }
                }
                let body = serde_json::to_vec(&json!({ "data": page })).unwrap_or_default();
                let p = parse_page("fuzz", endpoint, &body, guard())
                    .unwrap_or_else(|e| panic!("a page of objects is a page: {e}"));
                check_page(&p);
                prop_assert!(p.rejections.len() <= 1, "only the mangled record may be set aside");
                check_all(&body);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            check_all(&body);
        }

        #[test]
        fn arbitrary_json_never_panics(v in any_json()) {
            check_all(&serde_json::to_vec(&v).unwrap_or_default());
        }

        #[test]
        fn page_shaped_json_never_panics(v in page_like()) {
            check_all(&serde_json::to_vec(&v).unwrap_or_default());
        }

        #[test]
        fn a_page_cut_anywhere_never_panics(v in page_like(), cut in any::<prop::sample::Index>()) {
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            let at = cut.index(bytes.len() + 1);
            check_all(&bytes[..at]);
        }
    }

    #[test]
    fn non_json_answers_fail_the_page_with_their_reason_on_both_paths() {
        let html = b"<!DOCTYPE html><html><body>Dang nhap</body></html>";
        let deep_record = format!(
            "{{\"result\": {{\"items\": [{{\"soHoSo\": {}1{}}}]}}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let plan = vendor_plan();
        let pager = offset_pager();
        let mapped = |body: &[u8]| match parse_mapped(
            "motcua",
            50,
            &plan,
            &pager,
            body,
            &pager.first(),
            0,
            guard(),
        ) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        let e = mapped(html);
        assert!(
            e.starts_with("motcua/api/hoso: the answer is an HTML page"),
            "{e}"
        );
        let e = mapped(deep_record.as_bytes());
        assert!(
            e.contains("a record cannot be read: the JSON is nested more than 128 levels deep"),
            "{e}"
        );
        let e = mapped(b"{\"result\": {\"items\": [\"\xff\"]}}");
        assert!(e.contains("not valid UTF-8"), "{e}");
        let e = match parse_page("motcua", "ho-so", html, guard()) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            e.starts_with("motcua/ho-so: the answer is an HTML page"),
            "{e}"
        );
    }

    #[test]
    fn a_future_update_time_is_admitted_as_now_and_the_mark_stays_under_the_ceiling() {
        let g = TimeGuard::new(1_000_000, 300);
        let mut future = Vec::new();
        assert_eq!(
            g.admit("a", 1_000_300, &mut future),
            1_000_300,
            "within the skew"
        );
        assert!(future.is_empty());
        assert_eq!(g.admit("b", 1_000_301, &mut future), 1_000_000);
        assert_eq!(future, vec![("b".to_string(), 1_000_301)]);
        assert_eq!(g.cap(4_000_000_000), 1_000_300);
        assert_eq!(TimeGuard::new(i64::MAX - 5, u64::MAX).ceiling, i64::MAX);
    }
}
