//! A simulated upstream: a Vietnamese city's one-stop system (`/ho-so`, `/thu-tuc`) and document
//! system (`/van-ban`), served over HTTP exactly as `upstream-api.md` describes.
//!
//! It exists for demos (`dondoc simulate`, `[simulator] enabled = true`) and for tests: a
//! deterministic, realistic city whose dossiers move through their statuses as the [`Clock`]
//! advances, whose units are good, borderline or bad against the default targets of
//! `metrics.md` (so that alerts fire in a demo), and whose feed carries the awkward parts of real
//! feeds: codes as numbers or digit strings, `Gia` as numeric strings, `""` or `null` for absent
//! dates, tombstones, unmapped unit codes, procedures missing from the catalogue, personal data,
//! and, on request, invalid records and transient errors ([`Faults`]).
//!
//! What it must never do:
//! - be pointed at or mixed with production data: it is a test double for the contract, and every
//!   name, number and personal detail in it is invented;
//! - deviate from the contract: paging, cursors, ordering, dates, codes and status codes are the
//!   contract's, so that a client that works against the simulator works against a real source
//!   (the only deliberate breaches are the invalid records asked for by
//!   [`Faults::invalid_share`], which the contract itself describes);
//! - read the wall clock: "now" always comes from the [`Clock`] it is given;
//! - scan every record on a request: pages come from an ordered index (see `index.rs`), and
//!   records are rendered on the fly from (seed, index, instant), never stored.
//!
//! A dossier `i` is a pure function of (seed, `i`, construction day); the only mutable state is
//! the changes made by [`Simulator::touch`] and [`Simulator::touch_keys`]. Records are spread over
//! `[anchor − history_days, anchor + history_days / 4)`, where the anchor is the local midnight
//! of the construction day (so that simulators built the same day with the same seed serve the
//! same city), so that about 80 % exist at once and the rest arrive as time passes.

mod data;
mod index;
mod server;
#[cfg(test)]
mod tests;

pub use data::Quality;

use crate::domain::time::Clock;
use crate::domain::time::Epoch;
use data::{
    DocumentOut, DossierOut, Touch, TouchAction, World, document_index_of_key, document_key,
    document_plan, dossier_key, dossier_next_event, dossier_order_of_key, dossier_plan,
    dossier_view, invalid_kind, order_index, render_document, render_dossier,
};
use index::{Feed, Key, Probe, Source};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// A unit of the city as the simulator sees it: the upstream codes it owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimUnit {
    /// `DonViXuLy` codes of the one-stop system.
    pub one_stop_codes: Vec<String>,
    /// `MaDonVi` codes of the document system.
    pub document_codes: Vec<String>,
}

/// Misbehaviour on request. Every share is a probability in [0, 1].
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of requests answered 503.
    pub error_503_share: f64,
    /// Share of requests answered 429 with `Retry-After: retry_after_secs`.
    pub error_429_share: f64,
    pub retry_after_secs: u64,
    /// Delay before every answer of the list endpoints.
    pub latency_ms: u64,
    /// Share of dossiers served invalid (always the same ones for a seed).
    pub invalid_share: f64,
}

/// How to build a [`Simulator`].
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub seed: u64,
    /// Number of dossiers over the whole span (at most 9 999 999).
    pub dossiers: usize,
    /// Number of documents over the whole span.
    pub documents: usize,
    /// Days of history before the construction instant (a quarter as many follow it).
    pub history_days: u32,
    pub units: Vec<SimUnit>,
    pub faults: Faults,
    /// When set, the list endpoints require `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl SimOptions {
    /// 20 000 dossiers, 5 000 documents, 365 days of history, no faults, no token.
    pub fn new(seed: u64, units: Vec<SimUnit>) -> Self {
        SimOptions {
            seed,
            dossiers: 20_000,
            documents: 5_000,
            history_days: 365,
            units,
            faults: Faults::default(),
            token: None,
        }
    }
}

/// Requests received per endpoint, failed and fault-injected ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub ho_so: u64,
    pub thu_tuc: u64,
    pub van_ban: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    HoSo = 0,
    ThuTuc = 1,
    VanBan = 2,
}

/// Why a page request is refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest(pub String);

struct DossierState {
    feed: Feed,
    touches: HashMap<u32, Vec<Touch>>,
    touch_calls: u64,
}

struct DossierSource<'a> {
    world: &'a World,
    touches: &'a HashMap<u32, Vec<Touch>>,
}

impl Source for DossierSource<'_> {
    fn probe(&self, i: u32, t: Epoch) -> Probe {
        let plan = dossier_plan(self.world, i);
        let touches = self.touches.get(&i).map_or(&[][..], Vec::as_slice);
        Probe {
            order: plan.order,
            updated: dossier_view(&plan, touches, t).map(|v| v.updated),
            next: dossier_next_event(&plan, touches, t),
        }
    }
}

struct DocumentSource<'a> {
    world: &'a World,
}

impl Source for DocumentSource<'_> {
    fn probe(&self, i: u32, t: Epoch) -> Probe {
        let plan = document_plan(self.world, i);
        Probe {
            order: u64::from(i),
            updated: plan.updated_at(t),
            next: plan.next_event(t),
        }
    }
}

/// The simulated upstream. Cheap to share (`Arc`), internally synchronized.
pub struct Simulator {
    world: World,
    clock: Arc<dyn Clock>,
    token: Option<String>,
    faults: RwLock<Faults>,
    dossiers: Mutex<DossierState>,
    documents: Mutex<Feed>,
    counts: [AtomicU64; 3],
    fault_state: AtomicU64,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.world.seed)
            .field("dossiers", &self.world.dossiers)
            .field("documents", &self.world.documents)
            .field("built_at", &self.world.built_at)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(serde::Serialize)]
struct PageOut<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

impl Simulator {
    /// Builds the city as it is at `clock.now()` (the construction instant fixes the span of
    /// the data). Takes about a second per million dossiers in release mode; call it outside
    /// the async runtime's worker threads (e.g. `spawn_blocking`) when that matters.
    pub fn new(opts: SimOptions, clock: Arc<dyn Clock>) -> Arc<Self> {
        let now = crate::domain::time::epoch(clock.now());
        if opts.dossiers > data::MAX_DOSSIERS {
            tracing::warn!(
                requested = opts.dossiers,
                max = data::MAX_DOSSIERS,
                "simulator: too many dossiers requested, capped"
            );
        }
        let dossiers = opts.dossiers.min(data::MAX_DOSSIERS) as u32;
        let documents = opts.documents.min(data::MAX_DOCUMENTS) as u32;
        let units: Vec<data::UnitCodes> = opts
            .units
            .iter()
            .map(|u| (u.one_stop_codes.clone(), u.document_codes.clone()))
            .collect();
        let world = World::new(
            opts.seed,
            now,
            opts.history_days,
            dossiers,
            documents,
            &units,
        );
        let touches = HashMap::new();
        let feed = Feed::build(
            &DossierSource {
                world: &world,
                touches: &touches,
            },
            dossiers,
            now,
        );
        let docs = Feed::build(&DocumentSource { world: &world }, documents, now);
        Arc::new(Simulator {
            clock,
            token: opts.token.filter(|t| !t.is_empty()),
            faults: RwLock::new(opts.faults),
            dossiers: Mutex::new(DossierState {
                feed,
                touches,
                touch_calls: 0,
            }),
            documents: Mutex::new(docs),
            counts: Default::default(),
            fault_state: AtomicU64::new(opts.seed ^ 0x5EED_FA17),
            world,
        })
    }

    /// `GET /ho-so`, `GET /thu-tuc`, `GET /van-ban`, `POST /_sim/touch?count=N`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        server::router(Arc::clone(self))
    }

    /// Serves [`Self::router`] on `listener` until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Replaces the faults (takes effect on the next request).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests received so far per endpoint.
    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            ho_so: self.counts[0].load(Ordering::Relaxed),
            thu_tuc: self.counts[1].load(Ordering::Relaxed),
            van_ban: self.counts[2].load(Ordering::Relaxed),
        }
    }

    pub fn reset_requests(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The quality profile of `units[unit]` of the options, `None` past the end.
    pub fn unit_quality(&self, unit: usize) -> Option<Quality> {
        self.world.quality(unit)
    }

    /// The `DonViXuLy` and `MaDonVi` codes that the simulator uses for records no unit claims.
    pub fn unmapped_codes(&self) -> (String, String) {
        let one_stop = self
            .world
            .codes
            .last()
            .map(|c| c.code.clone())
            .unwrap_or_default();
        let docs = self
            .world
            .doc_codes
            .last()
            .map(|c| c.code.clone())
            .unwrap_or_default();
        (one_stop, docs)
    }

    /// The anchor of the data's span: the local midnight of the construction day (epoch seconds).
    pub fn built_at(&self) -> Epoch {
        self.world.built_at
    }

    /// Changes `count` existing dossiers now: ends an open one, hands back a processed one,
    /// adds a rating or an apology slip to a returned one, or (a few) deletes one. Each gets
    /// `NgayCapNhat` = now. Returns how many changed (fewer only when fewer can change).
    pub fn touch(&self, count: usize) -> usize {
        let w = &self.world;
        let invalid_share = self.faults().invalid_share;
        let mut st = lock(&self.dossiers);
        let now = self.now();
        let DossierState {
            feed,
            touches,
            touch_calls,
        } = &mut *st;
        feed.advance(&DossierSource { world: w, touches }, now);
        let mut r = data::Rng::new(w.seed, data::STREAM_TOUCH, *touch_calls);
        *touch_calls += 1;
        let n = w.dossiers;
        if n == 0 {
            return 0;
        }
        let mut chosen: HashSet<u32> = HashSet::new();
        let mut try_one =
            |i: u32, r: &mut data::Rng, touches: &mut HashMap<u32, Vec<Touch>>| -> bool {
                if chosen.contains(&i) {
                    return false;
                }
                let plan = dossier_plan(w, i);
                let list = touches.get(&i).map_or(&[][..], Vec::as_slice);
                let Some(view) = dossier_view(&plan, list, now) else {
                    return false;
                };
                if view.deleted || invalid_kind(w, &plan, invalid_share).is_some() {
                    return false;
                }
                let action = if r.chance(0.05) {
                    TouchAction::Delete
                } else {
                    match view.status {
                        2 | 4 | 5 => TouchAction::Finish,
                        9 => TouchAction::Return,
                        10 => {
                            let late = match (view.end, view.effective_due()) {
                                (Some(e), Some(d)) => e > d,
                                _ => false,
                            };
                            if view.rating.is_none() || !(late && view.apologies.is_empty()) {
                                let level = if r.chance(0.05) {
                                    3
                                } else if r.chance(0.6) {
                                    1
                                } else {
                                    2
                                };
                                TouchAction::Rate(level)
                            } else {
                                TouchAction::Apologize
                            }
                        }
                        _ => return false,
                    }
                };
                chosen.insert(i);
                touches
                    .entry(i)
                    .or_default()
                    .push(Touch { at: now, action });
                feed.relocate(plan.order, Some(view.updated), now);
                true
            };
        let mut changed = 0;
        let mut attempts = 0usize;
        let max_attempts = count.saturating_mul(20).saturating_add(1_000);
        while changed < count && attempts < max_attempts {
            attempts += 1;
            let i = r.below(u64::from(n)) as u32;
            if try_one(i, &mut r, touches) {
                changed += 1;
            }
        }
        if changed < count {
            // Few candidates left: walk them all once.
            let start = r.below(u64::from(n)) as u32;
            for k in 0..n {
                if changed >= count {
                    break;
                }
                if try_one((start + k) % n, &mut r, touches) {
                    changed += 1;
                }
            }
        }
        changed
    }

    /// Edits the named dossiers (`MaHoSo`) upstream now: each gets `NgayCapNhat` = now and is
    /// otherwise served as it would be anyway (its story goes on). Lower
    /// [`Faults::invalid_share`] first, and this is how a test makes the upstream fix its invalid
    /// records. Keys the simulator never issued, dossiers that do not exist yet and repeated keys
    /// are skipped; returns how many dossiers changed.
    pub fn touch_keys(&self, keys: &[String]) -> usize {
        let w = &self.world;
        let mut st = lock(&self.dossiers);
        let now = self.now();
        let DossierState { feed, touches, .. } = &mut *st;
        feed.advance(&DossierSource { world: w, touches }, now);
        let mut seen: HashSet<u32> = HashSet::new();
        let mut changed = 0;
        for key in keys {
            let Some(order) = dossier_order_of_key(w, key) else {
                continue;
            };
            let i = order_index(order);
            if !seen.insert(i) {
                continue;
            }
            let plan = dossier_plan(w, i);
            let list = touches.get(&i).map_or(&[][..], Vec::as_slice);
            let Some(view) = dossier_view(&plan, list, now) else {
                continue;
            };
            touches.entry(i).or_default().push(Touch {
                at: now,
                action: TouchAction::Edit,
            });
            feed.relocate(plan.order, Some(view.updated), now);
            changed += 1;
        }
        changed
    }

    /// Every dossier visible now, exactly as `/ho-so` would serve it now (invalid ones and
    /// tombstones included), in the feed's order.
    pub fn dossiers_json(&self) -> Vec<serde_json::Value> {
        let (t, keys, touches) = {
            let mut st = lock(&self.dossiers);
            let now = self.now();
            self.advance_dossiers(&mut st, now);
            let keys: Vec<Key> = st.feed.keys().copied().collect();
            (now, keys, st.touches.clone())
        };
        let share = self.faults().invalid_share;
        keys.iter()
            .filter_map(|k| {
                let i = order_index(k.1);
                let list = touches.get(&i).map_or(&[][..], Vec::as_slice);
                self.render_dossier_value(i, list, t, share)
            })
            .collect()
    }

    /// The catalogue, exactly as `/thu-tuc` serves it.
    pub fn procedures_json(&self) -> Vec<serde_json::Value> {
        data::render_catalogue(self.world.seed)
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect()
    }

    /// Every document visible now, exactly as `/van-ban` would serve it now, in the feed's order.
    pub fn documents_json(&self) -> Vec<serde_json::Value> {
        let (t, keys) = {
            let mut feed = lock(&self.documents);
            let now = self.now();
            feed.advance(&DocumentSource { world: &self.world }, now);
            (now, feed.keys().copied().collect::<Vec<Key>>())
        };
        keys.iter()
            .filter_map(|k| {
                let plan = document_plan(&self.world, k.1 as u32);
                serde_json::to_value(render_document(&self.world, &plan, t)).ok()
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------

    fn now(&self) -> Epoch {
        crate::domain::time::epoch(self.clock.now())
    }

    fn advance_dossiers(&self, st: &mut DossierState, t: Epoch) {
        let DossierState { feed, touches, .. } = st;
        feed.advance(
            &DossierSource {
                world: &self.world,
                touches,
            },
            t,
        );
    }

    fn render_dossier_value(
        &self,
        i: u32,
        touches: &[Touch],
        t: Epoch,
        share: f64,
    ) -> Option<serde_json::Value> {
        let w = &self.world;
        let plan = dossier_plan(w, i);
        let view = dossier_view(&plan, touches, t)?;
        serde_json::to_value(render_dossier(
            w,
            &plan,
            &view,
            invalid_kind(w, &plan, share),
        ))
        .ok()
    }

    pub(crate) fn count(&self, e: Endpoint) {
        self.counts[e as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A uniform draw in [0, 1) for fault injection (not reproducible across runs with
    /// concurrent requests, and need not be).
    pub(crate) fn fault_draw(&self) -> f64 {
        let x = self
            .fault_state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        data::Rng::new(x, 0, 0).f64()
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// One page of `/ho-so` as a JSON body.
    pub(crate) fn dossier_page(
        &self,
        since: Option<Epoch>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<u8>, BadRequest> {
        let w = &self.world;
        let after = match cursor {
            None => None,
            Some(c) => {
                let (t, key) = server::decode_cursor(c)?;
                let order = dossier_order_of_key(w, &key)
                    .ok_or_else(|| BadRequest("cursor names no record of this source".into()))?;
                Some((t, order))
            }
        };
        let share = self.faults().invalid_share;
        let (t, keys, more, touches) = {
            let mut st = lock(&self.dossiers);
            let now = self.now();
            self.advance_dossiers(&mut st, now);
            let (keys, more) = st.feed.page(since, after, limit);
            let touches: Vec<Vec<Touch>> = keys
                .iter()
                .map(|k| {
                    st.touches
                        .get(&order_index(k.1))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            (now, keys, more, touches)
        };
        let mut records: Vec<DossierOut<'_>> = Vec::with_capacity(keys.len());
        let mut last: Option<(Epoch, String)> = None;
        for (k, list) in keys.iter().zip(&touches) {
            let plan = dossier_plan(w, order_index(k.1));
            let Some(view) = dossier_view(&plan, list, t) else {
                continue;
            };
            debug_assert_eq!(view.updated, k.0);
            if more {
                last = Some((k.0, dossier_key(w, &plan)));
            }
            records.push(render_dossier(
                w,
                &plan,
                &view,
                invalid_kind(w, &plan, share),
            ));
        }
        let page = PageOut {
            data: records,
            next_cursor: last.map(|(t, key)| server::encode_cursor(t, &key)),
        };
        serde_json::to_vec(&page).map_err(|e| BadRequest(e.to_string()))
    }

    /// One page of `/van-ban` as a JSON body.
    pub(crate) fn document_page(
        &self,
        since: Option<Epoch>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<u8>, BadRequest> {
        let w = &self.world;
        let after = match cursor {
            None => None,
            Some(c) => {
                let (t, key) = server::decode_cursor(c)?;
                let i = document_index_of_key(w, &key)
                    .ok_or_else(|| BadRequest("cursor names no record of this source".into()))?;
                Some((t, u64::from(i)))
            }
        };
        let (t, keys, more) = {
            let mut feed = lock(&self.documents);
            let now = self.now();
            feed.advance(&DocumentSource { world: w }, now);
            let (keys, more) = feed.page(since, after, limit);
            (now, keys, more)
        };
        let records: Vec<DocumentOut<'_>> = keys
            .iter()
            .map(|k| render_document(w, &document_plan(w, k.1 as u32), t))
            .collect();
        let next_cursor = if more {
            keys.last()
                .map(|k| server::encode_cursor(k.0, &document_key(k.1 as u32)))
        } else {
            None
        };
        serde_json::to_vec(&PageOut {
            data: records,
            next_cursor,
        })
        .map_err(|e| BadRequest(e.to_string()))
    }

    /// The whole catalogue as a JSON body.
    pub(crate) fn catalogue_body(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Catalogue<T> {
            data: Vec<T>,
        }
        serde_json::to_vec(&Catalogue {
            data: data::render_catalogue(self.world.seed),
        })
        .unwrap_or_else(|_| b"{\"data\":[]}".to_vec())
    }
}
