//! `dondoc evaluate`: the current periods evaluated now through [`crate::jobs::evaluate`] (the
//! same function each sync runs). It never reads upstream.

use super::*;

pub(super) async fn evaluate_now(settings: Settings, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    let app = App::build(settings, clock.clone()).await?;
    let done = crate::jobs::evaluate::run_once(&app, epoch(clock.now())).await;
    app.store.close().await;
    let done = done.map_err(|e| Failure::work(e.to_string()))?;
    let periods: Vec<String> = done
        .evaluations
        .iter()
        .map(|e| e.period.to_string())
        .collect();
    println!(
        "Evaluated {} rows ({}) in {:.2}s and stored them as today's samples.",
        done.rows(),
        periods.join(", "),
        done.elapsed.as_secs_f64()
    );
    Ok(())
}
