//! The README's curl walk-through, run as written from the repository root against a live `dtr`,
//! twice in a row: a reader who copies it gets what it promises.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

const ADMIN: &str = "readme-walkthrough-admin-key-0123456789";

fn walkthrough() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("<!-- walk-through:begin -->").unwrap();
    let end = readme.find("<!-- walk-through:end -->").unwrap();
    let block = &readme[start..end];
    let code = block.split("```sh\n").nth(1).unwrap();
    code.split("```").next().unwrap().to_owned()
}

#[test]
fn the_readme_walkthrough_runs_as_written_twice_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dtr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtr"));
    cmd.arg("serve")
        .env(
            "DTR_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display()),
        )
        .env("DTR_AUDIT_KEY_FILE", dir.path().join("dtr-audit.key"))
        .env("DTR_LISTEN", "127.0.0.1:0")
        .env("DTR_BOOTSTRAP_ADMIN_KEY", ADMIN);
    let (mut dtr, base) = support::spawn_serving(cmd, &log);
    let script = dir.path().join("walkthrough.sh");
    std::fs::write(&script, walkthrough()).unwrap();
    let mut ids = vec![];
    for run in 1..=2 {
        let out = Command::new("bash")
            .args(["-euo", "pipefail"])
            .arg(&script)
            // Any directory will do: the walk-through needs nothing from the repository.
            .current_dir(dir.path())
            .env("API", &base)
            .env("ADMIN", ADMIN)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "run {run} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        let id = lines[1].strip_prefix("referral ").unwrap().to_owned();
        assert_eq!(
            lines,
            vec![
                "True",
                &format!("referral {id}"),
                "awaiting_collection",
                "referral.received referral.accepted referral.viewed",
                &id,
                "delivered",
                "acknowledged",
            ],
            "run {run}"
        );
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each run submits its own referral");
    let _ = dtr.kill();
    let _ = dtr.wait();
}

#[test]
fn with_a_wrong_admin_key_the_walkthrough_stops_at_once_with_the_services_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dtr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtr"));
    cmd.arg("serve")
        .env(
            "DTR_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("dtr.db").display()),
        )
        .env("DTR_AUDIT_KEY_FILE", dir.path().join("dtr-audit.key"))
        .env("DTR_LISTEN", "127.0.0.1:0")
        .env("DTR_BOOTSTRAP_ADMIN_KEY", ADMIN);
    let (mut dtr, base) = support::spawn_serving(cmd, &log);
    let script = dir.path().join("walkthrough.sh");
    std::fs::write(&script, walkthrough()).unwrap();
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(dir.path())
        .env("API", &base)
        .env("ADMIN", "not-the-admin-key-at-all-0123456789")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("answered 401"), "{stderr}");
    assert!(stderr.contains("urn:dtr:problem:auth.invalid"), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing after the failure"
    );
    let _ = dtr.kill();
    let _ = dtr.wait();
}
