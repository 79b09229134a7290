//! Black-box tests of the `dtr` process itself: logs, crashes, signals, several processes, and the
//! operator commands. Each test starts the real binary with a fresh database.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADMIN: &str = "process-test-admin-key-0123456789abcdef";

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database when
/// `DTR_TEST_POSTGRES_URL` is set.
async fn fresh_database(dir: &Path) -> String {
    match std::env::var("DTR_TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!("dtr_proc_{}", uuid_like());
            let admin = sea_orm::Database::connect(format!("{server}/postgres"))
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            format!("{server}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("dtr.db").display()),
    }
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t:x}{}", std::process::id())
}

fn postgres() -> bool {
    std::env::var("DTR_TEST_POSTGRES_URL").is_ok_and(|s| !s.is_empty())
}

/// A running `dtr serve` child process with its log file.
struct Dtr {
    child: Child,
    base: String,
    log: PathBuf,
}

fn dtr_command(db: &str, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtr"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DTR_DATABASE_URL", db)
        .env("DTR_BOOTSTRAP_ADMIN_KEY", ADMIN)
        .env("DTR_LISTEN", "127.0.0.1:0")
        .env("DTR_ALLOW_INSECURE_ENDPOINTS", "true")
        .env("DTR_RATE_LIMIT", "0")
        .env("DTR_RATE_LIMIT_ANON", "0");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

impl Dtr {
    async fn start(db: &str, log: PathBuf, extra: &[(&str, &str)]) -> Dtr {
        let mut cmd = dtr_command(db, extra);
        // Processes of one test share one service identity: the audit key beside their logs.
        if !extra.iter().any(|(k, _)| *k == "DTR_AUDIT_KEY_FILE") {
            if let Some(dir) = log.parent() {
                cmd.env("DTR_AUDIT_KEY_FILE", dir.join("dtr-audit.key"));
            }
        }
        cmd.arg("serve");
        let (child, base) = support::spawn_serving(cmd, &log);
        Dtr { child, base, log }
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no chance to clean up
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Dtr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn key(base: &str, body: Value) -> String {
    let r: Value = client()
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["key"].as_str().unwrap().to_owned()
}

fn referral(gss: &str) -> Value {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let likely = today.checked_add(jiff::ToSpan::days(20)).unwrap();
    json!({
        "person": { "given_name": "Process", "family_name": "Test", "contact": { "via_referrer": true } },
        "consent": { "referral": true, "share_contact_details": true, "recorded_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5)).to_string() },
        "housing_authority": { "gss_code": gss, "chosen_by_person": true },
        "housing_situation": { "reason": "threatened_with_homelessness", "likely_homeless_on": likely.to_string(), "rough_sleeping": "no", "summary": "Tenancy ending soon." },
        "referrer": { "name": "Ref Erer", "email": "ref@example.gov.uk" }
    })
}

async fn submit(base: &str, key: &str, doc: &Value) -> String {
    let r = client()
        .post(format!("{base}/v1/referrals"))
        .bearer_auth(key)
        .json(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn statuses(base: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/v1/referrals?limit=100&cursor={c}"),
            None => format!("{base}/v1/referrals?limit=100"),
        };
        let page: Value = client()
            .get(url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for i in page["items"].as_array().unwrap() {
            out.insert(
                i["id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn wait_all(base: &str, ids: &[String], status: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let s = statuses(base).await;
        if ids
            .iter()
            .all(|i| s.get(i).map(String::as_str) == Some(status))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all {status}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// webhook-ids seen per referral id.
async fn deliveries(server: &MockServer) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in server.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let wid = r
            .headers
            .get("webhook-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        out.entry(body["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(wid);
    }
    out
}

#[tokio::test]
async fn no_personal_data_reaches_the_logs_or_the_audit_trail_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let log = dir.path().join("dtr.log");
    let dtr = Dtr::start(
        &db,
        log.clone(),
        &[("DTR_LOG", "trace"), ("DTR_LOG_FORMAT", "json")],
    )
    .await;
    let base = dtr.base.clone();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let c = client();
    c.put(format!("{base}/v1/authorities/E06000001/endpoint"))
        .bearer_auth(ADMIN)
        .json(&json!({"url": format!("{}/hook", receiver.uri())}))
        .send()
        .await
        .unwrap();
    let referrer = key(
        &base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let authority = key(&base, json!({"role": "authority", "gss_code": "E08000039"})).await;
    let markers = [
        "Zephyrinemarker",
        "Quillfeathermarker",
        "zephyrine.q@example.org",
        "7911123457",
        "1977-07-07",
        "ZE1 9XY",
        "Summarymarker",
        "Riskmarker",
        "Medicalmarker",
        "CASE-MARKER-991",
        "Referrernamemarker",
        "referrer.marker@example.gov.uk",
        "Overridemarker",
        "Managermarker",
        "Receivedbymarker",
    ];
    let mut doc = json!({
        "person": {
            "given_name": "Zephyrinemarker", "family_name": "Quillfeathermarker", "date_of_birth": "1977-07-07",
            "contact": { "email": "zephyrine.q@example.org", "phone": "07911 123457", "address": { "line1": "1 Lane", "postcode": "ze1 9xy" } }
        },
        "consent": { "referral": false, "share_contact_details": true, "recorded_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5)).to_string(),
            "safeguarding_override": { "concern_for": "adult_at_risk", "reason": "Overridemarker: at risk of serious harm.", "authorised_by": "Managermarker" } },
        "housing_authority": { "gss_code": "E08000039", "chosen_by_person": true },
        "housing_situation": { "reason": "homeless", "rough_sleeping": "imminent", "summary": "Summarymarker and more words" },
        "risk": { "to_self": "Riskmarker" },
        "medical": { "key_information": "Medicalmarker" },
        "referrer": { "name": "Referrernamemarker", "email": "referrer.marker@example.gov.uk" },
        "case_reference": "CASE-MARKER-991"
    });
    // Valid to a pull authority, read and acknowledged; the same to a push authority; and an invalid one.
    let id = submit(&base, &referrer, &doc).await;
    c.get(format!("{base}/v1/referrals/{id}"))
        .bearer_auth(&authority)
        .send()
        .await
        .unwrap();
    c.post(format!("{base}/v1/referrals/{id}/acknowledge"))
        .bearer_auth(&authority)
        .json(&json!({"received_by": "Receivedbymarker"}))
        .send()
        .await
        .unwrap();
    doc["housing_authority"]["gss_code"] = json!("E06000001");
    let pushed = submit(&base, &referrer, &doc).await;
    doc["person"]["date_of_birth"] = json!("2099-01-01");
    let r = c
        .post(format!("{base}/v1/referrals"))
        .bearer_auth(&referrer)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    c.post(format!("{base}/v1/referrals/validate"))
        .bearer_auth(&referrer)
        .json(&doc)
        .send()
        .await
        .unwrap();
    wait_all(&base, std::slice::from_ref(&pushed), "delivered", 120).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);

    let audit_rows = {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(db.clone()).await.unwrap();
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT action, detail, actor_role FROM audit_events",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.try_get::<String>("", "action").unwrap(),
                    r.try_get::<String>("", "detail").unwrap(),
                    r.try_get::<String>("", "actor_role").unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    drop(dtr);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("\"level\":\"TRACE\""), "trace logging was on");
    for m in markers {
        let m = m.to_lowercase();
        assert!(
            !logs.to_lowercase().contains(&m),
            "{m} leaked into the logs"
        );
        assert!(
            !audit_rows.to_lowercase().contains(&m),
            "{m} leaked into the audit trail"
        );
    }
    assert!(
        audit_rows.contains("referral.rejected")
            && audit_rows.contains("person.date_of_birth_in_future")
    );
}

#[tokio::test]
async fn a_killed_process_loses_nothing_and_never_fakes_a_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let settings = [("DTR_RETRY_SCHEDULE", "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms"), ("DTR_DELIVERY_TIMEOUT", "1s")];
    let dtr = Dtr::start(&db, dir.path().join("1.log"), &settings).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    let c = client();
    c.put(format!("{}/v1/authorities/E06000001/endpoint", dtr.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": format!("{}/hook", receiver.uri())}))
        .send()
        .await
        .unwrap();
    let referrer = key(
        &dtr.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let mut ids = vec![];
    for _ in 0..20 {
        ids.push(submit(&dtr.base, &referrer, &referral("E06000001")).await);
    }
    // Let it fail some attempts, then kill it mid-stream.
    // Generous: a busy machine makes this slower, not failed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while receiver.received_requests().await.unwrap().len() < 30 {
        assert!(tokio::time::Instant::now() < deadline, "no attempts seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dtr.kill();
    let before = statuses_from_db(&db).await;
    assert!(
        before.values().all(|s| s == "queued"),
        "nothing was delivered while the receiver failed: {before:?}"
    );

    // Heal the receiver and restart on the same database.
    receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let dtr = Dtr::start(&db, dir.path().join("2.log"), &settings).await;
    wait_all(&dtr.base, &ids, "delivered", 120).await;
    let seen = deliveries(&receiver).await;
    for id in &ids {
        let wids: HashSet<&String> = seen.get(id).map(|v| v.iter().collect()).unwrap_or_default();
        assert_eq!(wids.len(), 1, "{id}: one webhook-id, received {wids:?}");
    }
    let verify: Value = c
        .get(format!("{}/v1/audit/verify", dtr.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["valid"], true);
}

async fn statuses_from_db(db: &str) -> HashMap<String, String> {
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(db.to_owned()).await.unwrap();
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, status FROM referrals",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "id").unwrap(),
                r.try_get::<String>("", "status").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sigterm_stops_the_service_cleanly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let dtr = Dtr::start(&db, dir.path().join("dtr.log"), &[]).await;
    let health = client()
        .get(format!("{}/healthz", dtr.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let status = tokio::task::spawn_blocking(move || dtr.terminate())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test runs it with DTR_TEST_POSTGRES_URL and --include-ignored"]
async fn two_processes_on_one_postgres_deliver_each_referral_exactly_once() {
    assert!(
        postgres(),
        "two processes share a database only on PostgreSQL: set DTR_TEST_POSTGRES_URL"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let a = Dtr::start(&db, dir.path().join("a.log"), &[]).await;
    let b = Dtr::start(&db, dir.path().join("b.log"), &[]).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(5)))
        .mount(&receiver)
        .await;
    client()
        .put(format!("{}/v1/authorities/E06000001/endpoint", a.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": format!("{}/hook", receiver.uri())}))
        .send()
        .await
        .unwrap();
    let referrer = key(
        &a.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let mut tasks = vec![];
    for i in 0..200 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let referrer = referrer.clone();
        tasks.push(tokio::spawn(async move {
            submit(&base, &referrer, &referral("E06000001")).await
        }));
    }
    let mut ids = vec![];
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    wait_all(&a.base, &ids, "delivered", 120).await;
    let seen = deliveries(&receiver).await;
    assert_eq!(seen.len(), 200);
    assert!(
        seen.values().all(|w| w.len() == 1),
        "each referral delivered exactly once"
    );
    let logs = format!(
        "{}{}",
        std::fs::read_to_string(&a.log).unwrap(),
        std::fs::read_to_string(&b.log).unwrap()
    );
    assert!(logs.contains("delivery attempt"));
}

fn run_dtr(db: &str, args: &[&str]) -> std::process::Output {
    dtr_command(db, &[]).args(args).output().unwrap()
}

#[tokio::test]
async fn keys_create_prints_the_key_alone_on_the_first_line_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let out = run_dtr(
        &db,
        &[
            "keys",
            "create",
            "--role",
            "referrer",
            "--organisation",
            "HMPPS Yorkshire",
            "--agency-type",
            "probation",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().next().unwrap().to_owned();
    assert!(key.starts_with("dtr_") && !key.contains(' '));
    assert!(String::from_utf8_lossy(&out.stderr).contains("role=referrer"));
    let dtr = Dtr::start(&db, dir.path().join("dtr.log"), &[]).await;
    let r = client()
        .get(format!("{}/v1/referrals", dtr.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(dtr);
    let bad = run_dtr(
        &db,
        &[
            "keys",
            "create",
            "--role",
            "referrer",
            "--organisation",
            "X",
            "--agency-type",
            "police",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--agency-type"));
    // The CLI names the authority as the API does (`gss_code`); `--authority` still works.
    for flag in ["--gss-code", "--authority"] {
        let authority = run_dtr(
            &db,
            &["keys", "create", "--role", "authority", flag, "E08000039"],
        );
        assert_eq!(authority.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&authority.stderr).contains("gss_code=E08000039"));
    }
    let unknown = run_dtr(
        &db,
        &[
            "keys",
            "create",
            "--role",
            "authority",
            "--gss-code",
            "E10000016",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--gss-code"));
    assert_eq!(
        run_dtr(&db, &["keys", "create", "--role", "root"])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn audit_verify_exits_0_when_intact_and_1_with_the_broken_seq() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    assert_eq!(run_dtr(&db, &["migrate"]).status.code(), Some(0));
    for _ in 0..3 {
        assert_eq!(
            run_dtr(&db, &["keys", "create", "--role", "admin"])
                .status
                .code(),
            Some(0)
        );
    }
    let ok = run_dtr(&db, &["audit", "verify"]);
    assert_eq!(ok.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["events"], 3);
    {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(db.clone()).await.unwrap();
        let drop_sql: &[&str] = if postgres() {
            &["DROP TRIGGER audit_events_no_update ON audit_events"]
        } else {
            &["DROP TRIGGER audit_events_no_update"]
        };
        for sql in drop_sql {
            conn.execute_unprepared(sql).await.unwrap();
        }
        conn.execute_unprepared("UPDATE audit_events SET detail = '{}' WHERE seq = 2")
            .await
            .unwrap();
    }
    let broken = run_dtr(&db, &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(report["first_broken"], 2);
    assert!(String::from_utf8_lossy(&broken.stderr).contains("seq 2"));
}

#[test]
fn dtr_openapi_prints_the_committed_spec() {
    let out = Command::new(env!("CARGO_BIN_EXE_dtr"))
        .arg("openapi")
        .output()
        .unwrap();
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .unwrap();
    assert!(
        out.stdout == committed,
        "openapi/openapi.json is stale: run `cargo run -p api -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn a_bad_configuration_value_names_the_variable_and_exits_2() {
    let out = dtr_command("sqlite::memory:", &[("DTR_RETRY_SCHEDULE", "whenever")])
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DTR_RETRY_SCHEDULE"));
}

#[tokio::test]
async fn logs_to_a_file_have_no_colour_codes_and_insecure_mode_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let log = dir.path().join("dtr.log");
    // dtr_command sets DTR_ALLOW_INSECURE_ENDPOINTS=true.
    let dtr = Dtr::start(&db, log.clone(), &[]).await;
    client()
        .get(format!("{}/healthz", dtr.base))
        .send()
        .await
        .unwrap();
    drop(dtr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a log file:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("DTR_ALLOW_INSECURE_ENDPOINTS")),
        "{text}"
    );
}

async fn count_where(db: &str, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let conn = sea_orm::Database::connect(db.to_owned()).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get_by_index(0).unwrap();
    conn.close().await.ok();
    n
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test runs it with DTR_TEST_POSTGRES_URL and --include-ignored"]
async fn an_endpoint_set_or_removed_during_submissions_on_another_process_leaves_none_in_the_wrong_mode(
) {
    assert!(postgres(), "set DTR_TEST_POSTGRES_URL");
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    // A receiver that keeps refusing, and a long schedule: pushed referrals stay queued.
    let settings = [("DTR_RETRY_SCHEDULE", "1h")];
    let a = Dtr::start(&db, dir.path().join("a.log"), &settings).await;
    let b = Dtr::start(&db, dir.path().join("b.log"), &settings).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&receiver)
        .await;
    let referrer = key(
        &a.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    for round in 0..6 {
        let submissions: Vec<_> = (0..60)
            .map(|_| {
                let (base, referrer) = (a.base.clone(), referrer.clone());
                tokio::spawn(async move { submit(&base, &referrer, &referral("E06000001")).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5 * (round % 3))).await;
        let change = if round % 2 == 0 {
            client()
                .put(format!("{}/v1/authorities/E06000001/endpoint", b.base))
                .bearer_auth(ADMIN)
                .json(&json!({"url": format!("{}/hook", receiver.uri())}))
                .send()
                .await
                .unwrap()
        } else {
            client()
                .delete(format!("{}/v1/authorities/E06000001/endpoint", b.base))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
        };
        assert!(change.status().is_success(), "round {round}");
        for s in submissions {
            s.await.unwrap();
        }
        let stranded = if round % 2 == 0 {
            // The endpoint exists: nothing may wait in the inbox.
            "SELECT count(*) FROM referrals WHERE gss_code = 'E06000001' AND (status = 'awaiting_collection' OR delivery_mode = 'pull')"
        } else {
            // No endpoint: nothing may wait for a push.
            "SELECT count(*) FROM referrals WHERE gss_code = 'E06000001' AND (status IN ('queued', 'failed') OR delivery_mode = 'push')"
        };
        assert_eq!(count_where(&db, stranded).await, 0, "round {round}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test runs it with DTR_TEST_POSTGRES_URL and --include-ignored"]
async fn a_feed_poller_sees_every_accepted_referral_of_two_processes_once_and_in_order() {
    assert!(postgres(), "set DTR_TEST_POSTGRES_URL");
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let a = Dtr::start(&db, dir.path().join("a.log"), &[]).await;
    let b = Dtr::start(&db, dir.path().join("b.log"), &[]).await;
    let referrer = key(
        &a.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let poller = {
        let (base, referrer) = (a.base.clone(), referrer.clone());
        tokio::spawn(async move {
            let mut cursor = String::new();
            let mut seen: Vec<(i64, String)> = vec![];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while seen.len() < 200 && tokio::time::Instant::now() < deadline {
                let page: Value = client()
                    .get(format!("{base}/v1/events?after={cursor}&limit=37&wait=5"))
                    .bearer_auth(&referrer)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for e in page["items"].as_array().unwrap() {
                    if e["action"] == "referral.accepted" {
                        seen.push((
                            e["seq"].as_i64().unwrap(),
                            e["referral_id"].as_str().unwrap().to_owned(),
                        ));
                    }
                }
                cursor = page["next_cursor"].as_str().unwrap().to_owned();
            }
            seen
        })
    };
    let mut tasks = vec![];
    for i in 0..200 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let referrer = referrer.clone();
        tasks.push(tokio::spawn(async move {
            submit(&base, &referrer, &referral("E08000039")).await
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    let seen = poller.await.unwrap();
    let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order");
    let seen_ids: HashSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(seen.len(), 200, "each exactly once");
    assert_eq!(seen_ids, ids);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test runs it with DTR_TEST_POSTGRES_URL and --include-ignored"]
async fn a_key_revoked_on_one_process_is_refused_by_another_within_5_seconds() {
    assert!(postgres(), "set DTR_TEST_POSTGRES_URL");
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let a = Dtr::start(&db, dir.path().join("a.log"), &[]).await;
    let b = Dtr::start(&db, dir.path().join("b.log"), &[]).await;
    let created: Value = client()
        .post(format!("{}/v1/api-keys", a.base))
        .bearer_auth(ADMIN)
        .json(&json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    );
    let status = |base: String, key: String| async move {
        client()
            .get(format!("{base}/v1/referrals"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // B knows a key created on A at once (a miss reloads the keys).
    assert_eq!(status(b.base.clone(), key.clone()).await, 200);
    let revoked = client()
        .delete(format!("{}/v1/api-keys/{id}", a.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let at = tokio::time::Instant::now();
    assert_eq!(
        status(a.base.clone(), key.clone()).await,
        401,
        "at once where revoked"
    );
    loop {
        if status(b.base.clone(), key.clone()).await == 401 {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(5),
            "the other process still accepts the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn deliveries_ignore_proxies_named_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    // A proxy that does not exist: a delivery routed through it would fail to connect.
    let dead = "http://127.0.0.1:9";
    let dtr = Dtr::start(
        &db,
        dir.path().join("dtr.log"),
        &[
            ("HTTPS_PROXY", dead),
            ("HTTP_PROXY", dead),
            ("ALL_PROXY", dead),
            ("https_proxy", dead),
            ("http_proxy", dead),
        ],
    )
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    client()
        .put(format!("{}/v1/authorities/E06000001/endpoint", dtr.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": format!("{}/hook", receiver.uri())}))
        .send()
        .await
        .unwrap();
    let referrer = key(
        &dtr.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let id = submit(&dtr.base, &referrer, &referral("E06000001")).await;
    wait_all(&dtr.base, std::slice::from_ref(&id), "delivered", 120).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

/// How an authority keeps a checkpoint: the JSON of `GET /v1/audit/checkpoint`, saved to a file.
async fn save_checkpoint(base: &str, key: &str, path: &Path) -> Value {
    let resp = client()
        .get(format!("{base}/v1/audit/checkpoint"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    std::fs::write(path, &text).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A service with some history (keys, submissions, reads) and a checkpoint an authority saved
/// after it; the service is stopped so the database can be tampered with.
async fn history_and_checkpoint(dir: &Path, db: &str) -> (PathBuf, Value) {
    let dtr = Dtr::start(db, dir.join("dtr.log"), &[]).await;
    let referrer = key(
        &dtr.base,
        json!({"role": "referrer", "organisation": "Org", "agency_type": "prison"}),
    )
    .await;
    let authority = key(
        &dtr.base,
        json!({"role": "authority", "gss_code": "E06000001"}),
    )
    .await;
    for _ in 0..3 {
        let id = submit(&dtr.base, &referrer, &referral("E06000001")).await;
        let read = client()
            .get(format!("{}/v1/referrals/{id}", dtr.base))
            .bearer_auth(&authority)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
    }
    let path = dir.join("checkpoint-day-1.json");
    let checkpoint = save_checkpoint(&dtr.base, &authority, &path).await;
    assert!(checkpoint["events"].as_u64().unwrap() >= 10);
    dtr.terminate();
    (path, checkpoint)
}

fn verify_with(db: &str, dir: &Path, checkpoints: &[&Path]) -> std::process::Output {
    let key = dir.join("dtr-audit.key");
    let mut cmd = dtr_command(db, &[("DTR_AUDIT_KEY_FILE", key.to_str().unwrap())]);
    cmd.args(["audit", "verify"]);
    for c in checkpoints {
        cmd.arg("--checkpoint").arg(c);
    }
    cmd.output().unwrap()
}

/// The chain as an attacker with database access leaves it: the triggers dropped, `keep` decides
/// which events survive, and every survivor renumbered and re-hashed so the chain alone verifies.
async fn rewrite_chain(db: &str, keep: impl Fn(i64, i64) -> bool) {
    use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryOrder};
    let conn = sea_orm::Database::connect(db.to_owned()).await.unwrap();
    let drop_sql: &[&str] = if postgres() {
        &["DROP TRIGGER audit_events_no_update ON audit_events"]
    } else {
        &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ]
    };
    for sql in drop_sql {
        conn.execute_unprepared(sql).await.unwrap();
    }
    let rows = api::audit_event::Entity::find()
        .order_by_asc(api::audit_event::Column::Seq)
        .all(&conn)
        .await
        .unwrap();
    let total = rows.len() as i64;
    conn.execute_unprepared("DELETE FROM audit_events")
        .await
        .unwrap();
    let mut prev = "0".repeat(64);
    let mut seq = 0;
    for mut row in rows.into_iter().filter(|r| keep(r.seq, total)) {
        seq += 1;
        row.seq = seq;
        row.prev_hash = prev.clone();
        row.hash = api::audit::expected_hash(&row);
        prev = row.hash.clone();
        row.into_active_model()
            .reset_all()
            .insert(&conn)
            .await
            .unwrap();
    }
}

/// What every tampering test checks: the chain alone still says valid (the attack works against
/// the bare chain), and the saved checkpoint catches it, naming its file.
fn assert_only_the_checkpoint_catches_it(db: &str, dir: &Path, checkpoint: &Path) {
    let alone = verify_with(db, dir, &[]);
    assert_eq!(
        alone.status.code(),
        Some(0),
        "the re-hashed chain verifies on its own: {}",
        String::from_utf8_lossy(&alone.stdout)
    );
    let against = verify_with(db, dir, &[checkpoint]);
    assert_eq!(against.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&against.stderr);
    assert!(
        stderr.contains(checkpoint.to_str().unwrap()),
        "names the checkpoint: {stderr}"
    );
    let report: Value = serde_json::from_slice(&against.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["checkpoints"][0]["valid"], false);
}

#[tokio::test]
async fn a_checkpoint_holds_against_the_untouched_chain_and_a_forged_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let (checkpoint, saved) = history_and_checkpoint(dir.path(), &db).await;
    // More events after the checkpoint do not matter: the chain still holds its head.
    assert_eq!(
        run_dtr(&db, &["keys", "create", "--role", "admin"])
            .status
            .code(),
        Some(0)
    );
    let ok = verify_with(&db, dir.path(), &[&checkpoint]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["checkpoints"][0]["valid"], true);
    // The public key printed by the CLI is the one the checkpoint carries.
    let key_file = dir.path().join("dtr-audit.key");
    let printed = dtr_command(&db, &[("DTR_AUDIT_KEY_FILE", key_file.to_str().unwrap())])
        .args(["audit", "public-key"])
        .output()
        .unwrap();
    assert_eq!(printed.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout).trim(),
        saved["public_key"].as_str().unwrap()
    );
    // With only the public key (no key file), as an auditor would check it.
    let by_public_key = dtr_command(&db, &[("DTR_AUDIT_KEY_FILE", "/nonexistent/dtr-audit.key")])
        .args(["audit", "verify", "--public-key"])
        .arg(saved["public_key"].as_str().unwrap())
        .arg("--checkpoint")
        .arg(&checkpoint)
        .output()
        .unwrap();
    assert_eq!(by_public_key.status.code(), Some(0));
    // A forged checkpoint: the same content with its head changed fails its signature.
    let mut forged = saved.clone();
    forged["head"] = json!("f".repeat(64));
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = verify_with(&db, dir.path(), &[&checkpoint, &forged_path]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("forged.json"), "{stderr}");
    assert!(stderr.contains("signature"), "{stderr}");
}

#[tokio::test]
async fn a_checkpoint_catches_a_chain_recomputed_after_deleting_a_middle_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let (checkpoint, saved) = history_and_checkpoint(dir.path(), &db).await;
    let n = saved["events"].as_i64().unwrap();
    // Event 5 goes, and one forged event is added at the end so the chain is as long as before:
    // the checkpoint's position now holds another hash.
    rewrite_chain(&db, |seq, _| seq != 5).await;
    {
        use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QueryOrder};
        let conn = sea_orm::Database::connect(db.clone()).await.unwrap();
        let mut last = api::audit_event::Entity::find()
            .order_by_desc(api::audit_event::Column::Seq)
            .one(&conn)
            .await
            .unwrap()
            .unwrap();
        last.prev_hash = last.hash.clone();
        last.seq += 1;
        last.hash = api::audit::expected_hash(&last);
        assert_eq!(last.seq, n);
        last.into_active_model()
            .reset_all()
            .insert(&conn)
            .await
            .unwrap();
    }
    assert_only_the_checkpoint_catches_it(&db, dir.path(), &checkpoint);
    let out = verify_with(&db, dir.path(), &[&checkpoint]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rewritten"));
}

#[tokio::test]
async fn a_checkpoint_catches_a_truncated_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let (checkpoint, _) = history_and_checkpoint(dir.path(), &db).await;
    rewrite_chain(&db, |seq, total| seq <= total - 3).await;
    assert_only_the_checkpoint_catches_it(&db, dir.path(), &checkpoint);
}

#[tokio::test]
async fn a_checkpoint_catches_an_emptied_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let (checkpoint, _) = history_and_checkpoint(dir.path(), &db).await;
    rewrite_chain(&db, |_, _| false).await;
    assert_only_the_checkpoint_catches_it(&db, dir.path(), &checkpoint);
    let out = verify_with(&db, dir.path(), &[&checkpoint]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events"], 0);
}

/// The number of referrals in a SQLite file opened alone (no WAL beside it).
async fn referrals_in_file_alone(file: &Path) -> i64 {
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("copy.db");
    std::fs::copy(file, &copy).unwrap();
    count_where(
        &format!("sqlite://{}?mode=ro", copy.display()),
        "SELECT count(*) FROM referrals",
    )
    .await
}

#[tokio::test]
async fn after_sigterm_the_database_file_alone_holds_every_referral() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtr.db");
    let db = format!("sqlite://{}?mode=rwc", file.display());
    let dtr = Dtr::start(&db, dir.path().join("dtr.log"), &[]).await;
    let referrer = key(
        &dtr.base,
        json!({"role":"referrer","organisation":"HMPPS","agency_type":"probation"}),
    )
    .await;
    let doc = referral("E08000039");
    // Ten clients at once, as in service: the last commits are still in the WAL at the stop.
    let mut clients = vec![];
    for _ in 0..10 {
        let (base, referrer, doc) = (dtr.base.clone(), referrer.clone(), doc.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..30 {
                submit(&base, &referrer, &doc).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let status = tokio::task::spawn_blocking(move || dtr.terminate())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let wal = std::fs::metadata(dir.path().join("dtr.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is empty (or gone) after a clean stop");
    assert_eq!(referrals_in_file_alone(&file).await, 300);
}

#[tokio::test]
async fn dtr_backup_copies_a_live_database_that_opens_verifies_and_holds_every_referral() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtr.db");
    let db = format!("sqlite://{}?mode=rwc", file.display());
    let dtr = Dtr::start(&db, dir.path().join("dtr.log"), &[]).await;
    let referrer = key(
        &dtr.base,
        json!({"role":"referrer","organisation":"HMPPS","agency_type":"probation"}),
    )
    .await;
    let doc = referral("E08000039");
    let mut ids = vec![];
    for _ in 0..120 {
        ids.push(submit(&dtr.base, &referrer, &doc).await);
    }
    // While dtr runs, the last commits are still in its WAL: the copy has them anyway.
    let copy = dir.path().join("backup.db");
    let out = run_dtr(&db, &["backup", copy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy is readable by its owner only");
    }
    // A second copy to the same name is refused, leaving the first untouched.
    let again = run_dtr(&db, &["backup", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    drop(dtr);

    // Restore: the copy alone is the database.
    let restored = tempfile::tempdir().unwrap();
    let restored_file = restored.path().join("dtr.db");
    std::fs::copy(&copy, &restored_file).unwrap();
    let restored_db = format!("sqlite://{}?mode=rwc", restored_file.display());
    let verify = dtr_command(&restored_db, &[])
        .env("DTR_AUDIT_KEY_FILE", dir.path().join("dtr-audit.key"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let stored = statuses_from_db(&restored_db).await;
    for id in &ids {
        assert!(stored.contains_key(id), "{id} is in the copy");
    }
    assert_eq!(stored.len(), ids.len());
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dtr.db");
    let db = format!("sqlite://{}?mode=rwc", file.display());
    let dtr = Dtr::start(&db, dir.path().join("dtr.log"), &[]).await;
    let referrer = key(
        &dtr.base,
        json!({"role":"referrer","organisation":"HMPPS","agency_type":"probation"}),
    )
    .await;
    submit(&dtr.base, &referrer, &referral("E08000039")).await;
    for name in ["dtr.db", "dtr.db-wal", "dtr.db-shm", "dtr-audit.key"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
    drop(dtr);
    // An existing key file that others may read is warned about at start-up.
    std::fs::set_permissions(
        dir.path().join("dtr-audit.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let dtr = Dtr::start(&db, dir.path().join("again.log"), &[]).await;
    let log = std::fs::read_to_string(&dtr.log).unwrap();
    assert!(log.contains("may be read by other users"), "{log}");
}
