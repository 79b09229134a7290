//! `api_keys`: who may call the API. Only the SHA-256 of a key is stored; a revoked key stays (for
//! the audit trail) with `revoked_at_ms` set.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    pub role: String,
    pub organisation: Option<String>,
    pub agency_type: Option<String>,
    pub gss_code: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
    pub bootstrap: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
