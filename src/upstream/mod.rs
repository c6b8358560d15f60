//! Upstream sources: the systems dondoc pulls from (`../shared/spec/upstream-api.md`).
//!
//! - [`records`]: the contract's records, parsing and validation (no I/O);
//! - [`body`]: what is wrong with an answer that is not the JSON expected (HTML, not UTF-8, …);
//! - [`client`]: the HTTP client of one source (its authentication), with the project's one
//!   retry policy;
//! - [`mapping`]: the mapping layer for sources whose API or files differ from the contract
//!   (field pointers, date formats, value maps, paging styles), declared in the configuration;
//! - [`import`]: spreadsheet imports (.xlsx, .csv) from a watched folder or the command line;
//!
//! Nothing here writes to the database except [`import`], which stores each file as one page
//! through the store like [`crate::sync`] does.

pub mod body;
pub mod client;
pub mod import;
pub mod mapping;
pub mod records;
