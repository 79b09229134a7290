//! Retention (docs/contract.md §12; UK GDPR art. 5(1)(e)): the personal data of a referral that is
//! acknowledged, withdrawn or failed is erased `DTR_RETENTION` after it entered that status. The
//! service is a conduit; the council keeps its own case record.
//!
//! A background job erases due referrals in small batches — each its own short transaction, with
//! rests between, so submissions keep their turn on SQLite's one writer — with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several processes share the work without erasing one twice. On SQLite the file is
//! then rewritten and the WAL truncated ([`Db::scrub`]), so the erased text is in neither.

use crate::audit::Actor;
use crate::clock::Clock;
use crate::db::Db;
use crate::referrals::lifecycle::Erasure;
use crate::referrals::repository as store;
use sea_orm::DbErr;
use std::time::Duration;

/// Referrals erased per transaction: small, so a submission waiting for the write turn waits for
/// about a millisecond at most.
pub const BATCH: u64 = 10;

/// After each batch the job rests this many times as long as the batch took, so it holds the
/// write turn about 2.5 % of the time and submissions keep their latency (benchmark 6 measures
/// this). It still erases about a hundred referrals a second, millions a day.
const REST: u32 = 39;

/// How often the job looks for due referrals.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Erases every referral due now, a batch at a time; returns how many.
pub async fn sweep(db: &Db, clock: &Clock, retention: Duration) -> Result<usize, DbErr> {
    let mut erased = 0;
    loop {
        let began = std::time::Instant::now();
        let now = clock.now_ms();
        let cutoff = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let txn = db.begin_write().await?;
        let due = store::due_for_erasure(&*txn, cutoff, BATCH).await?;
        let n = due.len();
        store::erase_all(&*txn, &due, Erasure::Retention, &Actor::system(), now).await?;
        txn.commit().await?;
        erased += n;
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            break;
        }
        tokio::time::sleep(began.elapsed() * REST).await;
    }
    if erased > 0 {
        tracing::info!(
            erased,
            "retention: erased personal data of referrals past DTR_RETENTION"
        );
        // The sweep runs at most once a minute: the file is rewritten at its end, not later.
        db.scrub().await?;
    }
    Ok(erased)
}
