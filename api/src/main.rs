//! `dtr`: the duty-to-refer service and its operator commands (CONTRACT §1).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = api::cli::Cli::parse();
    api::cli::run(cli)
}
