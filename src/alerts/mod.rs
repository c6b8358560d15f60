//! Alerts: telling a unit, early, that it drifts under its target, with the dossiers to fix.
//!
//! - [`lifecycle`]: the pure state machine of one alert (pending, firing, resolved, warning);
//! - [`observe`]: runs it over each evaluation, plus the data-source checks;
//! - [`digest`]: one mail per recipient per send, queued with the alert marks in one transaction;
//! - [`outbox`]: delivery, once, with retries; [`mailer`]: SMTP (lettre) or `.eml` files.
//!
//! A composed mail is `crate::domain::mail::OutgoingMail`.
//!
//! [`run_once`] is what a sync calls after the metrics are evaluated. Mail never carries personal
//! data of citizens (dossier codes only), and this module never logs an SMTP password.

pub mod digest;
pub mod lifecycle;
pub mod mailer;
pub mod observe;
pub mod outbox;

use crate::app::App;
use crate::domain::time::{Epoch, epoch, utc};
use crate::rates::Evaluation;
use crate::schedule::Schedule;
use crate::store::StoreError;

/// The job name of digest fires in `job_runs`.
pub const DIGEST_JOB: &str = "alerts_digest";

/// What the alert step of a sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AlertsReport {
    pub changed: usize,
    pub digest_fire: Option<Epoch>,
    pub queued: usize,
    pub delivery: outbox::DeliveryReport,
    /// Why mail was not sent, when it was not (no `[smtp]`).
    pub not_mailed: Option<String>,
}

/// The latest fire of `schedule.alerts` at or before `now` that has not been served yet.
pub async fn digest_due(app: &App, now: Epoch) -> Result<Option<Epoch>, StoreError> {
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

/// After an evaluation: the lifecycle step; then, when `[smtp]` is configured, the digest if one
/// is due and the delivery of what is queued.
pub async fn run_once(
    app: &App,
    evaluations: &[Evaluation],
    mailer: Option<&mailer::Mailer>,
    now: Epoch,
) -> Result<AlertsReport, StoreError> {
    let mut report = AlertsReport {
        changed: observe::run_once(app, evaluations, now).await?.len(),
        ..Default::default()
    };
    let Some(mailer) = mailer else {
        report.not_mailed = Some(
            "no [smtp] section: alerts are evaluated and listed (dondoc alerts list), not mailed"
                .into(),
        );
        return Ok(report);
    };
    if let Some(fire) = digest_due(app, now).await?
        && app
            .store
            .claim_fire(DIGEST_JOB, fire, &instance_name(), now)
            .await?
    {
        let result = digest::run_once(app, fire, now).await;
        let error = result.as_ref().err().map(|e| e.to_string());
        app.store
            .finish_fire(DIGEST_JOB, fire, error.as_deref(), now)
            .await?;
        report.queued = result?;
        report.digest_fire = Some(fire);
    }
    report.delivery = outbox::deliver_once(app, mailer, now).await?;
    Ok(report)
}

/// Who claims a job fire: host name and process id.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dondoc".into());
    format!("{host}:{}", std::process::id())
}
