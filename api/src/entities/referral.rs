//! `referrals`: the stored normalized referral, its status and its delivery job (one row, so a
//! submission is one insert and a state change is one update).

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

/// Where a referral is in its life (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    /// Waiting for a push attempt (first or retry).
    #[sea_orm(string_value = "queued")]
    Queued,
    /// In the pull inbox of an authority without an endpoint.
    #[sea_orm(string_value = "awaiting_collection")]
    AwaitingCollection,
    /// The authority has it (push 2xx, or its own first read).
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// The authority confirmed receipt (or recorded an outcome).
    #[sea_orm(string_value = "acknowledged")]
    Acknowledged,
    /// Push attempts exhausted or refused for good.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The referrer withdrew it: final.
    #[sea_orm(string_value = "withdrawn")]
    Withdrawn,
}

impl Status {
    /// The wire (and stored) spelling.
    pub fn as_str(self) -> &'static str {
        openapi::ReferralStatus::from(self).as_str()
    }
}

impl From<Status> for openapi::ReferralStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => openapi::ReferralStatus::Queued,
            Status::AwaitingCollection => openapi::ReferralStatus::AwaitingCollection,
            Status::Delivered => openapi::ReferralStatus::Delivered,
            Status::Acknowledged => openapi::ReferralStatus::Acknowledged,
            Status::Failed => openapi::ReferralStatus::Failed,
            Status::Withdrawn => openapi::ReferralStatus::Withdrawn,
        }
    }
}

impl From<openapi::ReferralStatus> for Status {
    fn from(s: openapi::ReferralStatus) -> Self {
        match s {
            openapi::ReferralStatus::Queued => Status::Queued,
            openapi::ReferralStatus::AwaitingCollection => Status::AwaitingCollection,
            openapi::ReferralStatus::Delivered => Status::Delivered,
            openapi::ReferralStatus::Acknowledged => Status::Acknowledged,
            openapi::ReferralStatus::Failed => Status::Failed,
            openapi::ReferralStatus::Withdrawn => Status::Withdrawn,
        }
    }
}

/// How the authority receives referrals (the `delivery_mode` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Mode {
    /// Signed webhooks to its endpoint.
    #[sea_orm(string_value = "push")]
    Push,
    /// It collects from its inbox.
    #[sea_orm(string_value = "pull")]
    Pull,
}

impl From<Mode> for openapi::DeliveryMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Push => openapi::DeliveryMode::Push,
            Mode::Pull => openapi::DeliveryMode::Pull,
        }
    }
}
