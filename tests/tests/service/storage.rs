//! What survives a restart.

use serde_json::Value;
use tests::*;

#[tokio::test]
async fn a_restart_on_the_same_database_keeps_referrals_keys_and_the_chain() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let id = app.submit(&key, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let app = app.restart().await;
    let got: Value = app
        .get(&format!("/v1/referrals/{id}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["referral"]["person"]["given_name"], "Testgiven");
    let verify: Value = app
        .get("/v1/audit/verify", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verify["valid"], true, "{verify}");
}
