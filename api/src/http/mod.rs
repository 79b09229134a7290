//! The HTTP service: poem + poem-openapi, wrapped so that every non-2xx answer is problem+json.

mod api;
mod error;

pub use api::Api;
pub use error::ApiError;

use crate::config::Config;
use crate::db::Db;
use crate::keys::{hash_key, Scope};
use crate::metrics::Metrics;
use openapi::{AuditEvent, Authority, Problem, PROBLEM_JSON};
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::headers::authorization::{Authorization, Bearer};
use poem::web::headers::HeaderMapExt;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// What every request can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Configuration.
    pub config: Arc<Config>,
    /// Wakes the delivery worker when new work is queued.
    pub worker: Arc<Notify>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Authenticated keys.
    pub keys: crate::keys::KeyCache,
    /// The group-commit writer for submissions and delivery records.
    pub writer: crate::batch::BatchWriter,
    /// Now (the system clock, or a test's manual one).
    pub clock: crate::clock::Clock,
}

impl AppState {
    /// Tells the delivery worker there may be due work.
    pub fn wake_worker(&self) {
        self.worker.notify_one();
    }
}

const DESCRIPTION: &str = include_str!("api_description.md");

/// The API description with the lists of error and warning codes taken from the domain's one list.
fn description() -> String {
    let list = |warning: bool| {
        domain::Code::ALL
            .iter()
            .filter(|c| c.is_warning() == warning)
            .map(|c| format!("`{}`", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    DESCRIPTION
        .replace("{error_codes}", &list(false))
        .replace("{warning_codes}", &list(true))
}

/// The OpenAPI service (also the source of `dtr openapi`).
pub fn openapi_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        Api,
        "Duty to refer (s.213B Housing Act 1996)",
        env!("CARGO_PKG_VERSION"),
    )
    .description(description())
}

/// Request objects that refuse unknown members (`deny_unknown_fields`); poem-openapi does not write
/// that into the spec, so it is added here for clients and fuzzers.
const CLOSED_OBJECTS: &[&str] = &[
    "Referral",
    "PersonDoc",
    "ContactDoc",
    "AddressDoc",
    "ConsentDoc",
    "SafeguardingOverrideDoc",
    "HousingAuthorityDoc",
    "HousingSituationDoc",
    "PossessionNoticeDoc",
    "RiskDoc",
    "MedicalDoc",
    "HouseholdDoc",
    "ReferrerDoc",
    "EndpointRequest",
    "ApiKeyRequest",
    "AcknowledgeRequest",
];

/// String formats the request objects use (the types are plain strings so the domain can report
/// every problem itself).
const FORMATS: &[(&str, &str, &str)] = &[
    ("PersonDoc", "date_of_birth", "date"),
    ("ConsentDoc", "recorded_at", "date-time"),
    ("HousingSituationDoc", "likely_homeless_on", "date"),
    ("PossessionNoticeDoc", "expires_on", "date"),
    ("ContactDoc", "email", "email"),
    ("ReferrerDoc", "email", "email"),
    ("EndpointRequest", "url", "uri"),
];

/// The spec as a JSON value, completed with what the derive macros cannot say.
pub fn spec_value() -> serde_json::Value {
    let mut spec: serde_json::Value =
        serde_json::from_str(&openapi_service().spec()).unwrap_or_default();
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(|v| v.as_object_mut())
    {
        for name in CLOSED_OBJECTS {
            if let Some(schema) = schemas.get_mut(*name).and_then(|v| v.as_object_mut()) {
                schema.insert(
                    "additionalProperties".to_owned(),
                    serde_json::Value::Bool(false),
                );
            }
        }
        for (name, property, format) in FORMATS {
            if let Some(p) = schemas
                .get_mut(*name)
                .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
                .and_then(|v| v.as_object_mut())
            {
                p.insert("format".to_owned(), serde_json::Value::from(*format));
            }
        }
    }
    spec
}

/// The spec as served at `/openapi.json` and printed by `dtr openapi`.
pub fn spec_json() -> String {
    serde_json::to_string_pretty(&spec_value()).unwrap_or_default()
}

/// The spec as served at `/openapi.yaml`.
pub fn spec_yaml() -> String {
    serde_yaml::to_string(&spec_value()).unwrap_or_default()
}

/// Which methods each path template of the spec allows, for the `Allow` header of a 405.
struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    fn from_spec(spec: &serde_json::Value) -> Self {
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

fn authority(a: &domain::HousingAuthority, push: &HashSet<String>) -> Authority {
    Authority {
        gss_code: a.gss_code.clone(),
        name: a.name.clone(),
        kind: a.kind.as_str().to_owned(),
        delivery_mode: api::mode_of(push.contains(&a.gss_code)),
    }
}

fn audit_event(row: crate::entities::audit_event::Model) -> AuditEvent {
    AuditEvent {
        seq: row.seq,
        at: row.at,
        actor: openapi::Actor {
            key_id: row.actor_key_id,
            role: row.actor_role,
        },
        action: row.action,
        referral_id: row.referral_id,
        detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

fn scope_of_request(req: &openapi::ApiKeyRequest) -> Result<Scope, Vec<openapi::ValidationIssue>> {
    crate::keys_cmd::scope(
        req.role,
        req.organisation.as_deref(),
        req.agency_type.as_deref(),
        req.gss_code.as_deref(),
    )
}

/// A problem+json response.
pub fn problem_response(problem: &Problem) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(PROBLEM_JSON)
        .body(problem.to_json_string())
}

fn is_problem(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// Turns every failure — ours, poem's and poem-openapi's (bad JSON, 404 route, 405, 415, 401) — into
/// RFC 9457 problem+json, and hides the cause of server errors.
async fn problems<E: Endpoint>(
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
async fn body_limit<E: Endpoint>(
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

type KeyedLimiter = governor::RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    crate::clock::Clock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// Per-key token bucket (`DTR_RATE_LIMIT` per second, burst of the same size). Keyed by the SHA-256
/// of the bearer token, so the limiter never holds a key.
async fn rate_limit<E: Endpoint>(
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
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Request id, request timeout, security headers, access log and request metrics.
async fn envelope<E: Endpoint>(
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

/// The whole application.
pub fn app(state: AppState) -> impl Endpoint {
    let service = openapi_service();
    let spec = spec_json();
    let spec_yaml = spec_yaml();
    let allow = Arc::new(AllowTable::from_spec(&spec_value()));
    let docs = service.swagger_ui();
    let max = state.config.max_body_bytes;
    let clock = state.clock.clone();
    let limiter = NonZeroU32::new(state.config.rate_limit).map(|n| {
        Arc::new(governor::RateLimiter::dashmap_with_clock(
            governor::Quota::per_second(n).allow_burst(n),
            clock.clone(),
        ))
    });
    if let Some(l) = &limiter {
        let l = Arc::downgrade(l);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(l) = l.upgrade() else { break };
                l.retain_recent();
                l.shrink_to_fit();
            }
        });
    }
    let metrics = state.metrics.clone();
    let route = Route::new()
        .nest("/", service)
        .nest("/docs", docs)
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            }),
        )
        .at(
            "/openapi.yaml",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/yaml")
                    .body(spec_yaml.clone())
            }),
        )
        .data(state)
        .into_endpoint();
    route
        .around(move |ep, req| rate_limit(ep, req, limiter.clone(), clock.clone()))
        .around(move |ep, req| body_limit(ep, req, max))
        .around(move |ep, req| problems(ep, req, allow.clone()))
        .around(move |ep, req| envelope(ep, req, metrics.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_objects_are_closed_and_dates_have_formats_in_the_spec() {
        let spec = spec_value();
        assert_eq!(
            spec.pointer("/components/schemas/Referral/additionalProperties"),
            Some(&serde_json::Value::Bool(false))
        );
        assert_eq!(
            spec.pointer(
                "/components/schemas/HousingSituationDoc/properties/likely_homeless_on/format"
            )
            .and_then(|v| v.as_str()),
            Some("date")
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
