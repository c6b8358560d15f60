//! An alert as the store keeps it: its identity (unit, metric, scope, period), where it stands
//! and what the next digest must tell. The state machine that moves it lives in
//! `crate::alerts::lifecycle`; this module holds the data only and must never decide anything.

use super::time::Epoch;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing to say.
    Clear,
    /// In breach, not yet for `pending_evaluations` evaluations.
    Pending,
    Firing,
    Resolved,
    /// On target, close to it, and worsening.
    Warning,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Clear => "clear",
            Phase::Pending => "pending",
            Phase::Firing => "firing",
            Phase::Resolved => "resolved",
            Phase::Warning => "warning",
        }
    }

    pub fn parse(s: &str) -> Phase {
        match s {
            "pending" => Phase::Pending,
            "firing" => Phase::Firing,
            "resolved" => Phase::Resolved,
            "warning" => Phase::Warning,
            _ => Phase::Clear,
        }
    }
}

/// What the next digest must tell the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    New,
    Resolved,
    Warning,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::New => "new",
            Notice::Resolved => "resolved",
            Notice::Warning => "warning",
        }
    }

    pub fn parse(s: &str) -> Option<Notice> {
        match s {
            "new" => Some(Notice::New),
            "resolved" => Some(Notice::Resolved),
            "warning" => Some(Notice::Warning),
            _ => None,
        }
    }
}

/// The identity of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub unit: String,
    pub metric: String,
    /// `""` when unscoped.
    pub scope: String,
    pub period: String,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub key: AlertKey,
    pub phase: Phase,
    pub breach_count: u32,
    pub first_breach_at: Option<Epoch>,
    pub fired_at: Option<Epoch>,
    pub resolved_at: Option<Epoch>,
    pub last_notified_at: Option<Epoch>,
    pub notice: Option<Notice>,
    pub numerator: i64,
    pub denominator: i64,
    pub notified_numerator: Option<i64>,
    pub notified_denominator: Option<i64>,
    pub detail: Option<String>,
    pub updated_at: Epoch,
}
