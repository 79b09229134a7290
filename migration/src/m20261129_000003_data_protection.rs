//! Data protection (docs/contract.md §11–§12): a rotated signing secret stays valid for 24 hours beside the
//! new one, and `Idempotency-Key`s are stored only as their SHA-256 (a case system may put a case
//! reference or a name in one). Existing keys are hashed here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, TryGetable};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Referrals {
    Table,
    ErasedAtMs,
    Status,
    StatusChangedAtMs,
}

#[derive(DeriveIden)]
enum AuthorityEndpoints {
    Table,
    PreviousSecret,
    PreviousSecretUntilMs,
}

/// The stored form of an `Idempotency-Key` (the service hashes the same way).
fn hashed(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_null(AuthorityEndpoints::PreviousSecret),
            big_integer_null(AuthorityEndpoints::PreviousSecretUntilMs),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(AuthorityEndpoints::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        // Retention finds due referrals by when they entered their status: every acknowledged,
        // withdrawn or failed referral has that time (older rows get their best-known one), and an
        // index leads there without reading every document.
        db.execute_unprepared(
            "UPDATE referrals SET status_changed_at_ms = COALESCE(acknowledged_at_ms, withdrawn_at_ms, last_attempt_at_ms, submitted_at_ms) \
             WHERE status_changed_at_ms IS NULL AND status IN ('acknowledged', 'withdrawn', 'failed')",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("referrals_due_for_erasure")
                    .table(Referrals::Table)
                    .col(Referrals::ErasedAtMs)
                    .col(Referrals::Status)
                    .col(Referrals::StatusChangedAtMs)
                    .to_owned(),
            )
            .await?;
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT seq, idempotency_key FROM referrals WHERE idempotency_key IS NOT NULL",
            ))
            .await?;
        let update = match backend {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "UPDATE referrals SET idempotency_key = $1 WHERE seq = $2"
            }
            _ => "UPDATE referrals SET idempotency_key = ?1 WHERE seq = ?2",
        };
        for row in rows {
            let seq =
                i64::try_get_by_index(&row, 0).map_err(|e| DbErr::Custom(format!("{e:?}")))?;
            let key =
                String::try_get_by_index(&row, 1).map_err(|e| DbErr::Custom(format!("{e:?}")))?;
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                update,
                [hashed(&key).into(), seq.into()],
            ))
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_hashed_as_lowercase_sha256_hex() {
        assert_eq!(
            super::hashed("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
