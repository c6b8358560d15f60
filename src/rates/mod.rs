//! Rates: every rate of `../shared/spec/metrics.md` (the PAR Index / SIPAS commitment), per unit
//! and period. (`metrics` in dondoc means Prometheus' `/metrics`, in `crate::http`.) The metric
//! names and the periods are plain data of `crate::domain`.
//!
//! - [`rules`]: the rules for one record, in plain Rust (the reference);
//! - [`evaluate`]: from the store's exact counts to rows with targets and states, per unit
//!   subtree, and `run_once`, which stores the current periods as the time series;
//! - [`backfill`]: the same samples for every past day the stored data covers (history from the
//!   first day), idempotent and resumable, with revisions kept;
//! - [`projection`]: where a rate is heading by its period's end, with its 95 % range;
//! - [`engine`]: exact counts of many windows from one narrow reading of the facts the windows
//!   can count, swept with the rules of [`rules`].
//!
//! Counting happens in two exact ways: one instant (the daemon's evaluation, `status`, the
//! dashboard) by the store's SQL aggregation, many instants (the backfill, any replay of past
//! days) by the engine's sweep of [`rules`] over the stored facts (see
//! [`evaluate::evaluate_many`] for why). This module adds counts up the unit tree (sums of
//! counts, never averages of rates) and judges them. It never writes records and never contacts
//! upstream.

pub mod backfill;
pub mod engine;
pub mod evaluate;
pub mod projection;
pub mod rules;

pub use crate::domain::{Metric, Period, PeriodKind};
pub use evaluate::{
    Evaluation, Quality, Row, RowState, TargetView, UnitTree, evaluate, evaluate_window, run_once,
};
