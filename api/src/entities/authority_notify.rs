//! `authority_notify`: the mailbox told when a referral waits in an authority's inbox.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authority_notify")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub gss_code: String,
    pub email: String,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
