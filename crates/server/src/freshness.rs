//! Whether an origin's records may be out of date: nothing new from it (an entry or a newer
//! signed checkpoint) within `stale_after`. Shared by `Directory.Search` and the page, so a
//! result is "stale" on both alike.

use prospectus_store::{Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;

pub struct Freshness {
    last_seen: HashMap<String, i64>,
    now_millis: i64,
    stale_millis: i64,
}

impl Freshness {
    /// Reads every origin's last-heard time now.
    pub fn load(store: &Store, stale_after: Duration) -> Result<Self, StoreError> {
        Ok(Freshness {
            last_seen: store
                .origin_heads()?
                .into_iter()
                .map(|h| (h.origin, h.last_unix_millis))
                .collect(),
            now_millis: chrono::Utc::now().timestamp_millis(),
            stale_millis: i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// Unix millis of the last thing heard from `origin` (0: never).
    pub fn last_seen(&self, origin: &str) -> i64 {
        self.last_seen.get(origin).copied().unwrap_or(0)
    }

    pub fn is_stale(&self, origin: &str) -> bool {
        self.now_millis.saturating_sub(self.last_seen(origin)) > self.stale_millis
    }
}
