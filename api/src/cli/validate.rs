//! `dtr validate`: offline validation with exactly the rules of the API (the one `domain` parser).

use domain::{AgencyType, AsOf, Referral};
use jiff::Timestamp;
use openapi::ValidationReport;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What happened to one input.
enum Outcome {
    Valid,
    Invalid,
    Unreadable,
}

fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

/// Validates each input and prints its report: one pretty JSON document for a single input, one JSON
/// line with a `file` member per input otherwise.
pub fn run(files: &[PathBuf], as_of: Option<&str>, agency_type: Option<&str>) -> ExitCode {
    let now = match as_of.map(str::parse::<Timestamp>) {
        None => Timestamp::now(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("dtr validate: --as-of must be an RFC 3339 instant: {e}");
            return ExitCode::from(2);
        }
    };
    let agency = match agency_type.map(str::parse::<AgencyType>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            eprintln!(
                "dtr validate: --agency-type must be one of: {}",
                AgencyType::ALL.map(AgencyType::as_str).join(", ")
            );
            return ExitCode::from(2);
        }
    };
    let as_of = AsOf::at(now).referred_by(agency);
    let several = files.len() > 1;
    let mut outcomes = Vec::with_capacity(files.len());
    for path in files {
        let name = path.display().to_string();
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("dtr validate: cannot read {name}: {e}");
                outcomes.push(Outcome::Unreadable);
                continue;
            }
        };
        let report = match domain::JsonDocument::parse(&bytes) {
            Ok(doc) => ValidationReport::of(&Referral::parse_document(&doc, &as_of)),
            Err(e) => ValidationReport::not_json(&e),
        };
        outcomes.push(if report.valid {
            Outcome::Valid
        } else {
            Outcome::Invalid
        });
        let printed = if several {
            let mut line = serde_json::json!({ "file": name });
            if let (Some(obj), Ok(serde_json::Value::Object(rest))) =
                (line.as_object_mut(), serde_json::to_value(&report))
            {
                obj.extend(rest);
            }
            serde_json::to_string(&line)
        } else {
            serde_json::to_string_pretty(&report)
        };
        match printed {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("dtr validate: cannot print the report for {name}: {e}");
                outcomes.push(Outcome::Unreadable);
            }
        }
    }
    if outcomes.iter().any(|o| matches!(o, Outcome::Unreadable)) {
        ExitCode::from(2)
    } else if outcomes.iter().any(|o| matches!(o, Outcome::Invalid)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
