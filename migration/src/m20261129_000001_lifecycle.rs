//! The referral after delivery (docs/contract.md §9, §12): the authority's outcome, the referrer's
//! withdrawal, when the status last changed (retention counts from it) and when the personal data
//! was erased; notes between referrer and authority; and an outbox for the events that follow a
//! referral to its authority (`referral.withdrawn`, `referral.note_added`, e-mail notifications),
//! delivered by the same claim, lease and retry machinery as the referral itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Referrals {
    Table,
    OutcomeDecision,
    OutcomeReason,
    OutcomeOtherGssCode,
    OutcomeRecordedAtMs,
    WithdrawalReason,
    WithdrawnAtMs,
    StatusChangedAtMs,
    ErasedAtMs,
}

#[derive(DeriveIden)]
enum Notes {
    Table,
    Seq,
    Id,
    ReferralId,
    AuthorRole,
    AuthorKeyId,
    AuthorOrganisation,
    AuthorAgencyType,
    AuthorGssCode,
    AuthorOfficerId,
    Text,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    Id,
    ReferralId,
    GssCode,
    Channel,
    EventType,
    Payload,
    WebhookId,
    Status,
    Attempts,
    NextAttemptAtMs,
    LeaseUntilMs,
    LeaseOwner,
    LastAttemptAtMs,
    LastError,
    SentAtMs,
    CreatedAtMs,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string_null(Referrals::OutcomeDecision),
            string_null(Referrals::OutcomeReason),
            string_null(Referrals::OutcomeOtherGssCode),
            big_integer_null(Referrals::OutcomeRecordedAtMs),
            string_null(Referrals::WithdrawalReason),
            big_integer_null(Referrals::WithdrawnAtMs),
            big_integer_null(Referrals::StatusChangedAtMs),
            big_integer_null(Referrals::ErasedAtMs),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Referrals::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .col(big_pk_auto(Notes::Seq))
                    .col(string_uniq(Notes::Id))
                    .col(string(Notes::ReferralId))
                    .col(string(Notes::AuthorRole))
                    .col(string_null(Notes::AuthorKeyId))
                    .col(string_null(Notes::AuthorOrganisation))
                    .col(string_null(Notes::AuthorAgencyType))
                    .col(string_null(Notes::AuthorGssCode))
                    .col(string_null(Notes::AuthorOfficerId))
                    .col(text_null(Notes::Text))
                    .col(big_integer(Notes::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notes_by_referral")
                    .table(Notes::Table)
                    .col(Notes::ReferralId)
                    .col(Notes::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Seq))
                    .col(string_uniq(Outbox::Id))
                    .col(string(Outbox::ReferralId))
                    .col(string(Outbox::GssCode))
                    .col(string(Outbox::Channel))
                    .col(string(Outbox::EventType))
                    .col(text(Outbox::Payload))
                    .col(string(Outbox::WebhookId))
                    .col(string(Outbox::Status))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(big_integer_null(Outbox::NextAttemptAtMs))
                    .col(big_integer_null(Outbox::LeaseUntilMs))
                    .col(string_null(Outbox::LeaseOwner))
                    .col(big_integer_null(Outbox::LastAttemptAtMs))
                    .col(string_null(Outbox::LastError))
                    .col(big_integer_null(Outbox::SentAtMs))
                    .col(big_integer(Outbox::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_by_referral")
                    .table(Outbox::Table)
                    .col(Outbox::ReferralId)
                    .to_owned(),
            )
            .await
    }
}
