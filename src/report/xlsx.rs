//! The report as an xlsx workbook (rust_xlsxwriter), the format officials open.
//!
//! Sheets, in order: "Tổng hợp" (the whole city, one row per committed criterion), one sheet per
//! criterion (every unit, worst first, the city's total last), "Việc cần làm" (dossier codes to
//! act on), "Chất lượng dữ liệu" (how far to trust the numbers).
//!
//! Every sheet: three header lines (title, period and basis, as-of time and dondoc version), then
//! the table's column header on row 4, frozen with everything above it; column widths fitted to
//! the longest text (display width, so Vietnamese diacritics count once); rates stored as numbers
//! with a percent number format (`0.00%`), counts as numbers, dates as dates; the judgement shown
//! by words *and* by fill (green met, red not met, amber too small a sample, grey no data); print
//! setup A4 landscape, one page wide, the column header repeated on every page, the city and
//! period in the page header and "Trang n / N" in the footer.
//!
//! Sheet names are Vietnamese, at most 31 characters, without `[]:*?/\`, and unique.
//!
//! Pure: bytes in memory, no I/O.

use super::model::{ActionKind, Criterion, Line, Report};
use super::{TITLE, definition_vi, header_lines, state_vi};
use crate::domain::time::Epoch;
use crate::rates::{RowState, TargetView};
use rust_xlsxwriter::{
    Color, DocProperties, Format, FormatAlign, FormatBorder, FormatUnderline, Url, Workbook,
    Worksheet, XlsxError,
};
use unicode_width::UnicodeWidthStr;

/// The row (0-based) of every table's column header; the rows above it hold the header lines.
pub const HEADER_ROW: u32 = 3;

/// The summary sheet's name.
pub const SUMMARY_SHEET: &str = "Tổng hợp";
/// The action sheet's name.
pub const ACTIONS_SHEET: &str = "Việc cần làm";
/// Issue 19: each unit's estimated Decision 766 points.
pub const SCORE_SHEET: &str = "Điểm 766";
/// The data-quality sheet's name.
pub const QUALITY_SHEET: &str = "Chất lượng dữ liệu";
/// The commitment letter's consolidated appendix (only with `[[commitments]]`).
pub const APPENDIX_SHEET: &str = "Phụ lục cam kết";
/// The single sheet of a unit's extract.
pub const EXTRACT_SHEET: &str = "Kết quả đơn vị";

/// A4 in the paper sizes of the xlsx format.
const A4: u8 = 9;

struct Formats {
    title: Format,
    meta: Format,
    header: Format,
    text: Format,
    text_bold: Format,
    int: Format,
    int_bold: Format,
    pct: Format,
    points: Format,
    date: Format,
    note: Format,
    section: Format,
    link: Format,
}

impl Formats {
    fn new() -> Formats {
        let cell = Format::new()
            .set_border(FormatBorder::Thin)
            .set_border_color(Color::RGB(0xA6A6A6))
            .set_align(FormatAlign::VerticalCenter);
        Formats {
            title: Format::new().set_bold().set_font_size(13),
            meta: Format::new()
                .set_italic()
                .set_font_color(Color::RGB(0x404040)),
            header: cell
                .clone()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_background_color(Color::RGB(0xDDEBF7)),
            text: cell.clone(),
            text_bold: cell.clone().set_bold(),
            int: cell.clone().set_num_format("#,##0"),
            int_bold: cell.clone().set_bold().set_num_format("#,##0"),
            pct: cell.clone().set_num_format("0.00%"),
            points: cell.clone().set_num_format("+0.00;-0.00;0.00"),
            date: cell.clone().set_num_format("dd/mm/yyyy hh:mm"),
            note: Format::new().set_font_color(Color::RGB(0x404040)),
            section: Format::new().set_bold(),
            link: cell
                .clone()
                .set_font_color(Color::RGB(0x0563C1))
                .set_underline(FormatUnderline::Single),
        }
    }

    /// The fill and font of a judgement (for the words and the rate beside them).
    fn state(&self, base: &Format, state: RowState) -> Format {
        let (fill, font) = match state {
            RowState::Ok => (Some(0xC6EFCE), 0x006100),
            RowState::Breach => (Some(0xFFC7CE), 0x9C0006),
            RowState::InsufficientSample => (Some(0xFFEB9C), 0x7F5F00),
            RowState::NoData => (Some(0xEDEDED), 0x595959),
            RowState::Untargeted => (None, 0x000000),
        };
        let mut f = base.clone().set_font_color(Color::RGB(font));
        if let Some(fill) = fill {
            f = f.set_background_color(Color::RGB(fill));
        }
        if state == RowState::Breach {
            f = f.set_bold();
        }
        f
    }

    /// A target as a number with its comparison in the format: `≥ 99%` stays a number.
    fn target(&self, t: &TargetView) -> Option<(f64, Format)> {
        let (op, v) = match (t.min, t.max) {
            (Some(v), _) => ("≥", v),
            (None, Some(v)) => ("≤", v),
            _ => return None,
        };
        let digits = if (v - v.round()).abs() < 1e-9 {
            "0"
        } else {
            "0.0#"
        };
        Some((
            v / 100.0,
            self.text
                .clone()
                .set_num_format(format!("\"{op} \"{digits}%"))
                .set_align(FormatAlign::Center),
        ))
    }
}

/// A worksheet being written, keeping each column's widest content.
struct Sheet {
    ws: Worksheet,
    widths: Vec<f64>,
    /// The column header's texts (they wrap: only their longest word sets a minimum width).
    headers: Vec<String>,
}

/// How wide a text shows, in Excel's character units, a little generous for diacritics and
/// capitals.
fn text_width(s: &str) -> f64 {
    s.lines().map(|l| l.width()).max().unwrap_or(0) as f64 * 1.12 + 2.0
}

impl Sheet {
    fn new(name: &str) -> Result<Sheet, XlsxError> {
        let mut ws = Worksheet::new();
        ws.set_name(name)?;
        Ok(Sheet {
            ws,
            widths: Vec::new(),
            headers: Vec::new(),
        })
    }

    fn fit(&mut self, col: u16, width: f64) {
        let c = col as usize;
        if self.widths.len() <= c {
            self.widths.resize(c + 1, 0.0);
        }
        self.widths[c] = self.widths[c].max(width);
    }

    fn text(&mut self, row: u32, col: u16, s: &str, f: &Format) -> Result<(), XlsxError> {
        self.ws.write_string_with_format(row, col, s, f)?;
        self.fit(col, text_width(s));
        Ok(())
    }

    fn number(
        &mut self,
        row: u32,
        col: u16,
        v: f64,
        f: &Format,
        width: f64,
    ) -> Result<(), XlsxError> {
        self.ws.write_number_with_format(row, col, v, f)?;
        self.fit(col, width);
        Ok(())
    }

    fn int(&mut self, row: u32, col: u16, v: i64, f: &Format) -> Result<(), XlsxError> {
        let digits = v.abs().to_string().len() as f64;
        self.number(row, col, v as f64, f, digits * 1.34 + 3.0)
    }

    fn blank(&mut self, row: u32, col: u16, f: &Format) -> Result<(), XlsxError> {
        self.ws.write_blank(row, col, f)?;
        Ok(())
    }

    /// A rate: a number with a percent format, or an empty bordered cell when there is none.
    fn rate(&mut self, row: u32, col: u16, v: Option<f64>, f: &Format) -> Result<(), XlsxError> {
        match v {
            Some(v) => self.number(row, col, v, f, 10.0),
            None => self.text(row, col, "—", f),
        }
    }

    /// Writes the three header lines (not counted in column widths: they overflow to the right).
    fn header_lines(&mut self, lines: &[String], fm: &Formats) -> Result<(), XlsxError> {
        for (i, l) in lines.iter().enumerate() {
            let f = if i == 0 { &fm.title } else { &fm.meta };
            self.ws.write_string_with_format(i as u32, 0, l, f)?;
        }
        Ok(())
    }

    /// Writes the column header row and freezes it with everything above.
    fn columns(&mut self, names: &[&str], fm: &Formats) -> Result<(), XlsxError> {
        for (c, n) in names.iter().enumerate() {
            self.ws
                .write_string_with_format(HEADER_ROW, c as u16, *n, &fm.header)?;
            let longest_word = n.split_whitespace().map(|w| w.width()).max().unwrap_or(0);
            self.fit(c as u16, longest_word as f64 * 1.12 + 3.0);
        }
        self.headers = names.iter().map(|s| s.to_string()).collect();
        self.ws.set_freeze_panes(HEADER_ROW + 1, 0)?;
        self.ws.set_repeat_rows(HEADER_ROW, HEADER_ROW)?;
        Ok(())
    }

    /// A note under a table (not counted in widths).
    fn note(&mut self, row: u32, s: &str, f: &Format) -> Result<(), XlsxError> {
        self.ws.write_string_with_format(row, 0, s, f)?;
        Ok(())
    }

    /// Sets the fitted widths (capped), the header row's height, and the print setup.
    fn finish(mut self, r: &Report, caps: &[f64], fit_height: u16) -> Result<Worksheet, XlsxError> {
        let mut lines_needed = 1usize;
        for (c, w) in self.widths.clone().iter().enumerate() {
            let cap = caps.get(c).copied().unwrap_or(60.0);
            let w = w.clamp(5.0, cap);
            self.ws.set_column_width(c as u16, w)?;
            if let Some(h) = self.headers.get(c) {
                let need = (text_width(h) - 2.0) / (w - 1.0).max(1.0);
                lines_needed = lines_needed.max(need.ceil() as usize);
            }
        }
        self.ws
            .set_row_height(HEADER_ROW, 15.0 * lines_needed.min(4) as f64 + 3.0)?;
        self.ws.set_row_height(0, 20.0)?;
        let esc = |s: &str| s.replace('&', "&&");
        self.ws
            .set_landscape()
            .set_paper_size(A4)
            .set_print_fit_to_pages(1, fit_height)
            .set_margins(0.5, 0.5, 0.7, 0.7, 0.3, 0.3)
            .set_header(format!(
                "&L{}&R{}",
                esc(&r.city),
                esc(&format!(
                    "{} ({})",
                    r.period.label_vi(),
                    r.period.bounds_vi()
                ))
            ))
            .set_footer(format!("&Ldondoc {}&CTrang &P / &N&R&A", esc(r.version)));
        Ok(self.ws)
    }
}

/// Makes `name` a valid, unique sheet name: at most 31 characters, none of `[]:*?/\`, not
/// starting or ending with an apostrophe.
pub fn sheet_name(name: &str, taken: &[String]) -> String {
    let clean: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '-' } else { c })
        .collect();
    let clean = clean.trim().trim_matches('\'').trim().to_string();
    let clean = if clean.is_empty() {
        "Trang".to_string()
    } else {
        clean
    };
    let cut = |s: &str, n: usize| -> String {
        s.chars().take(n).collect::<String>().trim_end().to_string()
    };
    let mut candidate = cut(&clean, 31);
    let mut k = 2;
    while taken
        .iter()
        .any(|t| t.to_lowercase() == candidate.to_lowercase())
    {
        let suffix = format!(" ({k})");
        candidate = format!("{}{suffix}", cut(&clean, 31 - suffix.chars().count()));
        k += 1;
    }
    candidate
}

/// The sheet name of each criterion, in order (after the summary).
pub fn criterion_sheet_names(r: &Report) -> Vec<String> {
    let mut taken = vec![
        SUMMARY_SHEET.to_string(),
        ACTIONS_SHEET.to_string(),
        QUALITY_SHEET.to_string(),
        APPENDIX_SHEET.to_string(),
        SCORE_SHEET.to_string(),
    ];
    let mut out = Vec::new();
    for c in &r.criteria {
        let base = match c.scope_label() {
            None => c.metric.label_vi().to_string(),
            Some(s) => format!("{} - {s}", c.metric.label_vi()),
        };
        let n = sheet_name(&base, &taken);
        taken.push(n.clone());
        out.push(n);
    }
    out
}

/// An instant as an Excel date serial in local time (days since 1899-12-30).
pub fn excel_date(t: Epoch) -> f64 {
    let local = crate::domain::time::to_local(t).naive_local();
    let secs = local.and_utc().timestamp();
    secs as f64 / 86_400.0 + 25_569.0
}

/// The whole report as an xlsx file.
pub fn workbook(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let fm = Formats::new();
    let mut wb = Workbook::new();
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("{TITLE} — {}", r.period.label_vi()))
            .set_subject(format!(
                "{} ({}), {}",
                r.period.label_vi(),
                r.period.bounds_vi(),
                r.period.basis.as_str()
            ))
            .set_author(format!("dondoc {}", r.version))
            .set_company(r.city.clone())
            .set_comment(header_lines(r)[2].clone()),
    );
    let names = criterion_sheet_names(r);
    wb.push_worksheet(summary(r, &fm, &names)?);
    for (c, name) in r.criteria.iter().zip(&names) {
        wb.push_worksheet(criterion(r, c, name, &fm)?);
    }
    wb.push_worksheet(score(r, &fm)?); // issue 19
    wb.push_worksheet(actions(r, &fm)?);
    if let Some(c) = &r.appendix {
        wb.push_worksheet(appendix(r, c, &fm)?);
    }
    wb.push_worksheet(quality(r, &fm)?);
    wb.save_to_buffer()
}

fn target_cell(
    sh: &mut Sheet,
    row: u32,
    col: u16,
    t: Option<TargetView>,
    fm: &Formats,
) -> Result<(), XlsxError> {
    match t.as_ref().and_then(|t| fm.target(t)) {
        Some((v, f)) => sh.number(row, col, v, &f, 10.0),
        None => sh.text(
            row,
            col,
            "—",
            &fm.text.clone().set_align(FormatAlign::Center),
        ),
    }
}

/// The result, judgement, previous value and change of one line, from column `col`.
fn judged_cells(
    sh: &mut Sheet,
    row: u32,
    col: u16,
    l: &Line,
    fm: &Formats,
) -> Result<(), XlsxError> {
    sh.rate(row, col, l.value, &fm.state(&fm.pct, l.state))?;
    sh.text(
        row,
        col + 1,
        state_vi(l.state),
        &fm.state(&fm.text, l.state),
    )?;
    sh.rate(row, col + 2, l.previous, &fm.pct)?;
    match l.change_points() {
        Some(p) => sh.number(row, col + 3, (p * 100.0).round() / 100.0, &fm.points, 9.0),
        None => sh.text(row, col + 3, "—", &fm.text),
    }
}

fn summary(r: &Report, fm: &Formats, names: &[String]) -> Result<Worksheet, XlsxError> {
    let mut sh = Sheet::new(SUMMARY_SHEET)?;
    sh.header_lines(&header_lines(r), fm)?;
    sh.columns(
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
            "Số đơn vị đạt",
            "Số đơn vị không đạt",
            "Trang chi tiết",
        ],
        fm,
    )?;
    let mut row = HEADER_ROW + 1;
    for (i, c) in r.criteria.iter().enumerate() {
        let Some(l) = c.root() else { continue };
        sh.int(row, 0, i as i64 + 1, &fm.int)?;
        sh.text(row, 1, &c.label(), &fm.text_bold)?;
        target_cell(&mut sh, row, 2, l.target, fm)?;
        sh.int(row, 3, l.numerator, &fm.int)?;
        sh.int(row, 4, l.denominator, &fm.int)?;
        judged_cells(&mut sh, row, 5, l, fm)?;
        sh.int(row, 9, c.count(RowState::Ok) as i64, &fm.int)?;
        sh.int(row, 10, c.count(RowState::Breach) as i64, &fm.int)?;
        // A link to the criterion's sheet (the text stays the sheet's name).
        let link = Url::new(format!("internal:'{}'!A1", names[i].replace('\'', "''")))
            .set_text(names[i].clone());
        sh.ws.write_url_with_format(row, 11, link, &fm.link)?;
        sh.fit(11, text_width(&names[i]));
        row += 1;
    }
    if r.criteria.is_empty() {
        sh.note(row, "Không có chỉ tiêu nào được đặt mức cam kết.", &fm.note)?;
        row += 1;
    }
    row += 1;
    for n in summary_notes(r) {
        sh.note(row, &n, &fm.note)?;
        row += 1;
    }
    sh.finish(
        r,
        &[
            6.0, 70.0, 12.0, 12.0, 12.0, 10.0, 14.0, 10.0, 10.0, 9.0, 10.0, 32.0,
        ],
        0,
    )
}

/// The notes under the summary: how to read it, and what it does not see.
pub fn summary_notes(r: &Report) -> Vec<String> {
    let mut out = vec![
        "Kết quả = Tử số / Mẫu số. Chỉ tiêu đạt khi kết quả đạt mức cam kết, so sánh chính xác (không làm tròn).".to_string(),
        format!(
            "\"Chưa đủ mẫu để đánh giá\": mẫu số nhỏ hơn cỡ mẫu tối thiểu của chỉ tiêu. Kỳ trước: {} ({}).",
            r.previous.label_vi(),
            r.previous.bounds_vi()
        ),
    ];
    if !r.is_final() {
        out.push(format!(
            "Kỳ báo cáo chưa kết thúc: số liệu lũy kế đến {}; kết quả cả kỳ có thể khác.",
            super::datetime_vi(r.horizon)
        ));
    }
    let apology: i64 = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Apology)
        .map(|a| a.total)
        .sum();
    let digitize: i64 = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Digitize)
        .map(|a| a.total)
        .sum();
    out.push(format!(
        "Việc cần làm: {apology} hồ sơ trễ hạn chưa có phiếu xin lỗi, {digitize} hồ sơ đã giải quyết chưa số hóa kết quả (trang \"{ACTIONS_SHEET}\")."
    ));
    out.push(quality_line(r));
    out
}

/// One line on data quality, for the summary and the mail.
pub fn quality_line(r: &Report) -> String {
    format!("{} (trang \"{QUALITY_SHEET}\").", quality_summary(r))
}

/// The data-quality counts in one sentence, without a full stop.
pub fn quality_summary(r: &Report) -> String {
    let q = &r.quality;
    let unmapped: i64 = q
        .unmapped_dossier_codes
        .iter()
        .chain(&q.unmapped_document_codes)
        .map(|(_, n)| n)
        .sum();
    let codes = q.unmapped_dossier_codes.len() + q.unmapped_document_codes.len();
    let rejected: i64 = q.rejected.iter().map(|x| x.count).sum();
    format!(
        "Chất lượng dữ liệu (toàn thành phố): {codes} mã đơn vị chưa được cấu hình ({unmapped} bản ghi không tính cho đơn vị nào), {rejected} bản ghi bị loại, {} hồ sơ không có hạn trả, {} hồ sơ có thủ tục không có trong danh mục",
        q.no_due_date, q.unknown_procedure
    )
}

fn criterion(r: &Report, c: &Criterion, name: &str, fm: &Formats) -> Result<Worksheet, XlsxError> {
    let mut sh = Sheet::new(name)?;
    let mut lines = header_lines(r);
    lines[0] = format!("{} — {}", c.label(), r.city);
    sh.header_lines(&lines, fm)?;
    sh.columns(
        &[
            "STT",
            "Mã đơn vị",
            "Đơn vị",
            "Mức cam kết",
            "Tử số",
            "Mẫu số",
            "Kết quả",
            "Đánh giá",
            "Kỳ trước",
            "Thay đổi (điểm %)",
        ],
        fm,
    )?;
    let mut row = HEADER_ROW + 1;
    for (i, l) in c.ranked().iter().enumerate() {
        sh.int(row, 0, i as i64 + 1, &fm.int)?;
        sh.text(row, 1, &l.unit, &fm.text)?;
        sh.text(row, 2, &l.unit_name, &fm.text)?;
        target_cell(&mut sh, row, 3, l.target, fm)?;
        sh.int(row, 4, l.numerator, &fm.int)?;
        sh.int(row, 5, l.denominator, &fm.int)?;
        judged_cells(&mut sh, row, 6, l, fm)?;
        row += 1;
    }
    if let Some(l) = c.root() {
        sh.blank(row, 0, &fm.text_bold)?;
        sh.text(row, 1, &l.unit, &fm.text_bold)?;
        sh.text(
            row,
            2,
            &format!("Toàn thành phố ({})", l.unit_name),
            &fm.text_bold,
        )?;
        target_cell(&mut sh, row, 3, l.target, fm)?;
        sh.int(row, 4, l.numerator, &fm.int_bold)?;
        sh.int(row, 5, l.denominator, &fm.int_bold)?;
        judged_cells(&mut sh, row, 6, l, fm)?;
        row += 1;
    }
    row += 1;
    sh.note(row, definition_vi(c.metric), &fm.note)?;
    sh.note(
        row + 1,
        "Thứ tự: đơn vị không đạt trước, rồi theo kết quả từ kém đến tốt; đơn vị không có số liệu ở cuối. Số liệu của đơn vị cấp trên gồm cả các đơn vị trực thuộc.",
        &fm.note,
    )?;
    sh.finish(
        r,
        &[6.0, 26.0, 60.0, 12.0, 12.0, 12.0, 10.0, 14.0, 10.0, 10.0],
        0,
    )
}

// ---- issue 19: the sheet "Điểm 766" ----

/// Each unit's estimated Decision 766 points: one line per unit (the groups, the points lost,
/// the portal's published total, the first way to win points back), then every unit's
/// indicators with their exact counts, then what is not estimated and why.
fn score(r: &Report, fm: &Formats) -> Result<Worksheet, XlsxError> {
    use crate::score::points::{Group, points};
    let mut sh = Sheet::new(SCORE_SHEET)?;
    let mut lines = header_lines(r);
    lines[0] = format!(
        "Điểm Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg) — ước tính từ dữ liệu hồ sơ — {}",
        r.city
    );
    sh.header_lines(&lines, fm)?;
    let estimated_groups = [
        Group::Tdgq,
        Group::Clgq,
        Group::Tttt,
        Group::Mdhl,
        Group::Mdsh,
    ];
    let headers: Vec<String> = [
        "STT".to_string(),
        "Mã đơn vị".into(),
        "Đơn vị".into(),
        "Điểm ước tính".into(),
        "Tối đa tính được".into(),
        "Điểm bị mất".into(),
    ]
    .into_iter()
    .chain(
        estimated_groups
            .iter()
            .map(|g| format!("{} ({})", g.label_vi(), g.code())),
    )
    .chain([
        "Cổng DVC quốc gia công bố (tổng)".to_string(),
        "Cách lấy lại điểm nhiều nhất".into(),
    ])
    .collect();
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    sh.columns(&refs, fm)?;
    let num = fm.int.clone().set_num_format("0.00");
    let num_bold = fm.int_bold.clone().set_num_format("0.00");
    let mut row = HEADER_ROW + 1;
    for (k, u) in r.score.units.iter().enumerate() {
        let (t, n) = if u.depth == 0 {
            (&fm.text_bold, &num_bold)
        } else {
            (&fm.text, &num)
        };
        sh.int(row, 0, k as i64 + 1, &fm.int)?;
        sh.text(row, 1, &u.unit, t)?;
        sh.text(row, 2, &format!("{}{}", "  ".repeat(u.depth), u.name), t)?;
        sh.number(row, 3, points(u.estimate.estimated_cents()), n, 9.0)?;
        sh.number(row, 4, points(u.estimate.estimable_max_cents()), n, 9.0)?;
        sh.number(row, 5, points(u.lost_cents()), n, 9.0)?;
        for (j, g) in estimated_groups.iter().enumerate() {
            match u.estimate.group(*g).and_then(|x| x.estimated_cents) {
                Some(c) => sh.number(row, 6 + j as u16, points(c), n, 9.0)?,
                None => sh.text(row, 6 + j as u16, "—", t)?,
            }
        }
        let col = 6 + estimated_groups.len() as u16;
        match &u.published {
            Some(p) => sh.number(row, col, p.total(), n, 9.0)?,
            None => sh.text(row, col, "—", t)?,
        }
        let first = u.win_back.first().map(|w| w.text.as_str()).unwrap_or("—");
        sh.text(row, col + 1, first, t)?;
        row += 1;
    }
    row += 1;
    sh.ws
        .write_string_with_format(row, 0, "Chi tiết từng tiêu chí", &fm.section)?;
    row += 1;
    for (c, h) in [
        "Mã đơn vị",
        "Đơn vị",
        "Nhóm",
        "Tiêu chí",
        "Tử số",
        "Mẫu số",
        "Tỷ lệ",
        "Điểm",
        "Tối đa",
        "Ghi chú",
    ]
    .iter()
    .enumerate()
    {
        sh.ws
            .write_string_with_format(row, c as u16 + 1, *h, &fm.header)?;
    }
    row += 1;
    for u in &r.score.units {
        for i in &u.estimate.indicators {
            sh.text(row, 1, &u.unit, &fm.text)?;
            sh.text(row, 2, &u.name, &fm.text)?;
            sh.text(row, 3, i.indicator.group().code(), &fm.text)?;
            sh.text(row, 4, i.indicator.label_vi(), &fm.text)?;
            sh.int(row, 5, i.numerator, &fm.int)?;
            sh.int(row, 6, i.denominator, &fm.int)?;
            sh.rate(row, 7, i.ratio(), &fm.pct)?;
            sh.number(row, 8, points(i.cents), &num, 9.0)?;
            sh.number(row, 9, points(i.indicator.max_cents()), &num, 9.0)?;
            let note = if !i.indicator.confirmed() {
                "Cách chia điểm chưa được xác nhận"
            } else if i.denominator == 0 {
                "Không có hồ sơ: tính 0 điểm"
            } else if i.indicator == crate::score::points::Indicator::Satisfaction {
                "Chưa gồm phản ánh, kiến nghị (PAKN)"
            } else {
                ""
            };
            sh.text(row, 10, note, &fm.text)?;
            row += 1;
        }
    }
    row += 1;
    let first = r.score.units.first();
    sh.note(
        row,
        &format!(
            "dondoc ước tính {} trên 100 điểm của Chỉ số; các phần còn lại cần dữ liệu dondoc không có:",
            first
                .map(|u| crate::score::points::points_vi(u.estimate.estimable_max_cents()))
                .unwrap_or_default()
        ),
        &fm.note,
    )?;
    row += 1;
    for g in Group::ALL {
        if let Some(why) = g.not_estimated_vi() {
            let est = first
                .and_then(|u| u.estimate.group(g))
                .map(|x| x.estimable_max_cents)
                .unwrap_or(0);
            sh.note(
                row,
                &format!(
                    "  {} ({}), tối đa {} điểm, chưa ước tính {} điểm: {why}.",
                    g.label_vi(),
                    g.code(),
                    crate::score::points::points_vi(g.max_cents()),
                    crate::score::points::points_vi(g.max_cents() - est)
                ),
                &fm.note,
            )?;
            row += 1;
        }
    }
    sh.note(
        row,
        "Điểm tính từ tử số, mẫu số chính xác, làm tròn 2 chữ số; đơn vị cấp trên cộng số liệu của các đơn vị trực thuộc. Cách tính: docs/score.md.",
        &fm.note,
    )?;
    sh.finish(
        r,
        &[
            7.0, 16.0, 40.0, 12.0, 12.0, 12.0, 14.0, 14.0, 14.0, 14.0, 14.0, 16.0, 70.0,
        ],
        0,
    )
}
// ---- end issue 19 ----

fn actions(r: &Report, fm: &Formats) -> Result<Worksheet, XlsxError> {
    let mut sh = Sheet::new(ACTIONS_SHEET)?;
    let mut lines = header_lines(r);
    lines[0] = format!("Việc cần làm (chỉ ghi mã hồ sơ) — {}", r.city);
    sh.header_lines(&lines, fm)?;
    sh.columns(
        &[
            "STT",
            "Mã đơn vị",
            "Đơn vị",
            "Việc cần làm",
            "Mã hồ sơ",
            "Thủ tục",
            "Hạn trả kết quả",
            "Ngày kết thúc xử lý",
        ],
        fm,
    )?;
    let mut row = HEADER_ROW + 1;
    let mut n = 0;
    for list in &r.actions {
        for item in &list.items {
            n += 1;
            sh.int(row, 0, n, &fm.int)?;
            sh.text(row, 1, &list.unit, &fm.text)?;
            sh.text(row, 2, &list.unit_name, &fm.text)?;
            sh.text(row, 3, list.kind.label_vi(), &fm.text)?;
            sh.text(row, 4, &item.code, &fm.text)?;
            sh.text(row, 5, &item.procedure, &fm.text)?;
            match item.due_at {
                Some(t) => sh.number(row, 6, excel_date(t), &fm.date, 17.0)?,
                None => sh.blank(row, 6, &fm.text)?,
            }
            match item.ended_at {
                Some(t) => sh.number(row, 7, excel_date(t), &fm.date, 17.0)?,
                None => sh.blank(row, 7, &fm.text)?,
            }
            row += 1;
        }
    }
    if r.actions.is_empty() {
        sh.note(row, "Không có hồ sơ nào cần xử lý trong kỳ.", &fm.note)?;
        row += 1;
    }
    row += 1;
    sh.note(
        row,
        "Hồ sơ trễ hạn chưa có phiếu xin lỗi: trễ hạn trong kỳ, tính đến thời điểm lấy số liệu. Hồ sơ chưa số hóa: đã giải quyết hoặc trả kết quả trong kỳ mà chưa có tệp kết quả số hóa.",
        &fm.note,
    )?;
    row += 1;
    for list in r.actions.iter().filter(|a| a.total > a.items.len() as i64) {
        sh.note(
            row,
            &format!(
                "{}: {} — liệt kê {} hồ sơ đầu tiên, còn {} hồ sơ khác (giới hạn {} hồ sơ mỗi đơn vị).",
                list.unit_name,
                list.kind.label_vi(),
                list.items.len(),
                list.total - list.items.len() as i64,
                r.action_cap
            ),
            &fm.note,
        )?;
        row += 1;
    }
    sh.finish(r, &[7.0, 26.0, 40.0, 40.0, 28.0, 60.0, 17.0, 17.0], 0)
}

/// The letter's appendix as Home Affairs sends it up: every criterion × unit, its result, target
/// and judgement, the evidence, and which units have not returned their form.
fn appendix(
    r: &Report,
    c: &crate::letter::status::Consolidation,
    fm: &Formats,
) -> Result<Worksheet, XlsxError> {
    let mut sh = Sheet::new(APPENDIX_SHEET)?;
    let mut lines = header_lines(r);
    lines[0] = format!(
        "Phụ lục: tổng hợp kết quả thực hiện các nội dung đã cam kết — {}",
        r.city
    );
    sh.header_lines(&lines, fm)?;
    sh.columns(
        &[
            "Mã tiêu chí",
            "Nội dung cam kết",
            "Đơn vị",
            "Kết quả",
            "Chỉ tiêu",
            "Đánh giá",
            "Minh chứng",
            "Ghi chú",
        ],
        fm,
    )?;
    let mut row = HEADER_ROW + 1;
    for x in &c.rows {
        sh.text(row, 0, &x.criterion, &fm.text)?;
        sh.text(row, 1, &x.text, &fm.text)?;
        sh.text(row, 2, &x.unit_name, &fm.text)?;
        sh.text(row, 3, &x.display, &fm.text)?;
        sh.text(row, 4, &x.target, &fm.text)?;
        sh.text(row, 5, x.state.label_vi(), &fm.text)?;
        sh.text(row, 6, &x.evidence, &fm.text)?;
        sh.text(row, 7, &x.note, &fm.text)?;
        row += 1;
    }
    row += 1;
    let names = |codes: &[String]| -> String {
        codes
            .iter()
            .map(|u| {
                c.rows
                    .iter()
                    .find(|x| x.unit == *u)
                    .map(|x| x.unit_name.clone())
                    .unwrap_or_else(|| u.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let deadline = chrono::NaiveDate::parse_from_str(&c.deadline, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| c.deadline.clone());
    sh.note(
        row,
        &if c.not_returned.is_empty() {
            format!("Hạn gửi báo cáo: {deadline}. Mọi đơn vị đã gửi báo cáo.")
        } else {
            format!(
                "Hạn gửi báo cáo: {deadline}. Đơn vị chưa gửi báo cáo ({}): {}.",
                c.not_returned.len(),
                names(&c.not_returned)
            )
        },
        &fm.note,
    )?;
    sh.finish(r, &[22.0, 60.0, 30.0, 22.0, 20.0, 18.0, 36.0, 30.0], 0)
}

fn quality(r: &Report, fm: &Formats) -> Result<Worksheet, XlsxError> {
    let mut sh = Sheet::new(QUALITY_SHEET)?;
    let mut lines = header_lines(r);
    lines[0] = format!("Chất lượng dữ liệu — {}", r.city);
    sh.header_lines(&lines, fm)?;
    sh.columns(&["Vấn đề", "Nguồn / loại", "Chi tiết", "Số bản ghi"], fm)?;
    let q = &r.quality;
    let mut rows: Vec<(String, String, String, i64)> = Vec::new();
    for (code, n) in &q.unmapped_dossier_codes {
        rows.push((
            "Mã đơn vị xử lý chưa gán cho đơn vị nào (không tính vào số liệu)".into(),
            "Một cửa điện tử: hồ sơ".into(),
            code.clone(),
            *n,
        ));
    }
    for (code, n) in &q.unmapped_document_codes {
        rows.push((
            "Mã đơn vị chưa gán cho đơn vị nào (không tính vào số liệu)".into(),
            "Quản lý văn bản: văn bản".into(),
            code.clone(),
            *n,
        ));
    }
    if q.unmapped_dossier_codes.is_empty() && q.unmapped_document_codes.is_empty() {
        rows.push((
            "Mã đơn vị chưa gán cho đơn vị nào".into(),
            "Cả hai hệ thống".into(),
            "Không có: mọi mã đều đã được cấu hình".into(),
            0,
        ));
    }
    if q.rejected.is_empty() {
        rows.push((
            "Bản ghi bị loại (không đúng chuẩn dữ liệu)".into(),
            "Cả hai hệ thống".into(),
            "Không có".into(),
            0,
        ));
    }
    for x in &q.rejected {
        rows.push((
            "Bản ghi bị loại (không đúng chuẩn dữ liệu)".into(),
            format!("{}: {}", x.source, x.kind),
            x.reason.clone(),
            x.count,
        ));
    }
    rows.push((
        "Hồ sơ không có hạn trả kết quả (không xét trễ hạn)".into(),
        "Một cửa điện tử: hồ sơ".into(),
        "Trong kỳ báo cáo".into(),
        q.no_due_date,
    ));
    rows.push((
        "Hồ sơ có thủ tục không có trong danh mục (không tính tỷ lệ trực tuyến toàn trình)".into(),
        "Một cửa điện tử: hồ sơ".into(),
        "Tiếp nhận trong kỳ báo cáo".into(),
        q.unknown_procedure,
    ));
    let mut row = HEADER_ROW + 1;
    for (what, source, detail, n) in &rows {
        sh.text(row, 0, what, &fm.text)?;
        sh.text(row, 1, source, &fm.text)?;
        sh.text(row, 2, detail, &fm.text)?;
        sh.int(row, 3, *n, &fm.int)?;
        row += 1;
    }
    row += 1;
    sh.note(
        row,
        "Mã chưa gán và bản ghi bị loại: toàn bộ dữ liệu đang lưu, không riêng kỳ báo cáo. Bổ sung mã vào cấu hình (one_stop_codes, document_codes) để tính cho đúng đơn vị.",
        &fm.note,
    )?;
    sh.finish(r, &[70.0, 28.0, 60.0, 12.0], 0)
}

/// One unit's one-page extract: its line on every criterion, its rank, its action lists.
pub fn unit_extract(r: &Report, unit: &str) -> Result<Vec<u8>, XlsxError> {
    let fm = Formats::new();
    let mut wb = Workbook::new();
    let name = r
        .criteria
        .first()
        .and_then(|c| c.lines.iter().find(|l| l.unit == unit))
        .map(|l| l.unit_name.clone())
        .unwrap_or_else(|| unit.to_string());
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("{TITLE} — {name} — {}", r.period.label_vi()))
            .set_author(format!("dondoc {}", r.version)),
    );
    let mut sh = Sheet::new(EXTRACT_SHEET)?;
    let mut lines = header_lines(r);
    lines[0] = format!("{} — {name}", TITLE);
    sh.header_lines(&lines, &fm)?;
    sh.columns(
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
        &fm,
    )?;
    let mut row = HEADER_ROW + 1;
    for c in &r.criteria {
        let Some(l) = c.lines.iter().find(|l| l.unit == unit) else {
            continue;
        };
        sh.text(row, 0, &c.label(), &fm.text_bold)?;
        target_cell(&mut sh, row, 1, l.target, &fm)?;
        sh.int(row, 2, l.numerator, &fm.int)?;
        sh.int(row, 3, l.denominator, &fm.int)?;
        judged_cells(&mut sh, row, 4, l, &fm)?;
        let ranked = c.ranked();
        let rank = ranked
            .iter()
            .position(|x| x.unit == unit)
            .map(|p| format!("{}/{}", p + 1, ranked.len()))
            .unwrap_or_else(|| "—".into());
        sh.text(
            row,
            8,
            &rank,
            &fm.text.clone().set_align(FormatAlign::Center),
        )?;
        row += 1;
    }
    row += 1;
    for list in r.actions_of(unit) {
        let shown: Vec<&str> = list
            .items
            .iter()
            .take(40)
            .map(|i| i.code.as_str())
            .collect();
        let more = list.total - shown.len() as i64;
        sh.note(
            row,
            &format!("{} ({}):", list.kind.label_vi(), list.total),
            &fm.section,
        )?;
        row += 1;
        let mut text = shown.join(", ");
        if more > 0 {
            text.push_str(&format!(" và {more} hồ sơ khác (xem báo cáo đầy đủ)"));
        }
        sh.ws.merge_range(
            row,
            0,
            row,
            8,
            &text,
            &fm.note.clone().set_text_wrap().set_align(FormatAlign::Top),
        )?;
        let lines = (text.width() as f64 / 150.0).ceil().clamp(1.0, 12.0);
        sh.ws.set_row_height(row, 15.0 * lines)?;
        row += 1;
    }
    sh.note(row + 1, &format!("{}.", quality_summary(r)), &fm.note)?;
    let ws = sh.finish(r, &[60.0, 12.0, 10.0, 10.0, 10.0, 14.0, 10.0, 10.0, 9.0], 1)?;
    wb.push_worksheet(ws);
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let taken = vec!["Tổng hợp".to_string()];
        assert_eq!(
            sheet_name("Số hóa: kết quả [a/b]", &taken),
            "Số hóa- kết quả -a-b-"
        );
        let long = "Mức độ hài lòng - dat_dai_xay_dung_dau_tu_va_moi_truong";
        let a = sheet_name(long, &taken);
        assert!(a.chars().count() <= 31, "{a}");
        let b = sheet_name(long, std::slice::from_ref(&a));
        assert_ne!(a.to_lowercase(), b.to_lowercase());
        assert!(b.chars().count() <= 31 && b.ends_with(" (2)"), "{b}");
        assert_eq!(sheet_name("tổng hợp", &taken), "tổng hợp (2)");
    }

    #[test]
    fn excel_dates_are_local() {
        let t = crate::domain::time::parse_compact("20240614235959")
            .unwrap()
            .unwrap();
        let serial = excel_date(t);
        // 2024-06-14 is serial 45457; 23:59:59 is just under a day later.
        assert!(
            (serial - 45457.0 - 86_399.0 / 86_400.0).abs() < 1e-9,
            "{serial}"
        );
    }
}
