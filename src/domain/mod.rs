//! The bottom layer: the plain data every other module speaks of, and the pure facts of time.
//!
//! - [`records`]: a dossier, a procedure, a document as dondoc keeps them, and a record set aside
//!   with its reason;
//! - [`tally`]: exact counts for one group of records over one window; [`facts`]: the compact
//!   facts of one record that the rules read;
//! - [`metric`]: the eight rates of metrics.md by name;
//! - [`periods`]: calendar periods in Asia/Ho_Chi_Minh and the reporting cut-off of reports;
//! - [`time`]: the injected clock and instants (the one date parser);
//! - [`alert`]: an alert as stored; [`mail`]: a composed mail as the outbox keeps it.
//!
//! This module imports nothing of dondoc (a test in `tests/layering.rs` checks it), does no I/O
//! and never reads the wall clock except through [`time::SystemClock`], which callers pass in.

pub mod alert;
pub mod facts;
pub mod mail;
pub mod metric;
pub mod periods;
pub mod records;
pub mod tally;
pub mod time;

pub use metric::Metric;
pub use periods::{Period, PeriodKind};
pub use records::{Direction, Document, Dossier, Procedure, RecordKind, Rejection};
pub use tally::Tally;
