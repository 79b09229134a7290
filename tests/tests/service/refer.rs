//! The practitioner's referral journey over HTTP (docs/contract.md §14): organisations and their
//! domains, sign-in by e-mailed link, the question pages judged by the API's rules, drafts, check
//! your answers, one referral however often it is sent, what the practitioner sees afterwards,
//! and the e-mails. The same journey in a real browser, with axe-core, is in `inbox_browser.rs`.

use serde_json::{json, Value};
use std::time::Duration;
use tests::*;

const DOMAIN: &str = "probation.example.gov.uk";
const PAT: &str = "pat.practitioner@probation.example.gov.uk";

async fn add_organisation(app: &TestApp, name: &str, agency: &[&str], domains: &[&str]) -> String {
    let resp = app
        .post(
            "/v1/organisations",
            ADMIN_KEY,
            &json!({ "name": name, "agency_types": agency, "email_domains": domains }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Signs in at /refer through the e-mailed link; where the link led.
async fn sign_in(app: &TestApp, relay: &SmtpRelay, email: &str) -> (Browser, Option<String>) {
    let b = Browser::new(&app.base);
    let before = relay.messages().len();
    let (status, page) = b.ask_for_link_at("/refer", email).await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your e-mail"), "{page}");
    let link = wait_for_link_at(relay, before, "/refer").await;
    let (status, location) = b.use_link(&link).await;
    assert_eq!(status, 303, "signed in");
    (b, location)
}

async fn csrf_of(b: &Browser, path: &str) -> String {
    let (mut status, mut location, mut page) = b.get(path).await;
    // A form's own address leads to its page (a referral's notes and withdrawal forms).
    if status == 303 {
        (status, location, page) = b.get(&location.unwrap()).await;
    }
    assert_eq!(status, 200, "{path}: {location:?} {page}");
    hidden_field(&page, "csrf").expect("a CSRF field")
}

/// Posts a page of the journey with `fields` (and its CSRF token); status, location, body.
async fn answer(b: &Browser, path: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let csrf = csrf_of(b, path).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    b.post(path, &all).await
}

fn date_fields(prefix: &str, d: jiff::civil::Date) -> Vec<(String, String)> {
    vec![
        (format!("{prefix}-day"), d.day().to_string()),
        (format!("{prefix}-month"), d.month().to_string()),
        (format!("{prefix}-year"), d.year().to_string()),
    ]
}

async fn answer_owned(
    b: &Browser,
    path: &str,
    fields: &[(String, String)],
) -> (u16, Option<String>, String) {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    answer(b, path, &borrowed).await
}

/// Answers every page of a valid referral of Sam Example to Leeds, threatened in 30 days.
async fn answer_everything(b: &Browser) {
    let (s, l, p) = answer(
        b,
        "/refer/you",
        &[
            ("agency_type", "probation"),
            ("referrer-name", "Pat Practitioner"),
            ("referrer-phone", "0113 496 0000 ext 12"),
            ("referrer-team", "Leeds North"),
        ],
    )
    .await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new/person")), "{p}");
    let mut person = vec![
        ("person-given_name".to_owned(), "Samira".to_owned()),
        ("person-family_name".to_owned(), "Exampleton".to_owned()),
    ];
    person.extend(date_fields(
        "person-date_of_birth",
        jiff::civil::date(1985, 3, 14),
    ));
    let (s, l, p) = answer_owned(b, "/refer/new/person", &person).await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new/contact")), "{p}");
    let (s, l, p) = answer(
        b,
        "/refer/new/contact",
        &[("person-contact-phone", "07911 123456")],
    )
    .await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new/consent")), "{p}");
    let mut consent = vec![
        ("consent-referral".to_owned(), "yes".to_owned()),
        ("consent-share_contact_details".to_owned(), "yes".to_owned()),
    ];
    consent.extend(date_fields("consent-recorded_at", uk_today()));
    let (s, l, p) = answer_owned(b, "/refer/new/consent", &consent).await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some("/refer/new/situation")),
        "{p}"
    );
    let mut situation = vec![
        (
            "housing_situation-reason".to_owned(),
            "threatened_with_homelessness".to_owned(),
        ),
        (
            "housing_situation-rough_sleeping".to_owned(),
            "no".to_owned(),
        ),
        (
            "housing_situation-summary".to_owned(),
            "Tenancy ends; nowhere else to go.".to_owned(),
        ),
    ];
    situation.extend(date_fields(
        "housing_situation-likely_homeless_on",
        uk_today().checked_add(jiff::ToSpan::days(30)).unwrap(),
    ));
    let (s, l, p) = answer_owned(b, "/refer/new/situation", &situation).await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some("/refer/new/authority")),
        "{p}"
    );
    let (s, l, p) = answer(
        b,
        "/refer/new/authority",
        &[
            ("housing_authority-gss_code", "E08000035"),
            ("housing_authority-chosen_by_person", "yes"),
        ],
    )
    .await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new/details")), "{p}");
    let (s, l, p) = answer(
        b,
        "/refer/new/details",
        &[
            ("household-adults", "1"),
            ("risk-to_staff", "Dog at the address"),
        ],
    )
    .await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new/check")), "{p}");
}

async fn audit_of(app: &TestApp, id: &str) -> Vec<Value> {
    let audit: Value = app
        .get(&format!("/v1/referrals/{id}/audit"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    audit["items"].as_array().unwrap().clone()
}

async fn all_events(app: &TestApp) -> Vec<Value> {
    let db = app.raw_db().await;
    use sea_orm::{ConnectionTrait, Statement};
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT action, actor_role, actor_officer_id, detail FROM audit_events ORDER BY seq",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        json!({
            "action": r.try_get::<String>("", "action").unwrap(),
            "role": r.try_get::<String>("", "actor_role").unwrap(),
            "person": r.try_get::<Option<String>>("", "actor_officer_id").unwrap(),
            "detail": r.try_get::<String>("", "detail").unwrap(),
        })
    })
    .collect()
}

#[tokio::test]
async fn organisations_are_managed_by_admins_with_every_fault_pointed_at() {
    let app = TestApp::spawn().await;
    let id = add_organisation(
        &app,
        "Leeds Probation",
        &["probation", "youth_offending_team"],
        &[DOMAIN],
    )
    .await;
    let read: Value = app
        .get(&format!("/v1/organisations/{id}"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], "Leeds Probation");
    assert_eq!(
        read["agency_types"],
        json!(["probation", "youth_offending_team"])
    );
    assert_eq!(read["email_domains"], json!([DOMAIN]));

    // Bad bodies: each fault at its pointer, nothing stored.
    let resp = app
        .post("/v1/organisations", ADMIN_KEY, &json!({ "name": "", "agency_types": ["probation", "astrology"], "email_domains": ["no spaces.uk", "ok.example.uk", "ok.example.uk"], "extra": 1 }))
        .await;
    let problem = assert_problem(resp, 422).await;
    assert_eq!(problem["type"], "urn:dtr:problem:organisation.invalid");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    for p in [
        "/name",
        "/agency_types/1",
        "/email_domains/0",
        "/email_domains/2",
        "/extra",
    ] {
        assert!(pointers.contains(&p), "{p} in {pointers:?}");
    }
    let resp = app
        .post(
            "/v1/organisations",
            ADMIN_KEY,
            &json!({ "name": "X", "agency_types": [], "email_domains": [] }),
        )
        .await;
    assert_eq!(
        assert_problem(resp, 422).await["errors"][0]["pointer"],
        "/agency_types"
    );
    let list: Value = app
        .get("/v1/organisations", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Only admins.
    let referrer = app.referrer("Someone").await;
    assert_problem(app.get("/v1/organisations", &referrer).await, 403).await;

    // Change, add a practitioner on a shared domain, remove.
    let resp = app
        .patch(
            &format!("/v1/organisations/{id}"),
            ADMIN_KEY,
            &json!({ "name": "Probation Leeds" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["name"], "Probation Leeds");
    assert_eq!(
        changed["email_domains"],
        json!([DOMAIN]),
        "unchanged members stay"
    );
    let resp = app
        .post(
            &format!("/v1/organisations/{id}/practitioners"),
            ADMIN_KEY,
            &json!({ "email": "Jo@Justice.example.gov.uk" }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["email"], "jo@justice.example.gov.uk");
    assert!(p["id"].as_str().unwrap().starts_with("prt_"));
    let again = app
        .post(
            &format!("/v1/organisations/{id}/practitioners"),
            ADMIN_KEY,
            &json!({ "email": "jo@justice.example.gov.uk" }),
        )
        .await;
    assert_eq!(
        assert_problem(again, 409).await["type"],
        "urn:dtr:problem:practitioner.exists"
    );
    let list: Value = app
        .get(&format!("/v1/organisations/{id}/practitioners"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let pid = p["id"].as_str().unwrap();
    assert_eq!(
        app.delete(
            &format!("/v1/organisations/{id}/practitioners/{pid}"),
            ADMIN_KEY
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        app.delete(
            &format!("/v1/organisations/{id}/practitioners/{pid}"),
            ADMIN_KEY
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.delete(&format!("/v1/organisations/{id}"), ADMIN_KEY)
            .await
            .status(),
        204
    );
    assert_problem(
        app.get(&format!("/v1/organisations/{id}"), ADMIN_KEY).await,
        404,
    )
    .await;

    let actions: Vec<String> = all_events(&app)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in [
        "organisation.added",
        "organisation.changed",
        "practitioner.added",
        "practitioner.removed",
        "organisation.removed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited");
    }
}

#[tokio::test]
async fn a_practitioner_refers_on_the_web_and_the_referral_is_an_ordinary_one() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    let (b, location) = sign_in(&app, &relay, PAT).await;
    assert_eq!(
        location.as_deref(),
        Some("/refer"),
        "back to where sign-in began"
    );

    // About you first, then the questions.
    let (s, l, _) = b.get("/refer/new").await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/you")));
    answer_everything(&b).await;

    let (s, _, check) = b.get("/refer/new/check").await;
    assert_eq!(s, 200);
    assert!(check.contains("Check your answers before sending the referral"));
    assert!(check.contains("Samira") && check.contains("Leeds") && check.contains("Change"));
    assert!(check.contains("Send the referral"), "{check}");
    let csrf = hidden_field(&check, "csrf").unwrap();
    let draft = hidden_field(&check, "draft").unwrap();

    // Sent twice (a double click, the back button): one referral.
    let (s, l, _) = b
        .post("/refer/new/check", &[("csrf", &csrf), ("draft", &draft)])
        .await;
    assert_eq!(s, 303);
    let first = l.unwrap();
    let (s, l, _) = b
        .post("/refer/new/check", &[("csrf", &csrf), ("draft", &draft)])
        .await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some(first.as_str())),
        "the same referral again"
    );
    let id = first
        .trim_start_matches("/refer/referrals/")
        .trim_end_matches("?sent=1")
        .to_owned();

    let (s, _, confirmation) = b.get(&first).await;
    assert_eq!(s, 200);
    assert!(confirmation.contains("Referral sent"));
    assert!(
        confirmation.contains(&id[id.len() - 12..].to_uppercase()),
        "the reference"
    );

    // As the API sees it: the organisation's name, the chosen agency type, the referrer block
    // from the practitioner, and a practitioner as the actor.
    let read: Value = app
        .get(&format!("/v1/referrals/{id}"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["organisation"], "Leeds Probation");
    assert_eq!(read["agency_type"], "probation");
    assert_eq!(read["referral"]["referrer"]["email"], PAT);
    assert_eq!(read["referral"]["referrer"]["name"], "Pat Practitioner");
    assert_eq!(read["referral"]["person"]["given_name"], "Samira");
    let list: Value = app
        .get("/v1/referrals", ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "one referral however often sent"
    );
    let accepted = audit_of(&app, &id)
        .await
        .into_iter()
        .find(|e| e["action"] == "referral.accepted")
        .unwrap();
    assert_eq!(accepted["actor"]["role"], "practitioner");
    assert!(accepted["actor"]["key_id"].is_null());
    let practitioner = accepted["actor"]["practitioner_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(practitioner.starts_with("prt_"));
    assert!(accepted["actor"].get("officer_id").is_none());

    // The draft went when it was sent, audited with its reason.
    let events = all_events(&app).await;
    assert!(events.iter().any(|e| e["action"] == "draft.erased"
        && e["detail"].as_str().unwrap().contains("\"submitted\"")));
    assert!(events
        .iter()
        .any(|e| e["action"] == "practitioner.signed_in" && e["person"] == practitioner.as_str()));
    let (s, l, _) = b.get("/refer/new/check").await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some("/refer/new")),
        "no draft any more"
    );

    // Your referrals.
    let (_, _, mine) = b.get("/refer/referrals").await;
    assert!(
        mine.contains("Samira Exampleton") && mine.contains("Leeds"),
        "{mine}"
    );
    assert!(mine.contains(&format!("/refer/referrals/{id}")));

    // The authority sees it like any other: an authority key reads and acknowledges it.
    let leeds = app.authority("E08000035").await;
    assert_eq!(
        app.get(&format!("/v1/referrals/{id}"), &leeds)
            .await
            .status(),
        200
    );
    let before = relay.messages().len();
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/acknowledge"),
            &leeds,
            &json!({ "received_by": "Housing Options" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // The practitioner is told, with the reference and a link, nothing personal.
    app.step().await;
    let mail = wait_for_email(&relay, before).await;
    assert!(mail.contains(&format!("/refer/referrals/{id}")), "{mail}");
    assert!(mail.contains("acknowledged your referral"));
    for personal in ["Samira", "Exampleton", "07911", "Tenancy", "Dog", "1985"] {
        assert!(!mail.contains(personal), "{personal} in {mail}");
    }

    // A note from the authority reaches the page and an e-mail; the practitioner answers.
    let before = relay.messages().len();
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/notes"),
            &leeds,
            &json!({ "text": "Can Samira come in on Monday?" }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    app.step().await;
    let mail = wait_for_email(&relay, before).await;
    assert!(
        mail.contains("added a note") && !mail.contains("Monday") && !mail.contains("Samira"),
        "{mail}"
    );
    let page_path = format!("/refer/referrals/{id}");
    let (_, _, page) = b.get(&page_path).await;
    assert!(page.contains("Can Samira come in on Monday?"));
    let (s, l, _) = answer(
        &b,
        &format!("{page_path}/notes"),
        &[("text", "Yes, at 10am.")],
    )
    .await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some(format!("{page_path}?done=note").as_str()))
    );
    let notes: Value = app
        .get(&format!("/v1/referrals/{id}/notes"), &leeds)
        .await
        .json()
        .await
        .unwrap();
    assert!(notes.to_string().contains("Yes, at 10am."));

    // E-mails off: an outcome is recorded and nothing is sent.
    let (s, _, _) = answer(&b, "/refer/settings", &[("emails", "off")]).await;
    assert_eq!(s, 303);
    let before = relay.messages().len();
    let resp = app
        .post(
            &format!("/v1/referrals/{id}/outcome"),
            &leeds,
            &json!({ "decision": "accepted", "reason": "prevention_duty" }),
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    app.step().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.messages().len(), before, "no e-mail once turned off");
    let (_, _, page) = b.get(&page_path).await;
    assert!(
        page.contains("Prevention duty") || page.contains("prevention"),
        "the decision is shown"
    );

    // Withdrawing needs a reason; after the council accepted a duty only the person's withdrawn
    // consent withdraws it (which erases their details at once).
    let (s, _, page) = answer(&b, &format!("{page_path}/withdraw"), &[]).await;
    assert_eq!(s, 422);
    assert!(page.contains("Select why you are withdrawing the referral"));
    let (s, _, page) = answer(
        &b,
        &format!("{page_path}/withdraw"),
        &[("reason", "housing_need_resolved")],
    )
    .await;
    assert_eq!(s, 409);
    assert!(
        page.contains("only be withdrawn if the person withdrew their consent"),
        "{page}"
    );
    assert_eq!(app.state_of(&id).await["status"], "acknowledged");
    let (s, _, _) = answer(
        &b,
        &format!("{page_path}/withdraw"),
        &[("reason", "consent_withdrawn")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(app.state_of(&id).await["status"], "withdrawn");
    let (_, _, page) = b.get(&page_path).await;
    assert!(page.contains("details have been erased") && !page.contains("Samira"));
}

#[tokio::test]
async fn each_page_shows_the_rules_findings_at_their_fields_at_the_boundaries() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    let (b, _) = sign_in(&app, &relay, PAT).await;
    answer_everything(&b).await;

    // Day 57 is refused at the date, in plain words; day 56 is accepted.
    let situation = |days: i64| {
        let mut f = vec![
            (
                "housing_situation-reason".to_owned(),
                "threatened_with_homelessness".to_owned(),
            ),
            (
                "housing_situation-rough_sleeping".to_owned(),
                "no".to_owned(),
            ),
            (
                "housing_situation-summary".to_owned(),
                "Tenancy ends; nowhere else to go.".to_owned(),
            ),
            ("return".to_owned(), "1".to_owned()),
        ];
        f.extend(date_fields(
            "housing_situation-likely_homeless_on",
            uk_today().checked_add(jiff::ToSpan::days(days)).unwrap(),
        ));
        f
    };
    let (s, _, page) = answer_owned(&b, "/refer/new/situation", &situation(57)).await;
    assert_eq!(s, 422);
    assert!(page.contains("govuk-error-summary"));
    assert!(
        page.contains("href=\"#housing_situation-likely_homeless_on-day\""),
        "the summary links to the field"
    );
    assert!(page.contains("id=\"housing_situation-likely_homeless_on-error\""));
    assert!(page.contains("within 56 days of today"));
    assert!(page.contains("<title>Error: "));
    let (s, l, _) = answer_owned(&b, "/refer/new/situation", &situation(56)).await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some("/refer/new/check")),
        "back to check your answers"
    );

    // Ages: 15 refused at the date of birth; 16 and 17 accepted with a warning shown before
    // sending; 18 with none.
    let person = |years: i16| {
        let born = uk_today().checked_sub(jiff::ToSpan::years(years)).unwrap();
        let mut f = vec![
            ("person-given_name".to_owned(), "Samira".to_owned()),
            ("person-family_name".to_owned(), "Exampleton".to_owned()),
        ];
        f.extend(date_fields("person-date_of_birth", born));
        f
    };
    let (s, _, page) = answer_owned(&b, "/refer/new/person", &person(15)).await;
    assert_eq!(s, 422);
    assert!(
        page.contains("id=\"person-date_of_birth-error\"") && page.contains("aged 16 or over"),
        "{page}"
    );
    for (years, warned) in [(16, true), (17, true), (18, false)] {
        let (s, _, _) = answer_owned(&b, "/refer/new/person", &person(years)).await;
        assert_eq!(s, 303, "{years}");
        let (_, _, check) = b.get("/refer/new/check").await;
        let warning = "The person is 16 or 17";
        assert_eq!(check.contains(warning), warned, "{years}: {check}");
        let (_, _, page) = b.get("/refer/new/person").await;
        assert_eq!(
            page.contains(warning),
            warned,
            "{years}: shown on its page too"
        );
        assert!(
            check.contains("Send the referral"),
            "{years}: a warning does not stop sending"
        );
    }

    // A blank contact page: the error is at its first question, in words, and sending waits.
    let (s, _, page) = answer(&b, "/refer/new/contact", &[("person-contact-phone", "")]).await;
    assert_eq!(s, 422);
    assert!(page.contains("Give a way to contact them"), "{page}");
    let (_, _, check) = b.get("/refer/new/check").await;
    assert!(
        !check.contains("Send the referral"),
        "not sendable while a rule is broken"
    );
    assert!(check.contains("/refer/new/contact?return=1#person-contact-via_referrer"));

    // Unfinished answers are kept between pages.
    let (_, _, page) = b.get("/refer/new/situation").await;
    assert!(page.contains("Tenancy ends; nowhere else to go."));

    // The authority is found by name.
    let (_, _, page) = b.get("/refer/new/authority?q=hartle").await;
    assert!(
        page.contains("value=\"E06000001\"") && page.contains("Hartlepool"),
        "{page}"
    );
}

#[tokio::test]
async fn the_council_is_found_by_postcode_district_and_the_page_says_what_the_district_holds() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    let (b, _) = sign_in(&app, &relay, PAT).await;
    let council = |q: &str| {
        let b = &b;
        let path = format!("/refer/new/authority?q={}", q.replace(' ', "+"));
        async move {
            let (s, _, page) = b.get(&path).await;
            assert_eq!(s, 200, "{path}");
            let offered: Vec<String> = page
                .match_indices("name=\"housing_authority-gss_code\" type=\"radio\" value=\"")
                .map(|(i, m)| page[i + m.len()..i + m.len() + 9].to_owned())
                .collect();
            (offered, page)
        }
    };
    // One council: a district, or a whole postcode read as its district; nothing more to say.
    for q in ["ls1", "LS1 4AP"] {
        let (offered, page) = council(q).await;
        assert_eq!(offered, ["E08000035"], "{q}");
        assert!(!page.contains("id=\"q-result\""), "{q}: {page}");
    }
    // Several councils: all of them, and the person's choice decides.
    let (offered, page) = council("WC1V").await;
    assert_eq!(offered, ["E09000001", "E09000007", "E09000033"]);
    assert!(page.contains("WC1V is split between councils"), "{page}");
    // Carried forward to today's councils: Northampton's NN1 is West Northamptonshire's.
    let (offered, _) = council("NN1").await;
    assert_eq!(offered, ["E06000062"]);
    // Partly and wholly outside England; unknown; and a name that finds nothing.
    let (offered, page) = council("SY10").await;
    assert_eq!(offered, ["E06000051"]);
    assert!(page.contains("Part of SY10 is outside England"), "{page}");
    for (q, says) in [
        ("CF10", "CF10 is outside England"),
        ("ZZ9", "We do not know the postcode district ZZ9"),
        ("Atlantis", "No council in England has that name"),
    ] {
        let (offered, page) = council(q).await;
        assert!(offered.is_empty(), "{q}: {offered:?}");
        assert!(page.contains(says), "{q}: {page}");
        assert!(page.contains("aria-describedby=\"q-hint q-result\""), "{q}");
    }
    // A council found by district is chosen like one found by name.
    let (s, to, _) = answer(
        &b,
        "/refer/new/authority",
        &[
            ("housing_authority-gss_code", "E09000007"),
            ("housing_authority-chosen_by_person", "yes"),
        ],
    )
    .await;
    assert_eq!((s, to.as_deref()), (303, Some("/refer/new/details")));
    let (_, _, page) = b.get("/refer/new/authority?q=WC1V").await;
    assert!(page.contains("value=\"E09000007\" checked"), "{page}");
}

#[tokio::test]
async fn drafts_expire_and_a_removed_organisation_signs_its_practitioners_out() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let org = add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    let (b, _) = sign_in(&app, &relay, PAT).await;
    answer_everything(&b).await;

    // Kept for DTR_DRAFT_RETENTION (7 days) after the last change, then erased.
    app.advance(Duration::from_secs(7 * 86_400 - 120));
    assert_eq!(app.sweep_drafts().await, 0);
    app.advance(Duration::from_secs(121));
    assert_eq!(app.sweep_drafts().await, 1);
    let db = app.raw_db().await;
    use sea_orm::{ConnectionTrait, Statement};
    let left = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM drafts",
        ))
        .await
        .unwrap();
    assert!(left.is_empty());
    let events = all_events(&app).await;
    assert!(events
        .iter()
        .any(|e| e["action"] == "draft.erased"
            && e["detail"].as_str().unwrap().contains("\"expired\"")));

    // A session ends with its organisation (a new one: a week ended the first).
    let (b, _) = sign_in(&app, &relay, PAT).await;
    let (s, _, _) = b.get("/refer/referrals").await;
    assert_eq!(s, 200);
    assert_eq!(
        app.delete(&format!("/v1/organisations/{org}"), ADMIN_KEY)
            .await
            .status(),
        204
    );
    let (s, l, _) = b.get("/refer/referrals").await;
    assert_eq!(s, 303);
    assert!(l.unwrap().starts_with("/refer/sign-in"));
}

#[tokio::test]
async fn practitioners_see_only_their_own_referrals_and_a_shared_domain_chooses() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    // A national domain listed by two organisations.
    let nhs_a = add_organisation(
        &app,
        "Leeds Teaching Hospitals",
        &["emergency_department", "urgent_treatment_centre"],
        &["nhs.example.net"],
    )
    .await;
    add_organisation(
        &app,
        "Bradford Hospitals",
        &["emergency_department"],
        &["nhs.example.net"],
    )
    .await;

    let (pat, _) = sign_in(&app, &relay, PAT).await;
    answer_everything(&pat).await;
    let check = csrf_of(&pat, "/refer/new/check").await;
    let (_, _, page) = pat.get("/refer/new/check").await;
    let draft = hidden_field(&page, "draft").unwrap();
    let (_, l, _) = pat
        .post("/refer/new/check", &[("csrf", &check), ("draft", &draft)])
        .await;
    let id = l
        .unwrap()
        .trim_start_matches("/refer/referrals/")
        .trim_end_matches("?sent=1")
        .to_owned();

    let (nurse, location) = sign_in(&app, &relay, "ali.nurse@nhs.example.net").await;
    assert_eq!(
        location.as_deref(),
        Some("/refer/organisation"),
        "choose first"
    );
    let (s, l, _) = nurse.get("/refer/referrals").await;
    assert_eq!(
        (s, l.as_deref()),
        (303, Some("/refer/organisation")),
        "nothing else until chosen"
    );
    let (_, _, page) = nurse.get("/refer/organisation").await;
    assert!(page.contains("Leeds Teaching Hospitals") && page.contains("Bradford Hospitals"));
    let (s, _, page) = answer(&nurse, "/refer/organisation", &[]).await;
    assert_eq!(s, 422);
    assert!(page.contains("Select the organisation you work for"));
    let (s, l, _) = answer(&nurse, "/refer/organisation", &[("organisation", &nhs_a)]).await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/referrals")));
    let events = all_events(&app).await;
    assert!(events
        .iter()
        .any(|e| e["action"] == "practitioner.organisation_chosen"
            && e["detail"].as_str().unwrap().contains(&nhs_a)));

    // Another organisation's practitioner: not in their list, not found by its address.
    let (_, _, list) = nurse.get("/refer/referrals").await;
    assert!(!list.contains(&id) && !list.contains("Samira"));
    let (s, _, page) = nurse.get(&format!("/refer/referrals/{id}")).await;
    assert_eq!(s, 404);
    assert!(!page.contains("Samira"));
    let csrf = csrf_of(&nurse, "/refer/settings").await;
    let (s, _, _) = nurse
        .post(
            &format!("/refer/referrals/{id}/withdraw"),
            &[("csrf", &csrf), ("reason", "other")],
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(app.state_of(&id).await["status"], "awaiting_collection");
    // Nor their draft: each practitioner has their own.
    let (s, l, _) = nurse.get("/refer/new/check").await;
    assert_eq!((s, l.as_deref()), (303, Some("/refer/new")));

    // An address no organisation takes is told so by e-mail (the page answers alike).
    let b = Browser::new(&app.base);
    let before = relay.messages().len();
    let (status, page) = b
        .ask_for_link_at("/refer", "someone@elsewhere.example.com")
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your e-mail"));
    let mail = wait_for_email(&relay, before).await;
    assert!(
        mail.contains("not set up") && !mail.contains("/refer/sign-in/link"),
        "{mail}"
    );

    // Without a session the journey asks to sign in.
    let (s, l, _) = Browser::new(&app.base).get("/refer/referrals").await;
    assert_eq!(s, 303);
    assert!(l.unwrap().starts_with("/refer/sign-in"));
}

/// Signs in at `root` through the e-mailed link with a client that keeps no cookies; the new
/// session cookie's value, from the answer's `Set-Cookie`.
async fn session_cookie_of(app: &TestApp, relay: &SmtpRelay, root: &str, email: &str) -> String {
    let b = Browser::new(&app.base);
    let before = relay.messages().len();
    let (status, _) = b.ask_for_link_at(root, email).await;
    assert_eq!(status, 200);
    let link = wait_for_link_at(relay, before, root).await;
    let (_, _, page) = b.get(&link).await;
    let csrf = hidden_field(&page, "csrf").expect("a CSRF field");
    let token = hidden_field(&page, "token").expect("the token");
    let resp = b
        .client
        .post(format!("{}{root}/sign-in/link", app.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", token.as_str()),
            ("next", root),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let name = if root == "/refer" {
        "dtr_refer_session="
    } else {
        "dtr_session="
    };
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(name)?.split(';').next().map(str::to_owned))
        .filter(|v| !v.is_empty())
        .expect("a session cookie")
}

#[tokio::test]
async fn an_officers_session_opens_no_practitioner_page_and_a_practitioners_no_inbox_page() {
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    add_organisation(&app, "Leeds Probation", &["probation"], &[DOMAIN]).await;
    let officer = "jo.officer@leeds.example.gov.uk";
    let resp = app
        .post(
            "/v1/authorities/E08000035/officers",
            ADMIN_KEY,
            &json!({ "email": officer }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let officers = session_cookie_of(&app, &relay, "/inbox", officer).await;
    let practitioners = session_cookie_of(&app, &relay, "/refer", PAT).await;
    let plain = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let status = |path: &str, cookie: String| {
        let request = plain
            .get(format!("{}{path}", app.base))
            .header("cookie", cookie);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Each opens its own surface…
    assert_eq!(
        status("/inbox", format!("dtr_session={officers}")).await,
        200
    );
    assert_eq!(
        status(
            "/refer/referrals",
            format!("dtr_refer_session={practitioners}")
        )
        .await,
        200
    );
    // …and not the other, whichever cookie name it is sent under.
    assert_eq!(
        status("/refer/referrals", format!("dtr_refer_session={officers}")).await,
        303
    );
    assert_eq!(
        status("/inbox", format!("dtr_session={practitioners}")).await,
        303
    );
}
