//! The outbox: letters queued with the alerts they tell of (one transaction), superseded
//! letters, claims for delivery under a lease, sent and failed marks, and the counts health and
//! metrics read.
//!
//! Written once for both engines over [`Backend`]; the claim locks the row it picks where several
//! replicas claim at once ([`Backend::CLAIM_LOCK`]). It never sends mail and never composes it.

use super::backend::{Backend, Db};
use super::{
    AlertRecord, Attachment, ClaimedMail, Context, LetterHistory, OutboxCounts, OutboxRow,
    OutboxWaiting, OutgoingMail, QueuedLetter, Result,
};
use crate::domain::time::Epoch;
use sqlx::{Encode, Executor, FromRow, Type};

/// A message as the claim reads it back.
#[derive(sqlx::FromRow)]
pub struct ClaimRow {
    id: i64,
    message_id: String,
    recipients: String,
    cc: String,
    subject: String,
    body_text: String,
    body_html: Option<String>,
    attachment_name: Option<String>,
    attachment_type: Option<String>,
    attachment: Option<Vec<u8>>,
    attempts: i64,
    created_at: Epoch,
}

impl From<ClaimRow> for ClaimedMail {
    fn from(r: ClaimRow) -> Self {
        let split = |s: String| -> Vec<String> {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let attachment = r.attachment_name.map(|filename| Attachment {
            filename,
            content_type: r
                .attachment_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: r.attachment.unwrap_or_default(),
        });
        ClaimedMail {
            id: r.id,
            // Already counted by the claim.
            attempts: r.attempts,
            created_at: r.created_at,
            mail: OutgoingMail {
                message_id: r.message_id,
                to: split(r.recipients),
                cc: split(r.cc),
                subject: r.subject,
                text: r.body_text,
                html: r.body_html,
                attachment,
            },
        }
    }
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> Option<&'q [u8]>: Encode<'q, D>,
    for<'q> &'q [u8]: Type<D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'r> (i64, i64, i64, i64): FromRow<'r, D::Row>,
    for<'r> (i64, Option<i64>): FromRow<'r, D::Row>,
    for<'r> (String, String, Option<i64>, Option<i64>): FromRow<'r, D::Row>,
    for<'r> (Option<String>,): FromRow<'r, D::Row>,
    for<'r> ClaimRow: FromRow<'r, D::Row>,
    for<'r> OutboxRow: FromRow<'r, D::Row>,
{
    pub async fn commit_letters(
        &self,
        letters: &[QueuedLetter],
        notified: &[AlertRecord],
        now: Epoch,
    ) -> Result<(usize, usize)> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        let (mut queued, mut superseded) = (0, 0);
        for l in letters {
            let m = &l.mail;
            let (to, cc) = (m.to.join(","), m.cc.join(","));
            let done = sqlx::query(
                "INSERT INTO outbox (message_id, kind, recipients, cc, subject, body_text, body_html, attachment_name,
                                     attachment_type, attachment, status, attempts, next_attempt_at, created_at,
                                     unit, snapshot)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $12, $13)
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(m.message_id.as_str())
            .bind(l.kind.as_str())
            .bind(to.as_str())
            .bind(cc.as_str())
            .bind(m.subject.as_str())
            .bind(m.text.as_str())
            .bind(m.html.as_deref())
            .bind(m.attachment.as_ref().map(|a| a.filename.as_str()))
            .bind(m.attachment.as_ref().map(|a| a.content_type.as_str()))
            .bind(m.attachment.as_ref().map(|a| a.bytes.as_slice()))
            .bind(now)
            .bind(l.unit.as_deref())
            .bind(l.snapshot.as_deref())
            .execute(&mut *tx)
            .await
            .doing("queueing mail")?;
            let inserted = D::rows_affected(&done);
            queued += inserted as usize;
            if let (Some(unit), 1) = (&l.unit, inserted) {
                let why = format!("superseded by {}", m.message_id);
                let older = sqlx::query(
                    "UPDATE outbox SET status = 'superseded', claimed_until = NULL, last_error = $1
                     WHERE kind = $2 AND unit = $3 AND recipients = $4 AND cc = $5 AND status = 'pending'
                       AND message_id <> $6",
                )
                .bind(why.as_str())
                .bind(l.kind.as_str())
                .bind(unit.as_str())
                .bind(to.as_str())
                .bind(cc.as_str())
                .bind(m.message_id.as_str())
                .execute(&mut *tx)
                .await
                .doing("superseding waiting mail")?;
                superseded += D::rows_affected(&older) as usize;
            }
        }
        Self::put_alerts(&mut tx, notified).await?;
        tx.commit().await.doing("committing queued mail")?;
        Ok((queued, superseded))
    }

    pub async fn letter_history(&self) -> Result<Vec<LetterHistory>> {
        let rows: Vec<(String, String, Option<Epoch>, Option<Epoch>)> = sqlx::query_as(
            "SELECT kind, unit, min(CASE WHEN status = 'pending' THEN created_at END),
                    max(CASE WHEN status = 'sent' THEN created_at END)
             FROM outbox WHERE unit IS NOT NULL GROUP BY kind, unit ORDER BY kind, unit",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading the letters' history")?;
        Ok(rows
            .into_iter()
            .map(
                |(kind, unit, waiting_since, last_sent_queued_at)| LetterHistory {
                    kind,
                    unit,
                    waiting_since,
                    last_sent_queued_at,
                },
            )
            .collect())
    }

    pub async fn last_sent_snapshot(&self, kind: &str, unit: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT snapshot FROM outbox
             WHERE kind = $1 AND unit = $2 AND status = 'sent' AND snapshot IS NOT NULL
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(kind)
        .bind(unit)
        .fetch_optional(&self.pool)
        .await
        .doing("reading the last summary sent")?;
        Ok(row.and_then(|(s,)| s))
    }

    pub async fn outbox_waiting(&self, queued_before: Epoch) -> Result<OutboxWaiting> {
        let (stuck, oldest_queued_at): (i64, Option<Epoch>) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT coalesce({}, 0), min(created_at) FROM outbox WHERE status IN ('pending', 'sending')",
                D::count_if("created_at < $1")
            )))
            .bind(queued_before)
            .fetch_one(&self.pool)
            .await
            .doing("reading the mail waiting for delivery")?;
        Ok(OutboxWaiting {
            stuck,
            oldest_queued_at,
        })
    }

    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let c = |cond: &str| format!("coalesce({}, 0)", D::count_if(cond));
        let (pending, failed, sent, superseded): (i64, i64, i64, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {}, {}, {}, {} FROM outbox",
                c("status IN ('pending', 'sending')"),
                c("status = 'failed'"),
                c("status = 'sent'"),
                c("status = 'superseded'"),
            )))
            .fetch_one(&self.pool)
            .await
            .doing("counting the outbox")?;
        Ok(OutboxCounts {
            pending,
            failed,
            sent,
            superseded,
        })
    }

    /// One statement in one transaction: the row the inner SELECT picks is locked where the
    /// engine locks rows (rows another replica is claiming right now are skipped, not waited
    /// for), re-checked against the condition, and leased. A replica that dies while sending
    /// leaves the row 'sending' with a lease that runs out, after which any replica claims it.
    pub async fn claim_mail(&self, now: Epoch, lease_secs: i64) -> Result<Option<ClaimedMail>> {
        self.mark_unmarked().await?;
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        let row: Option<ClaimRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET status = 'sending', claimed_until = $2, attempts = attempts + 1
             WHERE id = (
               SELECT id FROM outbox
               WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_until < $1)
               ORDER BY next_attempt_at, id LIMIT 1{})
             RETURNING id, message_id, recipients, cc, subject, body_text, body_html, attachment_name,
                       attachment_type, attachment, attempts, created_at",
            D::CLAIM_LOCK
        )))
        .bind(now)
        .bind(now + lease_secs)
        .fetch_optional(&mut *tx)
        .await
        .doing("claiming mail")?;
        tx.commit().await.doing("claiming mail")?;
        Ok(row.map(ClaimedMail::from))
    }

    async fn mark_sent(&self, id: i64, now: Epoch) -> std::result::Result<(), sqlx::Error> {
        super::recovery::once_more(|| {
            sqlx::query(
                "UPDATE outbox SET status = 'sent', sent_at = $1, claimed_until = NULL, last_error = NULL WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&self.pool)
        })
        .await
        .map(|_| ())
    }

    pub async fn mail_sent(&self, id: i64, now: Epoch) -> Result<()> {
        if let Err(e) = self.mark_sent(id, now).await {
            self.unmarked.remember(id, now);
            return Err(e).doing("marking mail sent (it is marked before the next claim)");
        }
        Ok(())
    }

    /// Records the "sent" marks the database refused earlier.
    async fn mark_unmarked(&self) -> Result<()> {
        let pending = self.unmarked.take();
        for (i, (id, at)) in pending.iter().enumerate() {
            if let Err(e) = self.mark_sent(*id, *at).await {
                self.unmarked.put_back(pending[i..].to_vec());
                return Err(e)
                    .doing("marking mail sent earlier (no other mail is sent until then)");
            }
        }
        Ok(())
    }

    pub async fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<Epoch>,
    ) -> Result<()> {
        super::recovery::once_more(|| {
            match next_attempt_at {
                Some(at) => sqlx::query(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = $3, claimed_until = NULL, last_error = $1 WHERE id = $2",
                )
                .bind(error)
                .bind(id)
                .bind(at),
                None => sqlx::query(
                    "UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $1 WHERE id = $2",
                )
                .bind(error)
                .bind(id),
            }
            .execute(&self.pool)
        })
        .await
        .doing("recording a failed delivery")?;
        Ok(())
    }

    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        sqlx::query_as(
            "SELECT id, message_id, kind, recipients, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at
             FROM outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .doing("reading the outbox")
    }
}
