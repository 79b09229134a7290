//! The delivery worker (docs/contract.md §6): claim → send → record → schedule.
//!
//! The submission transaction stores the job (the referral row with `status = queued` and a due time);
//! transitions that must tell the authority something later (`referral.withdrawn`,
//! `referral.note_added`) queue it in the outbox. A worker claims due jobs of both kinds by setting a
//! lease (its own token and an expiry) in one atomic statement — `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL so several processes share the work, a single `UPDATE … RETURNING` on SQLite — and
//! records each outcome only if it still holds the lease.
//!
//! Fairness: every job travels in a *lane* — pushes to one authority's endpoint, or e-mails to one
//! authority's mailbox — with a bounded number in flight. A claim takes at most a lane's share per
//! lane and nothing for a lane that is full, and the worker does not wait for a step's slowest job
//! before claiming again: an endpoint that never answers, or a relay that stalls, holds only its own
//! lane, never the capacity other authorities need. A process that dies mid-attempt leaves a lease that expires; the job is then claimed
//! again and re-sent with the same `webhook-id` (at-least-once; receivers de-duplicate). Nothing is
//! marked `delivered` without a 2xx. What each outcome means is decided by the lifecycle module.

pub mod email;
pub mod signing;

use crate::authorities::endpoint_url::is_internal_ip;
use crate::authorities::secrets::SecretBox;
use crate::clock::Clock;
use crate::db::{rfc3339_ms, Db};
use crate::entities::outbox::{self, Channel, OutboxStatus};
use crate::entities::referral;
use crate::metrics::Metrics;
use crate::referrals::group_commit::{AttemptRecord, BatchWriter};
use crate::referrals::lifecycle::{self, AttemptOutcome, Status};
use email::{Mailer, SendOutcome};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement, Value,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// Jobs claimed per step.
const BATCH: i64 = 256;
/// Pushes in flight per authority (a lane): a slow council's server cannot starve the others, and
/// we never flood one receiver.
const PER_AUTHORITY: usize = 16;
/// E-mails in flight per authority's mailbox.
const PER_MAILBOX: usize = 4;
/// E-mails in flight in all, since they all go through one relay.
const SMTP_CONCURRENCY: usize = 8;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How long after an endpoint's secret was issued a 401 or 403 is retried rather than final: the
/// admin who set the endpoint receives the secret in the answer and must still install it in the
/// receiver, which meanwhile refuses our signatures. Without this, setting an endpoint would fail
/// the authority's waiting referrals at the first push.
pub const NEW_SECRET_GRACE: Duration = Duration::from_secs(3600);

/// Classifies a response status (docs/contract.md §6). `new_secret`: the endpoint's secret was issued less
/// than [`NEW_SECRET_GRACE`] ago.
pub fn classify(status: u16, retry_after: Option<Duration>, new_secret: bool) -> AttemptOutcome {
    match status {
        200..=299 => AttemptOutcome::Delivered(status),
        401 | 403 if new_secret => AttemptOutcome::Retry {
            error: format!("http_{status}"),
            status: Some(status),
            retry_after: None,
        },
        408 | 429 | 300..=399 | 500..=599 => AttemptOutcome::Retry {
            error: format!("http_{status}"),
            status: Some(status),
            retry_after: if status == 429 || status == 503 {
                retry_after
            } else {
                None
            },
        },
        _ => AttemptOutcome::Refused(status),
    }
}

/// Reads `Retry-After` as seconds or an HTTP date (relative to `now`), capped at a day.
fn retry_after(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().to_owned();
    let delay = match raw.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = jiff::Timestamp::try_from(httpdate::parse_http_date(&raw).ok()?).ok()?;
            Duration::try_from(at.duration_since(now)).unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Resolves names like the system resolver but drops internal addresses, so a public endpoint name
/// cannot be pointed at our own network after it was checked (DNS rebinding).
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = format!("{}:0", name.as_str());
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host)
                .await?
                .filter(|a| !is_internal_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the endpoint resolves only to internal addresses".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Delays between attempts (N delays, N+1 attempts).
    pub schedule: Vec<Duration>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// The longest one e-mail's exchange with the relay may take.
    pub smtp_timeout: Duration,
    /// Whether internal addresses may be delivered to (development and tests).
    pub allow_insecure: bool,
    /// The base of links in e-mails (`DTR_PUBLIC_URL`).
    pub public_url: String,
}

/// One delivery worker (one per `dtr serve` process).
#[derive(Clone)]
pub struct Worker {
    db: Db,
    writer: BatchWriter,
    client: reqwest::Client,
    settings: Arc<WorkerSettings>,
    owner: String,
    metrics: Metrics,
    clock: Clock,
    secrets: SecretBox,
    mailer: Option<Mailer>,
    lanes: Arc<Mutex<HashMap<Lane, Arc<LaneState>>>>,
    /// E-mails in flight through the relay, whichever mailbox.
    smtp: Arc<Semaphore>,
}

/// Which way a job travels, and to whom: the unit of fairness.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    /// Signed pushes to this authority's endpoint.
    Push(String),
    /// E-mails to this authority's mailbox.
    Email(String),
}

impl Lane {
    fn of(job: &Job) -> Lane {
        match job {
            Job::Event(e) if e.channel == Channel::Email => Lane::Email(e.gss_code.clone()),
            Job::Event(e) => Lane::Push(e.gss_code.clone()),
            Job::Referral(r) => Lane::Push(r.gss_code.clone()),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Lane::Push(_) => PER_AUTHORITY,
            Lane::Email(_) => PER_MAILBOX,
        }
    }
}

/// A lane's jobs: claimed and not yet recorded (a full lane is left out of the next claim), and
/// the permits of those being attempted.
struct LaneState {
    claimed: std::sync::atomic::AtomicUsize,
    running: Arc<Semaphore>,
}

/// A claimed job's place in its lane, given back when the job is done.
struct Claimed(Arc<LaneState>);

impl Drop for Claimed {
    fn drop(&mut self) {
        self.0
            .claimed
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Bound parameters of a statement built at run time, numbered for the backend.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    /// Adds a value; answers its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// ` AND <column> NOT IN (…)` for the given values, or nothing.
    fn not_in(&mut self, column: &str, values: &[String]) -> String {
        if values.is_empty() {
            return String::new();
        }
        let list: Vec<String> = values.iter().map(|v| self.bind(v.clone())).collect();
        format!(" AND {column} NOT IN ({})", list.join(", "))
    }
}

/// Where and how to sign a push.
#[derive(Clone)]
struct Target {
    url: String,
    /// The signing secret, opened.
    secret: String,
    /// After a rotation, the previous secret (opened) and until when it still signs.
    previous: Option<(String, i64)>,
    /// When the endpoint's secret was issued.
    secret_issued_ms: i64,
}

/// One push to make: a referral, or an outbox event.
enum Job {
    Referral(Box<referral::Model>),
    Event(Box<outbox::Model>),
}

impl Worker {
    /// A worker with its own HTTP client (rustls, no redirects, the per-attempt timeout).
    pub fn new(
        db: Db,
        writer: BatchWriter,
        settings: WorkerSettings,
        metrics: Metrics,
        clock: Clock,
        secrets: SecretBox,
        mailer: Option<Mailer>,
    ) -> Result<Self, reqwest::Error> {
        // No proxy from the environment (HTTPS_PROXY and friends): a proxy would resolve and reach
        // the endpoint for us, around the checks on its addresses.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(PER_AUTHORITY)
            .user_agent(concat!(
                "dtr/",
                env!("CARGO_PKG_VERSION"),
                " (duty-to-refer delivery)"
            ));
        if !settings.allow_insecure {
            builder = builder
                .https_only(true)
                .dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(Worker {
            db,
            writer,
            client: builder.build()?,
            settings: Arc::new(settings),
            owner: uuid::Uuid::new_v4().to_string(),
            metrics,
            clock,
            secrets,
            mailer,
            lanes: Arc::new(Mutex::new(HashMap::new())),
            smtp: Arc::new(Semaphore::new(SMTP_CONCURRENCY)),
        })
    }

    /// The lease on a claimed job: long enough to wait for one attempt ahead of it in its lane,
    /// then make its own and record it.
    fn lease(&self) -> Duration {
        self.settings.timeout.max(self.settings.smtp_timeout) * 2 + Duration::from_secs(5)
    }

    fn lane(&self, lane: &Lane) -> Arc<LaneState> {
        let mut lanes = match self.lanes.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        lanes
            .entry(lane.clone())
            .or_insert_with(|| {
                Arc::new(LaneState {
                    claimed: Default::default(),
                    running: Arc::new(Semaphore::new(lane.capacity())),
                })
            })
            .clone()
    }

    /// The lanes with as many jobs claimed as they may have in flight: left out of the next claim.
    fn full_lanes(&self) -> (Vec<String>, Vec<String>) {
        let lanes = match self.lanes.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (mut push, mut email) = (vec![], vec![]);
        for (lane, state) in lanes.iter() {
            if state.claimed.load(std::sync::atomic::Ordering::Acquire) >= lane.capacity() {
                match lane {
                    Lane::Push(gss) => push.push(gss.clone()),
                    Lane::Email(gss) => email.push(gss.clone()),
                }
            }
        }
        (push, email)
    }

    /// The claim statement for `table`: one atomic statement, so two workers never hold the same
    /// job, taking the earliest due jobs but at most a lane's capacity per lane (`lanes` are the
    /// columns that name a lane) and none of the lanes listed in `full` (`lane_key` names them).
    fn claim_statement(
        &self,
        table: &str,
        lanes: &str,
        per_lane: usize,
        status: Value,
        now: i64,
        full: (&str, &[String]),
    ) -> Statement {
        let backend = self.db.backend();
        let lease_until = now + i64::try_from(self.lease().as_millis()).unwrap_or(i64::MAX / 2);
        let mut p = Params {
            backend,
            values: vec![],
        };
        let sql = match backend {
            // A window function cannot be combined with FOR UPDATE: each lane's earliest jobs are
            // locked in a lateral subquery instead, skipping those another process holds.
            DbBackend::Postgres => {
                let (lease, owner) = (p.bind(lease_until), p.bind(self.owner.clone()));
                let (status_a, now_a) = (p.bind(status.clone()), p.bind(now));
                let excluded = p.not_in(full.0, full.1);
                let (status_b, now_b, per_lane) =
                    (p.bind(status), p.bind(now), p.bind(per_lane as i64));
                let batch = p.bind(BATCH);
                let join = lanes
                    .split(", ")
                    .map(|c| format!("j.{c} = l.{c}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!(
                    "UPDATE {table} SET lease_until_ms = {lease}, lease_owner = {owner} WHERE id IN (
                       SELECT j.id FROM (SELECT DISTINCT {lanes} FROM {table}
                           WHERE status = {status_a} AND next_attempt_at_ms <= {now_a}{excluded}) l
                         CROSS JOIN LATERAL (SELECT id, next_attempt_at_ms FROM {table} j
                           WHERE {join} AND j.status = {status_b} AND j.next_attempt_at_ms <= {now_b}
                             AND (j.lease_until_ms IS NULL OR j.lease_until_ms < {now_b})
                           ORDER BY j.next_attempt_at_ms LIMIT {per_lane} FOR UPDATE SKIP LOCKED) j
                       ORDER BY j.next_attempt_at_ms LIMIT {batch})
                     RETURNING *"
                )
            }
            // One process per SQLite file: no locking, a window over the due jobs.
            _ => {
                let (lease, owner) = (p.bind(lease_until), p.bind(self.owner.clone()));
                let (status, now_a, now_b) = (p.bind(status), p.bind(now), p.bind(now));
                let excluded = p.not_in(full.0, full.1);
                let (per_lane, batch) = (p.bind(per_lane as i64), p.bind(BATCH));
                format!(
                    "UPDATE {table} SET lease_until_ms = {lease}, lease_owner = {owner} WHERE id IN (
                       SELECT id FROM (
                         SELECT id, next_attempt_at_ms AS due,
                           ROW_NUMBER() OVER (PARTITION BY {lanes} ORDER BY next_attempt_at_ms) AS n
                         FROM {table} WHERE status = {status} AND next_attempt_at_ms <= {now_a}
                           AND (lease_until_ms IS NULL OR lease_until_ms < {now_b}){excluded})
                       WHERE n <= {per_lane} ORDER BY due LIMIT {batch})
                     RETURNING *"
                )
            }
        };
        Statement::from_sql_and_values(backend, sql, p.values)
    }

    /// Claims due referrals and outbox events, fairly across lanes.
    async fn claim(&self, now: i64) -> Result<Vec<Job>, DbErr> {
        let (full_push, full_email) = self.full_lanes();
        let full_events: Vec<String> = full_push
            .iter()
            .map(|g| format!("webhook:{g}"))
            .chain(full_email.iter().map(|g| format!("email:{g}")))
            .collect();
        let txn = self.db.begin_write().await?;
        let referrals = referral::Entity::find()
            .from_raw_sql(self.claim_statement(
                "referrals",
                "gss_code",
                PER_AUTHORITY,
                sea_orm::ActiveEnum::to_value(&Status::Queued).into(),
                now,
                ("gss_code", &full_push),
            ))
            .all(&*txn)
            .await?;
        let events = outbox::Entity::find()
            .from_raw_sql(self.claim_statement(
                "outbox",
                "gss_code, channel",
                PER_AUTHORITY.min(PER_MAILBOX),
                sea_orm::ActiveEnum::to_value(&OutboxStatus::Queued).into(),
                now,
                ("channel || ':' || gss_code", &full_events),
            ))
            .all(&*txn)
            .await?;
        txn.commit().await?;
        Ok(referrals
            .into_iter()
            .map(|r| Job::Referral(Box::new(r)))
            .chain(events.into_iter().map(|e| Job::Event(Box::new(e))))
            .collect())
    }

    /// One step: claim due jobs, send them (bounded per lane), record every outcome. Returns how
    /// many jobs were attempted. Tests drive the worker with this, without sleeping; the running
    /// service uses [`Worker::run`], which does not wait for a step's slowest job.
    pub async fn step(&self) -> Result<usize, DbErr> {
        let mut tasks = tokio::task::JoinSet::new();
        let n = self.dispatch(&mut tasks).await?;
        let mut first_error = None;
        while let Some(done) = tasks.join_next().await {
            if let Some(e) = Self::reaped(done) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// The signing targets of every endpoint, secrets opened.
    async fn targets(&self) -> Result<HashMap<String, Target>, DbErr> {
        let mut targets: HashMap<String, Target> = HashMap::new();
        for e in crate::authorities::repository::endpoints(self.db.conn()).await? {
            // Start-up opened every stored secret, so a failure here means a row changed under
            // us (another process with another key): its jobs wait, loudly, rather than being
            // pushed with signatures no receiver accepts.
            let opened = self
                .secrets
                .open(&e.gss_code, &e.secret)
                .and_then(|secret| {
                    let previous = match (&e.previous_secret, e.previous_secret_until_ms) {
                        (Some(p), Some(until)) if until > self.clock.now_ms() => {
                            Some((self.secrets.open(&e.gss_code, p)?, until))
                        }
                        _ => None,
                    };
                    Ok((secret, previous))
                });
            match opened {
                Ok((secret, previous)) => {
                    targets.insert(
                        e.gss_code,
                        Target {
                            url: e.url,
                            secret,
                            previous,
                            secret_issued_ms: e.updated_at_ms,
                        },
                    );
                }
                Err(err) => {
                    tracing::error!(gss_code = %e.gss_code, error = %err, "cannot open the endpoint's signing secret; its pushes wait");
                }
            }
        }
        Ok(targets)
    }

    /// Claims what is due in lanes that have room and starts an attempt for each job in `tasks`,
    /// without waiting for them; returns how many were claimed.
    async fn dispatch(
        &self,
        tasks: &mut tokio::task::JoinSet<Result<(), DbErr>>,
    ) -> Result<usize, DbErr> {
        let jobs = self.claim(self.clock.now_ms()).await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let targets = if jobs.iter().any(|j| matches!(Lane::of(j), Lane::Push(_))) {
            self.targets().await?
        } else {
            HashMap::new()
        };
        let n = jobs.len();
        for job in jobs {
            let lane = Lane::of(&job);
            let target = match &lane {
                // E-mails go to the authority's mailbox, not its endpoint.
                Lane::Email(_) => None,
                Lane::Push(gss) => match targets.get(gss) {
                    Some(target) => Some(target.clone()),
                    // The endpoint was removed after the claim; removing it already moved
                    // referrals to the inbox, and an event for an authority without an endpoint
                    // waits for one.
                    None => continue,
                },
            };
            let state = self.lane(&lane);
            state
                .claimed
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let claimed = Claimed(state.clone());
            let relay = matches!(lane, Lane::Email(_)).then(|| self.smtp.clone());
            let worker = self.clone();
            tasks.spawn(async move {
                let _claimed = claimed;
                let _permit = state.running.clone().acquire_owned().await;
                match (job, target) {
                    (Job::Referral(row), Some(target)) => worker.attempt(*row, target).await,
                    (Job::Event(event), Some(target)) => worker.attempt_event(*event, target).await,
                    (Job::Event(event), None) => {
                        let _relay = match relay {
                            Some(relay) => Some(relay.acquire_owned().await),
                            None => None,
                        };
                        worker.attempt_email(*event).await
                    }
                    (Job::Referral(_), None) => Ok(()),
                }
            });
        }
        Ok(n)
    }

    /// Logs how a finished attempt's task ended; answers its recording error, if any.
    fn reaped(done: Result<Result<(), DbErr>, tokio::task::JoinError>) -> Option<DbErr> {
        match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not record a delivery attempt; its lease will expire and it will be retried");
                Some(e)
            }
            Err(e) => {
                tracing::error!(error = %e, "a delivery task stopped");
                None
            }
        }
    }

    /// Pushes a referral (`referral.created`) and records the outcome.
    async fn attempt(&self, row: referral::Model, target: Target) -> Result<(), DbErr> {
        let document: serde_json::Value =
            serde_json::from_str(&row.document).unwrap_or(serde_json::Value::Null);
        let body = poem_openapi::types::ToJSON::to_json_string(&openapi::ReferralCreatedEvent {
            kind: openapi::ReferralCreatedEvent::TYPE.to_owned(),
            id: row.id.clone(),
            submitted_at: rfc3339_ms(row.submitted_at_ms),
            organisation: row.organisation.clone(),
            agency_type: row.agency_type.clone(),
            warnings: crate::referrals::warnings_of(&row),
            referral: openapi::RawReferral(document),
        });
        let started_ms = self.clock.now_ms();
        let started = Instant::now();
        let outcome = self.send(&target, &row.webhook_id, &body).await;
        let took = started.elapsed();
        let result = lifecycle::attempted(
            &row,
            &outcome,
            &self.settings.schedule,
            self.clock.now_ms(),
            took,
        );
        self.metrics.delivery(result.metric, took);
        tracing::info!(referral_id = %row.id, attempt = result.attempts, outcome = result.metric, error = result.last_error.as_deref().unwrap_or(""), "delivery attempt");
        self.writer
            .record_attempt(AttemptRecord {
                id: row.id.clone(),
                owner: self.owner.clone(),
                started_ms,
                result,
            })
            .await?;
        Ok(())
    }

    /// Pushes an outbox event and records the outcome (the attempt is audited on the referral's
    /// trail; it does not change the referral).
    /// One e-mail to an authority's mailbox (docs/contract.md §10): built from the referral's row (never
    /// its document), sent with the same Message-ID on every attempt; 4xx replies and connection
    /// failures are retried on the schedule, 5xx is final. Audited as `notification.sent` or
    /// `notification.failed` with the SMTP reply code.
    async fn attempt_email(&self, event: outbox::Model) -> Result<(), DbErr> {
        let started_ms = self.clock.now_ms();
        let started = Instant::now();
        let row = referral::Entity::find()
            .filter(referral::Column::Id.eq(event.referral_id.clone()))
            .one(self.db.conn())
            .await?;
        // To the practitioner who made the referral, or the officer who asked for it (while they
        // still want it), or else to the authority's mailbox.
        let payload = serde_json::from_str::<serde_json::Value>(&event.payload).ok();
        let member = |name: &str| {
            payload
                .as_ref()
                .and_then(|p| p.get(name)?.as_str().map(str::to_owned))
        };
        let (officer, practitioner) = (member("officer_id"), member("practitioner_id"));
        let to = match officer {
            _ if practitioner.is_some() => {
                crate::practitioners::email_if_wanted(
                    &self.db,
                    practitioner.as_deref().unwrap_or_default(),
                )
                .await?
            }
            Some(officer_id) => {
                if crate::people::note_emails_on(&self.db, &officer_id).await? {
                    crate::people::repository::find(self.db.conn(), &officer_id)
                        .await?
                        .map(|o| o.email)
                } else {
                    None
                }
            }
            None => {
                crate::authorities::repository::notify_address(self.db.conn(), &event.gss_code)
                    .await?
            }
        };
        let public_url = &self.settings.public_url;
        let email = row
            .as_ref()
            .and_then(|row| match event.event_type.as_str() {
                lifecycle::EMAIL_WAITING => Some(email::referral_waiting(
                    row,
                    public_url,
                    domain::calendar::uk_date(self.clock.now()),
                )),
                lifecycle::EMAIL_WITHDRAWN => Some(email::referral_withdrawn(row, public_url)),
                lifecycle::EMAIL_ERASED => Some(email::referral_erased(row, public_url)),
                lifecycle::EMAIL_NOTE_ADDED => Some(email::note_added(row, public_url)),
                kind @ (lifecycle::EMAIL_TO_PRACTITIONER_ACKNOWLEDGED
                | lifecycle::EMAIL_TO_PRACTITIONER_OUTCOME
                | lifecycle::EMAIL_TO_PRACTITIONER_NOTE) => {
                    Some(email::to_practitioner(kind, row, public_url))
                }
                _ => None,
            });
        let permanent = |error: &str| SendOutcome::Permanent {
            code: None,
            error: error.to_owned(),
        };
        let outcome = match (&self.mailer, email, to) {
            (None, _, _) => SendOutcome::Transient {
                code: None,
                error: "smtp_not_configured".to_owned(),
            },
            (_, None, _) => permanent("unknown_event"),
            // The address was removed since: nobody to tell.
            (_, _, None) => permanent("no_address"),
            (Some(mailer), Some(email), Some(to)) => {
                mailer.send(&to, &email, &event.webhook_id).await
            }
        };
        let took = started.elapsed();
        let result = lifecycle::email_attempted(
            &event,
            &outcome,
            &self.settings.schedule,
            self.clock.now_ms(),
            took,
        );
        tracing::info!(referral_id = %event.referral_id, event_type = %event.event_type, attempt = event.attempts + 1, status = ?result.status, error = ?result.last_error, "e-mail notification attempt");
        self.finish_outbox_attempt(&event, result, started_ms).await
    }

    async fn attempt_event(&self, event: outbox::Model, target: Target) -> Result<(), DbErr> {
        let started_ms = self.clock.now_ms();
        let started = Instant::now();
        let outcome = self.send(&target, &event.webhook_id, &event.payload).await;
        let took = started.elapsed();
        let result = lifecycle::event_attempted(
            &event,
            &outcome,
            &self.settings.schedule,
            self.clock.now_ms(),
            took,
        );
        tracing::info!(referral_id = %event.referral_id, event_type = %event.event_type, attempt = event.attempts + 1, "event delivery attempt");
        self.finish_outbox_attempt(&event, result, started_ms).await
    }

    /// Records an outbox attempt while this worker still holds its lease (marked `superseded` in
    /// the audit event otherwise), with its audit event, in one transaction.
    async fn finish_outbox_attempt(
        &self,
        event: &outbox::Model,
        result: lifecycle::OutboxResult,
        started_ms: i64,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin_write().await?;
        crate::referrals::repository::record_outbox_attempt(
            &*txn,
            event,
            &self.owner,
            result,
            started_ms,
            self.clock.now_ms(),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn send(&self, target: &Target, webhook_id: &str, body: &str) -> AttemptOutcome {
        // The rules are checked again at every attempt: an endpoint stored while insecure mode was
        // on is refused once it is off, and an IP-literal host is judged here (names are judged by
        // the resolver when the connection is made).
        if let Err(refusal) =
            crate::authorities::endpoint_url::check(&target.url, self.settings.allow_insecure)
        {
            tracing::warn!(reason = %refusal, "not delivering to an endpoint the rules no longer allow");
            return AttemptOutcome::EndpointNotAllowed;
        }
        let timestamp = self.clock.now().as_second();
        let Ok(mut signature) =
            signing::sign(&target.secret, webhook_id, timestamp, body.as_bytes())
        else {
            return AttemptOutcome::Refused(0);
        };
        // During a rotation's overlap the previous secret signs too, after the new one (Standard
        // Webhooks: space-separated signatures; a receiver accepts any one it can verify).
        if let Some((previous, until)) = &target.previous {
            if self.clock.now_ms() < *until {
                if let Ok(old) = signing::sign(previous, webhook_id, timestamp, body.as_bytes()) {
                    signature.push(' ');
                    signature.push_str(&old);
                }
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in [
            ("webhook-id", webhook_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        match self
            .client
            .post(&target.url)
            .headers(headers)
            .body(body.to_owned())
            .send()
            .await
        {
            Ok(resp) => {
                let grace = i64::try_from(NEW_SECRET_GRACE.as_millis()).unwrap_or(i64::MAX);
                classify(
                    resp.status().as_u16(),
                    retry_after(resp.headers(), self.clock.now()),
                    self.clock.now_ms() - target.secret_issued_ms < grace,
                )
            }
            Err(e) => {
                let error = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else if e.is_request() {
                    "request"
                } else {
                    "transport"
                };
                AttemptOutcome::Retry {
                    error: error.to_owned(),
                    status: None,
                    retry_after: None,
                }
            }
        }
    }

    /// When the next job falls due, if any is queued, leaving out lanes that are full.
    async fn next_due(&self) -> Result<Option<i64>, DbErr> {
        let (full_push, full_email) = self.full_lanes();
        let referral: Option<Option<i64>> = referral::Entity::find()
            .select_only()
            .column_as(Expr::col(referral::Column::NextAttemptAtMs).min(), "due")
            .filter(referral::Column::Status.eq(Status::Queued))
            .filter(referral::Column::GssCode.is_not_in(full_push.clone()))
            .into_tuple()
            .one(self.db.conn())
            .await?;
        let event: Option<Option<i64>> = outbox::Entity::find()
            .select_only()
            .column_as(Expr::col(outbox::Column::NextAttemptAtMs).min(), "due")
            .filter(outbox::Column::Status.eq(OutboxStatus::Queued))
            .filter(
                sea_orm::Condition::any()
                    .add(
                        outbox::Column::Channel
                            .eq(Channel::Webhook)
                            .and(outbox::Column::GssCode.is_not_in(full_push)),
                    )
                    .add(
                        outbox::Column::Channel
                            .eq(Channel::Email)
                            .and(outbox::Column::GssCode.is_not_in(full_email)),
                    ),
            )
            .into_tuple()
            .one(self.db.conn())
            .await?;
        Ok([referral.flatten(), event.flatten()]
            .into_iter()
            .flatten()
            .min())
    }

    /// Runs until `stop` is notified: claims whatever is due in lanes with room, without waiting
    /// for attempts in flight (a slow lane holds only itself); otherwise sleeps until the next due
    /// time (at most a second, so another process's work and expired leases are noticed), a
    /// wake-up, or an attempt finishing (its lane has room again). On stop, lets the attempts in
    /// flight finish.
    pub async fn run(self, wake: Arc<Notify>, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while let Some(done) = tasks.try_join_next() {
                Self::reaped(done);
            }
            let claimed = match self.dispatch(&mut tasks).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed");
                    0
                }
            };
            if claimed > 0 {
                continue;
            }
            let wait = match self.next_due().await {
                Ok(Some(due)) => Duration::from_millis(
                    u64::try_from((due - self.clock.now_ms()).clamp(0, 1000)).unwrap_or(1000),
                ),
                _ => Duration::from_secs(1),
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => { Self::reaped(done); }
                _ = stop.changed() => {}
            }
        }
        while let Some(done) = tasks.join_next().await {
            Self::reaped(done);
        }
        tracing::info!("delivery worker stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        assert_eq!(classify(200, None, false), AttemptOutcome::Delivered(200));
        assert_eq!(classify(204, None, false), AttemptOutcome::Delivered(204));
        for s in [301, 302, 408, 429, 500, 502, 503] {
            assert!(
                matches!(classify(s, None, false), AttemptOutcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(classify(s, None, false), AttemptOutcome::Refused(s));
        }
    }

    #[test]
    fn a_refused_signature_is_retried_only_while_the_secret_is_new() {
        for s in [401, 403] {
            assert!(matches!(
                classify(s, None, true),
                AttemptOutcome::Retry { .. }
            ));
            assert_eq!(classify(s, None, false), AttemptOutcome::Refused(s));
        }
        assert_eq!(classify(404, None, true), AttemptOutcome::Refused(404));
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date_and_capped() {
        let mut h = HeaderMap::new();
        let now: jiff::Timestamp = "2015-10-21T07:27:00Z".parse().expect("an instant");
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("9999999"));
        assert_eq!(retry_after(&h, now), Some(MAX_RETRY_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(60)));
        let later: jiff::Timestamp = "2015-10-21T08:00:00Z".parse().expect("an instant");
        assert_eq!(
            retry_after(&h, later),
            Some(Duration::ZERO),
            "a date in the past"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
