//! Black-box tests of `dtr validate`: the real binary over the committed example referrals.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/examples")
}

fn expected() -> Value {
    let text =
        std::fs::read_to_string(examples_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn dtr(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtr"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dtr runs");
    if let Some(input) = stdin {
        // A usage error may end `dtr` before it reads its input: a closed pipe is its answer, not
        // a failure of the test.
        match child.stdin.take().expect("stdin").write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("dtr exits")
}

fn as_of() -> String {
    expected()["as_of"].as_str().expect("as_of").to_owned()
}

fn findings(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .expect("array")
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["pointer"].as_str().unwrap_or("?"),
                i["code"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn every_example_gives_its_expected_result() {
    let expected = expected();
    let examples = expected["examples"].as_object().expect("examples");
    let dir = examples_dir();
    let files: Vec<String> = examples
        .keys()
        .map(|k| dir.join(k).display().to_string())
        .collect();
    let mut args = vec!["validate", "--as-of"];
    let at = as_of();
    args.push(&at);
    args.extend(files.iter().map(String::as_str));
    let out = dtr(&args, None);
    assert_eq!(out.status.code(), Some(1), "some examples are invalid");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(lines.len(), examples.len());
    for line in &lines {
        let file = PathBuf::from(line["file"].as_str().expect("file member"));
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        let want = &examples[name];
        assert_eq!(line["valid"], want["valid"], "{name}");
        assert_eq!(
            Value::from(findings(line, "errors")),
            want["errors"],
            "{name}"
        );
        assert_eq!(
            Value::from(findings(line, "warnings")),
            want["warnings"],
            "{name}"
        );
        assert_eq!(
            line["normalized"].is_object(),
            want["valid"] == true,
            "{name}: normalized only when valid"
        );
        assert_eq!(
            name.starts_with("valid-"),
            want["valid"] == true,
            "{name}: the file name says the outcome"
        );
    }
}

#[test]
fn the_examples_produce_every_code_of_the_contract() {
    let expected = expected();
    let mut seen = BTreeSet::new();
    for ex in expected["examples"].as_object().expect("examples").values() {
        for list in ["errors", "warnings"] {
            for f in ex[list].as_array().expect("list") {
                let code = f.as_str().and_then(|s| s.rsplit(' ').next()).expect("code");
                seen.insert(code.to_owned());
            }
        }
    }
    // Outcome warnings judge a recorded decision, not a referral: tested in domain::outcome and
    // the lifecycle suite.
    let missing: Vec<&str> = domain::Code::ALL
        .iter()
        .filter(|c| !c.is_about_outcome())
        .map(|c| c.as_str())
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(missing.is_empty(), "codes no example produces: {missing:?}");
}

#[test]
fn one_valid_file_prints_one_document_and_exits_0() {
    let file = examples_dir().join("valid-homeless.json");
    let out = dtr(
        &["validate", "--as-of", &as_of(), &file.display().to_string()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["valid"], true);
    assert!(report.get("file").is_none());
    assert_eq!(
        report["normalized"]["person"]["contact"]["phone"],
        "+447911123456"
    );
}

#[test]
fn standard_input_is_read_for_a_dash() {
    let doc = std::fs::read(examples_dir().join("invalid-under-16.json")).expect("example");
    let out = dtr(&["validate", "--as-of", &as_of(), "-"], Some(&doc));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        findings(&report, "errors"),
        vec!["/person/date_of_birth person.under_16"]
    );
}

#[test]
fn input_that_is_not_json_is_invalid_not_an_error() {
    let out = dtr(&["validate", "-"], Some(b"{ nope"));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
}

#[test]
fn a_missing_file_is_an_io_error_with_exit_2() {
    let valid = examples_dir()
        .join("valid-homeless.json")
        .display()
        .to_string();
    let out = dtr(&["validate", &valid, "/nonexistent/referral.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/referral.json"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "the readable file is still reported"
    );
}

#[test]
fn no_file_at_all_is_a_usage_error_with_exit_2() {
    assert_eq!(dtr(&["validate"], None).status.code(), Some(2));
    assert_eq!(
        dtr(&["validate", "--as-of", "yesterday", "-"], Some(b"{}"))
            .status
            .code(),
        Some(2)
    );
}

/// `dtr validate` and `POST /v1/referrals/validate` give the same report for every example, the
/// new rules' cases among them, judged at the same instant (the service on a manual clock). The
/// body is sent as the file's bytes, so a repeated member reaches both readers.
#[tokio::test]
async fn the_api_and_dtr_validate_agree_on_every_example() {
    let at: jiff::Timestamp = as_of().parse().expect("as_of is an instant");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = api::config::Config {
        database_url: format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display()),
        listen: "127.0.0.1:0".parse().expect("an address"),
        bootstrap_admin_key: Some("validate-agreement-admin-key-0123456789".to_owned()),
        ..api::config::Config::default()
    };
    let running = api::serve::start_with_clock(config, false, api::clock::Clock::manual(at))
        .await
        .expect("the service starts");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let created: Value = client
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth("validate-agreement-admin-key-0123456789")
        .json(&serde_json::json!({"role": "referrer", "organisation": "Agreement", "agency_type": "probation"}))
        .send()
        .await
        .expect("the service answers")
        .json()
        .await
        .expect("JSON");
    let key = created["key"].as_str().expect("a key").to_owned();
    let expected = expected();
    let names: Vec<&String> = expected["examples"]
        .as_object()
        .expect("examples")
        .keys()
        .collect();
    let paths: Vec<String> = names
        .iter()
        .map(|n| examples_dir().join(n).display().to_string())
        .collect();
    let mut args = vec!["validate", "--as-of"];
    let at_text = as_of();
    args.push(&at_text);
    args.extend(paths.iter().map(String::as_str));
    let reports: Vec<Value> = String::from_utf8(dtr(&args, None).stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON report per line"))
        .collect();
    assert_eq!(reports.len(), names.len());
    let mut compared = 0;
    for ((name, path), mut cli) in names.iter().zip(&paths).zip(reports) {
        let bytes = std::fs::read(path).expect("the example reads");
        if let Some(report) = cli.as_object_mut() {
            report.remove("file");
        }
        let resp = client
            .post(format!("{base}/v1/referrals/validate"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .expect("the service answers");
        if resp.status() == 400 {
            // Not a JSON object: the API refuses the request, the CLI reports it invalid.
            assert_eq!(cli["valid"], false, "{name}");
            continue;
        }
        assert_eq!(resp.status(), 200, "{name}");
        let api: Value = resp.json().await.expect("JSON");
        assert_eq!(api, cli, "{name}: the API and the CLI disagree");
        compared += 1;
    }
    assert!(compared >= 25, "only {compared} examples compared");
    drop(client); // its idle keep-alive connection would hold the graceful shutdown open
    running.shutdown().await;
}

#[test]
fn the_agency_type_gives_childrens_services_their_own_under_16_message_and_a_wrong_one_exits_2() {
    let child = br#"{"person":{"given_name":"A","family_name":"B","date_of_birth":"2015-01-01","contact":{"via_referrer":true}}}"#;
    let out = dtr(
        &["validate", "--agency-type", "childrens_social_care", "-"],
        Some(child),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let under_16 = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["code"] == "person.under_16")
        .expect("person.under_16")
        .clone();
    assert!(under_16["message"]
        .as_str()
        .expect("message")
        .contains("As children's services"));
    let wrong = dtr(&["validate", "--agency-type", "police", "-"], Some(child));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--agency-type must be one of"));
}
