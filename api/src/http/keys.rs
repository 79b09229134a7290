//! API keys (CONTRACT §2, §11).

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::AppState;
use crate::audit::Actor;
use openapi::{ApiKeyCreated, ApiKeyRequest, JsonBody, Role};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

/// `201 Created`: a new API key.
#[derive(ApiResponse)]
pub enum KeyCreated {
    /// The key, shown once.
    #[oai(status = 201)]
    Created(Json<ApiKeyCreated>),
}

/// The key operations.
pub struct KeysApi;

#[OpenApi]
impl KeysApi {
    /// Create an API key
    ///
    /// `referrer` keys need `organisation` and `agency_type` (one of the specified public authorities
    /// of s.213B); `authority` keys need the authority's current `gss_code`; `admin` keys neither. The
    /// key is shown only in this answer. Role: admin.
    #[oai(
        path = "/v1/api-keys",
        method = "post",
        tag = "Tag::Keys",
        operation_id = "create_api_key"
    )]
    async fn create_key(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<ApiKeyRequest>,
    ) -> Result<KeyCreated, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "create API keys")?;
        let scope = scope_of_request(&body.0).map_err(|errors| {
            ApiError::invalid(
                openapi::ProblemType::ApiKeyInvalid,
                "The key request is invalid; see errors.",
                errors,
            )
        })?;
        let created =
            crate::keys_cmd::create(&state.db, &scope, Actor::from(caller), state.clock.now_ms())
                .await?;
        Ok(KeyCreated::Created(Json(created)))
    }
}

fn scope_of_request(
    req: &openapi::ApiKeyRequest,
) -> Result<crate::keys::Scope, Vec<openapi::ValidationIssue>> {
    crate::keys_cmd::scope(
        req.role,
        req.organisation.as_deref(),
        req.agency_type.as_deref(),
        req.gss_code.as_deref(),
    )
}
