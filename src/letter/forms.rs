//! Each unit's form of a period, pre-filled: one workbook per unit (`<UNIT>.xlsx`) with one sheet,
//! [`SHEET`]. Its head names the unit, its code, the period and the deadline; its table lists the
//! unit's automatic criteria with dondoc's figures (and the dossier codes to act on), then its
//! manual criteria as rows to complete. The sheet is protected: only the value, evidence and note
//! cells of the manual rows are unlocked (shaded), so that what dondoc fills stays as filled.
//!
//! The layout is a contract with [`super::import`]: the head cells and the columns below.
//! Pure: a [`Consolidation`] in, bytes out.

use super::LetterError;
use super::register::kind_vi;
use super::status::{Consolidation, StatusRow};
use crate::config::{CommitmentKind, Settings};
use rust_xlsxwriter::{DataValidation, Format, FormatAlign, FormatBorder, Workbook};

/// The form's sheet.
pub const SHEET: &str = "Phụ lục";
/// The marker of a dondoc form (cell B6), and its layout version.
pub const MARKER: &str = "dondoc-letter-form-1";
/// Rows (0-based) of the head values, in column B.
pub const ROW_UNIT_NAME: u32 = 2;
pub const ROW_UNIT_CODE: u32 = 3;
pub const ROW_PERIOD: u32 = 4;
pub const ROW_MARKER: u32 = 5;
/// The table's header row (0-based); criteria start on the next row.
pub const ROW_HEADER: u32 = 7;
/// Columns (0-based).
pub const COL_CODE: u16 = 0;
pub const COL_TEXT: u16 = 1;
pub const COL_KIND: u16 = 2;
pub const COL_TARGET: u16 = 3;
pub const COL_VALUE: u16 = 4;
pub const COL_EVIDENCE: u16 = 5;
pub const COL_NOTE: u16 = 6;
pub const COL_SOURCE: u16 = 7;

/// What "done" and "not done" are written as on the form (the import accepts more).
pub const DONE_VI: &str = "Đã hoàn thành";
pub const NOT_DONE_VI: &str = "Chưa hoàn thành";

/// The file name of a unit's form.
pub fn file_name(unit: &str) -> String {
    format!("{unit}.xlsx")
}

/// The workbook of `unit`'s form.
pub fn workbook(s: &Settings, c: &Consolidation, unit: &str) -> Result<Vec<u8>, LetterError> {
    let rows: Vec<&StatusRow> = c.rows_of(unit).collect();
    let unit_name = rows
        .first()
        .map(|r| r.unit_name.clone())
        .or_else(|| {
            s.units
                .iter()
                .find(|u| u.code == unit)
                .map(|u| u.name.clone())
        })
        .unwrap_or_else(|| unit.to_string());
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(SHEET)?;
    let title = Format::new().set_bold().set_font_size(13);
    let bold = Format::new().set_bold();
    let head = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_background_color("#D9E1F2");
    let cell = Format::new()
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Top);
    let open = Format::new()
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Top)
        .set_background_color("#FFF2CC")
        .set_unlocked();
    ws.write_string_with_format(
        0,
        0,
        "PHỤ LỤC: BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC NỘI DUNG ĐÃ CAM KẾT",
        &title,
    )?;
    ws.write_string(
        1,
        0,
        "Điền các ô tô màu vàng (cột Kết quả, Minh chứng, Ghi chú); các ô khác do dondoc điền, không sửa.",
    )?;
    let head_rows: [(u32, &str, String); 4] = [
        (ROW_UNIT_NAME, "Đơn vị:", unit_name.clone()),
        (ROW_UNIT_CODE, "Mã đơn vị:", unit.to_string()),
        (ROW_PERIOD, "Kỳ báo cáo:", c.period.clone()),
        (ROW_MARKER, "Mẫu:", MARKER.to_string()),
    ];
    for (r, label, value) in head_rows {
        ws.write_string_with_format(r, 0, label, &bold)?;
        ws.write_string(r, 1, value)?;
    }
    let deadline = chrono::NaiveDate::parse_from_str(&c.deadline, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| c.deadline.clone());
    ws.write_string(
        ROW_PERIOD,
        2,
        format!("{} — hạn gửi Phòng Nội vụ: {deadline}", c.label),
    )?;
    let headers = [
        "Mã tiêu chí",
        "Nội dung cam kết",
        "Loại",
        "Chỉ tiêu",
        "Kết quả",
        "Minh chứng (số, ngày văn bản)",
        "Ghi chú",
        "Nguồn số liệu / hồ sơ cần xử lý",
    ];
    for (i, h) in headers.iter().enumerate() {
        ws.write_string_with_format(ROW_HEADER, i as u16, *h, &head)?;
    }
    let mut r = ROW_HEADER + 1;
    let done_list = DataValidation::new()
        .allow_list_strings(&[DONE_VI, NOT_DONE_VI])?
        .ignore_blank(true);
    for row in rows.iter().filter(|r| r.automatic) {
        ws.write_string_with_format(r, COL_CODE, &row.criterion, &cell)?;
        ws.write_string_with_format(r, COL_TEXT, &row.text, &cell)?;
        ws.write_string_with_format(r, COL_KIND, kind_vi(row.kind), &cell)?;
        ws.write_string_with_format(r, COL_TARGET, &row.target, &cell)?;
        ws.write_string_with_format(r, COL_VALUE, &row.display, &cell)?;
        ws.write_string_with_format(r, COL_EVIDENCE, "", &cell)?;
        ws.write_string_with_format(r, COL_NOTE, row.state.label_vi(), &cell)?;
        let mut source = "Tự động (dondoc)".to_string();
        if row.codes_total > 0 {
            let more = row.codes_total - row.codes.len() as i64;
            source.push_str(&format!(
                ": {} hồ sơ cần xử lý: {}{}",
                row.codes_total,
                row.codes.join(", "),
                if more > 0 {
                    format!(" và {more} hồ sơ khác")
                } else {
                    String::new()
                }
            ));
        }
        ws.write_string_with_format(r, COL_SOURCE, source, &cell)?;
        r += 1;
    }
    for row in rows.iter().filter(|r| !r.automatic) {
        ws.write_string_with_format(r, COL_CODE, &row.criterion, &cell)?;
        ws.write_string_with_format(r, COL_TEXT, &row.text, &cell)?;
        ws.write_string_with_format(r, COL_KIND, kind_vi(row.kind), &cell)?;
        ws.write_string_with_format(r, COL_TARGET, &row.target, &cell)?;
        // A value already returned is shown again, for a corrected form.
        let prefill = match (row.kind, row.value.as_deref()) {
            (_, None) => String::new(),
            (CommitmentKind::Done, Some("done")) => DONE_VI.into(),
            (CommitmentKind::Done, Some(_)) => NOT_DONE_VI.into(),
            (CommitmentKind::Date, Some(_)) => row.display.clone(),
            (_, Some(v)) => v.to_string(),
        };
        match (row.kind, row.value.as_deref()) {
            (CommitmentKind::Percent | CommitmentKind::Count, Some(v))
                if v.parse::<f64>().is_ok() =>
            {
                ws.write_number_with_format(r, COL_VALUE, v.parse::<f64>().unwrap_or(0.0), &open)?;
            }
            _ => {
                ws.write_string_with_format(r, COL_VALUE, prefill, &open)?;
            }
        }
        ws.write_string_with_format(r, COL_EVIDENCE, &row.evidence, &open)?;
        ws.write_string_with_format(r, COL_NOTE, &row.note, &open)?;
        let hint = match row.kind {
            CommitmentKind::Percent => "Đơn vị báo cáo: số phần trăm, ví dụ 92,5",
            CommitmentKind::Count => "Đơn vị báo cáo: số nguyên, ví dụ 2",
            CommitmentKind::Done => "Đơn vị báo cáo: Đã hoàn thành / Chưa hoàn thành",
            CommitmentKind::Date => "Đơn vị báo cáo: ngày dd/mm/yyyy",
        };
        ws.write_string_with_format(r, COL_SOURCE, hint, &cell)?;
        if row.kind == CommitmentKind::Done {
            ws.add_data_validation(r, COL_VALUE, r, COL_VALUE, &done_list)?;
        }
        r += 1;
    }
    for (col, width) in [
        (0u16, 24.0),
        (1, 60.0),
        (2, 16.0),
        (3, 22.0),
        (4, 22.0),
        (5, 30.0),
        (6, 24.0),
        (7, 48.0),
    ] {
        ws.set_column_width(col, width)?;
    }
    ws.protect();
    ws.set_landscape();
    ws.set_paper_size(9);
    ws.set_print_fit_to_pages(1, 0);
    Ok(wb.save_to_buffer()?)
}
