//! Exact counts for the rates: dossiers per (unit code, field code) and documents per unit code
//! for windows of time, and the fee-bearing procedures of the Decision 766 score, each in one
//! scan of its table, as conditional counts the database aggregates.
//!
//! Written once for both engines over [`Backend`]. It counts; it never divides, compares with a
//! target or decides a period (that is [`crate::rates`]).

use super::backend::{Backend, Db};
use super::{Context, FeeProcedure, GroupTally, Result, Tally};
use crate::domain::time::Epoch;
use sqlx::{ColumnIndex, Decode, Encode, Executor, Row, Type};

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'r> i64: Decode<'r, D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    for<'a> &'a str: ColumnIndex<D::Row>,
{
    pub async fn dossier_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        Ok(self
            .dossier_tallies_many(&[(start, horizon)])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// Exact dossier counts per (unit code, field code) for several windows in ONE scan of the
    /// table: the rules of metrics.md (see metrics::rules for the same rules in Rust) as
    /// conditional counts, one set of columns per window. Window k binds `${2k+1}` = P.start and
    /// `${2k+2}` = e. A condition that is NULL counts nothing.
    /// finished(t) = status IN (8,9,10) AND ended_at IS NOT NULL AND ended_at < t.
    pub async fn dossier_tallies_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<GroupTally>>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut inner = String::from(
            "SELECT d.unit_code, d.field_code, d.status, d.ended_at, d.due_at, d.received_at, d.channel, \
             d.paid_online, d.fee_total, d.digitized, d.first_apology_at, d.rating, d.rated_at, \
             p.code IS NULL AS no_proc, p.level AS level",
        );
        let mut prune = Vec::new();
        let mut counts = String::new();
        for k in 0..windows.len() {
            let (s, e) = (2 * k + 1, 2 * k + 2);
            // Per window: membership of H, late as seen at e, received in the window.
            inner.push_str(&format!(
                ", (d.received_at < ${e} AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ${s})) AS h{k}\
                 , (d.due_at IS NOT NULL AND CASE WHEN d.status IN (8, 9, 10) AND d.ended_at < ${e} \
                   THEN d.ended_at > d.due_at ELSE d.due_at < ${e} END) AS late{k}\
                 , (d.received_at >= ${s} AND d.received_at < ${e}) AS recv{k}"
            ));
            // Keep exactly the dossiers that some rule can count: each rule on its own date,
            // whatever order the upstream's dates are in.
            prune.push(format!(
                "(d.received_at < ${e} AND NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL AND d.ended_at < ${s})) \
                 OR (d.ended_at >= ${s} AND d.ended_at < ${e}) OR (d.received_at >= ${s} AND d.received_at < ${e}) \
                 OR (d.rated_at >= ${s} AND d.rated_at < ${e})"
            ));
            let ended = format!("status IN (9, 10) AND ended_at >= ${s} AND ended_at < ${e}");
            let rated = format!("rating IS NOT NULL AND rated_at >= ${s} AND rated_at < ${e}");
            for (name, cond) in [
                ("late", format!("h{k} AND late{k}")),
                ("handled", format!("h{k}")),
                (
                    "apologized",
                    format!("h{k} AND late{k} AND first_apology_at < ${e}"),
                ),
                ("digitized", format!("{ended} AND digitized")),
                ("results", ended.clone()),
                ("online", format!("recv{k} AND level = 4 AND channel = 2")),
                ("full_online_eligible", format!("recv{k} AND level = 4")),
                (
                    "paid_online",
                    format!("recv{k} AND fee_total > 0 AND paid_online IN (1, 2)"),
                ),
                ("with_fee", format!("recv{k} AND fee_total > 0")),
                ("satisfied", format!("{rated} AND rating IN (1, 2)")),
                ("rated", rated.clone()),
                ("no_due_date", format!("h{k} AND due_at IS NULL")),
                ("unknown_procedure", format!("recv{k} AND no_proc")),
                ("received", format!("recv{k}")),
                ("received_online", format!("recv{k} AND channel = 2")),
                (
                    "unsatisfied",
                    format!(
                        "h{k} AND rating IS NOT NULL AND rating NOT IN (1, 2) AND rated_at < ${e}"
                    ),
                ),
            ] {
                counts.push_str(&format!(", {} AS {name}_{k}", D::count_if(&cond)));
            }
        }
        let sql = format!(
            "WITH d AS ({inner} FROM dossiers d \
             LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code \
             WHERE NOT d.deleted AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL AND ({})) \
             SELECT unit_code, field_code{counts} FROM d GROUP BY unit_code, field_code",
            prune.join(" OR ")
        );
        // Only numbers and fixed names are formatted into the statement; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (start, horizon) in windows {
            q = q.bind(*start).bind(*horizon);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .doing("counting dossiers for the metrics")?;
        let mut out = vec![Vec::with_capacity(rows.len()); windows.len()];
        for r in &rows {
            let unit_code: String = r.try_get("unit_code").doing("reading dossier counts")?;
            // '' is a dossier without a field (MaLinhVuc absent).
            let field_code: Option<String> = r
                .try_get::<Option<String>, _>("field_code")
                .doing("reading dossier counts")?
                .filter(|f| !f.is_empty());
            for (k, groups) in out.iter_mut().enumerate() {
                let n = |c: &str| count(r, &format!("{c}_{k}"), "reading dossier counts");
                let tally = Tally {
                    late: n("late")?,
                    handled: n("handled")?,
                    apologized: n("apologized")?,
                    digitized: n("digitized")?,
                    results: n("results")?,
                    online: n("online")?,
                    full_online_eligible: n("full_online_eligible")?,
                    paid_online: n("paid_online")?,
                    with_fee: n("with_fee")?,
                    satisfied: n("satisfied")?,
                    rated: n("rated")?,
                    no_due_date: n("no_due_date")?,
                    unknown_procedure: n("unknown_procedure")?,
                    received: n("received")?,
                    received_online: n("received_online")?,
                    unsatisfied: n("unsatisfied")?,
                    ..Tally::default()
                };
                groups.push(GroupTally {
                    unit_code: unit_code.clone(),
                    field_code: field_code.clone(),
                    tally,
                });
            }
        }
        Ok(out)
    }

    /// Fee-bearing procedures per unit code for several windows, in one scan: for each
    /// (`DonViXuLy`, `MaTTHC`) with at least one dossier of the population F of
    /// `online_payment_rate` in a window, whether one of them was paid online (the rule is
    /// `metrics::rules::fee_procedure`). Returns one list per window, in order.
    pub async fn fee_procedures_many(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<Vec<FeeProcedure>>> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let mut cols = String::new();
        let mut any = Vec::new();
        for k in 0..windows.len() {
            let (s, e) = (2 * k + 1, 2 * k + 2);
            let recv = format!("(received_at >= ${s} AND received_at < ${e})");
            cols.push_str(&format!(
                ", {} AS fee_{k}, {} AS paid_{k}",
                D::count_if(&recv),
                D::count_if(&format!("{recv} AND paid_online IN (1, 2)"))
            ));
            any.push(recv);
        }
        let sql = format!(
            "SELECT unit_code, procedure_code{cols} FROM dossiers \
             WHERE NOT deleted AND status NOT IN (0, 1, 3, 7) AND received_at IS NOT NULL \
             AND fee_total > 0 AND procedure_code <> '' AND ({}) \
             GROUP BY unit_code, procedure_code",
            any.join(" OR ")
        );
        // Only numbers and fixed names are formatted into the statement; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (start, horizon) in windows {
            q = q.bind(*start).bind(*horizon);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .doing("counting fee-bearing procedures for the score")?;
        let what = "reading procedure counts";
        let mut out = vec![Vec::new(); windows.len()];
        for r in &rows {
            let unit_code: String = r.try_get("unit_code").doing(what)?;
            let procedure_code: String = r.try_get("procedure_code").doing(what)?;
            for (k, list) in out.iter_mut().enumerate() {
                if count(r, &format!("fee_{k}"), what)? > 0 {
                    list.push(FeeProcedure {
                        unit_code: unit_code.clone(),
                        procedure_code: procedure_code.clone(),
                        paid_online: count(r, &format!("paid_{k}"), what)? > 0,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Exact document counts per unit code for the window, in one pass.
    pub async fn document_tallies(&self, start: Epoch, horizon: Epoch) -> Result<Vec<GroupTally>> {
        let c = D::count_if;
        let sql = format!(
            "SELECT unit_code, {} AS edoc, {} AS incoming, {} AS esigned, {} AS outgoing \
             FROM documents WHERE NOT deleted GROUP BY unit_code",
            c("direction = 'DEN' AND arrived_at >= $1 AND arrived_at < $2 AND processed_online"),
            c("direction = 'DEN' AND arrived_at >= $1 AND arrived_at < $2"),
            c("direction = 'DI' AND issued_at >= $1 AND issued_at < $2 AND signed"),
            c("direction = 'DI' AND issued_at >= $1 AND issued_at < $2"),
        );
        // Only fixed conditions are formatted into the statement; values are bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(horizon)
            .fetch_all(&self.pool)
            .await
            .doing("counting documents for the metrics")?;
        let what = "reading document counts";
        rows.iter()
            .map(|r| {
                let tally = Tally {
                    edoc: count(r, "edoc", what)?,
                    incoming: count(r, "incoming", what)?,
                    esigned: count(r, "esigned", what)?,
                    outgoing: count(r, "outgoing", what)?,
                    ..Tally::default()
                };
                Ok(GroupTally {
                    unit_code: r.try_get("unit_code").doing(what)?,
                    field_code: None,
                    tally,
                })
            })
            .collect()
    }
}

/// A count column of a row: a sum over no rows (NULL) is 0.
fn count<R: Row>(r: &R, column: &str, doing: &'static str) -> Result<i64>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(r.try_get::<Option<i64>, _>(column)
        .doing(doing)?
        .unwrap_or(0))
}
