//! `dondoc history`: the stored time series of one rate as a table, JSON or CSV. It reads the
//! database only.

use super::*;

pub(super) async fn history(
    settings: Settings,
    clock: Arc<dyn Clock>,
    a: &HistoryArgs,
) -> Result<(), Failure> {
    let Some(metric) = Metric::from_name(&a.metric) else {
        return Err(Failure::usage(format!(
            "--metric '{}' is unknown; the metrics are {}",
            a.metric,
            crate::domain::metric::all_names()
        )));
    };
    if !settings.units.iter().any(|u| u.code == a.unit) {
        return Err(Failure::usage(format!(
            "--unit '{}' is not a configured unit",
            a.unit
        )));
    }
    let app = App::build(settings, clock).await?;
    let all = app
        .store
        .samples(&a.unit, metric.as_str(), a.scope.as_deref().unwrap_or(""))
        .await?;
    app.store.close().await;
    let samples: Vec<_> = all
        .into_iter()
        .filter(|s| s.period.parse::<Period>().is_ok_and(|p| p.kind == a.period))
        .collect();
    let mut out = String::new();
    use std::fmt::Write as _;
    match a.format {
        Format::Json => {
            out = format!(
                "{}\n",
                serde_json::to_string_pretty(&samples).unwrap_or_default()
            )
        }
        Format::Csv => {
            out.push_str("unit,metric,scope,period,day,as_of,numerator,denominator,value,revised_at,first_numerator,first_denominator\n");
            for s in &samples {
                let v = if s.denominator == 0 {
                    String::new()
                } else {
                    (s.numerator as f64 / s.denominator as f64).to_string()
                };
                let rev = s
                    .revision
                    .map(|r| {
                        format!(
                            "{},{},{}",
                            rfc3339(r.revised_at),
                            r.first_numerator,
                            r.first_denominator
                        )
                    })
                    .unwrap_or_else(|| ",,".into());
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{v},{rev}",
                    s.unit,
                    s.metric,
                    s.scope,
                    s.period,
                    s.day,
                    rfc3339(s.as_of),
                    s.numerator,
                    s.denominator
                );
            }
        }
        Format::Table => {
            let _ = writeln!(
                out,
                "{:<10} {:<10} {:>9} {:>17}",
                "period", "day", "value", "numerator/denom."
            );
            for s in &samples {
                let v = if s.denominator == 0 {
                    "—".to_string()
                } else {
                    pct(s.numerator as f64 / s.denominator as f64)
                };
                let revised = s
                    .revision
                    .map(|r| {
                        format!(
                            "  revised {}: was {}/{}",
                            to_local(r.revised_at).format("%Y-%m-%d"),
                            r.first_numerator,
                            r.first_denominator
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<10} {:<10} {:>9} {:>17}{revised}",
                    s.period,
                    s.day,
                    v,
                    format!("{}/{}", s.numerator, s.denominator)
                );
            }
            if samples.is_empty() {
                let _ = writeln!(
                    out,
                    "(no samples yet: `dondoc sync` stores one per day and period, and computes the past days from the stored records)"
                );
            }
        }
    }
    print!("{out}");
    Ok(())
}
