//! What every source is to the one poll loop ([`crate::sync`]): an [`Endpoint`] answers a first
//! request, then the request after the position its last page ended at, and parses each answer
//! into a [`Page`] of plain domain records, the rejections set aside with their reasons, and the
//! mark the page reaches.
//!
//! The implementations are the contract's lists ([`super::contract`]), the vendor mappings'
//! lists ([`super::mapping::list`]) and the spreadsheet folder ([`super::import`]).
//!
//! An endpoint only reads: it never writes to the database, never moves a mark, never knows
//! the store. Whatever must happen once a page is committed (a spreadsheet moved to `done/`)
//! travels with the page as [`Page::then`], which the loop runs after the page's transaction.

use crate::domain::time::Epoch;
use crate::upstream::client::FetchError;
use crate::upstream::records::{self, Document, Dossier, Procedure, Rejection};
use std::future::Future;

/// Why an endpoint could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// An answer that is not what the source's contract or mapping says.
    #[error("{0}")]
    Protocol(String),
    /// A spreadsheet folder's file or the folder itself.
    #[error(transparent)]
    Import(#[from] super::import::ImportError),
}

/// The valid records of one page.
#[derive(Debug, Clone)]
pub enum Records {
    Dossiers(Vec<Dossier>),
    Documents(Vec<Document>),
    /// Procedures are a catalogue: pages of it are gathered, and the whole replaces the stored
    /// catalogue at the page marked [`Page::completes`].
    Procedures(Vec<Procedure>),
    /// An answer with nothing to write (a spreadsheet that failed or was imported before).
    Nothing,
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Dossiers(v) => v.len(),
            Records::Documents(v) => v.len(),
            Records::Procedures(v) => v.len(),
            Records::Nothing => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Run by the loop once a page is committed (never in a dry run), with the count of records
/// the store wrote. Its error fails the endpoint's pass.
pub type AfterCommit = Box<dyn FnOnce(u64) -> Result<(), SourceError> + Send>;

/// One answer, parsed: what to write in one transaction, and what to count.
pub struct Page {
    pub records: Records,
    /// The records set aside, to store with their reasons.
    pub rejections: Vec<Rejection>,
    /// The mark this page reaches (the newest trusted update time); `None` leaves the mark.
    pub mark: Option<Epoch>,
    /// Records whose update time lay past the [`TimeGuard`]'s ceiling: key and claimed time.
    pub future: Vec<(String, Epoch)>,
    /// Answers this page stands for (0 for a page that only moves the mark).
    pub answers: u32,
    /// Records (rows) read, valid or not.
    pub fetched: u64,
    /// Records set aside (may exceed `rejections`: a file's repeated keys are stored once).
    pub rejected: u64,
    /// For [`Records::Procedures`]: this page ends a whole catalogue, which replaces the stored.
    pub completes: bool,
    pub then: Option<AfterCommit>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("records", &self.records.len())
            .field("rejections", &self.rejections.len())
            .field("mark", &self.mark)
            .field("answers", &self.answers)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

impl Page {
    /// A page that writes nothing and only moves the mark to `mark`.
    pub fn mark_only(kind: records::RecordKind, mark: Epoch) -> Page {
        let records = match kind {
            records::RecordKind::Document => Records::Documents(Vec::new()),
            _ => Records::Dossiers(Vec::new()),
        };
        Page {
            records,
            rejections: Vec::new(),
            mark: Some(mark),
            future: Vec::new(),
            answers: 0,
            fetched: 0,
            rejected: 0,
            completes: false,
            then: None,
        }
    }
}

/// One list of one source, as the poll loop reads it. Implementations own what they need
/// (a client, a plan, a folder) so that the loop can read ahead on a task of its own.
pub trait Endpoint: Send + 'static {
    /// One answer, as fetched (bytes, a file).
    type Answer: Send;
    /// Where the next answer starts (a cursor, an offset, a file).
    type Position: Send + Clone + PartialEq;

    /// The endpoint's name in `sync_state` and in reports (`ho-so`, `thu-tuc`, `van-ban`,
    /// `import`).
    fn name(&self) -> &'static str;

    /// Where its answers come from, for messages (`motcua/ho-so`, `motcua/api/hoso`).
    fn origin(&self) -> String;

    /// What its answers call the next position, for messages (`next_cursor`).
    fn position_name(&self) -> &'static str {
        "next position"
    }

    /// Whether it reads incrementally from the stored mark (less the overlap).
    fn keeps_mark(&self) -> bool;

    /// The first answer of the pass, asking for what changed since `since`; `None`: nothing
    /// to read.
    fn first(
        &mut self,
        since: Option<Epoch>,
    ) -> impl Future<Output = Result<Option<Self::Answer>, SourceError>> + Send;

    /// The answer at `at`, the position the last page gave; `None`: the read is over.
    fn next(
        &mut self,
        at: Self::Position,
    ) -> impl Future<Output = Result<Option<Self::Answer>, SourceError>> + Send;

    /// An answer as a page, and the position of the next answer (`None` after the last one).
    /// Never panics, whatever the bytes: an answer that is not a page is an error, a record
    /// that breaks the contract a rejection.
    fn parse(
        &mut self,
        answer: Self::Answer,
        guard: TimeGuard,
    ) -> Result<(Page, Option<Self::Position>), SourceError>;

    /// After the last page: what went wrong without stopping the read (files that failed).
    fn end(self) -> Result<(), SourceError>
    where
        Self: Sized,
    {
        Ok(())
    }
}

/// The update times a pass trusts (docs/upstream-safety.md): up to its `now` + the source's
/// `allowed_skew_secs`.
#[derive(Debug, Clone, Copy)]
pub struct TimeGuard {
    /// The pass's instant: the update time given to a record whose own is not trusted.
    pub now: Epoch,
    /// now + allowed skew: no mark ever passes it.
    pub ceiling: Epoch,
}

impl TimeGuard {
    pub fn new(now: Epoch, allowed_skew_secs: u64) -> Self {
        TimeGuard {
            now,
            ceiling: now.saturating_add(allowed_skew_secs.min(i64::MAX as u64) as i64),
        }
    }

    /// The update time to keep for the record `key` claiming `t`: `t`, or `now` when `t` is
    /// past the ceiling (the claim is then noted in `future`).
    pub fn admit(&self, key: &str, t: Epoch, future: &mut Vec<(String, Epoch)>) -> Epoch {
        if t > self.ceiling {
            future.push((key.to_string(), t));
            self.now
        } else {
            t
        }
    }

    /// A time for a mark only (a rejected record's, a stored mark): never past the ceiling.
    pub fn cap(&self, t: Epoch) -> Epoch {
        t.min(self.ceiling)
    }
}

/// Gathers the parsed records of one answer, applying the [`TimeGuard`] and keeping the mark.
pub(crate) struct PageBuilder {
    guard: TimeGuard,
    rejections: Vec<Rejection>,
    mark: Option<Epoch>,
    future: Vec<(String, Epoch)>,
}

impl PageBuilder {
    pub(crate) fn new(guard: TimeGuard) -> Self {
        PageBuilder {
            guard,
            rejections: Vec::new(),
            mark: None,
            future: Vec::new(),
        }
    }

    fn bump(&mut self, t: Epoch) {
        self.mark = Some(self.mark.map_or(t, |m| m.max(t)));
    }

    fn rejected(&mut self, r: Rejection) {
        if let Some(t) = r.updated_at {
            self.bump(self.guard.cap(t));
        }
        self.rejections.push(r);
    }

    pub(crate) fn dossier(&mut self, parsed: records::Parsed<Dossier>, out: &mut Vec<Dossier>) {
        match parsed {
            Ok(mut d) => {
                d.updated_at = self.guard.admit(&d.code, d.updated_at, &mut self.future);
                self.bump(d.updated_at);
                out.push(d);
            }
            Err(r) => self.rejected(r),
        }
    }

    pub(crate) fn document(&mut self, parsed: records::Parsed<Document>, out: &mut Vec<Document>) {
        match parsed {
            Ok(mut d) => {
                d.updated_at = self.guard.admit(&d.code, d.updated_at, &mut self.future);
                self.bump(d.updated_at);
                out.push(d);
            }
            Err(r) => self.rejected(r),
        }
    }

    /// A procedure has no update time: it is kept or set aside, and moves no mark.
    pub(crate) fn procedure(
        &mut self,
        parsed: records::Parsed<Procedure>,
        out: &mut Vec<Procedure>,
    ) {
        match parsed {
            Ok(p) => out.push(p),
            Err(r) => self.rejections.push(r),
        }
    }

    /// The page of one answer of `fetched` records.
    pub(crate) fn finish(self, records: Records, fetched: usize) -> Page {
        let rejected = self.rejections.len() as u64;
        Page {
            records,
            rejections: self.rejections,
            mark: self.mark,
            future: self.future,
            answers: 1,
            fetched: fetched as u64,
            rejected,
            completes: false,
            then: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_update_time_is_admitted_as_now_and_the_mark_stays_under_the_ceiling() {
        let g = TimeGuard::new(1_000_000, 300);
        let mut future = Vec::new();
        assert_eq!(
            g.admit("a", 1_000_300, &mut future),
            1_000_300,
            "within the skew"
        );
        assert!(future.is_empty());
        assert_eq!(g.admit("b", 1_000_301, &mut future), 1_000_000);
        assert_eq!(future, vec![("b".to_string(), 1_000_301)]);
        assert_eq!(g.cap(4_000_000_000), 1_000_300);
        assert_eq!(TimeGuard::new(i64::MAX - 5, u64::MAX).ceiling, i64::MAX);
    }
}
