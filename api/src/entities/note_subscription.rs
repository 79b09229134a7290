//! `note_subscriptions`: the officers e-mailed when a referrer adds a note.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "note_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub officer_id: String,
    pub gss_code: String,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
