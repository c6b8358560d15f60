//! The Decision 766 score's stored inputs from the national portal: the figures it published
//! (`portal_figures`, one row per unit, period, group and day) and the collector's circuit
//! (`portal_circuit`), which stays open across restarts until a person resets it.
//!
//! Written once for both engines over [`Backend`]. It never computes points and never contacts
//! the portal.

use super::backend::{Backend, Db};
use super::{Context, PortalCircuit, PortalFigure, Result};
use sqlx::{Encode, Executor, FromRow, Type};

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> Option<i64>: Encode<'q, D>,
    for<'q> Option<f64>: Encode<'q, D>,
    for<'q> f64: Type<D>,
    for<'q> bool: Encode<'q, D> + Type<D>,
    for<'r> PortalFigure: FromRow<'r, D::Row>,
    for<'r> PortalCircuit: FromRow<'r, D::Row>,
{
    pub async fn save_portal_figures(&self, figures: &[PortalFigure]) -> Result<()> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        for f in figures {
            sqlx::query(
                "INSERT INTO portal_figures (unit, period, grp, day, department, score, max_score, received, detail, fetched_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (unit, period, grp, day) DO UPDATE SET \
                 department = excluded.department, score = excluded.score, max_score = excluded.max_score, \
                 received = excluded.received, detail = excluded.detail, fetched_at = excluded.fetched_at",
            )
            .bind(f.unit.as_str())
            .bind(f.period.as_str())
            .bind(f.group.as_str())
            .bind(f.day.as_str())
            .bind(f.department.as_str())
            .bind(f.score)
            .bind(f.max_score)
            .bind(f.received)
            .bind(f.detail.as_str())
            .bind(f.fetched_at)
            .execute(&mut *tx)
            .await
            .doing("storing the portal's figures")?;
        }
        tx.commit().await.doing("committing the portal's figures")
    }

    pub async fn portal_figures(&self, period: &str) -> Result<Vec<PortalFigure>> {
        sqlx::query_as(
            "SELECT f.unit, f.period, f.grp AS \"group\", f.day, f.department, f.score, f.max_score, f.received, \
             f.detail, f.fetched_at FROM portal_figures f WHERE f.period = $1 AND f.day = \
             (SELECT max(g.day) FROM portal_figures g WHERE g.unit = f.unit AND g.period = f.period AND g.grp = f.grp) \
             ORDER BY f.unit, f.grp",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing("reading the portal's figures")
    }

    pub async fn portal_circuit(&self) -> Result<PortalCircuit> {
        let circuit: Option<PortalCircuit> = sqlx::query_as(
            "SELECT open, reason, opened_at, last_attempt_at, last_success_at, last_error FROM portal_circuit WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .doing("reading the portal collector's circuit")?;
        Ok(circuit.unwrap_or_default())
    }

    pub async fn set_portal_circuit(&self, c: &PortalCircuit) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_circuit (id, open, reason, opened_at, last_attempt_at, last_success_at, last_error) \
             VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET open = excluded.open, \
             reason = excluded.reason, opened_at = excluded.opened_at, last_attempt_at = excluded.last_attempt_at, \
             last_success_at = excluded.last_success_at, last_error = excluded.last_error",
        )
        .bind(c.open)
        .bind(c.reason.as_deref())
        .bind(c.opened_at)
        .bind(c.last_attempt_at)
        .bind(c.last_success_at)
        .bind(c.last_error.as_deref())
        .execute(&self.pool)
        .await
        .doing("writing the portal collector's circuit")?;
        Ok(())
    }
}
