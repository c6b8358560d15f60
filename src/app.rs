//! The application: a validated configuration, an open store and a clock, built once and handed
//! to every job (`run_once(&App, now)`), whether the CLI or the daemon calls it.
//!
//! Building it opens (and migrates) the database; it never contacts an upstream.

use crate::config::Settings;
use crate::domain::time::Clock;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Everything a job needs.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Set when the process is stopping: long jobs end at their next safe point (a sync between
    /// two pages).
    pub stopping: Arc<AtomicBool>,
    /// Each source's politeness gate (request rate and requests in flight), for the life of the
    /// process.
    pub gates: Arc<crate::upstream::client::Gates>,
    /// The process's counters of internal events (job runs, sync runs), built once and shared
    /// by every clone; `/metrics` renders them.
    pub events: Arc<crate::events::Registry>,
}

impl App {
    /// Opens the store of `settings` (creating and migrating it when needed).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<App, StoreError> {
        let store = Store::open(&settings.database.url, settings.database.max_connections).await?;
        Ok(App {
            settings: Arc::new(settings),
            store,
            clock,
            stopping: Arc::new(AtomicBool::new(false)),
            gates: Arc::default(),
            events: Arc::default(),
        })
    }

    /// Asks long jobs to end at their next safe point.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Logs and counts an internal event.
    pub fn emit(&self, event: impl crate::events::InternalEvent) {
        event.emit(&self.events);
    }
}
