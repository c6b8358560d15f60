//! The daemon's HTTP server (axum) on `http.listen`, loopback by default:
//! - [`health`]: `/healthz`, for systemd, load balancers and monitoring;
//! - [`prometheus`]: `/metrics`, the Prometheus text exposition;
//! - [`dashboard`]: the pages for people (`/`, `/units/{code}`, `/quality`, `/alerts`), behind
//!   HTTP basic authentication when `http.username` and `http.password` are set.
//!
//! Every response carries the security headers of [`security_headers`] (CSP without script,
//! `nosniff`, no framing, no referrer, no caching).
//!
//! Read-only: handlers read the store and the daemon's counters; they never write rates, never
//! contact upstream and never show personal data or secrets.

pub mod dashboard;
pub mod health;
pub mod prometheus;

use crate::daemon::Daemon;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;

/// The routes, over the running daemon.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let pages = Router::new()
        .route("/", get(dashboard::overview))
        .route("/units/{code}", get(dashboard::unit))
        .route("/quality", get(dashboard::quality))
        .route("/alerts", get(dashboard::alerts))
        .route("/letter", get(dashboard::letter))
        .route_layer(middleware::from_fn_with_state(daemon.clone(), basic_auth));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(prometheus::metrics))
        .merge(pages)
        .layer(middleware::map_response(security_headers))
        .with_state(daemon)
}

/// The headers a browser needs to keep the pages to themselves: a strict Content-Security-Policy
/// (no script; only the page's own style), no MIME sniffing, no framing by another site, no
/// Referer leaving with a link, and no copy kept by caches (the pages may sit behind a password).
async fn security_headers(mut res: Response) -> Response {
    use axum::http::HeaderValue;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(dashboard::content_security_policy()),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Equal in time whatever the first differing byte (credentials are not leaked by timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HTTP basic authentication on the dashboard, when configured.
async fn basic_auth(State(daemon): State<Arc<Daemon>>, req: Request, next: Next) -> Response {
    let app = daemon.app();
    let (Some(user), Some(pass)) = (&app.settings.http.username, &app.settings.http.password)
    else {
        return next.run(req).await;
    };
    let expected = format!("{user}:{}", pass.expose_secret());
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
    match given {
        Some(g) if same(&g, expected.as_bytes()) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"dondoc\", charset=\"UTF-8\"",
            )],
            "Cần đăng nhập (authentication required)\n",
        )
            .into_response(),
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(daemon))
        .with_graceful_shutdown(shutdown)
        .await
}
