//! `prospectus.v1.Federation`: serves this node's signed entries to peers. Pull streams what
//! the caller lacks and ends; Subscribe does the same and then stays open, pushing new entries
//! as they are applied here (own publishes and relayed ones) with periodic heads heartbeats.

use crate::errors;
use prospectus_federation::{OriginPlan, Roster, heads, plan};
use prospectus_proto::v1::{
    self as w, PullItem, SignedCheckpoint, SignedEntry, federation_server::Federation,
    pull_item::Item,
};
use prospectus_store::{Observer, Store, Update};
use prost::Message;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// How often an open Subscribe stream carries a heads heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Wakes open Subscribe streams when anything is applied; feeds on the store's apply hook.
pub struct Notifier(pub broadcast::Sender<()>);

impl Observer for Notifier {
    fn updated(&self, _: &Update) {
        // No receivers, or lagging ones, are fine: a woken stream re-reads from its cursors.
        let _ = self.0.send(());
    }
}

pub struct FederationService {
    pub store: Arc<Store>,
    pub roster: Arc<Roster>,
    pub notify: broadcast::Sender<()>,
    /// Ends open streams when the node shuts down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Require a client certificate mapped to a roster member (mutual TLS is configured).
    pub require_peer_cert: bool,
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<PullItem, Status>> + Send>>;

/// What one stream has sent so far, so a live stream sends each entry and checkpoint once.
#[derive(Default)]
struct Sent {
    cursors: HashMap<String, (u64, u64)>,
    checkpoints: HashMap<String, Vec<u8>>,
}

fn item(i: Item) -> Result<PullItem, Status> {
    Ok(PullItem { item: Some(i) })
}

/// Streams everything `plans` call for into `tx`; blocking (sled iteration). Returns false
/// when the receiver has gone away.
fn produce(
    store: &Store,
    plans: Vec<OriginPlan>,
    sent: &mut Sent,
    tx: &mpsc::Sender<Result<PullItem, Status>>,
) -> bool {
    let send = |i: Item| tx.blocking_send(item(i)).is_ok();
    for p in plans {
        let (origin, from, snapshot) = match p {
            OriginPlan::SnapshotRequired { origin } => {
                if !send(Item::SnapshotRequired(w::SnapshotRequired { origin })) {
                    return false;
                }
                continue;
            }
            OriginPlan::Snapshot { origin } => (origin, (0, 0), true),
            OriginPlan::From { origin, epoch, seq } => (origin, (epoch, seq), false),
        };
        let info = match store.origin_info(&origin) {
            Ok(i) => i,
            Err(e) => {
                let _ = tx.blocking_send(Err(errors::store(e)));
                return false;
            }
        };
        if snapshot
            && !send(Item::SnapshotBegin(w::SnapshotBegin {
                origin: origin.clone(),
            }))
        {
            return false;
        }
        let mut last = from;
        for r in store.log_after(&origin, from.0, from.1) {
            match r {
                Ok((e, s, bytes)) => {
                    let Ok(signed) = SignedEntry::decode(bytes.as_slice()) else {
                        continue;
                    };
                    if !send(Item::Entry(signed)) {
                        return false;
                    }
                    last = (e, s);
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(errors::store(e)));
                    return false;
                }
            }
        }
        if snapshot {
            last = (info.epoch, info.seq).max(last);
            // The set ends with the origin's signed checkpoint as held now (after the scan), which
            // the receiver checks it against before replacing anything.
            let checkpoint = store
                .origin_info(&origin)
                .ok()
                .and_then(|i| SignedCheckpoint::decode(i.checkpoint.as_slice()).ok());
            if !send(Item::SnapshotEnd(w::SnapshotEnd {
                origin: origin.clone(),
                epoch: last.0,
                seq: last.1,
                checkpoint,
            })) {
                return false;
            }
        }
        let prev = sent.cursors.entry(origin.clone()).or_insert(last);
        *prev = (*prev).max(last);
        // The checkpoint is only useful once; resend it when it changes.
        if !info.checkpoint.is_empty() && sent.checkpoints.get(&origin) != Some(&info.checkpoint) {
            if let Ok(cp) = SignedCheckpoint::decode(info.checkpoint.as_slice())
                && !send(Item::Checkpoint(cp))
            {
                return false;
            }
            sent.checkpoints.insert(origin, info.checkpoint);
        }
    }
    true
}

impl FederationService {
    /// Under mutual TLS, the caller must be a roster member; returns its origin for the span.
    fn check_peer<T>(&self, req: &Request<T>) -> Result<Option<String>, Status> {
        if !self.require_peer_cert {
            return Ok(None);
        }
        let certs = req
            .peer_certs()
            .ok_or_else(|| Status::unauthenticated("federation calls need a client certificate"))?;
        let leaf = certs
            .first()
            .ok_or_else(|| Status::unauthenticated("federation calls need a client certificate"))?;
        let der = rustls_pki_types::CertificateDer::from(leaf.as_ref().to_vec());
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|_| Status::unauthenticated("unreadable client certificate"))?;
        for m in self.roster.members() {
            if let Ok(name) = rustls_pki_types::ServerName::try_from(m.tls_name())
                && cert.verify_is_valid_for_subject_name(&name).is_ok()
            {
                tracing::Span::current().record("peer", m.origin.as_str());
                return Ok(Some(m.origin.clone()));
            }
        }
        Err(Status::permission_denied(
            "client certificate does not match any roster member",
        ))
    }

    fn start(&self, req: w::PullRequest, live: bool) -> Result<ItemStream, Status> {
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        let mut wake = self.notify.subscribe();
        let mut stopping = self.stopping.clone();
        let mut cursors = req.cursors;
        let snapshots = req.snapshot_origins;
        tokio::spawn(async move {
            let mut sent = Sent::default();
            let mut snapshots = snapshots;
            // Heads open the stream and then ride on the heartbeat, not on every new entry.
            let mut send_heads = true;
            let mut beat = tokio::time::interval(HEARTBEAT);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            beat.tick().await;
            loop {
                let store2 = store.clone();
                let tx2 = tx.clone();
                let cur = std::mem::take(&mut cursors);
                let snaps = std::mem::take(&mut snapshots);
                let mut s = std::mem::take(&mut sent);
                let with_heads = std::mem::take(&mut send_heads);
                let r = tokio::task::spawn_blocking(move || {
                    let heads_ok = !with_heads
                        || match heads(&store2) {
                            Ok(h) => tx2.blocking_send(item(Item::Heads(h))).is_ok(),
                            Err(e) => {
                                let _ = tx2.blocking_send(Err(errors::store(e)));
                                false
                            }
                        };
                    if !heads_ok {
                        return (false, s);
                    }
                    let plans = match plan(&store2, &cur, &snaps) {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = tx2.blocking_send(Err(errors::store(e)));
                            return (false, s);
                        }
                    };
                    let ok = produce(&store2, plans, &mut s, &tx2);
                    (ok, s)
                })
                .await;
                let Ok((ok, s)) = r else { return };
                if !ok || !live {
                    return;
                }
                sent = s;
                cursors = sent
                    .cursors
                    .iter()
                    .map(|(o, (e, q))| w::Cursor {
                        origin: o.clone(),
                        epoch: *e,
                        seq: *q,
                    })
                    .collect();
                // Wait for something new, or the heartbeat.
                tokio::select! {
                    r = wake.recv() => {
                        if matches!(r, Err(broadcast::error::RecvError::Closed)) {
                            return;
                        }
                        // Coalesce a burst of applies into one pass.
                        while wake.try_recv().is_ok() {}
                    }
                    _ = beat.tick() => send_heads = true,
                    _ = tx.closed() => return,
                    _ = stopping.changed() => return,
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn get_heads(
        &self,
        req: Request<w::GetHeadsRequest>,
    ) -> Result<Response<w::Heads>, Status> {
        self.check_peer(&req)?;
        let store = self.store.clone();
        let h = tokio::task::spawn_blocking(move || heads(&store))
            .await
            .map_err(errors::join)?
            .map_err(errors::store)?;
        Ok(Response::new(h))
    }

    type PullStream = ItemStream;

    async fn pull(&self, req: Request<w::PullRequest>) -> Result<Response<ItemStream>, Status> {
        self.check_peer(&req)?;
        Ok(Response::new(self.start(req.into_inner(), false)?))
    }

    type SubscribeStream = ItemStream;

    async fn subscribe(
        &self,
        req: Request<w::PullRequest>,
    ) -> Result<Response<ItemStream>, Status> {
        self.check_peer(&req)?;
        Ok(Response::new(self.start(req.into_inner(), true)?))
    }
}
