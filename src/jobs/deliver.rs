//! The outbox's delivery (`schedule.deliver`, and after every job that queues mail): each queued
//! message sent once, with retries, through `[smtp]`.
//!
//! It never composes mail and never sends without `[smtp]` (then nothing is queued to send).

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;

/// What a delivery did.
pub type Report = crate::alerts::outbox::DeliveryReport;

/// Sends what is due in the outbox (nothing without `[smtp]`).
pub async fn run_once(app: &App, now: Epoch) -> Result<Report, JobError> {
    let Some(mailer) = super::alerts::mailer(app)? else {
        return Ok(Report::default());
    };
    Ok(crate::alerts::outbox::deliver_once(app, &mailer, now).await?)
}
