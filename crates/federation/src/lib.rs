//! Federation: how borough nodes replicate one signed pan-London directory (DESIGN §3).
//!
//! This crate is the protocol's logic, independent of any transport: the roster (who may sign
//! for which borough), what a node sends a peer for its cursors ([`outbound`]), and how a node
//! applies what a peer sends ([`Replica`]), and which peer each origin is taken from
//! ([`Sources`]). The server crate carries it over gRPC.

mod join;
mod outbound;
mod replica;
mod roster;
mod seal;
mod sources;

pub use join::{Answer, Join, JoinState};
pub use outbound::{
    Filter, FilterError, OriginPlan, checkpoint_digest, entry_filter, heads, heads_of, plan,
};
pub use replica::{Replica, ReplicaEvent, SharedHeads, UNKNOWN_ORIGIN};
pub use roster::{KeyStanding, Member, Roster, RosterError, RosterKey, SharedRoster};
pub use seal::{seal, unseal};
pub use sources::{Held, Sources};
