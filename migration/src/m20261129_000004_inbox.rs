//! Authorities without software (docs/contract.md §10): where an authority is told that a referral waits,
//! the officers who may sign in to the web inbox, their single-use sign-in links and their
//! sessions (each stored only as a SHA-256 of the secret), and the officer an audit event's actor
//! was.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthorityNotify {
    Table,
    GssCode,
    Email,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum Officers {
    Table,
    Id,
    GssCode,
    Email,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum SignInTokens {
    Table,
    TokenHash,
    OfficerId,
    CreatedAtMs,
    ExpiresAtMs,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    OfficerId,
    CsrfToken,
    CreatedAtMs,
    LastSeenAtMs,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ActorOfficerId,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthorityNotify::Table)
                    .col(string(AuthorityNotify::GssCode).primary_key())
                    .col(string(AuthorityNotify::Email))
                    .col(big_integer(AuthorityNotify::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Officers::Table)
                    .col(string(Officers::Id).primary_key())
                    .col(string(Officers::GssCode))
                    // One person signs in to one authority's inbox: the address names the officer.
                    .col(string_uniq(Officers::Email))
                    .col(big_integer(Officers::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("officers_by_authority")
                    .table(Officers::Table)
                    .col(Officers::GssCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInTokens::Table)
                    .col(string(SignInTokens::TokenHash).primary_key())
                    .col(string(SignInTokens::OfficerId))
                    .col(big_integer(SignInTokens::CreatedAtMs))
                    .col(big_integer(SignInTokens::ExpiresAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::IdHash).primary_key())
                    .col(string(Sessions::OfficerId))
                    .col(string(Sessions::CsrfToken))
                    .col(big_integer(Sessions::CreatedAtMs))
                    .col(big_integer(Sessions::LastSeenAtMs))
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            (
                "sign_in_tokens_by_officer",
                SignInTokens::Table.into_iden(),
                SignInTokens::OfficerId.into_iden(),
            ),
            (
                "sessions_by_officer",
                Sessions::Table.into_iden(),
                Sessions::OfficerId.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(string_null(AuditEvents::ActorOfficerId))
                    .to_owned(),
            )
            .await
    }
}
