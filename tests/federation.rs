//! Several real node processes on loopback replicating one signed directory: relay, bootstrap
//! from a non-origin, refusal of forged data, partition and heal with deletes, kill -9 during
//! catch-up, and recovery of a borough that lost its disk.

mod common;

use common::*;
use prospectus_model::{Record, RecordKind};
use prospectus_proto::v1 as w;
use tonic::Code;

async fn publish(node: &Node, key: &str, records: &[Record]) -> w::PublishReceipt {
    publish_when_ready(node, key, records)
        .await
        .expect("publish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_published_at_a_is_searchable_at_c_with_a_verified_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &[]);
    let _b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(11, 300, BOROUGHS[0]);
    let r = publish(&a, "first", &data.clone().into_records()).await;
    let head = (r.epoch, r.last_seq);

    wait_status(&c, "C to verify A's checkpoint", |s| {
        converged(s, BOROUGHS[0], head)
    })
    .await;
    // The search index follows the store asynchronously: poll it (with the deadline).
    let want = data.courses.len() as u64;
    let dir = c.directory().await;
    wait_for_async(|| {
        let mut dir = dir.clone();
        async move {
            let res = dir
                .search(w::SearchRequest {
                    boroughs: vec![BOROUGHS[0].into()],
                    page_size: 1,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            (res.total_hits == want).then_some(())
        }
    })
    .await;
    for course in data.courses.iter().take(50) {
        assert_eq!(course_at(&c, course.id).await.as_ref(), Ok(course));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_origin_down_a_new_node_bootstraps_it_from_a_relay() {
    let tmp = tempfile::tempdir().unwrap();
    // A is the federation's first borough: D joins later, so not every peer can answer.
    let fleet = Fleet::new(tmp.path(), 4);
    let mut a = fleet.start(0, &["--new-member"]);
    let _b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(12, 200, BOROUGHS[0]);
    let r = publish(&a, "x", &data.clone().into_records()).await;
    let head = (r.epoch, r.last_seq);
    wait_status(&c, "C to verify A", |s| converged(s, BOROUGHS[0], head)).await;

    a.kill9();
    // C still answers for A.
    assert_eq!(
        course_at(&c, data.courses[0].id).await.as_ref(),
        Ok(&data.courses[0])
    );

    // D knows only C, yet gets A's records, verified with A's key from the roster.
    let c_url = c.url();
    let d = fleet.start(3, &["--peer", &c_url]);
    let s = wait_status(&d, "D to verify A via C", |s| {
        converged(s, BOROUGHS[0], head)
    })
    .await;
    let a_at_d = s
        .origins
        .iter()
        .find(|o| o.origin == BOROUGHS[0])
        .expect("A at D");
    assert_eq!(a_at_d.live_count, data.len() as u64);
    for course in &data.courses {
        assert_eq!(course_at(&d, course.id).await.as_ref(), Ok(course));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_node_converges_after_heal_and_no_deleted_record_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &[]);
    let mut b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(13, 700, BOROUGHS[0]);
    let r = publish(&a, "initial", &data.clone().into_records()).await;
    wait_status(&b, "B to verify A", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;

    b.kill9();
    // 1,000 changes while B is away: 400 updates, 300 deletes, 300 new courses, in 4 batches.
    let mut changes: Vec<w::PublishOp> = Vec::new();
    for c in data.courses.iter().take(400) {
        let mut c = c.clone();
        c.title = format!("{} (updated)", c.title);
        changes.push(op(&Record::Course(c)));
    }
    let deleted: Vec<_> = data.courses[400..].iter().take(300).map(|c| c.id).collect();
    assert_eq!(deleted.len(), 300);
    for id in &deleted {
        changes.push(w::PublishOp {
            op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
                kind: w::RecordKind::Course as i32,
                id: id.to_string(),
            })),
        });
    }
    let extra = bundle(14, 300, BOROUGHS[0]);
    let provider_and_venues: Vec<Record> = extra
        .providers
        .iter()
        .cloned()
        .map(Record::Provider)
        .chain(extra.venues.iter().cloned().map(Record::Venue))
        .collect();
    publish(&a, "extra-refs", &provider_and_venues).await;
    for c in &extra.courses {
        changes.push(op(&Record::Course(c.clone())));
    }
    assert_eq!(changes.len(), 1000);
    let mut last = None;
    for (i, chunk) in changes.chunks(250).enumerate() {
        last = Some(
            publish_batch(
                &mut a.publisher().await,
                &a.admin_token(),
                &format!("p{i}"),
                chunk.to_vec(),
            )
            .await
            .expect("publish while B is down"),
        );
    }
    let last = last.expect("batches");
    let head = (last.epoch, last.last_seq);

    b.start_again();
    wait_status(&b, "B to converge after heal", |s| {
        converged(s, BOROUGHS[0], head)
    })
    .await;
    wait_status(&c, "C to converge", |s| converged(s, BOROUGHS[0], head)).await;
    for id in &deleted {
        assert_eq!(
            course_at(&b, *id).await,
            Err(Code::NotFound),
            "deleted course {id} came back"
        );
    }
    for c in data.courses.iter().take(400) {
        let got = course_at(&b, c.id).await.expect("updated course");
        assert!(got.title.ends_with("(updated)"));
    }
    for c in extra.courses.iter().take(50) {
        assert_eq!(course_at(&b, c.id).await.as_ref(), Ok(c));
    }
    // The digests agree everywhere (verified above against A's signed checkpoint).
    let sa = a.status().await;
    let sb = b.status().await;
    let live = |s: &w::StatusResponse| {
        s.origins
            .iter()
            .find(|o| o.origin == BOROUGHS[0])
            .map(|o| o.live_count)
    };
    assert_eq!(live(&sa), live(&sb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_catch_up_resumes_from_its_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    // A is the federation's first borough (B joins late, so not every peer can answer).
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &["--new-member"]);
    let _c = fleet.start(2, &[]);
    let data = bundle(15, 5000, BOROUGHS[0]);
    let r = publish(&a, "big", &data.clone().into_records()).await;
    let head = (r.epoch, r.last_seq);

    // B starts empty and is killed as soon as it has applied part of A's log.
    let mut b = fleet.start(1, &[]);
    let mut partial = None;
    let start = std::time::Instant::now();
    while start.elapsed() < DEADLINE {
        let s = b.status().await;
        if let Some(o) = s.origins.iter().find(|o| o.origin == BOROUGHS[0])
            && o.seq > 0
        {
            partial = Some(o.seq);
            break;
        }
    }
    b.kill9();
    let seen = partial.expect("B started applying A's log");
    assert!(
        seen < head.1,
        "B was killed after, not during, its catch-up ({seen} of {})",
        head.1
    );

    b.start_again();
    let s = wait_status(&b, "B to converge after restart", |s| {
        converged(s, BOROUGHS[0], head)
    })
    .await;
    let a_at_b = s
        .origins
        .iter()
        .find(|o| o.origin == BOROUGHS[0])
        .expect("A at B");
    assert_eq!(a_at_b.live_count, data.len() as u64);
    // Nothing was applied twice: after the restart the link applied exactly what was missing.
    let applied: u64 = s.peers.iter().map(|p| p.applied).sum();
    assert!(
        applied <= head.1,
        "applied {applied} > log length {}",
        head.1
    );
    assert!(seen <= head.1);
    for c in data.courses.iter().step_by(97) {
        assert_eq!(course_at(&b, c.id).await.as_ref(), Ok(c));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borough_that_lost_its_disk_restores_from_peers_and_continues_in_a_new_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(16, 150, BOROUGHS[0]);
    let r1 = publish(&a, "before", &data.clone().into_records()).await;
    assert_eq!(r1.epoch, 1);
    let head1 = (r1.epoch, r1.last_seq);
    wait_status(&b, "B has A", |s| converged(s, BOROUGHS[0], head1)).await;
    wait_status(&c, "C has A", |s| converged(s, BOROUGHS[0], head1)).await;

    // The disk is lost; the key (kept elsewhere) is not.
    a.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).expect("wipe A's data dir");
    let a = fleet.start(0, &[]);
    wait_status(
        &a,
        "A to restore its origin and verify its checkpoint",
        |s| !s.recovering && converged(s, BOROUGHS[0], head1),
    )
    .await;
    for course in data.courses.iter().take(20) {
        assert_eq!(course_at(&a, course.id).await.as_ref(), Ok(course));
    }

    // New writes continue in epoch 2 and every node accepts them.
    let mut changed = data.courses[0].clone();
    changed.title = "Published after recovery".into();
    let r2 = publish(&a, "after", &[Record::Course(changed.clone())]).await;
    assert_eq!((r2.epoch, r2.first_seq), (2, 1));
    let head2 = (r2.epoch, r2.last_seq);
    for n in [&b, &c] {
        wait_status(n, "peers accept epoch 2", |s| {
            converged(s, BOROUGHS[0], head2)
        })
        .await;
        assert_eq!(
            course_at(n, changed.id).await.expect("course").title,
            "Published after recovery"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_peers_forged_altered_unknown_and_forked_entries_are_never_stored() {
    use prospectus_proto::v1::{Entry, Op, SignedEntry, pull_item::Item};
    use prost::Message;
    let tmp = tempfile::tempdir().unwrap();
    // A is the federation's first borough (B joins later, so not every peer can answer).
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &["--new-member"]);
    let _c = fleet.start(2, &[]);
    let data = bundle(17, 50, BOROUGHS[0]);
    let r = publish(&a, "honest", &data.clone().into_records()).await;
    let a_key = prospectus_server::NodeKey::load_or_create(&tmp.path().join("key-0"))
        .unwrap()
        .0;
    let stranger = prospectus_server::NodeKey::generate();

    // Take A's real first entry (the first provider) as the template for the forgeries.
    let victim = &data.providers[0];
    let mut f = a.channel().await;
    let mut pulled = prospectus_proto::v1::federation_client::FederationClient::new(f.clone())
        .pull(w::PullRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut first: Option<SignedEntry> = None;
    while let Some(item) = pulled.message().await.unwrap() {
        if let Some(Item::Entry(e)) = item.item
            && Entry::decode(e.entry_bytes.as_slice()).unwrap().seq == 1
        {
            first = Some(e);
        }
    }
    let first = first.expect("A's seq 1");
    let first_entry = Entry::decode(first.entry_bytes.as_slice()).unwrap();
    assert_eq!(first_entry.id, victim.id.as_bytes().to_vec());
    let _ = &mut f;

    let mut forged_provider = victim.clone();
    forged_provider.name = "Forged Name".into();
    let forged_payload =
        prospectus_proto::encode_record(&Record::Provider(forged_provider.clone()));
    let new_id = prospectus_model::Uuid::new_v4();
    let mut new_provider = victim.clone();
    new_provider.id = new_id;
    let new_payload = prospectus_proto::encode_record(&Record::Provider(new_provider));

    // 1. Bad signature: a new record "signed" with garbage.
    let mut bad_sig = rogue::signed(
        &a_key,
        &Entry {
            seq: r.last_seq + 1,
            id: new_id.as_bytes().to_vec(),
            payload: new_payload.clone(),
            ..first_entry.clone()
        },
    );
    if let Some(Item::Entry(e)) = &mut bad_sig.item {
        e.signature[0] ^= 0xff;
    }
    // 2. Altered payload under A's genuine signature of seq 1.
    let mut altered_entry = first_entry.clone();
    altered_entry.payload = forged_payload.clone();
    let altered = w::PullItem {
        seal: None,
        item: Some(Item::Entry(SignedEntry {
            entry_bytes: altered_entry.encode_to_vec(),
            key_id: first.key_id.clone(),
            signature: first.signature.clone(),
        })),
    };
    // 3. Signed by a key the roster does not list for A.
    let unknown = rogue::signed(
        &stranger,
        &Entry {
            seq: r.last_seq + 2,
            id: new_id.as_bytes().to_vec(),
            payload: new_payload.clone(),
            ..first_entry.clone()
        },
    );
    // 4. A fork: A's real key, the same (epoch, seq) as the genuine first entry, other content.
    let forked = rogue::signed(
        &a_key,
        &Entry {
            payload: forged_payload.clone(),
            op: Op::Upsert as i32,
            ..first_entry.clone()
        },
    );
    // A heads after the entries makes the node apply (and count) them.
    let script = vec![
        bad_sig,
        altered,
        unknown,
        forked,
        w::PullItem {
            seal: None,
            item: Some(Item::Heads(w::Heads::default())),
        },
    ];
    let rogue = rogue::Rogue::serve(move |_| script.clone()).await;
    rogue.open();
    let rogue_url = rogue.url.clone();

    // B syncs from A first (and holds A's genuine entries), then also from the rogue: a
    // restart with both peers, so the order is fixed rather than a race between the links.
    let a_url = a.url();
    let head = (r.epoch, r.last_seq);
    let first = fleet.start(1, &["--peer", &a_url]);
    wait_status(&first, "B to hold A's genuine entries", |s| {
        converged(s, BOROUGHS[0], head)
    })
    .await;
    drop(first);
    let b = fleet.start(1, &["--peer", &a_url, "--peer", &rogue_url]);
    // Everything below changes asynchronously (fork record, link counters, metrics): one
    // poll on the whole condition.
    let lines: Vec<String> = ["bad_signature", "unknown_key"]
        .iter()
        .map(|reason| {
            format!(
                "prospectus_entries_rejected_total{{origin=\"{}\",reason=\"{reason}\"}} ",
                BOROUGHS[0]
            )
        })
        .collect();
    let start = std::time::Instant::now();
    let s = loop {
        let s = b.status().await;
        let (code, metrics) = http_get(&b.addr, "/metrics");
        let done = converged(&s, BOROUGHS[0], head)
            && s.forks
                .iter()
                .any(|f| f.origin == BOROUGHS[0] && f.seq == 1)
            && s.peers
                .iter()
                .any(|p| p.url == rogue_url && p.rejected >= 2)
            && code == 200
            && lines
                .iter()
                .all(|line| metrics.lines().any(|l| l.starts_with(line.as_str())));
        if done {
            break s;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for the fork, the rogue link's rejections and {lines:?}; \
             last status: {s:#?}\nlast metrics:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        s.origins
            .iter()
            .any(|o| o.origin == BOROUGHS[0] && o.forks >= 1)
    );

    // Nothing forged was stored.
    let mut dir = b.directory().await;
    let p = dir
        .get_provider(get_req(victim.id))
        .await
        .expect("provider")
        .into_inner();
    assert_eq!(p.name, victim.name);
    assert_eq!(
        dir.get_provider(get_req(new_id)).await.unwrap_err().code(),
        Code::NotFound
    );

    // And B keeps syncing from the honest peer.
    let mut more = data.courses[0].clone();
    more.title = "Still syncing".into();
    let r2 = publish(&a, "more", &[Record::Course(more.clone())]).await;
    wait_status(&b, "B to take A's next batch", |s| {
        converged(s, BOROUGHS[0], (r2.epoch, r2.last_seq))
    })
    .await;
    assert_eq!(
        course_at(&b, more.id).await.expect("course").title,
        "Still syncing"
    );
    let _ = RecordKind::Course;
}

mod pki {
    //! A throwaway CA for mutual-TLS tests.
    use std::path::{Path, PathBuf};

    pub struct Ca {
        issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
        pub pem: PathBuf,
    }

    impl Ca {
        pub fn new(dir: &Path) -> Ca {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let issuer =
                rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap())
                    .unwrap();
            let pem = dir.join("ca.pem");
            std::fs::write(&pem, issuer.pem()).unwrap();
            Ca { issuer, pem }
        }

        /// Writes `name.crt`/`name.key` valid for `dns` names; returns their paths.
        pub fn issue(&self, dir: &Path, name: &str, dns: &[&str]) -> (PathBuf, PathBuf) {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(
                dns.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .unwrap()
            .signed_by(&key, &*self.issuer)
            .unwrap();
            let (c, k) = (
                dir.join(format!("{name}.crt")),
                dir.join(format!("{name}.key")),
            );
            std::fs::write(&c, cert.pem()).unwrap();
            super::common::write_secret(&k, key.serialize_pem().as_bytes());
            (c, k)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_replicate_over_mutual_tls_and_refuse_peers_without_a_roster_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ca = pki::Ca::new(root);
    let names = ["a.prospectus.test", "b.prospectus.test"];
    let addrs = [unique_addr(), unique_addr()];
    let mut roster = String::new();
    let mut certs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (key, _) =
            prospectus_server::NodeKey::load_or_create(&root.join(format!("key-{i}"))).unwrap();
        roster.push_str(&format!(
            "[[member]]\norigin = \"{}\"\nname = \"N{i}\"\nendpoint = \"https://{}\"\ntls_name = \"{name}\"\n[[member.keys]]\npublic_key = \"{}\"\n\n",
            BOROUGHS[i],
            addrs[i],
            key.public_hex()
        ));
        let ip = addrs[i].ip().to_string();
        certs.push(ca.issue(root, &format!("node{i}"), &[&ip, "localhost", name]));
    }
    let roster_path = root.join("roster.toml");
    std::fs::write(&roster_path, roster).unwrap();
    let start = |i: usize| {
        let (c, k) = &certs[i];
        let key = root.join(format!("key-{i}"));
        Node::start_on(
            &root.join(format!("node-{i}")),
            BOROUGHS[i],
            &addrs[i].to_string(),
            &[
                "--roster",
                roster_path.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--tls-cert",
                c.to_str().unwrap(),
                "--tls-key",
                k.to_str().unwrap(),
                "--tls-client-ca",
                ca.pem.to_str().unwrap(),
                "--federation-ca",
                ca.pem.to_str().unwrap(),
            ],
        )
    };
    let a = start(0);
    let b = start(1);
    let data = bundle(18, 40, BOROUGHS[0]);
    let r = publish(&a, "tls", &data.clone().into_records()).await;
    wait_status(&b, "B to verify A over mTLS", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;

    use prospectus_proto::v1::federation_client::FederationClient;
    // No client certificate: the open Directory answers, the Federation service does not.
    let plain = prospectus_server::client::connect(&a.url(), Some(&ca.pem))
        .await
        .unwrap();
    assert!(
        prospectus_server::client::DirectoryClient::new(plain.clone())
            .search(w::SearchRequest::default())
            .await
            .is_ok()
    );
    let e = FederationClient::new(plain)
        .get_heads(w::GetHeadsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // A certificate from the same CA, but for a name no roster member has.
    let (c, k) = ca.issue(root, "stranger", &["stranger.prospectus.test"]);
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(&ca.pem).unwrap(),
        ))
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(c).unwrap(),
            std::fs::read(k).unwrap(),
        ))
        .domain_name("localhost");
    let ch = tonic::transport::Endpoint::from_shared(a.url())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let e = FederationClient::new(ch)
        .get_heads(w::GetHeadsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_away_longer_than_the_tombstone_grace_resyncs_from_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let a = fleet.start(0, &["--tombstone-grace-secs", "1"]);
    let a_url = a.url();
    let mut b = fleet.start(1, &["--peer", &a_url]);
    let _c = fleet.start(2, &[]);
    let data = bundle(19, 100, BOROUGHS[0]);
    let r = publish(&a, "x", &data.clone().into_records()).await;
    wait_status(&b, "B has A", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;

    b.kill9();
    let gone: Vec<_> = data.courses.iter().take(30).map(|c| c.id).collect();
    let dels = gone
        .iter()
        .map(|id| w::PublishOp {
            op: Some(w::publish_op::Op::Delete(w::DeleteRequest {
                kind: w::RecordKind::Course as i32,
                id: id.to_string(),
            })),
        })
        .collect();
    let r2 = publish_batch(&mut a.publisher().await, &a.admin_token(), "del", dels)
        .await
        .expect("delete");
    // A purges the tombstones after the grace and raises its floor past B's cursor.
    wait_for_floor(&a, BOROUGHS[0], r2.last_seq).await;

    // B, whose only peer is A, is told SnapshotRequired and re-syncs A whole.
    b.start_again();
    wait_status(&b, "B to converge via a snapshot", |s| {
        converged(s, BOROUGHS[0], (r2.epoch, r2.last_seq))
    })
    .await;
    for id in &gone {
        assert_eq!(
            course_at(&b, *id).await,
            Err(Code::NotFound),
            "deleted course {id} came back"
        );
    }
    assert!(
        b.log().contains("requesting snapshot"),
        "B should have asked for a snapshot"
    );
}

/// On a filtered stream an origin's checkpoint rides on the next 10 s beat when one went less
/// than a beat ago; the entries before it must not wait for it. Each of several quick changes
/// is at B well within a beat (before the fix, the second and later waited for the beat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_successive_changes_arrive_without_waiting_for_a_checkpoint_beat() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let a = fleet.start(0, &["--new-member"]);
    let b = fleet.start(1, &[]);
    let a_url = format!("http://{}", fleet.addrs[0]);
    wait_status(
        &b,
        "B to take A's entries from A on a filtered stream",
        |s| {
            s.peers.iter().any(|p| {
                p.url == a_url
                    && p.connected
                    && !p.every_origin
                    && p.entry_origins == vec![BOROUGHS[0].to_string()]
            })
        },
    )
    .await;
    let data = bundle(31, 5, BOROUGHS[0]);
    let r = publish(&a, "first", &data.clone().into_records()).await;
    wait_status(&b, "B to verify A's checkpoint", |s| {
        converged(s, BOROUGHS[0], (r.epoch, r.last_seq))
    })
    .await;
    let mut course = data.courses[0].clone();
    for k in 0..4 {
        course.title = format!("Quick change {k}");
        publish(
            &a,
            &format!("change-{k}"),
            &[Record::Course(course.clone())],
        )
        .await;
        let published = std::time::Instant::now();
        loop {
            if course_at(&b, course.id)
                .await
                .is_ok_and(|c| c.title == course.title)
            {
                break;
            }
            assert!(
                published.elapsed() < std::time::Duration::from_secs(5),
                "change {k} not at B 5 s after A acknowledged it"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
