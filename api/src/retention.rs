//! Retention (CONTRACT §12; UK GDPR art. 5(1)(e)): the personal data of a referral that is
//! acknowledged, withdrawn or failed is erased `DTR_RETENTION` after it entered that status. The
//! service is a conduit; the council keeps its own case record.
//!
//! A background job erases due referrals in small batches — each its own short transaction, so
//! submissions keep their turn on SQLite's one writer — with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several processes share the work without erasing one twice. On SQLite the WAL is
//! then truncated, so the erased text is in neither the database file (secure_delete) nor the WAL.

use crate::audit::Actor;
use crate::clock::Clock;
use crate::db::Db;
use crate::lifecycle::Erasure;
use crate::store;
use sea_orm::DbErr;
use std::time::Duration;

/// Referrals erased per transaction.
pub const BATCH: u64 = 50;

/// How often the job looks for due referrals.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Erases every referral due now, a batch at a time; returns how many.
pub async fn sweep(db: &Db, clock: &Clock, retention: Duration) -> Result<usize, DbErr> {
    let mut erased = 0;
    loop {
        let now = clock.now_ms();
        let cutoff = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let txn = db.begin_write().await?;
        let due = store::due_for_erasure(&*txn, cutoff, BATCH).await?;
        let n = due.len();
        for row in &due {
            store::erase(&*txn, row, Erasure::Retention, &Actor::system(), now).await?;
        }
        txn.commit().await?;
        erased += n;
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            break;
        }
        // Let waiting submissions take their turn between batches.
        tokio::task::yield_now().await;
    }
    if erased > 0 {
        tracing::info!(
            erased,
            "retention: erased personal data of referrals past DTR_RETENTION"
        );
        db.purge_wal().await?;
    }
    Ok(erased)
}
