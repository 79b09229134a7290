//! The register and authority endpoints.

use serde_json::{json, Value};
use tests::*;

#[tokio::test]
async fn the_register_lists_296_authorities_across_pages() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let seen = app.all_items("/v1/authorities", &key).await.len();
    assert_eq!(seen, 296);
}

#[tokio::test]
async fn q_filters_by_name_or_code() {
    let app = TestApp::spawn().await;
    let key = app.referrer("X").await;
    let page: Value = app
        .get("/v1/authorities?q=sheff", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"],
        json!([{"gss_code": "E08000039", "name": "Sheffield", "kind": "metropolitan_borough", "delivery_mode": "pull"}])
    );
    let page: Value = app
        .get("/v1/authorities?q=E09&limit=100", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 33);
}

#[tokio::test]
async fn one_authority_is_read_by_code_and_unknown_codes_are_404() {
    let app = TestApp::spawn().await;
    let key = app.authority("E09000033").await;
    let a: Value = app
        .get("/v1/authorities/E09000033", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["name"], "Westminster");
    assert_problem(app.get("/v1/authorities/E10000016", &key).await, 404).await;
}

#[tokio::test]
async fn an_admin_sets_and_removes_an_endpoint_and_the_mode_follows() {
    let app = TestApp::spawn().await;
    let resp = app
        .put(
            "/v1/authorities/E08000039/endpoint",
            ADMIN_KEY,
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["gss_code"], "E08000039");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &secret[6..]).unwrap();
    assert_eq!(raw.len(), 32);
    let a: Value = app
        .get("/v1/authorities/E08000039", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["delivery_mode"], "push");
    assert_eq!(
        app.delete("/v1/authorities/E08000039/endpoint", ADMIN_KEY)
            .await
            .status(),
        204
    );
    let a: Value = app
        .get("/v1/authorities/E08000039", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["delivery_mode"], "pull");
}

#[tokio::test]
async fn only_an_admin_manages_endpoints() {
    let app = TestApp::spawn().await;
    let authority = app.authority("E08000039").await;
    let body = json!({"url": "https://example.org/hook"});
    assert_problem(
        app.put("/v1/authorities/E08000039/endpoint", &authority, &body)
            .await,
        403,
    )
    .await;
    assert_problem(
        app.delete("/v1/authorities/E08000039/endpoint", &authority)
            .await,
        403,
    )
    .await;
    assert_problem(
        app.put("/v1/authorities/E99999999/endpoint", ADMIN_KEY, &body)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn internal_and_plain_http_endpoints_are_refused_in_production_mode() {
    let app = TestApp::spawn_with(|c| c.allow_insecure_endpoints = false).await;
    for url in [
        "http://example.org/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/",
        "https://localhost/x",
        "nonsense",
    ] {
        let body = assert_problem(
            app.put(
                "/v1/authorities/E08000039/endpoint",
                ADMIN_KEY,
                &json!({"url": url}),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(
            body["errors"][0]["code"], "endpoint.url_not_allowed",
            "{url}"
        );
    }
    let resp = app
        .put(
            "/v1/authorities/E08000039/endpoint",
            ADMIN_KEY,
            &json!({"url": "https://housing.example.org/dtr"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
}
