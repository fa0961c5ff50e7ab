//! Prometheus metrics for a borough admin: what the node serves (per RPC/route counts and
//! latencies), what it replicates (entries applied per origin, rejected per origin and reason,
//! lag per origin) and how big it is (index, store).
//!
//! Counters and histograms are recorded through the `metrics` facade where they happen; gauges
//! that describe state (lag, sizes) are computed when `/metrics` is scraped, so they can never
//! go stale. The recorder is process-global: one node per process is the normal case; tests
//! that start several nodes in one process share it.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use prospectus_store::{Observer, Update};
use std::sync::OnceLock;
use std::time::Instant;

pub const REQUESTS: &str = "prospectus_requests_total";
pub const REQUEST_SECONDS: &str = "prospectus_request_duration_seconds";
pub const APPLIED: &str = "prospectus_entries_applied_total";
pub const REJECTED: &str = "prospectus_entries_rejected_total";
pub const SEALS: &str = "prospectus_checkpoint_seals_total";
pub const STREAM_BYTES: &str = "prospectus_stream_item_bytes_total";
pub const LAG: &str = "prospectus_replication_lag_entries";
/// Positions of an origin for which two different signed entries or checkpoints were seen.
pub const FORKS: &str = "prospectus_origin_forks";
pub const STREAMS_OPEN: &str = "prospectus_streams_open";
/// HTTP requests' blocking tasks running now (bounded by `--http-concurrency`).
pub const HTTP_BLOCKING_IN_FLIGHT: &str = "prospectus_http_blocking_in_flight";
pub const STREAMS_DROPPED: &str = "prospectus_streams_dropped_total";
pub const STREAMS_REFUSED: &str = "prospectus_streams_refused_total";
pub const ROSTER_RELOADS: &str = "prospectus_roster_reloads_total";
pub const ROSTER_MEMBERS: &str = "prospectus_roster_members";
pub const ROSTER_KEYS: &str = "prospectus_roster_keys";
pub const ROSTER_REVOKED_KEYS: &str = "prospectus_roster_revoked_keys";
pub const HELD_REVOKED: &str = "prospectus_entries_held_revoked_key";

/// Latency buckets in seconds: sub-millisecond lookups up to slow bulk imports.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use. `None` if another
/// recorder was installed first (then `/metrics` answers 503).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(&BUCKETS) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "metrics buckets");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::error!(error = %e, "a metrics recorder is already installed");
                return None;
            }
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        STREAM_BYTES,
        metrics::Unit::Bytes,
        "Bytes of items sent on Pull/Subscribe streams to peers (protobuf, before gRPC and HTTP/2 framing), by item kind, and whether the caller named its origins (`filtered`: a node of this version taking each origin from one peer)"
    );
    metrics::describe_counter!(
        SEALS,
        "Checkpoint seals received from peers, by outcome: rebuilt into the origin's signed checkpoint, or asked for whole (this node's state differs, or the seal was bad)"
    );
    metrics::describe_counter!(
        REQUESTS,
        "Requests served, by kind (grpc/http), route and status"
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to response headers, by kind and route (streams: time to first headers)"
    );
    metrics::describe_counter!(
        APPLIED,
        "Entries stored (local publishes and replicated), by origin"
    );
    metrics::describe_counter!(
        REJECTED,
        "Replicated entries and control items refused, by origin (roster origins; anything else is \"unknown\") and reason"
    );
    metrics::describe_gauge!(
        LAG,
        "Entries this node is behind the best signed checkpoint any peer relayed, by roster origin"
    );
    metrics::describe_gauge!(
        FORKS,
        "Positions of an origin for which two different validly signed entries or checkpoints were seen (a reused position: investigate), by origin"
    );
    metrics::describe_gauge!(
        STREAMS_OPEN,
        "Long-lived streams (Subscribe, Pull, WatchChanges) holding a place"
    );
    metrics::describe_gauge!(
        HTTP_BLOCKING_IN_FLIGHT,
        "Blocking tasks of HTTP requests running now (index, store, rendering); at most --http-concurrency"
    );
    metrics::describe_counter!(
        STREAMS_DROPPED,
        "Streams dropped because the consumer stopped reading"
    );
    metrics::describe_counter!(
        STREAMS_REFUSED,
        "Streams or snapshot requests refused by a bound, by reason"
    );
    metrics::describe_counter!(
        ROSTER_RELOADS,
        "Roster re-reads (SIGHUP or a change of the file), by result (ok, error)"
    );
    metrics::describe_gauge!(ROSTER_MEMBERS, "Members in the roster in force");
    metrics::describe_gauge!(ROSTER_KEYS, "Keys in the roster in force");
    metrics::describe_gauge!(
        ROSTER_REVOKED_KEYS,
        "Keys marked revoked in the roster in force"
    );
    metrics::describe_gauge!(
        HELD_REVOKED,
        "Entries held (accepted before the revocation) signed by a key the roster now revokes, by origin"
    );
}

/// Counts every change the store makes durable, by origin.
pub struct AppliedCounter;

impl Observer for AppliedCounter {
    fn updated(&self, u: &Update) {
        metrics::counter!(APPLIED, "origin" => u.origin.clone()).increment(1);
    }
}

fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Route layer: one request count and latency observation per RPC or HTTP route. gRPC calls
/// are labelled by method path unless the method does not exist (label `unimplemented`, so
/// junk paths cannot create unbounded label sets); HTTP requests by their route pattern.
pub async fn track(req: Request, next: Next) -> Response<Body> {
    let grpc = is_grpc(&req);
    let route = if grpc {
        req.uri().path().to_string()
    } else {
        req.extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "unmatched".into())
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let (kind, route, status) = if grpc {
        let code = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_string();
        let route = if code == "12" {
            "unimplemented".to_string()
        } else {
            route
        };
        ("grpc", route, code)
    } else {
        ("http", route, resp.status().as_u16().to_string())
    };
    metrics::counter!(REQUESTS, "kind" => kind, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "kind" => kind, "route" => route).record(secs);
    resp
}
