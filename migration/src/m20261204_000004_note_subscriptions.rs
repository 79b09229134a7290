//! The officers who asked to be e-mailed when a referrer adds a note (docs/contract.md §10b): one
//! row per officer who opted in; removing the officer removes it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NoteSubscriptions {
    Table,
    OfficerId,
    GssCode,
    CreatedAtMs,
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
                    .table(NoteSubscriptions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(NoteSubscriptions::OfficerId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NoteSubscriptions::GssCode)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NoteSubscriptions::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("note_subscriptions_by_authority")
                    .table(NoteSubscriptions::Table)
                    .col(NoteSubscriptions::GssCode)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NoteSubscriptions::Table).to_owned())
            .await
    }
}
