//! The HTTP service: poem + poem-openapi, wrapped so that every non-2xx answer is problem+json.
//! One file per resource (referrals, audit, authorities, keys, operations); paging, middleware and
//! the spec's completion in their own files.

mod audit;
mod auth;
mod authorities;
mod error;
mod keys;
mod mailboxes;
pub(crate) mod middleware;
mod operations;
mod organisations;
mod paging;
mod referrals;
mod spec;
mod views;

pub use error::ApiError;
pub use middleware::{client_address, problem_response, usable_request_id};
pub use spec::{openapi_service, spec_json, spec_value, spec_yaml};
pub use views::warnings_of;

use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use middleware::{body_limit, envelope, problems, rate_limit, AllowTable, RateLimits};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::Notify;

/// Every operation group, joined for the spec and the router.
pub type Api = (
    referrals::ReferralsApi,
    audit::AuditApi,
    authorities::AuthoritiesApi,
    mailboxes::MailboxesApi,
    keys::KeysApi,
    operations::OperationsApi,
    organisations::OrganisationsApi,
);

/// The operation groups, for the spec and the router.
fn api() -> Api {
    (
        referrals::ReferralsApi,
        audit::AuditApi,
        authorities::AuthoritiesApi,
        mailboxes::MailboxesApi,
        keys::KeysApi,
        operations::OperationsApi,
        organisations::OrganisationsApi,
    )
}

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
    /// The active keys, in memory.
    pub keys: crate::keys::KeyRing,
    /// The group-commit writer for submissions and delivery records.
    pub writer: crate::referrals::group_commit::BatchWriter,
    /// Now (the system clock, or a test's manual one).
    pub clock: crate::clock::Clock,
    /// Seals signing secrets before they are stored (`DTR_SECRET_KEY`).
    pub secrets: crate::authorities::secrets::SecretBox,
    /// Signs audit checkpoints.
    pub audit_key: Arc<crate::audit::checkpoint::AuditKey>,
    /// Sends e-mail, when `DTR_SMTP_URL` is set.
    pub mailer: Option<crate::delivery::email::Mailer>,
    /// The event feed's waiting long polls.
    pub feed: Arc<crate::audit::feed::FeedBus>,
}

impl AppState {
    /// Tells the delivery worker there may be due work.
    pub fn wake_worker(&self) {
        self.worker.notify_one();
    }

    /// Today's date in England, by the service's clock: what urgency is judged on.
    pub fn today(&self) -> jiff::civil::Date {
        domain::calendar::uk_date(self.clock.now())
    }
}

/// The whole application.
pub fn app(state: AppState) -> impl Endpoint {
    let service = openapi_service();
    let spec = spec_json();
    let spec_yaml = spec_yaml();
    let allow = Arc::new(AllowTable::from_spec(&spec_value()));
    let docs = service.swagger_ui();
    let max = state.config.max_body_bytes;
    let limits = Arc::new(RateLimits {
        per_key: NonZeroU32::new(state.config.rate_limit).map(|n| {
            governor::RateLimiter::dashmap_with_clock(
                governor::Quota::per_second(n).allow_burst(n),
                state.clock.clone(),
            )
        }),
        per_address: NonZeroU32::new(state.config.rate_limit_anon).map(|n| {
            governor::RateLimiter::dashmap_with_clock(
                governor::Quota::per_second(n).allow_burst(n),
                state.clock.clone(),
            )
        }),
        keys: state.keys.clone(),
        trusted_proxies: state.config.trusted_proxies.clone(),
        clock: state.clock.clone(),
        ipv6_prefix: state.config.ipv6_client_prefix,
    });
    let inbox_limits = Arc::new(crate::web::InboxLimits::new(
        limits.clone(),
        state.clock.clone(),
    ));
    {
        let (limits, inbox_limits) = (Arc::downgrade(&limits), Arc::downgrade(&inbox_limits));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let (Some(l), Some(i)) = (limits.upgrade(), inbox_limits.upgrade()) else {
                    break;
                };
                l.tidy();
                i.tidy();
            }
        });
    }
    let timeout = state.config.request_timeout;
    let metrics = state.metrics.clone();
    let hsts = state.config.public_url.starts_with("https://");
    let gate = Arc::new(middleware::Admission::new(
        state.config.max_concurrent_requests,
    ));
    // The API's stack: rate limits per key, the body limit, problem+json for every error.
    let api = Route::new()
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
        .into_endpoint()
        .around(move |ep, req| rate_limit(ep, req, limits.clone()))
        .around(move |ep, req| problems(ep, req, allow.clone()));
    // The web pages have their own (crate::web); both share the body limit, admission control
    // and the envelope (request id, timeout, metrics, the headers every answer carries). The
    // body is read before admission, so only requests ready to be handled hold its places.
    let body_wait = state.config.body_timeout;
    Route::new()
        .nest_no_strip("/inbox", crate::web::routes(inbox_limits.clone()))
        .nest_no_strip("/refer", crate::web::refer_routes(inbox_limits))
        .nest("/", api)
        .data(state)
        .into_endpoint()
        .around(move |ep, req| middleware::admission(ep, req, gate.clone()))
        .around(move |ep, req| body_limit(ep, req, max, body_wait))
        .around(move |ep, req| envelope(ep, req, metrics.clone(), timeout, hsts))
}
