//! `/metrics`: the Prometheus text exposition, following Prometheus naming conventions.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `dondoc_rate_ratio` | unit, metric, scope, period, period_id | the current value of a rate (0..1), from the latest stored sample |
//! | `dondoc_rate_numerator`, `dondoc_rate_denominator` | same | its exact counts |
//! | `dondoc_sync_runs_total` | source, endpoint, result | sync runs since the daemon started |
//! | `dondoc_sync_last_duration_seconds` | source, endpoint | the last run's duration |
//! | `dondoc_sync_last_records` | source, endpoint, outcome | fetched, stored, rejected in the last run |
//! | `dondoc_sync_consecutive_failures` | source, endpoint | |
//! | `dondoc_sync_last_success_timestamp_seconds` | source, endpoint | |
//! | `dondoc_rejected_records` | source, kind, reason | records set aside |
//! | `dondoc_outbox_messages` | status | pending, failed, sent |
//! | `dondoc_job_last_success_timestamp_seconds` | job | |
//! | `dondoc_disk_free_bytes`, `dondoc_disk_size_bytes` | path | free space (for an unprivileged process) and size of the SQLite database's filesystem; absent for PostgreSQL |
//!
//! `period` is the kind (month, quarter, year), so that a series continues across periods;
//! `period_id` names the period (`2024-Q2`). `scope` is empty for an unscoped rate.

use crate::daemon::Daemon;
use crate::metrics::{Period, PeriodKind};
use crate::time::{epoch, to_local};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;
type G = Family<Labels, Gauge<f64, AtomicU64>>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builds the exposition text from the store and the daemon's counters.
pub async fn render(daemon: &Daemon) -> Result<String, String> {
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let mut registry = Registry::default();

    let (ratio, num, den) = (G::default(), G::default(), G::default());
    let current: Vec<(PeriodKind, String)> = PeriodKind::ALL
        .iter()
        .map(|k| (*k, Period::containing(*k, now).to_string()))
        .collect();
    let mut latest: std::collections::HashMap<
        (String, String, String, String),
        crate::store::Sample,
    > = std::collections::HashMap::new();
    let yesterday = to_local(now - 86_400).format("%Y-%m-%d").to_string();
    for s in app
        .store
        .samples_since(&yesterday)
        .await
        .map_err(|e| e.to_string())?
    {
        if current.iter().any(|(_, p)| *p == s.period) {
            let key = (
                s.unit.clone(),
                s.metric.clone(),
                s.scope.clone(),
                s.period.clone(),
            );
            let newer = latest.get(&key).is_none_or(|old| old.as_of <= s.as_of);
            if newer {
                latest.insert(key, s);
            }
        }
    }
    for ((unit, metric, scope, period), s) in &latest {
        let kind = current
            .iter()
            .find(|(_, p)| p == period)
            .map(|(k, _)| k.as_str())
            .unwrap_or("");
        let l = labels(&[
            ("unit", unit),
            ("metric", metric),
            ("scope", scope),
            ("period", kind),
            ("period_id", period),
        ]);
        if s.denominator > 0 {
            ratio
                .get_or_create(&l)
                .set(s.numerator as f64 / s.denominator as f64);
        }
        num.get_or_create(&l).set(s.numerator as f64);
        den.get_or_create(&l).set(s.denominator as f64);
    }
    registry.register(
        "dondoc_rate_ratio",
        "Current value of a rate (numerator / denominator), from the latest stored sample",
        ratio,
    );
    registry.register("dondoc_rate_numerator", "Numerator of a rate", num);
    registry.register("dondoc_rate_denominator", "Denominator of a rate", den);

    let runs = Family::<Labels, Counter>::default();
    if let Ok(map) = daemon.counters.runs.lock() {
        for ((source, endpoint, result), n) in map.iter() {
            runs.get_or_create(&labels(&[
                ("source", source),
                ("endpoint", endpoint),
                ("result", result),
            ]))
            .inc_by(*n);
        }
    }
    registry.register(
        "dondoc_sync_runs",
        "Sync runs of a source endpoint since the daemon started",
        runs,
    );

    let (duration, records, failures, success) =
        (G::default(), G::default(), G::default(), G::default());
    for st in app.store.sync_stats().await.map_err(|e| e.to_string())? {
        let base = [
            ("source", st.state.source.as_str()),
            ("endpoint", st.state.endpoint.as_str()),
        ];
        let l = labels(&base);
        duration
            .get_or_create(&l)
            .set(st.last.duration_ms as f64 / 1000.0);
        failures
            .get_or_create(&l)
            .set(st.state.consecutive_failures as f64);
        if let Some(t) = st.state.last_success_at {
            success.get_or_create(&l).set(t as f64);
        }
        for (outcome, n) in [
            ("fetched", st.last.fetched),
            ("stored", st.last.stored),
            ("rejected", st.last.rejected),
        ] {
            let mut l = labels(&base);
            l.push(("outcome".into(), outcome.into()));
            records.get_or_create(&l).set(n as f64);
        }
    }
    registry.register(
        "dondoc_sync_last_duration_seconds",
        "Duration of the last sync run of a source endpoint",
        duration,
    );
    registry.register(
        "dondoc_sync_last_records",
        "Records fetched, stored and rejected by the last sync run",
        records,
    );
    registry.register(
        "dondoc_sync_consecutive_failures",
        "Consecutive failed syncs of a source endpoint",
        failures,
    );
    registry.register(
        "dondoc_sync_last_success_timestamp_seconds",
        "When a source endpoint last synced successfully (Unix time)",
        success,
    );

    let rejected = G::default();
    for r in app
        .store
        .rejection_counts()
        .await
        .map_err(|e| e.to_string())?
    {
        rejected
            .get_or_create(&labels(&[
                ("source", &r.source),
                ("kind", &r.kind),
                ("reason", &r.reason),
            ]))
            .set(r.count as f64);
    }
    registry.register(
        "dondoc_rejected_records",
        "Records set aside because they break the upstream contract",
        rejected,
    );

    let outbox = G::default();
    let c = app.store.outbox_counts().await.map_err(|e| e.to_string())?;
    for (status, n) in [
        ("pending", c.pending),
        ("failed", c.failed),
        ("sent", c.sent),
    ] {
        outbox
            .get_or_create(&labels(&[("status", status)]))
            .set(n as f64);
    }
    registry.register(
        "dondoc_outbox_messages",
        "Mail in the outbox by status",
        outbox,
    );

    let jobs = G::default();
    for (job, t) in app.store.job_successes().await.map_err(|e| e.to_string())? {
        jobs.get_or_create(&labels(&[("job", &job)])).set(t as f64);
    }
    registry.register(
        "dondoc_job_last_success_timestamp_seconds",
        "When a scheduled job last finished without error (Unix time)",
        jobs,
    );

    // Free space of the SQLite database's filesystem (docs/operations.md: a full disk).
    if let Some((d, _)) = daemon.check_disk(now) {
        let (free, size) = (G::default(), G::default());
        let l = labels(&[("path", &d.path.display().to_string())]);
        free.get_or_create(&l).set(d.free_bytes as f64);
        size.get_or_create(&l).set(d.total_bytes as f64);
        registry.register(
            "dondoc_disk_free_bytes",
            "Free space of the SQLite database's filesystem, in bytes (for an unprivileged process)",
            free,
        );
        registry.register(
            "dondoc_disk_size_bytes",
            "Size of the SQLite database's filesystem, in bytes",
            size,
        );
    }

    let mut out = String::new();
    encode(&mut out, &registry).map_err(|e| format!("encoding the metrics failed: {e}"))?;
    Ok(out)
}

pub async fn metrics(State(daemon): State<Arc<Daemon>>) -> impl IntoResponse {
    match render(&daemon).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot read the database: {e}\n"),
        ),
    }
}
