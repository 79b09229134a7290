//! Prometheus metrics (`/metrics`), recorded with the `metrics` crate and rendered by
//! `metrics-exporter-prometheus`. Labels are codes, routes and statuses from fixed sets: never
//! personal data, and never a value a caller can invent.

use crate::entities::referral;
use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use poem::http::Method;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QuerySelect};
use std::sync::Arc;
use std::time::Duration;

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// This service's metrics. Each service has its own recorder rather than the process-wide one, so
/// two services in one process (as in the tests) never count each other's requests.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh recorder with the request-duration buckets.
    pub fn new() -> Metrics {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let builder = PrometheusBuilder::new();
        let recorder = match builder.set_buckets(&buckets) {
            Ok(b) => b.build_recorder(),
            // Only an empty bucket list is refused; fall back to summaries rather than fail.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        Metrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        Key::from_parts(
            name,
            labels
                .iter()
                .map(|(k, v)| Label::new(*k, (*v).to_owned()))
                .collect::<Vec<_>>(),
        )
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> metrics::Counter {
        self.recorder
            .register_counter(&Self::key(name, labels), &METADATA)
    }

    /// A referral was accepted.
    pub fn accepted(&self) {
        self.counter("dtr_referrals_accepted_total", &[])
            .increment(1);
    }

    /// A referral was rejected, counted once per error code.
    pub fn rejected(&self, errors: &[domain::Issue]) {
        self.counter("dtr_referrals_rejected_total", &[])
            .increment(1);
        for e in errors {
            self.counter("dtr_referral_errors_total", &[("code", e.code.as_str())])
                .increment(1);
        }
    }

    /// A delivery attempt ended with `outcome` (`delivered`, `retry`, `failed`).
    pub fn delivery(&self, outcome: &'static str, took: Duration) {
        self.counter("dtr_deliveries_total", &[("outcome", outcome)])
            .increment(1);
        self.recorder
            .register_histogram(&Self::key("dtr_delivery_duration_seconds", &[]), &METADATA)
            .record(took.as_secs_f64());
    }

    /// An HTTP request finished.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        let status = status.to_string();
        self.recorder
            .register_histogram(
                &Self::key(
                    "dtr_http_request_duration_seconds",
                    &[("route", route), ("status", &status)],
                ),
                &METADATA,
            )
            .record(took.as_secs_f64());
    }

    /// Reads the queue depth by status now and keeps it for the next scrapes. When the database
    /// does not answer, every status reads NaN ("unknown" in Prometheus) and `dtr_database_up` 0,
    /// rather than a reassuring 0.
    pub async fn refresh_queue_depth(&self, db: &impl ConnectionTrait) {
        let counts: Result<Vec<(String, i64)>, DbErr> = referral::Entity::find()
            .select_only()
            .column(referral::Column::Status)
            .column_as(Expr::col(referral::Column::Seq).count(), "n")
            .group_by(referral::Column::Status)
            .into_tuple()
            .all(db)
            .await;
        let up = counts.is_ok();
        for status in openapi::ReferralStatus::ALL {
            let n = match &counts {
                Ok(counts) => counts
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0.0, |(_, n)| *n as f64),
                Err(_) => f64::NAN,
            };
            self.recorder
                .register_gauge(
                    &Self::key("dtr_referrals", &[("status", status.as_str())]),
                    &METADATA,
                )
                .set(n);
        }
        self.recorder
            .register_gauge(&Self::key("dtr_database_up", &[]), &METADATA)
            .set(if up { 1.0 } else { 0.0 });
    }

    /// Drains histogram samples into their buckets; run periodically so memory stays bounded
    /// between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text exposition. Reads nothing from the database: an unauthenticated scrape costs no
    /// query (the queue depth is refreshed on a timer).
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// A route label with ids replaced, so label cardinality stays bounded.
pub fn route_label(method: &Method, path: &str) -> String {
    let shape: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| match (i, seg) {
            (3, s) if path.starts_with("/v1/referrals/") && s != "validate" => ":id",
            (3, _) if path.starts_with("/v1/authorities/") => ":gss_code",
            (5, _) if path.starts_with("/v1/authorities/") && path.contains("/officers/") => ":id",
            (3, _) if path.starts_with("/v1/api-keys/") => ":id",
            (3, _) if path.starts_with("/inbox/referrals/") => ":id",
            (3, _) if path.starts_with("/inbox/assets/") => ":file",
            (_, s) => s,
        })
        .collect();
    let known = [
        "/v1/referrals",
        "/v1/referrals/validate",
        "/v1/referrals/:id",
        "/v1/referrals/:id/audit",
        "/v1/referrals/:id/acknowledge",
        "/v1/referrals/:id/redeliver",
        "/v1/referrals/:id/outcome",
        "/v1/referrals/:id/withdraw",
        "/v1/referrals/:id/erase",
        "/v1/referrals/:id/notes",
        "/v1/authorities",
        "/v1/authorities/:gss_code",
        "/v1/authorities/:gss_code/endpoint",
        "/v1/authorities/:gss_code/endpoint/rotate-secret",
        "/v1/authorities/:gss_code/notify",
        "/v1/authorities/:gss_code/officers",
        "/v1/authorities/:gss_code/officers/:id",
        "/v1/api-keys",
        "/v1/api-keys/:id",
        "/v1/audit/verify",
        "/v1/audit/checkpoint",
        "/v1/events",
        "/inbox",
        "/inbox/sign-in",
        "/inbox/sign-in/link",
        "/inbox/sign-out",
        "/inbox/referrals/:id",
        "/inbox/referrals/:id/acknowledge",
        "/inbox/referrals/:id/outcome",
        "/inbox/referrals/:id/notes",
        "/inbox/assets/:file",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/openapi.yaml",
    ];
    let joined = shape.join("/");
    let route = if known.contains(&joined.as_str()) {
        joined
    } else if path.starts_with("/docs") {
        "/docs".to_owned()
    } else {
        "other".to_owned()
    };
    // Methods from a fixed set: any token is a valid HTTP method, and a label per invented method
    // would let anyone grow this process's memory and every scrape without bound.
    let method = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    format!("{method} {route}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_folded_out_of_route_labels() {
        assert_eq!(
            route_label(&Method::GET, "/v1/referrals/123e4567"),
            "GET /v1/referrals/:id"
        );
        assert_eq!(
            route_label(&Method::POST, "/v1/referrals/validate"),
            "POST /v1/referrals/validate"
        );
        assert_eq!(
            route_label(&Method::PUT, "/v1/authorities/E09000033/endpoint"),
            "PUT /v1/authorities/:gss_code/endpoint"
        );
        assert_eq!(route_label(&Method::GET, "/wp-admin/x"), "GET other");
        assert_eq!(
            route_label(&Method::POST, "/inbox/referrals/0190-x/outcome"),
            "POST /inbox/referrals/:id/outcome"
        );
        assert_eq!(
            route_label(
                &Method::DELETE,
                "/v1/authorities/E06000001/officers/5b1e-uuid"
            ),
            "DELETE /v1/authorities/:gss_code/officers/:id"
        );
        assert_eq!(
            route_label(&Method::GET, "/inbox/assets/anything.css"),
            "GET /inbox/assets/:file"
        );
        let invented = Method::from_bytes(&[b'X'; 8000]).expect("any token is a method");
        assert_eq!(
            route_label(&invented, "/v1/referrals"),
            "OTHER /v1/referrals"
        );
    }

    #[test]
    fn each_service_counts_only_its_own_requests() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.accepted();
        a.accepted();
        b.accepted();
        assert!(a.render().contains("dtr_referrals_accepted_total 2"));
        assert!(b.render().contains("dtr_referrals_accepted_total 1"));
    }
}
