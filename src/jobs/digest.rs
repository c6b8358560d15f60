//! The scheduled digest (`schedule.alerts`): compose and queue each recipient's letters for a
//! fire, then deliver what is queued. Without `[smtp]` alerts are listed, not mailed: the job
//! does nothing. [`due`] tells which fire a command (`dondoc sync`) may serve.
//!
//! It never composes mail itself ([`crate::alerts::digest`] does) and never claims the fire it
//! is given (the daemon claimed it; [`super::alerts`] claims for a command).

use super::JobError;
use crate::alerts::DIGEST_JOB;
use crate::app::App;
use crate::domain::time::{Epoch, epoch, utc};
use crate::schedule::Schedule;
use crate::store::StoreError;

/// What a digest fire did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Letters queued (0 without `[smtp]`).
    pub queued: usize,
    pub delivery: Option<super::deliver::Report>,
}

/// The latest fire of `schedule.alerts` at or before `now` that has not been served yet.
pub async fn due(app: &App, now: Epoch) -> Result<Option<Epoch>, StoreError> {
    let Ok(schedule) = Schedule::parse(&app.settings.schedule.alerts) else {
        return Ok(None);
    };
    let last = app.store.last_fire(DIGEST_JOB).await?;
    let since = last.unwrap_or(i64::MIN).max(now - 31 * 86_400);
    let mut latest = None;
    for t in schedule.fires_after(utc(since)) {
        let t = epoch(t.to_utc());
        if t > now {
            break;
        }
        latest = Some(t);
    }
    Ok(latest.filter(|f| last.is_none_or(|l| *f > l)))
}

/// One digest fire.
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<Report, JobError> {
    if app.settings.smtp.is_none() {
        return Ok(Report::default()); // alerts are listed, not mailed
    }
    let queued = crate::alerts::digest::run_once(app, fire, now).await?;
    Ok(Report {
        queued,
        delivery: Some(super::deliver::run_once(app, now).await?),
    })
}
