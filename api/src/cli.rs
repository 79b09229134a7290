//! The `dtr` command line (CONTRACT §1).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The duty-to-refer service (s.213B Housing Act 1996).
#[derive(Debug, Parser)]
#[command(name = "dtr", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate referral documents offline with the same rules and output as
    /// `POST /v1/referrals/validate`. Exit 0 when all are valid, 1 when any is invalid, 2 on an
    /// IO or usage error. `-` reads standard input.
    Validate {
        /// Files to validate (`-` for standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Judge as of this RFC 3339 instant instead of now (to reproduce a past decision).
        #[arg(long, value_name = "INSTANT")]
        as_of: Option<String>,
    },
}

/// Runs the chosen command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate { files, as_of } => crate::validate_cmd::run(&files, as_of.as_deref()),
    }
}
