//! Exact change feeds through a tombstone purge and a snapshot re-sync: a `WatchChanges`
//! consumer and an RPDE consumer of `/feeds/services` either hold exactly the live set or are
//! told to start again; neither can make one silently keep a course that is gone. Edge
//! positions are errors.

mod common;

use common::*;
use prospectus_model::{Record, Uuid};
use prospectus_proto::v1 as w;
use std::collections::BTreeMap;

/// id → title: what a consumer holds.
type Copy = BTreeMap<String, String>;

/// Told to start again (FAILED_PRECONDITION / 410).
#[derive(Debug)]
struct Restart;

fn delete_op(id: Uuid) -> w::PublishOp {
    w::PublishOp {
        op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
            kind: w::RecordKind::Course as i32,
            id: id.to_string(),
        })),
    }
}

/// Follows an open WatchChanges stream until `copy == want`.
async fn watch_until(
    stream: &mut tonic::Streaming<w::CourseChange>,
    copy: &mut Copy,
    pos: &mut u64,
    want: &Copy,
) -> Result<(), Restart> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while copy != want {
        let msg = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| {
                panic!("watch consumer stuck at {pos} with {copy:?}, want {want:?}")
            });
        let msg = match msg {
            Ok(Some(m)) => m,
            Ok(None) => panic!("stream ended"),
            Err(s) if s.code() == tonic::Code::FailedPrecondition => return Err(Restart),
            Err(s) => panic!("stream: {s:?}"),
        };
        *pos = msg.position;
        match msg.course {
            Some(v) if !msg.deleted => {
                copy.insert(msg.id, v.course.expect("course").title);
            }
            _ => {
                copy.remove(&msg.id);
            }
        }
    }
    Ok(())
}

/// Opens WatchChanges after `pos` and follows it until `copy == want`.
async fn watch_from(
    node: &Node,
    copy: &mut Copy,
    pos: &mut u64,
    want: &Copy,
) -> Result<(), Restart> {
    let mut dir = node.directory().await;
    let mut stream = match dir
        .watch_changes(w::WatchChangesRequest { after: *pos })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => return Err(Restart),
        Err(s) => panic!("watch: {s:?}"),
    };
    watch_until(&mut stream, copy, pos, want).await
}

/// Pages `/feeds/services` after `pos` until a page is empty, applying every item.
fn rpde_from(node: &Node, copy: &mut Copy, pos: &mut u64) -> Result<(), Restart> {
    loop {
        let (status, body) = http_get(&node.addr, &format!("/feeds/services?afterTimestamp={pos}"));
        if status == 410 {
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(v["error"], "feed_expired", "{body}");
            assert!(
                v["restart"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/feeds/services")),
                "{body}"
            );
            return Err(Restart);
        }
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let items = v["items"].as_array().expect("items");
        if items.is_empty() {
            return Ok(());
        }
        for it in items {
            let id = it["id"].as_str().expect("id").to_string();
            *pos = it["modified"].as_u64().expect("modified");
            match it["state"].as_str() {
                Some("updated") => {
                    copy.insert(id, it["data"]["name"].as_str().expect("name").to_string());
                }
                Some("deleted") => {
                    copy.remove(&id);
                }
                other => panic!("state {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_consumers_following_through_a_tombstone_purge_hold_the_live_set_or_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start_with(
        &tmp.path().join("node"),
        SOUTHWARK,
        &["--tombstone-grace-secs", "1"],
    );
    let token = node.admin_token();
    let data = prospectus_dataset::generate(33, 40, Some(SOUTHWARK)).expect("generate");
    let mut publisher = node.publisher().await;
    publish_batch(
        &mut publisher,
        &token,
        "create",
        bundle_records(&data).iter().map(op).collect(),
    )
    .await
    .expect("create");
    let mut want: Copy = data
        .courses
        .iter()
        .map(|c| (c.id.to_string(), c.title.clone()))
        .collect();

    // A live WatchChanges follower, and an RPDE reader, both caught up.
    let mut dir = node.directory().await;
    let mut live = dir
        .watch_changes(w::WatchChangesRequest { after: 0 })
        .await
        .expect("watch")
        .into_inner();
    let (mut live_copy, mut live_pos) = (Copy::new(), 0);
    watch_until(&mut live, &mut live_copy, &mut live_pos, &want)
        .await
        .expect("caught up");
    let (mut rpde_copy, mut rpde_pos) = (Copy::new(), 0);
    rpde_from(&node, &mut rpde_copy, &mut rpde_pos).expect("caught up");
    assert_eq!(rpde_copy, want);
    // A second WatchChanges consumer that read as far and then went away.
    let (mut away_copy, mut away_pos) = (live_copy.clone(), live_pos);

    // Deletions and updates, then the purge of those deletions.
    let deleted: Vec<Uuid> = data.courses[..10].iter().map(|c| c.id).collect();
    for id in &deleted {
        want.remove(&id.to_string());
    }
    publish_batch(
        &mut publisher,
        &token,
        "delete",
        deleted.iter().copied().map(delete_op).collect(),
    )
    .await
    .expect("delete");
    let mut updates = Vec::new();
    for c in &data.courses[10..15] {
        let mut c = c.clone();
        c.title = format!("{} (changed)", c.title);
        want.insert(c.id.to_string(), c.title.clone());
        updates.push(op(&Record::Course(c)));
    }
    publish_batch(&mut publisher, &token, "update", updates)
        .await
        .expect("update");

    // The live follower sees the deletions as they happen (or, should the purge overtake it,
    // is told to start again).
    if watch_until(&mut live, &mut live_copy, &mut live_pos, &want)
        .await
        .is_err()
    {
        (live_copy, live_pos) = (Copy::new(), 0);
        watch_from(&node, &mut live_copy, &mut live_pos, &want)
            .await
            .expect("restarted");
    }
    assert_eq!(live_copy, want);

    // The RPDE reader that stayed away past the purge is told to start again (poll until the
    // purge has run), and from the first page holds exactly the live set.
    wait_for_async(|| {
        let node = &node;
        let (mut c, mut p) = (rpde_copy.clone(), rpde_pos);
        async move { rpde_from(node, &mut c, &mut p).is_err().then_some(()) }
    })
    .await;
    let (mut rpde_copy, mut rpde_pos) = (Copy::new(), 0);
    rpde_from(&node, &mut rpde_copy, &mut rpde_pos).expect("from the start");
    assert_eq!(rpde_copy, want, "RPDE consumer after restart");

    // Same for the WatchChanges consumer that went away: refused at its old position...
    let mut probe = (away_copy.clone(), away_pos);
    assert!(
        watch_from(&node, &mut probe.0, &mut probe.1, &want)
            .await
            .is_err(),
        "a consumer positioned before purged deletions must be told to restart, not served {:?}",
        probe.0
    );
    // ...and exact after starting again.
    (away_copy, away_pos) = (Copy::new(), 0);
    watch_from(&node, &mut away_copy, &mut away_pos, &want)
        .await
        .expect("from the start");
    assert_eq!(away_copy, want);

    // The live follower is past the floor: it carries on without a restart.
    let mut c = data.courses[20].clone();
    c.title = "After the purge".into();
    want.insert(c.id.to_string(), c.title.clone());
    publish_batch(
        &mut publisher,
        &token,
        "after",
        vec![op(&Record::Course(c))],
    )
    .await
    .expect("after");
    watch_until(&mut live, &mut live_copy, &mut live_pos, &want)
        .await
        .expect("no restart past the floor");
    rpde_from(&node, &mut rpde_copy, &mut rpde_pos).expect("no restart past the floor");
    assert_eq!(rpde_copy, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_positions_beyond_the_head_are_refused_not_overflowed() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut dir = node.directory().await;
    for after in [u64::MAX, u64::MAX - 1, 1] {
        let e = dir
            .watch_changes(w::WatchChangesRequest { after })
            .await
            .err()
            .unwrap_or_else(|| panic!("after={after} on an empty feed must be refused"));
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("after"), "{}", e.message());
        let (status, body) = http_get(
            &node.addr,
            &format!("/feeds/services?afterTimestamp={after}"),
        );
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("afterTimestamp"), "{body}");
    }
    let (status, body) = http_get(
        &node.addr,
        "/feeds/services?afterTimestamp=18446744073709551616",
    );
    assert_eq!(status, 400, "{body}");
    // The node is still serving.
    let (status, _) = http_get(&node.addr, "/feeds/services?afterTimestamp=0");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_consumers_following_a_node_through_a_snapshot_resync_end_with_the_live_set() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &["--tombstone-grace-secs", "1"]);
    let a_url = a.url();
    let mut b = fleet.start(1, &["--peer", &a_url]);
    let _c = fleet.start(2, &[]);
    let data = bundle(29, 60, BOROUGHS[0]);
    let r = publish_when_ready(&a, "create", &data.clone().into_records())
        .await
        .expect("publish");
    wait_status(&b, "B has A", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;
    let mut want: Copy = data
        .courses
        .iter()
        .map(|c| (c.id.to_string(), c.title.clone()))
        .collect();

    // Both consumers follow B until they hold every course.
    let (mut watch_copy, mut watch_pos) = (Copy::new(), 0u64);
    watch_from(&b, &mut watch_copy, &mut watch_pos, &want)
        .await
        .expect("watch from 0");
    let (mut rpde_copy, mut rpde_pos) = (Copy::new(), 0u64);
    rpde_from(&b, &mut rpde_copy, &mut rpde_pos).expect("rpde from 0");
    assert_eq!(rpde_copy, want);

    // B is away while A deletes 20 courses and purges their tombstones, so B can only catch
    // up by a snapshot of A: the 20 removals reach B's feed through the snapshot alone.
    b.kill9();
    let gone: Vec<Uuid> = data.courses.iter().take(20).map(|c| c.id).collect();
    let r2 = publish_batch(
        &mut a.publisher().await,
        &a.admin_token(),
        "delete",
        gone.iter().map(|id| delete_op(*id)).collect(),
    )
    .await
    .expect("delete");
    for id in &gone {
        want.remove(&id.to_string());
    }
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

    // Resumed where they stopped, both end with exactly A's live set (or, if told to start
    // again, do so and then hold it): never with a course the snapshot removed.
    if watch_from(&b, &mut watch_copy, &mut watch_pos, &want)
        .await
        .is_err()
    {
        (watch_copy, watch_pos) = (Copy::new(), 0);
        watch_from(&b, &mut watch_copy, &mut watch_pos, &want)
            .await
            .expect("watch restarted from 0");
    }
    assert_eq!(watch_copy, want);
    if rpde_from(&b, &mut rpde_copy, &mut rpde_pos).is_err() {
        (rpde_copy, rpde_pos) = (Copy::new(), 0);
        rpde_from(&b, &mut rpde_copy, &mut rpde_pos).expect("rpde restarted from 0");
    }
    assert_eq!(rpde_copy, want, "RPDE consumer after the snapshot re-sync");
}
