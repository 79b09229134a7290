//! Starting the real `dtr` binary for process-level tests and the benchmark.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns `cmd` (a `dtr serve`) with stderr to `log` and returns it with its base URL, read from its
/// "dtr listening on http://…" line (it listens on port 0). The child is killed if it does not start.
// The child is handed to the caller, who kills and reaps it; the lint cannot see through the return.
#[allow(clippy::zombie_processes)]
pub fn spawn_serving(mut cmd: Command, log: &Path) -> (Child, String) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // Only a whole line (ending in a newline) counts.
        if let Some(line) = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .rfind(|l| l.contains("dtr listening on http://"))
        {
            let addr = line
                .split("http://")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            return (child, format!("http://{addr}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dtr did not start: {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
