//! `http-bench`: the ORUK HTTP API of a real release node holding a generated directory
//! (100,000 courses by default), with concurrent keep-alive clients over loopback: page 1, a
//! middle and the last page of `/services`, `search=`, a taxonomy filter, a proximity search,
//! by-id lookups, the RPDE feed paged to its end, `Directory.Search` for the same words in the
//! same run, and an NDJSON dump of every course with the node's RSS growth while it streams.
//!
//! Usage: http-bench [--courses N] [--seed S] [--secs T] [--clients C] [--node-bin PATH]
//! Build and run: cargo build --release --workspace --locked --bins &&
//!                target/release/http-bench

use anyhow::{Result, anyhow, bail};
use hdrhistogram::Histogram;
use prospectus_bench::measure::{histogram, record};
use prospectus_bench::node::{load_directory, loadavg, proc_status_kb, start_node};
use prospectus_proto::v1 as w;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ORIGIN: &str = "E09000028";

struct Args {
    courses: usize,
    seed: u64,
    secs: f64,
    clients: usize,
    node_bin: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        courses: 100_000,
        seed: 1,
        secs: 5.0,
        clients: 2,
        node_bin: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--courses" => a.courses = v()?.parse()?,
            "--seed" => a.seed = v()?.parse()?,
            "--secs" => a.secs = v()?.parse()?,
            "--clients" => a.clients = v()?.parse()?,
            "--node-bin" => a.node_bin = Some(v()?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    addr: String,
    r: BufReader<TcpStream>,
    /// From the last request's write to its status line: the time to first byte.
    ttfb: Duration,
}

impl Client {
    fn connect(addr: &str) -> Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Client {
            addr: addr.to_string(),
            r: BufReader::new(s),
            ttfb: Duration::ZERO,
        })
    }

    /// GETs `path`; the body goes to `sink` (chunk by chunk); returns the status.
    fn get_into(&mut self, path: &str, sink: &mut dyn FnMut(&[u8])) -> Result<u16> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.exchange(req.as_bytes(), path, sink)
    }

    /// Sends `req` (`form`: a POST body, else a GET) with `extra` header lines.
    fn send_into(
        &mut self,
        path: &str,
        form: Option<&str>,
        extra: &str,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u16> {
        let host = &self.addr;
        let req = match form {
            Some(body) => format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n"),
        };
        self.exchange(req.as_bytes(), path, sink)
    }

    fn exchange(&mut self, req: &[u8], path: &str, sink: &mut dyn FnMut(&[u8])) -> Result<u16> {
        let sent = Instant::now();
        self.r.get_mut().write_all(req)?;
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        self.ttfb = sent.elapsed();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse().ok();
                } else if k == "transfer-encoding" && v.contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        if chunked {
            loop {
                line.clear();
                self.r.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
                if n == 0 {
                    line.clear();
                    self.r.read_line(&mut line)?;
                    break;
                }
                let mut left = n;
                while left > 0 {
                    let k = left.min(buf.len());
                    self.r.read_exact(&mut buf[..k])?;
                    sink(&buf[..k]);
                    left -= k;
                }
                let mut crlf = [0u8; 2];
                self.r.read_exact(&mut crlf)?;
            }
        } else {
            let mut left = length.ok_or_else(|| anyhow!("no content-length on {path}"))?;
            while left > 0 {
                let k = left.min(buf.len());
                self.r.read_exact(&mut buf[..k])?;
                sink(&buf[..k]);
                left -= k;
            }
        }
        Ok(status)
    }

    fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>)> {
        let mut body = Vec::new();
        let status = self.get_into(path, &mut |b| body.extend_from_slice(b))?;
        Ok((status, body))
    }

    fn get_json(&mut self, path: &str) -> Result<serde_json::Value> {
        let (status, body) = self.get(path)?;
        if status != 200 {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// One measured case: latencies, request count and wall time over all clients.
struct Case {
    label: String,
    h: Histogram<u64>,
    n: u64,
    elapsed: Duration,
    note: String,
}

impl Case {
    fn ms(&self, q: f64) -> f64 {
        self.h.value_at_quantile(q) as f64 / 1000.0
    }
    fn line(&self) -> String {
        format!(
            "{:<58} p50 {:>8.3} ms  p99 {:>8.3} ms  {:>8.0} q/s  ({} requests{})",
            self.label,
            self.ms(0.5),
            self.ms(0.99),
            self.n as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.n,
            self.note
        )
    }
}

/// `clients` threads, each on its own connection, GETting `path(i)` for `secs`; every answer
/// must be 200.
fn http_case(
    addr: &str,
    label: &str,
    clients: usize,
    secs: f64,
    path: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> Result<Case> {
    let req: Arc<Request> = Arc::new(move |i| (path(i), None));
    requests_case(addr, label, clients, secs, req, false)
}

/// Request `i` of a case: its path, and a form body for a POST.
type Request = dyn Fn(u64) -> (String, Option<String>) + Send + Sync;

/// Like [`http_case`] for any requests; `first_byte` records the time to the status line
/// instead of the whole response.
fn requests_case(
    addr: &str,
    label: &str,
    clients: usize,
    secs: f64,
    path: Arc<Request>,
    first_byte: bool,
) -> Result<Case> {
    // Warm-up: one request per client.
    let handles: Vec<_> = (0..clients)
        .map(|t| {
            let (addr, path) = (addr.to_string(), path.clone());
            std::thread::spawn(move || -> Result<(Histogram<u64>, u64)> {
                let mut c = Client::connect(&addr)?;
                let (p, form) = path(t as u64);
                c.send_into(&p, form.as_deref(), "", &mut |_| {})?;
                let mut h = histogram();
                let deadline = Instant::now() + Duration::from_secs_f64(secs);
                let mut i = t as u64 * 7919;
                let mut n = 0;
                while Instant::now() < deadline {
                    let (p, form) = path(i);
                    let t0 = Instant::now();
                    let mut bytes = 0usize;
                    let status = c.send_into(&p, form.as_deref(), "", &mut |b| bytes += b.len())?;
                    record(&mut h, if first_byte { c.ttfb } else { t0.elapsed() });
                    if status != 200 {
                        bail!("GET {p}: {status}");
                    }
                    n += 1;
                    i += 1;
                }
                Ok((h, n))
            })
        })
        .collect();
    let started = Instant::now();
    let mut case = Case {
        label: label.to_string(),
        h: histogram(),
        n: 0,
        elapsed: Duration::ZERO,
        note: String::new(),
    };
    for h in handles {
        let (hist, n) = h.join().map_err(|_| anyhow!("a client panicked"))??;
        let _ = case.h.add(&hist);
        case.n += n;
    }
    case.elapsed = started.elapsed();
    Ok(case)
}

async fn grpc_case(url: &str, text: &str, clients: usize, secs: f64) -> Result<Case> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ch = tonic::transport::Channel::from_shared(url.to_string())?
            .connect()
            .await?;
        let text = text.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = w::directory_client::DirectoryClient::new(ch);
            // A result list's view, as the HTTP list it is compared with is one.
            let req = w::SearchRequest {
                text,
                page_size: 50,
                view: w::HitView::Summary as i32,
                ..Default::default()
            };
            let _ = c.search(req.clone()).await?;
            let mut h = histogram();
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let mut n = 0u64;
            let mut total = 0;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                total = c.search(req.clone()).await?.into_inner().total_hits;
                record(&mut h, t0.elapsed());
                n += 1;
            }
            Ok::<_, anyhow::Error>((h, n, total))
        }));
    }
    let started = Instant::now();
    let mut case = Case {
        label: format!("gRPC Directory.Search{{text: {text:?}}} (page 50, view SUMMARY)"),
        h: histogram(),
        n: 0,
        elapsed: Duration::ZERO,
        note: String::new(),
    };
    for t in tasks {
        let (h, n, total) = t.await??;
        let _ = case.h.add(&h);
        case.n += n;
        case.note = format!(", {total} hits");
    }
    case.elapsed = started.elapsed();
    Ok(case)
}

fn main() -> Result<()> {
    let a = args()?;
    println!(
        "http-bench: {} generated courses (seed {}), {} clients, {:.0} s per case; load average at start: {}",
        a.courses,
        a.seed,
        a.clients,
        a.secs,
        loadavg()
    );
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("node");
    let (bundle, store) = load_directory(&data, ORIGIN, a.seed, a.courses)?;
    drop(store);
    let (node, addr) = start_node(
        a.node_bin,
        &data,
        ORIGIN,
        &tmp.path().join("node.log"),
        "warn",
    )?;
    let pid = node.0.id();

    let mut c = Client::connect(&addr)?;
    let total = c.get_json("/services?per_page=1")?["total_items"]
        .as_u64()
        .unwrap_or(0);
    let pages = total.div_ceil(50).max(1);
    println!("/services total_items {total}: {pages} pages of 50");
    let digital = prospectus_oruk::all_terms()
        .into_iter()
        .find(|t| t.taxonomy.key == prospectus_oruk::CATEGORY.key && t.key == "digital")
        .map(|t| t.id())
        .ok_or_else(|| anyhow!("no digital category term"))?;
    let ids: Arc<Vec<String>> = Arc::new(bundle.courses.iter().map(|c| c.id.to_string()).collect());

    let fixed =
        |p: String| -> Arc<dyn Fn(u64) -> String + Send + Sync> { Arc::new(move |_| p.clone()) };
    let mid = pages / 2;
    let mut cases = Vec::new();
    let mut run = |label: &str, path: Arc<dyn Fn(u64) -> String + Send + Sync>| -> Result<()> {
        let case = http_case(&addr, label, a.clients, a.secs, path)?;
        println!("{}", case.line());
        cases.push(case);
        Ok(())
    };
    run(
        "/services?per_page=50 page 1",
        fixed("/services?per_page=50&page=1".into()),
    )?;
    run(
        &format!("/services?per_page=50 page {mid} (middle)"),
        fixed(format!("/services?per_page=50&page={mid}")),
    )?;
    run(
        &format!("/services?per_page=50 page {pages} (last)"),
        fixed(format!("/services?per_page=50&page={pages}")),
    )?;
    run(
        "/services?search=digital",
        fixed("/services?search=digital".into()),
    )?;
    run(
        "/services?search=digital page 20",
        fixed("/services?search=digital&page=20".into()),
    )?;
    run(
        "/services?taxonomy_term_id=<digital>",
        fixed(format!("/services?taxonomy_term_id={digital}")),
    )?;
    run(
        "/service_at_locations?postcode=SE15&proximity=2000",
        fixed("/service_at_locations?postcode=SE15&proximity=2000".into()),
    )?;
    let by_id = ids.clone();
    run(
        "/services/{id} (random ids)",
        Arc::new(move |i| {
            let k = (i.wrapping_mul(2_654_435_761) % by_id.len().max(1) as u64) as usize;
            format!("/services/{}", by_id[k])
        }),
    )?;

    // Directory.Search for the same words, same run.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let grpc = rt.block_on(grpc_case(
        &format!("http://{addr}"),
        "digital",
        a.clients,
        a.secs,
    ))?;
    println!("{}", grpc.line());

    // NDJSON of every course, with the node's RSS sampled while it streams.
    let rss_before = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t0 = Instant::now();
    let (mut lines, mut bytes) = (0usize, 0usize);
    let mut c = Client::connect(&addr)?;
    let status = c.get_into("/services?format=ndjson", &mut |b| {
        lines += b.iter().filter(|x| **x == b'\n').count();
        bytes += b.len();
    })?;
    let took = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let growth_mb = peak.load(Ordering::Relaxed).saturating_sub(rss_before) as f64 / 1024.0;
    println!(
        "/services?format=ndjson: status {status}, {lines} lines, {} MB in {:.2} s; node RSS {} MB before, growth {:.1} MB at peak",
        bytes / 1_000_000,
        took.as_secs_f64(),
        rss_before / 1024,
        growth_mb
    );

    // The RPDE feed paged to the end, one client.
    let mut feed = Case {
        label: "/feeds/services paged to the end (500 a page)".into(),
        h: histogram(),
        n: 0,
        elapsed: Duration::ZERO,
        note: String::new(),
    };
    let started = Instant::now();
    let mut path = "/feeds/services".to_string();
    let mut items = 0usize;
    loop {
        let t0 = Instant::now();
        let page = c.get_json(&path)?;
        record(&mut feed.h, t0.elapsed());
        feed.n += 1;
        let n = page["items"].as_array().map_or(0, Vec::len);
        items += n;
        if n == 0 {
            break;
        }
        let next = page["next"].as_str().unwrap_or("").to_string();
        path = next
            .find("/feeds/")
            .map(|i| next[i..].to_string())
            .ok_or_else(|| anyhow!("bad next {next:?}"))?;
    }
    feed.elapsed = started.elapsed();
    feed.note = format!(", {items} items in {:.1} s", feed.elapsed.as_secs_f64());
    println!("{}", feed.line());

    // The link worker's page: time to first byte, and what a results page weighs.
    let page_cases: Vec<(&str, Arc<Request>)> = vec![
        (
            "page GET /find?q=digital&postcode=SE15&time=not-mornings",
            Arc::new(|_| {
                (
                    "/find?q=digital&postcode=SE15&time=not-mornings".into(),
                    None,
                )
            }),
        ),
        (
            "page POST /find q=digital + a client (evaluated)",
            Arc::new(|_| {
                (
                    "/find".into(),
                    Some("q=digital&client_age=41&client_benefits=uc-looking".into()),
                )
            }),
        ),
        ("page GET /find/course/{id} (random ids)", {
            let ids = ids.clone();
            Arc::new(move |i| {
                let k = (i.wrapping_mul(2_654_435_761) % ids.len().max(1) as u64) as usize;
                (format!("/find/course/{}", ids[k]), None)
            })
        }),
        (
            "page GET /find/overview",
            Arc::new(|_| ("/find/overview".into(), None)),
        ),
    ];
    for (label, req) in page_cases {
        let case = requests_case(
            &addr,
            &format!("{label} TTFB"),
            a.clients,
            a.secs,
            req,
            true,
        )?;
        println!("{}", case.line());
    }
    let mut weigh = |path: &str, extra: &str| -> Result<usize> {
        let mut n = 0usize;
        let status = c.send_into(path, None, extra, &mut |b| n += b.len())?;
        if status != 200 {
            bail!("GET {path}: {status}");
        }
        Ok(n)
    };
    let assets = [
        "/find/assets/nhsuk-frontend.min.css",
        "/find/assets/app.css",
        "/find/assets/nhsuk-frontend.min.js",
        "/find/assets/app.js",
    ];
    let results = "/find?q=digital&postcode=SE15";
    for (how, extra) in [("uncompressed", ""), ("gzip", "Accept-Encoding: gzip\r\n")] {
        let html = weigh(results, extra)?;
        let mut rest = 0;
        for a in assets {
            rest += weigh(a, extra)?;
        }
        println!(
            "results page weight, {how}: HTML {:.1} kB + CSS/JS {:.1} kB = {:.1} kB",
            html as f64 / 1000.0,
            rest as f64 / 1000.0,
            (html + rest) as f64 / 1000.0
        );
    }

    println!();
    println!("== targets");
    let list_p99 = cases
        .iter()
        .filter(|c| !c.label.starts_with("/services/{id}"))
        .map(|c| c.ms(0.99))
        .fold(0.0, f64::max);
    println!("every list p99 <= 15 ms: worst {list_p99:.3} ms");
    let (first, last) = (&cases[0], &cases[2]);
    println!(
        "last page within ±20 % of the first: p50 {:.3} vs {:.3} ms ({:+.0} %)",
        last.ms(0.5),
        first.ms(0.5),
        (last.ms(0.5) / first.ms(0.5).max(1e-9) - 1.0) * 100.0
    );
    println!("by-id p99 <= 3 ms: {:.3} ms", cases[7].ms(0.99));
    println!("ndjson RSS growth <= 20 MB: {growth_mb:.1} MB");
    println!(
        "node RSS at the end {} MB (peak {} MB); load average at end: {}",
        proc_status_kb(pid, "VmRSS:").unwrap_or(0) / 1024,
        proc_status_kb(pid, "VmHWM:").unwrap_or(0) / 1024,
        loadavg()
    );
    drop(node);
    Ok(())
}
