//! `practitioners`: a person of an organisation who refers on the web, by e-mail address (one row
//! per organisation they sign in as). Name, phone, team and agency type are asked once and
//! remembered for the referrer block.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioners")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organisation_id: String,
    pub email: String,
    /// Added by an admin (not by signing in from a listed domain).
    pub added_individually: bool,
    pub agency_type: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub team: Option<String>,
    /// The practitioner turned off the e-mails about their referrals.
    pub emails_off: bool,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
