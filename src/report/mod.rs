//! Reports: the quarterly and annual commitment report (issue #9), the fixed table every unit
//! sends the city, built from what dondoc stores and rendered as xlsx, csv or html.
//!
//! - [`period`]: the period a report covers, on the calendar or the official reporting basis
//!   (the 15th of the month before to the 14th), exact to the second in Asia/Ho_Chi_Minh;
//! - [`model`]: what a report says, gathered once from the store ([`model::build`]): the committed
//!   criteria with every unit's line, the previous period, the action lists, data quality;
//! - [`xlsx`], [`csv`], [`html`]: pure renderers of a [`Report`];
//! - [`scheduled`]: the daemon's `reports` job, which mails the report to `reports.recipients`
//!   through the outbox, once per fire.
//!
//! Everything in a report is in Vietnamese (csv column names excepted: they are for scripts).
//! Reports never carry personal data of citizens: dossier codes, procedure names and dates only.
//! This module never writes records or rates; it reads the store and, for scheduled reports,
//! queues mail.

pub mod csv;
pub mod html;
pub mod model;
pub mod scheduled;
pub mod xlsx;

pub use crate::domain::periods::{Basis, ReportPeriod};
pub use model::{Report, build};

use crate::domain::time::{Epoch, to_local};
use crate::rates::{Metric, RowState, TargetView};

/// The report's title, as the commitment letter names it.
pub const TITLE: &str = "BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU CẢI CÁCH HÀNH CHÍNH ĐÃ CAM KẾT";

pub use crate::domain::mail::XLSX_TYPE;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot build the xlsx workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// An output format of `dondoc report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The workbook officials open: summary, one sheet per criterion, actions, data quality.
    Xlsx,
    /// One row per unit and criterion, for scripts (UTF-8 with a BOM).
    Csv,
    /// One page for a browser or a mail body.
    Html,
}

impl Format {
    /// The format a file name's extension names.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "xlsx" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }

    /// Renders a whole report in this format.
    pub fn render(self, r: &Report) -> Result<Vec<u8>, ReportError> {
        Ok(match self {
            Format::Xlsx => xlsx::workbook(r)?,
            Format::Csv => csv::render(r).into_bytes(),
            Format::Html => html::page(r).into_bytes(),
        })
    }
}

/// A row's judgement in words (colour is never the only signal).
pub fn state_vi(state: RowState) -> &'static str {
    match state {
        RowState::Ok => "Đạt",
        RowState::Breach => "Không đạt",
        RowState::InsufficientSample => "Chưa đủ mẫu để đánh giá",
        RowState::NoData => "Không có số liệu",
        RowState::Untargeted => "Không đặt chỉ tiêu",
    }
}

/// What the numerator and denominator of a criterion count, for readers.
pub fn definition_vi(metric: Metric) -> &'static str {
    match metric {
        Metric::LateRate => {
            "Tử số: hồ sơ trễ hạn. Mẫu số: hồ sơ đã và đang giải quyết trong kỳ (gồm hồ sơ kỳ trước chuyển sang chưa giải quyết xong). Tỷ lệ càng thấp càng tốt."
        }
        Metric::ApologyRate => {
            "Tử số: hồ sơ trễ hạn đã có phiếu xin lỗi. Mẫu số: hồ sơ trễ hạn trong kỳ."
        }
        Metric::DigitizedRate => {
            "Tử số: hồ sơ có kết quả giải quyết được số hóa. Mẫu số: hồ sơ đã giải quyết, trả kết quả trong kỳ."
        }
        Metric::OnlineRate => {
            "Tử số: hồ sơ nộp trực tuyến. Mẫu số: hồ sơ tiếp nhận trong kỳ của các thủ tục cung cấp dịch vụ công trực tuyến toàn trình."
        }
        Metric::OnlinePaymentRate => {
            "Tử số: hồ sơ thanh toán phí, lệ phí trực tuyến. Mẫu số: hồ sơ tiếp nhận trong kỳ có phí, lệ phí."
        }
        Metric::SatisfactionRate => {
            "Tử số: đánh giá hài lòng và rất hài lòng. Mẫu số: hồ sơ được đánh giá trong kỳ."
        }
        Metric::EdocRate => {
            "Tử số: văn bản đến được xử lý trên môi trường mạng. Mẫu số: văn bản đến trong kỳ."
        }
        Metric::EsignRate => "Tử số: văn bản đi được ký số. Mẫu số: văn bản đi ban hành trong kỳ.",
    }
}

/// A fraction as a Vietnamese percentage: `0.9912` → "99,12%".
pub fn pct_vi(v: f64) -> String {
    let s = format!("{:.2}", v * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{}%", s.replace('.', ","))
}

/// A count with Vietnamese thousands separators: 10469 → "10.469".
pub fn int_vi(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Percentage points with a sign: "+1,25" / "−0,50" / "0".
pub fn points_vi(p: f64) -> String {
    let r = (p * 100.0).round() / 100.0;
    if r == 0.0 {
        return "0".into();
    }
    let sign = if r > 0.0 { "+" } else { "−" };
    format!("{sign}{}", format!("{:.2}", r.abs()).replace('.', ","))
}

/// "≥ 99%", "≤ 1%", or "—".
pub fn target_vi(t: Option<TargetView>) -> String {
    match t {
        Some(TargetView { min: Some(v), .. }) => format!("≥ {}", pct_vi(v / 100.0)),
        Some(TargetView { max: Some(v), .. }) => format!("≤ {}", pct_vi(v / 100.0)),
        _ => "—".into(),
    }
}

/// "05/06/2024 08:00".
pub fn datetime_vi(t: Epoch) -> String {
    to_local(t).format("%d/%m/%Y %H:%M").to_string()
}

/// "05/06/2024".
pub fn date_vi(t: Epoch) -> String {
    to_local(t).format("%d/%m/%Y").to_string()
}

/// The lines every format opens with: the period and its basis, the as-of time, the version.
pub fn header_lines(r: &Report) -> [String; 3] {
    let complete = if r.is_final() {
        "số liệu cả kỳ".to_string()
    } else {
        format!(
            "kỳ chưa kết thúc: số liệu lũy kế đến {}",
            datetime_vi(r.horizon)
        )
    };
    [
        format!("{} — {}", TITLE, r.city),
        format!(
            "Kỳ báo cáo: {} ({}), cách tính kỳ {}",
            r.period.label_vi(),
            r.period.bounds_vi(),
            r.period.basis.label_vi()
        ),
        format!(
            "Số liệu tính đến {} (giờ Việt Nam), {complete}. Lập bởi dondoc {} lúc {}.",
            datetime_vi(r.as_of),
            r.version,
            datetime_vi(r.generated_at)
        ),
    ]
}

/// A file name for a report: `bao-cao-chi-tieu-2024-Q2-reporting.xlsx`.
pub fn file_name(r: &Report, ext: &str) -> String {
    format!("bao-cao-chi-tieu-{}.{ext}", r.period.slug())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_from_str;
    use std::collections::HashMap;
    use std::path::Path;

    const SHORT: &str = r#"
[sources.motcua]
kind = "one_stop"
base_url = "http://127.0.0.1:9"

[[units]]
code = "CITY"
name = "UBND thành phố"
"#;

    #[test]
    fn a_short_file_gets_every_reports_default() {
        let s = load_from_str(SHORT, &HashMap::new(), Path::new(".")).unwrap();
        let r = &s.reports;
        assert!(r.recipients.is_empty() && r.cc.is_empty() && !r.unit_extracts);
        assert_eq!(r.basis, Basis::Reporting);
        assert_eq!(r.schedule, "0 0 8 5 3,6,9,12 *");
        assert_eq!(r.addressee, "Phòng Nội vụ");
        assert_eq!(r.action_list_cap, 1000);
        let env = HashMap::from([(
            "DONDOC__REPORTS__RECIPIENTS".to_string(),
            "a@x.gov.vn, b@x.gov.vn".to_string(),
        )]);
        let s = load_from_str(SHORT, &env, Path::new(".")).unwrap();
        assert_eq!(s.reports.recipients, ["a@x.gov.vn", "b@x.gov.vn"]);
    }

    #[test]
    fn reports_keys_are_validated_with_their_paths() {
        let text = format!(
            "{SHORT}\n[reports]\nrecipients = [\"not an address\"]\ncc = \"ok@x.gov.vn\"\nbasis = \"calendar\"\nschedule = \"0 8 5 3,6,9,12 *\"\naction_list_cap = 0\n"
        );
        let problems = load_from_str(&text, &HashMap::new(), Path::new(".")).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"reports.recipients[0]"), "{problems:?}");
        assert!(paths.contains(&"reports.schedule"), "{problems:?}");
        assert!(paths.contains(&"reports.action_list_cap"), "{problems:?}");
        assert_eq!(paths.len(), 3, "{problems:?}");
        let text = format!("{SHORT}\n[reports]\nbasis = \"fiscal\"\nrecipent = []\n");
        let problems = load_from_str(&text, &HashMap::new(), Path::new(".")).unwrap_err();
        let all = format!("{problems:?}");
        assert!(all.contains("reports"), "{all}");
    }

    #[test]
    fn vietnamese_numbers() {
        assert_eq!(pct_vi(0.9912), "99,12%");
        assert_eq!(pct_vi(0.7), "70%");
        assert_eq!(points_vi(1.254), "+1,25");
        assert_eq!(points_vi(-0.5), "−0,50");
        assert_eq!(points_vi(0.001), "0");
        assert_eq!(int_vi(10469), "10.469");
        assert_eq!(int_vi(258), "258");
        assert_eq!(int_vi(1_000_000), "1.000.000");
        let t = TargetView {
            min: Some(99.0),
            max: None,
            min_sample: 20,
        };
        assert_eq!(target_vi(Some(t)), "≥ 99%");
        assert_eq!(target_vi(None), "—");
    }
}
