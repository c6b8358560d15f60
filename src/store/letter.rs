//! The commitment letter's returned forms (`letter_submissions`, `letter_values`): each import
//! is the newest submission of its unit and period, history kept.
//!
//! Written once for both engines over [`Backend`]. It never reads a workbook or judges a value.

use super::backend::{Backend, Db};
use super::{Context, LetterSubmission, LetterValue, Result};
use crate::domain::time::Epoch;
use sqlx::{Encode, Executor, FromRow, Type};

/// A submission's header as stored.
#[derive(sqlx::FromRow)]
pub struct HeadRow {
    unit: String,
    seq: i64,
    file_name: String,
    sha256: String,
    imported_at: Epoch,
}

/// A value of a submission as stored.
#[derive(sqlx::FromRow)]
pub struct ValueRow {
    unit: String,
    seq: i64,
    #[sqlx(flatten)]
    value: LetterValue,
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> HeadRow: FromRow<'r, D::Row>,
    for<'r> ValueRow: FromRow<'r, D::Row>,
{
    pub async fn record_letter_submission(&self, sub: &LetterSubmission) -> Result<i64> {
        let what = "recording a returned letter form";
        let mut tx = D::begin_write(&self.pool).await.doing(what)?;
        let (seq,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM letter_submissions WHERE unit = $1 AND period = $2",
        )
        .bind(sub.unit.as_str())
        .bind(sub.period.as_str())
        .fetch_one(&mut *tx)
        .await
        .doing(what)?;
        sqlx::query(
            "INSERT INTO letter_submissions (unit, period, seq, file_name, sha256, imported_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sub.unit.as_str())
        .bind(sub.period.as_str())
        .bind(seq)
        .bind(sub.file_name.as_str())
        .bind(sub.sha256.as_str())
        .bind(sub.imported_at)
        .execute(&mut *tx)
        .await
        .doing(what)?;
        for v in &sub.values {
            sqlx::query(
                "INSERT INTO letter_values (unit, period, seq, criterion, value, evidence, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sub.unit.as_str())
            .bind(sub.period.as_str())
            .bind(seq)
            .bind(v.criterion.as_str())
            .bind(v.value.as_deref())
            .bind(v.evidence.as_str())
            .bind(v.note.as_str())
            .execute(&mut *tx)
            .await
            .doing(what)?;
        }
        tx.commit().await.doing(what)?;
        Ok(seq)
    }

    pub async fn letter_submissions(&self, period: &str) -> Result<Vec<LetterSubmission>> {
        let what = "reading returned letter forms";
        let heads: Vec<HeadRow> = sqlx::query_as(
            "SELECT unit, seq, file_name, sha256, imported_at FROM letter_submissions WHERE period = $1 ORDER BY unit, seq",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing(what)?;
        let values: Vec<ValueRow> = sqlx::query_as(
            "SELECT unit, seq, criterion, value, evidence, note FROM letter_values WHERE period = $1 ORDER BY unit, seq, criterion",
        )
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .doing(what)?;
        let mut out: Vec<LetterSubmission> = heads
            .into_iter()
            .map(|h| LetterSubmission {
                unit: h.unit,
                period: period.to_string(),
                seq: h.seq,
                file_name: h.file_name,
                sha256: h.sha256,
                imported_at: h.imported_at,
                values: Vec::new(),
            })
            .collect();
        for v in values {
            if let Some(sub) = out.iter_mut().find(|s| s.unit == v.unit && s.seq == v.seq) {
                sub.values.push(v.value);
            }
        }
        Ok(out)
    }
}
