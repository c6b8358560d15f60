//! The scheduled commitment report (`reports.schedule`): built for the period a fire closes,
//! queued to its recipients, then delivered.
//!
//! It never builds the report itself ([`crate::report::scheduled`] does) and never mails
//! without `[smtp]`.

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;

/// What a reports fire did.
pub type Report = crate::report::scheduled::Outcome;

/// One reports fire.
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<Report, JobError> {
    let outcome = crate::report::scheduled::run_once(app, fire, now).await?;
    super::deliver::run_once(app, now).await?;
    Ok(outcome)
}
