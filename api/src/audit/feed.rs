//! Waking long polls of the event feed: a commit wakes only the polls whose scope it touched.
//!
//! One task per process follows the feed's index (`feed_entries`) after every commit — its own, or
//! on PostgreSQL another process's, announced by `NOTIFY` — and wakes the polls of the scopes the
//! new entries belong to: the referring organisation and agency type, the addressed authority,
//! and admins (who see everything). A poll for a quiet tenant is not woken by the others' traffic.
//! Each key may hold a bounded number of long polls at once.

use crate::db::Db;
use crate::entities::{audit_event, feed_entry};
use crate::keys::{Caller, Scope};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The long polls one key may hold at once; more answer 429.
pub const MAX_LONG_POLLS_PER_KEY: usize = 10;

/// A page of the event feed: the feed's audit events of the referrals `caller` may see, oldest
/// first, after `after_seq`, read through the feed's index (`feed_entries`) so that a tenant's
/// poll costs its own page, not a scan of everyone else's later events. Also answers how far the
/// page looked: the chain's head when the page is not full (read *before* the page, so nothing at
/// or below it can still appear — appends are serialized and commit in order), else the page's
/// last event. A poller passing that back misses nothing and repeats nothing, and an empty page
/// moves its cursor on instead of rescanning the same stretch.
pub async fn page(
    db: &Db,
    caller: &Caller,
    after_seq: i64,
    limit: u64,
) -> Result<(Vec<audit_event::Model>, i64), DbErr> {
    let db = db.conn();
    let (head, _) = crate::audit::head(db).await?;
    let head = i64::try_from(head).unwrap_or(i64::MAX);
    let mut entries = feed_entry::Entity::find()
        .filter(feed_entry::Column::Seq.gt(after_seq))
        .filter(feed_entry::Column::Seq.lte(head));
    entries = match &caller.scope {
        Scope::Admin => entries,
        Scope::Referrer {
            organisation,
            agency_type,
        } => entries.filter(
            feed_entry::Column::Referrer.eq(crate::audit::referrer_scope(
                organisation,
                agency_type.as_str(),
            )),
        ),
        Scope::Authority { gss_code } => {
            entries.filter(feed_entry::Column::GssCode.eq(gss_code.clone()))
        }
    };
    let seqs: Vec<i64> = entries
        .select_only()
        .column(feed_entry::Column::Seq)
        .order_by_asc(feed_entry::Column::Seq)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let rows = if seqs.is_empty() {
        vec![]
    } else {
        audit_event::Entity::find()
            .filter(audit_event::Column::Seq.is_in(seqs.clone()))
            .order_by_asc(audit_event::Column::Seq)
            .all(db)
            .await?
    };
    let scanned_to = if (seqs.len() as u64) < limit {
        head.max(after_seq)
    } else {
        seqs.last().copied().unwrap_or(after_seq)
    };
    Ok((rows, scanned_to))
}

/// Whose events a poll waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeedScope {
    /// A referring organisation and agency type ([`crate::audit::referrer_scope`]).
    Referrer(String),
    /// An authority, by GSS code.
    Authority(String),
    /// Everything.
    Admin,
}

/// The waiting polls, by scope, and how many each key holds.
#[derive(Debug, Default)]
pub struct FeedBus {
    scopes: Mutex<HashMap<FeedScope, Arc<Notify>>>,
    polls: Arc<Mutex<HashMap<String, usize>>>,
}

/// A key's place among its long polls, given back when the poll ends.
pub struct LongPoll {
    polls: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        let mut polls = self.polls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = polls.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                polls.remove(&self.key);
            }
        }
    }
}

impl FeedBus {
    /// What a poll of `scope` waits on.
    pub fn waiter(&self, scope: FeedScope) -> Arc<Notify> {
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.entry(scope).or_default().clone()
    }

    /// A long poll for `key`, or `None` when it holds [`MAX_LONG_POLLS_PER_KEY`] already.
    pub fn start_poll(&self, key: &str) -> Option<LongPoll> {
        let mut polls = self.polls.lock().unwrap_or_else(|p| p.into_inner());
        let n = polls.entry(key.to_owned()).or_insert(0);
        if *n >= MAX_LONG_POLLS_PER_KEY {
            return None;
        }
        *n += 1;
        Some(LongPoll {
            polls: self.polls.clone(),
            key: key.to_owned(),
        })
    }

    fn wake(&self, touched: impl IntoIterator<Item = FeedScope>) {
        let scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        for scope in touched.into_iter().chain([FeedScope::Admin]) {
            if let Some(n) = scopes.get(&scope) {
                n.notify_waiters();
            }
        }
    }

    /// Follows the feed's index after every commit and wakes the touched scopes; runs until the
    /// process ends.
    pub async fn run(self: Arc<Self>, db: Db) {
        let committed = db.committed();
        let mut seen = crate::audit::head(db.conn())
            .await
            .map_or(0, |(n, _)| i64::try_from(n).unwrap_or(0));
        loop {
            let notified = committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let new: Result<Vec<(i64, String, String)>, _> = feed_entry::Entity::find()
                .select_only()
                .column(feed_entry::Column::Seq)
                .column(feed_entry::Column::Referrer)
                .column(feed_entry::Column::GssCode)
                .filter(feed_entry::Column::Seq.gt(seen))
                .order_by_asc(feed_entry::Column::Seq)
                .limit(10_000)
                .into_tuple()
                .all(db.conn())
                .await;
            match new {
                Ok(rows) if !rows.is_empty() => {
                    seen = rows.last().map_or(seen, |r| r.0);
                    let mut touched = std::collections::HashSet::new();
                    for (_, referrer, gss) in rows {
                        touched.insert(FeedScope::Referrer(referrer));
                        touched.insert(FeedScope::Authority(gss));
                    }
                    self.wake(touched);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not follow the feed; trying again in a second");
                }
            }
            // Woken by a commit; and once a second anyway, for a notification another process's
            // commit could not send (a LISTEN connection being re-made).
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_share_of_long_polls_and_gets_them_back() {
        let bus = FeedBus::default();
        let held: Vec<LongPoll> = (0..MAX_LONG_POLLS_PER_KEY)
            .map(|_| bus.start_poll("k").expect("within the share"))
            .collect();
        assert!(bus.start_poll("k").is_none(), "one more is refused");
        assert!(bus.start_poll("other").is_some(), "another key has its own");
        drop(held);
        assert!(
            bus.start_poll("k").is_some(),
            "given back when the polls end"
        );
    }

    #[tokio::test]
    async fn a_wake_reaches_the_touched_scopes_and_admins_only() {
        let bus = FeedBus::default();
        let leeds = bus.waiter(FeedScope::Authority("E08000035".into()));
        let sheffield = bus.waiter(FeedScope::Authority("E08000039".into()));
        let admin = bus.waiter(FeedScope::Admin);
        let (l, s, a) = (leeds.notified(), sheffield.notified(), admin.notified());
        tokio::pin!(l, s, a);
        l.as_mut().enable();
        s.as_mut().enable();
        a.as_mut().enable();
        bus.wake([FeedScope::Authority("E08000035".into())]);
        let ready = |f: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>| {
            let waker = std::task::Waker::noop();
            f.poll(&mut std::task::Context::from_waker(waker))
                .is_ready()
        };
        use std::future::Future;
        assert!(ready(l.as_mut()), "Leeds was touched");
        assert!(ready(a.as_mut()), "admins see everything");
        assert!(!ready(s.as_mut()), "Sheffield was not");
    }
}
