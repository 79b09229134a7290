//! The initial schema: API keys, referrals with their delivery state, authority endpoints and the
//! hash-chained audit log. Instants that are compared or ordered are integer milliseconds since the
//! Unix epoch (SQLite would compare RFC 3339 text wrongly); ids are UUIDs as text on both databases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    KeyHash,
    Role,
    Organisation,
    AgencyType,
    GssCode,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum Referrals {
    Table,
    Seq,
    Id,
    Organisation,
    AgencyType,
    SubmittedBy,
    GssCode,
    Status,
    DeliveryMode,
    SubmittedAtMs,
    Document,
    Warnings,
    IdempotencyKey,
    RequestHash,
    WebhookId,
    Attempts,
    NextAttemptAtMs,
    LeaseUntilMs,
    LeaseOwner,
    LastAttemptAtMs,
    LastError,
    DeliveredAtMs,
    AcknowledgedAtMs,
    ReceivedBy,
    LocalReference,
}

#[derive(DeriveIden)]
enum AuthorityEndpoints {
    Table,
    GssCode,
    Url,
    Secret,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    At,
    ActorKeyId,
    ActorRole,
    Action,
    ReferralId,
    Detail,
    PrevHash,
    Hash,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite does not wrap migrations by default; a half-applied schema is worse than none.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(string(ApiKeys::Role))
                    .col(string_null(ApiKeys::Organisation))
                    .col(string_null(ApiKeys::AgencyType))
                    .col(string_null(ApiKeys::GssCode))
                    .col(big_integer(ApiKeys::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Referrals::Table)
                    .col(big_pk_auto(Referrals::Seq))
                    .col(string_uniq(Referrals::Id))
                    .col(string(Referrals::Organisation))
                    .col(string(Referrals::AgencyType))
                    .col(string(Referrals::SubmittedBy))
                    .col(string(Referrals::GssCode))
                    .col(string(Referrals::Status))
                    .col(string(Referrals::DeliveryMode))
                    .col(big_integer(Referrals::SubmittedAtMs))
                    .col(text(Referrals::Document))
                    .col(text(Referrals::Warnings))
                    .col(string_null(Referrals::IdempotencyKey))
                    .col(string_null(Referrals::RequestHash))
                    .col(string_uniq(Referrals::WebhookId))
                    .col(integer(Referrals::Attempts).default(0))
                    .col(big_integer_null(Referrals::NextAttemptAtMs))
                    .col(big_integer_null(Referrals::LeaseUntilMs))
                    .col(string_null(Referrals::LeaseOwner))
                    .col(big_integer_null(Referrals::LastAttemptAtMs))
                    .col(string_null(Referrals::LastError))
                    .col(big_integer_null(Referrals::DeliveredAtMs))
                    .col(big_integer_null(Referrals::AcknowledgedAtMs))
                    .col(string_null(Referrals::ReceivedBy))
                    .col(string_null(Referrals::LocalReference))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_idempotency")
                    .table(Referrals::Table)
                    .col(Referrals::Organisation)
                    .col(Referrals::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_due")
                    .table(Referrals::Table)
                    .col(Referrals::Status)
                    .col(Referrals::NextAttemptAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_by_authority")
                    .table(Referrals::Table)
                    .col(Referrals::GssCode)
                    .col(Referrals::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_by_organisation")
                    .table(Referrals::Table)
                    .col(Referrals::Organisation)
                    .col(Referrals::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorityEndpoints::Table)
                    .col(string(AuthorityEndpoints::GssCode).primary_key())
                    .col(text(AuthorityEndpoints::Url))
                    .col(string(AuthorityEndpoints::Secret))
                    .col(big_integer(AuthorityEndpoints::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Seq).primary_key())
                    .col(string(AuditEvents::At))
                    .col(string_null(AuditEvents::ActorKeyId))
                    .col(string(AuditEvents::ActorRole))
                    .col(string(AuditEvents::Action))
                    .col(string_null(AuditEvents::ReferralId))
                    .col(text(AuditEvents::Detail))
                    .col(string(AuditEvents::PrevHash))
                    .col(string_uniq(AuditEvents::Hash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_by_referral")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::ReferralId)
                    .col(AuditEvents::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_events",
            "authority_endpoints",
            "referrals",
            "api_keys",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
