//! Referral persistence: rows in, wire resources out, and who may see what (CONTRACT §2).

use crate::audit::{self, Actor, NewEvent};
use crate::db::rfc3339_ms;
use crate::entities::{authority_endpoint, referral};
use crate::keys::{Caller, Scope};
use base64::Engine;
use openapi::AuditAction;
use openapi::{
    Acknowledgement, AuthorityRef, Delivery, DeliveryMode, RawReferral, ReferralResource,
    ReferralStatus, ValidationIssue,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

/// Whether `caller` may see `row`: a referrer its own organisation's, an authority those addressed to
/// it, an admin everything.
pub fn visible(caller: &Caller, row: &referral::Model) -> bool {
    match &caller.scope {
        Scope::Referrer {
            organisation,
            agency_type,
        } => row.organisation == *organisation && row.agency_type == agency_type.as_str(),
        Scope::Authority { gss_code } => row.gss_code == *gss_code,
        Scope::Admin => true,
    }
}

fn scope_condition(caller: &Caller) -> Condition {
    match &caller.scope {
        Scope::Referrer {
            organisation,
            agency_type,
        } => Condition::all()
            .add(referral::Column::Organisation.eq(organisation.clone()))
            .add(referral::Column::AgencyType.eq(agency_type.as_str())),
        Scope::Authority { gss_code } => {
            Condition::all().add(referral::Column::GssCode.eq(gss_code.clone()))
        }
        Scope::Admin => Condition::all(),
    }
}

/// The referral with this id, if `caller` may see it.
pub async fn find_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: &str,
) -> Result<Option<referral::Model>, DbErr> {
    let row = referral::Entity::find()
        .filter(referral::Column::Id.eq(id))
        .one(db)
        .await?;
    Ok(row.filter(|r| visible(caller, r)))
}

/// A page of visible referrals, newest first, strictly older than `before_seq`.
pub async fn list_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    status: Option<ReferralStatus>,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<referral::Model>, DbErr> {
    let mut q = referral::Entity::find().filter(scope_condition(caller));
    if let Some(s) = status {
        q = q.filter(referral::Column::Status.eq(s.as_str()));
    }
    if let Some(seq) = before_seq {
        q = q.filter(referral::Column::Seq.lt(seq));
    }
    q.order_by_desc(referral::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The endpoint of an authority, if it has one.
pub async fn endpoint(
    db: &impl ConnectionTrait,
    gss_code: &str,
) -> Result<Option<authority_endpoint::Model>, DbErr> {
    authority_endpoint::Entity::find_by_id(gss_code.to_owned())
        .one(db)
        .await
}

/// The codes of every authority with an endpoint.
pub async fn push_authorities(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashSet<String>, DbErr> {
    Ok(authority_endpoint::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|e| e.gss_code)
        .collect())
}

/// Saves a changed referral and records `action` about it, in the caller's transaction.
pub async fn update_recorded(
    txn: &impl ConnectionTrait,
    changed: referral::ActiveModel,
    actor: Actor,
    action: AuditAction,
    now_ms: i64,
) -> Result<referral::Model, DbErr> {
    let row = changed.update(txn).await?;
    audit::append(
        txn,
        now_ms,
        vec![NewEvent::about(
            actor,
            action,
            &row.id,
            serde_json::json!({}),
        )],
    )
    .await?;
    Ok(row)
}

/// After an authority's endpoint was set (`push`) or removed, moves its undelivered referrals to the
/// other delivery mode — its inbox into the push queue, or its queued and failed pushes into its
/// inbox — and records `authority.endpoint_changed`. Returns how many moved.
pub async fn switch_delivery_mode(
    txn: &impl ConnectionTrait,
    actor: Actor,
    gss_code: &str,
    push: bool,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let (from, to, next, mode): (&[ReferralStatus], _, _, _) = if push {
        (
            &[ReferralStatus::AwaitingCollection],
            ReferralStatus::Queued,
            Some(now_ms),
            "push",
        )
    } else {
        (
            &[ReferralStatus::Queued, ReferralStatus::Failed],
            ReferralStatus::AwaitingCollection,
            None,
            "pull",
        )
    };
    let moved = referral::Entity::update_many()
        .col_expr(referral::Column::Status, Expr::value(to.as_str()))
        .col_expr(referral::Column::DeliveryMode, Expr::value(mode))
        .col_expr(referral::Column::NextAttemptAtMs, Expr::value(next))
        .col_expr(
            referral::Column::LeaseUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            referral::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .filter(referral::Column::GssCode.eq(gss_code))
        .filter(referral::Column::Status.is_in(from.iter().map(|s| s.as_str())))
        .exec(txn)
        .await?
        .rows_affected;
    audit::append(
        txn,
        now_ms,
        vec![NewEvent {
            actor,
            action: AuditAction::AuthorityEndpointChanged,
            referral_id: None,
            detail: serde_json::json!({ "gss_code": gss_code, "delivery_mode": mode, "moved": moved }),
        }],
    )
    .await?;
    Ok(moved)
}

/// Trims a page fetched with one row more than `limit` and returns the cursor for the next page
/// (the position of the last row kept), or `None` when this was the last page.
pub fn trim_page<T>(
    rows: &mut Vec<T>,
    limit: u64,
    position: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|r| encode_cursor(&position(r)))
}

/// Opaque cursor for a position (a sequence number or a code).
pub fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{position}"))
}

/// The position in a cursor, if it is one of ours.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("c1:").map(str::to_owned)
}

/// The warnings stored with a referral.
pub fn warnings_of(row: &referral::Model) -> Vec<ValidationIssue> {
    serde_json::from_str::<Vec<serde_json::Value>>(&row.warnings)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|w| {
            Some(ValidationIssue {
                pointer: w.get("pointer")?.as_str()?.to_owned(),
                code: w.get("code")?.as_str()?.to_owned(),
                message: w.get("message")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The wire resource of a stored referral; the document only when `with_document`.
pub fn resource(row: &referral::Model, with_document: bool) -> ReferralResource {
    let name = domain::register()
        .get(&row.gss_code)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let warnings = warnings_of(row);
    let status = ReferralStatus::from_stored(&row.status).unwrap_or(ReferralStatus::Queued);
    let acknowledgement = row.acknowledged_at_ms.map(|at| Acknowledgement {
        acknowledged_at: rfc3339_ms(at),
        received_by: row.received_by.clone().unwrap_or_default(),
        local_reference: row.local_reference.clone(),
    });
    ReferralResource {
        id: row.id.clone(),
        status,
        submitted_at: rfc3339_ms(row.submitted_at_ms),
        housing_authority: AuthorityRef {
            gss_code: row.gss_code.clone(),
            name,
        },
        organisation: row.organisation.clone(),
        agency_type: row.agency_type.clone(),
        warnings,
        delivery: Delivery {
            mode: if row.delivery_mode == "push" {
                DeliveryMode::Push
            } else {
                DeliveryMode::Pull
            },
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_attempt_at: row.last_attempt_at_ms.map(rfc3339_ms),
            last_error: row.last_error.clone(),
            next_attempt_at: row.next_attempt_at_ms.map(rfc3339_ms),
            delivered_at: row.delivered_at_ms.map(rfc3339_ms),
        },
        acknowledgement,
        referral: with_document
            .then(|| serde_json::from_str(&row.document).ok().map(RawReferral))
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_trimmed_to_its_limit_and_points_past_its_last_row() {
        let mut rows = vec![5, 4, 3];
        assert_eq!(
            trim_page(&mut rows, 2, |r| r.to_string()),
            Some(encode_cursor("4"))
        );
        assert_eq!(rows, vec![5, 4]);
        let mut rows = vec![5, 4];
        assert_eq!(trim_page(&mut rows, 2, |r| r.to_string()), None);
        assert_eq!(rows, vec![5, 4]);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor("42")), Some("42".to_owned()));
        assert_eq!(decode_cursor("not-a-cursor!"), None);
        assert_eq!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x:1")),
            None
        );
    }
}
