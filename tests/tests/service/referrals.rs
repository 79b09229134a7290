//! Validating, submitting, reading and listing referrals.

use serde_json::{json, Value};
use tests::*;

#[tokio::test]
async fn validate_answers_200_with_every_error_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral();
    doc["person"]["given_name"] = json!("");
    doc["person"]["contact"] = json!({});
    doc["surprise"] = json!(1);
    let resp = app.post("/v1/referrals/validate", &key, &doc).await;
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["valid"], false);
    let found: Vec<(String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(found.contains(&("/person/given_name".into(), "field.too_short".into())));
    assert!(found.contains(&("/person/contact".into(), "contact.none".into())));
    assert!(found.contains(&("/surprise".into(), "field.unknown".into())));
    assert!(report.get("normalized").is_none());
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn validate_normalizes_a_valid_referral() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral();
    doc["housing_authority"]["gss_code"] = json!("E08000019");
    let report: Value = app
        .post("/v1/referrals/validate", &key, &doc)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(
        report["normalized"]["person"]["contact"]["phone"],
        "+447911123456"
    );
    assert_eq!(
        report["normalized"]["housing_authority"]["gss_code"],
        "E08000039"
    );
    assert_eq!(
        report["warnings"][0]["code"],
        "housing_authority.code_changed"
    );
    // Admins may validate too; authorities may not.
    assert_eq!(
        app.post("/v1/referrals/validate", ADMIN_KEY, &doc)
            .await
            .status(),
        200
    );
    let authority = app.authority("E08000039").await;
    assert_problem(
        app.post("/v1/referrals/validate", &authority, &doc).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn a_submitted_referral_is_stored_in_the_authoritys_inbox() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let resp = app.post("/v1/referrals", &key, &referral()).await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(location, format!("/v1/referrals/{id}"));
    assert_eq!(created["status"], "awaiting_collection");
    assert_eq!(
        created["housing_authority"],
        json!({"gss_code": "E08000039", "name": "Sheffield"})
    );
    assert_eq!(created["organisation"], "HMPPS Yorkshire");
    assert_eq!(created["agency_type"], "probation");
    assert_eq!(created["delivery"]["mode"], "pull");
    assert_eq!(created["delivery"]["attempts"], 0);
    assert!(created["delivery"]["delivered_at"].is_null());
    assert!(created.get("referral").is_none());

    let got: Value = app.get(&location, &key).await.json().await.unwrap();
    assert_eq!(got["id"], id);
    assert_eq!(
        got["referral"]["person"]["contact"]["phone"],
        "+447911123456"
    );
    assert_eq!(
        got["status"], "awaiting_collection",
        "a referrer's read is not a collection"
    );
}

#[tokio::test]
async fn an_invalid_submission_is_422_with_every_error_and_stores_no_personal_data() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral();
    doc["person"]["given_name"] = json!("Uniquegivenname");
    doc["housing_authority"]["gss_code"] = json!("E10000016");
    doc["consent"]["referral"] = json!(false);
    let body = assert_problem(app.post("/v1/referrals", &key, &doc).await, 422).await;
    assert_eq!(body["type"], "urn:dtr:problem:referral.invalid");
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "consent.override_required",
            "housing_authority.not_housing_authority"
        ]
    );
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lists_are_newest_first_filterable_and_paged() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut ids = vec![];
    for _ in 0..5 {
        ids.push(
            app.submit(&key, &referral()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let page1: Value = app
        .get("/v1/referrals?limit=2", &key)
        .await
        .json()
        .await
        .unwrap();
    let got = item_strings(&page1, "id");
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()]);
    assert!(
        page1["items"][0].get("referral").is_none(),
        "list items carry no document"
    );
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2: Value = app
        .get(&format!("/v1/referrals?limit=2&cursor={cursor}"), &key)
        .await
        .json()
        .await
        .unwrap();
    let got = item_strings(&page2, "id");
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = page2["next_cursor"].as_str().unwrap();
    let page3: Value = app
        .get(&format!("/v1/referrals?limit=2&cursor={cursor}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page3["items"].as_array().unwrap().len(), 1);
    assert!(page3["next_cursor"].is_null());

    let queued: Value = app
        .get("/v1/referrals?status=queued", &key)
        .await
        .json()
        .await
        .unwrap();
    assert!(queued["items"].as_array().unwrap().is_empty());
    let waiting: Value = app
        .get("/v1/referrals?status=awaiting_collection", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let app = TestApp::spawn().await;
    for query in [
        "limit=101",
        "limit=0",
        "limit=-1",
        "limit=ten",
        "cursor=garbage",
        "status=lost",
    ] {
        assert_problem(
            app.get(&format!("/v1/referrals?{query}"), ADMIN_KEY).await,
            400,
        )
        .await;
    }
    assert_eq!(
        app.get("/v1/referrals?limit=100", ADMIN_KEY).await.status(),
        200
    );
}

#[tokio::test]
async fn only_a_referrer_may_submit() {
    let app = TestApp::spawn().await;
    let authority = app.authority("E08000039").await;
    assert_problem(
        app.post("/v1/referrals", &authority, &referral()).await,
        403,
    )
    .await;
    assert_problem(app.post("/v1/referrals", ADMIN_KEY, &referral()).await, 403).await;
}

#[tokio::test]
async fn an_unknown_referral_is_404() {
    let app = TestApp::spawn().await;
    let id = uuid::Uuid::new_v4();
    assert_problem(
        app.get(&format!("/v1/referrals/{id}"), ADMIN_KEY).await,
        404,
    )
    .await;
    assert_problem(app.get("/v1/referrals/not-a-uuid", ADMIN_KEY).await, 404).await;
    assert_problem(
        app.get(&format!("/v1/referrals/{id}/audit"), ADMIN_KEY)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_submission_records_received_and_accepted_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), &key)
        .await
        .json()
        .await
        .unwrap();
    let actions = item_strings(&audit, "action");
    assert_eq!(actions, vec!["referral.received", "referral.accepted"]);
    assert_eq!(audit["items"][1]["detail"]["gss_code"], "E08000039");
    assert_eq!(audit["items"][1]["actor"]["role"], "referrer");
}

#[tokio::test]
async fn a_submission_with_a_member_given_twice_is_422_field_duplicate_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let text = referral().to_string().replacen(
        r#""referral":true"#,
        r#""referral":false,"referral":true"#,
        1,
    );
    assert!(text.contains(r#""referral":false,"referral":true"#));
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 422).await;
    assert_eq!(problem["errors"][0]["pointer"], "/consent/referral");
    assert_eq!(problem["errors"][0]["code"], "field.duplicate");
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_child_under_16_is_told_to_childrens_services_as_their_own_duty_and_to_others_as_someone_elses(
) {
    let app = TestApp::spawn().await;
    let childrens = app
        .key(json!({"role": "referrer", "organisation": "Leeds Children's Services", "agency_type": "childrens_social_care"}))
        .await;
    let probation = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral();
    doc["person"]["date_of_birth"] = json!("2015-01-01");
    let message = |report: &Value| {
        let errors = report["errors"].as_array().expect("errors");
        let under_16 = errors
            .iter()
            .find(|e| e["code"] == "person.under_16")
            .expect("person.under_16");
        under_16["message"].as_str().expect("message").to_owned()
    };
    // Validation and submission read the agency type from the key alike.
    let validated: Value = app
        .post("/v1/referrals/validate", &childrens, &doc)
        .await
        .json()
        .await
        .unwrap();
    assert!(message(&validated).contains("As children's services, assess them as a child in need"));
    let refused = app.post("/v1/referrals", &childrens, &doc).await;
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    assert!(message(&refused).contains("As children's services"));
    let other: Value = app
        .post("/v1/referrals/validate", &probation, &doc)
        .await
        .json()
        .await
        .unwrap();
    assert!(message(&other).contains("Refer them to children's services"));
}
