//! The alert lifecycle's records (`alerts`): one row per (unit, metric, scope, period), read
//! whole and written in one transaction (or with the mail that tells of them, see
//! [`super::outbox`]).
//!
//! Written once for both engines over [`Backend`]. It keeps what the alert layer decided; it
//! never decides a phase or a notice.

use super::backend::{Backend, Db, Kind, Table, upsert};
use super::{AlertKey, AlertRecord, Context, Notice, Phase, Result};
use crate::domain::time::Epoch;
use sqlx::{Executor, FromRow, Transaction};

const ALERTS: Table = Table {
    name: "alerts",
    columns: &[
        ("unit", Kind::Text),
        ("metric", Kind::Text),
        ("scope", Kind::Text),
        ("period", Kind::Text),
        ("phase", Kind::Text),
        ("breach_count", Kind::Int),
        ("first_breach_at", Kind::Int),
        ("fired_at", Kind::Int),
        ("resolved_at", Kind::Int),
        ("last_notified_at", Kind::Int),
        ("notice", Kind::Text),
        ("numerator", Kind::Int),
        ("denominator", Kind::Int),
        ("notified_numerator", Kind::Int),
        ("notified_denominator", Kind::Int),
        ("detail", Kind::Text),
        ("updated_at", Kind::Int),
    ],
    on_conflict: "ON CONFLICT (unit, metric, scope, period) DO UPDATE SET phase = excluded.phase, \
        breach_count = excluded.breach_count, first_breach_at = excluded.first_breach_at, \
        fired_at = excluded.fired_at, resolved_at = excluded.resolved_at, \
        last_notified_at = excluded.last_notified_at, notice = excluded.notice, \
        numerator = excluded.numerator, denominator = excluded.denominator, \
        notified_numerator = excluded.notified_numerator, notified_denominator = excluded.notified_denominator, \
        detail = excluded.detail, updated_at = excluded.updated_at",
};

/// An `alerts` row as stored.
#[derive(sqlx::FromRow)]
pub struct AlertRow {
    unit: String,
    metric: String,
    scope: String,
    period: String,
    phase: String,
    breach_count: i64,
    first_breach_at: Option<Epoch>,
    fired_at: Option<Epoch>,
    resolved_at: Option<Epoch>,
    last_notified_at: Option<Epoch>,
    notice: Option<String>,
    numerator: i64,
    denominator: i64,
    notified_numerator: Option<i64>,
    notified_denominator: Option<i64>,
    detail: Option<String>,
    updated_at: Epoch,
}

impl From<AlertRow> for AlertRecord {
    fn from(r: AlertRow) -> Self {
        AlertRecord {
            key: AlertKey {
                unit: r.unit,
                metric: r.metric,
                scope: r.scope,
                period: r.period,
            },
            phase: Phase::parse(&r.phase),
            breach_count: r.breach_count as u32,
            first_breach_at: r.first_breach_at,
            fired_at: r.fired_at,
            resolved_at: r.resolved_at,
            last_notified_at: r.last_notified_at,
            notice: r.notice.as_deref().and_then(Notice::parse),
            numerator: r.numerator,
            denominator: r.denominator,
            notified_numerator: r.notified_numerator,
            notified_denominator: r.notified_denominator,
            detail: r.detail,
            updated_at: r.updated_at,
        }
    }
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'r> AlertRow: FromRow<'r, D::Row>,
{
    pub async fn alerts(&self) -> Result<Vec<AlertRecord>> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT unit, metric, scope, period, phase, breach_count, first_breach_at, fired_at, resolved_at,
                    last_notified_at, notice, numerator, denominator, notified_numerator, notified_denominator,
                    detail, updated_at
             FROM alerts ORDER BY unit, metric, scope, period",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading alerts")?;
        Ok(rows.into_iter().map(AlertRecord::from).collect())
    }
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// Upserts `records` inside `tx`.
    pub(super) async fn put_alerts(
        tx: &mut Transaction<'static, D>,
        records: &[AlertRecord],
    ) -> Result<()> {
        upsert(
            tx,
            &ALERTS,
            records,
            |a| (&a.key.unit, &a.key.metric, &a.key.scope, &a.key.period),
            |a| {
                vec![
                    (&a.key.unit).into(),
                    (&a.key.metric).into(),
                    (&a.key.scope).into(),
                    (&a.key.period).into(),
                    a.phase.as_str().into(),
                    i64::from(a.breach_count).into(),
                    a.first_breach_at.into(),
                    a.fired_at.into(),
                    a.resolved_at.into(),
                    a.last_notified_at.into(),
                    a.notice.map(Notice::as_str).into(),
                    a.numerator.into(),
                    a.denominator.into(),
                    a.notified_numerator.into(),
                    a.notified_denominator.into(),
                    a.detail.as_deref().into(),
                    a.updated_at.into(),
                ]
            },
        )
        .await
        .doing("storing alerts")?;
        Ok(())
    }

    pub async fn save_alerts(&self, records: &[AlertRecord]) -> Result<()> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        Self::put_alerts(&mut tx, records).await?;
        tx.commit().await.doing("committing alerts")
    }
}
