//! A hostile peer for tests: a real `prospectus.v1.Federation` server on loopback (a port the
//! OS picks) whose every stream is a script — a function of the request, read once the test
//! opens the gate — after which a Subscribe stream stays open in silence. A [`hold`] in a
//! script holds the rest back until [`Rogue::resume`] (or, on a [`Rogue::paced`] rogue,
//! sends the rest one item per pace: a trickle); a [`Rogue::mute`] rogue accepts Subscribe
//! calls and never answers them.

#![allow(dead_code)]

use prospectus_proto::v1::federation_server::{Federation, FederationServer};
use prospectus_proto::v1::{self as w, PullItem, SignedEntry, pull_item::Item};
use prost::Message;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;

type Script = Arc<dyn Fn(&w::PullRequest) -> Vec<PullItem> + Send + Sync>;
type S = Pin<Box<dyn Stream<Item = Result<PullItem, tonic::Status>> + Send>>;

/// In a script: the items after it wait for [`Rogue::resume`], or on a [`Rogue::paced`]
/// rogue go one per pace.
pub fn hold() -> PullItem {
    PullItem::default()
}

struct Service {
    script: Script,
    gate: watch::Receiver<bool>,
    resume: watch::Receiver<bool>,
    pace: Option<Duration>,
    mute: bool,
    requests: Arc<Mutex<Vec<w::PullRequest>>>,
}

impl Service {
    fn stream(&self, req: w::PullRequest, live: bool) -> S {
        self.requests.lock().expect("requests").push(req.clone());
        let script = self.script.clone();
        let (mut gate, mut resume, pace) = (self.gate.clone(), self.resume.clone(), self.pace);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            if gate.wait_for(|open| *open).await.is_err() {
                return;
            }
            // The script is read once the gate is open (the test fills it in late).
            let mut trickle = false;
            for i in script(&req) {
                if i.item.is_none() {
                    match pace {
                        Some(_) => trickle = true,
                        None if resume.wait_for(|r| *r).await.is_err() => return,
                        None => {}
                    }
                    continue;
                }
                if let Some(p) = pace.filter(|_| trickle) {
                    tokio::time::sleep(p).await;
                }
                if tx.send(Ok(i)).await.is_err() {
                    return;
                }
            }
            if live {
                tx.closed().await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl Federation for Service {
    async fn get_heads(
        &self,
        _: tonic::Request<w::GetHeadsRequest>,
    ) -> Result<tonic::Response<w::Heads>, tonic::Status> {
        Ok(tonic::Response::new(w::Heads::default()))
    }
    type PullStream = S;
    async fn pull(
        &self,
        r: tonic::Request<w::PullRequest>,
    ) -> Result<tonic::Response<S>, tonic::Status> {
        Ok(tonic::Response::new(self.stream(r.into_inner(), false)))
    }
    type SubscribeStream = S;
    async fn subscribe(
        &self,
        r: tonic::Request<w::PullRequest>,
    ) -> Result<tonic::Response<S>, tonic::Status> {
        if self.mute {
            self.requests.lock().expect("requests").push(r.into_inner());
            return std::future::pending().await;
        }
        Ok(tonic::Response::new(self.stream(r.into_inner(), true)))
    }
}

pub struct Rogue {
    pub url: String,
    gate: watch::Sender<bool>,
    resume: watch::Sender<bool>,
    requests: Arc<Mutex<Vec<w::PullRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Rogue {
    /// Serves `script` on 127.0.0.1 (a port the OS picks); streams wait for `open`.
    pub async fn serve(
        script: impl Fn(&w::PullRequest) -> Vec<PullItem> + Send + Sync + 'static,
    ) -> Rogue {
        Self::start(Arc::new(script), None, false).await
    }

    /// Like [`Rogue::serve`], but what follows a [`hold`] goes one item per `pace`.
    pub async fn paced(
        pace: Duration,
        script: impl Fn(&w::PullRequest) -> Vec<PullItem> + Send + Sync + 'static,
    ) -> Rogue {
        Self::start(Arc::new(script), Some(pace), false).await
    }

    /// A peer that accepts connections and Subscribe calls and never answers them.
    pub async fn mute() -> Rogue {
        Self::start(Arc::new(|_| Vec::new()), None, true).await
    }

    async fn start(script: Script, pace: Option<Duration>, mute: bool) -> Rogue {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (gate, rx) = watch::channel(false);
        let (resume, resumed) = watch::channel(false);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let svc = Service {
            script,
            gate: rx,
            resume: resumed,
            pace,
            mute,
            requests: requests.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(FederationServer::new(svc))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        Rogue {
            url: format!("http://{addr}"),
            gate,
            resume,
            requests,
            task,
        }
    }

    pub fn open(&self) {
        let _ = self.gate.send(true);
    }

    /// Lets every stream go on past its [`hold`].
    pub fn resume(&self) {
        let _ = self.resume.send(true);
    }

    /// How many Pull and Subscribe calls the rogue has had.
    pub fn calls(&self) -> usize {
        self.requests.lock().expect("requests").len()
    }

    /// Origins the node asked this rogue to send as snapshots.
    pub fn snapshot_requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .flat_map(|r| r.snapshot_origins.clone())
            .collect()
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `entry` signed with `key`, as a stream item.
pub fn signed(key: &prospectus_server::NodeKey, entry: &w::Entry) -> PullItem {
    let entry_bytes = entry.encode_to_vec();
    PullItem {
        seal: None,
        item: Some(Item::Entry(SignedEntry {
            signature: key.sign(&entry_bytes),
            key_id: key.key_id().to_string(),
            entry_bytes,
        })),
    }
}

/// What `node` serves over `Federation.Pull` for `origin`: its genuine signed entries and its
/// latest signed checkpoint — the material a rogue replays.
pub async fn genuine(node: &super::Node, origin: &str) -> (Vec<SignedEntry>, w::SignedCheckpoint) {
    let mut stream = w::federation_client::FederationClient::new(node.channel().await)
        .pull(w::PullRequest::default())
        .await
        .expect("pull")
        .into_inner();
    let (mut entries, mut cp) = (Vec::new(), None);
    while let Some(item) = stream.message().await.expect("pull item") {
        match item.item {
            Some(Item::Entry(e))
                if w::Entry::decode(e.entry_bytes.as_slice()).is_ok_and(|x| x.origin == origin) =>
            {
                entries.push(e)
            }
            Some(Item::Checkpoint(c))
                if w::Checkpoint::decode(c.checkpoint_bytes.as_slice())
                    .is_ok_and(|x| x.origin == origin) =>
            {
                cp = Some(c)
            }
            _ => {}
        }
    }
    (entries, cp.expect("checkpoint"))
}
