//! Prometheus metrics (`/metrics`), recorded with the `metrics` crate and rendered by
//! `metrics-exporter-prometheus`. Labels are codes, routes and statuses: never personal data.

use crate::entities::referral;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::http::Method;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use std::sync::OnceLock;
use std::time::Duration;

/// A handle on the process's metrics.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Metrics {
    /// The process-wide recorder (installed once; several services in one test process share it).
    pub fn install() -> Metrics {
        let handle = HANDLE
            .get_or_init(|| {
                let buckets = [
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ];
                PrometheusBuilder::new()
                    .set_buckets(&buckets)
                    .ok()
                    .and_then(|b| b.install_recorder().ok())
            })
            .clone();
        Metrics { handle }
    }

    /// A referral was accepted.
    pub fn accepted(&self) {
        metrics::counter!("dtr_referrals_accepted_total").increment(1);
    }

    /// A referral was rejected, counted once per error code.
    pub fn rejected(&self, errors: &[domain::Issue]) {
        metrics::counter!("dtr_referrals_rejected_total").increment(1);
        for e in errors {
            metrics::counter!("dtr_referral_errors_total", "code" => e.code.as_str()).increment(1);
        }
    }

    /// A delivery attempt ended with `outcome` (`delivered`, `retry`, `failed`).
    pub fn delivery(&self, outcome: &'static str, took: Duration) {
        metrics::counter!("dtr_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("dtr_delivery_duration_seconds").record(took.as_secs_f64());
    }

    /// An HTTP request finished.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        metrics::histogram!(
            "dtr_http_request_duration_seconds",
            "route" => route.to_owned(),
            "status" => status.to_string()
        )
        .record(took.as_secs_f64());
    }

    /// The text exposition, with queue depth by status read now.
    pub async fn render(&self, db: &impl ConnectionTrait) -> String {
        let counts: Vec<(String, i64)> = referral::Entity::find()
            .select_only()
            .column(referral::Column::Status)
            .column_as(Expr::col(referral::Column::Seq).count(), "n")
            .group_by(referral::Column::Status)
            .into_tuple()
            .all(db)
            .await
            .unwrap_or_default();
        for status in openapi::ReferralStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("dtr_referrals", "status" => status.as_str()).set(n as f64);
        }
        self.handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
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
        "/v1/authorities",
        "/v1/authorities/:gss_code",
        "/v1/authorities/:gss_code/endpoint",
        "/v1/api-keys",
        "/v1/audit/verify",
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
    }
}
