//! Retiring replaced docs: one tantivy delete per commit, naming the old versions by slot.
//!
//! Why not tantivy's `delete_term(id)` per replaced course: tantivy keeps every delete in its
//! queue as a compiled query — a term weight carrying a 1 KB BM25 cache — until the writer has
//! moved past it, so a borough republishing its 100k courses queued ≈100 MB of deletes, still
//! resident after the commit. A slot is never reused while a node runs (see `Engine::slots`),
//! so "the docs at these slots" names exactly the versions a commit replaces and never the
//! new docs it adds; one [`Retired`] per commit carries them as a bitset over the slot range,
//! a few bytes per replaced course. Slots come from this node's own counter, never from a
//! peer, so the range is bounded by what the node itself allocated.

use std::sync::Arc;
use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, Score, SegmentReader, TantivyError};

/// The docs whose `slot` fast field is one of a set of slots.
#[derive(Clone, Debug)]
pub(crate) struct Retired {
    field: &'static str,
    lo: u64,
    hi: u64,
    bits: Arc<Vec<u64>>,
}

impl Retired {
    /// The docs at `slots` (read from fast field `field`); `None` for no slots.
    pub(crate) fn new(field: &'static str, slots: &[u64]) -> Option<Retired> {
        let lo = *slots.iter().min()?;
        let hi = *slots.iter().max()?;
        let words = usize::try_from((hi - lo) / 64 + 1).ok()?;
        let mut bits = vec![0u64; words];
        for s in slots {
            let o = s - lo;
            if let Some(w) = bits.get_mut((o / 64) as usize) {
                *w |= 1 << (o % 64);
            }
        }
        Some(Retired {
            field,
            lo,
            hi,
            bits: Arc::new(bits),
        })
    }

    fn holds(&self, slot: u64) -> bool {
        let Some(o) = slot.checked_sub(self.lo) else {
            return false;
        };
        self.bits
            .get(usize::try_from(o / 64).unwrap_or(usize::MAX))
            .is_some_and(|w| (w >> (o % 64)) & 1 == 1)
    }
}

impl Query for Retired {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for Retired {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let col = reader.fast_fields().u64(self.field)?;
        let mut docs = BitSet::with_max_value(reader.max_doc());
        // A segment whose slots all lie outside the range holds none of them.
        if col.max_value() >= self.lo && col.min_value() <= self.hi {
            for d in 0..reader.max_doc() {
                if col.first(d).is_some_and(|s| self.holds(s)) {
                    docs.insert(d);
                }
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let col = reader.fast_fields().u64(self.field)?;
        match col.first(doc) {
            Some(s) if self.holds(s) => Ok(Explanation::new("retired slot", 1.0)),
            _ => Err(TantivyError::InvalidArgument(format!(
                "doc {doc} is not at a retired slot"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_set_holds_its_slots_and_nothing_else() {
        let r = Retired::new("slot", &[70, 5, 64, 200]).expect("non-empty");
        for s in [5, 64, 70, 200] {
            assert!(r.holds(s), "{s}");
        }
        for s in [0, 4, 6, 63, 65, 69, 71, 199, 201, u64::MAX] {
            assert!(!r.holds(s), "{s}");
        }
        assert!(Retired::new("slot", &[]).is_none());
        let one = Retired::new("slot", &[u64::MAX]).expect("non-empty");
        assert!(one.holds(u64::MAX) && !one.holds(0));
    }
}
