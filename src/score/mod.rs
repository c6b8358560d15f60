//! The Decision 766 index as dondoc can estimate it (`../shared/spec/score766.md`, docs/score.md):
//! each unit's estimated points per period, the points it loses, what would win them back, and the
//! national portal's own published figures beside them.
//!
//! - [`points`]: the pure rules: indicators, groups, exact points, the ways to win points back;
//! - [`compute`] (here): from the store's exact counts (the same aggregation as the rates, plus
//!   the fee-bearing procedures) to every unit's [`UnitScore`] for one window, a parent summing
//!   its subtree's counts (distinct procedures as a union), with the action lists (dossier codes
//!   only) and the portal's latest figures for the period;
//! - [`portal`]: the polite collector of the portal's reporting API and its circuit breaker.
//!
//! Choices, written down for officials:
//! - the window is a calendar period or a reporting period (`start`, `end` given by the caller);
//!   it is evaluated at `as_of` exactly as the rates are (`e = min(end, as_of)`), so that the TDGQ
//!   points of a period are 20 × (1 − `late_rate`) of `status` for the same period and instant;
//! - the portal publishes calendar periods: its figures are shown beside the period of the same
//!   name on either basis;
//! - "the rest of the period" is projected at the pace so far: as many dossiers of each
//!   population per second as between the start and the horizon.
//!
//! This module reads the store and the configuration; it never writes rates or records, and it
//! never imports alerts, reports or the HTTP server (they import it).

pub mod points;
pub mod portal;

use crate::config::Settings;
use crate::domain::Tally;
use crate::domain::time::{Epoch, rfc3339};
use crate::rates::{Period, PeriodKind, UnitTree};
use crate::store::{ActionList, PortalFigure, Store, StoreError};
use points::{Estimate, Group, Indicator, ScoreCounts, WinBack, WinKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// One way to win points back, with the dossiers it names.
#[derive(Debug, Clone, PartialEq)]
pub struct WinBackItem {
    pub win: WinBack,
    /// What to do, in Vietnamese, with the count and the points.
    pub text: String,
    /// Dossier codes (`MaHoSo`) of the matching action list, first ones; empty when none applies.
    pub codes: Vec<String>,
    /// How many dossiers the action list holds in all.
    pub codes_total: i64,
}

/// The portal's published figures for a unit and period (its latest collection).
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Group code → `totalScore`.
    pub groups: BTreeMap<String, f64>,
    pub fetched_at: Epoch,
    /// The portal's dossier count of TDGQ, when given.
    pub received: Option<i64>,
}

impl Published {
    /// The sum of the published groups, rounded to 2 decimals.
    pub fn total(&self) -> f64 {
        (self.groups.values().sum::<f64>() * 100.0).round() / 100.0
    }

    fn of(figures: &[&PortalFigure]) -> Option<Published> {
        if figures.is_empty() {
            return None;
        }
        let mut groups = BTreeMap::new();
        let mut received = None;
        let mut fetched_at = 0;
        for f in figures {
            if let Some(score) = f.score {
                groups.insert(f.group.clone(), score);
            }
            if f.group == Group::Tdgq.code() {
                received = f.received;
            }
            fetched_at = fetched_at.max(f.fetched_at);
        }
        Some(Published {
            groups,
            fetched_at,
            received,
        })
    }
}

/// One unit's score for a window.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitScore {
    pub unit: String,
    pub name: String,
    pub depth: usize,
    pub counts: ScoreCounts,
    pub estimate: Estimate,
    /// Best first.
    pub win_back: Vec<WinBackItem>,
    pub published: Option<Published>,
}

impl UnitScore {
    /// Points lost on what dondoc estimates, in hundredths.
    pub fn lost_cents(&self) -> i64 {
        self.estimate.estimable_max_cents() - self.estimate.estimated_cents()
    }
}

/// Every unit's score for one window at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSet {
    pub period: Period,
    pub start: Epoch,
    pub end: Epoch,
    pub as_of: Epoch,
    /// `min(end, as_of)`, never before `start`.
    pub horizon: Epoch,
    /// In the unit tree's order (the root first).
    pub units: Vec<UnitScore>,
}

impl ScoreSet {
    pub fn unit(&self, code: &str) -> Option<&UnitScore> {
        self.units.iter().find(|u| u.unit == code)
    }
}

/// What to gather besides the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Dossier codes per action list and unit (0: no action lists are read).
    pub codes_cap: usize,
}

/// Scores every configured unit over the window `[start, end)` of `period` at `as_of`.
pub async fn compute(
    store: &Store,
    s: &Settings,
    period: Period,
    start: Epoch,
    end: Epoch,
    as_of: Epoch,
    opts: Options,
) -> Result<ScoreSet, StoreError> {
    let tree = UnitTree::new(s);
    let horizon = end.min(as_of).max(start);
    let window = [(start, horizon)];
    // The counts of the rates, by the rate engine over the facts the window can count (the
    // same numbers as `rates::evaluate`).
    let groups = crate::rates::engine::Engine::load(store, start, 1)
        .await?
        .tallies(&window)
        .await?
        .pop()
        .map(|(dossiers, _)| dossiers)
        .unwrap_or_default();
    let procedures = store
        .fee_procedures_many(&window)
        .await?
        .pop()
        .unwrap_or_default();
    let n = tree.units.len();
    let mut tallies = vec![Tally::default(); n];
    for g in &groups {
        if let Some(owner) = tree.one_stop_owner(&g.unit_code) {
            for &u in &tree.units[owner].lineage {
                tallies[u] += g.tally;
            }
        }
    }
    // Distinct procedures: the union over the subtree (paid when any dossier of any unit was).
    let mut procs: Vec<HashMap<&str, bool>> = vec![HashMap::new(); n];
    for p in &procedures {
        if let Some(owner) = tree.one_stop_owner(&p.unit_code) {
            for &u in &tree.units[owner].lineage {
                let paid = procs[u].entry(p.procedure_code.as_str()).or_insert(false);
                *paid |= p.paid_online;
            }
        }
    }
    let figures = store.portal_figures(&period.to_string()).await?;
    let mut units = Vec::with_capacity(n);
    for (i, node) in tree.units.iter().enumerate() {
        let counts = ScoreCounts {
            tally: tallies[i],
            fee_procedures: procs[i].len() as i64,
            fee_procedures_paid: procs[i].values().filter(|p| **p).count() as i64,
        };
        let estimate = points::estimate(&counts);
        let rest = |ind: Indicator| rest_of_period(&counts.tally, ind, start, horizon, end);
        let wins = points::win_back(&estimate, &rest);
        let mut win_back = Vec::with_capacity(wins.len());
        let codes = if opts.codes_cap > 0 && !wins.is_empty() {
            tree.subtree_one_stop_codes(s, i)
        } else {
            Vec::new()
        };
        for w in wins {
            let list = if opts.codes_cap == 0 || codes.is_empty() {
                ActionList::default()
            } else {
                match (w.indicator, w.kind) {
                    (Indicator::ElectronicResult, WinKind::Fix) => {
                        store
                            .not_digitized(&codes, start, horizon, opts.codes_cap)
                            .await?
                    }
                    (Indicator::OnTime | Indicator::Satisfaction, _) if horizon < end => {
                        store.due_soon(&codes, horizon, end, opts.codes_cap).await?
                    }
                    _ => ActionList::default(),
                }
            };
            win_back.push(WinBackItem {
                text: win_back_vi(&w, period.kind),
                codes: list.items.into_iter().map(|a| a.code).collect(),
                codes_total: list.total,
                win: w,
            });
        }
        let mine: Vec<&PortalFigure> = figures.iter().filter(|f| f.unit == node.code).collect();
        units.push(UnitScore {
            unit: node.code.clone(),
            name: node.name.clone(),
            depth: node.depth,
            counts,
            estimate,
            win_back,
            published: Published::of(&mine),
        });
    }
    Ok(ScoreSet {
        period,
        start,
        end,
        as_of,
        horizon,
        units,
    })
}

/// Scores the calendar period of `kind` containing `as_of`.
pub async fn compute_calendar(
    store: &Store,
    s: &Settings,
    kind: PeriodKind,
    as_of: Epoch,
    opts: Options,
) -> Result<ScoreSet, StoreError> {
    let p = Period::containing(kind, as_of);
    compute(store, s, p, p.start(), p.end(), as_of, opts).await
}

/// How many more dossiers of an indicator's population the rest of the window is expected to
/// bring, at the pace so far (0 once the window is over).
pub fn rest_of_period(t: &Tally, ind: Indicator, start: Epoch, horizon: Epoch, end: Epoch) -> i64 {
    if horizon >= end || horizon <= start {
        return 0;
    }
    let so_far = match ind {
        Indicator::OnTime | Indicator::Satisfaction | Indicator::OnlineSubmission => t.received,
        Indicator::PaidOnline => t.with_fee,
        Indicator::ElectronicResult => t.results,
        Indicator::ProceduresPaidOnline => 0,
    };
    ((so_far as i128 * (end - horizon) as i128) / (horizon - start) as i128) as i64
}

fn period_word(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Month => "tháng này",
        PeriodKind::Quarter => "quý này",
        PeriodKind::Year => "năm nay",
    }
}

/// One way to win points back, in Vietnamese: "Thêm 12 hồ sơ thanh toán trực tuyến trong quý
/// này: +0,80 điểm".
pub fn win_back_vi(w: &WinBack, kind: PeriodKind) -> String {
    let k = points::count_vi(w.count);
    let when = period_word(kind);
    let what = match (w.indicator, w.kind) {
        (Indicator::OnTime, _) => {
            format!("Giải quyết đúng hạn thêm {k} hồ sơ trong {when}")
        }
        (Indicator::PaidOnline, _) => {
            format!("Thêm {k} hồ sơ thanh toán trực tuyến trong {when}")
        }
        (Indicator::ProceduresPaidOnline, _) => format!(
            "Có giao dịch thanh toán trực tuyến cho thêm {k} thủ tục có phí, lệ phí trong {when}"
        ),
        (Indicator::Satisfaction, _) => format!(
            "Thêm {k} hồ sơ giải quyết đúng hạn, không bị đánh giá không hài lòng trong {when}"
        ),
        (Indicator::ElectronicResult, WinKind::Fix) => {
            format!("Bổ sung tệp kết quả điện tử cho {k} hồ sơ đã trả kết quả")
        }
        (Indicator::ElectronicResult, WinKind::More) => {
            format!("Thêm {k} hồ sơ trả kết quả có tệp kết quả điện tử trong {when}")
        }
        (Indicator::OnlineSubmission, _) => {
            format!("Thêm {k} hồ sơ nộp trực tuyến trong {when}")
        }
    };
    let full = if w.reaches_max {
        " (đạt điểm tối đa)"
    } else {
        ""
    };
    let unsure = if w.indicator.confirmed() {
        ""
    } else {
        " — cách tính điểm chưa được xác nhận"
    };
    format!(
        "{what}: +{} điểm{full}{unsure}",
        points::points_vi(w.gain_cents)
    )
}

/// A figure of the portal that differs from dondoc's beyond the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrepancy {
    pub unit: String,
    pub unit_name: String,
    pub group: Group,
    /// What differs, in Vietnamese, with both numbers and what it costs.
    pub text: String,
}

/// The tolerance of [`discrepancies`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Points between a published group score and dondoc's estimate of a group it fully sees.
    pub points: f64,
    /// Percent between the portal's dossier count and dondoc's.
    pub count_pct: f64,
}

/// The published figures that differ from dondoc's beyond `tol`: on TDGQ (the one group dondoc
/// estimates whole) the score, and the portal's dossier count against dondoc's H. A portal that
/// counts far fewer dossiers than dondoc is a sync gap between the city's one-stop system and the
/// portal, which costs points.
pub fn discrepancies(set: &ScoreSet, tol: Tolerance) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    for u in &set.units {
        let Some(p) = &u.published else { continue };
        let handled = u.counts.tally.handled;
        if let Some(received) = p.received
            && handled > 0
        {
            let diff_pct = 100.0 * (handled - received) as f64 / handled as f64;
            if diff_pct.abs() > tol.count_pct {
                let why = if received < handled {
                    "hồ sơ chưa được đồng bộ lên Cổng Dịch vụ công quốc gia: phần chênh lệch làm giảm điểm của đơn vị"
                } else {
                    "Cổng đếm nhiều hồ sơ hơn dondoc: kiểm tra mã đơn vị và dữ liệu một cửa"
                };
                out.push(Discrepancy {
                    unit: u.unit.clone(),
                    unit_name: u.name.clone(),
                    group: Group::Tdgq,
                    text: format!(
                        "Cổng công bố {} hồ sơ, dondoc đếm {} hồ sơ (chênh {}%): {why}",
                        points::count_vi(received),
                        points::count_vi(handled),
                        format!("{:.1}", diff_pct.abs()).replace('.', ",")
                    ),
                });
            }
        }
        if let (Some(published), Some(g)) = (
            p.groups.get(Group::Tdgq.code()),
            u.estimate.group(Group::Tdgq),
        ) && let Some(est) = g.estimated_cents
        {
            let diff = published - points::points(est);
            if diff.abs() > tol.points {
                out.push(Discrepancy {
                    unit: u.unit.clone(),
                    unit_name: u.name.clone(),
                    group: Group::Tdgq,
                    text: format!(
                        "Điểm Tiến độ giải quyết: Cổng công bố {}, dondoc ước tính {} (chênh {} điểm)",
                        format!("{published:.2}").replace('.', ","),
                        points::points_vi(est),
                        format!("{:.2}", diff.abs()).replace('.', ",")
                    ),
                });
            }
        }
    }
    out
}

/// The JSON of `dondoc score --format json` (the shape; `win_back` and the indicators'
/// `ratio` and groups' `estimable_max` added).
pub fn to_json(set: &ScoreSet) -> Value {
    let units: Vec<Value> = set.units.iter().map(unit_json).collect();
    json!({
        "period": set.period.to_string(),
        "period_start": rfc3339(set.start),
        "period_end": rfc3339(set.end),
        "as_of": rfc3339(set.as_of),
        "units": units,
    })
}

fn unit_json(u: &UnitScore) -> Value {
    let e = &u.estimate;
    let groups: Vec<Value> = e
        .groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group.code(),
                "max": points::points(g.group.max_cents()),
                "estimable_max": points::points(g.estimable_max_cents),
                "estimated": g.estimated_cents.map(points::points),
            })
        })
        .collect();
    let indicators: Vec<Value> = e
        .indicators
        .iter()
        .map(|i| {
            json!({
                "group": i.indicator.group().code(),
                "indicator": i.indicator.name(),
                "numerator": i.numerator,
                "denominator": i.denominator,
                "ratio": i.ratio(),
                "points": points::points(i.cents),
                "max": points::points(i.indicator.max_cents()),
                "confirmed": i.indicator.confirmed(),
            })
        })
        .collect();
    let win_back: Vec<Value> = u
        .win_back
        .iter()
        .map(|w| {
            json!({
                "group": w.win.indicator.group().code(),
                "indicator": w.win.indicator.name(),
                "kind": w.win.kind,
                "count": w.win.count,
                "points": points::points(w.win.gain_cents),
                "reaches_max": w.win.reaches_max,
                "text": w.text,
                "dossiers": w.codes,
                "dossiers_total": w.codes_total,
            })
        })
        .collect();
    let published = u.published.as_ref().map(|p| {
        json!({
            "total": p.total(),
            "groups": p.groups,
            "fetched_at": rfc3339(p.fetched_at),
        })
    });
    json!({
        "unit": u.unit,
        "name": u.name,
        "estimated": points::points(e.estimated_cents()),
        "estimable_max": points::points(e.estimable_max_cents()),
        "groups": groups,
        "indicators": indicators,
        "win_back": win_back,
        "published": published,
    })
}

/// A digest's block on the points a unit loses this period (issue 19): the estimate, each
/// estimated group's points lost, and the first ways to win points back with their dossier
/// codes. `(text, html)` are the mail's bodies; the block goes before their footer (`\n--\n` in
/// the text, `<hr>` in the html), or at their end when there is none. Vietnamese unless
/// `vietnamese` is false (English).
pub fn with_points_lost(
    mut text: String,
    mut html: String,
    u: &UnitScore,
    period: &Period,
    vietnamese: bool,
) -> (String, String) {
    use std::fmt::Write as _;
    let e = &u.estimate;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (title, of_what, lost, ways, dossiers) = if vietnamese {
        (
            format!(
                "Điểm Chỉ số Quyết định 766 ước tính ({})",
                period.label_vi()
            ),
            "điểm dondoc tính được",
            "mất",
            "Cách lấy lại điểm",
            "Hồ sơ",
        )
    } else {
        (
            format!("Estimated Decision 766 points ({period})"),
            "points dondoc can estimate",
            "lost",
            "How to win points back",
            "Dossiers",
        )
    };
    let mut t = String::new();
    let mut h = String::new();
    let _ = writeln!(
        t,
        "\n{title}: {} / {} {of_what} — {lost} {}.",
        points::points_vi(e.estimated_cents()),
        points::points_vi(e.estimable_max_cents()),
        points::points_vi(u.lost_cents())
    );
    let _ = write!(
        h,
        "<h3>{}</h3><p><b>{}</b> / {} {of_what} — {lost} <b>{}</b>.</p><ul>",
        esc(&title),
        points::points_vi(e.estimated_cents()),
        points::points_vi(e.estimable_max_cents()),
        points::points_vi(u.lost_cents())
    );
    for g in &e.groups {
        let Some(c) = g.estimated_cents else { continue };
        let line = format!(
            "{} ({}): {} / {} ({lost} {})",
            g.group.label_vi(),
            g.group.code(),
            points::points_vi(c),
            points::points_vi(g.estimable_max_cents),
            points::points_vi(g.estimable_max_cents - c)
        );
        let _ = writeln!(t, "  {line}");
        let _ = write!(h, "<li>{}</li>", esc(&line));
    }
    h.push_str("</ul>");
    if !u.win_back.is_empty() {
        let _ = writeln!(t, "  {ways}:");
        let _ = write!(h, "<h4>{ways}</h4><ol>");
        for w in u.win_back.iter().take(3) {
            let _ = writeln!(t, "    • {}", w.text);
            let _ = write!(h, "<li>{}", esc(&w.text));
            if !w.codes.is_empty() {
                let _ = writeln!(
                    t,
                    "      {dossiers} ({}): {}",
                    w.codes_total,
                    w.codes.join(", ")
                );
                let _ = write!(
                    h,
                    "<br><small>{dossiers} ({}): <code>{}</code></small>",
                    w.codes_total,
                    esc(&w.codes.join(", "))
                );
            }
            h.push_str("</li>");
        }
        h.push_str("</ol>");
    }
    match text.rfind("\n--\n") {
        Some(i) => text.insert_str(i, &t),
        None => text.push_str(&t),
    }
    match html.rfind("<hr>") {
        Some(i) => html.insert_str(i, &h),
        None => html.push_str(&h),
    }
    (text, html)
}
