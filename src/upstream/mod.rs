//! Sources: the systems dondoc pulls from (`../shared/spec/upstream-api.md`), turned from bytes
//! into plain domain records.
//!
//! - [`endpoint`]: what every source is to the one poll loop ([`crate::sync`]): a first request,
//!   the next request from where the last page ended, and an answer parsed into a page of
//!   records, rejections and the mark it reaches;
//! - [`contract`]: the contract's lists (`thu-tuc`, `ho-so`, `van-ban`) as endpoints;
//! - [`mapping`]: sources whose API or files differ from the contract (field pointers, date
//!   formats, value maps, offset/page/cursor paging, login), declared in the configuration;
//!   [`mapping::list`] is a mapped list as an endpoint;
//! - [`import`]: spreadsheets (.xlsx, .csv) dropped in a watched folder, each file one page;
//! - [`records`]: the contract's records, parsing and validation (no I/O);
//! - [`body`]: what is wrong with an answer that is not the JSON expected (HTML, not UTF-8, …);
//! - [`client`]: the HTTP client of one source (its authentication), with the project's one
//!   retry policy and its politeness (rate, size caps);
//!
//! A source only reads. It must never write to the database, move a mark or know the store,
//! the sync or the application (`crate::store`, `crate::sync`, `crate::app`): [`crate::sync`] is
//! the only writer of pages. What must follow a page's commit (a spreadsheet moved to `done/`)
//! travels with the page ([`endpoint::Page::then`]).

pub mod body;
pub mod client;
pub mod contract;
pub mod endpoint;
pub mod import;
pub mod mapping;
pub mod records;

#[cfg(test)]
mod parse_tests;
