//! E-mail to authorities without software (docs/contract.md §10), against a real SMTP server (aiosmtpd):
//! one notification per referral entering the inbox, a withdrawal told the same way, retries on
//! 4xx and a relay that is down, 5xx final, nothing personal in any e-mail.

use serde_json::{json, Value};
use std::time::Duration;
use tests::*;

/// A service that e-mails through `relay`, and Hartlepool (E06000001) told at its mailbox.
async fn told(relay: &SmtpRelay) -> (TestApp, String) {
    let url = relay.url();
    let app = TestApp::spawn_with(|c| {
        c.smtp = Some(api::config::SmtpUrl::parse(&url, true).unwrap());
        c.smtp_from = "Duty to refer <dtr@service.example.gov.uk>".into();
        c.public_url = "https://dtr.example.gov.uk".into();
    })
    .await;
    let resp = app
        .put(
            "/v1/authorities/E06000001/notify",
            ADMIN_KEY,
            &json!({"email": "DutyToRefer@Hartlepool.example.gov.uk"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["email"], "dutytorefer@hartlepool.example.gov.uk");
    let referrer = app.referrer("HMPPS Yorkshire").await;
    (app, referrer)
}

fn notifications(events: &[Value]) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("notification."))
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_referral_entering_the_inbox_is_told_once_to_the_mailbox() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    let mut doc = referral_to("E06000001");
    doc["housing_situation"]["rough_sleeping"] = json!("sleeping_rough");
    doc["housing_situation"]["reason"] = json!("homeless");
    doc["housing_situation"]
        .as_object_mut()
        .unwrap()
        .remove("likely_homeless_on");
    let id = app.submit(&referrer, &doc).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A referral to an authority without a mailbox is not e-mailed.
    app.submit(&referrer, &referral_to("E06000002")).await;
    assert_eq!(app.step().await, 1, "one e-mail to send");
    assert_eq!(app.step().await, 0, "and only one");
    let messages = relay.messages();
    assert_eq!(messages.len(), 1);
    let m = email_text(&messages[0]);
    assert!(
        m.contains("To: dutytorefer@hartlepool.example.gov.uk"),
        "{m}"
    );
    assert!(
        m.contains("From: \"Duty to refer\" <dtr@service.example.gov.uk>")
            || m.contains("From: Duty to refer <dtr@service.example.gov.uk>"),
        "{m}"
    );
    assert!(
        m.contains("Subject: Duty to refer: an urgent new referral for Hartlepool"),
        "{m}"
    );
    assert!(m.contains("HMPPS Yorkshire (Probation service)"), "{m}");
    assert!(m.contains("Urgency: Sleeping rough now"), "{m}");
    assert!(
        m.contains(&format!("https://dtr.example.gov.uk/inbox/referrals/{id}")),
        "{m}"
    );
    let events = app.events_of(&id).await;
    let told = notifications(&events);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, "notification.sent");
    assert_eq!(told[0].1["smtp_code"], 250);
    assert_eq!(told[0].1["event_type"], "referral.waiting");
}

#[tokio::test]
async fn a_4xx_is_retried_on_the_schedule_and_a_5xx_is_final() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    relay.reply_next(&["451"]);
    let retried = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.step().await, 1);
    assert!(relay.messages().is_empty());
    assert_eq!(app.step().await, 0, "not before the schedule says");
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    assert_eq!(relay.messages().len(), 1, "sent on the second attempt");
    let told = notifications(&app.events_of(&retried).await);
    assert_eq!(
        told.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["notification.failed", "notification.sent"]
    );
    assert_eq!(told[0].1["smtp_code"], 451);
    assert_eq!(told[0].1["final"], false);

    relay.reply_next(&["550"]);
    let refused = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.step().await, 1);
    app.advance(Duration::from_secs(86_400));
    assert_eq!(app.step().await, 0, "a 5xx is not retried");
    assert_eq!(relay.messages().len(), 1);
    let told = notifications(&app.events_of(&refused).await);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, "notification.failed");
    assert_eq!(told[0].1["smtp_code"], 550);
    assert_eq!(told[0].1["final"], true);
}

#[tokio::test]
async fn a_relay_down_across_a_restart_delays_the_e_mail_but_loses_nothing() {
    let mut relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    relay.stop();
    let id = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.step().await, 1);
    let told = notifications(&app.events_of(&id).await);
    assert_eq!(told[0].0, "notification.failed");
    assert_eq!(told[0].1["error"], "connect");
    assert!(told[0].1["smtp_code"].is_null());
    let app = app.restart().await;
    relay.start_again();
    app.advance(RETRY_DELAYS[0]);
    assert_eq!(app.step().await, 1);
    assert_eq!(app.step().await, 0);
    assert_eq!(relay.messages().len(), 1, "sent once, after the restart");
}

#[tokio::test]
async fn a_withdrawal_is_told_only_to_a_mailbox_that_was_told_of_the_referral() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    let withdraw = |id: String| {
        let app = &app;
        let referrer = referrer.clone();
        async move {
            let r = app
                .post(
                    &format!("/v1/referrals/{id}/withdraw"),
                    &referrer,
                    &json!({"reason": "incorrect_authority"}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
    };
    // Withdrawn before its e-mail went: the e-mail is called off and nothing is said.
    let quiet = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    withdraw(quiet.clone()).await;
    assert_eq!(app.step().await, 0);
    assert!(relay.messages().is_empty());
    // Told, then withdrawn: the withdrawal is told too.
    let told = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.step().await, 1);
    withdraw(told.clone()).await;
    assert_eq!(app.step().await, 1);
    let messages = relay.messages();
    assert_eq!(messages.len(), 2);
    let last = email_text(&messages[1]);
    assert!(last.contains("was withdrawn"), "{last}");
    assert!(last.contains("sent to the wrong authority"), "{last}");
}

#[tokio::test]
async fn without_smtp_notify_and_officers_answer_409_and_bad_addresses_422() {
    let app = TestApp::spawn().await;
    for (path, method) in [
        ("/v1/authorities/E06000001/notify", "PUT"),
        ("/v1/authorities/E06000001/officers", "POST"),
    ] {
        let body = json!({"email": "someone@council.example.gov.uk"});
        let resp = if method == "PUT" {
            app.put(path, ADMIN_KEY, &body).await
        } else {
            app.post(path, ADMIN_KEY, &body).await
        };
        let p = assert_problem(resp, 409).await;
        assert_eq!(p["type"], "urn:dtr:problem:smtp.not_configured");
    }
    let relay = SmtpRelay::start();
    let url = relay.url();
    let app =
        TestApp::spawn_with(|c| c.smtp = Some(api::config::SmtpUrl::parse(&url, true).unwrap()))
            .await;
    let p = assert_problem(
        app.put(
            "/v1/authorities/E06000001/notify",
            ADMIN_KEY,
            &json!({"email": "not an address"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["type"], "urn:dtr:problem:email.invalid");
    assert_eq!(p["errors"][0]["pointer"], "/email");
    let referrer = app.referrer("X").await;
    assert_problem(
        app.put(
            "/v1/authorities/E06000001/notify",
            &referrer,
            &json!({"email": "a@b.example"}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.put(
            "/v1/authorities/E99999999/notify",
            ADMIN_KEY,
            &json!({"email": "a@b.example"}),
        )
        .await,
        404,
    )
    .await;
}

/// Distinctive values in every personal field: none may appear in any e-mail.
const SECRETS: [&str; 12] = [
    "Xanthippe",
    "Quirkleworth",
    "1990-02-03",
    "xanthippe.q@mailprovider.example",
    "07700 900461",
    "447700900461",
    "17 Zephyr Mews",
    "ZZ9 9ZZ",
    "Fled a violent partner",
    "Takes insulin daily",
    "Case ref PRB-88812",
    "Pat Caseworker",
];

fn personal_referral() -> Value {
    let mut doc = referral_to("E06000001");
    doc["person"] = json!({
        "given_name": "Xanthippe",
        "family_name": "Quirkleworth",
        "date_of_birth": "1990-02-03",
        "contact": {
            "email": "xanthippe.q@mailprovider.example",
            "phone": "07700 900461",
            "address": {"line1": "17 Zephyr Mews", "town": "Hartlepool", "postcode": "ZZ9 9ZZ"}
        }
    });
    doc["housing_situation"]["summary"] = json!("Fled a violent partner. Case ref PRB-88812.");
    doc["risk"] = json!({"to_self": "Takes insulin daily"});
    doc["referrer"]["name"] = json!("Pat Caseworker");
    doc
}

#[tokio::test]
async fn no_e_mail_the_service_sends_holds_personal_data() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    let id = app.submit(&referrer, &personal_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.step().await, 1);
    let officer = app
        .post(
            "/v1/authorities/E06000001/officers",
            ADMIN_KEY,
            &json!({"email": "officer@hartlepool.example.gov.uk"}),
        )
        .await;
    assert_eq!(officer.status(), 201);
    let (status, _) = Browser::new(&app.base)
        .ask_for_link("officer@hartlepool.example.gov.uk")
        .await;
    assert_eq!(status, 200);
    app.post(
        &format!("/v1/referrals/{id}/withdraw"),
        &referrer,
        &json!({"reason": "consent_withdrawn"}),
    )
    .await;
    assert_eq!(app.step().await, 1);
    // Every kind of e-mail: waiting, sign-in link, withdrawn.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relay.messages().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "three e-mails");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages = relay.messages();
    let subjects: Vec<String> = messages
        .iter()
        .map(|m| {
            email_text(m)
                .lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("new referral")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("sign-in link")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("withdrawn")),
        "{subjects:?}"
    );
    for m in &messages {
        let text = email_text(m).to_lowercase();
        for secret in SECRETS {
            assert!(
                !text.contains(&secret.to_lowercase()),
                "an e-mail contains {secret:?}:\n{m}"
            );
        }
    }
}

#[tokio::test]
async fn an_erasure_is_e_mailed_to_a_mailbox_that_was_told_and_shows_in_the_feed() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    let id = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.step().await;
    assert_eq!(relay.messages().len(), 1, "told it is waiting");
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/erase"),
            ADMIN_KEY,
            &json!({"reason": "subject_request"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.step().await;
    let messages = relay.messages();
    assert_eq!(messages.len(), 2, "and told of the erasure");
    let text = email_text(&messages[1]);
    assert!(text.contains("was erased"), "{text}");
    assert!(
        !text.contains("Testgiven") && !text.contains("Testfamily"),
        "no personal data"
    );
    // The authority's feed shows both facts.
    let hartlepool = app.authority("E06000001").await;
    let feed: Value = app
        .get("/v1/events?limit=100", &hartlepool)
        .await
        .json()
        .await
        .unwrap();
    let actions = item_strings(&feed, "action");
    assert!(actions.contains(&"referral.erased"), "{actions:?}");
    assert!(actions.contains(&"notification.sent"), "{actions:?}");
}

#[tokio::test]
async fn every_feed_action_is_served_in_the_shape_its_schema_in_the_spec_gives() {
    let relay = SmtpRelay::start();
    let (app, referrer) = told(&relay).await;
    // Hartlepool collects from its inbox (mailbox told): accepted, notification.sent, viewed,
    // delivery.succeeded (pull), then an outcome (acknowledged, outcome_recorded), a note, and a
    // withdrawal for withdrawn consent (withdrawn, erased).
    let pulled = app.submit(&referrer, &referral_to("E06000001")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.step().await;
    let hartlepool = app.authority("E06000001").await;
    assert_eq!(
        app.get(&format!("/v1/referrals/{pulled}"), &hartlepool)
            .await
            .status(),
        200
    );
    let outcome = json!({
        "decision": "not_accepted",
        "reason": "referred_to_another_authority",
        "other_authority": { "gss_code": "E08000035" }
    });
    let resp = app
        .post(
            &format!("/v1/referrals/{pulled}/outcome"),
            &hartlepool,
            &outcome,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let note = json!({ "text": "Moved to a hostel." });
    let resp = app
        .post(&format!("/v1/referrals/{pulled}/notes"), &referrer, &note)
        .await;
    assert_eq!(resp.status(), 201);
    let withdrawal = json!({ "reason": "consent_withdrawn" });
    let resp = app
        .post(
            &format!("/v1/referrals/{pulled}/withdraw"),
            &referrer,
            &withdrawal,
        )
        .await;
    assert_eq!(resp.status(), 200);
    // Sheffield's endpoint takes its referral (delivery.succeeded, push); Leeds's refuses for good
    // (delivery.failed).
    let taking = receiver_answering(204).await;
    let refusing = receiver_answering(400).await;
    app.set_endpoint("E08000039", &taking).await;
    app.set_endpoint("E08000035", &refusing).await;
    app.submit(&referrer, &referral_to("E08000039")).await;
    app.submit(&referrer, &referral_to("E08000035")).await;
    app.step().await;

    let spec: Value = app
        .get("/openapi.json", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let feed: Value = app
        .get("/v1/events?limit=100", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    conforms(
        &spec,
        &json!({ "$ref": "#/components/schemas/EventFeed" }),
        &feed,
        "",
    )
    .unwrap_or_else(|e| panic!("{e}\n{feed:#}"));
    let mut actions = item_strings(&feed, "action");
    actions.sort_unstable();
    actions.dedup();
    let mapping = spec
        .pointer("/components/schemas/FeedEvent/discriminator/mapping")
        .and_then(Value::as_object)
        .expect("the feed event is a discriminated union");
    let mut typed: Vec<&str> = mapping.keys().map(String::as_str).collect();
    typed.sort_unstable();
    assert_eq!(
        actions, typed,
        "the scenario shows every action of the feed"
    );
    // The checker is not blind: an unnamed member and a wrong type are caught.
    let mut extra = feed["items"][0].clone();
    extra["detail"]["other_gss_code"] = json!("E08000035");
    let union = json!({ "$ref": "#/components/schemas/FeedEvent" });
    assert!(conforms(&spec, &union, &extra, "").is_err());
    let mut wrong = feed["items"][0].clone();
    wrong["seq"] = json!("1");
    assert!(conforms(&spec, &union, &wrong, "").is_err());
}
