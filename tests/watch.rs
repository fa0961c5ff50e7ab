//! `Directory.WatchChanges`: a link-worker system following one node's course changes over real
//! gRPC ends with exactly the live set, and resumes from its position without repeats.

mod common;

use common::*;
use prospectus_model::{Course, Record};
use prospectus_proto::FromWire;
use prospectus_proto::v1 as w;
use std::collections::BTreeMap;

fn delete_op(id: prospectus_model::Uuid) -> w::PublishOp {
    w::PublishOp {
        op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
            kind: w::RecordKind::Course as i32,
            id: id.to_string(),
        })),
    }
}

/// Applies changes from `stream` to `copy` until it equals `want` (or the deadline passes).
async fn follow(
    stream: &mut tonic::Streaming<w::CourseChange>,
    copy: &mut BTreeMap<String, Course>,
    want: &BTreeMap<String, Course>,
    last: &mut u64,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while copy != want {
        let msg = tokio::time::timeout_at(deadline, stream.message())
            .await
            .expect("changes before the deadline")
            .expect("stream")
            .expect("stream open");
        assert!(msg.position > *last, "positions increase");
        *last = msg.position;
        if msg.deleted {
            copy.remove(&msg.id);
        } else {
            let view = msg.course.expect("course on upsert");
            let c = Course::from_wire(view.course.as_ref().expect("course")).expect("decode");
            assert_eq!(view.origin, SOUTHWARK);
            copy.insert(msg.id.clone(), c);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_of_the_change_feed_holds_exactly_the_live_set_and_resumes_without_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut dir = node.directory().await;
    let mut stream = dir
        .watch_changes(w::WatchChangesRequest { after: 0 })
        .await
        .expect("watch")
        .into_inner();

    let data = prospectus_dataset::generate(21, 60, Some(SOUTHWARK)).expect("generate");
    let token = node.admin_token();
    let mut pubc = node.publisher().await;
    publish_batch(
        &mut pubc,
        &token,
        "create",
        bundle_records(&data).iter().map(op).collect(),
    )
    .await
    .expect("create");
    let mut want: BTreeMap<String, Course> = data
        .courses
        .iter()
        .map(|c| (c.id.to_string(), c.clone()))
        .collect();

    // Updates and deletes, in separate batches.
    let mut updates = Vec::new();
    for c in data.courses.iter().take(15) {
        let mut c = c.clone();
        c.title = format!("{} (changed)", c.title);
        want.insert(c.id.to_string(), c.clone());
        updates.push(op(&Record::Course(c)));
    }
    publish_batch(&mut pubc, &token, "update", updates)
        .await
        .expect("update");
    let deletes: Vec<_> = data.courses[40..].iter().map(|c| c.id).collect();
    for id in &deletes {
        want.remove(&id.to_string());
    }
    publish_batch(
        &mut pubc,
        &token,
        "delete",
        deletes.iter().copied().map(delete_op).collect(),
    )
    .await
    .expect("delete");

    let mut copy = BTreeMap::new();
    let mut last = 0;
    follow(&mut stream, &mut copy, &want, &mut last).await;
    drop(stream);

    // A fresh follower from the start converges on the same set, seeing each course once.
    let mut fresh = dir
        .watch_changes(w::WatchChangesRequest { after: 0 })
        .await
        .expect("watch")
        .into_inner();
    let mut seen = std::collections::HashSet::new();
    let mut copy2 = BTreeMap::new();
    let mut last2 = 0;
    while copy2 != want {
        let m = tokio::time::timeout(DEADLINE, fresh.message())
            .await
            .expect("in time")
            .expect("ok")
            .expect("open");
        assert!(
            seen.insert(m.id.clone()),
            "course {} sent twice to a fresh follower",
            m.id
        );
        last2 = m.position;
        if !m.deleted {
            let v = m.course.expect("course");
            copy2.insert(
                m.id.clone(),
                Course::from_wire(v.course.as_ref().expect("c")).expect("decode"),
            );
        }
    }
    assert!(last2 <= last);

    // Resuming from the last position delivers only what changed since.
    let mut resumed = dir
        .watch_changes(w::WatchChangesRequest { after: last })
        .await
        .expect("watch")
        .into_inner();
    let mut c = data.courses[0].clone();
    c.title = "Changed after resume".into();
    publish_batch(
        &mut pubc,
        &token,
        "after",
        vec![op(&Record::Course(c.clone()))],
    )
    .await
    .expect("publish");
    let m = tokio::time::timeout(DEADLINE, resumed.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("open");
    assert_eq!(m.id, c.id.to_string());
    assert!(m.position > last);
    // Nothing else was pending after the resume point: the very next message is the next
    // change made, not anything older (no timing window involved).
    let mut c2 = data.courses[1].clone();
    c2.title = "Second change after resume".into();
    publish_batch(
        &mut pubc,
        &token,
        "after-2",
        vec![op(&Record::Course(c2.clone()))],
    )
    .await
    .expect("publish");
    let m2 = tokio::time::timeout(DEADLINE, resumed.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("open");
    assert_eq!(
        m2.id,
        c2.id.to_string(),
        "an older change was still pending"
    );
    assert!(m2.position > m.position);
}
