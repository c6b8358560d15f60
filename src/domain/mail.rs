//! A mail as dondoc composes it and the outbox keeps it: addresses, subject, a plain-text body, an
//! optional HTML alternative and an optional attachment. The Message-ID is deterministic, so that
//! a message delivered twice after a crash is recognisably the same message.
//!
//! No personal data of citizens ever goes into a message: dossier codes only.

/// The MIME type of an xlsx attachment (reports, the letter's forms).
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A message ready to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Without angle brackets, e.g. `digest.PHUONG_1.2024-06-20T0800.3f2a@dondoc`.
    pub message_id: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachment: Option<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}
