//! A hostile peer on loopback — a real gRPC server speaking `prospectus.v1.Federation` — works
//! the control channel against honest node processes: snapshots nobody asked for (of another
//! origin, of the node's own), a snapshot whose set does not match the origin's signed
//! checkpoint, heads claiming a roster origin far ahead, a thousand made-up origins, and a false
//! claim on a recovering node's own origin. Each time the honest node must go on serving
//! exactly what it served before, and say nothing false about lag.

mod common;
use common::rogue::genuine;

use common::*;
use prospectus_model::{Record, Uuid};
use prospectus_proto::v1::{
    self as w, Entry, PullItem, SignedCheckpoint, SignedEntry, pull_item::Item,
};
use prost::Message;

/// Far beyond any real head.
const HUGE: u64 = 1 << 60;

/// Every course of `data` is served by `node` exactly as published.
async fn serves_all(node: &Node, data: &prospectus_dataset::Bundle) {
    for c in &data.courses {
        assert_eq!(
            course_at(node, c.id).await.as_ref(),
            Ok(c),
            "course {}",
            c.id
        );
    }
}

fn entry_of(s: &SignedEntry) -> Entry {
    Entry::decode(s.entry_bytes.as_slice()).expect("entry")
}

fn it(i: Item) -> PullItem {
    PullItem {
        item: Some(i),
        seal: None,
    }
}

fn heads(node_origin: &str, heads: Vec<w::Head>) -> PullItem {
    it(Item::Heads(w::Heads {
        node_origin: node_origin.into(),
        heads,
        unix_millis: 0,
    }))
}

/// An entry claiming A's origin and key with a broken signature, then an empty heads (which
/// makes the node flush and count it): once `bad_signature` shows on /metrics, everything the
/// rogue sent before the marker has been handled.
fn marker(a_key_id: &str) -> Vec<PullItem> {
    vec![
        it(Item::Entry(SignedEntry {
            entry_bytes: new_record_entry(BOROUGHS[0]),
            key_id: a_key_id.into(),
            signature: vec![0; 64],
        })),
        heads("", vec![]),
    ]
}

/// The bytes of an entry at seq 1 of `origin` for a fresh provider id (empty payload).
fn new_record_entry(origin: &str) -> Vec<u8> {
    Entry {
        origin: origin.into(),
        epoch: 1,
        seq: 1,
        kind: 1,
        id: Uuid::new_v4().as_bytes().to_vec(),
        op: w::Op::Upsert as i32,
        ..Default::default()
    }
    .encode_to_vec()
}

fn metric_lines(node: &Node) -> String {
    let (code, text) = http_get(&node.addr, "/metrics");
    assert_eq!(code, 200);
    text
}

/// The sum of the samples of `metric` whose labels contain `labels` (`None`: no such sample).
fn sample(metrics: &str, metric: &str, labels: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

/// Waits until the node has counted `n` marker refusals — or has visibly lost A's verified
/// head (`head`), in which case the test's assertions say what changed.
async fn wait_markers(node: &Node, n: f64, head: (u64, u64)) {
    let label = format!("origin=\"{}\",reason=\"bad_signature\"", BOROUGHS[0]);
    wait_for_async(|| async {
        let m = metric_lines(node);
        let marked =
            sample(&m, "prospectus_entries_rejected_total", &label).is_some_and(|v| v >= n);
        (marked || !converged(&node.status().await, BOROUGHS[0], head)).then_some(())
    })
    .await
}

fn a_key_id(fleet: &Fleet) -> String {
    prospectus_server::NodeKey::load_or_create(&fleet.root.join("key-0"))
        .expect("key")
        .0
        .key_id()
        .to_string()
}

use common::rogue::Rogue;

/// A (origin X, the first borough) publishes `n` courses; B follows A and the rogue.
/// Returns once B has verified A's checkpoint.
struct Scene {
    fleet: Fleet,
    a: Node,
    b: Node,
    _c: Node,
    data: prospectus_dataset::Bundle,
    head: (u64, u64),
    entries: Vec<SignedEntry>,
    checkpoint: SignedCheckpoint,
    _tmp: tempfile::TempDir,
}

async fn scene(rogue: &Rogue, seed: u64) -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    // A is the federation's first borough and B a new one (the rogue need not answer).
    let a = fleet.start(0, &["--new-member"]);
    let c = fleet.start(2, &[]);
    let data = bundle(seed, 40, BOROUGHS[0]);
    let r = publish_when_ready(&a, "honest", &data.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let (entries, checkpoint) = genuine(&a, BOROUGHS[0]).await;
    let a_url = a.url();
    let b = fleet.start(1, &["--peer", &a_url, "--peer", &rogue.url, "--new-member"]);
    wait_status(&b, "B to verify A", |s| converged(s, BOROUGHS[0], head)).await;
    Scene {
        fleet,
        a,
        b,
        _c: c,
        data,
        head,
        entries,
        checkpoint,
        _tmp: tmp,
    }
}

/// The rogue's scripts are built after the scene exists (they replay A's genuine entries):
/// this cell carries them in.
type Cell = std::sync::Arc<std::sync::Mutex<Vec<PullItem>>>;

fn replay(cell: &Cell) -> impl Fn(&w::PullRequest) -> Vec<PullItem> + Send + Sync + 'static {
    let cell = cell.clone();
    move |_| cell.lock().expect("cell").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsolicited_snapshot_of_another_origin_changes_nothing() {
    let cell = Cell::default();
    let rogue = Rogue::serve(replay(&cell)).await;
    let s = scene(&rogue, 41).await;
    // "The whole of A is this one entry, and A's head is u64::MAX."
    let mut script = vec![
        it(Item::SnapshotBegin(w::SnapshotBegin {
            origin: BOROUGHS[0].into(),
        })),
        it(Item::Entry(s.entries[0].clone())),
        it(Item::SnapshotEnd(w::SnapshotEnd {
            origin: BOROUGHS[0].into(),
            epoch: 1,
            seq: u64::MAX,
            ..Default::default()
        })),
    ];
    script.extend(marker(&a_key_id(&s.fleet)));
    *cell.lock().unwrap() = script;
    rogue.open();
    wait_markers(&s.b, 1.0, s.head).await;

    let st = s.b.status().await;
    assert!(converged(&st, BOROUGHS[0], s.head), "{st:#?}");
    serves_all(&s.b, &s.data).await;
    assert!(rogue.snapshot_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_the_nodes_own_origin_changes_nothing() {
    let cell = Cell::default();
    let rogue = Rogue::serve(replay(&cell)).await;
    let s = scene(&rogue, 42).await;
    let own = BOROUGHS[1];
    let mine = bundle(43, 20, own);
    let r = publish_when_ready(&s.b, "mine", &mine.clone().into_records())
        .await
        .expect("publish at B");
    // "B's origin holds nothing, and its head is u64::MAX."
    let mut script = vec![
        it(Item::SnapshotBegin(w::SnapshotBegin { origin: own.into() })),
        it(Item::SnapshotEnd(w::SnapshotEnd {
            origin: own.into(),
            epoch: r.epoch,
            seq: u64::MAX,
            ..Default::default()
        })),
    ];
    script.extend(marker(&a_key_id(&s.fleet)));
    *cell.lock().unwrap() = script;
    rogue.open();
    wait_markers(&s.b, 1.0, s.head).await;

    serves_all(&s.b, &mine).await;
    serves_all(&s.b, &s.data).await;
    let st = s.b.status().await;
    assert!(converged(&st, own, (r.epoch, r.last_seq)), "{st:#?}");
    // B still publishes, right after its last seq.
    let mut c = mine.courses[0].clone();
    c.title = "After the rogue".into();
    let r2 = publish_when_ready(&s.b, "after", &[Record::Course(c.clone())])
        .await
        .expect("publish after the attack");
    assert_eq!((r2.epoch, r2.first_seq), (r.epoch, r.last_seq + 1));
    assert_eq!(course_at(&s.b, c.id).await, Ok(c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_does_not_match_the_signed_checkpoint_replaces_nothing() {
    let cell = Cell::default();
    let asked = cell.clone();
    // The rogue says B must re-sync A from it; asked, it sends A's genuine entries minus the
    // last ten and A's genuine signed checkpoint.
    let rogue = Rogue::serve(move |req| {
        if req.snapshot_origins.iter().any(|o| o == BOROUGHS[0]) {
            asked.lock().unwrap().clone()
        } else {
            vec![it(Item::SnapshotRequired(w::SnapshotRequired {
                origin: BOROUGHS[0].into(),
            }))]
        }
    })
    .await;
    let s = scene(&rogue, 44).await;
    let kept = s.entries.len() - 10;
    let mut script = vec![it(Item::SnapshotBegin(w::SnapshotBegin {
        origin: BOROUGHS[0].into(),
    }))];
    script.extend(
        s.entries[..kept]
            .iter()
            .cloned()
            .map(|e| it(Item::Entry(e))),
    );
    script.push(it(Item::SnapshotEnd(w::SnapshotEnd {
        origin: BOROUGHS[0].into(),
        epoch: s.head.0,
        seq: s.head.1,
        checkpoint: Some(s.checkpoint.clone()),
    })));
    // (Nodes before the signed SnapshotEnd took the checkpoint from the item after it.)
    script.push(it(Item::Checkpoint(s.checkpoint.clone())));
    script.extend(marker(&a_key_id(&s.fleet)));
    *cell.lock().unwrap() = script;
    rogue.open();
    wait_markers(&s.b, 1.0, s.head).await;

    assert!(
        rogue.snapshot_requests().iter().any(|o| o == BOROUGHS[0]),
        "B should have asked the rogue for the snapshot it claimed B needs"
    );
    let st = s.b.status().await;
    assert!(converged(&st, BOROUGHS[0], s.head), "{st:#?}");
    serves_all(&s.b, &s.data).await;
    let _ = &s.a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_claiming_a_roster_origin_far_ahead_show_no_lag() {
    let cell = Cell::default();
    let rogue = Rogue::serve(replay(&cell)).await;
    let s = scene(&rogue, 45).await;
    let mut script = vec![heads(
        BOROUGHS[0],
        vec![w::Head {
            origin: BOROUGHS[0].into(),
            epoch: s.head.0,
            seq: HUGE,
            ..Default::default()
        }],
    )];
    script.extend(marker(&a_key_id(&s.fleet)));
    *cell.lock().unwrap() = script;
    rogue.open();
    wait_markers(&s.b, 1.0, s.head).await;

    let st = s.b.status().await;
    let a = st
        .origins
        .iter()
        .find(|o| o.origin == BOROUGHS[0])
        .expect("A at B");
    assert_eq!((a.lag, a.behind_epoch), (0, false), "{a:#?}");
    let m = metric_lines(&s.b);
    let lag = sample(
        &m,
        "prospectus_replication_lag_entries",
        &format!("origin=\"{}\"", BOROUGHS[0]),
    );
    assert!(lag.is_none_or(|l| l == 0.0), "false lag {lag:?}:\n{m}");
    assert!(converged(&st, BOROUGHS[0], s.head), "{st:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_made_up_origins_add_no_labels_and_no_state() {
    let cell = Cell::default();
    let asked = cell.clone();
    // Snapshot requests are answered with silence (so the script is not replayed).
    let rogue = Rogue::serve(move |req| {
        if req.snapshot_origins.is_empty() {
            asked.lock().unwrap().clone()
        } else {
            vec![]
        }
    })
    .await;
    let s = scene(&rogue, 46).await;
    let made_up: Vec<String> = (0..1000)
        .map(|i| format!("E09{:06}", 900_000 + i))
        .collect();
    let stranger = prospectus_server::NodeKey::generate();
    let mut script = vec![heads(
        &made_up[0],
        made_up
            .iter()
            .map(|o| w::Head {
                origin: o.clone(),
                epoch: 1,
                seq: 7,
                ..Default::default()
            })
            .collect(),
    )];
    for o in &made_up {
        let entry_bytes = new_record_entry(o);
        script.push(it(Item::Entry(SignedEntry {
            signature: stranger.sign(&entry_bytes),
            key_id: stranger.key_id().into(),
            entry_bytes,
        })));
    }
    script.push(it(Item::SnapshotBegin(w::SnapshotBegin {
        origin: made_up[1].clone(),
    })));
    script.push(it(Item::SnapshotEnd(w::SnapshotEnd {
        origin: made_up[1].clone(),
        epoch: 1,
        seq: 9,
        ..Default::default()
    })));
    script.extend(marker(&a_key_id(&s.fleet)));
    script.extend(made_up.iter().map(|o| {
        it(Item::SnapshotRequired(w::SnapshotRequired {
            origin: o.clone(),
        }))
    }));
    script.extend(marker(&a_key_id(&s.fleet)));
    *cell.lock().unwrap() = script;
    rogue.open();
    // Both markers handled, or the node went off asking the rogue for made-up snapshots.
    let label = format!("origin=\"{}\",reason=\"bad_signature\"", BOROUGHS[0]);
    wait_for_async(|| async {
        let m = metric_lines(&s.b);
        let done =
            sample(&m, "prospectus_entries_rejected_total", &label).is_some_and(|n| n >= 2.0);
        (done || !rogue.snapshot_requests().is_empty()).then_some(())
    })
    .await;

    assert_eq!(rogue.snapshot_requests(), Vec::<String>::new());
    let roster: Vec<&str> = BOROUGHS[..3].to_vec();
    let m = metric_lines(&s.b);
    let mut labels: Vec<&str> = m
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split("origin=\"").nth(1)?.split('"').next())
        .collect();
    labels.sort();
    labels.dedup();
    for l in &labels {
        assert!(
            roster.contains(l) || *l == "unknown",
            "label origin=\"{l}\" from a made-up origin"
        );
    }
    assert!(
        sample(
            &m,
            "prospectus_entries_rejected_total",
            "origin=\"unknown\""
        )
        .is_some_and(|n| n >= 1000.0),
        "made-up origins are counted under origin=\"unknown\":\n{m}"
    );
    let st = s.b.status().await;
    for o in &st.origins {
        assert!(roster.contains(&o.origin.as_str()), "{o:#?}");
    }
    assert!(converged(&st, BOROUGHS[0], s.head), "{st:#?}");
    serves_all(&s.b, &s.data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovering_node_restores_and_publishes_despite_a_peer_claiming_its_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(47, 60, BOROUGHS[0]);
    let r1 = publish_when_ready(&a, "before", &data.clone().into_records())
        .await
        .expect("publish");
    let head1 = (r1.epoch, r1.last_seq);
    wait_status(&b, "B has A", |s| converged(s, BOROUGHS[0], head1)).await;
    wait_status(&c, "C has A", |s| converged(s, BOROUGHS[0], head1)).await;

    // The rogue claims A's origin at a huge seq (unsigned), once per stream, then says nothing.
    let rogue = Rogue::serve(|_| {
        vec![heads(
            BOROUGHS[0],
            vec![w::Head {
                origin: BOROUGHS[0].into(),
                epoch: 1,
                seq: HUGE,
                ..Default::default()
            }],
        )]
    })
    .await;
    rogue.open();

    a.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).expect("wipe A's data dir");
    let (b_url, c_url) = (b.url(), c.url());
    let a = fleet.start(
        0,
        &["--peer", &rogue.url, "--peer", &b_url, "--peer", &c_url],
    );
    let s = wait_status(&a, "A to restore its origin", |s| !s.recovering).await;
    assert!(converged(&s, BOROUGHS[0], head1), "{s:#?}");
    serves_all(&a, &data).await;

    let mut changed = data.courses[0].clone();
    changed.title = "Published after recovery".into();
    let r2 = publish_when_ready(&a, "after", &[Record::Course(changed.clone())])
        .await
        .expect("publish after recovery");
    assert_eq!((r2.epoch, r2.first_seq), (2, 1));
    wait_status(&b, "B accepts epoch 2", |s| {
        converged(s, BOROUGHS[0], (r2.epoch, r2.last_seq))
    })
    .await;
    assert_eq!(course_at(&b, changed.id).await, Ok(changed));
}

/// A rogue relays A's genuine log — more entries than one verification chunk, so several
/// Ed25519 batches, a background apply and the pipeline's hand-over — with one signature
/// broken in the middle and, further on, one entry genuinely signed by A whose payload does not
/// decode. Batch verification must fall back to single checks for the broken batch and refuse
/// exactly those two entries, each under its own reason, and apply every other entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_entry_inside_a_verified_batch_is_refused_alone() {
    let cell = Cell::default();
    let rogue = Rogue::serve(replay(&cell)).await;
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &["--new-member"]);
    let data = bundle(53, 1200, BOROUGHS[0]);
    let r = publish_when_ready(&a, "many", &data.clone().into_records())
        .await
        .expect("publish");
    let head = (r.epoch, r.last_seq);
    let (mut entries, _) = genuine(&a, BOROUGHS[0]).await;
    assert!(
        entries.len() > 1100,
        "{} entries: too few to span chunks",
        entries.len()
    );
    let course = prospectus_proto::WireEnum::to_i32(prospectus_model::RecordKind::Course);
    let course_at_or_after = |from: usize| {
        (from..entries.len())
            .find(|&i| entry_of(&entries[i]).kind == course)
            .expect("a course entry")
    };
    let (broken, invalid) = (
        course_at_or_after(entries.len() / 3),
        course_at_or_after(2 * entries.len() / 3),
    );
    entries[broken].signature[0] ^= 0xff;
    let a_key = prospectus_server::NodeKey::load_or_create(&fleet.root.join("key-0"))
        .expect("key")
        .0;
    let garbage = w::Entry {
        payload: vec![0xff, 0xff],
        ..entry_of(&entries[invalid])
    };
    let Some(Item::Entry(signed_garbage)) = common::rogue::signed(&a_key, &garbage).item else {
        panic!("an entry item");
    };
    entries[invalid] = signed_garbage;
    let victims =
        [broken, invalid].map(|i| Uuid::from_slice(&entry_of(&entries[i]).id).expect("id"));
    let mut script: Vec<PullItem> = entries.into_iter().map(|e| it(Item::Entry(e))).collect();
    script.push(heads("", vec![]));
    *cell.lock().expect("cell") = script;
    drop(a);

    let b = fleet.start(1, &["--peer", &rogue.url, "--new-member"]);
    rogue.open();
    let label = |reason: &str| format!("origin=\"{}\",reason=\"{reason}\"", BOROUGHS[0]);
    wait_for_async(|| async {
        let m = metric_lines(&b);
        let counted = ["bad_signature", "invalid"].iter().all(|reason| {
            sample(&m, "prospectus_entries_rejected_total", &label(reason))
                .is_some_and(|v| v >= 1.0)
        });
        let s = b.status().await;
        let at_head = s
            .origins
            .iter()
            .any(|o| o.origin == BOROUGHS[0] && (o.epoch, o.seq) == head);
        (counted && at_head).then_some(())
    })
    .await;
    let m = metric_lines(&b);
    for reason in ["malformed", "unknown_key", "revoked_key", "origin_conflict"] {
        assert_eq!(
            sample(&m, "prospectus_entries_rejected_total", &label(reason)),
            None,
            "{reason}"
        );
    }
    for c in &data.courses {
        let served = course_at(&b, c.id).await;
        if victims.contains(&c.id) {
            assert_eq!(
                served,
                Err(tonic::Code::NotFound),
                "refused course {}",
                c.id
            );
        } else {
            assert_eq!(served.as_ref(), Ok(c), "course {}", c.id);
        }
    }
}

/// A peer that sends a few huge junk entries and then falls silent must not make the node
/// hold them unverified until a thousand have arrived: they are verified (and refused) once
/// a few MiB are held, whatever their count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_huge_junk_entries_are_refused_without_waiting_for_a_full_chunk() {
    let cell = Cell::default();
    let rogue = Rogue::serve(replay(&cell)).await;
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &["--new-member"]);
    let data = bundle(54, 3, BOROUGHS[0]);
    publish_when_ready(&a, "few", &data.into_records())
        .await
        .expect("publish");
    let (entries, _) = genuine(&a, BOROUGHS[0]).await;
    drop(a);
    // Eight entries of 1 MiB each with A's key id and a signature that cannot match: the
    // stream then stays open in silence (the rogue's script ends, the stream does not).
    let junk: Vec<PullItem> = (0..8u8)
        .map(|i| {
            let mut e = entry_of(&entries[0]);
            e.payload = vec![i; 1 << 20];
            let mut s = entries[0].clone();
            s.entry_bytes = e.encode_to_vec();
            it(Item::Entry(s))
        })
        .collect();
    *cell.lock().expect("cell") = junk;
    let b = fleet.start(1, &["--peer", &rogue.url, "--new-member"]);
    rogue.open();
    wait_for_async(|| async {
        let s = b.status().await;
        s.peers
            .iter()
            .any(|p| p.url == rogue.url && p.rejected >= 4)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_a_subscribe_is_a_down_link_and_is_retried() {
    let mute = Rogue::mute().await;
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let b = fleet.start(1, &["--peer", &mute.url, "--new-member"]);
    // The connection is accepted and the call never answered: within the bound the link is
    // down with a clear error, and it is tried again (not held by the silent peer for ever).
    wait_status(&b, "the silent peer's link to be down", |s| {
        s.peers
            .iter()
            .any(|p| p.url == mute.url && !p.connected && p.last_error.contains("no answer"))
    })
    .await;
    wait_for("a second Subscribe", || (mute.calls() >= 2).then_some(()));
}
