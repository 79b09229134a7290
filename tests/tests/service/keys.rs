//! API keys and roles (docs/contract.md §2).

use serde_json::{json, Value};
use tests::*;

#[tokio::test]
async fn an_admin_creates_keys_that_work_and_are_shown_once() {
    let app = TestApp::spawn().await;
    let resp = app.post("/v1/api-keys", ADMIN_KEY, &json!({"role": "referrer", "organisation": "Leeds Teaching Hospitals", "agency_type": "emergency_department"})).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["role"], "referrer");
    assert_eq!(created["organisation"], "Leeds Teaching Hospitals");
    assert_eq!(created["agency_type"], "emergency_department");
    assert!(created["gss_code"].is_null());
    assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    let key = created["key"].as_str().unwrap();
    assert!(key.len() >= 43, "at least 256 bits");
    let resource = app.submit(key, &referral()).await;
    assert_eq!(
        resource["agency_type"], "emergency_department",
        "the agency type comes from the key"
    );
}

#[tokio::test]
async fn key_requests_are_checked_for_their_role() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"role": "referrer", "organisation": "Police"}),
            "/agency_type",
        ),
        (
            json!({"role": "referrer", "organisation": "Police", "agency_type": "police"}),
            "/agency_type",
        ),
        (
            json!({"role": "referrer", "agency_type": "probation"}),
            "/organisation",
        ),
        (
            json!({"role": "authority", "gss_code": "E10000016"}),
            "/gss_code",
        ),
        (json!({"role": "authority"}), "/gss_code"),
        (
            json!({"role": "admin", "gss_code": "E08000039"}),
            "/gss_code",
        ),
    ];
    for (body, pointer) in cases {
        let problem = assert_problem(app.post("/v1/api-keys", ADMIN_KEY, &body).await, 422).await;
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{body}");
    }
    let unknown = assert_problem(
        app.post("/v1/api-keys", ADMIN_KEY, &json!({"role": "superuser"}))
            .await,
        422,
    )
    .await;
    assert_eq!(unknown["type"], "urn:dtr:problem:api_key.invalid");
    assert_eq!(unknown["errors"][0]["pointer"], "/role");
    assert_eq!(unknown["errors"][0]["code"], "field.invalid_value");
    assert!(!unknown.to_string().contains("superuser"), "{unknown}");
}

#[tokio::test]
async fn only_an_admin_creates_keys() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("X").await;
    assert_problem(
        app.post("/v1/api-keys", &referrer, &json!({"role": "admin"}))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn the_bootstrap_admin_key_is_idempotent_across_restarts() {
    let app = TestApp::spawn().await;
    let app = app.restart().await;
    assert_eq!(app.get("/v1/audit/verify", ADMIN_KEY).await.status(), 200);
    let audit: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["valid"], true);
    assert_eq!(
        audit["events"], 1,
        "one api_key.created for the bootstrap key, not two"
    );
}
