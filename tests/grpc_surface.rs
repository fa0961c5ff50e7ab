//! The node's gRPC surface as a generic client sees it: reflection (what grpcurl uses), health,
//! and the TLS policy.

mod common;

use common::*;
use std::process::Command;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

async fn reflect(node: &Node, req: MessageRequest) -> MessageResponse {
    let mut c = ServerReflectionClient::new(node.channel().await);
    let mut stream = c
        .server_reflection_info(futures::stream::iter(vec![ServerReflectionRequest {
            host: String::new(),
            message_request: Some(req),
        }]))
        .await
        .expect("reflection call")
        .into_inner();
    stream
        .message()
        .await
        .expect("stream")
        .expect("one response")
        .message_response
        .expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_and_describes_the_services() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);

    let MessageResponse::ListServicesResponse(list) =
        reflect(&node, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "prospectus.v1.Directory",
        "prospectus.v1.Publisher",
        "prospectus.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    // grpcurl's `describe`: the file defining a symbol, decodable as a FileDescriptorProto.
    let MessageResponse::FileDescriptorResponse(fd) = reflect(
        &node,
        MessageRequest::FileContainingSymbol("prospectus.v1.Directory".into()),
    )
    .await
    else {
        panic!("expected a file descriptor");
    };
    use prost::Message;
    let files: Vec<prost_types::FileDescriptorProto> = fd
        .file_descriptor_proto
        .iter()
        .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).expect("descriptor"))
        .collect();
    let directory = files
        .iter()
        .flat_map(|f| f.service.iter())
        .find(|s| s.name() == "Directory")
        .expect("Directory service in descriptor");
    let methods: Vec<&str> = directory.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "GetCourse",
            "GetProvider",
            "GetVenue",
            "Search",
            "WatchChanges"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut h = tonic_health::pb::health_client::HealthClient::new(node.channel().await);
    let r = h
        .check(tonic_health::pb::HealthCheckRequest {
            service: "prospectus.v1.Directory".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[test]
fn plaintext_beyond_loopback_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--borough",
            SOUTHWARK,
            "--data-dir",
        ])
        .arg(tmp.path().join("n"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without TLS") && err.contains("--insecure-dev"),
        "{err}"
    );
}

#[test]
fn an_unknown_borough_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--borough",
            "E09999999",
            "--data-dir",
        ])
        .arg(tmp.path().join("n"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a London borough"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_grpc_and_refuses_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert_path, key_path, ca_path) = tls_files(tmp.path(), &["localhost"]);

    let node = Node::start_with(
        &tmp.path().join("node"),
        SOUTHWARK,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let port = node.addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");
    let ch = prospectus_server::client::connect(&url, Some(&ca_path))
        .await
        .expect("TLS connect");
    let r = prospectus_server::client::DirectoryClient::new(ch)
        .search(prospectus_proto::v1::SearchRequest::default())
        .await
        .expect("search over TLS");
    assert_eq!(r.into_inner().total_hits, 0);

    // A plaintext client gets no answer from a TLS port.
    let plain = tonic::transport::Channel::from_shared(node.url())
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        let r = prospectus_server::client::DirectoryClient::new(ch)
            .search(prospectus_proto::v1::SearchRequest::default())
            .await;
        assert!(r.is_err(), "plaintext must not be answered on a TLS port");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_node_cleanly_even_with_a_live_subscription_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut fed =
        prospectus_proto::v1::federation_client::FederationClient::new(node.channel().await);
    let mut stream = fed
        .subscribe(prospectus_proto::v1::PullRequest::default())
        .await
        .expect("subscribe")
        .into_inner();
    assert!(stream.message().await.expect("first item").is_some());
    let status = node.terminate();
    assert!(status.success(), "exit status {status}: {}", node.log());
    assert!(node.log().contains("shutting down"));
}
