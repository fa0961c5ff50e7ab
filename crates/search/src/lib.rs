//! The query index over every origin's live courses (DESIGN §5).
//!
//! It is derived state, so a query never touches sled: it reflects the store and is kept
//! current through the store's [`Observer`] hook. `updated(old, new)` only pushes the change
//! onto a channel (it can neither block nor fail the write); one background thread applies
//! changes in batches to a tantivy index, commits, and then publishes the new generation.
//! [`Index::wait_for`] lets callers (tests) wait until a store `(epoch, seq)` is visible. Every
//! change carries its record's `(epoch, seq)`: an older one arriving after a newer one is
//! ignored, so the index never goes back in time.
//!
//! A node keeps the tantivy index on disk ([`Index::open_in`], memory-mapped): each commit
//! records the store's change-feed position it reflects, and at start the index is reopened
//! and caught up from the feed, or rebuilt when anything about it cannot be proven to match
//! the store (`open.rs`). The resolved course table is built from the store at every open.
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
mod dir;
mod engine;
mod entry;
mod open;
mod query;
mod retire;

pub use catalog::Catalog;
pub use engine::{Facets, Hit, Page, Selection};
pub use entry::Entry;
pub use query::{Cursor, MAX_PAGE, MAX_RADIUS_KM, MAX_TEXT_BYTES, MAX_WORDS, Near, Query, Sort};

use prospectus_model::Uuid;
use prospectus_store::{Observer, Store, StoreError, Update};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
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

/// One message for the background writer.
enum Msg {
    Update(Box<Update>),
    /// Someone waits for what is queued ([`Index::wait_for`]): commit it without waiting out
    /// the [`REFRESH`] interval.
    Now,
}

/// While changes keep arriving, the writer commits at most once per this interval, so a
/// node that receives a steady stream of small changes (every other borough's) pays tantivy's
/// fixed cost per commit — a new segment, its files, a term dictionary per field — about once
/// a second instead of once per change. The first change after a quiet interval is committed
/// at once, and a publisher waiting for its own batch (`wait_for`) is never held back; a
/// replicated change becomes searchable at most this long after it is applied (the
/// near-real-time refresh of search engines; Elasticsearch's default is also 1 s).
const REFRESH: Duration = Duration::from_secs(1);

/// Which store `(epoch, seq)` per origin the searchable generation reflects.
#[derive(Default)]
struct Progress {
    heads: Mutex<BTreeMap<String, (u64, u64)>>,
    changed: Condvar,
    /// Batches committed since open.
    commits: AtomicU64,
}

/// How [`Index::open_in`] (or [`Index::open`]) came to reflect the store, for `/readyz` and
/// the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Built in RAM from the store (nothing on disk), or empty.
    InRam,
    /// The index on disk reflected the store exactly: nothing was indexed.
    Reopened,
    /// The index on disk was behind: `changes` records changed since its last commit were
    /// re-applied from the store's change feed.
    CaughtUp { changes: usize },
    /// The index on disk could not be used (`reason`) and was rebuilt from the store.
    Rebuilt { reason: String },
}

impl std::fmt::Display for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opened::InRam => write!(f, "built in RAM"),
            Opened::Reopened => write!(f, "reopened"),
            Opened::CaughtUp { changes } => write!(f, "caught up {changes}"),
            Opened::Rebuilt { reason } => write!(f, "rebuilt: {reason}"),
        }
    }
}

/// The store's subscription: queues every change for the writer. Subscribed before the index
/// reads the store, so nothing committed meanwhile is lost; separate from [`Index`] so a
/// failed reopen can be rebuilt without losing what was queued.
struct Inbox(Mutex<Option<Sender<Msg>>>);

impl Inbox {
    /// Asks the writer to commit what it holds now (see [`Msg::Now`]).
    fn nudge(&self) {
        if let Ok(tx) = self.0.lock()
            && let Some(tx) = tx.as_ref()
        {
            let _ = tx.send(Msg::Now);
        }
    }
}

impl Observer for Inbox {
    /// Queues the change; never blocks on the index and never fails the write.
    fn updated(&self, u: &Update) {
        let slim = u.clone();
        if let Ok(tx) = self.0.lock()
            && let Some(tx) = tx.as_ref()
            && tx.send(Msg::Update(Box::new(slim))).is_err()
        {
            tracing::error!("search index: writer has stopped; results will be stale");
        }
    }
}

pub struct Index {
    engine: Arc<engine::Engine>,
    progress: Arc<Progress>,
    inbox: Arc<Inbox>,
    opened: Opened,
    /// Joined on drop, so an index on disk is closed (its writer lock released) when the
    /// `Index` is gone.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("courses", &self.len())
            .field("opened", &self.opened)
            .finish_non_exhaustive()
    }
}

impl Index {
    /// An empty index in RAM with its writer running; feed it through [`Observer::updated`].
    pub fn empty() -> Result<Arc<Index>, SearchError> {
        let (tx, rx) = channel();
        let (engine, state) = engine::Engine::new()?;
        Self::start(
            engine,
            state,
            Inbox(Mutex::new(Some(tx))).into(),
            rx,
            BTreeMap::new(),
            Opened::InRam,
        )
    }

    /// Builds the index in RAM from everything live in `store` and subscribes it to the
    /// store's changes. The subscription comes first, so a change committed during the scan is
    /// applied after it (re-applying a record is harmless); nothing is lost in between.
    pub fn open(store: &Store) -> Result<Arc<Index>, SearchError> {
        Self::open_with(store, None)
    }

    /// The index kept on disk in `dir` (a node's `<data dir>/index`): reopened and caught up
    /// from the store's change feed when its last commit's stamp proves it was derived from
    /// this store, rebuilt otherwise ([`Index::opened`] says which, and why). Subscribed to
    /// the store first, like [`Index::open`].
    pub fn open_in(store: &Store, dir: &Path) -> Result<Arc<Index>, SearchError> {
        Self::open_with(store, Some(dir))
    }

    fn open_with(store: &Store, dir: Option<&Path>) -> Result<Arc<Index>, SearchError> {
        let (tx, rx) = channel();
        let inbox = Arc::new(Inbox(Mutex::new(Some(tx))));
        store.add_observer(inbox.clone());
        let started = Instant::now();
        let rebuild = |dir: &Path, reason: String| -> Result<_, SearchError> {
            tracing::info!(%reason, dir = %dir.display(), "search index: rebuilding from the store");
            let (e, mut s) = engine::Engine::create_in(dir, engine::Stamp::default())?;
            let heads = open::rebuild(store, &e, &mut s)?;
            Ok((e, s, heads, Opened::Rebuilt { reason }))
        };
        let (engine, state, heads, opened) = match dir {
            None => {
                let (e, mut s) = engine::Engine::new()?;
                let heads = open::rebuild(store, &e, &mut s)?;
                (e, s, heads, Opened::InRam)
            }
            Some(dir) => match engine::Engine::open_in(dir) {
                Err(reason) => rebuild(dir, reason)?,
                Ok((e, mut s)) => match open::reopen(store, &e, &mut s)? {
                    Ok((heads, 0)) => (e, s, heads, Opened::Reopened),
                    Ok((heads, changes)) => (e, s, heads, Opened::CaughtUp { changes }),
                    Err(reason) => {
                        // The writer's lock and the reader's files go before the dir does.
                        drop(s);
                        drop(e);
                        rebuild(dir, reason)?
                    }
                },
            },
        };
        tracing::info!(
            courses = engine.live(),
            ms = started.elapsed().as_millis() as u64,
            how = %opened,
            "search index: open"
        );
        Self::start(engine, state, inbox, rx, heads, opened)
    }

    fn start(
        engine: engine::Engine,
        state: engine::State,
        inbox: Arc<Inbox>,
        rx: Receiver<Msg>,
        heads: BTreeMap<String, (u64, u64)>,
        opened: Opened,
    ) -> Result<Arc<Index>, SearchError> {
        let index = Arc::new(Index {
            engine: Arc::new(engine),
            progress: Arc::new(Progress {
                heads: Mutex::new(heads),
                changed: Condvar::new(),
                commits: AtomicU64::new(0),
            }),
            inbox,
            opened,
            writer: Mutex::new(None),
        });
        index.spawn_writer(rx, state)?;
        Ok(index)
    }

    /// How this index came to reflect the store at open.
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    fn spawn_writer(&self, rx: Receiver<Msg>, state: engine::State) -> Result<(), SearchError> {
        let engine = self.engine.clone();
        let progress = self.progress.clone();
        let handle = std::thread::Builder::new()
            .name("search-writer".into())
            .spawn(move || writer_loop(rx, state, engine, progress))
            .map_err(|e| SearchError::Engine(format!("cannot start the index writer: {e}")))?;
        if let Ok(mut w) = self.writer.lock() {
            *w = Some(handle);
        }
        Ok(())
    }

    /// Live courses in the searchable generation.
    pub fn len(&self) -> usize {
        self.engine.live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batches the writer has committed since open (each one new searchable generation).
    pub fn commits(&self) -> u64 {
        self.progress.commits.load(Ordering::Relaxed)
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
            // Again after every commit that did not reach it: the change may have been
            // queued after the last nudge.
            self.inbox.nudge();
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
        if let Ok(mut tx) = self.inbox.0.lock() {
            tx.take();
        }
        // The writer ends after its batch in progress.
        if let Ok(mut w) = self.writer.lock()
            && let Some(h) = w.take()
        {
            let _ = h.join();
        }
    }
}

/// Applies queued changes in batches: one tantivy commit and one new generation per batch,
/// at most one per [`REFRESH`] unless someone waits.
fn writer_loop(
    rx: Receiver<Msg>,
    mut state: engine::State,
    engine: Arc<engine::Engine>,
    progress: Arc<Progress>,
) {
    const MAX_BATCH: usize = 10_000;
    let mut last_commit: Option<Instant> = None;
    while let Ok(first) = rx.recv() {
        let batch = gather(&rx, first, last_commit.map(|t| t + REFRESH), MAX_BATCH);
        if batch.is_empty() {
            continue;
        }
        last_commit = Some(Instant::now());
        let mut heads: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut failed = false;
        let stamp_before = state.stamp.clone();
        for u in batch {
            let h = heads.entry(u.origin.clone()).or_default();
            *h = (*h).max((u.epoch, u.seq));
            if let Some(st) = &mut state.stamp {
                st.saw(&u.origin, (u.epoch, u.seq), u.feed_seq);
            }
            if let Err(e) = state.apply(&engine, u) {
                tracing::error!(error = %e, "search index: cannot apply a change");
                failed = true;
            }
        }
        // Never claim, now or later, a feed position whose change is not in the index.
        let hold = |state: &mut engine::State| {
            if let Some(mut st) = stamp_before.clone() {
                st.held = true;
                state.stamp = Some(st);
            }
        };
        if failed {
            hold(&mut state);
        }
        if let Err(e) = state.commit(&engine) {
            tracing::error!(error = %e, "search index: commit failed");
            hold(&mut state);
            failed = true;
        }
        if failed {
            continue;
        }
        progress.commits.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = progress.heads.lock() {
            for (o, s) in heads {
                let e = h.entry(o).or_default();
                *e = (*e).max(s);
            }
        }
        progress.changed.notify_all();
    }
}

/// The changes to commit next: `first` and whatever follows it, waiting for more until
/// `due` (the end of the refresh interval) unless a [`Msg::Now`] arrives, `max` changes are
/// in hand, or the inbox closes.
fn gather(rx: &Receiver<Msg>, first: Msg, due: Option<Instant>, max: usize) -> Vec<Update> {
    let mut batch = Vec::new();
    let mut now = false;
    let mut next = Some(first);
    while let Some(m) = next.take() {
        match m {
            Msg::Update(u) => batch.push(*u),
            Msg::Now => now = true,
        }
        if batch.len() >= max {
            break;
        }
        next = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                match due.and_then(|d| d.checked_duration_since(Instant::now())) {
                    Some(w) if !now && !w.is_zero() => rx.recv_timeout(w).ok(),
                    _ => None,
                }
            }
        };
    }
    batch
}

impl Observer for Index {
    /// Queues the change; never blocks on the index and never fails the write.
    fn updated(&self, u: &Update) {
        self.inbox.updated(u);
    }
}
