//! Data protection (docs/contract.md §11–§13): retention and erasure, signing secrets sealed at rest and
//! rotated, and signed audit checkpoints.

use base64::Engine;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};
use std::time::Duration;
use tests::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const DAY: Duration = Duration::from_secs(86_400);

/// One text column of one row, read straight from the database.
async fn column(app: &TestApp, sql: &str, id: &str) -> Option<String> {
    let db = app.raw_db().await;
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => sql.replace('?', "$1"),
        _ => sql.to_owned(),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [id.into()],
        ))
        .await
        .unwrap()
        .expect("a row");
    row.try_get_by_index::<Option<String>>(0).unwrap()
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}

async fn chain_is_valid(app: &TestApp) -> bool {
    let v: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    v["valid"] == true
}

async fn erase(app: &TestApp, key: &str, id: &str, reason: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/referrals/{id}/erase"),
        key,
        &json!({ "reason": reason }),
    )
    .await
}

/// A referral submitted to Sheffield and acknowledged by it (read, then acknowledged).
async fn acknowledged(app: &TestApp, referrer: &str, sheffield: &str) -> String {
    let id = id_of(&app.submit(referrer, &referral()).await);
    assert_eq!(
        app.get(&format!("/v1/referrals/{id}"), sheffield)
            .await
            .status(),
        200
    );
    let ack = app
        .post(
            &format!("/v1/referrals/{id}/acknowledge"),
            sheffield,
            &json!({"received_by": "Housing Options", "local_reference": "HOU-1"}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    id
}

#[tokio::test]
async fn retention_erases_a_referral_exactly_the_retention_period_after_it_was_acknowledged() {
    let app = TestApp::spawn().await;
    assert_eq!(app.config.retention, 90 * DAY, "the default");
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let done = acknowledged(&app, &referrer, &sheffield).await;
    // Delivered but never acknowledged: the authority still has work to do with it.
    let open = id_of(&app.submit(&referrer, &referral()).await);
    app.get(&format!("/v1/referrals/{open}"), &sheffield).await;

    app.advance(90 * DAY - Duration::from_millis(1));
    assert_eq!(app.sweep_retention().await, 0, "day 90 less a moment: kept");
    app.advance(Duration::from_millis(1));
    assert_eq!(app.sweep_retention().await, 1, "day 90: erased");
    app.advance(365 * DAY);
    assert_eq!(app.sweep_retention().await, 0, "never the delivered one");

    let erased: Value = app
        .get(&format!("/v1/referrals/{done}"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(erased["erased_at"].is_string());
    assert!(erased.get("referral").is_none_or(Value::is_null));
    assert_eq!(erased["status"], "acknowledged", "the status stays");
    assert_eq!(erased["acknowledgement"]["received_by"], "", "erased");
    let kept: Value = app
        .get(&format!("/v1/referrals/{open}"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert!(kept["erased_at"].is_null());
    assert!(kept["referral"].is_object());

    let events = app.events_of(&done).await;
    let event = events
        .iter()
        .find(|e| e["action"] == "referral.erased")
        .expect("referral.erased");
    assert_eq!(event["actor"]["role"], "system");
    assert_eq!(event["detail"]["reason"], "retention");
    assert!(chain_is_valid(&app).await);
}

#[tokio::test]
async fn retention_counts_from_withdrawal_and_from_failure_too() {
    let app = TestApp::spawn_with(|c| c.retention = DAY).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let withdrawn = id_of(&app.submit(&referrer, &referral()).await);
    let resp = app
        .post(
            &format!("/v1/referrals/{withdrawn}/withdraw"),
            &referrer,
            &json!({"reason": "new_referral"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // A push that fails for good: the receiver refuses with 400.
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&receiver)
        .await;
    let set = app
        .put(
            "/v1/authorities/E06000001/endpoint",
            ADMIN_KEY,
            &json!({"url": format!("{}/hook", receiver.uri())}),
        )
        .await;
    assert_eq!(set.status(), 200);
    let failed = id_of(&app.submit(&referrer, &referral_to("E06000001")).await);
    app.step().await;
    assert_eq!(app.state_of(&failed).await["status"], "failed");

    app.advance(DAY - Duration::from_secs(1));
    assert_eq!(app.sweep_retention().await, 0);
    app.advance(Duration::from_secs(1));
    assert_eq!(app.sweep_retention().await, 2);
    for id in [&withdrawn, &failed] {
        assert!(app.state_of(id).await["erased_at"].is_string());
    }
    assert!(chain_is_valid(&app).await);
}

#[tokio::test]
async fn erasure_on_request_removes_the_personal_data_and_keeps_the_trail() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let resp = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&referrer)
        .header("Idempotency-Key", "case-4471-jane-doe")
        .json(&referral())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = id_of(&resp.json().await.unwrap());
    app.get(&format!("/v1/referrals/{id}"), &sheffield).await;
    app.post(
        &format!("/v1/referrals/{id}/acknowledge"),
        &sheffield,
        &json!({"received_by": "Jo Officer", "local_reference": "HOU-77"}),
    )
    .await;
    let note = app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &sheffield,
            &json!({"text": "Spoke to the person on the phone."}),
        )
        .await;
    assert_eq!(note.status(), 201);

    // Who may, and with what reason.
    assert_problem(erase(&app, &referrer, &id, "subject_request").await, 403).await;
    let p = assert_problem(erase(&app, ADMIN_KEY, &id, "retention").await, 422).await;
    assert_eq!(p["type"], "urn:dtr:problem:erasure.invalid");
    assert_eq!(p["errors"][0]["code"], "field.invalid_value");
    assert_eq!(p["errors"][0]["pointer"], "/reason");
    assert_problem(erase(&app, ADMIN_KEY, &id, "bored").await, 422).await;
    assert_problem(
        erase(
            &app,
            ADMIN_KEY,
            "0190f5d6-0000-7000-8000-000000000000",
            "subject_request",
        )
        .await,
        404,
    )
    .await;
    assert!(
        app.state_of(&id).await["erased_at"].is_null(),
        "nothing changed"
    );

    let resp = erase(&app, ADMIN_KEY, &id, "subject_request").await;
    assert_eq!(resp.status(), 200);
    let erased: Value = resp.json().await.unwrap();
    assert!(erased["erased_at"].is_string());
    assert!(erased.get("referral").is_none_or(Value::is_null));
    assert_eq!(erased["acknowledgement"]["received_by"], "", "erased");
    assert!(erased["acknowledgement"]["local_reference"].is_null());
    // What stays: the id, status, authority, organisation, agency type and times.
    assert_eq!(erased["id"], id);
    assert_eq!(erased["status"], "acknowledged");
    assert_eq!(erased["housing_authority"]["gss_code"], "E08000039");
    assert_eq!(erased["organisation"], "HMPPS Yorkshire");
    assert_eq!(erased["agency_type"], "probation");
    assert!(erased["submitted_at"].is_string());

    // The parties see the same; notes answer 409.
    for key in [&referrer, &sheffield] {
        let seen: Value = app
            .get(&format!("/v1/referrals/{id}"), key)
            .await
            .json()
            .await
            .unwrap();
        assert!(seen.get("referral").is_none_or(Value::is_null));
        assert_problem(
            app.get(&format!("/v1/referrals/{id}/notes"), key).await,
            409,
        )
        .await;
    }
    // In the database: the document, the notes' text and the Idempotency-Key are gone.
    assert_eq!(
        column(&app, "SELECT document FROM referrals WHERE id = ?", &id)
            .await
            .as_deref(),
        Some("")
    );
    assert_eq!(
        column(
            &app,
            "SELECT idempotency_key FROM referrals WHERE id = ?",
            &id
        )
        .await,
        None
    );
    assert_eq!(
        column(&app, "SELECT text FROM notes WHERE referral_id = ?", &id).await,
        None
    );
    // Erasing again changes nothing.
    let again: Value = erase(&app, ADMIN_KEY, &id, "sent_in_error")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["erased_at"], erased["erased_at"]);

    let events = app.events_of(&id).await;
    let erasures: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "referral.erased")
        .collect();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0]["actor"]["role"], "admin");
    assert_eq!(erasures[0]["detail"]["reason"], "subject_request");
    assert!(chain_is_valid(&app).await);
}

#[tokio::test]
async fn withdrawing_with_consent_withdrawn_erases_and_another_reason_does_not() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let kept = id_of(&app.submit(&referrer, &referral()).await);
    let erased = id_of(&app.submit(&referrer, &referral()).await);
    for (id, reason) in [(&kept, "disengaged"), (&erased, "consent_withdrawn")] {
        let resp = app
            .post(
                &format!("/v1/referrals/{id}/withdraw"),
                &referrer,
                &json!({ "reason": reason }),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let kept: Value = app
        .get(&format!("/v1/referrals/{kept}"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    assert!(kept["erased_at"].is_null());
    assert!(kept["referral"].is_object());
    let gone: Value = app
        .get(&format!("/v1/referrals/{erased}"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone["status"], "withdrawn");
    assert!(gone["erased_at"].is_string());
    assert!(gone.get("referral").is_none_or(Value::is_null));
    let reasons: Vec<Value> = app
        .events_of(&erased)
        .await
        .into_iter()
        .filter(|e| e["action"] == "referral.erased")
        .map(|e| e["detail"]["reason"].clone())
        .collect();
    assert_eq!(reasons, vec![json!("consent_withdrawn")]);
    assert!(chain_is_valid(&app).await);
}

/// Every byte of the SQLite database file and its WAL.
fn sqlite_bytes(app: &TestApp) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["dtr.db", "dtr.db-wal"] {
        if let Ok(bytes) = std::fs::read(app.data_dir().join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn on_sqlite_erased_text_is_in_neither_the_database_file_nor_its_wal_after_the_checkpoint() {
    let app = TestApp::spawn_sqlite().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let name = "Zephyrinaquux";
    let note = "Notequuxdistinct";
    let mut doc = referral();
    doc["person"]["given_name"] = json!(name);
    let id = id_of(&app.submit(&referrer, &doc).await);
    app.get(&format!("/v1/referrals/{id}"), &sheffield).await;
    app.post(
        &format!("/v1/referrals/{id}/notes"),
        &referrer,
        &json!({ "text": note }),
    )
    .await;
    app.checkpoint_wal().await;
    let before = sqlite_bytes(&app);
    assert!(contains(&before, name), "the search finds the name before");
    assert!(contains(&before, note), "and the note");

    let resp = erase(&app, ADMIN_KEY, &id, "sent_in_error").await;
    assert_eq!(resp.status(), 200);
    app.checkpoint_wal().await;
    let after = sqlite_bytes(&app);
    assert!(
        !contains(&after, name),
        "the name is gone from file and WAL"
    );
    assert!(
        !contains(&after, note),
        "the note is gone from file and WAL"
    );
    assert!(chain_is_valid(&app).await);
}

#[tokio::test]
async fn on_sqlite_retention_leaves_no_erased_text_behind_either() {
    let app = TestApp::spawn_sqlite().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let name = "Quillonbrisk";
    let mut doc = referral();
    doc["person"]["given_name"] = json!(name);
    let id = id_of(&app.submit(&referrer, &doc).await);
    app.get(&format!("/v1/referrals/{id}"), &sheffield).await;
    app.post(
        &format!("/v1/referrals/{id}/acknowledge"),
        &sheffield,
        &json!({"received_by": "Housing Options"}),
    )
    .await;
    app.checkpoint_wal().await;
    assert!(contains(&sqlite_bytes(&app), name));
    app.advance(90 * DAY);
    // The sweep takes the checkpoint itself.
    assert_eq!(app.sweep_retention().await, 1);
    assert!(!contains(&sqlite_bytes(&app), name));
}

fn secret_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

async fn stored_secret(app: &TestApp, gss: &str) -> String {
    column(
        app,
        "SELECT secret FROM authority_endpoints WHERE gss_code = ?",
        gss,
    )
    .await
    .unwrap()
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// Starting the service with `config` fails; the error's full text.
async fn start_fails(config: api::config::Config) -> String {
    match api::serve::start_with_clock(config, false, api::clock::Clock::system()).await {
        Ok(_) => panic!("the service started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn with_a_secret_key_signing_secrets_are_stored_sealed_and_still_sign() {
    let app = TestApp::spawn_with(|c| c.secret_key = Some(secret_key(7))).await;
    let server = receiver().await;
    let secret = app.set_endpoint("E06000001", &server).await;
    let stored = stored_secret(&app, "E06000001").await;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains(secret.trim_start_matches("whsec_")));
    let referrer = app.referrer("HMPPS Yorkshire").await;
    app.submit(&referrer, &referral_to("E06000001")).await;
    assert_eq!(app.step().await, 1);
    let pushes = server.received_requests().await.unwrap();
    assert_eq!(pushes.len(), 1);
    assert!(signed_by(&secret, &pushes[0]));
}

#[tokio::test]
async fn a_missing_or_wrong_secret_key_stops_start_up_with_a_clear_message() {
    let mut app = TestApp::spawn_with(|c| c.secret_key = Some(secret_key(7))).await;
    let server = receiver().await;
    app.set_endpoint("E06000001", &server).await;
    let config = app.config.clone();
    app.running.take().unwrap().shutdown().await;

    let mut wrong = config.clone();
    wrong.secret_key = Some(secret_key(8));
    let message = start_fails(wrong).await;
    assert!(
        message.contains("DTR_SECRET_KEY does not open") && message.contains("E06000001"),
        "{message}"
    );
    let mut none = config.clone();
    none.secret_key = None;
    let message = start_fails(none).await;
    assert!(message.contains("set DTR_SECRET_KEY"), "{message}");
    let mut malformed = config.clone();
    malformed.secret_key = Some("too-short".into());
    let message = start_fails(malformed).await;
    assert!(message.contains("32 random bytes"), "{message}");
    // The right key still starts.
    let app = app.restart_with(config).await;
    assert_eq!(app.get("/readyz", ADMIN_KEY).await.status(), 200);
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_authoritys_row_does_not_open() {
    let mut app = TestApp::spawn_with(|c| c.secret_key = Some(secret_key(7))).await;
    let server = receiver().await;
    app.set_endpoint("E06000001", &server).await;
    app.set_endpoint("E06000002", &server).await;
    let hartlepool = stored_secret(&app, "E06000001").await;
    let db = app.raw_db().await;
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "UPDATE authority_endpoints SET secret = $1 WHERE gss_code = $2",
        _ => "UPDATE authority_endpoints SET secret = ?1 WHERE gss_code = ?2",
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [hartlepool.into(), "E06000002".into()],
    ))
    .await
    .unwrap();
    let config = app.config.clone();
    app.running.take().unwrap().shutdown().await;
    let message = start_fails(config).await;
    assert!(message.contains("E06000002"), "{message}");
}

#[tokio::test]
async fn clear_secrets_are_sealed_on_the_first_start_with_a_key() {
    let app = TestApp::spawn().await;
    let server = receiver().await;
    let secret = app.set_endpoint("E06000001", &server).await;
    assert_eq!(stored_secret(&app, "E06000001").await, secret, "in clear");
    let mut config = app.config.clone();
    config.secret_key = Some(secret_key(9));
    let app = app.restart_with(config).await;
    let stored = stored_secret(&app, "E06000001").await;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    let referrer = app.referrer("HMPPS Yorkshire").await;
    app.submit(&referrer, &referral_to("E06000001")).await;
    assert_eq!(app.step().await, 1);
    let pushes = server.received_requests().await.unwrap();
    assert!(signed_by(&secret, &pushes[0]), "the same secret signs");
}

#[tokio::test]
async fn after_a_rotation_pushes_carry_both_signatures_for_24_hours_then_only_the_new_one() {
    let app = TestApp::spawn_with(|c| c.secret_key = Some(secret_key(3))).await;
    let server = receiver().await;
    let old = app.set_endpoint("E06000001", &server).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;

    assert_problem(
        app.post(
            "/v1/authorities/E06000001/endpoint/rotate-secret",
            &referrer,
            &json!({}),
        )
        .await,
        403,
    )
    .await;
    let p = assert_problem(
        app.post(
            "/v1/authorities/E06000002/endpoint/rotate-secret",
            ADMIN_KEY,
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["type"], "urn:dtr:problem:authority.no_endpoint");

    let resp = app
        .post(
            "/v1/authorities/E06000001/endpoint/rotate-secret",
            ADMIN_KEY,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    assert_eq!(rotated["gss_code"], "E06000001");
    assert_eq!(rotated["url"], format!("{}/hook", server.uri()));
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let stored = column(
        &app,
        "SELECT previous_secret FROM authority_endpoints WHERE gss_code = ?",
        "E06000001",
    )
    .await
    .unwrap();
    assert!(stored.starts_with("enc:v1:"), "the old one is sealed too");

    // During the overlap (to its last second): two signatures, the new one first.
    for wait in [
        Duration::ZERO,
        24 * 3600 * Duration::from_secs(1) - Duration::from_secs(1),
    ] {
        app.advance(wait);
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        app.submit(&referrer, &referral_to("E06000001")).await;
        assert_eq!(app.step().await, 1);
        let push = &server.received_requests().await.unwrap()[0];
        let header = push.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2, "{header}");
        assert!(
            signed_by(&new, push),
            "a receiver with the new secret verifies"
        );
        assert!(
            signed_by(&old, push),
            "a receiver with the old secret verifies"
        );
        let only_new = wiremock_with_signature(push, parts[0]);
        assert!(signed_by(&new, &only_new), "the new signature is first");
    }
    // 24 hours after the rotation: only the new one.
    app.advance(Duration::from_secs(1));
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    app.submit(&referrer, &referral_to("E06000001")).await;
    assert_eq!(app.step().await, 1);
    let push = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        push.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(signed_by(&new, push));
    assert!(!signed_by(&old, push), "the old secret no longer verifies");

    let db = app.raw_db().await;
    let rotated = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT detail FROM audit_events WHERE action = 'authority.secret_rotated'",
        ))
        .await
        .unwrap()
        .expect("authority.secret_rotated audited");
    let detail: Value =
        serde_json::from_str(&rotated.try_get_by_index::<String>(0).unwrap()).unwrap();
    assert_eq!(detail["gss_code"], "E06000001");
    assert!(!detail.to_string().contains("whsec_"), "never the secret");
}

/// The same request with only `signature` in its `webhook-signature` header.
fn wiremock_with_signature(req: &wiremock::Request, signature: &str) -> wiremock::Request {
    let mut copy = req.clone();
    copy.headers.insert(
        "webhook-signature",
        reqwest::header::HeaderValue::from_str(signature).unwrap(),
    );
    copy
}

#[tokio::test]
async fn setting_an_endpoint_records_its_url_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    let server = receiver().await;
    app.set_endpoint("E06000001", &server).await;
    let db = app.raw_db().await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT detail FROM audit_events WHERE action = 'authority.endpoint_changed'",
        ))
        .await
        .unwrap()
        .expect("authority.endpoint_changed");
    let detail: Value = serde_json::from_str(&row.try_get_by_index::<String>(0).unwrap()).unwrap();
    assert_eq!(detail["url"], format!("{}/hook", server.uri()));
    assert!(!detail.to_string().contains("whsec_"));
}

#[tokio::test]
async fn idempotency_keys_are_stored_only_as_a_hash_and_still_replay() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let doc = referral();
    let send = || async {
        app.client
            .post(app.url("/v1/referrals"))
            .bearer_auth(&referrer)
            .header("Idempotency-Key", "jane-doe-1990-case-4471")
            .json(&doc)
            .send()
            .await
            .unwrap()
    };
    let first = send().await;
    assert_eq!(first.status(), 201);
    let id = id_of(&first.json().await.unwrap());
    let again = send().await;
    assert_eq!(
        again.status(),
        201,
        "the replay answers as the original did"
    );
    assert_eq!(id_of(&again.json().await.unwrap()), id);
    let stored = column(
        &app,
        "SELECT idempotency_key FROM referrals WHERE id = ?",
        &id,
    )
    .await
    .unwrap();
    assert!(!stored.contains("jane"));
    assert_eq!(stored.len(), 64);
    assert!(stored.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn a_checkpoint_is_signed_by_the_service_key_over_the_current_head() {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    app.submit(&referrer, &referral()).await;
    let resp = app.get("/v1/audit/checkpoint", &referrer).await;
    assert_eq!(resp.status(), 200);
    let c: Value = resp.json().await.unwrap();
    let verified: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["events"], verified["events"]);
    assert_eq!(c["head"], verified["head"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = b64
        .decode(c["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = b64
        .decode(c["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let message = format!(
        "dtr-audit-checkpoint/v1\n{}\n{}\n{}\n",
        c["events"],
        c["head"].as_str().unwrap(),
        c["at"].as_str().unwrap()
    );
    VerifyingKey::from_bytes(&key)
        .unwrap()
        .verify(message.as_bytes(), &Signature::from_bytes(&signature))
        .expect("the signature verifies with the published key");
    // The key file is private and the key survives a restart.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app.config.audit_key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let app = app.restart().await;
    let after: Value = app
        .get("/v1/audit/checkpoint", &referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["public_key"], c["public_key"]);
    assert_problem(app.get("/v1/audit/checkpoint", "nonsense").await, 401).await;
}

#[tokio::test]
async fn two_services_sweeping_one_database_erase_each_referral_exactly_once() {
    let app = TestApp::spawn_with(|c| c.retention = DAY).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    // More than two batches.
    let n = api::referrals::retention::BATCH as usize * 2 + 7;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = id_of(&app.submit(&referrer, &referral()).await);
        let resp = app
            .post(
                &format!("/v1/referrals/{id}/withdraw"),
                &referrer,
                &json!({"reason": "disengaged"}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        ids.push(id);
    }
    app.advance(DAY);
    // A second process on the same database, on the same clock.
    let mut config = app.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let other = api::serve::start_with_clock(config, false, app.clock.clone())
        .await
        .unwrap();
    let state = &app.running.as_ref().unwrap().state;
    let (a, b) = tokio::join!(
        api::referrals::retention::sweep(&state.db, &app.clock, DAY),
        api::referrals::retention::sweep(&other.state.db, &app.clock, DAY),
    );
    assert_eq!(a.unwrap() + b.unwrap(), n, "every due referral, once");
    for id in &ids {
        let erasures = app
            .events_of(id)
            .await
            .into_iter()
            .filter(|e| e["action"] == "referral.erased")
            .count();
        assert_eq!(erasures, 1, "{id}");
    }
    assert!(chain_is_valid(&app).await);
    other.shutdown().await;
}

#[tokio::test]
async fn an_erased_referral_is_never_pushed_even_when_its_authority_gets_an_endpoint() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = id_of(&app.submit(&referrer, &referral_to("E06000001")).await);
    assert_eq!(app.state_of(&id).await["status"], "awaiting_collection");
    assert_eq!(
        erase(&app, ADMIN_KEY, &id, "sent_in_error").await.status(),
        200
    );
    let server = receiver().await;
    app.set_endpoint("E06000001", &server).await;
    assert_eq!(app.step().await, 0, "nothing to push");
    assert!(server.received_requests().await.unwrap().is_empty());
    assert_eq!(app.state_of(&id).await["status"], "awaiting_collection");
    // Its authority does not collect it either: a read shows no document and changes nothing.
    let hartlepool = app.authority("E06000001").await;
    let seen: Value = app
        .get(&format!("/v1/referrals/{id}"), &hartlepool)
        .await
        .json()
        .await
        .unwrap();
    assert!(seen.get("referral").is_none_or(Value::is_null));
    assert_eq!(seen["status"], "awaiting_collection");
    let p = assert_problem(
        app.post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &hartlepool,
            &json!({"received_by": "Jo Officer"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["type"], "urn:dtr:problem:referral.erased");
}

/// A name no other text in the database contains: `Erasable` and `n` in letters.
fn distinct_name(n: usize) -> String {
    let mut letters = String::new();
    let mut n = n;
    for _ in 0..4 {
        letters.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("Erasable{letters}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_thousands_of_erasures_leave_no_document_in_the_file_or_its_wal() {
    let app = TestApp::spawn_sqlite().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    const N: usize = 2000;
    // Many requests at once, as the service meets them: multi-row batches, rows of many sizes.
    async fn each<F, Fut>(n: usize, f: F) -> Vec<Value>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Value> + Send + 'static,
    {
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(50) {
            let pending: Vec<_> = (start..(start + 50).min(n))
                .map(|i| tokio::spawn(f(i)))
                .collect();
            for p in pending {
                out.push(p.await.unwrap());
            }
        }
        out
    }
    let send = |method: reqwest::Method, path: String, key: String, body: Option<Value>| {
        let req = app.client.request(method, app.url(&path)).bearer_auth(key);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            assert!(status == 200 || status == 201, "{path}: {status}");
            resp.json::<Value>().await.unwrap()
        }
    };
    let ids: Vec<String> = each(N, |n| {
        let mut doc = referral();
        doc["person"]["given_name"] = json!(distinct_name(n));
        doc["person"]["contact"]["email"] = json!(format!("{}@example.org", distinct_name(n)));
        // Documents of many sizes, so rows move between pages as they grow and shrink.
        doc["housing_situation"]["summary"] =
            json!(format!("Tenancy ending {}", "and more ".repeat(n % 300)));
        send(
            reqwest::Method::POST,
            "/v1/referrals".to_owned(),
            referrer.clone(),
            Some(doc),
        )
    })
    .await
    .iter()
    .map(|r| r["id"].as_str().unwrap().to_owned())
    .collect();
    // The authority collects each and acknowledges it with references of many lengths (rows
    // grow by different amounts in place); then half are erased on request and half by
    // retention.
    each(N, |n| {
        send(
            reqwest::Method::GET,
            format!("/v1/referrals/{}", ids[n]),
            sheffield.clone(),
            None,
        )
    })
    .await;
    each(N, |n| {
        send(
            reqwest::Method::POST,
            format!("/v1/referrals/{}/acknowledge", ids[n]),
            sheffield.clone(),
            Some(json!({"received_by": "Housing Options", "local_reference": "R".repeat(1 + (n * 37) % 90)})),
        )
    })
    .await;
    each(N / 2, |n| {
        send(
            reqwest::Method::POST,
            format!("/v1/referrals/{}/erase", ids[2 * n + 1]),
            ADMIN_KEY.to_owned(),
            Some(json!({"reason": "subject_request"})),
        )
    })
    .await;
    app.advance(90 * DAY);
    assert_eq!(app.sweep_retention().await, N / 2);
    app.checkpoint_wal().await;
    // One pass over the bytes: every occurrence of the names' prefix.
    let bytes = sqlite_bytes(&app);
    let prefix = b"Erasable";
    let left: std::collections::BTreeSet<String> = bytes
        .windows(prefix.len() + 4)
        .filter(|w| w.starts_with(prefix))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "{} of {N} erased names are still in the file or WAL, e.g. {:?}",
        left.len(),
        left.iter().take(5).collect::<Vec<_>>()
    );
    assert!(chain_is_valid(&app).await);
}

/// Polls the SQLite file and WAL until `text` is in neither (the service's own scrubber, not the
/// test, takes the checkpoint); false after 30 s.
async fn gone_by_itself(app: &TestApp, text: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if !contains(&sqlite_bytes(app), text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn on_sqlite_every_erasure_path_clears_the_file_and_wal_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display());
    let mut config = test_config(&url, dir.path());
    config.scrub_interval = Duration::from_secs(1);
    let app = TestApp::spawn_with_config(config, dir).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let submit_named = |name: &'static str| {
        let mut doc = referral();
        doc["person"]["given_name"] = json!(name);
        doc["person"]["contact"]["email"] = json!(format!("{name}@example.org"));
        doc
    };
    // Each path in turn, each referral's text still in the WAL when it is erased.
    let requested = id_of(&app.submit(&referrer, &submit_named("Requestquux")).await);
    assert!(contains(&sqlite_bytes(&app), "Requestquux"));
    assert_eq!(
        erase(&app, ADMIN_KEY, &requested, "subject_request")
            .await
            .status(),
        200
    );
    assert!(
        gone_by_itself(&app, "Requestquux").await,
        "erased on request"
    );

    let withdrawn = id_of(&app.submit(&referrer, &submit_named("Withdrawquux")).await);
    assert!(contains(&sqlite_bytes(&app), "Withdrawquux"));
    let resp = app
        .post(
            &format!("/v1/referrals/{withdrawn}/withdraw"),
            &referrer,
            &json!({"reason": "consent_withdrawn"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        gone_by_itself(&app, "Withdrawquux").await,
        "consent withdrawn"
    );

    let retained = id_of(&app.submit(&referrer, &submit_named("Retainquux")).await);
    app.get(&format!("/v1/referrals/{retained}"), &sheffield)
        .await;
    let ack = app
        .post(
            &format!("/v1/referrals/{retained}/acknowledge"),
            &sheffield,
            &json!({"received_by": "Housing Options"}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    assert!(contains(&sqlite_bytes(&app), "Retainquux"));
    app.advance(90 * DAY);
    assert_eq!(app.sweep_retention().await, 1);
    assert!(gone_by_itself(&app, "Retainquux").await, "retention");
    assert!(chain_is_valid(&app).await);
}

#[tokio::test]
async fn an_erasure_is_pushed_to_an_authority_that_received_the_referral() {
    let app = TestApp::spawn().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let secret = app.set_endpoint("E08000039", &receiver).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = id_of(&app.submit(&referrer, &referral()).await);
    assert_eq!(app.step().await, 1);
    let resp = erase(&app, ADMIN_KEY, &id, "sent_in_error").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.step().await, 1);
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let pushed: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        pushed,
        json!({ "type": "referral.erased", "id": id, "reason": "sent_in_error" })
    );
    assert!(signed_by(&secret, &requests[1]));
    // The opposite: a referral erased before it was delivered tells the authority nothing.
    let early = id_of(&app.submit(&referrer, &referral()).await);
    assert_eq!(
        erase(&app, ADMIN_KEY, &early, "sent_in_error")
            .await
            .status(),
        200
    );
    app.step().await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 2);
}
