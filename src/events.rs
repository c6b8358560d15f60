//! Internal events, in vector's manner: each thing worth knowing about a job's run is one typed
//! value whose [`InternalEvent::emit`] both logs it (tracing) and counts it in the process's
//! [`Registry`], so that the log and `/metrics` never tell two stories.
//!
//! The registry is built once per process (with [`crate::app::App`]) and shared by every clone of
//! the application; `/metrics` ([`crate::http::prometheus`]) renders it and never counts by
//! itself. Counters only go up, and only while the process lives (Prometheus' `_total` rule).
//!
//! This module must never import another module of dondoc (it sits at the bottom, beside the
//! clock), never block (a counter is a short mutex), and never put a personal value or a secret
//! in a log field or a label: events carry names of jobs, sources and endpoints, counts and
//! durations, and error texts that the jobs already made safe to log.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Something that happened, told once: logged and counted.
pub trait InternalEvent {
    fn emit(self, registry: &Registry);
}

/// How a run ended, as a label value.
fn result(failed: bool) -> &'static str {
    if failed { "error" } else { "ok" }
}

/// The process's counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Registry {
    /// (source, endpoint, "ok" | "error") → runs.
    sync_runs: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// (job, "ok" | "error") → runs.
    job_runs: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// job → seconds spent running it.
    job_seconds: Mutex<BTreeMap<&'static str, f64>>,
}

impl Registry {
    /// Sync runs per (source, endpoint, result), sorted.
    pub fn sync_runs(&self) -> Vec<((String, String, &'static str), u64)> {
        let map = self.sync_runs.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Job runs per (job, result), sorted.
    pub fn job_runs(&self) -> Vec<((&'static str, &'static str), u64)> {
        let map = self.job_runs.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Seconds spent per job, sorted by job.
    pub fn job_seconds(&self) -> Vec<(&'static str, f64)> {
        let map = self.job_seconds.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// One endpoint of one source was synced (or failed).
#[derive(Debug, Clone, Copy)]
pub struct SyncEndpointFinished<'a> {
    pub source: &'a str,
    pub endpoint: &'a str,
    pub fetched: i64,
    pub stored: i64,
    pub rejected: i64,
    pub pages: i64,
    pub duration_ms: i64,
    /// The error the sync recorded for it (already logged by the sync at error level).
    pub error: Option<&'a str>,
}

impl InternalEvent for SyncEndpointFinished<'_> {
    fn emit(self, registry: &Registry) {
        tracing::debug!(
            source = self.source,
            endpoint = self.endpoint,
            fetched = self.fetched,
            stored = self.stored,
            rejected = self.rejected,
            pages = self.pages,
            ms = self.duration_ms,
            failed = self.error.is_some(),
            "sync endpoint finished"
        );
        let key = (
            self.source.to_string(),
            self.endpoint.to_string(),
            result(self.error.is_some()),
        );
        *registry
            .sync_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }
}

/// A scheduled job's run ended.
#[derive(Debug, Clone, Copy)]
pub struct JobFinished<'a> {
    /// Its name in `job_runs`.
    pub job: &'static str,
    pub elapsed: Duration,
    /// Why it failed, when it did.
    pub error: Option<&'a (dyn std::error::Error + 'static)>,
}

impl InternalEvent for JobFinished<'_> {
    fn emit(self, registry: &Registry) {
        match self.error {
            None => tracing::info!(
                job = self.job,
                ms = self.elapsed.as_millis() as u64,
                "job done"
            ),
            Some(e) => tracing::error!(
                job = self.job,
                ms = self.elapsed.as_millis() as u64,
                error = %e,
                "job failed"
            ),
        }
        *registry
            .job_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((self.job, result(self.error.is_some())))
            .or_default() += 1;
        *registry
            .job_seconds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(self.job)
            .or_default() += self.elapsed.as_secs_f64();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    #[test]
    fn events_are_counted_by_their_labels() {
        let r = Registry::default();
        let ok = SyncEndpointFinished {
            source: "one_stop",
            endpoint: "ho-so",
            fetched: 3,
            stored: 3,
            rejected: 0,
            pages: 1,
            duration_ms: 5,
            error: None,
        };
        ok.emit(&r);
        ok.emit(&r);
        SyncEndpointFinished {
            error: Some("down"),
            ..ok
        }
        .emit(&r);
        assert_eq!(
            r.sync_runs(),
            vec![
                (("one_stop".into(), "ho-so".into(), "error"), 1),
                (("one_stop".into(), "ho-so".into(), "ok"), 2)
            ]
        );
        JobFinished {
            job: "sync",
            elapsed: Duration::from_millis(1500),
            error: None,
        }
        .emit(&r);
        JobFinished {
            job: "sync",
            elapsed: Duration::from_millis(500),
            error: Some(&Boom),
        }
        .emit(&r);
        assert_eq!(
            r.job_runs(),
            vec![(("sync", "error"), 1), (("sync", "ok"), 1)]
        );
        assert_eq!(r.job_seconds(), vec![("sync", 2.0)]);
    }
}
