//! The write path: local publishes and replicated applies share one in-transaction step
//! (`put_entry`) so that the log, compaction, the live-set digest and the change feed are kept
//! the same way whoever wrote the entry.

use crate::codec::{
    self, BatchHead, IDEM_PREFIX, IdemRecord, META_CHANGES, META_JOURNAL_COMMIT, OriginState,
};
use crate::digest::{SetDigest, record_hash};
use crate::{
    Change, Receipt, Scope, Store, StoreError, Update, entry_record, now_millis, open_entry, today,
};
use ed25519_dalek::VerifyingKey;
use prospectus_model::{
    FieldViolation, Record, RecordKind, Uuid, ValidationErrors, Violations, validate_record,
    validate_record_at,
};
use prospectus_proto::v1::{Checkpoint, Entry, Op, SignedCheckpoint, SignedEntry};
use prost::Message;
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::collections::BTreeMap;

/// Checkpoints are signed over this prefix + bytes, so a checkpoint signature can never be
/// passed off as an entry signature. Entries are signed over their exact bytes (DESIGN §3).
const CHECKPOINT_CONTEXT: &[u8] = b"prospectus/checkpoint/v1\n";

/// Which keys may sign for which origin (the federation roster).
pub trait Trust: Send + Sync {
    /// The key with `key_id` that may sign for `origin` at (origin-stated) time `unix_millis`.
    fn key_for(&self, origin: &str, key_id: &str, unix_millis: i64) -> Option<VerifyingKey>;
    /// True when `origin`'s key `key_id` is revoked: whatever it signed is refused, at any
    /// claimed time, and counted apart from unknown keys.
    fn revoked(&self, _origin: &str, _key_id: &str) -> bool {
        false
    }
    /// Any key `key_id` ever listed for `origin`, revoked or outside its window: for telling
    /// whether a position was signed at all (never for accepting what it signed).
    fn listed_key(&self, _origin: &str, _key_id: &str) -> Option<VerifyingKey> {
        None
    }
}

/// Why a replicated entry or checkpoint was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    Malformed,
    UnknownKey,
    /// Signed by a key the roster marks `revoked = true`.
    RevokedKey,
    BadSignature,
    /// The record id already belongs to another origin.
    OriginConflict,
    /// A peer offered entries (or a snapshot) for this node's own origin.
    OwnOrigin,
    /// The payload is a record this node knows but it fails `model::validate_record` (or does
    /// not decode): the origin signed something its own publish path would have refused.
    Invalid,
    /// Named an origin that is not in the roster (counted under the origin label `unknown`).
    UnknownOrigin,
    /// A snapshot this link did not ask for.
    Unsolicited,
    /// A snapshot whose set does not match its signed checkpoint (or has none, or would roll a
    /// record back): nothing was replaced.
    SnapshotMismatch,
    /// A snapshot proven by a checkpoint older than what this node holds.
    StaleSnapshot,
    /// A snapshot larger than `MAX_SNAPSHOT_BYTES`.
    SnapshotTooLarge,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::UnknownKey => "unknown_key",
            Rejection::RevokedKey => "revoked_key",
            Rejection::BadSignature => "bad_signature",
            Rejection::OriginConflict => "origin_conflict",
            Rejection::OwnOrigin => "own_origin",
            Rejection::Invalid => "invalid",
            Rejection::UnknownOrigin => "unknown_origin",
            Rejection::Unsolicited => "unsolicited_snapshot",
            Rejection::SnapshotMismatch => "snapshot_mismatch",
            Rejection::StaleSnapshot => "stale_snapshot",
            Rejection::SnapshotTooLarge => "snapshot_too_large",
        }
    }
}

/// An entry whose signature checked out against the roster.
#[derive(Debug, Clone)]
pub struct Verified {
    pub signed_bytes: Vec<u8>,
    pub entry: Entry,
    pub(crate) kind_byte: u8,
    pub(crate) id: Uuid,
    /// The payload as validation decoded it, handed on to the apply hook instead of being
    /// decoded a second time there (≈10 % of a bootstrap's apply); `None` for a deletion, a
    /// kind or schema this node does not read, or after [`Verified::forget_record`].
    pub(crate) record: Option<Record>,
}

impl Verified {
    /// `(kind byte, record id)`: the record this entry writes.
    pub fn record_key(&self) -> (u8, Uuid) {
        (self.kind_byte, self.id)
    }

    /// Drops the decoded payload (it is decoded again when applied): for entries held a long
    /// time in bulk, like a snapshot being staged, where the decoded form would about double
    /// the memory the signed bytes take.
    pub fn forget_record(&mut self) {
        self.record = None;
    }

    /// The record this entry makes live: the one validation decoded, or decoded now.
    pub(crate) fn take_record(&mut self) -> Option<Record> {
        self.record
            .take()
            .or_else(|| crate::entry_record(&self.entry))
    }
}

/// An entry decoded and matched to the roster key that must have signed it, signature not yet
/// checked.
struct Opened {
    signed_bytes: Vec<u8>,
    signed: SignedEntry,
    entry: Entry,
    key: VerifyingKey,
    kind_byte: u8,
    id: Uuid,
}

/// An entry [`verify_entries`] refused: why, and the origin it names (empty if it does not
/// decode that far), for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Rejection,
    pub origin: String,
}

/// Decodes one `SignedEntry` and finds its key in the roster (the checks before the signature).
fn open_signed(trust: &dyn Trust, signed_bytes: Vec<u8>) -> Result<Opened, Refused> {
    let refused = |reason, origin: &str| Refused {
        reason,
        origin: origin.to_string(),
    };
    let signed = SignedEntry::decode(signed_bytes.as_slice())
        .map_err(|_| refused(Rejection::Malformed, ""))?;
    let entry = Entry::decode(signed.entry_bytes.as_slice())
        .map_err(|_| refused(Rejection::Malformed, ""))?;
    let malformed = || refused(Rejection::Malformed, &entry.origin);
    let id = Uuid::from_slice(&entry.id).map_err(|_| malformed())?;
    let kind_byte = u8::try_from(entry.kind).map_err(|_| malformed())?;
    if entry.origin.is_empty() || entry.seq == 0 || entry.epoch == 0 || kind_byte == 0 {
        return Err(malformed());
    }
    if trust.revoked(&entry.origin, &signed.key_id) {
        return Err(refused(Rejection::RevokedKey, &entry.origin));
    }
    let key = trust
        .key_for(&entry.origin, &signed.key_id, entry.unix_millis)
        .ok_or_else(|| refused(Rejection::UnknownKey, &entry.origin))?;
    Ok(Opened {
        signed_bytes,
        signed,
        entry,
        key,
        kind_byte,
        id,
    })
}

impl Opened {
    /// The checks after a good signature: the payload validates like a local publish's (a kind
    /// or schema newer than this node knows is stored and forwarded unread).
    fn validated(self) -> Result<Verified, Refused> {
        let Opened {
            signed_bytes,
            entry,
            kind_byte,
            id,
            ..
        } = self;
        if entry.op != Op::Delete as i32
            && entry.schema <= crate::SCHEMA_VERSION
            && let Some(kind) = RecordKind::from_u8(kind_byte)
        {
            let invalid = || Refused {
                reason: Rejection::Invalid,
                origin: entry.origin.clone(),
            };
            let record =
                prospectus_proto::decode_record(kind, &entry.payload).map_err(|_| invalid())?;
            if record.id() != id || validate_record(&record).is_err() {
                return Err(invalid());
            }
            return Ok(Verified {
                signed_bytes,
                entry,
                kind_byte,
                id,
                record: Some(record),
            });
        }
        Ok(Verified {
            signed_bytes,
            entry,
            kind_byte,
            id,
            record: None,
        })
    }
}

/// Decodes and verifies one `SignedEntry` against the roster, then validates its payload with
/// the same `model::validate_record` local publishes pass (a kind or schema newer than this node
/// knows is stored and forwarded unread). CPU-bound; call it outside the writer lock.
pub fn verify_entry(trust: &dyn Trust, signed_bytes: Vec<u8>) -> Result<Verified, Rejection> {
    let o = open_signed(trust, signed_bytes).map_err(|r| r.reason)?;
    if !crate::keys::verify(&o.key, &o.signed.entry_bytes, &o.signed.signature) {
        return Err(Rejection::BadSignature);
    }
    o.validated().map_err(|r| r.reason)
}

/// [`verify_entry`] for many entries at once, answering in order with exactly what
/// `verify_entry` answers for each (and the origin a refused one names): the signatures are checked in Ed25519 batches (a failed
/// batch is re-checked one by one, so only the bad entries are refused, each with its own
/// reason), and the work is split over the machine's cores.
pub fn verify_entries(trust: &dyn Trust, signed: Vec<Vec<u8>>) -> Vec<Result<Verified, Refused>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = signed
        .len()
        .div_ceil(threads)
        .max(crate::keys::VERIFY_BATCH);
    if signed.len() <= per {
        return verify_part(trust, signed);
    }
    let mut parts = Vec::new();
    let mut rest = signed;
    while rest.len() > per {
        let tail = rest.split_off(per);
        parts.push(std::mem::replace(&mut rest, tail));
    }
    parts.push(rest);
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let n = part.len();
                (n, s.spawn(move || verify_part(trust, part)))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(n, h)| {
                // A verifier thread that panicked (none should) verified nothing.
                h.join().unwrap_or_else(|_| {
                    let r = Refused {
                        reason: Rejection::Malformed,
                        origin: String::new(),
                    };
                    vec![Err(r); n]
                })
            })
            .collect()
    })
}

/// One thread's share of [`verify_entries`].
fn verify_part(trust: &dyn Trust, signed: Vec<Vec<u8>>) -> Vec<Result<Verified, Refused>> {
    let opened: Vec<Result<Opened, Refused>> =
        signed.into_iter().map(|b| open_signed(trust, b)).collect();
    let items: Vec<(VerifyingKey, &[u8], &[u8])> = opened
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|o| {
            (
                o.key,
                o.signed.entry_bytes.as_slice(),
                o.signed.signature.as_slice(),
            )
        })
        .collect();
    let mut good = crate::keys::verify_each(&items).into_iter();
    opened
        .into_iter()
        .map(|o| {
            let o = o?;
            if good.next() != Some(true) {
                return Err(Refused {
                    reason: Rejection::BadSignature,
                    origin: o.entry.origin,
                });
            }
            o.validated()
        })
        .collect()
}

/// Decodes and verifies a `SignedCheckpoint`.
pub fn verify_checkpoint(trust: &dyn Trust, bytes: &[u8]) -> Result<Checkpoint, Rejection> {
    let signed = SignedCheckpoint::decode(bytes).map_err(|_| Rejection::Malformed)?;
    let cp =
        Checkpoint::decode(signed.checkpoint_bytes.as_slice()).map_err(|_| Rejection::Malformed)?;
    if trust.revoked(&cp.origin, &signed.key_id) {
        return Err(Rejection::RevokedKey);
    }
    let key = trust
        .key_for(&cp.origin, &signed.key_id, cp.unix_millis)
        .ok_or(Rejection::UnknownKey)?;
    let msg = [CHECKPOINT_CONTEXT, signed.checkpoint_bytes.as_slice()].concat();
    if !crate::keys::verify(&key, &msg, &signed.signature) {
        return Err(Rejection::BadSignature);
    }
    Ok(cp)
}

/// The roster, except that this node's own origin is trusted only under this node's own keys
/// (the current one, and those it replaced by `key rotate`, up to their retirement): nothing
/// a peer says about our origin counts unless we signed it. A key the roster revokes is
/// refused here too.
struct OwnKeyFirst<'a> {
    store: &'a Store,
    roster: &'a dyn Trust,
}

impl Trust for OwnKeyFirst<'_> {
    fn key_for(&self, origin: &str, key_id: &str, unix_millis: i64) -> Option<VerifyingKey> {
        if origin == self.store.origin {
            self.store.key.own_key(key_id, unix_millis)
        } else {
            self.roster.key_for(origin, key_id, unix_millis)
        }
    }

    fn revoked(&self, origin: &str, key_id: &str) -> bool {
        self.roster.revoked(origin, key_id)
    }
}

impl Store {
    /// Verifies a `SignedCheckpoint` with the roster's keys, or with this node's own key for
    /// its own origin.
    pub fn verified_checkpoint(
        &self,
        roster: &dyn Trust,
        bytes: &[u8],
    ) -> Result<Checkpoint, Rejection> {
        verify_checkpoint(
            &OwnKeyFirst {
                store: self,
                roster,
            },
            bytes,
        )
    }

    /// The position of a checkpoint of this node's own origin signed with any key this node
    /// has signed with (current, or replaced by `key rotate`), whatever the roster says of the
    /// key and whatever time it claims. Such a checkpoint may not count (a revoked key, a
    /// stolen key signing outside its window), but its position was used: the join gate never
    /// lets this node publish at or below it in its epoch.
    pub fn own_signed_position(&self, bytes: &[u8]) -> Option<(u64, u64)> {
        verify_checkpoint(&AnyOwnKey(self), bytes)
            .ok()
            .filter(|c| c.origin == self.origin)
            .map(|c| (c.epoch, c.seq))
    }
}

impl Store {
    /// The position of a checkpoint of this node's own origin signed with any key the roster
    /// ever listed for the origin, revoked or outside its window: a position someone signed for this borough
    /// (a key replaced without `key rotate`, a key file lost with the disk). The join gate
    /// never lets this node publish at or below it in its epoch.
    pub fn roster_signed_position(&self, roster: &dyn Trust, bytes: &[u8]) -> Option<(u64, u64)> {
        verify_checkpoint(
            &RosterKeysOfOrigin {
                origin: &self.origin,
                roster,
            },
            bytes,
        )
        .ok()
        .filter(|c| c.origin == self.origin)
        .map(|c| (c.epoch, c.seq))
    }
}

/// The roster's keys for one origin, revocation ignored (what they signed happened).
struct RosterKeysOfOrigin<'a> {
    origin: &'a str,
    roster: &'a dyn Trust,
}

impl Trust for RosterKeysOfOrigin<'_> {
    fn key_for(&self, origin: &str, key_id: &str, _unix_millis: i64) -> Option<VerifyingKey> {
        if origin != self.origin {
            return None;
        }
        self.roster.listed_key(origin, key_id)
    }
}

/// Every key this node has signed with, for its own origin only, at any claimed time, never
/// revoked: what it signed happened, counted or not.
struct AnyOwnKey<'a>(&'a Store);

impl Trust for AnyOwnKey<'_> {
    fn key_for(&self, origin: &str, key_id: &str, _unix_millis: i64) -> Option<VerifyingKey> {
        let key = &self.0.key;
        if origin != self.0.origin {
            return None;
        }
        if key_id == key.key_id() {
            return Some(key.public());
        }
        key.previous()
            .iter()
            .find(|p| p.key_id == key_id)
            .map(|p| p.public)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Per-origin order: entries at or below the cursor change nothing.
    Normal,
    /// Restoring this node's own origin after a lost disk.
    Recovery,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: usize,
    /// Already held, or older than the cursor: no change.
    pub unchanged: usize,
    pub rejected: BTreeMap<(String, Rejection), usize>,
    /// `(origin, epoch, seq)` of conflicting entries that were refused.
    pub forks: Vec<(String, u64, u64)>,
    /// Origins whose checkpoint became verified, or diverged, with this apply.
    pub verified: Vec<String>,
    pub diverged: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointStatus {
    Verified,
    /// Our cursor is behind the checkpoint; it will be checked when we reach it.
    Pending,
    /// Older than what we hold; ignored.
    Stale,
    /// Our cursor reached a pending checkpoint's seq and our digest differs: re-sync.
    Diverged,
    /// A second, different signed state for a position already held: recorded as a fork.
    Fork {
        origin: String,
        epoch: u64,
        seq: u64,
    },
    Rejected(Rejection),
}

pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

pub(crate) enum Abort {
    Error(StoreError),
}

pub(crate) fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Error(e)))
}

pub(crate) fn corrupt<T>(what: String) -> TxResult<T> {
    abort(StoreError::Corrupt(what))
}

/// The trees one write touches, inside one transaction.
pub(crate) struct Tx<'a> {
    pub(crate) records: &'a TransactionalTree,
    pub(crate) log: &'a TransactionalTree,
    pub(crate) origins: &'a TransactionalTree,
    pub(crate) meta: &'a TransactionalTree,
    pub(crate) changes: &'a TransactionalTree,
    pub(crate) change_of: &'a TransactionalTree,
    pub(crate) forks: &'a TransactionalTree,
}

/// What a stored record was before a write.
pub(crate) struct Old {
    pub(crate) origin: String,
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
    pub(crate) entry_bytes: Vec<u8>,
    pub(crate) live: bool,
}

impl Tx<'_> {
    pub(crate) fn state(&self, origin: &str) -> TxResult<OriginState> {
        match self.origins.get(origin.as_bytes())? {
            None => Ok(OriginState::default()),
            Some(v) => OriginState::decode(v.as_ref())
                .or_else(|e| corrupt(format!("origin state {origin}: {e}"))),
        }
    }

    pub(crate) fn old(&self, rkey: &[u8]) -> TxResult<Option<Old>> {
        let Some(v) = self.records.get(rkey)? else {
            return Ok(None);
        };
        let (signed, entry) = match open_entry(&v) {
            Ok(x) => x,
            Err(e) => return abort(e),
        };
        Ok(Some(Old {
            live: entry.op != Op::Delete as i32,
            origin: entry.origin,
            epoch: entry.epoch,
            seq: entry.seq,
            entry_bytes: signed.entry_bytes,
        }))
    }

    pub(crate) fn feed_pos(&self) -> TxResult<u64> {
        Ok(match self.meta.get(META_CHANGES)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        })
    }

    /// Writes one entry for record `(kind_byte, id)`: record, log (compacted), digest, feed.
    /// The returned update's `new` is left for the caller to fill: a publish has the record
    /// already (it is moved in after the commit), a replicated apply decodes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put_entry(
        &self,
        state: &mut OriginState,
        feed: &mut u64,
        entry: &Entry,
        entry_bytes: &[u8],
        signed_bytes: &[u8],
        kind_byte: u8,
        id: Uuid,
        old: Option<Old>,
    ) -> TxResult<Option<Update>> {
        let mut rkey = [0u8; 17];
        rkey[0] = kind_byte;
        rkey[1..].copy_from_slice(id.as_bytes());
        let mut digest = SetDigest::from_bytes(&state.digest);
        let live = entry.op != Op::Delete as i32;
        if let Some(o) = &old {
            if o.live && o.origin == entry.origin {
                digest.remove(record_hash(kind_byte, id, &o.entry_bytes));
                state.live_count = state.live_count.saturating_sub(1);
            }
            self.log.remove(codec::log_key(&o.origin, o.epoch, o.seq))?;
        }
        if live {
            digest.add(record_hash(kind_byte, id, entry_bytes));
            state.live_count += 1;
        }
        state.digest = digest.to_bytes();
        self.records.insert(&rkey[..], signed_bytes)?;
        self.log.insert(
            codec::log_key(&entry.origin, entry.epoch, entry.seq),
            &rkey[..],
        )?;
        if let Some(prev) = self.change_of.get(rkey)? {
            self.changes.remove(prev)?;
        }
        *feed += 1;
        self.changes.insert(&feed.to_be_bytes(), &rkey[..])?;
        self.change_of.insert(&rkey[..], &feed.to_be_bytes())?;
        if (entry.epoch, entry.seq) > (state.epoch, state.seq) {
            state.epoch = entry.epoch;
            state.seq = entry.seq;
        }
        state.last_unix_millis = entry.unix_millis;
        let Some(kind) = RecordKind::from_u8(kind_byte) else {
            return Ok(None);
        };
        Ok(Some(Update {
            kind,
            id,
            origin: entry.origin.clone(),
            epoch: entry.epoch,
            seq: entry.seq,
            feed_seq: *feed,
            unix_millis: entry.unix_millis,
            new: None,
        }))
    }

    /// Re-checks the stored checkpoint against the cursor and digest.
    pub(crate) fn check_checkpoint(state: &mut OriginState) -> Option<bool> {
        let signed = SignedCheckpoint::decode(state.checkpoint.as_slice()).ok()?;
        let cp = Checkpoint::decode(signed.checkpoint_bytes.as_slice()).ok()?;
        if (cp.epoch, cp.seq) != (state.epoch, state.seq) {
            state.checkpoint_verified = false;
            return None;
        }
        let ok = cp.set_digest == state.digest && cp.live_count == state.live_count;
        state.checkpoint_verified = ok;
        state.diverged = !ok;
        Some(ok)
    }
}

pub(crate) fn run_tx<T>(store: &Store, f: impl Fn(&Tx) -> TxResult<T>) -> Result<T, StoreError> {
    let r = (
        &store.records,
        &store.log,
        &store.origins,
        &store.meta,
        &store.changes,
        &store.change_of,
        &store.forks,
    )
        .transaction(|(records, log, origins, meta, changes, change_of, forks)| {
            f(&Tx {
                records,
                log,
                origins,
                meta,
                changes,
                change_of,
                forks,
            })
        });
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Abort(Abort::Error(e))) => Err(e),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

/// Moves each upserted record into its update (one update per change, in order), so a
/// batch's records are held once and never decoded again from their entries.
pub(crate) fn with_records(updates: &mut [Update], changes: impl IntoIterator<Item = Change>) {
    for (u, c) in updates.iter_mut().zip(changes) {
        if let Change::Upsert(r) = c
            && (r.kind(), r.id()) == (u.kind, u.id)
        {
            u.new = Some(r);
        }
    }
}

/// Records a record points at, which must be live: (field path, kind, id).
fn references(r: &Record) -> Vec<(String, RecordKind, Uuid)> {
    match r {
        Record::Provider(_) => vec![],
        Record::Venue(v) => vec![("provider_id".into(), RecordKind::Provider, v.provider_id)],
        Record::Course(c) => {
            let mut out = vec![("provider_id".into(), RecordKind::Provider, c.provider_id)];
            for (i, run) in c.runs.iter().enumerate() {
                out.push((
                    format!("runs[{i}].venue_id"),
                    RecordKind::Venue,
                    run.venue_id,
                ));
            }
            out
        }
    }
}

/// Content hash of a batch, so a reused idempotency key with other content is caught.
/// The payload an entry for `change` carries.
fn payload(change: &Change) -> Vec<u8> {
    match change {
        Change::Upsert(r) => prospectus_proto::encode_record(r),
        Change::Delete { .. } => Vec::new(),
    }
}

fn batch_hash(changes: &[Change]) -> Vec<u8> {
    let mut h = Sha256::new();
    for c in changes {
        let p = payload(c);
        match c {
            Change::Upsert(r) => h.update([1, r.kind() as u8]),
            Change::Delete { kind, id } => {
                h.update([2, *kind as u8]);
                h.update(id.as_bytes());
            }
        }
        h.update((p.len() as u64).to_be_bytes());
        h.update(&p);
    }
    h.finalize().to_vec()
}

/// The violation for op `index` (`change`) naming a record that op `first` of the same batch
/// already names: the second would silently win, so neither is applied.
pub fn repeated_in_batch(index: usize, change: &Change, first: usize) -> FieldViolation {
    let (kind, id) = (change.kind(), change.id());
    let op = match change {
        Change::Upsert(_) => kind.as_str(),
        Change::Delete { .. } => "delete",
    };
    FieldViolation {
        field: format!("ops[{index}].{op}.id"),
        description: format!(
            "{kind} {id} is already in this batch at ops[{first}]; a batch may carry one op per record"
        ),
    }
}

impl Store {
    /// Validates, authorises and commits `changes` durably, all or nothing, and signs a
    /// checkpoint of the resulting live set with the batch's last op.
    ///
    /// A batch of at most [`crate::PUBLISH_CHUNK`] ops is one sled transaction. A larger one is
    /// checked whole, staged in a journal file and committed by one small marker write, then
    /// rolled forward chunk by chunk under the writer lock (`journal.rs`): after a crash at any
    /// point a reopened store holds every op of it or none, and this returns only once all of
    /// it is durable.
    ///
    /// Every field problem in the batch is reported at once (paths `ops[i].<kind>.<field>`).
    /// With an idempotency key, a retry of a committed batch returns the first receipt; the
    /// same key with different content is refused.
    pub fn publish(
        &self,
        scope: &Scope,
        idempotency_key: Option<&str>,
        changes: impl Into<Vec<Change>>,
    ) -> Result<Receipt, StoreError> {
        // Owned, so that after the commit each record moves into its update rather than
        // being decoded again from the entry: a batch's records are held once.
        let changes: Vec<Change> = changes.into();
        let mut violations = Violations::default();
        let today = today();
        let mut seen = std::collections::HashMap::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            let (kind, id) = (c.kind(), c.id());
            // One record at most once per batch: a second op on the same id would silently
            // win, so the batch is refused and names both.
            if let Some(&first) = seen.get(&(kind, id)) {
                violations.push(repeated_in_batch(i, c, first));
            } else {
                seen.insert((kind, id), i);
            }
            if let Change::Upsert(r) = c {
                if let Err(e) = validate_record_at(r, today) {
                    violations.extend(e.prefixed(&format!("ops[{i}].{}", r.kind())));
                }
                if let Scope::Provider(p) = scope
                    && r.provider_id() != *p
                {
                    return Err(StoreError::Forbidden {
                        field: format!("ops[{i}].{}.provider_id", r.kind()),
                        reason: format!("this token may only write records of provider {p}"),
                    });
                }
            }
        }
        drop(seen);
        violations.finish().map_err(StoreError::Invalid)?;
        // Payloads are encoded one at a time, never all held at once.
        let request_hash = idempotency_key.map(|_| batch_hash(&changes));

        let guard = self.lock()?;
        // A committed batch whose roll-forward failed in this process is finished first.
        self.settle_journal()?;
        let idem_key = idempotency_key.map(|k| [IDEM_PREFIX, k.as_bytes()].concat());
        if let Some(k) = &idem_key
            && let Some(v) = self.meta.get(k)?
        {
            let prev = IdemRecord::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("idempotency record: {e}")))?;
            if Some(&prev.request_hash) != request_hash.as_ref() {
                return Err(StoreError::IdempotencyConflict(
                    idempotency_key.unwrap_or_default().to_string(),
                ));
            }
            return Ok(Receipt {
                origin: self.origin.clone(),
                epoch: prev.epoch,
                first_seq: prev.first_seq,
                last_seq: prev.last_seq,
                applied: prev.applied,
                replayed: true,
            });
        }
        let mut state = self.origin_state(&self.origin)?;
        let epoch = self.epoch();
        if state.epoch < epoch {
            state.epoch = epoch;
            state.seq = 0;
        }
        // Our own seq only ever comes from our own signed entries; still, never wrap.
        let last = u64::try_from(changes.len())
            .ok()
            .and_then(|n| state.seq.checked_add(n));
        let (Some(first_seq), Some(last_seq)) = (state.seq.checked_add(1), last) else {
            return Err(StoreError::Corrupt(format!(
                "origin {} is at the last seq",
                self.origin
            )));
        };
        // Under the writer lock nothing changes between these checks and the writes.
        self.check_batch(scope, &changes)?;
        let batch = BatchHead {
            epoch: state.epoch,
            first_seq,
            last_seq,
            unix_millis: now_millis(),
            idem_key: idem_key.unwrap_or_default(),
            request_hash: request_hash.unwrap_or_default(),
            ..BatchHead::default()
        };
        let receipt = Receipt {
            origin: self.origin.clone(),
            epoch: batch.epoch,
            first_seq,
            last_seq,
            applied: changes.len() as u32,
            replayed: false,
        };
        if changes.len() > self.publish_chunk {
            self.publish_journaled(&batch, changes)?;
            drop(guard);
            return Ok(receipt);
        }
        let signed = self.sign_entries(&batch, first_seq, &changes);
        let mut updates = self.write_own(&batch, &signed, false, true)?;
        drop(signed);
        with_records(&mut updates, changes);
        // Durable before anyone hears of it: the caller acknowledges only after this returns.
        self.db.flush()?;
        // Observers hear of writes in commit order: notified before the next writer can
        // commit (observers only queue the change, so this holds the lock for microseconds).
        self.notify(&updates);
        drop(guard);
        Ok(receipt)
    }

    /// The checks of a batch against what the store holds, in op order, as one transaction
    /// over the whole batch would make them: no op may touch another borough's record or (for
    /// a provider token) another provider's, a delete needs a live record, and a reference
    /// must name a live record (held, or written by an earlier op of the batch). Reads only;
    /// called under the writer lock, so nothing changes before the batch is written.
    fn check_batch(&self, scope: &Scope, changes: &[Change]) -> Result<(), StoreError> {
        // Liveness of the records the batch has written so far.
        let mut written: std::collections::HashMap<[u8; 17], bool> =
            std::collections::HashMap::with_capacity(changes.len());
        let mut missing = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            let (kind, id) = (change.kind(), change.id());
            let rkey = codec::record_key(kind, id);
            let held = match self.records.get(rkey)? {
                Some(v) => Some(open_entry(&v)?.1),
                None => None,
            };
            if let Some(e) = &held
                && e.origin != self.origin
            {
                return Err(StoreError::Forbidden {
                    field: format!("ops[{i}].{kind}.id"),
                    reason: format!("{kind} {id} belongs to borough {}", e.origin),
                });
            }
            if let (Scope::Provider(p), Some(r)) = (scope, held.as_ref().and_then(entry_record))
                && r.provider_id() != *p
            {
                return Err(StoreError::Forbidden {
                    field: format!("ops[{i}].{kind}.id"),
                    reason: format!("{kind} {id} belongs to provider {}", r.provider_id()),
                });
            }
            match change {
                Change::Delete { .. } => {
                    if held.is_none_or(|e| e.op == Op::Delete as i32) {
                        return Err(StoreError::NotFound {
                            field: format!("ops[{i}].delete.id"),
                            kind,
                            id,
                        });
                    }
                }
                Change::Upsert(r) => {
                    for (field, rk, rid) in references(r) {
                        let key = codec::record_key(rk, rid);
                        let live = match written.get(&key) {
                            Some(&live) => live,
                            None => match self.records.get(key)? {
                                None => false,
                                Some(v) => open_entry(&v)
                                    .map(|(_, e)| e.op != Op::Delete as i32)
                                    .unwrap_or(false),
                            },
                        };
                        if !live {
                            missing.push(FieldViolation {
                                field: format!("ops[{i}].{kind}.{field}"),
                                description: format!(
                                    "no {rk} with id {rid} (publish it first or in the same batch)"
                                ),
                            });
                        }
                    }
                }
            }
            written.insert(rkey, matches!(change, Change::Upsert(_)));
        }
        if !missing.is_empty() {
            return Err(StoreError::Invalid(ValidationErrors(missing)));
        }
        Ok(())
    }

    /// The `SignedEntry` bytes of `changes`, ops of `batch` from `first_seq` on, in order;
    /// signed on the machine's cores (a signature costs more than the rest of a write).
    pub(crate) fn sign_entries(
        &self,
        batch: &BatchHead,
        first_seq: u64,
        changes: &[Change],
    ) -> Vec<Vec<u8>> {
        let sign = |from: u64, part: &[Change]| -> Vec<Vec<u8>> {
            (from..)
                .zip(part)
                .map(|(seq, c)| self.sign_entry(batch, seq, c))
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = changes.len().div_ceil(threads).max(256);
        if changes.len() <= per {
            return sign(first_seq, changes);
        }
        std::thread::scope(|s| {
            let parts: Vec<_> = changes
                .chunks(per)
                .zip((first_seq..).step_by(per))
                .map(|(part, from)| (part, from, s.spawn(move || sign(from, part))))
                .collect();
            let mut out = Vec::with_capacity(changes.len());
            for (part, from, h) in parts {
                // A signing thread cannot panic short of a bug; its part is signed here then.
                out.extend(h.join().unwrap_or_else(|_| sign(from, part)));
            }
            out
        })
    }

    /// The `SignedEntry` bytes of op `change` of `batch` at `seq`, signed with the origin key.
    fn sign_entry(&self, batch: &BatchHead, seq: u64, change: &Change) -> Vec<u8> {
        let (kind, op) = match change {
            Change::Upsert(r) => (r.kind(), Op::Upsert),
            Change::Delete { kind, .. } => (*kind, Op::Delete),
        };
        let entry_bytes = Entry {
            origin: self.origin.clone(),
            epoch: batch.epoch,
            seq,
            kind: prospectus_proto::WireEnum::to_i32(kind),
            id: change.id().as_bytes().to_vec(),
            op: op as i32,
            payload: payload(change),
            unix_millis: batch.unix_millis,
            schema: crate::SCHEMA_VERSION,
        }
        .encode_to_vec();
        SignedEntry {
            signature: self.key.sign(&entry_bytes),
            entry_bytes,
            key_id: self.key.key_id().to_string(),
        }
        .encode_to_vec()
    }

    /// Writes a run of `batch`'s signed entries (this node's own, in seq order) in one
    /// transaction, each through `put_entry`; the origin's head moving with them is how far a
    /// journaled batch has been rolled forward. With `last` the transaction also signs the
    /// batch's checkpoint, keeps its idempotency receipt and (for a `journaled` batch) drops its
    /// commit marker. One update per entry, `new` unset.
    pub(crate) fn write_own(
        &self,
        batch: &BatchHead,
        signed: &[Vec<u8>],
        journaled: bool,
        last: bool,
    ) -> Result<Vec<Update>, StoreError> {
        run_tx(self, |tx| {
            let mut state = tx.state(&self.origin)?;
            if state.epoch < batch.epoch {
                state.epoch = batch.epoch;
                state.seq = 0;
            }
            let mut feed = tx.feed_pos()?;
            let mut updates = Vec::with_capacity(signed.len());
            for bytes in signed {
                let (signed, entry) = match open_entry(bytes) {
                    Ok(x) => x,
                    Err(e) => return abort(e),
                };
                let (Ok(kind_byte), Ok(id)) =
                    (u8::try_from(entry.kind), Uuid::from_slice(&entry.id))
                else {
                    return corrupt(format!("journaled entry at seq {}", entry.seq));
                };
                let old = tx.old(&codec::raw_record_key(kind_byte, id))?;
                if let Some(u) = tx.put_entry(
                    &mut state,
                    &mut feed,
                    &entry,
                    &signed.entry_bytes,
                    bytes,
                    kind_byte,
                    id,
                    old,
                )? {
                    updates.push(u);
                }
            }
            if last {
                state.checkpoint = self.sign_checkpoint(&state, batch.unix_millis);
                state.checkpoint_verified = true;
                state.diverged = false;
                state.last_heard_millis = batch.unix_millis;
                if !batch.idem_key.is_empty() {
                    let rec = IdemRecord {
                        request_hash: batch.request_hash.clone(),
                        epoch: batch.epoch,
                        first_seq: batch.first_seq,
                        last_seq: batch.last_seq,
                        applied: (batch.last_seq + 1).saturating_sub(batch.first_seq) as u32,
                    };
                    tx.meta
                        .insert(batch.idem_key.as_slice(), rec.encode_to_vec())?;
                }
                if journaled {
                    tx.meta.remove(META_JOURNAL_COMMIT)?;
                }
            } else {
                // Past the checkpoint held (the batch's own comes with its last chunk).
                Tx::check_checkpoint(&mut state);
            }
            tx.origins
                .insert(self.origin.as_bytes(), state.encode_to_vec())?;
            tx.meta.insert(META_CHANGES, &feed.to_be_bytes())?;
            Ok(updates)
        })
    }

    /// Signs a checkpoint of `state`, chained to the previous one `state` still holds.
    fn sign_checkpoint(&self, state: &OriginState, millis: i64) -> Vec<u8> {
        let prev = held_checkpoint(state).unwrap_or_default();
        let cp = Checkpoint {
            origin: self.origin.clone(),
            epoch: state.epoch,
            seq: state.seq,
            live_count: state.live_count,
            set_digest: state.digest.clone(),
            unix_millis: millis,
            prev_epoch: prev.epoch,
            prev_seq: prev.seq,
            prev_live_count: prev.live_count,
            prev_set_digest: prev.set_digest,
        };
        let checkpoint_bytes = cp.encode_to_vec();
        let msg = [CHECKPOINT_CONTEXT, checkpoint_bytes.as_slice()].concat();
        SignedCheckpoint {
            signature: self.key.sign(&msg),
            checkpoint_bytes,
            key_id: self.key.key_id().to_string(),
        }
        .encode_to_vec()
    }

    /// Applies verified replicated entries in one transaction, in per-origin order.
    ///
    /// Duplicates, replays and entries from older epochs change nothing. A different entry for
    /// an `(origin, epoch, seq)` already held is a fork: the first is kept, the second is
    /// recorded in `forks` and reported. Entries are expected in log order per origin; gaps are
    /// normal (compaction) and are proven harmless by the origin's checkpoint digest.
    pub fn apply_remote(
        &self,
        mut entries: Vec<Verified>,
        mode: ApplyMode,
    ) -> Result<ApplyReport, StoreError> {
        // Relays deliver what we already hold many times over (every peer forwards every
        // entry): answer those from a read, without a transaction or an fsync. An entry past
        // its origin's cursor cannot be held (the cursor only moves past what was applied):
        // it goes to the transaction unread, which reads the record once there (a bootstrap
        // is all such entries, and this read was one of two per entry).
        let mut cursors: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for v in &entries {
            if !cursors.contains_key(v.entry.origin.as_str()) {
                let st = self.origin_state(&v.entry.origin)?;
                cursors.insert(v.entry.origin.as_str(), (st.epoch, st.seq));
            }
        }
        let mut fresh = Vec::with_capacity(entries.len());
        let mut already = 0usize;
        for (i, v) in entries.iter().enumerate() {
            let past_cursor = cursors
                .get(v.entry.origin.as_str())
                .is_some_and(|c| (v.entry.epoch, v.entry.seq) > *c);
            let held = !past_cursor
                && match self.records.get(codec::raw_record_key(v.kind_byte, v.id))? {
                    Some(b) => open_entry(&b)
                        .ok()
                        .zip(SignedEntry::decode(v.signed_bytes.as_slice()).ok())
                        .is_some_and(|((held, _), new)| held.entry_bytes == new.entry_bytes),
                    None => false,
                };
            if held {
                already += 1;
            } else {
                fresh.push(i);
            }
        }
        drop(cursors);
        if fresh.is_empty() {
            return Ok(ApplyReport {
                unchanged: already,
                ..Default::default()
            });
        }
        let guard = self.lock()?;
        let own = self.origin.clone();
        let (mut report, updates) = run_tx(self, |tx| {
            let mut report = ApplyReport::default();
            let mut states: BTreeMap<String, OriginState> = BTreeMap::new();
            let mut feed = tx.feed_pos()?;
            // (index in `entries`, update): the decoded record is added after the commit (a
            // transaction may run this closure more than once, so it cannot move it out).
            let mut updates = Vec::new();
            let now = now_millis();
            for &i in &fresh {
                let v = &entries[i];
                let e = &v.entry;
                if !states.contains_key(&e.origin) {
                    states.insert(e.origin.clone(), tx.state(&e.origin)?);
                }
                let Some(state) = states.get_mut(&e.origin) else {
                    continue;
                };
                state.last_heard_millis = now;
                let mut rkey = [0u8; 17];
                rkey[0] = v.kind_byte;
                rkey[1..].copy_from_slice(v.id.as_bytes());
                let signed = match SignedEntry::decode(v.signed_bytes.as_slice()) {
                    Ok(s) => s,
                    Err(_) => {
                        *report
                            .rejected
                            .entry((e.origin.clone(), Rejection::Malformed))
                            .or_default() += 1;
                        continue;
                    }
                };
                let old = tx.old(&rkey)?;
                if let Some(o) = &old
                    && o.origin != e.origin
                {
                    *report
                        .rejected
                        .entry((e.origin.clone(), Rejection::OriginConflict))
                        .or_default() += 1;
                    continue;
                }
                // Same bytes as what we hold for this record: nothing to do in any mode.
                if old
                    .as_ref()
                    .is_some_and(|o| o.entry_bytes == signed.entry_bytes)
                {
                    report.unchanged += 1;
                    continue;
                }
                if (e.epoch, e.seq) <= (state.epoch, state.seq) {
                    // At or below the cursor: a replay, unless we hold a different entry at
                    // exactly this position, which is a fork.
                    if let Some(at) = tx.log.get(codec::log_key(&e.origin, e.epoch, e.seq))?
                        && let Some(held) = tx.records.get(&at)?
                        && let Ok((_, held_entry)) = open_entry(&held)
                        && (held_entry.epoch, held_entry.seq) == (e.epoch, e.seq)
                    {
                        let fk = codec::fork_key(&e.origin, e.epoch, e.seq);
                        if tx.forks.get(&fk)?.is_none() {
                            tx.forks.insert(fk, v.signed_bytes.as_slice())?;
                            state.forks += 1;
                        }
                        report.forks.push((e.origin.clone(), e.epoch, e.seq));
                    } else {
                        report.unchanged += 1;
                    }
                    continue;
                }
                if e.origin == own && mode != ApplyMode::Recovery {
                    *report
                        .rejected
                        .entry((e.origin.clone(), Rejection::OwnOrigin))
                        .or_default() += 1;
                    continue;
                }
                if let Some(u) = tx.put_entry(
                    state,
                    &mut feed,
                    e,
                    &signed.entry_bytes,
                    &v.signed_bytes,
                    v.kind_byte,
                    v.id,
                    old,
                )? {
                    updates.push((i, u));
                }
                report.applied += 1;
            }
            for (origin, state) in states.iter_mut() {
                match Tx::check_checkpoint(state) {
                    Some(true) => report.verified.push(origin.clone()),
                    Some(false) => report.diverged.push(origin.clone()),
                    None => {}
                }
                tx.origins
                    .insert(origin.as_bytes(), state.encode_to_vec())?;
            }
            tx.meta.insert(META_CHANGES, &feed.to_be_bytes())?;
            Ok((report, updates))
        })?;
        report.unchanged += already;
        if report.applied > 0 || !report.forks.is_empty() {
            self.db.flush()?;
        }
        let updates: Vec<Update> = updates
            .into_iter()
            .map(|(i, mut u)| {
                u.new = entries[i].take_record();
                u
            })
            .collect();
        // In commit order, like `publish`.
        self.notify(&updates);
        drop(guard);
        Ok(report)
    }

    /// Stores a verified checkpoint for its origin and checks it if our cursor is there.
    ///
    /// A checkpoint for the position of the checkpoint this node keeps, with another digest or
    /// count, is proof that the origin signed two histories (a reused position): it is
    /// recorded as a fork (the first is kept, the second exposed) and never replaces what is
    /// held. This catches a reuse whatever the arrival order, even after compaction has
    /// dropped the entries themselves.
    pub fn offer_checkpoint(
        &self,
        trust: &dyn Trust,
        bytes: &[u8],
    ) -> Result<CheckpointStatus, StoreError> {
        let cp = match self.verified_checkpoint(trust, bytes) {
            Ok(cp) => cp,
            Err(r) => return Ok(CheckpointStatus::Rejected(r)),
        };
        let guard = self.lock()?;
        let mut state = self.origin_state(&cp.origin)?;
        let pos = (cp.epoch, cp.seq);
        let held = held_checkpoint(&state);
        // Only checkpoint against checkpoint: our own digest at a cursor reached through a
        // compacted stream need not be the origin's state at that position.
        if let Some(h) = &held
            && (h.epoch, h.seq) == pos
            && (h.set_digest != cp.set_digest || h.live_count != cp.live_count)
        {
            self.record_checkpoint_fork(&mut state, &cp.origin, pos, bytes)?;
            drop(guard);
            return Ok(CheckpointStatus::Fork {
                origin: cp.origin,
                epoch: cp.epoch,
                seq: cp.seq,
            });
        }
        // One step along the chain, either way round: the new checkpoint's predecessor is
        // the position we hold another state for, or ours names the new one's position with
        // another state. Recorded; the newer checkpoint is then taken as usual.
        if let Some(h) = &held {
            let at = if cp.prev_seq != 0
                && (cp.prev_epoch, cp.prev_seq) == (h.epoch, h.seq)
                && (cp.prev_set_digest != h.set_digest || cp.prev_live_count != h.live_count)
            {
                Some((h.epoch, h.seq))
            } else if h.prev_seq != 0
                && (h.prev_epoch, h.prev_seq) == pos
                && (h.prev_set_digest != cp.set_digest || h.prev_live_count != cp.live_count)
            {
                Some(pos)
            } else {
                None
            };
            if let Some(at) = at {
                tracing::error!(origin = %cp.origin, epoch = at.0, seq = at.1, "FORK: a chained checkpoint names another state for a position held here");
                self.record_checkpoint_fork(&mut state, &cp.origin, at, bytes)?;
            }
        }
        if held.is_some_and(|h| (h.epoch, h.seq) >= pos) {
            return Ok(CheckpointStatus::Stale);
        }
        state.checkpoint = bytes.to_vec();
        state.last_heard_millis = now_millis();
        let status = match Tx::check_checkpoint(&mut state) {
            Some(true) => CheckpointStatus::Verified,
            Some(false) => CheckpointStatus::Diverged,
            None if pos > (state.epoch, state.seq) => CheckpointStatus::Pending,
            None => CheckpointStatus::Stale,
        };
        self.origins
            .insert(cp.origin.as_bytes(), state.encode_to_vec())?;
        // Durable like entries: a kept checkpoint is the evidence a later fork is caught by,
        // and a peer's checkpoint of an origin is what that origin's node, restored after a
        // lost disk, reads as "it published" (without this flush, a peer killed just after
        // receiving it answered "holds nothing" and the restored node reused epoch 1:
        // `tests/restore.rs::a_lost_disk_waits_for_the_peer_that_holds_it_and_never_reuses_epoch_1`).
        self.db.flush()?;
        drop(guard);
        Ok(status)
    }
}

/// The checkpoint an origin state keeps, decoded (`None` if none yet).
fn held_checkpoint(state: &OriginState) -> Option<Checkpoint> {
    SignedCheckpoint::decode(state.checkpoint.as_slice())
        .ok()
        .filter(|_| !state.checkpoint.is_empty())
        .and_then(|s| Checkpoint::decode(s.checkpoint_bytes.as_slice()).ok())
}

impl Store {
    /// Keeps `bytes` as the evidence of a fork of `origin` at `at` (once) and counts it.
    /// Called under the writer lock.
    fn record_checkpoint_fork(
        &self,
        state: &mut OriginState,
        origin: &str,
        at: (u64, u64),
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let fk = codec::checkpoint_fork_key(origin, at.0, at.1);
        if self.forks.get(&fk)?.is_none() {
            self.forks.insert(fk, bytes)?;
            state.forks += 1;
            self.origins
                .insert(origin.as_bytes(), state.encode_to_vec())?;
            self.db.flush()?;
        }
        Ok(())
    }
}

impl Store {
    /// Removes tombstones whose entry is older than `cutoff_millis`. Before anything is removed
    /// (and flushed): each affected origin's floor is raised to the newest purged position, so a
    /// peer whose cursor is below it is told to take a snapshot instead of silently missing the
    /// delete; and the local change feed's floor is raised to the newest purged feed position,
    /// so a WatchChanges/RPDE consumer positioned before it is told to start again. A crash in
    /// between only forces extra snapshots or restarts.
    pub fn purge_tombstones(&self, cutoff_millis: i64) -> Result<usize, StoreError> {
        let mut candidates = Vec::new();
        for item in self.records.iter() {
            let (k, v) = item?;
            let Ok((_, e)) = open_entry(&v) else { continue };
            if e.op == Op::Delete as i32 && e.unix_millis < cutoff_millis {
                candidates.push((k.to_vec(), e.origin, e.epoch, e.seq));
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let guard = self.lock()?;
        // Under the writer lock nothing changes between here and the removal; skip a record
        // that was written again since the scan.
        let mut doomed = Vec::new();
        let mut floors: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut feed_floor = self.feed_floor()?;
        for (k, origin, epoch, seq) in candidates {
            let still = self
                .records
                .get(&k)?
                .and_then(|v| open_entry(&v).ok())
                .is_some_and(|(_, e)| {
                    e.op == Op::Delete as i32 && (e.epoch, e.seq) == (epoch, seq)
                });
            if !still {
                continue;
            }
            let f = floors.entry(origin.clone()).or_default();
            *f = (*f).max((epoch, seq));
            if let Some(pos) = self.change_of.get(&k)? {
                let pos = <[u8; 8]>::try_from(pos.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("feed position".into()))?;
                feed_floor = feed_floor.max(pos);
            }
            doomed.push((k, origin, epoch, seq));
        }
        for (origin, floor) in &floors {
            let mut st = self.origin_state(origin)?;
            if *floor > (st.floor_epoch, st.floor_seq) {
                st.floor_epoch = floor.0;
                st.floor_seq = floor.1;
                self.origins.insert(origin.as_bytes(), st.encode_to_vec())?;
            }
        }
        self.meta
            .insert(codec::META_FEED_FLOOR, &feed_floor.to_be_bytes())?;
        self.db.flush()?;
        for (k, origin, epoch, seq) in &doomed {
            self.records.remove(k.as_slice())?;
            self.log.remove(codec::log_key(origin, *epoch, *seq))?;
            if let Some(pos) = self.change_of.remove(k.as_slice())? {
                self.changes.remove(pos)?;
            }
        }
        self.db.flush()?;
        drop(guard);
        Ok(doomed.len())
    }
}
