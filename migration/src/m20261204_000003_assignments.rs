//! Who at the authority is dealing with a referral (docs/contract.md §10b): at most one officer per
//! referral. Kept beside the referral, not in it, so the hot path's row is unchanged; it holds no
//! personal data of the person referred, so erasure leaves it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Assignments {
    Table,
    ReferralId,
    OfficerId,
    AssignedBy,
    AssignedAtMs,
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
                    .table(Assignments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Assignments::ReferralId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Assignments::OfficerId).string().not_null())
                    .col(ColumnDef::new(Assignments::AssignedBy).string().not_null())
                    .col(
                        ColumnDef::new(Assignments::AssignedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("assignments_by_officer")
                    .table(Assignments::Table)
                    .col(Assignments::OfficerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Assignments::Table).to_owned())
            .await
    }
}
