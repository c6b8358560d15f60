//! `dondoc status`: every unit's rates for the period containing `--as-of`, as a table or JSON,
//! with the data quality and the sources' health. It reads the database only.

use super::*;

#[derive(serde::Serialize)]
struct JsonRow<'a> {
    unit: &'a str,
    metric: &'a str,
    scope: Option<&'a str>,
    period: String,
    period_start: String,
    period_end: String,
    numerator: i64,
    denominator: i64,
    value: Option<f64>,
    target: Option<rates::TargetView>,
    state: &'static str,
}

pub(super) async fn status(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &StatusArgs,
) -> Result<(), Failure> {
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
    let app = App::build(settings, clock).await?;
    let period = Period::containing(a.period, as_of);
    let ev = rates::evaluate(&app.store, &app.settings, period, as_of).await?;
    let states = app.store.sync_states().await?;
    app.store.close().await;
    let rows: Vec<&Row> = ev
        .rows
        .iter()
        .filter(|r| a.unit.as_ref().is_none_or(|u| &r.unit == u))
        .collect();
    let text = match a.format {
        Format::Json | Format::Csv if a.format == Format::Csv => {
            return Err(Failure::usage("status prints table or json"));
        }
        Format::Json => status_json(&ev, &rows),
        _ => status_table(&ev, &rows, &states, &app.settings),
    };
    print!("{text}");
    Ok(())
}

pub(super) fn status_json(ev: &Evaluation, rows: &[&Row]) -> String {
    let period_start = rfc3339(ev.period.start());
    let period_end = rfc3339(ev.period.end());
    let json_rows: Vec<JsonRow> = rows
        .iter()
        .map(|r| JsonRow {
            unit: &r.unit,
            metric: r.metric.as_str(),
            scope: r.scope.as_deref(),
            period: ev.period.to_string(),
            period_start: period_start.clone(),
            period_end: period_end.clone(),
            numerator: r.numerator,
            denominator: r.denominator,
            value: r.value,
            target: r.target,
            state: r.state.as_str(),
        })
        .collect();
    let doc = serde_json::json!({
        "as_of": rfc3339(ev.as_of),
        "rows": json_rows,
        "data_quality": ev.quality,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

pub(super) fn status_table(
    ev: &Evaluation,
    rows: &[&Row],
    states: &[crate::store::SyncState],
    settings: &Settings,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let local = to_local(ev.as_of);
    let _ = writeln!(
        out,
        "{} ({}), {} → {} — as of {}\n",
        ev.period.label_vi(),
        ev.period,
        to_local(ev.period.start()).format("%d/%m/%Y"),
        to_local(ev.period.end() - 1).format("%d/%m/%Y"),
        local.format("%d/%m/%Y %H:%M (UTC+7)")
    );
    let names: Vec<String> = rows
        .iter()
        .map(|r| format!("{}{}", "  ".repeat(r.depth), r.unit_name))
        .collect();
    let name_w = names
        .iter()
        .map(|n| UnicodeWidthStr::width(n.as_str()))
        .max()
        .unwrap_or(4)
        .max(4);
    // A scoped rate by its field group's display name (the key is in `--format json`).
    let metric_label = |r: &Row| match &r.scope {
        Some(s) => format!("{} [{}]", r.metric, settings.scope_name(s)),
        None => r.metric.to_string(),
    };
    let metric_w = rows
        .iter()
        .map(|r| UnicodeWidthStr::width(metric_label(r).as_str()))
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{}  {}  {:>9}  {:>17}  {:>8}  state",
        pad("unit", name_w),
        pad("metric", metric_w),
        "value",
        "numerator/denom.",
        "target"
    );
    let mut last_unit = "";
    for (r, name) in rows.iter().zip(&names) {
        let shown = if r.unit == last_unit {
            String::new()
        } else {
            name.clone()
        };
        last_unit = &r.unit;
        let value = r.value.map(pct).unwrap_or_else(|| "—".into());
        let target = match r.target {
            Some(t) => match (t.min, t.max) {
                (Some(v), _) => format!("≥ {v} %"),
                (_, Some(v)) => format!("≤ {v} %"),
                _ => String::new(),
            },
            None => "—".into(),
        };
        let state = match r.state {
            RowState::Breach => "✗ BREACH".to_string(),
            RowState::Ok => "ok".into(),
            RowState::InsufficientSample => {
                format!("(n < {})", r.target.map(|t| t.min_sample).unwrap_or(0))
            }
            RowState::NoData => "no data".into(),
            RowState::Untargeted => "untargeted".into(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {:>9}  {:>17}  {}  {state}",
            pad(&shown, name_w),
            pad(&metric_label(r), metric_w),
            value,
            format!("{}/{}", r.numerator, r.denominator),
            pad_left(&target, 8),
        );
    }
    let breaches = rows.iter().filter(|r| r.state == RowState::Breach).count();
    let _ = writeln!(out, "\n{breaches} rate(s) under target.");
    let q = &ev.quality;
    let _ = writeln!(out, "\nData quality");
    let _ = writeln!(
        out,
        "  dossiers without a due date (never judged late): {}",
        q.no_due_date
    );
    let _ = writeln!(
        out,
        "  dossiers whose procedure is not in the catalogue (left out of online_rate): {}",
        q.unknown_procedure
    );
    if q.unmapped_dossier_codes.is_empty() && q.unmapped_document_codes.is_empty() {
        let _ = writeln!(out, "  unmapped codes: none");
    }
    for (code, n) in &q.unmapped_dossier_codes {
        let _ = writeln!(
            out,
            "  unmapped DonViXuLy {code}: {n} dossier(s); add it to a unit's one_stop_codes"
        );
    }
    for (code, n) in &q.unmapped_document_codes {
        let _ = writeln!(
            out,
            "  unmapped MaDonVi {code}: {n} document(s); add it to a unit's document_codes"
        );
    }
    let rejected: i64 = q.rejected.iter().map(|r| r.count).sum();
    let future: i64 = q.future_dated.iter().map(|f| f.records).sum();
    let _ = writeln!(
        out,
        "  records updated in the future (time not trusted for the mark): {future}"
    );
    for f in &q.future_dated {
        let _ = writeln!(
            out,
            "    {:>6}  {}/{}: furthest NgayCapNhat {}, last seen {}",
            f.records,
            f.source,
            f.endpoint,
            to_local(f.latest_claimed).format("%d/%m/%Y %H:%M"),
            to_local(f.last_seen).format("%d/%m/%Y %H:%M")
        );
    }
    let _ = writeln!(out, "  rejected records: {rejected}");
    for r in q.rejected.iter().take(10) {
        let _ = writeln!(
            out,
            "    {:>6}  {} {}: {}",
            r.count, r.source, r.kind, r.reason
        );
    }
    if !states.is_empty() {
        let _ = writeln!(out, "\nSources");
        for s in states {
            let last = s
                .last_success_at
                .map(|t| to_local(t).format("%d/%m/%Y %H:%M").to_string())
                .unwrap_or_else(|| "never".into());
            let err = match (&s.last_error, s.consecutive_failures) {
                (Some(e), n) if n > 0 => format!(" — failing ({n}×): {e}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {}/{}: last success {last}{err}",
                s.source, s.endpoint
            );
        }
    }
    out
}
