//! `dtr serve`: the HTTP service and the delivery worker in one process.

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::delivery::{Worker, WorkerSettings};
use crate::http::{app, AppState};
use crate::metrics::Metrics;
use crate::slow_clients::GuardedAcceptor;
use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::Server;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How long in-flight requests and delivery attempts may take to finish on shutdown.
const GRACE: Duration = Duration::from_secs(15);

/// How often the API keys are reloaded (revocations by other processes count within this).
const KEY_RELOAD: Duration = Duration::from_secs(1);

/// How often when each key was last used is written to the database.
const LAST_USED_FLUSH: Duration = Duration::from_secs(5);

/// How often the queue-depth gauges are read from the database.
const METRICS_REFRESH: Duration = Duration::from_secs(5);

/// A started service.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Its shared state.
    pub state: AppState,
    /// Its delivery worker (tests may step it directly).
    pub worker: Worker,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    worker_task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests and delivery attempts finish (bounded), then (on
    /// SQLite) checkpoints the WAL into the database file and truncates it, so the file alone holds
    /// every commit.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(w) = self.worker_task {
            let _ = tokio::time::timeout(GRACE, w).await;
        }
        let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), self.server).await;
        match self.state.db.checkpoint_for_stop().await {
            Ok(()) => tracing::info!("database checkpointed for the stop"),
            Err(e) => {
                tracing::warn!(error = %e, "could not checkpoint the database for the stop; SQLite replays the WAL at the next start")
            }
        }
    }
}

/// Connects, migrates, ensures the bootstrap admin key, and starts serving (and delivering, when
/// `run_worker`), on the system clock.
pub async fn start(config: Config, run_worker: bool) -> anyhow::Result<Running> {
    start_with_clock(config, run_worker, Clock::system()).await
}

/// [`start`] on a given clock: tests pass a manual one and drive the worker with
/// [`Worker::step`] instead of waiting for real retry delays.
pub async fn start_with_clock(
    config: Config,
    run_worker: bool,
    clock: Clock,
) -> anyhow::Result<Running> {
    let db = Db::connect_with(&config.database_url, config.database_acquire_timeout)
        .await
        .context("connecting to the database (DTR_DATABASE_URL)")?;
    db.migrate().await.context("applying migrations")?;
    if config.allow_insecure_endpoints {
        tracing::warn!(
            "DTR_ALLOW_INSECURE_ENDPOINTS is on: endpoints may be plain http and internal addresses; for development and tests only"
        );
    }
    let secrets = crate::authorities::secrets::SecretBox::new(config.secret_key.as_deref())?;
    {
        // Every stored secret is opened now (and clear ones sealed when there is a key): a missing
        // or wrong DTR_SECRET_KEY stops start-up here, never as a signature no receiver accepts.
        let txn = db
            .begin_write()
            .await
            .context("preparing signing secrets")?;
        let sealed = crate::authorities::repository::prepare_secrets(&*txn, &secrets)
            .await
            .context("preparing signing secrets")??;
        txn.commit().await.context("preparing signing secrets")?;
        if sealed > 0 {
            // The clear secrets are still in the WAL's old pages and the file's free space.
            db.scrub()
                .await
                .context("rewriting the database after sealing secrets")?;
            tracing::info!(
                endpoints = sealed,
                "sealed signing secrets stored in clear with DTR_SECRET_KEY"
            );
        }
        if !secrets.seals() {
            tracing::warn!(
                "DTR_SECRET_KEY is not set: endpoint signing secrets are stored in clear; set it to 32 random bytes in base64 (openssl rand -base64 32)"
            );
        }
    }
    let audit_key = Arc::new(
        crate::audit::checkpoint::AuditKey::load_or_create(&config.audit_key_file)
            .context("loading the audit signing key (DTR_AUDIT_KEY_FILE)")?,
    );
    crate::keys::commands::bootstrap_admin(
        &db,
        config.bootstrap_admin_key.as_deref(),
        clock.now_ms(),
    )
    .await
    .context("creating the bootstrap admin key")?;
    let keys = crate::keys::KeyRing::default();
    keys.reload(db.conn())
        .await
        .context("loading the API keys")?;
    // Load the phone-number metadata, compile +44's patterns (~80 ms) and load the register now,
    // not in the first request.
    let _ = domain::PhoneNumber::parse("020 7946 0018");
    let _ = domain::register().authorities().len();
    let metrics = Metrics::new();
    // The gauges exist from the first scrape on.
    metrics.refresh_queue_depth(db.conn()).await;
    let wake = Arc::new(Notify::new());
    let writer = crate::referrals::group_commit::BatchWriter::spawn(db.clone(), clock.clone());
    let mailer = match &config.smtp {
        Some(url) => Some(
            crate::delivery::email::Mailer::new(
                url,
                &config.smtp_from,
                config.smtp_timeout,
                config
                    .smtp_ca_file
                    .as_ref()
                    .map(std::fs::read)
                    .transpose()
                    .context("reading DTR_SMTP_CA_FILE")?
                    .as_deref(),
            )
            .map_err(anyhow::Error::msg)
            .context("configuring e-mail (DTR_SMTP_URL, DTR_SMTP_FROM)")?,
        ),
        None => None,
    };
    let worker = Worker::new(
        db.clone(),
        writer.clone(),
        WorkerSettings {
            schedule: config.retry_schedule.clone(),
            timeout: config.delivery_timeout,
            smtp_timeout: config.smtp_timeout,
            allow_insecure: config.allow_insecure_endpoints,
            public_url: config.public_url.clone(),
        },
        metrics.clone(),
        clock.clone(),
        secrets.clone(),
        mailer.clone(),
    )
    .context("building the delivery HTTP client")?;
    let acceptor = TcpListener::bind(config.listen.to_string())
        .into_acceptor()
        .await
        .with_context(|| format!("listening on {} (DTR_LISTEN)", config.listen))?;
    let acceptor = GuardedAcceptor::new(
        acceptor,
        config.slow_clients,
        config.max_connections_per_client,
        config.trusted_proxies.clone(),
        config.ipv6_client_prefix,
    );
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("reading the listening address")?;
    let state = AppState {
        db,
        config: Arc::new(config),
        worker: wake.clone(),
        metrics,
        keys,
        writer,
        clock,
        secrets,
        audit_key,
        mailer,
        feed: Arc::default(),
    };
    tokio::spawn(state.feed.clone().run(state.db.clone()));
    let (stop, stopped) = watch::channel(false);
    // The queue-depth gauges are read on this timer, never by a scrape (which anyone may send),
    // and histogram samples are drained into buckets so memory stays bounded between scrapes.
    let (db, metrics) = (state.db.clone(), state.metrics.clone());
    every(METRICS_REFRESH, stopped.clone(), move || {
        let (db, metrics) = (db.clone(), metrics.clone());
        async move {
            metrics.refresh_queue_depth(db.conn()).await;
            metrics.upkeep();
        }
    });
    if state.db.backend() == sea_orm::DbBackend::Sqlite {
        let db = state.db.clone();
        every(Duration::from_millis(100), stopped.clone(), move || {
            let db = db.clone();
            async move {
                if let Err(e) = db.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed; SQLite will checkpoint on commit instead");
                }
            }
        });
    }
    // Keys revoked or created by another process count here within a second; when each key was
    // last used reaches the database every few seconds.
    let (db, keys) = (state.db.clone(), state.keys.clone());
    every(KEY_RELOAD, stopped.clone(), move || {
        let (db, keys) = (db.clone(), keys.clone());
        async move {
            if let Err(e) = keys.reload(db.conn()).await {
                tracing::warn!(error = %e, "could not reload the API keys");
            }
        }
    });
    let (db, keys) = (state.db.clone(), state.keys.clone());
    every(LAST_USED_FLUSH, stopped.clone(), move || {
        let (db, keys) = (db.clone(), keys.clone());
        async move {
            if let Err(e) = keys.flush_last_used(db.conn()).await {
                tracing::warn!(error = %e, "could not record when keys were last used");
            }
        }
    });
    if run_worker {
        // Retention runs with the other background work: tests drive it with retention::sweep.
        let (db, clock, retention, draft_retention) = (
            state.db.clone(),
            state.clock.clone(),
            state.config.retention,
            state.config.draft_retention,
        );
        every(
            crate::referrals::retention::SWEEP_EVERY,
            stopped.clone(),
            move || {
                let (db, clock) = (db.clone(), clock.clone());
                async move {
                    if let Err(e) = crate::referrals::retention::sweep(&db, &clock, retention).await
                    {
                        tracing::warn!(error = %e, "retention sweep failed; it runs again in a minute");
                    }
                    match crate::practitioners::sweep_drafts(&db, clock.now_ms(), draft_retention)
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(drafts = n, "expired drafts erased"),
                        Err(e) => {
                            tracing::warn!(error = %e, "draft sweep failed; it runs again in a minute")
                        }
                    }
                }
            },
        );
    }
    {
        // After an erasure the SQLite file is rewritten, at most once per DTR_SCRUB_INTERVAL.
        let (db, interval, stop_scrubs) = (
            state.db.clone(),
            state.config.scrub_interval,
            stopped.clone(),
        );
        tokio::spawn(async move { db.run_scrubber(interval, stop_scrubs).await });
    }
    if state.db.backend() == sea_orm::DbBackend::Postgres {
        let (db, url) = (state.db.clone(), state.config.database_url.clone());
        tokio::spawn(async move { db.listen_for_other_processes(url).await });
    }
    let worker_task = run_worker.then(|| tokio::spawn(worker.clone().run(wake, stopped.clone())));
    let mut server_stop = stopped;
    let endpoint = app(state.clone());
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                endpoint,
                async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                },
                Some(GRACE),
            )
            .await
    });
    tracing::info!(%addr, "dtr serving");
    Ok(Running {
        addr,
        state,
        worker,
        stop,
        server,
        worker_task,
    })
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `job` every `period` (the first at once) until the service stops: the one shape of the
/// service's background upkeep. A job's failure is its own to log; the next tick runs regardless.
fn every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, mut job: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => job().await,
                _ = stop.changed() => break,
            }
        }
    })
}
