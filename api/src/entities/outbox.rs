//! `outbox`: the events that follow a referral to its authority — `referral.withdrawn` and
//! `referral.note_added` pushes, and e-mails to its mailbox — each delivered by the worker with its own `webhook-id`, a lease and
//! the retry schedule, like the referral itself. Payloads hold ids and codes, never personal data.

use sea_orm::entity::prelude::*;

/// Where an outbox event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum OutboxStatus {
    /// Waiting for an attempt.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Accepted by the receiver.
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Attempts exhausted or refused for good.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// How an outbox event travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Channel {
    /// A signed webhook to the authority's endpoint.
    #[sea_orm(string_value = "webhook")]
    Webhook,
    /// An e-mail to the authority's notify address (docs/contract.md §10).
    #[sea_orm(string_value = "email")]
    Email,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: String,
    pub referral_id: String,
    pub gss_code: String,
    pub channel: Channel,
    pub event_type: String,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub webhook_id: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at_ms: Option<i64>,
    pub lease_until_ms: Option<i64>,
    pub lease_owner: Option<String>,
    pub last_attempt_at_ms: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
