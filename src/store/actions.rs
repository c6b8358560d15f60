//! The action lists of the letters: dossiers of some unit codes that are late without an apology
//! slip, due soon, or ended without a digitized result. Codes and dates only, capped, with the
//! count of all.
//!
//! Written once for both engines over [`Backend`]. It never decides who receives a list.

use super::backend::{Backend, Db};
use super::{ActionItem, ActionList, Context, Result};
use crate::domain::time::Epoch;
use sqlx::{Encode, Executor, FromRow, QueryBuilder, Type};

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> ActionItem: FromRow<'r, D::Row>,
{
    /// An action list: `sql_where`'s `?` marks are bound in order to `binds`.
    async fn action_list(
        &self,
        sql_where: &str,
        order: &str,
        codes: &[String],
        binds: &[Epoch],
        cap: usize,
    ) -> Result<ActionList> {
        if codes.is_empty() {
            return Ok(ActionList::default());
        }
        let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
        let mut list = ActionList::default();
        for counting in [true, false] {
            let mut qb: QueryBuilder<D> = QueryBuilder::new(if counting {
                "SELECT count(*) FROM dossiers d WHERE d.unit_code"
            } else {
                "SELECT d.code, coalesce(p.name, d.procedure_code) AS \"procedure\", d.due_at, d.ended_at \
                 FROM dossiers d LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code \
                 WHERE d.unit_code"
            });
            D::push_in(&mut qb, &codes);
            qb.push(
                " AND NOT d.deleted AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL AND ",
            );
            let mut parts = sql_where.split('?');
            if let Some(first) = parts.next() {
                qb.push(first);
            }
            for (part, value) in parts.zip(binds.iter()) {
                qb.push_bind(*value);
                qb.push(part);
            }
            if counting {
                let (total,): (i64,) = qb
                    .build_query_as()
                    .fetch_one(&self.pool)
                    .await
                    .doing("counting an action list")?;
                list.total = total;
            } else {
                qb.push(format!(" ORDER BY {order} LIMIT {cap}"));
                list.items = qb
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .doing("reading an action list")?;
            }
        }
        Ok(list)
    }

    pub async fn late_without_apology(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        // In H of the period (not finished at its start), late as seen now, no apology yet.
        self.action_list(
            "d.received_at < ? AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?) \
             AND d.due_at IS NOT NULL \
             AND CASE WHEN d.status IN (8, 9, 10) AND d.ended_at < ? THEN d.ended_at > d.due_at ELSE d.due_at < ? END \
             AND (d.first_apology_at IS NULL OR d.first_apology_at >= ?)",
            "d.due_at, d.code",
            codes,
            &[now, start, now, now, now],
            cap,
        )
        .await
    }

    pub async fn due_soon(
        &self,
        codes: &[String],
        now: Epoch,
        until: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        self.action_list(
            "NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ?) AND d.due_at >= ? AND d.due_at < ?",
            "d.due_at, d.code",
            codes,
            &[now, now, until],
            cap,
        )
        .await
    }

    pub async fn not_digitized(
        &self,
        codes: &[String],
        start: Epoch,
        now: Epoch,
        cap: usize,
    ) -> Result<ActionList> {
        self.action_list(
            "d.status IN (9, 10) AND d.ended_at >= ? AND d.ended_at < ? AND NOT d.digitized",
            "d.ended_at, d.code",
            codes,
            &[start, now],
            cap,
        )
        .await
    }
}
