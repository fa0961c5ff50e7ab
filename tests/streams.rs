//! Long-lived streams against a real node: consumers that never read cannot starve publishes
//! or searches, and cannot grow the node's threads or memory without bound.

mod common;

use common::*;
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;
use prospectus_proto::v1::federation_client::FederationClient;
use std::time::{Duration, Instant};

/// The node process serving `dir` (found through /proc: the harness keeps the child private).
fn pid_of(dir: &std::path::Path) -> u32 {
    let want = dir.to_string_lossy().to_string();
    wait_for("the node's pid", || {
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).to_string())
                .collect();
            if args.iter().any(|a| a == "serve") && args.contains(&want) {
                return Some(pid);
            }
        }
        None
    })
}

/// (threads, RSS in MiB) of a process, from /proc/PID/status.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:") / 1024)
}

const STALLED: usize = 500;
const COURSES: usize = 20_000;

/// Times one search and one publish on the node.
async fn probe(
    node: &Node,
    course: &mut prospectus_model::Course,
    token: &str,
) -> (Duration, Duration) {
    let mut dir = node.directory().await;
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        dir.search(w::SearchRequest {
            text: "course".into(),
            ..Default::default()
        }),
    )
    .await
    .expect("search answers")
    .expect("search");
    let search = t.elapsed();
    assert!(r.into_inner().total_hits > 0);
    course.title = format!(
        "{} (probe {})",
        course.title.split(" (probe").next().unwrap_or(""),
        search.as_micros()
    );
    let mut publisher = node.publisher().await;
    let t = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(30),
        publisher.upsert_course(bearer(course.to_wire(), token)),
    )
    .await
    .expect("publish answers")
    .expect("publish");
    (search, t.elapsed())
}

/// A `/metrics` sample's value (summed over label sets), 0 when absent.
fn metric(node: &Node, name: &str) -> f64 {
    let (_, body) = http_get(&node.addr, "/metrics");
    body.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Loads 20k courses, holds 500 never-read Subscribe streams against the node (started with
/// `extra`), and checks that searches and publishes answer within 1 s and that the node's
/// threads and RSS stay bounded. Returns the node and the streams still held.
async fn stalled_subscribers(
    tmp: &std::path::Path,
    extra: &[&str],
) -> (Node, Vec<tonic::Streaming<w::PullItem>>) {
    std::fs::create_dir_all(tmp).expect("dir");
    let dir = tmp.join("node");
    let node = Node::start_with(&dir, SOUTHWARK, extra);
    let token = node.admin_token();
    let data = prospectus_dataset::generate(91, COURSES, Some(SOUTHWARK)).expect("generate");
    let records = bundle_records(&data);
    let mut publisher = node.publisher().await;
    for (i, chunk) in records.chunks(5_000).enumerate() {
        publish_batch(
            &mut publisher,
            &token,
            &format!("load-{i}"),
            chunk.iter().map(op).collect(),
        )
        .await
        .expect("load");
    }
    let pid = pid_of(&dir);
    let mut course = data.courses[0].clone();
    let (s0, p0) = probe(&node, &mut course, &token).await;
    let (threads0, rss0) = threads_and_rss(pid);
    println!("idle: threads {threads0}, RSS {rss0} MiB, search {s0:?}, publish {p0:?}");

    // 500 Subscribe streams from 0 over 10 connections, none of them ever read.
    let mut held = Vec::new();
    let mut refused = 0usize;
    let mut channels = Vec::new();
    for _ in 0..10 {
        channels.push(node.channel().await);
    }
    for i in 0..STALLED {
        let mut fed = FederationClient::new(channels[i % channels.len()].clone());
        match tokio::time::timeout(
            Duration::from_secs(30),
            fed.subscribe(w::PullRequest::default()),
        )
        .await
        .expect("subscribe answers")
        {
            Ok(s) => held.push(s.into_inner()),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                refused += 1;
            }
        }
    }
    println!("stalled streams: {} open, {refused} refused", held.len());

    // Whatever the stalled streams hold, a search and a publish answer within 1 s, every time.
    let mut worst = (Duration::ZERO, Duration::ZERO);
    let mut peak = (0u64, 0u64);
    for round in 0..10 {
        let (s, p) = probe(&node, &mut course, &token).await;
        let (t, r) = threads_and_rss(pid);
        println!("round {round}: threads {t}, RSS {r} MiB, search {s:?}, publish {p:?}");
        worst = (worst.0.max(s), worst.1.max(p));
        peak = (peak.0.max(t), peak.1.max(r));
    }
    println!(
        "with {} stalled subscribers: peak threads {} (idle {threads0}), peak RSS {} MiB (idle {rss0}), worst search {:?}, worst publish {:?}",
        held.len(),
        peak.0,
        peak.1,
        worst.0,
        worst.1
    );
    assert!(
        worst.0 < Duration::from_secs(1),
        "search took {:?}",
        worst.0
    );
    assert!(
        worst.1 < Duration::from_secs(1),
        "publish took {:?}",
        worst.1
    );
    // The attack grew threads with the number of streams (20 → 520 for 500). What remains is
    // the blocking pool serving the probe's own publishes and searches, which varies with the
    // machine's load (26–38 seen): the bound is far below one thread per stream.
    assert!(
        peak.0 <= threads0 + 64,
        "threads grew from {threads0} to {}",
        peak.0
    );
    assert!(
        peak.1 <= rss0 + 256,
        "RSS grew from {rss0} to {} MiB",
        peak.1
    );
    (node, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_subscribers_that_never_read_do_not_starve_search_or_publish() {
    let tmp = tempfile::tempdir().unwrap();
    // Default caps: one address gets 16 streams, the rest are refused.
    let (node, held) =
        stalled_subscribers(&tmp.path().join("capped"), &["--stream-stall-secs", "3"]).await;
    assert_eq!(held.len(), 16, "the per-peer cap admits 16");
    // Refused by the per-peer cap, the peer named by its address (all ports one peer).
    assert!(
        node.log().contains("peer=addr:127.0.0.1") && node.log().contains("stream refused"),
        "{}",
        node.log()
    );
    // Once they are dropped, the places are free again.
    drop(held);
    wait_for_async(|| async { (metric(&node, "prospectus_streams_open") == 0.0).then_some(()) })
        .await;
    let mut fed = FederationClient::new(node.channel().await);
    fed.subscribe(w::PullRequest::default())
        .await
        .expect("a new subscriber is admitted");
    drop(node);

    // Caps raised so all 500 are admitted: production is async, so they still cost no
    // threads, and every stalled one is dropped after the deadline.
    let (node, held) = stalled_subscribers(
        &tmp.path().join("admitted"),
        &[
            "--stream-stall-secs",
            "3",
            "--max-streams",
            "1000",
            "--max-streams-per-peer",
            "1000",
        ],
    )
    .await;
    assert_eq!(held.len(), STALLED);
    // None of them reads: after the stall deadline every producer has given up on its stream.
    let dropped = wait_for_async(|| async {
        let n = metric(&node, "prospectus_streams_dropped_total");
        (n >= STALLED as f64).then_some(n)
    })
    .await;
    println!("dropped as stalled: {dropped}");
    // A stalled stream that is read again ends with an error, not as if it were complete.
    let mut first = held.into_iter().next().expect("one");
    let end = loop {
        match first.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a dropped stream must not end as if complete"),
            Err(s) => break s,
        }
    };
    assert_eq!(end.code(), tonic::Code::ResourceExhausted, "{end:?}");
}
