//! The daemon's HTTP server (axum) on `http.listen`, loopback by default:
//! - [`health`]: `/healthz`, for systemd, load balancers and monitoring;
//! - [`prometheus`]: `/metrics`, the Prometheus text exposition.
//!
//! Read-only: handlers read the store and the daemon's counters; they never write rates, never
//! contact upstream and never show personal data or secrets.

pub mod health;
pub mod prometheus;

use crate::daemon::Daemon;
use axum::Router;
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;

/// The routes, over the running daemon.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(prometheus::metrics))
        .with_state(daemon)
}

/// Serves until `shutdown` resolves.
pub async fn serve(listener: tokio::net::TcpListener, daemon: Arc<Daemon>, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(daemon)).with_graceful_shutdown(shutdown).await
}
