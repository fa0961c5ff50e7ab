//! Where the ORUK handlers get records: single lookups from the store, remembered per request.

use super::default_rules;
use super::error::ApiError;
use prospectus_model::{Course, Provider, Record, RecordKind, Uuid, Venue};
use prospectus_oruk::{self as oruk, Meta};
use prospectus_store::Store;
use std::cell::RefCell;
use std::collections::HashMap;

/// Providers and venues in memory, plus live courses with their metadata, for one request.
pub(super) struct Snapshot {
    pub(super) providers: HashMap<Uuid, Provider>,
    pub(super) venues: HashMap<Uuid, Venue>,
    /// In course-id order.
    pub(super) courses: Vec<(Course, Meta)>,
}

impl oruk::Records for Snapshot {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        self.providers.get(&id).cloned()
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.venues.get(&id).cloned()
    }
}

impl Snapshot {
    pub(super) fn load(store: &Store, with_courses: bool) -> Result<Snapshot, ApiError> {
        let mut providers = HashMap::new();
        for s in store.scan(RecordKind::Provider) {
            if let Some(Record::Provider(p)) = s?.record {
                providers.insert(p.id, p);
            }
        }
        let mut venues = HashMap::new();
        for s in store.scan(RecordKind::Venue) {
            if let Some(Record::Venue(v)) = s?.record {
                venues.insert(v.id, v);
            }
        }
        let mut courses = Vec::new();
        if with_courses {
            for s in store.scan(RecordKind::Course) {
                let s = s?;
                if let Some(Record::Course(c)) = s.record {
                    courses.push((
                        c,
                        Meta {
                            origin: s.origin,
                            modified_millis: s.unix_millis,
                            default_rules: default_rules(),
                        },
                    ));
                }
            }
            courses.sort_by_key(|(c, _)| c.id);
        }
        Ok(Snapshot {
            providers,
            venues,
            courses,
        })
    }
}

/// Single-record lookups straight from the store.
pub(super) struct StoreRecords<'a>(pub(super) &'a Store);

impl oruk::Records for StoreRecords<'_> {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        match self.0.get_live(RecordKind::Provider, id).ok()??.record? {
            Record::Provider(p) => Some(p),
            _ => None,
        }
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        match self.0.get_live(RecordKind::Venue, id).ok()??.record? {
            Record::Venue(v) => Some(v),
            _ => None,
        }
    }
}

/// Store lookups remembered for one request (a feed page repeats providers and venues).
pub(super) struct CachedRecords<'a> {
    store: StoreRecords<'a>,
    providers: RefCell<HashMap<Uuid, Option<Provider>>>,
    venues: RefCell<HashMap<Uuid, Option<Venue>>>,
}

impl<'a> CachedRecords<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        CachedRecords {
            store: StoreRecords(store),
            providers: RefCell::default(),
            venues: RefCell::default(),
        }
    }
}

impl oruk::Records for CachedRecords<'_> {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        self.providers
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| self.store.provider(id))
            .clone()
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.venues
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| self.store.venue(id))
            .clone()
    }
}

pub(super) fn live_course(store: &Store, id: Uuid) -> Result<Option<(Course, Meta)>, ApiError> {
    Ok(match store.get_live(RecordKind::Course, id)? {
        Some(s) => match s.record {
            Some(Record::Course(c)) => Some((
                c,
                Meta {
                    origin: s.origin,
                    modified_millis: s.unix_millis,
                    default_rules: default_rules(),
                },
            )),
            _ => None,
        },
        None => None,
    })
}
