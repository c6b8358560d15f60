//! The commitment letter's scheduled job (`letter.schedule`, only with `[[commitments]]`): the
//! returned forms waiting in the inbox, each unit's form and reminders before the deadline, then
//! the delivery of what was queued.
//!
//! It never builds forms or reads workbooks itself ([`crate::letter`] does).

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;

/// What a letter fire did.
pub type Report = crate::letter::job::Outcome;

/// One letter fire.
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<Report, JobError> {
    let outcome = crate::letter::job::run_once(app, fire, now).await?;
    super::deliver::run_once(app, now).await?;
    Ok(outcome)
}
