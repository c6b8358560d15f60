//! The application: a validated configuration, an open store and a clock, built once and handed
//! to every job (`run_once(&App, now)`), whether the CLI or the daemon calls it.
//!
//! Building it opens (and migrates) the database; it never contacts an upstream.

use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{Store, StoreError};
use std::sync::Arc;

/// Everything a job needs.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Opens the store of `settings` (creating and migrating it when needed).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<App, StoreError> {
        let store = Store::open(&settings.database.url, settings.database.max_connections).await?;
        Ok(App {
            settings: Arc::new(settings),
            store,
            clock,
        })
    }
}
