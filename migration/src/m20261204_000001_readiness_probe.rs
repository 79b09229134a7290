//! A one-row table that readiness writes to: `/readyz` proves the database takes a write now (a
//! full disk, a read-only or damaged file, a stopped server all fail it), not only that it answers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReadinessProbe {
    Table,
    Id,
    ProbedAtMs,
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
                    .table(ReadinessProbe::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ReadinessProbe::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReadinessProbe::ProbedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ReadinessProbe::Table)
                    .columns([ReadinessProbe::Id, ReadinessProbe::ProbedAtMs])
                    .values([1.into(), 0i64.into()])
                    .map_err(|e| DbErr::Migration(e.to_string()))?
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReadinessProbe::Table).to_owned())
            .await
    }
}
