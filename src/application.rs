//! The running daemon as `dondoc run` starts it, in one value: [`Application::build`] opens (and
//! migrates) the database, sets up the scheduler and starts serving `/healthz`, `/metrics` and the
//! dashboard on `http.listen`; [`Application::run_until_stopped`] tells systemd it is ready and
//! runs the scheduler loop until the shutdown signal, then stops the HTTP server and closes the
//! database. Tests build it the same way (on port 0) and drive its daemon's fires with
//! [`crate::daemon::Daemon::tick`].
//!
//! It composes the layers below it and holds no logic of its own: what runs when is
//! [`crate::daemon`]'s, what is served is [`crate::http`]'s.

use crate::app::App;
use crate::config::Settings;
use crate::daemon::{Daemon, DaemonError, Watchdog};
use crate::domain::time::Clock;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// The daemon with its HTTP server.
pub struct Application {
    daemon: Arc<Daemon>,
    port: u16,
    stop_http: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database of `settings`, builds the daemon with the real jobs and starts the HTTP
    /// server on `http.listen` (port 0 picks a free one: see [`Application::port`]).
    /// `config_path` is what SIGHUP re-reads.
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
        config_path: Option<PathBuf>,
    ) -> Result<Application, DaemonError> {
        let listen = settings.http.listen.clone();
        let app = App::build(settings, clock).await?;
        let daemon = match Daemon::new(app.clone(), config_path) {
            Ok(d) => d,
            Err(e) => {
                app.store.close().await;
                return Err(e);
            }
        };
        match Application::with_daemon(daemon, &listen).await {
            Ok(a) => Ok(a),
            Err(e) => {
                app.store.close().await;
                Err(e)
            }
        }
    }

    /// Serves an already built daemon on `listen` (`127.0.0.1:0` picks a free port). This is
    /// [`Application::build`]'s second half; tests that hold their own [`App`] (one pool, which
    /// they close and drop themselves) or their own job runner come in here.
    pub async fn with_daemon(
        daemon: Arc<Daemon>,
        listen: &str,
    ) -> Result<Application, DaemonError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: listen.to_string(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| DaemonError::Listen {
                addr: listen.to_string(),
                source,
            })?
            .port();
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::http::serve(listener, daemon.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Application {
            daemon,
            port,
            stop_http: Some(stop_http),
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`, for a client on the same machine (tests, `dondoc status` checks).
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port `/healthz` and `/metrics` are served on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The daemon (its fires, outcomes and application).
    pub fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }

    /// Tells systemd the service is ready (the database is open, HTTP is served), runs the
    /// scheduler until `shutdown` resolves, then stops the HTTP server and closes the database.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        Watchdog::ready();
        let result = self.daemon.run(shutdown).await;
        self.stop_http().await;
        self.daemon.app().store.close().await;
        result
    }

    async fn stop_http(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take()
            && let Ok(Err(e)) = server.await
        {
            tracing::warn!(error = %e, "the HTTP server ended with an error");
        }
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
    }
}
