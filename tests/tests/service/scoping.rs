//! Who may see what (docs/contract.md §2): existence is never disclosed across organisations or authorities.

use serde_json::Value;
use tests::*;

#[tokio::test]
async fn another_organisations_referrer_sees_404_and_an_empty_list() {
    let app = TestApp::spawn().await;
    let mine = app.referrer("HMPPS Yorkshire").await;
    let theirs = app.referrer("HMPPS Wales").await;
    let id = app.submit(&mine, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(app.get(&format!("/v1/referrals/{id}"), &theirs).await, 404).await;
    assert_problem(
        app.get(&format!("/v1/referrals/{id}/audit"), &theirs).await,
        404,
    )
    .await;
    let list: Value = app
        .get("/v1/referrals", &theirs)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    // The same organisation's other key sees it.
    let colleague = app.referrer("HMPPS Yorkshire").await;
    assert_eq!(
        app.get(&format!("/v1/referrals/{id}"), &colleague)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn another_authority_sees_404_and_an_empty_inbox() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let leeds = app.authority("E08000035").await;
    let id = app.submit(&referrer, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(app.get(&format!("/v1/referrals/{id}"), &leeds).await, 404).await;
    let inbox: Value = app.get("/v1/referrals", &leeds).await.json().await.unwrap();
    assert!(inbox["items"].as_array().unwrap().is_empty());
    assert_problem(
        app.post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &leeds,
            &serde_json::json!({"received_by": "Leeds"}),
        )
        .await,
        404,
    )
    .await;
    let inbox: Value = app
        .get("/v1/referrals", &sheffield)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_admin_sees_every_referral() {
    let app = TestApp::spawn().await;
    let a = app.referrer("A").await;
    let b = app.referrer("B").await;
    app.submit(&a, &referral()).await;
    app.submit(&b, &referral_to("E09000033")).await;
    let all: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}
