//! The dashboard: the rates as pictures, in Vietnamese, rendered on the server (HTML with inline
//! SVG; no script, no request leaving the intranet), readable on a phone and in grey print (every
//! state is shown by colour *and* by an icon and a word).
//!
//! - `/`: units (as a tree) × criteria: value, target, state, a sparkline of the last 90 days and a
//!   trend arrow; `?period=month|quarter|year`; the last sync and any stale source on top; then a
//!   small chart per criterion ranking the units (best first, by state, with the target line);
//! - `/units/{code}`: one chart per criterion over the period and the previous one, with the target
//!   line and the projection to the period's end (from the recent pace, with its range), then the
//!   rate's daily series across the last year with the target line and the period boundaries
//!   (history from the first day: the backfill fills the past), the numbers beneath; the unit's
//!   open alerts and action lists (dossier codes only);
//! - `/quality`: data-quality counts; `/alerts`: current alerts and the outbox.
//! - Issue 19: the overview's last column is each unit's estimated Decision 766 points (of the 46
//!   dondoc can see) and the points it loses; the unit page has a section with every group and
//!   indicator, what wins points back (with dossier codes) and the portal's published figures
//!   beside them; `/quality` lists where the portal's figures differ from dondoc's beyond the
//!   tolerance of `[portal]` (a sync gap costs points) and the collector's circuit.
//!
//! Read-only, from the stored time series (the same numbers as `/metrics` and `dondoc history`);
//! the series of a page is built once per sync and kept in memory, so pages stay fast at any
//! scale. Never shows personal data.

use crate::alerts::digest;
use crate::alerts::lifecycle::Phase;
use crate::config::Settings;
use crate::daemon::Daemon;
use crate::domain::time::{Epoch, epoch, to_local};
use crate::rates::evaluate::{judge, unit_target};
use crate::rates::projection::project;
use crate::rates::{Metric, Period, PeriodKind, Row, RowState, TargetView, UnitTree};
use crate::store::Sample;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

#[derive(Debug, serde::Deserialize)]
pub struct PeriodQuery {
    pub period: Option<String>,
}

fn kind_of(q: &PeriodQuery) -> PeriodKind {
    match q.period.as_deref() {
        Some("month") => PeriodKind::Month,
        Some("year") => PeriodKind::Year,
        _ => PeriodKind::Quarter,
    }
}

/// (unit, metric, scope) → the daily series of a period kind: (day's instant, numerator,
/// denominator, period id), oldest first.
type Series = HashMap<(String, String, String), Vec<(Epoch, i64, i64, String)>>;

/// The criteria shown: every metric, then each scoped target.
fn criteria(s: &Settings) -> Vec<(Metric, Option<String>)> {
    let mut out: Vec<(Metric, Option<String>)> = Metric::ALL.iter().map(|m| (*m, None)).collect();
    for st in &s.scoped_targets {
        if let Some(m) = Metric::from_name(&st.metric) {
            out.push((m, Some(st.scope.clone())));
        }
    }
    out
}

fn target_for(
    s: &Settings,
    unit: &str,
    metric: Metric,
    scope: &Option<String>,
) -> Option<TargetView> {
    match scope {
        None => unit_target(s, unit, metric),
        Some(sc) => s
            .scoped_targets
            .iter()
            .find(|t| &t.scope == sc && t.metric == metric.as_str())
            .and_then(|t| {
                let spec = t.spec();
                (spec.min.is_some() || spec.max.is_some()).then(|| TargetView {
                    min: spec.min,
                    max: spec.max,
                    min_sample: spec.min_sample.unwrap_or(s.alerts.min_sample),
                })
            }),
    }
}

/// The series of the last `days` days for periods of `kind` (each day's sample of the period
/// that contained that day).
async fn series(
    daemon: &Daemon,
    kind: PeriodKind,
    days: i64,
    now: Epoch,
) -> Result<Series, String> {
    let app = daemon.app();
    let since = to_local(now - days * 86_400).format("%Y-%m-%d").to_string();
    let samples: Vec<Sample> = app
        .store
        .samples_since(&since)
        .await
        .map_err(|e| e.to_string())?;
    let mut out: Series = HashMap::new();
    for s in samples {
        let Ok(p) = s.period.parse::<Period>() else {
            continue;
        };
        if p.kind != kind || Period::containing(kind, sample_day(&s)) != p {
            continue;
        }
        out.entry((s.unit, s.metric, s.scope)).or_default().push((
            s.as_of,
            s.numerator,
            s.denominator,
            s.period,
        ));
    }
    Ok(out)
}

/// The local midnight starting a sample's day (a past day's sample is taken as of the midnight
/// that ends it, which already belongs to the next day).
fn sample_day(s: &Sample) -> Epoch {
    chrono::NaiveDate::parse_from_str(&s.day, "%Y-%m-%d")
        .map(crate::rates::backfill::day_start)
        .unwrap_or(s.as_of)
}

/// Days shown by the year charts of a unit page.
const YEAR_DAYS: i64 = 365;

/// One rate's daily series over the last year for periods of `kind`: (instant, numerator,
/// denominator, period id), oldest first; each day's sample of the period containing that day.
async fn year_series(
    daemon: &Daemon,
    unit: &str,
    metric: Metric,
    scope: &Option<String>,
    kind: PeriodKind,
    now: Epoch,
) -> Vec<(Epoch, i64, i64, String)> {
    let from = now - YEAR_DAYS * 86_400;
    daemon
        .app()
        .store
        .samples(unit, metric.as_str(), scope.as_deref().unwrap_or(""))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.as_of >= from)
        .filter(|s| {
            s.period
                .parse::<Period>()
                .is_ok_and(|p| p.kind == kind && Period::containing(kind, sample_day(s)) == p)
        })
        .map(|s| (s.as_of, s.numerator, s.denominator, s.period))
        .collect()
}

/// The scale of a chart: 0–100 %, or for a `max` target (late_rate ≤ 1 %) up to three times the
/// target or the highest value, whichever is larger.
fn chart_top(target: Option<TargetView>, values: impl Iterator<Item = f64>) -> f64 {
    match target {
        Some(TargetView { max: Some(m), .. }) => {
            let highest = values.fold(0.0, f64::max);
            (3.0 * m / 100.0).max(highest * 1.1).clamp(0.01, 1.0)
        }
        _ => 1.0,
    }
}

/// A short label of a period for a chart's axis: "T5/24", "Q2/24", "2024".
fn short_label(p: Period) -> String {
    match p.kind {
        PeriodKind::Month => format!("T{}/{:02}", p.index, p.year % 100),
        PeriodKind::Quarter => format!("Q{}/{:02}", p.index, p.year % 100),
        PeriodKind::Year => p.year.to_string(),
    }
}

/// An SVG chart of one rate's daily series across the last year: one line per period (each
/// period's rate starts afresh at its boundary, drawn as a dashed vertical line with the period's
/// name), and the target line.
fn year_chart(
    kind: PeriodKind,
    points: &[(Epoch, i64, i64, String)],
    target: Option<TargetView>,
    now: Epoch,
) -> Markup {
    let (w, h, pad) = (600.0, 170.0, 30.0);
    let from = now - YEAR_DAYS * 86_400;
    let vals: Vec<(Epoch, f64, &str)> = points
        .iter()
        .filter(|p| p.2 > 0)
        .map(|p| (p.0, p.1 as f64 / p.2 as f64, p.3.as_str()))
        .collect();
    let top = chart_top(target, vals.iter().map(|v| v.1));
    let x = |t: Epoch| {
        pad + (w - 2.0 * pad) * ((t - from) as f64 / (now - from) as f64).clamp(0.0, 1.0)
    };
    let y = |v: f64| h - pad + (2.0 * pad - h) * (v / top).clamp(0.0, 1.0);
    let mut boundaries = Vec::new();
    let mut p = Period::containing(kind, from);
    while p.start() <= now {
        boundaries.push(p);
        p = Period::containing(kind, p.end());
    }
    let mut lines: Vec<String> = Vec::new();
    let mut last_period = "";
    for (t, v, id) in &vals {
        if *id != last_period || lines.is_empty() {
            lines.push(String::new());
            last_period = id;
        }
        if let Some(l) = lines.last_mut() {
            let _ = write!(l, "{:.1},{:.1} ", x(*t), y(*v));
        }
    }
    let target_v = target.and_then(|t| t.min.or(t.max)).map(|v| v / 100.0);
    html! {
        svg.year viewBox=(format!("0 0 {w} {h}")) width="100%" role="img" aria-label="diễn biến theo ngày trong năm" data-days=(points.len()) {
            @for f in [0.0, 0.5, 1.0] {
                @let v = f * top;
                line x1=(pad) x2=(w - pad) y1=(y(v)) y2=(y(v)) stroke="#e3e6eb" {}
                text x="2" y=(y(v) + 4.0) font-size="10" fill="#666" { (pct(v)) }
            }
            @for b in &boundaries {
                @let bx = x(b.start().max(from));
                line.boundary x1=(bx) x2=(bx) y1=(pad - 10.0) y2=(h - pad) stroke="#9aa5b1" stroke-dasharray="3 3" {}
                text x=(bx + 3.0) y=(h - pad + 14.0) font-size="10" fill="#555" { (short_label(*b)) }
            }
            @if let Some(tv) = target_v {
                line.target x1=(pad) x2=(w - pad) y1=(y(tv)) y2=(y(tv)) stroke="#b7791f" stroke-width="1.5" {}
            }
            @for l in &lines {
                polyline.daily points=(l.trim_end()) fill="none" stroke="#123a6b" stroke-width="1.5" {}
            }
        }
    }
}

/// A small chart ranking the units on one criterion: one bar per unit with data, the best
/// first, coloured (and worded) by state, with the target line.
fn ranking_chart(metric: Metric, rows: &[(String, Row)]) -> Markup {
    let mut ranked: Vec<&(String, Row)> = rows.iter().filter(|r| r.1.value.is_some()).collect();
    ranked.sort_by(|a, b| {
        let (va, vb) = (a.1.value.unwrap_or(0.0), b.1.value.unwrap_or(0.0));
        let o = va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal);
        if metric.lower_is_better() {
            o
        } else {
            o.reverse()
        }
    });
    let target = rows.first().and_then(|r| r.1.target);
    let top = chart_top(target, ranked.iter().filter_map(|r| r.1.value));
    let (w, bar, label_w) = (300.0, 14.0, 120.0);
    let h = bar * ranked.len().max(1) as f64 + 6.0;
    let x = |v: f64| label_w + (w - label_w - 45.0) * (v / top).clamp(0.0, 1.0);
    let target_v = target.and_then(|t| t.min.or(t.max)).map(|v| v / 100.0);
    html! {
        svg.ranking viewBox=(format!("0 0 {w} {h}")) width="100%" role="img" aria-label=(format!("xếp hạng đơn vị: {}", metric.label_vi())) {
            @for (i, (name, row)) in ranked.iter().map(|r| (&r.0, &r.1)).enumerate() {
                @let yy = 3.0 + bar * i as f64;
                @let (class, icon, _) = state_look(row.state);
                @let fill = match class { "ok" => "#3c8d5a", "breach" => "#c0392b", _ => "#9aa5b1" };
                text x="0" y=(yy + 10.0) font-size="9" fill="#333" { (name.chars().take(24).collect::<String>()) }
                rect class=(class) x=(label_w) y=(yy + 1.0) width=(format!("{:.1}", x(row.value.unwrap_or(0.0)) - label_w)) height=(bar - 3.0) fill=(fill) {}
                text x=(x(row.value.unwrap_or(0.0)) + 2.0) y=(yy + 10.0) font-size="9" fill="#333" { (icon) " " (pct(row.value.unwrap_or(0.0))) }
            }
            @if let Some(tv) = target_v {
                line.target x1=(x(tv)) x2=(x(tv)) y1="0" y2=(h) stroke="#b7791f" stroke-width="1.5" {}
            }
        }
    }
}

fn pct(v: f64) -> String {
    let s = format!("{:.1}", v * 100.0);
    format!(
        "{} %",
        s.trim_end_matches('0')
            .trim_end_matches('.')
            .replace('.', ",")
    )
}

fn target_text(t: Option<TargetView>) -> String {
    match t {
        Some(TargetView { min: Some(v), .. }) => format!("≥ {}", pct(v / 100.0)),
        Some(TargetView { max: Some(v), .. }) => format!("≤ {}", pct(v / 100.0)),
        _ => "—".into(),
    }
}

/// An alert's phase in words.
fn phase_vi(p: Phase) -> &'static str {
    match p {
        Phase::Firing => "✗ Đang chưa đạt",
        Phase::Pending => "… Chờ xác nhận",
        Phase::Warning => "⚠ Có nguy cơ",
        Phase::Resolved => "✓ Đã đạt lại",
        Phase::Clear => "",
    }
}

/// (css class, icon, word) of a state.
fn state_look(s: RowState) -> (&'static str, &'static str, &'static str) {
    match s {
        RowState::Ok => ("ok", "✓", "Đạt"),
        RowState::Breach => ("breach", "✗", "Chưa đạt"),
        RowState::InsufficientSample => ("few", "…", "Ít mẫu"),
        RowState::NoData => ("none", "–", "Chưa có số liệu"),
        RowState::Untargeted => ("none", "·", "Không có chỉ tiêu"),
    }
}

/// A small polyline of the values (0..1) on a fixed 0–100 % scale.
fn sparkline(points: &[f64]) -> Markup {
    if points.len() < 2 {
        return html! { svg.spark width="90" height="22" role="img" aria-label="chưa đủ điểm" {} };
    }
    let mut path = String::new();
    let n = (points.len() - 1) as f64;
    for (i, v) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{:.1},{:.1} ",
            1.0 + 88.0 * i as f64 / n,
            21.0 - 20.0 * v.clamp(0.0, 1.0)
        );
    }
    html! {
        svg.spark width="90" height="22" viewBox="0 0 90 22" role="img" aria-label="diễn biến 90 ngày" {
            polyline points=(path.trim_end()) fill="none" stroke="currentColor" stroke-width="1.5" {}
        }
    }
}

/// ↑ ↓ → over the trend window, coloured by whether the move is good for the criterion.
fn trend(metric: Metric, series: &[(Epoch, i64, i64, String)], now: Epoch, days: i64) -> Markup {
    let vals: Vec<(Epoch, f64)> = series
        .iter()
        .filter(|p| p.2 > 0)
        .map(|p| (p.0, p.1 as f64 / p.2 as f64))
        .collect();
    let (Some(last), Some(first)) = (
        vals.last(),
        vals.iter().find(|(t, _)| *t >= now - days * 86_400),
    ) else {
        return html! { span.trend { "" } };
    };
    let d = last.1 - first.1;
    if d.abs() < 0.0005 {
        return html! { span.trend title="ổn định" { "→" } };
    }
    let good = if metric.lower_is_better() {
        d < 0.0
    } else {
        d > 0.0
    };
    let (arrow, word) = if d > 0.0 {
        ("↑", "tăng")
    } else {
        ("↓", "giảm")
    };
    html! { span class=(if good { "trend up" } else { "trend down" }) title=(format!("{word} {} điểm", pct(d.abs()).trim_end_matches(" %"))) { (arrow) } }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2433;background:#f7f8fa}
header{background:#123a6b;color:#fff;padding:.6rem 1rem}header a{color:#fff;margin-right:1rem}
main{padding:1rem;max-width:1400px}h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.1rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d5d9e0;padding:.3rem .45rem;font-size:.85rem;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}td.unit{white-space:nowrap;font-weight:600}
.ok{background:#e5f5ea;color:#145c2c}.breach{background:#fde8e8;color:#8c1d1d}.few{background:#f3f3f3;color:#555}.none{color:#777}
.cell .v{font-weight:700}.cell small{display:block;color:#444}.spark{display:block;color:#345}
.trend{font-weight:700;margin-left:.2rem}.trend.up{color:#145c2c}.trend.down{color:#8c1d1d}
.warn{background:#fff4d6;border:1px solid #e6c15a;padding:.5rem;margin:.5rem 0}
.meta{color:#cfd9e8;font-size:.85rem}.chart{background:#fff;border:1px solid #d5d9e0;margin:.5rem 0;padding:.4rem;max-width:640px}
nav.periods a{margin-right:.6rem}code{font-size:.85rem}
.rankings{display:flex;flex-wrap:wrap;gap:.5rem}.rank{background:#fff;border:1px solid #d5d9e0;padding:.3rem;width:310px}.rank h3{font-size:.85rem;margin:.1rem 0}
td.depth0{padding-left:.4rem}td.depth1{padding-left:1.6rem}td.depth2{padding-left:2.8rem}td.depth3{padding-left:4rem}td.depth4{padding-left:5.2rem}td.depth5{padding-left:6.4rem}td.depth6{padding-left:7.6rem}
@media print{header{background:none;color:#000}header a{color:#000}}
";

/// The deepest unit indentation the stylesheet has (deeper units are indented as much).
const MAX_DEPTH: usize = 6;

/// The `Content-Security-Policy` of every response: nothing may load but the page's own style
/// sheet (by its hash) and inline SVG; no script, no frame, no form, no base URL.
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    });
    &CSP
}

fn page(
    title: &str,
    daemon: &Daemon,
    now: Epoch,
    body: Markup,
    stale: &[String],
    last_sync: Option<Epoch>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — dondoc" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "Theo dõi chỉ tiêu cải cách hành chính" }
                    nav { a href="/" { "Tổng quan" } a href="/quality" { "Chất lượng dữ liệu" } a href="/alerts" { "Cảnh báo" } @if !daemon.app().settings.commitments.is_empty() { a href="/letter" { "Cam kết" } } }
                    div.meta {
                        "Cập nhật lúc " (to_local(now).format("%H:%M %d/%m/%Y"))
                        " · đồng bộ gần nhất: "
                        @match last_sync { Some(t) => (to_local(t).format("%H:%M %d/%m/%Y")), None => "chưa có" }
                    }
                }
                main {
                    @for s in stale { div.warn role="alert" { "⚠ " (s) } }
                    (body)
                }
            }
        }
    }
}

/// Stale sources (in words) and the time of the last successful sync.
async fn sync_banner(daemon: &Daemon, now: Epoch) -> (Vec<String>, Option<Epoch>) {
    let app = daemon.app();
    let max = app.settings.health.max_staleness_hours as i64 * 3600;
    let states = app.store.sync_states().await.unwrap_or_default();
    let last = states.iter().filter_map(|s| s.last_success_at).max();
    let stale = states
        .iter()
        .filter(|s| s.last_success_at.is_none_or(|t| now - t > max) || s.consecutive_failures > 0)
        .map(|s| {
            let when = s
                .last_success_at
                .map(|t| to_local(t).format("%H:%M %d/%m/%Y").to_string())
                .unwrap_or_else(|| "chưa bao giờ".into());
            format!(
                "Nguồn {}/{}: lần đồng bộ thành công gần nhất {when}{}",
                s.source,
                s.endpoint,
                s.last_error
                    .as_deref()
                    .map(|e| format!(" — lỗi: {e}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    (stale, last)
}

fn current_row(
    s: &Settings,
    unit: &str,
    metric: Metric,
    scope: &Option<String>,
    points: Option<&Vec<(Epoch, i64, i64, String)>>,
    period: Period,
) -> Row {
    let (n, d) = points
        .and_then(|p| p.last())
        .filter(|p| p.3 == period.to_string())
        .map(|p| (p.1, p.2))
        .unwrap_or((0, 0));
    let target = target_for(s, unit, metric, scope);
    Row {
        unit: unit.to_string(),
        unit_name: String::new(),
        depth: 0,
        metric,
        scope: scope.clone(),
        period,
        numerator: n,
        denominator: d,
        value: (d > 0).then(|| n as f64 / d as f64),
        target,
        state: judge(n, d, target),
    }
}

// ---- issue 19: the Decision 766 score on the dashboard ----

/// The score of the current period of `kind`, computed once after each sync and kept.
async fn scores(
    daemon: &Daemon,
    kind: PeriodKind,
    now: Epoch,
    last_sync: Option<Epoch>,
) -> Option<Arc<crate::score::ScoreSet>> {
    if let Ok(cache) = daemon.counters.scores.lock()
        && let Some((at, set)) = cache.get(&kind)
        && *at == last_sync
        && set.period == Period::containing(kind, now)
    {
        return Some(set.clone());
    }
    let app = daemon.app();
    let set = crate::score::compute_calendar(
        &app.store,
        &app.settings,
        kind,
        now,
        crate::score::Options { codes_cap: 10 },
    )
    .await
    .ok()
    .map(Arc::new)?;
    if let Ok(mut cache) = daemon.counters.scores.lock() {
        cache.insert(kind, (last_sync, set.clone()));
    }
    Some(set)
}

fn cents_vi(c: i64) -> String {
    crate::score::points::points_vi(c)
}

fn published_vi(v: f64) -> String {
    format!("{v:.2}").replace('.', ",")
}

/// The unit page's section: groups, indicators, what wins points back, the portal's figures.
fn score_section(u: &crate::score::UnitScore) -> Markup {
    let e = &u.estimate;
    html! {
        section.score {
            h2 { "Chỉ số Quyết định 766 (ước tính từ dữ liệu hồ sơ)" }
            p {
                b { (cents_vi(e.estimated_cents())) } " / " (cents_vi(e.estimable_max_cents())) " điểm dondoc tính được; mất "
                b { (cents_vi(u.lost_cents())) } " điểm. "
                (cents_vi(10_000 - e.estimable_max_cents())) " điểm còn lại cần dữ liệu dondoc không có."
                @if let Some(p) = &u.published { " Cổng Dịch vụ công quốc gia công bố: " b { (published_vi(p.total())) } " điểm (lấy lúc " (to_local(p.fetched_at).format("%H:%M %d/%m/%Y")) ")." }
            }
            table.groups {
                tr { th { "Nhóm" } th { "Ước tính" } th { "Tính được tối đa" } th { "Tối đa" } th { "Cổng công bố" } th { "Ghi chú" } }
                @for g in &e.groups {
                    tr data-group=(g.group.code()) {
                        td { (g.group.code()) " — " (g.group.label_vi()) }
                        td.num { @match g.estimated_cents { Some(c) => (cents_vi(c)), None => "không ước tính" } }
                        td.num { (cents_vi(g.estimable_max_cents)) }
                        td.num { (cents_vi(g.group.max_cents())) }
                        td.num { @match u.published.as_ref().and_then(|p| p.groups.get(g.group.code())) { Some(v) => (published_vi(*v)), None => "—" } }
                        td { @if let Some(n) = g.group.not_estimated_vi() { small { "Chưa ước tính: " (n) } } }
                    }
                }
            }
            table.indicators {
                tr { th { "Nhóm" } th { "Tiêu chí" } th { "Tử số / mẫu số" } th { "Tỷ lệ" } th { "Điểm" } th { "Tối đa" } }
                @for i in &e.indicators {
                    tr data-indicator=(i.indicator.name()) {
                        td { (i.indicator.group().code()) }
                        td { (i.indicator.label_vi()) @if !i.indicator.confirmed() { br; small { "⚠ cách tính điểm chưa được xác nhận" } } @if i.indicator == crate::score::points::Indicator::Satisfaction { br; small { "chưa gồm phản ánh, kiến nghị (PAKN)" } } }
                        td.num { (i.numerator) " / " (i.denominator) }
                        td.num { @match i.ratio() { Some(r) => (pct(r)), None => "không có hồ sơ" } }
                        td.num { (cents_vi(i.cents)) }
                        td.num { (cents_vi(i.indicator.max_cents())) }
                    }
                }
            }
            h3 { "Cách lấy lại điểm trong kỳ" }
            @if u.win_back.is_empty() { p { "Không có điểm nào lấy lại được trong kỳ này." } }
            ol.winback {
                @for w in &u.win_back {
                    li { (w.text)
                        @if !w.codes.is_empty() { br; small { "Hồ sơ (" (w.codes_total) "): " @for c in &w.codes { code { (c) } " " } @if w.codes_total > w.codes.len() as i64 { "…" } } }
                    }
                }
            }
        }
    }
}
// ---- end issue 19 ----

pub async fn overview(State(daemon): State<Arc<Daemon>>, Query(q): Query<PeriodQuery>) -> Response {
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let kind = kind_of(&q);
    let period = Period::containing(kind, now);
    let s = &app.settings;
    let series = match series(&daemon, kind, 90, now).await {
        Ok(x) => x,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read the database: {e}"),
            )
                .into_response();
        }
    };
    let (stale, last_sync) = sync_banner(&daemon, now).await;
    let score = scores(&daemon, kind, now, last_sync).await; // issue 19
    let tree = UnitTree::new(s);
    let crit = criteria(s);
    let trend_days = i64::from(s.alerts.trend_days);
    let label = period.label_vi();
    let body = html! {
        nav.periods {
            "Kỳ: "
            @for (k, name) in [(PeriodKind::Month, "Tháng"), (PeriodKind::Quarter, "Quý"), (PeriodKind::Year, "Năm")] {
                @if k == kind { b { (name) } " " } @else { a href=(format!("/?period={}", k.as_str())) { (name) } }
            }
        }
        h2 { (label) " — đến " (to_local(now).format("%d/%m/%Y")) }
        @if series.is_empty() {
            p.warn { "Chưa có số liệu: dondoc chưa đồng bộ và đánh giá lần nào. Số liệu xuất hiện sau lần đồng bộ đầu tiên." }
        }
        div.scroll {
            table {
                thead { tr {
                    th { "Đơn vị" }
                    @for (m, scope) in &crit { th { (m.label_vi()) @if let Some(sc) = scope { br; small { "(" (s.scope_name(sc)) ")" } } } }
                    th { "Điểm 766 (ước tính)" }
                } }
                tbody {
                    @for u in &tree.units {
                        tr {
                            td class=(format!("unit depth{}", u.depth.min(MAX_DEPTH))) {
                                a href=(format!("/units/{}?period={}", u.code, kind.as_str())) { (u.name) }
                            }
                            @for (m, scope) in &crit {
                                @let key = (u.code.clone(), m.as_str().to_string(), scope.clone().unwrap_or_default());
                                @let pts = series.get(&key);
                                @let row = current_row(s, &u.code, *m, scope, pts, period);
                                @let (class, icon, word) = state_look(row.state);
                                td class=(format!("cell {class}")) data-unit=(u.code) data-metric=(m.as_str()) data-state=(row.state.as_str()) {
                                    span.v { @match row.value { Some(v) => (pct(v)), None => "—" } }
                                    @if let Some(p) = pts { (trend(*m, p, now, trend_days)) }
                                    small { (icon) " " (word) " · " (target_text(row.target)) }
                                    small { (row.numerator) "/" (row.denominator) }
                                    (sparkline(&pts.map(|p| p.iter().filter(|x| x.2 > 0).map(|x| x.1 as f64 / x.2 as f64).collect::<Vec<_>>()).unwrap_or_default()))
                                }
                            }
                            @let us = score.as_ref().and_then(|x| x.unit(&u.code));
                            td.cell.points data-unit=(u.code) {
                                @if let Some(us) = us {
                                    span.v { (cents_vi(us.estimate.estimated_cents())) } small { "/ " (cents_vi(us.estimate.estimable_max_cents())) " · mất " (cents_vi(us.lost_cents())) }
                                    @if let Some(p) = &us.published { small { "Cổng: " (published_vi(p.total())) } }
                                } @else { "—" }
                            }
                        }
                    }
                }
            }
        }
        p { small { "Điểm 766: điểm ước tính theo Quyết định 766/QĐ-TTg trên 46 điểm dondoc tính được từ dữ liệu hồ sơ (các nhóm còn lại cần dữ liệu khác); chi tiết ở trang của từng đơn vị." } }
        p { small { "✓ Đạt · ✗ Chưa đạt · … Ít mẫu (dưới mức tối thiểu, không cảnh báo) · – Chưa có số liệu. Mũi tên: diễn biến " (trend_days) " ngày, màu xanh là tốt lên." } }
        h2 { "Xếp hạng đơn vị theo từng chỉ tiêu — " (label) }
        div.rankings {
            @for (m, scope) in &crit {
                @let rows: Vec<(String, Row)> = tree.units.iter().map(|u| {
                    let key = (u.code.clone(), m.as_str().to_string(), scope.clone().unwrap_or_default());
                    (u.name.clone(), current_row(s, &u.code, *m, scope, series.get(&key), period))
                }).collect();
                div.rank data-metric=(m.as_str()) {
                    h3 { (m.label_vi()) @if let Some(sc) = scope { " (" (s.scope_name(sc)) ")" } " · " (target_text(rows.first().and_then(|r| r.1.target))) }
                    (ranking_chart(*m, &rows))
                }
            }
        }
    };
    Html(page("Tổng quan", &daemon, now, body, &stale, last_sync).into_string()).into_response()
}

/// An SVG chart of one criterion: this period's series, the previous period's (dashed), the
/// target line and the projection to the period's end (dotted).
fn chart(
    period: Period,
    current: &[(Epoch, f64)],
    previous: &[(Epoch, f64)],
    target: Option<TargetView>,
    projection: Option<f64>,
) -> Markup {
    let (w, h, pad) = (600.0, 180.0, 30.0);
    let span = (period.end() - period.start()) as f64;
    let prev_start = period.previous().start();
    let prev_span = (period.previous().end() - prev_start) as f64;
    let x = |t: Epoch, start: Epoch, span: f64| {
        pad + (w - 2.0 * pad) * ((t - start) as f64 / span).clamp(0.0, 1.0)
    };
    // A `max` target (late_rate ≤ 1 %) is read on a scale that shows it: up to three times the
    // target or the highest value, whichever is larger; other rates on 0–100 %.
    let top = chart_top(
        target,
        current
            .iter()
            .chain(previous)
            .map(|p| p.1)
            .chain(projection),
    );
    let y = |v: f64| h - pad + (2.0 * pad - h) * (v / top).clamp(0.0, 1.0);
    let line = |pts: &[(Epoch, f64)], start: Epoch, span: f64| -> String {
        pts.iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t, start, span), y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let target_v = target.and_then(|t| t.min.or(t.max)).map(|v| v / 100.0);
    html! {
        svg.chart viewBox=(format!("0 0 {w} {h}")) width="100%" role="img" aria-label="biểu đồ" {
            @for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
                @let v = f * top;
                line x1=(pad) x2=(w - pad) y1=(y(v)) y2=(y(v)) stroke="#e3e6eb" {}
                text x="2" y=(y(v) + 4.0) font-size="10" fill="#666" { (pct(v)) }
            }
            @if let Some(tv) = target_v {
                line.target x1=(pad) x2=(w - pad) y1=(y(tv)) y2=(y(tv)) stroke="#b7791f" stroke-width="1.5" {}
                text x=(w - pad - 60.0) y=(y(tv) - 4.0) font-size="10" fill="#b7791f" { "chỉ tiêu" }
            }
            @if previous.len() > 1 {
                polyline.previous points=(line(previous, prev_start, prev_span)) fill="none" stroke="#9aa5b1" stroke-dasharray="4 3" {}
            }
            @if current.len() > 1 {
                polyline.current points=(line(current, period.start(), span)) fill="none" stroke="#123a6b" stroke-width="2" {}
            }
            @if let (Some(last), Some(p)) = (current.last(), projection) {
                line.projection x1=(x(last.0, period.start(), span)) y1=(y(last.1)) x2=(w - pad) y2=(y(p)) stroke="#123a6b" stroke-dasharray="1 3" stroke-width="2" {}
            }
        }
    }
}

pub async fn unit(
    State(daemon): State<Arc<Daemon>>,
    Path(code): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let app = daemon.app();
    let s = &app.settings;
    let tree = UnitTree::new(s);
    let Some(idx) = tree.index_of(&code) else {
        return (StatusCode::NOT_FOUND, Html(format!("<!DOCTYPE html><html lang=\"vi\"><meta charset=\"utf-8\"><p>Không có đơn vị mã {}.</p><p><a href=\"/\">Về trang tổng quan</a></p></html>", maud::html!{ (code) }.into_string()))).into_response();
    };
    let now = epoch(app.clock.now());
    let kind = kind_of(&q);
    let period = Period::containing(kind, now);
    let days = ((now - period.previous().start()) / 86_400) + 2;
    let series = match series(&daemon, kind, days, now).await {
        Ok(x) => x,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot read the database: {e}"),
            )
                .into_response();
        }
    };
    let (stale, last_sync) = sync_banner(&daemon, now).await;
    let unit = &tree.units[idx];
    let alerts: Vec<_> = app
        .store
        .alerts()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.key.unit == code && a.phase != Phase::Clear)
        .collect();
    let actions = digest::actions_full(&app, idx, &tree, now)
        .await
        .unwrap_or_default();
    let score = scores(&daemon, kind, now, last_sync).await; // issue 19
    let cur_id = period.to_string();
    let prev_id = period.previous().to_string();
    let mut years = HashMap::new();
    for (m, scope) in criteria(s) {
        let pts = year_series(&daemon, &code, m, &scope, kind, now).await;
        years.insert((m, scope), pts);
    }
    let body = html! {
        h2 { (unit.name) " — " (period.label_vi()) }
        nav.periods {
            @for (k, name) in [(PeriodKind::Month, "Tháng"), (PeriodKind::Quarter, "Quý"), (PeriodKind::Year, "Năm")] {
                @if k == kind { b { (name) } " " } @else { a href=(format!("/units/{}?period={}", code, k.as_str())) { (name) } }
            }
        }
        @if !alerts.is_empty() {
            h2 { "Cảnh báo đang mở" }
            ul { @for a in &alerts { li { (phase_vi(a.phase)) " · " (Metric::from_name(&a.key.metric).map(|m| m.label_vi()).unwrap_or(&a.key.metric)) @if !a.key.scope.is_empty() { " (" (s.scope_name(&a.key.scope)) ")" } " · " (a.key.period) " · " (a.numerator) "/" (a.denominator) } } }
        }
        @for (m, scope) in criteria(s) {
            @let key = (code.clone(), m.as_str().to_string(), scope.clone().unwrap_or_default());
            @let pts = series.get(&key);
            @let row = current_row(s, &code, m, &scope, pts, period);
            @let (class, icon, word) = state_look(row.state);
            @let cur: Vec<(Epoch, f64)> = pts.map(|p| p.iter().filter(|x| x.3 == cur_id && x.2 > 0).map(|x| (x.0, x.1 as f64 / x.2 as f64)).collect()).unwrap_or_default();
            @let prev: Vec<(Epoch, f64)> = pts.map(|p| p.iter().filter(|x| x.3 == prev_id && x.2 > 0).map(|x| (x.0, x.1 as f64 / x.2 as f64)).collect()).unwrap_or_default();
            @let base = pts.and_then(|p| p.iter().find(|x| x.3 == cur_id && x.0 >= now - i64::from(s.alerts.trend_days) * 86_400 && x.0 < now - 86_400)).map(|x| (x.0, x.1, x.2));
            @let projection = (row.denominator > 0).then(|| project(&row, &period, base, now));
            @let proj = projection.and_then(|p| p.at_end);
            @let range = projection.and_then(|p| p.range).filter(|(lo, hi)| hi - lo >= 0.001);
            section.chart data-metric=(m.as_str()) {
                h2 { (m.label_vi()) @if let Some(sc) = &scope { " (" (s.scope_name(sc)) ")" } }
                p class=(class) {
                    b { @match row.value { Some(v) => (pct(v)), None => "—" } } " · " (icon) " " (word) " · chỉ tiêu " (target_text(row.target))
                    " · " (row.numerator) "/" (row.denominator)
                    @if let Some(p) = proj { " · dự báo cuối kỳ theo tốc độ " (s.alerts.trend_days) " ngày qua " (pct(p)) @if let Some((lo, hi)) = range { " (khoảng " (pct(lo)) " – " (pct(hi)) ")" } }
                }
                (chart(period, &cur, &prev, row.target, proj))
                @if let Some(year) = years.get(&(m, scope.clone())).filter(|y| y.len() > 1) {
                    h3 { "Theo ngày, 12 tháng qua (mỗi " (match kind { PeriodKind::Month => "tháng", PeriodKind::Quarter => "quý", PeriodKind::Year => "năm" }) " tính lại từ đầu kỳ)" }
                    (year_chart(kind, year, row.target, now))
                }
                @if let Some(p) = pts {
                    details { summary { "Số liệu theo ngày" }
                        table { tr { th { "Ngày" } th { "Kỳ" } th { "Tử số" } th { "Mẫu số" } th { "Tỷ lệ" } }
                            @for x in p.iter().rev().take(31) {
                                tr { td { (to_local(x.0).format("%d/%m/%Y")) } td { (x.3) } td { (x.1) } td { (x.2) } td { @if x.2 > 0 { (pct(x.1 as f64 / x.2 as f64)) } @else { "—" } } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(us) = score.as_ref().and_then(|x| x.unit(&code)) { (score_section(us)) }
        h2 { "Việc cần làm (chỉ ghi mã hồ sơ)" }
        @for (title, list) in [("Hồ sơ trễ hạn chưa có phiếu xin lỗi", &actions.late_without_apology), ("Hồ sơ sắp đến hạn", &actions.due_soon), ("Hồ sơ đã giải quyết chưa số hóa kết quả", &actions.not_digitized)] {
            h3 { (title) " (" (list.total) ")" }
            @if list.items.is_empty() { p { "Không có." } } @else {
                table.actions { tr { th { "Mã hồ sơ" } th { "Thủ tục" } th { "Hạn" } }
                    @for it in &list.items { tr { td { code { (it.code) } } td { (it.procedure) } td { @if let Some(d) = it.due_at { (to_local(d).format("%d/%m/%Y")) } } } }
                }
                @if list.total > list.items.len() as i64 { p { "… và còn " (list.total - list.items.len() as i64) " hồ sơ." } }
            }
        }
    };
    Html(page(&unit.name, &daemon, now, body, &stale, last_sync).into_string()).into_response()
}

pub async fn quality(State(daemon): State<Arc<Daemon>>) -> Response {
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let (stale, last_sync) = sync_banner(&daemon, now).await;
    let cached = daemon.counters.latest.lock().ok().and_then(|l| l.clone());
    let quality = match cached
        .as_ref()
        .and_then(|evs| evs.iter().find(|e| e.period.kind == PeriodKind::Quarter))
    {
        Some(ev) => Some(ev.quality.clone()),
        None => {
            let q = Period::containing(PeriodKind::Quarter, now);
            crate::rates::evaluate(&app.store, &app.settings, q, now)
                .await
                .ok()
                .map(|e| e.quality)
        }
    };
    let states = app.store.sync_stats().await.unwrap_or_default();
    let portal_check = portal_quality(&daemon, now, last_sync).await; // issue 19
    let body = html! {
        h2 { "Chất lượng dữ liệu — " (Period::containing(PeriodKind::Quarter, now).label_vi()) }
        p { "Những gì các con số không thấy, để người đọc biết tin cậy số liệu đến đâu." }
        @if let Some(q) = &quality {
            table {
                tr { th { "Hồ sơ không có hạn trả kết quả (không bao giờ bị tính trễ hạn)" } td.num { (q.no_due_date) } }
                tr { th { "Hồ sơ có thủ tục không có trong danh mục (không tính vào tỷ lệ trực tuyến toàn trình)" } td.num { (q.unknown_procedure) } }
                tr { th { "Bản ghi bị loại" } td.num { (q.rejected.iter().map(|r| r.count).sum::<i64>()) } }
                tr { th { "Bản ghi có ngày cập nhật ở tương lai (không dùng để đánh dấu đồng bộ)" } td.num { (q.future_dated.iter().map(|f| f.records).sum::<i64>()) } }
            }
            @if !q.future_dated.is_empty() {
                h3 { "Ngày cập nhật ở tương lai, theo nguồn" }
                p { "Các bản ghi này vẫn được lưu, với thời điểm dondoc đọc chúng; mốc đồng bộ không vượt quá hiện tại + độ lệch cho phép (allowed_skew_secs)." }
                table.future { tr { th { "Nguồn" } th { "Số bản ghi" } th { "NgayCapNhat xa nhất" } th { "Thấy lần cuối" } }
                    @for f in &q.future_dated { tr { td { (f.source) "/" (f.endpoint) } td.num { (f.records) } td { (to_local(f.latest_claimed).format("%H:%M %d/%m/%Y")) } td { (to_local(f.last_seen).format("%H:%M %d/%m/%Y")) } } }
                }
            }
            h3 { "Mã đơn vị chưa thuộc đơn vị nào" }
            @if q.unmapped_dossier_codes.is_empty() && q.unmapped_document_codes.is_empty() { p { "Không có." } }
            ul.unmapped {
                @for (c, n) in &q.unmapped_dossier_codes { li { "DonViXuLy " code { (c) } ": " (n) " hồ sơ" } }
                @for (c, n) in &q.unmapped_document_codes { li { "MaDonVi " code { (c) } ": " (n) " văn bản" } }
            }
            h3 { "Bản ghi bị loại, theo lý do" }
            table.rejected { tr { th { "Nguồn" } th { "Loại" } th { "Lý do" } th { "Số bản ghi" } }
                @for r in &q.rejected { tr { td { (r.source) } td { (r.kind) } td { (r.reason) } td { (r.count) } } }
            }
        } @else { p.warn { "Chưa có số liệu." } }
        @if let Some(portal) = &portal_check { (portal) }
        h3 { "Nguồn dữ liệu" }
        table { tr { th { "Nguồn" } th { "Đồng bộ thành công gần nhất" } th { "Lỗi liên tiếp" } th { "Lần gần nhất: lấy / lưu / loại" } th { "Lỗi" } }
            @for st in &states {
                tr {
                    td { (st.state.source) "/" (st.state.endpoint) }
                    td { @if let Some(t) = st.state.last_success_at { (to_local(t).format("%H:%M %d/%m/%Y")) } @else { "chưa có" } }
                    td { (st.state.consecutive_failures) }
                    td { (st.last.fetched) " / " (st.last.stored) " / " (st.last.rejected) }
                    td { (st.state.last_error.clone().unwrap_or_default()) }
                }
            }
        }
    };
    Html(page("Chất lượng dữ liệu", &daemon, now, body, &stale, last_sync).into_string())
        .into_response()
}

// ---- issue 19: the portal's figures against dondoc's, on the data-quality page ----
async fn portal_quality(daemon: &Daemon, now: Epoch, last_sync: Option<Epoch>) -> Option<Markup> {
    let app = daemon.app();
    let cfg = app.settings.portal.clone()?;
    let set = scores(daemon, PeriodKind::Quarter, now, last_sync).await?;
    let gaps = crate::score::discrepancies(
        &set,
        crate::score::Tolerance {
            points: cfg.tolerance_points,
            count_pct: cfg.tolerance_count_pct,
        },
    );
    let circuit = app.store.portal_circuit().await.unwrap_or_default();
    Some(html! {
        h3 { "Số liệu Cổng Dịch vụ công quốc gia so với dondoc (" (set.period.label_vi()) ")" }
        @if circuit.open {
            p.warn role="alert" { "⚠ Đã ngừng lấy số liệu từ Cổng từ " (circuit.opened_at.map(|t| to_local(t).format("%H:%M %d/%m/%Y").to_string()).unwrap_or_default()) " (" (circuit.reason.clone().unwrap_or_default()) "). Khi đã xử lý nguyên nhân, chạy " code { "dondoc score portal-reset" } "." }
        }
        p { "Lần lấy thành công gần nhất: " @match circuit.last_success_at { Some(t) => (to_local(t).format("%H:%M %d/%m/%Y")), None => "chưa có" }
            @if let Some(e) = &circuit.last_error { " · lỗi gần nhất: " (e) } }
        @if gaps.is_empty() { p { "Không có chênh lệch vượt ngưỡng (" (published_vi(cfg.tolerance_points)) " điểm, " (published_vi(cfg.tolerance_count_pct)) "% số hồ sơ)." } }
        @else {
            p { "Chênh lệch vượt ngưỡng: hồ sơ chưa đồng bộ từ hệ thống một cửa lên Cổng làm mất điểm của đơn vị." }
            table.portal-gaps { tr { th { "Đơn vị" } th { "Nhóm" } th { "Chênh lệch" } }
                @for g in &gaps { tr.breach { td { (g.unit_name) } td { (g.group.code()) } td { (g.text) } } }
            }
        }
    })
}
// ---- end issue 19 ----

pub async fn alerts(State(daemon): State<Arc<Daemon>>) -> Response {
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let (stale, last_sync) = sync_banner(&daemon, now).await;
    let alerts: Vec<_> = app
        .store
        .alerts()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.phase != Phase::Clear)
        .collect();
    let outbox = app.store.outbox(50).await.unwrap_or_default();
    let tree = UnitTree::new(&app.settings);
    let name = |code: &str| {
        tree.units
            .iter()
            .find(|u| u.code == code)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let body = html! {
        h2 { "Cảnh báo (" (alerts.len()) ")" }
        table.alerts { tr { th { "Trạng thái" } th { "Đơn vị" } th { "Chỉ tiêu" } th { "Kỳ" } th { "Số liệu" } th { "Báo lần cuối" } }
            @for a in &alerts {
                tr class=(if a.phase == Phase::Firing { "breach" } else { "" }) {
                    td { (phase_vi(a.phase)) }
                    td { (name(&a.key.unit)) }
                    td { (Metric::from_name(&a.key.metric).map(|m| m.label_vi().to_string()).unwrap_or_else(|| a.key.metric.clone())) @if !a.key.scope.is_empty() { " (" (app.settings.scope_name(&a.key.scope)) ")" } }
                    td { (a.key.period) }
                    td { (a.detail.clone().unwrap_or_else(|| format!("{}/{}", a.numerator, a.denominator))) }
                    td { @if let Some(t) = a.last_notified_at { (to_local(t).format("%H:%M %d/%m/%Y")) } @else { "chưa" } }
                }
            }
        }
        h2 { "Hộp thư đi (" (outbox.len()) " thư gần nhất)" }
        table.outbox { tr { th { "#" } th { "Trạng thái" } th { "Gửi tới" } th { "Tiêu đề" } th { "Lần thử" } th { "Lỗi" } }
            @for m in &outbox { tr class=(if m.status == "failed" { "breach" } else { "" }) { td { (m.id) } td { (m.status) } td { (m.recipients) } td { (m.subject) } td { (m.attempts) } td { (m.last_error.clone().unwrap_or_default()) } } }
        }
    };
    Html(page("Cảnh báo", &daemon, now, body, &stale, last_sync).into_string()).into_response()
}

/// `GET /letter?period=2026-Q4`: the commitment letter's consolidation (docs/letter.md): every
/// criterion × unit, and the units whose form is not back. Default: the current quarter.
pub async fn letter(State(daemon): State<Arc<Daemon>>, Query(q): Query<PeriodQuery>) -> Response {
    use crate::letter::{register, status};
    let app = daemon.app();
    let now = epoch(app.clock.now());
    let (stale, last_sync) = sync_banner(&daemon, now).await;
    let period = match q.period.as_deref() {
        None => Ok(Period::containing(PeriodKind::Quarter, now)),
        Some(p) => register::parse_period(p),
    };
    let body = match period {
        Err(e) => html! { p.warn { (e) } },
        Ok(_) if app.settings.commitments.is_empty() => html! {
            p.warn { "Cấu hình chưa có danh mục cam kết ([[commitments]])." }
        },
        Ok(p) => match status::build(&app.store, &app.settings, p, now).await {
            Err(e) => html! { p.warn { "Không đọc được số liệu: " (e) } },
            Ok(c) => html! {
                h2 { "Kết quả thực hiện cam kết — " (c.label) }
                p { "Hạn gửi báo cáo: " (register::deadline_date(p).format("%d/%m/%Y"))
                    ". Đã gửi: " (c.returned.len()) " đơn vị; chưa gửi: " (c.not_returned.len()) " đơn vị." }
                @if !c.not_returned.is_empty() {
                    p.warn { "Chưa gửi báo cáo: " (c.not_returned.join(", ")) }
                }
                table.letter { tr { th { "Tiêu chí" } th { "Nội dung" } th { "Đơn vị" } th { "Kết quả" } th { "Chỉ tiêu" } th { "Đánh giá" } th { "Minh chứng" } }
                    @for r in &c.rows {
                        tr class=(match r.state {
                            status::State::Met => "ok",
                            status::State::Missed | status::State::Missing | status::State::Late => "breach",
                            _ => "few",
                        }) {
                            td { code { (r.criterion) } } td { (r.text) } td { (r.unit_name) }
                            td { (r.display) } td { (r.target) } td { (r.state.label_vi()) } td { (r.evidence) }
                        }
                    }
                }
            },
        },
    };
    Html(page("Cam kết", &daemon, now, body, &stale, last_sync).into_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        unit: &str,
        metric: Metric,
        n: i64,
        d: i64,
        target: Option<TargetView>,
    ) -> (String, Row) {
        (
            unit.to_string(),
            Row {
                unit: unit.to_string(),
                unit_name: unit.to_string(),
                depth: 0,
                metric,
                scope: None,
                period: "2024-Q2".parse().unwrap(),
                numerator: n,
                denominator: d,
                value: (d > 0).then(|| n as f64 / d as f64),
                target,
                state: judge(n, d, target),
            },
        )
    }

    #[test]
    fn the_ranking_puts_the_best_unit_first_for_either_direction() {
        let late = Some(TargetView {
            min: None,
            max: Some(1.0),
            min_sample: 1,
        });
        let rows = vec![
            row("MID", Metric::LateRate, 2, 100, late),
            row("WORST", Metric::LateRate, 9, 100, late),
            row("BEST", Metric::LateRate, 0, 100, late),
            row("EMPTY", Metric::LateRate, 0, 0, late),
        ];
        let svg = ranking_chart(Metric::LateRate, &rows).into_string();
        let (b, m, w) = (
            svg.find(">BEST<").unwrap(),
            svg.find(">MID<").unwrap(),
            svg.find(">WORST<").unwrap(),
        );
        assert!(b < m && m < w, "lower is better: {svg}");
        assert!(
            !svg.contains(">EMPTY<"),
            "a unit without data is not ranked"
        );
        assert!(svg.contains("class=\"breach\"") && svg.contains("class=\"target\""));
        let online = Some(TargetView {
            min: Some(70.0),
            max: None,
            min_sample: 1,
        });
        let rows = vec![
            row("LOW", Metric::OnlineRate, 10, 100, online),
            row("HIGH", Metric::OnlineRate, 90, 100, online),
        ];
        let svg = ranking_chart(Metric::OnlineRate, &rows).into_string();
        assert!(svg.find(">HIGH<").unwrap() < svg.find(">LOW<").unwrap());
    }

    #[test]
    fn the_year_chart_draws_one_line_per_period_between_boundaries() {
        let now = "2024-06-20"
            .parse::<chrono::NaiveDate>()
            .map(crate::rates::backfill::day_end)
            .unwrap();
        let day = 86_400;
        let pts: Vec<(Epoch, i64, i64, String)> = (0..300)
            .map(|k| {
                let t = now - (300 - k) * day;
                let p = Period::containing(PeriodKind::Quarter, t - 1);
                (t, 1, 10, p.to_string())
            })
            .collect();
        let svg = year_chart(PeriodKind::Quarter, &pts, None, now).into_string();
        assert!(svg.contains("data-days=\"300\""));
        // The points (300 days back from 20 June 2024) lie in four quarters, 2023-Q3 to 2024-Q2:
        // four lines; the axis (365 days) starts in 2023-Q2: five period marks.
        assert_eq!(svg.matches("class=\"daily\"").count(), 4, "{svg}");
        assert_eq!(svg.matches("class=\"boundary\"").count(), 5, "{svg}");
        assert!(svg.contains("Q1/24"));
    }
}
