//! `/healthz`: 200 with a small JSON when the database answers and no source is staler than
//! `health.max_staleness_hours`; 503 with the reasons otherwise.
//!
//! Every configured source endpoint is listed; one that has never synced successfully makes the
//! answer 503 ("not ready yet" right after a first start, a real problem later).
//!
//! `degraded` (still 200: the daemon works, restarting it would not help): mail has waited in the
//! outbox longer than `alerts.mail_stuck_hours` (the mail server refuses or is down), listed in
//! `warnings`, so that monitoring sees it before an official misses a letter.
//!
//! `disk` gives the free space of a SQLite database's filesystem (null for PostgreSQL). Below
//! `health.min_free_disk_mib` or `health.min_free_disk_percent` the status is `degraded`, still
//! with 200 (everything works; the disk will not last): monitoring reads the status or the
//! `dondoc_disk_free_bytes` gauge. `unhealthy` (503) wins over `degraded`.

use crate::daemon::Daemon;
use crate::domain::time::{epoch, rfc3339};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct SourceHealth {
    pub source: String,
    pub endpoint: String,
    pub last_success: Option<String>,
    pub staleness_hours: Option<f64>,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    /// Records whose update time lay too far in the future when read (not trusted for the mark).
    pub future_dated_records: i64,
    /// `open` while the source is left alone after repeated failures, else `closed`.
    pub circuit: &'static str,
    /// When an open circuit lets one pass try the source again.
    pub circuit_retry_at: Option<String>,
}

/// Free space of the SQLite database's filesystem.
#[derive(Debug, Serialize)]
pub struct DiskHealth {
    pub path: String,
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub free_percent: f64,
    pub min_free_mib: u64,
    pub min_free_percent: f64,
    /// `ok` or `low`.
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`, `degraded` (200: works, but mail waits or the disk runs low: see `warnings`) or
    /// `unhealthy` (503).
    pub status: &'static str,
    pub database: &'static str,
    pub sources: Vec<SourceHealth>,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    /// Mail waiting longer than `alerts.mail_stuck_hours`.
    pub outbox_stuck: i64,
    /// How long the oldest message has waited, in hours.
    pub outbox_oldest_waiting_hours: Option<f64>,
    pub disk: Option<DiskHealth>,
    pub reasons: Vec<String>,
    /// What makes the status `degraded`.
    pub warnings: Vec<String>,
}

pub async fn healthz(State(daemon): State<Arc<Daemon>>) -> (StatusCode, Json<Health>) {
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let max = app.settings.health.max_staleness_hours as f64;
    let mut reasons = Vec::new();
    let mut h = Health {
        status: "ok",
        database: "ok",
        sources: Vec::new(),
        outbox_pending: 0,
        outbox_failed: 0,
        outbox_stuck: 0,
        outbox_oldest_waiting_hours: None,
        disk: None,
        reasons: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some((d, low)) = daemon.check_disk(now) {
        if low {
            h.warnings.push(format!("disk space low: {}", d.describe()));
        }
        h.disk = Some(DiskHealth {
            path: d.path.display().to_string(),
            free_bytes: d.free_bytes,
            total_bytes: d.total_bytes,
            free_percent: (d.free_percent() * 100.0).round() / 100.0,
            min_free_mib: app.settings.health.min_free_disk_mib,
            min_free_percent: app.settings.health.min_free_disk_percent,
            status: if low { "low" } else { "ok" },
        });
    }
    if let Err(e) = app.store.ping().await {
        h.database = "unavailable";
        reasons.push(format!("database: {e}"));
    }
    let future = app.store.future_counts().await.unwrap_or_default();
    match app.store.sync_states().await {
        Ok(states) => {
            // Every configured source endpoint, whether it has synced yet or not.
            let mut expected: Vec<(String, &str)> = Vec::new();
            for (name, src) in &app.settings.sources {
                for endpoint in src.kind.endpoints() {
                    expected.push((name.clone(), endpoint));
                }
            }
            for (source, endpoint) in expected {
                let s = states
                    .iter()
                    .find(|s| s.source == source && s.endpoint == endpoint);
                let last_success = s.and_then(|s| s.last_success_at);
                let last_error = s.and_then(|s| s.last_error.clone());
                let staleness = last_success.map(|t| (now - t) as f64 / 3600.0);
                match staleness {
                    Some(hours) if hours > max => reasons.push(format!(
                        "{source}/{endpoint}: no successful sync for more than {max} hour(s){}",
                        last_error
                            .as_deref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    )),
                    None => reasons.push(format!(
                        "{source}/{endpoint}: has not synced successfully yet{}",
                        last_error
                            .as_deref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    )),
                    _ => {}
                }
                let mine: Vec<&crate::store::SyncState> =
                    states.iter().filter(|s| s.source == source).collect();
                let circuit = app
                    .settings
                    .sources
                    .get(&source)
                    .filter(|src| src.kind != crate::config::SourceKind::Import)
                    .and_then(|src| crate::sync::circuit_open_until(src, &mine, now));
                h.sources.push(SourceHealth {
                    future_dated_records: future
                        .iter()
                        .filter(|f| f.source == source && f.endpoint == endpoint)
                        .map(|f| f.records)
                        .sum(),
                    circuit: if circuit.is_some() { "open" } else { "closed" },
                    circuit_retry_at: circuit.map(|(t, _)| rfc3339(t)),
                    source,
                    endpoint: endpoint.to_string(),
                    last_success: last_success.map(rfc3339),
                    staleness_hours: staleness.map(|x| (x * 100.0).round() / 100.0),
                    consecutive_failures: s.map(|s| s.consecutive_failures).unwrap_or(0),
                    last_error,
                });
            }
        }
        Err(e) => reasons.push(format!("sync state: {e}")),
    }
    if let Ok(c) = app.store.outbox_counts().await {
        h.outbox_pending = c.pending;
        h.outbox_failed = c.failed;
    }
    let stuck_hours = app.settings.alerts.mail_stuck_hours;
    let stuck_before = now - (stuck_hours as i64).saturating_mul(3600);
    if let Ok(waiting) = app.store.outbox_waiting(stuck_before).await {
        h.outbox_stuck = waiting.stuck;
        h.outbox_oldest_waiting_hours = waiting
            .oldest_queued_at
            .map(|t| ((now - t) as f64 / 36.0).round() / 100.0);
        if waiting.stuck > 0 {
            h.warnings.push(format!(
                "mail: {} message(s) waiting for more than {stuck_hours} hour(s) (the oldest for {} h): the mail server does not take them; `dondoc alerts list` shows the last error",
                waiting.stuck,
                h.outbox_oldest_waiting_hours.unwrap_or_default()
            ));
        }
    }
    let code = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !reasons.is_empty() {
        h.status = "unhealthy";
    } else if !h.warnings.is_empty() {
        h.status = "degraded";
    }
    h.reasons = reasons;
    (code, Json(h))
}
