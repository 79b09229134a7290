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
    // At 320 px, by keyboard: the most urgent referral is the first in the list; open it and
    // acknowledge it.
    c.goto(&format!("{}/inbox", app.base)).await.unwrap();
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
    c.close().await.unwrap();
}
