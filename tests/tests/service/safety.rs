//! Safe on the open internet (docs/contract.md §11): bounded metrics, slow clients, revocable keys,
//! limits for unknown callers, SSRF rules at every attempt, bounded audit of abuse, and honest
//! answers to timed-out submissions.

use serde_json::{json, Value};
use std::time::Duration;
use tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn invented_methods_are_counted_as_other_and_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    for i in 0..50 {
        let method = format!("X{}", "Z".repeat(2000 + i));
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket
            .write_all(
                format!("{method} /v1/referrals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = vec![];
        socket.read_to_end(&mut answer).await.unwrap();
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("ZZZZZZZZ"),
        "an invented method became a label"
    );
    assert!(
        metrics.contains("route=\"OTHER /v1/referrals\""),
        "{metrics}"
    );
    assert!(metrics.len() < 64 * 1024, "{} bytes", metrics.len());
}

#[tokio::test]
async fn the_queue_depth_is_unknown_rather_than_zero_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let state = &app.running.as_ref().unwrap().state;
    state.db.close().await;
    state.metrics.refresh_queue_depth(state.db.conn()).await;
    let metrics = state.metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l == "dtr_referrals{status=\"queued\"} NaN"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "dtr_database_up 0"),
        "{metrics}"
    );
}

async fn closed_within(socket: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (e.g. 408) before the close
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::spawn_with(|c| {
        c.slow_clients.headers = Duration::from_millis(500);
        c.slow_clients.idle = Duration::from_secs(30);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A byte now and then does not keep it open.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"X").await.is_err() {
            break;
        }
    }
    assert!(
        closed_within(&mut slow, Duration::from_secs(30)).await,
        "the slow client was not disconnected"
    );
    // A silent connection is held to the same limit.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(30)).await);
    // Meanwhile an ordinary client is served.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_not_before_its_time() {
    let app = TestApp::spawn_with(|c| {
        c.slow_clients.headers = Duration::from_millis(300);
        c.slow_clients.idle = Duration::from_secs(20);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = [0u8; 4096];
    conn.write_all(request).await.unwrap();
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Idle for longer than the header limit but well inside the idle one: still usable.
    tokio::time::sleep(Duration::from_secs(1)).await;
    conn.write_all(request).await.unwrap();
    let n = conn.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "a keep-alive connection idle for a second is still served"
    );
    assert!(
        closed_within(&mut conn, Duration::from_secs(60)).await,
        "the idle connection was never closed"
    );
}

#[tokio::test]
async fn keys_are_listed_without_their_value_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    let created: Value = app
        .post(
            "/v1/api-keys",
            ADMIN_KEY,
            &json!({"role": "referrer", "organisation": "Org", "agency_type": "probation"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    );
    assert_eq!(app.get("/v1/referrals", &key).await.status(), 200);
    let list = app.get("/v1/api-keys", ADMIN_KEY).await;
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    assert!(!text.contains(&key), "a key's value is never listed");
    let list: Value = serde_json::from_str(&text).unwrap();
    let mine = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["role"], "referrer");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    assert!(mine["revoked_at"].is_null());
    assert_problem(app.delete(&format!("/v1/api-keys/{id}"), &key).await, 403).await;
    let resp = app.delete(&format!("/v1/api-keys/{id}"), ADMIN_KEY).await;
    assert_eq!(resp.status(), 204);
    assert_problem(app.get("/v1/referrals", &key).await, 401).await;
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{id}"), ADMIN_KEY)
            .await
            .status(),
        204,
        "revoking again changes nothing"
    );
    assert_problem(
        app.delete(
            "/v1/api-keys/00000000-0000-4000-8000-000000000000",
            ADMIN_KEY,
        )
        .await,
        404,
    )
    .await;
    let list: Value = app
        .get("/v1/api-keys", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let mine = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(mine["revoked_at"].is_string());
    let trail: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail["valid"], true);
}

#[tokio::test]
async fn the_last_active_admin_key_cannot_be_revoked() {
    let app = TestApp::spawn().await;
    let list: Value = app
        .get("/v1/api-keys", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let bootstrap = list["items"][0]["id"].as_str().unwrap().to_owned();
    let problem = assert_problem(
        app.delete(&format!("/v1/api-keys/{bootstrap}"), ADMIN_KEY)
            .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:dtr:problem:api_key.last_admin");
    let second = app.key(json!({"role": "admin"})).await;
    assert_eq!(
        app.delete(&format!("/v1/api-keys/{bootstrap}"), &second)
            .await
            .status(),
        204
    );
    assert_problem(app.get("/v1/api-keys", ADMIN_KEY).await, 401).await;
}

#[tokio::test]
async fn a_changed_bootstrap_key_replaces_the_old_one_at_start_up() {
    let app = TestApp::spawn().await;
    let old = app.key(json!({"role": "admin"})).await; // so revoking the old bootstrap key is allowed
    let new_value = "a-new-bootstrap-admin-key-0123456789abcdef";
    let mut config = app.config.clone();
    config.bootstrap_admin_key = Some(new_value.to_owned());
    let app = app.restart_with(config).await;
    assert_problem(app.get("/v1/api-keys", ADMIN_KEY).await, 401).await;
    assert_eq!(app.get("/v1/api-keys", new_value).await.status(), 200);
    assert_eq!(
        app.get("/v1/api-keys", &old).await.status(),
        200,
        "other admin keys stay"
    );
    // Unset: no bootstrap key remains.
    let mut config = app.config.clone();
    config.bootstrap_admin_key = None;
    let app = app.restart_with(config).await;
    assert_problem(app.get("/v1/api-keys", new_value).await, 401).await;
    let list: Value = app.get("/v1/api-keys", &old).await.json().await.unwrap();
    let revoked = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_string())
        .count();
    assert_eq!(revoked, 2, "both bootstrap keys are revoked: {list}");
}

#[tokio::test]
async fn a_flood_of_unknown_tokens_costs_a_bounded_number_of_database_queries() {
    let app = TestApp::spawn().await;
    let state = &app.running.as_ref().unwrap().state;
    state.keys.reload(state.db.conn()).await.unwrap();
    let db = state.db.clone();
    db.close().await;
    // With the database gone, every lookup that does reach it fails: count them.
    let mut queries = 0;
    for i in 0..1000 {
        match state
            .keys
            .authenticate(db.conn(), &format!("dtr_random-{i}"), 0)
            .await
        {
            Ok(caller) => assert!(caller.is_none()),
            Err(_) => queries += 1,
        }
    }
    assert!(
        queries <= 20,
        "{queries} database queries for 1,000 unknown tokens"
    );
}

#[tokio::test]
async fn callers_without_a_known_key_are_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.rate_limit_anon = 3).await;
    let key = app.referrer("Org").await;
    for _ in 0..3 {
        assert_problem(app.get("/v1/referrals", "dtr_unknown").await, 401).await;
    }
    let limited = app.get("/v1/referrals", "dtr_unknown").await;
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_problem(limited, 429).await;
    // No key at all counts the same; a forged X-Forwarded-For does not help.
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    // A known key has its own bucket.
    assert_eq!(app.get("/v1/referrals", &key).await.status(), 200);
    app.advance(Duration::from_millis(334));
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_anon = 1;
        c.trusted_proxies = vec![api::config::Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    let from = |client: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/healthz"))
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(from("198.51.100.1").await, 200);
    assert_eq!(from("198.51.100.1").await, 429);
    assert_eq!(
        from("198.51.100.2").await,
        200,
        "another client behind the proxy"
    );
}

#[tokio::test]
async fn an_endpoint_stored_under_insecure_mode_is_refused_once_it_is_off() {
    let app = TestApp::spawn().await; // insecure mode on (loopback receivers)
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("Org").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut config = app.config.clone();
    config.allow_insecure_endpoints = false;
    let app = app.restart_with(config).await;
    assert_eq!(app.step().await, 1);
    let failed = app.state_of(&id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["delivery"]["last_error"], "endpoint_not_allowed");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn internal_and_privileged_port_endpoints_are_refused_when_set() {
    let app = TestApp::spawn_with(|c| c.allow_insecure_endpoints = false).await;
    for url in [
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
        "https://housing.example.gov.uk:22/hook",
    ] {
        let problem = assert_problem(
            app.put(
                "/v1/authorities/E08000039/endpoint",
                ADMIN_KEY,
                &json!({ "url": url }),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(
            problem["type"], "urn:dtr:problem:endpoint.url_not_allowed",
            "{url}"
        );
    }
}

#[tokio::test]
async fn abuse_writes_a_bounded_audit_event_and_answer() {
    let app = TestApp::spawn().await;
    let key = app.referrer("Org").await;
    let mut doc = referral();
    for i in 0..6000 {
        doc[format!("u{i}")] = json!(1);
    }
    let body = doc.to_string();
    assert!(body.len() < 65536, "{}", body.len());
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 422).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 200);
    assert_eq!(problem["more_errors"], 5800);
    let trail: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail["valid"], true);
    // The rejection holds each distinct code once.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.config.database_url.clone())
        .await
        .unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT detail FROM audit_events WHERE action = 'referral.rejected'",
        ))
        .await
        .unwrap()
        .unwrap();
    let detail: String = row.try_get_by_index(0).unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["error_codes"], json!(["field.unknown"]));
    assert!(detail.to_string().len() < 200);
}

#[tokio::test]
async fn a_submission_that_times_out_says_its_outcome_is_unknown_and_a_retry_finds_it() {
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(500)).await;
    let key = app.referrer("Org").await;
    // Stall the writer: another connection holds the database's write lock (on PostgreSQL, the
    // audit chain's lock) for longer than the request may take.
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let other = sea_orm::Database::connect(app.config.database_url.clone())
        .await
        .unwrap();
    let held = if is_postgres() {
        let txn = other.begin().await.unwrap();
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            api::audit::CHAIN_LOCK
        ))
        .await
        .unwrap();
        txn
    } else {
        let txn = other
            .begin_with_options(sea_orm::TransactionOptions {
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .unwrap();
        txn
    };
    let doc = referral();
    let submit = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("Idempotency-Key", "stalled-1")
        .json(&doc)
        .send();
    let resp = submit.await.unwrap();
    let problem = assert_problem(resp, 503).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("unknown"), "{detail}");
    assert!(!detail.contains("nothing was changed"), "{detail}");
    // The writer goes on and commits once the lock is released.
    held.commit().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let again = loop {
        let resp = app
            .client
            .post(app.url("/v1/referrals"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "stalled-1")
            .json(&doc)
            .send()
            .await
            .unwrap();
        if resp.status() == 201 {
            break resp.json::<Value>().await.unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "one referral");
    assert_eq!(list["items"][0]["id"], again["id"]);
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_refused_at_once_with_503_and_health_still_answers(
) {
    let app = TestApp::spawn_with(|c| c.max_concurrent_requests = 1).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut pending = vec![];
    // More at once than may wait their turn (256: `BURST_QUEUE` in `http::middleware`) beside the
    // one handled.
    for n in 0..306 {
        let (client, url, key) = (app.client.clone(), app.url("/v1/referrals"), key.clone());
        let mut doc = referral();
        doc["case_reference"] = serde_json::json!(format!("burst-{n}"));
        pending.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", format!("burst-{n}"))
                .json(&doc)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").cloned();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, retry_after, body)
        }));
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health is never held back");
    let (mut created, mut refused) = (0, 0);
    for p in pending {
        let (status, retry_after, body) = p.await.unwrap();
        match status {
            201 => created += 1,
            503 => {
                assert_eq!(body["type"], "urn:dtr:problem:service.overloaded", "{body}");
                assert!(retry_after.is_some());
                refused += 1;
            }
            other => panic!("answered {other}: {body}"),
        }
    }
    assert!(
        created >= 1 && refused >= 1,
        "{created} created, {refused} refused"
    );
    // Nothing refused was stored; the gate is open again afterwards.
    let stored = app.all_items("/v1/referrals", ADMIN_KEY).await.len();
    assert_eq!(stored, created);
    let after = app.post("/v1/referrals", &key, &referral()).await;
    assert_eq!(after.status(), 201);
}

#[tokio::test]
async fn a_body_that_trickles_holds_no_place_and_is_answered_408_when_it_is_overdue() {
    let app = TestApp::spawn_with(|c| {
        c.max_concurrent_requests = 2;
        // Longer than a request waits for a place in a burst (2 s), so that were the places taken
        // before the body, the whole submission below would be refused before the slow ones end.
        c.body_timeout = Duration::from_secs(3);
    })
    .await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Twice as many slow uploads as places: headers and the start of a body, then nothing.
    let mut slow = vec![];
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/referrals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"person\":"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    // Let the service read their headers, so that on a gate taken before the body they would
    // hold both places.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = app.post("/v1/referrals", &key, &referral()).await;
    assert_eq!(
        resp.status(),
        201,
        "a complete submission is handled beside them"
    );
    for mut s in slow {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("nothing was done") {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                other => panic!(
                    "no whole answer ({other:?}): {}",
                    String::from_utf8_lossy(&answer)
                ),
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the whole one is stored"
    );
}

#[tokio::test]
async fn blank_lines_before_a_request_do_not_stop_the_header_clock() {
    let app = TestApp::spawn_with(|c| {
        c.slow_clients.headers = Duration::from_millis(500);
        c.slow_clients.idle = Duration::from_secs(30);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut sockets = vec![];
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"\r\n\r\n").await.unwrap();
        sockets.push(s);
    }
    for s in &mut sockets {
        assert!(
            closed_within(s, Duration::from_secs(10)).await,
            "a connection that sent only a blank line was left open"
        );
    }
    // A request after leading line breaks is still served.
    let mut ok = tokio::net::TcpStream::connect(&addr).await.unwrap();
    ok.write_all(b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn cleartext_http2_prior_knowledge_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut h2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut h2, Duration::from_secs(5)).await,
        "a cleartext HTTP/2 connection was kept open"
    );
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share_of_connections() {
    let app = TestApp::spawn_with(|c| c.max_connections_per_client = 5).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = vec![];
    for _ in 0..5 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // The sixth is closed at once, without an answer.
    let mut sixth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut sixth, Duration::from_secs(5)).await);
    // Giving connections back makes room again.
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(app.url("/healthz"))
            .send()
            .await;
        if resp.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no room after the connections closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ipv6_clients_share_one_allowance_per_64() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limit_anon = 2;
        c.trusted_proxies = vec![api::config::Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    let from = |client: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/healthz"))
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(from("2001:db8:5:6::1").await, 200);
    assert_eq!(from("2001:db8:5:6::2").await, 200);
    assert_eq!(
        from("2001:db8:5:6:ffff::3").await,
        429,
        "a third address in the same /64 shares the allowance"
    );
    assert_eq!(
        from("2001:db8:5:7::1").await,
        200,
        "another /64 has its own"
    );
}
