//! The seam between the store's one implementation and the two engines: [`Backend`] says what
//! truly differs between SQLite and PostgreSQL (how a write transaction begins, how a bulk upsert
//! sends its rows, how a list of codes is bound, how a conditional count is written, how a row is
//! locked for a claim), and [`Db`] is the store over either engine.
//!
//! Every query of the store is written once, over `Db<D: Backend>`, in the per-concern files
//! beside this one. Statements use `$1, $2, …` placeholders, which both engines read (sqlx binds
//! SQLite's `$N` by number), and boolean columns are tested as truth values (`NOT deleted`,
//! `AND digitized`), which SQLite's integer flags and PostgreSQL's BOOLEANs both are.
//!
//! This module never holds a query of one concern: only what an engine needs to run the shared
//! ones.

use super::recovery::UnmarkedSent;
use sqlx::{Database, IntoArguments, Pool, QueryBuilder, Transaction};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

/// One engine's answers to what the shared queries cannot say in common SQL.
pub trait Backend: Database<Arguments: IntoArguments<Self>> {
    /// What the store keeps beside the pool for this engine (the SQLite file and its page cap;
    /// the PostgreSQL URL without its password).
    type Info: std::fmt::Debug + Clone + Send + Sync;

    /// The engine's name, for messages: `sqlite` or `postgres`.
    const ENGINE: &'static str;

    /// Keys bound in one statement by [`Backend::push_in`] at the most.
    const LIST_CHUNK: usize;

    /// What follows the `SELECT` that picks a row to claim (`FOR UPDATE SKIP LOCKED` where
    /// several replicas claim at once; nothing where one writer holds the whole database).
    const CLAIM_LOCK: &'static str;

    /// `count of rows where cond` as one aggregate column (`sum(cond)` on SQLite, whose sum of
    /// no rows is NULL, read as 0; `count(*) FILTER (WHERE cond)` on PostgreSQL).
    fn count_if(cond: &str) -> String;

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`, so that writers queue instead of
    /// failing halfway).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self>>> + Send;

    /// Begins a write transaction for what can always be fetched or computed again (pages with
    /// their mark, the catalogue, samples): PostgreSQL does not wait for its WAL to reach the
    /// disk at commit; SQLite's is an ordinary write.
    fn begin_recomputable(
        pool: &Pool<Self>,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self>>> + Send;

    /// Pushes `IN (…)`-like membership of `values` (the text before it names the column).
    fn push_in(qb: &mut QueryBuilder<Self>, values: &[&str]);

    /// Writes `rows` (each key at most once) into `table` as one statement; returns the rows
    /// inserted or updated.
    fn upsert_rows<'t>(
        tx: &'t mut Transaction<'static, Self>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
    ) -> impl Future<Output = sqlx::Result<u64>> + Send + 't;

    /// [`Backend::upsert_rows`], returning `returning` (a column list) of every row inserted or
    /// updated, in no particular order.
    fn upsert_rows_returning<'t>(
        tx: &'t mut Transaction<'static, Self>,
        table: &'t Table,
        rows: &'t [Vec<Val<'t>>],
        returning: &'t str,
    ) -> impl Future<Output = sqlx::Result<Vec<Self::Row>>> + Send + 't;

    /// How many rows a statement inserted, updated or deleted.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Rows per bulk statement.
    const UPSERT_CHUNK: usize;

    /// A statement taking `$1` (a kind of facts) that serializes the transactions patching that
    /// kind's fact blocks, run first in a page's transaction; empty where one writer holds the
    /// whole database.
    const FACTS_LOCK: &'static str;

    /// Whether one bulk statement may write a key twice (SQLite applies the rows one by one;
    /// PostgreSQL refuses to update one row twice in a statement).
    const REPEATED_KEYS: bool;
}

/// The store over one engine. [`super::sqlite::SqliteStore`] and
/// [`super::postgres::PostgresStore`] are its two instances.
pub struct Db<D: Backend> {
    pub(super) pool: Pool<D>,
    pub(super) info: D::Info,
    pub(super) unmarked: UnmarkedSent,
}

impl<D: Backend> Clone for Db<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            info: self.info.clone(),
            unmarked: self.unmarked.clone(),
        }
    }
}

impl<D: Backend> std::fmt::Debug for Db<D> {
    // The pool's options may hold a password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("engine", &D::ENGINE)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<D: Backend> Db<D> {
    pub(super) fn new(pool: Pool<D>, info: D::Info) -> Self {
        Self {
            pool,
            info,
            unmarked: UnmarkedSent::default(),
        }
    }

    /// The engine's name, for messages: `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        D::ENGINE
    }

    pub(crate) fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The kind of a bulk-written column, as PostgreSQL's arrays need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

impl Kind {
    /// PostgreSQL's array type of the column.
    pub fn array(self) -> &'static str {
        match self {
            Kind::Text => "text[]",
            Kind::Int => "int8[]",
            Kind::Float => "float8[]",
            Kind::Bool => "bool[]",
        }
    }
}

/// One value of a bulk-written row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Val<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(v: &'a String) -> Self {
        Val::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Val<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Val::Text(v)
    }
}
impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::Int(Some(v))
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        Val::Int(v)
    }
}
impl From<f64> for Val<'_> {
    fn from(v: f64) -> Self {
        Val::Float(Some(v))
    }
}
impl From<bool> for Val<'_> {
    fn from(v: bool) -> Self {
        Val::Bool(Some(v))
    }
}

/// A table written in bulk: its columns in order with their kinds, and what a row whose key is
/// already stored does (`ON CONFLICT …`, naming the stored row by the table's name).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub on_conflict: &'static str,
}

impl Table {
    /// `name (c1, c2, …)`.
    pub fn target(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|(c, _)| *c).collect();
        format!("{} ({})", self.name, cols.join(", "))
    }
}

/// Writes `rows` into `table` in bulk statements inside `tx`, as if row by row in their order;
/// returns the rows inserted or updated.
pub(super) async fn upsert<'r, D: Backend, T, K: Eq + Hash + Ord>(
    tx: &mut Transaction<'static, D>,
    table: &Table,
    rows: &'r [T],
    key: impl Fn(&'r T) -> K,
    values: impl Fn(&'r T) -> Vec<Val<'r>>,
) -> sqlx::Result<u64> {
    let mut written = 0;
    let rounds = if D::REPEATED_KEYS {
        vec![rows.iter().collect()]
    } else {
        rounds(rows, key)
    };
    for round in rounds {
        for chunk in round.chunks(D::UPSERT_CHUNK) {
            let chunk: Vec<Vec<Val<'r>>> = chunk.iter().map(|r| values(r)).collect();
            written += D::upsert_rows(tx, table, &chunk).await?;
        }
    }
    Ok(written)
}

/// [`upsert`], returning `returning` of every row inserted or updated (a key written twice comes
/// back twice, in no particular order: read it again if its last state matters).
pub(super) async fn upsert_returning<'r, D: Backend, T, K: Eq + Hash + Ord>(
    tx: &mut Transaction<'static, D>,
    table: &Table,
    rows: &'r [T],
    key: impl Fn(&'r T) -> K,
    values: impl Fn(&'r T) -> Vec<Val<'r>>,
    returning: &str,
) -> sqlx::Result<Vec<D::Row>> {
    let mut out = Vec::new();
    let rounds = if D::REPEATED_KEYS {
        vec![rows.iter().collect()]
    } else {
        rounds(rows, key)
    };
    for round in rounds {
        for chunk in round.chunks(D::UPSERT_CHUNK) {
            let chunk: Vec<Vec<Val<'r>>> = chunk.iter().map(|r| values(r)).collect();
            out.extend(D::upsert_rows_returning(tx, table, &chunk, returning).await?);
        }
    }
    Ok(out)
}

/// Splits `rows` into rounds in which each key appears once, the n-th row of a key in round n,
/// each round sorted by key (so that concurrent writers lock rows in one order). Writing the
/// rounds in order gives the result of writing the rows one by one.
pub(super) fn rounds<'a, T, K: Eq + Hash + Ord>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<Vec<&'a T>> {
    let mut seen: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<Vec<&'a T>> = Vec::new();
    for r in rows {
        let n = seen.entry(key(r)).or_insert(0);
        if out.len() <= *n {
            out.push(Vec::new());
        }
        out[*n].push(r);
        *n += 1;
    }
    for round in &mut out {
        round.sort_by_key(|r| key(*r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Val, rounds};

    #[test]
    fn rounds_keep_each_keys_order_and_put_each_key_once_per_round() {
        let rows = [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("b", 5), ("a", 6)];
        let r = rounds(&rows, |r| r.0);
        let r: Vec<Vec<(&str, i32)>> = r
            .into_iter()
            .map(|x| x.into_iter().copied().collect())
            .collect();
        assert_eq!(
            r,
            vec![
                vec![("a", 2), ("b", 1), ("c", 4)],
                vec![("a", 6), ("b", 3)],
                vec![("b", 5)]
            ]
        );
        assert!(rounds(&[] as &[(&str, i32)], |r| r.0).is_empty());
    }

    #[test]
    fn a_row_is_a_json_array_of_plain_values() {
        let row = vec![
            Val::from("Đông Hà"),
            Val::Text(None),
            Val::from(7_i64),
            Val::Int(None),
            Val::from(1.5),
            Val::from(true),
        ];
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"["Đông Hà",null,7,null,1.5,true]"#
        );
    }
}
