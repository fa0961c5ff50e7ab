//! The durable store of one node, on sled.
//!
//! It holds every record this node knows — its own borough's and replicated ones — in exactly
//! the form DESIGN §3 replicates: the `SignedEntry` whose bytes the origin signed, never
//! re-encoded. Each origin has a log ordered by `(epoch, seq)`, compacted on write to the latest
//! entry per record, a live-set digest kept incrementally, and its latest signed checkpoint.
//! Every write (a local publish batch, or a chunk of replicated entries) is one sled transaction
//! over all trees, flushed before it is acknowledged — except a publish batch larger than
//! [`PUBLISH_CHUNK`], which is staged in a journal file and committed by one small marker
//! write, then rolled forward in chunks (`journal.rs`), all or nothing across a crash.
//!
//! Downstream work (the search index, live subscriptions) hangs off [`Observer::updated`],
//! called after a change is durable; it cannot block or fail the write. The store knows nothing
//! of gRPC, HTTP, peers or search.

mod auth;
mod backup;
mod codec;
mod digest;
mod journal;
mod keys;
mod snapshot;
mod write;

pub use auth::{Scope, TokenInfo};
pub use backup::{BackupError, Restored, restore_backup, sync_parent, unique_sibling};
pub use digest::SetDigest;
pub use keys::{KeyError, NodeKey, VERIFY_BATCH, key_id, verify, verify_each, write_private};
pub use snapshot::{MAX_SNAPSHOT_BYTES, SnapshotOutcome};
pub use write::{
    ApplyMode, ApplyReport, CheckpointStatus, Refused, Rejection, Trust, Verified,
    repeated_in_batch, verify_checkpoint, verify_entries, verify_entry,
};

use codec::{META_EPOCH, META_INSTANCE, META_ORIGIN, META_PUBLIC_KEY, OriginState};
use prospectus_model::{Record, RecordKind, Uuid, ValidationErrors};
use prospectus_proto::v1::{Entry, Op, SignedEntry};
use prost::Message;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Version of the record payload encoding written into each entry.
pub const SCHEMA_VERSION: u32 = 1;

/// Default bound of sled's page cache (sled's own default is 1 GiB, which a node at 100k
/// courses fills on its first full scan). Queries never read sled, so the cache serves only
/// writes, replication reads and by-id HTTP lookups.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Most ops a publish batch writes in one sled transaction. A sled 0.34 transaction keeps every
/// node version it replaces allocated until it ends (≈24 kB per entry written), so a larger
/// batch goes through the journal (`journal.rs`), one transaction per chunk of this many.
pub const PUBLISH_CHUNK: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("invalid batch: {0}")]
    Invalid(ValidationErrors),
    #[error("permission denied: {field}: {reason}")]
    Forbidden { field: String, reason: String },
    #[error("{field}: no {kind} with id {id}")]
    NotFound {
        field: String,
        kind: RecordKind,
        id: Uuid,
    },
    #[error("idempotency key {0:?} was already used for a different batch")]
    IdempotencyConflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("data dir belongs to borough {stored}, not {requested}")]
    WrongOrigin { stored: String, requested: String },
    #[error("data dir was created with key {stored}, but the key file holds {given}")]
    WrongKey { stored: String, given: String },
    #[error("this node is restoring its own origin from peers and cannot publish yet")]
    Recovering,
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A change-feed consumer is positioned before the feed floor: deletions it has not seen
    /// were purged, so it must start again from 0.
    #[error(
        "change feed position {after} is before this node's feed floor {floor}: deletions after it were purged; start again from 0"
    )]
    FeedExpired { after: u64, floor: u64 },
    /// A change-feed position this node never issued.
    #[error("change feed position {after} is beyond this node's feed head {head}")]
    FeedBeyond { after: u64, head: u64 },
    /// The publish journal file could not be written or read back.
    #[error("publish journal: {0}")]
    Journal(std::io::Error),
    /// A worker thread (a replicated chunk's apply) could not be started.
    #[error("could not start a worker thread: {0}")]
    Thread(std::io::Error),
}

/// A change a provider asks for.
// Deletes are rare and batches are short-lived: boxing every upsert would cost more than it saves.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(Record),
    Delete { kind: RecordKind, id: Uuid },
}

impl Change {
    pub fn kind(&self) -> RecordKind {
        match self {
            Change::Upsert(r) => r.kind(),
            Change::Delete { kind, .. } => *kind,
        }
    }
    pub fn id(&self) -> Uuid {
        match self {
            Change::Upsert(r) => r.id(),
            Change::Delete { id, .. } => *id,
        }
    }
}

/// What a committed batch was assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub origin: String,
    pub epoch: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub applied: u32,
    /// True when this is the stored answer to an earlier batch with the same idempotency key.
    pub replayed: bool,
}

/// A record as stored: decoded, with where it came from.
#[derive(Debug, Clone)]
pub struct Stored {
    pub kind: RecordKind,
    pub id: Uuid,
    /// `None` for a tombstone.
    pub record: Option<Record>,
    pub origin: String,
    pub epoch: u64,
    pub seq: u64,
    pub unix_millis: i64,
}

/// An origin's log head as this store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginHead {
    pub origin: String,
    pub epoch: u64,
    pub seq: u64,
    /// Wall-clock millis of its newest entry; informational only.
    pub last_unix_millis: i64,
}

/// One applied change, as observers see it.
#[derive(Debug, Clone)]
pub struct Update {
    pub kind: RecordKind,
    pub id: Uuid,
    pub origin: String,
    pub epoch: u64,
    pub seq: u64,
    /// Position in this node's local change feed.
    pub feed_seq: u64,
    /// The entry's signed timestamp (for a removal by snapshot re-sync: the checkpoint's).
    pub unix_millis: i64,
    /// The record as it is now (`None` for a removal). There is no old record: no observer
    /// reads one (each keeps what it derives), and decoding every replaced record held a
    /// republished 100k offer twice at the peak of its commit.
    pub new: Option<Record>,
}

/// Derived state fed by the store (Garage's `updated` hook, with the new record only). Called after the change
/// is durable, on the writer's thread, in commit order (before the next write can commit):
/// implementations must be quick and infallible, and must not write to the store.
pub trait Observer: Send + Sync {
    fn updated(&self, update: &Update);
}

/// One position of the local change feed: the record's latest state (`None` if undecodable).
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub pos: u64,
    pub kind: RecordKind,
    pub id: Uuid,
    pub stored: Option<Stored>,
}

/// Two different validly signed entries (or checkpoints) for one `(origin, epoch, seq)`: the
/// first was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRecord {
    pub origin: String,
    pub epoch: u64,
    pub seq: u64,
    /// The other `SignedEntry` bytes (empty for a checkpoint fork): the refused second entry,
    /// or, when a proven snapshot replaced it, the entry that was held.
    pub refused: Vec<u8>,
    /// The refused `SignedCheckpoint` bytes (empty for an entry fork).
    pub refused_checkpoint: Vec<u8>,
}

/// Replication state of one origin, as status pages and peers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginInfo {
    pub origin: String,
    pub epoch: u64,
    pub seq: u64,
    pub live_count: u64,
    pub digest: Vec<u8>,
    pub floor: (u64, u64),
    /// Latest `SignedCheckpoint` bytes, empty if none yet.
    pub checkpoint: Vec<u8>,
    pub checkpoint_verified: bool,
    pub diverged: bool,
    pub last_heard_millis: i64,
    pub last_entry_millis: i64,
    pub forks: u64,
}

impl OriginInfo {
    fn from_state(origin: String, s: OriginState) -> Self {
        OriginInfo {
            origin,
            epoch: s.epoch,
            seq: s.seq,
            live_count: s.live_count,
            digest: s.digest,
            floor: (s.floor_epoch, s.floor_seq),
            checkpoint: s.checkpoint,
            checkpoint_verified: s.checkpoint_verified,
            diverged: s.diverged,
            last_heard_millis: s.last_heard_millis,
            last_entry_millis: s.last_unix_millis,
            forks: s.forks,
        }
    }
}

pub struct Store {
    db: sled::Db,
    records: sled::Tree,
    log: sled::Tree,
    origins: sled::Tree,
    auth: sled::Tree,
    meta: sled::Tree,
    changes: sled::Tree,
    change_of: sled::Tree,
    forks: sled::Tree,
    /// The file a large publish batch's signed entries are staged in between its checks and
    /// its roll-forward (`journal.rs`); absent whenever the writer lock is free.
    journal: std::path::PathBuf,
    /// See [`PUBLISH_CHUNK`] (smaller in the store's own tests).
    publish_chunk: usize,
    origin: String,
    /// See [`Store::instance`].
    instance: String,
    epoch: AtomicU64,
    key: NodeKey,
    fresh: bool,
    /// One writer at a time: keeps seq assignment gapless and replicated applies ordered.
    write: Mutex<()>,
    observers: RwLock<Vec<Arc<dyn Observer>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_millis() -> i64 {
    #[cfg(test)]
    if let Some(fixed) = journal::tests::fixed_millis() {
        return fixed;
    }
    chrono::Utc::now().timestamp_millis()
}

/// The publish date local writes are validated against (records may not claim to be verified
/// after it, nor run decades from it). UTC: the store has one clock for everything.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Decodes stored `SignedEntry` bytes into its entry.
pub fn open_entry(bytes: &[u8]) -> Result<(SignedEntry, Entry), StoreError> {
    let signed = SignedEntry::decode(bytes)
        .map_err(|e| StoreError::Corrupt(format!("signed entry: {e}")))?;
    let entry = Entry::decode(signed.entry_bytes.as_slice())
        .map_err(|e| StoreError::Corrupt(format!("entry: {e}")))?;
    Ok((signed, entry))
}

/// Decodes a live entry's payload; `None` for tombstones and for payloads of a kind or schema
/// this node does not understand (those are still stored and forwarded).
pub(crate) fn entry_record(entry: &Entry) -> Option<Record> {
    if entry.op == Op::Delete as i32 {
        return None;
    }
    let kind = u8::try_from(entry.kind)
        .ok()
        .and_then(RecordKind::from_u8)?;
    prospectus_proto::decode_record(kind, &entry.payload).ok()
}

fn decode_stored(kind: RecordKind, id: Uuid, bytes: &[u8]) -> Result<Stored, StoreError> {
    let (_, entry) = open_entry(bytes)?;
    let record = if entry.op == Op::Delete as i32 {
        None
    } else {
        Some(
            prospectus_proto::decode_record(kind, &entry.payload)
                .map_err(|e| StoreError::Corrupt(format!("{kind} {id}: {e}")))?,
        )
    };
    Ok(Stored {
        kind,
        id,
        record,
        origin: entry.origin,
        epoch: entry.epoch,
        seq: entry.seq,
        unix_millis: entry.unix_millis,
    })
}

impl Store {
    /// Opens (or creates) the store in `dir` for borough `origin`, signing with `key`, with
    /// the default cache bound ([`DEFAULT_CACHE_BYTES`]).
    pub fn open(dir: &Path, origin: &str, key: NodeKey) -> Result<Store, StoreError> {
        Self::open_with_cache(dir, origin, key, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with sled's page cache bounded at `cache_bytes`.
    pub fn open_with_cache(
        dir: &Path,
        origin: &str,
        key: NodeKey,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .open()?;
        let meta = db.open_tree("meta")?;
        let fresh = meta.get(META_ORIGIN)?.is_none();
        match meta.get(META_ORIGIN)? {
            Some(v) if v.as_ref() != origin.as_bytes() => {
                return Err(StoreError::WrongOrigin {
                    stored: String::from_utf8_lossy(&v).into_owned(),
                    requested: origin.to_string(),
                });
            }
            Some(_) => {}
            None => {
                meta.insert(META_ORIGIN, origin.as_bytes())?;
            }
        }
        let public = key.public_hex();
        match meta.get(META_PUBLIC_KEY)? {
            // `key rotate` replaced the key this data dir was made with: sign with the new one
            // from now on (the old one's entries stay ours, see `NodeKey::own_key`).
            Some(v)
                if v.as_ref() != public.as_bytes()
                    && key.replaced(&String::from_utf8_lossy(&v)) =>
            {
                tracing::info!(
                    old = %String::from_utf8_lossy(&v),
                    new = %public,
                    key_id = key.key_id(),
                    "origin key rotated: signing with the new key from now on"
                );
                meta.insert(META_PUBLIC_KEY, public.as_bytes())?;
            }
            Some(v) if v.as_ref() != public.as_bytes() => {
                return Err(StoreError::WrongKey {
                    stored: String::from_utf8_lossy(&v).into_owned(),
                    given: public,
                });
            }
            Some(_) => {}
            None => {
                meta.insert(META_PUBLIC_KEY, public.as_bytes())?;
            }
        }
        let epoch = match meta.get(META_EPOCH)? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("epoch".into()))?,
            ),
            None => {
                meta.insert(META_EPOCH, &1u64.to_be_bytes())?;
                1
            }
        };
        let instance = match meta.get(META_INSTANCE)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => {
                let id = format!("{:032x}", rand::random::<u128>());
                meta.insert(META_INSTANCE, id.as_bytes())?;
                id
            }
        };
        db.flush()?;
        let store = Store {
            instance,
            records: db.open_tree("records")?,
            log: db.open_tree("log")?,
            origins: db.open_tree("origins")?,
            auth: db.open_tree("auth")?,
            changes: db.open_tree("changes")?,
            change_of: db.open_tree("change_of")?,
            forks: db.open_tree("forks")?,
            journal: dir.join(journal::FILE),
            publish_chunk: PUBLISH_CHUNK,
            meta,
            db,
            origin: origin.to_string(),
            epoch: AtomicU64::new(epoch),
            key,
            fresh,
            write: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
        };
        // A crash in a journaled publish: roll its batch forward if it committed, else drop it.
        store.settle_journal()?;
        Ok(store)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// A random id fixed when this store was created (a restored copy keeps it): what derived
    /// state on disk names to be sure it was derived from this store.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// True when `open` created this store (an empty data dir).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The epoch this node publishes in.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Starts a new epoch (after restoring this origin from peers): later local entries are
    /// numbered from seq 1 in it, so they can never collide with the lost disk's entries.
    pub fn begin_epoch(&self, epoch: u64) -> Result<(), StoreError> {
        let _guard = self.lock()?;
        self.meta.insert(META_EPOCH, &epoch.to_be_bytes())?;
        self.db.flush()?;
        self.epoch.store(epoch, Ordering::SeqCst);
        Ok(())
    }

    pub fn add_observer(&self, o: Arc<dyn Observer>) {
        if let Ok(mut v) = self.observers.write() {
            v.push(o);
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.write
            .lock()
            .map_err(|_| StoreError::Corrupt("writer lock poisoned".into()))
    }

    /// This origin's `(epoch, seq)` head.
    pub fn head(&self) -> Result<(u64, u64), StoreError> {
        let st = self.origin_state(&self.origin)?;
        let epoch = self.epoch();
        Ok(if st.epoch < epoch {
            (epoch, 0)
        } else {
            (st.epoch, st.seq)
        })
    }

    /// Every origin this store holds entries from, with its log head and the wall-clock time of
    /// its newest entry (informational: used to flag results from an origin gone quiet).
    pub fn origin_heads(&self) -> Result<Vec<OriginHead>, StoreError> {
        let mut out = Vec::new();
        for item in self.origins.iter() {
            let (k, v) = item?;
            let st = OriginState::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("origin state: {e}")))?;
            out.push(OriginHead {
                origin: String::from_utf8_lossy(&k).into_owned(),
                epoch: st.epoch,
                seq: st.seq,
                last_unix_millis: st.last_unix_millis,
            });
        }
        Ok(out)
    }

    fn origin_state(&self, origin: &str) -> Result<OriginState, StoreError> {
        match self.origins.get(origin.as_bytes())? {
            None => Ok(OriginState::default()),
            Some(v) => OriginState::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("origin state {origin}: {e}"))),
        }
    }

    /// Replication state of every origin this node holds, in origin order.
    pub fn origins(&self) -> Result<Vec<OriginInfo>, StoreError> {
        let mut out = Vec::new();
        for item in self.origins.iter() {
            let (k, v) = item?;
            let origin = String::from_utf8_lossy(&k).into_owned();
            let st = OriginState::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("origin state {origin}: {e}")))?;
            out.push(OriginInfo::from_state(origin, st));
        }
        Ok(out)
    }

    pub fn origin_info(&self, origin: &str) -> Result<OriginInfo, StoreError> {
        Ok(OriginInfo::from_state(
            origin.to_string(),
            self.origin_state(origin)?,
        ))
    }

    pub fn get(&self, kind: RecordKind, id: Uuid) -> Result<Option<Stored>, StoreError> {
        match self.records.get(codec::record_key(kind, id))? {
            None => Ok(None),
            Some(v) => decode_stored(kind, id, &v).map(Some),
        }
    }

    /// The live (non-deleted) record, if any.
    pub fn get_live(&self, kind: RecordKind, id: Uuid) -> Result<Option<Stored>, StoreError> {
        Ok(self.get(kind, id)?.filter(|s| s.record.is_some()))
    }

    /// Every stored record of `kind` (tombstones included), in key order. Entries whose
    /// payload this node cannot decode are skipped (they are still stored and forwarded).
    pub fn scan(&self, kind: RecordKind) -> impl Iterator<Item = Result<Stored, StoreError>> + '_ {
        Self::decoded(self.records.scan_prefix([kind as u8]))
    }

    /// [`Store::scan`] of part `part` of `parts` (at most 256) equal slices of the id space,
    /// so that several threads can read and decode one kind at once (ids are random, so the
    /// slices hold about as many records each).
    pub fn scan_part(
        &self,
        kind: RecordKind,
        part: usize,
        parts: usize,
    ) -> impl Iterator<Item = Result<Stored, StoreError>> + '_ {
        let parts = parts.clamp(1, 256);
        let bound = |p: usize| -> Vec<u8> {
            if p >= parts {
                vec![kind as u8 + 1]
            } else {
                vec![kind as u8, (p * 256 / parts) as u8]
            }
        };
        Self::decoded(self.records.range(bound(part)..bound(part + 1)))
    }

    fn decoded(iter: sled::Iter) -> impl Iterator<Item = Result<Stored, StoreError>> {
        iter.filter_map(|item| {
            let (k, v) = match item {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let (kind, id) = codec::parse_record_key(&k)?;
            match decode_stored(kind, id, &v) {
                Ok(s) => Some(Ok(s)),
                Err(e) => {
                    tracing::warn!(%kind, %id, error = %e, "skipping undecodable record");
                    None
                }
            }
        })
    }

    /// Number of live records per kind.
    pub fn count_live(&self, kind: RecordKind) -> Result<u64, StoreError> {
        let mut n = 0;
        for s in self.scan(kind) {
            if s?.record.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Bytes on disk (sled's estimate).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// `origin`'s stored entries after `(epoch, seq)`, in log order, as the exact signed bytes.
    /// An entry superseded while the scan runs is skipped here: it reappears at its new place.
    pub fn log_after(
        &self,
        origin: &str,
        epoch: u64,
        seq: u64,
    ) -> impl Iterator<Item = Result<(u64, u64, Vec<u8>), StoreError>> + '_ {
        let start = codec::log_key(origin, epoch, seq.saturating_add(1));
        let prefix = codec::log_prefix(origin);
        let plen = prefix.len();
        self.log
            .range(start..)
            .take_while(move |item| match item {
                Ok((k, _)) => k.starts_with(&prefix),
                Err(_) => true,
            })
            .filter_map(move |item| {
                let (k, rkey) = match item {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(e.into())),
                };
                if k.len() != plen + 16 {
                    return Some(Err(StoreError::Corrupt("log key".into())));
                }
                let mut e = [0u8; 8];
                let mut s = [0u8; 8];
                e.copy_from_slice(&k[plen..plen + 8]);
                s.copy_from_slice(&k[plen + 8..]);
                let (e, s) = (u64::from_be_bytes(e), u64::from_be_bytes(s));
                let bytes = match self.records.get(&rkey) {
                    Ok(Some(b)) => b,
                    Ok(None) => return None,
                    Err(err) => return Some(Err(err.into())),
                };
                match open_entry(&bytes) {
                    Ok((_, entry)) if entry.epoch == e && entry.seq == s => {
                        Some(Ok((e, s, bytes.to_vec())))
                    }
                    Ok(_) => None,
                    Err(err) => Some(Err(err)),
                }
            })
    }

    /// This node's local change feed after position `after`: every record's latest change
    /// (tombstones included), each once, in the order they were applied here.
    ///
    /// Exact or an error: a position beyond the feed head is [`StoreError::FeedBeyond`], and a
    /// position before the feed floor (other than 0, a fresh start) is
    /// [`StoreError::FeedExpired`]. The floor is read *after* the page: a purge raises it
    /// (durably) before removing anything, so a page that lost a deletion to a concurrent purge
    /// is always caught.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<FeedItem>, StoreError> {
        let head = self.feed_head()?;
        if after > head {
            return Err(StoreError::FeedBeyond { after, head });
        }
        let mut out = Vec::new();
        let start = after.saturating_add(1);
        for item in self.changes.range(start.to_be_bytes()..) {
            if out.len() >= limit {
                break;
            }
            let (k, rkey) = item?;
            let pos = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("feed key".into()))?,
            );
            let Some((kind, id)) = codec::parse_record_key(&rkey) else {
                continue;
            };
            let stored = match self.records.get(&rkey)? {
                Some(b) => decode_stored(kind, id, &b).ok(),
                None => None,
            };
            out.push(FeedItem {
                pos,
                kind,
                id,
                stored,
            });
        }
        let floor = self.feed_floor()?;
        if after != 0 && after < floor {
            return Err(StoreError::FeedExpired { after, floor });
        }
        Ok(out)
    }

    /// The last position this node's change feed has issued.
    pub fn feed_head(&self) -> Result<u64, StoreError> {
        codec::meta_u64(&self.meta, codec::META_CHANGES)
    }

    /// The lowest position a feed consumer may resume after without missing a deletion
    /// (0 until a tombstone purge raises it).
    pub fn feed_floor(&self) -> Result<u64, StoreError> {
        codec::meta_u64(&self.meta, codec::META_FEED_FLOOR)
    }

    /// Forks seen, with the refused entry (the kept one is in the log).
    pub fn forks(&self) -> Result<Vec<ForkRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.forks.iter() {
            let (k, v) = item?;
            let olen = k.first().copied().unwrap_or(0) as usize;
            let checkpoint = k.len() == 1 + olen + 17 && k.last() == Some(&b'c');
            if k.len() != 1 + olen + 16 && !checkpoint {
                continue;
            }
            let origin = String::from_utf8_lossy(&k[1..1 + olen]).into_owned();
            let mut e = [0u8; 8];
            let mut s = [0u8; 8];
            e.copy_from_slice(&k[1 + olen..9 + olen]);
            s.copy_from_slice(&k[9 + olen..17 + olen]);
            let (refused, refused_checkpoint) = if checkpoint {
                (Vec::new(), v.to_vec())
            } else {
                (v.to_vec(), Vec::new())
            };
            out.push(ForkRecord {
                origin,
                epoch: u64::from_be_bytes(e),
                seq: u64::from_be_bytes(s),
                refused,
                refused_checkpoint,
            });
        }
        Ok(out)
    }

    fn notify(&self, updates: &[Update]) {
        if let Ok(obs) = self.observers.read() {
            for u in updates {
                for o in obs.iter() {
                    o.updated(u);
                }
            }
        }
    }
}
