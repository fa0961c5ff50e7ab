//! Applying what a peer sends: verify every entry against the roster, apply in chunks in
//! per-origin order, check checkpoints, carry out snapshots, and track the best head any peer
//! has reported (for lag). Transport-free and blocking: callers run it off the async threads.

use crate::Roster;
use prospectus_model::Uuid;
use prospectus_proto::v1::{PullItem, pull_item::Item};
use prospectus_store::{
    ApplyMode, CheckpointStatus, Rejection, Store, StoreError, Verified, verify_entry,
};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Entries applied per transaction.
const CHUNK: usize = 512;

/// Best `(epoch, seq)` any peer has reported per origin, shared by all peer links.
#[derive(Debug, Default, Clone)]
pub struct SharedHeads(Arc<Mutex<HashMap<String, (u64, u64)>>>);

impl SharedHeads {
    pub fn observe(&self, origin: &str, head: (u64, u64)) {
        if let Ok(mut m) = self.0.lock() {
            let e = m.entry(origin.to_string()).or_insert(head);
            if head > *e {
                *e = head;
            }
        }
    }

    pub fn best(&self, origin: &str) -> Option<(u64, u64)> {
        self.0.lock().ok().and_then(|m| m.get(origin).copied())
    }

    pub fn all(&self) -> HashMap<String, (u64, u64)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Something the link should act on or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaEvent {
    Applied {
        applied: usize,
        unchanged: usize,
    },
    Rejected {
        origin: String,
        reason: Rejection,
        count: usize,
    },
    Fork {
        origin: String,
        epoch: u64,
        seq: u64,
    },
    /// Ask this peer for a snapshot of the origin.
    SnapshotRequired {
        origin: String,
    },
    Diverged {
        origin: String,
    },
    Verified {
        origin: String,
    },
}

pub struct Replica {
    store: Arc<Store>,
    roster: Arc<Roster>,
    heads: SharedHeads,
    /// This node is restoring its own origin: accept entries for it.
    recovering: bool,
    buf: Vec<Verified>,
    snapshot: Option<(String, HashSet<(u8, Uuid)>)>,
    rejected: BTreeMap<(String, Rejection), usize>,
}

impl Replica {
    pub fn new(
        store: Arc<Store>,
        roster: Arc<Roster>,
        heads: SharedHeads,
        recovering: bool,
    ) -> Self {
        Replica {
            store,
            roster,
            heads,
            recovering,
            buf: Vec::new(),
            snapshot: None,
            rejected: BTreeMap::new(),
        }
    }

    pub fn set_recovering(&mut self, recovering: bool) {
        self.recovering = recovering;
    }

    /// Handles one item from a peer's stream.
    pub fn handle(&mut self, item: PullItem) -> Result<Vec<ReplicaEvent>, StoreError> {
        let mut events = Vec::new();
        match item.item {
            Some(Item::Entry(e)) => {
                match verify_entry(self.roster.as_ref(), e.encode_to_vec()) {
                    Ok(v) => {
                        if let Some((origin, seen)) = &mut self.snapshot
                            && *origin == v.entry.origin
                        {
                            seen.insert(v.record_key());
                        }
                        self.buf.push(v);
                    }
                    Err(reason) => {
                        let origin = prospectus_proto::v1::Entry::decode(e.entry_bytes.as_slice())
                            .map(|x| x.origin)
                            .unwrap_or_default();
                        *self.rejected.entry((origin, reason)).or_default() += 1;
                    }
                }
                if self.buf.len() >= CHUNK {
                    self.flush(&mut events)?;
                }
            }
            Some(Item::Checkpoint(cp)) => {
                self.flush(&mut events)?;
                let bytes = cp.encode_to_vec();
                let origin =
                    prospectus_proto::v1::Checkpoint::decode(cp.checkpoint_bytes.as_slice())
                        .map(|c| c.origin)
                        .unwrap_or_default();
                match self.store.offer_checkpoint(self.roster.as_ref(), &bytes)? {
                    CheckpointStatus::Verified => events.push(ReplicaEvent::Verified { origin }),
                    CheckpointStatus::Diverged => events.push(ReplicaEvent::Diverged { origin }),
                    CheckpointStatus::Rejected(reason) => events.push(ReplicaEvent::Rejected {
                        origin,
                        reason,
                        count: 1,
                    }),
                    CheckpointStatus::Pending | CheckpointStatus::Stale => {}
                }
            }
            Some(Item::Heads(h)) => {
                self.flush(&mut events)?;
                for head in &h.heads {
                    self.heads.observe(&head.origin, (head.epoch, head.seq));
                }
                if !h.node_origin.is_empty() && self.roster.member(&h.node_origin).is_some() {
                    self.store.heard_from(&h.node_origin)?;
                }
            }
            Some(Item::SnapshotRequired(s)) => {
                self.flush(&mut events)?;
                events.push(ReplicaEvent::SnapshotRequired { origin: s.origin });
            }
            Some(Item::SnapshotBegin(s)) => {
                self.flush(&mut events)?;
                self.snapshot = Some((s.origin, HashSet::new()));
            }
            Some(Item::SnapshotEnd(s)) => {
                self.flush(&mut events)?;
                if let Some((origin, seen)) = self.snapshot.take()
                    && origin == s.origin
                {
                    match self
                        .store
                        .finish_snapshot(&origin, &seen, (s.epoch, s.seq))?
                    {
                        CheckpointStatus::Verified => {
                            events.push(ReplicaEvent::Verified { origin })
                        }
                        CheckpointStatus::Diverged => {
                            events.push(ReplicaEvent::Diverged { origin })
                        }
                        _ => {}
                    }
                }
            }
            None => {}
        }
        Ok(events)
    }

    /// Applies buffered entries; call at the end of a stream too.
    pub fn flush(&mut self, events: &mut Vec<ReplicaEvent>) -> Result<(), StoreError> {
        for ((origin, reason), count) in std::mem::take(&mut self.rejected) {
            tracing::warn!(%origin, reason = reason.as_str(), count, "rejected replicated entries");
            events.push(ReplicaEvent::Rejected {
                origin,
                reason,
                count,
            });
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let own = self.store.origin().to_string();
        let batch = std::mem::take(&mut self.buf);
        // Split so each apply has one mode: snapshot entries, own-origin recovery, the rest.
        let mut groups: Vec<(ApplyMode, Vec<Verified>)> = Vec::new();
        for v in batch {
            let mode = if self
                .snapshot
                .as_ref()
                .is_some_and(|(o, _)| *o == v.entry.origin)
            {
                ApplyMode::Snapshot
            } else if self.recovering && v.entry.origin == own {
                ApplyMode::Recovery
            } else {
                ApplyMode::Normal
            };
            match groups.last_mut() {
                Some((m, g)) if *m == mode => g.push(v),
                _ => groups.push((mode, vec![v])),
            }
        }
        for (mode, group) in groups {
            let r = self.store.apply_remote(&group, mode)?;
            for ((origin, reason), count) in r.rejected {
                tracing::warn!(%origin, reason = reason.as_str(), count, "refused replicated entries");
                events.push(ReplicaEvent::Rejected {
                    origin,
                    reason,
                    count,
                });
            }
            for (origin, epoch, seq) in r.forks {
                tracing::error!(%origin, epoch, seq, "FORK: two different signed entries for one position; kept the first");
                events.push(ReplicaEvent::Fork { origin, epoch, seq });
            }
            for origin in r.verified {
                events.push(ReplicaEvent::Verified { origin });
            }
            for origin in r.diverged {
                events.push(ReplicaEvent::Diverged { origin });
            }
            events.push(ReplicaEvent::Applied {
                applied: r.applied,
                unchanged: r.unchanged,
            });
        }
        Ok(())
    }
}
