//! A node process for the benchmarks: started from the release binary, killed on drop, its
//! memory read from `/proc`, and the machine's load average (printed at start and end of a
//! run, since the benchmark machine is shared).

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Kills the node on drop.
pub struct NodeProc(pub Child);

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/PID/status` figure in kB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Waits for the node to write `path` (its `node.addr`), failing if it exits first.
pub fn wait_for_file(path: &Path, child: &mut Child, limit: Duration) -> Result<String> {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return Ok(s.trim().to_string());
        }
        if let Some(st) = child.try_wait()? {
            bail!("node exited early: {st}");
        }
        if start.elapsed() > limit {
            bail!("node did not come up within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/proc/loadavg`'s first three figures.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
