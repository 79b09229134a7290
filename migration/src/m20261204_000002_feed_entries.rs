//! The event feed's index: one row per audit event the feed carries, with the scopes that may see
//! it (the referring organisation and agency type, the addressed authority). A poll then reads its
//! own tenant's events through an index instead of scanning every later event of the trail and
//! joining each to its referral — which, for a tenant with few events, meant rescanning everyone
//! else's on every poll. Filled from the existing trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FeedEntries {
    Table,
    Seq,
    Referrer,
    GssCode,
}

/// The audit actions the feed carries when this migration was written (the service's own list
/// may grow; it writes entries for the actions it carries then).
const FEED_ACTIONS: &str = "'referral.accepted', 'delivery.succeeded', 'delivery.failed', \
    'referral.viewed', 'referral.acknowledged', 'referral.outcome_recorded', \
    'referral.withdrawn', 'note.added', 'referral.erased', 'notification.sent'";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeedEntries::Table)
                    .if_not_exists()
                    .col(big_integer(FeedEntries::Seq).primary_key())
                    .col(string(FeedEntries::Referrer))
                    .col(string(FeedEntries::GssCode))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("feed_entries_by_referrer", FeedEntries::Referrer),
            ("feed_entries_by_authority", FeedEntries::GssCode),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(FeedEntries::Table)
                        .col(column)
                        .col(FeedEntries::Seq)
                        .to_owned(),
                )
                .await?;
        }
        // The referrer scope is the organisation and agency type joined by a unit separator
        // (U+001F), which neither may contain.
        let join = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "r.organisation || chr(31) || r.agency_type"
            }
            _ => "r.organisation || char(31) || r.agency_type",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO feed_entries (seq, referrer, gss_code) \
                 SELECT a.seq, {join}, r.gss_code FROM audit_events a \
                 JOIN referrals r ON r.id = a.referral_id WHERE a.action IN ({FEED_ACTIONS})"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeedEntries::Table).to_owned())
            .await
    }
}
