//! Restores and joins with real node processes: a restored copy of a data dir takes its own
//! newer entries back from peers before it publishes; a position reused by a second process
//! with the same key is a fork at every peer, whichever history arrived first; `backup` of a
//! running node and `restore`, with a token revoked after the backup staying refused; the
//! first borough of a federation waits, saying why, unless started with `--new-member`;
//! `backup --out` writes through a temp name of its own (never a stranger's file).

mod common;

use common::*;
use prospectus_model::{Course, Record};
use prospectus_proto::v1 as w;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

async fn publish(node: &Node, key: &str, records: &[Record]) -> w::PublishReceipt {
    publish_when_ready(node, key, records)
        .await
        .expect("publish")
}

/// `cp -a` of a stopped node's data dir, as an admin's backup would.
fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success(), "cp -a {} {}", from.display(), to.display());
}

fn titled(c: &Course, title: &str) -> Record {
    let mut c = c.clone();
    c.title = title.to_string();
    Record::Course(c)
}

/// Every node holds origin A at `head`, verified, and serves `title` for course `id`.
async fn all_show(nodes: &[&Node], head: (u64, u64), id: prospectus_model::Uuid, title: &str) {
    for n in nodes {
        wait_for_async(|| async {
            let s = n.status().await;
            let t = course_at(n, id).await.ok().map(|c| c.title);
            (converged(&s, BOROUGHS[0], head) && t.as_deref() == Some(title)).then_some(())
        })
        .await;
    }
}

fn forks_gauge(node: &Node, origin: &str) -> f64 {
    let (_, m) = http_get(&node.addr, "/metrics");
    let prefix = format!("prospectus_origin_forks{{origin=\"{origin}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_copy_takes_its_own_newer_entries_back_before_it_publishes() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(61, 40, BOROUGHS[0]);
    let r1 = publish(&a, "first", &data.clone().into_records()).await;
    for n in [&b, &c] {
        wait_status(n, "peers hold A", |s| {
            converged(s, BOROUGHS[0], (r1.epoch, r1.last_seq))
        })
        .await;
    }

    // The admin's copy: stop, copy, start.
    assert!(a.terminate().success());
    let copy = tmp.path().join("copy");
    copy_dir(&fleet.dir(0), &copy);
    a.start_again();

    // 100 more changes after the copy, in 10 batches: the course ends as "change 99".
    let course = &data.courses[0];
    let mut last = r1.clone();
    for batch in 0..10 {
        let mut records: Vec<Record> = (0..10)
            .map(|i| titled(&data.courses[1 + i], &format!("batch {batch}")))
            .collect();
        records[9] = titled(course, &format!("change {}", batch * 10 + 9));
        last = publish(&a, &format!("after-copy-{batch}"), &records).await;
    }
    let head2 = (last.epoch, last.last_seq);
    assert_eq!(head2, (1, r1.last_seq + 100));
    all_show(&[&b, &c], head2, course.id, "change 99").await;

    // The disk is replaced by the copy; the node restarts on it.
    a.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).unwrap();
    std::fs::rename(&copy, fleet.dir(0)).unwrap();
    a.start_again();
    let r3 = publish(&a, "after-restore", &[titled(course, "after restore")]).await;
    // It took its own 100 newer entries back first: the next position follows theirs.
    assert_eq!((r3.epoch, r3.first_seq), (1, head2.1 + 1));
    let head3 = (r3.epoch, r3.last_seq);
    all_show(&[&a, &b, &c], head3, course.id, "after restore").await;
    for n in [&a, &b, &c] {
        let s = n.status().await;
        assert!(s.forks.is_empty(), "no position was reused: {s:#?}");
    }
    assert!(
        !a.log().contains("reason=\"own_origin\""),
        "the restored node refused its own entries"
    );
    eprintln!(
        "restore from a copy: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// A restored copy must hear from most peers: one peer holding exactly the copy's position
/// (it lagged, or a hostile member replays our old checkpoint) says nothing of what the others
/// hold beyond it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_copy_waits_for_most_peers_even_when_one_holds_exactly_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 4);
    let mut a = fleet.start(0, &[]);
    let mut b = fleet.start(1, &[]);
    let mut c = fleet.start(2, &[]);
    let mut d = fleet.start(3, &[]);
    let data = bundle(64, 20, BOROUGHS[0]);
    let r1 = publish(&a, "first", &data.clone().into_records()).await;
    let head1 = (r1.epoch, r1.last_seq);
    for n in [&b, &c, &d] {
        wait_status(n, "peers hold A", |s| converged(s, BOROUGHS[0], head1)).await;
    }
    // The copy is taken; B stops, holding exactly its position; C and D go on receiving.
    assert!(a.terminate().success());
    let copy = tmp.path().join("copy");
    copy_dir(&fleet.dir(0), &copy);
    b.kill9();
    a.start_again();
    let course = &data.courses[0];
    let r2 = publish(&a, "after-copy", &[titled(course, "only C and D saw this")]).await;
    let head2 = (r2.epoch, r2.last_seq);
    for n in [&c, &d] {
        wait_status(n, "C and D hold A's newer entry", |s| {
            converged(s, BOROUGHS[0], head2)
        })
        .await;
    }

    // A's disk is replaced by the copy; B is back, C and D are down.
    a.kill9();
    c.kill9();
    d.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).unwrap();
    std::fs::rename(&copy, fleet.dir(0)).unwrap();
    b.start_again();
    a.start_again();
    let s = wait_status(&a, "B's answer counted, C's and D's awaited", |s| {
        s.waiting_for.contains("1 of 3 answered")
    })
    .await;
    assert!(s.recovering, "{s:#?}");
    let refused = publish_batch(
        &mut a.publisher().await,
        &a.admin_token(),
        "too-early",
        vec![op(&titled(course, "reused position"))],
    )
    .await
    .expect_err("B alone (at the copy's position) must not open the gate");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    // C answers: A takes its newer entry back and, with two of three heard, publishes after it.
    c.start_again();
    let r3 = publish(&a, "after-restore", &[titled(course, "after restore")]).await;
    assert_eq!((r3.epoch, r3.first_seq), (head2.0, head2.1 + 1));
    all_show(
        &[&a, &b, &c],
        (r3.epoch, r3.last_seq),
        course.id,
        "after restore",
    )
    .await;
    for n in [&a, &b, &c] {
        assert!(n.status().await.forks.is_empty(), "no position was reused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_position_is_a_fork_at_every_peer_whichever_history_arrives_first() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let mut b = fleet.start(1, &[]);
    let mut c = fleet.start(2, &[]);
    let data = bundle(62, 30, BOROUGHS[0]);
    let r = publish(&a, "first", &data.clone().into_records()).await;
    let head = (r.epoch, r.last_seq);
    for n in [&b, &c] {
        wait_status(n, "peers hold A", |s| converged(s, BOROUGHS[0], head)).await;
    }
    let course = &data.courses[0];
    let url = |i: usize| format!("http://{}", fleet.addrs[i]);

    // A second process with A's key and a copy of A's data dir, at A's address, that only
    // B hears: it publishes at the next position.
    assert!(a.terminate().success());
    c.kill9();
    let twin_dir = tmp.path().join("twin");
    copy_dir(&fleet.dir(0), &twin_dir);
    let key = fleet.root.join("key-0");
    let twin = Node::start_on(
        &twin_dir,
        BOROUGHS[0],
        &fleet.addrs[0].to_string(),
        &[
            "--roster",
            fleet.roster.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--peer",
            &url(1),
        ],
    );
    let rf = publish(&twin, "twin", &[titled(course, "the twin's")]).await;
    let reused = (rf.epoch, rf.first_seq);
    assert_eq!(reused, (1, head.1 + 1));
    wait_status(&b, "B to hold the twin's entry", |s| {
        converged(s, BOROUGHS[0], reused)
    })
    .await;
    drop(twin);
    b.kill9();

    // The genuine A, heard only by C, publishes another change at the same position.
    drop(c);
    c = fleet.start(2, &["--peer", &url(0)]);
    drop(a);
    let a = fleet.start(0, &["--peer", &url(2)]);
    let rg = publish(&a, "genuine", &[titled(course, "A's own")]).await;
    assert_eq!((rg.epoch, rg.first_seq), reused);
    wait_status(&c, "C to hold A's entry", |s| {
        converged(s, BOROUGHS[0], reused)
    })
    .await;

    // Everyone meets: B (the twin's history first) and C (A's first) each hear the other.
    drop(c);
    let c = fleet.start(2, &[]);
    b.start_again();
    let forked = |s: &w::StatusResponse| {
        s.forks
            .iter()
            .any(|f| f.origin == BOROUGHS[0] && (f.epoch, f.seq) == reused)
            && s.origins
                .iter()
                .any(|o| o.origin == BOROUGHS[0] && o.forks >= 1)
    };
    for (n, name) in [(&b, "B (twin first)"), (&c, "C (genuine first)")] {
        let start = Instant::now();
        loop {
            let s = n.status().await;
            if forked(&s) && forks_gauge(n, BOROUGHS[0]) >= 1.0 {
                break;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for the fork at {name}; last status: {s:#?}\nlog:\n{}",
                n.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        eprintln!("{name}: fork at {reused:?} in status and /metrics");
    }
    // The first history each peer held is kept, not silently swapped for the other.
    assert_eq!(course_at(&b, course.id).await.unwrap().title, "the twin's");
    assert_eq!(course_at(&c, course.id).await.unwrap().title, "A's own");
    eprintln!("fork detection: {:.1}s", started.elapsed().as_secs_f64());
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run prospectus")
}

async fn provider_token(
    node: &Node,
    provider: prospectus_model::Uuid,
    label: &str,
) -> (String, String) {
    let r = node
        .admin()
        .await
        .create_provider_token(bearer(
            w::CreateProviderTokenRequest {
                provider_id: provider.to_string(),
                label: label.into(),
            },
            &node.admin_token(),
        ))
        .await
        .expect("token")
        .into_inner();
    (r.token, r.token_id)
}

async fn publish_as(
    node: &Node,
    token: &str,
    r: &Record,
) -> Result<w::PublishReceipt, tonic::Status> {
    publish_batch(&mut node.publisher().await, token, "", vec![op(r)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_node_restores_and_a_token_revoked_after_it_stays_refused() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let b = fleet.start(1, &[]);
    let c = fleet.start(2, &[]);
    let data = bundle(63, 40, BOROUGHS[0]);
    let r1 = publish(&a, "first", &data.clone().into_records()).await;
    let provider = data.providers[0].id;
    let mine: Vec<&Course> = data
        .courses
        .iter()
        .filter(|c| c.provider_id == provider)
        .collect();
    assert!(!mine.is_empty());
    let (revoked, revoked_id) = provider_token(&a, provider, "revoked after the backup").await;
    let (kept, kept_id) = provider_token(&a, provider, "still valid").await;

    // Publishes run (course 0 over and over) while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let receipts = Arc::new(Mutex::new(Vec::<w::PublishReceipt>::new()));
    let writer = {
        let (stop, receipts) = (stop.clone(), receipts.clone());
        let (url, token, course) = (a.url(), a.admin_token(), data.courses[0].clone());
        tokio::spawn(async move {
            let ch = prospectus_server::client::connect(&url, None)
                .await
                .unwrap();
            let mut p = w::publisher_client::PublisherClient::new(ch);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = titled(&course, &format!("during backup {i}"));
                let rec = publish_batch(&mut p, &token, "", vec![op(&r)])
                    .await
                    .expect("publish during backup");
                receipts.lock().unwrap().push(rec);
                i += 1;
            }
        })
    };
    let count = || receipts.lock().unwrap().len();
    wait_for_async(|| async { (count() >= 5).then_some(()) }).await;
    let file = tmp.path().join("a.backup");
    let (node_url, token_file) = (a.url(), a.dir.join("admin-token"));
    let backup_file = file.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli(&[
            "backup",
            "--node",
            &node_url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--out",
            backup_file.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_backup = count();
    wait_for_async(|| async { (count() >= at_backup + 5).then_some(()) }).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let last = receipts.lock().unwrap().last().cloned().unwrap();
    let final_title = format!("during backup {}", count() - 1);

    // Revoked after the backup.
    let revoke = a
        .admin()
        .await
        .revoke_token(bearer(
            w::RevokeTokenRequest {
                token_id: revoked_id.clone(),
            },
            &a.admin_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(revoke.revoked);
    let probe = titled(mine[0], "by the provider");
    assert_eq!(
        publish_as(&a, &revoked, &probe).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    let head2 = (last.epoch, last.last_seq);
    all_show(&[&b, &c], head2, data.courses[0].id, &final_title).await;

    // The disk is lost; the backup is restored into a new data dir.
    a.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).unwrap();
    let dir = fleet.dir(0);
    let out = cli(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The copy is consistent: its own log matches its own signed checkpoint.
    assert!(stdout.contains("(checkpoint verified)"), "{stdout}");
    assert!(
        stdout.contains(&revoked_id) && stdout.contains(&kept_id),
        "{stdout}"
    );
    // Restoring over a data dir that holds something is refused.
    let again = cli(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    a.start_again();
    let r3 = publish(
        &a,
        "after-restore",
        &[titled(&data.courses[0], "after restore")],
    )
    .await;
    assert_eq!(
        (r3.epoch, r3.first_seq),
        (1, head2.1 + 1),
        "it caught up first"
    );
    all_show(
        &[&a, &b, &c],
        (r3.epoch, r3.last_seq),
        data.courses[0].id,
        "after restore",
    )
    .await;
    assert!(r1.last_seq < head2.1);

    // Both provider tokens are suspended; the admin re-enables the one still valid.
    for t in [&revoked, &kept] {
        let e = publish_as(&a, t, &probe).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("token enable"), "{e:?}");
    }
    let token_file = a.dir.join("admin-token");
    let enable = |id: &str| {
        cli(&[
            "token",
            "enable",
            "--node",
            &a.url(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--token-id",
            id,
        ])
    };
    assert!(enable(&kept_id).status.success());
    publish_as(&a, &kept, &probe)
        .await
        .expect("re-enabled token writes");
    assert_eq!(
        publish_as(&a, &revoked, &probe).await.unwrap_err().code(),
        tonic::Code::PermissionDenied,
        "the token revoked after the backup stays refused"
    );
    eprintln!(
        "backup during {} publishes, restore, catch-up: {:.1}s",
        count(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_borough_waits_saying_why_unless_it_is_started_as_a_new_member() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    // Keys made before the first start (RUNBOOK §2); no other member is up.
    let fleet = Fleet::new(tmp.path(), 3);
    let mut a = fleet.start(0, &[]);
    let data = bundle(64, 5, BOROUGHS[0]);
    let s = a.status().await;
    assert!(s.recovering);
    assert!(
        s.waiting_for.contains("waiting for peers, 0 of 2 answered"),
        "{s:#?}"
    );
    let token_file = a.dir.join("admin-token");
    let out = cli(&[
        "status",
        "--node",
        &a.url(),
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PUBLISHING WAITS: waiting for peers, 0 of 2 answered"),
        "{text}"
    );
    let (code, body) = http_get(&a.addr, "/readyz");
    assert_eq!(code, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], false);
    assert!(
        ready["not_ready"][0]
            .as_str()
            .unwrap()
            .contains("waiting for peers, 0 of 2 answered"),
        "{body}"
    );
    let ops = data.clone().into_records().iter().map(op).collect();
    let e = publish_batch(&mut a.publisher().await, &a.admin_token(), "", ops)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable);
    assert!(
        e.message().contains("waiting for peers, 0 of 2 answered"),
        "{e:?}"
    );
    assert!(e.message().contains("--new-member"), "{e:?}");

    // The admin declares it the federation's first borough.
    a.kill9();
    let a = fleet.start(0, &["--new-member"]);
    let s = a.status().await;
    assert!(!s.recovering && s.waiting_for.is_empty(), "{s:#?}");
    let (code, body) = http_get(&a.addr, "/readyz");
    assert_eq!(code, 200, "{body}");
    let r = publish(&a, "first", &data.into_records()).await;
    assert_eq!((r.epoch, r.first_seq), (1, 1));
    eprintln!("first borough: {:.1}s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_disk_waits_for_the_peer_that_holds_it_and_never_reuses_epoch_1() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let url = |i: usize| format!("http://{}", fleet.addrs[i]);
    // Only B holds A: A is the first borough, B follows A alone, C is not up yet.
    let mut a = fleet.start(0, &["--new-member"]);
    let mut b = fleet.start(1, &["--peer", &url(0)]);
    let data = bundle(65, 20, BOROUGHS[0]);
    let r1 = publish(&a, "first", &data.clone().into_records()).await;
    wait_status(&b, "B holds A", |s| {
        converged(s, BOROUGHS[0], (r1.epoch, r1.last_seq))
    })
    .await;

    // A's disk is lost while B is down; C, which holds nothing of A, answers first.
    a.kill9();
    b.kill9();
    std::fs::remove_dir_all(fleet.dir(0)).unwrap();
    let _c = fleet.start(2, &["--peer", "http://127.0.0.1:9"]);
    drop(a);
    let a = fleet.start(0, &[]);
    wait_status(&a, "C's answer", |s| {
        s.waiting_for.contains("waiting for peers, 1 of 2 answered")
    })
    .await;
    let one = [titled(&data.courses[0], "after the lost disk")];
    let e = publish_batch(
        &mut a.publisher().await,
        &a.admin_token(),
        "",
        vec![op(&one[0])],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    // B comes back: A restores its origin from it and continues in a new epoch.
    b.start_again();
    let r2 = publish(&a, "after", &one).await;
    assert_eq!((r2.epoch, r2.first_seq), (2, 1));
    all_show(
        &[&a, &b],
        (r2.epoch, r2.last_seq),
        data.courses[0].id,
        "after the lost disk",
    )
    .await;
    eprintln!("lost disk: {:.1}s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_out_named_partial_works_and_leaves_a_strangers_partial_file_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 1);
    let a = fleet.start(0, &[]);
    let token_file = a.dir.join("admin-token");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let backup_to = |out: &Path| {
        cli(&[
            "backup",
            "--node",
            &a.url(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    // Someone else's file where the old code put its temp file.
    let stranger = out_dir.join("a.partial");
    std::fs::write(&stranger, b"not ours").unwrap();
    let plain = out_dir.join("a.backup");
    let r = backup_to(&plain);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read(&stranger).unwrap(), b"not ours");

    // An output whose own name ends `.partial` (over an older file of that name).
    let named = out_dir.join("b.partial");
    std::fs::write(&named, b"an older copy").unwrap();
    let r = backup_to(&named);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        std::fs::read(&named)
            .unwrap()
            .starts_with(b"prospectus-backup/v1\n")
    );
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a.backup", "a.partial", "b.partial"],
        "no temp file left"
    );
    let restored = tmp.path().join("restored");
    let r = cli(&[
        "restore",
        named.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}
