//! Fan-out: each change reaches each node over one link. Real node processes on loopback: in
//! a mesh every origin is taken from the origin itself and each change arrives exactly once
//! per node; with the origin down its records still reach nodes three hops away through
//! relays; a peer chosen as a source that stops forwarding, trickles, or serves a history that
//! diverges from the origin's signed checkpoint is caught by another peer's signed checkpoint
//! and replaced; a change of what a link is asked for waits for the snapshot in progress on it.

mod common;
use common::rogue::genuine;

use common::rogue::{Rogue, hold};
use common::*;
use prospectus_proto::v1::{
    self as w, PullItem, federation_client::FederationClient, pull_item::Item,
};
use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;

fn url_of(fleet: &Fleet, i: usize) -> String {
    format!("http://{}", fleet.addrs[i])
}

fn link<'a>(s: &'a w::StatusResponse, url: &str) -> Option<&'a w::PeerStatus> {
    s.peers.iter().find(|p| p.url == url)
}

/// Whether the node's link to `url` takes entries of `origin` (is its chosen source).
fn takes(s: &w::StatusResponse, url: &str, origin: &str) -> bool {
    link(s, url).is_some_and(|p| p.entry_origins.iter().any(|o| o == origin))
}

/// `node` serves each of `courses` as published.
async fn serves(node: &Node, courses: &[prospectus_model::Course]) {
    for course in courses {
        assert_eq!(course_at(node, course.id).await.as_ref(), Ok(course));
    }
}

/// Every link of node `i` is up and takes entries of exactly its own peer's origin.
fn takes_each_origin_from_itself(fleet: &Fleet, i: usize, n: usize, s: &w::StatusResponse) -> bool {
    (0..n).filter(|j| *j != i).all(|j| {
        link(s, &url_of(fleet, j)).is_some_and(|p| {
            p.connected && !p.every_origin && p.entry_origins == vec![BOROUGHS[j].to_string()]
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_mesh_each_change_reaches_each_node_over_exactly_one_link() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 4;
    let fleet = Fleet::new(tmp.path(), n);
    let mut nodes = vec![fleet.start(0, &["--new-member"])];
    for i in 1..n {
        nodes.push(fleet.start(i, &[]));
    }
    for (i, node) in nodes.iter().enumerate() {
        wait_status(node, "each origin taken from the origin itself", |s| {
            takes_each_origin_from_itself(&fleet, i, n, s)
        })
        .await;
    }
    // What each link had received before the changes.
    let mut before: Vec<BTreeMap<String, u64>> = Vec::new();
    for node in &nodes {
        let s = node.status().await;
        before.push(
            s.peers
                .iter()
                .map(|p| (p.url.clone(), p.received))
                .collect(),
        );
    }
    // Every borough publishes a batch, then A a few single changes.
    let mut heads = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let data = bundle(70 + i as u64, 6, BOROUGHS[i]);
        let r = publish_when_ready(node, "batch", &data.into_records())
            .await
            .expect("publish");
        heads.push((r.epoch, r.last_seq));
    }
    let mut course = bundle(70, 6, BOROUGHS[0]).courses[0].clone();
    for k in 0..3 {
        course.title = format!("Changed {k}");
        let r = publish_when_ready(
            &nodes[0],
            &format!("change {k}"),
            &[prospectus_model::Record::Course(course.clone())],
        )
        .await
        .expect("publish");
        heads[0] = (r.epoch, r.last_seq);
    }
    // Received counts follow the apply (the store holds the entries a moment before the link
    // has counted them): wait until every link counted at least its origin's entries.
    let delivered = |i: usize, s: &w::StatusResponse, j: usize| {
        let url = url_of(&fleet, j);
        link(s, &url).map_or(0, |p| p.received) - before[i].get(&url).copied().unwrap_or(0)
    };
    for (i, node) in nodes.iter().enumerate() {
        let s = wait_status(node, "every origin's last checkpoint verified", |s| {
            (0..n).all(|j| converged(s, BOROUGHS[j], heads[j]))
                && (0..n)
                    .filter(|j| *j != i)
                    .all(|j| delivered(i, s, j) >= heads[j].1)
        })
        .await;
        for j in (0..n).filter(|j| *j != i) {
            let got = delivered(i, &s, j);
            // Nothing had been published before: origin j's entries are seq 1..=head.
            assert_eq!(
                got, heads[j].1,
                "node {i}: link to {j} delivered {got} entries, origin {j} signed {}",
                heads[j].1
            );
        }
        let total: u64 =
            s.peers.iter().map(|p| p.received).sum::<u64>() - before[i].values().sum::<u64>();
        let others: u64 = (0..n).filter(|j| *j != i).map(|j| heads[j].1).sum();
        assert_eq!(
            total, others,
            "node {i}: each change arrives over exactly one link"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_origin_down_its_records_reach_a_node_three_hops_away_through_relays() {
    let tmp = tempfile::tempdir().unwrap();
    // A chain: A — B — C — D; D is three hops from A.
    let fleet = Fleet::new(tmp.path(), 4);
    let (a_url, b_url, c_url, d_url) = (
        url_of(&fleet, 0),
        url_of(&fleet, 1),
        url_of(&fleet, 2),
        url_of(&fleet, 3),
    );
    let mut a = fleet.start(0, &["--new-member", "--peer", &b_url]);
    let _b = fleet.start(1, &["--peer", &a_url, "--peer", &c_url]);
    let data = bundle(81, 60, BOROUGHS[0]);
    let r = publish_when_ready(&a, "x", &data.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    wait_status(&_b, "B to verify A", |s| converged(s, BOROUGHS[0], head)).await;
    a.kill9();

    let c = fleet.start(2, &["--peer", &b_url, "--peer", &d_url]);
    let d = fleet.start(3, &["--peer", &c_url]);
    // Each relay is its next hop's chosen source of A (A's own link is gone or absent).
    let s = wait_status(&d, "D to verify A via C, C its source", |s| {
        converged(s, BOROUGHS[0], head)
            && link(s, &c_url).is_some_and(|p| {
                p.entry_origins.contains(&BOROUGHS[0].to_string()) && p.received >= head.1
            })
    })
    .await;
    assert_eq!(
        link(&s, &c_url).expect("link to C").received,
        head.1,
        "every entry of A arrived at D once, from C"
    );
    wait_status(&c, "C to take A from B", |s| {
        converged(s, BOROUGHS[0], head) && takes(s, &b_url, BOROUGHS[0])
    })
    .await;
    serves(&d, &data.courses).await;
}

fn it(i: Item) -> PullItem {
    PullItem {
        item: Some(i),
        seal: None,
    }
}

/// Heads proving `origin` at `at` with its genuine signed checkpoint.
fn proving(origin: &str, at: (u64, u64), checkpoint: &w::SignedCheckpoint) -> PullItem {
    it(Item::Heads(w::Heads {
        node_origin: String::new(),
        heads: vec![w::Head {
            origin: origin.into(),
            epoch: at.0,
            seq: at.1,
            checkpoint: Some(checkpoint.clone()),
            ..Default::default()
        }],
        unix_millis: 0,
    }))
}

fn seq_of(e: &w::SignedEntry) -> u64 {
    w::Entry::decode(e.entry_bytes.as_slice()).map_or(0, |x| x.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_stops_forwarding_is_replaced_when_a_peer_proves_more() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let (a_url, b_url) = (url_of(&fleet, 0), url_of(&fleet, 1));
    let a = fleet.start(0, &["--new-member", "--peer", &b_url]);
    let first = bundle(91, 20, BOROUGHS[0]);
    let r = publish_when_ready(&a, "first", &first.clone().into_records())
        .await
        .expect("publish");
    let held = (r.epoch, r.last_seq);
    // The rogue relays A faithfully up to `held` (genuine entries and checkpoint), then
    // forwards nothing more, ever.
    let (entries, checkpoint) = genuine(&a, BOROUGHS[0]).await;
    let mut script = vec![it(Item::Heads(w::Heads {
        node_origin: String::new(),
        heads: vec![w::Head {
            origin: BOROUGHS[0].into(),
            epoch: held.0,
            seq: held.1,
            checkpoint: Some(checkpoint.clone()),
            ..Default::default()
        }],
        unix_millis: 0,
    }))];
    script.extend(entries.into_iter().map(|e| it(Item::Entry(e))));
    script.push(it(Item::Checkpoint(checkpoint)));
    let rogue = Rogue::serve(move |_| script.clone()).await;
    rogue.open();

    // C knows only the rogue and B, and B is not up yet: the rogue is C's source of A.
    let c = fleet.start(2, &["--new-member", "--peer", &rogue.url, "--peer", &b_url]);
    wait_status(&c, "C to take A from the rogue", |s| {
        converged(s, BOROUGHS[0], held)
            && link(s, &rogue.url).is_some_and(|p| p.entry_origins == vec![BOROUGHS[0].to_string()])
    })
    .await;

    // A publishes more; B (following A) holds it and proves it with A's signed checkpoint.
    let second = bundle(92, 20, BOROUGHS[0]);
    let r = publish_when_ready(&a, "second", &second.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let b = fleet.start(1, &["--peer", &a_url]);
    wait_status(&b, "B to verify A", |s| converged(s, BOROUGHS[0], head)).await;

    let s = wait_status(&c, "C to replace the rogue with B and catch up", |s| {
        converged(s, BOROUGHS[0], head)
            && link(s, &b_url).is_some_and(|p| p.received >= head.1 - held.1)
    })
    .await;
    let from_b = link(&s, &b_url).expect("link to B");
    assert!(from_b.entry_origins.contains(&BOROUGHS[0].to_string()));
    assert_eq!(
        from_b.received,
        head.1 - held.1,
        "B sent what the rogue withheld, once"
    );
    assert!(
        !takes(&s, &rogue.url, BOROUGHS[0]),
        "the rogue is no longer C's source of A"
    );
    serves(&c, &second.courses).await;
}

/// A live filtered stream sends an origin's later checkpoints as seals when the caller asks for
/// them (a quarter of the bytes), and a real node receiving A's changes over its link rebuilds
/// each into A's signed checkpoint and verifies it: B converges on A's head, checkpoint
/// verified, with no GetHeads fallback needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_checkpoint_comes_as_a_seal_the_receiver_rebuilds_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &["--new-member"]);
    let b = fleet.start(1, &[]);
    let r = publish_when_ready(&a, "first", &bundle(97, 5, BOROUGHS[0]).into_records())
        .await
        .expect("publish");
    // B past its joining rule, its link to A filtered (a joining node's links take every
    // origin, whole checkpoints and all).
    let a_url = url_of(&fleet, 0);
    wait_status(
        &b,
        "B to verify A and take A from A on a filtered link",
        |s| {
            converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
                && link(s, &a_url).is_some_and(|p| {
                    p.connected
                        && !p.every_origin
                        && p.entry_origins == vec![BOROUGHS[0].to_string()]
                })
        },
    )
    .await;
    let mut stream = FederationClient::new(a.channel().await)
        .subscribe(w::PullRequest {
            filter: Some(w::OriginFilter {
                entry_origins: vec![BOROUGHS[0].into()],
                checkpoint_seals: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("subscribe")
        .into_inner();
    // Reads until the next checkpoint: whole, sealed on its own, or sealed in its entry's
    // message.
    enum Got {
        Whole(w::SignedCheckpoint),
        Seal(w::CheckpointSeal),
    }
    async fn next_checkpoint(stream: &mut tonic::Streaming<PullItem>) -> Got {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let item = tokio::time::timeout_at(deadline, stream.message())
                .await
                .expect("a checkpoint within 30 s")
                .expect("stream")
                .expect("open");
            match (item.item, item.seal) {
                (Some(Item::Entry(e)), Some(mut s)) => {
                    let x = w::Entry::decode(e.entry_bytes.as_slice()).expect("entry");
                    assert!(s.origin.is_empty() && s.seq == 0, "the entry's position");
                    (s.origin, s.epoch, s.seq) = (x.origin, x.epoch, x.seq);
                    return Got::Seal(s);
                }
                (Some(Item::Checkpoint(c)), _) => return Got::Whole(c),
                (Some(Item::CheckpointSeal(s)), _) => return Got::Seal(s),
                _ => continue,
            }
        }
    }
    // The stream's first checkpoint of A goes whole: the caller holds nothing it names.
    let Got::Whole(whole) = next_checkpoint(&mut stream).await else {
        panic!("the first checkpoint on a stream is sent whole");
    };
    // A's next change: its checkpoint (at once, or on the next beat when it follows the
    // first within the coalescing interval) comes as a seal.
    let more = bundle(98, 1, BOROUGHS[0]);
    let r = publish_when_ready(&a, "more", &more.clone().into_records())
        .await
        .expect("publish");
    let Got::Seal(s) = next_checkpoint(&mut stream).await else {
        panic!("a later checkpoint following its entries on this stream is a seal");
    };
    assert_eq!(
        (s.origin.as_str(), s.epoch, s.seq),
        (BOROUGHS[0], r.epoch, r.last_seq)
    );
    assert!(!whole.checkpoint_bytes.is_empty());
    // Less than half the checkpoint it stands for.
    let held = FederationClient::new(a.channel().await)
        .get_heads(w::GetHeadsRequest {
            origins: vec![BOROUGHS[0].into()],
        })
        .await
        .expect("heads")
        .into_inner()
        .heads
        .remove(0)
        .checkpoint
        .expect("A's checkpoint");
    assert!(
        s.encoded_len() * 2 < held.encoded_len(),
        "seal {} B vs checkpoint {} B",
        s.encoded_len(),
        held.encoded_len()
    );
    // B's link asks for seals: it rebuilt A's checkpoint and verified it.
    let st = wait_status(&b, "B to verify A's new head", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;
    assert!(
        st.origins
            .iter()
            .any(|o| o.origin == BOROUGHS[0] && o.checkpoint_verified)
    );
    assert!(
        b.metric("prospectus_checkpoint_seals_total", "outcome=\"rebuilt\"")
            .is_some_and(|n| n >= 1.0),
        "B rebuilt A's checkpoint from a seal"
    );
    assert_eq!(
        b.metric("prospectus_checkpoint_seals_total", "outcome=\"asked\""),
        None,
        "no seal failed to rebuild"
    );
    serves(&b, &more.courses).await;
}

/// Everything a `Pull` with `filter` returns from `node`.
async fn pull_items(
    node: &Node,
    filter: Option<w::OriginFilter>,
) -> Result<Vec<Item>, tonic::Status> {
    let mut stream = FederationClient::new(node.channel().await)
        .pull(w::PullRequest {
            filter,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut items = Vec::new();
    while let Some(i) = stream.message().await? {
        items.extend(i.item);
    }
    Ok(items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_gets_entries_of_the_origins_named_only_and_is_bounded_by_the_roster() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &["--new-member"]);
    let data = bundle(95, 5, BOROUGHS[0]);
    let r = publish_when_ready(&a, "x", &data.into_records())
        .await
        .expect("publish");
    let entries =
        |items: &[Item]| items.iter().filter(|i| matches!(i, Item::Entry(_))).count() as u64;
    let filter = |entries: &[&str]| w::OriginFilter {
        entry_origins: entries.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    // An older peer (no filter) gets every entry, as before; so does one naming the origin.
    assert_eq!(
        entries(&pull_items(&a, None).await.expect("pull")),
        r.last_seq
    );
    let named = pull_items(&a, Some(filter(&[BOROUGHS[0]])))
        .await
        .expect("pull");
    assert_eq!(entries(&named), r.last_seq);
    // Naming only another origin: no entries, but the heads still show A's signed checkpoint.
    let other = pull_items(&a, Some(filter(&[BOROUGHS[1]])))
        .await
        .expect("pull");
    assert_eq!(entries(&other), 0);
    assert!(other.iter().any(|i| matches!(i, Item::Heads(h)
        if h.heads.iter().any(|x| x.origin == BOROUGHS[0] && x.checkpoint.is_some()))));
    // Names outside the roster are dropped (never served, whatever their size); a list
    // longer than the roster is refused whole, with a short field-level message.
    let huge = "E".repeat(100_000);
    let unknown = pull_items(&a, Some(filter(&["E09000001", &huge])))
        .await
        .expect("pull");
    assert_eq!(entries(&unknown), 0);
    for (bad, field) in [
        (filter(&[BOROUGHS[0]; 3]), "filter.entry_origins"),
        (
            w::OriginFilter {
                head_origins: vec![huge.clone(); 3],
                ..Default::default()
            },
            "filter.head_origins",
        ),
    ] {
        let e = pull_items(&a, Some(bad)).await.expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().len() < 300, "short: {}", e.message().len());
        let v = violations(&e);
        assert!(
            v.iter()
                .any(|(f, d)| f == field && d.contains("at most 2 origins")),
            "{v:?}"
        );
    }
    // GetHeads names origins the same way: only those heads, a list longer than the roster
    // refused with a short field-level message.
    let mut fedc = w::federation_client::FederationClient::new(a.channel().await);
    let only = fedc
        .get_heads(w::GetHeadsRequest {
            origins: vec![BOROUGHS[1].into()],
        })
        .await
        .expect("heads")
        .into_inner();
    assert!(
        only.heads.iter().all(|h| h.origin == BOROUGHS[1]),
        "{only:?}"
    );
    let none = fedc
        .get_heads(w::GetHeadsRequest {
            origins: vec!["E09000001".into()],
        })
        .await
        .expect("heads")
        .into_inner();
    assert!(
        none.heads.is_empty(),
        "only names outside the roster: {none:?}"
    );
    let all = fedc
        .get_heads(w::GetHeadsRequest::default())
        .await
        .expect("heads")
        .into_inner();
    assert!(all.heads.iter().any(|h| h.origin == BOROUGHS[0]));
    let e = fedc
        .get_heads(w::GetHeadsRequest {
            origins: vec![huge.clone(); 3],
        })
        .await
        .expect_err("refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().len() < 300, "short: {}", e.message().len());
    assert!(
        violations(&e)
            .iter()
            .any(|(f, d)| f == "origins" && d.contains("at most 2 origins")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_trickles_is_replaced_when_a_peer_proves_more() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let (a_url, b_url) = (url_of(&fleet, 0), url_of(&fleet, 1));
    let a = fleet.start(0, &["--new-member", "--peer", &b_url]);
    let first = bundle(96, 20, BOROUGHS[0]);
    let r = publish_when_ready(&a, "first", &first.into_records())
        .await
        .expect("publish");
    let held = (r.epoch, r.last_seq);
    let (_, checkpoint) = genuine(&a, BOROUGHS[0]).await;
    let second = bundle(97, 60, BOROUGHS[0]);
    let r = publish_when_ready(&a, "second", &second.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let (entries, _) = genuine(&a, BOROUGHS[0]).await;
    // The rogue relays A faithfully up to `held`, then what the node lacks beyond it one
    // entry every two seconds (each followed by empty heads, so it is applied at once):
    // always something new, never near what B proves (the rest would take minutes).
    assert!(
        entries.len() as u64 > held.1 + 50,
        "a trickle longer than the test's deadline"
    );
    let rogue = Rogue::paced(Duration::from_secs(1), move |req| {
        let from = req
            .cursors
            .iter()
            .find(|c| c.origin == BOROUGHS[0])
            .map_or(0, |c| c.seq);
        let lacks = |e: &&w::SignedEntry| seq_of(e) > from;
        let mut script = vec![proving(BOROUGHS[0], held, &checkpoint)];
        script.extend(
            entries
                .iter()
                .filter(lacks)
                .filter(|e| seq_of(e) <= held.1)
                .map(|e| it(Item::Entry(e.clone()))),
        );
        script.push(it(Item::Checkpoint(checkpoint.clone())));
        script.push(hold());
        for e in entries.iter().filter(lacks).filter(|e| seq_of(e) > held.1) {
            script.push(it(Item::Entry(e.clone())));
            script.push(it(Item::Heads(w::Heads::default())));
        }
        script
    })
    .await;
    rogue.open();

    // C knows only the rogue and B, and B is not up yet: the rogue is C's source of A.
    let c = fleet.start(2, &["--new-member", "--peer", &rogue.url, "--peer", &b_url]);
    wait_status(&c, "C to take A from the rogue", |s| {
        s.origins
            .iter()
            .any(|o| o.origin == BOROUGHS[0] && o.seq >= held.1)
            && takes(s, &rogue.url, BOROUGHS[0])
    })
    .await;
    let b = fleet.start(1, &["--peer", &a_url]);
    wait_status(&b, "B to verify A", |s| converged(s, BOROUGHS[0], head)).await;

    let s = wait_status(
        &c,
        "C to replace the trickling rogue with B and catch up",
        |s| converged(s, BOROUGHS[0], head) && link(s, &b_url).is_some_and(|p| p.received > 0),
    )
    .await;
    assert!(takes(&s, &b_url, BOROUGHS[0]));
    assert!(
        !takes(&s, &rogue.url, BOROUGHS[0]),
        "the rogue is no longer C's source of A"
    );
    serves(&c, &second.courses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_whose_history_diverges_from_the_signed_checkpoint_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let (a_url, b_url) = (url_of(&fleet, 0), url_of(&fleet, 1));
    let a = fleet.start(0, &["--new-member", "--peer", &b_url]);
    let data = bundle(98, 20, BOROUGHS[0]);
    let r = publish_when_ready(&a, "x", &data.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let (entries, checkpoint) = genuine(&a, BOROUGHS[0]).await;
    // The rogue proves A's head with its genuine checkpoint and sends every genuine entry
    // but one: C reaches the head with a set the checkpoint does not match. Asked for a
    // snapshot, it sends the same again.
    let mut script = vec![proving(BOROUGHS[0], head, &checkpoint)];
    script.extend(
        entries
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, e)| it(Item::Entry(e.clone()))),
    );
    script.push(it(Item::Checkpoint(checkpoint)));
    let rogue = Rogue::serve(move |_| script.clone()).await;
    rogue.open();

    let c = fleet.start(2, &["--new-member", "--peer", &rogue.url, "--peer", &b_url]);
    wait_status(&c, "C to hold A diverged, from the rogue", |s| {
        s.origins
            .iter()
            .any(|o| o.origin == BOROUGHS[0] && o.diverged && (o.epoch, o.seq) == head)
            && takes(s, &rogue.url, BOROUGHS[0])
    })
    .await;
    // B holds A and proves the same head: C is at that position, but not in that state.
    let b = fleet.start(1, &["--peer", &a_url]);
    wait_status(&b, "B to verify A", |s| converged(s, BOROUGHS[0], head)).await;

    let s = wait_status(&c, "C to replace the rogue with B and mend A", |s| {
        converged(s, BOROUGHS[0], head) && takes(s, &b_url, BOROUGHS[0])
    })
    .await;
    assert!(
        !takes(&s, &rogue.url, BOROUGHS[0]),
        "the rogue is no longer C's source of A"
    );
    serves(&c, &data.courses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_what_a_link_takes_waits_for_the_snapshot_in_progress_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let b_url = url_of(&fleet, 1);
    let a = fleet.start(0, &["--new-member"]);
    let data = bundle(99, 40, BOROUGHS[0]);
    let r = publish_when_ready(&a, "x", &data.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let (entries, checkpoint) = genuine(&a, BOROUGHS[0]).await;
    drop(a);
    // A refused entry, then empty heads (which apply what came before them), mark on C's
    // status that the snapshot is being staged, before the rogue holds the rest back.
    let mut junk = entries[0].clone();
    junk.signature = vec![0; 64];
    let half = entries.len() / 2;
    let mut snapshot = vec![it(Item::SnapshotBegin(w::SnapshotBegin {
        origin: BOROUGHS[0].into(),
    }))];
    snapshot.extend(entries[..half].iter().map(|e| it(Item::Entry(e.clone()))));
    snapshot.push(it(Item::Entry(junk)));
    snapshot.push(it(Item::Heads(w::Heads::default())));
    snapshot.push(hold());
    snapshot.extend(entries[half..].iter().map(|e| it(Item::Entry(e.clone()))));
    snapshot.push(it(Item::SnapshotEnd(w::SnapshotEnd {
        origin: BOROUGHS[0].into(),
        epoch: head.0,
        seq: head.1,
        checkpoint: Some(checkpoint.clone()),
    })));
    // A peer that serves A only whole: it tells a node below A's head to ask for a snapshot.
    let rogue = Rogue::serve(move |req| {
        let mut items = vec![proving(BOROUGHS[0], head, &checkpoint)];
        let below = !req
            .cursors
            .iter()
            .any(|c| c.origin == BOROUGHS[0] && (c.epoch, c.seq) >= head);
        if req.snapshot_origins.iter().any(|o| o == BOROUGHS[0]) {
            items.extend(snapshot.iter().cloned());
        } else if below {
            items.push(it(Item::SnapshotRequired(w::SnapshotRequired {
                origin: BOROUGHS[0].into(),
            })));
        }
        items
    })
    .await;
    rogue.open();

    // C joins (links take every origin) until B, not up yet, answers: then its links are
    // filtered, which changes what C asks the rogue while the snapshot is half received.
    let c = fleet.start(2, &["--peer", &rogue.url, "--peer", &b_url]);
    wait_status(
        &c,
        "C to receive half of A's snapshot, still joining",
        |s| link(s, &rogue.url).is_some_and(|p| p.rejected >= 1) && !s.waiting_for.is_empty(),
    )
    .await;
    let _b = fleet.start(1, &["--new-member"]);
    wait_status(&c, "C's gate to open (B answered)", |s| {
        s.waiting_for.is_empty()
    })
    .await;
    rogue.resume();
    // (The link counts what it received just after the store holds it.)
    wait_status(&c, "C to hold A from the snapshot", |s| {
        converged(s, BOROUGHS[0], head)
            && link(s, &rogue.url).is_some_and(|p| p.received >= entries.len() as u64)
    })
    .await;
    assert_eq!(
        rogue.snapshot_requests(),
        vec![BOROUGHS[0].to_string()],
        "the snapshot in progress was finished, not dropped and asked for again"
    );
    serves(&c, &data.courses).await;
}
