//! The national public-service portal's published Decision 766 figures: a polite daily
//! collection over its public reporting API (score766.md, "The portal's published figures"),
//! stored as their own time series (`portal_figures`) and shown beside dondoc's estimate.
//!
//! Etiquette, as the spec asks and docs/score.md tells administrators:
//! - one request at a time (one collection holds a lock; pages and endpoints are read in turn);
//! - at least `portal.min_interval_ms` between two requests (default 1 s) plus a random jitter of
//!   up to `portal.jitter_ms`; the wait is measured on the injected clock and waited through an
//!   injected [`Waiter`] (tests advance a manual clock instead of sleeping);
//! - a User-Agent naming dondoc, its version and `portal.contact`;
//! - timeouts, connection errors and 5xx are retried a few times (`portal.max_attempts`) with
//!   exponential backoff (the one retry policy of [`crate::upstream::client::RetryPolicy`]);
//! - **a circuit breaker**: 401, 403, 429 or an HTML answer (a "request rejected" page) opens the
//!   circuit at once, without retrying. It is kept in the database, so it stays open across
//!   restarts, and no request is made until a person runs `dondoc score portal-reset`.
//!
//! The API's shape as dondoc reads it (docs/score.md): `POST {base_url}/api/v1/reporting/
//! evaluation/{endpoint}` with a JSON body `{timeType, year, quarter | month, rootDepartmentId,
//! currentPage, pageSize}` (satisfaction also `fromDate`/`toDate`, `yyyy-MM-dd`); the answer holds
//! a list of units (`data.content`, `data.items`, `content`, `items`, `data` or the root array;
//! tree endpoints nest `children`), each with `departmentCode` (or `departmentId`),
//! `totalScore`, `totalMaxScore`, counts such as `totalReceived`, and `metrics`
//! `[{code, numerator, denominator, ratio, score, maxScore}]`; `totalPages` (at the root or in
//! `data`) pages the list. Unknown fields are ignored.
//!
//! This module never touches dossiers or rates: it stores aggregates the portal publishes.

use super::points::Group;
use crate::app::App;
use crate::config::PortalSettings;
use crate::domain::time::Clock;
use crate::domain::time::{Epoch, epoch, rfc3339, to_local};
use crate::domain::{Period, PeriodKind};
use crate::store::{PortalCircuit, PortalFigure, StoreError};
use crate::upstream::client::RetryPolicy;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The six reports and the group each scores, in the order they are read.
pub const ENDPOINTS: [(&str, Group); 6] = [
    ("transparency", Group::Ckmb),
    ("dvc-progress-tree", Group::Tdgq),
    ("provide-online-tree", Group::Clgq),
    ("formality-online-payment-tree", Group::Tttt),
    ("handling-satisfaction", Group::Mdhl),
    ("dossier-digitized", Group::Mdsh),
];

/// The path of a report under `base_url`.
pub fn path_of(endpoint: &str) -> String {
    format!("/api/v1/reporting/evaluation/{endpoint}")
}

/// The job's name in `job_runs`.
pub const JOB: &str = "portal";

/// Why a collection did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("there is no enabled [portal] section in the configuration: nothing to collect")]
    NotConfigured,
    #[error(
        "the portal collector's circuit is open since {since} ({reason}); no request was made. When the cause is dealt with, run `dondoc score portal-reset`"
    )]
    CircuitOpen { reason: String, since: String },
    #[error(
        "the portal refused a request ({what}) at {url}; the circuit is now open and no request will be made until a person runs `dondoc score portal-reset`"
    )]
    Refused { url: String, what: String },
    #[error("{url} still failing after {attempts} attempt(s); last error: {last}")]
    Exhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("the portal's answer at {url} cannot be read: {detail}")]
    Parse { url: String, detail: String },
    #[error("cannot build the HTTP client for the portal: {0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the collector waits between requests: real time in the daemon, a manual clock in tests.
pub trait Waiter: Send + Sync {
    fn wait(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Waits in real time (`tokio::time::sleep`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioWaiter;

impl Waiter for TokioWaiter {
    fn wait(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectReport {
    pub requests: u32,
    pub figures: usize,
    pub periods: Vec<String>,
}

/// One collection at a time per process (one request at a time).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The daily job: collects with real waits.
pub async fn run_once(app: &App, now: Epoch) -> Result<CollectReport, PortalError> {
    collect(app, Arc::new(TokioWaiter), now).await
}

/// Resets the circuit (a person's decision). Returns the state it had.
pub async fn reset(app: &App) -> Result<PortalCircuit, PortalError> {
    let before = app.store.portal_circuit().await?;
    let after = PortalCircuit {
        open: false,
        reason: None,
        opened_at: None,
        ..before.clone()
    };
    app.store.set_portal_circuit(&after).await?;
    tracing::info!(was_open = before.open, "portal circuit reset by hand");
    Ok(before)
}

/// The periods a collection at `now` reads: the current month, quarter and year, and the month
/// and quarter just ended while they are less than 7 days old (their final figures appear after
/// the portal's next nightly refresh).
pub fn periods_at(now: Epoch) -> Vec<Period> {
    let mut out: Vec<Period> = PeriodKind::ALL
        .iter()
        .map(|k| Period::containing(*k, now))
        .collect();
    for k in [PeriodKind::Month, PeriodKind::Quarter] {
        let p = Period::containing(k, now);
        if now - p.start() < 7 * 86_400 {
            out.push(p.previous());
        }
    }
    out
}

/// Collects every report for [`periods_at`] `now` and stores the figures, waiting through
/// `waiter`. Stops at the first refusal (the circuit opens) or exhausted request.
pub async fn collect(
    app: &App,
    waiter: Arc<dyn Waiter>,
    now: Epoch,
) -> Result<CollectReport, PortalError> {
    let Some(cfg) = app.settings.portal.as_ref().filter(|p| p.enabled) else {
        return Err(PortalError::NotConfigured);
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let mut circuit = app.store.portal_circuit().await?;
    if circuit.open {
        return Err(PortalError::CircuitOpen {
            reason: circuit.reason.clone().unwrap_or_default(),
            since: circuit.opened_at.map(rfc3339).unwrap_or_default(),
        });
    }
    circuit.last_attempt_at = Some(now);
    app.store.set_portal_circuit(&circuit).await?;
    let mut c = Collector::new(cfg, app.clock.clone(), waiter)?;
    let result = c.collect_all(app, now).await;
    match &result {
        Ok(_) => {
            circuit.last_success_at = Some(now);
            circuit.last_error = None;
        }
        Err(e) => {
            circuit.last_error = Some(e.to_string());
            if let PortalError::Refused { what, .. } = e {
                circuit.open = true;
                circuit.reason = Some(what.clone());
                circuit.opened_at = Some(epoch(app.clock.now()));
                tracing::error!(reason = %what, "portal circuit opened: no request until `dondoc score portal-reset`");
            }
        }
    }
    app.store.set_portal_circuit(&circuit).await?;
    let mut report = result?;
    report.requests = c.requests;
    Ok(report)
}

/// Reads the reports, politely.
struct Collector<'a> {
    cfg: &'a PortalSettings,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    waiter: Arc<dyn Waiter>,
    last_request: Option<DateTime<Utc>>,
    requests: u32,
    retry: RetryPolicy,
    /// Portal department code → dondoc unit.
    units: HashMap<String, String>,
}

impl<'a> Collector<'a> {
    fn new(
        cfg: &'a PortalSettings,
        clock: Arc<dyn Clock>,
        waiter: Arc<dyn Waiter>,
    ) -> Result<Self, PortalError> {
        let agent = format!(
            "dondoc/{} (+{}; one request at a time, daily)",
            env!("CARGO_PKG_VERSION"),
            cfg.contact.trim()
        );
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.min(10)))
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .user_agent(agent)
            .build()
            .map_err(|e| PortalError::Setup(e.to_string()))?;
        Ok(Collector {
            cfg,
            client,
            clock,
            waiter,
            last_request: None,
            requests: 0,
            retry: RetryPolicy {
                max_attempts: cfg.max_attempts.max(1),
                initial: Duration::from_millis(cfg.backoff_initial_ms),
                max: Duration::from_secs(60),
                retry_after_max: Duration::from_secs(0),
            },
            units: cfg
                .departments
                .iter()
                .map(|(unit, dept)| (dept.trim().to_string(), unit.clone()))
                .collect(),
        })
    }

    async fn collect_all(&mut self, app: &App, now: Epoch) -> Result<CollectReport, PortalError> {
        let day = to_local(now).format("%Y-%m-%d").to_string();
        let mut report = CollectReport::default();
        for period in periods_at(now) {
            for (endpoint, group) in ENDPOINTS {
                let rows = self.read_report(endpoint, period).await?;
                let figures = self.figures(&rows, period, group, &day, now);
                app.store.save_portal_figures(&figures).await?;
                report.figures += figures.len();
            }
            report.periods.push(period.to_string());
        }
        tracing::info!(
            requests = self.requests,
            figures = report.figures,
            "portal figures collected"
        );
        Ok(report)
    }

    /// Every unit row of one report and period, all pages.
    async fn read_report(
        &mut self,
        endpoint: &str,
        period: Period,
    ) -> Result<Vec<Value>, PortalError> {
        let url = format!(
            "{}{}",
            self.cfg.base_url.trim_end_matches('/'),
            path_of(endpoint)
        );
        let mut rows = Vec::new();
        let mut page = 1u32;
        loop {
            let body = self.body(endpoint, period, page);
            let answer = self.post(&url, &body).await?;
            let (list, pages) = unit_list(&answer).ok_or_else(|| PortalError::Parse {
                url: url.clone(),
                detail: "no list of units (data.content, content, items or an array)".into(),
            })?;
            let n = list.len();
            flatten(list, &mut rows);
            let more = match pages {
                Some(p) => u64::from(page) < p,
                None => n as u64 >= u64::from(self.cfg.page_size),
            };
            if !more || n == 0 || page >= 1000 {
                break;
            }
            page += 1;
        }
        Ok(rows)
    }

    fn body(&self, endpoint: &str, p: Period, page: u32) -> Value {
        let mut b = json!({
            "timeType": match p.kind {
                PeriodKind::Month => "MONTH",
                PeriodKind::Quarter => "QUARTER",
                PeriodKind::Year => "YEAR",
            },
            "year": p.year,
            "rootDepartmentId": self.cfg.root_department_id,
            "currentPage": page,
            "pageSize": self.cfg.page_size,
        });
        if let Some(o) = b.as_object_mut() {
            match p.kind {
                PeriodKind::Month => {
                    o.insert("month".into(), json!(p.index));
                }
                PeriodKind::Quarter => {
                    o.insert("quarter".into(), json!(p.index));
                }
                PeriodKind::Year => {}
            }
            if endpoint == "handling-satisfaction" {
                let last = p.end() - 1;
                o.insert(
                    "fromDate".into(),
                    json!(to_local(p.start()).format("%Y-%m-%d").to_string()),
                );
                o.insert(
                    "toDate".into(),
                    json!(to_local(last).format("%Y-%m-%d").to_string()),
                );
            }
        }
        b
    }

    /// Waits out the politeness interval (measured on the injected clock).
    async fn pace(&mut self) {
        if let Some(last) = self.last_request {
            let jitter = if self.cfg.jitter_ms > 0 {
                rand::rng().random_range(0..=self.cfg.jitter_ms)
            } else {
                0
            };
            let gap = chrono::Duration::milliseconds((self.cfg.min_interval_ms + jitter) as i64);
            let due = last + gap;
            let now = self.clock.now();
            if due > now
                && let Ok(d) = (due - now).to_std()
            {
                self.waiter.wait(d).await;
            }
        }
        self.last_request = Some(self.clock.now());
    }

    /// One POST with the retry policy and the circuit's rules.
    async fn post(&mut self, url: &str, body: &Value) -> Result<Value, PortalError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace().await;
            self.requests += 1;
            let outcome = self.client.post(url).json(body).send().await;
            let last = match outcome {
                Err(e) => format!("{e}"),
                Ok(resp) => {
                    let status = resp.status();
                    let html = resp
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
                    if matches!(status.as_u16(), 401 | 403 | 429) {
                        return Err(PortalError::Refused {
                            url: url.into(),
                            what: format!("HTTP {}", status.as_u16()),
                        });
                    }
                    match resp.bytes().await {
                        Err(e) => format!("reading the answer: {e}"),
                        Ok(bytes) => {
                            let looks_html = {
                                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
                                    .trim_start()
                                    .to_ascii_lowercase();
                                head.starts_with('<')
                            };
                            if html || looks_html {
                                return Err(PortalError::Refused {
                                    url: url.into(),
                                    what: format!(
                                        "an HTML page instead of JSON (HTTP {}), such as a \"request rejected\" page",
                                        status.as_u16()
                                    ),
                                });
                            }
                            if status.is_success() {
                                return serde_json::from_slice(&bytes).map_err(|e| {
                                    PortalError::Parse {
                                        url: url.into(),
                                        detail: format!("not JSON: {e}"),
                                    }
                                });
                            }
                            if !status.is_server_error() {
                                return Err(PortalError::Exhausted {
                                    url: url.into(),
                                    attempts: attempt,
                                    last: format!("HTTP {} (not retried)", status.as_u16()),
                                });
                            }
                            format!("HTTP {}", status.as_u16())
                        }
                    }
                }
            };
            if attempt >= self.retry.max_attempts {
                return Err(PortalError::Exhausted {
                    url: url.into(),
                    attempts: attempt,
                    last,
                });
            }
            tracing::warn!(url, attempt, error = %last, "portal request failed; retrying");
            let wait = self.retry.backoff(attempt);
            self.waiter.wait(wait).await;
        }
    }

    fn figures(
        &self,
        rows: &[Value],
        period: Period,
        group: Group,
        day: &str,
        now: Epoch,
    ) -> Vec<PortalFigure> {
        let mut out: BTreeMap<String, PortalFigure> = BTreeMap::new();
        for r in rows {
            let Some(o) = r.as_object() else { continue };
            let Some((dept, unit)) = ["departmentCode", "departmentId", "code", "id"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(as_text))
                .find_map(|d| self.units.get(&d).map(|u| (d.clone(), u.clone())))
            else {
                continue;
            };
            let received = ["totalReceived", "totalDossier", "totalDossiers"]
                .iter()
                .find_map(|k| o.get(*k).and_then(as_i64));
            out.insert(
                unit.clone(),
                PortalFigure {
                    unit,
                    period: period.to_string(),
                    group: group.code().into(),
                    day: day.into(),
                    department: dept,
                    score: o.get("totalScore").and_then(as_f64),
                    max_score: o.get("totalMaxScore").and_then(as_f64),
                    received,
                    detail: Value::Object(detail(o)).to_string(),
                    fetched_at: now,
                },
            );
        }
        out.into_values().collect()
    }
}

/// The list of units in an answer, and its page count when given.
fn unit_list(v: &Value) -> Option<(&Vec<Value>, Option<u64>)> {
    let pages = |o: &Value| {
        o.get("totalPages")
            .or_else(|| o.get("totalPage"))
            .and_then(as_i64)
            .map(|p| p.max(0) as u64)
    };
    if let Some(a) = v.as_array() {
        return Some((a, None));
    }
    let data = v.get("data");
    for holder in [data, Some(v)].into_iter().flatten() {
        if let Some(a) = holder.as_array() {
            return Some((a, pages(v)));
        }
        for key in ["content", "items", "list"] {
            if let Some(a) = holder.get(key).and_then(Value::as_array) {
                return Some((a, pages(holder).or_else(|| pages(v))));
            }
        }
    }
    None
}

/// Rows with their `children`, depth first.
fn flatten(list: &[Value], out: &mut Vec<Value>) {
    for r in list {
        out.push(r.clone());
        if let Some(kids) = r.get("children").and_then(Value::as_array) {
            flatten(kids, out);
        }
    }
}

/// What is kept of a row: its numbers and its metrics (no names, no children).
fn detail(o: &Map<String, Value>) -> Map<String, Value> {
    o.iter()
        .filter(|(k, v)| v.is_number() || (k.as_str() == "metrics" && v.is_array()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.round() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_found_in_every_documented_place() {
        let a = json!({"data": {"content": [{"departmentCode": "X"}], "totalPages": 3}});
        let (l, p) = unit_list(&a).unwrap();
        assert_eq!((l.len(), p), (1, Some(3)));
        let b = json!([{"departmentCode": "X"}, {"departmentCode": "Y"}]);
        assert_eq!(unit_list(&b).unwrap().0.len(), 2);
        let c = json!({"items": [], "totalPages": 0});
        assert_eq!(unit_list(&c).unwrap().1, Some(0));
        assert!(unit_list(&json!({"message": "x"})).is_none());
        let mut rows = Vec::new();
        flatten(
            &[json!({"departmentCode": "P", "children": [{"departmentCode": "C"}]})],
            &mut rows,
        );
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn periods_read_include_the_just_ended_ones_for_a_week() {
        let t = |s: &str| crate::domain::time::parse_compact(s).unwrap().unwrap();
        let labels = |v: Vec<Period>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            labels(periods_at(t("20261003063000"))),
            ["2026-10", "2026-Q4", "2026", "2026-09", "2026-Q3"]
        );
        assert_eq!(
            labels(periods_at(t("20261115063000"))),
            ["2026-11", "2026-Q4", "2026"]
        );
    }
}
