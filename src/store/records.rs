//! Records and their sync: pages of dossiers and documents with their rejections and the mark,
//! the catalogue, each source endpoint's state and runs, future-dated records, and the
//! data-quality counts (rejections, records per upstream code).
//!
//! Written once for both engines over [`Backend`]; never interprets a record (the upstream
//! layer validated it) and never counts for a rate (see [`super::tallies`]).

use super::backend::{Backend, Db, Kind, Table, Val, upsert, upsert_returning};
use super::facts::{DocumentRecords, DossierRecords, FactRecord};
use super::{
    CodeCount, Context, Document, Dossier, FutureCount, Procedure, Rejection, RejectionCount,
    Result, RunCounts, SyncState, SyncStats,
};
use crate::domain::time::Epoch;
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, QueryBuilder, Transaction, Type};

const DOSSIERS: Table = Table {
    name: "dossiers",
    columns: &[
        ("source", Kind::Text),
        ("code", Kind::Text),
        ("procedure_code", Kind::Text),
        ("field_code", Kind::Text),
        ("unit_code", Kind::Text),
        ("channel", Kind::Int),
        ("status", Kind::Int),
        ("received_at", Kind::Int),
        ("appointed_at", Kind::Int),
        ("due_at", Kind::Int),
        ("ended_at", Kind::Int),
        ("returned_at", Kind::Int),
        ("paid_online", Kind::Int),
        ("fee_total", Kind::Float),
        ("digitized", Kind::Bool),
        ("first_apology_at", Kind::Int),
        ("rating", Kind::Int),
        ("rated_at", Kind::Int),
        ("updated_at", Kind::Int),
        ("deleted", Kind::Bool),
    ],
    // An older version never overwrites a newer one.
    on_conflict: "ON CONFLICT (source, code) DO UPDATE SET procedure_code = excluded.procedure_code, \
        field_code = excluded.field_code, unit_code = excluded.unit_code, channel = excluded.channel, \
        status = excluded.status, received_at = excluded.received_at, appointed_at = excluded.appointed_at, \
        due_at = excluded.due_at, ended_at = excluded.ended_at, returned_at = excluded.returned_at, \
        paid_online = excluded.paid_online, fee_total = excluded.fee_total, digitized = excluded.digitized, \
        first_apology_at = excluded.first_apology_at, rating = excluded.rating, rated_at = excluded.rated_at, \
        updated_at = excluded.updated_at, deleted = excluded.deleted \
        WHERE excluded.updated_at >= dossiers.updated_at",
};

const DOCUMENTS: Table = Table {
    name: "documents",
    columns: &[
        ("source", Kind::Text),
        ("code", Kind::Text),
        ("unit_code", Kind::Text),
        ("direction", Kind::Text),
        ("arrived_at", Kind::Int),
        ("issued_at", Kind::Int),
        ("processed_online", Kind::Bool),
        ("signed", Kind::Bool),
        ("updated_at", Kind::Int),
        ("deleted", Kind::Bool),
    ],
    on_conflict: "ON CONFLICT (source, code) DO UPDATE SET unit_code = excluded.unit_code, \
        direction = excluded.direction, arrived_at = excluded.arrived_at, issued_at = excluded.issued_at, \
        processed_online = excluded.processed_online, signed = excluded.signed, \
        updated_at = excluded.updated_at, deleted = excluded.deleted \
        WHERE excluded.updated_at >= documents.updated_at",
};

const PROCEDURES: Table = Table {
    name: "procedures",
    columns: &[
        ("source", Kind::Text),
        ("code", Kind::Text),
        ("name", Kind::Text),
        ("field_code", Kind::Text),
        ("field_name", Kind::Text),
        ("level", Kind::Int),
    ],
    // A catalogue listing a code twice keeps the last listing.
    on_conflict: "ON CONFLICT (source, code) DO UPDATE SET name = excluded.name, \
        field_code = excluded.field_code, field_name = excluded.field_name, level = excluded.level",
};

const REJECTED: Table = Table {
    name: "rejected",
    columns: &[
        ("source", Kind::Text),
        ("kind", Kind::Text),
        ("key", Kind::Text),
        ("reason", Kind::Text),
        ("updated_at", Kind::Int),
        ("first_seen", Kind::Int),
        ("last_seen", Kind::Int),
    ],
    on_conflict: "ON CONFLICT (source, kind, key) DO UPDATE SET reason = excluded.reason, \
        updated_at = excluded.updated_at, last_seen = excluded.last_seen, \
        times_seen = rejected.times_seen + 1",
};

const FUTURE_UPDATES: Table = Table {
    name: "future_updates",
    columns: &[
        ("source", Kind::Text),
        ("endpoint", Kind::Text),
        ("key", Kind::Text),
        ("claimed_at", Kind::Int),
        ("first_seen", Kind::Int),
        ("last_seen", Kind::Int),
    ],
    on_conflict: "ON CONFLICT (source, endpoint, key) DO UPDATE SET claimed_at = excluded.claimed_at, \
        last_seen = excluded.last_seen, times_seen = future_updates.times_seen + 1",
};

/// What differs between a page of dossiers and one of documents.
struct PageKind {
    table: &'static Table,
    /// The kind of their rejections.
    kind: &'static str,
    storing: &'static str,
    committing: &'static str,
}

const DOSSIER_PAGE: PageKind = PageKind {
    table: &DOSSIERS,
    kind: "dossier",
    storing: "storing dossiers",
    committing: "committing a page of dossiers",
};

const DOCUMENT_PAGE: PageKind = PageKind {
    table: &DOCUMENTS,
    kind: "document",
    storing: "storing documents",
    committing: "committing a page of documents",
};

/// A record that comes in pages: where it goes and its row.
trait PageRecord {
    const PAGE: PageKind;
    /// Where its facts for the rate engine go.
    type Facts: FactRecord;
    fn code(&self) -> &str;
    fn values<'a>(&'a self, source: &'a str) -> Vec<Val<'a>>;
}

impl PageRecord for Dossier {
    const PAGE: PageKind = DOSSIER_PAGE;
    type Facts = DossierRecords;

    fn code(&self) -> &str {
        &self.code
    }

    fn values<'a>(&'a self, source: &'a str) -> Vec<Val<'a>> {
        let d = self;
        vec![
            source.into(),
            (&d.code).into(),
            (&d.procedure_code).into(),
            // '' when MaLinhVuc is absent.
            d.field_code.as_deref().unwrap_or("").into(),
            (&d.unit_code).into(),
            d.channel.map(i64::from).into(),
            i64::from(d.status).into(),
            d.received_at.into(),
            d.appointed_at.into(),
            d.due_at.into(),
            d.ended_at.into(),
            d.returned_at.into(),
            i64::from(d.paid_online).into(),
            d.fee_total.into(),
            d.digitized.into(),
            d.first_apology_at.into(),
            d.rating.map(i64::from).into(),
            d.rated_at.into(),
            d.updated_at.into(),
            d.deleted.into(),
        ]
    }
}

impl PageRecord for Document {
    const PAGE: PageKind = DOCUMENT_PAGE;
    type Facts = DocumentRecords;

    fn code(&self) -> &str {
        &self.code
    }

    fn values<'a>(&'a self, source: &'a str) -> Vec<Val<'a>> {
        let d = self;
        vec![
            source.into(),
            (&d.code).into(),
            (&d.unit_code).into(),
            d.direction.map(|x| x.as_str()).into(),
            d.arrived_at.into(),
            d.issued_at.into(),
            d.processed_online.into(),
            d.signed.into(),
            d.updated_at.into(),
            d.deleted.into(),
        ]
    }
}

const STATE_COLUMNS: &str =
    "source, endpoint, mark, last_success_at, last_attempt_at, last_error, consecutive_failures";

impl<D: Backend> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> Option<i64>: Encode<'q, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Option<i64>,): FromRow<'r, D::Row>,
    for<'r> SyncState: FromRow<'r, D::Row>,
    for<'r> SyncStats: FromRow<'r, D::Row>,
    for<'r> FutureCount: FromRow<'r, D::Row>,
    for<'r> RejectionCount: FromRow<'r, D::Row>,
    for<'r> CodeCount: FromRow<'r, D::Row>,
    // The rate engine's facts, patched with each page (store/facts.rs).
    for<'q> Vec<u8>: Encode<'q, D> + Type<D>,
    for<'r> (i64, Vec<u8>): FromRow<'r, D::Row>,
    for<'r> (Vec<u8>,): FromRow<'r, D::Row>,
    for<'r> (String, String, Option<i64>): FromRow<'r, D::Row>,
    usize: ColumnIndex<D::Row>,
    for<'r> i64: Decode<'r, D>,
    for<'r> Option<i64>: Decode<'r, D>,
    for<'r> &'r str: Decode<'r, D>,
    for<'r> Option<&'r str>: Decode<'r, D>,
{
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .doing("checking the database")
            .map(|_| ())
    }

    pub async fn sync_state(&self, source: &str, endpoint: &str) -> Result<Option<SyncState>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM sync_state WHERE source = $1 AND endpoint = $2"
        )))
        .bind(source)
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await
        .doing("reading the sync state")
    }

    pub async fn sync_states(&self) -> Result<Vec<SyncState>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM sync_state ORDER BY source, endpoint"
        )))
        .fetch_all(&self.pool)
        .await
        .doing("reading the sync states")
    }

    /// Every source endpoint's state and last run.
    pub async fn sync_stats(&self) -> Result<Vec<SyncStats>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS}, last_fetched AS fetched, last_stored AS stored, \
             last_rejected AS rejected, last_pages AS pages, last_duration_ms AS duration_ms \
             FROM sync_state ORDER BY source, endpoint"
        )))
        .fetch_all(&self.pool)
        .await
        .doing("reading sync statistics")
    }

    async fn ensure_state(
        tx: &mut Transaction<'static, D>,
        source: &str,
        endpoint: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_state (source, endpoint) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(source)
        .bind(endpoint)
        .execute(&mut **tx)
        .await
        .doing("creating the sync state")?;
        Ok(())
    }

    /// Moves the mark forward to `mark` (never back).
    async fn advance_mark(
        tx: &mut Transaction<'static, D>,
        source: &str,
        endpoint: &str,
        mark: Option<Epoch>,
    ) -> Result<()> {
        Self::ensure_state(tx, source, endpoint).await?;
        if let Some(m) = mark {
            sqlx::query(
                "UPDATE sync_state SET mark = CASE WHEN mark IS NULL OR mark < $1 THEN $1 ELSE mark END \
                 WHERE source = $2 AND endpoint = $3",
            )
            .bind(m)
            .bind(source)
            .bind(endpoint)
            .execute(&mut **tx)
            .await
            .doing("advancing the sync mark")?;
        }
        Ok(())
    }

    async fn put_rejections(
        tx: &mut Transaction<'static, D>,
        source: &str,
        rejections: &[Rejection],
        now: Epoch,
    ) -> Result<()> {
        upsert(
            tx,
            &REJECTED,
            rejections,
            |r| (r.kind.as_str(), r.key.as_str()),
            |r| {
                vec![
                    source.into(),
                    r.kind.as_str().into(),
                    (&r.key).into(),
                    (&r.reason).into(),
                    r.updated_at.into(),
                    now.into(),
                    now.into(),
                ]
            },
        )
        .await
        .doing("setting rejected records aside")?;
        Ok(())
    }

    /// A valid version of a record clears its earlier rejection.
    async fn clear_rejections<'k>(
        tx: &mut Transaction<'static, D>,
        source: &str,
        kind: &str,
        keys: impl ExactSizeIterator<Item = &'k str>,
    ) -> Result<()> {
        if keys.len() == 0 {
            return Ok(());
        }
        let (any,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (SELECT 1 FROM rejected WHERE source = $1 AND kind = $2 LIMIT 1) x",
        )
        .bind(source)
        .bind(kind)
        .fetch_one(&mut **tx)
        .await
        .doing("looking up rejected records")?;
        if any == 0 {
            return Ok(());
        }
        let keys: Vec<&str> = keys.collect();
        for chunk in keys.chunks(D::LIST_CHUNK) {
            let mut qb: QueryBuilder<D> = QueryBuilder::new("DELETE FROM rejected WHERE source = ");
            qb.push_bind(source)
                .push(" AND kind = ")
                .push_bind(kind)
                .push(" AND key");
            D::push_in(&mut qb, chunk);
            qb.build()
                .execute(&mut **tx)
                .await
                .doing("clearing rejections")?;
        }
        Ok(())
    }

    /// Stores one page of records and its rejections and moves the mark to `mark`, and patches
    /// the rate engine's facts of the records written (store/facts.rs), in one transaction;
    /// returns how many records were written.
    async fn store_page<T: PageRecord>(
        &self,
        source: &str,
        endpoint: &str,
        records: &[T],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        let page = &T::PAGE;
        let mut tx = D::begin_recomputable(&self.pool)
            .await
            .doing("starting a write transaction")?;
        if !D::FACTS_LOCK.is_empty() {
            // Taken first, so that it never waits while holding the rows of the page.
            sqlx::query(D::FACTS_LOCK)
                .bind(<T::Facts as FactRecord>::KIND)
                .execute(&mut *tx)
                .await
                .doing(page.storing)?;
        }
        let stored = upsert_returning(
            &mut tx,
            page.table,
            records,
            T::code,
            |r| r.values(source),
            <T::Facts as FactRecord>::COLUMNS,
        )
        .await
        .doing(page.storing)?;
        let written = stored.len() as u64;
        Self::apply_facts::<T::Facts>(&mut tx, &stored).await?;
        let codes = records.iter().map(T::code);
        Self::clear_rejections(&mut tx, source, page.kind, codes).await?;
        Self::put_rejections(&mut tx, source, rejections, now).await?;
        Self::advance_mark(&mut tx, source, endpoint, mark).await?;
        tx.commit().await.doing(page.committing)?;
        Ok(written)
    }

    pub async fn store_dossier_page(
        &self,
        source: &str,
        endpoint: &str,
        dossiers: &[Dossier],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        self.store_page(source, endpoint, dossiers, rejections, mark, now)
            .await
    }

    pub async fn store_document_page(
        &self,
        source: &str,
        endpoint: &str,
        documents: &[Document],
        rejections: &[Rejection],
        mark: Option<Epoch>,
        now: Epoch,
    ) -> Result<u64> {
        self.store_page(source, endpoint, documents, rejections, mark, now)
            .await
    }

    pub async fn replace_procedures(
        &self,
        source: &str,
        procedures: &[Procedure],
        rejections: &[Rejection],
        now: Epoch,
    ) -> Result<()> {
        let mut tx = D::begin_recomputable(&self.pool)
            .await
            .doing("starting a write transaction")?;
        sqlx::query("DELETE FROM procedures WHERE source = $1")
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing("replacing the catalogue")?;
        upsert(
            &mut tx,
            &PROCEDURES,
            procedures,
            |p| p.code.as_str(),
            |p| {
                vec![
                    source.into(),
                    (&p.code).into(),
                    p.name.as_deref().into(),
                    p.field_code.as_deref().into(),
                    p.field_name.as_deref().into(),
                    p.level.map(i64::from).into(),
                ]
            },
        )
        .await
        .doing("storing the catalogue")?;
        sqlx::query("DELETE FROM rejected WHERE source = $1 AND kind = 'procedure'")
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing("replacing the catalogue's rejections")?;
        Self::put_rejections(&mut tx, source, rejections, now).await?;
        Self::ensure_state(&mut tx, source, "thu-tuc").await?;
        tx.commit().await.doing("committing the catalogue")?;
        Ok(())
    }

    /// Records a run of an endpoint: a success (`error` is `None`) or a failure.
    async fn record_run(
        &self,
        source: &str,
        endpoint: &str,
        error: Option<&str>,
        c: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        let doing = match error {
            None => "recording a successful sync",
            Some(_) => "recording a failed sync",
        };
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        Self::ensure_state(&mut tx, source, endpoint).await?;
        let outcome = match error {
            None => "last_success_at = $1, last_error = $2, consecutive_failures = 0",
            Some(_) => "last_error = $2, consecutive_failures = consecutive_failures + 1",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sync_state SET {outcome}, last_attempt_at = $1, last_fetched = $3, \
             last_stored = $4, last_rejected = $5, last_pages = $6, last_duration_ms = $7 \
             WHERE source = $8 AND endpoint = $9"
        )))
        .bind(now)
        .bind(error)
        .bind(c.fetched)
        .bind(c.stored)
        .bind(c.rejected)
        .bind(c.pages)
        .bind(c.duration_ms)
        .bind(source)
        .bind(endpoint)
        .execute(&mut *tx)
        .await
        .doing(doing)?;
        tx.commit().await.doing(doing)
    }

    pub async fn record_success(
        &self,
        source: &str,
        endpoint: &str,
        c: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        self.record_run(source, endpoint, None, c, now).await
    }

    pub async fn record_failure(
        &self,
        source: &str,
        endpoint: &str,
        error: &str,
        c: RunCounts,
        now: Epoch,
    ) -> Result<()> {
        self.record_run(source, endpoint, Some(error), c, now).await
    }

    pub async fn set_mark(&self, source: &str, endpoint: &str, mark: Option<Epoch>) -> Result<()> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        Self::ensure_state(&mut tx, source, endpoint).await?;
        sqlx::query("UPDATE sync_state SET mark = $1 WHERE source = $2 AND endpoint = $3")
            .bind(mark)
            .bind(source)
            .bind(endpoint)
            .execute(&mut *tx)
            .await
            .doing("setting the sync mark")?;
        tx.commit().await.doing("setting the sync mark")
    }

    /// `items` holds each key once.
    pub async fn note_future_updates(
        &self,
        source: &str,
        endpoint: &str,
        items: &[(String, Epoch)],
        now: Epoch,
    ) -> Result<()> {
        let mut tx = D::begin_write(&self.pool)
            .await
            .doing("starting a write transaction")?;
        upsert(
            &mut tx,
            &FUTURE_UPDATES,
            items,
            |(key, _)| key.as_str(),
            |(key, claimed)| {
                vec![
                    source.into(),
                    endpoint.into(),
                    key.into(),
                    (*claimed).into(),
                    now.into(),
                    now.into(),
                ]
            },
        )
        .await
        .doing("noting future-dated records")?;
        tx.commit().await.doing("noting future-dated records")
    }

    pub async fn future_counts(&self) -> Result<Vec<FutureCount>> {
        sqlx::query_as(
            "SELECT source, endpoint, count(*) AS records, max(claimed_at) AS latest_claimed, \
             max(last_seen) AS last_seen \
             FROM future_updates GROUP BY source, endpoint ORDER BY source, endpoint",
        )
        .fetch_all(&self.pool)
        .await
        .doing("counting future-dated records")
    }

    pub async fn rejection_counts(&self) -> Result<Vec<RejectionCount>> {
        sqlx::query_as(
            "SELECT source, kind, reason, count(*) AS count FROM rejected \
             GROUP BY source, kind, reason ORDER BY count(*) DESC, reason",
        )
        .fetch_all(&self.pool)
        .await
        .doing("counting rejected records")
    }

    pub async fn data_start(&self) -> Result<Option<Epoch>> {
        let (start,): (Option<i64>,) = sqlx::query_as(
            "SELECT min(t) FROM (
               SELECT min(received_at) AS t FROM dossiers WHERE NOT deleted AND received_at IS NOT NULL
               UNION ALL SELECT min(arrived_at) FROM documents WHERE NOT deleted
               UNION ALL SELECT min(issued_at) FROM documents WHERE NOT deleted) x",
        )
        .fetch_one(&self.pool)
        .await
        .doing("reading when the stored data begins")?;
        Ok(start)
    }
}
