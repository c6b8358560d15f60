//! Digests: one mail per recipient per send, never one mail per alert.
//!
//! - a unit's addresses get their unit's new, continuing (every `repeat_days`), warning and
//!   resolved alerts, with the action lists of its dossiers; `alerts.cc` is copied;
//! - the root unit's addresses get one city-wide summary of every unit instead of dozens of
//!   copies;
//! - `alerts.admin` gets the data-source alerts.
//!
//! Composition ([`compose`]) is pure; [`run_once`] gathers the numbers, composes, and queues the
//! mail in the same transaction that marks the alerts as told. The Message-ID is derived from the
//! recipient unit and the schedule's fire time, so a digest composed twice for one fire is queued
//! once.
//!
//! Projection "at the current pace": the numerator and denominator are extrapolated to the
//! period's end at the pace they grew since the oldest stored sample of the trend window (or,
//! without one, since the period began, which projects the current value). The rate "needed over
//! the rest of the period" is the share of the dossiers still expected that must meet the
//! criterion for the period to end on target; above 100 % (or below 0 % for a `max` target) it can
//! no longer be reached.
//!
//! No personal data: dossier codes, procedure names and dates only.

use super::evaluate::{Baselines, SOURCE_UNIT, baselines};
use super::lifecycle::{AlertRecord, Notice, Phase, Policy};
use super::message::OutgoingMail;
use crate::app::App;
use crate::config::{Language, Settings};
use crate::metrics::{self, Metric, Period, Row, UnitTree};
use crate::store::{ActionList, StoreError};
use crate::time::{Epoch, to_local};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// What one alert says in a digest.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record: AlertRecord,
    /// New, continuing, warning or resolved.
    pub kind: EntryKind,
    pub row: Option<Row>,
    pub projection: Option<Projection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    New,
    Continuing,
    Warning,
    Resolved,
}

/// Where the rate is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The rate at the period's end at the current pace (0..1).
    pub at_end: Option<f64>,
    /// For a breach: the share of the rest of the period's dossiers that must meet the criterion;
    /// `None` when it can no longer be reached.
    pub needed: Option<f64>,
    pub reachable: bool,
}

/// The action lists of one unit.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    pub late_without_apology: ActionList,
    pub due_soon: ActionList,
    pub not_digitized: ActionList,
}

impl Actions {
    fn is_empty(&self) -> bool {
        self.late_without_apology.total == 0
            && self.due_soon.total == 0
            && self.not_digitized.total == 0
    }
}

/// Projects a row to its period's end (see the module docs).
pub fn project(
    row: &Row,
    period: &Period,
    base: Option<(Epoch, i64, i64)>,
    now: Epoch,
) -> Projection {
    let end = period.end();
    let remaining = (end - now).max(0) as f64;
    let (t0, n0, d0) = base.unwrap_or((period.start(), 0, 0));
    let elapsed = (now - t0).max(1) as f64;
    let pace_n = (row.numerator - n0).max(0) as f64 / elapsed;
    let pace_d = (row.denominator - d0).max(0) as f64 / elapsed;
    let extra_d = pace_d * remaining;
    let end_d = row.denominator as f64 + extra_d;
    let at_end = if end_d > 0.0 {
        Some((row.numerator as f64 + pace_n * remaining) / end_d)
    } else {
        None
    };
    let (needed, reachable) = match row.target {
        Some(t) if extra_d >= 1.0 => {
            let goal = t.min.or(t.max).unwrap_or(0.0) / 100.0;
            let x = goal * end_d - row.numerator as f64;
            let share = x / extra_d;
            if t.min.is_some() {
                (Some(share.max(0.0)), share <= 1.0)
            } else {
                (Some(share.min(1.0)), share >= 0.0)
            }
        }
        Some(_) => (None, row.state != crate::metrics::RowState::Breach),
        None => (None, true),
    };
    Projection {
        at_end,
        needed: if reachable { needed } else { None },
        reachable,
    }
}

struct Words {
    dear: &'static str,
    intro: &'static str,
    new: &'static str,
    continuing: &'static str,
    warning: &'static str,
    resolved: &'static str,
    value: &'static str,
    target: &'static str,
    change: &'static str,
    projection: &'static str,
    needed: &'static str,
    unreachable: &'static str,
    actions: &'static str,
    late_list: &'static str,
    due_list: &'static str,
    digit_list: &'static str,
    due: &'static str,
    days_late: &'static str,
    more: &'static str,
    summary: &'static str,
    footer: &'static str,
    sources: &'static str,
}

const VI: Words = Words {
    dear: "Kính gửi",
    intro: "dondoc theo dõi các chỉ tiêu cải cách hành chính đã cam kết. Tình hình đến",
    new: "CHƯA ĐẠT (mới)",
    continuing: "VẪN CHƯA ĐẠT",
    warning: "CÓ NGUY CƠ KHÔNG ĐẠT",
    resolved: "ĐÃ ĐẠT LẠI",
    value: "Kết quả",
    target: "Chỉ tiêu",
    change: "Thay đổi so với thư trước",
    projection: "Dự báo cuối kỳ theo tốc độ hiện tại",
    needed: "Để đạt chỉ tiêu, phần còn lại của kỳ cần đạt",
    unreachable: "Không còn khả năng đạt chỉ tiêu trong kỳ này",
    actions: "VIỆC CẦN LÀM (chỉ ghi mã hồ sơ)",
    late_list: "Hồ sơ trễ hạn chưa có phiếu xin lỗi",
    due_list: "Hồ sơ sắp đến hạn trả kết quả",
    digit_list: "Hồ sơ đã giải quyết chưa số hóa kết quả",
    due: "hạn",
    days_late: "ngày trễ",
    more: "và còn",
    summary: "TỔNG HỢP TOÀN THÀNH PHỐ",
    footer: "Thư này do hệ thống dondoc gửi tự động; số liệu lấy từ hệ thống một cửa điện tử và hệ thống quản lý văn bản.",
    sources: "NGUỒN DỮ LIỆU",
};

const EN: Words = Words {
    dear: "To",
    intro: "dondoc follows the administrative-reform commitments. The situation at",
    new: "BELOW TARGET (new)",
    continuing: "STILL BELOW TARGET",
    warning: "AT RISK",
    resolved: "BACK ON TARGET",
    value: "Result",
    target: "Target",
    change: "Change since the last mail",
    projection: "Projected at the period's end at the current pace",
    needed: "To reach the target, the rest of the period needs",
    unreachable: "The target can no longer be reached this period",
    actions: "TO DO (dossier codes only)",
    late_list: "Late dossiers without an apology slip",
    due_list: "Open dossiers due soon",
    digit_list: "Processed dossiers without a digitized result",
    due: "due",
    days_late: "days late",
    more: "and",
    summary: "CITY-WIDE SUMMARY",
    footer: "This mail was sent automatically by dondoc from the one-stop and document systems.",
    sources: "DATA SOURCES",
};

fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Vi => &VI,
        Language::En => &EN,
    }
}

fn pct(lang: Language, v: f64) -> String {
    let s = format!("{:.2}", v * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    match lang {
        Language::Vi => format!("{} %", s.replace('.', ",")),
        Language::En => format!("{s} %"),
    }
}

fn target_text(lang: Language, row: &Row) -> String {
    match row.target {
        Some(t) => match (t.min, t.max) {
            (Some(v), _) => format!("≥ {}", pct(lang, v / 100.0)),
            (_, Some(v)) => format!("≤ {}", pct(lang, v / 100.0)),
            _ => String::new(),
        },
        None => "—".into(),
    }
}

fn date(t: Epoch) -> String {
    to_local(t).format("%d/%m/%Y").to_string()
}

fn criterion(row: &Row, s: &Settings) -> String {
    let _ = s;
    match &row.scope {
        Some(scope) => format!("{} ({scope})", row.metric.label_vi()),
        None => row.metric.label_vi().to_string(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The subject of a unit's digest: "UBND Phường 1: 2 chỉ tiêu chưa đạt — Quý 2/2024".
pub fn subject(lang: Language, unit_name: &str, entries: &[Entry], period: &Period) -> String {
    let firing: std::collections::BTreeSet<(&str, &str)> = entries
        .iter()
        .filter(|e| {
            matches!(e.kind, EntryKind::New | EntryKind::Continuing)
                && e.record.key.period == period.to_string()
        })
        .map(|e| (e.record.key.metric.as_str(), e.record.key.scope.as_str()))
        .collect();
    let count = |k: EntryKind| entries.iter().filter(|e| e.kind == k).count();
    let label = match lang {
        Language::Vi => period.label_vi(),
        Language::En => period.to_string(),
    };
    let (n, what) = if !firing.is_empty() {
        (
            firing.len(),
            if lang == Language::Vi {
                "chỉ tiêu chưa đạt"
            } else {
                "criteria below target"
            },
        )
    } else if count(EntryKind::Warning) > 0 {
        (
            count(EntryKind::Warning),
            if lang == Language::Vi {
                "chỉ tiêu có nguy cơ không đạt"
            } else {
                "criteria at risk"
            },
        )
    } else {
        (
            count(EntryKind::Resolved),
            if lang == Language::Vi {
                "chỉ tiêu đã đạt lại"
            } else {
                "criteria back on target"
            },
        )
    };
    format!("{unit_name}: {n} {what} — {label}")
}

fn entry_block(lang: Language, s: &Settings, e: &Entry, text: &mut String, html: &mut String) {
    let w = words(lang);
    let Some(row) = &e.row else { return };
    let period: Period = row.period;
    let plabel = if lang == Language::Vi {
        period.label_vi()
    } else {
        period.to_string()
    };
    let value = row
        .value
        .map(|v| pct(lang, v))
        .unwrap_or_else(|| "—".into());
    let _ = writeln!(text, "  • {} — {plabel}", criterion(row, s));
    let _ = writeln!(
        text,
        "      {}: {value} ({}/{})   {}: {}",
        w.value,
        row.numerator,
        row.denominator,
        w.target,
        target_text(lang, row)
    );
    let mut change_cell = String::new();
    if let (Some(n0), Some(d0)) = (e.record.notified_numerator, e.record.notified_denominator)
        && d0 > 0
        && row.denominator > 0
    {
        let delta = 100.0 * (row.numerator as f64 / row.denominator as f64 - n0 as f64 / d0 as f64);
        let sign = if delta >= 0.0 { "+" } else { "−" };
        let points = format!("{:.2}", delta.abs());
        let points = if lang == Language::Vi {
            points.replace('.', ",")
        } else {
            points
        };
        change_cell = format!("{sign}{points}");
        let _ = writeln!(
            text,
            "      {}: {change_cell} {}",
            w.change,
            if lang == Language::Vi {
                "điểm"
            } else {
                "points"
            }
        );
    }
    let mut proj_cell = String::new();
    if let Some(p) = &e.projection {
        if let Some(v) = p.at_end {
            proj_cell = pct(lang, v);
            let _ = writeln!(text, "      {}: {proj_cell}", w.projection);
        }
        if matches!(e.kind, EntryKind::New | EntryKind::Continuing) {
            match (p.reachable, p.needed) {
                (true, Some(n)) => {
                    let _ = writeln!(text, "      {} {}", w.needed, pct(lang, n));
                    let _ = write!(proj_cell, " — {} {}", w.needed.to_lowercase(), pct(lang, n));
                }
                (false, _) => {
                    let _ = writeln!(text, "      {}", w.unreachable);
                    let _ = write!(proj_cell, " — {}", w.unreachable.to_lowercase());
                }
                _ => {}
            }
        }
    }
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        html_escape(&criterion(row, s)),
        html_escape(&plabel),
        html_escape(&value),
        row.numerator,
        row.denominator,
        html_escape(&target_text(lang, row)),
        html_escape(&change_cell),
        html_escape(&proj_cell)
    );
}

fn section(
    lang: Language,
    s: &Settings,
    title: &str,
    entries: &[&Entry],
    text: &mut String,
    html: &mut String,
) {
    if entries.is_empty() {
        return;
    }
    let w = words(lang);
    let _ = writeln!(text, "\n{title}");
    let _ = write!(
        html,
        "<h3>{}</h3><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        html_escape(title),
        if lang == Language::Vi {
            "Chỉ tiêu"
        } else {
            "Criterion"
        },
        if lang == Language::Vi {
            "Kỳ"
        } else {
            "Period"
        },
        w.value,
        if lang == Language::Vi {
            "Tử số/mẫu số"
        } else {
            "Numerator/denominator"
        },
        w.target,
        w.change,
        w.projection,
    );
    for e in entries {
        entry_block(lang, s, e, text, html);
    }
    html.push_str("</table>");
}

fn action_block(
    lang: Language,
    title: &str,
    list: &ActionList,
    now: Epoch,
    late: bool,
    text: &mut String,
    html: &mut String,
) {
    if list.total == 0 {
        return;
    }
    let w = words(lang);
    let _ = writeln!(text, "  {title} ({}):", list.total);
    let _ = write!(html, "<h4>{} ({})</h4><ul>", html_escape(title), list.total);
    for it in &list.items {
        let mut line = format!("{}  {}", it.code, it.procedure);
        if let Some(due) = it.due_at {
            let _ = write!(line, "  {} {}", w.due, date(due));
            if late {
                let days = ((it.ended_at.unwrap_or(now).min(now) - due).max(0) + 86_399) / 86_400;
                let _ = write!(line, "  {days} {}", w.days_late);
            }
        }
        let _ = writeln!(text, "    {line}");
        let _ = write!(html, "<li><code>{}</code></li>", html_escape(&line));
    }
    let rest = list.total - list.items.len() as i64;
    if rest > 0 {
        let _ = writeln!(text, "    … {} {rest}", w.more);
        let _ = write!(html, "<li>… {} {rest}</li>", w.more);
    }
    html.push_str("</ul>");
}

fn by_kind(entries: &[Entry], k: EntryKind) -> Vec<&Entry> {
    entries.iter().filter(|e| e.kind == k).collect()
}

/// A unit's digest body (text, html).
pub fn unit_body(
    lang: Language,
    s: &Settings,
    unit_name: &str,
    entries: &[Entry],
    actions: &Actions,
    now: Epoch,
) -> (String, String) {
    let w = words(lang);
    let mut text = String::new();
    let mut html = String::from("<html><body style=\"font-family: sans-serif\">");
    let when = to_local(now).format("%H:%M %d/%m/%Y");
    let _ = writeln!(text, "{} {unit_name},\n\n{} {when}:", w.dear, w.intro);
    let _ = write!(
        html,
        "<p>{} {},</p><p>{} {when}:</p>",
        w.dear,
        html_escape(unit_name),
        w.intro
    );
    section(
        lang,
        s,
        w.new,
        &by_kind(entries, EntryKind::New),
        &mut text,
        &mut html,
    );
    section(
        lang,
        s,
        w.continuing,
        &by_kind(entries, EntryKind::Continuing),
        &mut text,
        &mut html,
    );
    section(
        lang,
        s,
        w.warning,
        &by_kind(entries, EntryKind::Warning),
        &mut text,
        &mut html,
    );
    section(
        lang,
        s,
        w.resolved,
        &by_kind(entries, EntryKind::Resolved),
        &mut text,
        &mut html,
    );
    if !actions.is_empty() {
        let _ = writeln!(text, "\n{}", w.actions);
        let _ = write!(html, "<h3>{}</h3>", w.actions);
        action_block(
            lang,
            w.late_list,
            &actions.late_without_apology,
            now,
            true,
            &mut text,
            &mut html,
        );
        action_block(
            lang,
            w.due_list,
            &actions.due_soon,
            now,
            false,
            &mut text,
            &mut html,
        );
        action_block(
            lang,
            w.digit_list,
            &actions.not_digitized,
            now,
            false,
            &mut text,
            &mut html,
        );
    }
    let _ = writeln!(text, "\n--\n{}", w.footer);
    let _ = write!(html, "<hr><p><small>{}</small></p></body></html>", w.footer);
    (text, html)
}

/// The city-wide summary for the root unit: every unit with its criteria below target.
pub fn summary_body(
    lang: Language,
    s: &Settings,
    tree: &UnitTree,
    per_unit: &BTreeMap<usize, Vec<Entry>>,
    now: Epoch,
) -> (String, String) {
    let w = words(lang);
    let root = tree.units.first().map(|u| u.name.as_str()).unwrap_or("");
    let mut text = String::new();
    let mut html = String::from("<html><body style=\"font-family: sans-serif\">");
    let when = to_local(now).format("%H:%M %d/%m/%Y");
    let _ = writeln!(
        text,
        "{} {root},\n\n{} {when}:\n\n{}",
        w.dear, w.intro, w.summary
    );
    let _ = write!(
        html,
        "<p>{} {},</p><p>{} {when}:</p><h3>{}</h3>",
        w.dear,
        html_escape(root),
        w.intro,
        w.summary
    );
    for (idx, entries) in per_unit {
        let name = &tree.units[*idx].name;
        let _ = writeln!(text, "\n{name}");
        let _ = write!(html, "<h3>{}</h3>", html_escape(name));
        section(
            lang,
            s,
            w.new,
            &by_kind(entries, EntryKind::New),
            &mut text,
            &mut html,
        );
        section(
            lang,
            s,
            w.continuing,
            &by_kind(entries, EntryKind::Continuing),
            &mut text,
            &mut html,
        );
        section(
            lang,
            s,
            w.warning,
            &by_kind(entries, EntryKind::Warning),
            &mut text,
            &mut html,
        );
        section(
            lang,
            s,
            w.resolved,
            &by_kind(entries, EntryKind::Resolved),
            &mut text,
            &mut html,
        );
    }
    let _ = writeln!(text, "\n--\n{}", w.footer);
    let _ = write!(html, "<hr><p><small>{}</small></p></body></html>", w.footer);
    (text, html)
}

fn message_id(kind: &str, who: &str, fire: Epoch, s: &Settings) -> String {
    let domain = s
        .smtp
        .as_ref()
        .map(|m| {
            crate::config::validate::mailbox_address(&m.from)
                .rsplit('@')
                .next()
                .unwrap_or("dondoc")
                .to_string()
        })
        .unwrap_or_else(|| "dondoc".into());
    let who: String = who
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "dondoc.{kind}.{who}.{}@{domain}",
        to_local(fire).format("%Y%m%dT%H%M%S")
    )
}

/// The subject period: the shortest alerted period kind, current at `now`.
fn subject_period(s: &Settings, now: Epoch) -> Period {
    let kind = s
        .alerts
        .periods
        .iter()
        .min()
        .copied()
        .unwrap_or(metrics::PeriodKind::Quarter);
    Period::containing(kind, now)
}

/// Everything the digest of one fire needs, gathered from the store.
pub struct Gathered {
    pub entries: Vec<Entry>,
    pub sources: Vec<AlertRecord>,
    /// Records to store as told (including alerts of ended periods, silently retired).
    pub notified: Vec<AlertRecord>,
}

/// Picks the due alerts at `now` and fills in their current rows and projections. With
/// `only_unit`, every firing alert of that unit is taken as due (for `alerts preview`).
pub async fn gather(
    app: &App,
    now: Epoch,
    only_unit: Option<&str>,
) -> Result<Gathered, StoreError> {
    let s = &app.settings;
    let policy = Policy::from_settings(&s.alerts);
    let records = app.store.alerts().await?;
    let base: Baselines = baselines(app, now).await?;
    let mut rows: HashMap<(String, String, String, String), Row> = HashMap::new();
    for kind in &s.alerts.periods {
        let period = Period::containing(*kind, now);
        let ev = metrics::evaluate(&app.store, s, period, now).await?;
        for r in ev.rows {
            rows.insert(
                (
                    r.unit.clone(),
                    r.metric.as_str().to_string(),
                    r.scope.clone().unwrap_or_default(),
                    period.to_string(),
                ),
                r,
            );
        }
    }
    let mut g = Gathered {
        entries: Vec::new(),
        sources: Vec::new(),
        notified: Vec::new(),
    };
    for rec in records {
        let due = match only_unit {
            Some(u) => rec.key.unit == u && (rec.due(&policy, now) || rec.phase == Phase::Firing),
            None => rec.due(&policy, now),
        };
        if !due {
            continue;
        }
        if rec.key.unit == SOURCE_UNIT {
            if only_unit.is_none() {
                g.sources.push(rec);
            }
            continue;
        }
        let k = (
            rec.key.unit.clone(),
            rec.key.metric.clone(),
            rec.key.scope.clone(),
            rec.key.period.clone(),
        );
        let Some(row) = rows.get(&k).cloned() else {
            // An alert of a period that has ended (or a unit no longer configured): retired
            // without mail, as a new period starts new alerts.
            if only_unit.is_none() {
                let mut retired = rec.clone();
                retired.notified(now);
                retired.phase = Phase::Clear;
                g.notified.push(retired);
            }
            continue;
        };
        let kind = match (rec.notice, rec.phase) {
            (Some(Notice::New), _) => EntryKind::New,
            (Some(Notice::Warning), _) => EntryKind::Warning,
            (Some(Notice::Resolved), _) => EntryKind::Resolved,
            (None, _) => EntryKind::Continuing,
        };
        let b = base
            .get(&k)
            .map(|smp| (smp.as_of, smp.numerator, smp.denominator));
        let projection = Some(project(&row, &row.period, b, now));
        g.entries.push(Entry {
            record: rec,
            kind,
            row: Some(row),
            projection,
        });
    }
    // Criteria in metrics.md's order, the shorter period first (quarter before year).
    let order = |e: &Entry| {
        let metric = Metric::from_name(&e.record.key.metric)
            .map(|m| m as usize)
            .unwrap_or(usize::MAX);
        let kind = e.row.as_ref().map(|r| r.period.kind);
        (
            e.kind,
            e.record.key.unit.clone(),
            metric,
            e.record.key.scope.clone(),
            kind,
        )
    };
    g.entries.sort_by_key(order);
    Ok(g)
}

/// The codes of a unit's subtree.
fn subtree_codes(s: &Settings, tree: &UnitTree, idx: usize) -> Vec<String> {
    let mut codes = Vec::new();
    for (j, u) in tree.units.iter().enumerate() {
        if u.lineage.contains(&idx)
            && let Some(cfg) = s.units.iter().find(|c| c.code == tree.units[j].code)
        {
            codes.extend(cfg.one_stop_codes.iter().cloned());
        }
    }
    codes
}

/// The action lists of one unit at `now`, for the subject period.
pub async fn actions(
    app: &App,
    idx: usize,
    tree: &UnitTree,
    now: Epoch,
) -> Result<Actions, StoreError> {
    let s = &app.settings;
    let codes = subtree_codes(s, tree, idx);
    let period = subject_period(s, now);
    let cap = s.alerts.action_list_cap;
    Ok(Actions {
        late_without_apology: app
            .store
            .late_without_apology(&codes, period.start(), now, cap)
            .await?,
        due_soon: app
            .store
            .due_soon(
                &codes,
                now,
                now + i64::from(s.alerts.due_soon_days) * 86_400,
                cap,
            )
            .await?,
        not_digitized: app
            .store
            .not_digitized(&codes, period.start(), now, cap)
            .await?,
    })
}

/// Composes every mail of one digest. Returns (kind, mail) pairs.
pub async fn compose(
    app: &App,
    g: &Gathered,
    fire: Epoch,
    now: Epoch,
) -> Result<Vec<(String, OutgoingMail)>, StoreError> {
    let s = &app.settings;
    let lang = s.alerts.language;
    let tree = UnitTree::new(s);
    let period = subject_period(s, now);
    let mut per_unit: BTreeMap<usize, Vec<Entry>> = BTreeMap::new();
    for e in &g.entries {
        if let Some(idx) = tree.index_of(&e.record.key.unit) {
            per_unit.entry(idx).or_default().push(e.clone());
        }
    }
    // ---- issue 19: the Decision 766 points lost this period (crate::score) ----
    let score = crate::score::compute(
        &app.store,
        s,
        period,
        period.start(),
        period.end(),
        now,
        crate::score::Options { codes_cap: 5 },
    )
    .await?;
    let with_points = |code: &str, text: String, html: String| match score.unit(code) {
        Some(u) => crate::score::with_points_lost(text, html, u, &period, lang == Language::Vi),
        None => (text, html),
    };
    // ---- end issue 19 ----
    let mut mails = Vec::new();
    for (idx, entries) in &per_unit {
        if *idx == 0 {
            continue; // the root reads the city-wide summary
        }
        let unit = &tree.units[*idx];
        let Some(cfg) = s.units.iter().find(|u| u.code == unit.code) else {
            continue;
        };
        if cfg.emails.is_empty() {
            continue;
        }
        let acts = actions(app, *idx, &tree, now).await?;
        let (text, html) = unit_body(lang, s, &unit.name, entries, &acts, now);
        let (text, html) = with_points(&unit.code, text, html); // issue 19
        mails.push((
            "alert_digest".to_string(),
            OutgoingMail {
                message_id: message_id("digest", &unit.code, fire, s),
                to: cfg.emails.clone(),
                cc: s.alerts.cc.clone(),
                subject: subject(lang, &unit.name, entries, &period),
                text,
                html: Some(html),
                attachment: None,
            },
        ));
    }
    if let (Some(root), false) = (tree.units.first(), per_unit.is_empty())
        && let Some(cfg) = s.units.iter().find(|u| u.code == root.code)
        && !cfg.emails.is_empty()
    {
        let all: Vec<Entry> = per_unit.values().flatten().cloned().collect();
        let (text, html) = summary_body(lang, s, &tree, &per_unit, now);
        let (text, html) = with_points(&root.code, text, html); // issue 19
        mails.push((
            "city_summary".to_string(),
            OutgoingMail {
                message_id: message_id("summary", &root.code, fire, s),
                to: cfg.emails.clone(),
                cc: s.alerts.cc.clone(),
                subject: subject(lang, &root.name, &all, &period),
                text,
                html: Some(html),
                attachment: None,
            },
        ));
    }
    if !g.sources.is_empty() && !s.alerts.admin.is_empty() {
        let w = words(lang);
        let mut text = format!("{}\n\n", w.sources);
        for a in &g.sources {
            let state = match a.notice {
                Some(Notice::Resolved) => w.resolved,
                _ => w.new,
            };
            let _ = writeln!(
                text,
                "  • [{state}] {}: {}",
                a.key.metric,
                a.detail.clone().unwrap_or_else(|| a.key.scope.clone())
            );
        }
        let _ = writeln!(text, "\n--\n{}", w.footer);
        let subject = match lang {
            Language::Vi => format!("dondoc: {} cảnh báo về nguồn dữ liệu", g.sources.len()),
            Language::En => format!("dondoc: {} data-source alert(s)", g.sources.len()),
        };
        mails.push((
            "source_alert".to_string(),
            OutgoingMail {
                message_id: message_id("sources", "admin", fire, s),
                to: s.alerts.admin.clone(),
                cc: Vec::new(),
                subject,
                text,
                html: None,
                attachment: None,
            },
        ));
    }
    Ok(mails)
}

/// The digest job for the fire at `fire`: gathers, composes and queues the mail, marking the
/// alerts it tells of, in one transaction. Returns how many messages were queued.
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<usize, StoreError> {
    let mut g = gather(app, now, None).await?;
    let mails = compose(app, &g, fire, now).await?;
    let mut notified = std::mem::take(&mut g.notified);
    for e in &g.entries {
        let mut r = e.record.clone();
        if let Some(row) = &e.row {
            r.numerator = row.numerator;
            r.denominator = row.denominator;
        }
        r.notified(now);
        notified.push(r);
    }
    for a in &g.sources {
        let mut r = a.clone();
        r.notified(now);
        if r.key.metric == "rejected_records" {
            r.phase = Phase::Clear; // a jump is an event: the next one is measured from here
        }
        notified.push(r);
    }
    let queued = app.store.commit_digest(&mails, &notified, now).await?;
    tracing::info!(queued, told = notified.len(), "alert digest composed");
    Ok(queued)
}

/// The mail a unit would receive now (for `dondoc alerts preview`), or `None` when it has
/// nothing to hear.
pub async fn preview(
    app: &App,
    unit: &str,
    now: Epoch,
) -> Result<Option<OutgoingMail>, StoreError> {
    let g = gather(app, now, Some(unit)).await?;
    let s = &app.settings;
    let tree = UnitTree::new(s);
    let Some(idx) = tree.index_of(unit) else {
        return Ok(None);
    };
    let entries: Vec<Entry> = g
        .entries
        .into_iter()
        .filter(|e| e.record.key.unit == unit)
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let acts = actions(app, idx, &tree, now).await?;
    let cfg = s.units.iter().find(|u| u.code == unit);
    let name = &tree.units[idx].name;
    let (text, html) = unit_body(s.alerts.language, s, name, &entries, &acts, now);
    let period = subject_period(s, now);
    // ---- issue 19: the Decision 766 points lost this period, as in the digest ----
    let score = crate::score::compute(
        &app.store,
        s,
        period,
        period.start(),
        period.end(),
        now,
        crate::score::Options { codes_cap: 5 },
    )
    .await?;
    let (text, html) = match score.unit(unit) {
        Some(u) => crate::score::with_points_lost(
            text,
            html,
            u,
            &period,
            s.alerts.language == Language::Vi,
        ),
        None => (text, html),
    };
    // ---- end issue 19 ----
    Ok(Some(OutgoingMail {
        message_id: message_id("preview", unit, now, s),
        to: cfg.map(|c| c.emails.clone()).unwrap_or_default(),
        cc: s.alerts.cc.clone(),
        subject: subject(s.alerts.language, name, &entries, &period),
        text,
        html: Some(html),
        attachment: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::lifecycle::AlertKey;
    use crate::metrics::{RowState, TargetView};

    fn row(metric: Metric, n: i64, d: i64, target: TargetView, state: RowState) -> Row {
        Row {
            unit: "PHUONG_1".into(),
            unit_name: "UBND Phường 1".into(),
            depth: 1,
            metric,
            scope: None,
            period: "2024-Q2".parse().unwrap(),
            numerator: n,
            denominator: d,
            value: Some(n as f64 / d as f64),
            target: Some(target),
            state,
        }
    }

    fn entry(metric: Metric, kind: EntryKind) -> Entry {
        let t = TargetView {
            min: Some(70.0),
            max: None,
            min_sample: 20,
        };
        let key = AlertKey {
            unit: "PHUONG_1".into(),
            metric: metric.as_str().into(),
            scope: String::new(),
            period: "2024-Q2".into(),
        };
        let mut record = crate::alerts::lifecycle::step(
            None,
            &key,
            &crate::alerts::lifecycle::Observation {
                state: RowState::Breach,
                numerator: 1,
                denominator: 100,
                target: Some(t),
                worsening: false,
            },
            &Policy {
                pending_evaluations: 1,
                repeat_secs: 1,
                send_resolved: true,
                warn_margin: 2.0,
            },
            0,
        );
        record.notice = None;
        Entry {
            record,
            kind,
            row: Some(row(metric, 1, 100, t, RowState::Breach)),
            projection: None,
        }
    }

    #[test]
    fn the_subject_names_the_unit_the_count_of_failing_criteria_and_the_period() {
        let q2: Period = "2024-Q2".parse().unwrap();
        let entries = [
            entry(Metric::OnlineRate, EntryKind::New),
            entry(Metric::LateRate, EntryKind::Continuing),
            entry(Metric::EdocRate, EntryKind::Resolved),
        ];
        assert_eq!(
            subject(Language::Vi, "UBND Phường 1", &entries, &q2),
            "UBND Phường 1: 2 chỉ tiêu chưa đạt — Quý 2/2024"
        );
        assert_eq!(
            subject(Language::En, "UBND Phường 1", &entries, &q2),
            "UBND Phường 1: 2 criteria below target — 2024-Q2"
        );
        let resolved = [entry(Metric::EdocRate, EntryKind::Resolved)];
        assert_eq!(
            subject(Language::Vi, "UBND Phường 1", &resolved, &q2),
            "UBND Phường 1: 1 chỉ tiêu đã đạt lại — Quý 2/2024"
        );
    }

    #[test]
    fn projection_extrapolates_the_pace_and_says_what_is_still_needed() {
        let q2: Period = "2024-Q2".parse().unwrap();
        let t = TargetView {
            min: Some(70.0),
            max: None,
            min_sample: 20,
        };
        // Half way through the quarter at 60/100; a baseline at the start (0/0).
        let mid = q2.start() + (q2.end() - q2.start()) / 2;
        let p = project(
            &row(Metric::OnlineRate, 60, 100, t, RowState::Breach),
            &q2,
            None,
            mid,
        );
        assert!(
            (p.at_end.unwrap() - 0.6).abs() < 1e-9,
            "the same pace keeps 60 %"
        );
        // 100 more dossiers expected; 140 of 200 must be online: 80 of the 100 to come.
        assert!(p.reachable);
        assert!((p.needed.unwrap() - 0.8).abs() < 1e-9, "{p:?}");
        // At 10/100 half way, 130 of the next 100 would be needed: out of reach.
        let p = project(
            &row(Metric::OnlineRate, 10, 100, t, RowState::Breach),
            &q2,
            None,
            mid,
        );
        assert!(!p.reachable && p.needed.is_none());
        // A max target (late_rate ≤ 1 %) already past what the rest can make up.
        let late = TargetView {
            min: None,
            max: Some(1.0),
            min_sample: 20,
        };
        let p = project(
            &row(Metric::LateRate, 5, 100, late, RowState::Breach),
            &q2,
            None,
            mid,
        );
        assert!(!p.reachable);
        let p = project(
            &row(Metric::LateRate, 2, 300, late, RowState::Breach),
            &q2,
            None,
            mid,
        );
        assert!(p.reachable && p.needed.unwrap() > 0.0);
    }

    #[test]
    fn bodies_carry_the_table_and_the_action_lists_with_codes_only() {
        let acts = Actions {
            late_without_apology: ActionList {
                items: vec![crate::store::ActionItem {
                    code: "H50-0001".into(),
                    procedure: "Cấp phép xây dựng".into(),
                    due_at: Some(0),
                    ended_at: None,
                }],
                total: 51,
            },
            ..Actions::default()
        };
        let s = crate::config::load_from_str(
            "[sources.a]\nkind = \"one_stop\"\nbase_url = \"http://x\"\n[[units]]\ncode = \"C\"\nname = \"Thành phố\"\n",
            &HashMap::new(),
            std::path::Path::new("."),
        )
        .unwrap();
        let (text, html) = unit_body(
            Language::Vi,
            &s,
            "UBND Phường 1",
            &[entry(Metric::OnlineRate, EntryKind::New)],
            &acts,
            86_400 * 3,
        );
        assert!(
            text.contains("CHƯA ĐẠT (mới)") && text.contains("Trực tuyến toàn trình"),
            "{text}"
        );
        assert!(text.contains("Hồ sơ trễ hạn chưa có phiếu xin lỗi (51)"));
        assert!(
            text.contains("H50-0001  Cấp phép xây dựng  hạn 01/01/1970  3 ngày trễ"),
            "{text}"
        );
        assert!(text.contains("… và còn 50"));
        assert!(html.contains("<table") && html.contains("H50-0001"));
    }
}
