//! Schema history of the duty-to-refer service. Append-only once landed: a change is a new migration.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_audit_append_only;
mod m20261123_000003_drop_random_unique_indexes;
mod m20261129_000001_lifecycle;
mod m20261129_000002_keys_and_idempotency;
mod m20261129_000003_data_protection;
mod m20261129_000004_inbox;
mod m20261204_000001_readiness_probe;
mod m20261204_000002_feed_entries;
mod m20261204_000003_assignments;
mod m20261204_000004_note_subscriptions;
mod m20261204_000005_practitioners;

/// Every migration, in order.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_audit_append_only::Migration),
            Box::new(m20261123_000003_drop_random_unique_indexes::Migration),
            Box::new(m20261129_000001_lifecycle::Migration),
            Box::new(m20261129_000002_keys_and_idempotency::Migration),
            Box::new(m20261129_000003_data_protection::Migration),
            Box::new(m20261129_000004_inbox::Migration),
            Box::new(m20261204_000001_readiness_probe::Migration),
            Box::new(m20261204_000002_feed_entries::Migration),
            Box::new(m20261204_000003_assignments::Migration),
            Box::new(m20261204_000004_note_subscriptions::Migration),
            Box::new(m20261204_000005_practitioners::Migration),
        ]
    }
}
