//! Every failure is RFC 9457 problem+json (docs/contract.md §8), poem's own included.

use serde_json::json;
use tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_missing_or_unknown_key_is_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/v1/referrals"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, 401).await;
    let resp = app.get("/v1/referrals", "dtr_not-a-real-key").await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"person\": \"Zephyrinemarker")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 400).await;
    assert_eq!(problem["type"], "urn:dtr:problem:request.malformed");
    assert_eq!(problem["errors"][0]["pointer"], "");
    assert_eq!(problem["errors"][0]["code"], "field.type");
    assert!(
        !problem.to_string().contains("Zephyrinemarker"),
        "{problem}"
    );
    let resp = app
        .post("/v1/referrals/validate", &key, &json!([1, 2]))
        .await;
    assert_problem(resp, 400).await;
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let resp = app
        .client
        .post(app.url("/v1/referrals/validate"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415).await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/v1/nothing-here", ADMIN_KEY).await, 404).await;
    assert_problem(app.client.get(app.url("/")).send().await.unwrap(), 404).await;
    let resp = app.delete("/v1/referrals", ADMIN_KEY).await;
    assert_eq!(
        resp.headers()["allow"],
        "GET, POST",
        "RFC 9110: a 405 lists the allowed methods"
    );
    assert_problem(resp, 405).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_content_length() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 2048).await;
    let key = app.referrer("X").await;
    let mut doc = referral();
    doc["medical"] = json!({"key_information": "x".repeat(4000)});
    assert_problem(app.post("/v1/referrals/validate", &key, &doc).await, 413).await;
    assert_eq!(
        app.post("/v1/referrals/validate", &key, &referral())
            .await
            .status(),
        200
    );
}

/// Sends a chunked request (no Content-Length) over a raw socket and returns the status and body.
async fn raw_chunked(app: &TestApp, key: &str, chunk: &[u8], chunks: usize) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/referrals/validate HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn a_chunked_body_without_content_length_is_limited_too() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 2048).await;
    let key = app.referrer("X").await;
    let (status, text) = raw_chunked(&app, &key, &[b' '; 512], 16).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("application/problem+json"));
    // A small chunked body still works.
    let doc = serde_json::to_vec(&referral()).unwrap();
    let (status, text) = raw_chunked(&app, &key, &doc, 1).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn no_error_answer_contains_internal_details() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"a\":")
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap().to_lowercase();
    for leak in [
        "select ", "insert ", "sqlite", "postgres", "panicked", "src/",
    ] {
        assert!(!body.contains(leak), "{body}");
    }
}

#[tokio::test]
async fn every_request_body_fault_is_a_typed_problem_with_pointers_that_never_echoes_the_value() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("X").await;
    let sheffield = app.authority("E08000039").await;
    let id = app.submit(&referrer, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            "/v1/api-keys",
            ADMIN_KEY.to_owned(),
            json!({"role": "Zephyrinemarker"}),
            "urn:dtr:problem:api_key.invalid",
            vec![("/role", "field.invalid_value")],
        ),
        (
            "/v1/api-keys",
            ADMIN_KEY.to_owned(),
            json!({"role": "referrer", "organisation": 7, "colour": "Zephyrinemarker"}),
            "urn:dtr:problem:api_key.invalid",
            vec![
                ("/colour", "field.unknown"),
                ("/organisation", "field.type"),
            ],
        ),
        (
            &format!("/v1/referrals/{id}/acknowledge"),
            sheffield.clone(),
            json!({"received_by": "   "}),
            "urn:dtr:problem:acknowledgement.invalid",
            vec![("/received_by", "field.too_short")],
        ),
        (
            &format!("/v1/referrals/{id}/acknowledge"),
            sheffield.clone(),
            json!({"received_by": "Zephyrinemarker".repeat(10)}),
            "urn:dtr:problem:acknowledgement.invalid",
            vec![("/received_by", "field.too_long")],
        ),
        (
            "/v1/authorities/E08000039/endpoint",
            ADMIN_KEY.to_owned(),
            json!({}),
            "urn:dtr:problem:endpoint.invalid",
            vec![("/url", "field.required")],
        ),
    ];
    for (path, key, body, kind, expected) in cases {
        let resp = if path.ends_with("/endpoint") {
            app.put(path, &key, &body).await
        } else {
            app.post(path, &key, &body).await
        };
        let problem = assert_problem(resp, 422).await;
        assert_eq!(problem["type"], kind, "{problem}");
        let found: Vec<(&str, &str)> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["pointer"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(found, expected, "{problem}");
        assert!(
            !problem.to_string().contains("Zephyrinemarker"),
            "the value is echoed: {problem}"
        );
        assert!(!problem.to_string().contains("1 characters"), "{problem}");
    }
}

#[tokio::test]
async fn a_member_given_twice_in_a_key_request_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(r#"{"role": "referrer", "role": "admin"}"#)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 422).await;
    assert_eq!(problem["errors"][0]["pointer"], "/role");
    assert_eq!(problem["errors"][0]["code"], "field.duplicate");
}

#[tokio::test]
async fn a_role_that_may_not_act_is_named_with_the_right_article() {
    let app = TestApp::spawn().await;
    let sheffield = app.authority("E08000039").await;
    let problem = assert_problem(
        app.post("/v1/api-keys", &sheffield, &json!({"role": "admin"}))
            .await,
        403,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("An authority key may not"),
        "{problem}"
    );
}

#[tokio::test]
async fn every_error_has_a_urn_type_and_a_bad_parameter_names_its_pointer() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let kind = |v: &serde_json::Value| v["type"].as_str().unwrap_or_default().to_owned();
    // 401 without a key, and with an unknown one.
    let none = app
        .client
        .get(app.url("/v1/referrals"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kind(&assert_problem(none, 401).await),
        "urn:dtr:problem:auth.missing"
    );
    let unknown = app.get("/v1/referrals", "not-a-key-at-all").await;
    assert_eq!(
        kind(&assert_problem(unknown, 401).await),
        "urn:dtr:problem:auth.invalid"
    );
    // 403: a referrer may not manage keys.
    let forbidden = app.get("/v1/api-keys", &referrer).await;
    assert_eq!(
        kind(&assert_problem(forbidden, 403).await),
        "urn:dtr:problem:auth.forbidden"
    );
    // 404, an unknown route and an unknown referral alike.
    let route = app.get("/v1/nowhere", &referrer).await;
    assert_eq!(
        kind(&assert_problem(route, 404).await),
        "urn:dtr:problem:not_found"
    );
    let missing = app
        .get(
            "/v1/referrals/01a2404e-60d6-764b-b5da-f5dfcc743067",
            &referrer,
        )
        .await;
    assert_eq!(
        kind(&assert_problem(missing, 404).await),
        "urn:dtr:problem:not_found"
    );
    // 405.
    let method = app.delete("/v1/referrals", &referrer).await;
    assert_eq!(
        kind(&assert_problem(method, 405).await),
        "urn:dtr:problem:method_not_allowed"
    );
    // 415.
    let text = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&referrer)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        kind(&assert_problem(text, 415).await),
        "urn:dtr:problem:content_type.unsupported"
    );
    // 400 for a parameter: typed, with the parameter as the pointer, no framework text.
    let limit = app.get("/v1/referrals?limit=0", &referrer).await;
    let problem = assert_problem(limit, 400).await;
    assert_eq!(kind(&problem), "urn:dtr:problem:request.invalid_parameter");
    assert_eq!(problem["errors"][0]["pointer"], "/query/limit");
    assert!(
        !problem.to_string().contains("verification failed"),
        "{problem}"
    );
}
