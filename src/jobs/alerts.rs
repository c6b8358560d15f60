//! The alert step after an evaluation, as `dondoc sync` takes it: the lifecycle of every alert
//! ([`crate::alerts::observe`]); then, when `[smtp]` is configured, the digest if one of
//! `schedule.alerts` is due (claimed in `job_runs` under the digest job's name, so that the
//! daemon and a command never serve one fire twice) and the delivery of what is queued.
//!
//! It never composes or sends mail itself ([`crate::alerts`] does), and never mails without
//! `[smtp]`: alerts are then evaluated and listed only.

use super::JobError;
use crate::alerts::mailer::Mailer;
use crate::alerts::{DIGEST_JOB, outbox};
use crate::app::App;
use crate::domain::time::Epoch;
use crate::rates::Evaluation;

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

/// The mailer of `[smtp]` (`None` without the section).
pub fn mailer(app: &App) -> Result<Option<Mailer>, JobError> {
    match &app.settings.smtp {
        None => Ok(None),
        Some(smtp) => Ok(Some(Mailer::from_settings(smtp)?)),
    }
}

/// After an evaluation: the lifecycle step; then, with a `mailer`, the digest if one is due and
/// the delivery of what is queued.
pub async fn run_once(
    app: &App,
    evaluations: &[Evaluation],
    mailer: Option<&Mailer>,
    now: Epoch,
) -> Result<AlertsReport, JobError> {
    let changed = crate::alerts::observe::run_once(app, evaluations, now)
        .await?
        .len();
    let mut report = mail(app, mailer, now).await?;
    report.changed = changed;
    Ok(report)
}

/// With a `mailer`: the digest if one is due (claimed, run, its end recorded), then the delivery.
pub(super) async fn mail(
    app: &App,
    mailer: Option<&Mailer>,
    now: Epoch,
) -> Result<AlertsReport, JobError> {
    let mut report = AlertsReport::default();
    let Some(mailer) = mailer else {
        report.not_mailed = Some(
            "no [smtp] section: alerts are evaluated and listed (dondoc alerts list), not mailed"
                .into(),
        );
        return Ok(report);
    };
    if let Some(fire) = super::digest::due(app, now).await?
        && app
            .store
            .claim_fire(DIGEST_JOB, fire, &super::instance_name(), now)
            .await?
    {
        let result = crate::alerts::digest::run_once(app, fire, now).await;
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
