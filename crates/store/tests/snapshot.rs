//! Re-syncing an origin whole (`Store::replace_origin`) and validating replicated payloads, on
//! real sled stores on disk: only a set that matches the origin's signed checkpoint replaces
//! anything, never for this node's own origin unless restoring it, never with an older
//! checkpoint; what it removes reaches the local change feed as deletions.

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use prospectus_model::{Provider, Record, RecordKind, Uuid};
use prospectus_proto::v1::{Entry, Op, SignedEntry};
use prospectus_store::{
    ApplyMode, Change, NodeKey, Rejection, Scope, SnapshotOutcome, Store, Trust, VERIFY_BATCH,
    Verified, verify_entries, verify_entry,
};
use prost::Message;
use std::path::Path;

const X: &str = "E09000028";
const Y: &str = "E09000025";

/// Which key signs for which origin (a stand-in for the federation roster).
struct Keys(Vec<(String, String, VerifyingKey)>);

impl Trust for Keys {
    fn key_for(&self, origin: &str, key_id: &str, _: i64) -> Option<VerifyingKey> {
        self.0
            .iter()
            .find(|(o, k, _)| o == origin && k == key_id)
            .map(|(_, _, v)| *v)
    }
}

fn provider(n: u128, name: &str) -> Record {
    Record::Provider(Provider {
        id: Uuid::from_u128(n),
        name: name.into(),
        ukprn: None,
        charity_number: None,
        description: None,
        email: None,
        phone: None,
        website: None,
        last_verified: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
    })
}

/// A store for `origin` with its key in `dir/key` (loadable again for signing by hand).
fn open(dir: &Path, origin: &str) -> Store {
    let (key, _) = NodeKey::load_or_create(&dir.join("key")).expect("key");
    Store::open(dir, origin, key).expect("open")
}

fn key_of(dir: &Path) -> NodeKey {
    NodeKey::load_or_create(&dir.join("key")).expect("key").0
}

fn trust(stores: &[&Store]) -> Keys {
    Keys(
        stores
            .iter()
            .map(|s| {
                (
                    s.origin().to_string(),
                    s.key().key_id().to_string(),
                    s.key().public(),
                )
            })
            .collect(),
    )
}

/// What `store` would send as a snapshot of `origin`: its entries and its checkpoint.
fn snapshot(store: &Store, trust: &Keys, origin: &str) -> (Vec<Verified>, Vec<u8>) {
    let entries = store
        .log_after(origin, 0, 0)
        .map(|r| verify_entry(trust, r.expect("log").2).expect("verified"))
        .collect();
    (entries, store.origin_info(origin).expect("info").checkpoint)
}

struct Pair {
    _tmp: tempfile::TempDir,
    a: Store,
    b: Store,
    trust: Keys,
}

/// A (origin X) publishes ten providers; B (origin Y) holds them, verified.
fn pair() -> Pair {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = open(&tmp.path().join("a"), X);
    let b = open(&tmp.path().join("b"), Y);
    let changes: Vec<Change> = (1..=10)
        .map(|n| Change::Upsert(provider(n, &format!("Provider {n}"))))
        .collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    let trust = trust(&[&a, &b]);
    let (entries, cp) = snapshot(&a, &trust, X);
    b.apply_remote(entries.clone(), ApplyMode::Normal)
        .expect("apply");
    b.offer_checkpoint(&trust, &cp).expect("checkpoint");
    assert!(b.origin_info(X).expect("info").checkpoint_verified);
    Pair {
        _tmp: tmp,
        a,
        b,
        trust,
    }
}

fn delete(n: u128) -> Change {
    Change::Delete {
        kind: RecordKind::Provider,
        id: Uuid::from_u128(n),
    }
}

#[test]
fn a_set_matching_the_signed_checkpoint_replaces_the_origin_and_feeds_its_removals() {
    let p = pair();
    // A deletes three providers and purges the tombstones: only a snapshot can tell B.
    p.a.publish(&Scope::Admin, None, &[delete(1), delete(2), delete(3)])
        .expect("delete");
    p.a.purge_tombstones(i64::MAX).expect("purge");
    let (entries, cp) = snapshot(&p.a, &p.trust, X);
    assert_eq!(entries.len(), 7);
    let feed_before = p.b.changes_after(0, 1000).expect("feed").len();
    let last_pos =
        p.b.changes_after(0, 1000)
            .expect("feed")
            .last()
            .map_or(0, |i| i.pos);

    let out =
        p.b.replace_origin(&p.trust, X, &cp, &entries, false)
            .expect("replace");
    assert_eq!(
        out,
        SnapshotOutcome::Replaced {
            applied: 0,
            unchanged: 7,
            removed: 3,
            verified: true,
            forks: vec![],
        }
    );
    let a = p.a.origin_info(X).expect("a");
    let b = p.b.origin_info(X).expect("b");
    assert_eq!((b.epoch, b.seq, b.live_count), (a.epoch, a.seq, 7));
    assert_eq!(b.digest, a.digest);
    assert!(b.checkpoint_verified && !b.diverged);
    for n in 1..=3 {
        assert!(
            p.b.get(RecordKind::Provider, Uuid::from_u128(n))
                .expect("get")
                .is_none()
        );
    }
    // Each removed record moved to a new feed position that reads as a deletion.
    let after = p.b.changes_after(last_pos, 1000).expect("feed");
    let mut gone: Vec<u128> = after
        .iter()
        .filter(|i| i.stored.is_none())
        .map(|i| i.id.as_u128())
        .collect();
    gone.sort();
    assert_eq!(gone, vec![1, 2, 3]);
    assert_eq!(p.b.changes_after(0, 1000).expect("feed").len(), feed_before);
}

#[test]
fn a_set_that_does_not_match_the_checkpoint_changes_nothing() {
    let p = pair();
    let (mut entries, cp) = snapshot(&p.a, &p.trust, X);
    let before = p.b.origin_info(X).expect("info");
    entries.pop();
    let out =
        p.b.replace_origin(&p.trust, X, &cp, &entries, false)
            .expect("replace");
    assert_eq!(out, SnapshotOutcome::Refused(Rejection::SnapshotMismatch));
    assert_eq!(p.b.origin_info(X).expect("info"), before);
    assert_eq!(p.b.count_live(RecordKind::Provider).expect("count"), 10);
}

#[test]
fn an_older_checkpoint_own_origin_or_unsigned_checkpoint_changes_nothing() {
    let p = pair();
    let (old_entries, old_cp) = snapshot(&p.a, &p.trust, X);
    p.a.publish(
        &Scope::Admin,
        None,
        &[Change::Upsert(provider(1, "Renamed"))],
    )
    .expect("publish");
    let (entries, cp) = snapshot(&p.a, &p.trust, X);
    p.b.apply_remote(entries.clone(), ApplyMode::Normal)
        .expect("apply");
    let before = p.b.origin_info(X).expect("info");

    // A genuine, self-consistent but older snapshot would roll "Renamed" back.
    let out =
        p.b.replace_origin(&p.trust, X, &old_cp, &old_entries, false)
            .expect("replace");
    assert_eq!(out, SnapshotOutcome::Refused(Rejection::StaleSnapshot));
    // B's own origin, outside recovery.
    let out =
        p.b.replace_origin(&p.trust, Y, &cp, &[], false)
            .expect("replace");
    assert_eq!(out, SnapshotOutcome::Refused(Rejection::OwnOrigin));
    // A checkpoint signed by a key nobody trusts.
    let mut forged = prospectus_proto::v1::SignedCheckpoint::decode(cp.as_slice()).expect("cp");
    forged.signature[0] ^= 1;
    let out =
        p.b.replace_origin(&p.trust, X, &forged.encode_to_vec(), &entries, false)
            .expect("replace");
    assert_eq!(out, SnapshotOutcome::Refused(Rejection::BadSignature));
    assert_eq!(p.b.origin_info(X).expect("info"), before);
    let held =
        p.b.get_live(RecordKind::Provider, Uuid::from_u128(1))
            .expect("get");
    assert_eq!(held.and_then(|s| s.record), Some(provider(1, "Renamed")));
}

#[test]
fn a_signed_but_invalid_record_is_refused_and_an_unknown_kind_is_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = open(&tmp.path().join("a"), X);
    let key = key_of(&tmp.path().join("a"));
    let trust = trust(&[&a]);
    let sign = |kind: i32, payload: Vec<u8>| {
        let entry_bytes = Entry {
            origin: X.into(),
            epoch: 1,
            seq: 1,
            kind,
            id: Uuid::from_u128(7).as_bytes().to_vec(),
            op: Op::Upsert as i32,
            payload,
            unix_millis: 1,
            schema: prospectus_store::SCHEMA_VERSION,
        }
        .encode_to_vec();
        SignedEntry {
            signature: key.sign(&entry_bytes),
            key_id: key.key_id().into(),
            entry_bytes,
        }
        .encode_to_vec()
    };
    let nameless = prospectus_proto::encode_record(&provider(7, " "));
    assert_eq!(
        verify_entry(&trust, sign(RecordKind::Provider as i32, nameless)).err(),
        Some(Rejection::Invalid)
    );
    assert_eq!(
        verify_entry(&trust, sign(RecordKind::Provider as i32, vec![0xff, 0xff])).err(),
        Some(Rejection::Invalid)
    );
    let good = prospectus_proto::encode_record(&provider(7, "Fine"));
    assert!(verify_entry(&trust, sign(RecordKind::Provider as i32, good)).is_ok());
    // A kind from a newer schema: stored and forwarded unread.
    assert!(verify_entry(&trust, sign(42, vec![1, 2, 3])).is_ok());
}

/// Batch verification answers for every entry exactly what single verification does: good
/// entries spread over several Ed25519 batches (and threads) pass, and each bad one — a
/// broken signature, an unknown key, an altered payload, an invalid payload, bytes that are
/// no entry — is refused alone, with its own reason and origin, while the rest of its batch
/// passes.
#[test]
fn batch_verification_refuses_exactly_the_bad_entries_with_their_reasons() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = open(&tmp.path().join("a"), X);
    let key = key_of(&tmp.path().join("a"));
    let stranger = NodeKey::generate();
    let trust = trust(&[&a]);
    let entry = |n: u64, payload: Vec<u8>| Entry {
        origin: X.into(),
        epoch: 1,
        seq: n,
        kind: RecordKind::Provider as i32,
        id: Uuid::from_u128(n as u128).as_bytes().to_vec(),
        op: Op::Upsert as i32,
        payload,
        unix_millis: 1,
        schema: prospectus_store::SCHEMA_VERSION,
    };
    let signed = |by: &NodeKey, e: &Entry| {
        let entry_bytes = e.encode_to_vec();
        SignedEntry {
            signature: by.sign(&entry_bytes),
            key_id: key.key_id().into(),
            entry_bytes,
        }
    };
    let n = 3 * VERIFY_BATCH as u64 + 5;
    let mut all: Vec<Vec<u8>> = (1..=n)
        .map(|i| {
            let e = entry(
                i,
                prospectus_proto::encode_record(&provider(i as u128, "Fine")),
            );
            signed(&key, &e).encode_to_vec()
        })
        .collect();
    let good = |i: u64| {
        entry(
            i,
            prospectus_proto::encode_record(&provider(i as u128, "Fine")),
        )
    };
    // A broken signature.
    let mut broken = signed(&key, &good(10));
    broken.signature[5] ^= 1;
    all[9] = broken.encode_to_vec();
    // Signed by a key that is not the origin's (under the origin's key id).
    all[140] = signed(&stranger, &good(141)).encode_to_vec();
    // A genuine signature over other bytes.
    let mut altered = signed(&key, &good(200));
    altered.entry_bytes = good(201).encode_to_vec();
    all[199] = altered.encode_to_vec();
    // Genuinely signed, invalid payload.
    all[300] = signed(&key, &entry(301, vec![0xff, 0xff])).encode_to_vec();
    // Not an entry at all.
    all[301] = vec![0xff; 9];
    // An unknown key id.
    let mut unknown = signed(&key, &good(303));
    unknown.key_id = "nobody".into();
    all[302] = unknown.encode_to_vec();

    let batch = verify_entries(&trust, all.clone());
    assert_eq!(batch.len(), all.len());
    let mut refused = Vec::new();
    for (i, (b, bytes)) in batch.iter().zip(all).enumerate() {
        let single = verify_entry(&trust, bytes);
        match (b, &single) {
            (Ok(v), Ok(s)) => assert_eq!(v.signed_bytes, s.signed_bytes, "entry {i}"),
            (Err(r), Err(reason)) => {
                assert_eq!(r.reason, *reason, "entry {i}");
                refused.push((i, r.reason, r.origin.clone()));
            }
            _ => panic!("entry {i}: batch {b:?} but single {single:?}"),
        }
    }
    assert_eq!(
        refused,
        vec![
            (9, Rejection::BadSignature, X.to_string()),
            (140, Rejection::BadSignature, X.to_string()),
            (199, Rejection::BadSignature, X.to_string()),
            (300, Rejection::Invalid, X.to_string()),
            (301, Rejection::Malformed, String::new()),
            (302, Rejection::UnknownKey, X.to_string()),
        ]
    );
}
