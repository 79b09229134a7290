//! The referral after delivery (docs/contract.md §9): outcome, withdrawal, notes and the event feed.

use serde_json::{json, Value};
use std::time::Duration;
use tests::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Parties {
    app: TestApp,
    referrer: String,
    sheffield: String,
}

async fn parties() -> Parties {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    Parties {
        app,
        referrer,
        sheffield,
    }
}

impl Parties {
    async fn submit(&self) -> String {
        self.app.submit(&self.referrer, &referral()).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Submitted and read by Sheffield (delivered).
    async fn delivered(&self) -> String {
        let id = self.submit().await;
        let read = self
            .app
            .get(&format!("/v1/referrals/{id}"), &self.sheffield)
            .await;
        assert_eq!(read.status(), 200);
        id
    }

    async fn outcome(&self, key: &str, id: &str, body: Value) -> reqwest::Response {
        self.app
            .post(&format!("/v1/referrals/{id}/outcome"), key, &body)
            .await
    }

    async fn withdraw(&self, id: &str, reason: &str) -> reqwest::Response {
        self.app
            .post(
                &format!("/v1/referrals/{id}/withdraw"),
                &self.referrer,
                &json!({ "reason": reason }),
            )
            .await
    }

    async fn audit_actions(&self, id: &str) -> Vec<String> {
        let page: Value = self
            .app
            .get(&format!("/v1/referrals/{id}/audit?limit=100"), ADMIN_KEY)
            .await
            .json()
            .await
            .unwrap();
        item_strings(&page, "action")
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn referring_on_for_local_connection_a_person_referred_as_threatened_is_warned() {
    let p = parties().await;
    // referral() is threatened with homelessness in 30 days.
    let id = p.delivered().await;
    let on = json!({"decision": "not_accepted", "reason": "referred_to_another_authority",
                    "other_authority": {"gss_code": "E08000035"}});
    let body: Value = p
        .outcome(&p.sheffield, &id, on.clone())
        .await
        .json()
        .await
        .unwrap();
    let warnings = body["outcome"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{body}");
    assert_eq!(warnings[0]["code"], "outcome.referred_at_prevention_stage");
    assert_eq!(warnings[0]["pointer"], "/reason");
    // The referrer reads the same warning.
    let read: Value = p
        .app
        .get(&format!("/v1/referrals/{id}"), &p.referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["outcome"]["warnings"], body["outcome"]["warnings"]);

    // A person referred as homeless may be referred on: no warning; nor for another reason.
    let mut homeless = referral();
    homeless["housing_situation"]["reason"] = json!("homeless");
    homeless["housing_situation"]
        .as_object_mut()
        .unwrap()
        .remove("likely_homeless_on");
    let id = p.app.submit(&p.referrer, &homeless).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.app
        .get(&format!("/v1/referrals/{id}"), &p.sheffield)
        .await;
    let body: Value = p.outcome(&p.sheffield, &id, on).await.json().await.unwrap();
    assert_eq!(body["outcome"]["warnings"], json!([]));
    let body: Value = p
        .outcome(
            &p.sheffield,
            &id,
            json!({"decision": "accepted", "reason": "relief_duty"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"]["warnings"], json!([]));
}

#[tokio::test]
async fn the_addressed_authority_records_an_outcome_which_also_acknowledges() {
    let p = parties().await;
    let id = p.delivered().await;
    let resp = p
        .outcome(
            &p.sheffield,
            &id,
            json!({"decision": "accepted", "reason": "relief_duty_and_interim_accommodation"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "acknowledged");
    assert_eq!(body["acknowledgement"]["received_by"], "outcome");
    assert_eq!(body["outcome"]["decision"], "accepted");
    assert_eq!(
        body["outcome"]["reason"],
        "relief_duty_and_interim_accommodation"
    );
    assert!(body["outcome"]["recorded_at"].is_string());
    // Recording again replaces it; the referrer sees the latest.
    let again: Value = p
        .outcome(
            &p.sheffield,
            &id,
            json!({"decision": "not_accepted", "reason": "referred_to_another_authority",
                   "other_authority": {"gss_code": "E08000038"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"]["other_authority"]["gss_code"], "E08000038");
    assert_eq!(again["outcome"]["other_authority"]["name"], "Barnsley");
    let seen: Value = p
        .app
        .get(&format!("/v1/referrals/{id}"), &p.referrer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["outcome"]["reason"], "referred_to_another_authority");
    let actions = p.audit_actions(&id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "referral.outcome_recorded")
            .count(),
        2,
        "each recording is one event: {actions:?}"
    );
}

#[tokio::test]
async fn another_authority_gets_404_for_an_outcome() {
    let p = parties().await;
    let id = p.delivered().await;
    let westminster = p.app.authority("E09000033").await;
    assert_problem(
        p.outcome(
            &westminster,
            &id,
            json!({"decision": "accepted", "reason": "relief_duty"}),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        p.outcome(
            &p.referrer,
            &id,
            json!({"decision": "accepted", "reason": "relief_duty"}),
        )
        .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn a_reason_of_the_other_decision_or_a_bad_other_authority_is_422() {
    let p = parties().await;
    let id = p.delivered().await;
    for (body, pointer, code) in [
        (
            json!({"decision": "accepted", "reason": "no_contact"}),
            "/reason",
            "field.invalid_value",
        ),
        (
            json!({"decision": "not_accepted", "reason": "referred_to_another_authority"}),
            "/other_authority",
            "field.required",
        ),
        (
            json!({"decision": "not_accepted", "reason": "referred_to_another_authority", "other_authority": {}}),
            "/other_authority/gss_code",
            "field.required",
        ),
        (
            json!({"decision": "not_accepted", "reason": "referred_to_another_authority", "other_authority": {"gss_code": "W06000015"}}),
            "/other_authority/gss_code",
            "housing_authority.not_in_england",
        ),
        (
            json!({"decision": "not_accepted", "reason": "referred_to_another_authority", "other_authority": {"gss_code": "E08000039"}}),
            "/other_authority/gss_code",
            "housing_authority.unknown",
        ),
        (
            json!({"decision": "yes", "reason": "relief_duty"}),
            "/decision",
            "field.invalid_value",
        ),
    ] {
        let problem = assert_problem(p.outcome(&p.sheffield, &id, body.clone()).await, 422).await;
        assert_eq!(problem["type"], "urn:dtr:problem:outcome.invalid");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{body}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn an_outcome_before_delivery_is_409_naming_the_state() {
    let p = parties().await;
    let id = p.submit().await; // awaiting collection: never read
    let problem = assert_problem(
        p.outcome(
            &p.sheffield,
            &id,
            json!({"decision": "accepted", "reason": "relief_duty"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:dtr:problem:referral.wrong_state");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("awaiting_collection"));
}

#[tokio::test]
async fn a_withdrawn_queued_referral_is_never_pushed_even_when_the_receiver_fails() {
    let p = parties().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    p.app.set_endpoint("E08000039", &server).await;
    let id = p.submit().await;
    assert_eq!(p.app.step().await, 1, "one failed attempt");
    let resp = p.withdraw(&id, "new_referral").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "withdrawn");
    assert_eq!(body["withdrawal"]["reason"], "new_referral");
    assert!(body["delivery"]["next_attempt_at"].is_null());
    for _ in 0..3 {
        p.app.advance(Duration::from_secs(86_400));
        assert_eq!(p.app.step().await, 0, "nothing is pushed after withdrawal");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Withdrawing again answers 200 unchanged.
    let again: Value = p.withdraw(&id, "other").await.json().await.unwrap();
    assert_eq!(again["withdrawal"]["reason"], "new_referral");
}

#[tokio::test]
async fn an_attempt_in_flight_when_withdrawn_may_finish_and_nothing_follows_it() {
    let p = parties().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    p.app.set_endpoint("E08000039", &server).await;
    let id = p.submit().await;
    // The worker claims the job and is waiting on the receiver while the referrer withdraws.
    let step = {
        let app = &p.app;
        async move { app.step().await }
    };
    let withdraw = async {
        while server.received_requests().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        p.withdraw(&id, "disengaged").await
    };
    let (attempted, withdrawn) = tokio::join!(step, withdraw);
    assert_eq!(attempted, 1);
    assert_eq!(withdrawn.status(), 200);
    let state = p.app.state_of(&id).await;
    assert_eq!(
        state["status"], "withdrawn",
        "the attempt's 503 did not requeue it"
    );
    p.app.advance(Duration::from_secs(86_400));
    assert_eq!(p.app.step().await, 0);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let actions = p.audit_actions(&id).await;
    assert!(
        actions.contains(&"delivery.attempted".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_authority_never_sees_the_document_of_a_referral_withdrawn_before_it_collected_it() {
    let p = parties().await;
    let id = p.submit().await;
    assert_eq!(p.withdraw(&id, "incorrect_authority").await.status(), 200);
    let read = p
        .app
        .get(&format!("/v1/referrals/{id}"), &p.sheffield)
        .await;
    assert_eq!(read.status(), 200);
    let body: Value = read.json().await.unwrap();
    assert_eq!(body["status"], "withdrawn");
    assert!(body.get("referral").is_none(), "{body}");
    assert!(body["delivery"]["delivered_at"].is_null(), "not collected");
    assert_problem(
        p.app
            .get(&format!("/v1/referrals/{id}/notes"), &p.sheffield)
            .await,
        409,
    )
    .await;
    let actions = p.audit_actions(&id).await;
    assert!(
        !actions.contains(&"referral.viewed".to_owned()),
        "nothing personal was read: {actions:?}"
    );
    // The referrer still may.
    let own: Value = p
        .app
        .get(&format!("/v1/referrals/{id}"), &p.referrer)
        .await
        .json()
        .await
        .unwrap();
    assert!(own["referral"].is_object());
}

#[tokio::test]
async fn a_delivered_referral_withdrawn_is_followed_by_a_signed_withdrawn_push() {
    let p = parties().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let secret: Value = p
        .app
        .put(
            "/v1/authorities/E08000039/endpoint",
            ADMIN_KEY,
            &json!({"url": format!("{}/hook", server.uri())}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = secret["secret"].as_str().unwrap().to_owned();
    let id = p.submit().await;
    assert_eq!(p.app.step().await, 1);
    assert_eq!(p.app.state_of(&id).await["status"], "delivered");
    assert_eq!(p.withdraw(&id, "housing_need_resolved").await.status(), 200);
    assert_eq!(p.app.step().await, 1, "the withdrawn event");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let pushed: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        pushed,
        json!({"type": "referral.withdrawn", "id": id, "reason": "housing_need_resolved"})
    );
    assert!(signed_by(&secret, &requests[1]), "signed");
    assert_ne!(
        requests[0].headers.get("webhook-id"),
        requests[1].headers.get("webhook-id"),
        "its own webhook-id"
    );
    assert_eq!(p.app.step().await, 0, "sent once");
}

#[tokio::test]
async fn notes_go_both_ways_within_the_referrals_parties() {
    let p = parties().await;
    let id = p.submit().await;
    let note = |key: String, text: &'static str| {
        let app = &p.app;
        let id = id.clone();
        async move {
            app.post(
                &format!("/v1/referrals/{id}/notes"),
                &key,
                &json!({ "text": text }),
            )
            .await
        }
    };
    // The authority may write once it has the referral.
    assert_problem(note(p.sheffield.clone(), "Too early").await, 409).await;
    let from_referrer = note(p.referrer.clone(), "He prefers calls after 2pm.").await;
    assert_eq!(from_referrer.status(), 201);
    let from_referrer: Value = from_referrer.json().await.unwrap();
    assert_eq!(from_referrer["author"]["role"], "referrer");
    assert_eq!(from_referrer["author"]["organisation"], "HMPPS Yorkshire");
    p.app
        .get(&format!("/v1/referrals/{id}"), &p.sheffield)
        .await;
    let reply: Value = note(p.sheffield.clone(), "Appointment booked for Tuesday.")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply["author"]["gss_code"], "E08000039");
    for key in [&p.referrer, &p.sheffield, &ADMIN_KEY.to_owned()] {
        let list: Value = p
            .app
            .get(&format!("/v1/referrals/{id}/notes"), key)
            .await
            .json()
            .await
            .unwrap();
        let texts: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "He prefers calls after 2pm.",
                "Appointment booked for Tuesday."
            ]
        );
    }
    // Scoping: another organisation and another authority see nothing.
    let stranger = p.app.referrer("Another Org").await;
    let westminster = p.app.authority("E09000033").await;
    for key in [&stranger, &westminster] {
        assert_problem(
            p.app.get(&format!("/v1/referrals/{id}/notes"), key).await,
            404,
        )
        .await;
        assert_problem(
            p.app
                .post(
                    &format!("/v1/referrals/{id}/notes"),
                    key,
                    &json!({"text": "x"}),
                )
                .await,
            404,
        )
        .await;
    }
    assert_problem(
        p.app
            .post(
                &format!("/v1/referrals/{id}/notes"),
                ADMIN_KEY,
                &json!({"text": "x"}),
            )
            .await,
        403,
    )
    .await;
    for (text, code) in [
        (String::new(), "field.too_short"),
        ("x".repeat(4001), "field.too_long"),
    ] {
        let problem = assert_problem(
            p.app
                .post(
                    &format!("/v1/referrals/{id}/notes"),
                    &p.referrer,
                    &json!({ "text": text }),
                )
                .await,
            422,
        )
        .await;
        assert_eq!(problem["errors"][0]["pointer"], "/text");
        assert_eq!(problem["errors"][0]["code"], code);
    }
    let actions = p.audit_actions(&id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "note.added").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "notes.viewed").count(),
        3,
        "{actions:?}"
    );
    // No note text in the audit trail.
    let trail = p
        .app
        .get(&format!("/v1/referrals/{id}/audit?limit=100"), ADMIN_KEY)
        .await
        .text()
        .await
        .unwrap();
    assert!(!trail.contains("Tuesday") && !trail.contains("2pm"));
    // A note on a withdrawn referral is 409.
    p.withdraw(&id, "other").await;
    assert_problem(note(p.referrer.clone(), "late").await, 409).await;
}

#[tokio::test]
async fn a_referrers_note_to_a_push_authority_is_followed_by_a_note_added_push() {
    let p = parties().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    p.app.set_endpoint("E08000039", &server).await;
    let id = p.submit().await;
    p.app.step().await;
    let note: Value = p
        .app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &p.referrer,
            &json!({"text": "Zephyrinemarker has a new phone"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(p.app.step().await, 1);
    let requests = server.received_requests().await.unwrap();
    let pushed: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        pushed,
        json!({"type": "referral.note_added", "id": id, "note_id": note["id"]})
    );
    assert!(!String::from_utf8_lossy(&requests[1].body).contains("Zephyrinemarker"));
}

#[tokio::test]
async fn acknowledging_or_withdrawing_in_the_wrong_state_is_409() {
    let p = parties().await;
    let id = p.submit().await;
    let problem = assert_problem(
        p.app
            .post(
                &format!("/v1/referrals/{id}/acknowledge"),
                &p.sheffield,
                &json!({"received_by": "Housing Options"}),
            )
            .await,
        409,
    )
    .await;
    assert_eq!(problem["type"], "urn:dtr:problem:referral.wrong_state");
    p.withdraw(&id, "other").await;
    let problem = assert_problem(
        p.app
            .post(
                &format!("/v1/referrals/{id}/acknowledge"),
                &p.sheffield,
                &json!({"received_by": "Housing Options"}),
            )
            .await,
        409,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("withdrawn"));
    let problem = assert_problem(p.withdraw(&id, "because").await, 422).await;
    assert_eq!(problem["errors"][0]["pointer"], "/reason");
    assert_eq!(problem["errors"][0]["code"], "field.invalid_value");
    assert_problem(
        p.app
            .post(
                &format!("/v1/referrals/{id}/withdraw"),
                &p.sheffield,
                &json!({"reason": "other"}),
            )
            .await,
        403,
    )
    .await;
}

async fn feed_page(app: &TestApp, key: &str, after: &str, extra: &str) -> Value {
    app.get(&format!("/v1/events?after={after}{extra}"), key)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_feed_pages_through_each_keys_events_without_missing_or_repeating_any() {
    let p = parties().await;
    let mut ids = vec![];
    for _ in 0..7 {
        ids.push(p.delivered().await);
    }
    let other = p.app.referrer("Another Org").await;
    let theirs = p.app.submit(&other, &referral()).await["id"].clone();
    // The referrer's feed, 3 at a time.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = feed_page(&p.app, &p.referrer, &cursor, "&limit=3").await;
        let items = page["items"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_str().expect("never null").to_owned();
        if items.is_empty() {
            break;
        }
        seen.extend(items);
    }
    let seqs: Vec<i64> = seen.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seqs, sorted, "in order, no repeats");
    let accepted: Vec<&str> = seen
        .iter()
        .filter(|e| e["action"] == "referral.accepted")
        .map(|e| e["referral_id"].as_str().unwrap())
        .collect();
    assert_eq!(accepted, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(seen.iter().all(|e| e["referral_id"] != theirs), "scoped");
    assert!(
        seen.iter().all(|e| e["action"] != "referral.received"),
        "only the feed's actions"
    );
    // Sheffield's feed holds its deliveries and reads.
    let sheffield = feed_page(&p.app, &p.sheffield, "", "&limit=100").await;
    let actions: Vec<&str> = item_strings(&sheffield, "action");
    assert!(actions.contains(&"delivery.succeeded"));
    assert!(
        !sheffield.to_string().contains("Testgiven"),
        "no personal data"
    );
    // An empty page repeats the cursor.
    let empty = feed_page(&p.app, &p.referrer, &cursor, "").await;
    assert_eq!(empty["items"].as_array().unwrap().len(), 0);
    assert_eq!(empty["next_cursor"], cursor.as_str());
    assert_problem(p.app.get("/v1/events?wait=31", &p.referrer).await, 400).await;
    assert_problem(p.app.get("/v1/events?after=junk", &p.referrer).await, 400).await;
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_an_event_is_committed() {
    let p = parties().await;
    let start = feed_page(&p.app, &p.referrer, "", "").await;
    let cursor = start["next_cursor"].as_str().unwrap().to_owned();
    let poll = {
        let app = &p.app;
        let key = p.referrer.clone();
        let cursor = cursor.clone();
        async move { feed_page(app, &key, &cursor, "&wait=30").await }
    };
    let submit = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        p.submit().await
    };
    let started = tokio::time::Instant::now();
    let (page, id) = tokio::join!(poll, submit);
    assert_eq!(page["items"][0]["action"], "referral.accepted");
    assert_eq!(page["items"][0]["referral_id"], id.as_str());
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "woken by the commit, not the deadline"
    );
}

#[tokio::test]
async fn the_feed_survives_a_restart() {
    let p = parties().await;
    let first = p.submit().await;
    let page = feed_page(&p.app, &p.referrer, "", "").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let Parties {
        app,
        referrer,
        sheffield: _,
    } = p;
    let app = app.restart().await;
    let second = app.submit(&referrer, &referral()).await["id"].clone();
    let after: Value = app
        .get(&format!("/v1/events?after={cursor}"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = item_strings(&after, "referral_id");
    assert_eq!(ids, vec![second.as_str().unwrap()]);
    assert_ne!(ids[0], first);
}

/// Submits a referral to `gss` with `key`.
async fn submit_to(app: &TestApp, key: &str, gss: &str) {
    app.submit(key, &referral_to(gss)).await;
}

#[tokio::test]
async fn an_empty_feed_page_moves_its_cursor_past_other_tenants_events() {
    let app = TestApp::spawn().await;
    let quiet = app.referrer("Quiet Probation").await;
    let busy = app.key(serde_json::json!({"role": "referrer", "organisation": "Busy Ward", "agency_type": "hospital_inpatient"})).await;
    submit_to(&app, &quiet, "E08000039").await;
    let first = feed_page(&app, &quiet, "", "").await;
    assert_eq!(item_strings(&first, "action"), vec!["referral.accepted"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        submit_to(&app, &busy, "E08000039").await;
    }
    // Nothing new for the quiet tenant: an empty page, whose cursor is past the busy tenant's
    // twenty events, so the next poll does not look at them again.
    let empty = feed_page(&app, &quiet, &cursor, "").await;
    assert!(empty["items"].as_array().unwrap().is_empty());
    let moved = empty["next_cursor"].as_str().unwrap().to_owned();
    assert_ne!(moved, cursor, "the cursor moved on");
    // And nothing is missed from there: the quiet tenant's next event is on the next page.
    submit_to(&app, &quiet, "E08000039").await;
    let next = feed_page(&app, &quiet, &moved, "").await;
    assert_eq!(item_strings(&next, "action"), vec!["referral.accepted"]);
    // The busy tenant still sees all twenty of its own from the start.
    let all = feed_page(&app, &busy, "", "&limit=100").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn a_key_may_hold_ten_long_polls_and_the_eleventh_is_429() {
    let app = TestApp::spawn().await;
    let key = app.referrer("HMPPS Yorkshire").await;
    let mut polls = vec![];
    for _ in 0..10 {
        let (client, url, key) = (
            app.client.clone(),
            app.url("/v1/events?wait=5"),
            key.clone(),
        );
        polls.push(tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    // Let the ten start waiting.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let eleventh = app.get("/v1/events?wait=5", &key).await;
    assert_eq!(eleventh.status(), 429);
    assert!(eleventh.headers().get("retry-after").is_some());
    // A poll without wait is not a long poll: still served.
    assert_eq!(app.get("/v1/events", &key).await.status(), 200);
    for p in polls {
        assert_eq!(p.await.unwrap(), 200);
    }
    // Their places are given back.
    assert_eq!(app.get("/v1/events?wait=0", &key).await.status(), 200);
    let again = app.get("/v1/events?wait=1", &key).await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn the_feed_speaks_the_resources_vocabulary() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let sheffield = app.authority("E08000039").await;
    let id = app.submit(&referrer, &referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/v1/referrals/{id}"), &sheffield).await;
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/outcome"),
            &sheffield,
            &serde_json::json!({
                "decision": "not_accepted",
                "reason": "referred_to_another_authority",
                "other_authority": { "gss_code": "E08000035" }
            }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &referrer,
            &serde_json::json!({ "text": "Still at the hostel." }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let page = feed_page(&app, &referrer, "", "&limit=100").await;
    let detail_of = |action: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} in {page}"))["detail"]
            .clone()
    };
    assert_eq!(detail_of("referral.viewed")["by_role"], "authority");
    assert_eq!(
        detail_of("referral.outcome_recorded")["other_authority"],
        serde_json::json!({ "gss_code": "E08000035" })
    );
    assert!(detail_of("referral.outcome_recorded")
        .get("other_gss_code")
        .is_none());
    assert_eq!(
        detail_of("note.added")["author"],
        serde_json::json!({ "role": "referrer" })
    );
}
