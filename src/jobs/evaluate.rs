//! The evaluation job: the current month, quarter and year at `now`, for every unit, metric and
//! scope, from what is stored, upserted as today's samples (`dondoc evaluate`, and each sync).
//!
//! It never reads upstream and never touches alerts; the rates themselves are
//! [`crate::rates`]'s.

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;
use crate::rates::Evaluation;
use std::time::Duration;

/// What an evaluation did.
#[derive(Debug)]
pub struct Report {
    /// Month, quarter, year.
    pub evaluations: Vec<Evaluation>,
    pub elapsed: Duration,
}

impl Report {
    /// Rows evaluated in all.
    pub fn rows(&self) -> usize {
        self.evaluations.iter().map(|e| e.rows.len()).sum()
    }
}

/// Evaluates the current periods and stores them.
pub async fn run_once(app: &App, now: Epoch) -> Result<Report, JobError> {
    let started = std::time::Instant::now();
    let evaluations = crate::rates::run_once(app, now).await?;
    Ok(Report {
        evaluations,
        elapsed: started.elapsed(),
    })
}
