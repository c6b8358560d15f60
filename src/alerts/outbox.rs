//! Delivery of the outbox: each queued message is claimed (with a lease), sent, and marked before
//! the next is sent.
//!
//! - a 5xx reply fails the message at once, with the server's words kept (`dondoc alerts list`);
//! - anything else (4xx, connection refused, TLS, timeout) is retried with backoff (1 min, 2, 4,
//!   … capped at an hour) up to `alerts.max_attempts`, then failed: never silently lost;
//! - after a transient failure the pass stops: the server is likely down, and the rest waits for
//!   the next pass instead of each waiting out its own timeout;
//! - a crash after the server accepted a message but before it was marked may send it again when
//!   its lease runs out: with the same deterministic Message-ID, so mail clients show it once.

use super::mailer::Mailer;
use crate::app::App;
use crate::store::StoreError;
use crate::time::Epoch;

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
    let max_attempts = i64::from(app.settings.alerts.max_attempts.max(1));
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
                if claimed.attempts >= max_attempts {
                    let msg = format!("{e} (gave up after {} attempts)", claimed.attempts);
                    app.store.mail_failed(claimed.id, &msg, None).await?;
                    tracing::error!(message_id = %claimed.mail.message_id, error = %msg, "mail failed");
                    report.failed += 1;
                } else {
                    let at = now + backoff_secs(claimed.attempts);
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

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(super::backoff_secs).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }
}
