//! Test harness: real `prospectus` processes on loopback with real on-disk stores.
//! Every process is killed when its guard drops; every wait polls with a deadline.
#![allow(dead_code)]

use prospectus_model::{Record, Uuid};
use prospectus_proto::v1 as w;
use prospectus_proto::v1::admin_client::AdminClient;
use prospectus_proto::v1::directory_client::DirectoryClient;
use prospectus_proto::v1::publisher_client::PublisherClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub mod rogue;

pub const BIN: &str = env!("CARGO_BIN_EXE_prospectus");
pub const SOUTHWARK: &str = "E09000028";
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `f` until it yields `Some`, or panics with `what` after `DEADLINE`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A node process. Killed (SIGKILL) on drop.
pub struct Node {
    pub dir: PathBuf,
    pub borough: String,
    pub listen: String,
    pub extra: Vec<String>,
    /// CA to trust when the node serves TLS (clients then use https://localhost:PORT).
    pub ca: Option<PathBuf>,
    child: Option<Child>,
    pub addr: String,
    /// The node's `RUST_LOG`.
    pub log_filter: &'static str,
}

impl Node {
    pub fn start(dir: &Path, borough: &str) -> Node {
        Self::start_with(dir, borough, &[])
    }

    pub fn start_with(dir: &Path, borough: &str, extra: &[&str]) -> Node {
        Self::start_on(dir, borough, "127.0.0.1:0", extra)
    }

    /// Starts on a fixed address (federation tests need endpoints known in the roster).
    pub fn start_on(dir: &Path, borough: &str, listen: &str, extra: &[&str]) -> Node {
        let mut n = Node {
            dir: dir.to_path_buf(),
            borough: borough.to_string(),
            listen: listen.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ca: extra
                .iter()
                .position(|a| *a == "--federation-ca")
                .and_then(|i| extra.get(i + 1))
                .map(PathBuf::from),
            child: None,
            addr: String::new(),
            log_filter: "info",
        };
        n.spawn();
        n
    }

    /// A node logging everything (`RUST_LOG=trace`), for tests that read its whole log.
    pub fn start_traced(dir: &Path, borough: &str) -> Node {
        let mut n = Self::start(dir, borough);
        n.log_filter = "trace";
        n.restart();
        n
    }

    fn log_path(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let addr_file = self.dir.join("node.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("--listen")
            .arg(&self.listen)
            .arg("--borough")
            .arg(&self.borough)
            .args(&self.extra)
            .env("RUST_LOG", self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn prospectus");
        let addr = wait_for("node.addr", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("node exited early with {status}:\n{}", self.log());
            }
            std::fs::read_to_string(&addr_file)
                .ok()
                .map(|s| s.trim().to_string())
        });
        self.child = Some(child);
        self.addr = addr;
    }

    /// The node's URL. With TLS on 127.0.0.1 it names `localhost` (the tests' certificates
    /// carry that name); on a [`unique_addr`] the IP itself, which those certificates carry.
    pub fn url(&self) -> String {
        match (&self.ca, self.addr.strip_prefix("127.0.0.1:")) {
            (Some(_), Some(port)) => format!("https://localhost:{port}"),
            (Some(_), None) => format!("https://{}", self.addr),
            (None, _) => format!("http://{}", self.addr),
        }
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin-token"))
            .expect("admin token")
            .trim()
            .to_string()
    }

    /// SIGKILL, no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM, then waits (polling, with the deadline) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        wait_for("node to exit after SIGTERM", || c.try_wait().ok().flatten())
    }

    /// Sends SIGHUP (what `systemctl reload` sends): the node re-reads its roster.
    pub fn sighup(&self) {
        let c = self.child.as_ref().expect("running");
        let ok = Command::new("kill")
            .arg("-HUP")
            .arg(c.id().to_string())
            .status()
            .expect("kill -HUP");
        assert!(ok.success(), "kill -HUP failed");
    }

    /// The sum of the node's `/metrics` samples of `metric` whose labels contain `labels`
    /// (`None`: no such sample).
    pub fn metric(&self, metric: &str, labels: &str) -> Option<f64> {
        let (code, text) = http_get(&self.addr, "/metrics");
        assert_eq!(code, 200, "/metrics");
        text.lines()
            .filter(|l| {
                l.strip_prefix(metric)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                    && l.contains(labels)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    }

    /// Starts again after `kill9` (same data dir, flags and address).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    pub async fn status(&self) -> w::StatusResponse {
        self.admin()
            .await
            .status(bearer(w::StatusRequest {}, &self.admin_token()))
            .await
            .expect("status")
            .into_inner()
    }

    pub async fn channel(&self) -> Channel {
        prospectus_server::client::connect(&self.url(), self.ca.as_deref())
            .await
            .expect("connect")
    }

    pub async fn directory(&self) -> DirectoryClient<Channel> {
        DirectoryClient::new(self.channel().await)
    }

    pub async fn publisher(&self) -> PublisherClient<Channel> {
        PublisherClient::new(self.channel().await)
            .max_encoding_message_size(64 << 20)
            .max_decoding_message_size(64 << 20)
    }

    pub async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel().await)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn bearer<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    r
}

pub fn op(r: &Record) -> w::PublishOp {
    prospectus_proto::publish_op(r)
}

pub fn bundle_records(b: &prospectus_dataset::Bundle) -> Vec<Record> {
    let mut out: Vec<Record> = b.providers.iter().cloned().map(Record::Provider).collect();
    out.extend(b.venues.iter().cloned().map(Record::Venue));
    out.extend(b.courses.iter().cloned().map(Record::Course));
    out
}

/// Publishes `ops` as one streamed batch in chunks of 500.
pub async fn publish_batch(
    client: &mut PublisherClient<Channel>,
    token: &str,
    key: &str,
    ops: Vec<w::PublishOp>,
) -> Result<w::PublishReceipt, tonic::Status> {
    let chunks: Vec<w::PublishBatchChunk> = ops
        .chunks(500)
        .enumerate()
        .map(|(i, c)| w::PublishBatchChunk {
            idempotency_key: if i == 0 {
                key.to_string()
            } else {
                String::new()
            },
            ops: c.to_vec(),
        })
        .collect();
    client
        .publish_batch(bearer(futures::stream::iter(chunks), token))
        .await
        .map(|r| r.into_inner())
}

pub fn get_req(id: Uuid) -> w::GetRequest {
    w::GetRequest {
        id: id.to_string(),
        learner: None,
    }
}

/// Field paths of a status's `google.rpc.BadRequest` details.
pub fn violations(s: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    s.get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// A loopback address that no other process can take between its allocation and the node's
/// bind, nor during a restart: its own `127.a.b.c` (all of 127/8 is loopback on Linux), and a
/// port below the kernel's ephemeral range, so nothing that binds port 0 can ever be handed it.
/// `a.b` and the port come from this test process's pid, `c` from a per-process counter; a
/// candidate some other process already holds is skipped.
pub fn unique_addr() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ip = std::net::Ipv4Addr::new(127, (pid >> 8) as u8, pid as u8, (n % 250 + 2) as u8);
        // 17000..=21095: below 32768, where the ephemeral range starts by default.
        let port = 17000 + ((pid >> 16) & 0x3f) as u16 * 64 + (n / 250) as u16;
        let addr = std::net::SocketAddr::from((ip, port));
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
        assert!(n < 10_000, "no free loopback address found");
    }
}

/// Boroughs used by federation tests, in roster order.
pub const BOROUGHS: [&str; 5] = [
    "E09000028",
    "E09000025",
    "E09000012",
    "E09000022",
    "E09000030",
];

/// Keys, addresses and a roster for `n` boroughs; nodes are started by the test. Each member
/// has its own [`unique_addr`], written into the roster before any node starts.
pub struct Fleet {
    pub root: PathBuf,
    pub roster: PathBuf,
    pub addrs: Vec<std::net::SocketAddr>,
}

impl Fleet {
    pub fn new(root: &Path, n: usize) -> Fleet {
        let mut roster = String::new();
        let mut addrs = Vec::new();
        for (i, b) in BOROUGHS.iter().take(n).enumerate() {
            let addr = unique_addr();
            let (key, _) =
                prospectus_server::NodeKey::load_or_create(&root.join(format!("key-{i}")))
                    .expect("key");
            roster.push_str(&format!(
                "[[member]]\norigin = \"{b}\"\nname = \"Borough {i}\"\nendpoint = \"http://{addr}\"\n[[member.keys]]\npublic_key = \"{}\"\n\n",
                key.public_hex()
            ));
            addrs.push(addr);
        }
        let path = root.join("roster.toml");
        std::fs::write(&path, roster).expect("roster");
        Fleet {
            root: root.to_path_buf(),
            roster: path,
            addrs,
        }
    }

    pub fn dir(&self, i: usize) -> PathBuf {
        self.root.join(format!("node-{i}"))
    }

    /// Starts member `i` with the roster (peers: every other member) plus `extra` flags.
    pub fn start(&self, i: usize, extra: &[&str]) -> Node {
        let key = self.root.join(format!("key-{i}"));
        let mut args = vec![
            "--roster",
            self.roster.to_str().expect("path"),
            "--key",
            key.to_str().expect("path"),
        ];
        args.extend_from_slice(extra);
        Node::start_on(&self.dir(i), BOROUGHS[i], &self.addrs[i].to_string(), &args)
    }
}

/// Polls a node's status until `f` holds, or panics after the deadline with the last status.
pub async fn wait_status(
    node: &Node,
    what: &str,
    f: impl Fn(&w::StatusResponse) -> bool,
) -> w::StatusResponse {
    let start = Instant::now();
    loop {
        let s = node.status().await;
        if f(&s) {
            return s;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; last status: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True when `s` holds `origin` at exactly `head` with its checkpoint verified.
pub fn converged(s: &w::StatusResponse, origin: &str, head: (u64, u64)) -> bool {
    s.origins.iter().any(|o| {
        o.origin == origin && (o.epoch, o.seq) == head && o.checkpoint_verified && !o.diverged
    })
}

pub async fn head_of(node: &Node) -> (u64, u64) {
    let i = node
        .admin()
        .await
        .node_info(bearer(w::NodeInfoRequest {}, &node.admin_token()))
        .await
        .expect("info")
        .into_inner();
    (i.epoch, i.seq)
}

/// Async `wait_for`: polls `f` until it yields `Some`, or panics after the deadline.
pub async fn wait_for_async<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain HTTP/1.1 GET on a node's port (HTTP shares it with gRPC): status and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let r = http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// An HTTP response as read off the socket: status, headers (names lower-cased) and the body
/// (de-chunked, not decompressed).
pub struct HttpResp {
    pub status: u16,
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A form POST (`application/x-www-form-urlencoded`).
pub fn http_post_form(addr: &str, path: &str, body: &str) -> HttpResp {
    http_raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// Sends `request` (a whole HTTP/1.1 request, which should say `Connection: close`) and
/// reads the response to the end.
pub fn http_raw(addr: &str, request: &[u8]) -> HttpResp {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(request).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    parse_http(&raw)
}

pub fn parse_http(raw: &[u8]) -> HttpResp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
            let size = String::from_utf8_lossy(&body[..eol]).into_owned();
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&body[eol + 2..eol + 2 + n]);
            body = &body[eol + 2 + n + 2..];
        }
        out
    } else {
        body.to_vec()
    };
    HttpResp {
        status,
        headers,
        body,
    }
}

/// Writes a private key file as an admin must: readable by its owner only (mode 0600); the
/// node refuses to start with a TLS key that others can read.
pub fn write_secret(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write private key file");
}

/// A test CA and a node certificate it signed for `names`, written into `dir` (the key
/// private): the paths of the certificate, its key and the CA.
pub fn tls_files(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("key"))
            .expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params")
            .signed_by(&key, &*ca)
            .expect("certificate");
    let (cert_path, key_path, ca_path) = (
        dir.join("node.crt"),
        dir.join("node.key.pem"),
        dir.join("ca.crt"),
    );
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    write_secret(&key_path, key.serialize_pem().as_bytes());
    std::fs::write(&ca_path, ca.pem()).expect("write CA");
    (cert_path, key_path, ca_path)
}

/// `n` generated courses (with their providers and venues) of `borough`.
pub fn bundle(seed: u64, n: usize, borough: &str) -> prospectus_dataset::Bundle {
    prospectus_dataset::generate(seed, n, Some(borough)).expect("generate")
}

/// Publishes `records` as one batch, retrying while the node answers `UNAVAILABLE` (a node that
/// has just started waits to hear from a peer before publishing), up to the deadline.
pub async fn publish_when_ready(
    node: &Node,
    key: &str,
    records: &[Record],
) -> Result<w::PublishReceipt, tonic::Status> {
    let ops: Vec<w::PublishOp> = records.iter().map(op).collect();
    let start = Instant::now();
    loop {
        match publish_batch(
            &mut node.publisher().await,
            &node.admin_token(),
            key,
            ops.clone(),
        )
        .await
        {
            Err(s) if s.code() == tonic::Code::Unavailable && start.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            r => return r,
        }
    }
}

/// The course `id` as `node` serves it, or the gRPC code it answers with.
pub async fn course_at(node: &Node, id: Uuid) -> Result<prospectus_model::Course, tonic::Code> {
    use prospectus_proto::FromWire;
    match node.directory().await.get_course(get_req(id)).await {
        Ok(v) => Ok(prospectus_model::Course::from_wire(
            v.into_inner().course.as_ref().expect("course"),
        )
        .expect("decode")),
        Err(s) => Err(s.code()),
    }
}

/// Polls `node`'s federation heads until `origin`'s floor reaches `seq`: its tombstones up to
/// there are purged, so a peer whose cursor is below can only re-sync by a snapshot.
pub async fn wait_for_floor(node: &Node, origin: &str, seq: u64) {
    let fed = prospectus_proto::v1::federation_client::FederationClient::new(node.channel().await);
    wait_for_async(|| {
        let mut fed = fed.clone();
        async move {
            let h = fed
                .get_heads(w::GetHeadsRequest::default())
                .await
                .ok()?
                .into_inner();
            h.heads
                .iter()
                .any(|h| h.origin == origin && h.floor_seq >= seq)
                .then_some(())
        }
    })
    .await;
}
