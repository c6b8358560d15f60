//! Upstream sources: the systems dondoc pulls from (`../shared/spec/upstream-api.md`).
//!
//! - [`records`]: the contract's records, parsing and validation (no I/O);
//! - [`client`]: the HTTP client of one source, with the project's one retry policy;
//! - [`simulator`]: a built-in upstream serving the contract, for demos, tests and benchmarks.
//!
//! Nothing here writes to the database: [`crate::sync`] moves pages from a client to the store.

pub mod client;
pub mod records;
pub mod simulator;
