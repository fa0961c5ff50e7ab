//! The node as clients of every kind find it from outside: Python's gRPC stack (C-core, with
//! its 16 kB metadata limit and reflection v1alpha only), a Rust client held to the same 16 kB,
//! and raw bytes that are not protobuf at all. Every bad request gets a short
//! `INVALID_ARGUMENT` naming the field, never `RESOURCE_EXHAUSTED` or `INTERNAL`.

mod common;

use common::*;
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;
use std::path::{Path, PathBuf};
use std::process::Command;
use tonic::transport::{Channel, Endpoint};

/// What C-core clients accept by default: 16 kB of metadata (8 kB soft limit).
const C_CORE_METADATA: u32 = 16 * 1024;
/// What every error status here must stay under, message and details together.
const SHORT: usize = 8 * 1024;
const MB: usize = 1 << 20;

/// The requests every client kind sends, as (name, method path, field it must name, messages).
fn hostile_requests() -> Vec<(&'static str, &'static str, &'static str, Vec<Vec<u8>>)> {
    use prost::Message;
    let data = bundle(5, 1, SOUTHWARK);
    let search = w::SearchRequest {
        postcode: "SE15".repeat(MB / 4),
        ..Default::default()
    };
    let mut course = data.courses[0].clone();
    course.title = "x".repeat(MB);
    let mut venue = data
        .venues
        .iter()
        .find(|v| v.address.is_some())
        .expect("a physical venue")
        .clone();
    if let Some(a) = venue.address.as_mut() {
        a.postcode = "SE15 4QF".repeat(MB / 8);
    }
    // 5,000 ops, each with a long bad id and every required field missing.
    let bad_op = w::PublishOp {
        op: Some(w::publish_op::Op::Course(w::Course {
            id: "not-a-uuid-".repeat(40),
            ..Default::default()
        })),
    };
    let chunks: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            w::PublishBatchChunk {
                idempotency_key: if i == 0 {
                    "bad-5000".into()
                } else {
                    String::new()
                },
                ops: vec![bad_op.clone(); 500],
            }
            .encode_to_vec()
        })
        .collect();
    vec![
        (
            "search with a 1 MB postcode",
            "/prospectus.v1.Directory/Search",
            "postcode",
            vec![search.encode_to_vec()],
        ),
        (
            "course with a 1 MB title",
            "/prospectus.v1.Publisher/UpsertCourse",
            "title",
            vec![course.to_wire().encode_to_vec()],
        ),
        (
            "venue with a 1 MB postcode",
            "/prospectus.v1.Publisher/UpsertVenue",
            "address.postcode",
            vec![venue.to_wire().encode_to_vec()],
        ),
        (
            "batch of 5,000 invalid ops",
            "/prospectus.v1.Publisher/PublishBatch",
            "ops[0].course",
            chunks,
        ),
    ]
}

/// A Python with grpcio and grpcio-reflection: the venv `.ci/run` makes under the target dir,
/// made here from PyPI if absent. `None` (the test is skipped, saying so) only without python3.
fn python_grpc() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; the Python gRPC client checks did not run");
        return None;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-grpc");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import grpc, grpc_reflection.v1alpha"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready() {
        let o = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 -m venv");
        assert!(
            o.status.success(),
            "python3 -m venv failed (on Debian: apt-get install python3-venv): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "-q",
                "grpcio>=1.85,<2",
                "grpcio-reflection>=1.85,<2",
            ])
            .output()
            .expect("pip");
        assert!(
            o.status.success(),
            "pip install grpcio grpcio-reflection failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(ready(), "grpcio installed but not importable");
    }
    Some(python)
}

#[test]
fn python_grpc_lists_services_by_reflection_v1alpha_and_reads_every_error() {
    let Some(python) = python_grpc() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut calls = Vec::new();
    for (i, (name, method, field, bodies)) in hostile_requests().into_iter().enumerate() {
        let files: Vec<String> = bodies
            .iter()
            .enumerate()
            .map(|(j, b)| {
                let p = tmp.path().join(format!("req-{i}-{j}.bin"));
                std::fs::write(&p, b).unwrap();
                p.display().to_string()
            })
            .collect();
        calls.push(serde_json::json!({
            "name": name, "method": method, "field": field,
            "stream": method.ends_with("PublishBatch"), "files": files,
        }));
    }
    let spec = tmp.path().join("spec.json");
    let spec_json = serde_json::json!({
        "addr": node.addr, "token": node.admin_token(), "calls": calls,
    });
    std::fs::write(&spec, spec_json.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/grpc_probe.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(&spec)
        .output()
        .expect("run the Python probe");
    assert!(
        o.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("probe JSON");

    let services: Vec<&str> = out["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for want in [
        "prospectus.v1.Directory",
        "prospectus.v1.Publisher",
        "prospectus.v1.Admin",
        "prospectus.v1.Federation",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&want), "{want} missing from {services:?}");
    }

    for (call, spec) in out["calls"].as_array().expect("calls").iter().zip(&calls) {
        let name = &spec["name"];
        let field = spec["field"].as_str().unwrap();
        assert_eq!(call["code"], "INVALID_ARGUMENT", "{name}: {call}");
        let details = call["details"].as_str().unwrap_or("");
        assert!(
            details.contains(field),
            "{name}: {field} not named: {details}"
        );
        assert!(
            call["trailer_bytes"]
                .as_u64()
                .is_some_and(|n| n < SHORT as u64),
            "{name}: {call}"
        );
        assert_eq!(call["bad_request"], true, "{name}: no field violations");
        eprintln!("{name}: {} bytes of trailers", call["trailer_bytes"]);
    }
    // "N invalid fields, first ops[0].course.id: …": every op's problems are counted.
    let batch = out["calls"][3]["details"].as_str().unwrap_or("");
    let counted: usize = batch
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        counted >= 5000,
        "the batch error counts every problem: {batch}"
    );
}

/// A channel that, like C-core, refuses more than 16 kB of response headers or trailers.
async fn limited(node: &Node) -> Channel {
    Endpoint::from_shared(node.url())
        .unwrap()
        .http2_max_header_list_size(C_CORE_METADATA)
        .connect()
        .await
        .expect("connect")
}

/// Raw bytes in, raw bytes out: what a client that is not prost can send.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        let v = buf.copy_to_bytes(buf.remaining()).to_vec();
        Ok(Some(v))
    }
}

/// Sends `messages` (one, or a stream for PublishBatch) as raw gRPC frames to `method`.
async fn raw_call(
    ch: Channel,
    token: &str,
    method: &'static str,
    messages: Vec<Vec<u8>>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut g = tonic::client::Grpc::new(ch)
        .max_encoding_message_size(64 * MB)
        .max_decoding_message_size(64 * MB);
    g.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    if method.ends_with("PublishBatch") {
        let req = bearer(futures::stream::iter(messages), token);
        g.client_streaming(req, path, RawCodec)
            .await
            .map(|r| r.into_inner())
    } else {
        let body = messages.into_iter().next().unwrap_or_default();
        g.unary(bearer(body, token), path, RawCodec)
            .await
            .map(|r| r.into_inner())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_limited_to_16_kb_of_metadata_reads_every_error_with_its_field() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let token = node.admin_token();
    for (name, method, field, bodies) in hostile_requests() {
        let s = raw_call(limited(&node).await, &token, method, bodies)
            .await
            .expect_err(name);
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{name}: {s:?}");
        assert!(s.message().contains(field), "{name}: {}", s.message());
        let size = s.message().len() + s.details().len();
        assert!(size < SHORT, "{name}: {size} bytes of status");
        let v = violations(&s);
        assert!(
            !v.is_empty() && v.len() <= 11,
            "{name}: {} violations",
            v.len()
        );
        eprintln!("{name}: {size} bytes, {} violations", v.len());
    }
    // Nothing of the bad batch landed.
    let mut d = node.directory().await;
    let r = d
        .search(w::SearchRequest::default())
        .await
        .expect("search")
        .into_inner();
    assert_eq!(r.total_hits, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_protobuf_are_invalid_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let token = node.admin_token();
    // Field 99 as a start-group, nested past prost's recursion limit (100).
    let deep: Vec<u8> = std::iter::repeat_n([0x9b_u8, 0x06], 150)
        .flatten()
        .collect();
    let probes: [(&str, Vec<u8>); 5] = [
        // A tag varint whose continuation bit promises a byte that never comes.
        ("truncated varint", vec![0x30, 0xff]),
        // SearchRequest.text (field 1, string) holding bytes that are not UTF-8.
        ("bad UTF-8", vec![0x0a, 0x02, 0xc3, 0x28]),
        // Field 1 (a string) sent as a varint.
        ("wrong wire type", vec![0x08, 0x01]),
        ("deep nesting", deep),
        // A length-delimited field claiming more bytes than the message has.
        ("length past the end", vec![0x0a, 0x7f, b'a']),
    ];
    for method in [
        "/prospectus.v1.Directory/Search",
        "/prospectus.v1.Publisher/UpsertCourse",
        "/prospectus.v1.Publisher/PublishBatch",
    ] {
        for (name, bytes) in &probes {
            let s = raw_call(node.channel().await, &token, method, vec![bytes.clone()])
                .await
                .expect_err(name);
            assert_eq!(
                s.code(),
                tonic::Code::InvalidArgument,
                "{method} {name}: {s:?}"
            );
            assert!(
                s.message().contains("did not decode") && s.message().len() < 300,
                "{method} {name}: {}",
                s.message()
            );
        }
    }
    // The node is unharmed.
    assert_eq!(
        node.directory()
            .await
            .search(w::SearchRequest::default())
            .await
            .expect("search after the probes")
            .into_inner()
            .total_hits,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1alpha_lists_the_services() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut c = ServerReflectionClient::new(node.channel().await);
    let mut stream = c
        .server_reflection_info(futures::stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = stream
        .message()
        .await
        .expect("stream")
        .and_then(|r| r.message_response)
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in ["prospectus.v1.Directory", "prospectus.v1.Publisher"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}
