//! The audit trail (CONTRACT §7): a referral's events and the chain's verification.

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{cursor_seq, page_limit};
use super::AppState;
use crate::{audit, store};
use openapi::{AuditEvent, AuditList, ChainVerification, Role};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

/// The audit operations.
pub struct AuditApi;

#[OpenApi]
impl AuditApi {
    /// A referral's audit trail
    ///
    /// Its events, oldest first, each with `prev_hash` and `hash` so an auditor can recompute them
    /// (see the README). Scoped like the referral itself.
    #[oai(
        path = "/v1/referrals/:id/audit",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "list_referral_audit_events"
    )]
    async fn referral_audit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` from the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuditList>, ApiError> {
        let limit = page_limit(limit.0)?;
        let after = cursor_seq(cursor.0.as_deref())?.unwrap_or(0);
        if store::find_visible(state.db.conn(), &auth.0, &id.0)
            .await?
            .is_none()
        {
            return Err(ApiError::not_found("referral"));
        }
        let mut rows = audit::for_referral(state.db.conn(), &id.0, after, limit + 1).await?;
        let next_cursor = store::trim_page(&mut rows, limit, |r| r.seq.to_string());
        Ok(Json(AuditList {
            items: rows.into_iter().map(audit_event).collect(),
            next_cursor,
        }))
    }

    /// Verify the audit chain
    ///
    /// Recomputes every event's hash and link, in bounded memory. Role: admin.
    #[oai(
        path = "/v1/audit/verify",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "verify_audit_chain"
    )]
    async fn verify(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<ChainVerification>, ApiError> {
        require(&auth.0, &[Role::Admin], "verify the audit chain")?;
        let v = audit::verify(state.db.conn()).await?;
        Ok(Json(ChainVerification {
            valid: v.first_broken.is_none(),
            events: v.events,
            head: v.head,
            first_broken: v.first_broken,
        }))
    }
}

/// The wire form of a stored audit event.
pub(super) fn audit_event(row: crate::entities::audit_event::Model) -> AuditEvent {
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
