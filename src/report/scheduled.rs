//! The scheduled report: the daemon's `reports` job (cron `reports.schedule`, by default 08:00 on
//! the 5th of March, June, September and December), so that the report reaches the Home Affairs
//! office a week before the commitment letter's deadline (the 12th of the quarter's last month,
//! and 12 December for the year).
//!
//! Choices, written down:
//! - A fire reports on the quarter named by the calendar quarter of the fire's local date, cut on
//!   `reports.basis` (default `reporting`: the fire of 5 June reports on `2024-Q2`, 15 March to
//!   14 June); a fire in December reports on the year too (the same cron covers both). A fire
//!   after the 14th on the reporting basis still names its calendar quarter, whose reporting
//!   period has then ended: its numbers are final.
//! - The numbers are those at the fire (`as_of = fire`), whenever the job actually runs, so that a
//!   retry composes the same report. A fire before the period's end gives the period to date; the
//!   report says so in its header ("kỳ chưa kết thúc: số liệu lũy kế đến …").
//! - One mail to `reports.recipients` (cc `reports.cc`) per period, with the xlsx attached and the
//!   summary as its text and HTML body; with `reports.unit_extracts = true`, one mail to each unit
//!   with `emails` (the root excepted: its numbers are the summary) with its one-page extract,
//!   attached as a one-sheet xlsx and written in the body.
//! - Sent through the outbox like the alert digests: the Message-ID is derived from the report,
//!   the period, the basis and the fire, so a fire served twice queues its mail once.
//! - A fire more than [`MAX_DELAY_SECS`] (7 days) old is not served: the deadline has passed, and
//!   `dondoc report` makes the report by hand. Without `[smtp]`, or with neither recipients nor
//!   unit extracts, the job does nothing and says why.

use super::model::{Report, build};
use super::{ReportError, XLSX_TYPE, file_name, html, xlsx};
use crate::app::App;
use crate::config::Settings;
use crate::domain::mail::{Attachment, OutgoingMail};
use crate::domain::periods::{Basis, ReportPeriod};
use crate::domain::time::{Epoch, rfc3339, to_local};
use crate::domain::{Period, PeriodKind};
use chrono::Datelike;

/// The job's name in `job_runs`.
pub const JOB: &str = "reports";

/// How late a fire may still be served (the report is due a week after the default fire).
pub const MAX_DELAY_SECS: i64 = 7 * 86_400;

/// What one fire did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// The periods reported on (`2024-Q2`, `2024`).
    pub periods: Vec<String>,
    /// Messages queued (0 when they were already queued for this fire).
    pub queued: usize,
    /// Why nothing was composed, when nothing was.
    pub skipped: Option<String>,
}

/// The periods a fire reports on (see the module docs).
pub fn periods_for_fire(fire: Epoch, basis: Basis) -> Vec<ReportPeriod> {
    let mut out = vec![ReportPeriod::new(
        Period::containing(PeriodKind::Quarter, fire),
        basis,
    )];
    if to_local(fire).month() == 12 {
        out.push(ReportPeriod::new(
            Period::containing(PeriodKind::Year, fire),
            basis,
        ));
    }
    out
}

/// A deterministic Message-ID: `dondoc.report.2024-Q2.reporting.20240605T080000@domain`.
pub fn message_id(
    kind: &str,
    who: Option<&str>,
    p: &ReportPeriod,
    fire: Epoch,
    s: &Settings,
) -> String {
    let domain = s
        .smtp
        .as_ref()
        .and_then(|m| {
            crate::config::validate::mailbox_address(&m.from)
                .rsplit_once('@')
                .map(|(_, d)| d.to_string())
        })
        .unwrap_or_else(|| "dondoc".into());
    let safe = |x: &str| -> String {
        x.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let who = who.map(|w| format!("{}.", safe(w))).unwrap_or_default();
    format!(
        "dondoc.{kind}.{who}{}.{}.{}@{domain}",
        p.period,
        p.basis.as_str(),
        to_local(fire).format("%Y%m%dT%H%M%S")
    )
}

/// The mail of one report: the summary to the recipients, and the unit extracts when asked for.
pub fn compose(
    s: &Settings,
    r: &Report,
    fire: Epoch,
) -> Result<Vec<(String, OutgoingMail)>, ReportError> {
    let mut mails = Vec::new();
    let cfg = &s.reports;
    if !cfg.recipients.is_empty() {
        let name = file_name(r, "xlsx");
        let (subject, text, html) = html::summary_mail(r, &cfg.addressee, &name);
        mails.push((
            "report".to_string(),
            OutgoingMail {
                message_id: message_id("report", None, &r.period, fire, s),
                to: cfg.recipients.clone(),
                cc: cfg.cc.clone(),
                subject,
                text,
                html: Some(html),
                attachment: Some(Attachment {
                    filename: name,
                    content_type: XLSX_TYPE.to_string(),
                    bytes: xlsx::workbook(r)?,
                }),
            },
        ));
    }
    if cfg.unit_extracts {
        let tree = crate::rates::UnitTree::new(s);
        for node in tree.units.iter().filter(|u| u.depth > 0) {
            let Some(unit) = s.units.iter().find(|u| u.code == node.code) else {
                continue;
            };
            if unit.emails.is_empty() {
                continue;
            }
            let (subject, text, html) = html::extract_mail(r, &unit.code, &unit.name);
            mails.push((
                "report_unit".to_string(),
                OutgoingMail {
                    message_id: message_id("report-unit", Some(&unit.code), &r.period, fire, s),
                    to: unit.emails.clone(),
                    cc: Vec::new(),
                    subject,
                    text,
                    html: Some(html),
                    attachment: Some(Attachment {
                        filename: format!(
                            "ket-qua-{}-{}.xlsx",
                            unit.code.to_lowercase(),
                            r.period.slug()
                        ),
                        content_type: XLSX_TYPE.to_string(),
                        bytes: xlsx::unit_extract(r, &unit.code)?,
                    }),
                },
            ));
        }
    }
    Ok(mails)
}

fn skipped(why: impl Into<String>) -> Outcome {
    let why = why.into();
    tracing::warn!(job = JOB, "{why}");
    Outcome {
        skipped: Some(why),
        ..Default::default()
    }
}

/// The job for the fire at `fire`: builds the reports of the fire's periods at `fire`, composes
/// their mail and queues it in the outbox (once per Message-ID). Delivery is the caller's (the
/// daemon delivers right after).
pub async fn run_once(app: &App, fire: Epoch, now: Epoch) -> Result<Outcome, ReportError> {
    let s = &app.settings;
    if s.smtp.is_none() {
        return Ok(skipped(
            "no [smtp] section: the scheduled report is not mailed (dondoc report makes it by hand)",
        ));
    }
    if now - fire > MAX_DELAY_SECS {
        return Ok(skipped(format!(
            "the report fire of {} is more than 7 days old: not sent now; make it by hand with dondoc report",
            rfc3339(fire)
        )));
    }
    if s.reports.recipients.is_empty() && !s.reports.unit_extracts {
        return Ok(skipped(
            "reports.recipients is empty and reports.unit_extracts is off: no report to mail",
        ));
    }
    let mut outcome = Outcome::default();
    let mut mails = Vec::new();
    for p in periods_for_fire(fire, s.reports.basis) {
        let r = build(&app.store, s, p, fire, now).await?;
        mails.extend(compose(s, &r, fire)?);
        outcome.periods.push(p.period.to_string());
    }
    outcome.queued = app.store.commit_digest(&mails, &[], now).await?;
    tracing::info!(
        job = JOB,
        fire = %rfc3339(fire),
        periods = %outcome.periods.join(", "),
        composed = mails.len(),
        queued = outcome.queued,
        "commitment report queued"
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::parse_compact;

    fn at(s: &str) -> Epoch {
        parse_compact(s).unwrap().unwrap()
    }

    #[test]
    fn a_fire_reports_on_its_quarter_and_in_december_on_the_year() {
        let names = |t: &str| -> Vec<String> {
            periods_for_fire(at(t), Basis::Reporting)
                .iter()
                .map(|p| p.period.to_string())
                .collect()
        };
        assert_eq!(names("20240605080000"), ["2024-Q2"]);
        assert_eq!(names("20240905080000"), ["2024-Q3"]);
        assert_eq!(names("20241205080000"), ["2024-Q4", "2024"]);
        // After the 14th the calendar quarter is still the one named.
        assert_eq!(names("20240620080000"), ["2024-Q2"]);
    }
}
