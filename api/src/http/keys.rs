//! API keys (docs/contract.md §2, §11).

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{decode_cursor, page_limit};
use super::AppState;
use crate::audit::Actor;
use crate::db::rfc3339_ms;
use crate::entities::api_key;
use crate::keys::commands::RevokeRefusal;
use openapi::{ApiKeyCreated, ApiKeyList, ApiKeyRequest, ApiKeyView, JsonBody, ProblemType, Role};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

/// `204 No Content`: the key is revoked.
#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked (or it already was).
    #[oai(status = 204)]
    NoContent,
}

fn key_view(row: &api_key::Model) -> ApiKeyView {
    ApiKeyView {
        id: row.id.clone(),
        role: Role::from_stored(&row.role).unwrap_or(Role::Admin),
        organisation: row.organisation.clone(),
        agency_type: row.agency_type.clone(),
        gss_code: row.gss_code.clone(),
        created_at: rfc3339_ms(row.created_at_ms),
        last_used_at: row.last_used_at_ms.map(rfc3339_ms),
        revoked_at: row.revoked_at_ms.map(rfc3339_ms),
    }
}

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
        let created = crate::keys::commands::create(
            &state.db,
            &scope,
            Actor::from(caller),
            state.clock.now_ms(),
        )
        .await?;
        state.keys.reload(state.db.conn()).await?;
        Ok(KeyCreated::Created(Json(created)))
    }

    /// List API keys
    ///
    /// Every key, oldest first, with when it was created, last used (to within a few seconds) and
    /// revoked — never the key itself. Role: admin.
    #[oai(
        path = "/v1/api-keys",
        method = "get",
        tag = "Tag::Keys",
        operation_id = "list_api_keys"
    )]
    async fn list_keys(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` from the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ApiKeyList>, ApiError> {
        require(&auth.0, &[Role::Admin], "list API keys")?;
        let limit = page_limit(limit.0)?;
        let after = match cursor.0.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                decode_cursor(c)
                    .and_then(|p| {
                        let (at, id) = p.split_once('/')?;
                        Some((at.parse::<i64>().ok()?, id.to_owned()))
                    })
                    .ok_or_else(|| {
                        ApiError::bad_request("cursor is not one this service issued.")
                    })?,
            ),
        };
        state.keys.flush_last_used(state.db.conn()).await?;
        let mut rows = crate::keys::list(state.db.conn(), after, limit + 1).await?;
        let next_cursor = super::paging::trim_page(&mut rows, limit, |r| {
            format!("{}/{}", r.created_at_ms, r.id)
        });
        Ok(Json(ApiKeyList {
            items: rows.iter().map(key_view).collect(),
            next_cursor,
        }))
    }

    /// Revoke an API key
    ///
    /// From then on the key is 401: in this process at once, in every other `dtr` process on the
    /// same database within 5 seconds. Recorded as `api_key.revoked`. Revoking the last active admin
    /// key is 409 (`urn:dtr:problem:api_key.last_admin`); revoking a revoked key changes nothing.
    /// Role: admin.
    #[oai(
        path = "/v1/api-keys/:id",
        method = "delete",
        tag = "Tag::Keys",
        operation_id = "revoke_api_key"
    )]
    async fn revoke_key(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Revoked, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "revoke API keys")?;
        let id = crate::ids::KeyId::parse(&id.0).ok_or_else(|| ApiError::not_found("API key"))?;
        match crate::keys::commands::revoke(
            &state.db,
            &id,
            Actor::from(caller),
            state.clock.now_ms(),
        )
        .await
        {
            Ok(row) => {
                state.keys.forget(&row.id);
                tracing::info!(key_id = %row.id, "API key revoked");
                Ok(Revoked::NoContent)
            }
            Err(RevokeRefusal::NotFound) => Err(ApiError::not_found("API key")),
            Err(RevokeRefusal::LastAdmin) => Err(ApiError::conflict(
                ProblemType::ApiKeyLastAdmin,
                "This is the last active admin key; create another admin key before revoking it.",
            )),
            Err(RevokeRefusal::Db(e)) => Err(e.into()),
        }
    }
}

fn scope_of_request(
    req: &openapi::ApiKeyRequest,
) -> Result<crate::keys::Scope, Vec<openapi::ValidationIssue>> {
    crate::keys::commands::scope(
        req.role,
        req.organisation.as_deref(),
        req.agency_type.as_deref(),
        req.gss_code.as_deref(),
    )
}
