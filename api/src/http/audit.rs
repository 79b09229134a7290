//! The audit trail (docs/contract.md §7): a referral's events and the chain's verification.

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{cursor_seq, encode_cursor, page_limit};
use super::views::feed_event;
use super::AppState;
use crate::audit;
use crate::referrals;
use openapi::{AuditCheckpoint, AuditEvent, AuditList, ChainVerification, EventFeed, Role};
use std::time::Duration;

/// The longest `wait` of the event feed.
pub const MAX_FEED_WAIT: Duration = Duration::from_secs(30);
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

/// The audit operations.
pub struct AuditApi;

#[OpenApi]
impl AuditApi {
    /// A signed audit checkpoint
    ///
    /// The chain's length and head now, signed with the service's Ed25519 key. Keep one regularly
    /// (say, daily) outside the service: `dtr audit verify --checkpoint FILE…` then shows that the
    /// chain still holds that head at that position — a chain rewritten with recomputed hashes, or
    /// cut short, fails against every checkpoint taken before. Any role.
    #[oai(
        path = "/v1/audit/checkpoint",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "get_audit_checkpoint"
    )]
    async fn checkpoint(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<AuditCheckpoint>, ApiError> {
        let _ = auth;
        let (events, head) = audit::head(state.db.conn()).await?;
        let at = crate::db::rfc3339_ms(state.clock.now_ms());
        let c = state.audit_key.sign(events, &head, &at);
        Ok(Json(AuditCheckpoint {
            events: c.events,
            head: c.head,
            at: c.at,
            public_key: c.public_key,
            signature: c.signature,
        }))
    }

    /// The event feed
    ///
    /// The audit events of the referrals this key may see, oldest first, limited to what a
    /// referrer or an authority acts on: `referral.accepted`, `delivery.succeeded`,
    /// `delivery.failed`, `referral.viewed`, `referral.acknowledged`, `referral.outcome_recorded`,
    /// `referral.withdrawn`, `note.added`. Pass `next_cursor` back as `after`: it is never `null`,
    /// and a poller that does so never misses or repeats an event, including events committed by
    /// another process. With `wait=N` (0–30 s) an empty page waits up to N seconds for the next
    /// event. No personal data appears in the feed. Any role.
    #[oai(
        path = "/v1/events",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "list_events"
    )]
    async fn events(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// `next_cursor` from the previous page; empty or absent for the start of the feed.
        after: Query<Option<String>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Seconds to wait for an event when none is there yet, 0–30 (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
        wait: Query<Option<i64>>,
    ) -> Result<Json<EventFeed>, ApiError> {
        let limit = page_limit(limit.0)?;
        let after_seq = cursor_seq(after.0.as_deref())?.unwrap_or(0);
        let wait = match wait.0 {
            None => Duration::ZERO,
            Some(n @ 0..=30) => Duration::from_secs(n.unsigned_abs()),
            Some(_) => return Err(ApiError::bad_request("wait must be from 0 to 30 seconds.")),
        };
        let deadline = tokio::time::Instant::now() + wait.min(MAX_FEED_WAIT);
        // A long poll holds a connection and a task: each key may hold a bounded number.
        let _poll = if wait.is_zero() {
            None
        } else {
            Some(state.feed.start_poll(auth.0.id()).ok_or_else(|| {
                ApiError::too_many_long_polls(crate::audit::feed::MAX_LONG_POLLS_PER_KEY)
            })?)
        };
        let waiter = state.feed.waiter(feed_scope(&auth.0));
        let mut after_seq = after_seq;
        loop {
            // Registered before the query, so a commit between the query and the wait still wakes us.
            let notified = waiter.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (rows, scanned_to) =
                audit::feed::page(&state.db, &auth.0, after_seq, limit).await?;
            if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Json(EventFeed {
                    items: rows.into_iter().map(feed_event).collect(),
                    next_cursor: encode_cursor(&scanned_to.to_string()),
                }));
            }
            // Nothing for this scope up to the head: the next look starts there.
            after_seq = scanned_to;
            // Woken when a commit touches this scope (in this process, or on PostgreSQL another's:
            // the feed's follower hears of those through LISTEN and also looks every second), or
            // at the deadline. A poll never re-reads by itself: five hundred idle polls cost no
            // queries.
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

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
        let mut rows = referrals::audit_trail(
            &state.db,
            &auth.0,
            &super::referrals::referral_id(&id.0)?,
            after,
            limit + 1,
        )
        .await?;
        let next_cursor = super::paging::trim_page(&mut rows, limit, |r| r.seq.to_string());
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
        actor: {
            // One column holds the person of a web page's event; the role says which kind.
            let practitioner = crate::audit::person_member(&row.actor_role) == "practitioner_id";
            let (officer_id, practitioner_id) = if practitioner {
                (None, row.actor_officer_id)
            } else {
                (row.actor_officer_id, None)
            };
            openapi::Actor {
                key_id: row.actor_key_id,
                officer_id,
                practitioner_id,
                role: row.actor_role,
            }
        },
        action: row.action,
        referral_id: row.referral_id,
        detail: serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null),
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

/// Whose events a caller's feed waits for.
fn feed_scope(caller: &crate::keys::Caller) -> crate::audit::feed::FeedScope {
    use crate::audit::feed::FeedScope;
    use crate::keys::Scope;
    match &caller.scope {
        Scope::Admin => FeedScope::Admin,
        Scope::Referrer {
            organisation,
            agency_type,
        } => FeedScope::Referrer(crate::audit::referrer_scope(
            organisation,
            agency_type.as_str(),
        )),
        Scope::Authority { gss_code } => FeedScope::Authority(gss_code.to_string()),
    }
}
