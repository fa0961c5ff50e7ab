//! The tantivy side: schema, the writer's state (records by id, reverse references, slots),
//! query building and the search itself. Kept apart from `lib.rs` so the concurrency story
//! (channel, writer thread, generations) reads on its own.

use crate::SearchError;
use crate::catalog::{Catalog, Change};
use crate::entry::{
    CELL_DEG, Entry, Hot, ONLINE_CELL, RunFacts, category_bit, day_mask, start_key,
};
use crate::query::{Checked, Cursor, Sort};
use crate::retire::Retired;
use prospectus_model::{
    Category, Context, Course, Evaluation, Provider, Record, RecordKind, Start, Uuid, Venue,
    evaluate,
};
use prospectus_store::Update;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery,
    FuzzyTermQuery, Occur, Query as TQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, Term};

/// Indexing memory budget of the single writer thread.
const WRITER_HEAP_BYTES: usize = 64 * 1024 * 1024;
/// Title matches weigh this much more than matches elsewhere.
const TITLE_BOOST: f32 = 3.0;
/// A typo-tolerant match weighs less than an exact one.
const FUZZY_BOOST: f32 = 0.5;

#[derive(Clone, Copy)]
struct Fields {
    /// The course id's two halves as fast fields: how a reopened index maps its docs to
    /// courses. No id term field: a replaced doc is deleted by its slot (`retire`).
    id_hi: Field,
    id_lo: Field,
    title: Field,
    body: Field,
    raw: Field,
    category: Field,
    borough: Field,
    level: Field,
    delivery: Field,
    attendance: Field,
    day: Field,
    mental_health: Field,
    step_free: Field,
    language: Field,
    cell: Field,
    slot: Field,
}

const SLOT: &str = "slot";
const ID_HI: &str = "id_hi";
const ID_LO: &str = "id_lo";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let raw = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        id_hi: b.add_u64_field(ID_HI, NumericOptions::default().set_fast()),
        id_lo: b.add_u64_field(ID_LO, NumericOptions::default().set_fast()),
        title: b.add_text_field("title", stemmed.clone()),
        body: b.add_text_field("body", stemmed),
        raw: b.add_text_field("raw", raw),
        category: b.add_text_field("category", STRING),
        borough: b.add_text_field("borough", STRING),
        level: b.add_text_field("level", STRING),
        delivery: b.add_text_field("delivery", STRING),
        attendance: b.add_text_field("attendance", STRING),
        day: b.add_text_field("day", STRING),
        mental_health: b.add_text_field("mental_health", STRING),
        step_free: b.add_text_field("step_free", STRING),
        language: b.add_text_field("language", STRING),
        cell: b.add_text_field("cell", STRING),
        slot: b.add_u64_field(SLOT, NumericOptions::default().set_fast()),
    };
    (b.build(), fields)
}

/// Slot → course, and the packed copy of what the candidate loop reads.
#[derive(Default)]
pub(crate) struct Slots {
    entries: Vec<Option<Arc<Entry>>>,
    hot: Vec<Hot>,
    /// Every live slot's run facts, one contiguous range each (named by its `Hot` row), in
    /// the order the slots were filled. A cleared or replaced slot's range is dead until
    /// [`Slots::compact`] copies the live ranges out.
    runs: Vec<RunFacts>,
    dead_runs: usize,
}

/// Dead run facts below which the arena is never compacted (a few hundred kB).
const COMPACT_AFTER: usize = 4096;

impl Slots {
    /// The row for `e`, its `runs` appended to the arena.
    fn row(&mut self, e: &Entry, runs: &[RunFacts]) -> Hot {
        let at = u32::try_from(self.runs.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(runs.len()).unwrap_or(u32::MAX);
        self.runs.extend_from_slice(runs);
        e.hot(at, len)
    }

    fn push(&mut self, e: Arc<Entry>, runs: &[RunFacts]) {
        let h = self.row(&e, runs);
        self.hot.push(h);
        self.entries.push(Some(e));
    }

    /// Puts `e` at slot `s` (a course put again unchanged keeps its doc's slot).
    fn set(&mut self, s: usize, e: Arc<Entry>, runs: &[RunFacts]) {
        if s >= self.hot.len() {
            return;
        }
        let h = self.row(&e, runs);
        if let (Some(old), Some(x)) = (self.hot.get_mut(s), self.entries.get_mut(s)) {
            if x.is_some() {
                self.dead_runs += old.runs_len as usize;
            }
            *old = h;
            *x = Some(e);
        }
    }

    fn clear(&mut self, s: usize) {
        if let (Some(h), Some(x)) = (self.hot.get_mut(s), self.entries.get_mut(s))
            && x.take().is_some()
        {
            self.dead_runs += h.runs_len as usize;
            h.runs_len = 0;
        }
    }

    /// The run facts of the slot whose row is `h`.
    pub(crate) fn runs(&self, h: &Hot) -> &[RunFacts] {
        let at = h.runs_at as usize;
        self.runs
            .get(at..at.saturating_add(h.runs_len as usize))
            .unwrap_or(&[])
    }

    /// Once dead ranges are at least as many as live ones, copies the live ranges into a new
    /// arena in slot order (with a quarter's room to grow, so the next commit does not copy it
    /// again): the arena's length stays at most about twice the live run facts.
    fn compact(&mut self) {
        if self.dead_runs < COMPACT_AFTER || self.dead_runs * 2 < self.runs.len() {
            return;
        }
        let live = self.runs.len().saturating_sub(self.dead_runs);
        let mut runs = Vec::with_capacity(live + (live / 4).max(COMPACT_AFTER));
        for (h, e) in self.hot.iter_mut().zip(&self.entries) {
            let at = h.runs_at as usize;
            match self.runs.get(at..at.saturating_add(h.runs_len as usize)) {
                Some(r) if e.is_some() => {
                    h.runs_at = u32::try_from(runs.len()).unwrap_or(u32::MAX);
                    runs.extend_from_slice(r);
                }
                // Never read (no entry, or a range that cannot be): named empty, not left
                // pointing into the new arena.
                _ => h.runs_len = 0,
            }
        }
        self.runs = runs;
        self.dead_runs = 0;
    }
}

/// A reopened index's course: its doc's slot, its entry and run facts.
pub(crate) type Adopted<'a> = (u64, Arc<Entry>, &'a [RunFacts]);

/// What queries share with the writer: the reader and the slot table.
pub(crate) struct Engine {
    fields: Fields,
    reader: IndexReader,
    stemmer: TextAnalyzer,
    /// Slot (a fast field on each tantivy doc) → the resolved course. A slot is never reused;
    /// an old version's slot is cleared only after the commit that deletes its doc is visible.
    pub(crate) slots: RwLock<Slots>,
    pub(crate) live: AtomicUsize,
    /// The same generation as ordered lists (HTTP paging, by-id lookups).
    pub(crate) catalog: RwLock<Catalog>,
}

struct Live {
    course: Arc<Course>,
    origin: String,
    /// Seq in the origin's log and signed timestamp of the course's entry.
    version: (u64, i64),
    slot: u64,
    /// The doc at `slot` was indexed from `course`. False only for a reopened index's doc
    /// of a course the feed shows changed since the index's stamp (the course is the store's,
    /// the doc may be older) until the feed's re-apply indexes it again.
    doc_matches: bool,
}

/// The providers and venues a course is resolved against, shareable by threads.
#[derive(Clone, Copy)]
pub(crate) struct References<'a> {
    providers: &'a HashMap<Uuid, Arc<Provider>>,
    venues: &'a HashMap<Uuid, Arc<Venue>>,
}

impl References<'_> {
    /// `c` resolved; its run facts are appended to `runs`, at the returned range.
    pub(crate) fn resolve(
        &self,
        c: Arc<Course>,
        origin: &str,
        version: (u64, i64),
        runs: &mut Vec<RunFacts>,
    ) -> (Entry, Range<usize>) {
        let at = runs.len();
        let provider = self.providers.get(&c.provider_id).cloned();
        let e = Entry::build(
            c,
            origin,
            version,
            provider,
            |v| self.venues.get(&v).cloned(),
            runs,
        );
        (e, at..runs.len())
    }
}

/// The writer thread's own state.
pub(crate) struct State {
    writer: IndexWriter,
    providers: HashMap<Uuid, Arc<Provider>>,
    venues: HashMap<Uuid, Arc<Venue>>,
    courses: HashMap<Uuid, Live>,
    by_provider: HashMap<Uuid, BTreeSet<Uuid>>,
    by_venue: HashMap<Uuid, BTreeSet<Uuid>>,
    next_slot: u64,
    pending: Vec<(Arc<Entry>, Range<usize>)>,
    /// The run facts of `pending` and `swaps`, by range, until the commit puts them in the
    /// slot table's arena (one buffer: no allocation per course to free and fragment).
    staged_runs: Vec<RunFacts>,
    /// Entries of courses put again unchanged, each for the slot its doc already has.
    swaps: Vec<(u64, Arc<Entry>, Range<usize>)>,
    to_clear: Vec<u64>,
    dirty: bool,
    /// Catalog changes for the next commit, in apply order.
    changes: Vec<Change>,
    /// The newest `(epoch, seq)` applied per record, tombstones included, so an older update
    /// arriving late never replaces a newer one.
    versions: HashMap<(RecordKind, Uuid), (u64, u64)>,
    /// What every commit of an index on disk records (its payload); `None` in RAM.
    pub(crate) stamp: Option<Stamp>,
    /// Docs a reopened index holds for courses it did not adopt (tombstoned or undecodable in
    /// the store; the feed since the stamp re-applies or forgets each): course → slot, retired
    /// when the course is put or removed. Every other doc's slot is its course's in `courses`.
    strays: HashMap<Uuid, u64>,
    /// Providers and venues a reopened index holds newer than its docs of their courses show
    /// (changed since its stamp), until re-applied: see [`State::distrust_docs`].
    stale_refs: std::collections::HashSet<Uuid>,
}

/// The store position an index on disk reflects, written as each commit's payload: the store
/// it was derived from, the store's change feed position (every change at or before it is
/// in the index) and the highest `(epoch, seq)` per origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stamp {
    pub store: String,
    pub feed: u64,
    pub heads: std::collections::BTreeMap<String, (u64, u64)>,
    /// Set once a change failed to apply: from then on no commit claims a later feed
    /// position, so the next start replays from before the failure.
    pub held: bool,
}

/// Bumped whenever what the index holds or how it is derived changes: an index of another
/// version is rebuilt, never read.
pub(crate) const FORMAT: u32 = 2;
const STAMP_MAGIC: &str = "prospectus-index";

impl Stamp {
    pub(crate) fn encode(&self) -> String {
        let mut s = format!(
            "{STAMP_MAGIC} {FORMAT}\nstore {}\nfeed {}\n",
            self.store, self.feed
        );
        for (o, (e, q)) in &self.heads {
            s.push_str(&format!("head {o} {e} {q}\n"));
        }
        s
    }

    /// The stamp in `text`, or why it is unusable.
    pub(crate) fn parse(text: &str) -> Result<Stamp, String> {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        match first.strip_prefix(STAMP_MAGIC).map(str::trim) {
            Some(v) if v == FORMAT.to_string() => {}
            Some(v) => return Err(format!("index format {v}, this node writes {FORMAT}")),
            None => return Err("no stamp in the index's last commit".into()),
        }
        let mut st = Stamp::default();
        let bad = |l: &str| {
            format!(
                "unreadable stamp line {:?}",
                l.chars().take(80).collect::<String>()
            )
        };
        for l in lines {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["store", id] => st.store = (*id).to_string(),
                ["feed", n] => st.feed = n.parse().map_err(|_| bad(l))?,
                ["head", o, e, q] => {
                    let pos = (
                        e.parse().map_err(|_| bad(l))?,
                        q.parse().map_err(|_| bad(l))?,
                    );
                    st.heads.insert((*o).to_string(), pos);
                }
                _ => return Err(bad(l)),
            }
        }
        Ok(st)
    }

    /// Notes a change the index now holds.
    pub(crate) fn saw(&mut self, origin: &str, pos: (u64, u64), feed: u64) {
        if self.held {
            return;
        }
        self.feed = self.feed.max(feed);
        let h = self.heads.entry(origin.to_string()).or_default();
        *h = (*h).max(pos);
    }
}

impl Engine {
    /// An empty index in RAM (nothing persists).
    pub(crate) fn new() -> Result<(Engine, State), SearchError> {
        let (schema, _) = schema();
        Self::with_index(tantivy::Index::create_in_ram(schema), None)
    }

    /// A new, empty index in `dir` (whatever was there is removed first).
    pub(crate) fn create_in(
        dir: &std::path::Path,
        stamp: Stamp,
    ) -> Result<(Engine, State), SearchError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| SearchError::Engine(format!("cannot clear {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Engine(format!("cannot create {}: {e}", dir.display())))?;
        let (schema, _) = schema();
        let unsynced = crate::dir::Unsynced::open(dir)
            .map_err(|e| SearchError::Engine(format!("cannot open {}: {e}", dir.display())))?;
        let index = tantivy::Index::create(unsynced, schema, Default::default())?;
        Self::with_index(index, Some(stamp))
    }

    /// The index in `dir` as its last commit left it, with that commit's stamp; `Err` says
    /// why it cannot be used (missing, another schema or format, corrupt files).
    pub(crate) fn open_in(dir: &std::path::Path) -> Result<(Engine, State), String> {
        if !dir.join("meta.json").exists() {
            return Err("no index on disk".into());
        }
        let unsynced = crate::dir::Unsynced::open(dir).map_err(|e| format!("cannot open: {e}"))?;
        let index = tantivy::Index::open(unsynced).map_err(|e| format!("cannot open: {e}"))?;
        if index.schema() != schema().0 {
            return Err("the index on disk has another schema".into());
        }
        let meta = index
            .load_metas()
            .map_err(|e| format!("cannot read meta: {e}"))?;
        let stamp = Stamp::parse(meta.payload.as_deref().unwrap_or_default())?;
        let corrupt = index
            .validate_checksum()
            .map_err(|e| format!("cannot check files: {e}"))?;
        if let Some(f) = corrupt.iter().next() {
            return Err(format!(
                "{} corrupt file(s), e.g. {}",
                corrupt.len(),
                f.display()
            ));
        }
        Self::with_index(index, Some(stamp)).map_err(|e| e.to_string())
    }

    fn with_index(
        index: tantivy::Index,
        stamp: Option<Stamp>,
    ) -> Result<(Engine, State), SearchError> {
        let (_, fields) = schema();
        let writer: IndexWriter = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let stemmer = index
            .tokenizers()
            .get("en_stem")
            .ok_or_else(|| SearchError::Engine("tokenizer en_stem missing".into()))?;
        let engine = Engine {
            fields,
            reader,
            stemmer,
            slots: RwLock::new(Slots::default()),
            live: AtomicUsize::new(0),
            catalog: RwLock::new(Catalog::default()),
        };
        let state = State {
            writer,
            providers: HashMap::new(),
            venues: HashMap::new(),
            courses: HashMap::new(),
            by_provider: HashMap::new(),
            by_venue: HashMap::new(),
            next_slot: 0,
            pending: Vec::new(),
            staged_runs: Vec::new(),
            swaps: Vec::new(),
            to_clear: Vec::new(),
            dirty: false,
            changes: Vec::new(),
            versions: HashMap::new(),
            stamp,
            strays: HashMap::new(),
            stale_refs: Default::default(),
        };
        Ok((engine, state))
    }

    /// Every live doc's (course id, slot), and one past the highest slot.
    pub(crate) fn docs(&self) -> Result<(HashMap<Uuid, u64>, u64), String> {
        let searcher = self.reader.searcher();
        let mut out = HashMap::new();
        let mut next = 0u64;
        for seg in searcher.segment_readers() {
            let ff = seg.fast_fields();
            let col = |name| ff.u64(name).map_err(|e| format!("fast field {name}: {e}"));
            let (slot, hi, lo) = (col(SLOT)?, col(ID_HI)?, col(ID_LO)?);
            for d in seg.doc_ids_alive() {
                let (Some(s), Some(h), Some(l)) = (slot.first(d), hi.first(d), lo.first(d)) else {
                    return Err("a doc without its id or slot".into());
                };
                let id = Uuid::from_u64_pair(h, l);
                if out.insert(id, s).is_some() {
                    return Err(format!("course {id} is indexed twice"));
                }
                next = next.max(s + 1);
            }
        }
        // Slots are not reused while a node runs: a long-lived index accumulates dead ones, and
        // a crafted slot value would size the tables. Past twice the live docs it is rebuilt
        // (compact again) rather than reopened.
        let bound = 2 * out.len() as u64 + 1024;
        if next > bound {
            return Err(format!(
                "slot table of {next} for {} docs: rebuilt compact",
                out.len()
            ));
        }
        Ok((out, next))
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

impl State {
    /// Adds a provider or venue without re-indexing dependants (start-up, before courses).
    pub(crate) fn put_reference(&mut self, r: Record) {
        match r {
            Record::Provider(p) => {
                let p = Arc::new(p);
                self.changes.push(Change::Provider(p.id, Some(p.clone())));
                self.providers.insert(p.id, p);
            }
            Record::Venue(v) => {
                self.venues.insert(v.id, Arc::new(v));
            }
            Record::Course(_) => {}
        }
    }

    /// Records that `(kind, id)` is at `version`; false (and nothing changes) if a newer
    /// version was already applied. The same version again is accepted: re-applying is
    /// harmless (start-up re-applies what changed during the rebuild scan).
    pub(crate) fn advance(&mut self, kind: RecordKind, id: Uuid, version: (u64, u64)) -> bool {
        let v = self.versions.entry((kind, id)).or_insert(version);
        if version < *v {
            return false;
        }
        *v = version;
        true
    }

    /// Applies one change unless the index already holds a newer version of its record.
    pub(crate) fn apply(&mut self, engine: &Engine, u: Update) -> Result<(), SearchError> {
        if !self.advance(u.kind, u.id, (u.epoch, u.seq)) {
            tracing::debug!(kind = %u.kind, id = %u.id, origin = %u.origin, epoch = u.epoch, seq = u.seq, "search index: older update ignored");
            return Ok(());
        }
        match (u.kind, u.new) {
            (_, Some(Record::Course(c))) => {
                self.put_course(engine, c, &u.origin, (u.seq, u.unix_millis))
            }
            (RecordKind::Course, _) => {
                self.remove_course(u.id);
                Ok(())
            }
            // The same provider or venue again (a whole offer republished): nothing any doc or
            // entry shows changes, so its courses are not re-indexed.
            // (Not for one a reopened index read from the store newer than its docs.)
            (RecordKind::Provider, Some(Record::Provider(p)))
                if !self.stale_refs.contains(&p.id)
                    && self.providers.get(&p.id).is_some_and(|old| **old == p) =>
            {
                Ok(())
            }
            (RecordKind::Venue, Some(Record::Venue(v)))
                if !self.stale_refs.contains(&v.id)
                    && self.venues.get(&v.id).is_some_and(|old| **old == v) =>
            {
                Ok(())
            }
            (RecordKind::Provider, new) => {
                match new {
                    Some(Record::Provider(p)) => {
                        let p = Arc::new(p);
                        self.changes.push(Change::Provider(p.id, Some(p.clone())));
                        self.providers.insert(p.id, p);
                    }
                    _ => {
                        self.changes.push(Change::Provider(u.id, None));
                        self.providers.remove(&u.id);
                    }
                }
                self.reindex_dependants(engine, RecordKind::Provider, u.id)
            }
            (RecordKind::Venue, new) => {
                match new {
                    Some(Record::Venue(v)) => {
                        self.venues.insert(v.id, Arc::new(v));
                    }
                    _ => {
                        self.venues.remove(&u.id);
                    }
                }
                self.reindex_dependants(engine, RecordKind::Venue, u.id)
            }
        }
    }

    /// Re-indexes the courses that show provider or venue `id` (after it changed).
    pub(crate) fn reindex_dependants(
        &mut self,
        engine: &Engine,
        kind: RecordKind,
        id: Uuid,
    ) -> Result<(), SearchError> {
        self.stale_refs.remove(&id);
        let of = match kind {
            RecordKind::Provider => &self.by_provider,
            RecordKind::Venue => &self.by_venue,
            RecordKind::Course => return Ok(()),
        };
        let deps: Vec<Uuid> = of
            .get(&id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        self.reindex(engine, &deps)
    }

    /// A record the store no longer holds (or cannot decode) leaves the index, whatever
    /// version it was at.
    pub(crate) fn forget(
        &mut self,
        engine: &Engine,
        kind: RecordKind,
        id: Uuid,
    ) -> Result<(), SearchError> {
        match kind {
            RecordKind::Course => {
                self.remove_course(id);
                Ok(())
            }
            RecordKind::Provider => {
                if self.providers.remove(&id).is_some() {
                    self.changes.push(Change::Provider(id, None));
                }
                self.reindex_dependants(engine, kind, id)
            }
            RecordKind::Venue => {
                self.venues.remove(&id);
                self.reindex_dependants(engine, kind, id)
            }
        }
    }

    /// What resolving a course reads: providers and venues by id.
    pub(crate) fn references(&self) -> References<'_> {
        References {
            providers: &self.providers,
            venues: &self.venues,
        }
    }

    /// Takes a course whose doc a reopened index already holds at `slot`, with its entry
    /// resolved again ([`References::resolve`]; nothing is re-indexed); installed by
    /// [`State::install_adopted`].
    pub(crate) fn adopt<'a>(
        &mut self,
        (entry, runs): (Arc<Entry>, &'a [RunFacts]),
        version: (u64, i64),
        slot: u64,
        adopted: &mut Vec<Adopted<'a>>,
    ) {
        let course = entry.course.clone();
        self.link(&course);
        self.courses.insert(
            course.id,
            Live {
                course,
                origin: entry.origin.clone(),
                version,
                slot,
                doc_matches: true,
            },
        );
        self.changes
            .push(Change::Course(entry.course.id, Some(entry.clone())));
        adopted.push((slot, entry, runs));
    }

    /// Puts adopted entries, in slot order and one per slot (the reopen sorts them and refuses
    /// a shared slot), into the slot table (sized for `next_slot`, the reopened index's one
    /// past its highest slot); new docs get slots from there. `strays` are the docs the
    /// index holds for courses not adopted (course → slot), retired as those are re-applied.
    pub(crate) fn install_adopted(
        &mut self,
        engine: &Engine,
        next_slot: u64,
        adopted: Vec<Adopted<'_>>,
        strays: HashMap<Uuid, u64>,
    ) {
        self.strays = strays;
        let n = usize::try_from(next_slot).unwrap_or(0);
        let mut table = Slots {
            entries: vec![None; n],
            hot: vec![Hot::EMPTY; n],
            runs: Vec::with_capacity(adopted.iter().map(|a| a.2.len()).sum()),
            dead_runs: 0,
        };
        for (s, e, runs) in adopted {
            table.set(s as usize, e, runs);
        }
        if let Ok(mut slots) = engine.slots.write() {
            *slots = table;
        }
        self.next_slot = next_slot;
        engine.live.store(self.courses.len(), Ordering::Relaxed);
    }

    /// Marks what a reopened index's docs may show older than the store: the adopted docs
    /// of courses, and the courses of providers and venues, that changed since its stamp
    /// (`changed`), so that re-applying each indexes its docs again.
    pub(crate) fn distrust_docs<'a>(
        &mut self,
        changed: impl IntoIterator<Item = &'a (RecordKind, Uuid)>,
    ) {
        for (kind, id) in changed {
            match kind {
                RecordKind::Course => {
                    if let Some(l) = self.courses.get_mut(id) {
                        l.doc_matches = false;
                    }
                }
                RecordKind::Provider | RecordKind::Venue => {
                    self.stale_refs.insert(*id);
                }
            }
        }
    }

    fn link(&mut self, c: &Course) {
        self.unlink(c.id);
        self.by_provider
            .entry(c.provider_id)
            .or_default()
            .insert(c.id);
        for r in &c.runs {
            self.by_venue.entry(r.venue_id).or_default().insert(c.id);
        }
    }

    fn reindex(&mut self, engine: &Engine, ids: &[Uuid]) -> Result<(), SearchError> {
        for id in ids {
            if let Some(l) = self.courses.get(id) {
                let (c, o, s) = (l.course.clone(), l.origin.clone(), l.version);
                self.index_course(engine, c, &o, s)?;
            }
        }
        Ok(())
    }

    fn unlink(&mut self, id: Uuid) {
        if let Some(old) = self.courses.get(&id) {
            let c = old.course.clone();
            if let Some(s) = self.by_provider.get_mut(&c.provider_id) {
                s.remove(&id);
            }
            for r in &c.runs {
                if let Some(s) = self.by_venue.get_mut(&r.venue_id) {
                    s.remove(&id);
                }
            }
        }
    }

    pub(crate) fn put_course(
        &mut self,
        engine: &Engine,
        c: Course,
        origin: &str,
        version: (u64, i64),
    ) -> Result<(), SearchError> {
        // The same course again (a borough republishing its whole offer, most of it as it
        // was): its doc already holds everything the new version would, so only the entry
        // changes — no doc, no delete, no second copy of the record. (A provider or venue
        // that changed re-indexed its courses when it changed: `reindex_dependants`.)
        if let Some(live) = self.courses.get_mut(&c.id)
            && live.doc_matches
            && live.origin == origin
            && *live.course == c
        {
            live.version = version;
            let (course, slot) = (live.course.clone(), live.slot);
            let mut staged = std::mem::take(&mut self.staged_runs);
            let (entry, runs) = self
                .references()
                .resolve(course, origin, version, &mut staged);
            self.staged_runs = staged;
            let entry = Arc::new(entry);
            self.changes.push(Change::Course(c.id, Some(entry.clone())));
            self.swaps.push((slot, entry, runs));
            self.dirty = true;
            return Ok(());
        }
        self.link(&c);
        self.index_course(engine, Arc::new(c), origin, version)
    }

    fn remove_course(&mut self, id: Uuid) {
        self.unlink(id);
        if let Some(old) = self.courses.remove(&id) {
            self.to_clear.push(old.slot);
            self.changes.push(Change::Course(id, None));
        }
        if let Some(slot) = self.strays.remove(&id) {
            self.to_clear.push(slot);
        }
        self.dirty = true;
    }

    fn index_course(
        &mut self,
        engine: &Engine,
        course: Arc<Course>,
        origin: &str,
        version: (u64, i64),
    ) -> Result<(), SearchError> {
        let f = engine.fields;
        let id = course.id;
        let mut staged = std::mem::take(&mut self.staged_runs);
        let (entry, runs) = self
            .references()
            .resolve(course.clone(), origin, version, &mut staged);
        self.staged_runs = staged;
        let runs_of = self.staged_runs.get(runs.clone()).unwrap_or(&[]);
        let slot = self.next_slot;
        self.next_slot += 1;

        let c = &entry.course;
        let extra = entry.extra_text();
        let mut doc = tantivy::TantivyDocument::default();
        let (hi, lo) = id.as_u64_pair();
        doc.add_u64(f.id_hi, hi);
        doc.add_u64(f.id_lo, lo);
        doc.add_u64(f.slot, slot);
        doc.add_text(f.title, &c.title);
        doc.add_text(f.body, &c.description);
        doc.add_text(f.body, &extra);
        doc.add_text(f.raw, &c.title);
        doc.add_text(f.raw, &c.description);
        doc.add_text(f.raw, &extra);
        for cat in &c.categories {
            doc.add_text(f.category, cat.as_str());
        }
        for b in &entry.boroughs {
            doc.add_text(f.borough, b);
        }
        doc.add_text(f.level, c.level.as_str());
        doc.add_text(f.delivery, c.delivery.as_str());
        for a in c.attendance() {
            doc.add_text(f.attendance, a.as_str());
        }
        for d in entry.days() {
            doc.add_text(f.day, d.as_str());
        }
        if c.mental_health_focus {
            doc.add_text(f.mental_health, "1");
        }
        if Entry::any_step_free(runs_of) {
            doc.add_text(f.step_free, "1");
        }
        doc.add_text(f.language, c.language.to_ascii_lowercase());
        for cell in Entry::cells(runs_of) {
            doc.add_text(f.cell, cell);
        }

        self.writer.add_document(doc)?;
        if let Some(stray) = self.strays.remove(&id) {
            self.to_clear.push(stray);
        }
        if let Some(old) = self.courses.insert(
            id,
            Live {
                course,
                origin: origin.to_string(),
                version,
                slot,
                doc_matches: true,
            },
        ) {
            self.to_clear.push(old.slot);
        }
        let entry = Arc::new(entry);
        self.changes.push(Change::Course(id, Some(entry.clone())));
        self.pending.push((entry, runs));
        self.dirty = true;
        Ok(())
    }

    /// Makes everything applied so far searchable, as one new generation.
    pub(crate) fn commit(&mut self, engine: &Engine) -> Result<(), SearchError> {
        if !self.dirty {
            // A provider with no courses yet changes the catalog alone.
            self.commit_catalog(engine);
            return Ok(());
        }
        // New entries first (their docs are invisible until the reload), then the commit, then
        // the old versions' slots (their docs are invisible after the reload).
        if let Ok(mut slots) = engine.slots.write() {
            slots.runs.reserve(self.staged_runs.len());
            for (e, runs) in self.pending.drain(..) {
                slots.push(e, self.staged_runs.get(runs).unwrap_or(&[]));
            }
        }
        // The replaced versions' docs, named by slot in one delete (see `retire`).
        if let Some(r) = Retired::new(SLOT, &self.to_clear) {
            self.writer.delete_query(Box::new(r))?;
        }
        match &self.stamp {
            Some(stamp) => {
                let mut prepared = self.writer.prepare_commit()?;
                prepared.set_payload(&stamp.encode());
                prepared.commit()?;
            }
            None => {
                self.writer.commit()?;
            }
        }
        engine.reader.reload()?;
        if let Ok(mut guard) = engine.slots.write() {
            let slots = &mut *guard;
            // Swaps before clears: a course put unchanged and then changed in one batch has its
            // old slot cleared.
            for (s, e, runs) in self.swaps.drain(..) {
                slots.set(s as usize, e, self.staged_runs.get(runs).unwrap_or(&[]));
            }
            for s in self.to_clear.drain(..) {
                slots.clear(s as usize);
            }
            slots.compact();
        }
        // Everything staged is in the arena now, unless a slot-table lock failed above: then
        // `pending` or `swaps` still name ranges of it.
        if self.pending.is_empty() && self.swaps.is_empty() {
            self.staged_runs = Vec::new();
        }
        engine.live.store(self.courses.len(), Ordering::Relaxed);
        self.commit_catalog(engine);
        self.dirty = false;
        Ok(())
    }

    fn commit_catalog(&mut self, engine: &Engine) {
        if self.changes.is_empty() {
            return;
        }
        let changes = std::mem::take(&mut self.changes);
        let now = chrono::Utc::now().timestamp_millis();
        if let Ok(mut cat) = engine.catalog.write() {
            cat.apply(changes, now);
        }
    }
}

/// Corpus statistics that never change, so BM25 scores depend on the course and the query only
/// (a course keeps its place in a result order while others come and go). Term weights are all
/// equal; length normalisation uses typical field lengths.
struct FrozenStats {
    title: Field,
}

const FROZEN_DOCS: u64 = 100_000;

impl Bm25StatisticsProvider for FrozenStats {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(FROZEN_DOCS * if field == self.title { 6 } else { 60 })
    }
    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(FROZEN_DOCS)
    }
    fn doc_freq(&self, _term: &Term) -> tantivy::Result<u64> {
        Ok(FROZEN_DOCS / 100)
    }
}

/// Collects (slot, score) for every matching doc.
struct SlotCollector {
    scoring: bool,
}

struct SlotSegment {
    slots: Column<u64>,
    out: Vec<(u64, Score)>,
}

impl Collector for SlotCollector {
    type Fruit = Vec<(u64, Score)>;
    type Child = SlotSegment;

    fn for_segment(&self, _ord: u32, segment: &SegmentReader) -> tantivy::Result<SlotSegment> {
        Ok(SlotSegment {
            slots: segment.fast_fields().u64(SLOT)?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scoring
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u64, Score)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SlotSegment {
    type Fruit = Vec<(u64, Score)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(s) = self.slots.first(doc) {
            self.out.push((s, score));
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for d in docs {
            if let Some(s) = self.slots.first(*d) {
                self.out.push((s, 0.0));
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.out
    }
}

/// One hit of a page.
#[derive(Debug, Clone)]
pub struct Hit {
    pub entry: Arc<Entry>,
    pub score: f32,
    /// To the nearest matching run's venue; `None` without `near`, or online only.
    pub distance_km: Option<f64>,
    /// The earliest matching run's start.
    pub next_start: Option<Start>,
    /// What this learner pays: `None` when they are not (or not yet) eligible; the full fee
    /// without a learner.
    pub fee_pence: Option<u32>,
    pub evaluation: Option<Evaluation>,
}

#[derive(Debug, Clone, Default)]
pub struct Facets {
    /// Matching courses per category (a course counts once per category it has).
    pub categories: Vec<(Category, u64)>,
    /// Matching courses per borough GSS code (once per borough it runs in).
    pub boroughs: Vec<(String, u64)>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub hits: Vec<Hit>,
    /// Courses matching the whole query (all pages).
    pub total: usize,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    pub facets: Facets,
}

/// Items `skip..skip + take` of `v` in key order, without sorting the rest: O(len) to pick,
/// O(take · log take) to order.
fn window<K: Ord, T>(mut v: Vec<(K, T)>, skip: usize, take: usize) -> Vec<(K, T)> {
    if skip >= v.len() || take == 0 {
        return Vec::new();
    }
    if skip > 0 {
        v.select_nth_unstable_by(skip, |a, b| a.0.cmp(&b.0));
        v.drain(..skip);
    }
    if take < v.len() {
        v.select_nth_unstable_by(take, |a, b| a.0.cmp(&b.0));
        v.truncate(take);
    }
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// One page of a selection ([`crate::Index::select_page`]).
#[derive(Debug, Clone)]
pub struct Selection<K> {
    /// Keys over the whole selection.
    pub total: usize,
    /// The page's keys in order, each with its course.
    pub items: Vec<(K, Arc<Entry>)>,
}

/// Whether a query has run-level filters (checked on each candidate's runs).
fn needs_runs(c: &Checked) -> bool {
    let q = c.q;
    c.origin.is_some()
        || !q.days.is_empty()
        || q.time_from.is_some()
        || q.time_to.is_some()
        || q.starts_after.is_some()
        || q.starts_before.is_some()
        || q.flexible_start_only
        || q.min_places_left.is_some()
        || q.step_free_only
        || q.exclude_online
}

/// The checks after tantivy: fee cap, run-level filters, the learner's eligibility. `Some` with
/// the matching runs' facts and the fee this learner pays when the course is a match.
fn admit(
    c: &Checked,
    need_runs: bool,
    (h, runs): (&Hot, &[RunFacts]),
    e: &Entry,
    rules: &mut RuleMemo,
) -> Option<(RunMatch, u32)> {
    let q = c.q;
    if let Some(m) = q.max_fee_pence
        && h.min_fee_pence > m
    {
        return None;
    }
    let rm = if need_runs {
        match_runs(c, runs)?
    } else {
        RunMatch {
            distance_km: None,
            start: None,
        }
    };
    let mut fee = h.full_fee_pence;
    if let Some(l) = q.learner.as_ref()
        && ((q.eligible_only && h.has_eligibility)
            || (q.sort == Sort::Fee && h.min_fee_pence < h.full_fee_pence)
            || q.max_fee_pence.is_some_and(|m| h.full_fee_pence > m))
    {
        if q.eligible_only && h.has_eligibility && !rules.eligible(h, e, l, &q.funding) {
            return None;
        }
        // The learner's fee matters only to a fee order or cap (it reads the course's
        // concessions: not for every candidate of an eligibility-only question).
        let fee_used = q.sort == Sort::Fee || q.max_fee_pence.is_some();
        if fee_used && h.min_fee_pence < h.full_fee_pence {
            fee = rules.fee(h.full_fee_pence, e, l, &q.funding);
        }
    }
    if q.max_fee_pence.is_some_and(|m| fee > m) {
        return None;
    }
    Some((rm, fee))
}

struct RunMatch {
    distance_km: Option<f64>,
    start: Option<Start>,
}

/// Checks the run-level filters: some run must pass them all.
fn match_runs(c: &Checked, runs: &[RunFacts]) -> Option<RunMatch> {
    let q = c.q;
    // Place first, from the entry's own run facts: most candidates of a radius query (its grid
    // cells cover a square around the circle) have no run inside it, and are refused without
    // reading the course's runs. A necessary condition of the loop below, so nothing changes.
    let place_ok = |f: &RunFacts| {
        if f.online {
            return !q.exclude_online;
        }
        match (c.origin, q.radius_km) {
            (Some(o), Some(r)) => f
                .location
                .is_some_and(|l| prospectus_geo::haversine_km(o, l) <= r),
            _ => true,
        }
    };
    if (q.exclude_online || q.radius_km.is_some()) && !runs.iter().any(place_ok) {
        return None;
    }
    let mut best: Option<RunMatch> = None;
    let days = day_mask(&q.days);
    for facts in runs {
        let run = facts;
        if q.exclude_online && facts.online {
            continue;
        }
        if days != 0 && run.days & days == 0 {
            continue;
        }
        if q.time_from.is_some_and(|t| run.start_time < t)
            || q.time_to.is_some_and(|t| run.end_time > t)
        {
            continue;
        }
        if let Start::On(d) = run.start
            && (q.starts_after.is_some_and(|a| d < a) || q.starts_before.is_some_and(|b| d > b))
        {
            continue;
        }
        if q.flexible_start_only && run.start != Start::Rolling {
            continue;
        }
        if let Some(m) = q.min_places_left
            && run.places_left.is_some_and(|p| p < m)
        {
            continue;
        }
        if q.step_free_only && !(facts.online || facts.step_free) {
            continue;
        }
        let mut dist = None;
        if let Some(origin) = c.origin
            && !facts.online
        {
            match facts.location {
                Some(loc) => {
                    let d = prospectus_geo::haversine_km(origin, loc);
                    if q.radius_km.is_some_and(|r| d > r) {
                        continue;
                    }
                    dist = Some(d);
                }
                None if q.radius_km.is_some() => continue,
                None => {}
            }
        }
        let b = best.get_or_insert(RunMatch {
            distance_km: None,
            start: None,
        });
        if let Some(d) = dist
            && b.distance_km.is_none_or(|x| d < x)
        {
            b.distance_km = Some(d);
        }
        if b.start
            .is_none_or(|s| start_key(&run.start) < start_key(&s))
        {
            b.start = Some(run.start);
        }
    }
    best
}

/// The learner's answer per distinct rule, for one query. The evaluator reads only a course's
/// eligibility and fees, so whether a set of eligibility conditions, or one concession's
/// conditions, is met depends on the conditions and the learner alone: each distinct set is
/// evaluated once (by `evaluate` itself, on a course carrying just that rule) and the fee is the
/// evaluator's: the cheapest met concession, never above the full fee. Page hits still get the
/// full `evaluate`.
#[derive(Default)]
struct RuleMemo {
    eligibility: HashMap<u64, bool>,
    concession: HashMap<u64, bool>,
}

impl RuleMemo {
    fn eligible(
        &mut self,
        h: &Hot,
        e: &Entry,
        l: &prospectus_model::LearnerProfile,
        ctx: &Context,
    ) -> bool {
        *self
            .eligibility
            .entry(h.eligibility_hash)
            .or_insert_with(|| {
                let mut c = (*e.course).clone();
                c.fees.concessions.clear();
                evaluate(&c, l, ctx).eligible()
            })
    }

    /// The cheapest route's fee for this learner, eligibility aside.
    /// `full` is the course's full fee (from its `Hot` row: the course itself is read only to
    /// evaluate a concession not seen before in this query).
    fn fee(
        &mut self,
        full: u32,
        e: &Entry,
        l: &prospectus_model::LearnerProfile,
        ctx: &Context,
    ) -> u32 {
        let mut fee = full;
        for (i, (hash, f)) in e.concessions.iter().enumerate() {
            if *f >= fee {
                continue;
            }
            let met = *self.concession.entry(*hash).or_insert_with(|| {
                let mut c = (*e.course).clone();
                c.eligibility.clear();
                c.fees.full_fee_pence = 1;
                c.fees.concessions = e.course.fees.concessions[i..=i].to_vec();
                if let Some(x) = c.fees.concessions.first_mut() {
                    x.fee_pence = 0;
                }
                evaluate(&c, l, ctx).concession.is_some()
            });
            if met {
                fee = *f;
            }
        }
        fee
    }
}

/// A match kept for the page: ordered by (key, id), the page order.
struct Cand {
    key: u64,
    id: Uuid,
    slot: usize,
    score: f32,
    distance_km: Option<f64>,
    start: Option<Start>,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        (self.key, self.id) == (o.key, o.id)
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.key, self.id).cmp(&(o.key, o.id))
    }
}

impl Engine {
    fn stem(&self, word: &str) -> String {
        let mut a = self.stemmer.clone();
        let mut ts = a.token_stream(word);
        let mut out = String::new();
        if ts.advance() {
            out = ts.token().text.clone();
        }
        out
    }

    /// The text part: every meaningful word must match (exactly after stemming, or within a
    /// small edit distance when the word is unknown or `fuzzy_all`).
    fn text_query(
        &self,
        searcher: &tantivy::Searcher,
        words: &[String],
        fuzzy_all: bool,
    ) -> Result<Option<Box<dyn TQuery>>, SearchError> {
        let f = self.fields;
        let mut musts: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        for w in words {
            let stem = self.stem(w);
            if stem.is_empty() {
                continue;
            }
            let tt = Term::from_field_text(f.title, &stem);
            let tb = Term::from_field_text(f.body, &stem);
            let known = searcher.doc_freq(&tt)? + searcher.doc_freq(&tb)? > 0;
            let chars = w.chars().count();
            let distance = if chars >= 8 { 2 } else { 1 };
            let fuzzy = || -> Box<dyn TQuery> {
                Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new(
                        Term::from_field_text(f.raw, w),
                        distance,
                        true,
                    )),
                    FUZZY_BOOST,
                ))
            };
            let mut alts: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
            if known {
                alts.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(TermQuery::new(tt, IndexRecordOption::WithFreqs)),
                        TITLE_BOOST,
                    )),
                ));
                alts.push((
                    Occur::Should,
                    Box::new(TermQuery::new(tb, IndexRecordOption::WithFreqs)),
                ));
                // The stem is known but the word as typed is not: likely a typo whose stem
                // happens to exist ("mindfullness" → "mindful"); let the fuzzy form match too.
                let typed_unknown =
                    chars >= 5 && searcher.doc_freq(&Term::from_field_text(f.raw, w))? == 0;
                if (fuzzy_all || typed_unknown) && chars >= 4 {
                    alts.push((Occur::Should, fuzzy()));
                }
            } else if chars >= 4 {
                alts.push((Occur::Should, fuzzy()));
            } else if fuzzy_all {
                // A short unknown word cannot be corrected reliably; it matches nothing.
                return Ok(Some(Box::new(EmptyQuery)));
            } else {
                continue;
            }
            musts.push((Occur::Must, Box::new(BooleanQuery::new(alts))));
        }
        Ok((!musts.is_empty()).then(|| Box::new(BooleanQuery::new(musts)) as Box<dyn TQuery>))
    }

    /// The course-level filters as a zero-scoring conjunction of term disjunctions.
    fn filter_query(&self, c: &Checked) -> Option<Box<dyn TQuery>> {
        let f = self.fields;
        let q = c.q;
        let mut parts: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        let mut any_of = |field: Field, values: Vec<String>| {
            if values.is_empty() {
                return;
            }
            let terms: Vec<(Occur, Box<dyn TQuery>)> = values
                .iter()
                .map(|v| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, v),
                            IndexRecordOption::Basic,
                        )) as Box<dyn TQuery>,
                    )
                })
                .collect();
            parts.push((Occur::Must, Box::new(BooleanQuery::new(terms))));
        };
        any_of(
            f.category,
            q.categories
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        );
        any_of(
            f.borough,
            q.boroughs
                .iter()
                .map(|b| b.trim().to_ascii_uppercase())
                .collect(),
        );
        any_of(
            f.level,
            q.levels.iter().map(|x| x.as_str().to_string()).collect(),
        );
        any_of(
            f.delivery,
            q.delivery.iter().map(|x| x.as_str().to_string()).collect(),
        );
        any_of(
            f.attendance,
            q.attendance
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
        );
        any_of(
            f.day,
            q.days.iter().map(|x| x.as_str().to_string()).collect(),
        );
        any_of(
            f.language,
            q.languages.iter().map(|x| x.to_ascii_lowercase()).collect(),
        );
        if q.mental_health_only {
            any_of(f.mental_health, vec!["1".into()]);
        }
        if q.step_free_only {
            any_of(f.step_free, vec!["1".into()]);
        }
        if let (Some(o), Some(r)) = (c.origin, q.radius_km) {
            // Grid cells covering the radius's bounding box (exact distance is checked later).
            let dlat = r / 111.0;
            let dlon = r / (111.0 * o.lat.to_radians().cos().max(0.01));
            let cell = |v: f64| (v / CELL_DEG).floor() as i64;
            let (la0, la1) = (cell(o.lat - dlat), cell(o.lat + dlat));
            let (lo0, lo1) = (cell(o.lon - dlon), cell(o.lon + dlon));
            let n = (la1 - la0 + 1).saturating_mul(lo1 - lo0 + 1);
            if n <= 400 {
                let mut cells = Vec::with_capacity(n as usize + 1);
                for i in la0..=la1 {
                    for j in lo0..=lo1 {
                        cells.push(format!("{i}:{j}"));
                    }
                }
                if !q.exclude_online {
                    cells.push(ONLINE_CELL.to_string());
                }
                any_of(f.cell, cells);
            }
        }
        (!parts.is_empty()).then(|| {
            Box::new(ConstScoreQuery::new(
                Box::new(BooleanQuery::new(parts)),
                0.0,
            )) as Box<dyn TQuery>
        })
    }

    /// `ranked`: the caller orders by relevance (else no score is computed: the same matches,
    /// collected a block at a time).
    fn run_query(
        &self,
        searcher: &tantivy::Searcher,
        c: &Checked,
        fuzzy_all: bool,
        ranked: bool,
    ) -> Result<Vec<(u64, Score)>, SearchError> {
        let text = self.text_query(searcher, &c.words, fuzzy_all)?;
        let filter = self.filter_query(c);
        let scoring = ranked && text.is_some() && c.q.sort == Sort::Relevance;
        let query: Box<dyn TQuery> = match (text, filter) {
            (None, None) => Box::new(AllQuery),
            (Some(t), None) => t,
            (None, Some(f)) => f,
            (Some(t), Some(f)) => {
                Box::new(BooleanQuery::new(vec![(Occur::Must, t), (Occur::Must, f)]))
            }
        };
        let stats = FrozenStats {
            title: self.fields.title,
        };
        Ok(
            searcher.search_with_statistics_provider(
                &*query,
                &SlotCollector { scoring },
                &stats,
            )?,
        )
    }

    /// Every (slot, score) the text and course-level filters match; when the words match
    /// nothing exactly, again forgiving a typo in every word.
    fn found(
        &self,
        searcher: &tantivy::Searcher,
        c: &Checked,
        ranked: bool,
    ) -> Result<Vec<(u64, Score)>, SearchError> {
        let mut found = self.run_query(searcher, c, false, ranked)?;
        if found.is_empty() && !c.words.is_empty() {
            found = self.run_query(searcher, c, true, ranked)?;
        }
        Ok(found)
    }

    /// Every course matching the whole query, in no particular order (no cursor, no limit):
    /// the same matches [`Engine::search`] counts in `total`.
    pub(crate) fn select(&self, c: &Checked) -> Result<Vec<Arc<Entry>>, SearchError> {
        let (slots, admitted) = self.admitted(c)?;
        Ok(admitted
            .into_iter()
            .filter_map(|s| slots.entries.get(s)?.clone())
            .collect())
    }

    /// The slots of every course matching the whole query, with the slot table still
    /// read-locked so they can be resolved (keep it short). Unranked: no score is computed.
    fn admitted(
        &self,
        c: &Checked,
    ) -> Result<(std::sync::RwLockReadGuard<'_, Slots>, Vec<usize>), SearchError> {
        let searcher = self.reader.searcher();
        let found = self.found(&searcher, c, false)?;
        let slots = self
            .slots
            .read()
            .map_err(|_| SearchError::Engine("slot table poisoned".into()))?;
        let need_runs = needs_runs(c);
        let mut rules = RuleMemo::default();
        let admitted = found
            .into_iter()
            .filter_map(|(slot, _)| {
                let slot = slot as usize;
                let h = slots.hot.get(slot)?;
                let e = slots.entries.get(slot)?.as_ref()?;
                admit(c, need_runs, (h, slots.runs(h)), e, &mut rules)?;
                Some(slot)
            })
            .collect();
        Ok((slots, admitted))
    }

    /// One page of a selection: `keys(id, entry, out)` pushes the sort keys a matching course
    /// contributes (none leaves it out, several give one item per run). Returns how many keys
    /// there were, and items `skip..skip + take` in key order with their courses. Only the
    /// page's courses are cloned, and a caller whose keys need only the id never reads the
    /// others' entries.
    pub(crate) fn select_page<K: Ord>(
        &self,
        c: &Checked,
        mut keys: impl FnMut(Uuid, &Entry, &mut Vec<K>),
        skip: usize,
        take: usize,
    ) -> Result<Selection<K>, SearchError> {
        let (slots, admitted) = self.admitted(c)?;
        let mut all: Vec<(K, usize)> = Vec::with_capacity(admitted.len());
        let mut buf = Vec::new();
        for s in admitted {
            let (Some(h), Some(Some(e))) = (slots.hot.get(s), slots.entries.get(s)) else {
                continue;
            };
            keys(h.id, e, &mut buf);
            all.extend(buf.drain(..).map(|k| (k, s)));
        }
        let total = all.len();
        Ok(Selection {
            total,
            items: window(all, skip, take)
                .into_iter()
                .filter_map(|(k, s)| Some((k, slots.entries.get(s)?.clone()?)))
                .collect(),
        })
    }

    pub(crate) fn search(&self, c: &Checked) -> Result<Page, SearchError> {
        let q = c.q;
        let searcher = self.reader.searcher();
        let found = self.found(&searcher, c, true)?;
        let slots = self
            .slots
            .read()
            .map_err(|_| SearchError::Engine("slot table poisoned".into()))?;
        let need_runs = needs_runs(c);

        let mut cat_counts = [0u64; 32];
        let mut borough_counts = [0u64; 64];
        let mut rules = RuleMemo::default();
        let mut total = 0usize;
        // The `limit + 1` smallest (key, id) after the cursor; the extra one says "more".
        let mut top: BinaryHeap<Cand> = BinaryHeap::with_capacity(q.limit + 2);
        for (slot, score) in found {
            let (Some(h), Some(Some(e))) = (
                slots.hot.get(slot as usize),
                slots.entries.get(slot as usize),
            ) else {
                continue;
            };
            let Some((rm, fee)) = admit(c, need_runs, (h, slots.runs(h)), e, &mut rules) else {
                continue;
            };
            total += 1;
            let mut m = h.category_mask;
            while m != 0 {
                cat_counts[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
            let mut m = h.borough_mask;
            while m != 0 {
                borough_counts[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
            let start = if need_runs {
                rm.start.as_ref().map_or(u64::MAX, start_key)
            } else {
                h.first_start
            };
            let key = match q.sort {
                Sort::Relevance => {
                    if score > 0.0 {
                        u64::from(u32::MAX - score.to_bits())
                    } else {
                        u64::from(u32::MAX)
                    }
                }
                Sort::Distance => rm.distance_km.map_or(u64::MAX, f64::to_bits),
                Sort::StartDate => start,
                Sort::Fee => u64::from(fee),
            };
            let id = h.id;
            if let Some(cur) = q.after
                && (key, id) <= (cur.key, cur.id)
            {
                continue;
            }
            if top.len() > q.limit && top.peek().is_some_and(|t| (key, id) >= (t.key, t.id)) {
                continue;
            }
            top.push(Cand {
                key,
                id,
                slot: slot as usize,
                score,
                distance_km: rm.distance_km,
                start: rm.start,
            });
            if top.len() > q.limit + 1 {
                top.pop();
            }
        }
        let mut after = top.into_sorted_vec();
        let more = after.len() > q.limit;
        after.truncate(q.limit);
        let next = if more {
            after.last().map(|c| Cursor {
                key: c.key,
                id: c.id,
            })
        } else {
            None
        };
        let mut hits = Vec::with_capacity(after.len());
        for cand in after {
            let Some(Some(e)) = slots.entries.get(cand.slot) else {
                continue;
            };
            let evaluation = q
                .learner
                .as_ref()
                .map(|l| evaluate(&e.course, l, &q.funding));
            hits.push(Hit {
                entry: e.clone(),
                score: cand.score,
                distance_km: cand.distance_km,
                next_start: cand.start.or(e.first_start),
                fee_pence: match &evaluation {
                    Some(ev) => ev.fee_pence,
                    None => Some(e.course.fees.full_fee_pence),
                },
                evaluation,
            });
        }
        let categories = Category::ALL
            .iter()
            .filter_map(|cat| {
                let i = category_bit(*cat).trailing_zeros() as usize;
                let n = cat_counts.get(i).copied().unwrap_or(0);
                (n > 0).then_some((*cat, n))
            })
            .collect();
        let boroughs: Vec<(String, u64)> = prospectus_geo::boroughs()
            .iter()
            .zip(borough_counts)
            .filter(|(_, n)| *n > 0)
            .map(|(b, n)| (b.gss_code.to_string(), n))
            .collect();
        Ok(Page {
            hits,
            total,
            next,
            facets: Facets {
                categories,
                boroughs,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written_and_another_format_is_refused() {
        let mut st = Stamp {
            store: "00ff".into(),
            feed: 42,
            heads: Default::default(),
            held: false,
        };
        st.saw("E09000028", (2, 7), 40);
        st.saw("E09000025", (1, 3), 44);
        assert_eq!(st.feed, 44);
        assert_eq!(Stamp::parse(&st.encode()), Ok(st.clone()));
        let other = st.encode().replacen(&format!(" {FORMAT}\n"), " 999\n", 1);
        assert!(Stamp::parse(&other).is_err_and(|e| e.contains("format 999")));
        assert!(Stamp::parse("").is_err());
        assert!(Stamp::parse(&format!("{}feed x\n", st.encode())).is_err());
        // After a failed apply, nothing later is claimed.
        let mut held = st.clone();
        held.held = true;
        held.saw("E09000028", (2, 9), 50);
        assert_eq!(
            (held.feed, held.heads.get("E09000028")),
            (44, Some(&(2, 7)))
        );
    }

    /// A new index holding three generated courses (and their providers and venues) at version
    /// (1, 0), committed; the bundle they came from.
    fn three_courses() -> (Engine, State, prospectus_dataset::Bundle) {
        let (engine, mut state) = Engine::new().expect("engine");
        let b = prospectus_dataset::generate(3, 3, Some("E09000028")).expect("generate");
        for r in b.clone().into_records() {
            match r {
                Record::Course(c) => state
                    .put_course(&engine, c, "E09000028", (1, 0))
                    .expect("put"),
                other => state.put_reference(other),
            }
        }
        state.commit(&engine).expect("commit");
        (engine, state, b)
    }

    /// The run arena: each live slot reads back its own run facts after pushes, replacements
    /// and clears, the dead count is always the arena less the live ranges, and a compaction
    /// keeps exactly the live ranges, in slot order.
    #[test]
    fn a_slot_reads_its_own_run_facts_through_replacements_clears_and_compaction() {
        let (_engine, state, b) = three_courses();
        let refs = state.references();
        let entries: Vec<Arc<Entry>> = b
            .courses
            .iter()
            .map(|c| {
                let (e, _) =
                    refs.resolve(Arc::new(c.clone()), "E09000028", (1, 0), &mut Vec::new());
                Arc::new(e)
            })
            .collect();
        // Run facts told apart by `places_left`: `n` runs for slot `slot`, version `v`.
        let facts = |slot: u32, v: u32, n: usize| -> Vec<RunFacts> {
            (0..n as u32)
                .map(|i| RunFacts {
                    online: false,
                    location: None,
                    step_free: false,
                    start: Start::Rolling,
                    days: 0,
                    start_time: chrono::NaiveTime::MIN,
                    end_time: chrono::NaiveTime::MIN,
                    places_left: Some(slot * 1_000_000 + v * 10 + i),
                })
                .collect()
        };
        let places =
            |r: &[RunFacts]| -> Vec<Option<u32>> { r.iter().map(|f| f.places_left).collect() };
        let consistent = |t: &Slots| {
            let live: usize = t
                .hot
                .iter()
                .zip(&t.entries)
                .filter(|(_, e)| e.is_some())
                .map(|(h, _)| h.runs_len as usize)
                .sum();
            assert_eq!(t.dead_runs, t.runs.len() - live, "dead count");
        };
        let mut t = Slots::default();
        let mut now = vec![facts(0, 0, 2), facts(1, 0, 3), facts(2, 0, 1)];
        for (e, r) in entries.iter().zip(&now) {
            t.push(e.clone(), r);
            consistent(&t);
        }
        // Slot 1 replaced again and again, with other runs (1 to 4 of them) each time.
        let mut v = 0;
        while t.dead_runs < COMPACT_AFTER {
            v += 1;
            now[1] = facts(1, v, 1 + v as usize % 4);
            t.set(1, entries[1].clone(), &now[1]);
            consistent(&t);
            assert!(v < 100_000, "no dead runs counted");
        }
        t.clear(2);
        consistent(&t);
        t.set(7, entries[1].clone(), &facts(7, 0, 2)); // past the table: ignored
        consistent(&t);
        let check = |t: &Slots| {
            assert_eq!(places(t.runs(&t.hot[0])), places(&now[0]));
            assert_eq!(places(t.runs(&t.hot[1])), places(&now[1]));
            assert!(t.entries[2].is_none() && t.runs(&t.hot[2]).is_empty());
        };
        check(&t);
        t.compact();
        check(&t);
        consistent(&t);
        assert_eq!(t.dead_runs, 0);
        assert_eq!(t.runs.len(), now[0].len() + now[1].len());
        assert_eq!(t.hot[1].runs_at as usize, now[0].len(), "slot order");
        // Filled again after the compaction: the new slot reads its own runs.
        t.push(entries[2].clone(), &facts(3, 0, 2));
        consistent(&t);
        assert_eq!(places(t.runs(&t.hot[3])), places(&facts(3, 0, 2)));
        check(&t);
    }

    /// A changed course put again replaces its doc (the commit retires the old one by slot):
    /// tantivy's live doc count stays the course count (a reopen maps docs to slots by id, so
    /// a stale second doc would be mapped as live).
    #[test]
    fn a_course_put_again_into_a_new_index_leaves_one_doc() {
        let (engine, mut state, b) = three_courses();
        let courses = b.courses;
        let docs = |engine: &Engine| engine.reader.searcher().num_docs();
        assert_eq!(docs(&engine), 3);
        for (round, c) in courses.iter().cycle().take(4).enumerate() {
            let mut c = c.clone();
            c.title = format!("again {round}");
            state
                .put_course(&engine, c, "E09000028", (2 + round as u64, 0))
                .expect("put again");
            state.commit(&engine).expect("commit");
            assert_eq!(docs(&engine), 3, "round {round}");
        }
    }

    /// A course put again unchanged (a whole offer republished) keeps its doc: tantivy gets
    /// no new doc and no delete, and the served entry is the new version. A changed course
    /// in the same batch still gets a doc of its own.
    #[test]
    fn a_course_put_again_unchanged_keeps_its_doc_and_serves_the_new_version() {
        let (engine, mut state, b) = three_courses();
        let courses = b.courses.clone();
        let refs: Vec<Record> = b
            .providers
            .into_iter()
            .map(Record::Provider)
            .chain(b.venues.into_iter().map(Record::Venue))
            .collect();
        // The providers and venues again, unchanged: their courses are not re-indexed.
        for r in refs {
            let (kind, id) = (r.kind(), r.id());
            let u = Update {
                kind,
                id,
                origin: "E09000028".into(),
                epoch: 1,
                seq: 2,
                feed_seq: 2,
                unix_millis: 5,
                new: Some(r),
            };
            state.apply(&engine, u).expect("apply");
        }
        state.commit(&engine).expect("commit");
        // Every doc ever added, deleted or not.
        let added = |engine: &Engine| -> u32 {
            let s = engine.reader.searcher();
            s.segment_readers().iter().map(|r| r.max_doc()).sum()
        };
        let served = |engine: &Engine, id: Uuid| -> Vec<(u64, String)> {
            let slots = engine.slots.read().expect("slots");
            slots
                .entries
                .iter()
                .flatten()
                .filter(|e| e.course.id == id)
                .map(|e| (e.seq, e.course.title.clone()))
                .collect()
        };
        assert_eq!(added(&engine), 3);
        for c in &courses {
            state
                .put_course(&engine, c.clone(), "E09000028", (2, 5))
                .expect("put unchanged");
        }
        let mut changed = courses[1].clone();
        changed.title = "changed".into();
        state
            .put_course(&engine, changed, "E09000028", (3, 6))
            .expect("put changed");
        state.commit(&engine).expect("commit");
        assert_eq!(
            added(&engine),
            4,
            "one new doc, for the changed course only"
        );
        assert_eq!(engine.reader.searcher().num_docs(), 3);
        assert_eq!(
            served(&engine, courses[0].id),
            vec![(2, courses[0].title.clone())]
        );
        assert_eq!(
            served(&engine, courses[1].id),
            vec![(3, "changed".to_string())]
        );
        // Unchanged after a change in one batch: still one entry, the newest.
        let mut again = courses[2].clone();
        again.title = "changed too".into();
        for (v, c) in [(4, again.clone()), (5, again)] {
            state
                .put_course(&engine, c, "E09000028", (v, 7))
                .expect("put");
        }
        state.commit(&engine).expect("commit");
        assert_eq!(
            served(&engine, courses[2].id),
            vec![(5, "changed too".to_string())]
        );
        assert_eq!(engine.reader.searcher().num_docs(), 3);
    }
}
