//! The database: SQLite (embedded default) or PostgreSQL, one handle for both.
//!
//! SQLite allows one writer at a time; a deferred transaction that reads and then writes fails with
//! `SQLITE_BUSY` when another writer got there first. So on SQLite write transactions take turns on
//! an in-process lock (writers queue for it instead of sleeping in SQLite's busy handler), on a pool
//! of two write connections with warm page caches, while reads use a separate pool. Two, not one:
//! sqlx tests a connection with a round trip to its thread when it goes back to the pool, and with
//! one connection every write transaction would wait for the previous one's. One `dtr serve` per
//! SQLite file. On PostgreSQL several processes may share the database; the audit chain serializes
//! its own appends with an advisory lock.

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// WAL frames (pages) after which the writer's own commit checkpoints and the next one starts the WAL
/// afresh. The background [`Db::checkpoint`] keeps the database file current every 100 ms, but under
/// continuous load it never catches the writer, so the WAL only restarts here; a restart costs the
/// committing batch an fsync of the WAL header (SQLite syncs it even with `synchronous=NORMAL`, to
/// survive power loss), about 10 ms on our test machine. At ~10,000 frames/s under 2,000
/// submissions/s, 32,000 frames (~125 MiB of WAL) means one such stall every few seconds instead of
/// two a second with SQLite's default of 1,000 (or our former 8,000). The WAL file keeps its size
/// after a burst until `dtr serve` stops (SQLite removes it when the last connection closes).
const WAL_RESET_PAGES: u32 = 32_000;

/// The connection pools.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite only: the connections write transactions use, one at a time.
    writer: Option<DatabaseConnection>,
    /// SQLite only: held by each write transaction until it ends, so write transactions never
    /// overlap.
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    /// Dropped after the transaction (fields drop in order), so the next writer starts only once
    /// this one has committed or been rolled back.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    /// Commits.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

fn sqlite_options(
    url: &str,
    connections: u32,
    cache_kib: i64,
    autocheckpoint: u32,
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false) // statements are not personal data, but bound values could be
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .max_connections(connections)
        .min_connections(1)
        // An embedded database has no network to lose: a ping before every acquire would only add
        // a round trip to the connection's thread (sqlx still tests each connection on release).
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                // Durable across process crashes in WAL mode; a power loss may lose the last commits.
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("cache_size", format!("-{cache_kib}"))
                .pragma("wal_autocheckpoint", autocheckpoint.to_string())
        });
    options
}

impl Db {
    /// Connects. SQLite gets WAL, a busy timeout, `synchronous=NORMAL`, a read pool of four
    /// connections and two write connections taking turns.
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        if url.starts_with("sqlite:") {
            let writer = Database::connect(sqlite_options(url, 2, 4096, WAL_RESET_PAGES)).await?;
            let conn = Database::connect(sqlite_options(url, 4, 2048, 8000)).await?;
            return Ok(Db {
                conn,
                writer: Some(writer),
                write_turn: Arc::default(),
            });
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
            .max_connections(16)
            .min_connections(1);
        Ok(Db {
            conn: Database::connect(options).await?,
            writer: None,
            write_turn: Arc::default(),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(self.writer.as_ref().unwrap_or(&self.conn), None).await
    }

    /// The pool, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which database this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Begins a write transaction (on SQLite, after the previous one has ended).
    pub async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        let turn = if self.writer.is_some() {
            Some(self.write_turn.clone().lock_owned().await)
        } else {
            None
        };
        Ok(WriteTxn {
            txn: self.writer.as_ref().unwrap_or(&self.conn).begin().await?,
            _turn: turn,
        })
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn
            .execute_raw(Statement::from_string(self.backend(), "SELECT 1"))
            .await
            .map(|_| ())
    }

    /// SQLite: copies committed WAL pages into the database file without blocking the writer
    /// (a PASSIVE checkpoint on a read connection), so a commit pays for one only when the WAL
    /// restarts (see [`WAL_RESET_PAGES`]).
    pub async fn checkpoint(&self) -> Result<(), DbErr> {
        if self.writer.is_some() {
            let started = std::time::Instant::now();
            let row = self
                .conn
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA wal_checkpoint(PASSIVE)",
                ))
                .await?;
            let frames = |i: usize| row.as_ref().and_then(|r| r.try_get_by_index::<i64>(i).ok());
            tracing::debug!(
                wal_frames = frames(1),
                checkpointed = frames(2),
                micros = started.elapsed().as_micros() as u64,
                "WAL checkpoint"
            );
        }
        Ok(())
    }

    /// Closes every pool (tests use this to simulate a lost database).
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            let _ = w.clone().close().await;
        }
        let _ = self.conn.clone().close().await;
    }
}

/// Splits `rows` into chunks whose sizes are powers of two (largest first, at most `max`), so a
/// multi-row INSERT only ever has a handful of shapes: every shape becomes a cached prepared statement
/// on each pooled connection, and arbitrary sizes would fill memory with them.
pub fn pow2_chunks<T>(rows: &[T], max: usize) -> Vec<&[T]> {
    let mut out = vec![];
    let mut rest = rows;
    while !rest.is_empty() {
        let mut size = max.max(1).min(rest.len());
        size = 1 << (usize::BITS - 1 - size.leading_zeros());
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// Milliseconds since the Unix epoch, the stored form of every compared instant.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// RFC 3339 UTC with millisecond precision, the one textual form of instants in answers and the audit.
pub fn rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, s.to_owned())
    }

    #[tokio::test]
    async fn sqlite_write_transactions_take_turns_and_never_see_busy() {
        let dir = tempfile::tempdir().expect("the test database answers");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.expect("the test database answers");
        db.migrate().await.expect("the test database answers");
        let first = db.begin_write().await.expect("the test database answers");
        first
            .execute_raw(sql("CREATE TABLE t (n INTEGER NOT NULL)"))
            .await
            .expect("the test database answers");
        // A second writer waits for its turn instead of meeting the first in SQLite: it gets its
        // transaction only after the first has committed.
        let committed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let second = tokio::spawn({
            let (db, committed) = (db.clone(), committed.clone());
            async move {
                let txn = db.begin_write().await.expect("the test database answers");
                let waited = committed.load(std::sync::atomic::Ordering::SeqCst);
                txn.execute_raw(sql("INSERT INTO t (n) SELECT count(*) + 1 FROM t"))
                    .await
                    .expect("the test database answers");
                txn.commit().await.expect("the test database answers");
                waited
            }
        });
        // Let the second writer reach `begin_write` while the first is still open.
        tokio::time::sleep(Duration::from_millis(100)).await;
        first
            .execute_raw(sql("INSERT INTO t (n) VALUES (1)"))
            .await
            .expect("the test database answers");
        committed.store(true, std::sync::atomic::Ordering::SeqCst);
        first.commit().await.expect("the test database answers");
        let waited = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("the second writer ran after the first committed")
            .expect("the test database answers");
        assert!(
            waited,
            "the second write transaction began before the first ended"
        );
        // Many more, concurrently: all commit, in turn, on the two connections.
        let writers: Vec<_> = (0..50)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let txn = db.begin_write().await?;
                    txn.execute_raw(sql("INSERT INTO t (n) SELECT max(n) + 1 FROM t"))
                        .await?;
                    txn.commit().await
                })
            })
            .collect();
        for w in writers {
            w.await
                .expect("the test database answers")
                .expect("the test database answers");
        }
        let row = db
            .conn()
            .query_one_raw(sql("SELECT count(*), count(DISTINCT n), max(n) FROM t"))
            .await
            .expect("the test database answers")
            .expect("the test database answers");
        let count: i64 = row.try_get_by_index(0).expect("the test database answers");
        let distinct: i64 = row.try_get_by_index(1).expect("the test database answers");
        let max: i64 = row.try_get_by_index(2).expect("the test database answers");
        assert_eq!((count, distinct, max), (52, 52, 52));
    }

    #[test]
    fn chunks_are_powers_of_two_no_larger_than_the_maximum() {
        let rows: Vec<u32> = (0..100).collect();
        let sizes: Vec<usize> = pow2_chunks(&rows, 32).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![32, 32, 32, 4]);
        let sizes: Vec<usize> = pow2_chunks(&rows[..7], 32)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![4, 2, 1]);
        assert!(pow2_chunks::<u32>(&[], 8).is_empty());
        assert_eq!(pow2_chunks(&rows, 32).concat(), rows);
    }

    #[test]
    fn instants_have_exactly_three_fractional_digits() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_435_200_123), "2026-11-23T12:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_435_200_000), "2026-11-23T12:00:00.000Z");
    }
}
