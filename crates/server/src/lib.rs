//! A Prospectus node: the gRPC services over the store and the index, TLS, auth, and the one
//! place where library errors become `tonic::Status`.
//!
//! This is the only crate that knows tonic (besides the generated stubs in `prospectus-proto`).
//! The services are thin: they decode the wire form, check the token, and call the store or
//! the index; every rule about records lives in `model` and `store`.

mod admin;
mod auth;
pub mod client;
mod config;
mod directory;
mod errors;
mod federation;
mod freshness;
mod http;
mod metrics;
mod node;
mod peers;
mod preflight;
mod publisher;
mod roster_watch;
mod streams;
pub mod transport;

pub use config::{ConfigError, FederationConfig, Limits, NodeConfig, TlsPaths};
/// The wire `SearchRequest` as an index query, with the `Directory.Search` checks (the
/// benchmark runs the same requests in-process through it).
pub use directory::query as search_query;
pub use node::{NodeError, RunningNode, start};
pub use prospectus_store::{NodeKey, Restored, restore_backup, sync_parent, unique_sibling};
pub use streams::StreamLimits;
