//! `/metrics`: the Prometheus text exposition (format 0.0.4), following Prometheus' naming and
//! labelling conventions, clean under `promtool check metrics`.
//!
//! Every series keeps its labels for as long as what it measures exists: what changes (the
//! current period, a value) is in the value or in an info metric, never in a label, so that a
//! dashboard or an alert rule does not break at a month's, quarter's or year's end. The text is in
//! a stable order: families in the order of the table below, series sorted by their labels.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `dondoc_build_info` | gauge | version, commit | 1 |
//! | `dondoc_period_info` | gauge | period, period_id | 1 for each period kind: the period now current (`2024-Q2`) |
//! | `dondoc_period_start_timestamp_seconds`, `dondoc_period_end_timestamp_seconds` | gauge | period | the current period's bounds (Unix time; the end is exclusive) |
//! | `dondoc_unit_info` | gauge | unit, name, parent | 1 for each configured unit |
//! | `dondoc_field_group_info` | gauge | scope, name | 1 for each field group, with its display name |
//! | `dondoc_rate_ratio` | gauge | unit, metric, scope, period | the current period's rate (0..1), from the latest stored sample; absent while the denominator is 0 |
//! | `dondoc_rate_numerator`, `dondoc_rate_denominator` | gauge | same | its exact counts |
//! | `dondoc_rate_sample_timestamp_seconds` | gauge | same | the instant the sample was evaluated at |
//! | `dondoc_rate_target_ratio` | gauge | unit, metric, scope, bound | the target (0..1): `bound` is `min` (higher is better) or `max` |
//! | `dondoc_sync_runs_total` | counter | source, endpoint, result | sync runs since the daemon started |
//! | `dondoc_sync_last_duration_seconds` | gauge | source, endpoint | the last run's duration |
//! | `dondoc_sync_last_records` | gauge | source, endpoint, outcome | fetched, stored, rejected in the last run |
//! | `dondoc_sync_consecutive_failures` | gauge | source, endpoint | |
//! | `dondoc_sync_last_success_timestamp_seconds` | gauge | source, endpoint | |
//! | `dondoc_rejected_records` | gauge | source, kind, reason | records set aside |
//! | `dondoc_outbox_messages` | gauge | status | pending, failed, sent, superseded |
//! | `dondoc_outbox_stuck_messages` | gauge | | mail waiting longer than `alerts.mail_stuck_hours` (alert on > 0) |
//! | `dondoc_outbox_oldest_waiting_seconds` | gauge | | how long the oldest waiting message has waited (0 when none) |
//! | `dondoc_job_last_success_timestamp_seconds` | gauge | job | |
//! | `dondoc_job_runs_total` | counter | job, result | scheduled runs since the daemon started (`ok`, `error`) |
//! | `dondoc_job_duration_seconds_total` | counter | job | time spent in them |
//! | `dondoc_disk_free_bytes`, `dondoc_disk_size_bytes` | gauge | path | free space (for an unprivileged process) and size of the SQLite database's filesystem; absent for PostgreSQL |
//!
//! `period` is the kind (`month`, `quarter`, `year`); `scope` is the field group's key (empty for
//! an unscoped rate). Read-only; never a personal value or a secret in a label. The run counters
//! are the internal events' ([`crate::events::Registry`], built once with the application): this
//! module renders them and counts nothing itself.

use crate::daemon::Daemon;
use crate::domain::time::{epoch, to_local};
use crate::rates::evaluate::unit_target;
use crate::rates::{Metric, Period, PeriodKind, TargetView, UnitTree};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its samples are written sorted by their label values.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind: "gauge",
            samples: Vec::new(),
        }
    }

    fn counter(name: &'static str, help: &'static str) -> Family {
        Family {
            kind: "counter",
            ..Family::gauge(name, help)
        }
    }

    fn add(&mut self, labels: &[(&'static str, &str)], value: f64) {
        self.samples.push((
            labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        ));
    }

    fn write(mut self, out: &mut String) {
        self.samples.sort_by(|a, b| a.0.cmp(&b.0));
        self.samples.dedup_by(|a, b| a.0 == b.0);
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the text format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Builds the exposition text from the store, the configuration and the daemon's counters.
pub async fn render(daemon: &Daemon) -> Result<String, String> {
    let app = daemon.app();
    let s = &app.settings;
    let now = epoch(app.clock.now());
    let mut families = Vec::new();

    let mut build = Family::gauge(
        "dondoc_build_info",
        "The running dondoc's version and the git commit it was built from (value 1)",
    );
    build.add(
        &[("version", crate::VERSION), ("commit", crate::GIT_COMMIT)],
        1.0,
    );
    families.push(build);

    // The current periods: stable series whose values move at a boundary, and one info series
    // per kind naming the period.
    let current: Vec<(PeriodKind, Period)> = PeriodKind::ALL
        .iter()
        .map(|k| (*k, Period::containing(*k, now)))
        .collect();
    let mut info = Family::gauge(
        "dondoc_period_info",
        "The period now current for each period kind, named by period_id (value 1)",
    );
    let mut starts = Family::gauge(
        "dondoc_period_start_timestamp_seconds",
        "Start of the current period of each kind (Unix time)",
    );
    let mut ends = Family::gauge(
        "dondoc_period_end_timestamp_seconds",
        "End of the current period of each kind, exclusive (Unix time)",
    );
    for (kind, p) in &current {
        let id = p.to_string();
        info.add(&[("period", kind.as_str()), ("period_id", &id)], 1.0);
        starts.add(&[("period", kind.as_str())], p.start() as f64);
        ends.add(&[("period", kind.as_str())], p.end() as f64);
    }
    families.extend([info, starts, ends]);

    let tree = UnitTree::new(s);
    let mut units = Family::gauge(
        "dondoc_unit_info",
        "A configured unit with its name and parent (value 1)",
    );
    for u in &tree.units {
        units.add(
            &[
                ("unit", &u.code),
                ("name", &u.name),
                ("parent", u.parent.as_deref().unwrap_or("")),
            ],
            1.0,
        );
    }
    families.push(units);
    let mut groups = Family::gauge(
        "dondoc_field_group_info",
        "A field group (scope) with its display name (value 1)",
    );
    for (key, g) in &s.field_groups {
        groups.add(&[("scope", key), ("name", g.display_name(key))], 1.0);
    }
    families.push(groups);

    // The latest sample of each rate in its current period.
    let mut latest: HashMap<(String, String, String, PeriodKind), crate::store::Sample> =
        HashMap::new();
    let yesterday = to_local(now - 86_400).format("%Y-%m-%d").to_string();
    for smp in app
        .store
        .samples_since(&yesterday)
        .await
        .map_err(|e| e.to_string())?
    {
        let Some((kind, _)) = current.iter().find(|(_, p)| p.to_string() == smp.period) else {
            continue;
        };
        let key = (
            smp.unit.clone(),
            smp.metric.clone(),
            smp.scope.clone(),
            *kind,
        );
        if latest.get(&key).is_none_or(|old| old.as_of <= smp.as_of) {
            latest.insert(key, smp);
        }
    }
    let mut ratio = Family::gauge(
        "dondoc_rate_ratio",
        "Current value of a rate (numerator / denominator) in the current period of its kind, from the latest stored sample",
    );
    let mut num = Family::gauge(
        "dondoc_rate_numerator",
        "Numerator of a rate in the current period of its kind",
    );
    let mut den = Family::gauge(
        "dondoc_rate_denominator",
        "Denominator of a rate in the current period of its kind",
    );
    let mut at = Family::gauge(
        "dondoc_rate_sample_timestamp_seconds",
        "The instant the rate's latest sample was evaluated at (Unix time)",
    );
    for ((unit, metric, scope, kind), smp) in &latest {
        let l = [
            ("unit", unit.as_str()),
            ("metric", metric.as_str()),
            ("scope", scope.as_str()),
            ("period", kind.as_str()),
        ];
        if smp.denominator > 0 {
            ratio.add(&l, smp.numerator as f64 / smp.denominator as f64);
        }
        num.add(&l, smp.numerator as f64);
        den.add(&l, smp.denominator as f64);
        at.add(&l, smp.as_of as f64);
    }
    families.extend([ratio, num, den, at]);

    let mut targets = Family::gauge(
        "dondoc_rate_target_ratio",
        "Target of a rate (0..1): bound=min when higher is better, bound=max when lower is better",
    );
    let mut target = |unit: &str, metric: &str, scope: &str, t: Option<TargetView>| {
        let (bound, v) = match t {
            Some(TargetView { min: Some(v), .. }) => ("min", v),
            Some(TargetView { max: Some(v), .. }) => ("max", v),
            _ => return,
        };
        targets.add(
            &[
                ("unit", unit),
                ("metric", metric),
                ("scope", scope),
                ("bound", bound),
            ],
            v / 100.0,
        );
    };
    for u in &tree.units {
        for m in Metric::ALL {
            target(&u.code, m.as_str(), "", unit_target(s, &u.code, m));
        }
        for st in &s.scoped_targets {
            let spec = st.spec();
            target(
                &u.code,
                &st.metric,
                &st.scope,
                Some(TargetView {
                    min: spec.min,
                    max: spec.max,
                    min_sample: 0,
                }),
            );
        }
    }
    families.push(targets);

    let mut runs = Family::counter(
        "dondoc_sync_runs_total",
        "Sync runs of a source endpoint since the daemon started, by result",
    );
    for ((source, endpoint, result), n) in app.events.sync_runs() {
        runs.add(
            &[
                ("source", &source),
                ("endpoint", &endpoint),
                ("result", result),
            ],
            n as f64,
        );
    }
    families.push(runs);

    let mut duration = Family::gauge(
        "dondoc_sync_last_duration_seconds",
        "Duration of the last sync run of a source endpoint",
    );
    let mut records = Family::gauge(
        "dondoc_sync_last_records",
        "Records fetched, stored and rejected by the last sync run of a source endpoint",
    );
    let mut failures = Family::gauge(
        "dondoc_sync_consecutive_failures",
        "Consecutive failed syncs of a source endpoint",
    );
    let mut success = Family::gauge(
        "dondoc_sync_last_success_timestamp_seconds",
        "When a source endpoint last synced successfully (Unix time)",
    );
    for st in app.store.sync_stats().await.map_err(|e| e.to_string())? {
        let base = [
            ("source", st.state.source.as_str()),
            ("endpoint", st.state.endpoint.as_str()),
        ];
        duration.add(&base, st.last.duration_ms as f64 / 1000.0);
        failures.add(&base, st.state.consecutive_failures as f64);
        if let Some(t) = st.state.last_success_at {
            success.add(&base, t as f64);
        }
        for (outcome, n) in [
            ("fetched", st.last.fetched),
            ("stored", st.last.stored),
            ("rejected", st.last.rejected),
        ] {
            records.add(&[base[0], base[1], ("outcome", outcome)], n as f64);
        }
    }
    families.extend([duration, records, failures, success]);

    let mut rejected = Family::gauge(
        "dondoc_rejected_records",
        "Records set aside because they break the upstream contract, by reason",
    );
    for r in app
        .store
        .rejection_counts()
        .await
        .map_err(|e| e.to_string())?
    {
        rejected.add(
            &[
                ("source", &r.source),
                ("kind", &r.kind),
                ("reason", &r.reason),
            ],
            r.count as f64,
        );
    }
    families.push(rejected);

    let mut outbox = Family::gauge("dondoc_outbox_messages", "Mail in the outbox by status");
    let c = app.store.outbox_counts().await.map_err(|e| e.to_string())?;
    for (status, n) in [
        ("pending", c.pending),
        ("failed", c.failed),
        ("sent", c.sent),
        ("superseded", c.superseded),
    ] {
        outbox.add(&[("status", status)], n as f64);
    }
    families.push(outbox);
    let stuck_secs = (app.settings.alerts.mail_stuck_hours as i64).saturating_mul(3600);
    let waiting = app
        .store
        .outbox_waiting(now - stuck_secs)
        .await
        .map_err(|e| e.to_string())?;
    let mut stuck = Family::gauge(
        "dondoc_outbox_stuck_messages",
        "Mail waiting longer than alerts.mail_stuck_hours (the mail server does not take it)",
    );
    stuck.add(&[], waiting.stuck as f64);
    families.push(stuck);
    let mut oldest = Family::gauge(
        "dondoc_outbox_oldest_waiting_seconds",
        "How long the oldest message waiting for delivery has waited",
    );
    oldest.add(
        &[],
        waiting.oldest_queued_at.map_or(0, |t| (now - t).max(0)) as f64,
    );
    families.push(oldest);

    let mut jobs = Family::gauge(
        "dondoc_job_last_success_timestamp_seconds",
        "When a scheduled job last finished without error (Unix time)",
    );
    for (job, t) in app.store.job_successes().await.map_err(|e| e.to_string())? {
        jobs.add(&[("job", &job)], t as f64);
    }
    families.push(jobs);

    let mut job_runs = Family::counter(
        "dondoc_job_runs_total",
        "Runs of a scheduled job since the daemon started, by result",
    );
    for ((job, result), n) in app.events.job_runs() {
        job_runs.add(&[("job", job), ("result", result)], n as f64);
    }
    families.push(job_runs);
    let mut job_seconds = Family::counter(
        "dondoc_job_duration_seconds_total",
        "Time spent running a scheduled job since the daemon started",
    );
    for (job, secs) in app.events.job_seconds() {
        job_seconds.add(&[("job", job)], secs);
    }
    families.push(job_seconds);

    // Free space of the SQLite database's filesystem (docs/operations.md: a full disk).
    if let Some((d, _)) = daemon.check_disk(now) {
        let path = d.path.display().to_string();
        let mut free = Family::gauge(
            "dondoc_disk_free_bytes",
            "Free space of the SQLite database's filesystem, in bytes (for an unprivileged process)",
        );
        free.add(&[("path", &path)], d.free_bytes as f64);
        families.push(free);
        let mut size = Family::gauge(
            "dondoc_disk_size_bytes",
            "Size of the SQLite database's filesystem, in bytes",
        );
        size.add(&[("path", &path)], d.total_bytes as f64);
        families.push(size);
    }

    let mut out = String::new();
    for f in families {
        f.write(&mut out);
    }
    Ok(out)
}

pub async fn metrics(State(daemon): State<Arc<Daemon>>) -> impl IntoResponse {
    match render(&daemon).await {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot read the database: {e}\n"),
        ),
    }
}
