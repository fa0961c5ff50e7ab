//! What a node sends a peer: for each origin it holds, the entries after the peer's cursor (or
//! the whole origin as a snapshot), then the origin's latest checkpoint. A peer may name the
//! origins it wants entries of (it takes each origin from one chosen peer): what it names is
//! bounded here before anything is read for it.

use crate::Roster;
use prospectus_proto::v1::{Cursor, Head, Heads, OriginFilter, SignedCheckpoint};
use prospectus_store::{Store, StoreError};
use prost::Message;
use std::collections::BTreeSet;

/// Why a peer's origin filter was refused (the whole request is refused: nothing half-served).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("at most {max} origins (the roster's members), got {got}")]
    TooMany {
        field: &'static str,
        max: usize,
        got: usize,
    },
}

impl FilterError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            FilterError::TooMany { field, .. } => field,
        }
    }
}

/// What a filtered stream carries: entries of `entries`; after the first heads, the changed
/// heads of `heads` only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub entries: BTreeSet<String>,
    pub heads: BTreeSet<String>,
    /// Later heads carry [`checkpoint_digest`]s instead of checkpoints.
    pub digests: bool,
    /// The caller takes checkpoint seals ([`crate::seal`]).
    pub seals: bool,
}

/// What a filtered stream's later heads carry instead of a checkpoint (`Head.checkpoint_digest`):
/// the first 16 bytes of SHA-256 over the `SignedCheckpoint`'s encoding. Equal digests say
/// "the checkpoint you hold"; it proves nothing, so a receiver that holds another one asks for
/// the checkpoint itself (16 bytes instead of ~200 per change per witness link; 16, not 8, so
/// an origin signing two histories cannot search out two checkpoints with one digest).
pub fn checkpoint_digest(cp: &SignedCheckpoint) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(cp.encode_to_vec())[..16].to_vec()
}

/// A peer's origin filter, bounded: `None` (no filter, an older peer) means every origin.
/// Each list at most as long as the roster; a name that is not a roster member here is
/// dropped (a caller whose roster already lists a new member must not lose its whole link to a
/// node that has not reloaded yet; nothing is kept or served for it).
pub fn entry_filter(
    roster: &Roster,
    filter: Option<&OriginFilter>,
) -> Result<Option<Filter>, FilterError> {
    let Some(f) = filter else {
        return Ok(None);
    };
    let max = roster.members().len();
    let names = |field: &'static str, list: &[String]| {
        if list.len() > max {
            // Checked before any name is looked at (a huge list costs nothing more).
            return Err(FilterError::TooMany {
                field,
                max,
                got: list.len(),
            });
        }
        Ok(list
            .iter()
            .filter_map(|o| roster.member(o).map(|m| m.origin.clone()))
            .collect::<BTreeSet<String>>())
    };
    Ok(Some(Filter {
        entries: names("filter.entry_origins", &f.entry_origins)?,
        heads: names("filter.head_origins", &f.head_origins)?,
        digests: f.head_digests,
        seals: f.checkpoint_seals,
    }))
}

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

/// Decides, per origin this node holds, what a peer with `cursors` needs: entries of the
/// origins `wanted` names (all when `None`), and the snapshots it asked for.
pub fn plan(
    store: &Store,
    cursors: &[Cursor],
    snapshot_origins: &[String],
    wanted: Option<&Filter>,
) -> Result<Vec<OriginPlan>, StoreError> {
    let mut out = Vec::new();
    for o in store.origins()? {
        if snapshot_origins.iter().any(|s| s == &o.origin) {
            out.push(OriginPlan::Snapshot { origin: o.origin });
            continue;
        }
        if wanted.is_some_and(|w| !w.entries.contains(&o.origin)) {
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
    heads_of(store, &BTreeSet::new())
}

/// [`heads`] of `origins` only (all when empty).
pub fn heads_of(store: &Store, origins: &BTreeSet<String>) -> Result<Heads, StoreError> {
    let heads = store
        .origins()?
        .into_iter()
        .filter(|o| origins.is_empty() || origins.contains(&o.origin))
        .map(|o| Head {
            checkpoint: SignedCheckpoint::decode(o.checkpoint.as_slice())
                .ok()
                .filter(|_| !o.checkpoint.is_empty()),
            origin: o.origin,
            epoch: o.epoch,
            seq: o.seq,
            floor_epoch: o.floor.0,
            floor_seq: o.floor.1,
            checkpoint_digest: Vec::new(),
            checkpoint_epoch: 0,
            checkpoint_seq: 0,
        })
        .collect();
    Ok(Heads {
        node_origin: store.origin().to_string(),
        heads,
        unix_millis: chrono::Utc::now().timestamp_millis(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Member, RosterKey};

    fn roster() -> Roster {
        let members = ["E09000028", "E09000025"]
            .iter()
            .map(|o| Member {
                origin: o.to_string(),
                name: o.to_string(),
                endpoint: "http://127.0.0.1:1".into(),
                tls_name: None,
                keys: vec![RosterKey {
                    public_key: prospectus_store::NodeKey::generate().public_hex(),
                    valid_from: None,
                    valid_until: None,
                    revoked: false,
                }],
            })
            .collect();
        Roster::from_members(members).expect("roster")
    }

    fn f(entries: &[&str], heads: &[&str]) -> OriginFilter {
        OriginFilter {
            entry_origins: entries.iter().map(|s| s.to_string()).collect(),
            head_origins: heads.iter().map(|s| s.to_string()).collect(),
            head_digests: false,
            checkpoint_seals: false,
        }
    }

    #[test]
    fn no_filter_is_every_origin_and_a_filter_keeps_roster_members_only_and_is_bounded() {
        let r = roster();
        assert_eq!(entry_filter(&r, None), Ok(None));
        let got = entry_filter(&r, Some(&f(&["E09000025", "E09000025"], &["E09000028"])))
            .expect("ok")
            .expect("filter");
        assert_eq!(got.entries.into_iter().collect::<Vec<_>>(), ["E09000025"]);
        assert_eq!(got.heads.into_iter().collect::<Vec<_>>(), ["E09000028"]);
        // Names outside this roster are dropped, whatever their size.
        let long = "X".repeat(10_000);
        let got = entry_filter(&r, Some(&f(&[&long, "E09000028"], &["E09000001"])))
            .expect("ok")
            .expect("filter");
        assert_eq!(got.entries.into_iter().collect::<Vec<_>>(), ["E09000028"]);
        assert!(got.heads.is_empty());
        let many: Vec<&str> = vec!["E09000028"; 3];
        assert_eq!(
            entry_filter(&r, Some(&f(&many, &[]))),
            Err(FilterError::TooMany {
                field: "filter.entry_origins",
                max: 2,
                got: 3
            })
        );
    }
}
