//! Links to peers: for each configured peer, subscribe with our cursors, apply what arrives
//! (verified against the roster), and reconnect with jittered exponential backoff. Any peer
//! can relay any borough, so a node catches up from whichever peers are up.
//!
//! The roster can change while links run ([`Links::set`] starts and stops links as members
//! come and go). A link verifies a stream with the roster in force when it subscribed; when the
//! roster is replaced it drops what it has not applied and subscribes again from its cursors,
//! so entries refused under the old roster (a key it did not list yet) are offered again.

use prospectus_federation::{Replica, ReplicaEvent, Roster, SharedHeads, SharedRoster};
use prospectus_proto::v1::{self as w, federation_client::FederationClient, pull_item::Item};
use prospectus_store::Store;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What the status page shows about one peer link.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    pub url: String,
    pub connected: bool,
    pub last_error: String,
    pub last_connected_millis: i64,
    pub applied: u64,
    pub rejected: u64,
}

/// Shared by the links, the Admin service and the Publisher (recovery gate).
pub struct Fed {
    pub store: Arc<Store>,
    pub roster: Arc<SharedRoster>,
    /// Bumped (with the roster's generation) each time the roster is replaced.
    pub roster_changed: tokio::sync::watch::Sender<u64>,
    pub heads: SharedHeads,
    /// Restoring our own origin from peers after a lost disk: publishes wait.
    pub recovering: AtomicBool,
    pub links: Mutex<BTreeMap<String, LinkStatus>>,
    pub tls: Option<ClientTlsConfig>,
    /// `--insecure-dev`: plaintext links beyond loopback are allowed.
    pub insecure_dev: bool,
}

impl Fed {
    fn set_link(&self, url: &str, f: impl FnOnce(&mut LinkStatus)) {
        if let Ok(mut m) = self.links.lock() {
            let s = m.entry(url.to_string()).or_insert_with(|| LinkStatus {
                url: url.to_string(),
                ..Default::default()
            });
            f(s);
        }
    }

    pub fn link_statuses(&self) -> Vec<LinkStatus> {
        self.links
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Accounts for what a link's replica reported; origins needing a snapshot are queued.
    fn take_events(&self, url: &str, events: Vec<ReplicaEvent>, snapshots: &mut Vec<String>) {
        for ev in events {
            match ev {
                ReplicaEvent::SnapshotRequired { origin } | ReplicaEvent::Diverged { origin } => {
                    tracing::warn!(peer = %url, %origin, "origin needs a snapshot from this peer");
                    if !snapshots.contains(&origin) {
                        snapshots.push(origin);
                    }
                }
                ReplicaEvent::Applied { applied, .. } => {
                    self.set_link(url, |s| s.applied += applied as u64)
                }
                ReplicaEvent::Rejected {
                    origin,
                    reason,
                    count,
                } => {
                    metrics::counter!(
                        crate::metrics::REJECTED,
                        "origin" => origin,
                        "reason" => reason.as_str()
                    )
                    .increment(count as u64);
                    self.set_link(url, |s| s.rejected += count as u64)
                }
                ReplicaEvent::Verified { origin } => {
                    tracing::debug!(%origin, "checkpoint verified")
                }
                ReplicaEvent::Fork { .. } => {}
            }
        }
    }

    /// After a peer has streamed all it had: if we were restoring our own origin and now hold
    /// at least the best head any peer reported for it, continue in the next epoch.
    fn maybe_finish_recovery(&self) {
        if !self.recovering.load(Ordering::SeqCst) {
            return;
        }
        let own = self.store.origin().to_string();
        let held = match self.store.origin_info(&own) {
            Ok(i) => (i.epoch, i.seq),
            Err(_) => return,
        };
        let best = self.heads.best(&own).unwrap_or((0, 0));
        if held < best {
            return;
        }
        let next = if held == (0, 0) {
            self.store.epoch()
        } else {
            held.0 + 1
        };
        match self.store.begin_epoch(next) {
            Ok(()) => {
                self.recovering.store(false, Ordering::SeqCst);
                tracing::info!(origin = %own, restored_seq = held.1, restored_epoch = held.0, epoch = next, "own origin restored from peers; publishing resumes in a new epoch");
            }
            Err(e) => tracing::error!(error = %e, "cannot start the new epoch"),
        }
    }
}

fn jitter(d: Duration) -> Duration {
    let ms = d.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}

/// The peer links that run, by URL; the set follows the roster when peers come from it.
pub struct Links {
    fed: Arc<Fed>,
    stopping: tokio::sync::watch::Receiver<bool>,
    running: Mutex<BTreeMap<String, tokio::task::JoinHandle<()>>>,
}

impl Links {
    pub fn new(fed: Arc<Fed>, stopping: tokio::sync::watch::Receiver<bool>) -> Arc<Links> {
        Arc::new(Links {
            fed,
            stopping,
            running: Mutex::new(BTreeMap::new()),
        })
    }

    /// Runs a link to each of `urls` and to nothing else: new ones start, others stop (their
    /// status rows go). Returns `(started, stopped)`.
    pub fn set(&self, urls: &[String]) -> (Vec<String>, Vec<String>) {
        let Ok(mut running) = self.running.lock() else {
            return (Vec::new(), Vec::new());
        };
        let stopped: Vec<String> = running
            .keys()
            .filter(|u| !urls.contains(u))
            .cloned()
            .collect();
        for url in &stopped {
            if let Some(task) = running.remove(url) {
                task.abort();
                // The status row goes once the task has ended (it cannot write it again).
                let (fed, url) = (self.fed.clone(), url.clone());
                tokio::spawn(async move {
                    let _ = task.await;
                    if let Ok(mut m) = fed.links.lock() {
                        m.remove(&url);
                    }
                });
            }
        }
        let mut started = Vec::new();
        for url in urls {
            if !running.contains_key(url) {
                let task = spawn_link(self.fed.clone(), url.clone(), self.stopping.clone());
                running.insert(url.clone(), task);
                started.push(url.clone());
            }
        }
        (started, stopped)
    }
}

/// Peers by default: every roster member's endpoint but this borough's own.
pub fn roster_peers(roster: &Roster, own: &str) -> Vec<String> {
    roster
        .members()
        .iter()
        .filter(|m| m.origin != own)
        .map(|m| m.endpoint.clone())
        .collect()
}

/// One background link to `url`, reconnecting until the node stops or the task is aborted.
fn spawn_link(
    fed: Arc<Fed>,
    url: String,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = BACKOFF_MIN;
        loop {
            if *stopping.borrow() {
                return;
            }
            let span = tracing::info_span!("peer", peer = %url);
            let r = {
                let _e = span.enter();
                tracing::debug!("connecting");
                drop(_e);
                tokio::select! {
                    r = run_link(&fed, &url) => r,
                    _ = stopping.changed() => return,
                }
            };
            match r {
                Ok(()) => backoff = BACKOFF_MIN,
                Err(e) => {
                    tracing::warn!(peer = %url, error = %e, "peer link down");
                    fed.set_link(&url, |s| {
                        s.connected = false;
                        s.last_error = e.clone();
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(jitter(backoff)) => {}
                _ = stopping.changed() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    })
}

async fn connect(fed: &Fed, url: &str) -> Result<Channel, String> {
    // Checked before anything is resolved or connected (the node also refuses to start).
    crate::transport::check_url(url, fed.insecure_dev).map_err(|e| e.to_string())?;
    let mut ep = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad peer URL: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    if url.starts_with("https://") {
        let tls = fed
            .tls
            .clone()
            .unwrap_or_else(|| ClientTlsConfig::new().with_webpki_roots());
        ep = ep.tls_config(tls).map_err(|e| e.to_string())?;
    }
    ep.connect().await.map_err(|e| format!("connect: {e}"))
}

fn cursors(store: &Store) -> Result<Vec<w::Cursor>, String> {
    Ok(store
        .origins()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|o| !o.diverged)
        .map(|o| w::Cursor {
            origin: o.origin,
            epoch: o.epoch,
            seq: o.seq,
        })
        .collect())
}

/// One connection's life: subscribe, apply, re-subscribe for snapshots when asked.
async fn run_link(fed: &Arc<Fed>, url: &str) -> Result<(), String> {
    let channel = connect(fed, url).await?;
    let mut client = FederationClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    // The roster this link verifies with until it is replaced (then the link subscribes anew).
    let mut roster_changed = fed.roster_changed.subscribe();
    let mut replica = Replica::new(
        fed.store.clone(),
        fed.roster.current(),
        fed.heads.clone(),
        fed.recovering.load(Ordering::SeqCst),
    );
    let mut snapshots: Vec<String> = Vec::new();
    loop {
        let req = w::PullRequest {
            cursors: cursors(&fed.store)?,
            snapshot_origins: std::mem::take(&mut snapshots),
        };
        if !req.snapshot_origins.is_empty() {
            tracing::info!(peer = %url, origins = ?req.snapshot_origins, "requesting snapshot");
        }
        // Only what this request asks for may arrive whole on the new stream.
        replica.set_recovering(fed.recovering.load(Ordering::SeqCst));
        replica.expect_snapshots(&req.snapshot_origins);
        let mut stream = client
            .subscribe(req)
            .await
            .map_err(|s| format!("subscribe: {}", s.message()))?
            .into_inner();
        fed.set_link(url, |s| {
            s.connected = true;
            s.last_error.clear();
            s.last_connected_millis = chrono::Utc::now().timestamp_millis();
        });
        let mut heads_seen = 0u32;
        loop {
            let message = tokio::select! {
                m = stream.message() => m,
                _ = roster_changed.changed() => {
                    // Nothing unapplied is lost: cursors move only when entries are applied,
                    // so the next stream sends it again, verified with the new roster.
                    tracing::info!(peer = %url, "roster replaced: subscribing again under it");
                    return Ok(());
                }
            };
            let item = match message {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(s) => {
                    let mut ev = Vec::new();
                    let _ = tokio::task::block_in_place(|| replica.flush(&mut ev));
                    fed.take_events(url, ev, &mut snapshots);
                    return Err(format!("stream: {}", s.message()));
                }
            };
            let is_heads = matches!(item.item, Some(Item::Heads(_)));
            replica.set_recovering(fed.recovering.load(Ordering::SeqCst));
            let events =
                tokio::task::block_in_place(|| replica.handle(item)).map_err(|e| e.to_string())?;
            fed.take_events(url, events, &mut snapshots);
            if is_heads {
                heads_seen += 1;
                // The first heads opens the stream; the next means the catch-up is complete.
                if heads_seen >= 2 {
                    fed.maybe_finish_recovery();
                }
            }
            if !snapshots.is_empty() {
                break;
            }
        }
        let mut ev = Vec::new();
        tokio::task::block_in_place(|| replica.flush(&mut ev)).map_err(|e| e.to_string())?;
        fed.take_events(url, ev, &mut snapshots);
        if snapshots.is_empty() {
            return Ok(());
        }
    }
}
