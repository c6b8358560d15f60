//! The rules of metrics.md for one dossier or one document, as plain Rust over plain data.
//!
//! This is the readable statement of every rule, written once over the compact facts of a record
//! ([`DossierFacts`], [`DocumentFacts`]): the rate engine ([`super::engine`]) applies exactly these
//! functions to every fact it sweeps, the unit tests check each edge case, and the property tests
//! check the store's SQL aggregation (still used by the score) against them, to the dossier.
//!
//! Pure: no clock, no I/O, no configuration.

pub use crate::domain::facts::*;
use crate::domain::records::{Direction, Document, Dossier};
use crate::domain::time::Epoch;

/// What the evaluation of period P sees: `[start, horizon)` with `horizon = min(P.end, as_of)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Epoch,
    pub horizon: Epoch,
}

pub use crate::domain::Tally;

fn opt(x: Option<Epoch>) -> Epoch {
    x.unwrap_or(NONE)
}

impl DossierFacts {
    /// The facts of a dossier whose procedure has catalogue level `procedure_level` (see
    /// [`tally_dossier`]).
    pub fn of(d: &Dossier, procedure_level: Option<Option<u8>>) -> DossierFacts {
        let in_scope = !d.deleted && !matches!(d.status, 0 | 1 | 3 | 7) && d.received_at.is_some();
        DossierFacts::new(
            in_scope,
            d.status,
            d.received_at,
            d.due_at,
            d.ended_at,
            d.first_apology_at,
            d.rating,
            d.rated_at,
            d.channel,
            procedure_level,
            d.fee_total > 0.0,
            d.paid_online,
            d.digitized,
        )
    }

    /// Builds the facts from a dossier's stored columns (the engine's loader).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_scope: bool,
        status: u8,
        received_at: Option<Epoch>,
        due_at: Option<Epoch>,
        ended_at: Option<Epoch>,
        first_apology_at: Option<Epoch>,
        rating: Option<u8>,
        rated_at: Option<Epoch>,
        channel: Option<u8>,
        procedure_level: Option<Option<u8>>,
        with_fee: bool,
        paid_online: u8,
        digitized: bool,
    ) -> DossierFacts {
        let mut flags = 0;
        if in_scope && received_at.is_some() {
            flags |= F_IN_SCOPE;
        }
        if channel == Some(2) {
            flags |= F_ONLINE;
        }
        if with_fee {
            flags |= F_FEE;
        }
        if matches!(paid_online, 1 | 2) {
            flags |= F_PAID_ONLINE;
        }
        if digitized {
            flags |= F_DIGITIZED;
        }
        DossierFacts {
            received_at: opt(received_at),
            due_at: opt(due_at),
            ended_at: opt(ended_at),
            first_apology_at: opt(first_apology_at),
            rated_at: opt(rated_at),
            group: 0,
            status,
            rating: match rating {
                None => RATING_NONE,
                Some(1 | 2) => RATING_SATISFIED,
                Some(_) => RATING_OTHER,
            },
            procedure: match procedure_level {
                None => PROC_UNKNOWN,
                Some(Some(4)) => PROC_LEVEL4,
                Some(_) => PROC_LISTED,
            },
            flags,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Finished at instant `t`: status 8, 9 or 10 and `end < t`.
    pub fn finished_at(&self, t: Epoch) -> bool {
        matches!(self.status, 8..=10) && self.ended_at != NONE && self.ended_at < t
    }

    /// Late as seen at the horizon `e`: finished with `end > due`, or open with `due < e`.
    pub fn late_at(&self, e: Epoch) -> bool {
        if self.due_at == NONE {
            return false;
        }
        if self.finished_at(e) {
            self.ended_at > self.due_at
        } else {
            self.due_at < e
        }
    }

    /// The instants outside which no window can count this dossier: `[first, last]`. A window
    /// `[start, horizon)` with `horizon <= first` or `start > last` adds nothing from it (every
    /// rule needs one of its instants in the window, or H's "received before the horizon and
    /// not finished at the start"). `last` is `Epoch::MAX` while the dossier is not finished.
    #[inline]
    pub fn span(&self) -> (Epoch, Epoch) {
        // NONE is i64::MIN: it never wins a max, and is mapped to MAX before a min. Written out
        // (no iterator): the engine computes it once per fact it reads.
        let or_max = |x: Epoch| if x == NONE { Epoch::MAX } else { x };
        let first = or_max(self.received_at)
            .min(or_max(self.ended_at))
            .min(or_max(self.rated_at));
        let last = if matches!(self.status, 8..=10) && self.ended_at != NONE {
            // ended_at is present, so the max is an instant, never NONE.
            self.received_at.max(self.ended_at).max(self.rated_at)
        } else {
            Epoch::MAX
        };
        (first, last)
    }
}

/// Whether a dossier takes part in the dossier metrics at all.
pub fn in_scope(d: &Dossier) -> bool {
    DossierFacts::of(d, None).has(F_IN_SCOPE)
}

/// Finished at instant `t`: status 8, 9 or 10 and `end < t`.
pub fn finished_at(d: &Dossier, t: Epoch) -> bool {
    DossierFacts::of(d, None).finished_at(t)
}

/// Late as seen at the horizon `e`: finished with `end > due`, or open with `due < e`.
pub fn late_at(d: &Dossier, e: Epoch) -> bool {
    DossierFacts::of(d, None).late_at(e)
}

/// The counts one dossier adds. `procedure_level` is the catalogue's `MucDo` for its procedure:
/// `None` when the procedure is missing from the catalogue, `Some(None)` when it is listed
/// without a level.
pub fn tally_dossier(d: &Dossier, procedure_level: Option<Option<u8>>, w: Window) -> Tally {
    let mut t = Tally::default();
    tally_facts(&DossierFacts::of(d, procedure_level), w, &mut t);
    t
}

/// The rules of metrics.md for one dossier's facts: adds its counts for the window to `t`.
#[inline]
pub fn tally_facts(d: &DossierFacts, w: Window, t: &mut Tally) {
    if !d.has(F_IN_SCOPE) {
        return;
    }
    let received = d.received_at;
    let in_window = |x: Epoch| x != NONE && w.start <= x && x < w.horizon;

    // H: received before the horizon and not finished at the period's start.
    if received < w.horizon && !d.finished_at(w.start) {
        t.handled += 1;
        if d.due_at == NONE {
            t.no_due_date += 1;
        }
        if d.rating == RATING_OTHER && d.rated_at != NONE && d.rated_at < w.horizon {
            t.unsatisfied += 1;
        }
        if d.late_at(w.horizon) {
            t.late += 1;
            if d.first_apology_at != NONE && d.first_apology_at < w.horizon {
                t.apologized += 1;
            }
        }
    }
    // R: processed or returned, ended in the window.
    if matches!(d.status, 9 | 10) && in_window(d.ended_at) {
        t.results += 1;
        t.digitized += i64::from(d.has(F_DIGITIZED));
    }
    if in_window(received) {
        t.received += 1;
        t.received_online += i64::from(d.has(F_ONLINE));
        match d.procedure {
            PROC_UNKNOWN => t.unknown_procedure += 1,
            PROC_LEVEL4 => {
                t.full_online_eligible += 1;
                t.online += i64::from(d.has(F_ONLINE));
            }
            _ => {}
        }
        if d.has(F_FEE) {
            t.with_fee += 1;
            t.paid_online += i64::from(d.has(F_PAID_ONLINE));
        }
    }
    if d.rating != RATING_NONE && in_window(d.rated_at) {
        t.rated += 1;
        t.satisfied += i64::from(d.rating == RATING_SATISFIED);
    }
}

/// The fee-bearing procedure a dossier speaks for in the window, for the score's procedure-level
/// online-payment ratio (score766.md, TTTT "TTHC có giao dịch thanh toán trực tuyến"):
/// `Some((MaTTHC, paid online))` when the dossier is of the population F of
/// `online_payment_rate` (in scope, received in the window, fees above 0), `None` otherwise.
/// A procedure counts in the denominator when at least one of its dossiers is in F, and in the
/// numerator when at least one of those was paid online (`DuocThanhToanTrucTuyen` 1 or 2).
/// Distinct procedures do not add up like counts: a parent unit takes the union of the
/// procedures of its subtree (see `crate::score`).
pub fn fee_procedure(d: &Dossier, w: Window) -> Option<(&str, bool)> {
    if !in_scope(d) || d.fee_total <= 0.0 || d.procedure_code.is_empty() {
        return None;
    }
    let received = d.received_at?;
    if !(w.start <= received && received < w.horizon) {
        return None;
    }
    Some((d.procedure_code.as_str(), matches!(d.paid_online, 1 | 2)))
}

impl DocumentFacts {
    pub fn of(d: &Document) -> DocumentFacts {
        let (direction, at, flag) = match (d.deleted, d.direction) {
            (false, Some(Direction::Incoming)) => (DOC_INCOMING, d.arrived_at, d.processed_online),
            (false, Some(Direction::Outgoing)) => (DOC_OUTGOING, d.issued_at, d.signed),
            _ => (DOC_NONE, None, false),
        };
        DocumentFacts {
            at: opt(at),
            group: 0,
            direction,
            flag,
        }
    }
}

/// The counts one document adds.
pub fn tally_document(d: &Document, w: Window) -> Tally {
    let mut t = Tally::default();
    tally_document_facts(&DocumentFacts::of(d), w, &mut t);
    t
}

/// The rules of metrics.md for one document's facts: adds its counts for the window to `t`.
#[inline]
pub fn tally_document_facts(d: &DocumentFacts, w: Window, t: &mut Tally) {
    if d.at == NONE || d.at < w.start || d.at >= w.horizon {
        return;
    }
    match d.direction {
        DOC_INCOMING => {
            t.incoming += 1;
            t.edoc += i64::from(d.flag);
        }
        DOC_OUTGOING => {
            t.outgoing += 1;
            t.esigned += i64::from(d.flag);
        }
        _ => {}
    }
}
