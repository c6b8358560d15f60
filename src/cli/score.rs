//! `dondoc score` (issue 19): each unit's estimated Decision 766 points as a table or JSON, and
//! the portal collector's `portal-collect` and `portal-reset` (docs/score.md). It reads the
//! database only, except `portal-collect`, which asks the portal.

use super::{
    App, Arc, Clock, Failure, Format, ScoreArgs, ScoreCommand, Settings, UnicodeWidthStr, epoch,
    pad, parse_as_of, rfc3339, to_local,
};
/// `dondoc score`: estimated points per unit (docs/score.md), or the portal's collection.
pub(super) async fn score(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &ScoreArgs,
) -> Result<(), Failure> {
    use crate::score::{self, points};
    if let Some(action) = &a.action {
        let app = App::build(settings, clock.clone()).await?;
        let result = match action {
            ScoreCommand::PortalReset => match score::portal::reset(&app).await {
                Ok(before) if before.open => {
                    println!(
                        "The portal collector's circuit was open since {} ({}); it is closed now: the next collection will ask the portal again.",
                        before.opened_at.map(rfc3339).unwrap_or_default(),
                        before.reason.unwrap_or_default()
                    );
                    Ok(())
                }
                Ok(_) => {
                    println!("The portal collector's circuit was closed already.");
                    Ok(())
                }
                Err(e) => Err(Failure::work(e.to_string())),
            },
            ScoreCommand::PortalCollect => {
                match crate::jobs::portal::run_once(&app, epoch(clock.now())).await {
                    Ok(r) => {
                        println!(
                            "Collected {} figure(s) of {} in {} request(s).",
                            r.figures,
                            r.periods.join(", "),
                            r.requests
                        );
                        Ok(())
                    }
                    Err(crate::jobs::JobError::Portal(
                        score::portal::PortalError::NotConfigured,
                    )) => Err(Failure::usage(
                        score::portal::PortalError::NotConfigured.to_string(),
                    )),
                    Err(e) => Err(Failure::work(e.to_string())),
                }
            }
        };
        app.store.close().await;
        return result;
    }
    let as_of = parse_as_of(a.as_of.as_deref(), clock.as_ref())?;
    if let Some(u) = &a.unit
        && !settings.units.iter().any(|x| &x.code == u)
    {
        let codes: Vec<&str> = settings.units.iter().map(|u| u.code.as_str()).collect();
        return Err(Failure::usage(format!(
            "--unit '{u}' is not a configured unit; the units are {}",
            codes.join(", ")
        )));
    }
    if a.format == Format::Csv {
        return Err(Failure::usage("score prints table or json"));
    }
    let app = App::build(settings, clock).await?;
    let rp = crate::report::ReportPeriod::containing(a.period, a.basis, as_of);
    let opts = score::Options {
        codes_cap: if a.format == Format::Json || a.unit.is_some() {
            20
        } else {
            0
        },
    };
    let set = score::compute(
        &app.store,
        &app.settings,
        rp.period,
        rp.start,
        rp.end,
        as_of,
        opts,
    )
    .await;
    app.store.close().await;
    let mut set = set?;
    if let Some(u) = &a.unit {
        set.units.retain(|x| &x.unit == u);
    }
    if a.format == Format::Json {
        let mut doc = score::to_json(&set);
        doc["basis"] = serde_json::json!(a.basis.as_str());
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}, {}), {} → {} — as of {}\nEstimated Decision 766 points out of the {} that dondoc can see; {} more need data dondoc does not have (docs/score.md).\n",
        set.period.label_vi(),
        set.period,
        a.basis.as_str(),
        to_local(set.start).format("%d/%m/%Y"),
        to_local(set.end - 1).format("%d/%m/%Y"),
        to_local(set.as_of).format("%d/%m/%Y %H:%M (UTC+7)"),
        set.units
            .first()
            .map(|u| points::points_vi(u.estimate.estimable_max_cents()))
            .unwrap_or_default(),
        set.units
            .first()
            .map(|u| points::points_vi(10_000 - u.estimate.estimable_max_cents()))
            .unwrap_or_default(),
    );
    let names: Vec<String> = set
        .units
        .iter()
        .map(|u| format!("{}{}", "  ".repeat(u.depth), u.name))
        .collect();
    let name_w = names
        .iter()
        .map(|n| UnicodeWidthStr::width(n.as_str()))
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{}  {:>9}  {:>6}  {:>9}  first way to win points back",
        pad("unit", name_w),
        "estimated",
        "lost",
        "portal"
    );
    for (u, name) in set.units.iter().zip(&names) {
        let published = u
            .published
            .as_ref()
            .map(|p| format!("{:.2}", p.total()).replace('.', ","))
            .unwrap_or_else(|| "—".into());
        let first = u
            .win_back
            .first()
            .map(|w| w.text.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {:>9}  {:>6}  {:>9}  {first}",
            pad(name, name_w),
            points::points_vi(u.estimate.estimated_cents()),
            points::points_vi(u.lost_cents()),
            published
        );
    }
    if a.unit.is_some() {
        for u in &set.units {
            let _ = writeln!(out, "\n{} ({})", u.name, u.unit);
            for g in &u.estimate.groups {
                let est = g
                    .estimated_cents
                    .map(points::points_vi)
                    .unwrap_or_else(|| "not estimated".into());
                let published = u
                    .published
                    .as_ref()
                    .and_then(|p| p.groups.get(g.group.code()))
                    .map(|v| format!("  portal {}", format!("{v:.2}").replace('.', ",")))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {} {:<26} {:>13} of {:>5} (max {}){published}",
                    g.group.code(),
                    g.group.label_vi(),
                    est,
                    points::points_vi(g.estimable_max_cents),
                    points::points_vi(g.group.max_cents())
                );
            }
            for i in &u.estimate.indicators {
                let ratio = i
                    .ratio()
                    .map(|r| format!("{:.2} %", 100.0 * r))
                    .unwrap_or_else(|| "no dossiers".into());
                let _ = writeln!(
                    out,
                    "    {} {:<44} {:>8}/{:<8} {:>11}  {:>5} of {}{}",
                    i.indicator.group().code(),
                    i.indicator.label_vi(),
                    i.numerator,
                    i.denominator,
                    ratio,
                    points::points_vi(i.cents),
                    points::points_vi(i.indicator.max_cents()),
                    if i.indicator.confirmed() {
                        ""
                    } else {
                        "  (uncertain rule)"
                    }
                );
            }
            for w in &u.win_back {
                let codes = if w.codes.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n        dossiers ({} in all): {}",
                        w.codes_total,
                        w.codes.join(", ")
                    )
                };
                let _ = writeln!(out, "  → {}{codes}", w.text);
            }
        }
    }
    print!("{out}");
    Ok(())
}
