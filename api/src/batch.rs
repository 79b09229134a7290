//! Group commit for the two hot write paths: accepting referrals and recording delivery attempts.
//!
//! On SQLite every statement is a round trip to the connection's worker thread, and only one writer
//! may hold the database at a time, so writing each submission in its own transaction caps throughput
//! at the latency of ~7 statements. Instead, one writer task takes whatever is waiting (up to
//! [`MAX_BATCH`]) and writes it in a single transaction with multi-row inserts, audit events included,
//! then answers each caller. If a batch fails (say, an `Idempotency-Key` race hits the unique index),
//! every item is retried alone, so one bad item never fails the others. Callers still see exactly the
//! semantics of their own transaction: committed with its audit events, or not at all.

use crate::audit::{self, NewEvent};
use crate::clock::Clock;
use crate::db::Db;
use crate::entities::{authority_endpoint, referral};
use openapi::AuditAction;
use openapi::ReferralStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, NotSet, QueryFilter,
};
use std::collections::HashSet;
use tokio::sync::{mpsc, oneshot};

/// The most items written in one transaction.
pub const MAX_BATCH: usize = 128;

/// A new referral, its delivery job and its audit events.
#[derive(Debug)]
pub struct NewReferral {
    /// The row as the handler built it; status and delivery mode are decided in the transaction,
    /// from the endpoints as they are at commit, so an endpoint change cannot race a submission.
    pub row: referral::Model,
    /// `referral.received`, `referral.accepted` (whose detail gets the decided status).
    pub events: Vec<NewEvent>,
}

/// The outcome of one delivery attempt, to record if the worker still holds the job's lease.
#[derive(Debug)]
pub struct AttemptRecord {
    /// The referral.
    pub id: String,
    /// The lease owner that must still hold it.
    pub owner: String,
    /// New status.
    pub status: ReferralStatus,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// Next due time, if retrying.
    pub next_attempt_at_ms: Option<i64>,
    /// When the attempt started.
    pub started_ms: i64,
    /// `http_503`, `timeout`, … or none.
    pub last_error: Option<String>,
    /// Set when delivered.
    pub delivered_at_ms: Option<i64>,
    /// Events when the row was updated.
    pub events: Vec<NewEvent>,
    /// Events when it was not (the lease was lost or the referral moved on meanwhile).
    pub superseded: Vec<NewEvent>,
}

/// One write.
#[derive(Debug)]
pub enum Write {
    /// An accepted referral.
    Accept(Box<NewReferral>),
    /// Audit events only (a rejected submission).
    Events(Vec<NewEvent>),
    /// A delivery attempt's outcome.
    Attempt(Box<AttemptRecord>),
}

/// What a write produced.
#[derive(Debug)]
pub enum Written {
    /// The stored referral (status decided).
    Accepted(Box<referral::Model>),
    /// Events appended.
    Events,
    /// Whether the attempt's row was updated (false: superseded).
    Attempt(bool),
}

type Job = (Write, oneshot::Sender<Result<Written, DbErr>>);

/// A handle on the writer task.
#[derive(Clone, Debug)]
pub struct BatchWriter {
    tx: mpsc::Sender<Job>,
}

impl BatchWriter {
    /// Starts the writer task on `db`.
    pub fn spawn(db: Db, clock: Clock) -> BatchWriter {
        let (tx, rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(run(db, clock, rx));
        BatchWriter { tx }
    }

    /// Writes, waiting for the commit.
    pub async fn write(&self, w: Write) -> Result<Written, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((w, reply))
            .await
            .map_err(|_| DbErr::Custom("the writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the writer stopped before answering".to_owned()))?
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
            if let Ok(results) = write_batch(&db, clock.now_ms(), &refs).await {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
                continue;
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
    let begun_us = started.elapsed().as_micros() as u64;
    let push: HashSet<String> = if writes.iter().any(|w| matches!(w, Write::Accept(_))) {
        authority_endpoint::Entity::find()
            .all(&*txn)
            .await?
            .into_iter()
            .map(|e| e.gss_code)
            .collect()
    } else {
        HashSet::new()
    };
    let read_us = started.elapsed().as_micros() as u64;
    let mut rows = vec![];
    let mut events = vec![];
    let mut results = Vec::with_capacity(writes.len());
    for w in writes {
        match w {
            Write::Accept(new) => {
                let mut row = new.row.clone();
                let pushed = push.contains(&row.gss_code);
                let status = if pushed {
                    ReferralStatus::Queued
                } else {
                    ReferralStatus::AwaitingCollection
                };
                row.status = status.as_str().to_owned();
                row.delivery_mode = if pushed { "push" } else { "pull" }.to_owned();
                row.next_attempt_at_ms = pushed.then_some(row.submitted_at_ms);
                let mut active = row.clone().into_active_model().reset_all();
                active.seq = NotSet;
                rows.push(active);
                for e in &new.events {
                    let mut e = e.clone();
                    if e.action == AuditAction::ReferralAccepted {
                        e.detail["status"] = serde_json::Value::from(status.as_str());
                    }
                    events.push(e);
                }
                results.push(Written::Accepted(Box::new(row)));
            }
            Write::Events(list) => {
                events.extend(list.iter().cloned());
                results.push(Written::Events);
            }
            Write::Attempt(a) => {
                let updated = referral::Entity::update_many()
                    .col_expr(referral::Column::Status, Expr::value(a.status.as_str()))
                    .col_expr(referral::Column::Attempts, Expr::value(a.attempts))
                    .col_expr(
                        referral::Column::NextAttemptAtMs,
                        Expr::value(a.next_attempt_at_ms),
                    )
                    .col_expr(referral::Column::LastAttemptAtMs, Expr::value(a.started_ms))
                    .col_expr(
                        referral::Column::LastError,
                        Expr::value(a.last_error.clone()),
                    )
                    .col_expr(
                        referral::Column::DeliveredAtMs,
                        Expr::value(a.delivered_at_ms),
                    )
                    .col_expr(
                        referral::Column::LeaseUntilMs,
                        Expr::value(Option::<i64>::None),
                    )
                    .col_expr(
                        referral::Column::LeaseOwner,
                        Expr::value(Option::<String>::None),
                    )
                    .filter(referral::Column::Id.eq(a.id.clone()))
                    .filter(referral::Column::LeaseOwner.eq(a.owner.clone()))
                    .filter(referral::Column::Status.eq(ReferralStatus::Queued.as_str()))
                    .exec(&*txn)
                    .await?
                    .rows_affected
                    > 0;
                events.extend(
                    if updated {
                        a.events.iter()
                    } else {
                        a.superseded.iter()
                    }
                    .cloned(),
                );
                results.push(Written::Attempt(updated));
            }
        }
    }
    for chunk in crate::db::pow2_chunks(&rows, 32) {
        referral::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    let inserted_us = started.elapsed().as_micros() as u64;
    audit::append(&*txn, ms, events).await?;
    let appended_us = started.elapsed().as_micros() as u64;
    txn.commit().await?;
    tracing::debug!(
        items = writes.len(),
        micros = started.elapsed().as_micros() as u64,
        begun_us,
        read_us,
        inserted_us,
        appended_us,
        "batch written"
    );
    Ok(results)
}
