//! Backups of a running node and restores into a new data dir. A backup is every tree of the
//! store read under the writer lock (no publish, replicated apply, snapshot or purge is half
//! in it), in one self-checking file: a header naming the origin, each tree's entries, and a
//! SHA-256 of all of it. A restore writes a new store from it, offline, into an empty dir, all
//! or nothing (checked whole first, written beside the dir, renamed into place).
//!
//! Tokens: a restore **suspends every provider token** and drops admin tokens (the node makes
//! a new admin token at its first start). A token revoked after the backup was taken is thus
//! refused after the restore until the admin re-enables it (`Store::enable_token`): the copy
//! cannot know what was revoked since, so none is trusted until the admin says so.
//!
//! The restored node's own origin may be behind what peers hold (publishes after the backup):
//! the node's join gate takes those entries back from peers before it publishes again.

use crate::codec::{OriginState, TokenRecord};
use crate::{Store, StoreError};
use prost::Message;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"prospectus-backup/v1\n";

/// Every tree a backup carries (all of the store's state).
const TREES: [&str; 8] = [
    "meta",
    "records",
    "log",
    "origins",
    "auth",
    "changes",
    "change_of",
    "forks",
];

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub origin: String,
    /// The node's own origin in the copy: `(epoch, seq)`.
    pub own: (u64, u64),
    /// The copy is consistent for its own origin: the live set in its `records` has the
    /// digest and count its `origins` state holds, and that state matches its own signed
    /// checkpoint at that position.
    pub own_checkpoint_verified: bool,
    pub records: u64,
    /// `(token id, label)` of each provider token the restore suspended.
    pub suspended_tokens: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a prospectus backup (bad header)")]
    NotABackup,
    #[error("backup is damaged: {0}")]
    Damaged(&'static str),
    #[error("data dir {0} is not empty: restore only into a new or empty directory")]
    NotEmpty(String),
    #[error("data dir {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for BackupError {
    fn from(e: sled::Error) -> Self {
        BackupError::Store(e.into())
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

impl Store {
    /// A consistent copy of the whole store (see the module comment for the format).
    pub fn backup(&self) -> Result<Vec<u8>, StoreError> {
        let mut out = MAGIC.to_vec();
        put_bytes(&mut out, self.origin.as_bytes());
        let guard = self.lock()?;
        for name in TREES {
            let tree = self.db.open_tree(name)?;
            put_bytes(&mut out, name.as_bytes());
            out.extend_from_slice(&(tree.len() as u64).to_be_bytes());
            for item in tree.iter() {
                let (k, v) = item?;
                put_bytes(&mut out, &k);
                put_bytes(&mut out, &v);
            }
        }
        drop(guard);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        Ok(out)
    }
}

/// Reads a length-prefixed field, bounded by what is left.
fn take<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], BackupError> {
    let n = take_u64(buf)?;
    let n = usize::try_from(n).map_err(|_| BackupError::Damaged("length"))?;
    if buf.len() < n {
        return Err(BackupError::Damaged("truncated field"));
    }
    let (b, rest) = buf.split_at(n);
    *buf = rest;
    Ok(b)
}

fn take_u64(buf: &mut &[u8]) -> Result<u64, BackupError> {
    if buf.len() < 8 {
        return Err(BackupError::Damaged("truncated length"));
    }
    let (b, rest) = buf.split_at(8);
    *buf = rest;
    Ok(u64::from_be_bytes(
        b.try_into().map_err(|_| BackupError::Damaged("length"))?,
    ))
}

/// Writes the store in `backup` into `dir`, which must not exist or be empty. Provider tokens
/// are suspended and admin tokens dropped (see the module comment). Nothing else is changed:
/// the node's join gate catches its own origin up from peers at its first start.
///
/// All or nothing: the whole file is parsed and checked in memory first, the store is written
/// into a fresh sibling dir (`.NAME.restoring-…` beside `dir`), flushed and synced, and only
/// then renamed onto `dir` in one step; on any error the sibling is removed and `dir` is left
/// as it was, so a re-run with a good file succeeds and no node can start on a half store.
///
/// No `restoring-lost-disk` marker is written, on purpose: a restored dir is not fresh (its
/// `meta` names the origin), so the node's join gate stays closed at its start (unless the key
/// was created at that start, which no roster accepts) until some peer holds at least the
/// copy's position and the newer own entries are taken back; it then continues in the same
/// epoch after the highest position a peer holds (ARCHITECTURE.md, the joining rule). The
/// marker is for a dir that started empty, which must move to `epoch + 1`.
pub fn restore_backup(backup: &[u8], dir: &Path) -> Result<Restored, BackupError> {
    let parsed = parse(backup)?;
    let dir_err = |source| BackupError::Dir {
        path: dir.display().to_string(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(dir.display().to_string()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(dir_err(e)),
    }
    let tmp = unique_sibling(dir, "restoring").map_err(dir_err)?;
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent).map_err(dir_err)?;
    }
    std::fs::create_dir(&tmp).map_err(dir_err)?;
    let written = write_restored(parsed, &tmp).and_then(|report| {
        // Replaces `dir` only if it is absent or still empty (rename(2) refuses a non-empty one).
        std::fs::rename(&tmp, dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => {
                BackupError::NotEmpty(dir.display().to_string())
            }
            _ => dir_err(e),
        })?;
        Ok(report)
    });
    match written {
        Ok(report) => {
            sync_parent(dir).map_err(dir_err)?;
            Ok(report)
        }
        Err(e) => {
            if let Err(rm) = std::fs::remove_dir_all(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %rm, "cannot remove a failed restore's temp dir");
            }
            Err(e)
        }
    }
}

/// A backup file checked whole: each tree's entries as they will be written.
struct Parsed {
    report: Restored,
    trees: Vec<(&'static str, sled::Batch)>,
}

/// Parses and checks the whole file before anything is written.
fn parse(backup: &[u8]) -> Result<Parsed, BackupError> {
    if backup.len() < MAGIC.len() + 32 || !backup.starts_with(MAGIC) {
        return Err(BackupError::NotABackup);
    }
    let (body, sum) = backup.split_at(backup.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(BackupError::Damaged("checksum does not match"));
    }
    let mut buf = &body[MAGIC.len()..];
    let origin =
        String::from_utf8(take(&mut buf)?.to_vec()).map_err(|_| BackupError::Damaged("origin"))?;
    let mut report = Restored {
        origin: origin.clone(),
        own: (0, 0),
        own_checkpoint_verified: false,
        records: 0,
        suspended_tokens: Vec::new(),
    };
    let mut trees = Vec::with_capacity(TREES.len());
    for _ in TREES {
        let name =
            std::str::from_utf8(take(&mut buf)?).map_err(|_| BackupError::Damaged("tree"))?;
        let Some(&name) = TREES.iter().find(|t| **t == name) else {
            return Err(BackupError::Damaged("unknown tree"));
        };
        if trees.iter().any(|(t, _)| *t == name) {
            return Err(BackupError::Damaged("tree twice"));
        }
        let n = take_u64(&mut buf)?;
        let mut batch = sled::Batch::default();
        for _ in 0..n {
            let k = take(&mut buf)?;
            let v = take(&mut buf)?;
            match name {
                "auth" => {
                    let mut rec =
                        TokenRecord::decode(v).map_err(|_| BackupError::Damaged("token record"))?;
                    if rec.admin {
                        continue;
                    }
                    rec.suspended = true;
                    report
                        .suspended_tokens
                        .push((rec.token_id.clone(), rec.label.clone()));
                    batch.insert(k, rec.encode_to_vec());
                    continue;
                }
                "records" => report.records += 1,
                "origins" if k == origin.as_bytes() => {
                    let st =
                        OriginState::decode(v).map_err(|_| BackupError::Damaged("origin state"))?;
                    report.own = (st.epoch, st.seq);
                    report.own_checkpoint_verified = own_checkpoint_matches(&st);
                }
                _ => {}
            }
            batch.insert(k, v);
        }
        trees.push((name, batch));
    }
    if !buf.is_empty() {
        return Err(BackupError::Damaged("trailing bytes"));
    }
    Ok(Parsed { report, trees })
}

/// Writes a parsed backup into the new dir `tmp` and syncs it.
fn write_restored(parsed: Parsed, tmp: &Path) -> Result<Restored, BackupError> {
    let Parsed { mut report, trees } = parsed;
    let dir_err = |source| BackupError::Dir {
        path: tmp.display().to_string(),
        source,
    };
    let db = sled::Config::new().path(tmp.join("db")).open()?;
    for (name, batch) in trees {
        db.open_tree(name)?.apply_batch(batch)?;
    }
    report.own_checkpoint_verified &= records_match(&db, &report.origin)?;
    db.flush()?;
    drop(db);
    let borough = tmp.join("borough");
    std::fs::write(&borough, format!("{}\n", report.origin)).map_err(dir_err)?;
    std::fs::File::open(&borough)
        .and_then(|f| f.sync_all())
        .map_err(dir_err)?;
    sync_dir(&tmp.join("db")).map_err(dir_err)?;
    sync_dir(tmp).map_err(dir_err)?;
    Ok(report)
}

/// A name beside `path` (same directory, so a rename is atomic) that no other file can have:
/// `.NAME.TAG-PID-RANDOM`. Never `path` itself, whatever `path` is called.
pub fn unique_sibling(path: &Path, tag: &str) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path names no file")
    })?;
    let random: u64 = rand::random();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{tag}-{}-{random:016x}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

/// Makes a rename or create inside `path`'s directory durable.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The restored `records` hold exactly the live set the restored `origins` state describes
/// for `origin` (digest and count): no write was half in the copy.
fn records_match(db: &sled::Db, origin: &str) -> Result<bool, BackupError> {
    let Some(v) = db.open_tree("origins")?.get(origin.as_bytes())? else {
        return Ok(false);
    };
    let st = OriginState::decode(v.as_ref()).map_err(|_| BackupError::Damaged("origin state"))?;
    let mut digest = crate::SetDigest::default();
    let mut live = 0u64;
    for item in db.open_tree("records")?.iter() {
        let (k, v) = item?;
        let (Some(&kind), Some(Ok(id))) = (
            k.first(),
            k.get(1..).map(prospectus_model::Uuid::from_slice),
        ) else {
            return Err(BackupError::Damaged("record key"));
        };
        let (signed, entry) = crate::open_entry(&v)?;
        if entry.origin == origin && entry.op != prospectus_proto::v1::Op::Delete as i32 {
            digest.add(crate::digest::record_hash(kind, id, &signed.entry_bytes));
            live += 1;
        }
    }
    Ok(digest.to_bytes() == st.digest && live == st.live_count)
}

/// The copy's own origin matches its own signed checkpoint (position, digest and count).
fn own_checkpoint_matches(st: &OriginState) -> bool {
    let mut st = st.clone();
    crate::write::Tx::check_checkpoint(&mut st) == Some(true)
}
