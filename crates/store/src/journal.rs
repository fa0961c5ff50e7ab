//! Large publish batches, all or nothing without one huge transaction.
//!
//! A sled 0.34 transaction keeps every node version it replaces allocated until it ends
//! (≈24 kB per entry written: a 100k-record batch peaked at ≈2.45 GB), so a batch of more than
//! [`crate::PUBLISH_CHUNK`] ops, already checked whole (`Store::publish`), is written in three
//! stages, all under the writer lock so that no other write interleaves:
//! 1. **journal**: its signed entries, signed a chunk at a time, are appended to the journal
//!    file ([`FILE`] in the data dir: length-prefixed `SignedEntry` bytes; no tree changes),
//!    which is then synced with its directory;
//! 2. **commit**: one small write of the commit marker (`meta` `journal/commit`: the batch's
//!    [`BatchHead`] with the file's length and SHA-256), flushed: the batch is committed;
//! 3. **roll-forward**: chunk by chunk, one transaction each, the journaled entries are
//!    written into the trees through the same step as every write (`Tx::put_entry`); the
//!    origin's head, moved in the same transaction, says how far it got. The last chunk also
//!    signs the batch's checkpoint, keeps its idempotency receipt and drops the marker; then
//!    one flush, and the file is removed. Observers hear of each chunk after its transaction
//!    (the batch is durable since stage 2: a crash re-applies the same entries in the same
//!    order, to the same feed positions).
//!
//! At open (and before any publish) [`Store::settle_journal`] finishes what a crash left: a
//! marker means check the file against it and roll forward what the log does not hold yet; a
//! file without a marker is a batch that never committed, and is removed. So a reopened store
//! holds every op or none. A file is used rather than a sled tree: staging in sled would write
//! (and remove) every entry twice more and grow sled's own memory with it.

use crate::codec::{BatchHead, META_JOURNAL_COMMIT};
use crate::{Change, Store, StoreError, entry_record, open_entry, sync_parent};
use prost::Message;
use sha2::{Digest, Sha256};
use std::io::{BufReader, BufWriter, Read, Write};

/// The journal file's name in the data dir.
pub(crate) const FILE: &str = "publish.journal";

/// No staged entry is larger (a corrupt length is refused, not allocated).
const MAX_FRAME: usize = 16 << 20;

fn io(e: std::io::Error) -> StoreError {
    StoreError::Journal(e)
}

impl Store {
    /// Stages, commits and rolls forward `changes` (checked whole already) as `batch`; durable
    /// when this returns. Called under the writer lock. The records are dropped as they are
    /// staged (a chunk at a time), so the roll-forward decodes them again from the entries:
    /// the batch's decoded records and its sled writes are never all held at once.
    pub(crate) fn publish_journaled(
        &self,
        batch: &BatchHead,
        changes: Vec<Change>,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let ops = changes.len();
        let committed = match self.stage(batch, changes) {
            Ok(c) => c,
            Err(e) => {
                // Nothing was committed unless the marker got in: else the file goes.
                if self.meta.get(META_JOURNAL_COMMIT).ok().flatten().is_none() {
                    let _ = std::fs::remove_file(&self.journal);
                }
                return Err(e);
            }
        };
        let staged = started.elapsed();
        self.roll_forward(&committed)?;
        tracing::info!(
            origin = %self.origin,
            ops,
            staged_ms = staged.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "large batch written through the journal"
        );
        Ok(())
    }

    /// Stages 1 and 2: the signed entries into the journal file, then the commit marker.
    /// Returns the marker as written.
    fn stage(&self, batch: &BatchHead, changes: Vec<Change>) -> Result<BatchHead, StoreError> {
        let chunk = self.publish_chunk.max(1);
        let file = std::fs::File::create(&self.journal).map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        let mut seq = batch.first_seq;
        let mut rest = changes.into_iter();
        loop {
            let part: Vec<Change> = rest.by_ref().take(chunk).collect();
            if part.is_empty() {
                break;
            }
            let signed = self.sign_entries(batch, seq, &part);
            drop(part);
            for e in &signed {
                let len = u32::try_from(e.len())
                    .ok()
                    .filter(|&n| n as usize <= MAX_FRAME)
                    .ok_or_else(|| StoreError::Corrupt(format!("entry at seq {seq} too large")))?
                    .to_be_bytes();
                for piece in [&len[..], e.as_slice()] {
                    out.write_all(piece).map_err(io)?;
                    hash.update(piece);
                }
                bytes += 4 + e.len() as u64;
                seq += 1;
            }
            #[cfg(test)]
            {
                out.flush().map_err(io)?;
                tests::reached(&format!(
                    "journal:{}",
                    (seq - batch.first_seq).div_ceil(chunk as u64)
                ));
            }
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        sync_parent(&self.journal).map_err(io)?;
        let marker = BatchHead {
            journal_bytes: bytes,
            journal_sha256: hash.finalize().to_vec(),
            ..batch.clone()
        };
        self.meta
            .insert(META_JOURNAL_COMMIT, marker.encode_to_vec())?;
        self.db.flush()?;
        #[cfg(test)]
        tests::reached("committed");
        Ok(marker)
    }

    /// Stage 3 from wherever the origin's log stands: one transaction per chunk, whose updates
    /// (each upsert's record decoded from its entry) then go to the observers; then the flush
    /// and the file's removal.
    fn roll_forward(&self, batch: &BatchHead) -> Result<(), StoreError> {
        let state = self.origin_state(&self.origin)?;
        // The last seq of the batch already in the log (the chunks roll-forward committed).
        let done = match state.epoch.cmp(&batch.epoch) {
            std::cmp::Ordering::Less => batch.first_seq - 1,
            std::cmp::Ordering::Equal if state.seq < batch.last_seq => {
                state.seq.max(batch.first_seq - 1)
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "journal: the log is at ({}, {}), past the committed batch it still names",
                    state.epoch, state.seq
                )));
            }
        };
        let file = std::fs::File::open(&self.journal).map_err(io)?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut seq = batch.first_seq;
        while seq <= done {
            read_frame(&mut input)?;
            seq += 1;
        }
        let chunk = self.publish_chunk.max(1);
        for _n in 1.. {
            let mut signed = Vec::with_capacity(chunk.min(batch_len(batch)));
            while signed.len() < chunk && seq <= batch.last_seq {
                signed.push(read_frame(&mut input)?);
                seq += 1;
            }
            let last = seq > batch.last_seq;
            let mut updates = self.write_own(batch, &signed, true, last)?;
            for (u, bytes) in updates.iter_mut().zip(&signed) {
                u.new = open_entry(bytes).ok().and_then(|(_, e)| entry_record(&e));
            }
            drop(signed);
            self.notify(&updates);
            #[cfg(test)]
            tests::reached(&format!("rolled:{_n}"));
            if last {
                break;
            }
        }
        // Acknowledged only once all of it is on disk; the marker is gone with it.
        self.db.flush()?;
        std::fs::remove_file(&self.journal).map_err(io)?;
        Ok(())
    }

    /// Finishes what an interrupted journaled publish left: rolls a committed batch forward
    /// (observers hear of it like any write) once its file matches the marker, removes an
    /// uncommitted journal file. Called at open and under the writer lock before each publish.
    pub(crate) fn settle_journal(&self) -> Result<(), StoreError> {
        if let Some(v) = self.meta.get(META_JOURNAL_COMMIT)? {
            let batch = BatchHead::decode(v.as_ref())
                .ok()
                .filter(|b| b.first_seq >= 1 && b.first_seq <= b.last_seq)
                .ok_or_else(|| StoreError::Corrupt("journal commit marker".into()))?;
            tracing::warn!(
                origin = %self.origin,
                epoch = batch.epoch,
                first_seq = batch.first_seq,
                last_seq = batch.last_seq,
                "rolling forward a committed publish batch that was interrupted"
            );
            self.check_file(&batch)?;
            self.roll_forward(&batch)?;
        } else if self.journal.exists() {
            tracing::warn!(
                origin = %self.origin,
                "removing the journal of a publish batch that never committed"
            );
            std::fs::remove_file(&self.journal).map_err(io)?;
        }
        Ok(())
    }

    /// The journal file is the one the marker committed: its length and SHA-256.
    fn check_file(&self, batch: &BatchHead) -> Result<(), StoreError> {
        let mut input = std::fs::File::open(&self.journal).map_err(io)?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = input.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
        }
        if bytes != batch.journal_bytes || hash.finalize().as_slice() != batch.journal_sha256 {
            return Err(StoreError::Corrupt(
                "journal: the file does not match its commit marker".into(),
            ));
        }
        Ok(())
    }
}

/// One length-prefixed entry of the journal file.
fn read_frame(input: &mut impl Read) -> Result<Vec<u8>, StoreError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(StoreError::Corrupt("journal: an entry's length".into()));
    }
    let mut out = vec![0u8; len];
    input.read_exact(&mut out).map_err(io)?;
    Ok(out)
}

fn batch_len(batch: &BatchHead) -> usize {
    usize::try_from((batch.last_seq + 1).saturating_sub(batch.first_seq)).unwrap_or(usize::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    //! All or nothing across real crashes: a child process (this test binary again, running
    //! [`crash_child`]) publishes a journaled batch into a real sled store on disk and aborts
    //! itself at a chosen stage; the parent then reopens the store and compares every tree
    //! with the same batch committed as one transaction.

    use super::*;
    use crate::codec;
    use crate::{NodeKey, Observer, Receipt, Scope, Update};
    use chrono::NaiveDate;
    use prospectus_model::{Accessibility, Provider, Record, RecordKind, Uuid, Venue};
    use std::cell::Cell;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    const ORIGIN: &str = "E09000028";
    /// The chunk the tests journal with: the big batch takes several chunks.
    const CHUNK: usize = 16;
    /// The signed time of every test batch, so that two stores sign identical bytes.
    const MILLIS: i64 = 1_780_000_000_000;
    const CRASH_AT: &str = "PROSPECTUS_TEST_CRASH_AT";
    const CRASH_DIR: &str = "PROSPECTUS_TEST_CRASH_DIR";

    /// Every tree's keys and values, by tree name.
    type Dump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

    thread_local! {
        static FIXED: Cell<Option<i64>> = const { Cell::new(None) };
    }

    /// The clock `now_millis` answers with on this thread, if a test fixed it.
    pub(crate) fn fixed_millis() -> Option<i64> {
        FIXED.with(|f| f.get())
    }

    /// A stage of a journaled publish: in the crash child, the one named by its environment
    /// ends the process there and then (no destructor, no flush).
    pub(crate) fn reached(stage: &str) {
        if std::env::var(CRASH_AT).is_ok_and(|s| s == stage) {
            std::process::abort();
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

    fn venue(n: u128, provider: u128) -> Record {
        Record::Venue(Venue {
            id: Uuid::from_u128(n),
            provider_id: Uuid::from_u128(provider),
            name: format!("Venue {n}"),
            address: None,
            location: None,
            accessibility: Accessibility::default(),
            virtual_url: Some("https://example.org/room".into()),
        })
    }

    /// Twelve providers (one transaction with any chunk).
    fn seed() -> Vec<Change> {
        (1..=12)
            .map(|n| Change::Upsert(provider(n, &format!("Provider {n}"))))
            .collect()
    }

    /// 103 ops over 7 chunks of [`CHUNK`]: three deletes and five replacements of seeded
    /// records, 90 new providers and five venues naming providers of the same batch.
    fn big() -> Vec<Change> {
        let mut out: Vec<Change> = (1..=3)
            .map(|n| Change::Delete {
                kind: RecordKind::Provider,
                id: Uuid::from_u128(n),
            })
            .collect();
        out.extend((4..=8).map(|n| Change::Upsert(provider(n, &format!("Renamed {n}")))));
        out.extend((100..190).map(|n| Change::Upsert(provider(n, &format!("New {n}")))));
        out.extend((0..5).map(|i| Change::Upsert(venue(1000 + i, 100 + i))));
        out
    }

    /// A store in `dir` whose key is `dir/key`, publishing in chunks of `chunk`, on this
    /// thread's fixed clock.
    /// The store in `dir`. A store just dropped (by this test, or by the parent of a crash
    /// child) lets go of sled's file lock only when sled's background threads have ended,
    /// which a loaded machine delays: the lock is waited for (polled, with a deadline).
    fn open(dir: &Path, chunk: usize) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match try_open(dir, chunk) {
                Ok(s) => return s,
                Err(StoreError::Sled(sled::Error::Io(e)))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("open: {e}"),
            }
        }
    }

    fn try_open(dir: &Path, chunk: usize) -> Result<Store, StoreError> {
        FIXED.with(|f| f.set(Some(MILLIS)));
        let (key, _) = NodeKey::load_or_create(&dir.join("key")).expect("key");
        let mut store = Store::open(dir, ORIGIN, key)?;
        store.publish_chunk = chunk;
        Ok(store)
    }

    /// Two data dirs holding one key: the same batch signs to the same bytes in both.
    fn twin_dirs() -> (tempfile::TempDir, tempfile::TempDir) {
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        NodeKey::load_or_create(&a.path().join("key")).expect("key");
        std::fs::copy(a.path().join("key"), b.path().join("key")).expect("copy key");
        (a, b)
    }

    /// Every tree's content (the store's random instance id aside), and whether a journal file
    /// is left (as `journal file`).
    fn dump(store: &Store) -> Dump {
        let trees = [
            ("records", &store.records),
            ("log", &store.log),
            ("origins", &store.origins),
            ("meta", &store.meta),
            ("changes", &store.changes),
            ("change_of", &store.change_of),
            ("forks", &store.forks),
        ];
        let mut out: Dump = trees
            .into_iter()
            .map(|(name, tree)| {
                let kv = tree
                    .iter()
                    .map(|kv| kv.expect("read"))
                    .filter(|(k, _)| k.as_ref() != codec::META_INSTANCE)
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                (name.to_string(), kv)
            })
            .collect();
        let file = store
            .journal
            .exists()
            .then(|| (b"present".to_vec(), Vec::new()));
        out.insert("journal file".into(), file.into_iter().collect());
        out
    }

    /// The reference: seed and big batch each committed as one transaction.
    fn one_transaction(dir: &Path, key: Option<&str>) -> (Dump, Receipt) {
        let store = open(dir, usize::MAX);
        store.publish(&Scope::Admin, None, seed()).expect("seed");
        let r = store.publish(&Scope::Admin, key, big()).expect("big batch");
        (dump(&store), r)
    }

    /// Runs [`crash_child`] on `dir` with a crash at `stage`; it must die there.
    fn crash_at(dir: &Path, stage: &str, key: Option<&str>) {
        let exe = std::env::current_exe().expect("test binary");
        let status = std::process::Command::new(exe)
            .args([
                "--exact",
                "journal::tests::crash_child",
                "--ignored",
                "--test-threads=1",
                "--quiet",
            ])
            .env(CRASH_AT, stage)
            .env(CRASH_DIR, dir)
            .env("PROSPECTUS_TEST_CRASH_KEY", key.unwrap_or(""))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run the crash child");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(6),
            "the child was to abort itself at {stage}: {status}"
        );
    }

    /// Compares two dumps tree by tree, naming the first tree that differs.
    fn assert_same(got: &Dump, want: &Dump, when: &str) {
        for (name, want_kv) in want {
            let got_kv = &got[name];
            if got_kv != want_kv {
                let at = got_kv.iter().zip(want_kv).position(|(g, w)| g != w);
                panic!(
                    "{when}: tree {name} differs: {} entries, expected {}; first difference at {at:?}",
                    got_kv.len(),
                    want_kv.len()
                );
            }
        }
        assert_eq!(got.len(), want.len(), "{when}: trees");
    }

    /// Not a test on its own: the process [`crash_at`] starts, which publishes the big batch
    /// into an existing store and is aborted by [`reached`] at the stage it is given.
    #[test]
    #[ignore = "run by the crash tests in a child process"]
    fn crash_child() {
        let Ok(dir) = std::env::var(CRASH_DIR) else {
            return;
        };
        let key = std::env::var("PROSPECTUS_TEST_CRASH_KEY").unwrap_or_default();
        let store = open(Path::new(&dir), CHUNK);
        let key = (!key.is_empty()).then_some(key.as_str());
        store.publish(&Scope::Admin, key, big()).expect("big batch");
    }

    /// A seeded store in `dir` (chunks of [`CHUNK`]), its dump before the big batch.
    fn seeded(dir: &Path) -> Dump {
        let store = open(dir, CHUNK);
        store.publish(&Scope::Admin, None, seed()).expect("seed");
        dump(&store)
    }

    #[test]
    fn a_big_batch_rolled_forward_equals_one_transaction() {
        let (a, b) = twin_dirs();
        let (expected, r1) = one_transaction(a.path(), Some("import-1"));
        let store = open(b.path(), CHUNK);
        store.publish(&Scope::Admin, None, seed()).expect("seed");
        let heard = Arc::new(Heard::default());
        store.add_observer(heard.clone());
        let r2 = store
            .publish(&Scope::Admin, Some("import-1"), big())
            .expect("big batch");
        assert_eq!(r1, r2);
        assert_eq!((r2.first_seq, r2.last_seq, r2.applied), (13, 115, 103));
        let got = dump(&store);
        assert!(got["journal file"].is_empty(), "no journal file is left");
        assert!(
            !got["meta"]
                .iter()
                .any(|(k, _)| k.as_slice() == META_JOURNAL_COMMIT),
            "no commit marker is left"
        );
        // Records, log (compacted), digest, checkpoint (same signed bytes), feed, receipt.
        assert_same(&got, &expected, "rolled forward");
        // Observers heard every op once, in commit order, each upsert with its record.
        let heard = heard.0.lock().expect("heard");
        let want: Vec<(u64, Uuid, bool)> = big()
            .iter()
            .zip(13..)
            .map(|(c, seq)| (seq, c.id(), matches!(c, Change::Upsert(_))))
            .collect();
        assert_eq!(*heard, want);
    }

    /// What an observer heard: (seq, id, whether it carried the new record).
    #[derive(Default)]
    struct Heard(Mutex<Vec<(u64, Uuid, bool)>>);

    impl Observer for Heard {
        fn updated(&self, u: &Update) {
            if let Ok(mut v) = self.0.lock() {
                v.push((u.seq, u.id, u.new.is_some()));
            }
        }
    }

    #[test]
    fn a_crash_while_journaling_leaves_nothing() {
        for stage in ["journal:1", "journal:4", "journal:7"] {
            let dir = tempfile::tempdir().expect("dir");
            let before = seeded(dir.path());
            crash_at(dir.path(), stage, None);
            let store = open(dir.path(), CHUNK);
            assert_same(&dump(&store), &before, &format!("after a crash at {stage}"));
            // The same batch then commits as if the first try never happened.
            let r = store.publish(&Scope::Admin, None, big()).expect("retry");
            assert_eq!((r.first_seq, r.last_seq), (13, 115));
        }
    }

    #[test]
    fn a_crash_after_the_commit_marker_rolls_forward_at_open() {
        let (a, b) = twin_dirs();
        let (expected, _) = one_transaction(a.path(), None);
        seeded(b.path());
        crash_at(b.path(), "committed", None);
        let store = open(b.path(), CHUNK);
        assert_same(&dump(&store), &expected, "after a crash at the marker");
    }

    #[test]
    fn a_committed_journal_that_does_not_match_its_marker_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        seeded(dir.path());
        crash_at(dir.path(), "committed", None);
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).expect("journal file");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        FIXED.with(|f| f.set(Some(MILLIS)));
        let (key, _) = NodeKey::load_or_create(&dir.path().join("key")).expect("key");
        let err = Store::open(dir.path(), ORIGIN, key).expect_err("refused");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn a_crash_mid_roll_forward_finishes_at_open() {
        // The seventh chunk is the last: a crash after its transaction, before the flush.
        for stage in ["rolled:1", "rolled:4", "rolled:7"] {
            let (a, b) = twin_dirs();
            let (expected, receipt) = one_transaction(a.path(), Some("import-2"));
            seeded(b.path());
            crash_at(b.path(), stage, Some("import-2"));
            let store = open(b.path(), CHUNK);
            assert_same(
                &dump(&store),
                &expected,
                &format!("after a crash at {stage}"),
            );
            // The client's retry gets the receipt of the batch the crash interrupted.
            let again = store
                .publish(&Scope::Admin, Some("import-2"), big())
                .expect("retry");
            assert_eq!(
                again,
                Receipt {
                    replayed: true,
                    ..receipt.clone()
                }
            );
            assert_same(&dump(&store), &expected, "a replay writes nothing");
        }
    }

    #[test]
    fn the_crash_child_passes_no_stage_past_the_last_chunk() {
        // Guards the stage names the crash tests use: seven chunks each way, no eighth.
        for stage in ["journal:8", "rolled:8"] {
            let dir = tempfile::tempdir().expect("dir");
            seeded(dir.path());
            let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "journal::tests::crash_child",
                    "--ignored",
                    "--quiet",
                ])
                .env(CRASH_AT, stage)
                .env(CRASH_DIR, dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("run the crash child");
            assert!(status.success(), "{stage} is never reached: {status}");
        }
    }

    #[test]
    fn a_big_batch_with_one_bad_op_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let before = seeded(dir.path());
        let store = open(dir.path(), CHUNK);
        // The last op names a provider neither held nor earlier in the batch.
        let mut batch = big();
        batch.push(Change::Upsert(venue(2000, 999)));
        let err = store
            .publish(&Scope::Admin, Some("bad"), batch)
            .expect_err("refused");
        assert!(
            matches!(&err, StoreError::Invalid(v) if v.0.len() == 1 && v.0[0].field == "ops[103].venue.provider_id"),
            "{err:?}"
        );
        // A delete of a record that is not live, late in the batch.
        let mut batch = big();
        batch.push(Change::Delete {
            kind: RecordKind::Provider,
            id: Uuid::from_u128(777),
        });
        let err = store
            .publish(&Scope::Admin, None, batch)
            .expect_err("refused");
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        // A provider token writing another provider's record, in the last chunk.
        let mut batch: Vec<Change> = (300..400).map(|n| Change::Upsert(venue(n, 5))).collect();
        batch.push(Change::Upsert(provider(6, "Taken over")));
        let err = store
            .publish(&Scope::Provider(Uuid::from_u128(5)), None, batch)
            .expect_err("refused");
        assert!(matches!(err, StoreError::Forbidden { .. }), "{err:?}");
        assert_same(&dump(&store), &before, "a refused batch writes nothing");
        // The idempotency key of the refused batch is still free.
        let r = store
            .publish(&Scope::Admin, Some("bad"), big())
            .expect("good batch");
        assert!(!r.replayed);
    }

    #[test]
    fn entries_signed_on_several_threads_keep_op_order() {
        // 700 ops: one transaction, signed in two or more parts on a machine with 2+ cores.
        let dir = tempfile::tempdir().expect("dir");
        let store = open(dir.path(), crate::PUBLISH_CHUNK);
        let batch: Vec<Change> = (1..=700)
            .map(|n| Change::Upsert(provider(n, &format!("P{n}"))))
            .collect();
        let r = store.publish(&Scope::Admin, None, batch).expect("publish");
        for (n, seq) in (1..=700u128).zip(r.first_seq..) {
            let bytes = store
                .records
                .get(codec::record_key(RecordKind::Provider, Uuid::from_u128(n)))
                .expect("read")
                .expect("stored");
            let (signed, entry) = open_entry(&bytes).expect("entry");
            assert_eq!(entry.seq, seq, "provider {n}");
            assert!(crate::keys::verify(
                &store.key().public(),
                &signed.entry_bytes,
                &signed.signature
            ));
        }
    }

    #[test]
    fn a_big_batch_replays_by_its_idempotency_key() {
        let dir = tempfile::tempdir().expect("dir");
        seeded(dir.path());
        let store = open(dir.path(), CHUNK);
        let first = store
            .publish(&Scope::Admin, Some("import-3"), big())
            .expect("big batch");
        let after = dump(&store);
        let again = store
            .publish(&Scope::Admin, Some("import-3"), big())
            .expect("replay");
        assert_eq!(
            again,
            Receipt {
                replayed: true,
                ..first
            }
        );
        assert_same(&dump(&store), &after, "a replay writes nothing");
        let mut other = big();
        other.pop();
        let err = store
            .publish(&Scope::Admin, Some("import-3"), other)
            .expect_err("other content");
        assert!(matches!(err, StoreError::IdempotencyConflict(_)), "{err:?}");
        assert_same(&dump(&store), &after, "a conflicting key writes nothing");
    }
}
