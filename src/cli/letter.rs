//! `dondoc letter forms|import|status` (issue 20): the commitment letter's forms, returned forms
//! and consolidation. It never mails (the letter job does).

use super::*;

/// `dondoc letter …` (issue 20).
pub(super) async fn letter(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &LetterCommand,
) -> Result<(), Failure> {
    use crate::letter::{LetterError, forms, import, register, status};
    if settings.commitments.is_empty() {
        return Err(Failure::usage(
            "the configuration has no [[commitments]]: add the letter's criteria (see docs/letter.md)",
        ));
    }
    let now = epoch(clock.now());
    let period_of = |p: Option<&str>, as_of: Epoch| -> Result<Period, Failure> {
        match p {
            Some(p) => register::parse_period(p).map_err(Failure::usage),
            None => Ok(Period::containing(PeriodKind::Quarter, as_of)),
        }
    };
    let letter_err = |e: LetterError| match e {
        LetterError::Usage(m) => Failure::usage(m),
        other => Failure::work(other.to_string()),
    };
    match a {
        LetterCommand::Forms { period, out, as_of } => {
            let as_of = parse_as_of(as_of.as_deref(), clock.as_ref())?;
            let p = period_of(Some(period), as_of)?;
            std::fs::create_dir_all(out).map_err(|e| {
                Failure::work(format!("cannot create the folder {}: {e}", out.display()))
            })?;
            let app = App::build(settings, clock).await?;
            let built = status::build(&app.store, &app.settings, p, as_of).await;
            app.store.close().await;
            let c = built?;
            let units = register::form_units(&app.settings, p);
            for unit in &units {
                let bytes = forms::workbook(&app.settings, &c, unit).map_err(letter_err)?;
                let path = out.join(forms::file_name(unit));
                std::fs::write(&path, bytes)
                    .map_err(|e| Failure::work(format!("cannot write {}: {e}", path.display())))?;
                println!("{}", path.display());
            }
            eprintln!(
                "{} forms of {p} written into {} (due {})",
                units.len(),
                out.display(),
                register::deadline_date(p).format("%d/%m/%Y")
            );
            Ok(())
        }
        LetterCommand::Import { file } => {
            let app = App::build(settings, clock).await?;
            let done = import::import_file(&app.store, &app.settings, file, now).await;
            app.store.close().await;
            let done = done.map_err(letter_err)?;
            if done.unchanged {
                println!(
                    "{}: the same form as submission {} of {} for {}: nothing new recorded",
                    file.display(),
                    done.seq,
                    done.unit,
                    done.period
                );
            } else {
                println!(
                    "{}: recorded as submission {} of {} for {} ({} values)",
                    file.display(),
                    done.seq,
                    done.unit,
                    done.period,
                    done.values
                );
            }
            Ok(())
        }
        LetterCommand::Status {
            period,
            as_of,
            format,
        } => {
            let as_of = parse_as_of(as_of.as_deref(), clock.as_ref())?;
            let p = period_of(period.as_deref(), as_of)?;
            let app = App::build(settings, clock).await?;
            let built = status::build(&app.store, &app.settings, p, as_of).await;
            app.store.close().await;
            let c = built?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&c).map_err(|e| Failure::work(e.to_string()))?
                ),
                Format::Table => print!("{}", status::table(&c)),
                Format::Csv => {
                    let mut w = ::csv::Writer::from_writer(Vec::new());
                    let _ = w.write_record([
                        "criterion",
                        "unit",
                        "value",
                        "target",
                        "state",
                        "evidence",
                        "note",
                    ]);
                    for r in &c.rows {
                        let _ = w.write_record([
                            r.criterion.as_str(),
                            r.unit.as_str(),
                            r.value.as_deref().unwrap_or(""),
                            r.target.as_str(),
                            r.state.as_str(),
                            r.evidence.as_str(),
                            r.note.as_str(),
                        ]);
                    }
                    let bytes = w.into_inner().map_err(|e| Failure::work(e.to_string()))?;
                    print!("{}", String::from_utf8_lossy(&bytes));
                }
            }
            Ok(())
        }
    }
}
