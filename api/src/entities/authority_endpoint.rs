//! `authority_endpoints`: where push delivery goes for an authority, and its signing secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authority_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub gss_code: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// The signing secret: sealed (`enc:v1:…`) when `DTR_SECRET_KEY` is set, else clear.
    pub secret: String,
    pub updated_at_ms: i64,
    /// After a rotation: the previous secret (stored like `secret`), still signed with until…
    pub previous_secret: Option<String>,
    /// …this instant.
    pub previous_secret_until_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
