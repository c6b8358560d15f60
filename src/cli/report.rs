//! `dondoc report`: the commitment report of one period, written as xlsx, csv or html. It reads
//! the database only and never writes half a file (written beside the target, then renamed).

use super::*;

/// `dondoc report`: builds the report of one period from the database and writes it.
pub(super) async fn report(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &ReportArgs,
) -> Result<(), Failure> {
    use crate::report::{self, ReportPeriod};
    use std::io::IsTerminal as _;
    let as_of = parse_as_of(a.as_of.as_deref(), clock.as_ref())?;
    let to_stdout = a.out.as_os_str() == "-";
    let Some(format) = a.format.or_else(|| report::Format::from_path(&a.out)) else {
        return Err(Failure::usage(format!(
            "say which format to write: --format xlsx|csv|html (or an --out ending in .xlsx, .csv or .html, not '{}')",
            a.out.display()
        )));
    };
    if to_stdout && format == report::Format::Xlsx && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "an xlsx workbook is binary: give --out FILE.xlsx, or redirect standard output",
        ));
    }
    let period = ReportPeriod::new(a.period, a.basis.unwrap_or(settings.reports.basis));
    if as_of < period.start {
        return Err(Failure::usage(format!(
            "{} ({}, {} basis) has not begun at --as-of {}",
            period.period,
            period.bounds_vi(),
            period.basis.as_str(),
            rfc3339(as_of)
        )));
    }
    let generated_at = epoch(clock.now());
    let app = App::build(settings, clock).await?;
    let built = report::build(&app.store, &app.settings, period, as_of, generated_at).await;
    app.store.close().await;
    let r = built?;
    let bytes = format
        .render(&r)
        .map_err(|e| Failure::work(e.to_string()))?;
    if to_stdout {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(&bytes)
            .and_then(|_| out.flush())
            .map_err(|e| {
                Failure::work(format!("cannot write the report to standard output: {e}"))
            });
    }
    // Written beside the target, then renamed: a reader never sees half a file.
    let name = a
        .out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".into());
    let tmp = a
        .out
        .with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &a.out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::work(format!(
            "cannot write {}: {e}",
            a.out.display()
        )));
    }
    let to_act: i64 = r.actions.iter().map(|x| x.total).sum();
    println!(
        "Wrote {} ({} bytes): {} {} ({}, {} basis) as of {}{}; {} committed criteria, {} missed city-wide; {to_act} dossier(s) to act on.",
        a.out.display(),
        bytes.len(),
        r.city,
        r.period.label_vi(),
        r.period.bounds_vi(),
        r.period.basis.as_str(),
        rfc3339(r.as_of),
        if r.is_final() {
            ""
        } else {
            " (period to date)"
        },
        r.criteria.len(),
        r.city_breaches()
    );
    Ok(())
}
