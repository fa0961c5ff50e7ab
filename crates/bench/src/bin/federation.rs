//! Federation benchmark (run by hand; figures go in the issue note):
//!
//! 1. publish→visible latency, p50/p99, at every node of an N-node loopback federation
//!    (default 33, full mesh as the roster implies), measured by a Subscribe watcher per node,
//!    and the wire bytes of the whole federation per change per receiving node: every node's
//!    roster endpoint is a counting TCP proxy in front of it, so every peer link's bytes (both
//!    directions: entries, checkpoints, heads, requests, HTTP/2 and gRPC framing) are counted
//!    (the watchers connect directly and are not); the total over a round, divided by
//!    changes × receiving nodes, is set against the changes' signed entry size. Repeated
//!    `--reps` times on the same federation; min/median/max printed;
//! 2. bootstrap of a new node from a peer holding K courses (default 100k), both release node
//!    processes: the source's peak RSS while the K courses are published to it in one batch;
//!    then, min/median/max of 3 bootstraps (one when a bootstrap takes over a minute), time,
//!    entries verified+applied per second and the receiver's peak RSS, beside raw Ed25519
//!    verify rates (single, batch, batch on all cores) and a raw sled write rate measured in
//!    the same run, and the fraction of the raw verify+write limit reached; bytes on the wire
//!    through a counting TCP proxy;
//! 3. live replication: bytes on the wire per change divided by the signed entry size;
//! 4. the source republishing its K courses in one batch, unchanged and then all changed: time
//!    and the source's peak RSS for each.
//!
//! `cargo run --release -p prospectus-bench --bin federation-bench -- --help`

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use prospectus_bench::node::{NodeProc, loadavg, run_node};
use prospectus_model::Record;
use prospectus_proto::v1::{
    self as w, Entry, SignedEntry, federation_client::FederationClient,
    publisher_client::PublisherClient, pull_item::Item,
};
use prospectus_server::{FederationConfig, NodeConfig, NodeKey, RunningNode};
use prost::Message;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tonic::transport::Channel;

#[derive(Parser, Debug)]
struct Args {
    /// Nodes in the latency federation.
    #[arg(long, default_value_t = 33)]
    nodes: usize,
    /// Changes published (one at a time, round-robin over origins) for the latency figures.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Courses the bootstrap source holds.
    #[arg(long, default_value_t = 100_000)]
    bootstrap_courses: usize,
    /// Live changes for the wire-overhead figure.
    #[arg(long, default_value_t = 500)]
    wire_changes: usize,
    /// Rounds of `changes` on the same federation (figures as min/median/max).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[arg(long)]
    skip_mesh: bool,
    #[arg(long)]
    skip_bootstrap: bool,
    /// Bootstraps measured (fewer if one takes over a minute).
    #[arg(long, default_value_t = 3)]
    bootstrap_reps: usize,
    /// The node binary for the bootstrap nodes [default: `prospectus` beside this binary].
    #[arg(long)]
    node_bin: Option<PathBuf>,
}

/// A port no other process holds, below the kernel's ephemeral range (32768 and up on
/// Linux): the nodes' roster names every port before they start, and a port taken from the
/// ephemeral range was at times handed meanwhile to one of the started nodes' outgoing
/// connections ("Address already in use" a few seconds in).
fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 1_000) as u16 * 10,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..12_000 {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = if port >= 32_000 {
            NEXT.store(20_001, Ordering::Relaxed);
            20_000
        } else {
            port
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port below the ephemeral range")
}

fn roster_line(origin: &str, name: &str, port: u16, key: &NodeKey) -> String {
    format!(
        "[[member]]\norigin = \"{origin}\"\nname = \"{name}\"\nendpoint = \"http://127.0.0.1:{port}\"\n[[member.keys]]\npublic_key = \"{}\"\n\n",
        key.public_hex()
    )
}

async fn start(
    dir: &Path,
    borough: &str,
    port: u16,
    roster: &Path,
    peers: Option<Vec<String>>,
) -> Result<RunningNode> {
    let cfg = NodeConfig {
        data_dir: dir.to_path_buf(),
        listen: ([127, 0, 0, 1], port).into(),
        borough: Some(borough.to_string()),
        // On loopback every peer has the one address 127.0.0.1, which the per-peer stream
        // limit counts as one peer: allow each of 33 peers (and a watcher) its stream.
        max_streams_per_peer: 64,
        federation: FederationConfig {
            roster: Some(roster.to_path_buf()),
            peers,
            ..Default::default()
        },
        ..Default::default()
    };
    Ok(prospectus_server::start(cfg).await?)
}

async fn channel(addr: std::net::SocketAddr) -> Result<Channel> {
    Ok(prospectus_server::client::connect(&format!("http://{addr}"), None).await?)
}

fn token(n: &RunningNode) -> Result<String> {
    Ok(std::fs::read_to_string(&n.admin_token_file)?
        .trim()
        .to_string())
}

/// Publishes `records` as one batch, waiting out a new node's wait-for-a-peer.
async fn publish(ch: &Channel, token: &str, records: &[Record]) -> Result<w::PublishReceipt> {
    let ops: Vec<w::PublishOp> = records.iter().map(prospectus_proto::publish_op).collect();
    let mut client = PublisherClient::new(ch.clone())
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20);
    let started = Instant::now();
    loop {
        let chunks: Vec<w::PublishBatchChunk> = ops
            .chunks(2000)
            .map(|c| w::PublishBatchChunk {
                idempotency_key: String::new(),
                ops: c.to_vec(),
            })
            .collect();
        let mut req = tonic::Request::new(futures::stream::iter(chunks));
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        match client.publish_batch(req).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s)
                if s.code() == tonic::Code::Unavailable
                    && started.elapsed() < Duration::from_secs(300) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => bail!("publish: {s:?}"),
        }
    }
}

/// The sum of the `/metrics` samples of `metric` whose labels contain each of `labels`, from a node
/// of this process (the nodes share one recorder: the figure is the whole federation's).
async fn metric(addr: std::net::SocketAddr, metric: &str, labels: &[&str]) -> Result<f64> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    Ok(text
        .lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|x| l.contains(x))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// Control traffic so far: GetHeads calls served, checkpoint seals rebuilt and asked for,
/// and the stream bytes of entries, checkpoints, seals and heads.
async fn control(addr: std::net::SocketAddr) -> Result<[f64; 7]> {
    let bytes = "prospectus_stream_item_bytes_total";
    Ok([
        metric(addr, "prospectus_requests_total", &["GetHeads"]).await?,
        metric(addr, "prospectus_checkpoint_seals_total", &["rebuilt"]).await?,
        metric(addr, "prospectus_checkpoint_seals_total", &["asked"]).await?,
        metric(addr, bytes, &["filtered=\"true\"", "item=\"entry\""]).await?,
        metric(addr, bytes, &["filtered=\"true\"", "item=\"checkpoint\""]).await?,
        metric(
            addr,
            bytes,
            &["filtered=\"true\"", "item=\"checkpoint_seal\""],
        )
        .await?,
        metric(addr, bytes, &["filtered=\"true\"", "item=\"heads\""]).await?,
    ])
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn mesh(args: &Args, root: &Path) -> Result<()> {
    let boroughs = prospectus_geo::boroughs();
    let n = args.nodes.min(boroughs.len());
    println!("== publish→visible latency, {n}-node loopback federation (full mesh)");
    let mut roster = String::new();
    let mut ports = Vec::new();
    let mut proxies = Vec::new();
    for (i, b) in boroughs.iter().take(n).enumerate() {
        let port = free_port()?;
        let (key, _) = NodeKey::load_or_create(&root.join(format!("mesh-{i}/node.key")))?;
        // Peers reach the node through its counting proxy: the roster's endpoint.
        let px = proxy(([127, 0, 0, 1], port).into()).await?;
        roster.push_str(&roster_line(b.gss_code, b.name, px.port, &key));
        ports.push(port);
        proxies.push(px);
    }
    let roster_path = root.join("mesh-roster.toml");
    std::fs::write(&roster_path, roster)?;
    let mut nodes = Vec::new();
    for (i, b) in boroughs.iter().take(n).enumerate() {
        nodes.push(
            start(
                &root.join(format!("mesh-{i}")),
                b.gss_code,
                ports[i],
                &roster_path,
                None,
            )
            .await?,
        );
    }
    let mut chans = Vec::new();
    for node in &nodes {
        chans.push(channel(node.addr).await?);
    }
    // One small offer per borough: the changes below update its course.
    let mut courses = Vec::new();
    for (i, b) in boroughs.iter().take(n).enumerate() {
        let bundle = prospectus_dataset::generate(i as u64 + 100, 1, Some(b.gss_code))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        courses.push(bundle.courses[0].clone());
        publish(&chans[i], &token(&nodes[i])?, &bundle.into_records()).await?;
    }
    // Watchers: one Subscribe per node, from its current heads, timing every entry it applies.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String, u64, Instant, usize)>();
    for (j, ch) in chans.iter().enumerate() {
        let mut c = FederationClient::new(ch.clone());
        let heads = c
            .get_heads(w::GetHeadsRequest::default())
            .await?
            .into_inner();
        let cursors = heads
            .heads
            .iter()
            .map(|h| w::Cursor {
                origin: h.origin.clone(),
                epoch: h.epoch,
                seq: h.seq,
                ..Default::default()
            })
            .collect();
        let mut stream = c
            .subscribe(w::PullRequest {
                cursors,
                ..Default::default()
            })
            .await?
            .into_inner();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(item)) = stream.message().await {
                if let Some(Item::Entry(e)) = item.item
                    && let Ok(entry) = Entry::decode(e.entry_bytes.as_slice())
                {
                    let size = e.encoded_len();
                    let _ = tx.send((j, entry.origin, entry.seq, Instant::now(), size));
                }
            }
        });
    }
    let wire = |ps: &[Proxy]| {
        ps.iter()
            .map(|p| p.down.load(Ordering::Relaxed) + p.up.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    // Let the links settle on their sources (heads, re-subscriptions) before counting.
    wait_mesh_converged(&nodes, Duration::from_secs(120)).await?;
    let (mut p99s, mut p50s, mut lasts, mut ratios, mut per_node) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut early: HashMap<(String, u64), Vec<(usize, Instant)>> = HashMap::new();
    for rep in 0..args.reps.max(1) {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let mut slowest_node = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
        let (mut entry_bytes, mut entries) = (0usize, 0usize);
        let base = wire(&proxies);
        let control_base = control(nodes[0].addr).await?;
        let started = Instant::now();
        for k in 0..args.changes {
            let i = k % n;
            let mut c = courses[i].clone();
            c.title = format!("{} #{rep}.{k}", c.title.split(" #").next().unwrap_or(""));
            let t0 = Instant::now();
            let r = publish(&chans[i], &token(&nodes[i])?, &[Record::Course(c)]).await?;
            let key = (r.origin.clone(), r.last_seq);
            let mut seen_by = 0usize;
            let mut last = t0;
            for (j, t) in early.remove(&key).unwrap_or_default() {
                if j != i {
                    hist.record(t.saturating_duration_since(t0).as_micros().max(1) as u64)?;
                    seen_by += 1;
                    last = last.max(t);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while seen_by < n - 1 {
                let Ok(Some((j, origin, seq, t, size))) =
                    tokio::time::timeout_at(deadline.into(), rx.recv()).await
                else {
                    bail!("change {k} reached only {seen_by}/{} nodes in 60 s", n - 1);
                };
                if (origin.clone(), seq) == key {
                    if j != i {
                        hist.record(t.saturating_duration_since(t0).as_micros().max(1) as u64)?;
                        seen_by += 1;
                        last = last.max(t);
                        entry_bytes += size;
                        entries += 1;
                    }
                } else {
                    early.entry((origin, seq)).or_default().push((j, t));
                }
            }
            slowest_node.record(last.saturating_duration_since(t0).as_micros().max(1) as u64)?;
        }
        // Every node holds every origin's last checkpoint verified: its bytes are in too.
        wait_mesh_converged(&nodes, Duration::from_secs(60)).await?;
        let secs = started.elapsed().as_secs_f64();
        let bytes = wire(&proxies) - base;
        let receptions = (args.changes * (n - 1)) as f64;
        let entry = entry_bytes as f64 / entries.max(1) as f64;
        let per = bytes as f64 / receptions;
        let c = control(nodes[0].addr).await?;
        let [get_heads, rebuilt, asked, b_entry, b_cp, b_seal, b_heads] =
            [0, 1, 2, 3, 4, 5, 6].map(|i| c[i] - control_base[i]);
        println!(
            "  round {}: {} changes × {} receiving nodes in {:.1} s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; last node p99 {:.2} ms; wire {:.1} MiB all links = {:.0} B per change per receiving node vs {:.0} B signed entry: ratio {:.3}",
            rep + 1,
            args.changes,
            n - 1,
            secs,
            pct(&hist, 0.5),
            pct(&hist, 0.99),
            hist.max() as f64 / 1000.0,
            pct(&slowest_node, 0.99),
            bytes as f64 / (1 << 20) as f64,
            per,
            entry,
            per / entry
        );
        println!(
            "    control: {get_heads:.0} GetHeads calls; checkpoint seals {rebuilt:.0} rebuilt, {asked:.0} asked for whole; stream items per change per receiving node (protobuf bytes, links between nodes): entries {:.0} B, checkpoints {:.0} B, seals {:.0} B, heads {:.0} B",
            b_entry / receptions,
            b_cp / receptions,
            b_seal / receptions,
            b_heads / receptions
        );
        p50s.push(pct(&hist, 0.5));
        p99s.push(pct(&hist, 0.99));
        lasts.push(pct(&slowest_node, 0.99));
        ratios.push(per / entry);
        per_node.push(per);
    }
    println!(
        "  publish→visible p50 ms (min/median/max of {}): {}",
        p50s.len(),
        mmm(&p50s, 2)
    );
    println!(
        "  publish→visible p99 ms (min/median/max): {}",
        mmm(&p99s, 2)
    );
    println!(
        "  time until the last node had it, p99 ms (min/median/max): {}",
        mmm(&lasts, 2)
    );
    println!(
        "  wire bytes per change per receiving node, all links (min/median/max): {}",
        mmm(&per_node, 0)
    );
    println!(
        "  ratio to the signed entry, all links (min/median/max): {}",
        mmm(&ratios, 3)
    );
    for node in nodes {
        node.shutdown().await?;
    }
    Ok(())
}

/// `min / median / max` of `v`, with `dp` decimals.
fn mmm(v: &[f64], dp: usize) -> String {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(a), Some(m), Some(b)) => format!("{a:.dp$} / {m:.dp$} / {b:.dp$}"),
        _ => "-".into(),
    }
}

/// Waits until every node holds every origin at the position its origin holds, its signed
/// checkpoint verified.
async fn wait_mesh_converged(nodes: &[RunningNode], limit: Duration) -> Result<()> {
    let start = Instant::now();
    let mut heads: HashMap<String, (u64, u64)> = HashMap::new();
    for node in nodes {
        let s = node_status(node).await?;
        if let Some(o) = s.origins.iter().find(|o| o.origin == s.origin) {
            heads.insert(o.origin.clone(), (o.epoch, o.seq));
        }
    }
    loop {
        let mut all = true;
        for node in nodes {
            let s = node_status(node).await?;
            all &= heads.iter().all(|(origin, head)| {
                s.origins.iter().any(|o| {
                    &o.origin == origin && (o.epoch, o.seq) == *head && o.checkpoint_verified
                })
            });
            if !all {
                break;
            }
        }
        if all {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the mesh did not converge in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP forwarder that counts bytes in each direction.
struct Proxy {
    port: u16,
    down: Arc<AtomicU64>,
    up: Arc<AtomicU64>,
}

async fn proxy(target: std::net::SocketAddr) -> Result<Proxy> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (down, up) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (d, u) = (down.clone(), up.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let (d, u) = (d.clone(), u.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    d.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    u.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    Ok(Proxy { port, down, up })
}

/// `status` of an in-process node of the latency mesh.
async fn node_status(node: &RunningNode) -> Result<w::StatusResponse> {
    status(&node.addr.to_string(), &token(node)?).await
}

async fn status(addr: &str, token: &str) -> Result<w::StatusResponse> {
    let ch = prospectus_server::client::connect(&format!("http://{addr}"), None).await?;
    let mut c = prospectus_proto::v1::admin_client::AdminClient::new(ch);
    let mut req = tonic::Request::new(w::StatusRequest {});
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(c.status(req).await?.into_inner())
}

/// A release node process of the bootstrap runs: its address and admin token.
struct Proc {
    node: NodeProc,
    addr: String,
    token: String,
}

impl Proc {
    fn start(
        bin: &Option<PathBuf>,
        dir: &Path,
        borough: &str,
        port: u16,
        flags: &[&std::ffi::OsStr],
    ) -> Result<Proc> {
        let (node, addr) = run_node(
            bin.clone(),
            dir,
            borough,
            &format!("127.0.0.1:{port}"),
            &dir.with_extension("log"),
            "warn",
            flags,
        )?;
        let token = std::fs::read_to_string(dir.join("admin-token"))?
            .trim()
            .to_string();
        Ok(Proc { node, addr, token })
    }
}

async fn wait_converged(
    node: &Proc,
    origin: &str,
    head: (u64, u64),
    limit: Duration,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let s = status(&node.addr, &node.token).await?;
        if s.origins
            .iter()
            .any(|o| o.origin == origin && (o.epoch, o.seq) == head && o.checkpoint_verified)
        {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("not converged after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `min / median / max` of `xs` with `unit`, at `prec` decimals.
fn spread(xs: &[f64], prec: usize, unit: &str) -> String {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let (lo, mid, hi) = (v[0], v[v.len() / 2], v[v.len() - 1]);
    format!(
        "{lo:.prec$} / {mid:.prec$} / {hi:.prec$} {unit} (min / median / max of {})",
        v.len()
    )
}

/// Raw Ed25519 rates on `signed` (all by `vk`): one at a time, in batches on one core, and in
/// batches on every core; entries per second.
fn raw_verify(signed: &[Vec<u8>], vk: &ed25519_dalek::VerifyingKey) -> Result<(f64, f64, f64)> {
    let decoded: Vec<SignedEntry> = signed
        .iter()
        .map(|b| SignedEntry::decode(b.as_slice()))
        .collect::<Result<_, _>>()?;
    let items: Vec<(ed25519_dalek::VerifyingKey, &[u8], &[u8])> = decoded
        .iter()
        .map(|e| (*vk, e.entry_bytes.as_slice(), e.signature.as_slice()))
        .collect();
    let rate = |t: Instant| items.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let single = items
        .iter()
        .filter(|(k, m, s)| prospectus_store::verify(k, m, s))
        .count();
    let single_rate = rate(t);
    let t = Instant::now();
    let batch = prospectus_store::verify_each(&items)
        .iter()
        .filter(|ok| **ok)
        .count();
    let batch_rate = rate(t);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let all = std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(cores).max(1))
            .map(|p| {
                s.spawn(move || {
                    prospectus_store::verify_each(p)
                        .iter()
                        .filter(|ok| **ok)
                        .count()
                })
            })
            .collect();
        parts
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<usize>()
    });
    let all_rate = rate(t);
    if single != items.len() || batch != items.len() || all != items.len() {
        bail!(
            "raw verify failed: {single}, {batch}, {all} of {} verified",
            items.len()
        );
    }
    Ok((single_rate, batch_rate, all_rate))
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            total += if path.is_dir() {
                dir_size(&path)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

async fn bootstrap(args: &Args, root: &Path) -> Result<()> {
    let k = args.bootstrap_courses;
    println!(
        "== bootstrap of a new node from a peer holding {k} courses (release node processes); load average {}",
        loadavg()
    );
    let (src_b, new_b) = ("E09000028", "E09000025");
    let (src_port, new_port) = (free_port()?, free_port()?);
    let src_dir = root.join("src");
    let (src_key, _) = NodeKey::load_or_create(&root.join("src.key"))?;
    let (new_key, _) = NodeKey::load_or_create(&root.join("new.key"))?;
    // The source's roster lists only itself (so it publishes at once); the new node's lists both.
    let src_roster = root.join("src-roster.toml");
    std::fs::write(
        &src_roster,
        roster_line(src_b, "Southwark", src_port, &src_key),
    )?;
    let new_roster = root.join("new-roster.toml");
    std::fs::write(
        &new_roster,
        roster_line(src_b, "Southwark", src_port, &src_key)
            + &roster_line(new_b, "Newham", new_port, &new_key),
    )?;
    std::fs::create_dir_all(&src_dir)?;
    std::fs::copy(root.join("src.key"), src_dir.join("node.key"))?;
    let src = Proc::start(
        &args.node_bin,
        &src_dir,
        src_b,
        src_port,
        &["--roster".as_ref(), src_roster.as_os_str()],
    )?;
    let bundle =
        prospectus_dataset::generate(42, k, Some(src_b)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let records = bundle.into_records();
    let before = src.node.peak_mb();
    let t = Instant::now();
    let src_ch = channel(src.addr.parse()?).await?;
    let r = publish(&src_ch, &src.token, &records).await?;
    let import = t.elapsed();
    println!(
        "  source import: {} records ({k} courses) in ONE batch, signed + durable in {:.2} s ({:.0} records/s); source data dir {:.1} MiB",
        records.len(),
        import.as_secs_f64(),
        records.len() as f64 / import.as_secs_f64(),
        dir_size(&src_dir) as f64 / (1 << 20) as f64
    );
    println!(
        "  source peak RSS (VmHWM) while publishing {} records in one batch: {} MB (before the batch {before} MB; RSS after {} MB); load average {}",
        records.len(),
        src.node.peak_mb(),
        src.node.rss_mb(),
        loadavg()
    );
    let head = (r.epoch, r.last_seq);

    // The signed entries as stored, for the raw comparison rates.
    let mut signed: Vec<Vec<u8>> = Vec::with_capacity(records.len());
    let mut pull = FederationClient::new(src_ch.clone()).max_decoding_message_size(64 << 20);
    let mut s = pull.pull(w::PullRequest::default()).await?.into_inner();
    while let Some(item) = s.message().await? {
        if let Some(Item::Entry(e)) = item.item {
            signed.push(e.encode_to_vec());
        }
    }
    let avg_entry = signed.iter().map(Vec::len).sum::<usize>() as f64 / signed.len().max(1) as f64;

    let px = proxy(src.addr.parse()?).await?;
    let peer = format!("http://127.0.0.1:{}", px.port);
    let (mut secs, mut peaks, mut downs) = (Vec::new(), Vec::new(), Vec::new());
    let mut new = None;
    for rep in 0..args.bootstrap_reps.max(1) {
        // A fresh data dir each time: the same key, nothing held.
        let new_dir = root.join(format!("new-{rep}"));
        std::fs::create_dir_all(&new_dir)?;
        std::fs::copy(root.join("new.key"), new_dir.join("node.key"))?;
        if let Some(old) = new.take() {
            drop::<Proc>(old);
        }
        let base_down = px.down.load(Ordering::Relaxed);
        let t = Instant::now();
        let node = Proc::start(
            &args.node_bin,
            &new_dir,
            new_b,
            new_port,
            &[
                "--roster".as_ref(),
                new_roster.as_os_str(),
                "--peer".as_ref(),
                peer.as_ref(),
            ],
        )?;
        wait_converged(&node, src_b, head, Duration::from_secs(1800)).await?;
        let took = t.elapsed();
        secs.push(took.as_secs_f64());
        peaks.push(node.node.peak_mb() as f64);
        downs.push((px.down.load(Ordering::Relaxed) - base_down) as f64);
        println!(
            "  bootstrap {}: converged (checkpoint digest verified) in {:.2} s, {:.0} entries/s verified+applied; receiver peak RSS {} MB, RSS now {} MB; load average {}",
            rep + 1,
            took.as_secs_f64(),
            head.1 as f64 / took.as_secs_f64(),
            node.node.peak_mb(),
            node.node.rss_mb(),
            loadavg()
        );
        new = Some(node);
        if took > Duration::from_secs(60) {
            break;
        }
    }
    let Some(new) = new else {
        bail!("no bootstrap ran");
    };
    let down = downs.iter().sum::<f64>() / downs.len() as f64;
    println!(
        "  bytes received per bootstrap {:.1} MiB ({:.0} B/entry; signed entry avg {:.0} B; sent {:.1} KiB in all)",
        down / (1 << 20) as f64,
        down / head.1 as f64,
        avg_entry,
        px.up.load(Ordering::Relaxed) as f64 / 1024.0
    );

    // Raw rates in the same run, same entries.
    let (single, batch, all_cores) = raw_verify(&signed, &src_key.public())?;
    let db = sled::open(root.join("raw-sled")).context("raw sled")?;
    let tree = db.open_tree("records")?;
    let t = Instant::now();
    for (n, chunk) in signed.chunks(512).enumerate() {
        let mut batch = sled::Batch::default();
        for (i, b) in chunk.iter().enumerate() {
            batch.insert(&((n * 512 + i) as u64).to_be_bytes(), b.as_slice());
        }
        tree.apply_batch(batch)?;
        db.flush()?;
    }
    let sled_rate = signed.len() as f64 / t.elapsed().as_secs_f64();
    drop(db);
    // Verifying and writing each entry once, one after the other, at the best raw rates; and
    // at one-at-a-time verification on one core (the figure issue 14 was filed with).
    let limit = 1.0 / (1.0 / all_cores + 1.0 / sled_rate);
    let limit_single = 1.0 / (1.0 / single + 1.0 / sled_rate);
    let mut sorted = secs.clone();
    sorted.sort_by(f64::total_cmp);
    let median_rate = head.1 as f64 / sorted[sorted.len() / 2];
    println!(
        "  raw, same run: Ed25519 verify one at a time {single:.0}/s, in batches of {} {batch:.0}/s, batches on all cores {all_cores:.0}/s; sled write of the same entries in flushed batches of 512 {sled_rate:.0}/s",
        prospectus_store::VERIFY_BATCH
    );
    println!(
        "  BOOTSTRAP {k} courses: {}; {median_rate:.0} entries/s (median) beside the raw verify+write limit {limit:.0}/s ({:.1} s; batch verify on all cores + sled): {:.0} % of it ({:.0} % of {limit_single:.0}/s, the limit with one-at-a-time verify on one core)",
        spread(&secs, 2, "s"),
        head.1 as f64 / limit,
        100.0 * median_rate / limit,
        100.0 * median_rate / limit_single
    );
    println!(
        "  PEAK RSS: receiver while bootstrapping {}; source while publishing {} records in one batch {} MB",
        spread(&peaks, 0, "MB"),
        records.len(),
        src.node.peak_mb()
    );

    // Live replication overhead: single-change batches while the new node is subscribed.
    let wire = args.wire_changes;
    println!("== live replication: {wire} single-course changes");
    let base_down = px.down.load(Ordering::Relaxed);
    let ch = src_ch;
    let tok = src.token.clone();
    let mut course = records
        .iter()
        .find_map(|r| {
            if let Record::Course(c) = r {
                Some(c.clone())
            } else {
                None
            }
        })
        .context("a course")?;
    let mut changed_bytes = 0usize;
    let t = Instant::now();
    let mut last = head;
    for k in 0..wire {
        course.title = format!("Changed {k}");
        let r = publish(&ch, &tok, &[Record::Course(course.clone())]).await?;
        last = (r.epoch, r.last_seq);
        changed_bytes += prospectus_proto::encode_record(&Record::Course(course.clone())).len();
    }
    wait_converged(&new, src_b, last, Duration::from_secs(120)).await?;
    let secs = t.elapsed().as_secs_f64();
    let bytes = px.down.load(Ordering::Relaxed) - base_down;
    let signed_size = avg_entry.max(1.0);
    println!(
        "  {:.0} wire bytes per change (incl. its checkpoint and heartbeats over {:.1} s) vs {:.0} B signed entry: ratio {:.2}; payload alone {:.0} B",
        bytes as f64 / wire as f64,
        secs,
        signed_size,
        bytes as f64 / wire as f64 / signed_size,
        changed_bytes as f64 / wire as f64
    );

    // A borough republishing its whole offer in one batch (a nightly export): as it was, then
    // with every course changed. The receiver is stopped first: the source's figures alone.
    drop(new);
    let everything_changed: Vec<Record> = records
        .iter()
        .map(|r| match r {
            Record::Course(c) => {
                let mut c = c.clone();
                c.title.push_str(" (updated)");
                Record::Course(c)
            }
            other => other.clone(),
        })
        .collect();
    for (label, batch) in [
        ("as it was", &records),
        ("every course changed", &everything_changed),
    ] {
        src.node.reset_peak()?;
        let before = src.node.rss_mb();
        let t = Instant::now();
        publish(&ch, &tok, batch).await?;
        let took = t.elapsed();
        let (peak, at_return) = (src.node.peak_mb(), src.node.rss_mb());
        // Not a synchronisation: freed memory is handed back after a second (jemalloc's decay).
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!(
            "  republish of {} records in one batch, {label}: {:.2} s; source peak RSS {peak} MB (before {before} MB; at return {at_return} MB, 3 s later {} MB); load average {}",
            batch.len(),
            took.as_secs_f64(),
            src.node.rss_mb(),
            loadavg()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root: PathBuf = tmp.path().to_path_buf();
    println!(
        "federation-bench: {} cores, {}; load average at start: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        chrono_now(),
        loadavg()
    );
    if !args.skip_mesh {
        mesh(&args, &root).await?;
        println!("  load average after the mesh: {}", loadavg());
    }
    if !args.skip_bootstrap {
        bootstrap(&args, &root).await?;
    }
    println!("federation-bench: load average at end: {}", loadavg());
    Ok(())
}

fn chrono_now() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
