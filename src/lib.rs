//! dondoc watches how well a Vietnamese city serves its citizens: it polls the electronic
//! one-stop system (Một cửa điện tử) and the document-management system, computes every unit's
//! rates of the PAR Index / SIPAS commitment per month, quarter and year, and keeps them as a time
//! series, so that officials learn early when a unit drifts under its target.
//!
//! Data flows one way:
//!
//! ```text
//! upstream HTTP ─► upstream::records ─► store ─► metrics ─► store (samples) ─► status / history
//!  (paged JSON)    parse, validate,    upsert,   exact counts,
//!                  drop personal data  mark in   per unit subtree
//!                                      same txn
//! ```
//!
//! The module map:
//! - [`config`]: the TOML file, environment overrides, secrets, validation;
//! - [`upstream`]: the sources (contract lists, vendor mappings, spreadsheet folder) as endpoints
//!   that only read and parse into records; the HTTP client with its retry policy; the simulator;
//! - [`store`]: the database boundary (SQLite and PostgreSQL, the same operations on both);
//! - [`sync`]: the one poll loop and the only writer of pages: every source into the store
//!   (`run_once`);
//! - [`metrics`]: periods, the rules, evaluation and the time series (`run_once`), the backfill
//!   of past days;
//! - [`alerts`]: the alert lifecycle (pure), the letters (one composition for preview and
//!   digest), the outbox and the mailer;
//! - [`score`]: the Decision 766 index as dossier data can estimate it: each unit's points, the
//!   points it loses, what wins them back, and the national portal's published figures beside
//!   them (collected politely, once a day, when `[portal]` is configured);
//! - [`report`]: the quarterly and annual commitment report (xlsx, csv, html), by hand or mailed
//!   on its schedule;
//! - [`letter`]: the commitment letter end to end: the register of criteria, each unit's
//!   pre-filled form, returned forms, the consolidation and its scheduled job;
//! - [`schedule`]: cron expressions and their fire times in Asia/Ho_Chi_Minh;
//! - [`daemon`]: the scheduled jobs, fire claims, reload, systemd's watchdog;
//! - [`http`]: `/healthz`, `/metrics` (Prometheus) and the dashboard, read-only;
//! - [`cli`]: the commands of `../shared/spec/cli.md`;
//! - [`app`], [`clock`], [`time`], [`telemetry`]: the application handle, the injected clock,
//!   instants and the one date parser, logging;
//! - [`application`]: the daemon with its HTTP server, as `dondoc run` starts it.

/// The crate's version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`build.rs`); empty when built outside a clone.
pub const GIT_COMMIT: &str = env!("DONDOC_GIT_COMMIT");
/// The version with the commit as semver build metadata, `0.1.0+1a2b3c4d5e` (just `0.1.0` when
/// the commit is unknown): `dondoc --version`, the User-Agent, `dondoc_build_info`.
pub const VERSION_LONG: &str = env!("DONDOC_VERSION_LONG");
/// The User-Agent of dondoc's requests and mail: `dondoc/0.1.0+1a2b3c4d5e`.
pub const USER_AGENT: &str = concat!("dondoc/", env!("DONDOC_VERSION_LONG"));

pub mod alerts;
pub mod app;
pub mod application;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod http;
pub mod letter;
pub mod metrics;
pub mod report;
pub mod schedule;
pub mod score;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod upstream;
