//! Push delivery with Standard Webhooks signatures and retries, the pull inbox, acknowledgement,
//! redelivery and idempotent submission (docs/contract.md §6).

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use tests::*;
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

fn instant(v: &Value) -> jiff::Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// `next_attempt_at - last_attempt_at` of a listed referral.
fn retry_wait(item: &Value) -> jiff::SignedDuration {
    instant(&item["delivery"]["next_attempt_at"])
        .duration_since(instant(&item["delivery"]["last_attempt_at"]))
}

async fn submit_id(app: &TestApp, key: &str, doc: &Value) -> String {
    app.submit(key, doc).await["id"]
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
    let secret = app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let created = app.submit(&key, &referral()).await;
    assert_eq!(created["status"], "queued");
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.step().await, 1);
    let done = app.state_of(id).await;
    assert_eq!(done["status"], "delivered");
    assert_eq!(done["delivery"]["attempts"], 1);
    assert!(done["delivery"]["delivered_at"].is_string());
    assert_eq!(app.step().await, 0, "nothing is left to deliver");

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
async fn a_503_is_retried_on_the_schedule_with_the_same_webhook_id() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(&server, ResponseTemplate::new(503), 2).await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;

    assert_eq!(app.step().await, 1);
    let first = app.state_of(&id).await;
    assert_eq!(first["status"], "queued");
    assert_eq!(first["delivery"]["last_error"], "http_503");
    assert_eq!(retry_wait(&first), jiff::SignedDuration::from_secs(60));
    // Not due a millisecond early.
    app.advance(RETRY_DELAYS[0] - Duration::from_millis(1));
    assert_eq!(app.step().await, 0);
    app.advance(Duration::from_millis(1));
    assert_eq!(app.step().await, 1);
    let second = app.state_of(&id).await;
    assert_eq!(second["delivery"]["attempts"], 2);
    assert_eq!(retry_wait(&second), jiff::SignedDuration::from_secs(300));
    app.advance(RETRY_DELAYS[1]);
    assert_eq!(app.step().await, 1);
    let done = app.state_of(&id).await;
    assert_eq!(done["status"], "delivered");
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
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    let failed = app.state_of(&id).await;
    assert_eq!(failed["status"], "failed");
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
    assert_eq!(app.step().await, 1, "due at once");
    assert_eq!(app.state_of(&id).await["status"], "delivered");
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
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    app.advance(RETRY_DELAYS[1]);
    assert_eq!(app.step().await, 1);
    let failed = app.state_of(&id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["delivery"]["attempts"], 3,
        "two delays give three attempts"
    );
    assert!(failed["delivery"]["next_attempt_at"].is_null());
    app.advance(Duration::from_secs(86_400));
    assert_eq!(
        app.step().await,
        0,
        "a failed referral is not attempted again"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let app = TestApp::spawn_with(|c| c.delivery_timeout = Duration::from_millis(500)).await;
    let server = MockServer::start().await;
    // Far longer than the timeout, however slowly this machine runs.
    fail_then_accept(
        &server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(60)),
        1,
    )
    .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    let waiting = app.state_of(&id).await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["delivery"]["last_error"], "timeout");
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    let done = app.state_of(&id).await;
    assert_eq!(done["status"], "delivered");
    assert_eq!(done["delivery"]["attempts"], 2);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_fails() {
    let app = TestApp::spawn().await;
    // Nothing listens on port 1: the connection is refused at once.
    app.put(
        "/v1/authorities/E09000033/endpoint",
        ADMIN_KEY,
        &json!({"url": "http://127.0.0.1:1/hook"}),
    )
    .await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral_to("E09000033")).await;
    assert_eq!(app.step().await, 1);
    let waiting = app.state_of(&id).await;
    assert_eq!(waiting["status"], "queued");
    assert_eq!(waiting["delivery"]["last_error"], "connect");
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    app.advance(RETRY_DELAYS[1]);
    assert_eq!(app.step().await, 1);
    let failed = app.state_of(&id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["delivery"]["last_error"], "connect");
}

#[tokio::test]
async fn retry_after_on_429_is_honoured_when_longer_than_the_schedule() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after", "120"),
        1,
    )
    .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    let waiting = app.state_of(&id).await;
    assert_eq!(waiting["delivery"]["attempts"], 1);
    assert_eq!(
        retry_wait(&waiting),
        jiff::SignedDuration::from_secs(120),
        "waits for Retry-After, not the schedule's 60 s"
    );
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(
        app.step().await,
        0,
        "the schedule's delay alone is not enough"
    );
    app.advance(Duration::from_secs(60));
    assert_eq!(app.step().await, 1);
    assert_eq!(app.state_of(&id).await["status"], "delivered");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_short_retry_after_does_not_shorten_the_schedule() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    fail_then_accept(
        &server,
        ResponseTemplate::new(503).insert_header("retry-after", "1"),
        1,
    )
    .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    assert_eq!(
        retry_wait(&app.state_of(&id).await),
        jiff::SignedDuration::from_secs(60)
    );
}

#[tokio::test]
async fn the_background_worker_delivers_without_being_stepped() {
    let app = TestApp::spawn_with_background_worker(|_| {}).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let id = submit_id(&app, &key, &referral()).await;
    let done = app.wait_for(&id, |r| r["status"] == "delivered").await;
    assert_eq!(done["delivery"]["attempts"], 1);
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
    let id = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.state_of(&id).await["status"], "awaiting_collection");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    app.set_endpoint("E08000039", &server).await;
    assert_eq!(app.state_of(&id).await["status"], "queued");
    assert_eq!(app.step().await, 1);
    assert_eq!(app.state_of(&id).await["status"], "delivered");

    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&failing)
        .await;
    app.set_endpoint("E09000033", &failing).await;
    let id2 = submit_id(&app, &key, &referral_to("E09000033")).await;
    assert_eq!(app.step().await, 1);
    assert_eq!(app.state_of(&id2).await["delivery"]["attempts"], 1);
    assert_eq!(
        app.delete("/v1/authorities/E09000033/endpoint", ADMIN_KEY)
            .await
            .status(),
        204
    );
    let moved = app.state_of(&id2).await;
    assert_eq!(moved["status"], "awaiting_collection");
    assert_eq!(moved["delivery"]["mode"], "pull");
    app.advance(Duration::from_secs(86_400));
    assert_eq!(app.step().await, 0, "nothing is pushed after the move");
    assert_eq!(failing.received_requests().await.unwrap().len(), 1);
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
    // Keys are scoped to the organisation *and* agency type (docs/contract.md §11): another agency type of
    // the same organisation has keys of its own, and never meets (or learns of) the first referral.
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
    assert_eq!(resp.status(), 201);
    let own: Value = resp.json().await.unwrap();
    assert_ne!(own["id"], first["id"], "its own referral, not the first");
    assert_eq!(own["agency_type"], "prison");
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
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
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

/// Rounds of ten concurrent submissions with one Idempotency-Key (a case system retrying while
/// its first attempt is in flight), each round with `others` ordinary submissions beside them so
/// the batch writer groups duplicates with other work. Every duplicate must get the original's 201
/// and one referral per key must exist: never a 500, never a second referral.
async fn concurrent_duplicates(rounds: usize, others: usize) {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let doc = referral();
    for round in 0..rounds {
        let mut tasks = vec![];
        for i in 0..10 + others {
            let (client, url, key, doc) = (
                app.client.clone(),
                app.url("/v1/referrals"),
                key.clone(),
                doc.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut req = client.post(url).bearer_auth(key).json(&doc);
                if i < 10 {
                    req = req.header("Idempotency-Key", format!("retry-{round}"));
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (i < 10, status, body)
            }));
        }
        let mut ids = vec![];
        for t in tasks {
            let (duplicate, status, body) = t.await.unwrap();
            assert_eq!(status, 201, "round {round}: {body}");
            if duplicate {
                ids.push(body["id"].clone());
            }
        }
        assert!(ids.iter().all(|i| *i == ids[0]), "round {round}: {ids:?}");
    }
    let count = app.all_items("/v1/referrals", ADMIN_KEY).await.len();
    assert_eq!(count, rounds * (1 + others), "one referral per key");
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_all_get_the_original() {
    concurrent_duplicates(40, 0).await;
}

#[tokio::test]
async fn concurrent_retries_among_other_submissions_all_get_the_original() {
    concurrent_duplicates(40, 5).await;
}

/// A receiver that verifies every signature (as the README tells authorities to) with the secret
/// it has been given, if any: 401 until then.
#[derive(Clone, Default)]
struct VerifyingReceiver {
    secret: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl VerifyingReceiver {
    fn install(&self, secret: &str) {
        *self.secret.lock().unwrap() = Some(secret.to_owned());
    }
}

impl wiremock::Respond for VerifyingReceiver {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        match self.secret.lock().unwrap().as_deref() {
            Some(secret) if verify_signature(secret, &req.headers, &req.body) => {
                ResponseTemplate::new(200)
            }
            _ => ResponseTemplate::new(401),
        }
    }
}

#[tokio::test]
async fn a_new_endpoint_receives_the_waiting_referrals_once_its_receiver_has_the_secret() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let waiting = submit_id(&app, &key, &referral()).await;
    let server = MockServer::start().await;
    let receiver = VerifyingReceiver::default();
    Mock::given(method("POST"))
        .respond_with(receiver.clone())
        .mount(&server)
        .await;
    // The admin sets the endpoint; the worker pushes before the secret is installed.
    let secret = app.set_endpoint("E08000039", &server).await;
    assert_eq!(app.step().await, 1);
    let refused = app.state_of(&waiting).await;
    assert_eq!(
        refused["status"], "queued",
        "a 401 from a new endpoint is retried"
    );
    assert_eq!(refused["delivery"]["last_error"], "http_401");
    // The council installs the secret; the next attempt is signed with it and verifies.
    receiver.install(&secret);
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    assert_eq!(app.state_of(&waiting).await["status"], "delivered");
    let requests = server.received_requests().await.unwrap();
    assert!(verify_signature(
        &secret,
        &requests[1].headers,
        &requests[1].body
    ));
}

#[tokio::test]
async fn a_401_an_hour_after_the_secret_was_issued_fails_the_delivery() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(VerifyingReceiver::default())
        .mount(&server)
        .await;
    app.set_endpoint("E08000039", &server).await;
    app.advance(Duration::from_secs(3600) - Duration::from_millis(1));
    let key = app.referrer("X").await;
    let early = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    assert_eq!(app.state_of(&early).await["status"], "queued");
    app.advance(Duration::from_millis(1));
    let late = submit_id(&app, &key, &referral()).await;
    assert_eq!(app.step().await, 1);
    let failed = app.state_of(&late).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["delivery"]["last_error"], "http_401");
}

#[tokio::test]
async fn the_pushed_body_carries_the_referrals_warnings() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    app.set_endpoint("E08000039", &server).await;
    let key = app.referrer("X").await;
    let mut doc = referral();
    doc["housing_situation"]["rough_sleeping"] = json!("imminent");
    // Within a week: imminent rough sleeping with a date weeks away draws a warning of its own.
    let soon = uk_today().checked_add(jiff::ToSpan::days(7)).unwrap();
    doc["housing_situation"]["likely_homeless_on"] = json!(soon.to_string());
    doc["person"]["contact"]["phone"] = json!("07700 900123");
    submit_id(&app, &key, &doc).await;
    assert_eq!(app.step().await, 1);
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let warnings: Vec<(&str, &str)> = body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["pointer"].as_str().unwrap(), w["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        warnings,
        vec![
            ("/person/contact/phone", "phone.unrecognised_range"),
            (
                "/housing_situation/rough_sleeping",
                "rough_sleeping.imminent"
            ),
        ]
    );
    assert!(body["warnings"][1]["message"]
        .as_str()
        .unwrap()
        .contains("urgently"));
}

/// Referrals to `gss`, submitted `n` at a time in parallel.
async fn submit_many(app: &TestApp, key: &str, gss: &str, n: usize) -> Vec<String> {
    let mut pending = vec![];
    for _ in 0..n {
        let (client, url, key, doc) = (
            app.client.clone(),
            app.url("/v1/referrals"),
            key.to_owned(),
            referral_to(gss),
        );
        pending.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(key)
                .json(&doc)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = vec![];
    for p in pending {
        ids.push(p.await.unwrap());
    }
    ids
}

/// Leeds (E08000035) gets an endpoint that never answers, Sheffield (E08000039) one that takes
/// everything; the silent server lives as long as what is returned.
async fn silent_leeds_and_healthy_sheffield(app: &TestApp) -> (BlackHole, MockServer) {
    let hole = BlackHole::start().await;
    app.set_endpoint_url("E08000035", &format!("http://127.0.0.1:{}/hook", hole.port))
        .await;
    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&healthy)
        .await;
    app.set_endpoint("E08000039", &healthy).await;
    (hole, healthy)
}

#[tokio::test]
async fn a_silent_endpoints_backlog_never_keeps_another_authoritys_pushes_past_one_step() {
    let app = TestApp::spawn_with(|c| c.delivery_timeout = Duration::from_secs(1)).await;
    let (_hole, healthy) = silent_leeds_and_healthy_sheffield(&app).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    // Leeds never answers and has a backlog, older than anything of Sheffield's.
    submit_many(&app, &key, "E08000035", 300).await;
    let sheffield = submit_many(&app, &key, "E08000039", 5).await;
    app.step().await;
    assert_eq!(
        healthy.received_requests().await.unwrap().len(),
        5,
        "every Sheffield referral was pushed in the first step"
    );
    for id in &sheffield {
        assert_eq!(app.state_of(id).await["status"], "delivered");
    }
}

#[tokio::test]
async fn a_silent_endpoint_holds_only_its_own_lane_while_the_service_runs() {
    // Attempts to Leeds take the whole timeout; Sheffield's pushes must not wait for them.
    let app = TestApp::spawn_with_background_worker(|c| {
        c.delivery_timeout = Duration::from_secs(30);
    })
    .await;
    let (_hole, _healthy) = silent_leeds_and_healthy_sheffield(&app).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    submit_many(&app, &key, "E08000035", 100).await;
    // The worker is now waiting on Leeds' first attempts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let sheffield = submit_many(&app, &key, "E08000039", 3).await;
    for id in &sheffield {
        let item = app.wait_for(id, |i| i["status"] == "delivered").await;
        assert_eq!(item["status"], "delivered");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "Sheffield's pushes arrived in {:?}, while Leeds' attempts take 30 s each",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_relay_that_never_answers_is_given_up_on_after_the_smtp_timeout_and_holds_no_push() {
    let relay = BlackHole::start().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp = Some(
            api::config::SmtpUrl::parse(&format!("smtp://127.0.0.1:{}", relay.port), true).unwrap(),
        );
        c.smtp_timeout = Duration::from_secs(1);
        c.public_url = "https://dtr.example.gov.uk".into();
    })
    .await;
    let resp = app
        .put(
            "/v1/authorities/E08000035/notify",
            ADMIN_KEY,
            &json!({"email": "dutytorefer@leeds.example.gov.uk"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&healthy)
        .await;
    app.set_endpoint("E08000039", &healthy).await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mailed = submit_id(&app, &key, &referral_to("E08000035")).await;
    let pushed = submit_id(&app, &key, &referral_to("E08000039")).await;
    let step = tokio::time::timeout(Duration::from_secs(20), app.step())
        .await
        .expect("the step ends: the e-mail's exchange is bounded by DTR_SMTP_TIMEOUT");
    assert_eq!(step, 2);
    assert_eq!(app.state_of(&pushed).await["status"], "delivered");
    let failed: Vec<Value> = app
        .events_of(&mailed)
        .await
        .into_iter()
        .filter(|e| e["action"] == "notification.failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["detail"]["error"], "timeout");
    assert_eq!(failed[0]["detail"]["final"], false, "a timeout is retried");
}
