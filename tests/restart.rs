//! A node's search index survives restarts: real node processes on real sled data dirs,
//! killed with SIGKILL and started again. A restarted node reopens the index it kept in its
//! data dir without rebuilding it (`/readyz` says how the index was opened); an index left
//! behind by a kill between the store's commit and the index's is caught up from the store's
//! change feed, including the removals of a snapshot re-sync it missed; a corrupt or foreign
//! index dir is rebuilt. Every answer is checked against the same node rebuilt from scratch.

mod common;

use common::*;
use prospectus_model::{Record, Uuid};
use prospectus_proto::v1 as w;
use std::path::Path;

/// What `/readyz` says of the index: how it was opened and how many courses it holds.
fn index_state(node: &Node) -> (String, u64) {
    let (_, body) = http_get(&node.addr, "/readyz");
    let v: serde_json::Value = serde_json::from_str(&body).expect("readyz JSON");
    (
        v["index_opened"].as_str().unwrap_or_default().to_string(),
        v["index_courses"].as_u64().unwrap_or(0),
    )
}

fn wait_courses(node: &Node, n: u64) {
    wait_for(&format!("the index to hold {n} courses"), || {
        (index_state(node).1 == n).then_some(())
    });
}

/// One search's answer, reduced to what must not change across a restart.
type Answer = (
    u64,
    Vec<(String, u32, String, Option<u32>, String)>,
    Vec<(String, u64)>,
);

fn requests() -> Vec<w::SearchRequest> {
    let all = w::SearchRequest {
        page_size: 100,
        ..Default::default()
    };
    vec![
        all.clone(),
        w::SearchRequest {
            text: "english".into(),
            ..all.clone()
        },
        w::SearchRequest {
            text: "zephyrology".into(),
            ..all.clone()
        },
        w::SearchRequest {
            text: "renamedprovider".into(),
            ..all.clone()
        },
        w::SearchRequest {
            boroughs: vec![SOUTHWARK.into()],
            sort: w::SortOrder::Fee as i32,
            ..all
        },
    ]
}

async fn answers(node: &Node) -> Vec<Answer> {
    let mut d = node.directory().await;
    let mut out = Vec::new();
    for req in requests() {
        let r = d.search(req).await.expect("search").into_inner();
        let hits = r
            .hits
            .iter()
            .map(|h| {
                let view = h.course.as_ref().expect("course view");
                (
                    view.course
                        .as_ref()
                        .map(|c| c.id.clone())
                        .unwrap_or_default(),
                    h.score.to_bits(),
                    h.next_start.clone(),
                    h.fee_pence,
                    view.provider
                        .as_ref()
                        .map(|p| p.name.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let facets = r
            .category_facets
            .iter()
            .chain(&r.borough_facets)
            .map(|f| (f.value.clone(), f.count))
            .collect();
        out.push((r.total_hits, hits, facets));
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

fn replace_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    copy_dir(from, to);
}

/// Kills `node`, removes its index and starts it again: the answers of a full rebuild.
async fn rebuilt_answers(node: &mut Node) -> Vec<Answer> {
    node.kill9();
    std::fs::remove_dir_all(node.dir.join("index")).expect("rm index");
    node.start_again();
    let (how, _) = index_state(node);
    assert_eq!(how, "rebuilt: no index on disk");
    answers(node).await
}

fn delete_op(id: Uuid) -> w::PublishOp {
    w::PublishOp {
        op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
            kind: w::RecordKind::Course as i32,
            id: id.to_string(),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reopens_its_index_and_answers_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let mut node = Node::start(&dir, SOUTHWARK);
    assert_eq!(index_state(&node).0, "rebuilt: no index on disk");
    let data = bundle(41, 80, SOUTHWARK);
    publish_when_ready(&node, "load", &data.into_records())
        .await
        .expect("publish");
    wait_courses(&node, 80);
    let before = answers(&node).await;
    assert_eq!(before[0].0, 80);

    for _ in 0..2 {
        node.kill9();
        node.start_again();
        assert_eq!(index_state(&node), ("reopened".to_string(), 80));
        assert_eq!(answers(&node).await, before);
    }
    assert_eq!(rebuilt_answers(&mut node).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_between_the_store_commit_and_the_index_commit_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let mut node = Node::start(&dir, SOUTHWARK);
    let data = bundle(42, 60, SOUTHWARK);
    publish_when_ready(&node, "load", &data.clone().into_records())
        .await
        .expect("publish");
    wait_courses(&node, 60);
    // The index as it stood before the next changes: what a kill after their store commit
    // and before the index's leaves on disk.
    node.kill9();
    let aside = tmp.path().join("index-before");
    copy_dir(&dir.join("index"), &aside);
    node.start_again();

    // Deletions, new titles, a provider renamed under its courses, new courses.
    let mut ops: Vec<w::PublishOp> = data.courses[..10].iter().map(|c| delete_op(c.id)).collect();
    for c in &data.courses[10..15] {
        let mut c = c.clone();
        c.title = format!("{} zephyrology", c.title);
        ops.push(op(&Record::Course(c)));
    }
    let mut p = data.providers[0].clone();
    p.name = "Renamedprovider College".into();
    ops.push(op(&Record::Provider(p)));
    let more = bundle(43, 10, SOUTHWARK);
    ops.extend(more.into_records().iter().map(op));
    publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "changes",
        ops,
    )
    .await
    .expect("publish changes");
    wait_courses(&node, 60);
    node.kill9();
    replace_dir(&aside, &dir.join("index"));

    node.start_again();
    let (how, n) = index_state(&node);
    let changes: usize = how
        .strip_prefix("caught up ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("index opened as {how:?}"));
    assert!(changes >= 26, "{changes} changes re-applied");
    assert_eq!(n, 60);
    let caught_up = answers(&node).await;
    assert_eq!(caught_up[0].0, 60);
    assert_eq!(caught_up[2].0, 5, "the new titles are searchable");
    assert!(
        caught_up[3].0 > 0,
        "the renamed provider's courses carry its name"
    );
    let listed: Vec<&String> = caught_up[0].1.iter().map(|h| &h.0).collect();
    for c in &data.courses[..10] {
        assert!(
            !listed.contains(&&c.id.to_string()),
            "deleted {} served",
            c.id
        );
    }
    // The caught-up index committed: the next start reopens it as is.
    node.kill9();
    node.start_again();
    assert_eq!(index_state(&node).0, "reopened");
    assert_eq!(answers(&node).await, caught_up);
    assert_eq!(rebuilt_answers(&mut node).await, caught_up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_by_a_snapshot_resync_the_index_missed_are_caught_up() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &["--tombstone-grace-secs", "1"]);
    let a_url = a.url();
    let mut b = fleet.start(1, &["--peer", &a_url]);
    let _c = fleet.start(2, &[]);
    let data = bundle(44, 60, BOROUGHS[0]);
    let r = publish_when_ready(&a, "create", &data.clone().into_records())
        .await
        .expect("publish");
    wait_status(&b, "B has A", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;
    wait_courses(&b, 60);
    b.kill9();
    let aside = tmp.path().join("b-index-before");
    copy_dir(&b.dir.join("index"), &aside);

    // A deletes 20 and purges the tombstones: B can only learn of it by a snapshot.
    let gone: Vec<Uuid> = data.courses.iter().take(20).map(|c| c.id).collect();
    let r2 = publish_batch(
        &mut a.publisher().await,
        &a.admin_token(),
        "delete",
        gone.iter().map(|id| delete_op(*id)).collect(),
    )
    .await
    .expect("delete");
    wait_for_floor(&a, BOROUGHS[0], r2.last_seq).await;
    b.start_again();
    wait_status(&b, "B to converge via a snapshot", |s| {
        converged(s, BOROUGHS[0], (r2.epoch, r2.last_seq))
    })
    .await;
    assert!(
        b.log().contains("requesting snapshot"),
        "B re-synced A by snapshot"
    );
    wait_courses(&b, 40);
    // B's index as it was before the snapshot, its store after it.
    b.kill9();
    replace_dir(&aside, &b.dir.join("index"));
    b.start_again();
    let (how, n) = index_state(&b);
    assert!(how.starts_with("caught up "), "index opened as {how:?}");
    assert_eq!(n, 40);
    let caught_up = answers(&b).await;
    let listed: Vec<&String> = caught_up[0].1.iter().map(|h| &h.0).collect();
    assert_eq!(listed.len(), 40);
    for id in &gone {
        assert!(!listed.contains(&&id.to_string()), "removed {id} served");
    }
    assert_eq!(rebuilt_answers(&mut b).await, caught_up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_foreign_index_dir_is_rebuilt_not_served() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let mut node = Node::start(&dir, SOUTHWARK);
    publish_when_ready(&node, "load", &bundle(45, 40, SOUTHWARK).into_records())
        .await
        .expect("publish");
    wait_courses(&node, 40);
    let want = answers(&node).await;
    node.kill9();
    let index = dir.join("index");

    // A flipped byte in the largest segment file.
    let largest = std::fs::read_dir(&index)
        .expect("index dir")
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".json"))
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("a segment file")
        .path();
    let mut bytes = std::fs::read(&largest).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&largest, bytes).expect("write");
    node.start_again();
    let (how, _) = index_state(&node);
    assert!(
        how.starts_with("rebuilt: ") && how.contains("corrupt"),
        "{how}"
    );
    assert_eq!(answers(&node).await, want);

    // An unreadable last commit.
    node.kill9();
    std::fs::write(index.join("meta.json"), b"{ not json").expect("write");
    node.start_again();
    let (how, _) = index_state(&node);
    assert!(how.starts_with("rebuilt: "), "{how}");
    assert_eq!(answers(&node).await, want);

    // Another node's index, however well-formed, is never taken for this store's.
    let other_dir = tmp.path().join("other");
    let mut other = Node::start(&other_dir, SOUTHWARK);
    publish_when_ready(&other, "load", &bundle(45, 40, SOUTHWARK).into_records())
        .await
        .expect("publish");
    wait_courses(&other, 40);
    other.kill9();
    node.kill9();
    replace_dir(&other_dir.join("index"), &index);
    node.start_again();
    assert_eq!(
        index_state(&node).0,
        "rebuilt: the index was derived from another store"
    );
    assert_eq!(answers(&node).await, want);
}
