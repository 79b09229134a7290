//! Storage faults for real: a small filesystem that fills up under load, then has space again.
//!
//! The tests mount a tmpfs of a few MiB, which needs root (CI runs as root). They are `#[ignore]`d,
//! so a plain `cargo test` lists them as ignored instead of passing them without a filesystem to
//! fill; `scripts/test` runs them with `--ignored` when it is root and says so when it is not.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::*;

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted when dropped.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(mib: u32) -> SmallFilesystem {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "could not mount a {mib} MiB tmpfs (these tests need root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFilesystem { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Takes `mib` MiB of the filesystem with a file, to be freed later.
fn ballast(path: &Path, mib: usize) -> PathBuf {
    let ballast = path.join("ballast");
    std::fs::write(&ballast, vec![0xA5u8; mib * 1024 * 1024]).unwrap();
    ballast
}

/// The service on SQLite with its database on `fs` (its audit key elsewhere).
async fn service_on(fs: &SmallFilesystem) -> TestApp {
    let keep = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", fs.path().join("dtr.db").display());
    let config = test_config(&url, keep.path());
    TestApp::spawn_with_config(config, keep).await
}

/// What one submission was answered.
#[derive(Debug)]
enum Answer {
    Created(String),
    Refused {
        status: u16,
        problem: Value,
        retry_after: Option<String>,
    },
}

async fn submit_one(client: &reqwest::Client, base: &str, key: &str, n: usize) -> Answer {
    let mut doc = referral();
    doc["case_reference"] = json!(format!("fill-{n}"));
    let resp = client
        .post(format!("{base}/v1/referrals"))
        .bearer_auth(key)
        .header("Idempotency-Key", format!("fill-{n}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap();
    if status == 201 {
        Answer::Created(body["id"].as_str().unwrap().to_owned())
    } else {
        Answer::Refused {
            status,
            problem: body,
            retry_after,
        }
    }
}

/// Every referral id in the database file, read directly.
async fn stored_ids(url: &str) -> BTreeSet<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT id FROM referrals",
        ))
        .await
        .unwrap();
    let ids = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    db.close().await.unwrap();
    ids
}

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "mounts a tmpfs, which needs root: scripts/test runs it with --ignored as root"]
async fn a_full_disk_never_answers_201_for_what_it_did_not_store_and_recovers_when_space_returns() {
    let fs = SmallFilesystem::mount(8);
    let app = service_on(&fs).await;
    let url = app.config.database_url.clone();
    let key = app.referrer("HMPPS Yorkshire").await;
    assert_eq!(readyz(&app).await, 200);
    // Half the filesystem goes to a file that is deleted later, to give space back.
    let ballast = ballast(fs.path(), 4);

    // Eight clients submit until the filesystem is full and every one of them has been refused a
    // few times: some submissions fill the last pages, the rest meet a full disk.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = vec![];
    for _ in 0..8 {
        let (base, key, next) = (app.base.clone(), key.clone(), next.clone());
        let client = app.client.clone();
        clients.push(tokio::spawn(async move {
            let mut answers = vec![];
            let mut refused = 0;
            while refused < 5 {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert!(n < 50_000, "the filesystem never filled");
                let answer = submit_one(&client, &base, &key, n).await;
                if matches!(answer, Answer::Refused { .. }) {
                    refused += 1;
                }
                answers.push((n, answer));
            }
            answers
        }));
    }
    let mut answers = vec![];
    for c in clients {
        answers.extend(c.await.unwrap());
    }
    let created: BTreeSet<String> = answers
        .iter()
        .filter_map(|(_, a)| match a {
            Answer::Created(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert!(
        created.len() > 10,
        "some submissions fitted before the disk filled"
    );
    for (n, answer) in &answers {
        if let Answer::Refused {
            status,
            problem,
            retry_after,
        } = answer
        {
            assert_eq!(*status, 503, "submission {n}: {problem}");
            assert_eq!(
                problem["type"], "urn:dtr:problem:storage.unavailable",
                "submission {n}: {problem}"
            );
            assert!(
                retry_after
                    .as_deref()
                    .and_then(|s| s.parse::<u32>().ok())
                    .is_some(),
                "submission {n}: Retry-After {retry_after:?}"
            );
        }
    }

    // While nothing can be written: readiness says so, and so does every submission.
    assert_eq!(readyz(&app).await, 503, "readiness while the disk is full");
    for n in 0..20 {
        match submit_one(&app.client, &app.base, &key, 100_000 + n).await {
            Answer::Refused {
                status, problem, ..
            } => {
                assert_eq!(status, 503, "{problem}");
                assert_eq!(problem["type"], "urn:dtr:problem:storage.unavailable");
            }
            Answer::Created(id) => panic!("{id} answered 201 on a full disk"),
        }
    }

    // Space returns: the service recovers by itself.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while readyz(&app).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness never recovered after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Make room for a few more: the WAL is the biggest file, and a full checkpoint shrinks it.
    app.checkpoint_wal().await;
    let mut after = BTreeSet::new();
    for n in 0..20 {
        match submit_one(&app.client, &app.base, &key, 200_000 + n).await {
            Answer::Created(id) => {
                after.insert(id);
            }
            Answer::Refused {
                status, problem, ..
            } => {
                panic!("after space returned, submission {n} answered {status}: {problem}")
            }
        }
    }

    // Every 201 is readable, and the database holds exactly the 201s: nothing else.
    let mut every: BTreeSet<String> = created.clone();
    every.extend(after.iter().cloned());
    for id in &every {
        let resp = app.get(&format!("/v1/referrals/{id}"), &key).await;
        assert_eq!(
            resp.status(),
            200,
            "referral {id} answered 201 but reads back {}",
            resp.status()
        );
    }
    assert_eq!(
        stored_ids(&url).await,
        every,
        "the database holds exactly the referrals answered 201"
    );

    // ...and after a restart too, with the chain intact.
    let app = app.restart().await;
    assert_eq!(stored_ids(&url).await, every, "after a restart");
    for id in every.iter().take(50) {
        assert_eq!(
            app.get(&format!("/v1/referrals/{id}"), &key).await.status(),
            200
        );
    }
    let verify: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verify["valid"], true, "{verify}");
    drop(app);
}

/// A PostgreSQL cluster of the test's own (Debian's binaries, run as the `postgres` user), so that
/// it can be restarted and stopped without disturbing other tests.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("db");
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl {args:?}");
    }

    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL from Debian's packages (scripts/test installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .expect("a PostgreSQL version");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chown = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let init = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("db"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(init.success(), "initdb");
        let pg = OwnPostgres { bin, dir, port };
        pg.pg_ctl(&["start", "-w", "-o", &pg.options()]);
        pg
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        )
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("db"))
            .args(["-m", "immediate", "stop"])
            .status();
    }
}

/// The `dtr_database_up` gauge as scraped.
async fn database_up(app: &TestApp) -> Option<String> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("dtr_database_up"))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "runs its own PostgreSQL cluster as the postgres user (root): scripts/test runs it with --ignored"]
async fn a_restarting_or_stopped_postgresql_answers_503_storage_unavailable_never_500_or_a_hang() {
    let pg = OwnPostgres::start();
    let keep = tempfile::tempdir().unwrap();
    let config = test_config(&pg.url(), keep.path());
    let app = TestApp::spawn_with_config(config, keep).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    assert_eq!(readyz(&app).await, 200);

    // A fast restart while eight clients submit: every answer is 201 or 503 storage.unavailable.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = vec![];
    for c in 0..8 {
        let (client, base, key, stop) = (
            app.client.clone(),
            app.base.clone(),
            key.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut answers = vec![];
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                answers.push(submit_one(&client, &base, &key, c * 100_000 + n).await);
                n += 1;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.pg_ctl(&["restart", "-m", "fast", "-w", "-o", &pg.options()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut created = BTreeSet::new();
    let mut refused = 0;
    for c in clients {
        for answer in c.await.unwrap() {
            match answer {
                Answer::Created(id) => {
                    created.insert(id);
                }
                Answer::Refused {
                    status,
                    problem,
                    retry_after,
                } => {
                    assert_eq!(status, 503, "{problem}");
                    assert_eq!(problem["type"], "urn:dtr:problem:storage.unavailable");
                    assert!(retry_after.is_some());
                    refused += 1;
                }
            }
        }
    }
    assert!(!created.is_empty());
    eprintln!(
        "during the restart: {} created, {refused} refused with 503",
        created.len()
    );
    // After the restart the service works again, by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Answer::Created(id) = submit_one(&app.client, &app.base, &key, 900_000).await {
            created.insert(id);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &created {
        assert_eq!(
            app.get(&format!("/v1/referrals/{id}"), &key).await.status(),
            200
        );
    }

    // Stopped: readiness, submissions and the gauge say so promptly.
    pg.pg_ctl(&["stop", "-m", "fast", "-w"]);
    let asked = std::time::Instant::now();
    assert_eq!(readyz(&app).await, 503);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "readiness took {:?}",
        asked.elapsed()
    );
    let asked = std::time::Instant::now();
    match submit_one(&app.client, &app.base, &key, 900_001).await {
        Answer::Refused {
            status, problem, ..
        } => {
            assert_eq!(status, 503);
            assert_eq!(problem["type"], "urn:dtr:problem:storage.unavailable");
        }
        Answer::Created(id) => panic!("{id} created with the database stopped"),
    }
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "a submission took {:?}",
        asked.elapsed()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while database_up(&app).await.as_deref() != Some("0") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dtr_database_up stayed 1"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Started again: ready again.
    pg.pg_ctl(&["start", "-w", "-o", &pg.options()]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while readyz(&app).await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
