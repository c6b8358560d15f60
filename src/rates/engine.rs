//! The rate engine: exact counts of many windows from one narrow reading of the store.
//!
//! An evaluation (or a batch of past days) asks for the counts of several windows
//! `[start, horizon)`. The engine reads, once, the facts of what those windows can count
//! ([`crate::store::Store::load_facts`] from the earliest start: dossiers finished before it are
//! never read), sorts them by the first instant at which any rule can see them, and sweeps each
//! window over the prefix that can count in it, applying [`super::rules::tally_facts`] — the
//! rules written once — to every fact. Windows are spread over the machine's cores.
//!
//! The projection lives only as long as one job: [`window_tallies`] drops it before it returns,
//! so that an idle daemon holds none of it.
//!
//! This module never writes and never decides a row's state (that is [`super::evaluate`]).

use super::rules::{DocumentFacts, DossierFacts, Tally, Window, tally_document_facts, tally_facts};
use crate::domain::time::Epoch;
use crate::store::{Facts, GroupTally, Store, StoreError};
use std::sync::Arc;

/// The projection of one job: sorted for the sweep when many windows will be swept (a window
/// then reads only the prefix that can count in it), in reading order when few will (sorting a
/// million facts costs more than sweeping them all a few times).
struct Projection {
    /// Sorted by `firsts` when `firsts` is not empty.
    dossiers: Vec<DossierFacts>,
    /// The first instant at which a rule can count each dossier (`DossierFacts::span`); empty
    /// when unsorted.
    firsts: Vec<Epoch>,
    dossier_groups: Vec<(String, Option<String>)>,
    /// Sorted by their instant when `firsts` is not empty.
    documents: Vec<DocumentFacts>,
    sorted: bool,
    document_groups: Vec<String>,
}

impl Projection {
    fn new(f: Facts, sort: bool) -> Projection {
        if !sort {
            return Projection {
                dossiers: f.dossiers,
                firsts: Vec::new(),
                dossier_groups: f.dossier_groups,
                documents: f.documents,
                document_groups: f.document_groups,
                sorted: false,
            };
        }
        // Sorted in place (no second copy of a million facts at the job's peak); the key is a
        // few comparisons, cheap enough to compute inside the sort.
        let mut dossiers = f.dossiers;
        dossiers.sort_unstable_by_key(|d| d.span().0);
        let firsts = dossiers.iter().map(|d| d.span().0).collect();
        let mut documents = f.documents;
        documents.sort_unstable_by_key(|d| d.at);
        Projection {
            dossiers,
            firsts,
            dossier_groups: f.dossier_groups,
            documents,
            document_groups: f.document_groups,
            sorted: true,
        }
    }

    /// The dossier and document counts of one window, per group (groups with nothing counted
    /// left out).
    fn window(&self, w: Window) -> WindowTallies {
        // Sorted: only the prefix whose first instant is before the horizon can count (a fact
        // with every instant at or after the horizon adds nothing); unsorted: all of them.
        let n = if self.sorted {
            self.firsts.partition_point(|f| *f < w.horizon)
        } else {
            self.dossiers.len()
        };
        let mut acc = vec![Tally::default(); self.dossier_groups.len()];
        for d in &self.dossiers[..n] {
            tally_facts(d, w, &mut acc[d.group as usize]);
        }
        let dossiers = acc
            .into_iter()
            .zip(&self.dossier_groups)
            .filter(|(t, _)| *t != Tally::default())
            .map(|(tally, (unit, field))| GroupTally {
                unit_code: unit.clone(),
                field_code: field.clone(),
                tally,
            })
            .collect();
        let (lo, hi) = if self.sorted {
            let lo = self.documents.partition_point(|d| d.at < w.start);
            (
                lo,
                self.documents.partition_point(|d| d.at < w.horizon).max(lo),
            )
        } else {
            (0, self.documents.len())
        };
        let mut acc = vec![Tally::default(); self.document_groups.len()];
        for d in &self.documents[lo..hi] {
            tally_document_facts(d, w, &mut acc[d.group as usize]);
        }
        let documents = acc
            .into_iter()
            .zip(&self.document_groups)
            .filter(|(t, _)| *t != Tally::default())
            .map(|(tally, unit)| GroupTally {
                unit_code: unit.clone(),
                field_code: None,
                tally,
            })
            .collect();
        (dossiers, documents)
    }

    /// Every window, spread over at most `threads` threads, in order.
    fn windows(
        &self,
        windows: &[Window],
        threads: usize,
    ) -> Vec<(Vec<GroupTally>, Vec<GroupTally>)> {
        let threads = threads.clamp(1, windows.len().max(1));
        if threads == 1 {
            return windows.iter().map(|w| self.window(*w)).collect();
        }
        let chunk = windows.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = windows
                .chunks(chunk)
                .map(|ws| {
                    scope.spawn(move || ws.iter().map(|w| self.window(*w)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    }
}

/// A loaded projection: the facts of what windows starting at or after [`Engine::since`] can
/// count. Dropped with the job that loaded it.
pub struct Engine {
    since: Epoch,
    /// Always `Some` until dropped.
    projection: Option<Arc<Projection>>,
}

impl Drop for Engine {
    /// Frees the projection and hands the freed pages back to the system, so that an idle
    /// daemon does not keep the peak of its last job.
    fn drop(&mut self) {
        drop(self.projection.take());
        release_free_memory();
    }
}

/// Returns the allocator's free pages to the system (glibc keeps them otherwise).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Up to this many windows, the facts are swept whole, unsorted: at a million facts, sorting
/// (≈ 100 ms) costs more than a few whole sweeps (≈ 5 ms each; docs/performance.md).
pub const SORT_FROM: usize = 8;

/// Per window: the dossier counts and the document counts, per group.
pub type WindowTallies = (Vec<GroupTally>, Vec<GroupTally>);

impl Engine {
    /// Reads the facts of what windows starting at or after `since` can count, for about
    /// `windows` windows: sorted for the sweep when that is more than [`SORT_FROM`].
    pub async fn load(store: &Store, since: Epoch, windows: usize) -> Result<Engine, StoreError> {
        let facts = store.load_facts(since).await?;
        let sort = windows > SORT_FROM;
        let projection = tokio::task::spawn_blocking(move || Projection::new(facts, sort))
            .await
            .map_err(join_error)?;
        Ok(Engine {
            since,
            projection: Some(Arc::new(projection)),
        })
    }

    /// The earliest window start this projection can answer.
    pub fn since(&self) -> Epoch {
        self.since
    }

    /// Dossiers in the projection (for the logs and the benchmark).
    pub fn dossiers(&self) -> usize {
        self.projection.as_ref().map_or(0, |p| p.dossiers.len())
    }

    /// The exact counts of each window `(start, horizon)`, in order: the same numbers as the
    /// store's per-window aggregation. A window starting before [`Engine::since`] would miss
    /// dossiers finished before `since`, so it is refused.
    pub async fn tallies(
        &self,
        windows: &[(Epoch, Epoch)],
    ) -> Result<Vec<WindowTallies>, StoreError> {
        if let Some((start, _)) = windows.iter().find(|(s, _)| *s < self.since) {
            return Err(StoreError::Unsupported(format!(
                "a window starting at {start} asked of the rate engine loaded from {}: load it from the earliest start",
                self.since
            )));
        }
        let windows: Vec<Window> = windows
            .iter()
            .map(|(start, horizon)| Window {
                start: *start,
                horizon: *horizon,
            })
            .collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4);
        // The sweep is CPU work: off the async workers, so that the daemon keeps answering.
        let Some(projection) = self.projection.clone() else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || projection.windows(&windows, threads))
            .await
            .map_err(join_error)
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic());
    }
    StoreError::Unsupported(format!(
        "the rate engine's sweep did not finish ({e}): the runtime is shutting down"
    ))
}
