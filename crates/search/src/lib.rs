//! The query index over every origin's live courses (DESIGN §5).
//!
//! It is derived state, so a query never touches sled: it is rebuilt from the store at start
//! and kept current through the store's [`Observer`] hook. `updated(old, new)` only pushes the
//! change onto a channel (it can neither block nor fail the write); one background thread applies
//! changes in batches to a tantivy index held in RAM, commits, and then publishes the new
//! generation. [`Index::wait_for`] lets callers (tests) wait until a store `(epoch, seq)` is
//! visible. Every change carries its record's `(epoch, seq)`: an older one arriving after a
//! newer one is ignored, so the index never goes back in time.
//!
//! Text goes to tantivy (English stemming; edit-distance typo tolerance on an unstemmed copy),
//! as do the course-level filters (category, borough, level, delivery, attendance, day, mental
//! health, step-free, language) as term filters. Run-level filters (day with time window, start
//! dates, places, distance) and the learner's fee and eligibility are checked on the candidates
//! in memory, against a resolved [`Entry`] per course keyed by a `slot` fast field.
//!
//! Scores use frozen BM25 statistics, so a course's score depends only on the course and the
//! query, never on the rest of the directory: every sort key is stable, which is what makes
//! cursor pagination exact while the directory changes.

mod catalog;
mod engine;
mod entry;
mod query;

pub use catalog::Catalog;
pub use engine::{Facets, Hit, Page, Selection};
pub use entry::Entry;
pub use query::{Cursor, MAX_PAGE, MAX_RADIUS_KM, MAX_TEXT_BYTES, MAX_WORDS, Near, Query, Sort};

use prospectus_model::{Record, RecordKind, Uuid};
use prospectus_store::{Observer, Store, StoreError, Update};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A request field is unusable; `field` names it as the wire request does.
    #[error("{field}: {reason}")]
    BadQuery { field: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("search engine: {0}")]
    Engine(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Engine(e.to_string())
    }
}

/// One change for the background writer.
enum Msg {
    Update(Box<Update>),
}

/// Which store `(epoch, seq)` per origin the searchable generation reflects.
#[derive(Default)]
struct Progress {
    heads: Mutex<BTreeMap<String, (u64, u64)>>,
    changed: Condvar,
}

pub struct Index {
    engine: Arc<engine::Engine>,
    progress: Arc<Progress>,
    tx: Mutex<Option<Sender<Msg>>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("courses", &self.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    /// An empty index with its writer running; feed it through [`Observer::updated`].
    pub fn empty() -> Result<Arc<Index>, SearchError> {
        let (index, rx, state) = Self::parts()?;
        index.spawn_writer(rx, state)?;
        Ok(index)
    }

    fn parts() -> Result<(Arc<Index>, Receiver<Msg>, engine::State), SearchError> {
        let (engine, state) = engine::Engine::new()?;
        let (tx, rx) = channel();
        let index = Arc::new(Index {
            engine: Arc::new(engine),
            progress: Arc::new(Progress::default()),
            tx: Mutex::new(Some(tx)),
        });
        Ok((index, rx, state))
    }

    /// Builds the index from everything live in `store` and subscribes it to the store's
    /// changes. The subscription comes first, so a change committed during the scan is applied
    /// after it (re-applying a record is harmless); nothing is lost in between.
    pub fn open(store: &Store) -> Result<Arc<Index>, SearchError> {
        let (index, rx, mut state) = Self::parts()?;
        store.add_observer(index.clone());
        let started = Instant::now();
        let mut heads: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut note = |state: &mut engine::State, s: &prospectus_store::Stored| {
            let h = heads.entry(s.origin.clone()).or_default();
            *h = (*h).max((s.epoch, s.seq));
            state.advance(s.kind, s.id, (s.epoch, s.seq))
        };
        for kind in [RecordKind::Provider, RecordKind::Venue] {
            for s in store.scan(kind) {
                let s = s?;
                note(&mut state, &s);
                if let Some(r) = s.record {
                    state.put_reference(r);
                }
            }
        }
        let mut n = 0usize;
        for s in store.scan(RecordKind::Course) {
            let s = s?;
            note(&mut state, &s);
            if let Some(Record::Course(c)) = s.record {
                state.put_course(&index.engine, c, &s.origin, (s.seq, s.unix_millis))?;
                n += 1;
                if n.is_multiple_of(10_000) {
                    tracing::info!(
                        courses = n,
                        ms = started.elapsed().as_millis() as u64,
                        "search index: rebuilding"
                    );
                }
            }
        }
        state.commit(&index.engine)?;
        if let Ok(mut h) = index.progress.heads.lock() {
            *h = heads;
        }
        tracing::info!(
            courses = n,
            ms = started.elapsed().as_millis() as u64,
            "search index: rebuilt from store"
        );
        index.spawn_writer(rx, state)?;
        Ok(index)
    }

    fn spawn_writer(&self, rx: Receiver<Msg>, state: engine::State) -> Result<(), SearchError> {
        let engine = self.engine.clone();
        let progress = self.progress.clone();
        std::thread::Builder::new()
            .name("search-writer".into())
            .spawn(move || writer_loop(rx, state, engine, progress))
            .map_err(|e| SearchError::Engine(format!("cannot start the index writer: {e}")))?;
        Ok(())
    }

    /// Live courses in the searchable generation.
    pub fn len(&self) -> usize {
        self.engine.live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The highest store `(epoch, seq)` per origin that searches see.
    pub fn heads(&self) -> BTreeMap<String, (u64, u64)> {
        self.progress
            .heads
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Waits until searches reflect `origin`'s log up to `(epoch, seq)`, or `timeout` passes.
    /// Positions compare epoch first: after a recovery, seq 1 of the new epoch is newer than
    /// any seq of the old one.
    pub fn wait_for(&self, origin: &str, epoch: u64, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut heads) = self.progress.heads.lock() else {
            return false;
        };
        loop {
            if heads.get(origin).is_some_and(|h| *h >= (epoch, seq)) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.progress.changed.wait_timeout(heads, deadline - now) {
                Ok((h, _)) => heads = h,
                Err(_) => return false,
            }
        }
    }

    /// Answers `q` from the current generation.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        let checked = q.check()?;
        self.engine.search(&checked)
    }

    /// Every course matching `q` (its cursor and limit aside), in no particular order: the
    /// matches [`Index::search`] counts, for callers that order and page them themselves.
    pub fn select(&self, q: &Query) -> Result<Vec<Arc<Entry>>, SearchError> {
        let q = unpaged(q);
        let checked = q.check()?;
        self.engine.select(&checked)
    }

    /// One page of the matches of `q` (its cursor and limit aside) in an order of the caller's:
    /// `keys(id, entry, out)` pushes each matching course's sort keys (none leaves it out;
    /// one per run lists runs). Returns the number of keys and items `skip..skip + take` in
    /// key order, each with its course. O(matches) to select, O(take · log take) to order;
    /// only the page's courses are cloned.
    pub fn select_page<K: Ord>(
        &self,
        q: &Query,
        keys: impl FnMut(Uuid, &Entry, &mut Vec<K>),
        skip: usize,
        take: usize,
    ) -> Result<Selection<K>, SearchError> {
        let q = unpaged(q);
        let checked = q.check()?;
        self.engine.select_page(&checked, keys, skip, take)
    }

    /// The live directory as ordered lists (read-locked while the guard lives: copy out and
    /// drop it).
    pub fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        match self.engine.catalog.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// `q` without its cursor, with a valid limit: the whole selection is wanted.
fn unpaged(q: &Query) -> Query {
    let mut q = q.clone();
    q.after = None;
    q.limit = q.limit.clamp(1, MAX_PAGE);
    q
}

impl Drop for Index {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// Applies queued changes in batches: one tantivy commit and one new generation per batch.
fn writer_loop(
    rx: Receiver<Msg>,
    mut state: engine::State,
    engine: Arc<engine::Engine>,
    progress: Arc<Progress>,
) {
    const MAX_BATCH: usize = 10_000;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut heads: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut failed = false;
        for Msg::Update(u) in batch {
            let h = heads.entry(u.origin.clone()).or_default();
            *h = (*h).max((u.epoch, u.seq));
            if let Err(e) = state.apply(&engine, *u) {
                tracing::error!(error = %e, "search index: cannot apply a change");
                failed = true;
            }
        }
        if let Err(e) = state.commit(&engine) {
            tracing::error!(error = %e, "search index: commit failed");
            failed = true;
        }
        if failed {
            continue;
        }
        if let Ok(mut h) = progress.heads.lock() {
            for (o, s) in heads {
                let e = h.entry(o).or_default();
                *e = (*e).max(s);
            }
        }
        progress.changed.notify_all();
    }
}

impl Observer for Index {
    /// Queues the change; never blocks on the index and never fails the write.
    fn updated(&self, u: &Update) {
        if let Ok(tx) = self.tx.lock()
            && let Some(tx) = tx.as_ref()
            && tx.send(Msg::Update(Box::new(u.clone()))).is_err()
        {
            tracing::error!("search index: writer has stopped; results will be stale");
        }
    }
}
