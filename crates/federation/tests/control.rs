//! The control channel as a `Replica` sees it, item by item, on real sled stores: heads count
//! only with a signed checkpoint and only for roster origins; a snapshot counts only when this
//! link asked for it and its set matches the origin's signed checkpoint.

use prospectus_federation::{
    Member, Replica, ReplicaEvent, Roster, RosterKey, SharedHeads, checkpoint_digest, seal,
};
use prospectus_model::{Provider, Record, RecordKind, Uuid};
use prospectus_proto::v1::{self as w, PullItem, SignedCheckpoint, SignedEntry, pull_item::Item};
use prospectus_store::{Change, NodeKey, Rejection, Scope, Store};
use prost::Message;
use std::sync::Arc;

const X: &str = "E09000028";
const Y: &str = "E09000025";

fn member(origin: &str, key: &NodeKey) -> Member {
    Member {
        origin: origin.into(),
        name: origin.into(),
        endpoint: "http://127.0.0.1:1".into(),
        tls_name: None,
        keys: vec![RosterKey {
            public_key: key.public_hex(),
            valid_from: None,
            valid_until: None,
            revoked: false,
        }],
    }
}

struct World {
    _tmp: tempfile::TempDir,
    a: Arc<Store>,
    b: Arc<Store>,
    roster: Arc<Roster>,
}

/// A (X) has published `n` providers; B (Y) holds nothing yet; both are in the roster.
fn world(n: u128) -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ka, kb) = (NodeKey::generate(), NodeKey::generate());
    let roster = Roster::from_members(vec![member(X, &ka), member(Y, &kb)]).expect("roster");
    let a = Arc::new(Store::open(&tmp.path().join("a"), X, ka).expect("a"));
    let b = Arc::new(Store::open(&tmp.path().join("b"), Y, kb).expect("b"));
    let changes: Vec<Change> = (1..=n)
        .map(|i| {
            Change::Upsert(Record::Provider(Provider {
                id: Uuid::from_u128(i),
                name: format!("Provider {i}"),
                ukprn: None,
                charity_number: None,
                description: None,
                email: None,
                phone: None,
                website: None,
                last_verified: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            }))
        })
        .collect();
    a.publish(&Scope::Admin, None, &changes[..])
        .expect("publish");
    World {
        _tmp: tmp,
        a,
        b,
        roster: Arc::new(roster),
    }
}

fn entries(s: &Store, origin: &str) -> Vec<PullItem> {
    s.log_after(origin, 0, 0)
        .map(|r| PullItem {
            seal: None,
            item: Some(Item::Entry(
                SignedEntry::decode(r.expect("log").2.as_slice()).expect("entry"),
            )),
        })
        .collect()
}

fn checkpoint(s: &Store, origin: &str) -> SignedCheckpoint {
    SignedCheckpoint::decode(s.origin_info(origin).expect("info").checkpoint.as_slice())
        .expect("checkpoint")
}

fn it(i: Item) -> PullItem {
    PullItem {
        item: Some(i),
        seal: None,
    }
}

/// A deletes provider `id` (one change, one checkpoint).
fn delete(w: &World, id: u128) {
    w.a.publish(
        &Scope::Admin,
        None,
        &[Change::Delete {
            kind: RecordKind::Provider,
            id: Uuid::from_u128(id),
        }],
    )
    .expect("publish");
}

/// A's entries of `origin` after `at`, as stream items.
fn entries_after(s: &Store, origin: &str, at: (u64, u64)) -> Vec<PullItem> {
    s.log_after(origin, at.0, at.1)
        .map(|r| {
            it(Item::Entry(
                SignedEntry::decode(r.expect("log").2.as_slice()).expect("entry"),
            ))
        })
        .collect()
}

/// B holds all of A's origin X with its checkpoint, through a replica on `heads`.
fn synced(w: &World, heads: &SharedHeads) -> (Replica, SignedCheckpoint) {
    let mut r = Replica::new(w.b.clone(), w.roster.clone(), heads.clone(), false);
    let cp = checkpoint(&w.a, X);
    let mut items = entries(&w.a, X);
    items.push(it(Item::Checkpoint(cp.clone())));
    run(&mut r, items);
    (r, cp)
}

fn run(r: &mut Replica, items: Vec<PullItem>) -> Vec<ReplicaEvent> {
    let mut events = Vec::new();
    for i in items {
        events.extend(r.handle(i).expect("handle"));
    }
    r.flush(&mut events).expect("flush");
    events
}

fn rejected(events: &[ReplicaEvent], origin: &str, reason: Rejection) -> usize {
    events
        .iter()
        .map(|e| match e {
            ReplicaEvent::Rejected {
                origin: o,
                reason: r,
                count,
            } if o == origin && *r == reason => *count,
            _ => 0,
        })
        .sum()
}

/// A key the roster revokes: its entries and checkpoints are refused as `revoked_key` though
/// its window is open at any time they claim, nothing is stored, and what a node already held
/// from it is counted.
#[test]
fn a_revoked_keys_entries_and_checkpoints_are_refused_and_held_ones_counted() {
    let w = world(3);
    let text = |revoked: bool| {
        let mut t = String::new();
        for m in w.roster.members() {
            t.push_str(&format!(
                "[[member]]\norigin = \"{}\"\nname = \"n\"\nendpoint = \"http://127.0.0.1:1\"\n[[member.keys]]\npublic_key = \"{}\"\nvalid_until = \"2999-01-01T00:00:00Z\"\nrevoked = {}\n",
                m.origin,
                m.keys[0].public_key,
                revoked && m.origin == X
            ));
        }
        t
    };
    let revoking = Arc::new(Roster::parse(&text(true)).expect("roster"));
    let mut r = Replica::new(w.b.clone(), revoking.clone(), SharedHeads::default(), false);
    let mut items = entries(&w.a, X);
    items.push(it(Item::Checkpoint(checkpoint(&w.a, X))));
    let events = run(&mut r, items);
    assert_eq!(rejected(&events, X, Rejection::RevokedKey), 4, "{events:?}");
    assert_eq!(w.b.origin_info(X).expect("info").seq, 0, "nothing stored");
    assert_eq!(
        revoking.held_by_revoked(&w.b).expect("count"),
        [(X.to_string(), 0)]
    );

    // Held before the revocation: kept, and counted.
    let trusting = Arc::new(Roster::parse(&text(false)).expect("roster"));
    let mut r = Replica::new(w.b.clone(), trusting, SharedHeads::default(), false);
    run(&mut r, entries(&w.a, X));
    assert_eq!(w.b.origin_info(X).expect("info").seq, 3);
    assert_eq!(
        revoking.held_by_revoked(&w.b).expect("count"),
        [(X.to_string(), 3)]
    );
}

#[test]
fn heads_count_only_signed_and_only_for_roster_origins() {
    let w = world(3);
    let heads = SharedHeads::default();
    let mut r = Replica::new(w.b.clone(), w.roster.clone(), heads.clone(), false);
    let mut claimed = vec![w::Head {
        origin: X.into(),
        epoch: 1,
        seq: u64::MAX,
        ..Default::default()
    }];
    claimed.extend((0..1000).map(|i| w::Head {
        origin: format!("made-up-{i}"),
        epoch: 1,
        seq: 1,
        ..Default::default()
    }));
    let events = run(
        &mut r,
        vec![it(Item::Heads(w::Heads {
            node_origin: X.into(),
            heads: claimed,
            unix_millis: 0,
        }))],
    );
    assert_eq!(
        heads.all(),
        Default::default(),
        "unsigned heads were believed"
    );
    assert_eq!(rejected(&events, "unknown", Rejection::UnknownOrigin), 1000);
    assert!(events.iter().all(|e| match e {
        ReplicaEvent::Rejected { origin, .. } => origin == "unknown",
        _ => true,
    }));

    // A's genuine signed checkpoint, relayed by anyone, does count.
    let cp = checkpoint(&w.a, X);
    run(
        &mut r,
        vec![it(Item::Heads(w::Heads {
            node_origin: String::new(),
            heads: vec![w::Head {
                origin: X.into(),
                checkpoint: Some(cp),
                ..Default::default()
            }],
            unix_millis: 0,
        }))],
    );
    assert_eq!(heads.best(X), Some((1, 3)));
}

fn digest_heads(origin: &str, seq: u64, digest: Vec<u8>) -> PullItem {
    it(Item::Heads(w::Heads {
        node_origin: String::new(),
        heads: vec![w::Head {
            origin: origin.into(),
            epoch: 1,
            seq,
            checkpoint_digest: digest,
            ..Default::default()
        }],
        unix_millis: 0,
    }))
}

fn proven(events: &[ReplicaEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            ReplicaEvent::Proven { epoch, seq, .. } => Some((*epoch, *seq)),
            _ => None,
        })
        .collect()
}

/// A witness's heads may carry a checkpoint's digest instead of the checkpoint: one equal to
/// the checkpoint held here proves the peer holds it (as the checkpoint would); another
/// proves nothing and asks for the checkpoint when the head claims the held checkpoint's
/// position or more (a fork, or a source that withholds entries or checkpoints); a claim below
/// it asks nothing. Only the signed checkpoint of an origin asked for counts in the answer.
#[test]
fn a_checkpoint_digest_proves_only_what_is_held_and_asks_for_anything_else() {
    let w = world(3);
    let heads = SharedHeads::default();
    let (mut r, old) = synced(&w, &heads);
    assert_eq!(heads.best(X), Some((1, 3)));
    let asks = |events: &[ReplicaEvent]| {
        events
            .iter()
            .any(|e| matches!(e, ReplicaEvent::CheckpointWanted { origin, .. } if origin == X))
    };

    // A digest of what B holds: the peer (another link, so nothing proven on it yet) holds
    // it; nothing is asked.
    let mut witness = Replica::new(w.b.clone(), w.roster.clone(), heads.clone(), false);
    let events = run(
        &mut witness,
        vec![digest_heads(X, 3, checkpoint_digest(&old))],
    );
    assert_eq!(proven(&events), vec![(1, 3)]);
    assert!(!asks(&events));
    // Another digest for the position of B's checkpoint: asked (a fork would show), and the
    // ask is not moot when B's checkpoint moves past that position (a checkpoint past it
    // would hide the fork); a claim above it is.
    let events = run(&mut witness, vec![digest_heads(X, 3, vec![7; 16])]);
    assert!(proven(&events).is_empty() && asks(&events), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        ReplicaEvent::CheckpointWanted {
            claim: (1, 3),
            exact: true,
            ..
        }
    )));
    assert!(!witness.ask_answered(X, &[7; 16], (1, 3), true));
    assert!(witness.ask_answered(X, &[7; 16], (1, 2), false));

    // A publishes more; B applies the entry, its checkpoint not yet arrived.
    delete(&w, 1);
    let new = checkpoint(&w.a, X);
    let fourth: Vec<PullItem> = entries_after(&w.a, X, (1, 3));
    assert_eq!(fourth.len(), 1);
    run(&mut r, fourth);
    // A claim above the held checkpoint with another digest asks (the link waits a beat and
    // the grace before sending it, and drops it if the held checkpoint comes to match).
    let events = run(
        &mut witness,
        vec![digest_heads(X, 4, checkpoint_digest(&new))],
    );
    assert!(proven(&events).is_empty() && asks(&events), "{events:?}");
    assert!(!witness.holds_digest(X, &checkpoint_digest(&new)));
    assert!(witness.holds_digest(X, &checkpoint_digest(&old)));
    // Below the held checkpoint: nothing to show, nothing asked.
    let events = run(&mut witness, vec![digest_heads(X, 2, vec![7; 16])]);
    assert!(proven(&events).is_empty() && !asks(&events), "{events:?}");
    // A cursor at or past the held checkpoint whose digested checkpoint is below it (the
    // peer's checkpoint has not come yet): the digest's own position counts, nothing asked;
    // at the held position, asked as the exact position.
    for (at, asked) in [((1, 2), false), ((1, 3), true)] {
        let mut lagging = digest_heads(X, 4, vec![7; 16]);
        if let Some(Item::Heads(h)) = &mut lagging.item {
            (h.heads[0].checkpoint_epoch, h.heads[0].checkpoint_seq) = at;
        }
        let events = run(&mut witness, vec![lagging]);
        assert_eq!(asks(&events), asked, "{at:?}: {events:?}");
    }

    // A claim beyond what B applied, whatever its digest: nothing proven, the checkpoint
    // asked.
    for digest in [checkpoint_digest(&new), vec![7; 16]] {
        let events = run(&mut witness, vec![digest_heads(X, u64::MAX, digest)]);
        assert!(proven(&events).is_empty() && asks(&events), "{events:?}");
        assert_eq!(heads.best(X), Some((1, 3)));
    }

    // The answer: a digest in it counts for nothing; the signed checkpoint proves (1, 4).
    let new_digest = checkpoint_digest(&new);
    let answer = |cp: Option<SignedCheckpoint>| w::Heads {
        node_origin: X.into(),
        heads: vec![w::Head {
            origin: X.into(),
            epoch: 1,
            seq: 4,
            checkpoint: cp,
            checkpoint_digest: new_digest.clone(),
            ..Default::default()
        }],
        unix_millis: 0,
    };
    let x: std::collections::BTreeSet<String> = [X.to_string()].into();
    let events = witness.fetched_heads(answer(None), &x).expect("fetched");
    assert!(
        proven(&events).is_empty()
            && !events
                .iter()
                .any(|e| matches!(e, ReplicaEvent::CheckpointWanted { .. })),
        "{events:?}"
    );
    let events = witness
        .fetched_heads(answer(Some(new.clone())), &Default::default())
        .expect("fetched");
    assert!(
        proven(&events).is_empty(),
        "an answer for origins not asked counts for nothing"
    );
    let events = witness
        .fetched_heads(answer(Some(new)), &x)
        .expect("fetched");
    assert_eq!(proven(&events), vec![(1, 4)]);
    assert_eq!(heads.best(X), Some((1, 4)));
    // B's checkpoint is now past (1, 3): the other digest claimed for (1, 3) as B's own
    // position then is still asked for; a plain claim of (1, 3) is moot.
    assert!(!witness.ask_answered(X, &[7; 16], (1, 3), true));
    assert!(witness.ask_answered(X, &[7; 16], (1, 3), false));
}

/// A checkpoint seal rebuilds, on a node that applied the entries up to it and holds the
/// checkpoint before it, the very checkpoint the origin signed (stored byte for byte, verified,
/// proven); a seal this node cannot rebuild (not at its position) or whose rebuilt bytes the
/// origin did not sign stores nothing, counts no rejection (this node's state may be what
/// differs) and asks for the checkpoint at once.
#[test]
fn a_checkpoint_seal_rebuilds_the_signed_checkpoint_or_asks_for_it_at_once() {
    let w = world(3);
    let heads = SharedHeads::default();
    let (mut r, first) = synced(&w, &heads);
    delete(&w, 1);
    let second = checkpoint(&w.a, X);
    let millis = w.a.origin_info(X).expect("info").last_entry_millis;
    let before = first.encode_to_vec();
    let s = seal(&second, &before, (1, 4), Some(millis)).expect("sealable");
    assert!(s.key_id.is_empty() && s.unix_millis == 0, "{s:?}");
    assert!(
        s.encoded_len() * 2 < second.encoded_len(),
        "seal {} B, checkpoint {} B",
        s.encoded_len(),
        second.encoded_len()
    );
    // Sealed only for a receiver at its position holding its predecessor.
    assert!(seal(&second, &before, (1, 3), Some(millis)).is_none());
    assert!(seal(&second, &second.encode_to_vec(), (1, 4), Some(millis)).is_none());
    let timed = seal(&second, &before, (1, 4), None).expect("sealable");
    assert_eq!(timed.unix_millis, millis);

    let asked_at_once = |events: &[ReplicaEvent]| {
        events.iter().any(|e| {
            matches!(e, ReplicaEvent::CheckpointWanted { origin, at_once: true, .. } if origin == X)
        })
    };
    let held = |w: &World| w.b.origin_info(X).expect("info").checkpoint;
    // B has not applied the fourth entry: nothing to rebuild from.
    let events = run(&mut r, vec![it(Item::CheckpointSeal(s.clone()))]);
    assert!(asked_at_once(&events), "{events:?}");
    assert_eq!(held(&w), before);
    let fourth: Vec<PullItem> = entries_after(&w.a, X, (1, 3));
    run(&mut r, fourth);
    // Bytes the origin did not sign (a flipped signature bit, another time): asked, nothing
    // refused or stored.
    let mut bad = s.clone();
    bad.signature[0] ^= 1;
    let mut late = s.clone();
    late.unix_millis = millis + 1;
    for s in [bad, late] {
        let events = run(&mut r, vec![it(Item::CheckpointSeal(s))]);
        assert!(asked_at_once(&events), "{events:?}");
        assert!(
            !events.iter().any(|e| matches!(
                e,
                ReplicaEvent::Rejected { .. } | ReplicaEvent::Proven { .. }
            )),
            "{events:?}"
        );
        assert_eq!(held(&w), before);
    }
    // The genuine seal: A's checkpoint, byte for byte, verified and proven.
    let events = run(&mut r, vec![it(Item::CheckpointSeal(s.clone()))]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReplicaEvent::Verified { origin } if origin == X)),
        "{events:?}"
    );
    assert_eq!(proven(&events), vec![(1, 4)]);
    assert_eq!(held(&w), second.encode_to_vec());
    assert!(w.b.origin_info(X).expect("info").checkpoint_verified);
    assert_eq!(heads.best(X), Some((1, 4)));
    // Again: the checkpoint held, nothing asked.
    let events = run(&mut r, vec![it(Item::CheckpointSeal(s.clone()))]);
    assert!(!asked_at_once(&events), "{events:?}");
    // Two more changes whose first checkpoint the stream skipped (coalesced): the seal of
    // the second carries its predecessor, and rebuilds.
    for id in [2, 3] {
        delete(&w, id);
    }
    let sixth = checkpoint(&w.a, X);
    let millis = w.a.origin_info(X).expect("info").last_entry_millis;
    let skipped = seal(&sixth, &second.encode_to_vec(), (1, 6), Some(millis)).expect("sealable");
    assert!(!skipped.prev_set_digest.is_empty() && skipped.prev_seq == 5);
    let mut later: Vec<PullItem> = entries_after(&w.a, X, (1, 4));
    // As a source sends it: in the last entry's message, its position the entry's.
    let mut attached = skipped;
    attached.origin.clear();
    (attached.epoch, attached.seq) = (0, 0);
    later.last_mut().expect("entries").seal = Some(attached.clone());
    let events = run(&mut r, later);
    assert_eq!(proven(&events), vec![(1, 6)], "{events:?}");
    // On anything but an entry a seal means nothing.
    let events = run(
        &mut r,
        vec![PullItem {
            item: Some(Item::Heads(w::Heads::default())),
            seal: Some(attached),
        }],
    );
    assert!(proven(&events).is_empty(), "{events:?}");
    assert_eq!(held(&w), sixth.encode_to_vec());
    // An origin outside the roster: refused as unknown, nothing asked.
    let mut unknown = s;
    unknown.origin = "E09000001".into();
    let events = run(&mut r, vec![it(Item::CheckpointSeal(unknown))]);
    assert_eq!(rejected(&events, "unknown", Rejection::UnknownOrigin), 1);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ReplicaEvent::CheckpointWanted { .. }))
    );
}

#[test]
fn a_snapshot_counts_only_when_asked_for_and_proven() {
    let w = world(5);
    let heads = SharedHeads::default();
    let mut r = Replica::new(w.b.clone(), w.roster.clone(), heads, false);
    run(&mut r, entries(&w.a, X));
    assert_eq!(w.b.count_live(RecordKind::Provider).expect("count"), 5);
    let cp = checkpoint(&w.a, X);
    let snapshot = |items: Vec<PullItem>, origin: &str, cp: Option<SignedCheckpoint>| {
        let mut out = vec![it(Item::SnapshotBegin(w::SnapshotBegin {
            origin: origin.into(),
        }))];
        out.extend(items);
        out.push(it(Item::SnapshotEnd(w::SnapshotEnd {
            origin: origin.into(),
            epoch: 1,
            seq: u64::MAX,
            checkpoint: cp,
        })));
        out
    };
    let first = entries(&w.a, X).into_iter().take(1).collect::<Vec<_>>();

    // Not asked for: refused, nothing removed.
    let ev = run(&mut r, snapshot(first.clone(), X, Some(cp.clone())));
    assert_eq!(rejected(&ev, X, Rejection::Unsolicited), 2);
    // Asked for, but the set is not the checkpoint's.
    r.expect_snapshots(&[X.to_string()]);
    let ev = run(&mut r, snapshot(first.clone(), X, Some(cp.clone())));
    assert_eq!(rejected(&ev, X, Rejection::SnapshotMismatch), 1);
    // Asked for, without a checkpoint.
    r.expect_snapshots(&[X.to_string()]);
    let ev = run(&mut r, snapshot(entries(&w.a, X), X, None));
    assert_eq!(rejected(&ev, X, Rejection::SnapshotMismatch), 1);
    // Our own origin is never asked for outside recovery.
    r.expect_snapshots(&[Y.to_string()]);
    let ev = run(&mut r, snapshot(vec![], Y, Some(cp.clone())));
    assert_eq!(rejected(&ev, Y, Rejection::OwnOrigin), 1);
    let b = w.b.origin_info(X).expect("info");
    assert_eq!((b.epoch, b.seq, b.live_count), (1, 5, 5));
    assert_eq!(w.b.count_live(RecordKind::Provider).expect("count"), 5);

    // Asked for and proven: applied, cursor from the signed checkpoint (not u64::MAX).
    r.expect_snapshots(&[X.to_string()]);
    let ev = run(&mut r, snapshot(entries(&w.a, X), X, Some(cp)));
    assert!(
        ev.contains(&ReplicaEvent::Verified { origin: X.into() }),
        "{ev:?}"
    );
    let b = w.b.origin_info(X).expect("info");
    assert_eq!((b.epoch, b.seq, b.live_count), (1, 5, 5));
    assert!(b.checkpoint_verified);
}

/// A forger holding X's retired key (its window closed in 2000) signs another state for a
/// position B holds, with a time inside the window. Sent whole it verifies (and shows B's
/// history diverged); as a seal whose time is "the entry's" B rebuilds it with its own entry's
/// time, outside the window: refused for the key. That refusal is B's filling-in, not the
/// seal's: the checkpoint is asked for whole, never dropped as refused (it was, before).
#[test]
fn a_seal_refused_for_a_window_judged_at_this_nodes_time_is_asked_for_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ka, kb, old) = (
        NodeKey::generate(),
        NodeKey::generate(),
        NodeKey::generate(),
    );
    let mut mx = member(X, &ka);
    mx.keys.push(RosterKey {
        public_key: old.public_hex(),
        valid_from: None,
        valid_until: Some("2000-01-01T00:00:00Z".parse().expect("time")),
        revoked: false,
    });
    let roster = Arc::new(Roster::from_members(vec![mx, member(Y, &kb)]).expect("roster"));
    let w = World {
        a: Arc::new(Store::open(&tmp.path().join("a"), X, ka).expect("a")),
        b: Arc::new(Store::open(&tmp.path().join("b"), Y, kb).expect("b")),
        roster,
        _tmp: tmp,
    };
    w.a.publish(
        &Scope::Admin,
        None,
        &[Change::Upsert(Record::Provider(Provider {
            id: Uuid::from_u128(1),
            name: "Provider 1".into(),
            ukprn: None,
            charity_number: None,
            description: None,
            email: None,
            phone: None,
            website: None,
            last_verified: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        }))],
    )
    .expect("publish");
    let (mut r, first) = synced(&w, &SharedHeads::default());
    let p = w::Checkpoint::decode(first.checkpoint_bytes.as_slice()).expect("checkpoint");
    delete(&w, 1);
    run(&mut r, entries_after(&w.a, X, (1, 1)));
    let forged = w::Checkpoint {
        origin: X.into(),
        epoch: 1,
        seq: 2,
        live_count: 99,
        set_digest: vec![9; 32],
        unix_millis: 900_000_000_000,
        prev_epoch: p.epoch,
        prev_seq: p.seq,
        prev_live_count: p.live_count,
        prev_set_digest: p.set_digest.clone(),
    }
    .encode_to_vec();
    let signature = old.sign(&[b"prospectus/checkpoint/v1\n".as_slice(), &forged].concat());
    let seal = w::CheckpointSeal {
        origin: X.into(),
        epoch: 1,
        seq: 2,
        unix_millis: 0,
        key_id: old.key_id().into(),
        signature,
        ..Default::default()
    };
    let events = run(&mut r, vec![it(Item::CheckpointSeal(seal))]);
    assert!(
        events.iter().any(|e| matches!(
            e,
            ReplicaEvent::CheckpointWanted { origin, at_once: true, .. } if origin == X
        )),
        "{events:?}"
    );
    assert_eq!(rejected(&events, X, Rejection::UnknownKey), 0, "{events:?}");
}
