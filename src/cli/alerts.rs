//! `dondoc alerts list|preview|send-test`: the current alerts and the outbox, a unit's letters as
//! they would be queued, a test message. It never queues or marks anything.

use super::*;

pub(super) fn mailer_of(s: &Settings) -> Result<Option<crate::alerts::mailer::Mailer>, Failure> {
    match &s.smtp {
        None => Ok(None),
        Some(smtp) => crate::alerts::mailer::Mailer::from_settings(smtp)
            .map(Some)
            .map_err(|e| Failure::usage(format!("smtp: {e}"))),
    }
}

pub(super) async fn alerts(
    settings: Settings,
    clock: Arc<dyn Clock>,
    cmd: &AlertsCommand,
) -> Result<(), Failure> {
    use std::fmt::Write as _;
    if let AlertsCommand::SendTest { to } = cmd {
        let Some(mailer) = mailer_of(&settings)? else {
            return Err(Failure::usage(
                "there is no [smtp] section in the configuration: nothing to test",
            ));
        };
        return match mailer.send_test(to).await {
            Ok(reply) => {
                println!(
                    "Sent a test message to {to} through {}.\nThe server answered: {reply}",
                    mailer.describe()
                );
                Ok(())
            }
            Err(e) => Err(Failure::work(format!(
                "the test message to {to} through {} was not sent: {e}",
                mailer.describe()
            ))),
        };
    }
    let app = App::build(settings, clock.clone()).await?;
    let now = epoch(clock.now());
    let result = match cmd {
        AlertsCommand::Preview { unit, html } => {
            if !app.settings.units.iter().any(|u| &u.code == unit) {
                return Err(Failure::usage(format!(
                    "--unit '{unit}' is not a configured unit"
                )));
            }
            let letters = crate::alerts::digest::preview(&app, unit, now).await?;
            if letters.is_empty() {
                println!(
                    "{unit} would receive no letter now: no alert to hear of and nothing to act on{}.",
                    if app
                        .settings
                        .units
                        .iter()
                        .any(|u| &u.code == unit && u.emails.is_empty())
                    {
                        " (or no address: units.emails is empty)"
                    } else {
                        ""
                    }
                );
            }
            for (i, m) in letters.iter().enumerate() {
                if i > 0 {
                    println!("\n{}\n", "=".repeat(72));
                }
                println!("To: {}", m.to.join(", "));
                if !m.cc.is_empty() {
                    println!("Cc: {}", m.cc.join(", "));
                }
                println!("Subject: {}\n", m.subject);
                if *html {
                    println!("{}", m.html.clone().unwrap_or_default());
                } else {
                    print!("{}", m.text);
                }
            }
            Ok(())
        }
        AlertsCommand::List { format } => {
            let alerts: Vec<_> = app
                .store
                .alerts()
                .await?
                .into_iter()
                .filter(|a| a.phase != crate::alerts::lifecycle::Phase::Clear)
                .collect();
            let outbox = app.store.outbox(50).await?;
            if *format == Format::Json {
                let rows: Vec<serde_json::Value> = alerts
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "unit": a.key.unit, "metric": a.key.metric,
                            "scope": if a.key.scope.is_empty() { None } else { Some(&a.key.scope) },
                            "period": a.key.period, "phase": a.phase.as_str(),
                            "notice": a.notice.map(|n| n.as_str()),
                            "numerator": a.numerator, "denominator": a.denominator,
                            "fired_at": a.fired_at.map(rfc3339), "last_notified_at": a.last_notified_at.map(rfc3339),
                            "detail": a.detail,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"alerts": rows, "outbox": outbox})
                    )
                    .unwrap_or_default()
                );
            } else {
                let mut out = String::new();
                let _ = writeln!(out, "Alerts ({}):", alerts.len());
                for a in &alerts {
                    let scope = if a.key.scope.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", a.key.scope)
                    };
                    let notice = a
                        .notice
                        .map(|n| format!(", to tell: {}", n.as_str()))
                        .unwrap_or_default();
                    let detail = a
                        .detail
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {:<9} {} {}{scope} {} {}/{}{notice}{detail}",
                        a.phase.as_str(),
                        a.key.unit,
                        a.key.metric,
                        a.key.period,
                        a.numerator,
                        a.denominator
                    );
                }
                let _ = writeln!(out, "\nOutbox (newest {}):", outbox.len());
                for m in &outbox {
                    let err = m
                        .last_error
                        .as_deref()
                        .map(|e| format!(" — {e}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  #{:<4} {:<10} attempts {} {} → {}: {}{err}",
                        m.id,
                        m.status,
                        m.attempts,
                        to_local(m.created_at).format("%d/%m %H:%M"),
                        m.recipients,
                        m.subject
                    );
                }
                if app.settings.smtp.is_none() {
                    let _ = writeln!(
                        out,
                        "\n(no [smtp] section: alerts are evaluated and listed here, not mailed)"
                    );
                }
                print!("{out}");
            }
            Ok(())
        }
        AlertsCommand::SendTest { .. } => Ok(()),
    };
    app.store.close().await;
    result
}
