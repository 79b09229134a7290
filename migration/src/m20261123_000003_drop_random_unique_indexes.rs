//! Drops two unique indexes on random keys that no query uses: `referrals.webhook_id` (a fresh UUID,
//! unique by construction) and `audit_events.hash` (the chain is keyed by `seq`). Each dirtied a random
//! page on every insert, which made submissions write several times more pages than needed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            // PostgreSQL names UNIQUE column constraints <table>_<column>_key.
            DbBackend::Postgres => &[
                "ALTER TABLE referrals DROP CONSTRAINT IF EXISTS referrals_webhook_id_key",
                "ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_hash_key",
            ],
            // SQLite keeps a column UNIQUE as an automatic index that cannot be dropped; rebuild
            // the two tables without it (the audit triggers are re-created on the new table).
            _ => &[
                "DROP TRIGGER IF EXISTS audit_events_no_update",
                "DROP TRIGGER IF EXISTS audit_events_no_delete",
                "CREATE TABLE audit_events_new (seq integer NOT NULL PRIMARY KEY, at varchar NOT NULL, actor_key_id varchar NULL, actor_role varchar NOT NULL, action varchar NOT NULL, referral_id varchar NULL, detail text NOT NULL, prev_hash varchar NOT NULL, hash varchar NOT NULL)",
                "INSERT INTO audit_events_new SELECT seq, at, actor_key_id, actor_role, action, referral_id, detail, prev_hash, hash FROM audit_events",
                "DROP TABLE audit_events",
                "ALTER TABLE audit_events_new RENAME TO audit_events",
                "CREATE INDEX audit_events_by_referral ON audit_events (referral_id, seq)",
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
            ],
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Sqlite {
            rebuild_sqlite_referrals(manager).await?;
        }
        Ok(())
    }
}

/// Rebuilds `referrals` without the UNIQUE on `webhook_id`, copying every row and index.
async fn rebuild_sqlite_referrals(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let columns = "seq, id, organisation, agency_type, submitted_by, gss_code, status, delivery_mode, submitted_at_ms, document, warnings, idempotency_key, request_hash, webhook_id, attempts, next_attempt_at_ms, lease_until_ms, lease_owner, last_attempt_at_ms, last_error, delivered_at_ms, acknowledged_at_ms, received_by, local_reference";
    for sql in [
        "CREATE TABLE referrals_new (seq integer NOT NULL PRIMARY KEY AUTOINCREMENT, id varchar NOT NULL UNIQUE, organisation varchar NOT NULL, agency_type varchar NOT NULL, submitted_by varchar NOT NULL, gss_code varchar NOT NULL, status varchar NOT NULL, delivery_mode varchar NOT NULL, submitted_at_ms bigint NOT NULL, document text NOT NULL, warnings text NOT NULL, idempotency_key varchar NULL, request_hash varchar NULL, webhook_id varchar NOT NULL, attempts integer NOT NULL DEFAULT 0, next_attempt_at_ms bigint NULL, lease_until_ms bigint NULL, lease_owner varchar NULL, last_attempt_at_ms bigint NULL, last_error varchar NULL, delivered_at_ms bigint NULL, acknowledged_at_ms bigint NULL, received_by varchar NULL, local_reference varchar NULL)".to_owned(),
        format!("INSERT INTO referrals_new ({columns}) SELECT {columns} FROM referrals"),
        "DROP TABLE referrals".to_owned(),
        "ALTER TABLE referrals_new RENAME TO referrals".to_owned(),
        "CREATE UNIQUE INDEX referrals_idempotency ON referrals (organisation, idempotency_key)".to_owned(),
        "CREATE INDEX referrals_due ON referrals (status, next_attempt_at_ms)".to_owned(),
        "CREATE INDEX referrals_by_authority ON referrals (gss_code, seq)".to_owned(),
        "CREATE INDEX referrals_by_organisation ON referrals (organisation, seq)".to_owned(),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}
