//! What an operator relies on: rate limits, request ids, security headers, limits and metrics.

use serde_json::json;
use std::time::Duration;
use tests::*;

#[tokio::test]
async fn each_key_has_its_own_token_bucket_and_429_says_when_to_retry() {
    // The service's clock is manual: no token comes back until the test moves it.
    let app = TestApp::spawn_with(|c| c.rate_limit = 5).await;
    let a = app.referrer("A").await;
    let b = app.referrer("B").await;
    for i in 0..5 {
        assert_eq!(
            app.get("/v1/authorities?limit=1", &a).await.status(),
            200,
            "request {i} is within the burst of 5"
        );
    }
    let resp = app.get("/v1/authorities?limit=1", &a).await;
    assert_eq!(resp.headers()["retry-after"], "1", "one token in 200 ms");
    assert_problem(resp, 429).await;
    assert_eq!(
        app.get("/v1/authorities?limit=1", &b).await.status(),
        200,
        "another key is unaffected"
    );
    app.advance(Duration::from_millis(199));
    assert_eq!(app.get("/v1/authorities?limit=1", &a).await.status(), 429);
    app.advance(Duration::from_millis(1));
    assert_eq!(
        app.get("/v1/authorities?limit=1", &a).await.status(),
        200,
        "a token every 200 ms at 5/s"
    );
    assert_eq!(app.get("/v1/authorities?limit=1", &a).await.status(), 429);
}

#[tokio::test]
async fn a_uuid_request_id_is_echoed_and_anything_else_replaced() {
    let app = TestApp::spawn().await;
    let id = "0b1c6c3e-51a4-4f0e-9d3a-2c8f1e7a9b10";
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], id);
    // A case reference (or a name) would be logged with the request: it is replaced.
    for other in [
        "case-sys-42.a_b",
        "CASE-4211-ZEPHYRINE",
        "bad id with spaces",
    ] {
        let resp = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", other)
            .send()
            .await
            .unwrap();
        let echoed = resp.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, other);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
    let resp = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert!(
        resp.headers().contains_key("x-request-id"),
        "errors carry one too"
    );
}

#[tokio::test]
async fn referral_answers_are_never_cached_or_sniffed() {
    let app = TestApp::spawn().await;
    let key = app.referrer("A").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app.get(&format!("/v1/referrals/{id}"), &key).await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
}

#[tokio::test]
async fn a_deeply_nested_body_is_400() {
    let app = TestApp::spawn().await;
    let key = app.referrer("A").await;
    let mut v = json!({});
    for _ in 0..40 {
        v = json!({ "risk": v });
    }
    let body = assert_problem(app.post("/v1/referrals/validate", &key, &v).await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("nested"));
}

#[tokio::test]
async fn metrics_count_referrals_by_outcome_and_error_code() {
    let app = TestApp::spawn().await;
    let key = app.referrer("A").await;
    app.submit(&key, &referral()).await;
    let mut bad = referral();
    bad["housing_authority"]["gss_code"] = json!("W06000015");
    assert_eq!(app.post("/v1/referrals", &key, &bad).await.status(), 422);
    app.running
        .as_ref()
        .unwrap()
        .state
        .metrics
        .refresh_queue_depth(app.running.as_ref().unwrap().state.db.conn())
        .await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Exact counts: each service has its own recorder, so no other test's requests are counted.
    for line in [
        "dtr_referrals_accepted_total 1",
        "dtr_referrals_rejected_total 1",
        "dtr_referral_errors_total{code=\"housing_authority.not_in_england\"} 1",
        "dtr_referrals{status=\"awaiting_collection\"} 1",
        "dtr_referrals{status=\"queued\"} 0",
        "dtr_database_up 1",
        "dtr_http_request_duration_seconds_count{route=\"POST /v1/referrals\",status=\"201\"} 1",
        "dtr_http_request_duration_seconds_count{route=\"POST /v1/referrals\",status=\"422\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn readiness_fails_with_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let db = app.running.as_ref().unwrap().state.db.clone();
    db.close().await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    let body = assert_problem(resp, 503).await;
    assert!(
        !body["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("pool"),
        "no internal cause: {body}"
    );
}
