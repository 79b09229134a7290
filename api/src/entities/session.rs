//! `sessions`: signed-in officers, by the SHA-256 of the session cookie's value.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    /// Whose: an officer's id, a practitioner's id, or (kind `choosing`) the e-mail address of
    /// a practitioner still choosing their organisation; `kind` says which.
    pub officer_id: String,
    /// The synchronizer token every form of the session carries.
    pub csrf_token: String,
    pub created_at_ms: i64,
    /// `officer`, `practitioner` or `choosing` (docs/contract.md §14).
    pub kind: String,
    pub last_seen_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
