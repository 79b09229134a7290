//! Persistence of the housing authorities' settings: endpoints with their sealed signing
//! secrets, notify addresses, and the advisory lock that orders endpoint changes against
//! submissions. Moving an authority's referrals between delivery modes is the referrals
//! repository's (`switch_delivery_mode`), called by the use cases in the same transaction.

use crate::audit::{self, Actor, NewEvent};
use crate::entities::{authority_endpoint, authority_notify};
use openapi::AuditAction;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Set, Statement};

/// PostgreSQL advisory lock key ordering endpoint changes against submissions ("dtr" + "endp"):
/// a submission holds it shared while it reads the endpoints and stores its referral; an endpoint
/// change holds it exclusively. Without it, a referral committed while an endpoint was being set
/// could be left in the pull inbox of an authority that now has an endpoint.
const ENDPOINT_LOCK: i64 = 0x0064_7472_656e_6470;

/// The endpoint of an authority, if it has one.
pub async fn endpoint(
    db: &impl ConnectionTrait,
    gss_code: &str,
) -> Result<Option<authority_endpoint::Model>, DbErr> {
    authority_endpoint::Entity::find_by_id(gss_code.to_owned())
        .one(db)
        .await
}

/// Every endpoint.
pub async fn endpoints(db: &impl ConnectionTrait) -> Result<Vec<authority_endpoint::Model>, DbErr> {
    authority_endpoint::Entity::find().all(db).await
}

/// The codes of every authority with an endpoint.
pub async fn push_authorities(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>, DbErr> {
    Ok(endpoints(db)
        .await?
        .into_iter()
        .map(|e| e.gss_code)
        .collect())
}

async fn endpoint_lock(txn: &impl ConnectionTrait, exclusive: bool) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let sql = if exclusive {
            "SELECT pg_advisory_xact_lock($1)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1)"
        };
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [ENDPOINT_LOCK.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The endpoints as a submission transaction must see them: read under the shared endpoint lock,
/// held until the submission commits.
pub async fn push_authorities_for_submission(
    txn: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>, DbErr> {
    endpoint_lock(txn, false).await?;
    push_authorities(txn).await
}

/// Sets (or replaces) an authority's endpoint, under the exclusive endpoint lock (held until the
/// caller's transaction ends, in which the caller moves its referrals to the push queue).
pub async fn set_endpoint(
    txn: &impl ConnectionTrait,
    gss_code: &str,
    url: &str,
    secret: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    endpoint_lock(txn, true).await?;
    authority_endpoint::Entity::delete_by_id(gss_code.to_owned())
        .exec(txn)
        .await?;
    authority_endpoint::ActiveModel {
        gss_code: Set(gss_code.to_owned()),
        url: Set(url.to_owned()),
        secret: Set(secret.to_owned()),
        updated_at_ms: Set(now_ms),
        previous_secret: Set(None),
        previous_secret_until_ms: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Replaces an endpoint's signing secret, keeping the previous one valid until `until_ms`
/// (pushes meanwhile carry both signatures), and records `authority.secret_rotated`. Under the
/// exclusive endpoint lock, so a concurrent endpoint change cannot interleave. `None` when the
/// authority has no endpoint.
pub async fn rotate_secret(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    sealed_secret: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<Option<authority_endpoint::Model>, DbErr> {
    endpoint_lock(txn, true).await?;
    let Some(endpoint) = endpoint(txn, gss_code).await? else {
        return Ok(None);
    };
    let mut active: authority_endpoint::ActiveModel = endpoint.clone().into();
    active.previous_secret = Set(Some(endpoint.secret.clone()));
    active.previous_secret_until_ms = Set(Some(until_ms));
    active.secret = Set(sealed_secret.to_owned());
    let updated = active.update(txn).await?;
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::AuthoritySecretRotated,
            referral_id: None,
            detail: serde_json::json!({
                "gss_code": endpoint.gss_code,
                "previous_valid_until": crate::db::rfc3339_ms(until_ms),
            }),
        }],
    )
    .await?;
    Ok(Some(updated))
}

/// Seals every endpoint's signing secrets that are still in clear, and opens every stored secret
/// once, so a missing or wrong `DTR_SECRET_KEY` stops start-up with a clear message instead of
/// producing signatures no receiver accepts.
pub async fn prepare_secrets(
    txn: &impl ConnectionTrait,
    secrets: &crate::authorities::secrets::SecretBox,
) -> Result<Result<usize, crate::authorities::secrets::SecretError>, DbErr> {
    let mut sealed = 0;
    for endpoint in endpoints(txn).await? {
        let gss = endpoint.gss_code.clone();
        let current = match secrets.open(&gss, &endpoint.secret) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let previous = match endpoint
            .previous_secret
            .as_deref()
            .map(|p| secrets.open(&gss, p))
            .transpose()
        {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let clear = !crate::authorities::secrets::SecretBox::is_sealed(&endpoint.secret)
            || endpoint
                .previous_secret
                .as_deref()
                .is_some_and(|p| !crate::authorities::secrets::SecretBox::is_sealed(p));
        if secrets.seals() && clear {
            let mut active: authority_endpoint::ActiveModel = endpoint.into();
            active.secret = Set(secrets.seal(&gss, &current));
            active.previous_secret = Set(previous.map(|p| secrets.seal(&gss, &p)));
            active.update(txn).await?;
            sealed += 1;
        }
    }
    Ok(Ok(sealed))
}

/// Removes an authority's endpoint under the exclusive endpoint lock (held until the caller's
/// transaction ends, in which the caller moves its referrals to the inbox). Whether it had one.
pub async fn remove_endpoint(txn: &impl ConnectionTrait, gss_code: &str) -> Result<bool, DbErr> {
    endpoint_lock(txn, true).await?;
    let removed = authority_endpoint::Entity::delete_by_id(gss_code.to_owned())
        .exec(txn)
        .await?
        .rows_affected;
    Ok(removed > 0)
}

/// The authorities whose mailbox is told about waiting referrals.
pub async fn mailboxes(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>, DbErr> {
    Ok(authority_notify::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|n| n.gss_code)
        .collect())
}

/// An authority's notify address, if it has one.
pub async fn notify_address(
    db: &impl ConnectionTrait,
    gss_code: &str,
) -> Result<Option<String>, DbErr> {
    Ok(authority_notify::Entity::find_by_id(gss_code.to_owned())
        .one(db)
        .await?
        .map(|n| n.email))
}

/// Sets (`Some`) or removes (`None`) an authority's notify address; records
/// `authority.notify_changed` (the address itself is a mailbox of the council, not a person's, but
/// the trail holds only whether one is set). Returns whether anything was there before.
pub async fn set_notify(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    email: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let existed = authority_notify::Entity::delete_by_id(gss_code.to_owned())
        .exec(txn)
        .await?
        .rows_affected
        > 0;
    if let Some(email) = email {
        authority_notify::ActiveModel {
            gss_code: Set(gss_code.to_owned()),
            email: Set(email.to_owned()),
            updated_at_ms: Set(now_ms),
        }
        .insert(txn)
        .await?;
    }
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::AuthorityNotifyChanged,
            referral_id: None,
            detail: serde_json::json!({ "gss_code": gss_code, "notify": email.is_some() }),
        }],
    )
    .await?;
    Ok(existed)
}
