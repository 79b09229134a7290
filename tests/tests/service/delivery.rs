//! Push delivery with Standard Webhooks signatures and retries, the pull inbox, acknowledgement,
//! redelivery and idempotent submission (CONTRACT §6).

use crate::common::*;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An independent Standard Webhooks verifier, written from the specification for this test.
fn verify_signature(secret: &str, headers: &wiremock::http::HeaderMap, body: &[u8]) -> bool {
    let id = headers.get("webhook-id").unwrap().to_str().unwrap();
    let ts = headers.get("webhook-timestamp").unwrap().to_str().unwrap();
    let sig = headers.get("webhook-signature").unwrap().to_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    sig.split(' ').any(|s| s == expected)
}

/// The receiver answers `first` for the first `times` requests, then 200.
async fn fail_then_accept(server: &MockServer, first: ResponseTemplate, times: u64) {
    // wiremock: the first mounted mock that matches wins, so the limited one goes first.
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(server)
        .await;
}

async fn push_to(app: &TestApp, server: &MockServer, gss: &str) -> String {
    let resp = app
        .put(
            &format!("/v1/authorities/{gss}/endpoint"),
            ADMIN_KEY,
            &json!({"url": format!("{}/hook", server.uri())}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_referral_is_pushed_signed_and_marked_delivered() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let secret = push_to(&app, &server, "E08000039").await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let created = app.submit(&key, &referral()).await;
    assert_eq!(created["status"], "queued");
    let id = created["id"].as_str().unwrap();
    let done = app.wait_for(id, |r| r["status"] == "delivered").await;
    assert_eq!(done["delivery"]["attempts"], 1);
    assert!(done["delivery"]["delivered_at"].is_string());

    let requests = server.received_requests().await.unwrap();
    let req = &requests[0];
    assert!(
        verify_signature(&secret, &req.headers, &req.body),
        "signature verifies independently"
    );
    assert!(req
        .headers
        .get("webhook-id")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("msg_"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "referral.created");
    assert_eq!(body["id"], id);
    assert_eq!(body["organisation"], "HMPPS Yorkshire");
    assert_eq!(body["agency_type"], "probation");
    assert_eq!(
        body["referral"]["person"]["contact"]["phone"],
        "+447911123456"
    );

    let audit: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), &key)
        .await
        .json()
        .await
        .unwrap();
    let actions = item_strings(&audit, "action");
    assert_eq!(
        actions,
        vec![
            "referral.received",
            "referral.accepted",
            "delivery.attempted",
            "delivery.succeeded"
        ]
    );
    assert_eq!(audit["items"][2]["detail"]["http_status"], 204);
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_webhook_id() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(&server, ResponseTemplate::new(503), 2).await;
    push_to(&app, &server, "E08000039").await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = app.wait_for(&id, |r| r["status"] == "delivered").await;
    assert_eq!(done["delivery"]["attempts"], 3);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.headers.get("webhook-id").unwrap().to_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one webhook-id across retries: {ids:?}"
    );
}

#[tokio::test]
async fn a_permanent_4xx_fails_at_once_and_redelivery_requeues_it() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(&server, ResponseTemplate::new(410), 1).await;
    push_to(&app, &server, "E08000039").await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = app.wait_for(&id, |r| r["status"] == "failed").await;
    assert_eq!(failed["delivery"]["attempts"], 1);
    assert_eq!(failed["delivery"]["last_error"], "http_410");

    assert_problem(
        app.post(&format!("/v1/referrals/{id}/redeliver"), &key, &json!({}))
            .await,
        403,
    )
    .await;
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/redeliver"),
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    app.wait_for(&id, |r| r["status"] == "delivered").await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("webhook-id"),
        requests[1].headers.get("webhook-id"),
        "redelivery is the same message"
    );
    assert_problem(
        app.post(
            &format!("/v1/referrals/{id}/redeliver"),
            ADMIN_KEY,
            &json!({}),
        )
        .await,
        409,
    )
    .await;
}

#[tokio::test]
async fn exhausting_the_schedule_fails_the_referral() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    push_to(&app, &server, "E08000039").await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = app.wait_for(&id, |r| r["status"] == "failed").await;
    assert_eq!(
        failed["delivery"]["attempts"], 3,
        "two delays give three attempts"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_timeout_and_a_refused_connection_are_retried() {
    let app = TestApp::spawn_with(|c| c.delivery_timeout = Duration::from_millis(300)).await;
    let server = MockServer::start().await;
    fail_then_accept(
        &server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
        1,
    )
    .await;
    push_to(&app, &server, "E08000039").await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = app.wait_for(&id, |r| r["status"] == "delivered").await;
    assert_eq!(done["delivery"]["attempts"], 2);

    // Nothing listens on port 1: connection refused, retried, then failed.
    let url = "http://127.0.0.1:1/hook";
    app.put(
        "/v1/authorities/E09000033/endpoint",
        ADMIN_KEY,
        &json!({"url": url}),
    )
    .await;
    let id = app.submit(&key, &referral_to("E09000033")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = app.wait_for(&id, |r| r["status"] == "failed").await;
    assert_eq!(failed["delivery"]["last_error"], "connect");
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        1,
    )
    .await;
    push_to(&app, &server, "E08000039").await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = app.wait_for(&id, |r| r["delivery"]["attempts"] == 1).await;
    let last = jiff::Timestamp::strptime(
        "%Y-%m-%dT%H:%M:%S%.fZ",
        waiting["delivery"]["last_attempt_at"].as_str().unwrap(),
    );
    let next = waiting["delivery"]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    let last = last.unwrap_or_else(|_| {
        waiting["delivery"]["last_attempt_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    });
    assert!(
        next.duration_since(last) >= jiff::SignedDuration::from_millis(900),
        "waits for Retry-After, not the 50 ms schedule"
    );
    app.wait_for(&id, |r| r["status"] == "delivered").await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
}

#[tokio::test]
async fn the_pull_inbox_read_delivers_and_acknowledge_is_seen_by_the_referrer() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let id = app.submit(&referrer, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Lists and admin reads do not collect it.
    let inbox: Value = app
        .get("/v1/referrals?status=awaiting_collection", &sheffield)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    app.get(&format!("/v1/referrals/{id}"), ADMIN_KEY).await;
    let still: Value = app
        .get(&format!("/v1/referrals/{id}"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["status"], "awaiting_collection");
    // The authority's own read does.
    let read: Value = app
        .get(&format!("/v1/referrals/{id}"), &sheffield)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "delivered");
    assert_eq!(read["referral"]["person"]["given_name"], "Testgiven");
    // Referrers cannot acknowledge.
    assert_problem(
        app.post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &referrer,
            &json!({"received_by": "x"}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &sheffield,
            &json!({"received_by": "  "}),
        )
        .await,
        422,
    )
    .await;
    let ack = app
        .post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &sheffield,
            &json!({"received_by": "Housing Options", "local_reference": "HO-123"}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let first: Value = ack.json().await.unwrap();
    assert_eq!(first["status"], "acknowledged");
    let again: Value = app
        .post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &sheffield,
            &json!({"received_by": "Someone else"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["acknowledgement"], first["acknowledgement"],
        "repeating changes nothing"
    );
    let seen: Value = app
        .get(&format!("/v1/referrals/{id}"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["status"], "acknowledged");
    assert_eq!(seen["acknowledgement"]["local_reference"], "HO-123");
    let audit: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    let actions = item_strings(&audit, "action");
    assert_eq!(
        actions,
        vec![
            "referral.received",
            "referral.accepted",
            "referral.viewed",
            "referral.viewed",
            "delivery.succeeded",
            "referral.viewed",
            "referral.acknowledged",
            "referral.viewed"
        ]
    );
}

#[tokio::test]
async fn giving_an_authority_an_endpoint_pushes_its_inbox_and_removing_it_moves_queued_back() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    push_to(&app, &server, "E08000039").await;
    app.wait_for(&id, |r| r["status"] == "delivered").await;

    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&slow)
        .await;
    let app2 = TestApp::spawn_with(|c| c.retry_schedule = vec![Duration::from_secs(60)]).await;
    let key2 = app2.referrer("X").await;
    push_to(&app2, &slow, "E08000039").await;
    let id2 = app2.submit(&key2, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app2.wait_for(&id2, |r| r["delivery"]["attempts"] == 1)
        .await;
    assert_eq!(
        app2.delete("/v1/authorities/E08000039/endpoint", ADMIN_KEY)
            .await
            .status(),
        204
    );
    let moved = app2.wait_for(&id2, |_| true).await;
    assert_eq!(moved["status"], "awaiting_collection");
    assert_eq!(moved["delivery"]["mode"], "pull");
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_return_the_original_referral() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let doc = referral();
    let send = |k: &'static str, body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            app.client
                .post(app.url("/v1/referrals"))
                .bearer_auth(key)
                .header("Idempotency-Key", k)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first: Value = send("k-1", doc.clone()).await.json().await.unwrap();
    let again = send("k-1", doc.clone()).await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let mut other = doc.clone();
    other["person"]["given_name"] = json!("Different");
    let reused = assert_problem(send("k-1", other).await, 422).await;
    assert_eq!(reused["type"], "urn:dtr:problem:idempotency.key_reused");
    // A key of the same organisation name but another agency type cannot see the original: the
    // replay is refused as key reuse instead of disclosing it.
    let other_agency = app
        .key(json!({"role": "referrer", "organisation": "X", "agency_type": "prison"}))
        .await;
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&other_agency)
        .header("Idempotency-Key", "k-1")
        .json(&doc)
        .send()
        .await
        .unwrap();
    let refused = assert_problem(resp, 422).await;
    assert_eq!(refused["type"], "urn:dtr:problem:idempotency.key_reused");
    assert!(!refused.to_string().contains(first["id"].as_str().unwrap()));
    // Another organisation may use the same key for its own referral.
    let theirs = app.referrer("Y").await;
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&theirs)
        .header("Idempotency-Key", "k-1")
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let long = "k".repeat(256);
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("Idempotency-Key", long)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400).await;
}

#[tokio::test]
async fn concurrent_duplicates_create_one_referral() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let doc = referral();
    let mut tasks = vec![];
    for _ in 0..10 {
        let client = app.client.clone();
        let url = app.url("/v1/referrals");
        let key = key.clone();
        let doc = doc.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", "same")
                .json(&doc)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap()["id"].clone(),
            )
        }));
    }
    let mut ids = vec![];
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert_eq!(status, 201);
        ids.push(id);
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let _ = is_postgres();
}
