//! dondoc watches how well a Vietnamese city serves its citizens: it polls the electronic
//! one-stop system (Một cửa điện tử) and the document-management system, computes every unit's
//! rates of the PAR Index / SIPAS commitment per month, quarter and year, and keeps them as a time
//! series, so that officials learn early when a unit drifts under its target.
//!
//! Data flows one way:
//!
//! ```text
//! upstream HTTP ─► upstream (sources) ─► sync ─► store ─► rates ─► store (samples) ─► alerts,
//!  (paged JSON,    parse, validate,      the one  upsert,  exact      time series      report,
//!   spreadsheets)  drop personal data    writer   mark in  counts                      http
//!                  → domain records      of pages same txn
//! ```
//!
//! Layers, bottom to top (a module imports only modules of a lower layer; `tests/layering.rs`
//! reads this table and checks every `crate::` path of `src/`):
//!
//! ```text
//! 0  domain, events      records, tallies, metric names, periods, time and the clock, alerts, mail;
//!                        typed internal events that both log and count
//! 1  config              the TOML file, environment overrides, secrets, a mapping as configured
//! 2  telemetry, schedule  logging; cron expressions and their fire times
//! 3  store               the database boundary (SQLite and PostgreSQL, the same operations)
//! 4  upstream            the sources: HTTP client and retry policy, contract, vendor mappings, folder
//! 5  app                 the application handle a job runs with (settings, store, clock, gates)
//! 6  rates               the rules of metrics.md, evaluation, the time series, the backfill
//! 7  sync                one pass from every source into the store; the only writer of pages
//! 8  score               the Decision 766 index and the national portal's figures
//! 9  alerts              lifecycle (pure), letters, outbox, mailer
//! 10 letter              the commitment letter: register, forms, returned forms, consolidation
//! 11 report              the quarterly and annual report (xlsx, csv, html) and its schedule
//! 12 jobs                every job defined once (`run_once`), called by the CLI and the daemon
//! 13 daemon              when the jobs run: fire claims, catch-up, reload, systemd's watchdog
//! 14 http                /healthz, /metrics (Prometheus) and the dashboard, read-only
//! 15 application         the daemon with its HTTP server, as `dondoc run` starts it
//! 16 simulator           a program dondoc ships (demos, tests, benchmarks); only the CLI runs it
//! 17 cli                 the commands of `../shared/spec/cli.md`, one file per command
//! ```
//!
//! When two layers need a type, it belongs lower: that is why [`domain`] holds the records the
//! sources produce and the store keeps, the tallies the store counts and the rates judge, the
//! alert records and the mail the outbox keeps.

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
pub mod config;
pub mod daemon;
pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod letter;
pub mod rates;
pub mod report;
pub mod schedule;
pub mod score;
pub mod simulator;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod upstream;
