//! The HTTP client of one upstream source: timeouts, authentication (a bearer token or another
//! header, HTTP basic, or a login call whose session token is renewed when it expires or is
//! refused), custom CA certificates, and the retry policy (exponential backoff with jitter;
//! `Retry-After` honoured and capped). Every request, the login included, goes through the one
//! retry loop ([`SourceClient::fetch`]).
//!
//! It is also where dondoc is polite to a production system it does not control
//! (docs/upstream-safety.md): a [`Gate`] per source spaces requests (`max_requests_per_sec`, with
//! jitter) and lets at most `max_in_flight` run at once; the `User-Agent` names dondoc, its
//! version and the city's `contact`; and an answer is read chunk by chunk and refused as soon as
//! it passes `max_page_mib`, so that a vendor that ignores `limit` cannot exhaust memory.
//!
//! It fetches bytes; it never parses records (see [`super::records`]), never reads a body whole
//! without a cap, and never logs a token or a password.

use crate::config::mapping::{AuthStyle, LoginBody};
use crate::config::{SourceKind, SourceSettings};
use crate::domain::time::Clock;
use crate::domain::time::{Epoch, format_compact};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderName;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Why a request to a source failed for good.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} answered {status}: {check}")]
    Unauthorized {
        source_name: String,
        url: String,
        status: u16,
        /// What the administrator should check (never the secret itself).
        check: String,
    },
    #[error("{url} answered {status} (not retried): {body}")]
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} still failing after {attempts} attempt(s); last error: {last}")]
    Exhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("cannot build the HTTP client for source '{source_name}': {reason}")]
    Setup { source_name: String, reason: String },
    #[error(
        "the login at {url} gave no session token: {reason}. Check sources.{source_name}.auth.token_pointer"
    )]
    Login {
        source_name: String,
        url: String,
        reason: String,
    },
    #[error(
        "{url} answered more than the {max_mib} MiB allowed for one page of source '{source_name}' ({size});          the page fails and nothing of it is stored. If the vendor honours the page size, lower          sources.{source_name}.page_size; otherwise raise sources.{source_name}.max_page_mib"
    )]
    TooLarge {
        source_name: String,
        url: String,
        /// What was seen: the declared length, or the bytes read when the cap was passed.
        size: String,
        max_mib: u64,
    },
}

impl FetchError {
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            FetchError::Unauthorized { .. } | FetchError::Login { .. }
        )
    }
}

/// Exponential backoff with jitter and a cap; `Retry-After` within its own cap.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    pub retry_after_max: Duration,
}

impl RetryPolicy {
    pub fn from_settings(s: &SourceSettings) -> Self {
        Self {
            max_attempts: s.max_attempts.max(1),
            initial: Duration::from_millis(s.backoff_initial_ms),
            max: Duration::from_secs(s.backoff_max_secs),
            retry_after_max: Duration::from_secs(s.retry_after_max_secs),
        }
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): `initial × 2^(attempt−1)`,
    /// capped, then scaled by a random factor in [0.5, 1] so that replicas do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let capped = exp.min(self.max);
        let factor: f64 = rand::rng().random_range(0.5..=1.0);
        capped.mul_f64(factor)
    }

    /// The wait a `Retry-After` value asks for, capped; `None` when it cannot be read.
    pub fn retry_after(&self, value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let v = value.trim();
        let wait = if let Ok(secs) = v.parse::<u64>() {
            Duration::from_secs(secs)
        } else {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            let delta = at.with_timezone(&chrono::Utc) - now;
            delta.to_std().unwrap_or(Duration::ZERO)
        };
        Some(wait.min(self.retry_after_max))
    }
}

/// The politeness of one source toward its server, shared by every client of that source in
/// the process (see [`Gates`]): at most `max_in_flight` requests at once, and request starts
/// spaced by at least `1 / max_requests_per_sec` (plus up to 20 % random jitter, so that
/// replicas do not fall in step; the jitter only ever lengthens the gap, so the cap holds).
///
/// It waits on tokio's clock (monotonic; paused in tests), never on the business clock.
#[derive(Debug)]
pub struct Gate {
    in_flight: tokio::sync::Semaphore,
    max_in_flight: u32,
    interval: Option<Duration>,
    next: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Gate {
    pub fn new(s: &SourceSettings) -> Self {
        let rate = s.max_requests_per_sec;
        let interval =
            (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        let max_in_flight = s.max_in_flight.max(1);
        Gate {
            in_flight: tokio::sync::Semaphore::new(max_in_flight as usize),
            max_in_flight,
            interval,
            next: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether this gate was built from the same politeness settings.
    fn matches(&self, s: &SourceSettings) -> bool {
        let other = Gate::new(s);
        self.max_in_flight == other.max_in_flight && self.interval == other.interval
    }

    /// Waits for a free slot and for the request's turn; the permit is held while the request
    /// runs (its body included).
    async fn enter(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed: `acquire` fails only on a closed semaphore.
        let permit = self.in_flight.acquire().await.ok();
        if let Some(interval) = self.interval {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            let jitter: f64 = rand::rng().random_range(0.0..0.2);
            *next = Some(at + interval + interval.mul_f64(jitter));
            drop(next);
            tokio::time::sleep_until(at).await;
        }
        permit
    }
}

/// The [`Gate`] of every source, kept for the life of the process (one per running application),
/// so that the cap holds across passes, and across a sync and a `check-source` at once.
#[derive(Debug, Default)]
pub struct Gates {
    by_source: std::sync::Mutex<std::collections::HashMap<String, Arc<Gate>>>,
}

impl Gates {
    /// The gate of `name`; a new one when its settings changed (after a reload).
    pub fn of(&self, name: &str, s: &SourceSettings) -> Arc<Gate> {
        let mut map = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(name) {
            Some(g) if g.matches(s) => g.clone(),
            _ => {
                let g = Arc::new(Gate::new(s));
                map.insert(name.to_string(), g.clone());
                g
            }
        }
    }
}

/// The `User-Agent` dondoc sends: its name and version, and the city's contact when configured,
/// e.g. `dondoc/0.1.0+1a2b3c4d5e (+contact: it@city.gov.vn)`.
pub fn user_agent(contact: Option<&str>) -> String {
    let base = crate::USER_AGENT;
    match contact.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => format!("{base} (+contact: {c})"),
        None => base.to_string(),
    }
}

/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// How much of an error answer's body is read, to quote it.
const ERROR_BODY_BYTES: usize = 4096;

/// A size for messages: bytes, and MiB when large.
fn size_text(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{bytes} bytes = {:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why a body could not be read.
enum BodyError {
    /// Over the cap: final, not retried (the next answer would be as large).
    TooLarge(String),
    /// The transport broke: retried.
    Transport(reqwest::Error),
}

/// Reads a body chunk by chunk, refusing it as soon as it passes `max` bytes (or at once when
/// its declared length does): memory stays within the cap whatever the server sends.
async fn read_capped(mut resp: reqwest::Response, max: u64) -> Result<bytes::Bytes, BodyError> {
    if let Some(len) = resp.content_length()
        && len > max
    {
        return Err(BodyError::TooLarge(format!(
            "Content-Length {}",
            size_text(len)
        )));
    }
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut total: u64 = 0;
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        total += chunk.len() as u64;
        if total > max {
            return Err(BodyError::TooLarge(format!(
                "{} read when reading stopped",
                size_text(total)
            )));
        }
        chunks.push(chunk);
    }
    Ok(match chunks.len() {
        0 => bytes::Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = bytes::BytesMut::with_capacity(total as usize);
            for c in chunks {
                buf.extend_from_slice(&c);
            }
            buf.freeze()
        }
    })
}

/// The first [`ERROR_BODY_BYTES`] of an error answer, as text (the rest is not read).
async fn error_body(mut resp: reqwest::Response) -> String {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY_BYTES);
    String::from_utf8_lossy(&buf).chars().take(300).collect()
}

/// An answer's body, and the server's clock when it sent it (its `Date` header).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: bytes::Bytes,
    pub date: Option<Epoch>,
}

/// How requests prove who dondoc is.
#[derive(Debug, Clone)]
enum Auth {
    None,
    /// A fixed header (`Authorization: Bearer <token>`, or an API key header).
    Header {
        name: HeaderName,
        value: SecretString,
    },
    Basic {
        username: String,
        password: SecretString,
    },
    Login(Arc<Login>),
}

/// The login style: a session token got by POSTing the credentials, kept until it expires or a
/// request answers 401.
struct Login {
    url: String,
    body: LoginBody,
    username_field: String,
    username: String,
    password_field: String,
    password: SecretString,
    extra: Vec<(String, String)>,
    token_pointer: String,
    expires_pointer: Option<String>,
    ttl: Option<Duration>,
    header: HeaderName,
    scheme: String,
    session: tokio::sync::Mutex<Option<Session>>,
    /// Logins done, for tests and logs.
    logins: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("url", &self.url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

struct Session {
    value: SecretString,
    /// Monotonic time (not the business clock): a token's lifetime is the server's wall time.
    expires: Option<tokio::time::Instant>,
}

/// A client for one configured source.
#[derive(Debug, Clone)]
pub struct SourceClient {
    pub name: String,
    pub kind: SourceKind,
    base_url: String,
    http: reqwest::Client,
    auth: Auth,
    pub page_size: u32,
    pub retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    gate: Arc<Gate>,
    max_page_bytes: u64,
}

impl SourceClient {
    pub fn new(name: &str, s: &SourceSettings, clock: Arc<dyn Clock>) -> Result<Self, FetchError> {
        let setup = |reason: String| FetchError::Setup {
            source_name: name.to_string(),
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(s.connect_timeout_secs))
            .timeout(Duration::from_secs(s.timeout_secs))
            .user_agent(user_agent(s.contact.as_deref()));
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(format!("cannot read ca_file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                setup(format!(
                    "ca_file {} holds no PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            // An empty bundle parses without error: say so rather than fail every handshake.
            if certs.is_empty() {
                return Err(setup(format!(
                    "ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the issuing CA's certificate",
                    ca.display()
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| setup(e.to_string()))?;
        let base_url = s.base_url.trim_end_matches('/').to_string();
        let header_name = |h: &str| {
            HeaderName::from_bytes(h.trim().as_bytes())
                .map_err(|_| setup(format!("'{h}' is not an HTTP header name")))
        };
        let with_scheme = |scheme: &str, token: &str| -> SecretString {
            if scheme.is_empty() {
                SecretString::from(token.to_string())
            } else {
                SecretString::from(format!("{scheme} {token}"))
            }
        };
        let token = s.token.clone().filter(|t| !t.expose_secret().is_empty());
        let auth = match &s.auth {
            None => match token {
                Some(t) => Auth::Header {
                    name: reqwest::header::AUTHORIZATION,
                    value: with_scheme("Bearer", t.expose_secret()),
                },
                None => Auth::None,
            },
            Some(a) => match a.style {
                AuthStyle::Bearer => match token {
                    Some(t) => Auth::Header {
                        name: header_name(&a.header)?,
                        value: with_scheme(&a.scheme, t.expose_secret()),
                    },
                    None => Auth::None,
                },
                AuthStyle::Basic => Auth::Basic {
                    username: a.username.clone().unwrap_or_default(),
                    password: a
                        .password
                        .clone()
                        .unwrap_or_else(|| SecretString::from(String::new())),
                },
                AuthStyle::Login => {
                    let path = a.login_path.clone().unwrap_or_default();
                    Auth::Login(Arc::new(Login {
                        url: join(&base_url, &path),
                        body: a.login_body,
                        username_field: a.username_field.clone(),
                        username: a.username.clone().unwrap_or_default(),
                        password_field: a.password_field.clone(),
                        password: a
                            .password
                            .clone()
                            .unwrap_or_else(|| SecretString::from(String::new())),
                        extra: a
                            .login_fields
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        token_pointer: a.token_pointer.clone(),
                        expires_pointer: a.expires_pointer.clone(),
                        ttl: a.token_ttl_secs.map(Duration::from_secs),
                        header: header_name(&a.header)?,
                        scheme: a.scheme.clone(),
                        session: tokio::sync::Mutex::new(None),
                        logins: std::sync::atomic::AtomicU64::new(0),
                    }))
                }
            },
        };
        Ok(Self {
            name: name.to_string(),
            kind: s.kind,
            base_url,
            http,
            auth,
            page_size: s.page_size,
            retry: RetryPolicy::from_settings(s),
            clock,
            gate: Arc::new(Gate::new(s)),
            max_page_bytes: s.max_page_mib.max(1).saturating_mul(MIB),
        })
    }

    /// Uses `gate` (the process's gate of this source, from [`Gates::of`]) instead of a gate of
    /// its own, so that the politeness caps hold across clients.
    pub fn with_gate(mut self, gate: Arc<Gate>) -> Self {
        self.gate = gate;
        self
    }

    /// The full URL of a path under `base_url`.
    pub fn url(&self, path: &str) -> String {
        join(&self.base_url, path)
    }

    /// How many times the login style has logged in (0 for other styles).
    pub fn logins(&self) -> u64 {
        match &self.auth {
            Auth::Login(l) => l.logins.load(std::sync::atomic::Ordering::Relaxed),
            _ => 0,
        }
    }

    /// `GET {base_url}/{endpoint}` with the contract's paging parameters, retried per the policy.
    /// Returns the body.
    pub async fn get(
        &self,
        endpoint: &str,
        updated_since: Option<Epoch>,
        cursor: Option<&str>,
        paged: bool,
    ) -> Result<bytes::Bytes, FetchError> {
        let mut query: Vec<(String, String)> = Vec::new();
        if paged {
            if let Some(t) = updated_since {
                query.push(("updated_since".into(), format_compact(t)));
            }
            query.push(("limit".into(), self.page_size.to_string()));
            if let Some(c) = cursor {
                query.push(("cursor".into(), c.to_string()));
            }
        }
        Ok(self.fetch(endpoint, &query).await?.body)
    }

    /// `GET` of a path under `base_url` with `query`, authenticated and retried per the policy.
    /// With the login style, a 401 logs in again once and repeats the request.
    pub async fn fetch(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Fetched, FetchError> {
        let url = self.url(path);
        let mut logged_in_again = false;
        loop {
            let header = match &self.auth {
                Auth::Login(l) => Some((l.header.clone(), self.session(l).await?)),
                Auth::Header { name, value } => Some((name.clone(), value.clone())),
                _ => None,
            };
            let result = self
                .send(&url, || {
                    let mut req = self.http.get(&url).query(query);
                    match (&self.auth, &header) {
                        (Auth::Basic { username, password }, _) => {
                            req = req.basic_auth(username, Some(password.expose_secret()));
                        }
                        (_, Some((name, value))) => {
                            req = req.header(name.clone(), value.expose_secret());
                        }
                        _ => {}
                    }
                    req
                })
                .await;
            match (&self.auth, result) {
                (Auth::Login(l), Err(FetchError::Unauthorized { .. })) if !logged_in_again => {
                    tracing::info!(source = %self.name, "the session token was refused; logging in again");
                    *l.session.lock().await = None;
                    logged_in_again = true;
                }
                (_, r) => return r,
            }
        }
    }

    /// The login style's header value: the current session, or a new one.
    async fn session(&self, l: &Login) -> Result<SecretString, FetchError> {
        let mut guard = l.session.lock().await;
        if let Some(s) = guard.as_ref()
            && s.expires.is_none_or(|e| tokio::time::Instant::now() < e)
        {
            return Ok(s.value.clone());
        }
        let answer = self
            .send(&l.url, || {
                let mut fields: Vec<(&str, &str)> = vec![
                    (l.username_field.as_str(), l.username.as_str()),
                    (l.password_field.as_str(), l.password.expose_secret()),
                ];
                fields.extend(l.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let req = self.http.post(&l.url);
                match l.body {
                    LoginBody::Json => {
                        let body: serde_json::Map<String, serde_json::Value> = fields
                            .iter()
                            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                            .collect();
                        req.json(&body)
                    }
                    LoginBody::Form => {
                        let body = url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(fields.iter())
                            .finish();
                        req.header(
                            reqwest::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .body(body)
                    }
                }
            })
            .await
            .map_err(|e| match e {
                FetchError::Unauthorized {
                    source_name,
                    url,
                    status,
                    ..
                } => FetchError::Unauthorized {
                    check: format!(
                        "the login was refused. Check sources.{source_name}.auth.username and the password \
                         (auth.password_file, or DONDOC__SOURCES__{}__AUTH__PASSWORD)",
                        source_name.to_uppercase()
                    ),
                    source_name,
                    url,
                    status,
                },
                other => other,
            })?;
        let login_error = |reason: String| FetchError::Login {
            source_name: self.name.clone(),
            url: l.url.clone(),
            reason,
        };
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|e| login_error(format!("the answer is not JSON ({e})")))?;
        let token = match json.pointer(&l.token_pointer) {
            Some(serde_json::Value::String(t)) if !t.is_empty() => t.clone(),
            _ => {
                return Err(login_error(format!(
                    "nothing at {} in the answer",
                    l.token_pointer
                )));
            }
        };
        let lifetime = l
            .expires_pointer
            .as_deref()
            .and_then(|p| json.pointer(p))
            .and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .map(Duration::from_secs)
            .or(l.ttl);
        // Renew a little early, so that a token does not expire between check and use.
        let expires = lifetime.map(|d| {
            tokio::time::Instant::now() + d.saturating_sub(Duration::from_secs(30).min(d / 10))
        });
        l.logins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let value = if l.scheme.is_empty() {
            SecretString::from(token)
        } else {
            SecretString::from(format!("{} {token}", l.scheme))
        };
        *guard = Some(Session {
            value: value.clone(),
            expires,
        });
        tracing::debug!(source = %self.name, "logged in");
        Ok(value)
    }

    /// Sends a request built by `make` until it succeeds or fails for good, per the policy.
    async fn send(
        &self,
        url: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Fetched, FetchError> {
        let mut last = String::new();
        for attempt in 1..=self.retry.max_attempts {
            let permit = self.gate.enter().await;
            let wait = match make().send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        let date = resp
                            .headers()
                            .get(reqwest::header::DATE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                            .map(|t| t.timestamp());
                        match read_capped(resp, self.max_page_bytes).await {
                            Ok(body) => return Ok(Fetched { body, date }),
                            Err(BodyError::TooLarge(size)) => {
                                return Err(FetchError::TooLarge {
                                    source_name: self.name.clone(),
                                    url: url.to_string(),
                                    size,
                                    max_mib: self.max_page_bytes / MIB,
                                });
                            }
                            Err(BodyError::Transport(e)) => {
                                last = format!("reading the body failed: {}", describe(&e));
                                self.retry.backoff(attempt)
                            }
                        }
                    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
                    {
                        return Err(FetchError::Unauthorized {
                            source_name: self.name.clone(),
                            url: url.to_string(),
                            status: status.as_u16(),
                            check: self.auth_check(),
                        });
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        let after = resp
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| self.retry.retry_after(v, self.clock.now()));
                        last = "429 Too Many Requests".into();
                        after.unwrap_or_else(|| self.retry.backoff(attempt))
                    } else if status.is_server_error() {
                        last = format!("{status}");
                        self.retry.backoff(attempt)
                    } else {
                        let body = error_body(resp).await;
                        return Err(FetchError::Rejected {
                            url: url.to_string(),
                            status: status.as_u16(),
                            body,
                        });
                    }
                }
                Err(e) => {
                    last = describe(&e);
                    self.retry.backoff(attempt)
                }
            };
            drop(permit);
            if attempt < self.retry.max_attempts {
                tracing::warn!(source = %self.name, %url, attempt, error = %last, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(FetchError::Exhausted {
            url: url.to_string(),
            attempts: self.retry.max_attempts,
            last,
        })
    }

    /// What to check when the source refuses dondoc's credentials.
    fn auth_check(&self) -> String {
        let upper = self.name.to_uppercase();
        let name = &self.name;
        match &self.auth {
            Auth::Basic { .. } => format!(
                "the user name or password was refused. Check sources.{name}.auth.username and the password \
                 (auth.password_file, or DONDOC__SOURCES__{upper}__AUTH__PASSWORD)"
            ),
            Auth::Login(_) => format!(
                "the session token was refused even after logging in again. Check sources.{name}.auth \
                 (header, scheme, token_pointer)"
            ),
            _ => format!(
                "the token was refused. Check sources.{name}.token (or token_file, or DONDOC__SOURCES__{upper}__TOKEN)"
            ),
        }
    }
}

/// `base` + `/` + `path` (a path that is already a URL is kept).
fn join(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{}/{}", base, path.trim_start_matches('/'))
    }
}

/// A transport error in plain words (reqwest's Display hides the cause).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body broke off"
    } else {
        "request failed"
    };
    let mut msg = what.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let p = policy();
        for attempt in 1..=10 {
            let d = p.backoff(attempt);
            let full =
                Duration::from_millis(100 * 2u64.pow(attempt - 1)).min(Duration::from_secs(1));
            assert!(d <= full && d >= full / 2, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_as_seconds_or_http_date_is_capped() {
        let p = policy();
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(p.retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(p.retry_after("3600", now), Some(Duration::from_secs(60)));
        assert_eq!(
            p.retry_after("Wed, 01 May 2024 08:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            p.retry_after("Wed, 01 May 2024 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(p.retry_after("soon", now), None);
    }
}
