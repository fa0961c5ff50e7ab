//! Transport policy through the real binary: plaintext `http://` to a non-loopback host is
//! refused by the CLI and for peer links unless `--insecure-dev`, before anything connects.
//! (The hosts are in the reserved `.example` domain and TEST-NET; nothing here connects to
//! anything but loopback: the refusal comes first.)

mod common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run prospectus");
    (o, t.elapsed())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_cli_refuses_plaintext_to_a_non_loopback_node_before_connecting() {
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "not-a-real-token\n").unwrap();
    let token = token.to_str().unwrap();
    for args in [
        vec![
            "info",
            "--node",
            "http://node.example:7400",
            "--token-file",
            token,
        ],
        vec![
            "status",
            "--node",
            "http://192.0.2.1:7400",
            "--token-file",
            token,
        ],
        vec![
            "search",
            "--node",
            "http://[2001:db8::1]:7400",
            "--text",
            "maths",
        ],
    ] {
        let (o, took) = run(&args);
        assert!(!o.status.success(), "{args:?} must fail: {}", text(&o));
        assert!(
            text(&o).contains("refusing plaintext http://"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(
            took < Duration::from_secs(5),
            "{args:?} took {took:?}: it must not try to connect"
        );
    }
}

#[test]
fn a_node_refuses_to_start_with_a_plaintext_peer_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let (o, _) = run(&[
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--borough",
        SOUTHWARK,
        "--peer",
        "http://node.example:7400",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("refusing plaintext http://"), "{t}");
    assert!(t.contains("node.example"), "{t}");
    assert!(
        !dir.join("node.addr").exists(),
        "the node must not have started"
    );

    // Loopback peers stay allowed without --insecure-dev (the federation tests rely on it).
    let node = Node::start_with(&dir, SOUTHWARK, &["--peer", "http://127.0.0.1:9"]);
    assert!(!node.addr.is_empty());
}
