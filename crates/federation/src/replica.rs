//! Applying what a peer sends: verify every entry against the roster, apply in chunks in
//! per-origin order, check checkpoints, carry out the snapshots this link asked for (staged,
//! then proven by the origin's signed checkpoint before anything is replaced), and track the
//! best *signed* head per roster origin (for lag), and what each peer holds of this node's own
//! origin (for the join gate).
//!
//! Control items are as hostile as entries: an origin outside the roster is never kept in any
//! map or label (it is counted under [`UNKNOWN_ORIGIN`]), an unsigned position is never
//! believed, and a snapshot nobody asked for is refused. Transport-free and blocking: callers
//! run it off the async threads.
//!
//! Entries are a pipeline: received entries are verified a chunk at a time (Ed25519 batches,
//! over all cores), and a verified chunk is applied on its own thread while the next chunk is
//! received and verified. Any other item first finishes everything before it (verified and
//! applied, in order), so checkpoints, heads and snapshots see exactly what came before them.

use crate::{Answer, Roster, checkpoint_digest, unseal};
use prospectus_model::Uuid;
use prospectus_proto::v1::{Checkpoint, Entry, PullItem, SignedCheckpoint, pull_item::Item};
use prospectus_store::{
    ApplyMode, ApplyReport, CheckpointStatus, MAX_SNAPSHOT_BYTES, Rejection, SnapshotOutcome,
    Store, StoreError, Trust, Verified, verify_entries,
};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Entries verified together and applied per transaction.
const CHUNK: usize = 1024;
/// Bytes of unverified entries held before they are verified, whatever their count: a peer
/// sending few but huge junk entries is refused within this much memory, not `CHUNK` of them.
const CHUNK_BYTES: usize = 4 << 20;

/// The origin label for anything a peer names that is not in the roster.
pub const UNKNOWN_ORIGIN: &str = "unknown";

/// Best `(epoch, seq)` per roster origin, from signed checkpoints only (this node's own origin:
/// signed with its own key), shared by all peer links, with the checkpoint's bytes and the
/// roster that verified them (the same bytes from another link under the same roster need no
/// second signature check; a reloaded roster, which may revoke the key, checks them again).
/// Keys are only ever roster origins.
#[derive(Debug, Default, Clone)]
pub struct SharedHeads(Arc<Mutex<HashMap<String, BestHead>>>);

/// A best head: its position, the verified checkpoint's bytes and the roster that verified it.
type BestHead = ((u64, u64), Vec<u8>, Arc<Roster>);

impl SharedHeads {
    fn observe(&self, origin: &str, head: (u64, u64), bytes: &[u8], roster: &Arc<Roster>) {
        if let Ok(mut m) = self.0.lock() {
            let e = m
                .entry(origin.to_string())
                .or_insert_with(|| (head, bytes.to_vec(), roster.clone()));
            if head > e.0 {
                *e = (head, bytes.to_vec(), roster.clone());
            }
        }
    }

    /// Whether `bytes` are exactly the checkpoint that set `origin`'s best head, verified
    /// under `roster` itself.
    fn is_best(&self, origin: &str, bytes: &[u8], roster: &Arc<Roster>) -> bool {
        self.0.lock().is_ok_and(|m| {
            m.get(origin)
                .is_some_and(|(_, b, r)| b == bytes && Arc::ptr_eq(r, roster))
        })
    }

    pub fn best(&self, origin: &str) -> Option<(u64, u64)> {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(origin).map(|(h, _, _)| *h))
    }

    pub fn all(&self) -> HashMap<String, (u64, u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(o, (h, _, _))| (o.clone(), *h)).collect())
            .unwrap_or_default()
    }
}

/// Something the link should act on or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaEvent {
    Applied {
        applied: usize,
        unchanged: usize,
    },
    Rejected {
        origin: String,
        reason: Rejection,
        count: usize,
    },
    Fork {
        origin: String,
        epoch: u64,
        seq: u64,
    },
    /// Ask this peer for a snapshot of the origin.
    SnapshotRequired {
        origin: String,
    },
    Diverged {
        origin: String,
    },
    Verified {
        origin: String,
    },
    /// What the peer's heads say it holds of this node's own origin (the join gate's answer).
    OwnOrigin(Answer),
    /// The peer's heads carry a checkpoint digest of `origin` that is not the checkpoint held
    /// here, or a checkpoint seal that did not rebuild to a checkpoint it signed (`at_once`):
    /// ask it for the checkpoint (`GetHeads`) and hand the answer to
    /// [`Replica::fetched_heads`].
    CheckpointWanted {
        origin: String,
        digest: Vec<u8>,
        /// The position the peer claims (unsigned): an ask is moot once the checkpoint held
        /// here is past it, unless `exact`.
        claim: (u64, u64),
        /// The claim is the held checkpoint's own position with another digest (another
        /// state signed for it, or a peer whose checkpoint lags its cursor): moot only when
        /// the digest comes to match, since a checkpoint past it would hide a fork.
        exact: bool,
        at_once: bool,
    },
    /// A checkpoint seal arrived: rebuilt into a checkpoint the origin signed, or not (then
    /// a [`ReplicaEvent::CheckpointWanted`] follows).
    Seal {
        rebuilt: bool,
    },
    /// A verified checkpoint from this peer proves it holds `origin` up to `(epoch, seq)`
    /// (higher than it proved before on this link): what source selection goes by.
    Proven {
        origin: String,
        epoch: u64,
        seq: u64,
    },
}

/// A snapshot being received: at most one entry per record (the newest), held in memory until
/// the origin's signed checkpoint at `SnapshotEnd` proves the set.
struct Staged {
    origin: String,
    entries: BTreeMap<(u8, Uuid), Verified>,
    bytes: usize,
    too_large: bool,
}

impl Staged {
    fn stage(&mut self, mut v: Verified) {
        if self.too_large {
            return;
        }
        // Held until the snapshot ends, up to `MAX_SNAPSHOT_BYTES` of them: as signed bytes
        // only, not also decoded.
        v.forget_record();
        self.bytes += v.signed_bytes.len();
        if self.bytes > MAX_SNAPSHOT_BYTES {
            self.too_large = true;
            self.entries.clear();
            return;
        }
        let pos = (v.entry.epoch, v.entry.seq);
        match self.entries.entry(v.record_key()) {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if pos > (o.get().entry.epoch, o.get().entry.seq) {
                    o.insert(v);
                }
            }
            std::collections::btree_map::Entry::Vacant(x) => {
                x.insert(v);
            }
        }
    }
}

pub struct Replica {
    store: Arc<Store>,
    roster: Arc<Roster>,
    heads: SharedHeads,
    /// This node is restoring its own origin: accept entries (and a snapshot) for it.
    recovering: bool,
    /// Entries received, not yet verified (at most [`CHUNK`]).
    pending: Vec<Vec<u8>>,
    /// Bytes in `pending`.
    pending_bytes: usize,
    buf: Vec<Verified>,
    /// The previous chunk's apply, running while the next chunk arrives and is verified.
    applying: Option<std::thread::JoinHandle<Result<Vec<ApplyReport>, StoreError>>>,
    /// Origins this link asked the peer to send whole on the current stream.
    requested: BTreeSet<String>,
    snapshot: Option<Staged>,
    rejected: BTreeMap<(String, Rejection), usize>,
    /// Per roster origin, the highest position this peer's verified checkpoints proved.
    proven: HashMap<String, (u64, u64)>,
    /// The current stream's first heads have been handled (the join gate's answer).
    answered: bool,
}

impl Replica {
    pub fn new(
        store: Arc<Store>,
        roster: Arc<Roster>,
        heads: SharedHeads,
        recovering: bool,
    ) -> Self {
        Replica {
            store,
            roster,
            heads,
            recovering,
            pending: Vec::new(),
            pending_bytes: 0,
            buf: Vec::new(),
            applying: None,
            requested: BTreeSet::new(),
            snapshot: None,
            rejected: BTreeMap::new(),
            proven: HashMap::new(),
            answered: false,
        }
    }

    pub fn set_recovering(&mut self, recovering: bool) {
        self.recovering = recovering;
    }

    /// A new stream begins on which this link asked for `origins` whole: only those may arrive
    /// as snapshots. A snapshot left half-received by the previous stream is dropped.
    pub fn expect_snapshots(&mut self, origins: &[String]) {
        self.snapshot = None;
        self.answered = false;
        self.requested = origins
            .iter()
            .filter(|o| self.may_snapshot(o))
            .cloned()
            .collect();
    }

    /// Whether a snapshot this link asked for is being received (begun, not yet ended): a new
    /// stream would drop what is staged.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The origin of the snapshot being received and how many distinct records it has
    /// staged so far (none once it grew past the size bound).
    pub fn staging(&self) -> Option<(&str, usize)> {
        self.snapshot
            .as_ref()
            .map(|st| (st.origin.as_str(), st.entries.len()))
    }

    /// The origins asked for whole on the current stream whose snapshot has not ended (a
    /// stream that replaces this one asks for them again).
    pub fn unfinished_snapshots(&self) -> Vec<String> {
        self.requested.iter().cloned().collect()
    }

    /// Entries received that are not yet verified and applied (a link flushes them as soon
    /// as its stream has nothing more ready: an entry never waits for the next item).
    pub fn has_unapplied(&self) -> bool {
        !self.pending.is_empty() || !self.buf.is_empty() || self.applying.is_some()
    }

    /// Whether this node may take `origin` whole from a peer: roster origins, and its own only
    /// while restoring it.
    pub fn may_snapshot(&self, origin: &str) -> bool {
        self.roster.member(origin).is_some() && (origin != self.store.origin() || self.recovering)
    }

    /// `origin` as a map key or metric label: itself if in the roster, else [`UNKNOWN_ORIGIN`].
    fn label(&self, origin: &str) -> String {
        if self.roster.member(origin).is_some() {
            origin.to_string()
        } else {
            UNKNOWN_ORIGIN.to_string()
        }
    }

    fn refuse(&mut self, origin: &str, reason: Rejection) {
        let key = (self.label(origin), reason);
        *self.rejected.entry(key).or_default() += 1;
    }

    /// Offers a signed checkpoint of roster origin `origin` to the store (convergence proof,
    /// divergence, fork evidence) and reports the outcome.
    fn offer(
        &mut self,
        origin: String,
        bytes: &[u8],
        events: &mut Vec<ReplicaEvent>,
    ) -> Result<(), StoreError> {
        let status = self.store.offer_checkpoint(self.roster.as_ref(), bytes)?;
        self.offered(origin, status, events);
        Ok(())
    }

    /// Reports what the store made of an offered checkpoint.
    fn offered(
        &mut self,
        origin: String,
        status: CheckpointStatus,
        events: &mut Vec<ReplicaEvent>,
    ) {
        match status {
            CheckpointStatus::Verified => events.push(ReplicaEvent::Verified { origin }),
            CheckpointStatus::Diverged => self.want_snapshot(origin, true, events),
            CheckpointStatus::Rejected(reason) => self.refuse(&origin, reason),
            CheckpointStatus::Fork { origin, epoch, seq } => {
                tracing::error!(%origin, epoch, seq, "FORK: two different signed checkpoints for one position; kept the first");
                events.push(ReplicaEvent::Fork { origin, epoch, seq });
            }
            CheckpointStatus::Pending | CheckpointStatus::Stale => {}
        }
    }

    /// A checkpoint seal: the checkpoint rebuilt from what this node holds of the origin is
    /// offered like one sent whole; one that cannot be rebuilt, or whose rebuilt bytes the
    /// origin did not sign, is no evidence of anything (this node's state may differ): the
    /// checkpoint itself is asked for at once.
    fn take_seal(
        &mut self,
        s: &prospectus_proto::v1::CheckpointSeal,
        events: &mut Vec<ReplicaEvent>,
    ) -> Result<(), StoreError> {
        if self.roster.member(&s.origin).is_none() {
            self.refuse(&s.origin, Rejection::UnknownOrigin);
            return Ok(());
        }
        let state = self.store.origin_info(&s.origin)?;
        let held_at = SignedCheckpoint::decode(state.checkpoint.as_slice())
            .ok()
            .and_then(|h| Checkpoint::decode(h.checkpoint_bytes.as_slice()).ok())
            .filter(|_| !state.checkpoint.is_empty())
            .map(|c| (c.epoch, c.seq));
        let status = match unseal(s, &state) {
            Some(cp) if cp.encode_to_vec() == state.checkpoint => {
                // The checkpoint held already: as good as sending it.
                events.push(ReplicaEvent::Seal { rebuilt: true });
                self.observe(&cp, events);
                return Ok(());
            }
            Some(cp) => {
                let status = self
                    .store
                    .offer_checkpoint(self.roster.as_ref(), &cp.encode_to_vec())?;
                Some((cp, status))
            }
            None => None,
        };
        match status {
            // The seal's own key is revoked or listed nowhere — nothing this node filled in
            // (time, key id) decides it: refused as a whole one would be (asking for it whole
            // would be refused again). Any other refusal may be this node's filling-in (a
            // window judged at this node's entry time): asked for whole.
            Some((_, CheckpointStatus::Rejected(reason)))
                if !s.key_id.is_empty()
                    && (reason == Rejection::RevokedKey
                        || (reason == Rejection::UnknownKey
                            && self.roster.listed_key(&s.origin, &s.key_id).is_none())) =>
            {
                events.push(ReplicaEvent::Seal { rebuilt: false });
                self.refuse(&s.origin, reason);
            }
            Some((cp, status)) if !matches!(status, CheckpointStatus::Rejected(_)) => {
                events.push(ReplicaEvent::Seal { rebuilt: true });
                self.offered(s.origin.clone(), status, events);
                self.observe(&cp, events);
            }
            _ => {
                events.push(ReplicaEvent::Seal { rebuilt: false });
                events.push(ReplicaEvent::CheckpointWanted {
                    origin: s.origin.clone(),
                    digest: Vec::new(),
                    claim: (s.epoch, s.seq),
                    // Held already with another signature: another state for that position.
                    exact: held_at == Some((s.epoch, s.seq)),
                    at_once: true,
                });
            }
        }
        Ok(())
    }

    /// What the peer proves it holds: if the checkpoint is of a roster origin, would raise
    /// what this peer proved of it, and verifies (or is byte for byte the verified best head),
    /// it is reported ([`ReplicaEvent::Proven`]) and raises the best head. A checkpoint that
    /// could not raise what this peer proved is not even checked.
    fn observe(&mut self, cp: &SignedCheckpoint, events: &mut Vec<ReplicaEvent>) {
        let Ok(c) = Checkpoint::decode(cp.checkpoint_bytes.as_slice()) else {
            return;
        };
        let pos = (c.epoch, c.seq);
        if self.roster.member(&c.origin).is_none()
            || self.proven.get(&c.origin).is_some_and(|p| *p >= pos)
        {
            return;
        }
        let bytes = cp.encode_to_vec();
        if self.heads.is_best(&c.origin, &bytes, &self.roster)
            || self
                .store
                .verified_checkpoint(self.roster.as_ref(), &bytes)
                .is_ok()
        {
            self.heads.observe(&c.origin, pos, &bytes, &self.roster);
            self.proven.insert(c.origin.clone(), pos);
            events.push(ReplicaEvent::Proven {
                origin: c.origin,
                epoch: pos.0,
                seq: pos.1,
            });
        }
    }

    /// What a peer's heads say it holds of this node's own origin, for the join gate: only a
    /// checkpoint signed with this node's own keys counts; one signed with a key of ours that
    /// the roster revokes is a used position; an unsigned position is nothing.
    fn own_answer(&self, h: &prospectus_proto::v1::Heads) -> Answer {
        let own = self.store.origin();
        // The first head naming our origin only: one signature check per heads, however many
        // heads a peer crams in.
        h.heads
            .iter()
            .find(|head| head.origin == own)
            .and_then(|head| head.checkpoint.as_ref())
            .map_or(Answer::Nothing, |cp| {
                let bytes = cp.encode_to_vec();
                match self.store.verified_checkpoint(self.roster.as_ref(), &bytes) {
                    Ok(c) if c.origin == own => Answer::Holds(c.epoch, c.seq),
                    // Signed with one of our keys that does not count (revoked, out of its
                    // window): the position was used all the same.
                    // Or with any key the roster lists for our origin, revoked or not (a key
                    // replaced by `keygen` instead of `key rotate`, a lost key file): not ours
                    // to take back, but its positions were signed and must not be signed again.
                    _ => self
                        .store
                        .own_signed_position(&bytes)
                        .or_else(|| {
                            self.store
                                .roster_signed_position(self.roster.as_ref(), &bytes)
                        })
                        .map_or(Answer::Nothing, |(e, s)| Answer::Used(e, s)),
                }
            })
    }

    /// A peer (or our own check) says `origin` must be taken whole: ask, if we may.
    fn want_snapshot(&mut self, origin: String, diverged: bool, events: &mut Vec<ReplicaEvent>) {
        if self.may_snapshot(&origin) {
            events.push(if diverged {
                ReplicaEvent::Diverged { origin }
            } else {
                ReplicaEvent::SnapshotRequired { origin }
            });
        } else if self.roster.member(&origin).is_none() {
            self.refuse(&origin, Rejection::UnknownOrigin);
        } else {
            tracing::warn!(%origin, diverged, "not re-syncing this node's own origin from a peer");
            self.refuse(&origin, Rejection::OwnOrigin);
        }
    }

    /// Handles one item from a peer's stream.
    pub fn handle(&mut self, mut item: PullItem) -> Result<Vec<ReplicaEvent>, StoreError> {
        if let Some(mut s) = item.seal.take() {
            // An entry with the seal of the checkpoint at its position (the entry's origin,
            // epoch and seq are the seal's); on any other item it means nothing.
            let at = match &item.item {
                Some(Item::Entry(e)) => Entry::decode(e.entry_bytes.as_slice())
                    .ok()
                    .map(|x| (x.origin, x.epoch, x.seq)),
                _ => None,
            };
            let mut events = self.handle(item)?;
            if let Some((origin, epoch, seq)) = at {
                (s.origin, s.epoch, s.seq) = (origin, epoch, seq);
                self.flush(&mut events)?;
                self.take_seal(&s, &mut events)?;
                self.report_rejected(&mut events);
            }
            return Ok(events);
        }
        let mut events = Vec::new();
        match item.item {
            Some(Item::Entry(e)) => {
                let bytes = e.encode_to_vec();
                self.pending_bytes += bytes.len();
                self.pending.push(bytes);
                if self.pending.len() >= CHUNK || self.pending_bytes >= CHUNK_BYTES {
                    self.verify_pending();
                    self.finish_applying(&mut events)?;
                    if !self.buf.is_empty() {
                        let (store, batch) = (self.store.clone(), std::mem::take(&mut self.buf));
                        let recovering = self.recovering;
                        self.applying = Some(
                            std::thread::Builder::new()
                                .name("replica-apply".into())
                                .spawn(move || apply_all(&store, recovering, batch))
                                .map_err(StoreError::Thread)?,
                        );
                    }
                    self.report_rejected(&mut events);
                }
                return Ok(events);
            }
            Some(Item::Checkpoint(cp)) => {
                self.flush(&mut events)?;
                let origin = Checkpoint::decode(cp.checkpoint_bytes.as_slice())
                    .map(|c| c.origin)
                    .unwrap_or_default();
                if self.roster.member(&origin).is_none() {
                    self.refuse(&origin, Rejection::UnknownOrigin);
                } else {
                    self.offer(origin, &cp.encode_to_vec(), &mut events)?;
                    self.observe(&cp, &mut events);
                }
            }
            Some(Item::CheckpointSeal(s)) => {
                self.flush(&mut events)?;
                self.take_seal(&s, &mut events)?;
            }
            Some(Item::Heads(h)) => {
                self.flush(&mut events)?;
                // A head's epoch/seq are the peer's unsigned word: only its checkpoint counts.
                // Its checkpoint is offered like one sent on its own: a link that is not an
                // origin's source sends that origin's checkpoints in heads only, and they are
                // the evidence of a fork (another state signed for a position held here).
                self.take_heads(&h, &mut events)?;
                // The join gate's answer: the stream's first heads, and later ones only where
                // they name our origin (a filtered stream's heartbeat carries what changed).
                let own = self.store.origin();
                if !self.answered || h.heads.iter().any(|head| head.origin == own) {
                    self.answered = true;
                    events.push(ReplicaEvent::OwnOrigin(self.own_answer(&h)));
                }
            }
            Some(Item::SnapshotRequired(s)) => {
                self.flush(&mut events)?;
                self.want_snapshot(s.origin, false, &mut events);
            }
            Some(Item::SnapshotBegin(s)) => {
                self.flush(&mut events)?;
                if self.roster.member(&s.origin).is_none() {
                    self.refuse(&s.origin, Rejection::UnknownOrigin);
                } else if !self.requested.contains(&s.origin) {
                    let reason = if s.origin == self.store.origin() {
                        Rejection::OwnOrigin
                    } else {
                        Rejection::Unsolicited
                    };
                    tracing::warn!(origin = %s.origin, "refusing a snapshot this link did not ask for");
                    self.refuse(&s.origin, reason);
                } else {
                    self.snapshot = Some(Staged {
                        origin: s.origin,
                        entries: BTreeMap::new(),
                        bytes: 0,
                        too_large: false,
                    });
                }
            }
            Some(Item::SnapshotEnd(s)) => {
                self.flush(&mut events)?;
                match self.snapshot.take() {
                    Some(st) if st.origin == s.origin => {
                        self.requested.remove(&st.origin);
                        self.finish_snapshot(st, s.checkpoint, &mut events)?;
                    }
                    other => {
                        if let Some(st) = other {
                            self.refuse(&st.origin, Rejection::SnapshotMismatch);
                        }
                        self.refuse(&s.origin, Rejection::Unsolicited);
                    }
                }
            }
            None => {}
        }
        self.report_rejected(&mut events);
        Ok(events)
    }

    /// The checkpoints a peer's heads carry, offered and observed (see `handle`); a digest
    /// instead of a checkpoint is compared with the checkpoint held here, and one that
    /// differs asks for the checkpoint ([`ReplicaEvent::CheckpointWanted`]).
    fn take_heads(
        &mut self,
        h: &prospectus_proto::v1::Heads,
        events: &mut Vec<ReplicaEvent>,
    ) -> Result<(), StoreError> {
        for head in &h.heads {
            if self.roster.member(&head.origin).is_none() {
                self.refuse(&head.origin, Rejection::UnknownOrigin);
            } else if let Some(cp) = &head.checkpoint {
                let bytes = cp.encode_to_vec();
                if !self.heads.is_best(&head.origin, &bytes, &self.roster) {
                    self.offer(head.origin.clone(), &bytes, events)?;
                }
                self.observe(cp, events);
            } else if !head.checkpoint_digest.is_empty() {
                let info = self.store.origin_info(&head.origin)?;
                let held = SignedCheckpoint::decode(info.checkpoint.as_slice())
                    .ok()
                    .filter(|cp| !cp.checkpoint_bytes.is_empty());
                let held_at = held
                    .as_ref()
                    .and_then(|cp| Checkpoint::decode(cp.checkpoint_bytes.as_slice()).ok())
                    .map(|c| (c.epoch, c.seq));
                // The head's position is the peer's unsigned word. A claim below the held
                // checkpoint can show nothing; at or above it the peer may hold more (a
                // withholding source) or another state (a fork). The link asks only if the
                // held checkpoint still differs after a beat and the grace (an honest source
                // coalesces checkpoints, so the one it holds back is usually here by then).
                // The claim is the digested checkpoint's position when the peer gives it (its
                // cursor may be ahead of its checkpoint: a checkpoint not yet come), else its
                // cursor.
                let claim = if head.checkpoint_seq != 0 {
                    (head.checkpoint_epoch, head.checkpoint_seq)
                } else {
                    (head.epoch, head.seq)
                };
                match held {
                    // The peer holds what this node holds: as good as sending it.
                    Some(cp) if checkpoint_digest(&cp) == head.checkpoint_digest => {
                        self.observe(&cp, events)
                    }
                    _ if held_at.is_none_or(|at| claim >= at) => {
                        events.push(ReplicaEvent::CheckpointWanted {
                            origin: head.origin.clone(),
                            digest: head.checkpoint_digest.clone(),
                            claim,
                            exact: held_at == Some(claim),
                            at_once: false,
                        })
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The peer's `GetHeads` answer to [`ReplicaEvent::CheckpointWanted`]: its checkpoints
    /// count as its heads do (a digest in it counts for nothing: no second ask).
    pub fn fetched_heads(
        &mut self,
        mut h: prospectus_proto::v1::Heads,
        asked: &BTreeSet<String>,
    ) -> Result<Vec<ReplicaEvent>, StoreError> {
        let mut events = Vec::new();
        self.flush(&mut events)?;
        // The first head of each origin asked for; anything else in the answer is dropped
        // unread.
        let mut seen = BTreeSet::new();
        h.heads
            .retain(|head| asked.contains(&head.origin) && seen.insert(head.origin.clone()));
        for head in &mut h.heads {
            head.checkpoint_digest.clear();
        }
        self.take_heads(&h, &mut events)?;
        self.report_rejected(&mut events);
        Ok(events)
    }

    /// Whether the checkpoint held for `origin` has this digest (an ask it answers is moot).
    pub fn holds_digest(&self, origin: &str, digest: &[u8]) -> bool {
        self.held(origin)
            .is_some_and(|cp| checkpoint_digest(&cp) == digest)
    }

    /// Whether an ask for `origin`'s checkpoint ([`ReplicaEvent::CheckpointWanted`]) is moot:
    /// the checkpoint held has its digest, or is past the position it claimed (a claim below
    /// the held checkpoint asks nothing when it arrives, nor when it comes due).
    pub fn ask_answered(
        &self,
        origin: &str,
        digest: &[u8],
        claim: (u64, u64),
        exact: bool,
    ) -> bool {
        self.held(origin).is_some_and(|cp| {
            checkpoint_digest(&cp) == digest
                || (!exact
                    && Checkpoint::decode(cp.checkpoint_bytes.as_slice())
                        .is_ok_and(|c| (c.epoch, c.seq) > claim))
        })
    }

    /// The checkpoint held for `origin`, if any.
    fn held(&self, origin: &str) -> Option<SignedCheckpoint> {
        self.store
            .origin_info(origin)
            .ok()
            .and_then(|i| SignedCheckpoint::decode(i.checkpoint.as_slice()).ok())
            .filter(|cp| !cp.checkpoint_bytes.is_empty())
    }

    /// Replaces the origin with the staged set if its signed checkpoint proves it.
    fn finish_snapshot(
        &mut self,
        st: Staged,
        checkpoint: Option<SignedCheckpoint>,
        events: &mut Vec<ReplicaEvent>,
    ) -> Result<(), StoreError> {
        let origin = st.origin;
        let Some(cp) = checkpoint.filter(|_| !st.too_large) else {
            let reason = if st.too_large {
                Rejection::SnapshotTooLarge
            } else {
                Rejection::SnapshotMismatch
            };
            tracing::warn!(%origin, reason = reason.as_str(), "snapshot refused");
            self.refuse(&origin, reason);
            return Ok(());
        };
        let entries: Vec<Verified> = st.entries.into_values().collect();
        match self.store.replace_origin(
            self.roster.as_ref(),
            &origin,
            &cp.encode_to_vec(),
            &entries,
            self.recovering,
        )? {
            SnapshotOutcome::Replaced {
                applied,
                unchanged,
                removed,
                verified,
                forks,
            } => {
                for (epoch, seq) in forks {
                    tracing::error!(%origin, epoch, seq, "FORK: a snapshot replaced a different signed entry at one position; the replaced one is kept as evidence");
                    events.push(ReplicaEvent::Fork {
                        origin: origin.clone(),
                        epoch,
                        seq,
                    });
                }
                events.push(ReplicaEvent::Applied {
                    applied: applied + removed,
                    unchanged,
                });
                if verified {
                    events.push(ReplicaEvent::Verified {
                        origin: origin.clone(),
                    });
                }
                self.observe(&cp, events);
            }
            SnapshotOutcome::Refused(reason) => {
                tracing::warn!(%origin, reason = reason.as_str(), entries = entries.len(), "snapshot refused: nothing replaced");
                self.refuse(&origin, reason);
            }
        }
        Ok(())
    }

    fn report_rejected(&mut self, events: &mut Vec<ReplicaEvent>) {
        for ((origin, reason), count) in std::mem::take(&mut self.rejected) {
            tracing::warn!(%origin, reason = reason.as_str(), count, "refused from peer");
            events.push(ReplicaEvent::Rejected {
                origin,
                reason,
                count,
            });
        }
    }

    /// Verifies the received entries: good ones go to the snapshot being staged (if theirs)
    /// or to the apply buffer, in order; each bad one is refused under its own reason.
    fn verify_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        for r in verify_entries(self.roster.as_ref(), pending) {
            match r {
                Ok(v) => match &mut self.snapshot {
                    Some(st) if st.origin == v.entry.origin => st.stage(v),
                    _ => self.buf.push(v),
                },
                Err(r) => self.refuse(&r.origin, r.reason),
            }
        }
    }

    /// Waits for the chunk being applied in the background and reports what it did.
    fn finish_applying(&mut self, events: &mut Vec<ReplicaEvent>) -> Result<(), StoreError> {
        let Some(h) = self.applying.take() else {
            return Ok(());
        };
        let reports = h
            .join()
            .map_err(|_| StoreError::Corrupt("replica apply thread panicked".into()))??;
        self.take_reports(reports, events);
        Ok(())
    }

    /// Verifies and applies everything received so far, in order; call at the end of a
    /// stream too.
    pub fn flush(&mut self, events: &mut Vec<ReplicaEvent>) -> Result<(), StoreError> {
        self.verify_pending();
        self.finish_applying(events)?;
        self.report_rejected(events);
        if self.buf.is_empty() {
            return Ok(());
        }
        let reports = apply_all(&self.store, self.recovering, std::mem::take(&mut self.buf))?;
        self.take_reports(reports, events);
        Ok(())
    }

    /// Turns apply reports into events (and snapshot requests for diverged origins).
    fn take_reports(&mut self, reports: Vec<ApplyReport>, events: &mut Vec<ReplicaEvent>) {
        for r in reports {
            for ((origin, reason), count) in r.rejected {
                tracing::warn!(%origin, reason = reason.as_str(), count, "refused replicated entries");
                events.push(ReplicaEvent::Rejected {
                    origin,
                    reason,
                    count,
                });
            }
            for (origin, epoch, seq) in r.forks {
                tracing::error!(%origin, epoch, seq, "FORK: two different signed entries for one position; kept the first");
                events.push(ReplicaEvent::Fork { origin, epoch, seq });
            }
            for origin in r.verified {
                events.push(ReplicaEvent::Verified { origin });
            }
            for origin in r.diverged {
                self.want_snapshot(origin, true, events);
            }
            events.push(ReplicaEvent::Applied {
                applied: r.applied,
                unchanged: r.unchanged,
            });
        }
        self.report_rejected(events);
    }
}

impl Drop for Replica {
    /// A chunk still being applied finishes before the link is gone (it was verified).
    fn drop(&mut self) {
        if let Some(h) = self.applying.take() {
            let _ = h.join();
        }
    }
}

/// Applies verified entries in order, one transaction per run of one mode (own-origin
/// recovery, or the rest).
fn apply_all(
    store: &Store,
    recovering: bool,
    batch: Vec<Verified>,
) -> Result<Vec<ApplyReport>, StoreError> {
    let own = store.origin().to_string();
    let mut groups: Vec<(ApplyMode, Vec<Verified>)> = Vec::new();
    for v in batch {
        let mode = if recovering && v.entry.origin == own {
            ApplyMode::Recovery
        } else {
            ApplyMode::Normal
        };
        match groups.last_mut() {
            Some((m, g)) if *m == mode => g.push(v),
            _ => groups.push((mode, vec![v])),
        }
    }
    groups
        .into_iter()
        .map(|(mode, group)| store.apply_remote(group, mode))
        .collect()
}
