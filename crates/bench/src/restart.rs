//! Restart to ready: how long a node takes from spawn until it serves complete search
//! results, on a data dir it ran on before (the index reopened from disk, not rebuilt). Its
//! own module because `search-bench` and any other benchmark measure it the same way.

use crate::node::{NodeProc, spawn_node, wait_for_file};
use anyhow::{Result, bail};
use prospectus_proto::v1 as w;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// One restart: spawn → `/readyz` 200 → a search over gRPC answers with `courses` hits.
pub struct Restart {
    pub ready: Duration,
    /// How `/readyz` says the index was opened ("reopened", "caught up N", "rebuilt: …").
    pub opened: String,
}

/// The status and body of `GET path` on `addr` (HTTP/1.1, one connection).
fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

/// Starts the node on `data` and times it until ready; the node is killed afterwards.
pub fn restart_once(
    bin: &Path,
    data: &Path,
    origin: &str,
    log: &Path,
    courses: u64,
) -> Result<Restart> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let mut node: NodeProc = spawn_node(bin, data, origin, "127.0.0.1:0", log, "info", &[])?;
    let addr = wait_for_file(
        &data.join("node.addr"),
        &mut node.0,
        Duration::from_secs(600),
    )?;
    let deadline = t + Duration::from_secs(600);
    let opened = loop {
        if Instant::now() > deadline {
            bail!("node not ready within 600 s");
        }
        if let Ok((200, body)) = http_get(&addr, "/readyz") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            break v["index_opened"].as_str().unwrap_or_default().to_string();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let url = format!("http://{addr}");
    let total = rt.block_on(async {
        let mut c = w::directory_client::DirectoryClient::connect(url).await?;
        let r = c
            .search(w::SearchRequest {
                page_size: 20,
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok::<u64, anyhow::Error>(r.total_hits)
    })?;
    let ready = t.elapsed();
    if total != courses {
        bail!("restarted node answered {total} of {courses} courses");
    }
    drop(node);
    Ok(Restart { ready, opened })
}

/// `reps` restarts; prints each and min/median/max.
pub fn restarts(
    bin: &Path,
    data: &Path,
    origin: &str,
    log: &Path,
    courses: u64,
    reps: usize,
) -> Result<Vec<Restart>> {
    let mut out = Vec::new();
    for i in 0..reps {
        let r = restart_once(bin, data, origin, log, courses)?;
        println!(
            "restart {}: ready in {:.3} s (index {})",
            i + 1,
            r.ready.as_secs_f64(),
            r.opened
        );
        out.push(r);
    }
    let mut ms: Vec<f64> = out.iter().map(|r| r.ready.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if let (Some(min), Some(max)) = (ms.first(), ms.last()) {
        println!(
            "restart to ready at {courses} courses: min {min:.0} ms, median {:.0} ms, max {max:.0} ms   (target <= 1000 ms; spawn until /readyz is 200 and a search answers all {courses})",
            ms[ms.len() / 2]
        );
    }
    Ok(out)
}
