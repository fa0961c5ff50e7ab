//! What a node sends a peer: for each origin it holds, the entries after the peer's cursor (or
//! the whole origin as a snapshot), then the origin's latest checkpoint.

use prospectus_proto::v1::{Cursor, Head, Heads, SignedCheckpoint};
use prospectus_store::{Store, StoreError};
use prost::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPlan {
    /// Stream entries after `(epoch, seq)`, then the checkpoint.
    From {
        origin: String,
        epoch: u64,
        seq: u64,
    },
    /// Stream the whole origin between SnapshotBegin and SnapshotEnd.
    Snapshot { origin: String },
    /// The peer's cursor is below what we still hold: it must ask for a snapshot.
    SnapshotRequired { origin: String },
}

/// Decides, per origin this node holds, what a peer with `cursors` needs.
pub fn plan(
    store: &Store,
    cursors: &[Cursor],
    snapshot_origins: &[String],
) -> Result<Vec<OriginPlan>, StoreError> {
    let mut out = Vec::new();
    for o in store.origins()? {
        if snapshot_origins.iter().any(|s| s == &o.origin) {
            out.push(OriginPlan::Snapshot { origin: o.origin });
            continue;
        }
        let (epoch, seq) = cursors
            .iter()
            .find(|c| c.origin == o.origin)
            .map_or((0, 0), |c| (c.epoch, c.seq));
        if (epoch, seq) < o.floor && (epoch, seq) != (0, 0) {
            out.push(OriginPlan::SnapshotRequired { origin: o.origin });
        } else {
            out.push(OriginPlan::From {
                origin: o.origin,
                epoch,
                seq,
            });
        }
    }
    Ok(out)
}

/// This node's heads: per origin, the cursor, floor and latest checkpoint.
pub fn heads(store: &Store) -> Result<Heads, StoreError> {
    let heads = store
        .origins()?
        .into_iter()
        .map(|o| Head {
            checkpoint: SignedCheckpoint::decode(o.checkpoint.as_slice())
                .ok()
                .filter(|_| !o.checkpoint.is_empty()),
            origin: o.origin,
            epoch: o.epoch,
            seq: o.seq,
            floor_epoch: o.floor.0,
            floor_seq: o.floor.1,
        })
        .collect();
    Ok(Heads {
        node_origin: store.origin().to_string(),
        heads,
        unix_millis: chrono::Utc::now().timestamp_millis(),
    })
}
