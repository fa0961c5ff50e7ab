//! The durable store of one node, on sled.
//!
//! It holds every record this node knows (its own borough's and, later, replicated ones) in
//! exactly the form DESIGN §3 replicates: a `SignedEntry` whose bytes the origin signed. A local
//! publish appends to this origin's gapless log inside one sled transaction over all trees, and
//! is flushed before it returns, so an acknowledged batch survives `kill -9`.
//!
//! Downstream work (the search index) hangs off [`Observer::updated`], called after a change is
//! durable; it cannot block or fail the write. The store knows nothing of gRPC, HTTP or search.

mod auth;
mod codec;
mod keys;

pub use auth::{Scope, TokenInfo};
pub use keys::{KeyError, NodeKey, key_id, verify, write_private};

use codec::{IDEM_PREFIX, IdemRecord, META_EPOCH, META_ORIGIN, META_PUBLIC_KEY, OriginState};
use prospectus_model::{
    FieldViolation, Record, RecordKind, Uuid, ValidationErrors, validate_record,
};
use prospectus_proto::v1::{Entry, Op, SignedEntry};
use prost::Message;
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Version of the record payload encoding written into each entry.
pub const SCHEMA_VERSION: u32 = 1;

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
    #[error(transparent)]
    Key(#[from] KeyError),
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
    fn kind(&self) -> RecordKind {
        match self {
            Change::Upsert(r) => r.kind(),
            Change::Delete { kind, .. } => *kind,
        }
    }
    fn id(&self) -> Uuid {
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
    pub seq: u64,
    pub old: Option<Record>,
    pub new: Option<Record>,
}

/// Derived state fed by the store (Garage's `updated(old, new)` hook). Called after the change
/// is durable, on the writer's thread: implementations must be quick and infallible.
pub trait Observer: Send + Sync {
    fn updated(&self, update: &Update);
}

pub struct Store {
    db: sled::Db,
    records: sled::Tree,
    log: sled::Tree,
    origins: sled::Tree,
    auth: sled::Tree,
    meta: sled::Tree,
    origin: String,
    epoch: u64,
    key: NodeKey,
    /// One writer per origin: keeps seq assignment trivially gapless.
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

/// Why an in-transaction step stopped the batch.
enum Abort {
    Replay(Receipt),
    Error(StoreError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Error(e)))
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Decodes stored `SignedEntry` bytes into its entry.
pub fn open_entry(bytes: &[u8]) -> Result<(SignedEntry, Entry), StoreError> {
    let signed = SignedEntry::decode(bytes)
        .map_err(|e| StoreError::Corrupt(format!("signed entry: {e}")))?;
    let entry = Entry::decode(signed.entry_bytes.as_slice())
        .map_err(|e| StoreError::Corrupt(format!("entry: {e}")))?;
    Ok((signed, entry))
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
    /// Opens (or creates) the store in `dir` for borough `origin`, signing with `key`.
    pub fn open(dir: &Path, origin: &str, key: NodeKey) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir.join("db")).open()?;
        let meta = db.open_tree("meta")?;
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
        db.flush()?;
        Ok(Store {
            records: db.open_tree("records")?,
            log: db.open_tree("log")?,
            origins: db.open_tree("origins")?,
            auth: db.open_tree("auth")?,
            meta,
            db,
            origin: origin.to_string(),
            epoch,
            key,
            write: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    pub fn add_observer(&self, o: Arc<dyn Observer>) {
        if let Ok(mut v) = self.observers.write() {
            v.push(o);
        }
    }

    /// This origin's `(epoch, seq)` head.
    pub fn head(&self) -> Result<(u64, u64), StoreError> {
        let st = self.origin_state(&self.origin)?;
        Ok(if st.epoch < self.epoch {
            (self.epoch, 0)
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

    /// Every stored record of `kind` (tombstones included), in key order.
    pub fn scan(&self, kind: RecordKind) -> impl Iterator<Item = Result<Stored, StoreError>> + '_ {
        self.records.scan_prefix([kind as u8]).map(|item| {
            let (k, v) = item?;
            let (kind, id) = codec::parse_record_key(&k)
                .ok_or_else(|| StoreError::Corrupt("record key".into()))?;
            decode_stored(kind, id, &v)
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

    /// Validates, authorises and commits `changes` as one durable transaction, or nothing.
    ///
    /// Every field problem in the batch is reported at once (paths `ops[i].<kind>.<field>`).
    /// With an idempotency key, a retry of a committed batch returns the first receipt; the
    /// same key with different content is refused.
    pub fn publish(
        &self,
        scope: &Scope,
        idempotency_key: Option<&str>,
        changes: &[Change],
    ) -> Result<Receipt, StoreError> {
        let mut violations = Vec::new();
        for (i, c) in changes.iter().enumerate() {
            if let Change::Upsert(r) = c {
                if let Err(e) = validate_record(r) {
                    violations.extend(e.prefixed(&format!("ops[{i}].{}", r.kind())).0);
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
        if !violations.is_empty() {
            return Err(StoreError::Invalid(ValidationErrors(violations)));
        }

        let request_hash = batch_hash(changes);
        let payloads: Vec<Vec<u8>> = changes
            .iter()
            .map(|c| match c {
                Change::Upsert(r) => prospectus_proto::encode_record(r),
                Change::Delete { .. } => Vec::new(),
            })
            .collect();

        let _guard = self
            .write
            .lock()
            .map_err(|_| StoreError::Corrupt("writer lock poisoned".into()))?;
        let idem_key = idempotency_key.map(|k| [IDEM_PREFIX, k.as_bytes()].concat());
        let result = (&self.records, &self.log, &self.origins, &self.meta).transaction(
            |(records, log, origins, meta)| {
                if let Some(k) = &idem_key
                    && let Some(v) = meta.get(k)?
                {
                    let prev = IdemRecord::decode(v.as_ref()).map_err(|e| {
                        ConflictableTransactionError::Abort(Abort::Error(StoreError::Corrupt(format!("idempotency record: {e}"))))
                    })?;
                    if prev.request_hash != request_hash {
                        return abort(StoreError::IdempotencyConflict(
                            idempotency_key.unwrap_or_default().to_string(),
                        ));
                    }
                    return Err(ConflictableTransactionError::Abort(Abort::Replay(Receipt {
                        origin: self.origin.clone(),
                        epoch: prev.epoch,
                        first_seq: prev.first_seq,
                        last_seq: prev.last_seq,
                        applied: prev.applied,
                        replayed: true,
                    })));
                }

                let mut state = match origins.get(self.origin.as_bytes())? {
                    None => OriginState::default(),
                    Some(v) => OriginState::decode(v.as_ref()).map_err(|e| {
                        ConflictableTransactionError::Abort(Abort::Error(StoreError::Corrupt(format!("origin state: {e}"))))
                    })?,
                };
                if state.epoch < self.epoch {
                    state.epoch = self.epoch;
                    state.seq = 0;
                }
                let first_seq = state.seq + 1;
                let millis = now_millis();
                let mut updates = Vec::with_capacity(changes.len());
                let mut missing = Vec::new();

                for (i, (change, payload)) in changes.iter().zip(&payloads).enumerate() {
                    let (kind, id) = (change.kind(), change.id());
                    let rkey = codec::record_key(kind, id);
                    let old = match records.get(rkey)? {
                        None => None,
                        Some(v) => Some(decode_stored(kind, id, &v).map_err(|e| ConflictableTransactionError::Abort(Abort::Error(e)))?),
                    };
                    if let Some(o) = &old
                        && o.origin != self.origin
                    {
                        return abort(StoreError::Forbidden {
                            field: format!("ops[{i}].{kind}.id"),
                            reason: format!("{kind} {id} belongs to borough {}", o.origin),
                        });
                    }
                    let old_record = old.as_ref().and_then(|o| o.record.clone());
                    if let (Scope::Provider(p), Some(r)) = (scope, &old_record)
                        && r.provider_id() != *p
                    {
                        return abort(StoreError::Forbidden {
                            field: format!("ops[{i}].{kind}.id"),
                            reason: format!("{kind} {id} belongs to provider {}", r.provider_id()),
                        });
                    }
                    let new_record = match change {
                        Change::Delete { .. } => {
                            if old_record.is_none() {
                                return abort(StoreError::NotFound {
                                    field: format!("ops[{i}].delete.id"),
                                    kind,
                                    id,
                                });
                            }
                            None
                        }
                        Change::Upsert(r) => {
                            for (field, rk, rid) in references(r) {
                                let live = match records.get(codec::record_key(rk, rid))? {
                                    None => false,
                                    Some(v) => open_entry(&v)
                                        .map(|(_, e)| e.op != Op::Delete as i32)
                                        .unwrap_or(false),
                                };
                                if !live {
                                    missing.push(FieldViolation {
                                        field: format!("ops[{i}].{kind}.{field}"),
                                        description: format!("no {rk} with id {rid} (publish it first or in the same batch)"),
                                    });
                                }
                            }
                            Some(r.clone())
                        }
                    };

                    state.seq += 1;
                    let entry = Entry {
                        origin: self.origin.clone(),
                        epoch: state.epoch,
                        seq: state.seq,
                        kind: prospectus_proto::WireEnum::to_i32(kind),
                        id: id.as_bytes().to_vec(),
                        op: if new_record.is_some() { Op::Upsert } else { Op::Delete } as i32,
                        payload: payload.clone(),
                        unix_millis: millis,
                        schema: SCHEMA_VERSION,
                    };
                    let entry_bytes = entry.encode_to_vec();
                    let signed = SignedEntry {
                        signature: self.key.sign(&entry_bytes),
                        entry_bytes,
                        key_id: self.key.key_id().to_string(),
                    };
                    records.insert(&rkey, signed.encode_to_vec())?;
                    if let Some(o) = &old {
                        // Compaction: only the latest entry per record stays in the log.
                        log.remove(codec::log_key(&o.origin, o.epoch, o.seq))?;
                    }
                    log.insert(codec::log_key(&self.origin, state.epoch, state.seq), &rkey)?;
                    updates.push(Update {
                        kind,
                        id,
                        origin: self.origin.clone(),
                        seq: state.seq,
                        old: old_record,
                        new: new_record,
                    });
                }
                if !missing.is_empty() {
                    return abort(StoreError::Invalid(ValidationErrors(missing)));
                }
                state.last_unix_millis = millis;
                origins.insert(self.origin.as_bytes(), state.encode_to_vec())?;
                let receipt = Receipt {
                    origin: self.origin.clone(),
                    epoch: state.epoch,
                    first_seq,
                    last_seq: state.seq,
                    applied: changes.len() as u32,
                    replayed: false,
                };
                if let Some(k) = &idem_key {
                    let rec = IdemRecord {
                        request_hash: request_hash.clone(),
                        epoch: receipt.epoch,
                        first_seq,
                        last_seq: receipt.last_seq,
                        applied: receipt.applied,
                    };
                    meta.insert(k.as_slice(), rec.encode_to_vec())?;
                }
                Ok((receipt, updates))
            },
        );
        let (receipt, updates) = match result {
            Ok(v) => v,
            Err(TransactionError::Abort(Abort::Replay(r))) => return Ok(r),
            Err(TransactionError::Abort(Abort::Error(e))) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        // Durable before anyone hears of it: the caller acknowledges only after this returns.
        self.db.flush()?;
        drop(_guard);
        self.notify(&updates);
        Ok(receipt)
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
fn batch_hash(changes: &[Change]) -> Vec<u8> {
    let mut h = Sha256::new();
    for c in changes {
        match c {
            Change::Upsert(r) => {
                h.update([1, r.kind() as u8]);
                let p = prospectus_proto::encode_record(r);
                h.update((p.len() as u64).to_be_bytes());
                h.update(&p);
            }
            Change::Delete { kind, id } => {
                h.update([2, *kind as u8]);
                h.update(id.as_bytes());
            }
        }
    }
    h.finalize().to_vec()
}
