//! Schedules: cron expressions (the cron crate's form, seconds first) evaluated in
//! Asia/Ho_Chi_Minh. This module only computes *when*; it never runs a job.

use crate::domain::time::ZONE;
use chrono::{DateTime, Utc};
use std::str::FromStr;

/// A cron expression that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    inner: cron::Schedule,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        if let Some(problem) = crate::config::validate::cron_problem(expr) {
            return Err(ScheduleError(problem));
        }
        let inner = cron::Schedule::from_str(expr).map_err(|e| ScheduleError(e.to_string()))?;
        Ok(Schedule {
            expr: expr.to_string(),
            inner,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Every fire time strictly after `after`, in local time, in order.
    pub fn fires_after(
        &self,
        after: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<chrono_tz::Tz>> + '_ {
        self.inner.after(&after.with_timezone(&ZONE))
    }

    /// The next `n` fire times strictly after `after`, in local time.
    pub fn next_fires(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<chrono_tz::Tz>> {
        self.inner
            .after(&after.with_timezone(&ZONE))
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_schedule_fires_at_local_eight_on_working_days() {
        let s = Schedule::parse("0 0 8 * * Mon-Fri").unwrap();
        // Friday 2024-05-03 09:00 local = 02:00 UTC
        let after = DateTime::parse_from_rfc3339("2024-05-03T09:00:00+07:00")
            .unwrap()
            .to_utc();
        let fires: Vec<String> = s
            .next_fires(after, 2)
            .iter()
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            fires,
            ["2024-05-06T08:00:00+07:00", "2024-05-07T08:00:00+07:00"]
        );
    }

    #[test]
    fn five_field_expressions_are_explained() {
        let e = Schedule::parse("*/15 * * * *").unwrap_err();
        assert!(e.to_string().contains("5 fields"), "{e}");
    }
}
