//! The commitment letter, end to end (issue 20, docs/letter.md): every criterion of the letter
//! tracked, not only the eight rates dondoc computes.
//!
//! - [`register`]: the criteria of `[[commitments]]`, who owns them, the periods and deadlines
//!   (each quarter by the 12th of its last month, the year by 12 December, Asia/Ho_Chi_Minh);
//! - [`status`]: the consolidation of a period, every criterion × unit with its value, target and
//!   state (met, missed, missing, late, pending, not_judged), and the units whose form is not back;
//! - [`forms`]: each unit's pre-filled workbook (its automatic figures, protected; its manual
//!   rows to complete);
//! - [`import`]: a returned workbook read and validated cell by cell, recorded whole or not at all;
//! - [`job`]: the daemon's `letter` job: forms mailed N days before the deadline, reminders to
//!   the units that have not returned theirs, the inbox folder imported.
//!
//! This module reads the configuration, the store and the metrics (and the report's pure period
//! helpers); it queues mail through the store's outbox. It never imports `http`, never writes
//! records or rates, and never carries citizens' personal data (dossier codes only).

pub mod forms;
pub mod import;
pub mod job;
pub mod register;
pub mod status;

/// What went wrong with the letter's forms.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot build the form workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error(
        "{file} was refused whole (nothing of it was recorded): {}\n{}",
        if .problems.len() == 1 { "1 problem".to_string() } else { format!("{} problems", .problems.len()) },
        .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    )]
    Invalid { file: String, problems: Vec<String> },
}
