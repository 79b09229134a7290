//! The register of housing authorities and their delivery endpoints (docs/contract.md §3).

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{cursor_code, page_limit, trim_page};
use super::AppState;
use crate::audit::Actor;
use crate::authorities::{self, endpoint_url};
use crate::ids::GssCode;
use base64::Engine;
use openapi::{
    Authority, AuthorityList, DeliveryMode, EndpointCreated, EndpointRequest, JsonBody, Role,
    ValidationIssue,
};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use rand::RngCore;

/// `204 No Content`.
#[derive(ApiResponse)]
pub enum Removed {
    /// The authority is back to pull delivery.
    #[oai(status = 204)]
    NoContent,
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// How long the previous secret still signs after a rotation (Standard Webhooks' overlap).
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The authority operations.
pub struct AuthoritiesApi;

#[OpenApi]
impl AuthoritiesApi {
    /// List housing authorities
    ///
    /// The register of English housing authorities (296 since April 2023; Barnsley and Sheffield were
    /// re-coded in April 2025). `q` filters by part of the name or a code prefix. Any role.
    #[oai(
        path = "/v1/authorities",
        method = "get",
        tag = "Tag::Authorities",
        operation_id = "list_authorities"
    )]
    async fn authorities(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Part of the name (case-insensitive) or the start of a GSS code.
        q: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` from the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuthorityList>, ApiError> {
        let _ = auth;
        let limit = usize::try_from(page_limit(limit.0)?).unwrap_or(50);
        let after = cursor_code(cursor.0.as_deref())?;
        let push = authorities::push_authorities(&state.db).await?;
        let query = q.0.unwrap_or_default();
        let mut matching = domain::register()
            .search(&query)
            .filter(|a| after.as_deref().is_none_or(|c| a.gss_code.as_str() > c))
            .take(limit + 1)
            .map(|a| authority(a, &push))
            .collect::<Vec<Authority>>();
        let next_cursor = trim_page(&mut matching, limit as u64, |a| a.gss_code.clone());
        Ok(Json(AuthorityList {
            items: matching,
            next_cursor,
        }))
    }

    /// Read a housing authority
    ///
    /// One authority with its `delivery_mode` (`push` when it has an endpoint, else `pull`).
    #[oai(
        path = "/v1/authorities/:gss_code",
        method = "get",
        tag = "Tag::Authorities",
        operation_id = "get_authority"
    )]
    async fn authority(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
    ) -> Result<Json<Authority>, ApiError> {
        let _ = auth;
        let Some(a) = domain::register().get(&gss_code.0) else {
            return Err(ApiError::not_found("housing authority"));
        };
        let push = authorities::push_authorities(&state.db).await?;
        Ok(Json(authority(a, &push)))
    }

    /// Set an authority's endpoint
    ///
    /// Referrals for the authority are then pushed to `url` (public `https` only; internal addresses
    /// are refused unless `DTR_ALLOW_INSECURE_ENDPOINTS`), signed per Standard Webhooks with the
    /// returned secret, which is shown only now. Its `awaiting_collection` referrals move to the push
    /// queue. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/endpoint",
        method = "put",
        tag = "Tag::Authorities",
        operation_id = "set_authority_endpoint"
    )]
    async fn set_endpoint(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
        body: JsonBody<EndpointRequest>,
    ) -> Result<Json<EndpointCreated>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage authority endpoints")?;
        let Some(a) = domain::register().get(&gss_code.0) else {
            return Err(ApiError::not_found("housing authority"));
        };
        let url = endpoint_url::check(&body.0.url, state.config.allow_insecure_endpoints).map_err(
            |r| {
                ApiError::invalid(
                    openapi::ProblemType::EndpointUrlNotAllowed,
                    format!("The endpoint URL was refused: {r}."),
                    vec![ValidationIssue {
                        pointer: "/url".into(),
                        code: "endpoint.url_not_allowed".into(),
                        message: r.to_string(),
                    }],
                )
            },
        )?;
        let secret = new_secret();
        let ms = state.clock.now_ms();
        authorities::set_endpoint(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            url.as_str(),
            &state.secrets.seal(&a.gss_code, &secret),
            ms,
        )
        .await?;
        state.wake_worker();
        Ok(Json(EndpointCreated {
            gss_code: a.gss_code.clone(),
            url: url.to_string(),
            secret,
        }))
    }

    /// Rotate an endpoint's signing secret
    ///
    /// Issues a new secret, shown only now. For the next 24 hours every push carries two signatures,
    /// the new one first (`webhook-signature: v1,<new> v1,<old>`), so the authority can install the
    /// new secret without refusing a push; after that only the new one. Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/endpoint/rotate-secret",
        method = "post",
        tag = "Tag::Authorities",
        operation_id = "rotate_authority_secret"
    )]
    async fn rotate_secret(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
    ) -> Result<Json<EndpointCreated>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage authority endpoints")?;
        let Some(a) = domain::register().get(&gss_code.0) else {
            return Err(ApiError::not_found("housing authority"));
        };
        let secret = new_secret();
        let ms = state.clock.now_ms();
        let until = ms + i64::try_from(ROTATION_OVERLAP.as_millis()).unwrap_or(i64::MAX / 2);
        let rotated = authorities::rotate_secret(
            &state.db,
            Actor::from(caller),
            &GssCode::of(a),
            &state.secrets.seal(&a.gss_code, &secret),
            until,
            ms,
        )
        .await?;
        let Some(endpoint) = rotated else {
            return Err(ApiError::conflict(
                openapi::ProblemType::AuthorityNoEndpoint,
                "The authority has no endpoint (it collects its referrals), so it has no signing secret to rotate.",
            ));
        };
        Ok(Json(EndpointCreated {
            gss_code: a.gss_code.clone(),
            url: endpoint.url,
            secret,
        }))
    }

    /// Remove an authority's endpoint
    ///
    /// Back to pull delivery: its queued referrals move to its inbox (`awaiting_collection`).
    /// Role: admin.
    #[oai(
        path = "/v1/authorities/:gss_code/endpoint",
        method = "delete",
        tag = "Tag::Authorities",
        operation_id = "delete_authority_endpoint"
    )]
    async fn delete_endpoint(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        gss_code: Path<String>,
    ) -> Result<Removed, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "manage authority endpoints")?;
        let Some(a) = domain::register().get(&gss_code.0) else {
            return Err(ApiError::not_found("housing authority"));
        };
        let ms = state.clock.now_ms();
        authorities::remove_endpoint(&state.db, Actor::from(caller), &GssCode::of(a), ms).await?;
        Ok(Removed::NoContent)
    }
}

/// Accepted for [`DeliveryMode`] in answers.
pub fn mode_of(push: bool) -> DeliveryMode {
    if push {
        DeliveryMode::Push
    } else {
        DeliveryMode::Pull
    }
}

pub(super) fn authority(
    a: &domain::HousingAuthority,
    push: &std::collections::HashSet<String>,
) -> Authority {
    Authority {
        gss_code: a.gss_code.clone(),
        name: a.name.clone(),
        kind: a.kind.as_str().to_owned(),
        delivery_mode: mode_of(push.contains(&a.gss_code)),
    }
}
