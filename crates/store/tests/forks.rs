//! Reused positions and backups, on real sled stores on disk: two different checkpoints an
//! origin signed for one position are a fork at a replica whichever arrives first (even when
//! the entries themselves never meet), the first is kept; a backup restores into an empty dir
//! only, whole, with provider tokens suspended until re-enabled.

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use prospectus_model::{Provider, Record, RecordKind, Uuid};
use prospectus_store::{
    ApplyMode, Change, CheckpointStatus, NodeKey, Scope, Store, Trust, Verified, restore_backup,
    verify_entry,
};
use std::path::Path;

const X: &str = "E09000028";
const Y: &str = "E09000025";
const Z: &str = "E09000012";

struct Keys(Vec<(String, String, VerifyingKey)>);

impl Trust for Keys {
    fn key_for(&self, origin: &str, key_id: &str, _: i64) -> Option<VerifyingKey> {
        self.0
            .iter()
            .find(|(o, k, _)| o == origin && k == key_id)
            .map(|(_, _, v)| *v)
    }
}

fn provider(n: u128, name: &str) -> Change {
    Change::Upsert(Record::Provider(Provider {
        id: Uuid::from_u128(n),
        name: name.into(),
        ukprn: None,
        charity_number: None,
        description: None,
        email: None,
        phone: None,
        website: None,
        last_verified: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
    }))
}

fn open(dir: &Path, origin: &str, key: &Path) -> Store {
    let (key, _) = NodeKey::load_or_create(key).expect("key");
    Store::open(dir, origin, key).expect("open")
}

/// What `from` would send for `origin` after `(epoch, seq)`: entries and its checkpoint.
fn send(from: &Store, trust: &Keys, origin: &str, after: (u64, u64)) -> (Vec<Verified>, Vec<u8>) {
    let entries = from
        .log_after(origin, after.0, after.1)
        .map(|r| verify_entry(trust, r.expect("log").2).expect("verified"))
        .collect();
    (entries, from.origin_info(origin).expect("info").checkpoint)
}

fn receive(
    to: &Store,
    trust: &Keys,
    (entries, cp): (Vec<Verified>, Vec<u8>),
    mode: ApplyMode,
) -> CheckpointStatus {
    to.apply_remote(entries, mode).expect("apply");
    to.offer_checkpoint(trust, &cp).expect("checkpoint")
}

fn name_at(s: &Store, n: u128) -> String {
    match s
        .get_live(RecordKind::Provider, Uuid::from_u128(n))
        .expect("get")
        .and_then(|s| s.record)
    {
        Some(Record::Provider(p)) => p.name,
        other => panic!("no provider {n}: {other:?}"),
    }
}

#[test]
fn a_position_signed_twice_is_a_fork_whichever_checkpoint_arrives_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("x.key");
    let a = open(&tmp.path().join("a"), X, &key);
    let twin = open(&tmp.path().join("twin"), X, &key);
    let b = open(&tmp.path().join("b"), Y, &tmp.path().join("y.key"));
    let c = open(&tmp.path().join("c"), Z, &tmp.path().join("z.key"));
    let trust = Keys(vec![(X.into(), a.key().key_id().into(), a.key().public())]);

    let changes: Vec<Change> = (1..=10).map(|n| provider(n, &format!("P{n}"))).collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    // The twin holds the same ten (taken back as its own), then each signs seq 11.
    receive(
        &twin,
        &trust,
        send(&a, &trust, X, (0, 0)),
        ApplyMode::Recovery,
    );
    for s in [&b, &c] {
        assert_eq!(
            receive(s, &trust, send(&a, &trust, X, (0, 0)), ApplyMode::Normal),
            CheckpointStatus::Verified
        );
    }
    let rt = twin
        .publish(&Scope::Admin, None, &[provider(1, "the twin's")])
        .expect("twin");
    let ra = a
        .publish(&Scope::Admin, None, &[provider(1, "A's own")])
        .expect("a");
    assert_eq!((rt.epoch, rt.first_seq), (ra.epoch, ra.first_seq));
    let pos = (ra.epoch, ra.first_seq);

    // B hears the twin first, C hears A first; then each hears the other's checkpoint.
    assert_eq!(
        receive(
            &b,
            &trust,
            send(&twin, &trust, X, (1, 10)),
            ApplyMode::Normal
        ),
        CheckpointStatus::Verified
    );
    assert_eq!(
        receive(&c, &trust, send(&a, &trust, X, (1, 10)), ApplyMode::Normal),
        CheckpointStatus::Verified
    );
    let fork = CheckpointStatus::Fork {
        origin: X.into(),
        epoch: pos.0,
        seq: pos.1,
    };
    // Past the cursor, nothing is re-sent but the checkpoint: that is the evidence.
    assert_eq!(
        receive(&b, &trust, send(&a, &trust, X, pos), ApplyMode::Normal),
        fork
    );
    assert_eq!(
        receive(&c, &trust, send(&twin, &trust, X, pos), ApplyMode::Normal),
        fork
    );
    // The origin itself sees it too.
    assert_eq!(
        a.offer_checkpoint(&trust, &twin.origin_info(X).unwrap().checkpoint)
            .unwrap(),
        fork
    );
    for (s, kept) in [(&b, "the twin's"), (&c, "A's own")] {
        let forks = s.forks().expect("forks");
        assert_eq!(forks.len(), 1, "{forks:?}");
        assert_eq!(
            (forks[0].origin.as_str(), forks[0].epoch, forks[0].seq),
            (X, pos.0, pos.1)
        );
        assert!(!forks[0].refused_checkpoint.is_empty());
        assert_eq!(s.origin_info(X).unwrap().forks, 1);
        // Counted once however often it is offered again; the first is kept.
        let again = if kept == "A's own" { &twin } else { &a };
        s.offer_checkpoint(&trust, &again.origin_info(X).unwrap().checkpoint)
            .unwrap();
        assert_eq!(s.origin_info(X).unwrap().forks, 1);
        assert_eq!(name_at(s, 1), kept);
    }
}

#[test]
fn a_chained_checkpoint_shows_a_reuse_its_replica_never_saw_the_other_side_of() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("x.key");
    let a = open(&tmp.path().join("a"), X, &key);
    let twin = open(&tmp.path().join("twin"), X, &key);
    let b = open(&tmp.path().join("b"), Y, &tmp.path().join("y.key"));
    let c = open(&tmp.path().join("c"), Z, &tmp.path().join("z.key"));
    let trust = Keys(vec![(X.into(), a.key().key_id().into(), a.key().public())]);
    let changes: Vec<Change> = (1..=4).map(|n| provider(n, &format!("P{n}"))).collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    receive(
        &twin,
        &trust,
        send(&a, &trust, X, (0, 0)),
        ApplyMode::Recovery,
    );
    for s in [&b, &c] {
        receive(s, &trust, send(&a, &trust, X, (0, 0)), ApplyMode::Normal);
    }
    let twin_cp_at_5 = {
        twin.publish(&Scope::Admin, None, &[provider(1, "the twin's")])
            .expect("twin");
        twin.origin_info(X).unwrap().checkpoint
    };
    // A signs seq 5, then moves on to 6 (record 1 again, so 5 is compacted away).
    let r5 = a
        .publish(&Scope::Admin, None, &[provider(1, "A's own")])
        .expect("a");
    a.publish(&Scope::Admin, None, &[provider(1, "A's own, again")])
        .expect("a");
    // B holds the twin's 5 and only ever meets A's 6, whose predecessor is A's 5.
    receive(
        &b,
        &trust,
        send(&twin, &trust, X, (1, 4)),
        ApplyMode::Normal,
    );
    let st = receive(&b, &trust, send(&a, &trust, X, (1, 5)), ApplyMode::Normal);
    assert_eq!(
        st,
        CheckpointStatus::Verified,
        "the newer state is still taken"
    );
    // C holds A's 6 and only meets the twin's checkpoint for 5.
    receive(&c, &trust, send(&a, &trust, X, (1, 4)), ApplyMode::Normal);
    assert_eq!(
        c.offer_checkpoint(&trust, &twin_cp_at_5).unwrap(),
        CheckpointStatus::Stale
    );
    for s in [&b, &c] {
        let f = s.forks().expect("forks");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].epoch, f[0].seq), (r5.epoch, r5.first_seq));
        assert_eq!(s.origin_info(X).unwrap().forks, 1);
    }
}

#[test]
fn a_snapshot_over_a_different_entry_at_one_position_records_the_fork() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("x.key");
    let a = open(&tmp.path().join("a"), X, &key);
    let twin = open(&tmp.path().join("twin"), X, &key);
    let d = open(&tmp.path().join("d"), Y, &tmp.path().join("y.key"));
    let trust = Keys(vec![(X.into(), a.key().key_id().into(), a.key().public())]);
    let changes: Vec<Change> = (1..=5).map(|n| provider(n, &format!("P{n}"))).collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    receive(
        &twin,
        &trust,
        send(&a, &trust, X, (0, 0)),
        ApplyMode::Recovery,
    );
    receive(&d, &trust, send(&a, &trust, X, (0, 0)), ApplyMode::Normal);
    twin.publish(&Scope::Admin, None, &[provider(1, "the twin's")])
        .expect("twin");
    let r = a
        .publish(&Scope::Admin, None, &[provider(1, "A's own")])
        .expect("a");
    // D holds the twin's entry but not its checkpoint (say, lost in a crash).
    let (entries, _) = send(&twin, &trust, X, (1, 5));
    d.apply_remote(entries, ApplyMode::Normal).expect("apply");
    let cp = a.origin_info(X).unwrap().checkpoint;
    assert_eq!(
        d.offer_checkpoint(&trust, &cp).unwrap(),
        CheckpointStatus::Diverged
    );
    let (set, cp) = send(&a, &trust, X, (0, 0));
    match d
        .replace_origin(&trust, X, &cp, &set, false)
        .expect("replace")
    {
        prospectus_store::SnapshotOutcome::Replaced { forks, .. } => {
            assert_eq!(forks, vec![(r.epoch, r.first_seq)])
        }
        other => panic!("{other:?}"),
    }
    let f = d.forks().expect("forks");
    assert_eq!((f.len(), f[0].seq), (1, r.first_seq));
    assert_eq!(d.origin_info(X).unwrap().forks, 1);
    assert_eq!(name_at(&d, 1), "A's own");
}

#[test]
fn a_backup_restores_whole_into_an_empty_dir_with_provider_tokens_suspended() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("x.key");
    let a = open(&tmp.path().join("a"), X, &key);
    a.create_token(Scope::Admin, "admin").expect("admin token");
    let (provider_token, id) = a
        .create_token(Scope::Provider(Uuid::from_u128(1)), "provider one")
        .expect("token");
    let changes: Vec<Change> = (1..=20).map(|n| provider(n, &format!("P{n}"))).collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    let backup = a.backup().expect("backup");

    let dir = tmp.path().join("restored");
    let r = restore_backup(&backup, &dir).expect("restore");
    assert_eq!(r.origin, X);
    assert_eq!(r.own, (1, 20));
    assert!(r.own_checkpoint_verified);
    assert_eq!(
        r.suspended_tokens,
        vec![(id.clone(), "provider one".to_string())]
    );
    assert!(matches!(
        restore_backup(&backup, &dir),
        Err(prospectus_store::BackupError::NotEmpty(_))
    ));
    let mut damaged = backup.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    assert!(restore_backup(&damaged, &tmp.path().join("other")).is_err());

    let restored = open(&dir, X, &key);
    assert_eq!(restored.origin_info(X).unwrap(), a.origin_info(X).unwrap());
    assert_eq!(name_at(&restored, 20), "P20");
    assert!(
        !restored.has_admin_token().unwrap(),
        "a new admin token is made at start"
    );
    let t = restored
        .check_token(&provider_token)
        .unwrap()
        .expect("kept");
    assert!(t.suspended);
    assert!(restored.enable_token(&id).unwrap());
    assert!(
        !restored
            .check_token(&provider_token)
            .unwrap()
            .expect("kept")
            .suspended
    );
}

/// `body` (a backup without its checksum) framed with a fresh SHA-256, as a tamperer would.
fn with_checksum(body: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut out = body.to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(body));
    out
}

/// The names in `dir` other than `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn a_restore_of_a_damaged_backup_leaves_the_dir_untouched_and_a_good_one_then_succeeds() {
    let tmp = tempfile::tempdir().expect("tmp");
    let key = tmp.path().join("x.key");
    let a = open(&tmp.path().join("a"), X, &key);
    a.create_token(Scope::Provider(Uuid::from_u128(1)), "provider one")
        .expect("token");
    let changes: Vec<Change> = (1..=20).map(|n| provider(n, &format!("P{n}"))).collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    let backup = a.backup().expect("backup");
    let body = &backup[..backup.len() - 32];

    // Cut inside the token tree (after meta, records, log and origins), checksum made to fit.
    let mut auth = 4u64.to_be_bytes().to_vec();
    auth.extend_from_slice(b"auth");
    let at = body
        .windows(auth.len())
        .position(|w| w == auth.as_slice())
        .expect("auth tree");
    let cut = with_checksum(&body[..at + auth.len() + 8 + 3]);
    // Every tree whole, then bytes that belong to none.
    let mut trailing = body.to_vec();
    trailing.extend_from_slice(b"extra");
    let trailing = with_checksum(&trailing);

    let keep = ["a", "x.key"];
    let dir = tmp.path().join("restored");
    for damaged in [&cut, &trailing] {
        let e = restore_backup(damaged, &dir).expect_err("damaged");
        assert!(
            matches!(e, prospectus_store::BackupError::Damaged(_)),
            "{e:?}"
        );
        assert!(!dir.exists(), "nothing written: {e}");
        assert_eq!(others(tmp.path(), &keep), Vec::<String>::new(), "{e}");
    }
    // Into an existing empty dir: it stays empty after a failure, then takes the good copy.
    std::fs::create_dir(&dir).expect("mkdir");
    assert!(restore_backup(&trailing, &dir).is_err());
    assert_eq!(others(&dir, &[]), Vec::<String>::new());
    assert_eq!(others(tmp.path(), &keep), vec!["restored".to_string()]);

    let r = restore_backup(&backup, &dir).expect("restore");
    assert_eq!((r.own, r.own_checkpoint_verified), ((1, 20), true));
    assert_eq!(others(tmp.path(), &keep), vec!["restored".to_string()]);
    assert_eq!(
        std::fs::read_to_string(dir.join("borough")).expect("borough"),
        format!("{X}\n")
    );
    let restored = open(&dir, X, &key);
    assert_eq!(restored.origin_info(X).unwrap(), a.origin_info(X).unwrap());
    assert_eq!(name_at(&restored, 20), "P20");
}
