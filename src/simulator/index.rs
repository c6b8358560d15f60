//! The ordered index that makes paging cheap at a million records.
//!
//! A [`Feed`] holds, for every record that exists at the instant it was last advanced to, the key
//! (`NgayCapNhat`, order) of its current version, in a `BTreeSet`; and a min-heap with each
//! record's next change. Advancing to a later instant pops only the changes due since, so a
//! request never scans all records; a page is a range scan after the cursor. The records
//! themselves are never stored: a [`Source`] recomputes any record at any instant.
//!
//! This module knows nothing of dossiers or documents, JSON or HTTP, and never reads the clock.

use crate::domain::time::Epoch;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::ops::Bound;

/// What a [`Feed`] needs to know of record `i` at instant `t`.
pub(super) struct Probe {
    /// The record's position among keys (ascending order = ascending key text).
    pub order: u64,
    /// `NgayCapNhat` at `t`; `None` when the record does not exist yet.
    pub updated: Option<Epoch>,
    /// The first change after `t`.
    pub next: Option<Epoch>,
}

/// Recomputes records on demand.
pub(super) trait Source {
    fn probe(&self, i: u32, t: Epoch) -> Probe;
}

/// A position in a feed: (`NgayCapNhat`, order).
pub(super) type Key = (Epoch, u64);

pub(super) struct Feed {
    index: BTreeSet<Key>,
    pending: BinaryHeap<Reverse<(Epoch, u32)>>,
    at: Epoch,
    records: u32,
}

impl Feed {
    /// The feed of records `0..records` as they are at `t`.
    pub(super) fn build(src: &impl Source, records: u32, t: Epoch) -> Self {
        let mut keys = Vec::with_capacity(records as usize);
        let mut pending = Vec::new();
        for i in 0..records {
            let p = src.probe(i, t);
            if let Some(u) = p.updated {
                keys.push((u, p.order));
            }
            if let Some(x) = p.next {
                pending.push(Reverse((x, i)));
            }
        }
        keys.sort_unstable();
        Feed {
            index: keys.into_iter().collect(),
            pending: BinaryHeap::from(pending),
            at: t,
            records,
        }
    }

    /// Brings the feed to `t`: applies every change in (at, t]. A clock that went back
    /// rebuilds the feed from scratch.
    pub(super) fn advance(&mut self, src: &impl Source, t: Epoch) {
        if t < self.at {
            *self = Self::build(src, self.records, t);
            return;
        }
        while let Some(&Reverse((x, i))) = self.pending.peek() {
            if x > t {
                break;
            }
            self.pending.pop();
            let old = src.probe(i, self.at);
            let new = src.probe(i, t);
            if old.updated != new.updated {
                if let Some(u) = old.updated {
                    self.index.remove(&(u, old.order));
                }
                if let Some(u) = new.updated {
                    self.index.insert((u, new.order));
                }
            }
            if let Some(nx) = new.next {
                self.pending.push(Reverse((nx, i)));
            }
        }
        self.at = t;
    }

    /// Moves a record changed out of band (at the feed's own instant) to its new key.
    pub(super) fn relocate(&mut self, order: u64, old: Option<Epoch>, new: Epoch) {
        if let Some(u) = old {
            self.index.remove(&(u, order));
        }
        self.index.insert((new, order));
    }

    /// Up to `limit` keys with `NgayCapNhat >= since` strictly after `after`, in order; and
    /// whether more follow.
    pub(super) fn page(
        &self,
        since: Option<Epoch>,
        after: Option<Key>,
        limit: usize,
    ) -> (Vec<Key>, bool) {
        let from_since = since.map(|s| (s, 0u64));
        let lower = match (from_since, after) {
            (None, None) => Bound::Unbounded,
            (Some(s), None) => Bound::Included(s),
            (None, Some(a)) => Bound::Excluded(a),
            (Some(s), Some(a)) => {
                if s > a {
                    Bound::Included(s)
                } else {
                    Bound::Excluded(a)
                }
            }
        };
        let mut it = self.index.range((lower, Bound::Unbounded));
        let keys: Vec<Key> = it.by_ref().take(limit).copied().collect();
        let more = it.next().is_some();
        (keys, more)
    }

    /// Every key, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.index.iter()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record i appears at 10*i and changes again at 10*i + 25.
    struct Toy;

    impl Source for Toy {
        fn probe(&self, i: u32, t: Epoch) -> Probe {
            let a = 10 * i64::from(i);
            let b = a + 25;
            let updated = if t < a {
                None
            } else if t < b {
                Some(a)
            } else {
                Some(b)
            };
            let next = [a, b].into_iter().find(|&x| x > t);
            Probe {
                order: u64::from(i),
                updated,
                next,
            }
        }
    }

    #[test]
    fn advancing_matches_a_fresh_build_and_pages_follow_the_cursor() {
        let mut feed = Feed::build(&Toy, 100, 0);
        for t in [3, 40, 41, 300, 999, 2000] {
            feed.advance(&Toy, t);
            let fresh = Feed::build(&Toy, 100, t);
            assert_eq!(
                feed.keys().collect::<Vec<_>>(),
                fresh.keys().collect::<Vec<_>>(),
                "t={t}"
            );
        }
        // back in time: rebuilt
        feed.advance(&Toy, 50);
        assert_eq!(feed.len(), 6);

        feed.advance(&Toy, 2000);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (keys, more) = feed.page(Some(500), after, 7);
            seen.extend(keys.iter().copied());
            after = keys.last().copied();
            if !more {
                break;
            }
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert!(seen.iter().all(|k| k.0 >= 500));
        assert_eq!(seen.len(), feed.keys().filter(|k| k.0 >= 500).count());
    }
}
