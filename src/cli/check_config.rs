//! `dondoc check-config`: validates the configuration and says what it holds (sources, units,
//! schedules, mail, targets) and every warning. It opens no database and contacts no source.

use super::*;

pub(super) fn check_config(cli: &Cli) -> Result<(), Failure> {
    let loaded = load(cli)?;
    let s = &loaded.settings;
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "{}: valid.", loaded.file.display());
    let _ = writeln!(out, "database   {}", s.database.url);
    for (name, src) in &s.sources {
        let _ = writeln!(
            out,
            "source     {name} ({}) {}",
            src.kind.as_str(),
            crate::upstream::mapping::describe(src)
        );
    }
    if s.simulator.enabled {
        let _ = writeln!(
            out,
            "simulator  enabled on {} (seed {}, {} dossiers)",
            s.simulator.listen, s.simulator.seed, s.simulator.dossiers
        );
    }
    let tree = rates::UnitTree::new(s);
    let wards = tree.units.iter().filter(|u| u.depth > 0).count();
    let root = tree.units.first().map(|u| u.name.as_str()).unwrap_or("");
    let _ = writeln!(
        out,
        "units      {} ({root} and {wards} below it)",
        tree.units.len()
    );
    let mut schedules = vec![
        ("sync", &s.schedule.sync),
        ("alerts", &s.schedule.alerts),
        ("reports", &s.reports.schedule),
    ];
    if !s.commitments.is_empty() {
        schedules.push(("letter", &s.letter.schedule));
    }
    for (key, expr) in schedules {
        let next = crate::schedule::Schedule::parse(expr)
            .ok()
            .and_then(|sc| sc.next_fires(chrono::Utc::now(), 1).into_iter().next())
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let _ = writeln!(out, "schedule   {key:<8}{expr:<22} next {next}");
    }
    match &s.smtp {
        Some(m) if m.transport == crate::config::MailTransport::File => {
            let _ = writeln!(
                out,
                "smtp       transport = file: each mail written as .eml into {}, from {}",
                m.file_dir.display(),
                m.from
            );
        }
        Some(m) => {
            let _ = writeln!(
                out,
                "smtp       {}:{} ({}) from {}",
                m.host,
                m.port,
                match m.tls {
                    crate::config::TlsMode::Starttls => "starttls",
                    crate::config::TlsMode::Tls => "tls",
                    crate::config::TlsMode::None => "no TLS",
                },
                m.from
            );
        }
        None => {
            let _ = writeln!(
                out,
                "smtp       not configured: alerts are evaluated and listed, not mailed"
            );
        }
    }
    // issue 19: the portal's published figures
    if let Some(p) = s.portal.as_ref().filter(|p| p.enabled) {
        let _ = writeln!(
            out,
            "portal     {} (root {}, {} unit(s) mapped), collected at \"{}\"",
            p.base_url,
            p.root_department_id,
            p.departments.len(),
            p.schedule
        );
    }
    let targets: Vec<String> = Metric::ALL
        .iter()
        .filter_map(|m| {
            s.targets.get(m.as_str()).map(|t| match (t.min, t.max) {
                (Some(v), _) => format!("{m} ≥ {v}%"),
                (_, Some(v)) => format!("{m} ≤ {v}%"),
                _ => m.to_string(),
            })
        })
        .collect();
    let _ = writeln!(out, "targets    {}", targets.join(", "));
    for st in &s.scoped_targets {
        let bound = st
            .min
            .map(|v| format!("≥ {v}%"))
            .or(st.max.map(|v| format!("≤ {v}%")))
            .unwrap_or_default();
        let name = s.scope_name(&st.scope);
        let named = if name == st.scope {
            String::new()
        } else {
            format!(" ({name})")
        };
        let _ = writeln!(
            out,
            "           {} on {}{named} {bound}",
            st.metric, st.scope
        );
    }
    let overrides = s.units.iter().filter(|u| !u.targets.is_empty()).count();
    if overrides > 0 {
        let _ = writeln!(out, "           {overrides} unit(s) override some targets");
    }
    let _ = writeln!(out, "min sample {}", s.alerts.min_sample);
    if !s.commitments.is_empty() {
        let auto = s.commitments.iter().filter(|c| c.is_automatic()).count();
        let _ = writeln!(
            out,
            "letter     {} criteria ({auto} measured by rates, {} reported on the units' forms)",
            s.commitments.len(),
            s.commitments.len() - auto
        );
    }
    for w in &loaded.warnings {
        let _ = writeln!(out, "warning    {w}");
    }
    print!("{out}");
    Ok(())
}
