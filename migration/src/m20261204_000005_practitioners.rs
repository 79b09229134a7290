//! Referrers without a case system (docs/contract.md §14): organisations and the e-mail domains
//! their staff use, practitioners, their drafts, and the kind of a sign-in link or session (an
//! officer's or a practitioner's: one sign-in machinery serves both web surfaces).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Name,
    AgencyTypes,
    EmailDomains,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum OrganisationDomains {
    Table,
    Domain,
    OrganisationId,
}

#[derive(DeriveIden)]
enum Practitioners {
    Table,
    Id,
    OrganisationId,
    Email,
    AddedIndividually,
    AgencyType,
    Name,
    Phone,
    Team,
    EmailsOff,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum Drafts {
    Table,
    Id,
    PractitionerId,
    Answers,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Kind,
}

#[derive(DeriveIden)]
enum SignInTokens {
    Table,
}

#[derive(DeriveIden)]
enum Referrals {
    Table,
    SubmittedBy,
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
                    .table(Organisations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Organisations::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Organisations::Name).string().not_null())
                    .col(ColumnDef::new(Organisations::AgencyTypes).text().not_null())
                    .col(
                        ColumnDef::new(Organisations::EmailDomains)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organisations::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organisations::UpdatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrganisationDomains::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OrganisationDomains::Domain)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrganisationDomains::OrganisationId)
                            .string()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrganisationDomains::Domain)
                            .col(OrganisationDomains::OrganisationId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("organisation_domains_by_organisation")
                    .table(OrganisationDomains::Table)
                    .col(OrganisationDomains::OrganisationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Practitioners::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Practitioners::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Practitioners::OrganisationId)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Practitioners::Email).string().not_null())
                    .col(
                        ColumnDef::new(Practitioners::AddedIndividually)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Practitioners::AgencyType).string().null())
                    .col(ColumnDef::new(Practitioners::Name).string().null())
                    .col(ColumnDef::new(Practitioners::Phone).string().null())
                    .col(ColumnDef::new(Practitioners::Team).string().null())
                    .col(
                        ColumnDef::new(Practitioners::EmailsOff)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Practitioners::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("practitioners_one_per_organisation")
                    .table(Practitioners::Table)
                    .col(Practitioners::OrganisationId)
                    .col(Practitioners::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("practitioners_by_email")
                    .table(Practitioners::Table)
                    .col(Practitioners::Email)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Drafts::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Drafts::Id).string().not_null().primary_key())
                    .col(
                        ColumnDef::new(Drafts::PractitionerId)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Drafts::Answers).text().not_null())
                    .col(ColumnDef::new(Drafts::CreatedAtMs).big_integer().not_null())
                    .col(ColumnDef::new(Drafts::UpdatedAtMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("drafts_by_age")
                    .table(Drafts::Table)
                    .col(Drafts::UpdatedAtMs)
                    .to_owned(),
            )
            .await?;
        for table in [Sessions::Table.into_iden(), SignInTokens::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(Sessions::Kind)
                                .string()
                                .not_null()
                                .default("officer"),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("referrals_by_submitter")
                    .table(Referrals::Table)
                    .col(Referrals::SubmittedBy)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Drafts::Table.into_iden(),
            Practitioners::Table.into_iden(),
            OrganisationDomains::Table.into_iden(),
            Organisations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
