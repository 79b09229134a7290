//! `dtr`: the duty-to-refer service and its operator commands (CONTRACT §1).

use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than the system allocator: validating a referral makes a few hundred small
/// allocations (the JSON tree, strings, the report), and glibc's malloc spent about 15 % of the
/// service's CPU on them under load, in locks and chunk consolidation between threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = api::cli::Cli::parse();
    api::cli::run(cli)
}
