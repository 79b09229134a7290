//! What wraps every request: problem+json for every failure, the body limit, per-key rate limits,
//! the request id, timeout, security headers, access log and metrics.

use crate::keys::hash_key;
use crate::metrics::Metrics;
use openapi::{Problem, PROBLEM_JSON};
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::headers::authorization::{Authorization, Bearer};
use poem::web::headers::HeaderMapExt;
use poem::{Endpoint, IntoResponse, Request, Response};
use std::sync::Arc;
use std::time::Instant;

/// Which methods each path template of the spec allows, for the `Allow` header of a 405.
pub(super) struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    pub(super) fn from_spec(spec: &serde_json::Value) -> Self {
        let mut rows = vec![];
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, ops) in paths {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                methods.sort();
                rows.push((segments, methods.join(", ")));
            }
        }
        AllowTable(rows)
    }

    fn allow(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == parts.len()
                    && template
                        .iter()
                        .zip(&parts)
                        .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
            })
            .map(|(_, allow)| allow.as_str())
    }
}

/// A problem+json response.
pub fn problem_response(problem: &Problem) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(PROBLEM_JSON)
        .body(problem.to_json_string())
}

pub(super) fn is_problem(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// Turns every failure — ours, poem's and poem-openapi's (bad JSON, 404 route, 405, 415, 401) — into
/// RFC 9457 problem+json, and hides the cause of server errors.
pub(super) async fn problems<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    allow: Arc<AllowTable>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => {
            let status = e.status();
            let detail = match status {
                s if s.is_server_error() => {
                    tracing::error!(error = %e, "request failed");
                    "An internal error occurred; it has been logged.".to_owned()
                }
                StatusCode::UNAUTHORIZED => {
                    "Send a valid API key as Authorization: Bearer <key>.".to_owned()
                }
                StatusCode::NOT_FOUND => "No such resource.".to_owned(),
                StatusCode::METHOD_NOT_ALLOWED => {
                    "This method is not allowed on this resource.".to_owned()
                }
                _ => e.to_string(),
            };
            let mut resp = e.into_response();
            if !is_problem(&resp) {
                let p = Problem::new(status.as_u16(), detail);
                let body = problem_response(&p);
                resp.set_body(body.into_body());
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            }
            resp
        }
    };
    let status = resp.status();
    if !status.is_success() && !status.is_redirection() && !is_problem(&resp) {
        let detail = match status {
            StatusCode::NOT_FOUND => "No such resource.".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => {
                "This method is not allowed on this resource.".to_owned()
            }
            s if s.is_server_error() => {
                "An internal error occurred; it has been logged.".to_owned()
            }
            s => openapi::reason_phrase(s.as_u16()).to_owned(),
        };
        let p = Problem::new(status.as_u16(), detail);
        resp.set_body(p.to_json_string());
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    }
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key(header::ALLOW) {
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        if let Some(v) = allow
            .allow(&path)
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            resp.headers_mut().insert(header::ALLOW, v);
        }
    }
    Ok(resp)
}

/// Reads the body up to `DTR_MAX_BODY_BYTES` whatever the headers claim (chunked bodies included).
pub(super) async fn body_limit<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    max: usize,
) -> poem::Result<Response> {
    let body = req.take_body();
    match body.into_bytes_limit(max).await {
        Ok(bytes) => req.set_body(bytes),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => {
            let p = Problem::new(413, format!("The request body is larger than {max} bytes."));
            return Ok(problem_response(&p));
        }
        Err(_) => {
            let p = Problem::new(400, "The request body could not be read.");
            return Ok(problem_response(&p));
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

pub(super) type KeyedLimiter = governor::RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    crate::clock::Clock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// Per-key token bucket (`DTR_RATE_LIMIT` per second, burst of the same size). Keyed by the SHA-256
/// of the bearer token, so the limiter never holds a key.
pub(super) async fn rate_limit<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    limiter: Option<Arc<KeyedLimiter>>,
    clock: crate::clock::Clock,
) -> poem::Result<Response> {
    if let (Some(limiter), Some(auth)) =
        (&limiter, req.headers().typed_get::<Authorization<Bearer>>())
    {
        if let Err(not_until) = limiter.check_key(&hash_key(auth.token())) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&clock));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let p = Problem::new(
                429,
                format!("Rate limit exceeded for this API key; retry after {secs} s."),
            );
            let mut resp = problem_response(&p);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Ok(resp);
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The longest a request may take before it is abandoned (and its transaction rolled back).
/// Above the event feed's longest wait (30 s), so a long poll ends by itself.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(40);

/// Request id, request timeout, security headers, access log and request metrics.
pub(super) async fn envelope<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    metrics: Metrics,
) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let docs = path == "/docs" || path.starts_with("/docs/");
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method);
    let result = {
        let _entered = span.enter();
        tracing::debug!("request started");
        drop(_entered);
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            tracing::Instrument::instrument(next.call(req), span.clone()),
        )
        .await
    };
    let mut resp = match result {
        Ok(Ok(r)) => r.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            // Dropping the handler rolls back its transaction: nothing half-done is committed.
            tracing::warn!(parent: &span, "request timed out");
            problem_response(&Problem::new(
                503,
                "The request took too long and was abandoned; nothing was changed. Try again.",
            ))
        }
    };
    let elapsed = started.elapsed();
    let route = crate::metrics::route_label(&method, &path);
    metrics.request(&route, resp.status().as_u16(), elapsed);
    {
        let _entered = span.enter();
        tracing::info!(route = %route, status = resp.status().as_u16(), duration_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
    }
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if docs {
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"),
        );
    } else {
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::spec_value;

    #[test]
    fn the_allow_table_matches_templates() {
        let table = AllowTable::from_spec(&spec_value());
        assert_eq!(table.allow("/v1/referrals"), Some("GET, POST"));
        assert_eq!(table.allow("/v1/referrals/abc/redeliver"), Some("POST"));
        assert_eq!(
            table.allow("/v1/authorities/E09000033/endpoint"),
            Some("DELETE, PUT")
        );
        assert_eq!(table.allow("/nope"), None);
    }
}
