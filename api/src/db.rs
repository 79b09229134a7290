//! The database: SQLite (embedded default) or PostgreSQL, one handle for both.
//!
//! SQLite allows one writer at a time. A *deferred* transaction that has read and then tries to write
//! while another connection holds the write lock fails with `SQLITE_BUSY` at once: SQLite does not
//! call the busy handler for that upgrade, because waiting could deadlock. So on SQLite:
//! - write transactions take turns on an in-process lock (writers queue for it instead of sleeping
//!   in SQLite's busy handler), on a pool of two write connections with warm page caches, while
//!   reads use a separate pool. Two, not one: sqlx tests a connection with a round trip to its
//!   thread when it goes back to the pool, and with one connection every write transaction would
//!   wait for the previous one's;
//! - a write transaction that ends without a commit (an error, a dropped request) keeps its turn
//!   until its rollback has run. Dropping a sqlx transaction only *queues* the rollback on the
//!   connection's thread; with the turn released at once, the next writer on the other connection
//!   could read, then meet the first one's write lock on its first write and fail with
//!   `SQLITE_BUSY` ("database is locked") — a 500 for a request that did nothing wrong, seen under
//!   concurrent retries with one `Idempotency-Key` on a busy machine;
//! - every write transaction begins `IMMEDIATE`, taking the write lock at `BEGIN`, where the busy
//!   handler does apply: a lock held by anyone else (another process such as `dtr keys create` on
//!   the same file) is waited for, never met halfway through a transaction.
//!
//! A storage fault (a full disk, an I/O error, a lost or restarting PostgreSQL) must never leave a
//! connection whose transaction state is unknown in use. On `SQLITE_FULL` and some I/O errors
//! SQLite rolls the transaction back by itself; the driver's own `ROLLBACK` then fails and it goes
//! on believing a transaction is open, so the next "begin" on that connection would become a
//! `SAVEPOINT` inside a transaction that never commits: answered as stored, and lost. Every pool
//! therefore checks a connection before handing it out and discards one the driver believes is
//! still inside a transaction ([`discard_if_in_transaction`]); the pool opens a fresh one. Faults
//! are classified once ([`Fault::of`]) so that the edge answers 503 with `Retry-After`, and
//! readiness ([`Db::ready`]) reports them.
//!
//! One `dtr serve` per SQLite file. On PostgreSQL several processes may share the database; the
//! audit chain serializes its own appends with an advisory lock.

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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
    /// Notified after every committed write transaction (and, on PostgreSQL, when another process
    /// commits audit events): long polls wait on it instead of polling the database.
    committed: Arc<tokio::sync::Notify>,
    /// Storage faults seen, for readiness.
    health: Arc<Health>,
    /// SQLite: personal data was erased since the file was last rewritten ([`Db::scrub`]).
    scrub_due: Arc<std::sync::atomic::AtomicBool>,
    /// Wakes the scrubber.
    scrub_wake: Arc<tokio::sync::Notify>,
    /// How many write transactions are waiting for their turn or running (SQLite): beyond
    /// [`MAX_WAITING_WRITES`] a new one is refused at once instead of queueing without bound.
    waiting_writes: Arc<std::sync::atomic::AtomicUsize>,
}

/// The most write transactions that may wait for the write turn at once (SQLite). Each waiter is a
/// request holding memory and a client's connection; beyond this many, waiting longer helps no one
/// and the answer is 503 with `Retry-After` at once.
pub const MAX_WAITING_WRITES: usize = 256;

/// A write transaction. On SQLite it holds the write turn until it has committed or its rollback
/// has run (see the module note).
pub struct WriteTxn {
    /// `None` only once committed (or handed to the rollback in `drop`).
    txn: Option<DatabaseTransaction>,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    committed: Arc<tokio::sync::Notify>,
    health: Arc<Health>,
    _waiting: WaitingWrite,
}

/// One place in [`MAX_WAITING_WRITES`], given back when the transaction ends.
struct WaitingWrite(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for WaitingWrite {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        self.txn
            .as_ref()
            .expect("a WriteTxn holds its transaction until commit or drop")
    }
}

impl WriteTxn {
    /// Commits, then lets the next writer in.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        let txn = self
            .txn
            .take()
            .expect("a WriteTxn holds its transaction until commit or drop");
        let result = txn.commit().await;
        // A failed COMMIT leaves sea-orm to queue the rollback; the next writer's IMMEDIATE begin
        // waits for it in SQLite's busy handler, and if SQLite had already rolled back by itself
        // the connection is discarded before reuse (see the module note).
        drop(self.turn.take());
        match &result {
            Ok(()) => self.committed.notify_waiters(),
            Err(e) if Fault::of(e) == Fault::Storage => self.health.fault(),
            Err(_) => {}
        }
        result
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        let (Some(txn), Some(turn)) = (self.txn.take(), self.turn.take()) else {
            // PostgreSQL (no turn): sea-orm queues the rollback, and the server orders the rest.
            return;
        };
        let health = self.health.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = txn.rollback().await {
                        // SQLite rolled back by itself (a full disk, an I/O error): the storage
                        // failed, and the connection is discarded before reuse.
                        health.fault();
                        tracing::warn!(error = %e, "rolling back an abandoned write transaction failed");
                    }
                    drop(turn);
                });
            }
            Err(_) => drop(txn),
        }
    }
}

fn sqlite_options(
    url: &str,
    connections: u32,
    cache_kib: i64,
    autocheckpoint: u32,
    acquire_timeout: Duration,
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false) // statements are not personal data, but bound values could be
        .acquire_timeout(acquire_timeout)
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
                // Erased personal data is overwritten with zeros, not left in free space (§12).
                .pragma("secure_delete", "ON")
                .pragma("wal_autocheckpoint", autocheckpoint.to_string())
        })
        .map_sqlx_sqlite_before_acquire(|conn, _| discard_if_in_transaction(conn));
    options
}

/// The pools' check before a connection is handed out: `false` (discard it, open a fresh one) when
/// the driver still counts an open transaction on it. That happens only when a `COMMIT` or
/// `ROLLBACK` failed — SQLite had already rolled back by itself on a full disk or an I/O error, or
/// the server went away — and reusing the connection would nest the next transaction inside one
/// that never commits. By the time a connection is acquired again, the rollback queued when its
/// transaction was dropped has run (the pool's release ping is ordered after it).
fn discard_if_in_transaction<C: sea_orm::sqlx::Connection>(
    conn: &mut C,
) -> Pin<Box<dyn Future<Output = Result<bool, sea_orm::sqlx::Error>> + Send + '_>> {
    let inside = conn.is_in_transaction();
    Box::pin(async move {
        if inside {
            tracing::warn!(
                "discarding a database connection left inside a transaction after a storage fault"
            );
        }
        Ok(!inside)
    })
}

/// How often the stop's checkpoint is tried while readers finish (25 ms apart: 2 s in all).
const STOP_CHECKPOINT_TRIES: usize = 80;

/// SQLite: copies the WAL into the database file and truncates it to nothing (the caller holds
/// the write turn). `false` when a reader still held old pages, so it could not all be done now.
async fn truncate_wal(writer: &DatabaseConnection) -> Result<bool, DbErr> {
    let row = writer
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ))
        .await?;
    let busy = row
        .as_ref()
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0);
    Ok(busy == 0)
}

/// The file of a `sqlite:` URL (`None` for an in-memory database).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:" && !rest.contains("mode=memory")).then(|| path.into())
}

/// The database holds personal data: a new SQLite file is created readable by its owner only
/// (SQLite gives its WAL and shared-memory files the database file's permissions), and an
/// existing one that others may read is warned about.
fn prepare_sqlite_file(url: &str) {
    let Some(path) = sqlite_path(url) else {
        return;
    };
    match std::fs::metadata(&path) {
        Ok(meta) => warn_if_others_may_read(&path, &meta),
        Err(_) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            // Another process may create it first; SQLite opens whatever is there.
            let _ = options.open(&path);
        }
    }
}

/// What kind of failure a database error is, for the answer and for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The storage cannot be used now — a full disk, an I/O error, a damaged or read-only file, a
    /// lock held too long, a lost or restarting database server, no free connection in time.
    /// Nothing was stored; the same request may succeed later (503 with `Retry-After`).
    Storage,
    /// More writes are waiting than the service takes at once (503 with `Retry-After`).
    Overloaded,
    /// Anything else: a defect or a constraint our code did not expect (500, logged).
    Other,
}

/// The message of the error [`overloaded`] makes; [`Fault::of`] recognises it.
const OVERLOADED: &str = "dtr: too many writes waiting";

/// The error a write answers with when its queue is full: nothing was stored.
pub fn overloaded() -> DbErr {
    DbErr::Custom(OVERLOADED.to_owned())
}

impl Fault {
    /// Classifies a database error.
    pub fn of(e: &DbErr) -> Fault {
        use sea_orm::sqlx::Error as Sqlx;
        use sea_orm::RuntimeErr;
        let sqlx = match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return Fault::Storage,
            DbErr::Custom(m) if m == OVERLOADED => return Fault::Overloaded,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
            _ => return Fault::Other,
        };
        match &**sqlx {
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::Protocol(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed => Fault::Storage,
            Sqlx::Database(db) => {
                let code = db.code().unwrap_or_default();
                let storage = if db
                    .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                    .is_some()
                {
                    // SQLite: the primary result code is the low byte of the extended one.
                    // BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL,
                    // NOTADB.
                    code.parse::<i32>().is_ok_and(|n| {
                        matches!(n & 0xff, 5 | 6 | 7 | 8 | 10 | 11 | 13 | 14 | 15 | 26)
                    })
                } else {
                    // PostgreSQL SQLSTATE: connection exceptions (08), insufficient resources
                    // (53: disk full, out of memory, too many connections), operator intervention
                    // (57: shutdown, restart, cannot connect now), system errors (58: I/O).
                    ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
                };
                if storage {
                    Fault::Storage
                } else {
                    Fault::Other
                }
            }
            _ => Fault::Other,
        }
    }
}

/// When the storage last failed and last worked, for readiness: a fault in the last
/// [`FAULT_MEMORY`] makes the service not ready even if a small probe write gets through.
#[derive(Debug, Default)]
struct Health {
    /// Milliseconds since `epoch` of the last storage fault, or -1.
    last_fault: AtomicI64,
    epoch: OnceLock<Instant>,
}

/// How long a storage fault keeps readiness at 503.
const FAULT_MEMORY: Duration = Duration::from_secs(5);

impl Health {
    fn now(&self) -> i64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as i64
    }

    fn fault(&self) {
        self.last_fault.store(self.now().max(1), Ordering::Relaxed);
    }

    fn faulted_recently(&self) -> bool {
        let at = self.last_fault.load(Ordering::Relaxed);
        at > 0 && self.now() - at < FAULT_MEMORY.as_millis() as i64
    }
}

/// How long a request waits for a free database connection by default before it answers 503
/// (`DTR_DATABASE_ACQUIRE_TIMEOUT`): short, so that a stopped database is reported at once rather
/// than after every client has waited.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

impl Db {
    /// Connects with the default acquire timeout (the command-line tools).
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        Self::connect_with(url, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Connects. SQLite gets WAL, a busy timeout, `synchronous=NORMAL`, a read pool of four
    /// connections and two write connections taking turns. A request waits at most
    /// `acquire_timeout` for a connection.
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<Db, DbErr> {
        let (conn, writer) = if url.starts_with("sqlite:") {
            prepare_sqlite_file(url);
            let writer = Database::connect(sqlite_options(
                url,
                2,
                4096,
                WAL_RESET_PAGES,
                acquire_timeout,
            ))
            .await?;
            let conn =
                Database::connect(sqlite_options(url, 4, 2048, 8000, acquire_timeout)).await?;
            (conn, Some(writer))
        } else {
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .sqlx_logging(false)
                .acquire_timeout(acquire_timeout)
                .connect_timeout(Duration::from_secs(10))
                .max_connections(16)
                .min_connections(1)
                .map_sqlx_postgres_before_acquire(|conn, _| discard_if_in_transaction(conn));
            (Database::connect(options).await?, None)
        };
        Ok(Db {
            conn,
            writer,
            write_turn: Arc::default(),
            committed: Arc::default(),
            health: Arc::default(),
            waiting_writes: Arc::default(),
            scrub_due: Arc::default(),
            scrub_wake: Arc::default(),
        })
    }

    /// Notes a failure of the storage seen outside a write transaction (a read, a begin), so that
    /// readiness reports it; answers what kind of failure it was.
    pub fn observe(&self, e: &DbErr) -> Fault {
        let fault = Fault::of(e);
        if fault == Fault::Storage {
            self.health.fault();
        }
        fault
    }

    /// Readiness: the database answers *and* takes a write now (a one-row update, committed), and
    /// no write failed for the storage's sake in the last few seconds. A small write can get
    /// through while a larger one cannot (a nearly full disk), which is why recent faults count
    /// too. Bounded by the acquire timeout, never by a hung request.
    pub async fn ready(&self) -> Result<(), DbErr> {
        self.ping().await.inspect_err(|e| {
            self.observe(e);
        })?;
        let txn = self.begin_write().await?;
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        txn.execute(
            Query::update()
                .table(Alias::new("readiness_probe"))
                .value(
                    Alias::new("probed_at_ms"),
                    jiff::Timestamp::now().as_millisecond(),
                )
                .and_where(ExprTrait::eq(Expr::col(Alias::new("id")), 1)),
        )
        .await?;
        txn.commit().await?;
        if self.health.faulted_recently() {
            return Err(DbErr::Conn(sea_orm::RuntimeErr::Internal(
                "a write failed for the storage's sake in the last seconds".to_owned(),
            )));
        }
        Ok(())
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

    /// Begins a write transaction (on SQLite, after the previous one has ended). With
    /// [`MAX_WAITING_WRITES`] already waiting, answers [`overloaded`] at once.
    pub async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        let waiting = WaitingWrite(self.waiting_writes.clone());
        if self.waiting_writes.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_WRITES {
            return Err(overloaded());
        }
        let turn = if self.writer.is_some() {
            Some(self.write_turn.clone().lock_owned().await)
        } else {
            None
        };
        let begun = match &self.writer {
            Some(writer) => {
                writer
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            None => self.conn.begin().await,
        };
        let txn = begun.inspect_err(|e| {
            self.observe(e);
        })?;
        Ok(WriteTxn {
            txn: Some(txn),
            turn,
            committed: self.committed.clone(),
            health: self.health.clone(),
            _waiting: waiting,
        })
    }

    /// What long polls wait on: notified after every committed write transaction.
    pub fn committed(&self) -> Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    /// PostgreSQL: wakes this process's long polls when another process commits audit events
    /// (`NOTIFY dtr_audit`, sent by every append). Runs until the pool closes; reconnects after a
    /// second when the listening connection is lost.
    pub async fn listen_for_other_processes(&self, url: String) {
        if self.writer.is_some() {
            return;
        }
        loop {
            match sea_orm::sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if listener.listen(NOTIFY_CHANNEL).await.is_ok() {
                        while listener.recv().await.is_ok() {
                            self.committed.notify_waiters();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not LISTEN for other processes' audit events")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
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

    /// Notes that personal data was erased: the next [`Db::run_scrubber`] pass rewrites the file.
    pub fn erased(&self) {
        self.scrub_due.store(true, Ordering::Release);
        self.scrub_wake.notify_one();
    }

    /// The background scrubber (SQLite): after an erasure, [`Db::scrub`] — at most once per
    /// `interval`, so that a stream of erasures costs one rewrite per interval. Runs until `stop`
    /// turns true; a failed scrub (say, no room for the rewrite) is retried after the interval.
    pub async fn run_scrubber(
        &self,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if self.writer.is_none() {
            return;
        }
        loop {
            tokio::select! {
                _ = self.scrub_wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if self.scrub_due.load(Ordering::Acquire) {
                if let Err(e) = self.scrub().await {
                    self.observe(&e);
                    tracing::warn!(error = %e, "could not rewrite the database after an erasure; trying again later");
                    self.scrub_due.store(true, Ordering::Release);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // Erasures during the rest are scrubbed now.
            if self.scrub_due.load(Ordering::Acquire) {
                self.scrub_wake.notify_one();
            }
        }
    }

    /// SQLite: makes erased text unrecoverable from the database file and its WAL.
    /// `secure_delete` zeroes what a delete or update frees, but when SQLite rebalances its B-tree
    /// pages it rebuilds them without clearing the gap between cells, so an old copy of a row can
    /// survive there and later outlive the row's erasure (seen after a few hundred erasures). So
    /// the file is rewritten (`VACUUM`: only live rows are copied into fresh pages) and the WAL,
    /// which then holds the old pages, is checkpointed and truncated to nothing. Holds the write
    /// turn throughout: writers wait about a second per 100 MB of database. PostgreSQL: nothing
    /// here; its dead rows go with its own VACUUM (see the operator guide).
    pub async fn scrub(&self) -> Result<(), DbErr> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let started = Instant::now();
        let _turn = self.write_turn.clone().lock_owned().await;
        // Cleared before the rewrite: an erasure committed after this point marks it again.
        self.scrub_due.store(false, Ordering::Release);
        writer
            .execute_raw(Statement::from_string(DbBackend::Sqlite, "VACUUM"))
            .await?;
        if !truncate_wal(writer).await? {
            // A reader held old pages; the WAL keeps them until the next pass.
            self.scrub_due.store(true, Ordering::Release);
            tracing::warn!("the WAL could not be truncated now (readers busy); trying again later");
        }
        tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            "database rewritten after an erasure"
        );
        Ok(())
    }

    /// SQLite, on a clean stop: copies the WAL into the database file and truncates it, so that
    /// the file alone holds every commit (an operator's copy of it is then complete).
    pub async fn checkpoint_for_stop(&self) -> Result<(), DbErr> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let _turn = self.write_turn.clone().lock_owned().await;
        // A background read still finishing at the stop (the feed's follower, a gauge, a
        // sweep told to stop mid-pass) keeps old pages in use for a moment: try again briefly
        // rather than leave the commits in the WAL. No write can start meanwhile (the turn is
        // held), so the WAL only shrinks.
        for _ in 0..STOP_CHECKPOINT_TRIES {
            if truncate_wal(writer).await? {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Err(DbErr::Custom(
            "readers were still busy: the WAL was not fully checkpointed".to_owned(),
        ))
    }

    /// SQLite: a consistent online copy of the database in a new file (`VACUUM INTO`: one read
    /// transaction, so every commit up to its start and nothing after, WAL included; the copy is
    /// compact and holds no erased text in free space). Readers and writers go on meanwhile.
    /// sqlx does not expose SQLite's backup API; `VACUUM INTO` gives the same consistency.
    /// PostgreSQL: refused with the advice to use `pg_dump`, which copies consistently from one
    /// snapshot while the service runs and restores into any server version.
    pub async fn backup_to(&self, file: &std::path::Path) -> Result<(), String> {
        if self.writer.is_none() {
            return Err("this is PostgreSQL: use pg_dump (for example pg_dump -Fc \"$DTR_DATABASE_URL\" > dtr.dump), which copies from one snapshot while dtr runs".to_owned());
        }
        let path = file
            .to_str()
            .ok_or_else(|| "the file name is not UTF-8".to_owned())?;
        // The copy holds personal data: made empty, new and readable by its owner only before
        // SQLite fills it (VACUUM INTO takes an empty file).
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("{} exists already; name a new file", file.display())
            }
            _ => format!("cannot create {}: {e}", file.display()),
        })?;
        let copied = self
            .conn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?",
                [path.into()],
            ))
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(file);
            return Err(format!("copying failed: {e}"));
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

/// RFC 3339 UTC with millisecond precision, the one textual form of instants in answers and the audit.
pub fn rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// The PostgreSQL channel every audit append notifies (on commit), so long polls in other
/// processes wake.
pub const NOTIFY_CHANNEL: &str = "dtr_audit";

/// Warns when a file holding a secret or personal data may be read by the group or by anyone: the
/// service does not change an operator's file, but says so at every start.
pub fn warn_if_others_may_read(path: &std::path::Path, meta: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "this file may be read by other users: chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
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

    async fn scratch_db() -> (tempfile::TempDir, String, Db) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.expect("the test database answers");
        let txn = db.begin_write().await.expect("the test database answers");
        txn.execute_raw(sql("CREATE TABLE t (n INTEGER NOT NULL)"))
            .await
            .expect("the test database answers");
        txn.commit().await.expect("the test database answers");
        (dir, url, db)
    }

    /// Reads, then writes: the shape of the batch writer's transaction, and the one SQLite refuses
    /// with `SQLITE_BUSY` (without waiting) when the write lock is taken meanwhile.
    async fn read_then_write(db: &Db) -> Result<(), DbErr> {
        let txn = db.begin_write().await?;
        txn.query_one_raw(sql("SELECT count(*) FROM t")).await?;
        txn.execute_raw(sql("INSERT INTO t (n) VALUES (2)")).await?;
        txn.commit().await
    }

    #[tokio::test]
    async fn a_write_waits_for_a_lock_held_by_another_process_instead_of_failing() {
        let (_dir, url, db) = scratch_db().await;
        // Another process (say `dtr keys create` on the same file) holds the write lock.
        let other = Database::connect(url.as_str())
            .await
            .expect("the test database answers");
        let held = other
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .expect("the test database answers");
        held.execute_raw(sql("INSERT INTO t (n) VALUES (1)"))
            .await
            .expect("the test database answers");
        let ours = tokio::spawn(async move { read_then_write(&db).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        held.commit().await.expect("the test database answers");
        tokio::time::timeout(Duration::from_secs(15), ours)
            .await
            .expect("our write finished once the other process committed")
            .expect("the writer task ran")
            .expect("our write waited for the lock instead of failing with SQLITE_BUSY");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_after_an_abandoned_one_never_meets_its_lock() {
        let (_dir, _url, db) = scratch_db().await;
        // A dropped transaction's rollback runs on its connection's thread some time later; the
        // next writer (on the other write connection) must not meet its lock. The window is short,
        // so this tries many times; it failed ~5 % of rounds with two busy cores before the fix.
        for round in 0..300 {
            let abandoned = db.begin_write().await.expect("the test database answers");
            abandoned
                .execute_raw(sql("INSERT INTO t (n) VALUES (1)"))
                .await
                .expect("the test database answers");
            drop(abandoned);
            if let Err(e) = read_then_write(&db).await {
                panic!("round {round}: {e}");
            }
        }
        let row = db
            .conn()
            .query_one_raw(sql("SELECT count(*), sum(n) FROM t"))
            .await
            .expect("the test database answers")
            .expect("one row");
        let count: i64 = row.try_get_by_index(0).expect("a count");
        let sum: i64 = row.try_get_by_index(1).expect("a sum");
        assert_eq!((count, sum), (300, 600), "only the committed writes remain");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_sqlite_rolls_back_by_itself_a_commit_that_answers_ok_is_really_stored() {
        let (_dir, url, db) = scratch_db().await;
        let txn = db.begin_write().await.expect("the test database answers");
        txn.execute_raw(sql("CREATE UNIQUE INDEX t_n ON t (n)"))
            .await
            .expect("the test database answers");
        txn.commit().await.expect("the test database answers");
        for round in 0..20 {
            // What a full disk does at COMMIT: SQLite ends the transaction by itself, and the
            // driver, whose own ROLLBACK then fails, still counts it as open. (A ROLLBACK sent
            // behind the driver's back leaves exactly that state; the black-box suite fills a real
            // filesystem.)
            let dead = db.begin_write().await.expect("the test database answers");
            dead.execute_raw(sql("INSERT INTO t (n) VALUES (-1)"))
                .await
                .expect("the test database answers");
            dead.execute_raw(sql("ROLLBACK"))
                .await
                .expect("the test database answers");
            drop(dead);
            // A transaction that fails on a statement and is abandoned (an Idempotency-Key race on
            // the unique index). On a connection the driver believes is inside a transaction it
            // would be a savepoint, rolled back to but never released: the connection is then
            // inside a transaction that nothing will ever commit.
            let failed = db.begin_write().await.expect("the test database answers");
            failed
                .execute_raw(sql("INSERT INTO t (n) SELECT max(n) FROM t"))
                .await
                .expect_err("the unique index refuses a duplicate");
            drop(failed);
            // The next transaction, on whichever connection, really commits: never answered Ok
            // and lost.
            let next = db.begin_write().await.expect("a fresh connection is used");
            next.execute_raw(sql(&format!("INSERT INTO t (n) VALUES ({})", round + 1)))
                .await
                .expect("the test database answers");
            next.commit()
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        // Read by another connection: only what is committed is visible there.
        let other = Database::connect(url.as_str())
            .await
            .expect("the test database answers");
        let row = other
            .query_one_raw(sql("SELECT count(*), coalesce(sum(n), 0) FROM t"))
            .await
            .expect("the test database answers")
            .expect("one row");
        let count: i64 = row.try_get_by_index(0).expect("a count");
        let sum: i64 = row.try_get_by_index(1).expect("a sum");
        assert_eq!(
            (count, sum),
            (20, 210),
            "every commit answered Ok (rows 1 to 20) is in the file"
        );
    }

    #[tokio::test]
    async fn a_full_sqlite_database_is_a_storage_fault_and_a_constraint_is_not() {
        let (_dir, _url, db) = scratch_db().await;
        let txn = db.begin_write().await.expect("the test database answers");
        txn.execute_raw(sql("CREATE UNIQUE INDEX t_n ON t (n)"))
            .await
            .expect("the test database answers");
        txn.execute_raw(sql("INSERT INTO t (n) VALUES (1)"))
            .await
            .expect("the test database answers");
        let duplicate = txn
            .execute_raw(sql("INSERT INTO t (n) VALUES (1)"))
            .await
            .expect_err("the unique index refuses a duplicate");
        assert_eq!(Fault::of(&duplicate), Fault::Other, "{duplicate}");
        let syntax = txn
            .execute_raw(sql("INSERT INTO nowhere VALUES (1)"))
            .await
            .expect_err("no such table");
        assert_eq!(Fault::of(&syntax), Fault::Other, "{syntax}");
        // SQLITE_FULL: the file may not grow past its current size.
        txn.execute_raw(sql("PRAGMA max_page_count = 1"))
            .await
            .expect("the test database answers");
        let full = txn
            .execute_raw(sql(
                "INSERT INTO t (n) SELECT x + 1 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) SELECT x FROM c)",
            ))
            .await
            .expect_err("a full database refuses the insert");
        assert_eq!(Fault::of(&full), Fault::Storage, "{full}");
    }

    #[test]
    fn a_lost_or_full_postgresql_server_is_a_storage_fault() {
        use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
        /// A server error with a SQLSTATE, as PostgreSQL sends them.
        #[derive(Debug)]
        struct SqlState(&'static str);
        impl std::fmt::Display for SqlState {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for SqlState {}
        impl DatabaseError for SqlState {
            fn message(&self) -> &str {
                self.0
            }
            fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
                Some(self.0.into())
            }
            fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
                self
            }
            fn kind(&self) -> ErrorKind {
                ErrorKind::Other
            }
        }
        let of = |code: &'static str| {
            Fault::of(&DbErr::Exec(sea_orm::RuntimeErr::SqlxError(Arc::new(
                sea_orm::sqlx::Error::Database(Box::new(SqlState(code))),
            ))))
        };
        // Administrator shutdown (pg_ctl restart -m fast), crash shutdown, cannot connect now,
        // disk full, too many connections, connection failure, I/O error.
        for code in [
            "57P01", "57P02", "57P03", "53100", "53300", "08006", "58030",
        ] {
            assert_eq!(of(code), Fault::Storage, "{code}");
        }
        // A unique violation, a syntax error, a serialization failure are not the storage's.
        for code in ["23505", "42601", "40001"] {
            assert_eq!(of(code), Fault::Other, "{code}");
        }
        let io = DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        )));
        assert_eq!(Fault::of(&io), Fault::Storage);
        assert_eq!(
            Fault::of(&DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            Fault::Storage
        );
        assert_eq!(Fault::of(&overloaded()), Fault::Overloaded);
        assert_eq!(Fault::of(&DbErr::Custom("x".to_owned())), Fault::Other);
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
