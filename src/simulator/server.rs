//! The simulator's HTTP face: the contract's three list endpoints and one control endpoint.
//!
//! Per request, in this order: count it, wait `latency_ms`, maybe answer 503 or 429 (faults),
//! check the bearer token (401), check the parameters (400), answer. `POST /_sim/touch` is a
//! control for tests and demos: no faults, no token.
//!
//! This module must never answer outside the contract on the list endpoints (status codes,
//! headers and bodies are those of `upstream-api.md`).

use super::{BadRequest, Endpoint, Simulator};
use crate::domain::time::{Epoch, parse_compact};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

/// Largest page the contract allows.
pub(super) const MAX_LIMIT: usize = 1000;
/// Page size when the client names none.
pub(super) const DEFAULT_LIMIT: usize = 500;

pub(super) fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/ho-so", get(ho_so))
        .route("/thu-tuc", get(thu_tuc))
        .route("/van-ban", get(van_ban))
        .route("/_sim/touch", post(touch))
        .with_state(sim)
}

fn json_body(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    json_body(status, body)
}

/// Counting, latency, injected faults and the token, shared by the list endpoints.
async fn gate(sim: &Simulator, endpoint: Endpoint, headers: &HeaderMap) -> Option<Response> {
    sim.count(endpoint);
    let faults = sim.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let draw = sim.fault_draw();
    if draw < faults.error_503_share {
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, "simulated outage"));
    }
    if draw < faults.error_503_share + faults.error_429_share {
        let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "simulated rate limit");
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(faults.retry_after_secs),
        );
        return Some(resp);
    }
    if let Some(token) = sim.token() {
        // Raw bytes: a token outside ASCII travels as UTF-8 bytes, which `to_str` would refuse.
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()));
        if !given.is_some_and(|g| constant_time_eq(g, token.as_bytes())) {
            let mut resp = error(StatusCode::UNAUTHORIZED, "missing or bad bearer token");
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Some(resp);
        }
    }
    None
}

/// The credentials of `Bearer <token>` (scheme case-insensitive, spaces around trimmed).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The paging parameters of one request.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PageParams {
    pub since: Option<Epoch>,
    pub limit: usize,
    pub cursor: Option<String>,
}

pub(super) fn parse_params(query: Option<&str>) -> Result<PageParams, BadRequest> {
    let mut params = PageParams {
        since: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "updated_since" => {
                params.since =
                    parse_compact(&v).map_err(|e| BadRequest(format!("updated_since: {e}")))?;
            }
            "limit" => {
                params.limit = match v.trim().parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(BadRequest(format!(
                            "limit must be a whole number from 1 to {MAX_LIMIT}"
                        )));
                    }
                };
            }
            "cursor" => {
                params.cursor = if v.is_empty() {
                    None
                } else {
                    Some(v.into_owned())
                };
            }
            _ => {}
        }
    }
    Ok(params)
}

async fn ho_so(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = gate(&sim, Endpoint::HoSo, &headers).await {
        return resp;
    }
    let result = parse_params(q.as_deref())
        .and_then(|p| sim.dossier_page(p.since, p.cursor.as_deref(), p.limit));
    match result {
        Ok(body) => json_body(StatusCode::OK, body),
        Err(BadRequest(msg)) => error(StatusCode::BAD_REQUEST, &msg),
    }
}

async fn van_ban(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(resp) = gate(&sim, Endpoint::VanBan, &headers).await {
        return resp;
    }
    let result = parse_params(q.as_deref())
        .and_then(|p| sim.document_page(p.since, p.cursor.as_deref(), p.limit));
    match result {
        Ok(body) => json_body(StatusCode::OK, body),
        Err(BadRequest(msg)) => error(StatusCode::BAD_REQUEST, &msg),
    }
}

async fn thu_tuc(State(sim): State<Arc<Simulator>>, headers: HeaderMap) -> Response {
    if let Some(resp) = gate(&sim, Endpoint::ThuTuc, &headers).await {
        return resp;
    }
    json_body(StatusCode::OK, sim.catalogue_body())
}

async fn touch(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let mut count = 1usize;
    for (k, v) in url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        if k == "count" {
            match v.trim().parse::<usize>() {
                Ok(n) => count = n,
                Err(_) => return error(StatusCode::BAD_REQUEST, "count must be a whole number"),
            }
        }
    }
    let changed = sim.touch(count);
    let body = serde_json::to_vec(&serde_json::json!({ "changed": changed })).unwrap_or_default();
    json_body(StatusCode::OK, body)
}

// ---------------------------------------------------------------------------------------------
// Cursors: hex of "yyyyMMddHHmmss|key" (the last record served), opaque to clients and safe in
// a query string without escaping.

pub(super) fn encode_cursor(updated: Epoch, key: &str) -> String {
    let text = format!("{}|{key}", super::data::compact(updated));
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(super) fn decode_cursor(cursor: &str) -> Result<(Epoch, String), BadRequest> {
    let bad = || BadRequest("cursor is not one this server issued".into());
    let s = cursor.trim().as_bytes();
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 512 {
        return Err(bad());
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(s.len() / 2);
    for pair in s.chunks(2) {
        let hi = nibble(pair[0]).ok_or_else(bad)?;
        let lo = nibble(pair[1]).ok_or_else(bad)?;
        bytes.push((hi << 4) | lo);
    }
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (date, key) = text.split_once('|').ok_or_else(bad)?;
    let t = parse_compact(date).ok().flatten().ok_or_else(bad)?;
    if key.is_empty() {
        return Err(bad());
    }
    Ok((t, key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let t = parse_compact("20240501083000").unwrap().unwrap();
        let c = encode_cursor(t, "000.01.23.H50-240501-0000042");
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (t, "000.01.23.H50-240501-0000042".to_string())
        );
        for bad in ["", "zz", "abc", "7c", &encode_cursor(t, "")[..30]] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_from_raw_bytes() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(
            bearer("Bearer đúng-token".as_bytes()),
            Some("đúng-token".as_bytes())
        );
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert!(
            constant_time_eq(b"abc", b"abc")
                && !constant_time_eq(b"abc", b"abd")
                && !constant_time_eq(b"ab", b"abc")
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(parse_params(None).unwrap().limit, DEFAULT_LIMIT);
        let p = parse_params(Some("updated_since=20240501000000&limit=7&cursor=ab&x=1")).unwrap();
        assert_eq!(p.limit, 7);
        assert_eq!(p.since, parse_compact("20240501000000").unwrap());
        assert_eq!(p.cursor.as_deref(), Some("ab"));
        for q in [
            "limit=0",
            "limit=1001",
            "limit=5000",
            "limit=-1",
            "limit=",
            "limit=abc",
            "updated_since=2024-05-01",
        ] {
            assert!(parse_params(Some(q)).is_err(), "{q}");
        }
        assert_eq!(parse_params(Some("updated_since=")).unwrap().since, None);
    }
}
