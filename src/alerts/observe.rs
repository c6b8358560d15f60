//! The alert side of an evaluation: feeds every alerted row (and the data-source checks) through
//! the lifecycle and stores the records in one transaction. No mail is written here: the digest
//! turns notices into mail later, at the `schedule.alerts` fire.

use super::lifecycle::{AlertKey, AlertRecord, Observation, Phase, Policy, step};
use crate::app::App;
use crate::domain::time::{Epoch, to_local};
use crate::rates::{Evaluation, Metric, Period, RowState, TargetView};
use crate::store::{Sample, StoreError};
use std::collections::HashMap;

/// The pseudo-unit of data-source alerts.
pub const SOURCE_UNIT: &str = "_source";

/// Per alert key, the oldest stored sample inside the trend window (what "worsening" and the pace
/// are measured against).
pub type Baselines = HashMap<(String, String, String, String), Sample>;

/// The oldest sample of each rate inside the last `trend_days` (before today).
pub async fn baselines(app: &App, now: Epoch) -> Result<Baselines, StoreError> {
    let days = i64::from(app.settings.alerts.trend_days.max(1));
    let since = to_local(now - days * 86_400).format("%Y-%m-%d").to_string();
    let today = to_local(now).format("%Y-%m-%d").to_string();
    let mut out: Baselines = HashMap::new();
    for s in app.store.samples_since(&since).await? {
        if s.day >= today {
            continue;
        }
        let key = (
            s.unit.clone(),
            s.metric.clone(),
            s.scope.clone(),
            s.period.clone(),
        );
        out.entry(key).or_insert(s);
    }
    Ok(out)
}

/// Whether the rate has moved towards (or past) its target since the baseline.
pub fn worsening(
    target: Option<TargetView>,
    base: Option<&Sample>,
    numerator: i64,
    denominator: i64,
) -> bool {
    let (Some(t), Some(b)) = (target, base) else {
        return false;
    };
    if b.denominator == 0 || denominator == 0 {
        return false;
    }
    let then = b.numerator as f64 / b.denominator as f64;
    let now = numerator as f64 / denominator as f64;
    if t.max.is_some() {
        now > then
    } else {
        now < then
    }
}

/// Runs the lifecycle over the alerted periods of `evaluations` and the data-source checks, and
/// stores every changed record. Returns the records after the step.
pub async fn run_once(
    app: &App,
    evaluations: &[Evaluation],
    now: Epoch,
) -> Result<Vec<AlertRecord>, StoreError> {
    let s = &app.settings;
    let policy = Policy::from_settings(&s.alerts);
    let stored: HashMap<AlertKey, AlertRecord> = app
        .store
        .alerts()
        .await?
        .into_iter()
        .map(|a| (a.key.clone(), a))
        .collect();
    let base = baselines(app, now).await?;
    let mut out = Vec::new();
    for ev in evaluations
        .iter()
        .filter(|e| s.alerts.periods.contains(&e.period.kind))
    {
        for row in &ev.rows {
            if row.target.is_none() {
                continue;
            }
            let key = AlertKey {
                unit: row.unit.clone(),
                metric: row.metric.as_str().to_string(),
                scope: row.scope.clone().unwrap_or_default(),
                period: ev.period.to_string(),
            };
            let b = base.get(&(
                key.unit.clone(),
                key.metric.clone(),
                key.scope.clone(),
                key.period.clone(),
            ));
            let obs = Observation {
                state: row.state,
                numerator: row.numerator,
                denominator: row.denominator,
                target: row.target,
                worsening: worsening(row.target, b, row.numerator, row.denominator),
            };
            let prev = stored.get(&key);
            let next = step(prev, &key, &obs, &policy, now);
            if prev != Some(&next) {
                out.push(next);
            }
        }
    }
    out.extend(source_alerts(app, &stored, evaluations, now).await?);
    app.store.save_alerts(&out).await?;
    let firing = out
        .iter()
        .filter(|a| a.phase == Phase::Firing && a.notice.is_some())
        .count();
    tracing::info!(
        changed = out.len(),
        newly_firing = firing,
        "alerts evaluated"
    );
    Ok(out)
}

async fn source_alerts(
    app: &App,
    stored: &HashMap<AlertKey, AlertRecord>,
    evaluations: &[Evaluation],
    now: Epoch,
) -> Result<Vec<AlertRecord>, StoreError> {
    let s = &app.settings;
    let mut policy = Policy::from_settings(&s.alerts);
    policy.pending_evaluations = 1;
    let mut checks: Vec<(String, String, bool, i64, String)> = Vec::new();
    for st in app.store.sync_states().await? {
        let scope = format!("{}/{}", st.source, st.endpoint);
        let failing = st.consecutive_failures >= i64::from(s.alerts.failing_syncs.max(1));
        checks.push((
            "source_failing".into(),
            scope.clone(),
            failing,
            st.consecutive_failures,
            format!(
                "{} failed {} sync(s) in a row: {}",
                scope,
                st.consecutive_failures,
                st.last_error.clone().unwrap_or_default()
            ),
        ));
        let age_h = st.last_success_at.map(|t| (now - t) / 3600);
        let stale = match age_h {
            Some(h) => h >= s.alerts.stale_hours as i64,
            None => st.last_attempt_at.is_some(),
        };
        let detail = match age_h {
            Some(h) => format!("{scope}: no successful sync for {h} hour(s)"),
            None => format!("{scope}: never synced successfully"),
        };
        checks.push((
            "source_stale".into(),
            scope,
            stale,
            age_h.unwrap_or(-1),
            detail,
        ));
    }
    if let Some(ev) = evaluations.first() {
        let unmapped = ev
            .quality
            .unmapped_dossier_codes
            .iter()
            .map(|(c, n)| (c, n, "DonViXuLy", "dossier(s)"));
        let unmapped_docs = ev
            .quality
            .unmapped_document_codes
            .iter()
            .map(|(c, n)| (c, n, "MaDonVi", "document(s)"));
        let mut present = Vec::new();
        for (code, n, field, what) in unmapped.chain(unmapped_docs) {
            present.push(code.clone());
            checks.push((
                "unmapped_code".into(),
                code.clone(),
                true,
                *n,
                format!("{field} {code}: {n} {what} of a code no unit claims; add it to a unit in the configuration"),
            ));
        }
        // Codes that were unmapped before and are claimed now resolve.
        for a in stored
            .values()
            .filter(|a| a.key.unit == SOURCE_UNIT && a.key.metric == "unmapped_code")
        {
            if !present.contains(&a.key.scope) {
                checks.push((
                    "unmapped_code".into(),
                    a.key.scope.clone(),
                    false,
                    0,
                    String::new(),
                ));
            }
        }
        let rejected: i64 = ev.quality.rejected.iter().map(|r| r.count).sum();
        let key = AlertKey {
            unit: SOURCE_UNIT.into(),
            metric: "rejected_records".into(),
            scope: String::new(),
            period: "-".into(),
        };
        let baseline = stored
            .get(&key)
            .and_then(|a| a.notified_numerator)
            .unwrap_or(0);
        checks.push((
            "rejected_records".into(),
            String::new(),
            rejected - baseline >= s.alerts.rejected_jump.max(1),
            rejected,
            format!(
                "{} rejected record(s) now, {} more than at the last notice",
                rejected,
                rejected - baseline
            ),
        ));
        // Records updated "in the future" (issue 17): told once per new record, like a jump.
        for f in &ev.quality.future_dated {
            let scope = format!("{}/{}", f.source, f.endpoint);
            let key = AlertKey {
                unit: SOURCE_UNIT.into(),
                metric: "future_updates".into(),
                scope: scope.clone(),
                period: "-".into(),
            };
            let baseline = stored
                .get(&key)
                .and_then(|a| a.notified_numerator)
                .unwrap_or(0);
            checks.push((
                "future_updates".into(),
                scope.clone(),
                f.records > baseline,
                f.records,
                format!(
                    "{scope}: {} record(s) with NgayCapNhat later than dondoc's clock allows (the furthest: {}). \
                     They are stored with the time dondoc read them, and the sync mark stays within \
                     sources.{}.allowed_skew_secs of the clock, so syncing goes on. Ask the vendor to check \
                     the server's clock or the data; `dondoc status` lists them",
                    f.records,
                    crate::domain::time::rfc3339(f.latest_claimed),
                    f.source
                ),
            ));
        }
    }
    // The database's disk, before it is full (SQLite; docs/operations.md).
    if let Some(Ok(disk)) = app.store.disk_space() {
        let low = disk.is_low(s.health.min_free_disk_mib, s.health.min_free_disk_percent);
        checks.push((
            "disk_space_low".into(),
            String::new(),
            low,
            (disk.free_bytes / (1024 * 1024)) as i64,
            format!(
                "disk space low: {}; free space there before the database's writes fail",
                disk.describe()
            ),
        ));
    }
    let mut out = Vec::new();
    for (metric, scope, bad, n, detail) in checks {
        let key = AlertKey {
            unit: SOURCE_UNIT.into(),
            metric,
            scope,
            period: "-".into(),
        };
        let obs = Observation {
            state: if bad { RowState::Breach } else { RowState::Ok },
            numerator: n,
            denominator: 1,
            target: None,
            worsening: false,
        };
        let prev = stored.get(&key);
        let mut next = step(prev, &key, &obs, &policy, now);
        if bad {
            next.detail = Some(detail);
        }
        if prev != Some(&next) {
            out.push(next);
        }
    }
    Ok(out)
}

/// The period of an alert key, when it is a calendar period.
pub fn period_of(key: &AlertKey) -> Option<Period> {
    key.period.parse().ok()
}

/// The metric of an alert key, when it is a rate.
pub fn metric_of(key: &AlertKey) -> Option<Metric> {
    Metric::from_name(&key.metric)
}
