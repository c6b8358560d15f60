//! The rules of metrics.md for one dossier or one document, as plain Rust over plain data.
//!
//! This is the readable statement of every rule, used by the unit tests of each edge case and as
//! the independent reference that the store's SQL aggregation is checked against (property
//! tests). The daemon counts in the database ([`crate::store`]); both must agree to the dossier.
//!
//! Pure: no clock, no I/O, no configuration.

use crate::domain::records::{Direction, Document, Dossier};
use crate::domain::time::Epoch;

/// What the evaluation of period P sees: `[start, horizon)` with `horizon = min(P.end, as_of)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Epoch,
    pub horizon: Epoch,
}

pub use crate::domain::Tally;

/// Whether a dossier takes part in the dossier metrics at all.
pub fn in_scope(d: &Dossier) -> bool {
    !d.deleted && !matches!(d.status, 0 | 1 | 3 | 7) && d.received_at.is_some()
}

/// Finished at instant `t`: status 8, 9 or 10 and `end < t`.
pub fn finished_at(d: &Dossier, t: Epoch) -> bool {
    matches!(d.status, 8..=10) && d.ended_at.is_some_and(|end| end < t)
}

/// Late as seen at the horizon `e`: finished with `end > due`, or open with `due < e`.
pub fn late_at(d: &Dossier, e: Epoch) -> bool {
    let Some(due) = d.due_at else { return false };
    if finished_at(d, e) {
        d.ended_at.is_some_and(|end| end > due)
    } else {
        due < e
    }
}

/// The counts one dossier adds. `procedure_level` is the catalogue's `MucDo` for its procedure:
/// `None` when the procedure is missing from the catalogue, `Some(None)` when it is listed
/// without a level.
pub fn tally_dossier(d: &Dossier, procedure_level: Option<Option<u8>>, w: Window) -> Tally {
    let mut t = Tally::default();
    if !in_scope(d) {
        return t;
    }
    let Some(received) = d.received_at else {
        return t;
    };
    let in_window = |x: Option<Epoch>| x.is_some_and(|x| w.start <= x && x < w.horizon);

    // H: received before the horizon and not finished at the period's start.
    if received < w.horizon && !finished_at(d, w.start) {
        t.handled = 1;
        if d.due_at.is_none() {
            t.no_due_date = 1;
        }
        if d.rating.is_some_and(|r| !matches!(r, 1 | 2))
            && d.rated_at.is_some_and(|r| r < w.horizon)
        {
            t.unsatisfied = 1;
        }
        if late_at(d, w.horizon) {
            t.late = 1;
            if d.first_apology_at.is_some_and(|a| a < w.horizon) {
                t.apologized = 1;
            }
        }
    }
    // R: processed or returned, ended in the window.
    if matches!(d.status, 9 | 10) && in_window(d.ended_at) {
        t.results = 1;
        t.digitized = i64::from(d.digitized);
    }
    if in_window(Some(received)) {
        t.received = 1;
        t.received_online = i64::from(d.channel == Some(2));
        match procedure_level {
            None => t.unknown_procedure = 1,
            Some(Some(4)) => {
                t.full_online_eligible = 1;
                t.online = i64::from(d.channel == Some(2));
            }
            Some(_) => {}
        }
        if d.fee_total > 0.0 {
            t.with_fee = 1;
            t.paid_online = i64::from(matches!(d.paid_online, 1 | 2));
        }
    }
    if d.rating.is_some() && in_window(d.rated_at) {
        t.rated = 1;
        t.satisfied = i64::from(matches!(d.rating, Some(1 | 2)));
    }
    t
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

/// The counts one document adds.
pub fn tally_document(d: &Document, w: Window) -> Tally {
    let mut t = Tally::default();
    if d.deleted {
        return t;
    }
    let in_window = |x: Option<Epoch>| x.is_some_and(|x| w.start <= x && x < w.horizon);
    match d.direction {
        Some(Direction::Incoming) if in_window(d.arrived_at) => {
            t.incoming = 1;
            t.edoc = i64::from(d.processed_online);
        }
        Some(Direction::Outgoing) if in_window(d.issued_at) => {
            t.outgoing = 1;
            t.esigned = i64::from(d.signed);
        }
        _ => {}
    }
    t
}
