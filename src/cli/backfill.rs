//! `dondoc backfill`: the samples of past days from the stored records. It never contacts a
//! source; progress goes to a terminal's standard error only.

use super::*;

/// A progress line on a terminal (stderr), nothing otherwise.
pub(super) fn backfill_progress() -> impl FnMut(usize, usize, chrono::NaiveDate) + Send {
    use std::io::IsTerminal as _;
    let tty = std::io::stderr().is_terminal();
    move |done, total, day| {
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rbackfill: {done}/{total} days (back to {day})   ");
            if done == total {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
    }
}

pub(super) fn backfill_summary(r: &rates::backfill::Report) -> String {
    match (&r.first_day, &r.last_day) {
        (Some(a), Some(b)) => format!(
            "History {a} … {b}: {} day(s) computed, {} already stored, {} sample(s) written, in {:.1} s (evaluation {:.1} s).",
            r.computed,
            r.skipped,
            r.written,
            r.elapsed_ms as f64 / 1000.0,
            r.evaluation_ms as f64 / 1000.0
        ),
        _ => "History: no past day to compute (nothing stored yet, or the range is empty).".into(),
    }
}

pub(super) async fn backfill(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &BackfillArgs,
) -> Result<(), Failure> {
    if let (Some(f), Some(t)) = (a.from, a.to)
        && f > t
    {
        return Err(Failure::usage(format!(
            "--from {f} is after --to {t}: give the first day, then the last"
        )));
    }
    let app = App::build(settings, clock.clone()).await?;
    let opts = rates::backfill::Options {
        from: a.from,
        to: a.to,
        recompute: a.recompute,
        budget: None,
    };
    let mut progress = backfill_progress();
    let report = rates::backfill::run(&app, epoch(clock.now()), opts, &mut progress).await;
    app.store.close().await;
    let report = report?;
    println!("{}", backfill_summary(&report));
    Ok(())
}
