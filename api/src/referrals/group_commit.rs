//! Group commit for the two hot write paths: accepting referrals and recording delivery attempts.
//!
//! On SQLite every statement is a round trip to the connection's worker thread, and only one writer
//! may hold the database at a time, so writing each submission in its own transaction caps throughput
//! at the latency of ~7 statements. Instead, one writer task takes whatever is waiting (up to
//! [`MAX_BATCH`]) and writes it in a single transaction with multi-row inserts, audit events included,
//! then answers each caller. If a batch fails (say, an `Idempotency-Key` race hits the unique index),
//! every item is retried alone, so one bad item never fails the others. Callers still see exactly the
//! semantics of their own transaction: committed with its audit events, or not at all.
//!
//! The writer decides nothing itself: a submission's status comes from [`lifecycle::accept`], an
//! attempt's from [`lifecycle::attempted`] (applied only while the worker still holds the job).

use crate::audit::{self, NewEvent};
use crate::clock::Clock;
use crate::db::{Db, Fault};
use crate::entities::referral;
use crate::referrals::lifecycle::{self, AttemptResult, Status, Submission};
use crate::referrals::repository as store;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, NotSet, QueryFilter, Set,
};
use tokio::sync::{mpsc, oneshot};

/// The most items written in one transaction.
pub const MAX_BATCH: usize = 128;

/// The outcome of one delivery attempt, to record if the worker still holds the job's lease.
#[derive(Debug)]
pub struct AttemptRecord {
    /// The referral.
    pub id: String,
    /// The lease owner that must still hold it.
    pub owner: String,
    /// When the attempt started.
    pub started_ms: i64,
    /// What the lifecycle made of it.
    pub result: AttemptResult,
}

enum Write {
    Accept(Box<Submission>),
    Events(Vec<NewEvent>),
    Attempt(Box<AttemptRecord>),
}

enum Written {
    Accepted(Box<referral::Model>),
    Events,
    Attempt(bool),
}

type Job = (Write, oneshot::Sender<Result<Written, DbErr>>);

/// A handle on the writer task.
#[derive(Clone, Debug)]
pub struct BatchWriter {
    tx: mpsc::Sender<Job>,
}

fn unexpected() -> DbErr {
    DbErr::Custom("the writer answered with another kind of result".to_owned())
}

impl BatchWriter {
    /// Starts the writer task on `db`.
    pub fn spawn(db: Db, clock: Clock) -> BatchWriter {
        let (tx, rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(run(db, clock, rx));
        BatchWriter { tx }
    }

    async fn write(&self, w: Write) -> Result<Written, DbErr> {
        let (reply, answer) = oneshot::channel();
        // A full queue is answered at once (503 with Retry-After) rather than waited for: under
        // overload, waiting callers would pile up without bound, in memory and in latency.
        self.tx.try_send((w, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => crate::db::overloaded(),
            mpsc::error::TrySendError::Closed(_) => {
                DbErr::Custom("the writer has stopped".to_owned())
            }
        })?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the writer stopped before answering".to_owned()))?
    }

    /// Stores a valid referral with its audit events; its status is decided in the transaction, from
    /// the endpoints as they are at commit, so an endpoint change cannot race a submission.
    pub async fn accept(&self, submission: Submission) -> Result<referral::Model, DbErr> {
        match self.write(Write::Accept(Box::new(submission))).await? {
            Written::Accepted(row) => Ok(*row),
            _ => Err(unexpected()),
        }
    }

    /// Appends audit events (a rejected submission's).
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<(), DbErr> {
        match self.write(Write::Events(events)).await? {
            Written::Events => Ok(()),
            _ => Err(unexpected()),
        }
    }

    /// Records a push attempt; `false` when the referral moved on meanwhile (acknowledged,
    /// withdrawn, moved to the inbox, or re-leased) and only the attempt itself was recorded.
    pub async fn record_attempt(&self, record: AttemptRecord) -> Result<bool, DbErr> {
        match self.write(Write::Attempt(Box::new(record))).await? {
            Written::Attempt(updated) => Ok(updated),
            _ => Err(unexpected()),
        }
    }
}

async fn run(db: Db, clock: Clock, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
        if writes.len() > 1 {
            let refs: Vec<&Write> = writes.iter().collect();
            match write_batch(&db, clock.now_ms(), &refs).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                    continue;
                }
                // The storage failed (a full disk, a lost database): so would each item alone.
                // Nothing of the batch was stored; every caller hears so at once.
                Err(e) if db.observe(&e) == Fault::Storage => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                    continue;
                }
                // Anything else (an Idempotency-Key race on the unique index): one at a time, so
                // one bad item never fails the others.
                Err(_) => {}
            }
        }
        // One at a time: a single item, or a batch that failed as a whole.
        for (w, reply) in writes.iter().zip(replies) {
            let result = write_batch(&db, clock.now_ms(), &[w])
                .await
                .map(|mut r| r.remove(0));
            let _ = reply.send(result);
        }
    }
}

/// Writes the items in one transaction, in order.
async fn write_batch(db: &Db, ms: i64, writes: &[&Write]) -> Result<Vec<Written>, DbErr> {
    let started = std::time::Instant::now();
    let txn = db.begin_write().await?;
    let (push, mailboxes) = if writes.iter().any(|w| matches!(w, Write::Accept(_))) {
        (
            crate::authorities::repository::push_authorities_for_submission(&*txn).await?,
            crate::authorities::repository::mailboxes(&*txn).await?,
        )
    } else {
        Default::default()
    };
    let mut rows = vec![];
    let mut notices = vec![];
    let mut events = vec![];
    let mut results = Vec::with_capacity(writes.len());
    for w in writes {
        match w {
            Write::Accept(submission) => {
                let pushed = push.contains(&submission.row.gss_code);
                let mailbox = mailboxes.contains(&submission.row.gss_code);
                let (row, accepted, follow_ups) =
                    lifecycle::accept((**submission).clone(), pushed, mailbox, ms);
                if !follow_ups.is_empty() {
                    notices.push((row.clone(), follow_ups));
                }
                let mut active = row.clone().into_active_model().reset_all();
                active.seq = NotSet;
                rows.push(active);
                events.extend(accepted);
                results.push(Written::Accepted(Box::new(row)));
            }
            Write::Events(list) => {
                events.extend(list.iter().cloned());
                results.push(Written::Events);
            }
            Write::Attempt(a) => {
                let updated = super::repository::record_push_attempt(
                    &*txn,
                    &a.id,
                    &a.owner,
                    a.started_ms,
                    &a.result,
                )
                .await?;
                if !updated {
                    supersede(&*txn, a, ms).await?;
                }
                events.extend(if updated {
                    a.result.events.clone()
                } else {
                    vec![a.result.superseded.clone()]
                });
                results.push(Written::Attempt(updated));
            }
        }
    }
    for chunk in crate::db::pow2_chunks(&rows, 32) {
        referral::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    for (row, follow_ups) in &notices {
        store::enqueue(&*txn, row, follow_ups, ms).await?;
    }
    audit::append(&*txn, ms, events).await?;
    txn.commit().await?;
    tracing::debug!(
        items = writes.len(),
        micros = started.elapsed().as_micros() as u64,
        "batch written"
    );
    Ok(results)
}

/// The referral moved on while an attempt was in flight. If the attempt reached the authority (2xx)
/// after the referral was withdrawn, the authority now holds a withdrawn referral: record that it
/// received it, and tell it of the withdrawal as the lifecycle says.
async fn supersede(
    txn: &impl sea_orm::ConnectionTrait,
    a: &AttemptRecord,
    ms: i64,
) -> Result<(), DbErr> {
    if a.result.status != Status::Delivered {
        return Ok(());
    }
    let Some(row) = referral::Entity::find()
        .filter(referral::Column::Id.eq(a.id.clone()))
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let has_endpoint = crate::authorities::repository::endpoint(txn, &row.gss_code)
        .await?
        .is_some();
    if let Some(follow_up) = lifecycle::delivered_after_withdrawal(&row, has_endpoint) {
        let mut active = row.clone().into_active_model();
        active.delivered_at_ms = Set(Some(ms));
        let row = active.update(txn).await?;
        store::enqueue(txn, &row, &[follow_up], ms).await?;
    }
    Ok(())
}
