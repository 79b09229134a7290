//! The delivery worker (CONTRACT §6): claim → send → record → schedule.
//!
//! The submission transaction stores the job (the referral row with `status = queued` and a due time).
//! A worker claims due jobs by setting a lease (its own token and an expiry) in one atomic statement
//! — `FOR UPDATE SKIP LOCKED` on PostgreSQL so several processes share the work, a single
//! `UPDATE … RETURNING` on SQLite — sends each with a bounded concurrency per authority, and records
//! the outcome only if it still holds the lease. A process that dies mid-attempt leaves a lease that
//! expires; the job is then claimed again and re-sent with the same `webhook-id` (at-least-once;
//! receivers de-duplicate). Nothing is marked `delivered` without a 2xx.

use crate::audit::{Actor, NewEvent};
use crate::batch::{AttemptRecord, BatchWriter, Write};
use crate::clock::Clock;
use crate::db::{rfc3339_ms, Db};
use crate::endpoint_url::is_internal_ip;
use crate::entities::referral;
use crate::metrics::Metrics;
use crate::signing;
use openapi::AuditAction;
use openapi::ReferralStatus;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// Jobs claimed per step.
const BATCH: i64 = 256;
/// Concurrent attempts per authority: a slow council's server cannot starve the others, and we never
/// flood one receiver.
const PER_AUTHORITY: usize = 16;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered(u16),
    /// 408, 429, 3xx, 5xx, timeout or connection error; the delay asked for by `Retry-After`, if any.
    Retry {
        /// `http_503`, `timeout`, `connect`, ….
        error: String,
        /// The HTTP status, if there was a response.
        status: Option<u16>,
        /// The receiver's `Retry-After`, capped.
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: the receiver refuses the message for good.
    Refused(u16),
}

/// How long after an endpoint's secret was issued a 401 or 403 is retried rather than final: the
/// admin who set the endpoint receives the secret in the answer and must still install it in the
/// receiver, which meanwhile refuses our signatures. Without this, setting an endpoint would fail
/// the authority's waiting referrals at the first push.
pub const NEW_SECRET_GRACE: Duration = Duration::from_secs(3600);

/// Classifies a response status (CONTRACT §6). `new_secret`: the endpoint's secret was issued less
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
    /// Whether internal addresses may be delivered to (development and tests).
    pub allow_insecure: bool,
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
    per_authority: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

struct Job {
    row: referral::Model,
    url: String,
    secret: String,
    /// When the endpoint's secret was issued.
    secret_issued_ms: i64,
}

impl Worker {
    /// A worker with its own HTTP client (rustls, no redirects, the per-attempt timeout).
    pub fn new(
        db: Db,
        writer: BatchWriter,
        settings: WorkerSettings,
        metrics: Metrics,
        clock: Clock,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
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
            per_authority: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The lease on a claimed job: long enough for one attempt and its recording.
    fn lease(&self) -> Duration {
        self.settings.timeout * 2 + Duration::from_secs(5)
    }

    /// Claims due jobs: one atomic statement, so two workers never hold the same job.
    async fn claim(&self, now: i64) -> Result<Vec<referral::Model>, DbErr> {
        let lease_until = now + i64::try_from(self.lease().as_millis()).unwrap_or(i64::MAX / 2);
        let backend = self.db.backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "UPDATE referrals SET lease_until_ms = $1, lease_owner = $2 WHERE id IN (
                   SELECT id FROM referrals WHERE status = 'queued' AND next_attempt_at_ms <= $3
                     AND (lease_until_ms IS NULL OR lease_until_ms < $3)
                   ORDER BY next_attempt_at_ms LIMIT $4 FOR UPDATE SKIP LOCKED)
                 RETURNING *"
            }
            _ => {
                "UPDATE referrals SET lease_until_ms = ?1, lease_owner = ?2 WHERE id IN (
                   SELECT id FROM referrals WHERE status = 'queued' AND next_attempt_at_ms <= ?3
                     AND (lease_until_ms IS NULL OR lease_until_ms < ?3)
                   ORDER BY next_attempt_at_ms LIMIT ?4)
                 RETURNING *"
            }
        };
        let stmt = Statement::from_sql_and_values(
            backend,
            sql,
            [
                lease_until.into(),
                self.owner.clone().into(),
                now.into(),
                BATCH.into(),
            ],
        );
        let txn = self.db.begin_write().await?;
        let rows = referral::Entity::find()
            .from_raw_sql(stmt)
            .all(&*txn)
            .await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// One step: claim due jobs, send them (bounded per authority), record every outcome. Returns how
    /// many jobs were attempted. Tests drive the worker with this, without sleeping.
    pub async fn step(&self) -> Result<usize, DbErr> {
        let rows = self.claim(self.clock.now_ms()).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let endpoints: HashMap<String, (String, String, i64)> =
            crate::entities::authority_endpoint::Entity::find()
                .all(self.db.conn())
                .await?
                .into_iter()
                .map(|e| (e.gss_code, (e.url, e.secret, e.updated_at_ms)))
                .collect();
        let mut tasks = tokio::task::JoinSet::new();
        let n = rows.len();
        for row in rows {
            let Some((url, secret, secret_issued_ms)) = endpoints.get(&row.gss_code).cloned()
            else {
                // The endpoint was removed after the claim; removing it already moved the job to the inbox.
                continue;
            };
            let gate = self
                .per_authority
                .lock()
                .map(|mut m| {
                    m.entry(row.gss_code.clone())
                        .or_insert_with(|| Arc::new(Semaphore::new(PER_AUTHORITY)))
                        .clone()
                })
                .unwrap_or_else(|_| Arc::new(Semaphore::new(PER_AUTHORITY)));
            let worker = self.clone();
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                worker
                    .attempt(Job {
                        row,
                        url,
                        secret,
                        secret_issued_ms,
                    })
                    .await
            });
        }
        let mut first_error = None;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "could not record a delivery attempt; its lease will expire and it will be retried");
                    first_error.get_or_insert(e);
                }
                Err(e) => tracing::error!(error = %e, "a delivery task stopped"),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Sends one job and records the outcome.
    async fn attempt(&self, job: Job) -> Result<(), DbErr> {
        let row = &job.row;
        let document: serde_json::Value =
            serde_json::from_str(&row.document).unwrap_or(serde_json::Value::Null);
        let body = poem_openapi::types::ToJSON::to_json_string(&openapi::ReferralCreatedEvent {
            kind: openapi::ReferralCreatedEvent::TYPE.to_owned(),
            id: row.id.clone(),
            submitted_at: rfc3339_ms(row.submitted_at_ms),
            organisation: row.organisation.clone(),
            agency_type: row.agency_type.clone(),
            warnings: crate::store::warnings_of(row),
            referral: openapi::RawReferral(document),
        });
        let started_ms = self.clock.now_ms();
        let started = Instant::now();
        let outcome = self.send(&job, &body).await;
        let took = started.elapsed();
        self.record(row, &outcome, started_ms, took).await
    }

    async fn send(&self, job: &Job, body: &str) -> AttemptOutcome {
        let timestamp = self.clock.now().as_second();
        let signature =
            match signing::sign(&job.secret, &job.row.webhook_id, timestamp, body.as_bytes()) {
                Ok(s) => s,
                Err(_) => return AttemptOutcome::Refused(0),
            };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in [
            ("webhook-id", job.row.webhook_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        match self
            .client
            .post(&job.url)
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
                    self.clock.now_ms() - job.secret_issued_ms < grace,
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

    /// Records an attempt, if this worker still holds the job's lease.
    async fn record(
        &self,
        row: &referral::Model,
        outcome: &AttemptOutcome,
        started_ms: i64,
        took: Duration,
    ) -> Result<(), DbErr> {
        let now = self.clock.now_ms();
        let attempts = row.attempts + 1;
        let duration_ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        let (status, next, last_error, metric) = match outcome {
            AttemptOutcome::Delivered(_) => (ReferralStatus::Delivered, None, None, "delivered"),
            AttemptOutcome::Refused(code) => (
                ReferralStatus::Failed,
                None,
                Some(format!("http_{code}")),
                "failed",
            ),
            AttemptOutcome::Retry {
                error, retry_after, ..
            } => {
                match self
                    .settings
                    .schedule
                    .get(usize::try_from(attempts - 1).unwrap_or(usize::MAX))
                {
                    Some(delay) => {
                        let wait = retry_after.map_or(*delay, |r| r.max(*delay));
                        let due = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                        (
                            ReferralStatus::Queued,
                            Some(due),
                            Some(error.clone()),
                            "retry",
                        )
                    }
                    None => (ReferralStatus::Failed, None, Some(error.clone()), "failed"),
                }
            }
        };
        self.metrics.delivery(metric, took);
        let mut attempted = json!({ "attempt": attempts, "duration_ms": duration_ms, "webhook_id": row.webhook_id });
        match outcome {
            AttemptOutcome::Delivered(code) | AttemptOutcome::Refused(code) => {
                attempted["http_status"] = json!(code)
            }
            AttemptOutcome::Retry { error, status, .. } => {
                attempted["error"] = json!(error);
                if let Some(code) = status {
                    attempted["http_status"] = json!(code);
                }
            }
        }
        let attempted_event = NewEvent::about(
            Actor::system(),
            AuditAction::DeliveryAttempted,
            &row.id,
            attempted,
        );
        let mut events = vec![attempted_event.clone()];
        if status == ReferralStatus::Delivered {
            events.push(NewEvent::about(
                Actor::system(),
                AuditAction::DeliverySucceeded,
                &row.id,
                json!({ "mode": "push", "attempts": attempts }),
            ));
        } else if status == ReferralStatus::Failed {
            events.push(NewEvent::about(
                Actor::system(),
                AuditAction::DeliveryFailed,
                &row.id,
                json!({ "attempts": attempts, "reason": last_error }),
            ));
        }
        // Acknowledged, moved to the inbox or re-leased meanwhile: the attempt happened, the state is
        // someone else's.
        let mut superseded = attempted_event;
        superseded.detail["superseded"] = json!(true);
        self.writer
            .write(Write::Attempt(Box::new(AttemptRecord {
                id: row.id.clone(),
                owner: self.owner.clone(),
                status,
                attempts,
                next_attempt_at_ms: next,
                started_ms,
                last_error: last_error.clone(),
                delivered_at_ms: if status == ReferralStatus::Delivered {
                    Some(now)
                } else {
                    row.delivered_at_ms
                },
                events,
                superseded: vec![superseded],
            })))
            .await?;
        tracing::info!(referral_id = %row.id, attempt = attempts, outcome = metric, error = last_error.as_deref().unwrap_or(""), "delivery attempt");
        Ok(())
    }

    /// When the next job falls due, if any is queued.
    async fn next_due(&self) -> Result<Option<i64>, DbErr> {
        let due: Option<Option<i64>> = referral::Entity::find()
            .select_only()
            .column_as(Expr::col(referral::Column::NextAttemptAtMs).min(), "due")
            .filter(referral::Column::Status.eq(ReferralStatus::Queued.as_str()))
            .into_tuple()
            .one(self.db.conn())
            .await?;
        Ok(due.flatten())
    }

    /// Runs until `stop` is notified: steps while there is work, otherwise sleeps until the next due
    /// time (at most a second, so another process's work and expired leases are noticed) or a wake-up.
    pub async fn run(self, wake: Arc<Notify>, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        loop {
            if *stop.borrow() {
                break;
            }
            let worked = match self.step().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "delivery step failed");
                    0
                }
            };
            if worked > 0 {
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
                _ = stop.changed() => {}
            }
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
