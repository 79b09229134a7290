//! The web inbox in a real browser (docs/contract.md §10): headless Chromium driven through chromedriver
//! by fantoccini, keyboard only (Tab and Enter; the arrow keys choose a radio, as in any form),
//! with axe-core (WCAG 2.2 A and AA rules) run on every page of the journey. Every request that
//! is not to the service goes to a dead proxy, so a page needing another host would break.
//!
//! `scripts/test` installs Debian's `chromium` and `chromium-driver` and axe-core from npm (into
//! `target/axe-core/`) and sets `DTR_REQUIRE_BROWSER=1`; a plain `cargo test` without them says
//! so and skips.

#![allow(clippy::unwrap_used)]

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::time::Duration;
use tests::*;

const OFFICER: &str = "jo.officer@hartlepool.example.gov.uk";
const OTHER: &str = "sam@middlesbrough.example.gov.uk";

fn axe_source() -> Option<String> {
    let path = std::env::var("DTR_AXE_JS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/axe-core/axe.min.js").to_owned()
    });
    std::fs::read_to_string(path).ok()
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<Driver> {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = std::process::Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    Some(Driver { child, port })
}

async fn browser(driver: &Driver) -> Client {
    // Both rustls providers are compiled in (reqwest's aws-lc-rs, sqlx's ring): fantoccini's
    // client needs the process default chosen (PITFALLS: TLS and crypto).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1024", "--proxy-server=http://127.0.0.1:9",
                "--no-first-run", "--disable-extensions"
            ]
        }),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "chromedriver did not start: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn press(c: &Client, key: Key) {
    let k: char = key.into();
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k }),
    )
    .await
    .unwrap();
}

/// Presses Tab until the focused element matches `selector` (as a keyboard user would).
async fn tab_to(c: &Client, selector: &str) {
    for _ in 0..80 {
        press(c, Key::Tab).await;
        let focused = c
            .execute(
                "return document.activeElement && document.activeElement.matches(arguments[0]);",
                vec![json!(selector)],
            )
            .await
            .unwrap();
        if focused == json!(true) {
            return;
        }
    }
    panic!(
        "{selector} cannot be reached with Tab on {}",
        c.current_url().await.unwrap()
    );
}

/// Tabs to a field and types into it.
async fn type_into(c: &Client, selector: &str, text: &str) {
    tab_to(c, selector).await;
    c.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Tabs to a field, selects what it holds (Control+A), deletes it and types `text`.
async fn replace_in(c: &Client, selector: &str, text: &str) {
    tab_to(c, selector).await;
    let (ctrl, null, backspace): (char, char, char) =
        (Key::Control.into(), Key::Null.into(), Key::Backspace.into());
    c.active_element()
        .await
        .unwrap()
        .send_keys(&format!("{ctrl}a{null}{backspace}{text}"))
        .await
        .unwrap();
}

/// Tabs to a button or link and presses Enter, then waits for the next page.
async fn activate(c: &Client, selector: &str) {
    tab_to(c, selector).await;
    let before: Value = c
        .execute("return performance.timeOrigin;", vec![])
        .await
        .unwrap();
    press(c, Key::Enter).await;
    for _ in 0..200 {
        let now = c
            .execute("return performance.timeOrigin;", vec![])
            .await
            .unwrap_or(Value::Null);
        let ready = c
            .execute("return document.readyState;", vec![])
            .await
            .unwrap_or(Value::Null);
        if now != before && ready == json!("complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("pressing Enter on {selector} did not lead to a new page");
}

/// Runs axe-core on the page: no violation of the WCAG 2.2 A/AA rules.
async fn accessible(c: &Client, axe: &str, what: &str) {
    c.execute(axe, vec![]).await.unwrap();
    let violations = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
                .then(r => done(r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.html)}))))
                .catch(e => done([{id: 'axe-error', help: String(e)}]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        violations,
        json!([]),
        "{what}: accessibility violations at {}",
        c.current_url().await.unwrap()
    );
}

async fn text(c: &Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Signs in through the form and the e-mailed link, by keyboard, checking each page.
async fn sign_in(c: &Client, app: &TestApp, relay: &SmtpRelay, axe: &str, email: &str) {
    c.goto(&format!("{}/inbox/sign-in", app.base))
        .await
        .unwrap();
    accessible(c, axe, "sign-in page").await;
    let before = relay.messages().len();
    type_into(c, "#email", email).await;
    activate(c, "form[action='/inbox/sign-in'] button").await;
    assert!(text(c).await.contains("Check your e-mail"));
    accessible(c, axe, "check your e-mail").await;
    let link = wait_for_link(relay, before).await;
    c.goto(&format!("{}{link}", app.base)).await.unwrap();
    accessible(c, axe, "sign-in link page").await;
    activate(c, "form[action='/inbox/sign-in/link'] button").await;
}

#[tokio::test]
async fn an_officer_does_the_whole_journey_by_keyboard_and_every_page_passes_axe() {
    let (Some(driver), Some(axe)) = (chromedriver(), axe_source()) else {
        assert!(
            std::env::var("DTR_REQUIRE_BROWSER").is_err(),
            "DTR_REQUIRE_BROWSER is set but chromedriver or axe-core (target/axe-core) is missing"
        );
        eprintln!(
            "SKIPPED: chromedriver or axe-core is not installed (scripts/test installs them)"
        );
        return;
    };
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    for (gss, email) in [("E06000001", OFFICER), ("E06000002", OTHER)] {
        let r = app
            .post(
                &format!("/v1/authorities/{gss}/officers"),
                ADMIN_KEY,
                &json!({ "email": email }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let referrer = app.referrer("HMPPS Yorkshire").await;
    let mut doc = referral_to("E06000001");
    doc["housing_situation"]["rough_sleeping"] = json!("imminent");
    let id = app.submit(&referrer, &doc).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let c = browser(&driver).await;
    sign_in(&c, &app, &relay, &axe, OFFICER).await;
    assert!(text(&c).await.contains("Referrals for Hartlepool"));
    accessible(&c, &axe, "the list").await;

    // Open the referral: it is delivered.
    activate(&c, &format!("a[href='/inbox/referrals/{id}']")).await;
    let page = text(&c).await;
    assert!(page.contains("Testgiven"), "the document is shown");
    assert!(
        page.contains("Rough sleeping imminent"),
        "the urgency in words"
    );
    accessible(&c, &axe, "a referral").await;
    assert_eq!(app.state_of(&id).await["status"], "delivered");

    // Acknowledge.
    type_into(&c, "#received_by", "Housing Options").await;
    activate(&c, "form[action$='/acknowledge'] button").await;
    assert!(text(&c).await.contains("You acknowledged this referral"));
    accessible(&c, &axe, "after acknowledging").await;
    assert_eq!(app.state_of(&id).await["status"], "acknowledged");

    // Record the decision: Tab into the radios, the arrow key to the second one.
    tab_to(&c, "input[name='reason']").await;
    press(&c, Key::Down).await;
    activate(&c, "form[action$='/outcome'] button").await;
    assert!(text(&c).await.contains("Your decision was recorded"));
    accessible(&c, &axe, "after the decision").await;
    let state = app.state_of(&id).await;
    assert_eq!(state["outcome"]["reason"], "relief_duty");

    // A note.
    type_into(&c, "#text", "Appointment booked for Monday.").await;
    activate(&c, "form[action$='/notes'] button").await;
    assert!(text(&c).await.contains("Appointment booked for Monday."));
    accessible(&c, &axe, "after the note").await;

    // A form posted without its CSRF token is refused with a page.
    c.execute(
        "document.querySelector(\"form[action$='/notes'] input[name='csrf']\").remove();",
        vec![],
    )
    .await
    .unwrap();
    type_into(&c, "#text", "This must not be stored.").await;
    activate(&c, "form[action$='/notes'] button").await;
    assert!(text(&c).await.contains("This form has expired"));
    accessible(&c, &axe, "the CSRF refusal").await;

    // Sign out.
    c.goto(&format!("{}/inbox", app.base)).await.unwrap();
    activate(&c, "a[href='/inbox/sign-out']").await;
    accessible(&c, &axe, "sign out").await;
    activate(&c, "form[action='/inbox/sign-out'] button").await;
    assert!(text(&c).await.contains("You have signed out"));
    accessible(&c, &axe, "signed out").await;

    // Another authority's officer cannot open it.
    sign_in(&c, &app, &relay, &axe, OTHER).await;
    assert!(text(&c).await.contains("Referrals for Middlesbrough"));
    c.goto(&format!("{}/inbox/referrals/{id}", app.base))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("Page not found"));
    assert!(!page.contains("Testgiven"));
    accessible(&c, &axe, "not found").await;

    // An expired link is refused.
    c.goto(&format!("{}/inbox/sign-in", app.base))
        .await
        .unwrap();
    let before = relay.messages().len();
    type_into(&c, "#email", OTHER).await;
    activate(&c, "form[action='/inbox/sign-in'] button").await;
    let link = wait_for_link(&relay, before).await;
    app.advance(Duration::from_secs(16 * 60));
    c.goto(&format!("{}{link}", app.base)).await.unwrap();
    assert!(text(&c).await.contains("This sign-in link has expired"));
    accessible(&c, &axe, "an expired link").await;

    // The note refused for its missing token was not stored.
    let notes: Value = app
        .get(&format!("/v1/referrals/{id}/notes"), ADMIN_KEY)
        .await
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert_eq!(texts, ["Appointment booked for Monday."]);
    c.close().await.unwrap();
}

/// Whether the page fits the window: no horizontal scrolling (WCAG 1.4.10), checked without
/// relying on any script of the page's own (it has none).
async fn fits(c: &Client, what: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, inner) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(
        scroll <= inner,
        "{what}: {scroll} px wide in a {inner} px window at {}",
        c.current_url().await.unwrap()
    );
}

#[tokio::test]
async fn every_inbox_page_reflows_at_320_pixels_and_passes_axe_there_and_at_1280() {
    let (Some(driver), Some(axe)) = (chromedriver(), axe_source()) else {
        assert!(
            std::env::var("DTR_REQUIRE_BROWSER").is_err(),
            "DTR_REQUIRE_BROWSER is set but chromedriver or axe-core (target/axe-core) is missing"
        );
        eprintln!(
            "SKIPPED: chromedriver or axe-core is not installed (scripts/test installs them)"
        );
        return;
    };
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    let r = app
        .post(
            "/v1/authorities/E06000001/officers",
            ADMIN_KEY,
            &json!({ "email": OFFICER }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let referrer = app
        .referrer("HMPPS Yorkshire and the Humber Probation Delivery Unit")
        .await;
    let mut rough = referral_to("E06000001");
    rough["housing_situation"]["reason"] = json!("homeless");
    rough["housing_situation"]
        .as_object_mut()
        .unwrap()
        .remove("likely_homeless_on");
    rough["housing_situation"]["rough_sleeping"] = json!("sleeping_rough");
    rough["person"]["family_name"] = json!("Featherstonehaugh-Cholmondeley-Wolstenholme");
    rough["case_reference"] = json!("PRB-2026-000123456");
    let id = app.submit(&referrer, &rough).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.submit(&referrer, &referral_to("E06000001")).await;

    let c = browser(&driver).await;
    sign_in(&c, &app, &relay, &axe, OFFICER).await;
    let pages = [
        ("/inbox".to_owned(), "the list"),
        ("/inbox?sort=newest".to_owned(), "the list, newest first"),
        ("/inbox?q=Featherstonehaugh".to_owned(), "a search"),
        ("/inbox?q=nobody".to_owned(), "a search that finds nothing"),
        (format!("/inbox/referrals/{id}"), "a referral"),
        ("/inbox/help".to_owned(), "help"),
        ("/inbox/privacy".to_owned(), "the privacy notice"),
        (
            "/inbox/accessibility".to_owned(),
            "the accessibility statement",
        ),
        ("/inbox/settings".to_owned(), "settings"),
        ("/inbox/sign-out".to_owned(), "sign out"),
    ];
    for (width, height) in [(1280, 1024), (320, 900)] {
        c.set_window_size(width, height).await.unwrap();
        let inner = c
            .execute("return window.innerWidth;", vec![])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        assert!(
            inner <= width.into(),
            "the window is {inner} px wide, asked for {width}"
        );
        for (path, what) in &pages {
            c.goto(&format!("{}{path}", app.base)).await.unwrap();
            let what = format!("{what} at {width} px");
            fits(&c, &what).await;
            accessible(&c, &axe, &what).await;
        }
    }
    // At 320 px, by keyboard, from the sign-in e-mail: sign out, sign in again through the
    // e-mailed link; the most urgent referral is the first in the list; open it and acknowledge it.
    c.goto(&format!("{}/inbox/sign-out", app.base))
        .await
        .unwrap();
    activate(&c, "form[action='/inbox/sign-out'] button").await;
    sign_in(&c, &app, &relay, &axe, OFFICER).await;
    fits(&c, "the list after signing in at 320 px").await;
    let list = text(&c).await;
    assert!(list.contains("Sleeping rough now"), "{list}");
    activate(&c, "table a.govuk-link").await;
    assert!(
        c.current_url().await.unwrap().path().ends_with(&id),
        "the first link is the most urgent referral"
    );
    type_into(&c, "#received_by", "Housing Options").await;
    activate(&c, "form[action$='/acknowledge'] button").await;
    assert!(text(&c).await.contains("You acknowledged this referral"));
    fits(&c, "after acknowledging at 320 px").await;
    accessible(&c, &axe, "after acknowledging at 320 px").await;
    assert_eq!(app.state_of(&id).await["status"], "acknowledged");

    // Printed (A4, the print stylesheet): the referral without its forms, on as few pages as it
    // needs — one here, where the screen layout with its forms took six.
    c.set_window_size(1280, 1024).await.unwrap();
    c.goto(&format!("{}/inbox/referrals/{id}", app.base))
        .await
        .unwrap();
    // What people typed is bidi-isolated, so a right-to-left override cannot reorder the page.
    let bidi = c
        .execute(
            "return getComputedStyle(document.querySelector('.govuk-summary-list__value')).unicodeBidi;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bidi, json!("isolate"));
    let pdf = c
        .print(fantoccini::wd::PrintConfiguration::default())
        .await
        .unwrap();
    let pages = pdf_pages(&pdf);
    assert!(
        (1..=2).contains(&pages),
        "the referral printed on {pages} pages"
    );
    c.close().await.unwrap();
}

/// How many pages a PDF has (its page objects: `/Type /Page`, not `/Type /Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    let all = text.matches("/Type /Page").count() + text.matches("/Type/Page").count();
    let trees = text.matches("/Type /Pages").count() + text.matches("/Type/Pages").count();
    all - trees
}

// ----- the practitioner's journey (docs/contract.md §14) ------------------------------------

const PRACTITIONER: &str = "pat.practitioner@probation.example.gov.uk";

/// Presses the space bar (checks the focused radio or box).
async fn space(c: &Client) {
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ' ' })
            .then(KeyAction::Up { value: ' ' }),
    )
    .await
    .unwrap();
}

/// Tabs to a radio or box and checks it with the space bar.
async fn choose(c: &Client, selector: &str) {
    tab_to(c, selector).await;
    space(c).await;
}

/// Types a date into the three boxes of the date question `id`.
async fn type_date(c: &Client, id: &str, d: jiff::civil::Date) {
    type_into(c, &format!("#{id}-day"), &d.day().to_string()).await;
    type_into(c, &format!("#{id}-month"), &d.month().to_string()).await;
    type_into(c, &format!("#{id}-year"), &d.year().to_string()).await;
}

/// The page is checked at this width: it fits and passes axe.
async fn checked(c: &Client, axe: &str, what: &str, width: u32) {
    let what = format!("{what} at {width} px");
    fits(c, &what).await;
    accessible(c, axe, &what).await;
}

async fn continue_button(c: &Client) {
    activate(
        c,
        "main form[method='post'] button.govuk-button:not(.govuk-button--warning)",
    )
    .await;
}

#[tokio::test]
async fn a_practitioner_refers_by_keyboard_from_the_email_to_the_confirmation_at_1280_and_320_pixels(
) {
    let (Some(driver), Some(axe)) = (chromedriver(), axe_source()) else {
        assert!(
            std::env::var("DTR_REQUIRE_BROWSER").is_err(),
            "DTR_REQUIRE_BROWSER is set but chromedriver or axe-core (target/axe-core) is missing"
        );
        eprintln!(
            "SKIPPED: chromedriver or axe-core is not installed (scripts/test installs them)"
        );
        return;
    };
    let relay = SmtpRelay::start();
    let app = spawn_with_mail(&relay).await;
    for (name, domain) in [
        ("Leeds Probation", "probation.example.gov.uk"),
        ("Leeds Teaching Hospitals", "nhs.example.net"),
        ("Bradford Hospitals", "nhs.example.net"),
    ] {
        let r = app
            .post(
                "/v1/organisations",
                ADMIN_KEY,
                &json!({ "name": name, "agency_types": ["probation", "emergency_department"], "email_domains": [domain] }),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let c = browser(&driver).await;
    let today = domain::calendar::uk_date(jiff::Timestamp::now());
    let mut made = vec![];
    for (width, height) in [(1280u32, 1024u32), (320, 900)] {
        c.set_window_size(width, height).await.unwrap();
        // The start page, then sign-in by e-mail, by keyboard.
        c.goto(&format!("{}/refer", app.base)).await.unwrap();
        checked(&c, &axe, "the start page", width).await;
        activate(&c, "a.govuk-button--start").await;
        checked(&c, &axe, "sign-in", width).await;
        let before = relay.messages().len();
        type_into(&c, "#email", PRACTITIONER).await;
        activate(&c, "form[action='/refer/sign-in'] button").await;
        assert!(text(&c).await.contains("Check your e-mail"));
        checked(&c, &axe, "check your e-mail", width).await;
        let link = wait_for_link_at(&relay, before, "/refer").await;
        c.goto(&format!("{}{link}", app.base)).await.unwrap();
        checked(&c, &axe, "the sign-in link page", width).await;
        activate(&c, "form[action='/refer/sign-in/link'] button").await;
        checked(&c, &axe, "your referrals", width).await;
        activate(&c, "a[href='/refer/new']").await;

        // About you: empty, with an error, then answered.
        checked(&c, &axe, "about you, empty", width).await;
        if made.is_empty() {
            continue_button(&c).await;
            assert!(text(&c).await.contains("There is a problem"));
            checked(&c, &axe, "about you, with errors", width).await;
            choose(&c, "#agency_type").await;
            type_into(&c, "#referrer-name", "Pat Practitioner").await;
            type_into(&c, "#referrer-phone", "0113 496 0000 ext 12").await;
        }
        continue_button(&c).await;

        // The person: an error first (no name), then a 17 year old (a warning later).
        checked(&c, &axe, "the person, empty", width).await;
        continue_button(&c).await;
        assert!(
            text(&c).await.contains("Enter given name"),
            "{}",
            text(&c).await
        );
        checked(&c, &axe, "the person, with errors", width).await;
        type_into(&c, "#person-given_name", "Samira").await;
        type_into(&c, "#person-family_name", "Exampleton").await;
        type_date(
            &c,
            "person-date_of_birth",
            today.checked_sub(jiff::ToSpan::years(17)).unwrap(),
        )
        .await;
        continue_button(&c).await;

        checked(&c, &axe, "contact, empty", width).await;
        choose(&c, "#person-contact-via_referrer").await;
        continue_button(&c).await;

        checked(&c, &axe, "consent, empty", width).await;
        choose(&c, "#consent-referral").await;
        choose(&c, "#consent-share_contact_details").await;
        type_date(&c, "consent-recorded_at", today).await;
        continue_button(&c).await;

        checked(&c, &axe, "the situation, empty", width).await;
        choose(&c, "#housing_situation-reason").await; // homeless now
        choose(&c, "#housing_situation-rough_sleeping").await; // not sleeping rough
        type_into(
            &c,
            "#housing_situation-summary",
            "Released today with nowhere to stay.",
        )
        .await;
        continue_button(&c).await;

        // The council, found by name the first time, by postcode district the second (after a
        // district on the Welsh border, whose page says part of it is outside England).
        checked(&c, &axe, "the council, empty", width).await;
        if made.is_empty() {
            type_into(&c, "#q", "Leeds").await;
            activate(&c, "form[method='get'] button").await;
            checked(&c, &axe, "the council, found by name", width).await;
        } else {
            type_into(&c, "#q", "SY10").await;
            activate(&c, "form[method='get'] button").await;
            let page = text(&c).await;
            assert!(
                page.contains("Part of SY10 is outside England") && page.contains("Shropshire"),
                "{page}"
            );
            checked(
                &c,
                &axe,
                "the council, a district partly outside England",
                width,
            )
            .await;
            replace_in(&c, "#q", "LS1 4AP").await;
            activate(&c, "form[method='get'] button").await;
            checked(&c, &axe, "the council, found by postcode", width).await;
        }
        assert!(text(&c).await.contains("Leeds"));
        choose(&c, "#housing_authority-gss_code").await;
        choose(&c, "#housing_authority-chosen_by_person").await;
        continue_button(&c).await;

        checked(&c, &axe, "household, risks and support needs", width).await;
        type_into(&c, "#risk-to_staff", "None known").await;
        continue_button(&c).await;

        // Check your answers, with the 16-17 warning, then send.
        let check = text(&c).await;
        assert!(check.contains("Check your answers"), "{check}");
        assert!(
            check.contains("The person is 16 or 17"),
            "the warning before sending"
        );
        checked(&c, &axe, "check your answers, with a warning", width).await;
        activate(&c, "form[action='/refer/new/check'] button").await;
        let done = text(&c).await;
        assert!(done.contains("Referral sent"), "{done}");
        checked(&c, &axe, "the confirmation", width).await;
        let url = c.current_url().await.unwrap();
        made.push(
            url.path()
                .trim_start_matches("/refer/referrals/")
                .to_owned(),
        );

        for (path, what) in [
            ("/refer/referrals", "your referrals, with one"),
            ("/refer/settings", "settings"),
            ("/refer/privacy", "the privacy notice"),
            ("/refer/accessibility", "the accessibility statement"),
            ("/refer/sign-out", "sign out"),
        ] {
            c.goto(&format!("{}{path}", app.base)).await.unwrap();
            checked(&c, &axe, what, width).await;
        }
        activate(&c, "form[action='/refer/sign-out'] button").await;
    }

    // Each referral made on the web is in the authority's inbox and API like any other.
    let leeds = app.authority("E08000035").await;
    for id in &made {
        let read: Value = app
            .get(&format!("/v1/referrals/{id}"), &leeds)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["organisation"], "Leeds Probation");
        assert_eq!(read["referral"]["person"]["given_name"], "Samira");
        assert_eq!(read["status"], "delivered");
    }

    // A domain two organisations list: the choice page, empty and with its error.
    let before = relay.messages().len();
    c.goto(&format!("{}/refer/sign-in", app.base))
        .await
        .unwrap();
    type_into(&c, "#email", "ali.nurse@nhs.example.net").await;
    activate(&c, "form[action='/refer/sign-in'] button").await;
    let link = wait_for_link_at(&relay, before, "/refer").await;
    c.goto(&format!("{}{link}", app.base)).await.unwrap();
    activate(&c, "form[action='/refer/sign-in/link'] button").await;
    for width in [1280u32, 320] {
        c.set_window_size(width, 900).await.unwrap();
        c.goto(&format!("{}/refer/organisation", app.base))
            .await
            .unwrap();
        checked(&c, &axe, "choose your organisation", width).await;
        continue_button(&c).await;
        assert!(text(&c)
            .await
            .contains("Select the organisation you work for"));
        checked(&c, &axe, "choose your organisation, with an error", width).await;
    }
    c.close().await.unwrap();
}
