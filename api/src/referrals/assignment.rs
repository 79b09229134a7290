//! Assigning a referral to an officer of its authority (docs/contract.md §10b): one use case, one
//! transaction, audited as `referral.assigned` with the officer's id. The assignee is told by
//! e-mail by the caller after the commit (reference and link only).

use super::repository as store;
use super::ActionError;
use crate::audit::{Actor, NewEvent};
use crate::db::Db;
use crate::entities::{assignment, officer, referral};
use crate::ids::{OfficerId, ReferralId};
use crate::keys::Caller;
use openapi::AuditAction;
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::json;
use std::collections::HashMap;

/// Assigns `id` to the officer `officer_id` of the caller's authority (the caller's own id to take
/// it). Refused as not found when either is not the authority's; an erased referral or one the
/// authority never received cannot be assigned.
pub async fn assign(
    db: &Db,
    who: &Caller,
    id: &ReferralId,
    officer_id: &OfficerId,
    now_ms: i64,
) -> Result<(referral::Model, officer::Model), ActionError> {
    let crate::keys::Scope::Authority { gss_code } = &who.scope else {
        return Err(ActionError::NotFound);
    };
    let txn = db.begin_write().await?;
    let row = store::find_for_update(&*txn, who, id.as_str())
        .await?
        .ok_or(ActionError::NotFound)?;
    if row.erased_at_ms.is_some() {
        return Err(super::lifecycle::Refusal::Erased.into());
    }
    if !super::lifecycle::discloses_document(&row, true) {
        return Err(ActionError::NotFound);
    }
    let assignee = officer::Entity::find_by_id(officer_id.to_string())
        .filter(officer::Column::GssCode.eq(gss_code.clone()))
        .one(&*txn)
        .await?
        .ok_or(ActionError::NotFound)?;
    assignment::Entity::delete_by_id(row.id.clone())
        .exec(&*txn)
        .await?;
    assignment::ActiveModel {
        referral_id: Set(row.id.clone()),
        officer_id: Set(assignee.id.clone()),
        assigned_by: Set(who.id().to_owned()),
        assigned_at_ms: Set(now_ms),
    }
    .insert(&*txn)
    .await?;
    store::record(
        &*txn,
        vec![NewEvent::about(
            Actor::from(who),
            AuditAction::ReferralAssigned,
            &row.id,
            json!({ "officer_id": assignee.id }),
        )],
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok((row, assignee))
}

/// The officer each of these referrals is assigned to, by referral id.
pub async fn assignees(db: &Db, ids: &[String]) -> Result<HashMap<String, String>, DbErr> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        for a in assignment::Entity::find()
            .filter(assignment::Column::ReferralId.is_in(chunk.to_vec()))
            .all(db.conn())
            .await?
        {
            out.insert(a.referral_id, a.officer_id);
        }
    }
    Ok(out)
}

/// The referrals assigned to this officer, by id.
pub async fn assigned_to(
    db: &Db,
    officer_id: &str,
) -> Result<std::collections::HashSet<String>, DbErr> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::OfficerId.eq(officer_id))
        .all(db.conn())
        .await?
        .into_iter()
        .map(|a| a.referral_id)
        .collect())
}
