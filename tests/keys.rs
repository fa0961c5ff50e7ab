//! Origin keys over a node's life, with the roster re-read live: `prospectus key rotate` on one
//! borough while its peers keep running (B notices the roster file change on its own, C only
//! on SIGHUP), provider tokens kept across the rotation, a revoked key refused whatever time
//! its entries claim, and a roster that fails to parse on reload leaving the one in force.
//! Real node processes on loopback sharing one roster file.

mod common;

use common::*;
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Replaces the roster file in one step (write aside, rename), as the RUNBOOK says to.
fn write_roster(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).expect("roster");
    std::fs::rename(&tmp, path).expect("rename roster");
}

/// The `[[member.keys]]` block `Fleet` writes for a key.
fn key_block(public_hex: &str) -> String {
    format!("[[member.keys]]\npublic_key = \"{public_hex}\"\n")
}

/// Runs `prospectus key rotate --key FILE`; returns the roster lines it prints (the new key's
/// table, then the old key's).
fn rotate(key_file: &Path) -> String {
    let out = Command::new(BIN)
        .args(["key", "rotate", "--key"])
        .arg(key_file)
        .output()
        .expect("key rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Waits until `node` has applied `n` roster reloads.
fn wait_reloads(node: &Node, n: f64) {
    wait_for("roster reload", || {
        (node.metric("prospectus_roster_reloads_total", "result=\"ok\"") >= Some(n)).then_some(())
    });
}

async fn provider_token(node: &Node, provider: &str) -> String {
    node.admin()
        .await
        .create_provider_token(bearer(
            w::CreateProviderTokenRequest {
                provider_id: provider.to_string(),
                label: "before rotation".into(),
            },
            &node.admin_token(),
        ))
        .await
        .expect("provider token")
        .into_inner()
        .token
}

/// Publishes `course` with `token`; returns A's head after it.
async fn upsert(node: &Node, course: &prospectus_model::Course, token: &str) -> (u64, u64) {
    let r = node
        .publisher()
        .await
        .upsert_course(bearer(course.to_wire(), token))
        .await
        .expect("upsert")
        .into_inner();
    (r.epoch, r.last_seq)
}

async fn wait_title(node: &Node, id: prospectus_model::Uuid, title: &str) {
    wait_for_async(|| async {
        course_at(node, id)
            .await
            .ok()
            .filter(|c| c.title == title)
            .map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_live_is_accepted_by_peers_keeps_tokens_and_its_revoked_predecessor_is_refused()
 {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 3);
    let origin = BOROUGHS[0];
    let mut a = fleet.start(0, &[]);
    let b = fleet.start(1, &["--roster-poll-secs", "1"]);
    // C never looks at the file by itself: only SIGHUP makes it re-read the roster.
    let c = fleet.start(2, &["--roster-poll-secs", "0"]);

    let data = bundle(21, 12, origin);
    let r = publish_when_ready(&a, "seed", &bundle_records(&data))
        .await
        .expect("seed");
    let head = (r.epoch, r.last_seq);
    for n in [&b, &c] {
        wait_status(n, "A's seed", |s| converged(s, origin, head)).await;
    }
    // The provider with the most courses.
    let provider = data
        .providers
        .iter()
        .map(|p| p.id)
        .max_by_key(|id| data.courses.iter().filter(|c| c.provider_id == *id).count())
        .expect("a provider");
    let token = provider_token(&a, &provider.to_string()).await;
    let courses: Vec<_> = data
        .courses
        .iter()
        .filter(|c| c.provider_id == provider)
        .cloned()
        .collect();
    assert!(courses.len() >= 2, "the provider has courses");

    // Rotation, as the RUNBOOK does it: stop A, rotate its key in place.
    a.terminate();
    let key_file = tmp.path().join("key-0");
    // What an attacker who stole the old key (and a copy of the data dir) would hold.
    let stolen_key = tmp.path().join("stolen.key");
    std::fs::copy(&key_file, &stolen_key).expect("copy key");
    let stolen_dir = tmp.path().join("stolen");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(fleet.dir(0))
            .arg(&stolen_dir)
            .status()
            .expect("cp")
            .success()
    );
    let old = prospectus_server::NodeKey::load_or_create(&key_file)
        .expect("old key")
        .0;
    let t = Instant::now();
    let lines = rotate(&key_file);
    let new = prospectus_server::NodeKey::load_or_create(&key_file)
        .expect("new key")
        .0;
    assert_ne!(new.key_id(), old.key_id());
    assert!(lines.contains(&new.public_hex()) && lines.contains(&old.public_hex()));
    assert!(
        lines.contains("valid_from") && lines.contains("valid_until"),
        "{lines}"
    );

    // The new roster: B picks it up from the file on its own. No peer restarts.
    let roster0 = std::fs::read_to_string(&fleet.roster).expect("roster");
    let roster1 = roster0.replace(&key_block(&old.public_hex()), &lines);
    assert_ne!(roster0, roster1);
    write_roster(&fleet.roster, &roster1);
    let t_file = Instant::now();
    wait_reloads(&b, 1.0);
    assert_eq!(b.metric("prospectus_roster_keys", ""), Some(4.0));
    let file_reload_secs = t_file.elapsed().as_secs_f64();

    // A restarts on its new key, same data dir; a provider token issued before the rotation
    // still publishes, and B takes the entry signed with the new key.
    a.start_again();
    // Its join gate asks B and C again; their checkpoints, signed with the old key, are its own.
    wait_status(&a, "A's join gate after the rotation", |s| {
        s.waiting_for.is_empty()
    })
    .await;
    let mut renamed = courses[0].clone();
    renamed.title = "Renamed after the rotation".into();
    let head2 = upsert(&a, &renamed, &token).await;
    assert_eq!(head2, (head.0, head.1 + 1), "A kept its store and its log");
    let info = a
        .admin()
        .await
        .node_info(bearer(w::NodeInfoRequest {}, &a.admin_token()))
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.key_id, new.key_id(), "A signs with the new key");
    wait_status(&b, "A's entry signed with the new key at B", |s| {
        converged(s, origin, head2)
    })
    .await;
    wait_title(&b, renamed.id, &renamed.title).await;

    // C has not re-read the roster yet: it refuses the new key's entry as unknown. On SIGHUP
    // it re-reads it, its links subscribe again, and the refused entry is offered again.
    let unknown = format!("origin=\"{origin}\",reason=\"unknown_key\"");
    wait_for("C to refuse the key it does not know yet", || {
        (c.metric("prospectus_entries_rejected_total", &unknown) >= Some(1.0)).then_some(())
    });
    assert_eq!(c.metric("prospectus_roster_reloads_total", ""), None);
    let t_hup = Instant::now();
    c.sighup();
    wait_reloads(&c, 1.0);
    let hup_reload_secs = t_hup.elapsed().as_secs_f64();
    assert_eq!(c.metric("prospectus_roster_keys", ""), Some(4.0));
    wait_status(&c, "A's entry signed with the new key at C", |s| {
        converged(s, origin, head2)
    })
    .await;
    wait_title(&c, renamed.id, &renamed.title).await;
    let rotation_secs = t.elapsed().as_secs_f64();

    // The old key is compromised: a node process still holding it (and A's old data dir)
    // publishes as A. The roster revokes the old key — its window is still open, so only the
    // revocation can refuse it — and lists the thief's endpoint as a new member, so B and C
    // link to it without a restart.
    let stolen_addr = unique_addr();
    let stolen_roster = tmp.path().join("stolen-roster.toml");
    std::fs::write(
        &stolen_roster,
        format!(
            "[[member]]\norigin = \"{origin}\"\nname = \"A\"\nendpoint = \"http://{stolen_addr}\"\n{}",
            key_block(&old.public_hex())
        ),
    )
    .expect("roster");
    let thief = Node::start_on(
        &stolen_dir,
        origin,
        &stolen_addr.to_string(),
        &[
            "--roster",
            stolen_roster.to_str().unwrap(),
            "--key",
            stolen_key.to_str().unwrap(),
        ],
    );
    let forged: Vec<_> = courses
        .iter()
        .map(|c| {
            let mut f = c.clone();
            f.title = "Forged with the stolen key".into();
            f
        })
        .collect();
    let fr = publish_when_ready(
        &thief,
        "forged",
        &forged
            .iter()
            .cloned()
            .map(prospectus_model::Record::Course)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the thief publishes");
    assert!(fr.last_seq > head2.1, "forged entries reach past A's head");
    let valid_until = lines
        .lines()
        .find(|l| l.starts_with("valid_until"))
        .expect("valid_until line");
    let thief_key = prospectus_server::NodeKey::generate();
    let roster2 = roster1.replace(valid_until, &format!("{valid_until}\nrevoked = true"))
        + &format!(
            "\n[[member]]\norigin = \"{}\"\nname = \"Thief\"\nendpoint = \"http://{stolen_addr}\"\n{}",
            BOROUGHS[3],
            key_block(&thief_key.public_hex())
        );
    let t_revoke = Instant::now();
    write_roster(&fleet.roster, &roster2);
    wait_reloads(&b, 2.0);
    c.sighup();
    wait_reloads(&c, 2.0);
    // Entries after B's and C's cursor (A's head) that the stolen key signed: all refused, or
    // never asked for: a link takes A's entries only from A's own endpoint or from a peer whose
    // checkpoint of A verifies, and the thief's (signed with the revoked key) never does.
    let want = (fr.last_seq - head2.1) as f64;
    let label = format!("origin=\"{origin}\",reason=\"revoked_key\"");
    let thief_url = format!("http://{stolen_addr}");
    // The thief's link is up and its stream takes no entry of A.
    let thief_unasked = |s: &w::StatusResponse| {
        s.peers.iter().any(|p| {
            p.url == thief_url
                && p.connected
                && !p.every_origin
                && !p.entry_origins.iter().any(|o| o == origin)
        })
    };
    for n in [&b, &c] {
        // Until every forged entry is refused, or the thief's link is up and streams no entry
        // of A, or one shows (then the assertions say which).
        wait_for_async(|| async {
            let refused = n.metric("prospectus_entries_rejected_total", &label) >= Some(want);
            let not_asked = thief_unasked(&n.status().await);
            let mut shown = false;
            for f in &forged {
                shown |= course_at(n, f.id).await.is_ok_and(|c| c.title == f.title);
            }
            (refused || not_asked || shown).then_some(())
        })
        .await;
        let s = n.status().await;
        assert!(
            n.metric("prospectus_entries_rejected_total", &label) >= Some(want)
                || thief_unasked(&s),
            "forged entries neither refused nor left unrequested: {s:#?}"
        );
        let s = n.status().await;
        assert!(converged(&s, origin, head2), "A's head unchanged: {s:#?}");
        for f in &forged {
            let held = course_at(n, f.id).await.expect("course");
            assert_ne!(held.title, f.title, "a forged entry was applied");
        }
        // What it accepted from the old key before the revocation is kept, and counted.
        assert!(
            n.metric(
                "prospectus_entries_held_revoked_key",
                &format!("origin=\"{origin}\"")
            )
            .is_some_and(|v| v > 0.0)
        );
    }
    let revocation_secs = t_revoke.elapsed().as_secs_f64();

    // The member leaves the roster: B's link to it stops, no restart.
    write_roster(
        &fleet.roster,
        &roster1.replace(valid_until, &format!("{valid_until}\nrevoked = true")),
    );
    wait_status(&b, "B to drop the link to a removed member", |s| {
        !s.peers.iter().any(|p| p.url == thief_url)
    })
    .await;
    drop(thief);
    eprintln!(
        "timings: file change to reload on B {file_reload_secs:.2} s (polling every 1 s); SIGHUP to reload on C {hup_reload_secs:.2} s; key rotate to new-key entry visible on B and C {rotation_secs:.2} s; revoking roster written to every forged entry refused on B and C {revocation_secs:.2} s; test {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_disk_after_rotations_takes_back_old_key_entries_and_never_reuses_a_revoked_keys_position()
 {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let origin = BOROUGHS[0];
    let a = fleet.start(0, &[]);
    let b = fleet.start(1, &["--roster-poll-secs", "1"]);
    let data = bundle(33, 8, origin);
    let r0 = publish_when_ready(&a, "seed", &bundle_records(&data))
        .await
        .expect("seed");
    wait_status(&b, "A's seed at B", |s| {
        converged(s, origin, (r0.epoch, r0.last_seq))
    })
    .await;

    // A rotates its key and then loses its disk. B's checkpoint of A is signed with the old
    // key: the empty data dir must count it as its own, take the old key's entries back and
    // continue in a new epoch (counting it as "nothing" would reuse epoch 1).
    drop(a);
    let key_file = tmp.path().join("key-0");
    let old = prospectus_server::NodeKey::load_or_create(&key_file)
        .expect("key")
        .0;
    let lines1 = rotate(&key_file);
    let roster1 = std::fs::read_to_string(&fleet.roster)
        .expect("roster")
        .replace(&key_block(&old.public_hex()), &lines1);
    write_roster(&fleet.roster, &roster1);
    wait_reloads(&b, 1.0);
    std::fs::remove_dir_all(fleet.dir(0)).expect("lose A's disk");
    let a = fleet.start(0, &[]);
    let mut one = data.courses[0].clone();
    one.title = "After the rotation and a lost disk".into();
    let r1 = publish_when_ready(&a, "one", &[prospectus_model::Record::Course(one.clone())])
        .await
        .expect("publish");
    assert_eq!((r1.epoch, r1.first_seq), (r0.epoch + 1, 1));
    for c in &data.courses[1..] {
        assert_eq!(
            course_at(&a, c.id).await.map(|c| c.title),
            Ok(c.title.clone()),
            "the old key's entries came back"
        );
    }
    wait_title(&b, one.id, &one.title).await;

    // Rotated again, and the key that signed A's latest position revoked (stolen, say), and
    // the disk lost again. B's checkpoint of A no longer counts, nor can its entries come
    // back, but its position was used: A continues beyond it (B skips a reused position).
    drop(a);
    let lines2 = rotate(&key_file);
    let (_, first_key) = lines1.split_once("\n\n").expect("two key tables");
    let revoked = format!("{}\nrevoked = true\n\n{first_key}", lines2.trim_end());
    write_roster(&fleet.roster, &roster1.replace(&lines1, &revoked));
    wait_reloads(&b, 2.0);
    std::fs::remove_dir_all(fleet.dir(0)).expect("lose A's disk");
    let a = fleet.start(0, &[]);
    // The whole offer again (as the RUNBOOK says after a revocation), one course retitled.
    let mut again = data.clone();
    again.courses[1].title = "After the revocation and another lost disk".into();
    let two = again.courses[1].clone();
    let r2 = publish_when_ready(&a, "two", &bundle_records(&again))
        .await
        .expect("publish");
    assert_eq!((r2.epoch, r2.first_seq), (r1.epoch + 1, 1));
    wait_title(&b, two.id, &two.title).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roster_that_fails_on_reload_is_logged_and_the_one_in_force_keeps_working() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path(), 2);
    let origin = BOROUGHS[0];
    let a = fleet.start(0, &["--roster-poll-secs", "0"]);
    let b = fleet.start(1, &["--roster-poll-secs", "1"]);
    let data = bundle(22, 6, origin);
    let records = bundle_records(&data);
    let r = publish_when_ready(&a, "one", &records[..records.len() / 2])
        .await
        .expect("publish");
    wait_status(&b, "A's first batch", |s| {
        converged(s, origin, (r.epoch, r.last_seq))
    })
    .await;

    let good = std::fs::read_to_string(&fleet.roster).expect("roster");
    // A syntax error, then a file that parses as TOML but names a key that is not one: each
    // is refused whole, on a change of the file and on SIGHUP alike.
    write_roster(&fleet.roster, &format!("{good}\n[[member]\n"));
    wait_for("the syntax error logged", || {
        (b.metric("prospectus_roster_reloads_total", "result=\"error\"") >= Some(1.0)
            && b.log().contains("roster reload failed"))
        .then_some(())
    });
    b.sighup();
    wait_for("the SIGHUP re-read refused", || {
        (b.metric("prospectus_roster_reloads_total", "result=\"error\"") >= Some(2.0)).then_some(())
    });
    let a_key = prospectus_server::NodeKey::load_or_create(&tmp.path().join("key-0"))
        .expect("key")
        .0;
    write_roster(
        &fleet.roster,
        &good.replace(&a_key.public_hex(), "not-a-key"),
    );
    wait_for("the bad key refused", || {
        (b.metric("prospectus_roster_reloads_total", "result=\"error\"") >= Some(3.0)).then_some(())
    });
    let log = b.log();
    assert!(log.contains("ERROR"), "logged at error");
    assert!(log.contains("public_key is not hex"), "with the reason");
    assert_eq!(
        b.metric("prospectus_roster_reloads_total", "result=\"ok\""),
        None
    );

    // The roster in force still verifies A's entries.
    let r2 = publish_when_ready(&a, "two", &records[records.len() / 2..])
        .await
        .expect("publish");
    wait_status(&b, "A's second batch under the old roster", |s| {
        converged(s, origin, (r2.epoch, r2.last_seq))
    })
    .await;

    // A reload that drops B's own key is applied (it is the federation's roster) and named at
    // error with the key id.
    let b_key = prospectus_server::NodeKey::load_or_create(&tmp.path().join("key-1"))
        .expect("key")
        .0;
    let other = prospectus_server::NodeKey::generate();
    write_roster(
        &fleet.roster,
        &good.replace(&b_key.public_hex(), &other.public_hex()),
    );
    wait_for("B's own key named at error", || {
        b.log()
            .lines()
            .any(|l| {
                l.contains("ERROR") && l.contains(b_key.key_id()) && l.contains("does not list it")
            })
            .then_some(())
    });
    assert_eq!(
        b.metric("prospectus_roster_reloads_total", "result=\"ok\""),
        Some(1.0)
    );
    eprintln!("timings: test {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_node_whose_key_the_roster_revokes_refuses_to_start_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("node.key");
    let key = prospectus_server::NodeKey::load_or_create(&key_file)
        .expect("key")
        .0;
    let roster = tmp.path().join("roster.toml");
    std::fs::write(
        &roster,
        format!(
            "[[member]]\norigin = \"{SOUTHWARK}\"\nname = \"Southwark\"\nendpoint = \"http://127.0.0.1:1\"\n{}revoked = true\n",
            key_block(&key.public_hex())
        ),
    )
    .expect("roster");
    let data = tmp.path().join("data");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--borough", SOUTHWARK])
        .arg("--data-dir")
        .arg(&data)
        .arg("--key")
        .arg(&key_file)
        .arg("--roster")
        .arg(&roster)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(key.key_id()) && err.contains("revoked") && err.contains("key rotate"),
        "{err}"
    );
    assert!(!data.join("admin-token").exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_a_roster_is_logged_and_the_node_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("n"), SOUTHWARK);
    node.sighup();
    wait_for("SIGHUP logged", || {
        node.log()
            .contains("no roster file configured")
            .then_some(())
    });
    assert_eq!(node.status().await.origin, SOUTHWARK, "still serving");
}
