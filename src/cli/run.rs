//! `dondoc run`: the daemon, built by [`crate::application::Application::build`] and run until
//! SIGTERM/SIGINT. It never schedules or runs a job itself.

use super::*;

pub(super) async fn run_daemon(loaded: LoadedConfig, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    for w in &loaded.warnings {
        tracing::warn!("configuration: {w}");
    }
    let settings = loaded.settings;
    let _sim = start_configured_simulator(&settings, clock.clone()).await?;
    let listen = settings.http.listen.clone();
    let application =
        crate::application::Application::build(settings, clock, Some(loaded.file.clone()))
            .await
            .map_err(|e| match e {
                crate::daemon::DaemonError::Schedule(_) => Failure::usage(e.to_string()),
                _ => Failure::work(e.to_string()),
            })?;
    tracing::info!(%listen, config = %loaded.file.display(), version = crate::VERSION_LONG, "dondoc running: /healthz and /metrics served; SIGHUP reloads the configuration");
    let result = application
        .run_until_stopped(crate::daemon::termination())
        .await;
    tracing::info!("dondoc stopped");
    result.map_err(|e| Failure::work(e.to_string()))
}
