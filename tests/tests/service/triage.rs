//! The inbox as a triage tool (docs/contract.md §10b): the list in order of urgency, who each
//! referral is about, search within the authority, the audit of listing and searching, and the
//! `urgency` of the API resource.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tests::*;

const OFFICER: &str = "jo.officer@hartlepool.example.gov.uk";

async fn add_officer(app: &TestApp, gss: &str, email: &str) {
    let resp = app
        .post(
            &format!("/v1/authorities/{gss}/officers"),
            ADMIN_KEY,
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

/// A referral to Hartlepool about `name`, homeless now (sleeping rough or not) or threatened in
/// `days` days.
fn about(name: &str, situation: Situation) -> Value {
    let mut doc = referral_to("E06000001");
    doc["person"]["given_name"] = json!(name);
    let s = &mut doc["housing_situation"];
    match situation {
        Situation::SleepingRough => {
            s["reason"] = json!("homeless");
            s.as_object_mut().unwrap().remove("likely_homeless_on");
            s["rough_sleeping"] = json!("sleeping_rough");
        }
        Situation::Homeless => {
            s["reason"] = json!("homeless");
            s.as_object_mut().unwrap().remove("likely_homeless_on");
        }
        Situation::InDays(days) => {
            let on = uk_today().checked_add(jiff::ToSpan::days(days)).unwrap();
            s["likely_homeless_on"] = json!(on.to_string());
        }
    }
    doc
}

/// A service with e-mail, the officer of Hartlepool, a referrer, and one referral about `name`,
/// homeless now: the set-up most tests here share.
async fn one_referral(name: &str) -> (SmtpRelay, TestApp, String, String) {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = app
        .submit(&referrer, &about(name, Situation::Homeless))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (relay, app, referrer, id)
}

#[derive(Clone, Copy)]
enum Situation {
    SleepingRough,
    Homeless,
    InDays(i64),
}

fn position(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle} is not on the page"))
}

#[tokio::test]
async fn the_list_puts_homeless_now_first_then_fewest_days_then_the_oldest() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    // Submitted least urgent first, so the default order is not the order of arrival.
    for (name, situation) in [
        ("Fiftydays", Situation::InDays(50)),
        ("Tendays", Situation::InDays(10)),
        ("Homelessfirst", Situation::Homeless),
        ("Roughsleeper", Situation::SleepingRough),
        ("Homelesssecond", Situation::Homeless),
    ] {
        app.submit(&referrer, &about(name, situation)).await;
        app.advance(std::time::Duration::from_secs(1));
    }
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (status, _, list) = b.get("/inbox").await;
    assert_eq!(status, 200);
    let order: Vec<usize> = [
        "Roughsleeper",
        "Homelessfirst",
        "Homelesssecond",
        "Tendays",
        "Fiftydays",
    ]
    .iter()
    .map(|n| position(&list, n))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "most urgent first, the oldest first among equals: {order:?}"
    );
    assert!(list.contains("Sleeping rough now"), "{list}");
    assert!(list.contains("Homeless in 10 days"), "{list}");
    assert!(list.contains("Homeless in 50 days"), "{list}");
    assert!(list.contains("Age "), "ages are shown");

    let (_, _, now) = b.get("/inbox?urgency=homeless_now").await;
    assert!(now.contains("Homelessfirst") && now.contains("Roughsleeper"));
    assert!(!now.contains("Tendays"), "only those homeless now");
    let (_, _, soon) = b.get("/inbox?urgency=within_14_days").await;
    assert!(soon.contains("Tendays") && !soon.contains("Fiftydays"));
    let (status, _, _) = b.get("/inbox?urgency=whenever").await;
    assert_eq!(status, 404, "an unknown filter is no page");

    let (_, _, newest) = b.get("/inbox?sort=newest").await;
    assert!(
        position(&newest, "Homelesssecond") < position(&newest, "Fiftydays"),
        "newest first on request"
    );
}

#[tokio::test]
async fn a_search_finds_by_name_date_of_birth_and_reference_and_never_another_authoritys() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let mut doc = about("Zephyrine", Situation::InDays(20));
    doc["person"]["family_name"] = json!("Quill");
    doc["person"]["date_of_birth"] = json!("1988-04-12");
    doc["case_reference"] = json!("PRB-4711");
    let ours = app.submit(&referrer, &doc).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.submit(&referrer, &about("Otherperson", Situation::Homeless))
        .await;
    // The same person referred to Middlesbrough: never found from Hartlepool.
    let mut elsewhere = doc.clone();
    elsewhere["housing_authority"]["gss_code"] = json!("E06000002");
    let theirs = app.submit(&referrer, &elsewhere).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let hex: String = ours.chars().filter(char::is_ascii_hexdigit).collect();
    let short = hex[hex.len() - 12..].to_uppercase();
    for search in [
        "quill zephyrine",
        "12/04/1988",
        "1988-04-12",
        "PRB-4711",
        &short,
    ] {
        let (status, _, page) = b.get(&format!("/inbox?q={}", urlencode(search))).await;
        assert_eq!(status, 200);
        assert!(page.contains(&ours), "{search} finds it");
        assert!(
            !page.contains(&theirs),
            "{search}: never another authority's"
        );
        assert!(!page.contains("Otherperson"), "{search} finds only it");
    }
    let (_, _, none) = b.get("/inbox?q=nobody").await;
    assert!(none.contains("No referrals match your search"), "{none}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn listing_and_searching_are_audited_with_ids_and_counts_only() {
    let (relay, app, _, id) = one_referral("Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    b.get("/inbox").await;
    b.get("/inbox?q=Wilhelmina").await;
    let db = app.raw_db().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT action, detail, actor_role FROM audit_events WHERE action IN ('referrals.listed', 'referrals.searched') ORDER BY seq",
        ))
        .await
        .unwrap();
    let events: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "action").unwrap(),
                r.try_get("", "detail").unwrap(),
                r.try_get("", "actor_role").unwrap(),
            )
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "referrals.listed");
    assert!(events[0].1.contains(&id), "the ids shown: {}", events[0].1);
    assert_eq!(events[1].0, "referrals.searched");
    assert!(events[1].1.contains("\"found\":1"), "{}", events[1].1);
    for (_, detail, role) in &events {
        assert_eq!(role, "officer");
        assert!(
            !detail.contains("Wilhelmina"),
            "no name, no search text: {detail}"
        );
    }
}

#[tokio::test]
async fn the_api_resource_says_how_urgent_a_referral_is_today() {
    let app = TestApp::spawn().await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let authority = app.authority("E06000001").await;
    let mut young = about("Young", Situation::SleepingRough);
    let sixteen = uk_today().checked_sub(jiff::ToSpan::years(16)).unwrap();
    young["person"]["date_of_birth"] = json!(sixteen.to_string());
    let id = app.submit(&referrer, &young).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resource: Value = app
        .get(&format!("/v1/referrals/{id}"), &authority)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        resource["urgency"],
        json!({ "homeless_now": true, "days_until_homeless": null,
                "flags": ["rough_sleeping_now", "aged_16_or_17"] })
    );
    let threatened = app
        .submit(&referrer, &about("Later", Situation::InDays(56)))
        .await;
    assert_eq!(threatened["urgency"]["homeless_now"], false);
    assert_eq!(threatened["urgency"]["days_until_homeless"], 56);
    assert_eq!(threatened["urgency"]["flags"], json!([]));
}

#[tokio::test]
async fn the_footer_pages_say_what_is_held_and_for_how_long() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app.url(""));
    for (path, heading) in [
        ("/inbox/help", "Help for housing officers"),
        ("/inbox/privacy", "Privacy notice"),
        ("/inbox/accessibility", "Accessibility statement"),
    ] {
        let (status, _, page) = b.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains(heading), "{path}");
        assert!(
            page.contains("href=\"/inbox/privacy\""),
            "{path}: the footer links"
        );
    }
    let (_, _, privacy) = b.get("/inbox/privacy").await;
    let days = test_config("sqlite::memory:", std::path::Path::new("."))
        .retention
        .as_secs()
        / 86_400;
    assert!(
        privacy.contains(&format!("erased {days} days after")),
        "the retention setting: {privacy}"
    );
}

#[tokio::test]
async fn an_officer_assigns_a_referral_to_a_colleague_who_is_emailed_and_finds_it_as_theirs() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    const COLLEAGUE: &str = "sam.colleague@hartlepool.example.gov.uk";
    add_officer(&app, "E06000001", COLLEAGUE).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = app
        .submit(&referrer, &about("Wilhelmina", Situation::Homeless))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.submit(&referrer, &about("Notassigned", Situation::Homeless))
        .await;
    let jo = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, page) = jo.get(&format!("/inbox/referrals/{id}")).await;
    assert!(page.contains("Nobody yet"), "{page}");
    let csrf = hidden_field(&page, "csrf").unwrap();
    let colleague_id = {
        let list: Value = app
            .get("/v1/authorities/E06000001/officers", ADMIN_KEY)
            .await
            .json()
            .await
            .unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["email"] == COLLEAGUE)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = relay.messages().len();
    let (status, location, _) = jo
        .post(
            &format!("/inbox/referrals/{id}/assign"),
            &[("csrf", &csrf), ("officer", &colleague_id)],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("/inbox/referrals/{id}?done=assigned").as_str())
    );
    // The colleague is told, with the reference and a link, and nothing personal.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mail = loop {
        let messages = relay.messages();
        if let Some(m) = messages[before..]
            .iter()
            .map(|m| email_text(m))
            .find(|m| m.contains("A colleague at Hartlepool assigned"))
        {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no e-mail to the colleague: {:?}",
            &messages[before..]
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(mail.contains(&format!("To: {COLLEAGUE}")), "{mail}");
    assert!(mail.contains(&format!("/inbox/referrals/{id}")), "{mail}");
    assert!(!mail.contains("Wilhelmina"), "no personal data: {mail}");
    let events = app.events_of(&id).await;
    assert!(
        events.iter().any(|e| e["action"] == "referral.assigned"
            && e["detail"]["officer_id"] == colleague_id.as_str()),
        "{events:?}"
    );
    // The colleague's "assigned to me" shows it and not the other one.
    let sam = Browser::sign_in(&app, &relay, COLLEAGUE).await;
    let (_, _, mine) = sam.get("/inbox?assigned=me").await;
    assert!(mine.contains("Wilhelmina"), "{mine}");
    assert!(mine.contains("Assigned to you"), "{mine}");
    assert!(!mine.contains("Notassigned"), "{mine}");
    // An officer of another authority cannot be assigned.
    let (status, _, _) = jo
        .post(
            &format!("/inbox/referrals/{id}/assign"),
            &[
                ("csrf", &csrf),
                ("officer", "01939aa0-0000-7000-8000-000000000000"),
            ],
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_referrers_note_is_emailed_and_marks_the_referral_until_an_officer_opens_it() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    let resp = app
        .put(
            "/v1/authorities/E06000001/notify",
            ADMIN_KEY,
            &json!({ "email": "dutytorefer@hartlepool.example.gov.uk" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = app
        .submit(&referrer, &about("Wilhelmina", Situation::Homeless))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    b.get(&format!("/inbox/referrals/{id}")).await;
    let (_, _, list) = b.get("/inbox").await;
    assert!(!list.contains("New note from referrer"), "no note yet");
    app.advance(std::time::Duration::from_secs(60));
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &referrer,
            &json!({ "text": "Waiting in reception until 8pm." }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let (_, _, list) = b.get("/inbox").await;
    assert!(list.contains("New note from referrer"), "{list}");
    // The mailbox is told: the reference and a link, never the note.
    while app.step().await > 0 {}
    let told: Vec<String> = relay
        .messages()
        .iter()
        .map(|m| email_text(m))
        .filter(|m| m.contains("new note from the referrer"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains(&format!("/inbox/referrals/{id}")),
        "{}",
        told[0]
    );
    assert!(
        !told[0].contains("reception"),
        "not the note's text: {}",
        told[0]
    );
    assert!(!told[0].contains("Wilhelmina"), "no name: {}", told[0]);
    app.advance(std::time::Duration::from_secs(60));
    b.get(&format!("/inbox/referrals/{id}")).await;
    let (_, _, list) = b.get("/inbox").await;
    assert!(
        !list.contains("New note from referrer"),
        "cleared once opened: {list}"
    );
}

#[tokio::test]
async fn an_officers_note_is_signed_with_their_address_on_both_sides() {
    let (relay, app, referrer, id) = one_referral("Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, page) = b.get(&format!("/inbox/referrals/{id}")).await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let (status, _, _) = b
        .post(
            &format!("/inbox/referrals/{id}/notes"),
            &[("csrf", &csrf), ("text", "Appointment on Monday at 10.")],
        )
        .await;
    assert_eq!(status, 303);
    let notes: Value = app
        .get(&format!("/v1/referrals/{id}/notes"), &referrer)
        .await
        .json()
        .await
        .unwrap();
    let author = &notes["items"][0]["author"];
    assert_eq!(author["role"], "authority", "{notes}");
    assert_eq!(author["officer_email"], OFFICER, "{notes}");
    let (_, _, page) = b.get(&format!("/inbox/referrals/{id}")).await;
    assert!(page.contains(OFFICER), "signed on the page too");
}

#[tokio::test]
async fn form_errors_are_plain_english_and_lead_to_their_field() {
    let (relay, app, _, id) = one_referral("Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, page) = b.get(&format!("/inbox/referrals/{id}")).await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (b, id, csrf) = (&b, id.clone(), csrf.clone());
        async move {
            let mut all: Vec<(&str, String)> = vec![("csrf", csrf)];
            all.extend(fields);
            let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post(&format!("/inbox/referrals/{id}/{path}"), &pairs)
                .await
        }
    };
    // Acknowledging without a name.
    let (status, _, page) = post("acknowledge", vec![("received_by", "  ".into())]).await;
    assert_eq!(status, 422);
    assert!(page.contains("<title>Error: "), "the title says so");
    assert!(
        page.contains("href=\"#received_by\">Enter your name or team</a>"),
        "{page}"
    );
    assert!(
        page.contains("aria-describedby=\"received_by-error\""),
        "{page}"
    );
    assert!(page.contains("govuk-input--error"), "{page}");
    assert!(!page.contains("after trimming"), "no developer text");
    // A decision without a reason: the summary links to the first radio.
    let (status, _, page) = post("outcome", vec![]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("href=\"#reason-prevention_duty\">Select your decision</a>"),
        "{page}"
    );
    assert!(page.contains("id=\"reason-prevention_duty\""));
    // Referred to another council without saying which: the picker lists councils by name.
    let (status, _, page) = post(
        "outcome",
        vec![("reason", "referred_to_another_authority".into())],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Select the council you referred the person to"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"E08000035\">Leeds</option>"),
        "{page}"
    );
    assert!(!page.contains("GSS code"), "no codes asked of people");
    // The council chosen by name is recorded.
    let (status, _, _) = post(
        "outcome",
        vec![
            ("reason", "referred_to_another_authority".into()),
            ("other_authority", "E08000035".into()),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.state_of(&id).await["outcome"]["other_authority"]["gss_code"],
        "E08000035"
    );
}

#[tokio::test]
async fn an_officer_who_asked_is_emailed_a_referrers_note_and_one_who_did_not_is_not() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_officer(&app, "E06000001", OFFICER).await;
    const QUIET: &str = "quiet.officer@hartlepool.example.gov.uk";
    add_officer(&app, "E06000001", QUIET).await;
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let id = app
        .submit(&referrer, &about("Wilhelmina", Situation::Homeless))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (status, _, settings) = b.get("/inbox/settings").await;
    assert_eq!(status, 200);
    assert!(!settings.contains(" checked"), "off until asked for");
    let csrf = hidden_field(&settings, "csrf").unwrap();
    let (status, location, _) = b
        .post(
            "/inbox/settings",
            &[("csrf", &csrf), ("note_emails", "yes")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/inbox/settings?saved=1"));
    let (_, _, settings) = b.get("/inbox/settings?saved=1").await;
    assert!(settings.contains(" checked"), "{settings}");
    // The authority has the referral (the officer opened it); the referrer writes.
    b.get(&format!("/inbox/referrals/{id}")).await;
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &referrer,
            &json!({ "text": "Waiting in reception until 8pm." }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    while app.step().await > 0 {}
    let notes: Vec<String> = relay
        .messages()
        .iter()
        .map(|m| email_text(m))
        .filter(|m| m.contains("new note from the referrer"))
        .collect();
    assert_eq!(notes.len(), 1, "only the officer who asked: {notes:?}");
    assert!(notes[0].contains(&format!("To: {OFFICER}")), "{}", notes[0]);
    assert!(!notes[0].contains("reception"), "never the note's text");
    assert!(!notes.iter().any(|m| m.contains(QUIET)));
}

#[tokio::test]
async fn an_erased_referral_is_listed_without_its_name_and_never_found_by_it() {
    let (relay, app, _, id) = one_referral("Wilhelmina").await;
    let b = Browser::sign_in(&app, &relay, OFFICER).await;
    let (_, _, before) = b.get("/inbox?q=wilhelmina").await;
    assert!(before.contains(&id), "found while it has a name");
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/erase"),
            ADMIN_KEY,
            &json!({ "reason": "subject_request" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (_, _, list) = b.get("/inbox").await;
    assert!(list.contains(&id), "still listed");
    assert!(list.contains("Personal details erased"), "{list}");
    assert!(
        !list.contains("Wilhelmina"),
        "the list's copy of the name went too"
    );
    let (_, _, after) = b.get("/inbox?q=wilhelmina").await;
    assert!(!after.contains(&id), "never found by the erased name");
}
