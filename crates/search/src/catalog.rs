//! The directory as ordered lists, for the HTTP API (ORUK pages by number, NDJSON dumps, by-id
//! lookups). It exists beside the tantivy index so that listing never scans the store and
//! paging is O(page) at any page number: the writer thread keeps sorted id vectors and id maps
//! current at every commit, in the same step that makes a generation searchable.
//!
//! Reads take a short read lock and copy out `Arc`s; the writer applies one batch's changes under
//! the write lock (O(changes · log n) for small batches, one merge for large ones).

use crate::entry::Entry;
use prospectus_model::{Provider, Uuid};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// One change queued by the writer for the next commit, in apply order.
pub(crate) enum Change {
    Course(Uuid, Option<Arc<Entry>>),
    Provider(Uuid, Option<Arc<Provider>>),
}

/// Live courses and providers in id order, with O(1) lookups by course, run and provider id.
#[derive(Default)]
pub struct Catalog {
    courses: HashMap<Uuid, Arc<Entry>>,
    /// Live course ids, ascending.
    order: Vec<Uuid>,
    /// Every run as (course id, index in the course's runs), ascending: the
    /// `service_at_location` list.
    runs_order: Vec<(Uuid, u16)>,
    /// Run id → (course id, run index).
    runs: HashMap<Uuid, (Uuid, u16)>,
    providers: HashMap<Uuid, Arc<Provider>>,
    provider_order: Vec<Uuid>,
    by_provider: HashMap<Uuid, BTreeSet<Uuid>>,
    generation: u64,
    changed_millis: i64,
}

/// Below this many changed keys in one commit, sorted vectors are edited in place; above, they
/// are filtered and re-merged once.
const IN_PLACE: usize = 64;

/// Removes every element whose group is in `gone` and inserts `add`, keeping `v` sorted.
fn resort<K: Ord + Copy>(v: &mut Vec<K>, group: fn(&K) -> Uuid, gone: &HashSet<Uuid>, add: Vec<K>) {
    if gone.len() + add.len() <= IN_PLACE {
        for g in gone {
            let lo = v.partition_point(|k| group(k) < *g);
            let hi = lo + v[lo..].partition_point(|k| group(k) == *g);
            v.drain(lo..hi);
        }
        for k in add {
            let at = v.partition_point(|x| *x < k);
            v.insert(at, k);
        }
    } else {
        v.retain(|k| !gone.contains(&group(k)));
        let mut add = add;
        add.sort_unstable();
        v.extend(add);
        // Two sorted runs: the stable sort merges them in O(n).
        v.sort();
    }
}

impl Catalog {
    /// Applies one commit's changes and starts a new generation.
    pub(crate) fn apply(&mut self, changes: Vec<Change>, now_millis: i64) {
        if changes.is_empty() {
            return;
        }
        // For each course touched, what it was before this batch.
        let mut before: HashMap<Uuid, Option<Arc<Entry>>> = HashMap::new();
        let mut providers_touched: HashSet<Uuid> = HashSet::new();
        let mut provider_was: HashMap<Uuid, bool> = HashMap::new();
        for ch in changes {
            match ch {
                Change::Course(id, new) => {
                    let old = match new {
                        Some(e) => self.courses.insert(id, e),
                        None => self.courses.remove(&id),
                    };
                    before.entry(id).or_insert(old);
                }
                Change::Provider(id, new) => {
                    let had = match new {
                        Some(p) => self.providers.insert(id, p).is_some(),
                        None => self.providers.remove(&id).is_some(),
                    };
                    provider_was.entry(id).or_insert(had);
                    providers_touched.insert(id);
                }
            }
        }
        let mut gone: HashSet<Uuid> = HashSet::new();
        let mut added: Vec<Uuid> = Vec::new();
        let mut runs_gone: HashSet<Uuid> = HashSet::new();
        let mut runs_added: Vec<(Uuid, u16)> = Vec::new();
        for (id, old) in before {
            let new = self.courses.get(&id).cloned();
            if let Some(o) = &old {
                for r in &o.course.runs {
                    self.runs.remove(&r.id);
                }
                if let Some(s) = self.by_provider.get_mut(&o.course.provider_id) {
                    s.remove(&id);
                    if s.is_empty() {
                        self.by_provider.remove(&o.course.provider_id);
                    }
                }
                runs_gone.insert(id);
            }
            match (&old, &new) {
                (Some(_), None) => {
                    gone.insert(id);
                }
                (None, Some(_)) => added.push(id),
                _ => {}
            }
            if let Some(n) = &new {
                for (i, r) in n.course.runs.iter().enumerate() {
                    let i = u16::try_from(i).unwrap_or(u16::MAX);
                    self.runs.insert(r.id, (id, i));
                    runs_added.push((id, i));
                }
                self.by_provider
                    .entry(n.course.provider_id)
                    .or_default()
                    .insert(id);
            }
        }
        resort(&mut self.order, |k| *k, &gone, added);
        resort(&mut self.runs_order, |k| k.0, &runs_gone, runs_added);
        let mut p_gone = HashSet::new();
        let mut p_added = Vec::new();
        for id in providers_touched {
            let had = provider_was.get(&id).copied().unwrap_or(false);
            match (had, self.providers.contains_key(&id)) {
                (true, false) => {
                    p_gone.insert(id);
                }
                (false, true) => p_added.push(id),
                _ => {}
            }
        }
        resort(&mut self.provider_order, |k| *k, &p_gone, p_added);
        self.generation += 1;
        self.changed_millis = now_millis;
    }

    /// Counts up at every commit that changed anything (from 1 after the start-up build).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Wall-clock time of the last change (the start-up build counts as one).
    pub fn changed_millis(&self) -> i64 {
        self.changed_millis
    }

    pub fn course(&self, id: Uuid) -> Option<Arc<Entry>> {
        self.courses.get(&id).cloned()
    }

    pub fn courses_len(&self) -> usize {
        self.order.len()
    }

    /// Courses `skip..skip + take` in id order.
    pub fn course_page(&self, skip: usize, take: usize) -> Vec<Arc<Entry>> {
        self.order
            .iter()
            .skip(skip)
            .take(take)
            .filter_map(|id| self.courses.get(id).cloned())
            .collect()
    }

    /// Up to `take` courses with ids above `after`, in id order (for streaming every course).
    pub fn courses_after(&self, after: Option<Uuid>, take: usize) -> Vec<Arc<Entry>> {
        let from = after.map_or(0, |a| self.order.partition_point(|id| *id <= a));
        self.course_page(from, take)
    }

    /// The course holding run `id`, and the run's index in it.
    pub fn run(&self, id: Uuid) -> Option<(Arc<Entry>, usize)> {
        let (c, i) = self.runs.get(&id)?;
        Some((self.courses.get(c)?.clone(), usize::from(*i)))
    }

    pub fn runs_len(&self) -> usize {
        self.runs_order.len()
    }

    /// Runs `skip..skip + take` in (course id, run order).
    pub fn run_page(&self, skip: usize, take: usize) -> Vec<(Arc<Entry>, usize)> {
        self.runs_slice(self.runs_order.iter().skip(skip).take(take))
    }

    /// Up to `take` runs after `(course id, run index)`, in list order.
    pub fn runs_after(&self, after: Option<(Uuid, u16)>, take: usize) -> Vec<(Arc<Entry>, usize)> {
        let from = after.map_or(0, |a| self.runs_order.partition_point(|k| *k <= a));
        self.runs_slice(self.runs_order.iter().skip(from).take(take))
    }

    fn runs_slice<'a>(
        &self,
        keys: impl Iterator<Item = &'a (Uuid, u16)>,
    ) -> Vec<(Arc<Entry>, usize)> {
        keys.filter_map(|(c, i)| Some((self.courses.get(c)?.clone(), usize::from(*i))))
            .collect()
    }

    pub fn provider(&self, id: Uuid) -> Option<Arc<Provider>> {
        self.providers.get(&id).cloned()
    }

    /// Every live provider, in id order (a borough has hundreds, London thousands).
    pub fn providers(&self) -> Vec<Arc<Provider>> {
        self.provider_order
            .iter()
            .filter_map(|id| self.providers.get(id).cloned())
            .collect()
    }

    /// A provider's live courses, in id order.
    pub fn courses_of(&self, provider: Uuid) -> Vec<Arc<Entry>> {
        self.by_provider
            .get(&provider)
            .map(|s| {
                s.iter()
                    .filter_map(|id| self.courses.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resort_keeps_order_in_place_and_merged() {
        let ids: Vec<Uuid> = (0..200u128).map(Uuid::from_u128).collect();
        for n in [3usize, 150] {
            let mut v: Vec<Uuid> = ids.iter().step_by(2).copied().collect();
            let gone: HashSet<Uuid> = v.iter().take(n / 3).copied().collect();
            let add: Vec<Uuid> = ids.iter().skip(1).step_by(2).take(n).copied().collect();
            let mut want: Vec<Uuid> = v
                .iter()
                .filter(|x| !gone.contains(x))
                .chain(add.iter())
                .copied()
                .collect();
            want.sort();
            resort(&mut v, |k| *k, &gone, add);
            assert_eq!(v, want, "{n} changes");
        }
    }
}
