//! `prospectus.v1.Federation`: serves this node's signed entries to peers. Pull streams what
//! the caller lacks and ends; Subscribe does the same and then stays open, pushing new entries
//! as they are applied here (own publishes and relayed ones) with periodic heads heartbeats.
//! A caller that names the origins it wants entries of (`PullRequest.filter`, bounded by the
//! roster) gets only those; the first heads are whole, then every [`LAG_BEAT`] only the heads
//! of the origins it asked this node to witness whose signed checkpoint changed since (as
//! checkpoint digests when it asks for `head_digests`; `GetHeads` answers for the checkpoints
//! themselves, of the origins named). On such
//! a stream an origin's checkpoint follows its entries at once unless one went less than a
//! `LAG_BEAT` ago; then the newest rides on the next beat (a burst of changes needs only the
//! last). A caller that asks for `checkpoint_seals` gets each checkpoint after the stream's
//! first of an origin as a seal (`prospectus_federation::seal`: ~90 bytes instead of ~200)
//! when the stream carried the entries up to it and the checkpoint it names as its
//! predecessor; otherwise whole.

use crate::errors;
use crate::streams::{Gone, MAX_CURSORS, Outlet, StreamError, Streams, peer_identity};
use prospectus_federation::{
    Filter, OriginPlan, SharedRoster, checkpoint_digest, entry_filter, heads, heads_of, plan, seal,
};
use prospectus_proto::v1::{
    self as w, PullItem, SignedCheckpoint, SignedEntry, federation_server::Federation,
    pull_item::Item,
};
use prospectus_store::{Observer, Store, StoreError, Update};
use prost::Message;
use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

/// How often an open Subscribe stream carries a heads heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How often a filtered stream carries the changed heads of the origins its caller asked this
/// node to witness (how soon a caller sees that its source for an origin withholds).
pub const LAG_BEAT: Duration = Duration::from_secs(10);

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
    /// Who may call (under mutual TLS): the roster in force at each call.
    pub roster: Arc<SharedRoster>,
    pub notify: broadcast::Sender<()>,
    /// Ends open streams when the node shuts down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Require a client certificate mapped to a roster member (TLS on, not a public mirror).
    pub require_peer_cert: bool,
    /// Bounds on open streams, stalled consumers, blocking reads and snapshots.
    pub streams: Arc<Streams>,
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<PullItem, Status>> + Send>>;

/// What one stream has sent so far, so a live stream sends each entry and checkpoint once.
#[derive(Default)]
struct Sent {
    cursors: HashMap<String, (u64, u64)>,
    checkpoints: HashMap<String, Vec<u8>>,
    /// Per origin, the checkpoint the heads last carried (filtered streams send only changes).
    heads: HashMap<String, Vec<u8>>,
    /// Filtered streams: when each origin's checkpoint was last sent (coalescing).
    checkpoint_at: HashMap<String, tokio::time::Instant>,
    /// The caller takes checkpoint seals.
    seals: bool,
    /// Per origin, the digest of the checkpoint the caller said it holds (its cursor's).
    held: HashMap<String, Vec<u8>>,
}

impl Sent {
    /// Notes that this stream carried `head`; false if it had carried that checkpoint already.
    fn note(&mut self, head: &w::Head) -> bool {
        let cp = head
            .checkpoint
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default();
        if self.heads.get(&head.origin) == Some(&cp) {
            return false;
        }
        self.heads.insert(head.origin.clone(), cp);
        true
    }

    /// Keeps the heads of `origins` whose checkpoint this stream has not carried yet.
    fn changed_heads(&mut self, h: &mut w::Heads, origins: &BTreeSet<String>) {
        h.heads
            .retain(|head| origins.contains(&head.origin) && self.note(head));
    }
}

/// Entries read from the log per blocking step; between steps the stream only awaits.
const CHUNK: usize = 256;

/// What one stream's producer works with.
struct Producer {
    store: Arc<Store>,
    streams: Arc<Streams>,
    out: Outlet<PullItem>,
    /// The caller named its origins (a node taking each origin from one peer), for metrics.
    filtered: bool,
}

impl Producer {
    async fn send(&self, i: Item) -> Result<(), Gone> {
        self.send_with(i, None).await
    }

    /// Sends `i`, with the seal of the checkpoint at its position when it is an entry.
    async fn send_with(&self, i: Item, seal: Option<w::CheckpointSeal>) -> Result<(), Gone> {
        let kind = match &i {
            Item::Entry(_) => "entry",
            Item::Checkpoint(_) => "checkpoint",
            Item::CheckpointSeal(_) => "checkpoint_seal",
            Item::Heads(_) => "heads",
            Item::SnapshotRequired(_) | Item::SnapshotBegin(_) | Item::SnapshotEnd(_) => "snapshot",
        };
        let item = PullItem {
            item: Some(i),
            seal,
        };
        let filtered = if self.filtered { "true" } else { "false" };
        let sealed = item
            .seal
            .as_ref()
            .map_or(0, |s| prost::encoding::message::encoded_len(8, s));
        metrics::counter!(crate::metrics::STREAM_BYTES, "item" => kind, "filtered" => filtered)
            .increment((item.encoded_len() - sealed) as u64);
        if sealed > 0 {
            metrics::counter!(crate::metrics::STREAM_BYTES, "item" => "checkpoint_seal", "filtered" => filtered)
                .increment(sealed as u64);
        }
        self.out.send(Ok(item)).await
    }

    /// Runs a blocking store read (bounded across all streams); a failure ends the stream.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Gone> {
        let store = self.store.clone();
        match self.streams.read(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.out.fail(errors::store(e)).await;
                Err(Gone::Closed)
            }
            Err(status) => {
                self.out.fail(status).await;
                Err(Gone::Closed)
            }
        }
    }

    /// Streams everything `plans` call for, a chunk of the log at a time.
    /// `coalesce`: hold back a checkpoint sent less than a `LAG_BEAT` ago (`Some(false)` on the
    /// beat, when every held-back one goes); `None`: every checkpoint at once.
    async fn produce(
        &self,
        plans: Vec<OriginPlan>,
        sent: &mut Sent,
        coalesce: Option<bool>,
    ) -> Result<(), Gone> {
        for p in plans {
            let (origin, from, snapshot) = match p {
                OriginPlan::SnapshotRequired { origin } => {
                    self.send(Item::SnapshotRequired(w::SnapshotRequired { origin }))
                        .await?;
                    continue;
                }
                OriginPlan::Snapshot { origin } => (origin, (0, 0), true),
                OriginPlan::From { origin, epoch, seq } => (origin, (epoch, seq), false),
            };
            let o = origin.clone();
            let info = self.read(move |s| s.origin_info(&o)).await?;
            if snapshot {
                self.send(Item::SnapshotBegin(w::SnapshotBegin {
                    origin: origin.clone(),
                }))
                .await?;
            }
            let mut last = from;
            // Outside a snapshot the last entry waits for the checkpoint decision below: a
            // seal at its position rides with it.
            let mut last_entry: Option<((u64, u64), SignedEntry)> = None;
            loop {
                let (o, at) = (origin.clone(), last);
                let chunk = self
                    .read(move |s| {
                        s.log_after(&o, at.0, at.1)
                            .take(CHUNK)
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .await?;
                let n = chunk.len();
                for (e, s, bytes) in chunk {
                    last = (e, s);
                    let Ok(signed) = SignedEntry::decode(bytes.as_slice()) else {
                        continue;
                    };
                    if snapshot {
                        self.send(Item::Entry(signed)).await?;
                    } else if let Some((_, before)) = last_entry.replace(((e, s), signed)) {
                        self.send(Item::Entry(before)).await?;
                    }
                }
                if n < CHUNK {
                    break;
                }
            }
            if snapshot {
                last = (info.epoch, info.seq).max(last);
                // The set ends with the origin's signed checkpoint as held now (after the
                // scan), which the receiver checks it against before replacing anything.
                let o = origin.clone();
                let checkpoint = self
                    .read(move |s| {
                        Ok(s.origin_info(&o)
                            .ok()
                            .and_then(|i| SignedCheckpoint::decode(i.checkpoint.as_slice()).ok()))
                    })
                    .await?;
                self.send(Item::SnapshotEnd(w::SnapshotEnd {
                    origin: origin.clone(),
                    epoch: last.0,
                    seq: last.1,
                    checkpoint,
                }))
                .await?;
            }
            let prev = sent.cursors.entry(origin.clone()).or_insert(last);
            *prev = (*prev).max(last);
            let at = *prev;
            // The checkpoint is only useful once; resend it when it changes. One the caller
            // said it holds is as good as sent.
            if !sent.checkpoints.contains_key(&origin)
                && let Some(d) = sent.held.remove(&origin)
                && SignedCheckpoint::decode(info.checkpoint.as_slice())
                    .is_ok_and(|cp| !info.checkpoint.is_empty() && checkpoint_digest(&cp) == d)
            {
                sent.checkpoints
                    .insert(origin.clone(), info.checkpoint.clone());
            }
            let now = tokio::time::Instant::now();
            let held_back = coalesce == Some(true)
                && sent
                    .checkpoint_at
                    .get(&origin)
                    .is_some_and(|t| now.duration_since(*t) < LAG_BEAT);
            if !info.checkpoint.is_empty()
                && sent.checkpoints.get(&origin) != Some(&info.checkpoint)
                && !held_back
            {
                if coalesce.is_some() {
                    sent.checkpoint_at.insert(origin.clone(), now);
                }
                if let Ok(cp) = SignedCheckpoint::decode(info.checkpoint.as_slice()) {
                    // As a seal when the caller can rebuild it: this stream carried the
                    // entries up to its position and the checkpoint before it.
                    let entry_millis =
                        ((info.epoch, info.seq) == at).then_some(info.last_entry_millis);
                    let sealed = sent
                        .checkpoints
                        .get(&origin)
                        .filter(|_| sent.seals)
                        .and_then(|before| seal(&cp, before, at, entry_millis));
                    match (last_entry.take(), sealed) {
                        // The seal of the last entry's own position: in its message.
                        (Some((at, e)), Some(mut s)) if (s.epoch, s.seq) == at => {
                            s.origin.clear();
                            (s.epoch, s.seq) = (0, 0);
                            self.send_with(Item::Entry(e), Some(s)).await?
                        }
                        (e, s) => {
                            if let Some((_, e)) = e {
                                self.send(Item::Entry(e)).await?;
                            }
                            match s {
                                Some(s) => self.send(Item::CheckpointSeal(s)).await?,
                                None => self.send(Item::Checkpoint(cp)).await?,
                            }
                        }
                    }
                }
                sent.checkpoints.insert(origin, info.checkpoint);
            }
            if let Some((_, e)) = last_entry {
                self.send(Item::Entry(e)).await?;
            }
        }
        Ok(())
    }

    /// One stream's life: heads, what the cursors call for, then (live) new entries as they
    /// are applied and heads on the heartbeat, until the consumer leaves, stalls, or the node
    /// stops.
    async fn run(
        self,
        mut cursors: Vec<w::Cursor>,
        mut snapshots: Vec<String>,
        wanted: Option<Filter>,
        live: bool,
        mut wake: broadcast::Receiver<()>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut sent = Sent {
            seals: wanted.as_ref().is_some_and(|f| f.seals),
            held: cursors
                .iter()
                .filter(|c| c.checkpoint_digest.len() == 16)
                .map(|c| (c.origin.clone(), c.checkpoint_digest.clone()))
                .collect(),
            ..Default::default()
        };
        // Heads open the stream and then ride on the heartbeat, not on every new entry.
        let mut send_heads = true;
        let mut first = true;
        // This pass follows the beat: held-back checkpoints go now.
        let mut beat_pass = false;
        let mut beat = tokio::time::interval(if wanted.is_some() {
            LAG_BEAT
        } else {
            HEARTBEAT
        });
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        beat.tick().await;
        loop {
            if std::mem::take(&mut send_heads) {
                let Ok(mut h) = self.read(heads).await else {
                    return;
                };
                // A filtered stream's heads are how its caller sees lag: whole at first (the
                // join gate reads them, and each checkpoint in them is checked against the
                // caller's chain: fork evidence), then only what changed.
                if let Some(f) = &wanted {
                    if first {
                        for head in &h.heads {
                            sent.note(head);
                        }
                    } else {
                        sent.changed_heads(&mut h, &f.heads);
                        if f.digests {
                            // The caller has both from the first heads: a beat is only
                            // the digests.
                            h.node_origin.clear();
                            h.unix_millis = 0;
                            for head in &mut h.heads {
                                if let Some(cp) = head.checkpoint.take() {
                                    head.checkpoint_digest = checkpoint_digest(&cp);
                                    if let Ok(c) =
                                        w::Checkpoint::decode(cp.checkpoint_bytes.as_slice())
                                    {
                                        (head.checkpoint_epoch, head.checkpoint_seq) =
                                            (c.epoch, c.seq);
                                    }
                                }
                            }
                        }
                    }
                }
                if (first || wanted.is_none() || !h.heads.is_empty())
                    && self.send(Item::Heads(h)).await.is_err()
                {
                    return;
                }
                first = false;
            }
            let (cur, snaps) = (std::mem::take(&mut cursors), std::mem::take(&mut snapshots));
            let want = wanted.clone();
            let Ok(plans) = self
                .read(move |s| plan(s, &cur, &snaps, want.as_ref()))
                .await
            else {
                return;
            };
            let coalesce = wanted.as_ref().map(|_| !std::mem::take(&mut beat_pass));
            if self.produce(plans, &mut sent, coalesce).await.is_err() || !live {
                return;
            }
            cursors = sent
                .cursors
                .iter()
                .map(|(o, (e, q))| w::Cursor {
                    origin: o.clone(),
                    epoch: *e,
                    seq: *q,
                    checkpoint_digest: Vec::new(),
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
                _ = beat.tick() => {
                    send_heads = true;
                    beat_pass = true;
                }
                _ = self.out.closed() => return,
                _ = stopping.changed() => return,
            }
        }
    }
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
        let roster = self.roster.current();
        for m in roster.members() {
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

    /// Admits a Pull or Subscribe (caller, stream and snapshot bounds) and starts its
    /// producer; the producer only awaits between bounded blocking reads.
    fn start(&self, req: Request<w::PullRequest>, live: bool) -> Result<ItemStream, Status> {
        let member = self.check_peer(&req)?;
        let peer = peer_identity(member.as_deref(), req.remote_addr());
        let w::PullRequest {
            cursors,
            mut snapshot_origins,
            filter,
        } = req.into_inner();
        if cursors.len() > MAX_CURSORS {
            return Err(errors::invalid_field(
                "cursors",
                format!("at most {MAX_CURSORS} cursors, got {}", cursors.len()),
            ));
        }
        snapshot_origins.sort();
        snapshot_origins.dedup();
        let wanted = entry_filter(&self.roster.current(), filter.as_ref())
            .map_err(|e| errors::invalid_field(e.field(), e.to_string()))?;
        let refused = |e: StreamError| {
            tracing::warn!(%peer, reason = %e, "stream refused");
            metrics::counter!(crate::metrics::STREAMS_REFUSED, "reason" => e.label()).increment(1);
            errors::stream(e)
        };
        let permit = self.streams.admit(&peer).map_err(refused)?;
        self.streams
            .admit_snapshots(&peer, snapshot_origins.len())
            .map_err(refused)?;
        let (out, body) = self.streams.channel(permit);
        let producer = Producer {
            store: self.store.clone(),
            streams: self.streams.clone(),
            out,
            filtered: wanted.is_some(),
        };
        tokio::spawn(
            producer
                .run(
                    cursors,
                    snapshot_origins,
                    wanted,
                    live,
                    self.notify.subscribe(),
                    self.stopping.clone(),
                )
                .instrument(tracing::Span::current()),
        );
        Ok(Box::pin(body))
    }
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn get_heads(
        &self,
        req: Request<w::GetHeadsRequest>,
    ) -> Result<Response<w::Heads>, Status> {
        self.check_peer(&req)?;
        let roster = self.roster.current();
        let wanted = &req.get_ref().origins;
        if wanted.len() > roster.members().len() {
            return Err(errors::invalid_field(
                "origins",
                format!(
                    "at most {} origins (the roster's members), got {}",
                    roster.members().len(),
                    wanted.len()
                ),
            ));
        }
        // Names outside the roster are dropped (none asked: every origin; only such names:
        // nothing).
        let origins: BTreeSet<String> = wanted
            .iter()
            .filter_map(|o| roster.member(o).map(|m| m.origin.clone()))
            .collect();
        if !wanted.is_empty() && origins.is_empty() {
            return Ok(Response::new(w::Heads {
                node_origin: self.store.origin().to_string(),
                heads: Vec::new(),
                unix_millis: chrono::Utc::now().timestamp_millis(),
            }));
        }
        let store = self.store.clone();
        let h = tokio::task::spawn_blocking(move || heads_of(&store, &origins))
            .await
            .map_err(errors::join)?
            .map_err(errors::store)?;
        Ok(Response::new(h))
    }

    type PullStream = ItemStream;

    async fn pull(&self, req: Request<w::PullRequest>) -> Result<Response<ItemStream>, Status> {
        Ok(Response::new(self.start(req, false)?))
    }

    type SubscribeStream = ItemStream;

    async fn subscribe(
        &self,
        req: Request<w::PullRequest>,
    ) -> Result<Response<ItemStream>, Status> {
        Ok(Response::new(self.start(req, true)?))
    }
}
