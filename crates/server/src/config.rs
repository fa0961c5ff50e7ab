//! Node configuration: a TOML file, overridden by command-line flags. One struct so the CLI,
//! the demo and tests start nodes the same way.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";
pub const DEFAULT_DATA_DIR: &str = "./prospectus-data";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// CA (PEM) for client certificates. When set, peers must present a certificate it signed
    /// whose DNS name is a roster member's `tls_name` to use the Federation service (mutual
    /// TLS); other clients may still connect without one for the open Directory.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Membership of the pan-London federation.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Roster file: members, endpoints, public keys.
    pub roster: Option<PathBuf>,
    /// Peer URLs to replicate from; default every roster member's endpoint except ours.
    pub peers: Option<Vec<String>>,
    /// CA (PEM) that signed peers' server certificates (https peers).
    pub ca: Option<PathBuf>,
    /// With TLS on, serve the Federation service to any client, not only roster members with
    /// a client certificate: for a public read mirror that others replicate from.
    pub public: bool,
    /// How often the roster file is checked for changes (it is also re-read on SIGHUP);
    /// 0 turns the check off (SIGHUP only). Default 5.
    pub roster_poll_secs: Option<u64>,
}

/// Default interval between checks of the roster file for changes.
pub const DEFAULT_ROSTER_POLL_SECS: u64 = 5;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// GSS code of the borough this node publishes for (E09…).
    pub borough: Option<String>,
    /// Origin signing key; defaults to `<data_dir>/node.key`. Keep a copy off the data disk.
    pub key_file: Option<PathBuf>,
    pub tls: Option<TlsPaths>,
    /// Allow plaintext on a non-loopback address. For local demos only.
    pub insecure_dev: bool,
    pub federation: FederationConfig,
    /// Search results from an origin not heard from for longer than this are marked stale
    /// (not hidden).
    pub stale_after_secs: u64,
    /// Deletions are remembered (as tombstones) this long, then purged; a peer away longer
    /// than this re-syncs the origin from a snapshot.
    pub tombstone_grace_secs: u64,
    /// Long-lived streams (Subscribe, Pull, WatchChanges) open at once, in total.
    pub max_streams: usize,
    /// Long-lived streams open at once per peer (roster member by certificate, else address).
    pub max_streams_per_peer: usize,
    /// A stream whose consumer accepts nothing for this long is dropped.
    pub stream_stall_secs: u64,
    /// One peer is served a snapshot request at most this often (after a short burst).
    pub snapshot_interval_secs: u64,
    /// The first borough of a federation: publish without waiting for peers to answer, while
    /// the data dir holds nothing of this borough (ignored once it does).
    pub new_member: bool,
    /// Base URL this node is reached at from outside (`https://node.example:7400`), for
    /// absolute links in responses (the RPDE feed's `next`); default: the listen address.
    /// Never taken from a request's `Host` header.
    pub public_url: Option<String>,
    /// Bound of the store's (sled's) page cache, in MiB. Searches never read it; a larger
    /// cache only speeds up replication reads and by-id lookups.
    pub store_cache_mb: u64,
    /// Request limits of the HTTP and gRPC surfaces, in one place.
    pub limits: Limits,
}

/// What one client can ask of the node at once, for HTTP (ORUK, RPDE) and gRPC alike. Each is a
/// config key under `[limits]` and a `serve` flag of the same name.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// HTTP API requests in progress at once; one more is refused at once with `503` and
    /// `Retry-After` (never queued). Health and metrics are not counted.
    pub http_concurrency: usize,
    /// An HTTP request not answered within this gets `503` (a streamed body, once started,
    /// is not cut).
    pub http_timeout_ms: u64,
    /// Largest HTTP request body; a larger one gets `413`.
    pub http_body_bytes: usize,
    /// A gRPC call not answered within this gets `DEADLINE_EXCEEDED` (a client's shorter
    /// `grpc-timeout` wins; streams, once answered, are not cut).
    pub grpc_timeout_ms: u64,
    /// gRPC calls in progress at once on one connection; more wait for a slot.
    pub grpc_concurrency_per_connection: usize,
    /// Largest gRPC message, received or sent.
    pub grpc_max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            http_concurrency: 64,
            http_timeout_ms: 10_000,
            http_body_bytes: 64 * 1024,
            grpc_timeout_ms: 60_000,
            grpc_concurrency_per_connection: 256,
            grpc_max_message_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Default stale threshold: a week without news from an origin.
pub const DEFAULT_STALE_AFTER_SECS: u64 = 7 * 24 * 3600;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 7400))),
            borough: None,
            key_file: None,
            tls: None,
            insecure_dev: false,
            federation: FederationConfig::default(),
            stale_after_secs: DEFAULT_STALE_AFTER_SECS,
            tombstone_grace_secs: 30 * 24 * 3600,
            max_streams: crate::streams::DEFAULT_MAX_STREAMS,
            max_streams_per_peer: crate::streams::DEFAULT_MAX_STREAMS_PER_PEER,
            stream_stall_secs: crate::streams::DEFAULT_STALL_SECS,
            snapshot_interval_secs: crate::streams::DEFAULT_SNAPSHOT_INTERVAL_SECS,
            new_member: false,
            public_url: None,
            store_cache_mb: prospectus_store::DEFAULT_CACHE_BYTES / (1024 * 1024),
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub fn stream_limits(&self) -> crate::streams::StreamLimits {
        crate::streams::StreamLimits {
            max_streams: self.max_streams,
            max_streams_per_peer: self.max_streams_per_peer,
            stall: std::time::Duration::from_secs(self.stream_stall_secs.max(1)),
            snapshot_interval: std::time::Duration::from_secs(self.snapshot_interval_secs),
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("node.key"))
    }
}
