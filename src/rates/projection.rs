//! Where a rate is heading: the projection to its period's end and its 95 % range, read by the
//! letters (`crate::alerts::digest`) and the dashboard alike. Pure: no clock, no I/O.
//!
//! The projection from the trend (docs/alerts.md, "Projections"): the period-to-date counts `n/d`
//! plus the rest of the period at the pace of the last weeks. The recent pace is read from the
//! oldest stored sample of the same period within `alerts.trend_days` (the backfill provides
//! these from the first day): over that span the denominator grew by `Δd` and the numerator by
//! `Δn`, so the dossiers still expected are `x = Δd / Δt × remaining` and the projection is
//! `(n + p·x) / (d + x)` with the recent share `p = Δn / Δd`. A unit improving or sliding is
//! projected at its recent share, not at its period-to-date value; without a stored sample in the
//! window the pace is that of the whole period, which projects the current value. The
//! uncertainty is that of `p`, estimated from `Δd` dossiers: the 95 % Wilson interval of `p`
//! carried through the same formula gives the range of the projection (wide when `Δd` is small;
//! below `alerts.min_sample` the projection is flagged as resting on a small sample). The volume
//! is taken as certain. The rate "needed over the rest of the period" is the share of the
//! dossiers still expected that must meet the criterion for the period to end on target; above
//! 100 % (or below 0 % for a `max` target) it can no longer be reached.
//!

use super::evaluate::{Row, RowState};
use crate::domain::Period;
use crate::domain::time::Epoch;

/// Where the rate is heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The rate at the period's end at the current pace (0..1).
    pub at_end: Option<f64>,
    /// For a breach: the share of the rest of the period's dossiers that must meet the criterion;
    /// `None` when it can no longer be reached.
    pub needed: Option<f64>,
    pub reachable: bool,
    /// The 95 % range of `at_end` from the uncertainty of the recent share (see the module
    /// docs); `None` when nothing more is expected in the period.
    pub range: Option<(f64, f64)>,
    /// The dossiers (denominator growth) the recent pace was read from.
    pub recent: i64,
}

/// The 95 % Wilson interval of a share `p` observed over `n` trials.
pub fn wilson(p: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = p.clamp(0.0, 1.0);
    let z = 1.96_f64;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Projects a row to its period's end (see the module docs).
pub fn project(
    row: &Row,
    period: &Period,
    base: Option<(Epoch, i64, i64)>,
    now: Epoch,
) -> Projection {
    let end = period.end();
    let remaining = (end - now).max(0) as f64;
    let (t0, n0, d0) = base.unwrap_or((period.start(), 0, 0));
    let elapsed = (now - t0).max(1) as f64;
    let pace_n = (row.numerator - n0).max(0) as f64 / elapsed;
    let pace_d = (row.denominator - d0).max(0) as f64 / elapsed;
    let extra_d = pace_d * remaining;
    let end_d = row.denominator as f64 + extra_d;
    let at_end = if end_d > 0.0 {
        Some((row.numerator as f64 + pace_n * remaining) / end_d)
    } else {
        None
    };
    let recent = (row.denominator - d0).max(0);
    let range = (extra_d >= 1.0 && end_d > 0.0).then(|| {
        let share = if recent > 0 {
            (row.numerator - n0).max(0) as f64 / recent as f64
        } else {
            0.0
        };
        let (lo, hi) = wilson(share, recent as f64);
        (
            (row.numerator as f64 + lo * extra_d) / end_d,
            (row.numerator as f64 + hi * extra_d) / end_d,
        )
    });
    let (needed, reachable) = match row.target {
        Some(t) if extra_d >= 1.0 => {
            let goal = t.min.or(t.max).unwrap_or(0.0) / 100.0;
            let x = goal * end_d - row.numerator as f64;
            let share = x / extra_d;
            if t.min.is_some() {
                (Some(share.max(0.0)), share <= 1.0)
            } else {
                (Some(share.min(1.0)), share >= 0.0)
            }
        }
        Some(_) => (None, row.state != RowState::Breach),
        None => (None, true),
    };
    Projection {
        at_end,
        needed: if reachable { needed } else { None },
        reachable,
        range,
        recent,
    }
}
