//! Long-lived response streams (Federation `Subscribe`/`Pull`, `Directory.WatchChanges`) are
//! the one thing a client can hold open for as long as it likes, so they are bounded here, in
//! one place: how many are open per peer identity and in total, how long a consumer may stop
//! reading before its stream is dropped, how many blocking store reads all streams together
//! may run at once (so streams can never take the threads publishes and searches need), and
//! how often one peer may be served snapshots.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::Stream;
use tonic::Status;

/// Open streams per peer identity, by default.
pub const DEFAULT_MAX_STREAMS_PER_PEER: usize = 16;
/// Open streams in total, by default.
pub const DEFAULT_MAX_STREAMS: usize = 256;
/// A consumer that accepts nothing for this long is dropped, by default.
pub const DEFAULT_STALL_SECS: u64 = 30;
/// One peer is served at most one snapshot request per this many seconds (after a burst of
/// [`SNAPSHOT_BURST`]), by default.
pub const DEFAULT_SNAPSHOT_INTERVAL_SECS: u64 = 10;
/// Snapshot requests a peer may make back to back before the interval applies.
pub const SNAPSHOT_BURST: u32 = 4;
/// Origins one request may ask as snapshots (London has 33 boroughs).
pub const MAX_SNAPSHOT_ORIGINS: usize = 40;
/// Cursors one Pull/Subscribe may carry.
pub const MAX_CURSORS: usize = 1024;
/// Blocking store reads all streams together may run at once.
const READERS: usize = 4;
/// Items buffered per stream between the producer and the connection.
pub const BUFFER: usize = 32;
/// Peers remembered by the snapshot rate limiter; beyond it, new peers are refused snapshots
/// until old entries refill and are forgotten.
const MAX_RATED_PEERS: usize = 4096;

/// The stream limits a node runs with (`serve` flags; see the RUNBOOK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub max_streams: usize,
    pub max_streams_per_peer: usize,
    pub stall: Duration,
    pub snapshot_interval: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_streams: DEFAULT_MAX_STREAMS,
            max_streams_per_peer: DEFAULT_MAX_STREAMS_PER_PEER,
            stall: Duration::from_secs(DEFAULT_STALL_SECS),
            snapshot_interval: Duration::from_secs(DEFAULT_SNAPSHOT_INTERVAL_SECS),
        }
    }
}

/// Why a stream (or a snapshot) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("this node already serves {0} streams; try again later")]
    Total(usize),
    #[error("this peer already holds {0} open streams; close one first")]
    PerPeer(usize),
    #[error("snapshot_origins: at most {max} origins per request, got {got}")]
    TooManySnapshotOrigins { max: usize, got: usize },
    #[error("snapshots for this peer are rate-limited; retry in {0} s")]
    SnapshotRate(u64),
    #[error("the consumer stopped reading for {0} s; stream dropped")]
    Stalled(u64),
}

impl StreamError {
    /// A bounded metric label.
    pub fn label(&self) -> &'static str {
        match self {
            StreamError::Total(_) => "total",
            StreamError::PerPeer(_) => "per_peer",
            StreamError::TooManySnapshotOrigins { .. } => "snapshot_origins",
            StreamError::SnapshotRate(_) => "snapshot_rate",
            StreamError::Stalled(_) => "stalled",
        }
    }
}

#[derive(Default)]
struct Open {
    total: usize,
    per_peer: HashMap<String, usize>,
}

/// A token bucket of snapshot requests for one peer.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The node's stream bounds, shared by the Federation and Directory services.
pub struct Streams {
    pub limits: StreamLimits,
    open: Mutex<Open>,
    snapshots: Mutex<HashMap<String, Bucket>>,
    readers: Semaphore,
}

/// An admitted stream's place; freed when the stream's body is dropped by the connection.
pub struct Permit {
    streams: Arc<Streams>,
    peer: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut o) = self.streams.open.lock() {
            o.total = o.total.saturating_sub(1);
            if let Some(n) = o.per_peer.get_mut(&self.peer) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    o.per_peer.remove(&self.peer);
                }
            }
            metrics::gauge!(crate::metrics::STREAMS_OPEN).set(o.total as f64);
        }
    }
}

impl Streams {
    pub fn new(limits: StreamLimits) -> Arc<Streams> {
        Arc::new(Streams {
            limits,
            open: Mutex::default(),
            snapshots: Mutex::default(),
            readers: Semaphore::new(READERS),
        })
    }

    /// Admits one more stream for `peer`, or says which bound it hit. The per-peer map only
    /// holds peers with an open stream, so it is bounded by `max_streams`.
    pub fn admit(self: &Arc<Self>, peer: &str) -> Result<Permit, StreamError> {
        let mut o = self
            .open
            .lock()
            .map_err(|_| StreamError::Total(self.limits.max_streams))?;
        if o.total >= self.limits.max_streams {
            return Err(StreamError::Total(self.limits.max_streams));
        }
        let n = o.per_peer.get(peer).copied().unwrap_or(0);
        if n >= self.limits.max_streams_per_peer {
            return Err(StreamError::PerPeer(self.limits.max_streams_per_peer));
        }
        o.per_peer.insert(peer.to_string(), n + 1);
        o.total += 1;
        metrics::gauge!(crate::metrics::STREAMS_OPEN).set(o.total as f64);
        Ok(Permit {
            streams: self.clone(),
            peer: peer.to_string(),
        })
    }

    /// Accounts for a request asking `origins` snapshots from `peer` (no-op for none).
    pub fn admit_snapshots(&self, peer: &str, origins: usize) -> Result<(), StreamError> {
        if origins == 0 {
            return Ok(());
        }
        if origins > MAX_SNAPSHOT_ORIGINS {
            return Err(StreamError::TooManySnapshotOrigins {
                max: MAX_SNAPSHOT_ORIGINS,
                got: origins,
            });
        }
        let every = self.limits.snapshot_interval.as_secs_f64();
        let mut m = self
            .snapshots
            .lock()
            .map_err(|_| StreamError::SnapshotRate(self.limits.snapshot_interval.as_secs()))?;
        let now = Instant::now();
        let refill = |b: &Bucket| {
            if every <= 0.0 {
                f64::from(SNAPSHOT_BURST)
            } else {
                (b.tokens + now.duration_since(b.at).as_secs_f64() / every)
                    .min(f64::from(SNAPSHOT_BURST))
            }
        };
        if m.len() >= MAX_RATED_PEERS {
            // A full bucket is the same as no entry: forget those.
            m.retain(|_, b| refill(b) < f64::from(SNAPSHOT_BURST));
        }
        if !m.contains_key(peer) && m.len() >= MAX_RATED_PEERS {
            return Err(StreamError::SnapshotRate(
                self.limits.snapshot_interval.as_secs(),
            ));
        }
        let b = m.entry(peer.to_string()).or_insert(Bucket {
            tokens: f64::from(SNAPSHOT_BURST),
            at: now,
        });
        let tokens = refill(b);
        if tokens < 1.0 {
            let wait = ((1.0 - tokens) * every).ceil() as u64;
            return Err(StreamError::SnapshotRate(wait.max(1)));
        }
        b.tokens = tokens - 1.0;
        b.at = now;
        Ok(())
    }

    /// Runs blocking store work for a stream, at most [`READERS`] at a time across all
    /// streams, so streams never hold the blocking threads publishes and searches use.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Status> {
        let _slot = self
            .readers
            .acquire()
            .await
            .map_err(|_| Status::unavailable("node is stopping"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(crate::errors::join)
    }

    /// A bounded channel for one admitted stream: the producer's end and the response body.
    pub fn channel<T: Send + 'static>(&self, permit: Permit) -> (Outlet<T>, Guarded<T>) {
        let (tx, rx) = mpsc::channel(BUFFER);
        let ended = Arc::new(Mutex::new(None));
        (
            Outlet {
                tx,
                stall: self.limits.stall,
                ended: ended.clone(),
            },
            Guarded {
                rx,
                ended,
                _permit: permit,
            },
        )
    }
}

/// The producer's end of a stream.
pub struct Outlet<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    stall: Duration,
    ended: Arc<Mutex<Option<Status>>>,
}

/// Why a producer should stop.
#[derive(Debug, PartialEq, Eq)]
pub enum Gone {
    /// The consumer went away.
    Closed,
    /// The consumer stopped reading for the stall deadline; the stream ends with an error.
    Stalled,
}

impl<T> Outlet<T> {
    /// Sends one item, waiting at most the stall deadline for the consumer to make room.
    pub async fn send(&self, item: Result<T, Status>) -> Result<(), Gone> {
        match tokio::time::timeout(self.stall, self.tx.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Gone::Closed),
            Err(_) => {
                let e = StreamError::Stalled(self.stall.as_secs());
                tracing::warn!(
                    stall_secs = self.stall.as_secs(),
                    "dropping a stream whose consumer stopped reading"
                );
                metrics::counter!(crate::metrics::STREAMS_DROPPED, "reason" => "stalled")
                    .increment(1);
                if let Ok(mut g) = self.ended.lock() {
                    *g = Some(Status::resource_exhausted(e.to_string()));
                }
                Err(Gone::Stalled)
            }
        }
    }

    /// Ends the stream with `status` after what is already buffered.
    pub async fn fail(&self, status: Status) {
        let _ = self.send(Err(status)).await;
    }

    /// Resolves when the consumer has gone away.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// The response body of an admitted stream. It holds the stream's [`Permit`] until the
/// connection drops it (a stalled consumer keeps its place, so it can only exhaust its own
/// share), and ends with an error rather than silently when the producer gave up on it.
pub struct Guarded<T> {
    rx: mpsc::Receiver<Result<T, Status>>,
    ended: Arc<Mutex<Option<Status>>>,
    _permit: Permit,
}

impl<T> Stream for Guarded<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                let end = self.ended.lock().ok().and_then(|mut g| g.take());
                Poll::Ready(end.map(Err))
            }
            other => other,
        }
    }
}

/// Who is asking, for per-peer bounds: the roster member its client certificate names, else
/// its IP address (all ports of one address are one peer).
pub fn peer_identity(member: Option<&str>, remote: Option<std::net::SocketAddr>) -> String {
    match (member, remote) {
        (Some(m), _) => format!("member:{m}"),
        (None, Some(a)) => format!("addr:{}", a.ip()),
        (None, None) => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_peer: usize) -> StreamLimits {
        StreamLimits {
            max_streams: total,
            max_streams_per_peer: per_peer,
            stall: Duration::from_secs(1),
            snapshot_interval: Duration::from_secs(3600),
        }
    }

    #[test]
    fn streams_are_capped_per_peer_and_in_total_and_freed_on_drop() {
        let s = Streams::new(limits(3, 2));
        let a1 = s.admit("a").expect("a1");
        let _a2 = s.admit("a").expect("a2");
        assert_eq!(s.admit("a").err(), Some(StreamError::PerPeer(2)));
        let _b1 = s.admit("b").expect("b1");
        assert_eq!(s.admit("c").err(), Some(StreamError::Total(3)));
        drop(a1);
        assert!(s.admit("c").is_ok());
    }

    #[test]
    fn snapshots_are_rate_limited_per_peer_and_bounded_per_request() {
        let s = Streams::new(limits(10, 10));
        assert!(matches!(
            s.admit_snapshots("a", MAX_SNAPSHOT_ORIGINS + 1),
            Err(StreamError::TooManySnapshotOrigins { .. })
        ));
        for _ in 0..SNAPSHOT_BURST {
            s.admit_snapshots("a", 1).expect("burst");
        }
        assert!(matches!(
            s.admit_snapshots("a", 1),
            Err(StreamError::SnapshotRate(_))
        ));
        s.admit_snapshots("b", 1)
            .expect("another peer has its own bucket");
        s.admit_snapshots("a", 0)
            .expect("no snapshot asked: not counted");
    }

    #[test]
    fn peers_are_named_by_roster_member_else_by_address() {
        let a: std::net::SocketAddr = "10.1.2.3:5555".parse().expect("addr");
        let b: std::net::SocketAddr = "10.1.2.3:6666".parse().expect("addr");
        assert_eq!(peer_identity(None, Some(a)), peer_identity(None, Some(b)));
        assert_eq!(
            peer_identity(Some("E09000028"), Some(a)),
            "member:E09000028"
        );
        assert_eq!(peer_identity(None, None), "unknown");
    }

    #[tokio::test]
    async fn a_consumer_that_stops_reading_is_dropped_with_an_error() {
        let s = Streams::new(limits(10, 10));
        let permit = s.admit("a").expect("admit");
        let (out, mut body) = s.channel::<u32>(permit);
        let mut sent = 0;
        let gone = loop {
            match out.send(Ok(sent)).await {
                Ok(()) => sent += 1,
                Err(g) => break g,
            }
        };
        assert_eq!(gone, Gone::Stalled);
        assert_eq!(sent, BUFFER as u32);
        drop(out);
        let mut n = 0;
        let end = loop {
            match tokio_stream::StreamExt::next(&mut body).await {
                Some(Ok(_)) => n += 1,
                Some(Err(st)) => break st,
                None => panic!("ended without an error"),
            }
        };
        assert_eq!(n, BUFFER);
        assert_eq!(end.code(), tonic::Code::ResourceExhausted);
    }
}
