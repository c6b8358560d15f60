//! `dondoc check-source` and `dondoc import`: one source's mapping shown field by field, and one
//! spreadsheet imported by hand. `check-source` stores nothing.

use super::*;

pub(super) fn source_of<'s>(
    settings: &'s Settings,
    name: &str,
) -> Result<&'s crate::config::SourceSettings, Failure> {
    settings.sources.get(name).ok_or_else(|| {
        let names: Vec<&str> = settings.sources.keys().map(String::as_str).collect();
        Failure::usage(format!(
            "'{name}' is not a configured source; the sources are {}",
            names.join(", ")
        ))
    })
}

/// `dondoc check-source NAME`: see [`crate::upstream::mapping::check`].
pub(super) async fn check_source(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    a: &CheckSourceArgs,
) -> Result<(), Failure> {
    let src = source_of(settings, &a.source)?;
    let text = crate::upstream::mapping::check::check_source(
        &a.source,
        src,
        a.records,
        a.file.as_deref(),
        clock,
    )
    .await
    .map_err(|e| Failure::work(format!("check-source {}: {}", a.source, e.0)))?;
    print!("{text}");
    Ok(())
}

/// `dondoc import FILE --source NAME`: one file through an import source's mapping, stored in
/// one transaction; the report is printed and the file is left where it is.
pub(super) async fn import(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &ImportArgs,
) -> Result<(), Failure> {
    let src = source_of(&settings, &a.source)?.clone();
    if src.kind != crate::config::SourceKind::Import {
        return Err(Failure::usage(format!(
            "source '{}' is of kind \"{}\": import reads files with the column mapping of a source of kind \"import\"",
            a.source,
            src.kind.as_str()
        )));
    }
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let outcome = crate::sync::import_file(
        &app,
        &a.source,
        &src,
        &a.file,
        now,
        a.force,
        crate::sync::Mode::Store,
    )
    .await;
    app.store.close().await;
    let o = outcome.map_err(|e| Failure::work(format!("{}: {e}", a.file.display())))?;
    print!("{}", o.report);
    if o.already.is_some() {
        println!("(give --force to import it again)");
    }
    match o.failure {
        Some(f) => Err(Failure::work(format!(
            "{} was not imported: {f}",
            a.file.display()
        ))),
        None => Ok(()),
    }
}
