//! `dtr`: the duty-to-refer service and its operator commands (docs/contract.md §1).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cap_malloc_arenas();
    let cli = api::cli::Cli::parse();
    api::cli::run(cli)
}

/// Caps glibc's malloc arenas at one per core (at least two), before any other thread exists.
///
/// glibc hands a thread that meets contention an arena of its own, up to eight per core, and each
/// arena keeps the memory freed into it. The service runs tokio's workers and one thread per SQLite
/// connection, so after a burst every one of them holds its own free memory: measured on two cores,
/// draining a backlog of 10,000 referrals peaked at 51.9 MB with glibc's default and 45.5 MB with
/// two arenas (`cargo bench -p api --bench service` prints the peak). An operator's own
/// `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` is left to glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn cap_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    let arenas = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let arenas = libc::c_int::try_from(arenas).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes a setting of glibc's allocator; it takes no pointers and is
    // called here on the main thread before any other thread is started. A refusal (0) leaves
    // glibc's default, which is only a larger footprint.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

/// Other C libraries' allocators have no per-thread arenas to cap.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}
