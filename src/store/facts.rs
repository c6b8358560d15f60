//! The facts the rate engine sweeps, kept packed beside the records (`fact_blocks`), for both
//! backends.
//!
//! Every dossier and document has an integer `id` (its arrival order). The records of 1,024
//! consecutive ids share a **block**: one row of `fact_blocks` holding, encoded with `postcard`,
//! the few facts that a rule of metrics.md reads ([`DossierFacts`], [`DocumentFacts`]) of each of
//! them that some rule can count (a deleted record, or a dossier out of scope, has none), with
//! the unit, field, source and procedure codes written once per block. Each block also keeps
//! `first` and `last`: the instants outside which no window counts any of its records
//! (`DossierFacts::span`; `last` is `Epoch::MAX` while one is open).
//!
//! - **Written with the records**: a page's upsert returns the stored columns of every row it
//!   wrote, and the blocks of those ids are patched in the same transaction (records.rs), so a
//!   crash leaves records and facts consistent. PostgreSQL serializes the patches of one kind
//!   (an advisory lock taken first in the page's transaction), so two replicas never lose each
//!   other's patch of a block.
//! - **Read by the engine** ([`Store::load_facts`]): only blocks with `last ≥ since` — a block of
//!   dossiers all finished before the year began is never read, whatever the years kept — a few
//!   thousand rows of ~35 KB instead of a million rows of fifteen columns. The procedure's level
//!   is looked up in the catalogue at reading time (the catalogue is replaced at every sync).
//! - **Rebuilt from the records** when `fact_state` does not hold the current format
//!   ([`VERSION`]; at the first open after the migration that created them), after a copy between
//!   backends, and block by block when a block cannot be decoded (logged, then healed).
//!
//! This module never computes a rate (the rules are [`crate::rates::rules`], applied by
//! [`crate::rates::engine`]) and never holds personal data (codes, dates and flags only).

use super::backend::{Backend, Db, Kind, Table, upsert};
use super::{Context, Result, Store};
use crate::domain::facts::{
    DOC_INCOMING, DOC_NONE, DOC_OUTGOING, DocumentFacts, DossierFacts, F_IN_SCOPE, NONE,
    PROC_LEVEL4, PROC_LISTED, PROC_UNKNOWN,
};
use crate::domain::time::Epoch;
use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, Row, Transaction, Type};
use std::collections::{BTreeMap, HashMap};

/// The format of the blocks. A store whose `fact_state` holds another number for a kind rebuilds
/// that kind's blocks when it opens; raise it whenever [`DossierSlot`] or [`DocumentSlot`]
/// changes, or what [`FactRecord::read`] derives from a row.
pub const VERSION: i64 = 1;

/// Records per block: `2^SHIFT`.
const SHIFT: u32 = 10;

/// Ids per range when blocks are built from the tables.
const REBUILD_IDS: i64 = 64 << SHIFT;

/// The facts of what some window from `since` on can count, and the names of their groups.
#[derive(Debug, Default)]
pub struct Facts {
    /// In-scope dossiers (not deleted, status not 0, 1, 3 or 7, with a receipt instant).
    pub dossiers: Vec<DossierFacts>,
    /// Group `g` of a dossier: `(DonViXuLy, MaLinhVuc)` (`None` when the field is absent).
    pub dossier_groups: Vec<(String, Option<String>)>,
    /// Incoming and outgoing documents, not deleted, with their instant.
    pub documents: Vec<DocumentFacts>,
    /// Group `g` of a document: `MaDonVi`.
    pub document_groups: Vec<String>,
}

/// A dossier's facts in a block. The codes are indexes into the block's strings; the procedure
/// class is left to the reading (the catalogue may change without the dossier changing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DossierSlot {
    offset: u16,
    source: u32,
    unit: u32,
    field: u32,
    procedure: u32,
    status: u8,
    rating: u8,
    flags: u8,
    received_at: Option<i64>,
    due_at: Option<i64>,
    ended_at: Option<i64>,
    first_apology_at: Option<i64>,
    rated_at: Option<i64>,
}

/// A document's facts in a block: its unit code (an index into the block's strings), direction,
/// counting instant (arrival for incoming, issue for outgoing) and flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DocumentSlot {
    offset: u16,
    unit: u32,
    /// [`DOC_NONE`] for a document no rule counts (no direction, or no instant).
    direction: u8,
    flag: bool,
    at: Option<i64>,
}

fn some(x: Epoch) -> Option<Epoch> {
    (x != NONE).then_some(x)
}

impl DossierSlot {
    /// The facts, with `group` and the procedure class still to be set.
    fn facts(&self) -> DossierFacts {
        DossierFacts {
            received_at: self.received_at.unwrap_or(NONE),
            due_at: self.due_at.unwrap_or(NONE),
            ended_at: self.ended_at.unwrap_or(NONE),
            first_apology_at: self.first_apology_at.unwrap_or(NONE),
            rated_at: self.rated_at.unwrap_or(NONE),
            group: 0,
            status: self.status,
            rating: self.rating,
            procedure: PROC_UNKNOWN,
            flags: self.flags,
        }
    }
}

/// What a block holds: its strings, and one slot per record with facts, by offset.
#[derive(Debug, Serialize, Deserialize)]
struct Block<S> {
    strings: Vec<String>,
    slots: Vec<S>,
}

/// The span of a record that no window counts (kept for its unit's count of stored records).
const NEVER: (Epoch, Epoch) = (Epoch::MAX, Epoch::MIN);

/// A slot of either kind.
pub(super) trait Slot: Serialize + DeserializeOwned + Copy + Send + Sync + 'static {
    fn offset(&self) -> u16;
    fn set_offset(&mut self, offset: u16);
    /// The instants outside which no window counts this record ([`NEVER`] when none does).
    fn span(&self) -> (Epoch, Epoch);
    /// The index of its unit code in the block's strings.
    fn unit(&self) -> u32;
    /// Replaces each string index `i` by `f(i)`.
    fn remap(&mut self, f: &mut dyn FnMut(u32) -> u32);
}

impl Slot for DossierSlot {
    fn offset(&self) -> u16 {
        self.offset
    }
    fn set_offset(&mut self, offset: u16) {
        self.offset = offset;
    }
    fn span(&self) -> (Epoch, Epoch) {
        if self.flags & F_IN_SCOPE == 0 {
            return NEVER;
        }
        self.facts().span()
    }
    fn unit(&self) -> u32 {
        self.unit
    }
    fn remap(&mut self, f: &mut dyn FnMut(u32) -> u32) {
        self.source = f(self.source);
        self.unit = f(self.unit);
        self.field = f(self.field);
        self.procedure = f(self.procedure);
    }
}

impl Slot for DocumentSlot {
    fn offset(&self) -> u16 {
        self.offset
    }
    fn set_offset(&mut self, offset: u16) {
        self.offset = offset;
    }
    fn span(&self) -> (Epoch, Epoch) {
        match self.at {
            Some(at) if self.direction != DOC_NONE => (at, at),
            _ => NEVER,
        }
    }
    fn unit(&self) -> u32 {
        self.unit
    }
    fn remap(&mut self, f: &mut dyn FnMut(u32) -> u32) {
        self.unit = f(self.unit);
    }
}

/// One record's facts as read from its row: `None` when no rule counts it; otherwise the slot
/// and the strings its indexes point into.
pub(super) type Read<S> = (i64, Option<Record<S>>);

/// A record's slot, with the strings its indexes point into.
pub(super) type Record<S> = (S, Vec<String>);

/// The change of one slot of a block, by offset: set, or removed (`None`).
type Change<'a, S> = (u16, Option<&'a Record<S>>);

/// A kind of record with facts: where its rows and blocks are, and how a row becomes a slot.
pub(super) trait FactRecord {
    type Slot: Slot;
    /// `fact_blocks.kind` and `fact_state.kind`.
    const KIND: i64;
    /// The table of the records.
    const TABLE: &'static str;
    /// The columns [`FactRecord::read`] reads, in both engines' SQL (`id` first).
    const COLUMNS: &'static str;
    /// What the messages call them.
    const NAME: &'static str;

    /// A row of [`FactRecord::COLUMNS`] as a slot.
    fn read<'r, R>(r: &'r R) -> sqlx::Result<Read<Self::Slot>>
    where
        R: Row,
        usize: ColumnIndex<R>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
        &'r str: Decode<'r, R::Database> + Type<R::Database>,
        Option<&'r str>: Decode<'r, R::Database> + Type<R::Database>;
}

/// Dossiers' facts.
pub(super) struct DossierRecords;
/// Documents' facts.
pub(super) struct DocumentRecords;

impl FactRecord for DossierRecords {
    type Slot = DossierSlot;
    const KIND: i64 = 1;
    const TABLE: &'static str = "dossiers";
    const COLUMNS: &'static str = "id, source, unit_code, field_code, procedure_code, \
        CAST(status AS BIGINT), received_at, due_at, ended_at, first_apology_at, \
        CAST(rating AS BIGINT), rated_at, CAST(channel AS BIGINT), \
        CAST(CAST(fee_total > 0 AS INTEGER) AS BIGINT), CAST(paid_online AS BIGINT), \
        CAST(CAST(digitized AS INTEGER) AS BIGINT), CAST(CAST(deleted AS INTEGER) AS BIGINT)";
    const NAME: &'static str = "dossiers";

    /// A dossier's row ([`DossierRecords::COLUMNS`]) as a slot.
    fn read<'r, R>(r: &'r R) -> sqlx::Result<Read<DossierSlot>>
    where
        R: Row,
        usize: ColumnIndex<R>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
        &'r str: Decode<'r, R::Database> + Type<R::Database>,
        Option<&'r str>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let id: i64 = r.try_get(0)?;
        let status = code(r.try_get::<i64, _>(5)?);
        let received_at: Option<i64> = r.try_get(6)?;
        if r.try_get::<i64, _>(16)? != 0 {
            // Deleted: no rule counts it and it is no unit's stored record.
            return Ok((id, None));
        }
        let in_scope = !matches!(status, 0 | 1 | 3 | 7) && received_at.is_some();
        // The rules' reading of the columns, written once (`DossierFacts::new`); the procedure's
        // class is decided when the facts are read against the catalogue.
        let f = DossierFacts::new(
            in_scope,
            status,
            received_at,
            r.try_get(7)?,
            r.try_get(8)?,
            r.try_get(9)?,
            r.try_get::<Option<i64>, _>(10)?.map(code),
            r.try_get(11)?,
            r.try_get::<Option<i64>, _>(12)?.map(code),
            None,
            r.try_get::<i64, _>(13)? != 0,
            code(r.try_get::<i64, _>(14)?),
            r.try_get::<i64, _>(15)? != 0,
        );
        let strings = vec![
            r.try_get::<&str, _>(1)?.to_string(),
            r.try_get::<&str, _>(2)?.to_string(),
            r.try_get::<&str, _>(3)?.to_string(),
            r.try_get::<&str, _>(4)?.to_string(),
        ];
        let slot = DossierSlot {
            offset: offset_of(id),
            source: 0,
            unit: 1,
            field: 2,
            procedure: 3,
            status: f.status,
            rating: f.rating,
            flags: f.flags,
            received_at: some(f.received_at),
            due_at: some(f.due_at),
            ended_at: some(f.ended_at),
            first_apology_at: some(f.first_apology_at),
            rated_at: some(f.rated_at),
        };
        Ok((id, Some((slot, strings))))
    }
}

impl FactRecord for DocumentRecords {
    type Slot = DocumentSlot;
    const KIND: i64 = 2;
    const TABLE: &'static str = "documents";
    const COLUMNS: &'static str = "id, unit_code, direction, arrived_at, issued_at, \
        CAST(CAST(processed_online AS INTEGER) AS BIGINT), CAST(CAST(signed AS INTEGER) AS BIGINT), \
        CAST(CAST(deleted AS INTEGER) AS BIGINT)";
    const NAME: &'static str = "documents";

    /// A document's row ([`DocumentRecords::COLUMNS`]) as a slot, unless deleted (a document without
    /// a direction or an instant is kept as [`DOC_NONE`]: no rule counts it, its unit's count of stored
    /// documents does).
    fn read<'r, R>(r: &'r R) -> sqlx::Result<Read<DocumentSlot>>
    where
        R: Row,
        usize: ColumnIndex<R>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
        &'r str: Decode<'r, R::Database> + Type<R::Database>,
        Option<&'r str>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let id: i64 = r.try_get(0)?;
        let deleted = r.try_get::<i64, _>(7)? != 0;
        let direction: Option<&str> = r.try_get(2)?;
        let (direction, at, flag) = match direction {
            Some("DEN") => (
                DOC_INCOMING,
                r.try_get::<Option<i64>, _>(3)?,
                r.try_get::<i64, _>(5)?,
            ),
            Some("DI") => (
                DOC_OUTGOING,
                r.try_get::<Option<i64>, _>(4)?,
                r.try_get::<i64, _>(6)?,
            ),
            _ => (DOC_NONE, None, 0),
        };
        if deleted {
            return Ok((id, None));
        }
        let slot = DocumentSlot {
            offset: offset_of(id),
            unit: 0,
            direction: if at.is_some() { direction } else { DOC_NONE },
            flag: flag != 0,
            at,
        };
        Ok((id, Some((slot, vec![r.try_get::<&str, _>(1)?.to_string()]))))
    }
}

/// A small code from the database (status, channel, rating): out-of-range values keep their
/// meaning of "none of the listed codes".
fn code(x: i64) -> u8 {
    u8::try_from(x).unwrap_or(u8::MAX)
}

fn offset_of(id: i64) -> u16 {
    (id & ((1 << SHIFT) - 1)) as u16
}

fn block_of(id: i64) -> i64 {
    id >> SHIFT
}

/// The strings of a block being written, each once.
#[derive(Default)]
struct Dict {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl Dict {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// A block as written, or `None` when it holds no record.
#[derive(Debug, PartialEq)]
struct Encoded {
    first: Epoch,
    last: Epoch,
    /// Its stored records per unit code.
    per_unit: BTreeMap<String, u32>,
    /// Its stored records per unit code (`postcard`: `Vec<(String, u32)>`), read apart from
    /// the facts for the data-quality counts.
    units: Vec<u8>,
    data: Vec<u8>,
}

/// A stored block, checked: every string index of every slot points into its strings (a block
/// that fails is rebuilt from the records by the callers, never half read).
fn decode<S: Slot>(data: &[u8]) -> std::result::Result<Block<S>, postcard::Error> {
    let block: Block<S> = postcard::from_bytes(data)?;
    let n = block.strings.len() as u32;
    let mut ok = true;
    for s in &block.slots {
        let mut s = *s;
        s.remap(&mut |i| {
            ok &= i < n;
            i
        });
    }
    if ok {
        Ok(block)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

/// `old` (a block's stored data, if any) with `updates` applied: a slot set for each `Some`,
/// removed for each `None`.
/// `old` comes from [`decode`], which checked its string indexes.
fn patch<S: Slot>(old: Option<Block<S>>, updates: &[Change<'_, S>]) -> Option<Encoded> {
    let mut dict = Dict::default();
    let mut slots: BTreeMap<u16, S> = BTreeMap::new();
    let replaced: std::collections::HashSet<u16> = updates.iter().map(|(o, _)| *o).collect();
    if let Some(old) = old {
        // The slots an update replaces or removes are left out first, so that their strings
        // are not kept.
        for mut s in old
            .slots
            .into_iter()
            .filter(|s| !replaced.contains(&s.offset()))
        {
            s.remap(&mut |i| dict.intern(old.strings.get(i as usize).map_or("", String::as_str)));
            slots.insert(s.offset(), s);
        }
    }
    for (offset, update) in updates {
        if let Some((slot, strings)) = update {
            let mut s = *slot;
            s.set_offset(*offset);
            s.remap(&mut |i| dict.intern(strings.get(i as usize).map_or("", String::as_str)));
            slots.insert(*offset, s);
        }
    }
    encode(dict.strings, slots.into_values().collect())
}

fn encode<S: Slot>(strings: Vec<String>, slots: Vec<S>) -> Option<Encoded> {
    if slots.is_empty() {
        return None;
    }
    // A block of records no window counts gets an empty span that every reading skips.
    let first = slots.iter().map(|s| s.span().0).min().unwrap_or(Epoch::MAX);
    let last = slots.iter().map(|s| s.span().1).max().unwrap_or(Epoch::MIN);
    let block = Block { strings, slots };
    let per_unit = counts_of(&block);
    // Encoding plain integers and strings into a vector cannot fail.
    let units = postcard::to_allocvec(&per_unit).unwrap_or_default();
    let data = postcard::to_allocvec(&block).unwrap_or_default();
    Some(Encoded {
        first,
        last,
        per_unit,
        units,
        data,
    })
}

/// A block's records per unit code.
fn counts_of<S: Slot>(b: &Block<S>) -> BTreeMap<String, u32> {
    let mut per_unit: BTreeMap<&str, u32> = BTreeMap::new();
    for s in &b.slots {
        let unit = b.strings.get(s.unit() as usize).map_or("", String::as_str);
        *per_unit.entry(unit).or_default() += 1;
    }
    per_unit
        .into_iter()
        .map(|(u, n)| (u.to_string(), n))
        .collect()
}

/// `fact_units`, written in bulk: a row adds its count to the stored one.
const FACT_UNITS: Table = Table {
    name: "fact_units",
    columns: &[
        ("kind", Kind::Int),
        ("unit_code", Kind::Text),
        ("records", Kind::Int),
    ],
    on_conflict: "ON CONFLICT (kind, unit_code) DO UPDATE SET records = fact_units.records + excluded.records",
};

fn corrupt(e: postcard::Error) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// Interns group names into consecutive numbers.
struct Groups<K> {
    index: HashMap<K, u32>,
}

impl<K: std::hash::Hash + Eq> Groups<K> {
    fn new() -> Self {
        Groups {
            index: HashMap::new(),
        }
    }

    fn get(&mut self, key: K, names: &mut Vec<K>) -> u32
    where
        K: Clone,
    {
        if let Some(g) = self.index.get(&key) {
            return *g;
        }
        let g = names.len() as u32;
        names.push(key.clone());
        self.index.insert(key, g);
        g
    }
}

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> Vec<u8>: Encode<'q, D> + Type<D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> super::CodeCount: FromRow<'r, D::Row>,
    for<'r> (String, String, Option<i64>): FromRow<'r, D::Row>,
    for<'r> (Option<i64>,): FromRow<'r, D::Row>,
    usize: ColumnIndex<D::Row>,
    for<'r> i64: Decode<'r, D> + Type<D>,
    for<'r> Option<i64>: Decode<'r, D>,
    for<'r> &'r str: Decode<'r, D> + Type<D>,
    for<'r> Option<&'r str>: Decode<'r, D>,
{
    /// Patches the blocks of the records a page just wrote (`rows`: their
    /// [`FactRecord::COLUMNS`] as returned by the upsert), inside the page's transaction. A
    /// record returned twice (written twice by one page) is read again from its table, so that
    /// its last state is the one kept.
    pub(super) async fn apply_facts<F: FactRecord>(
        tx: &mut Transaction<'static, D>,
        rows: &[D::Row],
    ) -> Result<()> {
        const DOING: &str = "updating the rate engine's facts of the page";
        let mut by_id: BTreeMap<i64, Option<Record<F::Slot>>> = BTreeMap::new();
        let mut twice = Vec::new();
        for r in rows {
            let (id, slot) = F::read(r).doing(DOING)?;
            if by_id.insert(id, slot).is_some() {
                twice.push(id);
            }
        }
        for id in twice {
            let sql = format!("SELECT {} FROM {} WHERE id = $1", F::COLUMNS, F::TABLE);
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .doing(DOING)?;
            let slot = match row {
                Some(r) => F::read(&r).doing(DOING)?.1,
                None => None,
            };
            by_id.insert(id, slot);
        }
        let mut blocks: BTreeMap<i64, Vec<Change<'_, F::Slot>>> = BTreeMap::new();
        for (id, slot) in &by_id {
            blocks
                .entry(block_of(*id))
                .or_default()
                .push((offset_of(*id), slot.as_ref()));
        }
        // The change of each unit's count of stored records, over the page's blocks.
        let mut delta: BTreeMap<String, i64> = BTreeMap::new();
        let mut recount = false;
        for (block, updates) in blocks {
            let stored: Option<(i64, Vec<u8>)> = sqlx::query_as(
                "SELECT block, data FROM fact_blocks WHERE kind = $1 AND block = $2",
            )
            .bind(F::KIND)
            .bind(block)
            .fetch_optional(&mut **tx)
            .await
            .doing(DOING)?;
            let old = match stored.map(|(_, data)| decode::<F::Slot>(&data)) {
                None => None,
                Some(Ok(b)) => Some(b),
                Some(Err(e)) => {
                    tracing::warn!(
                        kind = F::NAME,
                        block,
                        error = %e,
                        "a block of the rate engine's facts could not be read: rebuilt from the records"
                    );
                    Self::rebuild_range::<F>(tx, block << SHIFT, (block + 1) << SHIFT).await?;
                    recount = true;
                    continue;
                }
            };
            if let Some(old) = &old {
                for (unit, n) in counts_of(old) {
                    *delta.entry(unit).or_default() -= i64::from(n);
                }
            }
            let encoded = patch(old, &updates);
            if let Some(e) = &encoded {
                for (unit, n) in &e.per_unit {
                    *delta.entry(unit.clone()).or_default() += i64::from(*n);
                }
            }
            Self::put_block(tx, F::KIND, block, encoded).await?;
        }
        if recount {
            Self::recount_units::<F>(tx).await
        } else {
            Self::add_units(tx, F::KIND, delta).await
        }
    }

    /// Adds `delta` to the kind's counts of stored records per unit code (`fact_units`).
    async fn add_units(
        tx: &mut Transaction<'static, D>,
        kind: i64,
        delta: BTreeMap<String, i64>,
    ) -> Result<()> {
        let rows: Vec<(String, i64)> = delta.into_iter().filter(|(_, n)| *n != 0).collect();
        upsert(
            tx,
            &FACT_UNITS,
            &rows,
            |(unit, _)| unit.as_str(),
            |(unit, n)| vec![kind.into(), unit.into(), (*n).into()],
        )
        .await
        .doing("counting the stored records per unit code")?;
        Ok(())
    }

    /// Counts a kind's stored records per unit code again from every block's summary (after a
    /// rebuild); a summary that cannot be read has its block rebuilt from the records first.
    async fn recount_units<F: FactRecord>(tx: &mut Transaction<'static, D>) -> Result<()> {
        const DOING: &str = "counting the stored records per unit code";
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT block, units FROM fact_blocks WHERE kind = $1")
                .bind(F::KIND)
                .fetch_all(&mut **tx)
                .await
                .doing(DOING)?;
        let mut total: BTreeMap<String, i64> = BTreeMap::new();
        for (block, units) in rows {
            let units: Vec<(String, u32)> = match postcard::from_bytes(&units) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(
                        kind = F::NAME,
                        block,
                        error = %e,
                        "a block of the rate engine's facts could not be read: rebuilt from the records"
                    );
                    Self::rebuild_range::<F>(tx, block << SHIFT, (block + 1) << SHIFT).await?;
                    let again: Option<(Vec<u8>,)> = sqlx::query_as(
                        "SELECT units FROM fact_blocks WHERE kind = $1 AND block = $2",
                    )
                    .bind(F::KIND)
                    .bind(block)
                    .fetch_optional(&mut **tx)
                    .await
                    .doing(DOING)?;
                    match again {
                        Some((units,)) => {
                            postcard::from_bytes(&units).map_err(corrupt).doing(DOING)?
                        }
                        None => Vec::new(),
                    }
                }
            };
            for (unit, n) in units {
                *total.entry(unit).or_default() += i64::from(n);
            }
        }
        sqlx::query("DELETE FROM fact_units WHERE kind = $1")
            .bind(F::KIND)
            .execute(&mut **tx)
            .await
            .doing(DOING)?;
        Self::add_units(tx, F::KIND, total).await
    }

    /// Writes (or, when empty, deletes) one block.
    async fn put_block(
        tx: &mut Transaction<'static, D>,
        kind: i64,
        block: i64,
        encoded: Option<Encoded>,
    ) -> Result<()> {
        const DOING: &str = "writing the rate engine's facts";
        match encoded {
            None => {
                sqlx::query("DELETE FROM fact_blocks WHERE kind = $1 AND block = $2")
                    .bind(kind)
                    .bind(block)
                    .execute(&mut **tx)
                    .await
                    .doing(DOING)?;
            }
            Some(e) => {
                sqlx::query(
                    "INSERT INTO fact_blocks (kind, block, first, last, units, data) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (kind, block) DO UPDATE SET first = excluded.first, \
                     last = excluded.last, units = excluded.units, data = excluded.data",
                )
                .bind(kind)
                .bind(block)
                .bind(e.first)
                .bind(e.last)
                .bind(e.units)
                .bind(e.data)
                .execute(&mut **tx)
                .await
                .doing(DOING)?;
            }
        }
        Ok(())
    }

    /// Builds the blocks of the ids `[lo, hi)` (block-aligned) from the records' table.
    async fn rebuild_range<F: FactRecord>(
        tx: &mut Transaction<'static, D>,
        lo: i64,
        hi: i64,
    ) -> Result<u64> {
        const DOING: &str = "building the rate engine's facts from the records";
        let sql = format!(
            "SELECT {} FROM {} WHERE id >= $1 AND id < $2 ORDER BY id",
            F::COLUMNS,
            F::TABLE
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lo)
            .bind(hi)
            .fetch_all(&mut **tx)
            .await
            .doing(DOING)?;
        let mut per_block: BTreeMap<i64, (Dict, Vec<F::Slot>)> = BTreeMap::new();
        let mut block = lo >> SHIFT;
        while block < hi >> SHIFT {
            per_block.insert(block, (Dict::default(), Vec::new()));
            block += 1;
        }
        for r in &rows {
            let (id, slot) = F::read(r).doing(DOING)?;
            let Some((mut s, strings)) = slot else {
                continue;
            };
            let (dict, slots) = per_block.entry(block_of(id)).or_default();
            s.remap(&mut |i| dict.intern(strings.get(i as usize).map_or("", String::as_str)));
            slots.push(s);
        }
        let mut written = 0;
        for (block, (dict, slots)) in per_block {
            written += slots.len() as u64;
            Self::put_block(tx, F::KIND, block, encode(dict.strings, slots)).await?;
        }
        Ok(written)
    }

    /// Builds every block of a kind from its table when `fact_state` does not hold the current
    /// [`VERSION`] (in one transaction; a concurrent opener waits, then finds them built).
    async fn ensure_kind<F: FactRecord>(&self, force: bool) -> Result<()> {
        const DOING: &str = "building the rate engine's facts from the records";
        if !force {
            let stored: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM fact_state WHERE kind = $1")
                    .bind(F::KIND)
                    .fetch_optional(&self.pool)
                    .await
                    .doing(DOING)?;
            if stored.map(|(v,)| v) == Some(VERSION) {
                return Ok(());
            }
        }
        let started = std::time::Instant::now();
        let mut tx = D::begin_write(&self.pool).await.doing(DOING)?;
        // Locks the kind's state row: a second opener waits here, then sees the new version.
        let (version,): (i64,) = sqlx::query_as(
            "INSERT INTO fact_state (kind, version) VALUES ($1, -1) \
             ON CONFLICT (kind) DO UPDATE SET version = fact_state.version RETURNING version",
        )
        .bind(F::KIND)
        .fetch_one(&mut *tx)
        .await
        .doing(DOING)?;
        if version == VERSION && !force {
            tx.commit().await.doing(DOING)?;
            return Ok(());
        }
        sqlx::query("DELETE FROM fact_blocks WHERE kind = $1")
            .bind(F::KIND)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        let (max,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT max(id) FROM {}",
            F::TABLE
        )))
        .fetch_one(&mut *tx)
        .await
        .doing(DOING)?;
        let mut records = 0;
        let mut lo = 0;
        while max.is_some_and(|max| lo <= max) {
            records += Self::rebuild_range::<F>(&mut tx, lo, lo + REBUILD_IDS).await?;
            lo += REBUILD_IDS;
        }
        Self::recount_units::<F>(&mut tx).await?;
        sqlx::query("UPDATE fact_state SET version = $1 WHERE kind = $2")
            .bind(VERSION)
            .bind(F::KIND)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        tx.commit().await.doing(DOING)?;
        let secs = started.elapsed().as_secs_f64();
        if records > 0 {
            tracing::info!(
                kind = F::NAME,
                records,
                secs,
                "the rate engine's facts were built from the records"
            );
        } else {
            // A new, empty store: nothing worth a line in an operator's log.
            tracing::debug!(
                kind = F::NAME,
                "the rate engine's facts are ready (no records)"
            );
        }
        Ok(())
    }

    /// Builds the facts of both kinds when their format is not the current one (or always, with
    /// `force`: after records were written without them, by a copy for instance).
    pub async fn ensure_facts(&self, force: bool) -> Result<()> {
        self.ensure_kind::<DossierRecords>(force).await?;
        self.ensure_kind::<DocumentRecords>(force).await
    }

    /// The blocks of a kind that a window from `since` on can count, decoded, in block order; a
    /// block that cannot be decoded is rebuilt from the records (and logged), then read again.
    async fn read_blocks<F: FactRecord>(
        &self,
        since: Epoch,
        mut each: impl FnMut(Block<F::Slot>),
    ) -> Result<()> {
        const DOING: &str = "reading the rate engine's facts";
        let mut broken = Vec::new();
        {
            let mut rows = sqlx::query_as::<D, (i64, Vec<u8>)>(
                "SELECT block, data FROM fact_blocks WHERE kind = $1 AND last >= $2 ORDER BY block",
            )
            .bind(F::KIND)
            .bind(since)
            .fetch(&self.pool);
            while let Some((block, data)) = rows.try_next().await.doing(DOING)? {
                match decode::<F::Slot>(&data) {
                    Ok(b) => each(b),
                    Err(e) => {
                        tracing::warn!(
                            kind = F::NAME,
                            block,
                            error = %e,
                            "a block of the rate engine's facts could not be read: rebuilding it from the records"
                        );
                        broken.push(block);
                    }
                }
            }
        }
        for block in broken {
            let mut tx = D::begin_write(&self.pool).await.doing(DOING)?;
            Self::rebuild_range::<F>(&mut tx, block << SHIFT, (block + 1) << SHIFT).await?;
            Self::recount_units::<F>(&mut tx).await?;
            tx.commit().await.doing(DOING)?;
            let data: Option<(i64, Vec<u8>)> = sqlx::query_as(
                "SELECT block, data FROM fact_blocks WHERE kind = $1 AND block = $2 AND last >= $3",
            )
            .bind(F::KIND)
            .bind(block)
            .bind(since)
            .fetch_optional(&self.pool)
            .await
            .doing(DOING)?;
            if let Some((_, data)) = data {
                each(decode::<F::Slot>(&data).map_err(corrupt).doing(DOING)?);
            }
        }
        Ok(())
    }

    /// Stored (not deleted) records of a kind per unit code: `fact_units`, kept with the blocks
    /// (a few hundred rows, whatever the records kept).
    pub(super) async fn unit_counts<F: FactRecord>(&self) -> Result<Vec<super::CodeCount>> {
        sqlx::query_as(
            "SELECT unit_code AS code, records AS count FROM fact_units \
             WHERE kind = $1 AND records > 0 ORDER BY unit_code",
        )
        .bind(F::KIND)
        .fetch_all(&self.pool)
        .await
        .doing("counting the stored records per unit code")
    }

    /// The records stored in the blocks of a kind that a window from `since` can count (an
    /// upper bound of the facts [`Db::load_facts`] returns).
    async fn records_in<F: FactRecord>(&self, since: Epoch) -> Result<usize> {
        const DOING: &str = "sizing the rate engine's facts";
        let mut rows = sqlx::query_as::<D, (Vec<u8>,)>(
            "SELECT units FROM fact_blocks WHERE kind = $1 AND last >= $2",
        )
        .bind(F::KIND)
        .bind(since)
        .fetch(&self.pool);
        let mut n = 0usize;
        while let Some((units,)) = rows.try_next().await.doing(DOING)? {
            // A summary that cannot be read only makes the first guess smaller.
            let units: Vec<(String, u32)> = postcard::from_bytes(&units).unwrap_or_default();
            n += units.iter().map(|(_, k)| *k as usize).sum::<usize>();
        }
        Ok(n)
    }

    /// Stored (not deleted) dossiers per `DonViXuLy`.
    pub async fn dossier_codes(&self) -> Result<Vec<super::CodeCount>> {
        self.unit_counts::<DossierRecords>().await
    }

    /// Stored (not deleted) documents per `MaDonVi`.
    pub async fn document_codes(&self) -> Result<Vec<super::CodeCount>> {
        self.unit_counts::<DocumentRecords>().await
    }

    /// The facts of every dossier and document that a window starting at or after `since` can
    /// count (module docs).
    pub async fn load_facts(&self, since: Epoch) -> Result<Facts> {
        let levels: Vec<(String, String, Option<i64>)> =
            sqlx::query_as("SELECT source, code, CAST(level AS BIGINT) FROM procedures")
                .fetch_all(&self.pool)
                .await
                .doing("reading the catalogue for the rate engine")?;
        let levels: HashMap<(String, String), u8> = levels
            .into_iter()
            .map(|(source, code, level)| {
                let class = if level == Some(4) {
                    PROC_LEVEL4
                } else {
                    PROC_LISTED
                };
                ((source, code), class)
            })
            .collect();
        // Sized once from the blocks' summaries (an upper bound: it counts the records no rule
        // counts too): growing a vector of a million facts by doubling would hold the old and
        // the new one at the job's peak.
        let mut out = Facts {
            dossiers: Vec::with_capacity(self.records_in::<DossierRecords>(since).await?),
            documents: Vec::with_capacity(self.records_in::<DocumentRecords>(since).await?),
            ..Facts::default()
        };
        let mut groups = Groups::new();
        let mut names: Vec<(String, String)> = Vec::new();
        self.read_blocks::<DossierRecords>(since, |b| {
            // Per block: its (unit, field) and (source, procedure) pairs, looked up once, then
            // found by the unit's (the procedure's) string index in a short list.
            let n = b.strings.len();
            let mut local: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
            let mut classes: Vec<Vec<(u32, u8)>> = vec![Vec::new(); n];
            let text = |i: u32| b.strings.get(i as usize).map_or("", String::as_str);
            for s in &b.slots {
                if s.span().1 < since {
                    continue;
                }
                let mut f = s.facts();
                let (Some(fields), Some(procs)) = (
                    local.get_mut(s.unit as usize),
                    classes.get_mut(s.procedure as usize),
                ) else {
                    continue; // cannot happen: `decode` checked every index
                };
                f.group = match fields.iter().find(|(field, _)| *field == s.field) {
                    Some((_, g)) => *g,
                    None => {
                        let key = (text(s.unit).to_string(), text(s.field).to_string());
                        let g = groups.get(key, &mut names);
                        fields.push((s.field, g));
                        g
                    }
                };
                f.procedure = match procs.iter().find(|(source, _)| *source == s.source) {
                    Some((_, c)) => *c,
                    None => {
                        let key = (text(s.source).to_string(), text(s.procedure).to_string());
                        let c = levels.get(&key).copied().unwrap_or(PROC_UNKNOWN);
                        procs.push((s.source, c));
                        c
                    }
                };
                out.dossiers.push(f);
            }
        })
        .await?;
        out.dossier_groups = names
            .into_iter()
            .map(|(unit, field)| (unit, Some(field).filter(|f| !f.is_empty())))
            .collect();
        let mut groups = Groups::new();
        let mut names: Vec<String> = Vec::new();
        self.read_blocks::<DocumentRecords>(since, |b| {
            let mut local: Vec<Option<u32>> = vec![None; b.strings.len()];
            for s in &b.slots {
                let at = match s.at {
                    Some(at) if s.direction != DOC_NONE && at >= since => at,
                    _ => continue,
                };
                let Some(cached) = local.get_mut(s.unit as usize) else {
                    continue; // cannot happen: `decode` checked every index
                };
                let group = match cached {
                    Some(g) => *g,
                    None => {
                        let unit = b.strings.get(s.unit as usize).map_or("", String::as_str);
                        let g = groups.get(unit.to_string(), &mut names);
                        *cached = Some(g);
                        g
                    }
                };
                out.documents.push(DocumentFacts {
                    at,
                    group,
                    direction: s.direction,
                    flag: s.flag,
                });
            }
        })
        .await?;
        out.document_groups = names;
        // Only a large slack is given back (shrinking copies the facts).
        for (len, cap) in [
            (out.dossiers.len(), out.dossiers.capacity()),
            (out.documents.len(), out.documents.capacity()),
        ] {
            if cap > len + len / 4 + 1024 {
                out.dossiers.shrink_to_fit();
                out.documents.shrink_to_fit();
                break;
            }
        }
        Ok(out)
    }
}

impl Store {
    /// The facts of every dossier and document that a window starting at or after `since` can
    /// count (module docs): the blocks whose last instant is at or after `since`, nothing else.
    pub async fn load_facts(&self, since: Epoch) -> Result<Facts> {
        match self {
            Store::Sqlite(s) => s.load_facts(since).await,
            Store::Postgres(s) => s.load_facts(since).await,
        }
    }

    /// Rebuilds every block of the rate engine's facts from the records (they are kept with the
    /// records otherwise; this is for a store whose records were written by other means: a copy
    /// between backends, a repair by hand).
    pub async fn rebuild_facts(&self) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.ensure_facts(true).await,
            Store::Postgres(s) => s.ensure_facts(true).await,
        }
    }

    /// Builds the facts when their stored format is not the current one (at open).
    pub(super) async fn ensure_facts(&self) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.ensure_facts(false).await,
            Store::Postgres(s) => s.ensure_facts(false).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(
        offset: u16,
        received: i64,
        ended: Option<i64>,
        status: u8,
    ) -> (DossierSlot, Vec<String>) {
        (
            DossierSlot {
                offset,
                source: 0,
                unit: 1,
                field: 2,
                procedure: 3,
                status,
                rating: 0,
                flags: F_IN_SCOPE,
                received_at: Some(received),
                due_at: None,
                ended_at: ended,
                first_apology_at: None,
                rated_at: None,
            },
            vec!["mc".into(), format!("U{offset}"), "".into(), "P".into()],
        )
    }

    #[test]
    fn a_patch_sets_and_removes_slots_and_keeps_the_strings_of_the_others() {
        let a = slot(3, 100, Some(200), 10);
        let b = slot(7, 150, None, 4);
        let Some(e) = patch::<DossierSlot>(None, &[(3, Some(&a)), (7, Some(&b))]) else {
            panic!("a block with two slots is not empty");
        };
        assert_eq!((e.first, e.last), (100, Epoch::MAX), "one is open");
        let units: Vec<(String, u32)> = postcard::from_bytes(&e.units).unwrap();
        assert_eq!(units, [("U3".to_string(), 1), ("U7".to_string(), 1)]);
        let block = decode::<DossierSlot>(&e.data).unwrap();
        assert_eq!(block.slots.len(), 2);
        let units: Vec<&str> = block
            .slots
            .iter()
            .map(|s| block.strings[s.unit as usize].as_str())
            .collect();
        assert_eq!(units, ["U3", "U7"]);

        // The open one is removed: the block now ends with the other's end.
        let Some(e) = patch(Some(block), &[(7, None)]) else {
            panic!("one slot is left");
        };
        assert_eq!((e.first, e.last), (100, 200));
        let block = decode::<DossierSlot>(&e.data).unwrap();
        assert_eq!(block.strings, ["mc", "U3", "", "P"]);
        assert_eq!(patch(Some(block), &[(3, None)]), None);
    }

    #[test]
    fn a_record_no_rule_counts_is_kept_for_its_units_count_but_spans_nothing() {
        let (mut out, strings) = slot(1, 100, None, 3);
        out.flags = 0; // status 3: out of scope
        let Some(e) = patch::<DossierSlot>(None, &[(1, Some(&(out, strings)))]) else {
            panic!("the record is stored");
        };
        assert!(e.first > e.last, "no window reads this block: {e:?}");
        let units: Vec<(String, u32)> = postcard::from_bytes(&e.units).unwrap();
        assert_eq!(units, [("U1".to_string(), 1)]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<DossierSlot>(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode::<DocumentSlot>(b"not a block at all").is_err());
    }
}
