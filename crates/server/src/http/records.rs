//! Where the RPDE feed gets the provider and venues of a changed course: single lookups from
//! the store, remembered per request (a feed page repeats them).

use prospectus_model::{Provider, Record, RecordKind, Uuid, Venue};
use prospectus_oruk as oruk;
use prospectus_store::Store;
use std::cell::RefCell;
use std::collections::HashMap;

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
