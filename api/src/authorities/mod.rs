//! Housing authorities: where their referrals go (an endpoint with its signing secret, or the
//! inbox and a mailbox told of it), the rules an endpoint must meet, and the register.

pub mod endpoint_url;
pub mod repository;
pub mod secrets;

use crate::audit::Actor;
use crate::db::Db;
use crate::entities::authority_endpoint;
use crate::ids::GssCode;
use crate::referrals::repository::switch_delivery_mode;
use sea_orm::DbErr;
use std::collections::HashSet;

/// The codes of every authority with an endpoint (their referrals are pushed).
pub async fn push_authorities(db: &Db) -> Result<HashSet<String>, DbErr> {
    repository::push_authorities(db.conn()).await
}

/// Sets (or replaces) an authority's endpoint, its secret already sealed, and moves its inbox to
/// the push queue; recorded as `authority.endpoint_changed`. How many referrals moved.
pub async fn set_endpoint(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    url: &str,
    sealed_secret: &str,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let txn = db.begin_write().await?;
    repository::set_endpoint(&*txn, gss_code.as_str(), url, sealed_secret, now_ms).await?;
    let moved = switch_delivery_mode(&*txn, actor, gss_code.as_str(), Some(url), now_ms).await?;
    txn.commit().await?;
    Ok(moved)
}

/// Replaces an endpoint's signing secret, the old one valid until `until_ms`; `None` (and nothing
/// changed) when the authority has no endpoint.
pub async fn rotate_secret(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    sealed_secret: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<Option<authority_endpoint::Model>, DbErr> {
    let txn = db.begin_write().await?;
    let rotated = repository::rotate_secret(
        &*txn,
        actor,
        gss_code.as_str(),
        sealed_secret,
        until_ms,
        now_ms,
    )
    .await?;
    if rotated.is_some() {
        txn.commit().await?;
    }
    Ok(rotated)
}

/// Removes an authority's endpoint and moves its queued and failed referrals to its inbox; `None`
/// when it had none.
pub async fn remove_endpoint(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    now_ms: i64,
) -> Result<Option<u64>, DbErr> {
    let txn = db.begin_write().await?;
    if !repository::remove_endpoint(&*txn, gss_code.as_str()).await? {
        return Ok(None);
    }
    let moved = switch_delivery_mode(&*txn, actor, gss_code.as_str(), None, now_ms).await?;
    txn.commit().await?;
    Ok(Some(moved))
}

/// Sets (`Some`) or removes (`None`) the mailbox told of an authority's waiting referrals;
/// recorded as `authority.notify_changed`. Whether one was set before.
pub async fn set_notify(
    db: &Db,
    actor: Actor,
    gss_code: &GssCode,
    email: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let txn = db.begin_write().await?;
    let existed = repository::set_notify(&*txn, actor, gss_code.as_str(), email, now_ms).await?;
    txn.commit().await?;
    Ok(existed)
}
