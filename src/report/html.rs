//! The report as HTML (a page for a browser, and mail bodies) and as plain text (the text part
//! of the mail).
//!
//! Styles are inline, because mail clients drop `<style>` blocks; the judgement is shown by words
//! and by the cell's background, as in the xlsx. Every text from the configuration or the store is
//! escaped.
//!
//! Pure.

use super::model::{ActionKind, Criterion, Line, Report};
use super::xlsx::quality_summary;
use super::{definition_vi, header_lines, int_vi, pct_vi, points_vi, state_vi, target_vi};
use crate::rates::RowState;
use std::fmt::Write as _;

/// Escapes text for HTML content and attributes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TABLE: &str =
    "border-collapse:collapse;font-family:Arial,Helvetica,sans-serif;font-size:13px";
const TH: &str = "border:1px solid #a6a6a6;padding:4px 6px;background:#ddebf7;text-align:center";
const TD: &str = "border:1px solid #a6a6a6;padding:4px 6px";
const NUM: &str = "border:1px solid #a6a6a6;padding:4px 6px;text-align:right";

fn state_style(state: RowState) -> &'static str {
    match state {
        RowState::Ok => "background:#c6efce;color:#006100",
        RowState::Breach => "background:#ffc7ce;color:#9c0006;font-weight:bold",
        RowState::InsufficientSample => "background:#ffeb9c;color:#7f5f00",
        RowState::NoData => "background:#ededed;color:#595959",
        RowState::Untargeted => "",
    }
}

fn opt_pct(v: Option<f64>) -> String {
    v.map(pct_vi).unwrap_or_else(|| "—".into())
}

fn change(l: &Line) -> String {
    l.change_points()
        .map(points_vi)
        .unwrap_or_else(|| "—".into())
}

fn head(out: &mut String, cols: &[&str]) {
    let _ = write!(out, "<table style=\"{TABLE}\"><tr>");
    for c in cols {
        let _ = write!(out, "<th style=\"{TH}\">{}</th>", escape(c));
    }
    out.push_str("</tr>");
}

/// The cells of a judged line: target, numerator, denominator, result, judgement, previous,
/// change.
fn judged(out: &mut String, l: &Line) {
    let st = state_style(l.state);
    let _ = write!(
        out,
        "<td style=\"{TD};text-align:center\">{}</td><td style=\"{NUM}\">{}</td><td style=\"{NUM}\">{}</td>\
         <td style=\"{NUM};{st}\">{}</td><td style=\"{TD};{st}\">{}</td><td style=\"{NUM}\">{}</td><td style=\"{NUM}\">{}</td>",
        escape(&target_vi(l.target)),
        int_vi(l.numerator),
        int_vi(l.denominator),
        opt_pct(l.value),
        state_vi(l.state),
        opt_pct(l.previous),
        change(l)
    );
}

fn header_block(out: &mut String, r: &Report, title: &str) {
    let [_, period, asof] = header_lines(r);
    let _ = write!(
        out,
        "<h2 style=\"font-family:Arial,Helvetica,sans-serif;font-size:17px\">{}</h2>\
         <p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#404040\">{}<br>{}</p>",
        escape(title),
        escape(&period),
        escape(&asof)
    );
}

fn summary_table(out: &mut String, r: &Report) {
    head(
        out,
        &[
            "STT",
            "Chỉ tiêu",
            "Mức cam kết",
            "Tử số",
            "Mẫu số",
            "Kết quả",
            "Đánh giá",
            "Kỳ trước",
            "Thay đổi (điểm %)",
            "Đơn vị không đạt",
        ],
    );
    for (i, c) in r.criteria.iter().enumerate() {
        let Some(l) = c.root() else { continue };
        let _ = write!(
            out,
            "<tr><td style=\"{NUM}\">{}</td><td style=\"{TD};font-weight:bold\">{}</td>",
            i + 1,
            escape(&c.label())
        );
        judged(out, l);
        let failing: Vec<String> = c
            .ranked()
            .iter()
            .filter(|l| l.state == RowState::Breach)
            .map(|l| escape(&l.unit_name))
            .collect();
        let _ = write!(
            out,
            "<td style=\"{TD}\">{}</td></tr>",
            if failing.is_empty() {
                "—".to_string()
            } else {
                failing.join(", ")
            }
        );
    }
    out.push_str("</table>");
}

fn notes(out: &mut String, r: &Report) {
    out.push_str(
        "<ul style=\"font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#404040\">",
    );
    for n in super::xlsx::summary_notes(r) {
        let _ = write!(out, "<li>{}</li>", escape(&n));
    }
    out.push_str("</ul>");
}

fn criterion_table(out: &mut String, c: &Criterion) {
    let _ = write!(
        out,
        "<h3 style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px\">{}</h3>\
         <p style=\"font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#404040\">{}</p>",
        escape(&c.label()),
        escape(definition_vi(c.metric))
    );
    head(
        out,
        &[
            "STT",
            "Đơn vị",
            "Mức cam kết",
            "Tử số",
            "Mẫu số",
            "Kết quả",
            "Đánh giá",
            "Kỳ trước",
            "Thay đổi (điểm %)",
        ],
    );
    for (i, l) in c.ranked().iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td style=\"{NUM}\">{}</td><td style=\"{TD}\">{}</td>",
            i + 1,
            escape(&l.unit_name)
        );
        judged(out, l);
        out.push_str("</tr>");
    }
    if let Some(l) = c.root() {
        let _ = write!(
            out,
            "<tr><td style=\"{TD}\"></td><td style=\"{TD};font-weight:bold\">Toàn thành phố ({})</td>",
            escape(&l.unit_name)
        );
        judged(out, l);
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn actions_table(out: &mut String, r: &Report) {
    out.push_str(
        "<h3 style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px\">Việc cần làm (chỉ ghi mã hồ sơ)</h3>",
    );
    if r.actions.is_empty() {
        out.push_str("<p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px\">Không có hồ sơ nào cần xử lý trong kỳ.</p>");
        return;
    }
    head(
        out,
        &[
            "Đơn vị",
            "Việc cần làm",
            "Số hồ sơ",
            "Mã hồ sơ",
            "Hạn trả kết quả",
        ],
    );
    for list in &r.actions {
        let codes: Vec<String> = list.items.iter().map(|i| escape(&i.code)).collect();
        let dues: Vec<String> = list
            .items
            .iter()
            .map(|i| i.due_at.map(super::date_vi).unwrap_or_default())
            .collect();
        let more = list.total - list.items.len() as i64;
        let tail = if more > 0 {
            format!(" … và {more} hồ sơ khác")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{NUM}\">{}</td><td style=\"{TD}\">{}{tail}</td><td style=\"{TD}\">{}</td></tr>",
            escape(&list.unit_name),
            list.kind.label_vi(),
            int_vi(list.total),
            codes.join("<br>"),
            dues.join("<br>")
        );
    }
    out.push_str("</table>");
}

fn quality_table(out: &mut String, r: &Report) {
    out.push_str(
        "<h3 style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px\">Chất lượng dữ liệu</h3>",
    );
    head(out, &["Vấn đề", "Chi tiết", "Số bản ghi"]);
    let q = &r.quality;
    let mut row = |what: &str, detail: &str, n: i64| {
        let _ = write!(
            out,
            "<tr><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{NUM}\">{n}</td></tr>",
            escape(what),
            escape(detail)
        );
    };
    for (code, n) in q
        .unmapped_dossier_codes
        .iter()
        .chain(&q.unmapped_document_codes)
    {
        row("Mã đơn vị chưa gán cho đơn vị nào", code, *n);
    }
    for x in &q.rejected {
        row(
            "Bản ghi bị loại",
            &format!("{} {}: {}", x.source, x.kind, x.reason),
            x.count,
        );
    }
    row(
        "Hồ sơ không có hạn trả kết quả (không xét trễ hạn)",
        "",
        q.no_due_date,
    );
    row(
        "Hồ sơ có thủ tục không có trong danh mục",
        "",
        q.unknown_procedure,
    );
    out.push_str("</table>");
}

const FOOTER: &str = "Báo cáo do hệ thống dondoc lập tự động từ hệ thống một cửa điện tử và hệ thống quản lý văn bản; không chứa thông tin cá nhân của người dân (chỉ ghi mã hồ sơ).";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:Arial,Helvetica,sans-serif\">{body}<hr><p style=\"font-size:11px;color:#595959\">{}</p></body></html>",
        escape(title),
        escape(FOOTER)
    )
}

/// The whole report as one page: summary, every criterion, actions, data quality.
pub fn page(r: &Report) -> String {
    let mut b = String::new();
    header_block(&mut b, r, &header_lines(r)[0]);
    summary_table(&mut b, r);
    notes(&mut b, r);
    for c in &r.criteria {
        criterion_table(&mut b, c);
    }
    actions_table(&mut b, r);
    quality_table(&mut b, r);
    document(&header_lines(r)[0], &b)
}

/// The mail to the recipients of the report: the summary, with the xlsx attached. Returns
/// (subject, text, html).
pub fn summary_mail(r: &Report, addressee: &str, attachment: &str) -> (String, String, String) {
    let subject = format!(
        "Báo cáo kết quả thực hiện chỉ tiêu cam kết — {} ({}) — {}",
        r.period.label_vi(),
        r.period.bounds_vi(),
        r.city
    );
    let intro = format!(
        "Kính gửi {addressee},\n\ndondoc gửi báo cáo kết quả thực hiện các chỉ tiêu cải cách hành chính đã cam kết của {} — {}. Báo cáo đầy đủ (tổng hợp, từng chỉ tiêu theo đơn vị, việc cần làm, chất lượng dữ liệu) ở tệp đính kèm {attachment}.",
        r.city,
        r.period.label_vi()
    );
    let mut text = String::new();
    let [_, period, asof] = header_lines(r);
    let _ = writeln!(text, "{intro}\n\n{period}\n{asof}\n");
    let _ = writeln!(text, "TỔNG HỢP TOÀN THÀNH PHỐ");
    for (i, c) in r.criteria.iter().enumerate() {
        let Some(l) = c.root() else { continue };
        let _ = writeln!(
            text,
            "{}. {}: {} ({}/{}), mức cam kết {} — {}; kỳ trước {}, thay đổi {} điểm %; {} đơn vị không đạt",
            i + 1,
            c.label(),
            opt_pct(l.value),
            int_vi(l.numerator),
            int_vi(l.denominator),
            target_vi(l.target),
            state_vi(l.state).to_uppercase(),
            opt_pct(l.previous),
            change(l),
            c.count(RowState::Breach)
        );
    }
    let _ = writeln!(text);
    for n in super::xlsx::summary_notes(r) {
        let _ = writeln!(text, "- {n}");
    }
    let _ = writeln!(text, "\n--\n{FOOTER}");

    let mut b = String::new();
    let _ = write!(
        b,
        "<p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px\">{}</p>",
        escape(&intro).replace(
            "\n\n",
            "</p><p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px\">"
        )
    );
    header_block(
        &mut b,
        r,
        &format!("Tổng hợp toàn thành phố — {}", r.period.label_vi()),
    );
    summary_table(&mut b, r);
    notes(&mut b, r);
    let html = document(&subject, &b);
    (subject, text, html)
}

/// A unit's one-page extract as a mail: its line on every criterion and its action lists.
/// Returns (subject, text, html).
pub fn extract_mail(r: &Report, unit: &str, unit_name: &str) -> (String, String, String) {
    let subject = format!(
        "{unit_name}: kết quả thực hiện chỉ tiêu cam kết — {} ({})",
        r.period.label_vi(),
        r.period.bounds_vi()
    );
    let [_, period, asof] = header_lines(r);
    let mut text = format!("Kính gửi {unit_name},\n\n{period}\n{asof}\n\n");
    let mut b = String::new();
    let _ = write!(
        b,
        "<p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px\">Kính gửi {},</p>",
        escape(unit_name)
    );
    header_block(
        &mut b,
        r,
        &format!("{} — {}", unit_name, r.period.label_vi()),
    );
    head(
        &mut b,
        &[
            "Chỉ tiêu",
            "Mức cam kết",
            "Tử số",
            "Mẫu số",
            "Kết quả",
            "Đánh giá",
            "Kỳ trước",
            "Thay đổi (điểm %)",
            "Vị trí (từ kém đến tốt)",
        ],
    );
    for c in &r.criteria {
        let Some(l) = c.lines.iter().find(|l| l.unit == unit) else {
            continue;
        };
        let ranked = c.ranked();
        let rank = ranked
            .iter()
            .position(|x| x.unit == unit)
            .map(|p| format!("{}/{}", p + 1, ranked.len()))
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            b,
            "<tr><td style=\"{TD};font-weight:bold\">{}</td>",
            escape(&c.label())
        );
        judged(&mut b, l);
        let _ = write!(b, "<td style=\"{TD};text-align:center\">{rank}</td></tr>");
        let _ = writeln!(
            text,
            "- {}: {} ({}/{}), mức cam kết {} — {}; kỳ trước {}; vị trí {rank} (xếp từ kém đến tốt)",
            c.label(),
            opt_pct(l.value),
            int_vi(l.numerator),
            int_vi(l.denominator),
            target_vi(l.target),
            state_vi(l.state).to_uppercase(),
            opt_pct(l.previous)
        );
    }
    b.push_str("</table>");
    for list in r.actions_of(unit) {
        let shown: Vec<&str> = list
            .items
            .iter()
            .take(40)
            .map(|i| i.code.as_str())
            .collect();
        let more = list.total - shown.len() as i64;
        let tail = if more > 0 {
            format!(" và {more} hồ sơ khác (xem tệp đính kèm)")
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "\n{} ({}): {}{tail}",
            list.kind.label_vi(),
            int_vi(list.total),
            shown.join(", ")
        );
        let _ = write!(
            b,
            "<p style=\"font-family:Arial,Helvetica,sans-serif;font-size:13px\"><b>{} ({})</b>: {}{}</p>",
            list.kind.label_vi(),
            int_vi(list.total),
            escape(&shown.join(", ")),
            escape(&tail)
        );
    }
    if !r
        .actions_of(unit)
        .any(|a| a.kind == ActionKind::Apology || a.kind == ActionKind::Digitize)
    {
        let _ = writeln!(text, "\nKhông có hồ sơ nào cần xử lý trong kỳ.");
    }
    let _ = writeln!(text, "\n{}.\n\n--\n{FOOTER}", quality_summary(r));
    let html = document(&subject, &b);
    (subject, text, html)
}
