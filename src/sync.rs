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

use crate::app::App;
use crate::config::SourceKind;
use crate::store::{RunCounts, StoreError};
use crate::time::Epoch;
use crate::upstream::client::{FetchError, SourceClient};
use crate::upstream::records::{self, RawPage, Rejection};
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
    #[error("stopped between two pages because dondoc is shutting down; the next sync resumes from the stored mark")]
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
    let mut report = SyncReport::default();
    for (name, settings) in &app.settings.sources {
        let client = match SourceClient::new(name, settings, app.clock.clone()) {
            Ok(c) => c,
            Err(e) => {
                let endpoint = match settings.kind {
                    SourceKind::OneStop => "ho-so",
                    SourceKind::Documents => "van-ban",
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
                    .push(sync_paged(app, &client, "ho-so", overlap, now, mode).await);
            }
            SourceKind::Documents => {
                report
                    .endpoints
                    .push(sync_paged(app, &client, "van-ban", overlap, now, mode).await);
            }
        }
    }
    report
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
        && let Err(e) = app.store.record_failure(source, endpoint, error, c, now).await
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
            tracing::info!(source, endpoint, stored = c.stored, "sync stopped between pages for shutdown");
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

async fn sync_catalogue(app: &App, client: &SourceClient, now: Epoch, mode: Mode) -> EndpointReport {
    let started = Instant::now();
    let mut c = RunCounts::default();
    let result: Result<(), EndpointError> = async {
        let body = client.get("thu-tuc", None, None, false).await?;
        c.pages = 1;
        let page: RawPage = serde_json::from_slice(&body)
            .map_err(|e| EndpointError::Protocol(format!("{}/thu-tuc did not answer the contract's {{\"data\": [...]}}: {e}", client.name)))?;
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
}

fn parse_page(
    client: &SourceClient,
    endpoint: &str,
    body: &[u8],
) -> Result<ParsedPage, EndpointError> {
    let page: RawPage = serde_json::from_slice(body).map_err(|e| {
        EndpointError::Protocol(format!("{}/{endpoint} did not answer the contract's {{\"data\": [...], \"next_cursor\": ...}}: {e}", client.name))
    })?;
    let fetched = page.data.len();
    let mut rejections = Vec::new();
    let mut mark: Option<Epoch> = None;
    let mut bump = |t: Option<Epoch>| {
        if let Some(t) = t {
            mark = Some(mark.map_or(t, |m| m.max(t)));
        }
    };
    let batch = if endpoint == "ho-so" {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            match records::parse_dossier(raw) {
                Ok(d) => {
                    bump(Some(d.updated_at));
                    out.push(d);
                }
                Err(r) => {
                    bump(r.updated_at);
                    rejections.push(r);
                }
            }
        }
        Batch::Dossiers(out)
    } else {
        let mut out = Vec::with_capacity(fetched);
        for raw in page.data {
            match records::parse_document(raw) {
                Ok(d) => {
                    bump(Some(d.updated_at));
                    out.push(d);
                }
                Err(r) => {
                    bump(r.updated_at);
                    rejections.push(r);
                }
            }
        }
        Batch::Documents(out)
    };
    let next_cursor = page.next_cursor.filter(|c| !c.is_empty() && fetched > 0);
    Ok(ParsedPage {
        batch,
        rejections,
        mark,
        next_cursor,
        fetched,
    })
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
    match &p.batch {
        Batch::Dossiers(d) => {
            app.store
                .store_dossier_page(source, endpoint, d, &p.rejections, p.mark, now)
                .await
        }
        Batch::Documents(d) => {
            app.store
                .store_document_page(source, endpoint, d, &p.rejections, p.mark, now)
                .await
        }
    }
}

async fn sync_paged(
    app: &App,
    client: &SourceClient,
    endpoint: &str,
    overlap: i64,
    now: Epoch,
    mode: Mode,
) -> EndpointReport {
    let started = Instant::now();
    let mut c = RunCounts::default();
    let result: Result<(), EndpointError> = async {
        let state = app.store.sync_state(&client.name, endpoint).await?;
        let since = state.and_then(|s| s.mark).map(|m| m - overlap);
        let mut body = client.get(endpoint, since, None, true).await?;
        let mut previous_cursor: Option<String> = None;
        loop {
            let page = parse_page(client, endpoint, &body)?;
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
