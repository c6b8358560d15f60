//! The time series of rates (`metric_samples`): today's samples, the history of past days with
//! their revisions, and the reads of trends, projections and `history`.
//!
//! Written once for both engines over [`Backend`]. It stores the exact numerator and denominator
//! the rate layer computed; it never computes or rounds a rate.

use super::backend::{Backend, Db, Kind, Table, upsert};
use super::{Context, Result, Revision, Sample};
use crate::domain::time::Epoch;
use sqlx::{Encode, Executor, FromRow, Type};

const COLUMNS: &[(&str, Kind)] = &[
    ("unit", Kind::Text),
    ("metric", Kind::Text),
    ("scope", Kind::Text),
    ("period", Kind::Text),
    ("day", Kind::Text),
    ("as_of", Kind::Int),
    ("numerator", Kind::Int),
    ("denominator", Kind::Int),
    ("computed_at", Kind::Int),
];

/// Today's samples: a stored day is overwritten.
const SAMPLES: Table = Table {
    name: "metric_samples",
    columns: COLUMNS,
    on_conflict: "ON CONFLICT (unit, metric, scope, period, day) DO UPDATE SET as_of = excluded.as_of, \
        numerator = excluded.numerator, denominator = excluded.denominator, computed_at = excluded.computed_at",
};

/// Past days: a stored day is rewritten only when its counts differ, and then it is a revision
/// that keeps the counts first stored (and when) through every later revision.
const HISTORY: Table = Table {
    name: "metric_samples",
    columns: COLUMNS,
    on_conflict: "ON CONFLICT (unit, metric, scope, period, day) DO UPDATE SET \
        first_numerator = coalesce(metric_samples.first_numerator, metric_samples.numerator), \
        first_denominator = coalesce(metric_samples.first_denominator, metric_samples.denominator), \
        first_computed_at = coalesce(metric_samples.first_computed_at, metric_samples.computed_at), \
        revised_at = excluded.computed_at, as_of = excluded.as_of, \
        numerator = excluded.numerator, denominator = excluded.denominator, computed_at = excluded.computed_at \
        WHERE metric_samples.numerator <> excluded.numerator OR metric_samples.denominator <> excluded.denominator",
};

const SAMPLE_COLUMNS: &str =
    "unit, metric, scope, period, day, as_of, numerator, denominator, computed_at";

/// A sample with the columns of its revision.
#[derive(sqlx::FromRow)]
pub struct RevisedSample {
    #[sqlx(flatten)]
    sample: Sample,
    first_numerator: Option<i64>,
    first_denominator: Option<i64>,
    first_computed_at: Option<Epoch>,
    revised_at: Option<Epoch>,
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'r> (String,): FromRow<'r, D::Row>,
    for<'r> Sample: FromRow<'r, D::Row>,
    for<'r> RevisedSample: FromRow<'r, D::Row>,
{
    async fn write_samples(&self, table: &Table, samples: &[Sample]) -> sqlx::Result<u64> {
        let mut tx = D::begin_recomputable(&self.pool).await?;
        let written = upsert(
            &mut tx,
            table,
            samples,
            |s| (&s.unit, &s.metric, &s.scope, &s.period, &s.day),
            |s| {
                vec![
                    (&s.unit).into(),
                    (&s.metric).into(),
                    (&s.scope).into(),
                    (&s.period).into(),
                    (&s.day).into(),
                    s.as_of.into(),
                    s.numerator.into(),
                    s.denominator.into(),
                    s.computed_at.into(),
                ]
            },
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    pub async fn upsert_samples(&self, samples: &[Sample]) -> Result<()> {
        self.write_samples(&SAMPLES, samples)
            .await
            .doing("storing metric samples")?;
        Ok(())
    }

    pub async fn store_history(&self, samples: &[Sample]) -> Result<u64> {
        self.write_samples(&HISTORY, samples)
            .await
            .doing("storing past days' samples")
    }

    pub async fn sample_days(&self, from: &str, to: &str) -> Result<Vec<String>> {
        let days: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT day FROM metric_samples WHERE day >= $1 AND day <= $2 ORDER BY day",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .doing("reading which days hold samples")?;
        Ok(days.into_iter().map(|(d,)| d).collect())
    }

    pub async fn samples(&self, unit: &str, metric: &str, scope: &str) -> Result<Vec<Sample>> {
        let rows: Vec<RevisedSample> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SAMPLE_COLUMNS}, first_numerator, first_denominator, first_computed_at, revised_at \
             FROM metric_samples WHERE unit = $1 AND metric = $2 AND scope = $3 ORDER BY as_of, period"
        )))
        .bind(unit)
        .bind(metric)
        .bind(scope)
        .fetch_all(&self.pool)
        .await
        .doing("reading the time series")?;
        Ok(rows
            .into_iter()
            .map(|r| Sample {
                revision: Revision::from_columns(
                    r.first_numerator,
                    r.first_denominator,
                    r.first_computed_at,
                    r.revised_at,
                ),
                ..r.sample
            })
            .collect())
    }

    pub async fn samples_since(&self, day: &str) -> Result<Vec<Sample>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SAMPLE_COLUMNS} FROM metric_samples WHERE day >= $1 ORDER BY as_of"
        )))
        .bind(day)
        .fetch_all(&self.pool)
        .await
        .doing("reading recent samples")
    }
}
