//! Byte layouts of the sled trees. Keys are big-endian so sled's ordered iteration is the
//! log's order; small values are prost messages so fields can be added without a migration.

use prospectus_model::{RecordKind, Uuid};

/// `records` key: kind byte + 16-byte UUID.
pub fn record_key(kind: RecordKind, id: Uuid) -> [u8; 17] {
    raw_record_key(kind as u8, id)
}

/// `records` key for a kind byte this node may not know (newer schema).
pub fn raw_record_key(kind: u8, id: Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = kind;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

pub fn parse_record_key(k: &[u8]) -> Option<(RecordKind, Uuid)> {
    if k.len() != 17 {
        return None;
    }
    let kind = RecordKind::from_u8(k[0])?;
    let id = Uuid::from_slice(&k[1..]).ok()?;
    Some((kind, id))
}

/// `log` key: origin length + origin + epoch + seq, so one origin's entries are contiguous
/// and ordered by (epoch, seq).
pub fn log_key(origin: &str, epoch: u64, seq: u64) -> Vec<u8> {
    let mut k = log_prefix(origin);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn log_prefix(origin: &str) -> Vec<u8> {
    let o = origin.as_bytes();
    let mut k = Vec::with_capacity(1 + o.len() + 16);
    // Origins are GSS codes (9 bytes); the length byte keeps prefixes unambiguous anyway.
    k.push(o.len().min(255) as u8);
    k.extend_from_slice(&o[..o.len().min(255)]);
    k
}

/// Per-origin replication state (`origins` tree): the cursor, the live-set digest, the latest
/// checkpoint and what is known about its verification.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OriginState {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    /// Wall-clock millis of the last entry, for display only.
    #[prost(int64, tag = "3")]
    pub last_unix_millis: i64,
    #[prost(uint64, tag = "4")]
    pub live_count: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub digest: Vec<u8>,
    #[prost(uint64, tag = "6")]
    pub floor_epoch: u64,
    #[prost(uint64, tag = "7")]
    pub floor_seq: u64,
    /// Latest `SignedCheckpoint` bytes received or made for this origin.
    #[prost(bytes = "vec", tag = "8")]
    pub checkpoint: Vec<u8>,
    /// The checkpoint's seq equals ours and its digest matched ours.
    #[prost(bool, tag = "9")]
    pub checkpoint_verified: bool,
    /// Local wall clock when this node last received anything for the origin.
    #[prost(int64, tag = "10")]
    pub last_heard_millis: i64,
    /// Our cursor reached the checkpoint's seq and the digests differed: needs a re-sync.
    #[prost(bool, tag = "11")]
    pub diverged: bool,
    #[prost(uint64, tag = "12")]
    pub forks: u64,
}

/// A committed batch's answer, kept under its idempotency key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdemRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub request_hash: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub epoch: u64,
    #[prost(uint64, tag = "3")]
    pub first_seq: u64,
    #[prost(uint64, tag = "4")]
    pub last_seq: u64,
    #[prost(uint32, tag = "5")]
    pub applied: u32,
}

/// What one publish batch was assigned, fixed before anything is written; also the commit
/// marker of a batch written through the journal (`meta` [`META_JOURNAL_COMMIT`]): once that
/// is durable the batch is committed, and what the origin's log does not hold yet of it is
/// rolled forward from the journal file (by the publish itself, or at the next open).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchHead {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub first_seq: u64,
    #[prost(uint64, tag = "3")]
    pub last_seq: u64,
    /// The batch's signed time: its entries carry it, and so does its checkpoint.
    #[prost(int64, tag = "4")]
    pub unix_millis: i64,
    /// The `meta` key of its idempotency receipt (empty without a key).
    #[prost(bytes = "vec", tag = "5")]
    pub idem_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub request_hash: Vec<u8>,
    /// Length and SHA-256 of the journal file (set in the commit marker only).
    #[prost(uint64, tag = "7")]
    pub journal_bytes: u64,
    #[prost(bytes = "vec", tag = "8")]
    pub journal_sha256: Vec<u8>,
}

/// `auth` value, keyed by SHA-256 of the token.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenRecord {
    #[prost(string, tag = "1")]
    pub token_id: String,
    #[prost(bool, tag = "2")]
    pub admin: bool,
    #[prost(bytes = "vec", tag = "3")]
    pub provider: Vec<u8>,
    #[prost(string, tag = "4")]
    pub label: String,
    #[prost(int64, tag = "5")]
    pub created_unix_millis: i64,
    /// Set on every provider token by a restore: refused until the admin re-enables it.
    #[prost(bool, tag = "6")]
    pub suspended: bool,
}

pub const META_ORIGIN: &[u8] = b"node/origin";
pub const META_EPOCH: &[u8] = b"node/epoch";
/// A random id made when the store is first opened: derived state kept beside the store (the
/// search index on disk) records it, so it is never matched against another store.
pub const META_INSTANCE: &[u8] = b"node/instance";
pub const META_PUBLIC_KEY: &[u8] = b"node/public_key";
pub const IDEM_PREFIX: &[u8] = b"idem/";
pub const META_CHANGES: &[u8] = b"feed/last";
/// Raised by tombstone purges: a feed consumer positioned before it must start again.
pub const META_FEED_FLOOR: &[u8] = b"feed/floor";

/// Set while a committed journaled batch is being rolled forward (a [`BatchHead`]).
pub const META_JOURNAL_COMMIT: &[u8] = b"journal/commit";

/// A big-endian u64 kept in `meta` (0 when absent).
pub fn meta_u64(meta: &sled::Tree, key: &[u8]) -> Result<u64, crate::StoreError> {
    match meta.get(key)? {
        None => Ok(0),
        Some(v) => v.as_ref().try_into().map(u64::from_be_bytes).map_err(|_| {
            crate::StoreError::Corrupt(format!("meta {}", String::from_utf8_lossy(key)))
        }),
    }
}

/// `forks` key: origin + epoch + seq, like the log; value is the second (refused) entry.
pub fn fork_key(origin: &str, epoch: u64, seq: u64) -> Vec<u8> {
    log_key(origin, epoch, seq)
}

/// `forks` key for a second signed *checkpoint* at a held position (the evidence when the
/// entries themselves were compacted away): the fork key and a `c`; value is the checkpoint.
pub fn checkpoint_fork_key(origin: &str, epoch: u64, seq: u64) -> Vec<u8> {
    let mut k = fork_key(origin, epoch, seq);
    k.push(b'c');
    k
}
