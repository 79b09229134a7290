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
    let sent_a_key = req.headers().contains_key(header::AUTHORIZATION);
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) if e.is::<poem_openapi::error::ParseParamError>() => {
            // A malformed parameter: typed, with the parameter as the pointer, in plain words
            // (never the framework's text, which quotes validator internals).
            let name = e
                .downcast_ref::<poem_openapi::error::ParseParamError>()
                .map_or("", |p| p.name);
            let location = match name {
                "id" | "gss_code" => "path",
                "Idempotency-Key" => "header",
                _ => "query",
            };
            let mut p = Problem::typed(
                400,
                openapi::ProblemType::RequestInvalidParameter,
                format!("The {location} parameter `{name}` is not valid; see the operation's documentation for what it takes."),
            );
            p.errors = Some(vec![openapi::ValidationIssue {
                pointer: format!("/{location}/{name}"),
                code: domain::Code::FieldInvalidValue.as_str().to_owned(),
                message: format!("`{name}` has a value this operation does not take."),
            }]);
            problem_response(&p)
        }
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
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // The web inbox answers its errors with pages of its own.
    if !status.is_success() && !status.is_redirection() && !is_problem(&resp) && !html {
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
        if sent_a_key {
            // A key was sent but is unknown or revoked: `auth.invalid`, not `auth.missing`.
            let body = resp.take_body().into_bytes().await.unwrap_or_default();
            let fixed = serde_json::from_slice::<serde_json::Value>(&body).ok().map(|mut v| {
                v["type"] = serde_json::Value::from(openapi::ProblemType::AuthInvalid.uri());
                v["detail"] = serde_json::Value::from(
                    "The API key sent is unknown or revoked; send a valid one as Authorization: Bearer <key>.",
                );
                v.to_string()
            });
            resp.set_body(fixed.map_or_else(|| poem::Body::from(body), poem::Body::from));
        }
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

/// Reads the whole body — at most `DTR_MAX_BODY_BYTES` whatever the headers claim (chunked bodies
/// included), and within `wait` of the headers — before the request may take a place in
/// [`Admission`]: a client trickling its body would otherwise hold one of the few places while
/// it does, and a handful of such clients would stop the service for everyone. A body that does
/// not arrive in time is 408 and nothing is done.
pub(crate) async fn body_limit<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    max: usize,
    wait: std::time::Duration,
) -> poem::Result<Response> {
    let body = req.take_body();
    let problem = match tokio::time::timeout(wait, body.into_bytes_limit(max)).await {
        Ok(Ok(bytes)) => {
            req.set_body(bytes);
            return next.call(req).await.map(IntoResponse::into_response);
        }
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => {
            Problem::new(413, format!("The request body is larger than {max} bytes."))
        }
        Ok(Err(_)) => Problem::new(400, "The request body could not be read."),
        Err(_) => Problem::new(
            408,
            format!(
                "The request body did not arrive within {} seconds of its headers; nothing was done.",
                wait.as_secs()
            ),
        ),
    };
    Ok(problem_response(&problem))
}

pub(crate) type KeyedLimiter<K> = governor::RateLimiter<
    K,
    governor::state::keyed::DefaultKeyedStateStore<K>,
    crate::clock::Clock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// The token buckets: one per API key (`DTR_RATE_LIMIT`), and one per client address for requests
/// without a known key (`DTR_RATE_LIMIT_ANON`) — the attackers' requests, which would otherwise be
/// limited by nothing.
pub(crate) struct RateLimits {
    /// Keyed by the SHA-256 of the bearer token, so the limiter never holds a key.
    pub per_key: Option<KeyedLimiter<String>>,
    /// Keyed by the client's address.
    pub per_address: Option<KeyedLimiter<std::net::IpAddr>>,
    /// Which tokens are known keys (in memory: no database query).
    pub keys: crate::keys::KeyRing,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::config::Cidr>,
    /// The limiters' clock.
    pub clock: crate::clock::Clock,
    /// IPv6 clients are counted by this many leading bits (`DTR_IPV6_CLIENT_PREFIX`).
    pub ipv6_prefix: u8,
}

impl RateLimits {
    /// Forgets buckets not used lately (run every minute).
    pub fn tidy(&self) {
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The client's address: the peer, unless the peer is a trusted reverse proxy, in which case the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy (the rightmost entries
/// are the ones our proxies appended; anything left of them a client may have forged).
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[crate::config::Cidr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

fn too_many(wait: std::time::Duration, whose: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let p = Problem::new(
        429,
        format!("Rate limit exceeded for {whose}; retry after {secs} s."),
    );
    let mut resp = problem_response(&p);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

/// Applies the per-key or the per-address bucket.
pub(super) async fn rate_limit<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    limits: Arc<RateLimits>,
) -> poem::Result<Response> {
    let now = governor::clock::Clock::now(&limits.clock);
    let known = req
        .headers()
        .typed_get::<Authorization<Bearer>>()
        .map(|auth| hash_key(auth.token()))
        .filter(|digest| limits.keys.lookup(digest).is_some());
    match known {
        Some(digest) => {
            if let Some(limiter) = &limits.per_key {
                if let Err(not_until) = limiter.check_key(&digest) {
                    return Ok(too_many(not_until.wait_time_from(now), "this API key"));
                }
            }
        }
        None => {
            if let Some(limiter) = &limits.per_address {
                let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
                let forwarded = req
                    .headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok());
                if let Some(client) = client_address(peer, forwarded, &limits.trusted_proxies) {
                    let client = crate::slow_clients::client_key(client, limits.ipv6_prefix);
                    if let Err(not_until) = limiter.check_key(&client) {
                        return Ok(too_many(
                            not_until.wait_time_from(now),
                            "requests without a valid API key from this address",
                        ));
                    }
                }
            }
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Admission control: at most `permits` requests are handled at once, the rest wait in turn. A
/// burst waits (up to [`BURST_WAIT`]); but once requests have had to wait longer than
/// [`TARGET_WAIT`] for a whole [`INTERVAL`] — the service is overloaded, not busy for a moment —
/// a newcomer waits at most [`OVERLOAD_WAIT`] and is then answered 503 `service.overloaded` with
/// `Retry-After` (so are newcomers finding [`BURST_QUEUE`], or four times `permits` if more,
/// already waiting). The overload ends when waits stay short for an interval, or at once when a
/// newcomer finds a place free, nobody waiting and nobody refused for [`QUIET`]. This is CoDel's
/// idea applied to requests: memory stays bounded and the latency of what is accepted stays flat
/// under sustained overload, while a client that sends a hundred requests at once is served.
/// Health, readiness and metrics are never held back: an operator must see an overloaded service.
pub struct Admission {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
    /// Milliseconds since `epoch` from which waits count as overload (0: not waiting too long).
    overloaded_from: std::sync::atomic::AtomicU64,
    /// Milliseconds since `epoch` since when waits have been short (0: the last one was long).
    calm_from: std::sync::atomic::AtomicU64,
    /// Milliseconds since `epoch` when a newcomer was last refused (0: never).
    last_refused: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

/// The wait that counts as too long when it lasts.
pub const TARGET_WAIT: std::time::Duration = std::time::Duration::from_millis(5);
/// How long a newcomer waits for a place once the service is overloaded. Arrivals then outpace
/// the places freed, so a wait this short still finds every freed place a taker; a longer one only
/// adds to the latency of what is accepted (measured, README measure 8: at twice saturation on one
/// CPU, p99 18–19 ms with 1 ms against 21–23 ms with 5 ms, the same throughput).
pub const OVERLOAD_WAIT: std::time::Duration = std::time::Duration::from_millis(1);
/// How long nobody must have been refused before a place found free with nobody waiting ends an
/// overload. Without it, the moments a place is free under sustained overload ended it again and
/// again, and the queue that built up each time took the accepted p99 at twice saturation from
/// 18 ms to 52–61 ms (README measure 8).
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(100);
/// How long waits must stay too long before newcomers are refused quickly.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
/// The longest a request waits when the service is not overloaded.
pub const BURST_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// The fewest requests that may wait their turn at once: a burst of a few hundred from one case
/// system is served, however few are handled at once. A waiting request holds its connection and
/// its body (at most `DTR_MAX_BODY_BYTES`, read before it waits: see [`body_limit`]).
pub const BURST_QUEUE: usize = 256;

impl Admission {
    /// A gate for `permits` requests at once.
    pub fn new(permits: usize) -> Admission {
        Admission {
            permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            waiting: Default::default(),
            max_waiting: permits.saturating_mul(4).max(BURST_QUEUE),
            overloaded_from: Default::default(),
            calm_from: Default::default(),
            last_refused: Default::default(),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    /// Whether waits have stayed too long for a whole interval.
    fn overloaded(&self) -> bool {
        let from = self
            .overloaded_from
            .load(std::sync::atomic::Ordering::Acquire);
        from != 0 && self.now_ms() >= from
    }

    /// Learns from how long a request waited. Overload begins when waits have stayed over
    /// [`TARGET_WAIT`] for an [`INTERVAL`], and ends only when they have stayed under it for an
    /// interval too: one lucky request that found the queue briefly empty does not end it.
    fn waited(&self, wait: std::time::Duration) {
        use std::sync::atomic::Ordering;
        let now = self.now_ms();
        let interval = u64::try_from(INTERVAL.as_millis()).unwrap_or(0);
        if wait > TARGET_WAIT {
            self.calm_from.store(0, Ordering::Release);
            let _ = self.overloaded_from.compare_exchange(
                0,
                now + interval,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        } else {
            let _ = self
                .calm_from
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
            let calm_from = self.calm_from.load(Ordering::Acquire);
            if calm_from != 0 && now >= calm_from + interval {
                self.overloaded_from.store(0, Ordering::Release);
            }
        }
    }

    async fn enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            // A free place, nobody waiting and nobody refused for a while: the queue has drained
            // and the load has passed — a case system's next burst waits its turn, not refused
            // because of the last one. Under sustained overload newcomers are refused every
            // fraction of a millisecond, so a place free for a moment ends nothing.
            let last_refused = self.last_refused.load(Ordering::Acquire);
            let quiet = u64::try_from(QUIET.as_millis()).unwrap_or(0);
            if self.waiting.load(Ordering::Acquire) == 0 && self.now_ms() >= last_refused + quiet {
                self.overloaded_from.store(0, Ordering::Release);
            }
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.last_refused.store(self.now_ms(), Ordering::Release);
            return None;
        }
        let limit = if self.overloaded() {
            OVERLOAD_WAIT
        } else {
            BURST_WAIT
        };
        let started = Instant::now();
        let permit = tokio::time::timeout(limit, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(permit)) => {
                self.waited(started.elapsed());
                Some(permit)
            }
            // Refused after its wait: the queue stands, whatever the wait's length (under
            // overload it is shorter than `TARGET_WAIT`, and must not read as calm).
            _ => {
                self.waited(BURST_WAIT);
                self.last_refused.store(self.now_ms(), Ordering::Release);
                None
            }
        }
    }
}

/// Applies [`Admission`].
pub(super) async fn admission<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    gate: Arc<Admission>,
) -> poem::Result<Response> {
    // Health, readiness and metrics must answer an operator whatever the load; the event feed's
    // long polls spend their time asleep (bounded per key, woken only by their own tenant's
    // commits) and must not hold the places other requests need.
    if matches!(
        req.uri().path(),
        "/healthz" | "/readyz" | "/metrics" | "/v1/events"
    ) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let Some(_permit) = gate.enter().await else {
        let problem = Problem::typed(
            503,
            openapi::ProblemType::ServiceOverloaded,
            "The service is handling more requests than it takes at once; nothing was done. Try again after Retry-After seconds.",
        );
        let mut resp = problem_response(&problem);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1u32));
        return Ok(resp);
    };
    next.call(req).await.map(IntoResponse::into_response)
}

/// A caller's `X-Request-Id`, when it is a UUID: anything else could be a case reference or a name,
/// and request ids are logged.
pub fn usable_request_id(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    (raw.len() == 36)
        .then(|| uuid::Uuid::try_parse(raw).ok())
        .flatten()
        .map(|id| id.hyphenated().to_string())
}

/// Request id, request timeout, security headers, access log and request metrics.
pub(super) async fn envelope<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    metrics: Metrics,
    timeout: std::time::Duration,
    hsts: bool,
) -> poem::Result<Response> {
    let request_id = usable_request_id(
        req.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    )
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
            timeout,
            tracing::Instrument::instrument(next.call(req), span.clone()),
        )
        .await
    };
    let mut resp = match result {
        Ok(Ok(r)) => r.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            // Dropping the handler rolls back a transaction it still held, but a submission handed
            // to the batch writer may commit after this answer: the outcome is unknown, not void.
            tracing::warn!(parent: &span, "request timed out");
            problem_response(&Problem::new(
                503,
                "The request took too long and was abandoned; whether it took effect is unknown. Retry it: a submission retried with the same Idempotency-Key answers the original referral if it was stored.",
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
    if hsts {
        // The service is reached over HTTPS (DTR_PUBLIC_URL), through a proxy that terminates
        // TLS: browsers must never fall back to plain HTTP for it.
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if headers.contains_key("content-security-policy") {
        // A web page's own stack set its policy (crate::web).
    } else if docs {
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

    #[tokio::test]
    async fn a_burst_of_256_waits_its_turn_however_few_are_handled_at_once_and_the_next_is_refused()
    {
        let gate = Arc::new(Admission::new(1));
        let held = gate.enter().await.expect("the one place");
        let waiters: Vec<_> = (0..BURST_QUEUE)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.enter().await.is_some() })
            })
            .collect();
        let waiting = || gate.waiting.load(std::sync::atomic::Ordering::Acquire);
        for _ in 0..100_000 {
            if waiting() >= BURST_QUEUE {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(waiting(), BURST_QUEUE, "all of the burst waits");
        // The queue is full: the next is refused at once, not after a wait.
        let next = tokio::time::timeout(std::time::Duration::from_millis(500), gate.enter()).await;
        assert!(matches!(next, Ok(None)), "refused at once");
        drop(held);
        for w in waiters {
            assert!(
                w.await.expect("the waiter ran"),
                "every waiter had its turn"
            );
        }
    }

    #[tokio::test]
    async fn once_overloaded_a_newcomer_is_refused_refusals_keep_it_so_and_a_drained_queue_ends_it()
    {
        let gate = Arc::new(Admission::new(1));
        let held = gate.enter().await.expect("the one place");
        gate.waited(TARGET_WAIT * 2);
        tokio::time::sleep(INTERVAL).await;
        assert!(gate.overloaded(), "waits too long for an interval");
        for _ in 0..3 {
            assert!(
                gate.enter().await.is_none(),
                "refused while the place is held"
            );
            tokio::time::sleep(INTERVAL / 2).await;
        }
        assert!(
            gate.overloaded(),
            "refusals after a short wait do not read as calm"
        );
        assert!(gate.enter().await.is_none(), "refused just now");
        drop(held);
        drop(gate.enter().await.expect("a free place, at once"));
        assert!(
            gate.overloaded(),
            "a place free just after a refusal ends nothing"
        );
        tokio::time::sleep(QUIET).await;
        let held = gate.enter().await.expect("a free place, at once");
        assert!(
            !gate.overloaded(),
            "a drained, quiet queue ends the overload"
        );
        // The next burst waits its turn (longer than OVERLOAD_WAIT) rather than being refused.
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.is_some() })
        };
        tokio::time::sleep(OVERLOAD_WAIT * 20).await;
        drop(held);
        assert!(
            waiter.await.expect("the waiter ran"),
            "served after its wait"
        );
    }

    #[test]
    fn only_a_uuid_is_used_as_the_request_id() {
        let id = "0b1c6c3e-51a4-4f0e-9d3a-2c8f1e7a9b10";
        assert_eq!(usable_request_id(Some(id)).as_deref(), Some(id));
        assert_eq!(
            usable_request_id(Some("0B1C6C3E-51A4-4F0E-9D3A-2C8F1E7A9B10")).as_deref(),
            Some(id)
        );
        for bad in [
            "case-4211",
            "Zephyrine Quill",
            "0b1c6c3e51a44f0e9d3a2c8f1e7a9b10",
            "",
        ] {
            assert_eq!(usable_request_id(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_client_address_is_believed_from_trusted_proxies_only() {
        let proxies = [crate::config::Cidr::parse("10.0.0.0/8").expect("a range")];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("an address");
        // Not through a proxy: the peer, whatever the header says.
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), Some("198.51.100.1"), &proxies),
            Some(ip("203.0.113.9"))
        );
        // Through our proxy: the nearest untrusted hop; a forged left-hand entry is ignored.
        assert_eq!(
            client_address(
                Some(ip("10.0.0.2")),
                Some("1.2.3.4, 198.51.100.1, 10.0.0.3"),
                &proxies
            ),
            Some(ip("198.51.100.1"))
        );
        // A proxy without the header: the proxy itself.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), None, &proxies),
            Some(ip("10.0.0.2"))
        );
    }

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
