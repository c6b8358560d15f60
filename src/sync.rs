//! Sync: the one poll loop, and the only writer of pages. One pass reads every source through
//! its [`Endpoint`] (the contract's lists, a vendor mapping's lists, a spreadsheet folder; see
//! [`crate::upstream`]) and stores each page in one transaction together with the mark it
//! reaches (`sync_state`). Killed at any moment, the database holds whole pages and a mark
//! that never runs ahead of them; the next pass resumes from the mark.
//!
//! The loop ([`poll`]) is the same for every source kind:
//! - the stored mark (brought back under the clock, see below) less `overlap_secs` is the first
//!   request's `updated_since`, for endpoints that keep a mark;
//! - a reader task fetches and parses answers (first, then next from where the last page
//!   ended) and hands pages over a bounded channel (depth [`READ_AHEAD`]), while this task
//!   stores them in order: fetching and parsing page N+1 overlaps storing page N, memory stays
//!   flat whatever the upstream's size, and the reader never writes, so stopping it at any
//!   moment loses nothing but work;
//! - a procedure catalogue's pages are gathered and replace the stored catalogue at its last
//!   page; a page's [`Page::then`] (a spreadsheet moved to `done/`) runs after its commit;
//! - the same next position answered twice stops the endpoint (no endless loop); the pages
//!   before are stored;
//! - counts (pages, records read, stored, set aside), the failure or success and the duration
//!   are recorded per endpoint (`sync_state`, shown by `status`); a failing endpoint keeps its
//!   mark and the source's later endpoints wait for the next pass, other sources go on.
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
//!
//! This module never parses an answer (sources do), never computes rates and never logs record
//! content.

use crate::app::App;
use crate::config::{SourceKind, SourceSettings};
use crate::domain::time::Epoch;
use crate::store::{RunCounts, StoreError};
use crate::upstream::client::SourceClient;
use crate::upstream::contract::ContractList;
pub use crate::upstream::endpoint::TimeGuard;
use crate::upstream::endpoint::{Endpoint, Page, Records, SourceError};
use crate::upstream::import::{self, FileOutcome, Folder};
use crate::upstream::mapping::ListPlan;
use crate::upstream::mapping::list::MappedList;
use crate::upstream::mapping::paging::Pager;
use crate::upstream::records::{Procedure, RecordKind, Rejection};
use std::time::Instant;
use tracing::Instrument;

/// Pages parsed ahead of the one being stored, at most (the reader holds one more in hand).
pub const READ_AHEAD: usize = 1;

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
pub enum EndpointError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    kind.endpoints()
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
        sync_source(app, name, settings, now, mode, &mut report).await;
    }
    report
}

/// Every endpoint of one source through the loop, in order; the first that fails ends the
/// source's pass.
async fn sync_source(
    app: &App,
    name: &str,
    settings: &SourceSettings,
    now: Epoch,
    mode: Mode,
    report: &mut SyncReport,
) {
    let guard = TimeGuard::new(now, settings.allowed_skew_secs);
    let overlap = settings.overlap_secs as i64;
    if settings.kind == SourceKind::Import {
        let folder = Folder::new(name, settings, now, mode == Mode::Store);
        report
            .endpoints
            .push(poll(app, name, folder, guard, overlap, mode).await);
        return;
    }
    let lists: &[RecordKind] = match settings.kind {
        SourceKind::OneStop => &[RecordKind::Procedure, RecordKind::Dossier],
        _ => &[RecordKind::Document],
    };
    let client = match SourceClient::new(name, settings, app.clock.clone()) {
        Ok(c) => c.with_gate(app.gates.of(name, settings)),
        Err(e) => {
            let endpoint = crate::upstream::mapping::fields::contract_path(lists[lists.len() - 1]);
            let error = e.to_string();
            let r = fail(mode, app, name, endpoint, &error, RunCounts::default(), now).await;
            report.endpoints.push(r);
            return;
        }
    };
    let contract = settings.is_contract();
    let pager = Pager::new(&settings.paging);
    for kind in lists {
        let r = if contract {
            let list = ContractList::new(client.clone(), *kind);
            poll(app, name, list, guard, overlap, mode).await
        } else {
            let plan = ListPlan::of_source(*kind, settings).map_err(|problems| {
                let list: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
                list.join("; ")
            });
            match (plan, pager.as_ref().map_err(String::clone)) {
                (Ok(plan), Ok(pager)) => {
                    let list =
                        MappedList::new(client.clone(), plan, pager.clone(), app.clock.clone());
                    poll(app, name, list, guard, overlap, mode).await
                }
                (Err(e), _) | (_, Err(e)) => {
                    let endpoint = crate::upstream::mapping::fields::contract_path(*kind);
                    let error = format!("the mapping is invalid: {e}");
                    fail(mode, app, name, endpoint, &error, RunCounts::default(), now).await
                }
            }
        };
        let failed = r.error.is_some();
        report.endpoints.push(r);
        if failed {
            return;
        }
    }
}

/// The poll loop: one endpoint of one source read to its end, each page stored in its own
/// transaction with the mark it reaches, while the reader fetches and parses the next.
pub async fn poll<E: Endpoint>(
    app: &App,
    source: &str,
    endpoint: E,
    guard: TimeGuard,
    overlap: i64,
    mode: Mode,
) -> EndpointReport {
    let now = guard.now;
    let name = endpoint.name();
    let started = Instant::now();
    let mut c = RunCounts::default();
    let result = store_pages(app, source, endpoint, guard, overlap, mode, &mut c).await;
    finish(mode, app, source, name, result, c, started, now).await
}

/// Stops the reader when the loop ends early (a failed write, shutdown): it only reads.
struct StopReader(tokio::task::AbortHandle);

impl Drop for StopReader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn store_pages<E: Endpoint>(
    app: &App,
    source: &str,
    mut endpoint: E,
    guard: TimeGuard,
    overlap: i64,
    mode: Mode,
    c: &mut RunCounts,
) -> Result<(), EndpointError> {
    let name = endpoint.name();
    let since = if endpoint.keeps_mark() {
        trusted_mark(app, source, name, guard, mode)
            .await?
            .map(|m| m - overlap)
    } else {
        None
    };
    let (pages, mut received) = tokio::sync::mpsc::channel::<Page>(READ_AHEAD);
    let reader = tokio::spawn(
        async move {
            let read = read_pages(&mut endpoint, since, guard, pages).await;
            read.and_then(|()| endpoint.end())
        }
        .instrument(tracing::Span::current()),
    );
    let _stop = StopReader(reader.abort_handle());
    let mut catalogue = Catalogue::default();
    while let Some(page) = received.recv().await {
        c.pages += i64::from(page.answers);
        c.fetched += page.fetched as i64;
        c.rejected += page.rejected as i64;
        for r in &page.rejections {
            tracing::debug!(source, endpoint = name, key = %r.key, reason = %r.reason, "record set aside");
        }
        c.stored +=
            write_page(app, source, name, page, &mut catalogue, guard.now, mode).await? as i64;
        if app.is_stopping() {
            return Err(EndpointError::Interrupted);
        }
    }
    match reader.await {
        Ok(read) => Ok(read?),
        Err(e) => Err(SourceError::Protocol(format!(
            "the reader of {source}/{name} stopped unexpectedly: {e}"
        ))
        .into()),
    }
}

/// The reader: answers fetched and parsed in order, handed to the loop until the last one,
/// the first error, or the loop's end (it then stops receiving).
async fn read_pages<E: Endpoint>(
    endpoint: &mut E,
    since: Option<Epoch>,
    guard: TimeGuard,
    pages: tokio::sync::mpsc::Sender<Page>,
) -> Result<(), SourceError> {
    let mut answer = endpoint.first(since).await?;
    let mut previous: Option<E::Position> = None;
    while let Some(a) = answer.take() {
        let (page, next) = endpoint.parse(a, guard)?;
        if next.is_some() && next == previous {
            return Err(SourceError::Protocol(format!(
                "{} answered the same {} twice; stopping so as not to loop forever \
                 (the pages read so far are stored)",
                endpoint.origin(),
                endpoint.position_name()
            )));
        }
        previous.clone_from(&next);
        if pages.send(page).await.is_err() {
            // The loop has stopped: nothing more is wanted.
            return Ok(());
        }
        if let Some(at) = next {
            answer = endpoint.next(at).await?;
        }
    }
    Ok(())
}

/// The pages of a procedure catalogue gathered until it is whole.
#[derive(Default)]
struct Catalogue {
    procedures: Vec<Procedure>,
    rejections: Vec<Rejection>,
}

/// Stores one page (nothing in a dry run) in one transaction with its mark, notes its
/// future-dated records, and runs what follows its commit. Returns the records written.
async fn write_page(
    app: &App,
    source: &str,
    endpoint: &str,
    page: Page,
    catalogue: &mut Catalogue,
    now: Epoch,
    mode: Mode,
) -> Result<u64, EndpointError> {
    if mode == Mode::DryRun {
        return Ok(0);
    }
    let written = match page.records {
        Records::Dossiers(d) => {
            app.store
                .store_dossier_page(source, endpoint, &d, &page.rejections, page.mark, now)
                .await?
        }
        Records::Documents(d) => {
            app.store
                .store_document_page(source, endpoint, &d, &page.rejections, page.mark, now)
                .await?
        }
        Records::Procedures(p) => {
            catalogue.procedures.extend(p);
            catalogue.rejections.extend(page.rejections);
            if page.completes {
                let whole = std::mem::take(catalogue);
                if whole.procedures.is_empty() {
                    tracing::warn!(
                        source,
                        "the procedure catalogue is empty: online_rate will have no denominator"
                    );
                }
                app.store
                    .replace_procedures(source, &whole.procedures, &whole.rejections, now)
                    .await?;
                whole.procedures.len() as u64
            } else {
                0
            }
        }
        Records::Nothing => 0,
    };
    if !page.future.is_empty() {
        let furthest = page.future.iter().map(|f| f.1).max().unwrap_or(now);
        tracing::warn!(
            source,
            endpoint,
            records = page.future.len(),
            furthest = %crate::domain::time::rfc3339(furthest),
            "records updated in the future: stored with the time they were read; the mark stays within the allowed skew"
        );
        app.store
            .note_future_updates(source, endpoint, &page.future, now)
            .await?;
    }
    if let Some(then) = page.then {
        then(written)?;
    }
    Ok(written)
}

/// `dondoc import FILE --source NAME`: one file through an import source's mapping, stored as
/// one page (unless `mode` is a dry run) and kept in the folder's ledger. The file is not moved.
pub async fn import_file(
    app: &App,
    source: &str,
    src: &SourceSettings,
    file: &std::path::Path,
    now: Epoch,
    force: bool,
    mode: Mode,
) -> Result<FileOutcome, EndpointError> {
    let earlier = std::collections::HashMap::new();
    let prepared =
        import::prepare_file(source, src, file, now, force, &earlier).map_err(SourceError::from)?;
    let mut o = prepared.outcome;
    if o.already.is_some() || o.failure.is_some() {
        return Ok(o);
    }
    let stored = write_page(
        app,
        source,
        import::ENDPOINT,
        prepared.page,
        &mut Catalogue::default(),
        now,
        mode,
    )
    .await?;
    let ledger = prepared.ledger_line.filter(|_| mode == Mode::Store);
    import::finish_file(source, src, &mut o, ledger.as_deref(), stored, now, false)
        .map_err(SourceError::from)?;
    Ok(o)
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
