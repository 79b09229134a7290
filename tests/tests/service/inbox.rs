//! The web inbox over HTTP (docs/contract.md §10): sign-in by e-mailed link, sessions, CSRF, scoping, and
//! the forms calling the same transitions as the API. The same journey in a real browser, with
//! axe-core, is in `inbox_browser.rs`.

use serde_json::{json, Value};
use std::time::Duration;
use tests::*;

const OFFICER: &str = "jo.officer@hartlepool.example.gov.uk";

async fn add_officer(app: &TestApp, gss: &str, email: &str) -> String {
    let resp = app
        .post(
            &format!("/v1/authorities/{gss}/officers"),
            ADMIN_KEY,
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["gss_code"], gss);
    body["id"].as_str().unwrap().to_owned()
}

async fn submitted(app: &TestApp, gss: &str, given_name: &str) -> String {
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral_to(gss);
    doc["person"]["given_name"] = json!(given_name);
    app.submit(&referrer, &doc).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_officer_signs_in_by_link_reads_acknowledges_decides_and_notes() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let officer_id = add_officer(&app, "E06000001", OFFICER).await;
    let id = submitted(&app, "E06000001", "Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;

    // The list: the referral, naming the person for the signed-in officer (docs/contract.md
    // §10b), which listing does not count as reading.
    let (status, _, list) = b.get("/inbox").await;
    assert_eq!(status, 200);
    assert!(list.contains("Referrals for Hartlepool"), "{list}");
    assert!(list.contains(&format!("/inbox/referrals/{id}")));
    assert!(list.contains("HMPPS Yorkshire"));
    assert!(list.contains("Wilhelmina"), "the person's name in the list");
    assert_eq!(app.state_of(&id).await["status"], "awaiting_collection");

    // Reading it delivers it, audited with the officer as actor.
    let (status, _, page) = b.get(&format!("/inbox/referrals/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Wilhelmina"), "the document is shown");
    assert_eq!(app.state_of(&id).await["status"], "delivered");
    let audit: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let viewed = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "referral.viewed")
        .expect("viewed");
    assert_eq!(viewed["actor"]["role"], "officer");
    assert_eq!(viewed["actor"]["officer_id"], officer_id.as_str());
    assert!(viewed["actor"]["key_id"].is_null());

    // Acknowledge.
    let csrf = hidden_field(&page, "csrf").unwrap();
    let (status, location, _) = b
        .post(
            &format!("/inbox/referrals/{id}/acknowledge"),
            &[
                ("csrf", &csrf),
                ("received_by", "Housing Options"),
                ("local_reference", "HO-42"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("/inbox/referrals/{id}?done=acknowledged").as_str())
    );
    let state = app.state_of(&id).await;
    assert_eq!(state["status"], "acknowledged");
    assert_eq!(state["acknowledgement"]["received_by"], "Housing Options");
    assert_eq!(state["acknowledgement"]["local_reference"], "HO-42");

    // An outcome the rules refuse is shown as a form error and changes nothing.
    let (status, _, refused) = b
        .post(
            &format!("/inbox/referrals/{id}/outcome"),
            &[
                ("csrf", &csrf),
                ("reason", "referred_to_another_authority"),
                ("other_authority", "E06000001"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("govuk-error-summary"), "{refused}");
    assert!(app.state_of(&id).await["outcome"].is_null());
    let (status, _, _) = b
        .post(
            &format!("/inbox/referrals/{id}/outcome"),
            &[
                ("csrf", &csrf),
                ("reason", "relief_duty"),
                ("other_authority", ""),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let state = app.state_of(&id).await;
    assert_eq!(state["outcome"]["decision"], "accepted");
    assert_eq!(state["outcome"]["reason"], "relief_duty");

    // A note, which the referrer reads through the API.
    let (status, _, _) = b
        .post(
            &format!("/inbox/referrals/{id}/notes"),
            &[
                ("csrf", &csrf),
                ("text", "We have arranged an appointment."),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, _, page) = b.get(&format!("/inbox/referrals/{id}?done=note")).await;
    assert!(page.contains("We have arranged an appointment."));
    assert!(page.contains("Your note was added"));

    // Sign out: the session is over.
    let (_, _, confirm) = b.get("/inbox/sign-out").await;
    let csrf = hidden_field(&confirm, "csrf").unwrap();
    let (status, _, _) = b.post("/inbox/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    let (status, location, _) = b.get("/inbox").await;
    assert_eq!(status, 303);
    assert!(location.unwrap().starts_with("/inbox/sign-in"));
}

#[tokio::test]
async fn an_officer_sees_only_their_authoritys_referrals() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    add_officer(&app, "E06000002", "sam@middlesbrough.example.gov.uk").await;
    let theirs = submitted(&app, "E06000001", "Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, "sam@middlesbrough.example.gov.uk").await;
    let (_, _, list) = b.get("/inbox").await;
    assert!(!list.contains(&theirs));
    let (status, _, page) = b.get(&format!("/inbox/referrals/{theirs}")).await;
    assert_eq!(status, 404);
    assert!(page.contains("Page not found"));
    assert!(!page.contains("Wilhelmina"));
    let (_, _, any) = b.get("/inbox/referrals/not-a-referral").await;
    assert!(any.contains("Page not found"));
    assert_eq!(app.state_of(&theirs).await["status"], "awaiting_collection");
    // Forms on another authority's referral are 404 too, and change nothing.
    let (_, _, own) = b.get("/inbox").await;
    let csrf = hidden_field(&own, "csrf").unwrap_or_default();
    let (_, _, sign_out) = b.get("/inbox/sign-out").await;
    let csrf = if csrf.is_empty() {
        hidden_field(&sign_out, "csrf").unwrap()
    } else {
        csrf
    };
    let (status, _, _) = b
        .post(
            &format!("/inbox/referrals/{theirs}/acknowledge"),
            &[("csrf", &csrf), ("received_by", "Sam")],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.state_of(&theirs).await["status"], "awaiting_collection");
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_is_refused_with_a_page() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let id = submitted(&app, "E06000001", "Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    b.get(&format!("/inbox/referrals/{id}")).await;
    for fields in [
        vec![("received_by", "Housing Options")],
        vec![("csrf", "forged"), ("received_by", "Housing Options")],
    ] {
        let (status, _, page) = b
            .post(&format!("/inbox/referrals/{id}/acknowledge"), &fields)
            .await;
        assert_eq!(status, 403);
        assert!(page.contains("This form has expired"), "{page}");
    }
    assert_eq!(app.state_of(&id).await["status"], "delivered", "unchanged");
    // Sign-in without the double-submit token, too.
    let fresh = Browser::new(&app.base);
    let (status, _, _) = fresh
        .post("/inbox/sign-in", &[("email", OFFICER), ("csrf", "x")])
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_link_works_once_and_for_15_minutes() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let b = Browser::new(&app.base);
    b.ask_for_link(OFFICER).await;
    let first = wait_for_link(&relay, 0).await;
    let (status, _) = b.use_link(&first).await;
    assert_eq!(status, 303);
    let (status, _) = Browser::new(&app.base).use_link(&first).await;
    assert_eq!(status, 410, "used once already");

    b.ask_for_link(OFFICER).await;
    let second = wait_for_link(&relay, 1).await;
    app.advance(Duration::from_secs(15 * 60));
    let late = Browser::new(&app.base);
    let (status, _, page) = late.get(&second).await;
    assert_eq!(status, 410);
    assert!(page.contains("This sign-in link has expired"));
    let (status, _) = late.use_link(&second).await;
    assert_eq!(status, 410);
}

#[tokio::test]
async fn the_sign_in_page_answers_the_same_for_an_unknown_address_and_sends_nothing() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let b = Browser::new(&app.base);
    let (known_status, known) = b.ask_for_link(OFFICER).await;
    let (unknown_status, unknown) = b.ask_for_link("nobody@hartlepool.example.gov.uk").await;
    assert_eq!(known_status, unknown_status);
    assert_eq!(
        known.replace(OFFICER, "ADDRESS"),
        unknown.replace("nobody@hartlepool.example.gov.uk", "ADDRESS")
    );
    wait_for_link(&relay, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.messages().len(), 1, "only the officer's link");
    // A malformed address is a form error on the page.
    let (_, _, page) = b.get("/inbox/sign-in").await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let (status, _, page) = b
        .post(
            "/inbox/sign-in",
            &[("csrf", &csrf), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("govuk-error-summary"));
}

#[tokio::test]
async fn removing_an_officer_ends_their_session_at_once() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let officer_id = add_officer(&app, "E06000001", OFFICER).await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    assert_eq!(b.get("/inbox").await.0, 200);
    let listed: Value = app
        .get("/v1/authorities/E06000001/officers", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["email"], OFFICER);
    let resp = app
        .delete(
            &format!("/v1/authorities/E06000001/officers/{officer_id}"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (status, location, _) = b.get("/inbox").await;
    assert_eq!(status, 303);
    assert!(location.unwrap().starts_with("/inbox/sign-in"));
    assert_problem(
        app.delete(
            &format!("/v1/authorities/E06000001/officers/{officer_id}"),
            ADMIN_KEY,
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_session_ends_after_30_minutes_idle_and_says_so() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    app.advance(Duration::from_secs(29 * 60));
    assert_eq!(b.get("/inbox").await.0, 200, "29 minutes idle: still on");
    app.advance(Duration::from_secs(30 * 60));
    let (status, location, _) = b.get("/inbox").await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.contains("expired=1"), "{location}");
    let (_, _, page) = b.get(&location).await;
    assert!(page.contains("Your session has ended"));
}

#[tokio::test]
async fn inbox_pages_carry_strict_cookies_and_a_script_free_policy() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let before = relay.messages().len();
    let b = Browser::new(&app.base);
    b.ask_for_link(OFFICER).await;
    let link = wait_for_link(&relay, before).await;
    let page = b
        .client
        .get(format!("{}{link}", app.base))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"), "no script at all");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let token = hidden_field(&html, "token").unwrap();
    let signed = b
        .client
        .post(format!("{}/inbox/sign-in/link", app.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", token.as_str()),
            ("next", "/inbox"),
        ])
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("dtr_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/inbox"] {
        assert!(session.contains(flag), "{session}");
    }
    // The stylesheet is served by dtr itself.
    let css = b
        .client
        .get(format!(
            "{}/inbox/assets/govuk-frontend-6.6.0.min.css",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(!css.text().await.unwrap().contains("@font-face"));
}

#[tokio::test]
async fn a_form_sent_after_the_session_ended_leads_back_to_its_page_after_sign_in() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let id = submitted(&app, "E06000001", "Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, page) = b.get(&format!("/inbox/referrals/{id}")).await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    app.advance(Duration::from_secs(31 * 60));
    let (status, location, _) = b
        .post(
            &format!("/inbox/referrals/{id}/notes"),
            &[("csrf", &csrf), ("text", "Too late")],
        )
        .await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.contains(&format!("next=%2Finbox%2Freferrals%2F{id}&")),
        "{location}"
    );
    // A GET on a form's address (a reload, a bookmark) leads to the referral's page.
    let fresh = Browser::sign_in(&app, &relay, OFFICER).await;
    let (status, location, _) = fresh
        .get(&format!("/inbox/referrals/{id}/acknowledge"))
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.unwrap(), format!("/inbox/referrals/{id}"));
}

#[tokio::test]
async fn a_stranger_asking_for_an_officers_links_does_not_lock_the_officer_out() {
    let relay = SmtpRelay::start();
    let url = relay.url();
    let app = TestApp::spawn_with(|c| {
        c.smtp = Some(api::config::SmtpUrl::parse(&url, true).unwrap());
        c.public_url = "https://dtr.example.gov.uk".into();
        c.trusted_proxies = vec![api::config::Cidr::parse("127.0.0.1").unwrap()];
    })
    .await;
    add_officer(&app, "E06000001", OFFICER).await;
    let stranger = Browser::from_client(&app.base, "198.51.100.7");
    let mut statuses = vec![];
    for _ in 0..6 {
        statuses.push(stranger.ask_for_link(OFFICER).await.0);
    }
    assert_eq!(
        statuses.last(),
        Some(&429),
        "the stranger is limited: {statuses:?}"
    );
    let officer = Browser::from_client(&app.base, "203.0.113.5");
    let (status, _) = officer.ask_for_link(OFFICER).await;
    assert_eq!(status, 200, "the officer, from their own address, is not");
}

#[tokio::test]
async fn a_referral_withdrawn_before_it_reached_the_authority_is_not_listed_to_it() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let kept = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let withdrawn = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .post(
            &format!("/v1/referrals/{withdrawn}/withdraw"),
            &referrer,
            &serde_json::json!({"reason": "incorrect_authority"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, list) = b.get("/inbox").await;
    assert!(
        list.contains(&kept[kept.len() - 12..]),
        "the other referral is listed"
    );
    assert!(
        !list.contains(&withdrawn[withdrawn.len() - 12..]),
        "the withdrawn one is not"
    );
    let hartlepool = app.authority("E06000001").await;
    let page: serde_json::Value = app
        .get("/v1/referrals", &hartlepool)
        .await
        .json()
        .await
        .unwrap();
    let ids = item_strings(&page, "id");
    assert!(
        ids.contains(&kept.as_str()) && !ids.contains(&withdrawn.as_str()),
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_link_from_another_site_asks_the_officer_to_continue_and_https_answers_carry_hsts() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let resp = app
        .client
        .get(app.url("/inbox/referrals/01a2404e-60d6-764b-b5da-f5dfcc743067"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("max-age=31536000".to_owned())
    );
    let page = resp.text().await.unwrap();
    assert!(!page.contains("http-equiv"), "it never continues by itself");
    assert!(page.contains(">Continue</a>"), "{page}");
}
