//! The API docs in a real browser: headless Chromium opens `/docs` and Swagger UI must render the
//! operations from the binary's own assets. Every request other than to the service goes to a dead
//! proxy, so a CDN asset would fail to load and nothing would render.
//!
//! `scripts/test` installs Debian's `chromium` and sets `DTR_REQUIRE_BROWSER=1`; a plain `cargo test`
//! on a machine without Chromium says so and skips.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn swagger_ui_renders_every_operation_from_the_binarys_own_assets() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("DTR_REQUIRE_BROWSER").is_err(),
            "DTR_REQUIRE_BROWSER is set but Chromium is not installed"
        );
        eprintln!("SKIPPED: Chromium is not installed (scripts/test installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dtr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtr"));
    cmd.arg("serve")
        .env(
            "DTR_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display()),
        )
        .env("DTR_AUDIT_KEY_FILE", dir.path().join("dtr-audit.key"))
        .env("DTR_LISTEN", "127.0.0.1:0");
    let (mut dtr, base) = support::spawn_serving(cmd, &log);
    let base = base.trim_start_matches("http://").to_owned();
    let profile = dir.path().join("profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--proxy-server=http://127.0.0.1:9",
            &format!("--proxy-bypass-list={}", base.split(':').next().unwrap()),
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=20000",
            "--dump-dom",
            &format!("http://{base}/docs"),
        ])
        .output()
        .unwrap();
    let _ = dtr.kill();
    let _ = dtr.wait();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("swagger-ui"),
        "the page loaded: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let operations = dom.matches("opblock-summary-path").count();
    assert!(
        operations >= 16,
        "Swagger UI rendered {operations} operations; expected every one (16)"
    );
    for path in [
        "/v1/referrals/validate",
        "/v1/referrals/{id}/acknowledge",
        "/v1/authorities/{gss_code}/endpoint",
        "/v1/audit/verify",
    ] {
        assert!(
            dom.contains(path) || dom.contains(&path.replace('{', "\u{200b}{")),
            "{path} rendered"
        );
    }
}
