//! The facts the rate engine sweeps, read in one narrow query per record kind, for both backends.
//!
//! [`Store::load_facts`] returns, for every stored dossier and document that some window starting
//! at or after `since` can count, the few columns the rules read ([`DossierFacts`],
//! [`DocumentFacts`]), with the unit and field codes interned into small group numbers. A
//! dossier finished before `since` (and received and rated before it) is never returned: no
//! window of the evaluation can count it, so its cost is not paid (see docs/performance.md).
//!
//! This module never computes a rate (the rules are [`crate::rates::rules`], applied by
//! [`crate::rates::engine`]) and never reads personal data (codes, dates and flags only).

use super::{Context, Result, Store};
use crate::domain::facts::{DocumentFacts, DossierFacts};
use crate::domain::time::Epoch;
use futures::TryStreamExt;
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::HashMap;

/// The facts of what some window from `since` on can count, and the names of their groups.
#[derive(Debug, Default)]
pub struct Facts {
    /// In-scope dossiers (not deleted, status not 0, 1, 3 or 7, with a receipt instant).
    pub dossiers: Vec<DossierFacts>,
    /// Group `g` of a dossier: `(DonViXuLy, MaLinhVuc)` (`None` when the field is absent).
    pub dossier_groups: Vec<(String, Option<String>)>,
    /// Incoming and outgoing documents, not deleted.
    pub documents: Vec<DocumentFacts>,
    /// Group `g` of a document: `MaDonVi`.
    pub document_groups: Vec<String>,
}

/// Dossiers that a window from `?1` on can count: not finished, or one of the instants a rule
/// reads at or after `?1`. Every value is read as a 64-bit integer on both backends.
const DOSSIERS_SQLITE: &str = "SELECT d.unit_code, d.field_code, d.status, d.received_at, d.due_at, \
     d.ended_at, d.first_apology_at, d.rating, d.rated_at, d.channel, (d.fee_total > 0) AS fee, \
     d.paid_online, d.digitized, (p.code IS NULL) AS no_proc, p.level \
     FROM dossiers d LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code \
     WHERE d.deleted = 0 AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL \
     AND (NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL) OR d.ended_at >= ?1 \
          OR d.received_at >= ?1 OR d.rated_at >= ?1)";

const DOSSIERS_POSTGRES: &str = "SELECT d.unit_code, d.field_code, d.status::BIGINT, d.received_at, \
     d.due_at, d.ended_at, d.first_apology_at, d.rating::BIGINT, d.rated_at, d.channel::BIGINT, \
     (d.fee_total > 0)::INT::BIGINT AS fee, d.paid_online::BIGINT, d.digitized::INT::BIGINT, \
     (p.code IS NULL)::INT::BIGINT AS no_proc, p.level::BIGINT \
     FROM dossiers d LEFT JOIN procedures p ON p.source = d.source AND p.code = d.procedure_code \
     WHERE NOT d.deleted AND d.status NOT IN (0, 1, 3, 7) AND d.received_at IS NOT NULL \
     AND (NOT (d.status IN (8, 9, 10) AND d.ended_at IS NOT NULL) OR d.ended_at >= $1 \
          OR d.received_at >= $1 OR d.rated_at >= $1)";

/// Documents that a window from `?1` on can count.
const DOCUMENTS_SQLITE: &str = "SELECT unit_code, direction, arrived_at, issued_at, processed_online, signed \
     FROM documents WHERE deleted = 0 \
     AND ((direction = 'DEN' AND arrived_at >= ?1) OR (direction = 'DI' AND issued_at >= ?1))";

const DOCUMENTS_POSTGRES: &str = "SELECT unit_code, direction, arrived_at, issued_at, \
     processed_online::INT::BIGINT, signed::INT::BIGINT \
     FROM documents WHERE NOT deleted \
     AND ((direction = 'DEN' AND arrived_at >= $1) OR (direction = 'DI' AND issued_at >= $1))";

/// A small code from the database (status, channel, rating, level): out-of-range values keep
/// their meaning of "none of the listed codes".
fn code(x: i64) -> u8 {
    u8::try_from(x).unwrap_or(u8::MAX)
}

/// Interns group names into consecutive numbers; the last key is remembered, since both
/// backends' rows arrive mostly in group order.
struct Interner<K> {
    index: HashMap<K, u32>,
    last: Option<(K, u32)>,
}

impl<K: std::hash::Hash + Eq + Clone> Interner<K> {
    fn new() -> Self {
        Interner {
            index: HashMap::new(),
            last: None,
        }
    }
}

fn dossier_row<'r, R>(
    r: &'r R,
    groups: &mut Interner<(String, String)>,
    names: &mut Vec<(String, Option<String>)>,
) -> std::result::Result<DossierFacts, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
{
    let unit: &str = r.try_get(0)?;
    let field: &str = r.try_get(1)?;
    let group = match &groups.last {
        Some(((u, f), g)) if u == unit && f == field => *g,
        _ => {
            let key = (unit.to_string(), field.to_string());
            let g = match groups.index.get(&key) {
                Some(g) => *g,
                None => {
                    let g = names.len() as u32;
                    names.push((
                        unit.to_string(),
                        Some(field.to_string()).filter(|f| !f.is_empty()),
                    ));
                    groups.index.insert(key.clone(), g);
                    g
                }
            };
            groups.last = Some((key, g));
            g
        }
    };
    let no_proc: i64 = r.try_get(13)?;
    let level: Option<i64> = r.try_get(14)?;
    let mut f = DossierFacts::new(
        true,
        code(r.try_get::<i64, _>(2)?),
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get::<Option<i64>, _>(7)?.map(code),
        r.try_get(8)?,
        r.try_get::<Option<i64>, _>(9)?.map(code),
        if no_proc != 0 {
            None
        } else {
            Some(level.map(code))
        },
        r.try_get::<i64, _>(10)? != 0,
        code(r.try_get::<i64, _>(11)?),
        r.try_get::<i64, _>(12)? != 0,
    );
    f.group = group;
    Ok(f)
}

fn document_row<'r, R>(
    r: &'r R,
    groups: &mut Interner<String>,
    names: &mut Vec<String>,
) -> std::result::Result<DocumentFacts, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
    Option<&'r str>: Decode<'r, R::Database> + Type<R::Database>,
{
    use crate::domain::facts::{DOC_INCOMING, DOC_OUTGOING, NONE};
    let unit: &str = r.try_get(0)?;
    let group = match &groups.last {
        Some((u, g)) if u == unit => *g,
        _ => {
            let g = match groups.index.get(unit) {
                Some(g) => *g,
                None => {
                    let g = names.len() as u32;
                    names.push(unit.to_string());
                    groups.index.insert(unit.to_string(), g);
                    g
                }
            };
            groups.last = Some((unit.to_string(), g));
            g
        }
    };
    let direction: Option<&str> = r.try_get(1)?;
    let (direction, at, flag) = if direction == Some("DEN") {
        (
            DOC_INCOMING,
            r.try_get::<Option<i64>, _>(2)?,
            r.try_get::<i64, _>(4)?,
        )
    } else {
        (
            DOC_OUTGOING,
            r.try_get::<Option<i64>, _>(3)?,
            r.try_get::<i64, _>(5)?,
        )
    };
    Ok(DocumentFacts {
        at: at.unwrap_or(NONE),
        group,
        direction,
        flag: flag != 0,
    })
}

impl Store {
    /// The facts of every dossier and document that a window starting at or after `since` can
    /// count (module docs). One streamed, narrow query per kind; nothing else is read.
    pub async fn load_facts(&self, since: Epoch) -> Result<Facts> {
        const DOING_D: &str = "reading the dossiers' facts for the rate engine";
        const DOING_T: &str = "reading the documents' facts for the rate engine";
        let mut out = Facts::default();
        let mut dg = Interner::new();
        let mut tg = Interner::new();
        match self {
            Store::Sqlite(s) => {
                let mut rows = sqlx::query(DOSSIERS_SQLITE).bind(since).fetch(s.pool());
                while let Some(r) = rows.try_next().await.doing(DOING_D)? {
                    let f = dossier_row(&r, &mut dg, &mut out.dossier_groups).doing(DOING_D)?;
                    out.dossiers.push(f);
                }
                drop(rows);
                let mut rows = sqlx::query(DOCUMENTS_SQLITE).bind(since).fetch(s.pool());
                while let Some(r) = rows.try_next().await.doing(DOING_T)? {
                    let f = document_row(&r, &mut tg, &mut out.document_groups).doing(DOING_T)?;
                    out.documents.push(f);
                }
            }
            Store::Postgres(s) => {
                let mut rows = sqlx::query(DOSSIERS_POSTGRES).bind(since).fetch(s.pool());
                while let Some(r) = rows.try_next().await.doing(DOING_D)? {
                    let f = dossier_row(&r, &mut dg, &mut out.dossier_groups).doing(DOING_D)?;
                    out.dossiers.push(f);
                }
                drop(rows);
                let mut rows = sqlx::query(DOCUMENTS_POSTGRES).bind(since).fetch(s.pool());
                while let Some(r) = rows.try_next().await.doing(DOING_T)? {
                    let f = document_row(&r, &mut tg, &mut out.document_groups).doing(DOING_T)?;
                    out.documents.push(f);
                }
            }
        }
        out.dossiers.shrink_to_fit();
        out.documents.shrink_to_fit();
        Ok(out)
    }
}
