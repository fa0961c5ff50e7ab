//! Checkpoint seals: an origin's checkpoint sent as only what its receiver cannot rebuild.
//!
//! Why: with each change taken once per node (fan-out), the signed checkpoint that follows
//! each change on its source stream (~200 bytes beside a course entry's ~830) was most of what
//! a node received beyond the entries. The receiver has applied the entries up to the
//! checkpoint's position, so it holds the live count and set digest the checkpoint states, and
//! it holds the checkpoint the stream sent before, which the new one names as its predecessor.
//! A seal carries the rest — origin, position, signature, and the time and key id only when
//! they are not the receiver's entry's and held checkpoint's, the predecessor only when the
//! stream skipped it (coalescing sends only a burst's last checkpoint) — and the receiver rebuilds the
//! `Checkpoint` and checks the origin's signature over it. A seal proves nothing by itself:
//! a receiver whose state differs (diverged, or moved on) rebuilds other bytes, the signature
//! fails, and it asks for the checkpoint itself, which takes the full path (divergence, fork
//! evidence).

use prospectus_proto::v1::{Checkpoint, CheckpointSeal, SignedCheckpoint};
use prospectus_store::OriginInfo;
use prost::Message;

/// The seal of `cp` for a receiver that has applied this stream's entries of its origin up
/// to `at` and holds `before` (the checkpoint this stream sent before, encoded, whose key id
/// it reuses), or `None` when the receiver could not rebuild it (send it whole). `entry_millis`: the time of the
/// entry at `at`, when known.
pub fn seal(
    cp: &SignedCheckpoint,
    before: &[u8],
    at: (u64, u64),
    entry_millis: Option<i64>,
) -> Option<CheckpointSeal> {
    let c = Checkpoint::decode(cp.checkpoint_bytes.as_slice()).ok()?;
    let before = SignedCheckpoint::decode(before).ok()?;
    let p = Checkpoint::decode(before.checkpoint_bytes.as_slice()).ok()?;
    if (c.epoch, c.seq) != at || p.origin != c.origin || (p.epoch, p.seq) >= at {
        return None;
    }
    // Chained to the checkpoint the receiver holds, or to one this stream skipped (then the
    // predecessor travels with the seal).
    let chained = (p.epoch, p.seq, p.live_count, &p.set_digest)
        == (
            c.prev_epoch,
            c.prev_seq,
            c.prev_live_count,
            &c.prev_set_digest,
        );
    if !chained && c.prev_set_digest.is_empty() {
        return None;
    }
    let prev = Checkpoint {
        epoch: c.prev_epoch,
        seq: c.prev_seq,
        live_count: c.prev_live_count,
        set_digest: c.prev_set_digest.clone(),
        ..Default::default()
    };
    // Byte for byte what the receiver will rebuild: a checkpoint with fields this version
    // does not know (signed by a newer origin) goes whole.
    if rebuilt(&c, c.live_count, c.set_digest.clone(), c.unix_millis, &prev).encode_to_vec()
        != cp.checkpoint_bytes
    {
        return None;
    }
    let unix_millis = if entry_millis == Some(c.unix_millis) {
        0
    } else if c.unix_millis == 0 {
        // 0 means "the entry's time": not expressible.
        return None;
    } else {
        c.unix_millis
    };
    let mut s = CheckpointSeal {
        origin: c.origin,
        epoch: c.epoch,
        seq: c.seq,
        unix_millis,
        key_id: if cp.key_id == before.key_id {
            String::new()
        } else {
            cp.key_id.clone()
        },
        signature: cp.signature.clone(),
        ..Default::default()
    };
    if !chained {
        s.prev_epoch = prev.epoch;
        s.prev_seq = prev.seq;
        s.prev_live_count = prev.live_count;
        s.prev_set_digest = prev.set_digest;
    }
    Some(s)
}

/// The checkpoint `s` seals, rebuilt from what this node holds of its origin (`state`, with
/// the checkpoint it holds): `None` when it cannot be (the state is not at the seal's
/// position, or names no key). Unverified: the caller offers it like any checkpoint.
pub fn unseal(s: &CheckpointSeal, state: &OriginInfo) -> Option<SignedCheckpoint> {
    if (state.epoch, state.seq) != (s.epoch, s.seq) || state.origin != s.origin {
        return None;
    }
    let held = SignedCheckpoint::decode(state.checkpoint.as_slice())
        .ok()
        .filter(|_| !state.checkpoint.is_empty());
    let held_cp = held
        .as_ref()
        .and_then(|h| Checkpoint::decode(h.checkpoint_bytes.as_slice()).ok())
        .unwrap_or_default();
    if (held_cp.epoch, held_cp.seq) == (s.epoch, s.seq) {
        // Held already (another link delivered it): the seal is of that one or of nothing.
        return held.filter(|h| h.signature == s.signature);
    }
    let prev = if s.prev_set_digest.is_empty() {
        held_cp
    } else {
        Checkpoint {
            epoch: s.prev_epoch,
            seq: s.prev_seq,
            live_count: s.prev_live_count,
            set_digest: s.prev_set_digest.clone(),
            ..Default::default()
        }
    };
    let key_id = match (&held, s.key_id.is_empty()) {
        (_, false) => s.key_id.clone(),
        (Some(h), true) => h.key_id.clone(),
        (None, true) => return None,
    };
    let unix_millis = if s.unix_millis == 0 {
        state.last_entry_millis
    } else {
        s.unix_millis
    };
    let c = Checkpoint {
        origin: s.origin.clone(),
        epoch: s.epoch,
        seq: s.seq,
        ..Default::default()
    };
    Some(SignedCheckpoint {
        checkpoint_bytes: rebuilt(
            &c,
            state.live_count,
            state.digest.clone(),
            unix_millis,
            &prev,
        )
        .encode_to_vec(),
        key_id,
        signature: s.signature.clone(),
    })
}

/// `c`'s origin and position with the given state and time, chained to `prev`.
fn rebuilt(
    c: &Checkpoint,
    live_count: u64,
    set_digest: Vec<u8>,
    unix_millis: i64,
    prev: &Checkpoint,
) -> Checkpoint {
    Checkpoint {
        origin: c.origin.clone(),
        epoch: c.epoch,
        seq: c.seq,
        live_count,
        set_digest,
        unix_millis,
        prev_epoch: prev.epoch,
        prev_seq: prev.seq,
        prev_live_count: prev.live_count,
        prev_set_digest: prev.set_digest.clone(),
    }
}
