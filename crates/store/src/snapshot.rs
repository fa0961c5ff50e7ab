//! Re-syncing one origin whole from a peer (after `SnapshotRequired`, or to repair a
//! divergence), proven by the origin's signed checkpoint. A peer can only relay what the origin
//! signed, but it can choose *which* signed entries to send: so the received set must have
//! exactly the checkpoint's digest and live count before anything is touched, and the
//! replacement is one transaction that also records each record it removes as a deletion in
//! the local change feed (a new position, so feed consumers see it go).

use crate::codec::{self, META_CHANGES};
use crate::digest::{SetDigest, record_hash};
use crate::write::{Tx, abort, run_tx};
use crate::{Rejection, Store, StoreError, Trust, Update, Verified, now_millis, open_entry};
use prospectus_proto::v1::{Op, SignedEntry};
use prost::Message;
use std::collections::{BTreeSet, HashSet};

/// Upper bound on the signed bytes of one snapshot a link stages in memory before the
/// checkpoint proves it (a whole borough is a few tens of MB).
pub const MAX_SNAPSHOT_BYTES: usize = 512 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    Replaced {
        applied: usize,
        unchanged: usize,
        removed: usize,
        /// False only if some record id of the set is held by another origin (it stays
        /// theirs): the origin is then marked diverged.
        verified: bool,
        /// `(epoch, seq)` positions where this node held a different signed entry than the
        /// set's: recorded as forks (the replaced entry is kept in `forks`), never silently.
        forks: Vec<(u64, u64)>,
    },
    /// Nothing was changed.
    Refused(Rejection),
}

impl Store {
    /// Replaces what this node holds of `origin` with `entries` (at most one per record), if
    /// and only if all of this holds, else changes nothing and says why:
    /// - `checkpoint` verifies (roster keys; this node's own key for its own origin, which is
    ///   accepted only with `own_ok`, i.e. while restoring it) and is `origin`'s;
    /// - it is not older than the cursor held for `origin`;
    /// - every entry is `origin`'s, at or below the checkpoint, one per record, and their live
    ///   set has exactly the checkpoint's digest and live count;
    /// - no entry is older than what is held for its record (nothing rolls back).
    ///
    /// The cursor becomes the signed checkpoint's `(epoch, seq)`.
    pub fn replace_origin(
        &self,
        roster: &dyn Trust,
        origin: &str,
        checkpoint: &[u8],
        entries: &[Verified],
        own_ok: bool,
    ) -> Result<SnapshotOutcome, StoreError> {
        use SnapshotOutcome::Refused;
        if origin == self.origin && !own_ok {
            return Ok(Refused(Rejection::OwnOrigin));
        }
        let cp = match self.verified_checkpoint(roster, checkpoint) {
            Ok(c) => c,
            Err(r) => return Ok(Refused(r)),
        };
        if cp.origin != origin {
            return Ok(Refused(Rejection::SnapshotMismatch));
        }
        let top = (cp.epoch, cp.seq);
        let mut digest = SetDigest::default();
        let mut live = 0u64;
        let mut keys = HashSet::with_capacity(entries.len());
        for v in entries {
            let e = &v.entry;
            if e.origin != origin || (e.epoch, e.seq) > top || !keys.insert(v.record_key()) {
                return Ok(Refused(Rejection::SnapshotMismatch));
            }
            if e.op != Op::Delete as i32 {
                let signed = SignedEntry::decode(v.signed_bytes.as_slice())
                    .map_err(|e| StoreError::Corrupt(format!("verified entry: {e}")))?;
                digest.add(record_hash(v.kind_byte, v.id, &signed.entry_bytes));
                live += 1;
            }
        }
        if digest.to_bytes() != cp.set_digest || live != cp.live_count {
            return Ok(Refused(Rejection::SnapshotMismatch));
        }

        let guard = self.lock()?;
        let state = self.origin_state(origin)?;
        if top < (state.epoch, state.seq) {
            return Ok(Refused(Rejection::StaleSnapshot));
        }
        for v in entries {
            if let Some(b) = self.records.get(codec::raw_record_key(v.kind_byte, v.id))?
                && let Ok((_, held)) = open_entry(&b)
                && held.origin == origin
                && (held.epoch, held.seq) > (v.entry.epoch, v.entry.seq)
            {
                return Ok(Refused(Rejection::SnapshotMismatch));
            }
        }
        // What we hold of the origin and the snapshot lacks: its compacted log has one
        // position per record.
        let mut gone = BTreeSet::new();
        for item in self.log.scan_prefix(codec::log_prefix(origin)) {
            let (_, rkey) = item?;
            if let Some((kind, id)) = codec::parse_record_key(&rkey)
                && !keys.contains(&(kind as u8, id))
            {
                gone.insert(rkey.to_vec());
            }
        }

        let (applied, unchanged, removed, verified, updates, forks) = run_tx(self, |tx| {
            let mut state = tx.state(origin)?;
            let mut feed = tx.feed_pos()?;
            let mut updates = Vec::new();
            let (mut applied, mut unchanged, mut removed) = (0, 0, 0);
            let mut digest = SetDigest::default();
            let mut live = 0u64;
            let mut newest = 0i64;
            let mut forks = Vec::new();
            for v in entries {
                let e = &v.entry;
                let rkey = codec::raw_record_key(v.kind_byte, v.id);
                let signed = match SignedEntry::decode(v.signed_bytes.as_slice()) {
                    Ok(s) => s,
                    Err(e) => return abort(StoreError::Corrupt(format!("verified entry: {e}"))),
                };
                // We hold another signed entry at this very position: the origin signed two
                // histories. The set still proves itself by its checkpoint and replaces ours,
                // but the entry it replaces is kept as the fork's evidence.
                if let Some(at) = tx.log.get(codec::log_key(origin, e.epoch, e.seq))?
                    && let Some(held) = tx.records.get(&at)?
                    && let Ok((held_signed, held_entry)) = open_entry(&held)
                    && (held_entry.epoch, held_entry.seq) == (e.epoch, e.seq)
                    && held_signed.entry_bytes != signed.entry_bytes
                {
                    let fk = codec::fork_key(origin, e.epoch, e.seq);
                    if tx.forks.get(&fk)?.is_none() {
                        tx.forks.insert(fk, held.as_ref())?;
                        state.forks += 1;
                    }
                    forks.push((e.epoch, e.seq));
                }
                let old = tx.old(&rkey)?;
                if old.as_ref().is_some_and(|o| o.origin != origin) {
                    // The id belongs to another origin here: it stays theirs.
                    continue;
                }
                newest = newest.max(e.unix_millis);
                if e.op != Op::Delete as i32 {
                    digest.add(record_hash(v.kind_byte, v.id, &signed.entry_bytes));
                    live += 1;
                }
                if old
                    .as_ref()
                    .is_some_and(|o| o.entry_bytes == signed.entry_bytes)
                {
                    unchanged += 1;
                    continue;
                }
                if let Some(mut u) = tx.put_entry(
                    &mut state,
                    &mut feed,
                    e,
                    &signed.entry_bytes,
                    &v.signed_bytes,
                    v.kind_byte,
                    v.id,
                    old,
                )? {
                    u.new = crate::entry_record(e);
                    updates.push(u);
                }
                applied += 1;
            }
            for rkey in &gone {
                let Some(o) = tx.old(rkey)? else { continue };
                if o.origin != origin {
                    continue;
                }
                tx.records.remove(rkey.as_slice())?;
                tx.log.remove(codec::log_key(origin, o.epoch, o.seq))?;
                removed += 1;
                if !o.live {
                    // A tombstone: its feed position already reads as a deletion.
                    continue;
                }
                if let Some(prev) = tx.change_of.get(rkey.as_slice())? {
                    tx.changes.remove(prev)?;
                }
                feed += 1;
                tx.changes.insert(&feed.to_be_bytes(), rkey.as_slice())?;
                tx.change_of.insert(rkey.as_slice(), &feed.to_be_bytes())?;
                if let Some((kind, id)) = codec::parse_record_key(rkey) {
                    // Gone as of the checkpoint: carries its position, newer than the record's.
                    updates.push(Update {
                        kind,
                        id,
                        origin: origin.to_string(),
                        epoch: cp.epoch,
                        seq: cp.seq,
                        feed_seq: feed,
                        unix_millis: cp.unix_millis,
                        new: None,
                    });
                }
            }
            state.epoch = cp.epoch;
            state.seq = cp.seq;
            state.digest = digest.to_bytes();
            state.live_count = live;
            state.last_unix_millis = newest;
            state.checkpoint = checkpoint.to_vec();
            state.last_heard_millis = now_millis();
            let verified = Tx::check_checkpoint(&mut state) == Some(true);
            tx.origins
                .insert(origin.as_bytes(), state.encode_to_vec())?;
            tx.meta.insert(META_CHANGES, &feed.to_be_bytes())?;
            Ok((applied, unchanged, removed, verified, updates, forks))
        })?;
        self.db.flush()?;
        drop(guard);
        tracing::info!(%origin, applied, unchanged, removed, live, verified, "snapshot applied");
        self.notify(&updates);
        Ok(SnapshotOutcome::Replaced {
            applied,
            unchanged,
            removed,
            verified,
            forks,
        })
    }
}
