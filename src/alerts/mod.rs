//! Alerts: telling a unit, early, that it drifts under its target, with the dossiers to fix.
//!
//! - [`lifecycle`]: the pure state machine of one alert (pending, firing, resolved, warning);
//! - [`observe`]: runs it over each evaluation, plus the data-source checks;
//! - [`digest`]: one mail per recipient per send, queued with the alert marks in one transaction;
//! - [`outbox`]: delivery, once, with retries; [`mailer`]: SMTP (lettre) or `.eml` files.
//!
//! A composed mail is `crate::domain::mail::OutgoingMail`.
//!
//! When these run is the jobs' ([`crate::jobs::alerts`], [`crate::jobs::digest`],
//! [`crate::jobs::deliver`]): this module keeps no fire bookkeeping of its own. Mail never carries
//! personal data of citizens (dossier codes only), and this module never logs an SMTP password.

pub mod digest;
pub mod lifecycle;
pub mod mailer;
pub mod observe;
pub mod outbox;

/// The job name of digest fires in `job_runs` (the daemon's digest job and `dondoc sync`'s
/// digest step share it, so that the two never serve one fire twice).
pub const DIGEST_JOB: &str = "alerts_digest";
