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

/// Where the recorded answers live (the spec's examples for every JSON answer without a
/// hand-written one).
fn responses_file() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/recorded-responses.json")
}

/// An answer made fit to publish: secrets (a new key, an endpoint's signing secret) are never
/// committed — the example keeps their prefix and says what they are — and the test's loopback
/// receiver becomes an authority's https address.
fn as_example(value: &mut serde_json::Value) {
    if let Some(map) = value.as_object_mut() {
        for (name, member) in map.iter_mut() {
            match (name.as_str(), member.as_str()) {
                ("key" | "secret", Some(s)) => {
                    let prefix = s.split_once('_').map_or("", |(p, _)| p);
                    *member =
                        serde_json::json!(format!("{prefix}_EXAMPLE_shown_once_store_it_safely"));
                }
                ("url", Some(s)) if s.starts_with("http://127.0.0.1") => {
                    *member =
                        serde_json::json!("https://referrals.sheffield.example.gov.uk/dtr/webhook");
                }
                _ => as_example(member),
            }
        }
    } else if let Some(items) = value.as_array_mut() {
        items.iter_mut().for_each(as_example);
    }
}

/// Drives every operation that answers JSON and records (operation id → status, answer). With
/// `DTR_RECORD_EXAMPLES=1` the test writes them to `openapi/recorded-responses.json` (then
/// regenerate `openapi/openapi.json`); otherwise it checks the committed file against them.
#[tokio::test]
async fn every_json_answer_has_an_example_and_the_live_answers_match_their_schemas() {
    use serde_json::{json, Value};
    use std::collections::BTreeMap;
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let mut seen: BTreeMap<&str, (u16, Value)> = BTreeMap::new();
    macro_rules! record {
        ($op:expr, $resp:expr) => {{
            let resp = $resp;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("a JSON answer");
            assert!((200..300).contains(&status), "{}: {status} {body}", $op);
            seen.insert($op, (status, body.clone()));
            body
        }};
    }
    let key = record!(
        "create_api_key",
        app.post(
            "/v1/api-keys",
            ADMIN_KEY,
            &json!({"role": "referrer", "organisation": "HMPPS Yorkshire and the Humber", "agency_type": "probation"})
        )
        .await
    );
    let referrer = key["key"].as_str().unwrap().to_owned();
    record!(
        "list_api_keys",
        app.get("/v1/api-keys?limit=2", ADMIN_KEY).await
    );
    let taking = receiver_answering(204).await;
    let refusing = receiver_answering(400).await;
    let endpoint = json!({ "url": format!("{}/hook", taking.uri()) });
    record!(
        "set_authority_endpoint",
        app.put("/v1/authorities/E08000039/endpoint", ADMIN_KEY, &endpoint)
            .await
    );
    record!(
        "rotate_authority_secret",
        app.post(
            "/v1/authorities/E08000039/endpoint/rotate-secret",
            ADMIN_KEY,
            &json!({})
        )
        .await
    );
    app.set_endpoint("E08000035", &refusing).await;
    let mailbox = json!({ "email": "dutytorefer@hartlepool.example.gov.uk" });
    record!(
        "set_authority_notify",
        app.put("/v1/authorities/E06000001/notify", ADMIN_KEY, &mailbox)
            .await
    );
    let officer = json!({ "email": "a.officer@hartlepool.example.gov.uk" });
    record!(
        "add_officer",
        app.post("/v1/authorities/E06000001/officers", ADMIN_KEY, &officer)
            .await
    );
    record!(
        "list_officers",
        app.get("/v1/authorities/E06000001/officers", ADMIN_KEY)
            .await
    );
    record!(
        "list_authorities",
        app.get("/v1/authorities?limit=2", ADMIN_KEY).await
    );
    record!(
        "get_authority",
        app.get("/v1/authorities/E08000039", ADMIN_KEY).await
    );

    let sheffield = app.authority("E08000039").await;
    let id = app.submit(&referrer, &referral_to("E08000039")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failing = app.submit(&referrer, &referral_to("E08000035")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let erased = app.submit(&referrer, &referral_to("E08000039")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.step().await;
    let one = |tail: &str| format!("/v1/referrals/{id}{tail}");
    record!("get_referral", app.get(&one(""), &sheffield).await);
    let ack =
        json!({ "received_by": "Housing Options duty officer", "local_reference": "HO-2026-0412" });
    record!(
        "acknowledge_referral",
        app.post(&one("/acknowledge"), &sheffield, &ack).await
    );
    let outcome = json!({ "decision": "accepted", "reason": "relief_duty" });
    record!(
        "record_referral_outcome",
        app.post(&one("/outcome"), &sheffield, &outcome).await
    );
    let note = json!({ "text": "Released at 10am; reachable through probation." });
    record!(
        "add_referral_note",
        app.post(&one("/notes"), &referrer, &note).await
    );
    record!(
        "list_referral_notes",
        app.get(&one("/notes"), &sheffield).await
    );
    record!(
        "list_referrals",
        app.get("/v1/referrals?limit=1", &referrer).await
    );
    record!(
        "list_referral_audit_events",
        app.get(&one("/audit?limit=3"), ADMIN_KEY).await
    );
    record!(
        "redeliver_referral",
        app.post(
            &format!("/v1/referrals/{failing}/redeliver"),
            ADMIN_KEY,
            &json!({})
        )
        .await
    );
    let withdrawal = json!({ "reason": "housing_need_resolved" });
    record!(
        "withdraw_referral",
        app.post(
            &format!("/v1/referrals/{failing}/withdraw"),
            &referrer,
            &withdrawal
        )
        .await
    );
    let erasure = json!({ "reason": "subject_request" });
    record!(
        "erase_referral",
        app.post(
            &format!("/v1/referrals/{erased}/erase"),
            ADMIN_KEY,
            &erasure
        )
        .await
    );
    record!(
        "get_audit_checkpoint",
        app.get("/v1/audit/checkpoint", ADMIN_KEY).await
    );
    record!(
        "verify_audit_chain",
        app.get("/v1/audit/verify", ADMIN_KEY).await
    );
    record!(
        "get_liveness",
        app.client.get(app.url("/healthz")).send().await.unwrap()
    );
    record!(
        "get_readiness",
        app.client.get(app.url("/readyz")).send().await.unwrap()
    );
    let organisation = json!({
        "name": "Leeds Teaching Hospitals NHS Trust",
        "agency_types": ["emergency_department", "hospital_inpatient"],
        "email_domains": ["leedsth.example.nhs.uk"]
    });
    let org = record!(
        "add_organisation",
        app.post("/v1/organisations", ADMIN_KEY, &organisation)
            .await
    );
    let org_path = format!("/v1/organisations/{}", org["id"].as_str().unwrap());
    record!(
        "list_organisations",
        app.get("/v1/organisations", ADMIN_KEY).await
    );
    record!("get_organisation", app.get(&org_path, ADMIN_KEY).await);
    let rename = json!({ "name": "Leeds Teaching Hospitals" });
    record!(
        "change_organisation",
        app.patch(&org_path, ADMIN_KEY, &rename).await
    );
    let practitioner = json!({ "email": "ward7.discharge@nhs.example.uk" });
    record!(
        "add_practitioner",
        app.post(
            &format!("{org_path}/practitioners"),
            ADMIN_KEY,
            &practitioner
        )
        .await
    );
    record!(
        "list_practitioners",
        app.get(&format!("{org_path}/practitioners"), ADMIN_KEY)
            .await
    );

    let spec: Value = app
        .get("/openapi.json", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let recorded: BTreeMap<String, Value> = seen
        .iter()
        .map(|(op, (status, body))| {
            let mut example = body.clone();
            as_example(&mut example);
            (
                op.to_string(),
                json!({ "status": status.to_string(), "example": example }),
            )
        })
        .collect();
    if std::env::var_os("DTR_RECORD_EXAMPLES").is_some() {
        let text = serde_json::to_string_pretty(&recorded).unwrap() + "\n";
        std::fs::write(responses_file(), text).expect("write responses.json");
    }
    let committed: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(responses_file()).expect("responses.json"))
            .expect("responses.json is JSON");
    // Every operation of the spec that answers JSON with 2xx has an example, and every live
    // answer and every example has its schema's shape.
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (verb, op) in operations.as_object().unwrap() {
            let op_id = op["operationId"].as_str().unwrap();
            for (status, response) in op["responses"].as_object().unwrap() {
                let Some(media) = response["content"]
                    .as_object()
                    .and_then(|c| c.iter().find(|(m, _)| m.starts_with("application/json")))
                    .map(|(_, m)| m)
                else {
                    continue;
                };
                if !status.starts_with('2') {
                    continue;
                }
                let example = media
                    .get("example")
                    .or_else(|| media.pointer("/examples/valid/value"))
                    .or_else(|| {
                        media["examples"]
                            .as_object()
                            .and_then(|e| e.values().next())
                            .map(|e| &e["value"])
                    })
                    .unwrap_or_else(|| panic!("{verb} {path} ({op_id}) {status} has no example"));
                conforms(
                    &spec,
                    &media["schema"],
                    example,
                    &format!("{op_id} example"),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                if let Some((live_status, live)) = seen.get(op_id) {
                    assert_eq!(live_status.to_string(), *status, "{op_id}");
                    conforms(&spec, &media["schema"], live, op_id)
                        .unwrap_or_else(|e| panic!("{e}\n{live:#}"));
                }
            }
        }
    }
    for (op, entry) in &recorded {
        let kept = committed
            .get(op)
            .unwrap_or_else(|| panic!("{op} is not in openapi/recorded-responses.json: record it with DTR_RECORD_EXAMPLES=1"));
        assert_eq!(kept["status"], entry["status"], "{op}");
    }
    // No secret is committed.
    let text = std::fs::read_to_string(responses_file()).unwrap();
    assert!(!text.contains(&referrer), "the recorded key is masked");
}
