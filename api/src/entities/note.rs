//! `notes`: messages between the referrer and the authority about one referral. The text is personal
//! data: it is never logged or audited, and it is erased with the referral (`text` becomes NULL).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: String,
    pub referral_id: String,
    pub author_role: String,
    pub author_key_id: Option<String>,
    pub author_organisation: Option<String>,
    pub author_agency_type: Option<String>,
    pub author_gss_code: Option<String>,
    pub author_officer_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub text: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
