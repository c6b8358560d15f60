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
use crate::store::{Facts, GroupTally, Store, StoreError};
use crate::time::Epoch;
use std::sync::Arc;

/// The projection of one job, sorted for the sweep.
struct Projection {
    /// Sorted by `firsts`.
    dossiers: Vec<DossierFacts>,
    /// The first instant at which a rule can count each dossier (`DossierFacts::span`).
    firsts: Vec<Epoch>,
    dossier_groups: Vec<(String, Option<String>)>,
    /// Sorted by their instant.
    documents: Vec<DocumentFacts>,
    document_groups: Vec<String>,
}

impl Projection {
    fn new(f: Facts) -> Projection {
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
        }
    }

    /// The dossier and document counts of one window, per group (groups with nothing counted
    /// left out).
    fn window(&self, w: Window) -> (Vec<GroupTally>, Vec<GroupTally>) {
        let n = self.firsts.partition_point(|f| *f < w.horizon);
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
        let lo = self.documents.partition_point(|d| d.at < w.start);
        let hi = self.documents.partition_point(|d| d.at < w.horizon).max(lo);
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

/// The exact dossier and document counts, per group, of each window `(start, horizon)`, in
/// order: the same numbers as the store's per-window aggregation, from one narrow reading of
/// what the windows can count. The projection is dropped before this returns.
pub async fn window_tallies(
    store: &Store,
    windows: &[(Epoch, Epoch)],
) -> Result<Vec<(Vec<GroupTally>, Vec<GroupTally>)>, StoreError> {
    let Some(since) = windows.iter().map(|(s, _)| *s).min() else {
        return Ok(Vec::new());
    };
    let facts = store.load_facts(since).await?;
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
    let projection = Arc::new(Projection::new(facts));
    match tokio::task::spawn_blocking(move || projection.windows(&windows, threads)).await {
        Ok(out) => Ok(out),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Unsupported(format!(
            "the rate engine's sweep did not finish ({e}): the runtime is shutting down"
        ))),
    }
}
