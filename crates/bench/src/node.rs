//! A node process for the benchmarks: started from the release binary, killed on drop, its
//! memory read from `/proc`, and the machine's load average (printed at start and end of a
//! run, since the benchmark machine is shared).

use anyhow::{Context, Result, anyhow, bail};
use prospectus_dataset::Bundle;
use prospectus_model::Record;
use prospectus_store::{Change, NodeKey, Scope, Store};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generates `courses` courses (with providers and venues) and publishes them into a new
/// store for `origin` at `data`, exactly as a node would hold them; prints the load time.
pub fn load_directory(
    data: &Path,
    origin: &str,
    seed: u64,
    courses: usize,
) -> Result<(Bundle, Store)> {
    std::fs::create_dir_all(data)?;
    let t = Instant::now();
    let bundle = prospectus_dataset::generate(seed, courses, None)?;
    let (key, _) = NodeKey::load_or_create(&data.join("node.key"))?;
    let store = Store::open(data, origin, key)?;
    std::fs::write(data.join("borough"), format!("{origin}\n"))?;
    let records: Vec<Record> = bundle.clone().into_records();
    for chunk in records.chunks(5000) {
        let changes: Vec<Change> = chunk.iter().cloned().map(Change::Upsert).collect();
        store.publish(&Scope::Admin, None, changes)?;
    }
    println!(
        "loaded {} records into the store in {:.1} s ({} MB on disk)",
        records.len(),
        t.elapsed().as_secs_f64(),
        store.size_on_disk()? / 1_000_000
    );
    Ok((bundle, store))
}

/// The store `load_directory` left at `data` (same seed and size), and its bundle.
pub fn reuse_directory(
    data: &Path,
    origin: &str,
    seed: u64,
    courses: usize,
) -> Result<(Bundle, Store)> {
    let bundle = prospectus_dataset::generate(seed, courses, None)?;
    let (key, _) = NodeKey::load_or_create(&data.join("node.key"))?;
    let store = Store::open(data, origin, key)?;
    println!("reusing the store at {}", data.display());
    Ok((bundle, store))
}

/// Starts the release node (`bin`, or `prospectus` beside this benchmark's binary) on the
/// store at `data`, logging to `log` at `rust_log`; returns it with its address once it is up
/// (the index rebuilt from the store), printing how long that took and its RSS.
pub fn start_node(
    bin: Option<PathBuf>,
    data: &Path,
    origin: &str,
    log: &Path,
    rust_log: &str,
) -> Result<(NodeProc, String)> {
    let t = Instant::now();
    let (node, addr) = run_node(bin, data, origin, "127.0.0.1:0", log, rust_log, &[])?;
    println!(
        "node up in {:.1} s (index opened from its data dir, else built), RSS {}",
        t.elapsed().as_secs_f64(),
        rss_line(node.0.id())
    );
    Ok((node, addr))
}

/// Starts the release node like [`start_node`], listening on `listen`, with `extra` flags
/// (`--roster`, `--peer`, ...), silently; returns once it has written its address.
pub fn run_node(
    bin: Option<PathBuf>,
    data: &Path,
    origin: &str,
    listen: &str,
    log: &Path,
    rust_log: &str,
    extra: &[&std::ffi::OsStr],
) -> Result<(NodeProc, String)> {
    let bin = node_bin(bin)?;
    let mut node = spawn_node(&bin, data, origin, listen, log, rust_log, extra)?;
    let addr = wait_for_file(
        &data.join("node.addr"),
        &mut node.0,
        Duration::from_secs(600),
    )?;
    Ok((node, addr))
}

/// The release node binary: `bin`, or `prospectus` beside this benchmark's binary.
pub fn node_bin(bin: Option<PathBuf>) -> Result<PathBuf> {
    match bin {
        Some(p) => Ok(p),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("prospectus"))
            .ok_or_else(|| anyhow!("cannot locate the prospectus binary; pass --node-bin")),
    }
}

/// Spawns `prospectus serve` on `listen` over the store at `data` with `extra` flags (its
/// `node.addr` removed first, so a waiter never reads a previous run's).
pub fn spawn_node(
    bin: &Path,
    data: &Path,
    origin: &str,
    listen: &str,
    log: &Path,
    rust_log: &str,
    extra: &[&std::ffi::OsStr],
) -> Result<NodeProc> {
    let _ = std::fs::remove_file(data.join("node.addr"));
    let child = Command::new(bin)
        .args(["serve", "--listen", listen, "--borough", origin])
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", rust_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(NodeProc(child))
}

/// A process's resident memory as "N MB (anon A MB, file F MB)": anonymous memory is the
/// heap (tables, caches); file-backed is mapped files (the index on disk), which the kernel
/// can drop and re-read.
pub fn rss_line(pid: u32) -> String {
    let mb = |k| proc_status_kb(pid, k).unwrap_or(0) / 1024;
    format!(
        "{} MB (anon {} MB, file {} MB)",
        mb("VmRSS:"),
        mb("RssAnon:"),
        mb("RssFile:")
    )
}

/// Kills the node on drop.
pub struct NodeProc(pub Child);

impl NodeProc {
    /// Resident memory now, MB.
    pub fn rss_mb(&self) -> u64 {
        proc_status_kb(self.0.id(), "VmRSS:").unwrap_or(0) / 1024
    }

    /// Peak resident memory so far (`VmHWM`), MB.
    pub fn peak_mb(&self) -> u64 {
        proc_status_kb(self.0.id(), "VmHWM:").unwrap_or(0) / 1024
    }

    /// Starts `VmHWM` again from the resident memory now (Linux's `clear_refs` 5), so
    /// [`NodeProc::peak_mb`] measures one step of a run.
    pub fn reset_peak(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.0.id()), "5")?;
        Ok(())
    }
}

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
