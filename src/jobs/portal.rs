//! The collection of the national portal's published Decision 766 figures (`portal.schedule`,
//! only with an enabled `[portal]`; `dondoc score portal-collect` by hand).
//!
//! It never asks the portal itself ([`crate::score::portal`] does, politely, behind its circuit).

use super::JobError;
use crate::app::App;
use crate::domain::time::Epoch;

/// What a collection did.
pub type Report = crate::score::portal::CollectReport;

/// One collection.
pub async fn run_once(app: &App, now: Epoch) -> Result<Report, JobError> {
    Ok(crate::score::portal::run_once(app, now).await?)
}
