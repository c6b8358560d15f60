//! The HTTP client of one upstream source: timeouts, bearer token, custom CA certificates, and
//! the retry policy (exponential backoff with jitter; `Retry-After` honoured and capped).
//!
//! It fetches bytes; it never parses records (see [`super::records`]) and never logs the token.

use crate::clock::Clock;
use crate::config::{SourceKind, SourceSettings};
use crate::time::{Epoch, format_compact};
use rand::Rng;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Why a request to a source failed for good.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url} answered {status}: the token was refused. Check sources.{source_name}.token (or token_file, \
         or DONDOC__SOURCES__{upper}__TOKEN)", upper = source_name.to_uppercase()
    )]
    Unauthorized {
        source_name: String,
        url: String,
        status: u16,
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
}

impl FetchError {
    pub fn is_auth(&self) -> bool {
        matches!(self, FetchError::Unauthorized { .. })
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

/// A client for one configured source.
#[derive(Debug, Clone)]
pub struct SourceClient {
    pub name: String,
    pub kind: SourceKind,
    base_url: String,
    http: reqwest::Client,
    token: Option<SecretString>,
    pub page_size: u32,
    pub retry: RetryPolicy,
    clock: Arc<dyn Clock>,
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
            .user_agent(concat!("dondoc/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(format!("cannot read ca_file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                setup(format!(
                    "ca_file {} holds no PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| setup(e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            kind: s.kind,
            base_url: s.base_url.trim_end_matches('/').to_string(),
            http,
            token: s.token.clone().filter(|t| !t.expose_secret().is_empty()),
            page_size: s.page_size,
            retry: RetryPolicy::from_settings(s),
            clock,
        })
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
        let url = format!("{}/{}", self.base_url, endpoint);
        let mut query: Vec<(&str, String)> = Vec::new();
        if paged {
            if let Some(t) = updated_since {
                query.push(("updated_since", format_compact(t)));
            }
            query.push(("limit", self.page_size.to_string()));
            if let Some(c) = cursor {
                query.push(("cursor", c.to_string()));
            }
        }
        let mut last = String::new();
        for attempt in 1..=self.retry.max_attempts {
            let mut req = self.http.get(&url).query(&query);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.expose_secret());
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.bytes().await {
                            Ok(b) => return Ok(b),
                            Err(e) => {
                                last = format!("reading the body failed: {}", describe(&e));
                                self.retry.backoff(attempt)
                            }
                        }
                    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
                    {
                        return Err(FetchError::Unauthorized {
                            source_name: self.name.clone(),
                            url,
                            status: status.as_u16(),
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
                        let body = resp.text().await.unwrap_or_default();
                        let body: String = body.chars().take(300).collect();
                        return Err(FetchError::Rejected {
                            url,
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
            if attempt < self.retry.max_attempts {
                tracing::warn!(source = %self.name, %url, attempt, error = %last, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
        Err(FetchError::Exhausted {
            url,
            attempts: self.retry.max_attempts,
            last,
        })
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
