//! Digests: one letter per recipient per send, never one mail per alert (docs/alerts.md).
//!
//! - at each digest time, every unit with an address that has an alert to hear of (new,
//!   continuing every `repeat_days`, at risk, back on target) *or anything to act on* (late
//!   dossiers without an apology slip, dossiers due within `alerts.due_soon_days`, finished
//!   dossiers without a digitized result) receives its letter; a unit with neither receives
//!   nothing. Action lists are capped at `alerts.action_list_cap`, oldest due date first, then
//!   "and N more" (the dashboard and the report hold the full lists); `alerts.cc` is copied;
//! - the root unit's addresses get a city-wide summary on one screen (units × criteria, the
//!   furthest behind first, the change since the last summary sent), and, in a letter of its
//!   own, the root's own dossiers to act on (those of its own one-stop codes);
//! - `alerts.admin` gets the data-source alerts.
//!
//! [`compose`] is the one composition of letters: the digest ([`run_once`]), `dondoc alerts
//! preview` ([`preview`]) and the tests all come through it, so a preview is byte for byte the
//! letter that would be queued at that instant. [`unit_letter`] and [`summary_body`] are pure.
//! [`run_once`] queues the letters in the transaction that marks the alerts as told; each letter
//! supersedes the letters about its unit (same kind, same recipients) still waiting in the outbox,
//! and an alert told only in such a waiting letter is told again ([`retold`]), so that nothing is
//! lost when only the newest letter goes out after a mail-server outage. The Message-ID is derived
//! from the unit and the schedule's fire time, so a digest composed twice for one fire is queued
//! once.
//!
//! Projections (where a rate is heading, with its 95 % range) are `crate::rates::projection`.
//!
//! No personal data: dossier codes, procedure names and dates only.

use super::lifecycle::{AlertRecord, Notice, Phase, Policy};
use super::observe::{Baselines, SOURCE_UNIT, baselines};
use crate::app::App;
use crate::config::{Language, Settings};
use crate::domain::mail::OutgoingMail;
use crate::domain::time::{Epoch, to_local};
use crate::rates::{self, Metric, Period, Row, RowState, UnitTree};
use crate::store::{ActionList, QueuedLetter, StoreError};
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

pub use crate::rates::projection::{Projection, project, wilson};

/// The action lists of one unit.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    pub late_without_apology: ActionList,
    pub due_soon: ActionList,
    pub not_digitized: ActionList,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.late_without_apology.total == 0
            && self.due_soon.total == 0
            && self.not_digitized.total == 0
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
    range: &'static str,
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
    /// "{n} dossiers to act on" in a subject.
    todo_subject: &'static str,
    summary_subject: &'static str,
    dashboard: &'static str,
    full_list: &'static str,
    own_note: &'static str,
    unit_col: &'static str,
    shortfall_col: &'static str,
    change_col: &'static str,
    legend: &'static str,
    first_letter: &'static str,
    since_last: &'static str,
    newly_below: &'static str,
    back_on_target: &'static str,
    units_below: &'static str,
    short_head: &'static str,
    delta_head: &'static str,
    head_note: &'static str,
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
    projection: "Dự báo cuối kỳ theo tốc độ những tuần gần đây",
    range: "khoảng",
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
    todo_subject: "hồ sơ cần xử lý",
    summary_subject: "tổng hợp toàn thành phố",
    dashboard: "Bảng điều khiển",
    full_list: "danh sách đầy đủ",
    own_note: "Danh sách gồm hồ sơ do chính đơn vị giải quyết (mã một cửa của đơn vị); mỗi đơn vị trực thuộc nhận danh sách của mình.",
    unit_col: "Đơn vị",
    shortfall_col: "Thiếu (điểm %)",
    change_col: "So với thư trước",
    legend: "✔ đạt · ✘ chưa đạt · — chưa đánh giá (chưa đủ mẫu, chưa có số liệu hoặc không có chỉ tiêu) · * đổi trạng thái so với thư trước. Đơn vị xếp theo mức thiếu so với chỉ tiêu (tổng số điểm % còn thiếu ở các chỉ tiêu chưa đạt).",
    first_letter: "thư đầu",
    since_last: "Từ thư trước",
    newly_below: "chỉ tiêu mới chưa đạt",
    back_on_target: "chỉ tiêu đã đạt lại",
    units_below: "đơn vị có chỉ tiêu chưa đạt",
    short_head: "Thiếu",
    delta_head: "Δ",
    head_note: "Thiếu: tổng số điểm % còn thiếu ở các chỉ tiêu chưa đạt; Δ: thay đổi của mức thiếu so với thư trước.",
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
    projection: "Projected at the period's end at the pace of the last weeks",
    range: "range",
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
    todo_subject: "dossiers to act on",
    summary_subject: "city-wide summary",
    dashboard: "Dashboard",
    full_list: "full list",
    own_note: "The list holds the dossiers the unit handles itself (its own one-stop codes); each unit below it receives its own list.",
    unit_col: "Unit",
    shortfall_col: "Short (points)",
    change_col: "Since last mail",
    legend: "✔ on target · ✘ below target · — not judged (sample too small, no data or no target) · * state changed since the last mail. Units are ordered by how far they are below their targets (the sum of the percentage points missing).",
    first_letter: "first mail",
    since_last: "Since the last mail",
    newly_below: "criteria newly below target",
    back_on_target: "criteria back on target",
    units_below: "units below target",
    short_head: "Short",
    delta_head: "Δ",
    head_note: "Short: the percentage points missing, summed over the criteria below target; Δ: its change since the last mail.",
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

/// "Mức độ hài lòng (đất đai, xây dựng, đầu tư)": a scope by its display name.
fn criterion(row: &Row, s: &Settings) -> String {
    match &row.scope {
        Some(scope) => format!("{} ({})", row.metric.label_vi(), s.scope_name(scope)),
        None => row.metric.label_vi().to_string(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The subject of a unit's letter: "UBND Phường 1: 2 chỉ tiêu chưa đạt — Quý 2/2024"; a letter
/// with only an action list says how many dossiers are waiting: "UBND Phường 1: 3 hồ sơ cần xử
/// lý — Quý 2/2024".
pub fn subject(
    lang: Language,
    unit_name: &str,
    entries: &[Entry],
    period: &Period,
    todo: i64,
) -> String {
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
    let vi = lang == Language::Vi;
    let (n, what) = if !firing.is_empty() {
        (
            firing.len() as i64,
            if vi {
                "chỉ tiêu chưa đạt"
            } else {
                "criteria below target"
            },
        )
    } else if count(EntryKind::Warning) > 0 {
        (
            count(EntryKind::Warning) as i64,
            if vi {
                "chỉ tiêu có nguy cơ không đạt"
            } else {
                "criteria at risk"
            },
        )
    } else if count(EntryKind::Resolved) > 0 || todo == 0 {
        (
            count(EntryKind::Resolved) as i64,
            if vi {
                "chỉ tiêu đã đạt lại"
            } else {
                "criteria back on target"
            },
        )
    } else {
        (todo, words(lang).todo_subject)
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
            let range = match p.range {
                Some((lo, hi)) if hi - lo >= 0.001 => {
                    format!(" ({} {} – {})", w.range, pct(lang, lo), pct(lang, hi))
                }
                _ => String::new(),
            };
            let _ = writeln!(text, "      {}: {proj_cell}{range}", w.projection);
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

/// One action list: (its title, the list, whether its dossiers are late).
fn action_block(
    lang: Language,
    (title, list, late): (&str, &ActionList, bool),
    now: Epoch,
    full_list: Option<&str>,
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
        match full_list {
            Some(url) => {
                let _ = writeln!(text, "    … {} {rest} ({}: {url})", w.more, w.full_list);
                let _ = write!(
                    html,
                    "<li>… {} {rest} (<a href=\"{}\">{}</a>)</li>",
                    w.more,
                    html_escape(url),
                    w.full_list
                );
            }
            None => {
                let _ = writeln!(text, "    … {} {rest}", w.more);
                let _ = write!(html, "<li>… {} {rest}</li>", w.more);
            }
        }
    }
    html.push_str("</ul>");
}

fn by_kind(entries: &[Entry], k: EntryKind) -> Vec<&Entry> {
    entries.iter().filter(|e| e.kind == k).collect()
}

/// The dashboard page of a unit, when `http.public_url` is set.
fn unit_link(s: &Settings, code: &str) -> Option<String> {
    s.http
        .public_url
        .as_deref()
        .map(|u| format!("{}/units/{code}", u.trim_end_matches('/')))
}

/// Who a letter is about, and to whom it goes.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub emails: &'a [String],
    /// The list holds the unit's own dossiers only (the root's letter), not its subtree's.
    pub own_only: bool,
}

/// A unit's letter: its alerts (new, continuing, at risk, back on target) and its action lists.
/// The one composition of a unit's letter: `dondoc alerts preview`, the digest and the tests all
/// come through here. Pure.
pub fn unit_letter(
    lang: Language,
    s: &Settings,
    to: Addressee<'_>,
    entries: &[Entry],
    actions: &Actions,
    fire: Epoch,
    now: Epoch,
) -> OutgoingMail {
    let (text, html) = unit_body(lang, s, to, entries, actions, now);
    let todo =
        actions.late_without_apology.total + actions.due_soon.total + actions.not_digitized.total;
    OutgoingMail {
        message_id: message_id("digest", to.code, fire, s),
        to: to.emails.to_vec(),
        cc: s.alerts.cc.clone(),
        subject: subject(lang, to.name, entries, &subject_period(s, now), todo),
        text,
        html: Some(html),
        attachment: None,
    }
}

/// A unit's letter body (text, html).
pub fn unit_body(
    lang: Language,
    s: &Settings,
    to: Addressee<'_>,
    entries: &[Entry],
    actions: &Actions,
    now: Epoch,
) -> (String, String) {
    let w = words(lang);
    let unit_name = to.name;
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
    for (title, kind) in [
        (w.new, EntryKind::New),
        (w.continuing, EntryKind::Continuing),
        (w.warning, EntryKind::Warning),
        (w.resolved, EntryKind::Resolved),
    ] {
        section(
            lang,
            s,
            title,
            &by_kind(entries, kind),
            &mut text,
            &mut html,
        );
    }
    let link = unit_link(s, to.code);
    if !actions.is_empty() {
        let _ = writeln!(text, "\n{}", w.actions);
        let _ = write!(html, "<h3>{}</h3>", w.actions);
        if to.own_only {
            let _ = writeln!(text, "  {}", w.own_note);
            let _ = write!(html, "<p>{}</p>", html_escape(w.own_note));
        }
        for (title, list, late) in [
            (w.late_list, &actions.late_without_apology, true),
            (w.due_list, &actions.due_soon, false),
            (w.digit_list, &actions.not_digitized, false),
        ] {
            action_block(
                lang,
                (title, list, late),
                now,
                link.as_deref(),
                &mut text,
                &mut html,
            );
        }
    }
    if let Some(url) = &link {
        let _ = writeln!(text, "\n{}: {url}", w.dashboard);
        let _ = write!(
            html,
            "<p><a href=\"{}\">{}</a></p>",
            html_escape(url),
            w.dashboard
        );
    }
    let _ = writeln!(text, "\n--\n{}", w.footer);
    let _ = write!(html, "<hr><p><small>{}</small></p></body></html>", w.footer);
    (text, html)
}

// ---------------------------------------------------------------------------------------------
// The city summary: one screen for the city's leaders.

/// What one summary showed, kept with the letter (JSON in the outbox) so that the next summary
/// says what changed since the last one that was sent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SummarySnapshot {
    /// Per unit code.
    pub units: BTreeMap<String, UnitSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnitSnapshot {
    /// Percentage points below target, summed over the criteria below target.
    pub shortfall: f64,
    /// Per criterion (`metric` or `metric:scope`): `ok`, `breach`, or another row state.
    pub states: BTreeMap<String, String>,
}

/// One criterion column of the summary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    metric: Metric,
    scope: Option<String>,
}

impl Column {
    fn key(&self) -> String {
        match &self.scope {
            Some(sc) => format!("{}:{sc}", self.metric.as_str()),
            None => self.metric.as_str().to_string(),
        }
    }

    /// "Mức độ hài lòng (đất đai, xây dựng, đầu tư)": a scope by its display name.
    fn label(&self, s: &Settings) -> String {
        match &self.scope {
            Some(sc) => format!("{} ({})", self.metric.label_vi(), s.scope_name(sc)),
            None => self.metric.label_vi().to_string(),
        }
    }
}

/// Percentage points a breached row is below (or above, for a `max` target) its target.
fn shortfall(row: &Row) -> f64 {
    if row.state != RowState::Breach {
        return 0.0;
    }
    let (Some(t), Some(v)) = (row.target, row.value) else {
        return 0.0;
    };
    match (t.min, t.max) {
        (Some(min), _) => (min - 100.0 * v).max(0.0),
        (_, Some(max)) => (100.0 * v - max).max(0.0),
        _ => 0.0,
    }
}

fn points(lang: Language, v: f64) -> String {
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_string();
    match lang {
        Language::Vi => s.replace('.', ","),
        Language::En => s,
    }
}

fn signed_points(lang: Language, v: f64) -> String {
    if v.abs() < 0.05 {
        return "0".into();
    }
    let sign = if v > 0.0 { "+" } else { "−" };
    format!("{sign}{}", points(lang, v.abs()))
}

/// Pads `s` to `width` columns (as a terminal or a monospace mail reader shows them), clipping
/// with "…" when it is wider.
fn pad(s: &str, width: usize, right: bool) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut t = s.to_string();
    if t.width() > width {
        let mut cut = String::new();
        for c in t.chars() {
            if (cut.clone() + &c.to_string()).width() + 1 > width {
                break;
            }
            cut.push(c);
        }
        t = cut + "…";
    }
    let fill = " ".repeat(width.saturating_sub(t.width()));
    if right { fill + &t } else { t + &fill }
}

/// One unit's line of the summary.
struct SummaryLine<'a> {
    idx: usize,
    code: &'a str,
    name: &'a str,
    cells: Vec<Option<&'a Row>>,
    shortfall: f64,
    failing: usize,
    change: Option<f64>,
    flipped: Vec<bool>,
}

/// The city-wide summary for the root unit: a table of units × criteria for the subject period
/// (✔ / ✘ / — with the value), the root (the whole city) first and then the units ordered by
/// how far they are below their targets, with the change since the last summary sent (`prev`)
/// and a link to the dashboard. Each unit's detail stays in its own letter. Pure. Returns
/// (text, html, snapshot).
pub fn summary_body(
    lang: Language,
    s: &Settings,
    tree: &UnitTree,
    rows: &[Row],
    entries: &[Entry],
    prev: Option<&SummarySnapshot>,
    now: Epoch,
) -> (String, String, SummarySnapshot) {
    let w = words(lang);
    let root = tree.units.first().map(|u| u.name.as_str()).unwrap_or("");
    let period = subject_period(s, now);
    let plabel = match lang {
        Language::Vi => period.label_vi(),
        Language::En => period.to_string(),
    };
    let rows: Vec<&Row> = rows.iter().filter(|r| r.period == period).collect();
    let columns: Vec<Column> = rows
        .iter()
        .filter(|r| r.target.is_some())
        .map(|r| Column {
            metric: r.metric,
            scope: r.scope.clone(),
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let by_key: HashMap<(&str, Metric, Option<&str>), &Row> = rows
        .iter()
        .map(|r| ((r.unit.as_str(), r.metric, r.scope.as_deref()), *r))
        .collect();
    let mut snapshot = SummarySnapshot::default();
    let mut lines: Vec<SummaryLine<'_>> = Vec::new();
    for (idx, u) in tree.units.iter().enumerate() {
        let cells: Vec<Option<&Row>> = columns
            .iter()
            .map(|c| {
                by_key
                    .get(&(u.code.as_str(), c.metric, c.scope.as_deref()))
                    .copied()
            })
            .collect();
        let total: f64 = cells.iter().flatten().map(|r| shortfall(r)).sum();
        let failing = cells
            .iter()
            .flatten()
            .filter(|r| r.state == RowState::Breach)
            .count();
        let mut snap = UnitSnapshot {
            shortfall: total,
            states: BTreeMap::new(),
        };
        for (c, cell) in columns.iter().zip(&cells) {
            if let Some(r) = cell {
                snap.states.insert(c.key(), r.state.as_str().to_string());
            }
        }
        let before = prev.and_then(|p| p.units.get(&u.code));
        let flipped = columns
            .iter()
            .zip(&cells)
            .map(|(c, cell)| match (before, cell) {
                (Some(b), Some(r)) => b
                    .states
                    .get(&c.key())
                    .is_some_and(|was| was != r.state.as_str()),
                _ => false,
            })
            .collect();
        lines.push(SummaryLine {
            idx,
            code: &u.code,
            name: &u.name,
            cells,
            shortfall: total,
            failing,
            change: before.map(|b| total - b.shortfall),
            flipped,
        });
        snapshot.units.insert(u.code.clone(), snap);
    }
    // The whole city first, then the units furthest below their targets.
    lines.sort_by(|a, b| {
        (a.idx != 0)
            .cmp(&(b.idx != 0))
            .then(b.shortfall.total_cmp(&a.shortfall))
            .then(b.failing.cmp(&a.failing))
            .then(a.idx.cmp(&b.idx))
    });

    let cell_text = |r: Option<&Row>, flipped: bool| -> String {
        let mark = if flipped { "*" } else { "" };
        match r {
            None => "".into(),
            Some(r) => {
                let v = r.value.map(|v| points(lang, 100.0 * v));
                match (r.state, v) {
                    (RowState::Ok, Some(v)) => format!("✔ {v}{mark}"),
                    (RowState::Breach, Some(v)) => format!("✘ {v}{mark}"),
                    (_, Some(v)) if r.target.is_some() => format!("— {v}{mark}"),
                    _ => format!("—{mark}"),
                }
            }
        }
    };
    let below = lines.iter().filter(|l| l.idx != 0 && l.failing > 0).count();
    let in_period = |e: &&Entry| e.row.as_ref().is_some_and(|r| r.period == period);
    let news = entries
        .iter()
        .filter(in_period)
        .filter(|e| e.kind == EntryKind::New)
        .count();
    let back = entries
        .iter()
        .filter(in_period)
        .filter(|e| e.kind == EntryKind::Resolved)
        .count();
    let when = to_local(now).format("%H:%M %d/%m/%Y");
    let dashboard = s
        .http
        .public_url
        .as_deref()
        .map(|u| format!("{}/", u.trim_end_matches('/')));

    // Plain text: an aligned table, the criteria numbered and named below it.
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} {root},\n\n{} {when}: {} — {plabel}.",
        w.dear, w.intro, w.summary
    );
    let _ = writeln!(
        text,
        "{below}/{} {}. {}: {news} {}, {back} {}.\n",
        tree.units.len().saturating_sub(1),
        w.units_below,
        w.since_last,
        w.newly_below,
        w.back_on_target
    );
    use unicode_width::UnicodeWidthStr;
    let name_w = lines
        .iter()
        .map(|l| l.name.width())
        .max()
        .unwrap_or(10)
        .clamp(10, 42);
    let cell_w = 8;
    let mut head = pad(w.unit_col, name_w, false);
    for i in 0..columns.len() {
        head.push(' ');
        head.push_str(&pad(&format!("({})", i + 1), cell_w, true));
    }
    let _ = write!(
        head,
        " {} {}",
        pad(w.short_head, 6, true),
        pad(w.delta_head, 8, true)
    );
    let _ = writeln!(text, "{}", head.trim_end());
    let _ = writeln!(text, "{}", "-".repeat(head.trim_end().width()));
    for l in &lines {
        let mut line = pad(l.name, name_w, false);
        for (cell, flipped) in l.cells.iter().zip(&l.flipped) {
            line.push(' ');
            line.push_str(&pad(&cell_text(*cell, *flipped), cell_w, true));
        }
        let change = match l.change {
            Some(c) => signed_points(lang, c),
            None => w.first_letter.into(),
        };
        let _ = write!(
            line,
            " {} {}",
            pad(&points(lang, l.shortfall), 6, true),
            pad(&change, 8, true)
        );
        let _ = writeln!(text, "{}", line.trim_end());
    }
    let _ = writeln!(text);
    for (i, c) in columns.iter().enumerate() {
        let _ = writeln!(text, "({}) {}", i + 1, c.label(s));
    }
    let _ = writeln!(text, "{}\n{}", w.head_note, w.legend);
    if let Some(url) = &dashboard {
        let _ = writeln!(text, "\n{}: {url}", w.dashboard);
    }
    let _ = writeln!(text, "\n--\n{}", w.footer);

    // HTML: the same table, cells coloured, unit names linked to their dashboard pages.
    let mut html = String::from("<html><body style=\"font-family: sans-serif; font-size: 14px\">");
    let _ = write!(
        html,
        "<p>{} {},</p><p>{} {when}: <b>{} — {}</b>.</p><p>{below}/{} {}. {}: <b>{news}</b> {}, <b>{back}</b> {}.</p>",
        w.dear,
        html_escape(root),
        w.intro,
        w.summary,
        html_escape(&plabel),
        tree.units.len().saturating_sub(1),
        w.units_below,
        w.since_last,
        w.newly_below,
        w.back_on_target
    );
    let th = "style=\"padding: 3px 6px; border: 1px solid #ccc; background: #f1f3f4; font-weight: bold\"";
    let _ = write!(
        html,
        "<table class=\"summary\" style=\"border-collapse: collapse\"><tr><th {th}>{}</th>",
        w.unit_col
    );
    for c in &columns {
        let _ = write!(html, "<th {th}>{}</th>", html_escape(&c.label(s)));
    }
    let _ = write!(
        html,
        "<th {th}>{}</th><th {th}>{}</th></tr>",
        w.shortfall_col, w.change_col
    );
    for l in &lines {
        let name = match unit_link(s, l.code) {
            Some(url) => format!(
                "<a href=\"{}\">{}</a>",
                html_escape(&url),
                html_escape(l.name)
            ),
            None => html_escape(l.name),
        };
        let weight = if l.idx == 0 { "bold" } else { "normal" };
        let _ = write!(
            html,
            "<tr><td style=\"padding: 3px 6px; border: 1px solid #ccc; white-space: nowrap; font-weight: {weight}\">{name}</td>"
        );
        for (cell, flipped) in l.cells.iter().zip(&l.flipped) {
            let (bg, fg, state) = match cell.map(|r| r.state) {
                Some(RowState::Ok) => ("#e6f4ea", "#137333", "ok"),
                Some(RowState::Breach) => ("#fce8e6", "#a50e0e", "breach"),
                _ => ("#f8f9fa", "#5f6368", "none"),
            };
            let _ = write!(
                html,
                "<td data-state=\"{state}\" style=\"padding: 3px 6px; border: 1px solid #ccc; text-align: right; white-space: nowrap; background: {bg}; color: {fg}\">{}</td>",
                html_escape(&cell_text(*cell, *flipped))
            );
        }
        let change = match l.change {
            Some(c) => signed_points(lang, c),
            None => w.first_letter.into(),
        };
        let _ = write!(
            html,
            "<td style=\"padding: 3px 6px; border: 1px solid #ccc; text-align: right\">{}</td><td style=\"padding: 3px 6px; border: 1px solid #ccc; text-align: right\">{}</td></tr>",
            points(lang, l.shortfall),
            html_escape(&change)
        );
    }
    html.push_str("</table>");
    let _ = write!(html, "<p><small>{}</small></p>", html_escape(w.legend));
    if let Some(url) = &dashboard {
        let _ = write!(
            html,
            "<p><a href=\"{}\">{}</a></p>",
            html_escape(url),
            w.dashboard
        );
    }
    let _ = write!(html, "<hr><p><small>{}</small></p></body></html>", w.footer);
    (text, html, snapshot)
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
        .unwrap_or(rates::PeriodKind::Quarter);
    Period::containing(kind, now)
}

/// The outbox kind of a unit's letter.
pub const UNIT_LETTER: &str = "alert_digest";
/// The outbox kind of the city summary.
pub const CITY_SUMMARY: &str = "city_summary";
/// The outbox kind of the data-source alerts to the administrators.
pub const SOURCE_ALERT: &str = "source_alert";

/// Everything the digest of one fire needs, gathered from the store.
pub struct Gathered {
    pub entries: Vec<Entry>,
    pub sources: Vec<AlertRecord>,
    /// Records to store as told (including alerts of ended periods, silently retired).
    pub notified: Vec<AlertRecord>,
    /// Every row of every alerted period at `now` (the summary's table reads the subject period).
    pub rows: Vec<Row>,
}

/// How an alert that was told only in a letter still waiting (one the new letter supersedes) is
/// told again: the reader never saw it. `waiting_since` is when the oldest waiting letter about
/// the unit was queued, `last_sent` when the newest sent one was. Pure.
pub fn retold(
    rec: &AlertRecord,
    waiting_since: Option<Epoch>,
    last_sent: Option<Epoch>,
    send_resolved: bool,
) -> Option<EntryKind> {
    let since = waiting_since?;
    if rec.last_notified_at.is_none_or(|t| t < since) {
        return None;
    }
    let unseen = |t: Option<Epoch>| t.is_some_and(|t| last_sent.is_none_or(|s| t > s));
    match rec.phase {
        Phase::Firing if unseen(rec.fired_at) => Some(EntryKind::New),
        Phase::Firing => Some(EntryKind::Continuing),
        Phase::Warning => Some(EntryKind::Warning),
        Phase::Clear if send_resolved && unseen(rec.resolved_at) => Some(EntryKind::Resolved),
        _ => None,
    }
}

/// Picks the alerts to tell at `now` (due, or told only in a letter that is still waiting and
/// will be superseded) and fills in their current rows and projections.
pub async fn gather(app: &App, now: Epoch) -> Result<Gathered, StoreError> {
    let s = &app.settings;
    let policy = Policy::from_settings(&s.alerts);
    let records = app.store.alerts().await?;
    let base: Baselines = baselines(app, now).await?;
    let root = s
        .units
        .iter()
        .find(|u| u.parent.is_none())
        .map(|u| u.code.clone());
    let history: HashMap<(String, String), (Option<Epoch>, Option<Epoch>)> = app
        .store
        .letter_history()
        .await?
        .into_iter()
        .map(|h| ((h.kind, h.unit), (h.waiting_since, h.last_sent_queued_at)))
        .collect();
    let mut rows: HashMap<(String, String, String, String), Row> = HashMap::new();
    let mut all_rows = Vec::new();
    for kind in &s.alerts.periods {
        let period = Period::containing(*kind, now);
        let ev = rates::evaluate(&app.store, s, period, now).await?;
        for r in ev.rows {
            rows.insert(
                (
                    r.unit.clone(),
                    r.metric.as_str().to_string(),
                    r.scope.clone().unwrap_or_default(),
                    period.to_string(),
                ),
                r.clone(),
            );
            all_rows.push(r);
        }
    }
    let mut g = Gathered {
        entries: Vec::new(),
        sources: Vec::new(),
        notified: Vec::new(),
        rows: all_rows,
    };
    for rec in records {
        if rec.key.unit == SOURCE_UNIT {
            if rec.due(&policy, now) {
                g.sources.push(rec);
            }
            continue;
        }
        let kind_of_letter = if root.as_deref() == Some(rec.key.unit.as_str()) {
            CITY_SUMMARY
        } else {
            UNIT_LETTER
        };
        let (waiting_since, last_sent) = history
            .get(&(kind_of_letter.to_string(), rec.key.unit.clone()))
            .copied()
            .unwrap_or((None, None));
        let kind = if rec.due(&policy, now) {
            match rec.notice {
                Some(Notice::New) => EntryKind::New,
                Some(Notice::Warning) => EntryKind::Warning,
                Some(Notice::Resolved) => EntryKind::Resolved,
                None => EntryKind::Continuing,
            }
        } else {
            match retold(&rec, waiting_since, last_sent, s.alerts.send_resolved) {
                Some(k) => k,
                None => continue,
            }
        };
        let k = (
            rec.key.unit.clone(),
            rec.key.metric.clone(),
            rec.key.scope.clone(),
            rec.key.period.clone(),
        );
        let Some(row) = rows.get(&k).cloned() else {
            // An alert of a period that has ended (or a unit no longer configured): retired
            // without mail, as a new period starts new alerts.
            let mut retired = rec.clone();
            retired.notified(now);
            retired.phase = Phase::Clear;
            g.notified.push(retired);
            continue;
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

/// The action lists of the dossiers of `codes` at `now`, for the subject period, each capped
/// at `cap` codes (oldest due date first) with the total counted.
pub async fn actions_of(
    app: &App,
    codes: &[String],
    now: Epoch,
    cap: usize,
) -> Result<Actions, StoreError> {
    let s = &app.settings;
    let period = subject_period(s, now);
    Ok(Actions {
        late_without_apology: app
            .store
            .late_without_apology(codes, period.start(), now, cap)
            .await?,
        due_soon: app
            .store
            .due_soon(
                codes,
                now,
                now + i64::from(s.alerts.due_soon_days) * 86_400,
                cap,
            )
            .await?,
        not_digitized: app
            .store
            .not_digitized(codes, period.start(), now, cap)
            .await?,
    })
}

/// The action lists of one unit's subtree at `now`, capped at `alerts.action_list_cap`.
pub async fn actions(
    app: &App,
    idx: usize,
    tree: &UnitTree,
    now: Epoch,
) -> Result<Actions, StoreError> {
    let codes = subtree_codes(&app.settings, tree, idx);
    actions_of(app, &codes, now, app.settings.alerts.action_list_cap).await
}

/// The action lists of one unit's subtree at `now` as the dashboard shows them: the full lists,
/// up to `reports.action_list_cap` codes each (the letters point there for the rest).
pub async fn actions_full(
    app: &App,
    idx: usize,
    tree: &UnitTree,
    now: Epoch,
) -> Result<Actions, StoreError> {
    let codes = subtree_codes(&app.settings, tree, idx);
    let cap = app
        .settings
        .reports
        .action_list_cap
        .max(app.settings.alerts.action_list_cap);
    actions_of(app, &codes, now, cap).await
}

/// Composes the letters of one digest at `now`: for every unit with an address, its letter when
/// it has an alert to hear of or anything to act on (nothing otherwise); for the root unit, the
/// city summary when any unit has an alert to hear of, and a letter of its own dossiers to act
/// on (the dossiers of its own one-stop codes: its children's are in their letters); for the
/// administrators, the data-source alerts. With `only`, the letters addressed to that unit only
/// (what `dondoc alerts preview` prints). This is the one composition of letters: the digest,
/// the preview and the tests all come through here.
pub async fn compose(
    app: &App,
    g: &Gathered,
    fire: Epoch,
    now: Epoch,
    only: Option<&str>,
) -> Result<Vec<QueuedLetter>, StoreError> {
    let s = &app.settings;
    let lang = s.alerts.language;
    let tree = UnitTree::new(s);
    let mut per_unit: BTreeMap<usize, Vec<Entry>> = BTreeMap::new();
    for e in &g.entries {
        if let Some(idx) = tree.index_of(&e.record.key.unit) {
            per_unit.entry(idx).or_default().push(e.clone());
        }
    }
    let mut letters = Vec::new();
    for (idx, unit) in tree.units.iter().enumerate() {
        if only.is_some_and(|o| o != unit.code) {
            continue;
        }
        let Some(cfg) = s.units.iter().find(|u| u.code == unit.code) else {
            continue;
        };
        if cfg.emails.is_empty() {
            continue;
        }
        let to = Addressee {
            code: &unit.code,
            name: &unit.name,
            emails: &cfg.emails,
            own_only: idx == 0,
        };
        if idx == 0 {
            if !per_unit.is_empty() {
                let prev: Option<SummarySnapshot> = app
                    .store
                    .last_sent_snapshot(CITY_SUMMARY, &unit.code)
                    .await?
                    .and_then(|j| serde_json::from_str(&j).ok());
                let all: Vec<Entry> = per_unit.values().flatten().cloned().collect();
                let (text, html, snapshot) =
                    summary_body(lang, s, &tree, &g.rows, &all, prev.as_ref(), now);
                let w = words(lang);
                let period = subject_period(s, now);
                let firing: std::collections::BTreeSet<(&str, &str, &str)> = g
                    .rows
                    .iter()
                    .filter(|r| r.period == period && r.state == RowState::Breach)
                    .map(|r| {
                        (
                            r.unit.as_str(),
                            r.metric.as_str(),
                            r.scope.as_deref().unwrap_or(""),
                        )
                    })
                    .collect();
                let label = match lang {
                    Language::Vi => period.label_vi(),
                    Language::En => period.to_string(),
                };
                letters.push(QueuedLetter {
                    kind: CITY_SUMMARY.into(),
                    unit: Some(unit.code.clone()),
                    snapshot: serde_json::to_string(&snapshot).ok(),
                    mail: OutgoingMail {
                        message_id: message_id("summary", &unit.code, fire, s),
                        to: cfg.emails.clone(),
                        cc: s.alerts.cc.clone(),
                        subject: format!(
                            "{}: {} — {} {} — {label}",
                            unit.name,
                            w.summary_subject,
                            firing.len(),
                            if lang == Language::Vi {
                                "chỉ tiêu chưa đạt"
                            } else {
                                "rates below target"
                            }
                        ),
                        text,
                        html: Some(html),
                        attachment: None,
                    },
                });
            }
            let acts = actions_of(app, &cfg.one_stop_codes, now, s.alerts.action_list_cap).await?;
            if !acts.is_empty() {
                letters.push(QueuedLetter {
                    kind: UNIT_LETTER.into(),
                    unit: Some(unit.code.clone()),
                    snapshot: None,
                    mail: unit_letter(lang, s, to, &[], &acts, fire, now),
                });
            }
            continue;
        }
        let entries: &[Entry] = per_unit.get(&idx).map(Vec::as_slice).unwrap_or(&[]);
        let acts = actions(app, idx, &tree, now).await?;
        if entries.is_empty() && acts.is_empty() {
            continue;
        }
        letters.push(QueuedLetter {
            kind: UNIT_LETTER.into(),
            unit: Some(unit.code.clone()),
            snapshot: None,
            mail: unit_letter(lang, s, to, entries, &acts, fire, now),
        });
    }
    // ---- issue 19: the Decision 766 points lost this period (crate::score), in each unit's
    // letter and, for the root, in the city summary (not again in its own dossiers' letter) ----
    if !letters.is_empty() {
        let period = subject_period(s, now);
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
        let root = tree.units.first().map(|u| u.code.as_str());
        for l in &mut letters {
            if l.kind == UNIT_LETTER && l.unit.as_deref() == root {
                continue;
            }
            let Some(u) = l.unit.as_deref().and_then(|c| score.unit(c)) else {
                continue;
            };
            let text = std::mem::take(&mut l.mail.text);
            let html = l.mail.html.take().unwrap_or_default();
            let (text, html) =
                crate::score::with_points_lost(text, html, u, &period, lang == Language::Vi);
            l.mail.text = text;
            l.mail.html = Some(html);
        }
    }
    // ---- end issue 19 ----
    if only.is_none() && !g.sources.is_empty() && !s.alerts.admin.is_empty() {
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
        letters.push(QueuedLetter {
            kind: SOURCE_ALERT.into(),
            unit: None,
            snapshot: None,
            mail: OutgoingMail {
                message_id: message_id("sources", "admin", fire, s),
                to: s.alerts.admin.clone(),
                cc: Vec::new(),
                subject,
                text,
                html: None,
                attachment: None,
            },
        });
    }
    Ok(letters)
}

/// The digest job for the fire at `fire`: gathers, composes and queues the letters, marking the
/// alerts they tell of, in one transaction; each letter supersedes the letters about its unit
/// still waiting. Returns how many messages were queued.
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<usize, StoreError> {
    let mut g = gather(app, now).await?;
    let letters = compose(app, &g, fire, now, None).await?;
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
        if r.key.metric == "rejected_records" || r.key.metric == "future_updates" {
            // A jump (or new future-dated records) is an event, told once: the next one is
            // measured from here.
            r.phase = Phase::Clear;
        }
        notified.push(r);
    }
    let (queued, superseded) = app.store.commit_letters(&letters, &notified, now).await?;
    tracing::info!(
        queued,
        superseded,
        told = notified.len(),
        "alert digest composed"
    );
    Ok(queued)
}

/// The letters a unit would receive if a digest were composed now (for `dondoc alerts
/// preview`): the same composition as the digest's, nothing sent or marked. Empty when the
/// unit has nothing to hear of and nothing to act on.
pub async fn preview(app: &App, unit: &str, now: Epoch) -> Result<Vec<OutgoingMail>, StoreError> {
    let g = gather(app, now).await?;
    Ok(compose(app, &g, now, now, Some(unit))
        .await?
        .into_iter()
        .map(|l| l.mail)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::lifecycle::AlertKey;
    use crate::rates::{RowState, TargetView};

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
            subject(Language::Vi, "UBND Phường 1", &entries, &q2, 7),
            "UBND Phường 1: 2 chỉ tiêu chưa đạt — Quý 2/2024"
        );
        assert_eq!(
            subject(Language::En, "UBND Phường 1", &entries, &q2, 0),
            "UBND Phường 1: 2 criteria below target — 2024-Q2"
        );
        let resolved = [entry(Metric::EdocRate, EntryKind::Resolved)];
        assert_eq!(
            subject(Language::Vi, "UBND Phường 1", &resolved, &q2, 0),
            "UBND Phường 1: 1 chỉ tiêu đã đạt lại — Quý 2/2024"
        );
        assert_eq!(
            subject(Language::Vi, "UBND Phường 1", &[], &q2, 3),
            "UBND Phường 1: 3 hồ sơ cần xử lý — Quý 2/2024"
        );
    }

    #[test]
    fn an_alert_told_only_in_a_waiting_letter_is_told_again() {
        let mut rec = entry(Metric::LateRate, EntryKind::New).record;
        rec.phase = Phase::Firing;
        rec.fired_at = Some(100);
        rec.last_notified_at = Some(200);
        // Told at 200 in a letter still waiting since 200; nothing ever sent: new to the reader.
        assert_eq!(retold(&rec, Some(200), None, true), Some(EntryKind::New));
        // A letter sent at 150 (after it fired) told it already: it continues.
        assert_eq!(
            retold(&rec, Some(200), Some(150), true),
            Some(EntryKind::Continuing)
        );
        // Told before the waiting letters, or nothing waiting: the lifecycle decides alone.
        assert_eq!(retold(&rec, Some(300), None, true), None);
        assert_eq!(retold(&rec, None, None, true), None);
        rec.phase = Phase::Clear;
        rec.resolved_at = Some(180);
        assert_eq!(
            retold(&rec, Some(200), Some(150), true),
            Some(EntryKind::Resolved)
        );
        assert_eq!(retold(&rec, Some(200), Some(150), false), None);
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
    fn projection_follows_the_recent_pace_not_the_period_to_date_value() {
        let q2: Period = "2024-Q2".parse().unwrap();
        let t = TargetView {
            min: Some(70.0),
            max: None,
            min_sample: 20,
        };
        let mid = q2.start() + (q2.end() - q2.start()) / 2;
        let two_weeks_ago = mid - 14 * 86_400;
        // 60/100 to date, but the last two weeks were 27 of 30 (90 %): improving.
        let improving = project(
            &row(Metric::OnlineRate, 60, 100, t, RowState::Breach),
            &q2,
            Some((two_weeks_ago, 33, 70)),
            mid,
        );
        let v = improving.at_end.unwrap();
        assert!(v > 0.6 + 0.05, "projected above the current 60 %: {v}");
        // 30 per two weeks for the rest of the quarter, at 90 %.
        let rest = 30.0 / (14.0 * 86_400.0) * (q2.end() - mid) as f64;
        assert!((v - (60.0 + 0.9 * rest) / (100.0 + rest)).abs() < 1e-9);
        let (lo, hi) = improving.range.unwrap();
        assert!(lo < v && v < hi, "{lo} < {v} < {hi}");
        assert_eq!(improving.recent, 30);
        // Sliding: 3 of the last 30 (10 %).
        let sliding = project(
            &row(Metric::OnlineRate, 60, 100, t, RowState::Breach),
            &q2,
            Some((two_weeks_ago, 57, 70)),
            mid,
        );
        assert!(sliding.at_end.unwrap() < 0.6 - 0.05, "{sliding:?}");
        // The same share over ten times the dossiers: a narrower range.
        let many = project(
            &row(Metric::OnlineRate, 600, 1000, t, RowState::Breach),
            &q2,
            Some((two_weeks_ago, 330, 700)),
            mid,
        );
        let (mlo, mhi) = many.range.unwrap();
        assert!(mhi - mlo < hi - lo, "{mlo}–{mhi} vs {lo}–{hi}");
        // Without a stored sample in the window: the period's own pace, the current value.
        let flat = project(
            &row(Metric::OnlineRate, 60, 100, t, RowState::Breach),
            &q2,
            None,
            mid,
        );
        assert!((flat.at_end.unwrap() - 0.6).abs() < 1e-9);
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
        let to = Addressee {
            code: "PHUONG_1",
            name: "UBND Phường 1",
            emails: &[],
            own_only: false,
        };
        let (text, html) = unit_body(
            Language::Vi,
            &s,
            to,
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
