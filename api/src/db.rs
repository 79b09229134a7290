//! The database: SQLite (embedded default) or PostgreSQL, one handle for both.
//!
//! SQLite allows one writer at a time; a deferred transaction that reads and then writes fails with
//! `SQLITE_BUSY` when another writer got there first. Writes on SQLite therefore queue on an
//! in-process lock (one `dtr serve` per SQLite file). On PostgreSQL several processes may share the
//! database; the audit chain serializes its own appends with an advisory lock.

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait,
};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A connection pool and, on SQLite, the writers' queue.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    writers: Option<Arc<Mutex<()>>>,
}

/// A write transaction; on SQLite it holds the writers' queue until dropped.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
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

impl Db {
    /// Connects. SQLite gets WAL, a busy timeout, `synchronous=NORMAL` (durable across process crashes
    /// in WAL mode) and a pool of several connections, so reads never wait behind a write.
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false) // statements are not personal data, but bound values could be
            .acquire_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10));
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            options
                .max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                });
        } else {
            options.max_connections(16).min_connections(1);
        }
        let conn = Database::connect(options).await?;
        Ok(Db {
            conn,
            writers: sqlite.then(|| Arc::new(Mutex::new(()))),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await
    }

    /// The pool, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which database this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Begins a write transaction (queued behind other writers on SQLite).
    pub async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        let turn = match &self.writers {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        Ok(WriteTxn {
            txn: self.conn.begin().await?,
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

    #[test]
    fn instants_have_exactly_three_fractional_digits() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_435_200_123), "2026-11-23T12:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_435_200_000), "2026-11-23T12:00:00.000Z");
    }
}
