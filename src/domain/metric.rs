//! The eight rates of `../shared/spec/metrics.md`, by name, with their direction.
//!
//! This is the one list of metric names: configuration validation, evaluation, the CLI and the
//! reports all read it. It must never hold behaviour beyond naming.

use std::fmt;

/// A rate of metrics.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    LateRate,
    ApologyRate,
    DigitizedRate,
    OnlineRate,
    OnlinePaymentRate,
    SatisfactionRate,
    EdocRate,
    EsignRate,
}

impl Metric {
    /// Every metric, in the order metrics.md lists them (and reports print them).
    pub const ALL: [Metric; 8] = [
        Metric::LateRate,
        Metric::ApologyRate,
        Metric::DigitizedRate,
        Metric::OnlineRate,
        Metric::OnlinePaymentRate,
        Metric::SatisfactionRate,
        Metric::EdocRate,
        Metric::EsignRate,
    ];

    /// The metrics computed from dossiers (the others come from documents).
    pub const DOSSIER: [Metric; 6] = [
        Metric::LateRate,
        Metric::ApologyRate,
        Metric::DigitizedRate,
        Metric::OnlineRate,
        Metric::OnlinePaymentRate,
        Metric::SatisfactionRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LateRate => "late_rate",
            Metric::ApologyRate => "apology_rate",
            Metric::DigitizedRate => "digitized_rate",
            Metric::OnlineRate => "online_rate",
            Metric::OnlinePaymentRate => "online_payment_rate",
            Metric::SatisfactionRate => "satisfaction_rate",
            Metric::EdocRate => "edoc_rate",
            Metric::EsignRate => "esign_rate",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// True when a lower value is better (only `late_rate`).
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::LateRate)
    }

    /// The criterion's name as officials write it.
    pub fn label_vi(self) -> &'static str {
        match self {
            Metric::LateRate => "Hồ sơ trễ hạn",
            Metric::ApologyRate => "Xin lỗi hồ sơ trễ hạn",
            Metric::DigitizedRate => "Số hóa kết quả",
            Metric::OnlineRate => "Trực tuyến toàn trình",
            Metric::OnlinePaymentRate => "Thanh toán trực tuyến",
            Metric::SatisfactionRate => "Mức độ hài lòng",
            Metric::EdocRate => "Văn bản đến xử lý trên mạng",
            Metric::EsignRate => "Văn bản đi ký số",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every metric name, comma-separated, for error messages.
pub fn all_names() -> String {
    Metric::ALL.map(Metric::as_str).join(", ")
}
