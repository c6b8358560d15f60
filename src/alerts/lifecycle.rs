//! The alert lifecycle: a pure state machine over one (unit, metric, scope, period).
//!
//! - A `breach` in `pending_evaluations` consecutive evaluations fires the alert (one bad sync
//!   mails nobody); an `ok` resolves it; `insufficient_sample`, `no_data` and `untargeted` neither
//!   fire nor resolve (and do not break a run of breaches).
//! - A rate still on target but within `warn_margin` points of it, whose series has worsened over
//!   the trend window, gets a warning (once per `repeat_days`).
//! - Each change that the unit must hear of leaves a [`Notice`] on the record; the digest turns
//!   notices into mail and clears them in the same transaction that queues the mail. A firing
//!   alert is repeated (a "continuing" entry) every `repeat_days` since it was last mailed.
//! - An alert that fires and resolves between two digests was never announced: it is dropped
//!   silently rather than "resolved" to someone who never heard of it.
//!
//! Pure: no clock (the instant is passed in), no I/O.

use crate::domain::time::Epoch;
use crate::rates::{RowState, TargetView};

pub use crate::domain::alert::{AlertKey, AlertRecord, Notice, Phase};

impl AlertRecord {
    fn new(key: AlertKey, now: Epoch) -> Self {
        AlertRecord {
            key,
            phase: Phase::Clear,
            breach_count: 0,
            first_breach_at: None,
            fired_at: None,
            resolved_at: None,
            last_notified_at: None,
            notice: None,
            numerator: 0,
            denominator: 0,
            notified_numerator: None,
            notified_denominator: None,
            detail: None,
            updated_at: now,
        }
    }

    /// Whether the next digest should mention this alert at `now`.
    pub fn due(&self, policy: &Policy, now: Epoch) -> bool {
        self.notice.is_some() || (self.phase == Phase::Firing && self.repeat_due(policy, now))
    }

    fn repeat_due(&self, policy: &Policy, now: Epoch) -> bool {
        self.last_notified_at
            .is_none_or(|t| now - t >= policy.repeat_secs)
    }

    /// Marks the alert as told at `now` (the digest calls this in the transaction that queues
    /// the mail).
    pub fn notified(&mut self, now: Epoch) {
        self.notice = None;
        self.last_notified_at = Some(now);
        self.notified_numerator = Some(self.numerator);
        self.notified_denominator = Some(self.denominator);
        if self.phase == Phase::Resolved {
            self.phase = Phase::Clear;
        }
    }
}

/// The settings the lifecycle obeys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub pending_evaluations: u32,
    pub repeat_secs: i64,
    pub send_resolved: bool,
    /// Percentage points.
    pub warn_margin: f64,
}

impl Policy {
    pub fn from_settings(a: &crate::config::AlertSettings) -> Policy {
        Policy {
            pending_evaluations: a.pending_evaluations.max(1),
            repeat_secs: i64::from(a.repeat_days) * 86_400,
            send_resolved: a.send_resolved,
            warn_margin: a.warn_margin,
        }
    }
}

/// One evaluation of the alert's row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub state: RowState,
    pub numerator: i64,
    pub denominator: i64,
    pub target: Option<TargetView>,
    /// The stored series has worsened over the trend window (fallen for a `min` target, risen
    /// for a `max` target).
    pub worsening: bool,
}

impl Observation {
    /// On target but within `margin` points of it.
    pub fn near_target(&self, margin: f64) -> bool {
        if self.state != RowState::Ok || self.denominator == 0 {
            return false;
        }
        let pct = 100.0 * self.numerator as f64 / self.denominator as f64;
        match self.target {
            Some(TargetView { min: Some(min), .. }) => pct - min < margin,
            Some(TargetView { max: Some(max), .. }) => max - pct < margin,
            _ => false,
        }
    }
}

/// The record after one evaluation. `prev` is the stored record, if any.
pub fn step(
    prev: Option<&AlertRecord>,
    key: &AlertKey,
    obs: &Observation,
    policy: &Policy,
    now: Epoch,
) -> AlertRecord {
    let mut r = prev
        .cloned()
        .unwrap_or_else(|| AlertRecord::new(key.clone(), now));
    match obs.state {
        RowState::InsufficientSample | RowState::NoData | RowState::Untargeted => return r,
        RowState::Breach => {
            r.numerator = obs.numerator;
            r.denominator = obs.denominator;
            r.updated_at = now;
            match r.phase {
                Phase::Firing => r.breach_count += 1,
                Phase::Pending => r.breach_count += 1,
                Phase::Clear | Phase::Resolved | Phase::Warning => {
                    if r.phase == Phase::Warning && r.notice == Some(Notice::Warning) {
                        r.notice = None; // the breach supersedes an unsent warning
                    }
                    if r.phase == Phase::Resolved && r.notice == Some(Notice::Resolved) {
                        r.notice = None; // back in breach before the unit heard it had recovered
                    }
                    r.phase = Phase::Pending;
                    r.breach_count = 1;
                    r.first_breach_at = Some(now);
                }
            }
            if r.phase == Phase::Pending && r.breach_count >= policy.pending_evaluations {
                r.phase = Phase::Firing;
                r.fired_at = Some(now);
                r.resolved_at = None;
                r.notice = Some(Notice::New);
            }
        }
        RowState::Ok => {
            r.numerator = obs.numerator;
            r.denominator = obs.denominator;
            r.updated_at = now;
            match r.phase {
                Phase::Firing => {
                    r.breach_count = 0;
                    r.resolved_at = Some(now);
                    if r.notice == Some(Notice::New) {
                        // Fired and recovered between two digests: nobody was told; say nothing.
                        r.notice = None;
                        r.phase = Phase::Clear;
                    } else if policy.send_resolved {
                        r.phase = Phase::Resolved;
                        r.notice = Some(Notice::Resolved);
                    } else {
                        r.phase = Phase::Clear;
                        r.notice = None;
                    }
                }
                Phase::Pending => {
                    r.phase = Phase::Clear;
                    r.breach_count = 0;
                }
                Phase::Resolved | Phase::Clear | Phase::Warning => {}
            }
            let near = obs.near_target(policy.warn_margin) && obs.worsening;
            match r.phase {
                Phase::Clear
                    if near
                        && r.last_notified_at
                            .is_none_or(|t| now - t >= policy.repeat_secs) =>
                {
                    r.phase = Phase::Warning;
                    r.notice = Some(Notice::Warning);
                }
                Phase::Warning if !near => {
                    r.phase = Phase::Clear;
                    r.notice = None;
                }
                Phase::Warning
                    if r.notice.is_none()
                        && r.last_notified_at
                            .is_some_and(|t| now - t >= policy.repeat_secs) =>
                {
                    r.notice = Some(Notice::Warning);
                }
                _ => {}
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        pending_evaluations: 2,
        repeat_secs: 7 * 86_400,
        send_resolved: true,
        warn_margin: 2.0,
    };
    const TARGET: Option<TargetView> = Some(TargetView {
        min: Some(70.0),
        max: None,
        min_sample: 20,
    });

    fn key() -> AlertKey {
        AlertKey {
            unit: "PHUONG_1".into(),
            metric: "online_rate".into(),
            scope: String::new(),
            period: "2024-Q2".into(),
        }
    }

    fn obs(state: RowState, n: i64, d: i64) -> Observation {
        Observation {
            state,
            numerator: n,
            denominator: d,
            target: TARGET,
            worsening: false,
        }
    }

    fn run(seq: &[(RowState, i64, i64)]) -> AlertRecord {
        let mut r: Option<AlertRecord> = None;
        for (i, (s, n, d)) in seq.iter().enumerate() {
            r = Some(step(
                r.as_ref(),
                &key(),
                &obs(*s, *n, *d),
                &POLICY,
                i as i64 * 900,
            ));
        }
        r.unwrap()
    }

    #[test]
    fn one_breach_is_pending_two_fire() {
        let r = run(&[(RowState::Breach, 50, 100)]);
        assert_eq!((r.phase, r.notice), (Phase::Pending, None));
        let r = run(&[(RowState::Breach, 50, 100), (RowState::Breach, 51, 100)]);
        assert_eq!(
            (r.phase, r.notice, r.fired_at),
            (Phase::Firing, Some(Notice::New), Some(900))
        );
        assert_eq!((r.numerator, r.denominator), (51, 100));
    }

    #[test]
    fn small_samples_neither_fire_nor_resolve_nor_break_the_run() {
        let r = run(&[
            (RowState::Breach, 5, 100),
            (RowState::InsufficientSample, 1, 3),
            (RowState::Breach, 5, 100),
        ]);
        assert_eq!(r.phase, Phase::Firing);
        let r = run(&[
            (RowState::Breach, 5, 100),
            (RowState::Breach, 5, 100),
            (RowState::NoData, 0, 0),
        ]);
        assert_eq!(r.phase, Phase::Firing);
    }

    #[test]
    fn an_ok_between_breaches_starts_the_count_again() {
        let r = run(&[
            (RowState::Breach, 5, 100),
            (RowState::Ok, 80, 100),
            (RowState::Breach, 5, 100),
        ]);
        assert_eq!((r.phase, r.breach_count), (Phase::Pending, 1));
    }

    #[test]
    fn a_told_alert_resolves_with_a_notice_and_repeats_while_it_lasts() {
        let mut r = run(&[(RowState::Breach, 5, 100), (RowState::Breach, 5, 100)]);
        assert!(r.due(&POLICY, 1000));
        r.notified(1000);
        assert!(!r.due(&POLICY, 1000 + 86_400));
        assert!(
            r.due(&POLICY, 1000 + 7 * 86_400),
            "repeat after repeat_days"
        );
        let r = step(Some(&r), &key(), &obs(RowState::Ok, 75, 100), &POLICY, 5000);
        assert_eq!(
            (r.phase, r.notice),
            (Phase::Resolved, Some(Notice::Resolved))
        );
    }

    #[test]
    fn an_untold_alert_that_recovers_is_dropped_silently() {
        let r = run(&[
            (RowState::Breach, 5, 100),
            (RowState::Breach, 5, 100),
            (RowState::Ok, 75, 100),
        ]);
        assert_eq!((r.phase, r.notice), (Phase::Clear, None));
    }

    #[test]
    fn a_close_and_worsening_rate_gets_a_warning_once_per_repeat() {
        let mut o = obs(RowState::Ok, 71, 100);
        o.worsening = true;
        let r = step(None, &key(), &o, &POLICY, 0);
        assert_eq!((r.phase, r.notice), (Phase::Warning, Some(Notice::Warning)));
        let mut r = r;
        r.notified(10);
        let r2 = step(Some(&r), &key(), &o, &POLICY, 20);
        assert_eq!(r2.notice, None, "not again before repeat_days");
        let r3 = step(Some(&r2), &key(), &o, &POLICY, 10 + 7 * 86_400);
        assert_eq!(r3.notice, Some(Notice::Warning));
        // Not worsening, or not close: no warning.
        let calm = step(None, &key(), &obs(RowState::Ok, 71, 100), &POLICY, 0);
        assert_eq!(calm.phase, Phase::Clear);
        let mut far = obs(RowState::Ok, 90, 100);
        far.worsening = true;
        assert_eq!(step(None, &key(), &far, &POLICY, 0).phase, Phase::Clear);
    }

    #[test]
    fn near_target_reads_max_targets_the_other_way() {
        let o = Observation {
            state: RowState::Ok,
            numerator: 9,
            denominator: 1000,
            target: Some(TargetView {
                min: None,
                max: Some(1.0),
                min_sample: 20,
            }),
            worsening: true,
        };
        assert!(o.near_target(2.0));
        assert!(!o.near_target(0.05));
    }
}
