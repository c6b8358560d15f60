//! `dondoc sync`: one pass now through [`crate::jobs::sync`] (the daemon's sync fire runs the
//! same function), printed as a table, with the backfill, the rates under target and the mail.
//! It never syncs, evaluates or mails by itself: it prepares the arguments and prints the report.

use super::*;
use crate::jobs;

/// `--from`: YYYY-MM-DD (local midnight in Asia/Ho_Chi_Minh) or an RFC 3339 instant.
pub(super) fn parse_from(s: &str) -> Result<Epoch, Failure> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.timestamp());
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(chrono_tz::Asia::Ho_Chi_Minh).single())
        .map(|t| t.timestamp())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--from '{s}' is neither a date YYYY-MM-DD nor an RFC 3339 instant such as 2024-06-01T00:00:00+07:00"
            ))
        })
}

pub(super) async fn sync(
    settings: Settings,
    clock: Arc<dyn Clock>,
    args: &SyncArgs,
) -> Result<(), Failure> {
    let dry_run = args.dry_run;
    if let Some(name) = &args.source
        && !settings.sources.contains_key(name)
    {
        let names: Vec<&str> = settings.sources.keys().map(String::as_str).collect();
        return Err(Failure::usage(format!(
            "--source '{name}' is not a configured source; the sources are {}",
            names.join(", ")
        )));
    }
    let from = args.from.as_deref().map(parse_from).transpose()?;
    if from.is_some() && dry_run {
        return Err(Failure::usage(
            "--from changes the stored mark: it cannot go with --dry-run",
        ));
    }
    let _sim = start_configured_simulator(&settings, clock.clone()).await?;
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let mode = if dry_run {
        crate::sync::Mode::DryRun
    } else {
        crate::sync::Mode::Store
    };
    if let (Some(name), Some(from)) = (&args.source, from) {
        let changes = crate::sync::set_marks(&app, name, from)
            .await
            .map_err(Failure::usage)?;
        for c in changes {
            println!(
                "{name}/{}: mark set from {} to {}; this pass reads what changed since then",
                c.endpoint,
                c.before.map(rfc3339).unwrap_or_else(|| "none".into()),
                rfc3339(c.after)
            );
        }
    }
    let mut progress = super::backfill::backfill_progress();
    // The table as soon as the pass is done (the backfill after it may take minutes).
    let mut table = |report: &crate::sync::SyncReport| print!("{}", sync_table(report, dry_run));
    let opts = jobs::sync::Options {
        mode,
        only: args.source.as_deref(),
        backfill_budget: None,
        progress: Some(&mut progress),
        mail: jobs::sync::Mail::DueDigestAndDeliver,
        synced: Some(&mut table),
        evaluated: None,
    };
    let done = jobs::sync::run_once(&app, now, opts).await;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            app.store.close().await;
            return Err(job_failure(e));
        }
    };
    let report = &done.sync;
    let mut out = std::io::stdout().lock();
    let (Some(evaluations), Some(alerts)) = (&done.evaluations, &done.alerts) else {
        // A dry run: nothing stored, nothing evaluated.
        drop(out);
        app.store.close().await;
        return sync_result(report);
    };
    if let Some(history) = done.backfill.as_ref().filter(|h| h.computed > 0) {
        let _ = writeln!(out, "{}", super::backfill::backfill_summary(history));
    }
    if let Some(q) = evaluations
        .iter()
        .find(|e| e.period.kind == PeriodKind::Quarter)
    {
        let breaches: Vec<&Row> = q
            .rows
            .iter()
            .filter(|r| r.state == RowState::Breach)
            .collect();
        let units: std::collections::BTreeSet<&str> =
            breaches.iter().map(|r| r.unit.as_str()).collect();
        let _ = writeln!(
            out,
            "\n{}: {} rate(s) under target in {} unit(s). `dondoc status` shows them.",
            q.period.label_vi(),
            breaches.len(),
            units.len()
        );
    }
    match &alerts.not_mailed {
        Some(why) => {
            let _ = writeln!(out, "Alerts: {why}.");
        }
        None => {
            let d = &alerts.delivery;
            let _ = writeln!(
                out,
                "Alerts: {} digest message(s) queued{}; {} sent, {} to retry, {} failed.",
                alerts.queued,
                alerts
                    .digest_fire
                    .map(|f| format!(" for the {} digest", to_local(f).format("%d/%m %H:%M")))
                    .unwrap_or_default(),
                d.sent,
                d.retried,
                d.failed
            );
        }
    }
    drop(out);
    app.store.close().await;
    sync_result(report)
}

/// The pass as a table, one line per source endpoint.
fn sync_table(report: &crate::sync::SyncReport, dry_run: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if dry_run {
        let _ = writeln!(
            out,
            "Dry run: every page fetched and validated; nothing stored."
        );
    }
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>9} {:>9} {:>9} {:>6} {:>9}  result",
        "source", "endpoint", "fetched", "stored", "rejected", "pages", "time"
    );
    for e in &report.endpoints {
        let result = match &e.error {
            None => "ok".to_string(),
            Some(err) => format!("FAILED: {err}"),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:>9} {:>9} {:>9} {:>6} {:>8.3}s  {result}",
            e.source,
            e.endpoint,
            e.fetched,
            e.stored,
            e.rejected,
            e.pages,
            e.duration_ms as f64 / 1000.0
        );
    }
    out
}

/// How a sync job's error ends the command: a `[smtp]` that cannot make a mailer is a
/// configuration error (2), the rest failed work (1).
fn job_failure(e: jobs::JobError) -> Failure {
    match e {
        jobs::JobError::Mailer(e) => Failure::usage(format!("smtp: {e}")),
        jobs::JobError::Backfill(e) | jobs::JobError::Store(e) => Failure::work(e.to_string()),
        other => Failure::work(other.to_string()),
    }
}

pub(super) fn sync_result(report: &crate::sync::SyncReport) -> Result<(), Failure> {
    let failures = report.failures();
    if failures.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        Err(Failure::work(format!(
            "sync failed for {}",
            names.join("; ")
        )))
    }
}
