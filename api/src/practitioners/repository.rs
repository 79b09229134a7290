//! Persistence of organisations, their practitioners and drafts (docs/contract.md §14). Functions
//! taking a connection run in the caller's transaction; the use cases in `practitioners` open it.

use crate::entities::{draft, organisation, organisation_domain, practitioner};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

/// A new id with a prefix that says what it names (`org_`, `prt_`, `drf_`): a practitioner's id
/// is told apart from an API key's (a UUID) in a referral's `submitted_by`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Whether a referral's `submitted_by` names a practitioner (not an API key).
pub fn is_practitioner_id(id: &str) -> bool {
    id.starts_with("prt_")
}

/// One organisation.
pub async fn find(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<organisation::Model>, DbErr> {
    organisation::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

/// Every organisation, oldest first.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<organisation::Model>, DbErr> {
    organisation::Entity::find()
        .order_by_asc(organisation::Column::CreatedAtMs)
        .order_by_asc(organisation::Column::Id)
        .all(db)
        .await
}

/// Replaces the domains an organisation lists.
pub async fn set_domains(
    txn: &impl ConnectionTrait,
    organisation_id: &str,
    domains: &[String],
) -> Result<(), DbErr> {
    organisation_domain::Entity::delete_many()
        .filter(organisation_domain::Column::OrganisationId.eq(organisation_id))
        .exec(txn)
        .await?;
    if domains.is_empty() {
        return Ok(());
    }
    organisation_domain::Entity::insert_many(domains.iter().map(|d| {
        organisation_domain::ActiveModel {
            domain: Set(d.clone()),
            organisation_id: Set(organisation_id.to_owned()),
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// The organisations an address may sign in as: those listing its domain, and those that added it
/// individually. Oldest first, each once.
pub async fn organisations_for(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Vec<organisation::Model>, DbErr> {
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    let mut ids: Vec<String> = organisation_domain::Entity::find()
        .filter(organisation_domain::Column::Domain.eq(domain))
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.organisation_id)
        .collect();
    ids.extend(
        practitioner::Entity::find()
            .filter(practitioner::Column::Email.eq(email))
            .filter(practitioner::Column::AddedIndividually.eq(true))
            .all(db)
            .await?
            .into_iter()
            .map(|p| p.organisation_id),
    );
    if ids.is_empty() {
        return Ok(vec![]);
    }
    organisation::Entity::find()
        .filter(organisation::Column::Id.is_in(ids))
        .order_by_asc(organisation::Column::CreatedAtMs)
        .order_by_asc(organisation::Column::Id)
        .all(db)
        .await
}

/// The practitioner with this address in this organisation.
pub async fn practitioner_in(
    db: &impl ConnectionTrait,
    organisation_id: &str,
    email: &str,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .filter(practitioner::Column::OrganisationId.eq(organisation_id))
        .filter(practitioner::Column::Email.eq(email))
        .one(db)
        .await
}

/// The practitioner with this address in this organisation, added now (as signed in from a
/// listed domain) when there is none.
pub async fn practitioner_of(
    txn: &impl ConnectionTrait,
    organisation_id: &str,
    email: &str,
    now_ms: i64,
) -> Result<practitioner::Model, DbErr> {
    if let Some(p) = practitioner_in(txn, organisation_id, email).await? {
        return Ok(p);
    }
    insert_practitioner(txn, organisation_id, email, false, now_ms).await
}

/// Stores a new practitioner.
pub async fn insert_practitioner(
    txn: &impl ConnectionTrait,
    organisation_id: &str,
    email: &str,
    added_individually: bool,
    now_ms: i64,
) -> Result<practitioner::Model, DbErr> {
    practitioner::ActiveModel {
        id: Set(new_id("prt_")),
        organisation_id: Set(organisation_id.to_owned()),
        email: Set(email.to_owned()),
        added_individually: Set(added_individually),
        agency_type: Set(None),
        name: Set(None),
        phone: Set(None),
        team: Set(None),
        emails_off: Set(false),
        created_at_ms: Set(now_ms),
    }
    .insert(txn)
    .await
}

/// One practitioner.
pub async fn practitioner(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<practitioner::Model>, DbErr> {
    practitioner::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

/// An organisation's practitioners, oldest first.
pub async fn practitioners(
    db: &impl ConnectionTrait,
    organisation_id: &str,
) -> Result<Vec<practitioner::Model>, DbErr> {
    practitioner::Entity::find()
        .filter(practitioner::Column::OrganisationId.eq(organisation_id))
        .order_by_asc(practitioner::Column::CreatedAtMs)
        .order_by_asc(practitioner::Column::Id)
        .all(db)
        .await
}

/// A practitioner's draft.
pub async fn draft_of(
    db: &impl ConnectionTrait,
    practitioner_id: &str,
) -> Result<Option<draft::Model>, DbErr> {
    draft::Entity::find()
        .filter(draft::Column::PractitionerId.eq(practitioner_id))
        .one(db)
        .await
}

/// Deletes drafts by id; how many went.
pub async fn delete_drafts(txn: &impl ConnectionTrait, ids: &[String]) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(draft::Entity::delete_many()
        .filter(draft::Column::Id.is_in(ids.iter().cloned()))
        .exec(txn)
        .await?
        .rows_affected)
}

/// The drafts of these practitioners.
pub async fn drafts_of(
    db: &impl ConnectionTrait,
    practitioner_ids: &[String],
) -> Result<Vec<draft::Model>, DbErr> {
    if practitioner_ids.is_empty() {
        return Ok(vec![]);
    }
    draft::Entity::find()
        .filter(draft::Column::PractitionerId.is_in(practitioner_ids.iter().cloned()))
        .all(db)
        .await
}

/// Drafts last changed at or before `cutoff_ms`, at most `limit`.
pub async fn stale_drafts(
    db: &impl ConnectionTrait,
    cutoff_ms: i64,
    limit: u64,
) -> Result<Vec<draft::Model>, DbErr> {
    use sea_orm::QuerySelect;
    draft::Entity::find()
        .filter(draft::Column::UpdatedAtMs.lte(cutoff_ms))
        .order_by_asc(draft::Column::UpdatedAtMs)
        .limit(limit)
        .all(db)
        .await
}

/// Remembers a practitioner's answers about themself (the referrer block and agency type).
pub async fn set_profile(
    txn: &impl ConnectionTrait,
    id: &str,
    profile: super::Profile,
) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    if let Some(p) = practitioner(txn, id).await? {
        let mut active = p.into_active_model();
        active.agency_type = Set(profile.agency_type);
        active.name = Set(profile.name);
        active.phone = Set(profile.phone);
        active.team = Set(profile.team);
        active.update(txn).await?;
    }
    Ok(())
}

/// Keeps a practitioner's answers: their draft changed, or a new one. Its id.
pub async fn put_draft(
    txn: &impl ConnectionTrait,
    practitioner_id: &str,
    answers: &serde_json::Value,
    now_ms: i64,
) -> Result<String, DbErr> {
    use sea_orm::IntoActiveModel;
    match draft_of(txn, practitioner_id).await? {
        Some(d) => {
            let id = d.id.clone();
            let mut active = d.into_active_model();
            active.answers = Set(answers.to_string());
            active.updated_at_ms = Set(now_ms);
            active.update(txn).await?;
            Ok(id)
        }
        None => Ok(draft::ActiveModel {
            id: Set(new_id("drf_")),
            practitioner_id: Set(practitioner_id.to_owned()),
            answers: Set(answers.to_string()),
            created_at_ms: Set(now_ms),
            updated_at_ms: Set(now_ms),
        }
        .insert(txn)
        .await?
        .id),
    }
}
