//! The audit trail: one hash chain, append-only in the database, tampering detected at the right seq.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_json::Value;
use tests::*;

async fn verify(app: &TestApp) -> Value {
    app.get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap()
}

/// A log of a dozen events: keys, submissions and reads.
async fn some_history(app: &TestApp) {
    let key = app.referrer("HMPPS Yorkshire").await;
    for _ in 0..3 {
        let id = app.submit(&key, &referral()).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.get(&format!("/v1/referrals/{id}"), &key).await;
    }
}

async fn drop_triggers(db: &DatabaseConnection) {
    let statements: &[&str] = match db.get_database_backend() {
        DbBackend::Postgres => &["DROP TRIGGER audit_events_no_update ON audit_events"],
        _ => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
    };
    for sql in statements {
        db.execute_unprepared(sql).await.unwrap();
    }
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_audit_events() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    let db = app.raw_db().await;
    let update = db
        .execute_unprepared("UPDATE audit_events SET action = 'x' WHERE seq = 2")
        .await;
    assert!(update.is_err(), "update refused");
    let delete = db
        .execute_unprepared("DELETE FROM audit_events WHERE seq = 2")
        .await;
    assert!(delete.is_err(), "delete refused");
    assert_eq!(verify(&app).await["valid"], true);
}

#[tokio::test]
async fn an_edited_middle_event_is_detected_at_its_seq() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    let before = verify(&app).await;
    assert_eq!(before["valid"], true);
    assert_eq!(before["first_broken"], Value::Null);
    let db = app.raw_db().await;
    drop_triggers(&db).await;
    for edit in [
        "UPDATE audit_events SET detail = '{\"gss_code\":\"E09000033\"}' WHERE seq = 5",
        "UPDATE audit_events SET at = '2020-01-01T00:00:00.000Z' WHERE seq = 5",
        "UPDATE audit_events SET actor_role = 'admin' WHERE seq = 5",
    ] {
        let app_db = app.raw_db().await;
        let original: Vec<sea_orm::QueryResult> = app_db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT detail, at, actor_role FROM audit_events WHERE seq = 5",
            ))
            .await
            .unwrap();
        db.execute_unprepared(edit).await.unwrap();
        let v = verify(&app).await;
        assert_eq!(v["valid"], false, "{edit}");
        assert_eq!(v["first_broken"], 5, "{edit}");
        // Restore for the next edit.
        let row = &original[0];
        let detail: String = row.try_get("", "detail").unwrap();
        let at: String = row.try_get("", "at").unwrap();
        let role: String = row.try_get("", "actor_role").unwrap();
        let restore = format!("UPDATE audit_events SET detail = '{}', at = '{at}', actor_role = '{role}' WHERE seq = 5", detail.replace('\'', "''"));
        db.execute_unprepared(&restore).await.unwrap();
        assert_eq!(verify(&app).await["valid"], true, "restored");
    }
}

#[tokio::test]
async fn a_deleted_event_is_detected_at_its_seq() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    let db = app.raw_db().await;
    drop_triggers(&db).await;
    db.execute_unprepared("DELETE FROM audit_events WHERE seq = 4")
        .await
        .unwrap();
    let v = verify(&app).await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["first_broken"], 4);
}

#[tokio::test]
async fn two_swapped_events_are_detected_at_the_first() {
    let app = TestApp::spawn().await;
    some_history(&app).await;
    let db = app.raw_db().await;
    drop_triggers(&db).await;
    // Swap the contents of events 3 and 6, keeping their positions.
    for sql in [
        "UPDATE audit_events SET seq = -3 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -3",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    let v = verify(&app).await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["first_broken"], 3);
}

#[tokio::test]
async fn the_chain_stays_valid_after_200_concurrent_submissions() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut tasks = vec![];
    for i in 0..200 {
        let client = app.client.clone();
        let url = app.url("/v1/referrals");
        let key = key.clone();
        let mut doc = referral();
        if i % 4 == 0 {
            doc["consent"]["referral"] = serde_json::json!(false); // some rejections in the mix
        }
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&doc)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 150);
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 50);
    let v = verify(&app).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(
        v["events"],
        1 + 1 + 400,
        "bootstrap key, referrer key, two events per submission"
    );
    // The head is the hash of the last event, recomputable by anyone.
    let db = app.raw_db().await;
    let last = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v["head"], last.try_get::<String>("", "hash").unwrap());
}

#[tokio::test]
async fn an_auditor_can_recompute_a_referrals_events_with_any_jcs_library() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), &key)
        .await
        .json()
        .await
        .unwrap();
    for e in events["items"].as_array().unwrap() {
        let mut unhashed = e.clone();
        let hash = unhashed.as_object_mut().unwrap().remove("hash").unwrap();
        // RFC 8785 by hand for this shape: sorted keys, no whitespace (serde_json's BTreeMap order
        // would do; we sort explicitly to be independent of the service's serializer).
        let canonical = canonical(&unhashed);
        let mut h = Sha256::new();
        h.update(e["prev_hash"].as_str().unwrap().as_bytes());
        h.update(canonical.as_bytes());
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, hex.as_str());
    }
}

/// A minimal JCS for objects, arrays, strings, integers, booleans and null.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        canonical(&m[*k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => serde_json::to_string(other).unwrap(),
    }
}
