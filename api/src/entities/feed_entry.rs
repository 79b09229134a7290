//! `feed_entries`: the event feed's index — each audit event the feed carries, with the scopes
//! that may see it, so a poll reads its own tenant's events through an index.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_entries")]
pub struct Model {
    /// The audit event's sequence number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The referring organisation and agency type, joined by U+001F.
    pub referrer: String,
    /// The addressed authority.
    pub gss_code: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
