//! `audit_events`: the append-only, hash-chained log (docs/contract.md §7).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub at: String,
    pub actor_key_id: Option<String>,
    pub actor_role: String,
    pub action: String,
    pub referral_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
    /// The officer who acted in the web inbox (the actor's `officer_id`), if one did.
    pub actor_officer_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The referral an event is about (the event feed is scoped through it).
    #[sea_orm(
        belongs_to = "super::referral::Entity",
        from = "Column::ReferralId",
        to = "super::referral::Column::Id"
    )]
    Referral,
}

impl ActiveModelBehavior for ActiveModel {}
