//! Delivery of the outbox: each queued message is claimed (with a lease), sent, and marked before
//! the next is sent.
//!
//! - a 5xx reply fails the message at once, with the server's words kept (`dondoc alerts list`);
//! - anything else (4xx, connection refused, TLS, timeout) is retried with backoff (1 min, 2, 4,
//!   … capped at an hour) for `alerts.mail_lifetime` after the message was queued (default three
//!   days, as a mail transfer agent keeps a queue for days), or up to `alerts.max_attempts` when
//!   that is set; then failed, with the last error kept: never silently lost;
//! - a letter that a newer letter about the same unit to the same recipients replaced while it
//!   waited is `superseded` (the digest marks it when queueing the newer one) and never sent;
//! - a message waiting longer than `alerts.mail_stuck_hours` is reported by /healthz and
//!   `/metrics` (see [`crate::http`]), so the city's monitoring sees an outage before an official
//!   misses a letter;
//! - after a transient failure the pass stops: the server is likely down, and the rest waits for
//!   the next pass instead of each waiting out its own timeout;
//! - a crash after the server accepted a message but before it was marked may send it again when
//!   its lease runs out: with the same deterministic Message-ID, so mail clients show it once.

use super::mailer::Mailer;
use crate::app::App;
use crate::domain::time::Epoch;
use crate::store::StoreError;

/// How long a claimed message stays reserved for the sender that claimed it.
pub const LEASE_SECS: i64 = 600;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The wait before attempt `attempts + 1`.
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 7) - 1;
    (60i64 << exp).min(3600)
}

/// Sends what is due at `now`.
pub async fn deliver_once(
    app: &App,
    mailer: &Mailer,
    now: Epoch,
) -> Result<DeliveryReport, StoreError> {
    let a = &app.settings.alerts;
    let max_attempts = a.max_attempts.map(|n| i64::from(n.max(1)));
    let lifetime = a.mail_lifetime.secs;
    let mut report = DeliveryReport::default();
    while let Some(claimed) = app.store.claim_mail(now, LEASE_SECS).await? {
        match mailer.send(&claimed.mail).await {
            Ok(reply) => {
                app.store.mail_sent(claimed.id, now).await?;
                tracing::info!(message_id = %claimed.mail.message_id, %reply, "mail sent");
                report.sent += 1;
            }
            Err(e) if e.is_permanent() => {
                app.store
                    .mail_failed(claimed.id, &e.to_string(), None)
                    .await?;
                tracing::error!(message_id = %claimed.mail.message_id, error = %e, "mail refused for good");
                report.failed += 1;
            }
            Err(e) => {
                let next = now + backoff_secs(claimed.attempts);
                if expired(claimed.created_at, claimed.attempts, now, lifetime)
                    || max_attempts.is_some_and(|m| claimed.attempts >= m)
                {
                    let msg = format!(
                        "{e} (gave up after {} attempts over {} hour(s))",
                        claimed.attempts,
                        (now - claimed.created_at) / 3600
                    );
                    app.store.mail_failed(claimed.id, &msg, None).await?;
                    tracing::error!(message_id = %claimed.mail.message_id, error = %msg, "mail failed");
                    report.failed += 1;
                } else {
                    let at = next;
                    app.store
                        .mail_failed(claimed.id, &e.to_string(), Some(at))
                        .await?;
                    tracing::warn!(message_id = %claimed.mail.message_id, error = %e, retry_at = at, "mail not sent; will retry");
                    report.retried += 1;
                }
                break;
            }
        }
    }
    Ok(report)
}

/// Whether a message queued at `created_at`, after its `attempts`-th failed attempt at `now`,
/// is given up: its next attempt would fall after its lifetime.
pub fn expired(created_at: Epoch, attempts: i64, now: Epoch, lifetime_secs: i64) -> bool {
    now + backoff_secs(attempts) - created_at > lifetime_secs
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_is_retried_for_its_lifetime_then_given_up() {
        // Retrying from t = 0 with the capped backoff: attempts keep coming for three days.
        let (mut t, mut n) = (0i64, 0i64);
        let life = 3 * 86_400;
        loop {
            n += 1;
            if super::expired(0, n, t, life) {
                break;
            }
            t += super::backoff_secs(n);
        }
        assert!(t > life - 3600 && t <= life, "last attempt at {t}");
        assert!(n > 70, "{n} attempts");
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(super::backoff_secs).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }
}
