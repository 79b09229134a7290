//! Health, readiness and metrics for operators.

use super::auth::Tag;
use super::error::ApiError;
use super::AppState;
use openapi::Health;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

/// Readiness.
#[derive(ApiResponse)]
pub enum Readiness {
    /// The database answers.
    #[oai(status = 200)]
    Ready(Json<Health>),
}

/// The operator endpoints.
pub struct OperationsApi;

#[OpenApi]
impl OperationsApi {
    /// Liveness
    #[oai(
        path = "/healthz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "get_liveness"
    )]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }

    /// Readiness
    ///
    /// 200 when the database answers, 503 otherwise.
    #[oai(
        path = "/readyz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "get_readiness"
    )]
    async fn readyz(&self, state: poem::web::Data<&AppState>) -> Result<Readiness, ApiError> {
        state.db.ping().await?;
        Ok(Readiness::Ready(Json(Health {
            status: "ok".to_owned(),
        })))
    }

    /// Metrics
    ///
    /// Prometheus text format.
    #[oai(
        path = "/metrics",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "get_metrics"
    )]
    async fn metrics(&self, state: poem::web::Data<&AppState>) -> PlainText<String> {
        PlainText(state.metrics.render())
    }
}
