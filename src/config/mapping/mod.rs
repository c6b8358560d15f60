//! A source's mapping as configured: how a vendor API (or spreadsheet) differs from the contract,
//! declared in the configuration rather than in code (docs/mapping.md).
//!
//! - [`settings`]: the configuration keys (`auth`, `paging`, and per list `dossiers`,
//!   `procedures`, `documents` with their `fields`);
//! - [`fields`]: the contract fields a mapping may fill, and their kinds;
//! - [`dates`]: date formats, both directions;
//! - [`plan`]: the compiled mapping of one list ([`plan::ListPlan`]), which validates the keys
//!   and turns a vendor record into a contract-shaped one;
//! - [`validate`]: every problem of a source's mapping, with its key path.
//!
//! Fetching, paging and the contract's own validation of a mapped record live with the sources
//! (`crate::upstream::mapping`). This module must never read the network, the disk or the
//! database.

pub mod dates;
pub mod fields;
pub mod plan;
pub mod settings;
pub mod validate;

pub use settings::*;
pub use validate::validate_source;
