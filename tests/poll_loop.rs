//! The one poll loop (`dondoc::sync::poll`) over a scripted endpoint, on each backend: a reader
//! that fails leaves the pages before it stored with their mark and the next pass resumes from
//! it; the same next position twice stops the endpoint; the reader reads ahead of the writer,
//! never by more than the channel allows.

mod common;

use common::*;
use dondoc::sync::{Mode, READ_AHEAD, TimeGuard, poll};
use dondoc::upstream::endpoint::{Endpoint, Page, Records, SourceError};
use dondoc::upstream::records::Dossier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

postgres_notice!();
for_each_backend!(
    a_failing_reader_leaves_its_pages_stored_with_their_mark_and_the_next_pass_resumes,
    the_same_next_position_twice_stops_the_endpoint_after_the_pages_before,
    the_reader_reads_ahead_of_the_writer_by_the_channel_at_most,
);

const PER_PAGE: usize = 10;
const BASE: i64 = 1_718_000_000;

/// Serves `pages` pages of dossiers `D{page}-{n}`, updated at `BASE + page × 100 + n`.
struct Script {
    pages: usize,
    /// Asking for this page fails.
    fail_at: Option<usize>,
    /// This page names itself again as the next one.
    repeat_at: Option<usize>,
    /// Pages committed (each page's `then` counts itself).
    committed: Arc<AtomicUsize>,
    /// The farthest the reader asked ahead of the committed pages.
    ahead: Arc<AtomicUsize>,
    /// The `since` of the first request.
    since: Arc<Mutex<Option<Option<i64>>>>,
}

impl Script {
    fn new(pages: usize) -> Script {
        Script {
            pages,
            fail_at: None,
            repeat_at: None,
            committed: Arc::default(),
            ahead: Arc::default(),
            since: Arc::default(),
        }
    }
}

impl Endpoint for Script {
    type Answer = usize;
    type Position = usize;

    fn name(&self) -> &'static str {
        "ho-so"
    }

    fn origin(&self) -> String {
        "motcua/ho-so".to_string()
    }

    fn position_name(&self) -> &'static str {
        "page"
    }

    fn keeps_mark(&self) -> bool {
        true
    }

    async fn first(&mut self, since: Option<i64>) -> Result<Option<usize>, SourceError> {
        *self.since.lock().unwrap() = Some(since);
        self.next(0).await
    }

    async fn next(&mut self, at: usize) -> Result<Option<usize>, SourceError> {
        if self.fail_at == Some(at) {
            return Err(SourceError::Protocol(format!(
                "scripted failure at page {at}"
            )));
        }
        let committed = self.committed.load(Ordering::SeqCst);
        self.ahead
            .fetch_max(at.saturating_sub(committed), Ordering::SeqCst);
        Ok(Some(at))
    }

    fn parse(
        &mut self,
        at: usize,
        _guard: TimeGuard,
    ) -> Result<(Page, Option<usize>), SourceError> {
        let dossiers: Vec<Dossier> = (0..PER_PAGE)
            .map(|n| Dossier::tombstone(format!("D{at}-{n}"), BASE + at as i64 * 100 + n as i64))
            .collect();
        let mark = dossiers.iter().map(|d| d.updated_at).max();
        let committed = self.committed.clone();
        let page = Page {
            records: Records::Dossiers(dossiers),
            rejections: Vec::new(),
            mark,
            future: Vec::new(),
            answers: 1,
            fetched: PER_PAGE as u64,
            rejected: 0,
            completes: false,
            then: Some(Box::new(move |_| {
                committed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })),
        };
        let next = if self.repeat_at == Some(at) {
            Some(at)
        } else {
            (at + 1 < self.pages).then_some(at + 1)
        };
        Ok((page, next))
    }
}

fn guard() -> TimeGuard {
    TimeGuard::new(BASE + 1_000_000, 300)
}

async fn mark_of(app: &dondoc::app::App) -> Option<i64> {
    app.store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .and_then(|s| s.mark)
}

async fn a_failing_reader_leaves_its_pages_stored_with_their_mark_and_the_next_pass_resumes(
    b: Backend,
) {
    let db = TestDb::new(b).await;
    let app = db.app("127.0.0.1:9".parse().unwrap(), clock()).await;
    let mut script = Script::new(6);
    script.fail_at = Some(4);
    let r = poll(&app, "motcua", script, guard(), 300, Mode::Store).await;
    let error = r.error.clone().unwrap_or_default();
    assert!(error.contains("scripted failure at page 4"), "{r:?}");
    assert_eq!((r.pages, r.fetched, r.stored), (4, 40, 40), "{r:?}");
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM dossiers").await, 40);
    let mark = BASE + 3 * 100 + (PER_PAGE as i64 - 1);
    assert_eq!(
        mark_of(&app).await,
        Some(mark),
        "the mark of the last page stored"
    );
    let state = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.consecutive_failures, 1);

    let script = Script::new(6);
    let since = script.since.clone();
    let r = poll(&app, "motcua", script, guard(), 300, Mode::Store).await;
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(
        *since.lock().unwrap(),
        Some(Some(mark - 300)),
        "the next pass asks from the stored mark less the overlap"
    );
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM dossiers").await, 60);
    assert_eq!(mark_of(&app).await, Some(BASE + 5 * 100 + 9));
    let state = app
        .store
        .sync_state("motcua", "ho-so")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.consecutive_failures, 0);
    app.store.close().await;
}

async fn the_same_next_position_twice_stops_the_endpoint_after_the_pages_before(b: Backend) {
    let db = TestDb::new(b).await;
    let app = db.app("127.0.0.1:9".parse().unwrap(), clock()).await;
    let mut script = Script::new(10);
    script.repeat_at = Some(2);
    let r = poll(&app, "motcua", script, guard(), 300, Mode::Store).await;
    let error = r.error.clone().unwrap_or_default();
    assert!(
        error.contains(
            "motcua/ho-so answered the same page twice; stopping so as not to loop forever"
        ),
        "{r:?}"
    );
    assert_eq!(scalar(&db.url, "SELECT count(*) FROM dossiers").await, 20);
    assert_eq!(mark_of(&app).await, Some(BASE + 100 + 9));
    app.store.close().await;
}

async fn the_reader_reads_ahead_of_the_writer_by_the_channel_at_most(b: Backend) {
    let db = TestDb::new(b).await;
    let app = db.app("127.0.0.1:9".parse().unwrap(), clock()).await;
    let script = Script::new(30);
    let (ahead, committed) = (script.ahead.clone(), script.committed.clone());
    let r = poll(&app, "motcua", script, guard(), 300, Mode::Store).await;
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!((r.pages, r.stored), (30, 300), "{r:?}");
    assert_eq!(committed.load(Ordering::SeqCst), 30);
    let ahead = ahead.load(Ordering::SeqCst);
    // Asking for page N, the reader holds nothing else; page N−1 was handed over, so the
    // writer had taken N−2 (the channel holds READ_AHEAD pages), so N−3 was committed.
    assert!(ahead <= READ_AHEAD + 1, "read {ahead} pages ahead");
    assert!(ahead >= 1, "the reader never read while a page was stored");

    // A dry run reads the same and writes nothing, not even the pages' `then`.
    let db2 = TestDb::new(b).await;
    let app2 = db2.app("127.0.0.1:9".parse().unwrap(), clock()).await;
    let script = Script::new(5);
    let committed = script.committed.clone();
    let r = poll(&app2, "motcua", script, guard(), 300, Mode::DryRun).await;
    assert_eq!((r.pages, r.fetched, r.stored), (5, 50, 0), "{r:?}");
    assert_eq!(committed.load(Ordering::SeqCst), 0);
    assert_eq!(scalar(&db2.url, "SELECT count(*) FROM dossiers").await, 0);
    assert_eq!(mark_of(&app2).await, None);
    app.store.close().await;
    app2.store.close().await;
}
