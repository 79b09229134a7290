//! Health, readiness and metrics for operators.

use super::auth::Tag;
use super::error::ApiError;
use super::AppState;
use openapi::Health;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

/// The longest a readiness check waits for the database.
const READINESS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// Readiness.
#[derive(ApiResponse)]
pub enum Readiness {
    /// The database answers and takes a write.
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
    /// 200 when the database answers and takes a write now; 503 (`storage.unavailable`, with
    /// `Retry-After`) when it does not, or when a write failed for the storage's sake in the last
    /// few seconds (a full disk, an I/O error, a lost database). Answers within a few seconds
    /// whatever the database does.
    #[oai(
        path = "/readyz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "get_readiness"
    )]
    async fn readyz(&self, state: poem::web::Data<&AppState>) -> Result<Readiness, ApiError> {
        match tokio::time::timeout(READINESS_DEADLINE, state.db.ready()).await {
            Ok(result) => result?,
            Err(_) => return Err(ApiError::storage_unavailable()),
        }
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
