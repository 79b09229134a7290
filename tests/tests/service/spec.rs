//! The OpenAPI spec: served, committed, and identical; Swagger UI from the binary.

use tests::*;

#[tokio::test]
async fn the_served_spec_is_byte_identical_to_the_committed_file() {
    let app = TestApp::spawn().await;
    let served = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("openapi/openapi.json is committed");
    assert!(
        served == committed,
        "openapi/openapi.json is stale: regenerate it with `cargo run -p api -- openapi > openapi/openapi.json`"
    );
    let spec: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert!(spec["paths"]["/v1/referrals"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"].is_object());
}

#[tokio::test]
async fn the_yaml_spec_and_the_docs_are_served_without_auth() {
    let app = TestApp::spawn().await;
    let yaml = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(yaml.status(), 200);
    assert!(yaml
        .text()
        .await
        .unwrap()
        .contains("/v1/referrals/validate"));
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
    for external in [
        "<script src=\"http",
        "<link rel=\"stylesheet\" href=\"http",
        "<link href=\"http",
        "<script src=\"//",
    ] {
        assert!(
            !html.contains(external),
            "no assets from a CDN: found {external}"
        );
    }
    assert!(html.contains("SwaggerUIBundle"), "the bundle is inlined");
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_key() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("dtr_referrals"), "{metrics}");
}
