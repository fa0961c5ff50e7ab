//! How an index comes to reflect the store at start: rebuilt by a full scan, or — for an
//! index on disk — reopened as its last commit left it and caught up from the store's local
//! change feed. Kept apart from `lib.rs` because the reopen check is the one place that
//! decides whether derived state on disk may be trusted; anything it cannot prove equal to
//! the store is a reason to rebuild, never an answer served stale.

use crate::Entry;
use crate::SearchError;
use crate::engine::{Engine, State};
use crate::entry::RunFacts;
use prospectus_model::{Record, RecordKind, Uuid};
use prospectus_store::{FeedItem, Store, StoreError, Stored, Update};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// Per origin, the highest `(epoch, seq)` the opened index reflects.
pub(crate) type Heads = BTreeMap<String, (u64, u64)>;

fn note(heads: &mut Heads, state: &mut State, s: &Stored) -> bool {
    let h = heads.entry(s.origin.clone()).or_default();
    *h = (*h).max((s.epoch, s.seq));
    state.advance(s.kind, s.id, (s.epoch, s.seq))
}

/// Fills a new, empty `state` from everything live in `store` and commits it.
pub(crate) fn rebuild(
    store: &Store,
    engine: &Engine,
    state: &mut State,
) -> Result<Heads, SearchError> {
    let started = Instant::now();
    // Read before the scan: every change at or before it is in what the scan reads.
    let feed = store.feed_head()?;
    let mut heads = Heads::new();
    for kind in [RecordKind::Provider, RecordKind::Venue] {
        for s in store.scan(kind) {
            let s = s?;
            note(&mut heads, state, &s);
            if let Some(r) = s.record {
                state.put_reference(r);
            }
        }
    }
    let mut n = 0usize;
    for s in store.scan(RecordKind::Course) {
        let s = s?;
        note(&mut heads, state, &s);
        if let Some(Record::Course(c)) = s.record {
            state.put_course(engine, c, &s.origin, (s.seq, s.unix_millis))?;
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
    if let Some(st) = &mut state.stamp {
        st.store = store.instance().to_string();
        st.feed = feed;
        st.heads = heads.clone();
    }
    state.commit(engine)?;
    Ok(heads)
}

/// Every change in `store`'s feed after `after`, each record once at its latest state;
/// `None` when deletions after `after` were purged (the index cannot be caught up).
fn feed_after(store: &Store, after: u64) -> Result<Option<Vec<FeedItem>>, SearchError> {
    let mut out: Vec<FeedItem> = Vec::new();
    let mut pos = after;
    loop {
        let page = match store.changes_after(pos, 4096) {
            Ok(p) => p,
            Err(StoreError::FeedExpired { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(last) = page.last() else {
            return Ok(Some(out));
        };
        pos = last.pos;
        out.extend(page);
    }
}

fn update_of(s: Stored, feed_seq: u64) -> Update {
    Update {
        kind: s.kind,
        id: s.id,
        origin: s.origin,
        epoch: s.epoch,
        seq: s.seq,
        feed_seq,
        unix_millis: s.unix_millis,
        new: s.record,
    }
}

/// A stored course (its record dropped), whether it is live, and its resolved entry with its
/// run facts' place in its reader's buffers (chunk, range).
type Scanned = (Stored, bool, Option<(Arc<Entry>, usize, Range<usize>)>);

/// One reader thread's courses and the run facts they name: fixed-size chunks per thread, not
/// one allocation per course to free (and fragment the heap) once the slot table's arena holds
/// them, nor one growing buffer (each doubling copies it, and the copy is a start-up peak).
type Slice = (Vec<Scanned>, Vec<Vec<RunFacts>>);

/// Run facts per reader chunk (56 B each: 3.5 MiB).
const RUN_CHUNK: usize = 1 << 16;

/// Every stored course (tombstones included; the record itself dropped), whether it is
/// live, and each live one with a doc in `docs` resolved to its entry: read, decoded and resolved by one thread per
/// core over slices of the id space, the part of reopening that grows with the directory.
fn resolve_courses(
    store: &Store,
    state: &State,
    docs: &HashMap<Uuid, u64>,
) -> Result<Vec<Slice>, SearchError> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    let refs = state.references();
    let slices: Vec<Result<Slice, SearchError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parts)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    let mut chunks: Vec<Vec<RunFacts>> = Vec::new();
                    for s in store.scan_part(RecordKind::Course, part, parts) {
                        let mut s = s?;
                        let live = s.record.is_some();
                        let entry = match s.record.take() {
                            Some(Record::Course(c)) if docs.contains_key(&c.id) => {
                                let n = c.runs.len();
                                if chunks.last().is_none_or(|b| b.len() + n > b.capacity()) {
                                    chunks.push(Vec::with_capacity(RUN_CHUNK.max(n)));
                                }
                                let k = chunks.len() - 1;
                                let version = (s.seq, s.unix_millis);
                                chunks.last_mut().map(|buf| {
                                    let (e, r) = refs.resolve(Arc::new(c), &s.origin, version, buf);
                                    (Arc::new(e), k, r)
                                })
                            }
                            _ => None,
                        };
                        out.push((s, live, entry));
                    }
                    Ok((out, chunks))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(SearchError::Engine(
                        "a start-up reader thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    slices.into_iter().collect()
}

/// Takes over the index `engine` reopened from disk: checks its stamp against `store`, maps
/// its docs to the store's live courses (resolving each again, indexing nothing), then
/// re-applies every record the change feed shows changed since the stamp. Returns the heads
/// and how many changes were re-applied, or (inner `Err`) why the index must be rebuilt.
pub(crate) fn reopen(
    store: &Store,
    engine: &Engine,
    state: &mut State,
) -> Result<Result<(Heads, usize), String>, SearchError> {
    let Some(stamp) = state.stamp.clone() else {
        return Ok(Err("no stamp".into()));
    };
    if stamp.store != store.instance() {
        return Ok(Err("the index was derived from another store".into()));
    }
    let feed = store.feed_head()?;
    if stamp.feed > feed {
        return Ok(Err(format!(
            "the index is ahead of the store (feed position {} > {feed})",
            stamp.feed
        )));
    }
    let held: BTreeMap<String, (u64, u64)> = store
        .origin_heads()?
        .into_iter()
        .map(|h| (h.origin, (h.epoch, h.seq)))
        .collect();
    for (origin, pos) in &stamp.heads {
        if held.get(origin).is_none_or(|h| h < pos) {
            return Ok(Err(format!(
                "the index is ahead of the store for origin {origin}"
            )));
        }
    }
    let started = Instant::now();
    let (mut docs, next_slot) = match engine.docs() {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let mut heads = Heads::new();
    for kind in [RecordKind::Provider, RecordKind::Venue] {
        for s in store.scan(kind) {
            let s = s?;
            note(&mut heads, state, &s);
            if let Some(r) = s.record {
                state.put_reference(r);
            }
        }
    }
    let mapped_ms = started.elapsed().as_millis() as u64;
    let mut adopted = Vec::new();
    let mut unindexed: Vec<Uuid> = Vec::new();
    let resolved = resolve_courses(store, state, &docs)?;
    let resolved_ms = started.elapsed().as_millis() as u64;
    // The scanned records are dropped as they are taken (they hold the stored entries); the
    // run chunks stay until the slot table has copied them.
    let (scans, chunks): (Vec<_>, Vec<_>) = resolved.into_iter().unzip();
    for (scanned, chunks) in scans.into_iter().zip(&chunks) {
        for (s, live, entry) in scanned {
            note(&mut heads, state, &s);
            if !live {
                continue;
            }
            match (docs.remove(&s.id), entry) {
                (Some(slot), Some((e, k, r))) => {
                    let runs = chunks.get(k).and_then(|b| b.get(r)).unwrap_or(&[]);
                    state.adopt((e, runs), (s.seq, s.unix_millis), slot, &mut adopted)
                }
                (Some(slot), None) => {
                    // Held by the index but not decodable as a course: the feed must explain it.
                    docs.insert(s.id, slot);
                }
                (None, _) => unindexed.push(s.id),
            }
        }
    }
    // Read after the scan: a record the scan saw otherwise than the index holds it changed
    // after the stamp, so it is here.
    let Some(changed) = feed_after(store, stamp.feed)? else {
        return Ok(Err(format!(
            "deletions after the index's feed position {} were purged",
            stamp.feed
        )));
    };
    let in_feed: HashSet<(RecordKind, Uuid)> = changed.iter().map(|c| (c.kind, c.id)).collect();
    if let Some(id) = unindexed
        .iter()
        .find(|id| !in_feed.contains(&(RecordKind::Course, **id)))
    {
        return Ok(Err(format!(
            "live course {id} is not in the index nor changed since"
        )));
    }
    if let Some(id) = docs
        .keys()
        .find(|id| !in_feed.contains(&(RecordKind::Course, **id)))
    {
        return Ok(Err(format!(
            "the index holds course {id}, which the store does not hold live"
        )));
    }
    // In slot order, so the arena is too. A slot is one doc's: two courses at one slot would
    // each serve the other's entry.
    adopted.sort_unstable_by_key(|a| a.0);
    if let Some(w) = adopted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Ok(Err(format!("two courses hold the index's slot {}", w[0].0)));
    }
    state.install_adopted(engine, next_slot, adopted, docs);
    drop(chunks);
    // An adopted course holds the store's record, its doc what the index last wrote.
    state.distrust_docs(&in_feed);
    let adopted_ms = started.elapsed().as_millis() as u64;
    let n = changed.len();
    // References first, so re-applied courses resolve against them.
    let (refs, courses): (Vec<FeedItem>, Vec<FeedItem>) = changed
        .into_iter()
        .partition(|c| c.kind != RecordKind::Course);
    for item in refs.into_iter().chain(courses) {
        match item.stored {
            Some(s) => {
                let h = heads.entry(s.origin.clone()).or_default();
                *h = (*h).max((s.epoch, s.seq));
                state.apply(engine, update_of(s, item.pos))?;
            }
            None => state.forget(engine, item.kind, item.id)?,
        }
    }
    if let Some(st) = &mut state.stamp {
        st.feed = feed;
        st.heads = heads.clone();
    }
    state.commit(engine)?;
    tracing::info!(
        mapped_ms,
        resolved_ms,
        adopted_ms,
        committed_ms = started.elapsed().as_millis() as u64,
        changes = n,
        "search index: reopened from disk"
    );
    Ok(Ok((heads, n)))
}
