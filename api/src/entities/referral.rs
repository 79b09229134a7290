//! `referrals`: the stored normalized referral, its status and its delivery job (one row, so a
//! submission is one insert and a state change is one update).

use crate::referrals::lifecycle::{Mode, Status};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: String,
    pub organisation: String,
    pub agency_type: String,
    pub submitted_by: String,
    pub gss_code: String,
    pub status: Status,
    pub delivery_mode: Mode,
    pub submitted_at_ms: i64,
    #[sea_orm(column_type = "Text")]
    pub document: String,
    #[sea_orm(column_type = "Text")]
    pub warnings: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub webhook_id: String,
    pub attempts: i32,
    pub next_attempt_at_ms: Option<i64>,
    pub lease_until_ms: Option<i64>,
    pub lease_owner: Option<String>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    pub acknowledged_at_ms: Option<i64>,
    pub received_by: Option<String>,
    pub local_reference: Option<String>,
    pub outcome_decision: Option<String>,
    pub outcome_reason: Option<String>,
    pub outcome_other_gss_code: Option<String>,
    pub outcome_recorded_at_ms: Option<i64>,
    pub withdrawal_reason: Option<String>,
    pub withdrawn_at_ms: Option<i64>,
    pub status_changed_at_ms: Option<i64>,
    pub erased_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
