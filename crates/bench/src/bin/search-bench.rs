//! `search-bench`: search throughput and latency on a generated directory, in-process and over
//! gRPC against a real node process, side by side with PostgreSQL on the same courses and the
//! same query mix. Run it through `crates/bench/run-search-bench.sh`, which provides the
//! PostgreSQL cluster; without `--pg` only the Prospectus figures are measured.
//!
//! Usage: search-bench [--courses N] [--seed S] [--secs T] [--clients C] [--pg CONNSTR]
//!                     [--node-bin PATH] [--explain] [--data-dir DIR]
//!
//! `--data-dir` keeps the node's data dir (default: a temporary one); run again with the same
//! dir and seed, it reuses the loaded store (and the node's index) instead of loading again.

use anyhow::{Result, anyhow, bail};
use prospectus_bench::measure::{Run, record};
use prospectus_bench::node::{
    load_directory, loadavg, node_bin, proc_status_kb, reuse_directory, rss_line, start_node,
};
use prospectus_bench::restart::restarts;
use prospectus_bench::{mix, pg};
use prospectus_proto::v1 as w;
use prospectus_search::Index;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "E09000028";

struct Args {
    courses: usize,
    seed: u64,
    secs: f64,
    clients: usize,
    pg: Option<String>,
    node_bin: Option<PathBuf>,
    explain: bool,
    data_dir: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        courses: 100_000,
        seed: 1,
        secs: 15.0,
        clients: 2,
        pg: None,
        node_bin: None,
        explain: false,
        data_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--courses" => a.courses = v()?.parse()?,
            "--seed" => a.seed = v()?.parse()?,
            "--secs" => a.secs = v()?.parse()?,
            "--clients" => a.clients = v()?.parse()?,
            "--pg" => a.pg = Some(v()?),
            "--node-bin" => a.node_bin = Some(v()?.into()),
            "--explain" => a.explain = true,
            "--data-dir" => a.data_dir = Some(v()?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn in_process(index: &Arc<Index>, shapes: &[mix::Shape], threads: usize, secs: f64) -> Result<Run> {
    let queries = shapes
        .iter()
        .map(|s| prospectus_server::search_query(s.req.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|s| anyhow!("shape does not validate: {s}"))?;
    let label = format!("in-process, {threads} threads");
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let index = index.clone();
            let queries = queries.clone();
            let label = label.clone();
            std::thread::spawn(move || -> Result<Run> {
                let mut run = Run::new(&label, queries.len());
                let started = Instant::now();
                let deadline = started + Duration::from_secs_f64(secs);
                let mut i = t * 7;
                while Instant::now() < deadline {
                    let k = i % queries.len();
                    let t0 = Instant::now();
                    let page = index.search(&queries[k])?;
                    let d = t0.elapsed();
                    record(&mut run.all, d);
                    record(&mut run.shapes[k], d);
                    run.totals[k] = page.total as u64;
                    i += 1;
                }
                run.elapsed = started.elapsed();
                Ok(run)
            })
        })
        .collect();
    let mut all = Run::new(&label, queries.len());
    for h in handles {
        all.merge(
            &h.join()
                .map_err(|_| anyhow!("an in-process client panicked"))??,
        );
    }
    Ok(all)
}

/// The view the gRPC clients ask for: a result list's (what the link worker's results page
/// shows; see `HitView` in directory.proto).
const LIST_VIEW: w::HitView = w::HitView::Summary;

/// The mix's requests asking for `view`.
fn requests(shapes: &[mix::Shape], view: w::HitView) -> Vec<w::SearchRequest> {
    shapes
        .iter()
        .map(|s| w::SearchRequest {
            view: view as i32,
            ..s.req.clone()
        })
        .collect()
}

/// Encoded response bytes per shape for `view` (one request each).
async fn sizes(url: &str, shapes: &[mix::Shape], view: w::HitView) -> Result<Vec<u64>> {
    use prost::Message;
    let ch = tonic::transport::Channel::from_shared(url.to_string())?
        .connect()
        .await?;
    let mut c = w::directory_client::DirectoryClient::new(ch);
    let mut out = Vec::new();
    for r in requests(shapes, view) {
        out.push(c.search(r).await?.into_inner().encoded_len() as u64);
    }
    Ok(out)
}

async fn grpc(url: &str, shapes: &[mix::Shape], clients: usize, secs: f64) -> Result<Run> {
    let label = format!("gRPC, {clients} clients");
    let mut tasks = Vec::new();
    for t in 0..clients {
        // One connection per client.
        let ch = tonic::transport::Channel::from_shared(url.to_string())?
            .connect()
            .await?;
        let reqs = requests(shapes, LIST_VIEW);
        let label = label.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = w::directory_client::DirectoryClient::new(ch);
            let mut run = Run::new(&label, reqs.len());
            let started = Instant::now();
            let deadline = started + Duration::from_secs_f64(secs);
            let mut i = t * 7;
            while Instant::now() < deadline {
                let k = i % reqs.len();
                let t0 = Instant::now();
                let r = c.search(reqs[k].clone()).await?.into_inner();
                let d = t0.elapsed();
                if run.bytes[k] == 0 {
                    use prost::Message;
                    run.bytes[k] = r.encoded_len() as u64;
                }
                record(&mut run.all, d);
                record(&mut run.shapes[k], d);
                run.totals[k] = r.total_hits;
                i += 1;
            }
            run.elapsed = started.elapsed();
            Ok::<Run, anyhow::Error>(run)
        }));
    }
    let mut all = Run::new(&label, shapes.len());
    for t in tasks {
        all.merge(&t.await??);
    }
    Ok(all)
}

/// Min / median / max of `v` (3 repetitions), formatted with `f`.
fn spread(v: &[f64], f: impl Fn(f64) -> String) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.as_slice() {
        [] => "-".into(),
        [a] => f(*a),
        _ => format!(
            "{} / {} / {}",
            f(v[0]),
            f(v[v.len() / 2]),
            f(v[v.len() - 1])
        ),
    }
}

fn p99_ms(r: &Run) -> f64 {
    r.all.value_at_quantile(0.99) as f64 / 1000.0
}

const ROUNDS: usize = 3;

fn main() -> Result<()> {
    let a = args()?;
    let shapes = mix::shapes();
    println!(
        "search-bench: {} generated courses (seed {}), {} query shapes, {:.0} s per measurement, {} concurrent clients, {ROUNDS} rounds; load average at start: {}",
        a.courses,
        a.seed,
        shapes.len(),
        a.secs,
        a.clients,
        loadavg()
    );
    let tmp = tempfile::tempdir()?;
    let data = a
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("node"));
    let (bundle, store) = if data.join("db").exists() {
        reuse_directory(&data, ORIGIN, a.seed, a.courses)?
    } else {
        load_directory(&data, ORIGIN, a.seed, a.courses)?
    };

    // In-process.
    let rss_before = proc_status_kb(std::process::id(), "VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let index = Index::open(&store)?;
    let build = t.elapsed();
    let rss_after = proc_status_kb(std::process::id(), "VmRSS:").unwrap_or(0);
    println!(
        "in-process index: {} courses built in {:.1} s (+{} MB RSS in this process)",
        index.len(),
        build.as_secs_f64(),
        rss_after.saturating_sub(rss_before) / 1024
    );
    let _ = in_process(&index, &shapes, a.clients, 1.0)?; // warm-up
    let mut inproc_runs = Vec::new();
    for _ in 0..ROUNDS {
        inproc_runs.push(in_process(&index, &shapes, a.clients, a.secs)?);
    }
    let inproc1 = in_process(&index, &shapes, 1, a.secs / 2.0)?;
    drop(index);
    drop(store);

    // A real node process over gRPC; PostgreSQL loaded while it idles, then the two measured
    // in alternating rounds so both see the same machine.
    let log = tmp.path().join("node.log");
    let (node, addr) = start_node(a.node_bin.clone(), &data, ORIGIN, &log, "info")?;
    let pid = node.0.id();
    let url = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let full_bytes = rt.block_on(sizes(&url, &shapes, w::HitView::Full))?;
    let list_bytes = rt.block_on(sizes(&url, &shapes, LIST_VIEW))?;
    if let Some(conn) = &a.pg {
        let took = pg::load(conn, &bundle, ORIGIN)?;
        println!(
            "PostgreSQL: loaded and indexed in {:.1} s",
            took.as_secs_f64()
        );
        for (k, v) in pg::settings(conn)? {
            println!("  {k} = {v}");
        }
        let plans = pg::explain(conn, &shapes)?;
        let using = plans.iter().filter(|(_, u)| *u).count();
        println!("  EXPLAIN: {using} of {} shapes use an index", plans.len());
        for ((plan, uses), s) in plans.iter().zip(&shapes) {
            if !uses || a.explain {
                println!("  -- {} (index: {uses})\n{plan}", s.name);
            }
        }
        let _ = pg::run(conn, &shapes, a.clients, 1.0, "warm-up")?;
    }
    let _ = rt.block_on(grpc(&url, &shapes, a.clients, 1.0))?; // warm-up
    let mut grpc_runs = Vec::new();
    let mut pg_runs = Vec::new();
    for round in 1..=ROUNDS {
        let g = rt.block_on(grpc(&url, &shapes, a.clients, a.secs))?;
        println!("round {round}: {}", g.line());
        grpc_runs.push(g);
        if let Some(conn) = &a.pg {
            let p = pg::run(
                conn,
                &shapes,
                a.clients,
                a.secs,
                &format!("PostgreSQL, {} clients", a.clients),
            )?;
            println!("round {round}: {}", p.line());
            pg_runs.push(p);
        }
    }
    let rss = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    let rss_detail = rss_line(pid);
    drop(node);

    // Restart to ready on the same data dir (the index reopened from disk).
    let bin = node_bin(a.node_bin.clone())?;
    println!("restarts (load average {}):", loadavg());
    let _ = restarts(&bin, &data, ORIGIN, &log, a.courses as u64, 3)?;

    // The per-shape table shows the median round of each engine.
    let median = |runs: &[Run]| -> usize {
        let mut i: Vec<usize> = (0..runs.len()).collect();
        i.sort_by(|x, y| runs[*x].qps().total_cmp(&runs[*y].qps()));
        i.get(runs.len() / 2).copied().unwrap_or(0)
    };
    let inproc = &inproc_runs[median(&inproc_runs)];
    let grpc_run = &grpc_runs[median(&grpc_runs)];
    let pg_run = (!pg_runs.is_empty()).then(|| &pg_runs[median(&pg_runs)]);

    println!();
    println!(
        "== results ({} courses; min / median / max of {ROUNDS} rounds where three figures)",
        a.courses
    );
    println!("{}", inproc1.line());
    println!("{}", inproc.line());
    println!("{}", grpc_run.line());
    if let Some(p) = pg_run {
        println!("{}", p.line());
    }
    let qps = |runs: &[Run]| runs.iter().map(Run::qps).collect::<Vec<_>>();
    let p99s = |runs: &[Run]| runs.iter().map(p99_ms).collect::<Vec<_>>();
    let ms = |x: f64| format!("{x:.3} ms");
    let qs = |x: f64| format!("{x:.0} q/s");
    let times = |x: f64| format!("{x:.1}x");
    println!(
        "in-process, {} threads: {}   p99 {}",
        a.clients,
        spread(&qps(&inproc_runs), qs),
        spread(&p99s(&inproc_runs), ms)
    );
    println!(
        "gRPC, {} clients ({:?} view): {}   p99 {}",
        a.clients,
        LIST_VIEW,
        spread(&qps(&grpc_runs), qs),
        spread(&p99s(&grpc_runs), ms)
    );
    if !pg_runs.is_empty() {
        println!(
            "PostgreSQL, {} clients: {}   p99 {}",
            a.clients,
            spread(&qps(&pg_runs), qs),
            spread(&p99s(&pg_runs), ms)
        );
        let ratio = |runs: &[Run]| -> Vec<f64> {
            runs.iter()
                .zip(&pg_runs)
                .map(|(r, p)| r.qps() / p.qps().max(1e-9))
                .collect()
        };
        println!(
            "ratio gRPC/PostgreSQL throughput, same round: {}   (target >= 12x)",
            spread(&ratio(&grpc_runs), times)
        );
        println!(
            "ratio in-process/PostgreSQL throughput: {}",
            spread(
                &inproc_runs
                    .iter()
                    .zip(&pg_runs)
                    .map(|(r, p)| r.qps() / p.qps().max(1e-9))
                    .collect::<Vec<_>>(),
                times
            )
        );
    }
    println!(
        "targets: gRPC p99 {} (<= 3 ms on a quiet machine), in-process p99 {} (<= 2 ms)",
        spread(&p99s(&grpc_runs), ms),
        spread(&p99s(&inproc_runs), ms)
    );
    let avg = |b: &[u64]| b.iter().sum::<u64>() / b.len().max(1) as u64;
    println!(
        "gRPC response size, average over the shapes (20 hits, freshness, facets): {} bytes with view FULL, {} bytes with view {:?} (what the benchmark's clients ask for: a result list's view)",
        avg(&full_bytes),
        avg(&list_bytes),
        LIST_VIEW
    );
    println!(
        "node RSS at {} courses: {} MB after the run (peak {} MB; {rss_detail}; target <= 300 MB); load average at end: {}",
        a.courses,
        rss / 1024,
        hwm / 1024,
        loadavg()
    );
    println!();
    println!(
        "{:<42} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "shape (p50 ms; total hits)",
        "in-proc",
        "gRPC",
        "PG",
        "hits",
        "hits PG",
        "p99 gRPC",
        "kB full/list"
    );
    for (i, s) in shapes.iter().enumerate() {
        let ms = |r: &Run, q: f64| r.shapes[i].value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<42} {:>10.3} {:>10.3} {:>10} {:>10} {:>10} {:>10.3} {:>5.1}/{:<5.1}",
            s.name,
            ms(inproc, 0.5),
            ms(grpc_run, 0.5),
            pg_run.map_or("-".into(), |p| format!("{:.3}", ms(p, 0.5))),
            grpc_run.totals[i],
            pg_run.map_or("-".into(), |p| p.totals[i].to_string()),
            ms(grpc_run, 0.99),
            full_bytes[i] as f64 / 1000.0,
            list_bytes[i] as f64 / 1000.0,
        );
    }
    Ok(())
}
