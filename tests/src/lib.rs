//! Shared fixtures of the black-box suites: `TestApp` starts the real service on port 0 with a fresh
//! database (SQLite, or PostgreSQL when `DTR_TEST_POSTGRES_URL` names a server), makes keys, and
//! builds referrals dated relative to today.
//!
//! The service runs on a manual clock and, unless a test asks for it, without its background
//! delivery worker: tests deliver with [`TestApp::step`] and move time with [`TestApp::advance`], so
//! retry schedules, `Retry-After` and rate limits are checked exactly and a slow machine changes
//! only how long a test takes.

#![allow(clippy::unwrap_used)]

use api::clock::Clock;
use api::config::Config;
use api::serve::{self, Running};
use serde_json::{json, Value};
use std::time::Duration;

/// The delays of the test retry schedule: three attempts, a minute then five minutes apart (tests
/// move the manual clock by exactly these).
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef-32";

/// A running service and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub running: Option<Running>,
    pub config: Config,
    /// The service's clock: manual unless the test runs the background worker.
    pub clock: Clock,
    background_worker: bool,
    dir: Option<tempfile::TempDir>,
}

/// A fresh database URL: a new SQLite file, or a new PostgreSQL database on the server named by
/// `DTR_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5433`).
pub async fn fresh_database() -> (String, tempfile::TempDir) {
    // Every test has its own directory: the SQLite file (not with PostgreSQL) and the audit key.
    let dir = tempfile::tempdir().expect("temp dir");
    match std::env::var("DTR_TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!("dtr_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(format!("{server}/postgres"))
                .await
                .expect("postgres reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            admin.close().await.ok();
            (format!("{server}/{name}"), dir)
        }
        _ => {
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display());
            (url, dir)
        }
    }
}

pub fn is_postgres() -> bool {
    std::env::var("DTR_TEST_POSTGRES_URL").is_ok_and(|s| !s.is_empty())
}

/// The configuration every test starts from: port 0, the bootstrap admin key, loopback endpoints
/// allowed (wiremock), the test retry schedule, no rate limit, and the audit key in `dir`.
pub fn test_config(database_url: &str, dir: &std::path::Path) -> Config {
    Config {
        database_url: database_url.to_owned(),
        audit_key_file: dir.join("dtr-audit.key"),
        listen: "127.0.0.1:0".parse().unwrap(),
        bootstrap_admin_key: Some(ADMIN_KEY.to_owned()),
        allow_insecure_endpoints: true,
        retry_schedule: RETRY_DELAYS.to_vec(),
        delivery_timeout: Duration::from_secs(10),
        rate_limit: 0,
        rate_limit_anon: 0,
        // Tests fire hundreds of requests at once at a debug build; admission control has its own
        // test with a small limit.
        max_concurrent_requests: 10_000,
        // Every test client is 127.0.0.1; the per-client cap has its own test.
        max_connections_per_client: 0,
        ..Config::default()
    }
}

impl TestApp {
    /// The service on a manual clock, without its background worker.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// [`TestApp::spawn`] with an adjusted configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let (url, dir) = fresh_database().await;
        let mut config = test_config(&url, dir.path());
        adjust(&mut config);
        Self::start(config, dir, false).await
    }

    /// [`TestApp::spawn`] on SQLite even when the suite runs on PostgreSQL: for what only SQLite
    /// has (its files and WAL).
    pub async fn spawn_sqlite() -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display());
        let config = test_config(&url, dir.path());
        Self::start(config, dir, false).await
    }

    /// [`TestApp::spawn`] with a whole configuration; `dir` (the test's own directory) lives as long
    /// as the service.
    pub async fn spawn_with_config(config: Config, dir: tempfile::TempDir) -> TestApp {
        Self::start(config, dir, false).await
    }

    /// The service as `dtr serve` runs it: the system clock and the background delivery worker.
    pub async fn spawn_with_background_worker(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let (url, dir) = fresh_database().await;
        let mut config = test_config(&url, dir.path());
        adjust(&mut config);
        Self::start(config, dir, true).await
    }

    async fn start(config: Config, dir: tempfile::TempDir, background_worker: bool) -> TestApp {
        let clock = if background_worker {
            Clock::system()
        } else {
            Clock::manual(jiff::Timestamp::now())
        };
        Self::start_on(config, Some(dir), background_worker, clock).await
    }

    async fn start_on(
        config: Config,
        dir: Option<tempfile::TempDir>,
        background_worker: bool,
        clock: Clock,
    ) -> TestApp {
        let running = serve::start_with_clock(config.clone(), background_worker, clock.clone())
            .await
            .expect("service starts");
        TestApp {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            running: Some(running),
            config,
            clock,
            background_worker,
            dir,
        }
    }

    /// Stops the service and starts it again on the same database (and the same clock).
    pub async fn restart(self) -> TestApp {
        let config = self.config.clone();
        self.restart_with(config).await
    }

    /// [`TestApp::restart`] with another configuration (the same database).
    pub async fn restart_with(mut self, mut config: Config) -> TestApp {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        config.listen = "127.0.0.1:0".parse().unwrap();
        let clock = self.clock.clone();
        Self::start_on(config, self.dir.take(), self.background_worker, clock).await
    }

    /// One run of the retention job, as the background task runs it every minute; returns how many
    /// referrals it erased.
    pub async fn sweep_retention(&self) -> usize {
        let state = &self.running.as_ref().unwrap().state;
        api::referrals::retention::sweep(&state.db, &self.clock, state.config.retention)
            .await
            .expect("retention sweep")
    }

    /// What the background worker's draft sweep does, now: drafts unchanged for
    /// `DTR_DRAFT_RETENTION` erased. How many went.
    pub async fn sweep_drafts(&self) -> usize {
        let state = &self.running.as_ref().unwrap().state;
        api::practitioners::sweep_drafts(
            &state.db,
            self.clock.now_ms(),
            state.config.draft_retention,
        )
        .await
        .expect("draft sweep")
    }

    /// What the service's scrubber does after an erasure (SQLite): the file rewritten and the WAL
    /// truncated, now rather than within `DTR_SCRUB_INTERVAL`.
    pub async fn checkpoint_wal(&self) {
        let state = &self.running.as_ref().unwrap().state;
        state
            .db
            .scrub()
            .await
            .expect("the database rewritten after an erasure");
    }

    /// Gives `gss` an endpoint at `receiver`'s `/hook`; returns the signing secret.
    pub async fn set_endpoint(&self, gss: &str, receiver: &wiremock::MockServer) -> String {
        let resp = self
            .put(
                &format!("/v1/authorities/{gss}/endpoint"),
                ADMIN_KEY,
                &json!({"url": format!("{}/hook", receiver.uri())}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Gives `gss` an endpoint at `url`; returns the signing secret.
    pub async fn set_endpoint_url(&self, gss: &str, url: &str) -> String {
        let resp = self
            .put(
                &format!("/v1/authorities/{gss}/endpoint"),
                ADMIN_KEY,
                &json!({ "url": url }),
            )
            .await;
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A referral's audit events (the first page of `GET /v1/referrals/{id}/audit`), as an admin
    /// reads them.
    pub async fn events_of(&self, id: &str) -> Vec<Value> {
        let page: Value = self
            .get(&format!("/v1/referrals/{id}/audit"), ADMIN_KEY)
            .await
            .json()
            .await
            .unwrap();
        page["items"].as_array().unwrap().clone()
    }

    /// A direct connection to the service's database (for what only the database shows).
    pub async fn raw_db(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(self.config.database_url.clone())
            .await
            .unwrap()
    }

    /// The test's own directory (the SQLite database and its WAL, the audit key).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir
            .as_ref()
            .expect("a running test app has its directory")
            .path()
    }

    /// One step of the delivery worker: claims what is due on the service's clock, attempts it and
    /// records every outcome before returning how many were attempted.
    pub async fn step(&self) -> usize {
        self.running
            .as_ref()
            .unwrap()
            .worker
            .step()
            .await
            .expect("the delivery step records its attempts")
    }

    /// Moves the service's manual clock forward.
    pub fn advance(&self, by: Duration) {
        assert!(
            self.clock.advance(by),
            "only a service on a manual clock can be advanced"
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Every item of a paged list (`path` may carry its own query), following `next_cursor` to
    /// the end.
    pub async fn all_items(&self, path: &str, key: &str) -> Vec<Value> {
        let join = if path.contains('?') { '&' } else { '?' };
        let mut items = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{join}limit=100&cursor={c}"),
                None => format!("{path}{join}limit=100"),
            };
            let page: Value = self.get(&url, key).await.json().await.unwrap();
            let found = page["items"].as_array().unwrap();
            let empty = found.is_empty();
            items.extend(found.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) if !empty => cursor = Some(c.to_owned()),
                _ => return items,
            }
        }
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// A new key via the admin API.
    pub async fn key(&self, body: Value) -> String {
        let resp = self.post("/v1/api-keys", ADMIN_KEY, &body).await;
        assert_eq!(resp.status(), 201, "key creation");
        resp.json::<Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn referrer(&self, organisation: &str) -> String {
        self.key(
            json!({"role": "referrer", "organisation": organisation, "agency_type": "probation"}),
        )
        .await
    }

    pub async fn authority(&self, gss_code: &str) -> String {
        self.key(json!({"role": "authority", "gss_code": gss_code}))
            .await
    }

    /// Submits and expects 201; returns the resource.
    pub async fn submit(&self, key: &str, doc: &Value) -> Value {
        let resp = self.post("/v1/referrals", key, doc).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The referral as an admin lists it (a list read does not count as reading the document).
    pub async fn state_of(&self, id: &str) -> Value {
        self.listed(id)
            .await
            .unwrap_or_else(|| panic!("referral {id} not listed"))
    }

    async fn listed(&self, id: &str) -> Option<Value> {
        let mut cursor = String::new();
        loop {
            let page: Value = self
                .client
                .get(self.url(&format!("/v1/referrals?limit=100&cursor={cursor}")))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(item) = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id)
            {
                return Some(item.clone());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return None,
            }
        }
    }

    /// Polls the admin list until `done` holds, for the few tests that run the background worker.
    /// The deadline is generous: a busy machine makes the test slower, not failed.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        assert!(
            self.background_worker,
            "drive the worker with step() instead of waiting for it"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let item = self.listed(id).await;
            if let Some(item) = &item {
                if done(item) {
                    return item.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting; last state {item:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the worker and server tasks with the runtime; the temp directory goes with us.
        if let Some(r) = self.running.take() {
            drop(r);
        }
    }
}

/// Today in England.
pub fn uk_today() -> jiff::civil::Date {
    domain::calendar::uk_date(jiff::Timestamp::now())
}

/// A valid referral to `gss_code`, threatened with homelessness in 30 days, consent an hour ago.
pub fn referral_to(gss_code: &str) -> Value {
    let likely = uk_today().checked_add(jiff::ToSpan::days(30)).unwrap();
    let recorded = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    json!({
        "person": {
            "given_name": "Testgiven",
            "family_name": "Testfamily",
            "date_of_birth": "1985-03-14",
            "contact": { "phone": "07911 123456", "email": "person@example.org" }
        },
        "consent": { "referral": true, "share_contact_details": true, "recorded_at": recorded.to_string() },
        "housing_authority": { "gss_code": gss_code, "chosen_by_person": true },
        "housing_situation": {
            "reason": "threatened_with_homelessness",
            "likely_homeless_on": likely.to_string(),
            "rough_sleeping": "no",
            "summary": "Tenancy ending; no other accommodation available."
        },
        "referrer": { "name": "Test Referrer", "email": "referrer@probation.example.gov.uk" }
    })
}

pub fn referral() -> Value {
    referral_to("E08000039")
}

/// One string member of every item of a list page (`items[*].<member>`), e.g. the ids or the actions.
pub fn item_strings<'a>(page: &'a Value, member: &str) -> Vec<&'a str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[member].as_str().unwrap())
        .collect()
}

/// Asserts an RFC 9457 problem with this status.
pub async fn assert_problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Whether one of a push's `webhook-signature` values is the Standard Webhooks signature made with
/// `secret` (computed here, independently of the service's own signing code).
pub fn signed_by(secret: &str, req: &wiremock::Request) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let header = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(&req.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// A server on a loopback port that accepts connections and never says a word (an endpoint or a
/// relay that hangs). Connections stay open until it is dropped.
pub struct BlackHole {
    /// Its port.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    /// Starts listening.
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        BlackHole { port, task }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The interpreter of the project's own Python environment: `DTR_TEST_PYTHON` when `scripts/test`
/// set it, else `target/test-python/bin/python3` in the workspace. Never the system's `python3`,
/// whose packages are whatever the machine happens to hold.
pub fn test_python() -> std::path::PathBuf {
    match std::env::var_os("DTR_TEST_PYTHON") {
        Some(python) => python.into(),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
            let python = target.join("test-python/bin/python3");
            assert!(
                python.exists(),
                "{} does not exist: run `bash scripts/test` once to make the project's Python \
                 environment",
                python.display()
            );
            python
        }
    }
}

/// A real SMTP server (aiosmtpd, `tests/smtp_relay.py`) on a loopback port, keeping what it
/// accepts in a Maildir. It runs under the project's own Python environment ([`test_python`]),
/// which `scripts/test` makes; a test using it fails, never passes, without it.
pub struct SmtpRelay {
    /// The port it listens on (kept across [`SmtpRelay::stop`] and [`SmtpRelay::start_again`]).
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl SmtpRelay {
    /// Starts a relay on a free port.
    pub fn start() -> SmtpRelay {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut relay = SmtpRelay {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        relay.start_again();
        relay
    }

    /// Starts it again on the same port and Maildir (after [`SmtpRelay::stop`]).
    pub fn start_again(&mut self) {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp_relay.py");
        let mut child = std::process::Command::new(test_python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.dir.path().join("maildir"))
            .arg(self.dir.path().join("control"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the project's Python runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the relay says something");
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP relay did not start: run `bash scripts/test` once to make the project's Python \
             environment (target/test-python) with aiosmtpd"
        );
        self.child = Some(child);
    }

    /// Stops it (connections are then refused).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `DTR_SMTP_URL` for it (plain text: the service runs in insecure mode in tests).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Answers the next messages with these reply codes (e.g. `451`, `550`) instead of storing them.
    pub fn reply_next(&self, codes: &[&str]) {
        let text: String = codes.iter().map(|c| format!("{c}\n")).collect();
        std::fs::write(self.dir.path().join("control"), text).expect("control file");
    }

    /// Every message it stored, raw (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir").join("new");
        let mut files: Vec<_> = std::fs::read_dir(new)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        // Python's Maildir names are `{seconds}.M{micros}P{pid}Q{counter}.{host}`; the
        // microseconds are not zero-padded, so the names do not sort. The second, then the
        // counter of deliveries in the relay's process, give the order of arrival.
        let order = |p: &std::path::PathBuf| -> (u64, u64) {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let seconds = name.split('.').next().and_then(|s| s.parse().ok());
            let counter = name
                .split_once('Q')
                .and_then(|(_, rest)| rest.split('.').next())
                .and_then(|q| q.parse().ok());
            (seconds.unwrap_or(u64::MAX), counter.unwrap_or(u64::MAX))
        };
        files.sort_by_key(|p| (order(p), p.clone()));
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for SmtpRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The body of an e-mail as a reader sees it: quoted-printable soft breaks undone.
pub fn email_text(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
        .replace("\r\n", "\n")
}

/// A service that e-mails through `relay` (tests follow its links by their path).
pub async fn spawn_with_mail(relay: &SmtpRelay) -> TestApp {
    let url = relay.url();
    TestApp::spawn_with(|c| {
        c.smtp = Some(api::config::SmtpUrl::parse(&url, true).unwrap());
        c.smtp_from = "Duty to refer <dtr@service.example.gov.uk>".into();
        c.public_url = "https://dtr.example.gov.uk".into();
    })
    .await
}

/// The value of `name="csrf"` (or another hidden field) in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// A browser without JavaScript: a cookie jar, no automatic redirects.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
}

impl Browser {
    /// A browser behind a trusted proxy that names it as `client` in `X-Forwarded-For`.
    pub fn from_client(base: &str, client: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_str(client).unwrap(),
        );
        Browser {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
        }
    }

    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// GET; the status, the `Location` and the body.
    pub async fn get(&self, path: &str) -> (u16, Option<String>, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        Self::read(r).await
    }

    /// POST a form.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        Self::read(r).await
    }

    async fn read(r: reqwest::Response) -> (u16, Option<String>, String) {
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, location, r.text().await.unwrap())
    }

    /// Asks for a sign-in link for `email` and returns the check-your-e-mail page.
    pub async fn ask_for_link(&self, email: &str) -> (u16, String) {
        self.ask_for_link_at("/inbox", email).await
    }

    /// [`Browser::ask_for_link`] on the surface at `root` (`/inbox` or `/refer`).
    pub async fn ask_for_link_at(&self, root: &str, email: &str) -> (u16, String) {
        let (_, _, page) = self.get(&format!("{root}/sign-in")).await;
        let csrf = hidden_field(&page, "csrf").expect("a CSRF field");
        let (status, _, body) = self
            .post(
                &format!("{root}/sign-in"),
                &[("csrf", &csrf), ("email", email), ("next", root)],
            )
            .await;
        (status, body)
    }

    /// Follows a link from an e-mail and confirms it; the status and where it leads.
    pub async fn use_link(&self, link_path: &str) -> (u16, Option<String>) {
        let (status, _, page) = self.get(link_path).await;
        if status != 200 {
            return (status, None);
        }
        let root = if link_path.starts_with("/refer") {
            "/refer"
        } else {
            "/inbox"
        };
        let csrf = hidden_field(&page, "csrf").expect("a CSRF field");
        let token = hidden_field(&page, "token").expect("the token");
        let next = hidden_field(&page, "next").unwrap_or_else(|| root.into());
        let (status, location, _) = self
            .post(
                &format!("{root}/sign-in/link"),
                &[("csrf", &csrf), ("token", &token), ("next", &next)],
            )
            .await;
        (status, location)
    }

    /// Signs in as the officer with `email`, through the link e-mailed to `relay`.
    pub async fn sign_in(app: &TestApp, relay: &SmtpRelay, email: &str) -> Browser {
        let browser = Browser::new(&app.base);
        let before = relay.messages().len();
        let (status, _) = browser.ask_for_link(email).await;
        assert_eq!(status, 200);
        let link = wait_for_link(relay, before).await;
        let (status, location) = browser.use_link(&link).await;
        assert_eq!(status, 303, "signed in");
        assert_eq!(location.as_deref(), Some("/inbox"));
        browser
    }
}

/// The path of the sign-in link in the first e-mail after the first `after` ones (waits for it).
pub async fn wait_for_link(relay: &SmtpRelay, after: usize) -> String {
    wait_for_link_at(relay, after, "/inbox").await
}

/// The e-mail after the first `after` ones, as text (waits for it).
pub async fn wait_for_email(relay: &SmtpRelay, after: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = relay.messages().get(after) {
            return email_text(m);
        }
        assert!(tokio::time::Instant::now() < deadline, "no e-mail arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for_link`] for the surface at `root`.
pub async fn wait_for_link_at(relay: &SmtpRelay, after: usize, root: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let marker = format!("{root}/sign-in/link?token=");
    loop {
        let messages = relay.messages();
        if let Some(m) = messages.get(after) {
            let text = email_text(m);
            let start = text.find(&marker).expect("a link");
            let end = text[start..]
                .find(char::is_whitespace)
                .map_or(text.len(), |e| e + start);
            return text[start..end].to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sign-in e-mail arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `value` has the shape `schema` (of the served OpenAPI `spec`) describes: references,
/// discriminated unions, `oneOf`/`anyOf`/`allOf`, `nullable`, `enum`, the JSON types, required
/// members — and no member an object's schema does not name, because a typed client drops or
/// rejects those. Enough of JSON Schema to hold the service's answers to its own spec in a Rust
/// test; the Python integrators' run checks with a full validator. `at` names the place in errors.
pub fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        let target = spec
            .pointer(&format!("/components/schemas/{name}"))
            .ok_or_else(|| format!("{at}: no schema {name}"))?;
        return conforms(spec, target, value, at);
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    if let Some(d) = schema.get("discriminator") {
        let property = d["propertyName"].as_str().unwrap_or_default();
        let key = value[property]
            .as_str()
            .ok_or_else(|| format!("{at}: no {property}"))?;
        let target = d["mapping"]
            .get(key)
            .ok_or_else(|| format!("{at}: {property} {key:?} is not in the mapping"))?;
        return conforms(spec, &serde_json::json!({ "$ref": target }), value, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            conforms(spec, part, value, at)?;
        }
    }
    for (key, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let matched = options
                .iter()
                .filter(|o| conforms(spec, o, value, at).is_ok())
                .count();
            if matched == 0 || (exactly_one && matched > 1) {
                return Err(format!(
                    "{at}: {matched} of the {key} options match {value}"
                ));
            }
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    let typed = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !typed {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(object), Some(properties)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: required member {name} is missing"));
            }
        }
        for (name, member) in object {
            let member_schema = properties
                .get(name)
                .ok_or_else(|| format!("{at}: member {name} is not in the schema"))?;
            conforms(spec, member_schema, member, &format!("{at}/{name}"))?;
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(spec, schema, item, &format!("{at}/{i}"))?;
        }
    }
    Ok(())
}

/// An authority's receiver on loopback that answers every push with `status`.
pub async fn receiver_answering(status: u16) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}
