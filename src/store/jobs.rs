//! Scheduled job fires (`job_runs`): one row per (job, fire time) claims the fire for one run
//! across replicas (`INSERT … ON CONFLICT DO NOTHING`: the run whose insert lands runs it), and
//! records how it ended.
//!
//! Written once for both engines over [`Backend`]. It never schedules or runs a job.

use super::backend::{Backend, Db};
use super::{Context, Result};
use crate::domain::time::Epoch;
use sqlx::{Encode, Executor, FromRow, Type};

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Type<D>,
    for<'r> (Option<i64>,): FromRow<'r, D::Row>,
    for<'r> (String, i64): FromRow<'r, D::Row>,
{
    pub async fn claim_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        claimed_by: &str,
        now: Epoch,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO job_runs (job, fire_at, claimed_by, started_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(fire_at)
        .bind(claimed_by)
        .bind(now)
        .execute(&self.pool)
        .await
        .doing("claiming a job fire")?;
        Ok(D::rows_affected(&done) == 1)
    }

    pub async fn finish_fire(
        &self,
        job: &str,
        fire_at: Epoch,
        error: Option<&str>,
        now: Epoch,
    ) -> Result<()> {
        super::recovery::once_more(|| {
            sqlx::query(
                "UPDATE job_runs SET finished_at = $1, ok = $2, error = $3 WHERE job = $4 AND fire_at = $5",
            )
            .bind(now)
            .bind(error.is_none())
            .bind(error)
            .bind(job)
            .bind(fire_at)
            .execute(&self.pool)
        })
        .await
        .doing("finishing a job fire")?;
        Ok(())
    }

    async fn latest_fire(
        &self,
        job: &str,
        only_ok: bool,
        doing: &'static str,
    ) -> Result<Option<Epoch>> {
        let sql = if only_ok {
            "SELECT max(fire_at) FROM job_runs WHERE job = $1 AND ok"
        } else {
            "SELECT max(fire_at) FROM job_runs WHERE job = $1"
        };
        let (at,): (Option<Epoch>,) = sqlx::query_as(sql)
            .bind(job)
            .fetch_one(&self.pool)
            .await
            .doing(doing)?;
        Ok(at)
    }

    pub async fn last_success(&self, job: &str) -> Result<Option<Epoch>> {
        self.latest_fire(job, true, "reading the last successful job run")
            .await
    }

    pub async fn last_fire(&self, job: &str) -> Result<Option<Epoch>> {
        self.latest_fire(job, false, "reading the last job fire")
            .await
    }

    pub async fn job_successes(&self) -> Result<Vec<(String, Epoch)>> {
        sqlx::query_as(
            "SELECT job, max(finished_at) FROM job_runs WHERE ok GROUP BY job ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .doing("reading job successes")
    }
}
