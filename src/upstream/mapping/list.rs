//! A mapped list as an [`Endpoint`]: the vendor's paging ([`Pager`]) and each record through
//! its [`ListPlan`] (docs/mapping.md).
//!
//! The cursor style keeps the contract's guarantee, and each page carries the mark it reaches.
//! The offset and page styles cannot: a record updated during a read moves in the vendor's
//! order and may shift another onto a page already read. So for those styles:
//! - pages carry no mark; a read that fits on one page is one answer, a snapshot, and its page
//!   carries the mark;
//! - after a read of several pages, one more request asks for what changed since the read began
//!   (`updated_since` = the earlier of dondoc's clock and the server's `Date` at the first answer,
//!   less `paging.clock_skew_secs`). Nothing: the read saw every record of the window, and a
//!   last page without records moves the mark to the newest update it saw. Something:
//!   positions may have shifted, and the same window is read again from its start, up to
//!   `paging.max_reads` reads in the pass;
//! - a window that never settles gives no mark (what was read is stored): the next pass reads
//!   it again. Nothing is lost; the price is the re-reads, paid only when the source changes
//!   during a multi-page read.
//!
//! A procedure catalogue is read page after page (when it is paged) and its last page completes
//! it. Nothing here writes anywhere.

use super::ListPlan;
use super::paging::{self, Pager, Position};
use crate::domain::time::Clock;
use crate::domain::time::Epoch;
use crate::upstream::body::not_json;
use crate::upstream::client::{Fetched, SourceClient};
use crate::upstream::endpoint::{Endpoint, Page, PageBuilder, Records, SourceError, TimeGuard};
use crate::upstream::records::{self, RecordKind};
use serde_json::value::RawValue;
use std::sync::Arc;

/// Pages of one read at most.
const MAX_PAGES_IN_READ: u64 = 1_000_000;
/// Pages of a procedure catalogue at most.
const MAX_CATALOGUE_PAGES: u64 = 100_000;

/// One list of a source with a mapping.
#[derive(Debug)]
pub struct MappedList {
    client: SourceClient,
    plan: ListPlan,
    pager: Pager,
    clock: Arc<dyn Clock>,
    since: Option<Epoch>,
    /// The read under way (from 1), of at most `max_reads`.
    read: u32,
    max_reads: u32,
    /// The position of the answer being parsed.
    pos: Position,
    /// A record updated after this changed during the read.
    changed_after: Epoch,
    read_count: u64,
    pages_in_read: u64,
    read_mark: Option<Epoch>,
    /// The pass's [`TimeGuard`] ceiling, kept from the last parse for the check.
    ceiling: Epoch,
}

/// An answer of a mapped list.
#[derive(Debug)]
pub enum MappedAnswer {
    Body(Fetched),
    /// The check after a read of several pages found nothing changed: the read's mark.
    Settled(Epoch),
}

/// Where a mapped list goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedNext {
    Page(Position),
    /// The read of several positional pages is over: ask whether anything changed meanwhile.
    Check,
}

impl MappedList {
    pub fn new(client: SourceClient, plan: ListPlan, pager: Pager, clock: Arc<dyn Clock>) -> Self {
        let max_reads = pager.settings.max_reads.max(1);
        let pos = pager.first();
        MappedList {
            client,
            plan,
            pager,
            clock,
            since: None,
            read: 0,
            max_reads,
            pos,
            changed_after: 0,
            read_count: 0,
            pages_in_read: 0,
            read_mark: None,
            ceiling: Epoch::MAX,
        }
    }

    fn catalogue(&self) -> bool {
        self.plan.kind == RecordKind::Procedure
    }

    fn query(&self, since: Option<Epoch>, pos: &Position) -> Vec<(String, String)> {
        if self.catalogue() && !self.plan.paged {
            return self
                .pager
                .settings
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        self.pager.query(since, pos, self.client.page_size)
    }

    /// Starts a read of the window from its first page.
    async fn start_read(&mut self) -> Result<MappedAnswer, SourceError> {
        self.read += 1;
        let read_began = crate::domain::time::epoch(self.clock.now());
        self.pos = self.pager.first();
        let since = if self.catalogue() { None } else { self.since };
        let first = self
            .client
            .fetch(&self.plan.path, &self.query(since, &self.pos))
            .await?;
        // The earlier of the two clocks, less the allowed skew: a record updated after this
        // counts as changed during the read.
        self.changed_after = first.date.unwrap_or(read_began).min(read_began)
            - self.pager.settings.clock_skew_secs as i64;
        self.read_count = 0;
        self.pages_in_read = 0;
        self.read_mark = None;
        Ok(MappedAnswer::Body(first))
    }

    /// Whether anything changed during the read just over: the check's request.
    async fn check(&mut self) -> Result<Option<MappedAnswer>, SourceError> {
        let limit = self.client.page_size;
        let probe = self
            .client
            .fetch(
                &self.plan.path,
                &self
                    .pager
                    .query(Some(self.changed_after), &self.pager.first(), limit),
            )
            .await?;
        let times = update_times(&self.plan, &probe.body, self.ceiling).ok_or_else(|| {
            SourceError::Protocol(format!(
                "{}: the check for changes did not answer a list of records",
                self.origin()
            ))
        })?;
        let changed = times
            .iter()
            .any(|t| t.is_none_or(|t| t >= self.changed_after))
            || times.len() as u64 >= u64::from(limit);
        if !changed {
            return Ok(self.read_mark.map(MappedAnswer::Settled));
        }
        let endpoint = self.name();
        if self.read < self.max_reads {
            tracing::info!(
                source = %self.client.name,
                endpoint,
                read = self.read,
                "records changed during a paged read; reading the window again so that none is skipped"
            );
            self.start_read().await.map(Some)
        } else {
            tracing::warn!(
                source = %self.client.name,
                endpoint,
                reads = self.read,
                "the source kept changing during every read; what was read is stored and the mark \
                 stays, so the next pass reads the window again"
            );
            Ok(None)
        }
    }
}

impl Endpoint for MappedList {
    type Answer = MappedAnswer;
    type Position = MappedNext;

    fn name(&self) -> &'static str {
        super::fields::contract_path(self.plan.kind)
    }

    fn origin(&self) -> String {
        format!("{}/{}", self.client.name, self.plan.path)
    }

    fn keeps_mark(&self) -> bool {
        !self.catalogue() && self.pager.incremental()
    }

    async fn first(&mut self, since: Option<Epoch>) -> Result<Option<MappedAnswer>, SourceError> {
        self.since = since;
        self.start_read().await.map(Some)
    }

    async fn next(&mut self, at: MappedNext) -> Result<Option<MappedAnswer>, SourceError> {
        match at {
            MappedNext::Page(pos) => {
                let q = self.query(self.since, &pos);
                self.pos = pos;
                Ok(Some(MappedAnswer::Body(
                    self.client.fetch(&self.plan.path, &q).await?,
                )))
            }
            MappedNext::Check => self.check().await,
        }
    }

    fn parse(
        &mut self,
        answer: MappedAnswer,
        guard: TimeGuard,
    ) -> Result<(Page, Option<MappedNext>), SourceError> {
        self.ceiling = guard.ceiling;
        let body = match answer {
            MappedAnswer::Settled(mark) => {
                return Ok((Page::mark_only(self.plan.kind, mark), None));
            }
            MappedAnswer::Body(f) => f.body,
        };
        let (mut page, next) = parse_mapped(
            &self.client.name,
            self.client.page_size,
            &self.plan,
            &self.pager,
            &body,
            &self.pos,
            self.read_count,
            guard,
        )?;
        self.pages_in_read += 1;
        self.read_count += page.fetched;
        if self.catalogue() {
            let next = next.filter(|n| *n != self.pos && self.pages_in_read < MAX_CATALOGUE_PAGES);
            page.completes = next.is_none();
            return Ok((page, next.map(MappedNext::Page)));
        }
        if let Some(m) = page.mark {
            self.read_mark = Some(self.read_mark.map_or(m, |x| x.max(m)));
        }
        let positional = self.pager.positional();
        // Positional paging moves the mark only after a settled read; a one-page read is a
        // snapshot and moves it with its page.
        if positional && !(next.is_none() && self.pages_in_read == 1) {
            page.mark = None;
        }
        if self.pages_in_read > MAX_PAGES_IN_READ {
            return Err(SourceError::Protocol(format!(
                "{} kept answering pages past a million; stopping",
                self.origin()
            )));
        }
        let next = match next {
            Some(p) => Some(MappedNext::Page(p)),
            // Every pass reads the whole list of a source without `updated_since`: a record
            // skipped now is read by the next.
            None if positional && self.pages_in_read > 1 && self.pager.incremental() => {
                Some(MappedNext::Check)
            }
            None => None,
        };
        Ok((page, next))
    }
}

/// Splits an answer into records at the plan's pointer and parses each through the plan, with
/// the position of the next answer. Never panics, whatever the bytes.
#[allow(clippy::too_many_arguments)] // the answer and where it stands in the read
pub(crate) fn parse_mapped(
    source: &str,
    page_size: u32,
    plan: &ListPlan,
    pager: &Pager,
    body: &[u8],
    pos: &Position,
    read_before: u64,
    guard: TimeGuard,
) -> Result<(Page, Option<Position>), SourceError> {
    let protocol = |what: String| SourceError::Protocol(format!("{source}/{}: {what}", plan.path));
    let root: &RawValue = serde_json::from_slice(body).map_err(|e| protocol(not_json(body, &e)))?;
    let raws = paging::records_at(root, &plan.records).map_err(protocol)?;
    let fetched = raws.len();
    let next = if plan.paged {
        pager.next(pos, root, fetched, read_before + fetched as u64, page_size)
    } else {
        None
    };
    let mut b = PageBuilder::new(guard);
    // A record's tree, for a plan that transforms it.
    let value = |raw: &RawValue| {
        serde_json::from_str::<serde_json::Value>(raw.get()).map_err(|e| {
            protocol(format!(
                "a record cannot be read: {}",
                not_json(raw.get().as_bytes(), &e)
            ))
        })
    };
    let records = match plan.kind {
        RecordKind::Dossier => {
            let mut out = Vec::with_capacity(fetched);
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_dossier(raw)
                } else {
                    plan.parse_dossier(&value(raw)?)
                };
                b.dossier(parsed, &mut out);
            }
            Records::Dossiers(out)
        }
        RecordKind::Document => {
            let mut out = Vec::with_capacity(fetched);
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_document(raw)
                } else {
                    plan.parse_document(&value(raw)?)
                };
                b.document(parsed, &mut out);
            }
            Records::Documents(out)
        }
        RecordKind::Procedure => {
            let mut out = Vec::with_capacity(fetched);
            for raw in raws {
                let parsed = if plan.identity {
                    records::parse_procedure(raw)
                } else {
                    plan.parse_procedure(&value(raw)?)
                };
                b.procedure(parsed, &mut out);
            }
            Records::Procedures(out)
        }
    };
    Ok((b.finish(records, fetched), next))
}

/// The update times of the records of an answer (for the change check). A time past the
/// pass's `ceiling` is left out: such a record is served by every incremental query whatever
/// happens, so it proves no change (it would otherwise keep every read from settling).
pub(crate) fn update_times(
    plan: &ListPlan,
    body: &[u8],
    ceiling: Epoch,
) -> Option<Vec<Option<Epoch>>> {
    let root: &RawValue = serde_json::from_slice(body).ok()?;
    let raws = paging::records_at(root, &plan.records).ok()?;
    Some(
        raws.iter()
            .map(|raw| {
                serde_json::from_str::<serde_json::Value>(raw.get())
                    .ok()
                    .and_then(|v| plan.updated_of(&v))
            })
            .filter(|t| t.is_none_or(|t| t <= ceiling))
            .collect(),
    )
}
