//! Revocable keys (docs/contract.md §11): when a key was revoked, when it was last used, and whether it is the
//! bootstrap admin key (`DTR_BOOTSTRAP_ADMIN_KEY`), which start-up replaces when the variable changes.
//! Existing bootstrap keys are found by their `api_key.created` audit event. And `Idempotency-Key`s
//! are unique per organisation *and* agency type, as visibility already is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    RevokedAtMs,
    LastUsedAtMs,
    Bootstrap,
}

#[derive(DeriveIden)]
enum Referrals {
    Table,
    Organisation,
    AgencyType,
    IdempotencyKey,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            big_integer_null(ApiKeys::RevokedAtMs),
            big_integer_null(ApiKeys::LastUsedAtMs),
            boolean(ApiKeys::Bootstrap).default(false).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The audit detail of a bootstrap key is JCS text: {"bootstrap":true,"key_id":"<id>",…}.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE api_keys SET bootstrap = TRUE WHERE EXISTS (SELECT 1 FROM audit_events \
                 WHERE audit_events.action = 'api_key.created' AND audit_events.detail LIKE \
                 '{\"bootstrap\":true,\"key_id\":\"' || api_keys.id || '\"%')",
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("referrals_idempotency")
                    .table(Referrals::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_idempotency")
                    .table(Referrals::Table)
                    .col(Referrals::Organisation)
                    .col(Referrals::AgencyType)
                    .col(Referrals::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
