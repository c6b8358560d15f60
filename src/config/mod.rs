//! dondoc's configuration: the one TOML file administrators edit (`../shared/spec/config.md`).
//!
//! - [`types`]: the shape of the file, with every default;
//! - [`load`]: layering (file, then `DONDOC__…` environment overrides, then `*_file` secrets);
//! - [`validate`]: every problem at once, each with its key path and line.
//!
//! This module must never log a secret: tokens and passwords are [`secrecy::SecretString`],
//! whose `Debug` prints a placeholder. It performs no network or database I/O.

pub mod load;
pub mod mapping;
pub mod types;
pub mod validate;

pub use load::{ConfigError, LoadedConfig, Problem, load, load_from_str};
pub use types::*;
