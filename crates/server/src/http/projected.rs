//! Each course's HSDS `service` (and each run's `service_at_location`) JSON, serialised once and kept while its index entry is the
//! same object (the index builds a new entry whenever the course, its provider or a venue
//! changes) and the date is the same (full detail describes cost options under the current
//! year's rules). It exists because projecting a list page of 50 services cost more than
//! selecting them; with it a repeated page is the selection plus byte copies, and the body is
//! byte for byte what serialising the projected values gives. Bounded: past `CAP` courses it
//! starts over, so it never holds more than a few MB.

use chrono::NaiveDate;
use prospectus_model::Uuid;
use prospectus_oruk::Detail;
use prospectus_search::Entry;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Most projections kept.
const CAP: usize = 8192;

/// What was projected from a course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Item {
    Service(Detail),
    /// Its `run`-th run, with or without schedules.
    ServiceAtLocation {
        run: usize,
        full: bool,
    },
}

type Map = HashMap<(Uuid, Item), Projected>;

#[derive(Clone, Default)]
pub struct ProjectedCache {
    map: Arc<Mutex<Map>>,
}

struct Projected {
    /// The entry it was projected from. Held weakly: the cache never keeps a course's data
    /// alive, and while this is held the entry's allocation cannot be reused by another, so
    /// the same address means the same entry.
    entry: Weak<Entry>,
    day: NaiveDate,
    json: Arc<str>,
}

impl ProjectedCache {
    /// `project(e)` serialised, from the cache when `item` of `e` itself was projected today.
    pub(super) fn get(
        &self,
        e: &Arc<Entry>,
        item: Item,
        project: impl FnOnce(&Entry) -> Value,
    ) -> Arc<str> {
        let key = (e.course.id, item);
        let day = prospectus_store::today();
        if let Some(p) = self.lock().get(&key)
            && std::ptr::eq(p.entry.as_ptr(), Arc::as_ptr(e))
            && p.day == day
        {
            return p.json.clone();
        }
        let json: Arc<str> = project(e).to_string().into();
        let mut map = self.lock();
        if map.len() >= CAP {
            map.clear();
        }
        map.insert(
            key,
            Projected {
                entry: Arc::downgrade(e),
                day,
                json: json.clone(),
            },
        );
        json
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The ORUK page envelope around serialised `contents`: exactly the bytes serialising
/// `prospectus_oruk::page` of their values gives (the envelope is serialised with no contents
/// and they are spliced in; `"contents":[]` is the only array in it).
pub(super) fn page_body(
    contents: &[Arc<str>],
    total_items: u64,
    page_number: u64,
    per_page: u64,
) -> String {
    let mut envelope = prospectus_oruk::page(Vec::new(), total_items, page_number, per_page);
    envelope["size"] = Value::from(contents.len());
    envelope["empty"] = Value::Bool(contents.is_empty());
    let shell = envelope.to_string();
    const EMPTY: &str = "\"contents\":[]";
    let Some(at) = shell.find(EMPTY) else {
        return shell;
    };
    let len: usize = contents.iter().map(|c| c.len() + 1).sum();
    let mut out = String::with_capacity(shell.len() + len);
    out.push_str(&shell[..at]);
    out.push_str("\"contents\":[");
    for (i, c) in contents.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(c);
    }
    out.push(']');
    out.push_str(&shell[at + EMPTY.len()..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spliced_page_is_the_serialised_page() {
        let items = [
            json!({"id": "a", "name": "Digital \"skills\" ✓", "organization": {"id": "o"}}),
            json!({"id": "b", "contents": [], "n": 1.5}),
            json!({"id": "c"}),
        ];
        for n in 0..=items.len() {
            let values: Vec<Value> = items[..n].to_vec();
            let strings: Vec<Arc<str>> = values.iter().map(|v| v.to_string().into()).collect();
            for (total, page, per) in [(n as u64, 1, 50), (1000, 3, 2), (0, 1, 1)] {
                let want = prospectus_oruk::page(values.clone(), total, page, per).to_string();
                assert_eq!(page_body(&strings, total, page, per), want, "{n} items");
            }
        }
    }
}
