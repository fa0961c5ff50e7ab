//! Starting a node: key, store, index, services, TLS policy, listener. `start` returns once
//! the node answers, so the CLI, the demo and tests share one start-up path.

use crate::config::NodeConfig;
use crate::federation::{FederationService, Notifier};
use crate::http::{HttpState, Readiness};
use crate::peers::{Fed, Links, roster_peers};
use crate::{admin::AdminService, directory::DirectoryService, publisher::PublisherService};
use prospectus_federation::{Join, Roster, SharedRoster};
use prospectus_proto::v1::{
    admin_server::AdminServer, directory_server::DirectoryServer,
    federation_server::FederationServer, publisher_server::PublisherServer,
};
use prospectus_search::Index;
use prospectus_store::{NodeKey, Scope, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::transport::{Certificate, ClientTlsConfig};
use tonic::transport::{Identity, Server};

/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("--borough is required on first start (a London borough GSS code such as E09000028)")]
    NoBorough,
    #[error("{0:?} is not a London borough GSS code (see `prospectus boroughs`)")]
    UnknownBorough(String),
    #[error(
        "refusing to listen on {0} without TLS: set [tls] cert and key in the config (or --tls-cert/--tls-key); \
         plaintext beyond loopback needs --insecure-dev"
    )]
    TlsRequired(SocketAddr),
    #[error("TLS {path}: {message}")]
    TlsConfig { path: String, message: String },
    #[error("public URL {0:?}: expected http:// or https:// and a host, with no query")]
    PublicUrl(String),
    #[error("TLS file {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
    #[error("data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] prospectus_store::StoreError),
    #[error(transparent)]
    Key(#[from] prospectus_store::KeyError),
    #[error(transparent)]
    Search(#[from] prospectus_search::SearchError),
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Roster(#[from] prospectus_federation::RosterError),
    #[error("peer {url}: {source}")]
    Peer {
        url: String,
        source: crate::transport::TransportError,
    },
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

impl NodeError {
    /// A mistake in the configuration or the files it names: restarting will not help.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            NodeError::NoBorough
                | NodeError::UnknownBorough(_)
                | NodeError::TlsRequired(_)
                | NodeError::TlsConfig { .. }
                | NodeError::PublicUrl(_)
                | NodeError::TlsFile { .. }
                | NodeError::Key(_)
                | NodeError::Roster(_)
                | NodeError::Preflight(_)
                | NodeError::Peer { .. }
        )
    }
}

/// A node that is up. Dropping it does not stop it; call [`RunningNode::shutdown`].
pub struct RunningNode {
    pub addr: SocketAddr,
    pub origin: String,
    pub admin_token_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    /// Tells long-lived work (peer links, open Subscribe streams, timers) to end.
    stopping: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

/// How long shutdown waits for in-flight calls before dropping them.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

impl RunningNode {
    /// Waits until the server stops (after `shutdown` or a fatal error).
    pub async fn wait(self) -> Result<(), NodeError> {
        match self.task.await {
            Ok(r) => Ok(r?),
            Err(e) => {
                tracing::error!(error = %e, "server task failed");
                Ok(())
            }
        }
    }

    /// Ends peer links and open streams, stops accepting, lets in-flight calls finish (up to
    /// 10 s), and returns when the server is down.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        let _ = self.stopping.send(true);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let abort = self.task.abort_handle();
        match tokio::time::timeout(DRAIN, self.wait()).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("in-flight calls did not finish within 10 s; dropping them");
                abort.abort();
                Ok(())
            }
        }
    }
}

fn stored_borough(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join("borough"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Opens everything and starts serving; returns once the listener is bound.
pub async fn start(cfg: NodeConfig) -> Result<RunningNode, NodeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every file the config names exists (and secrets are private) before anything is written.
    crate::preflight::check_files(&cfg)?;
    let dir = cfg.data_dir.clone();
    let dir_err = |source| NodeError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(dir_err)?;

    let borough = match (&cfg.borough, stored_borough(&dir)) {
        (Some(b), _) => b.trim().to_ascii_uppercase(),
        (None, Some(b)) => b,
        (None, None) => return Err(NodeError::NoBorough),
    };
    let info = prospectus_geo::borough(&borough)
        .ok_or_else(|| NodeError::UnknownBorough(borough.clone()))?;

    let is_loopback = cfg.listen.ip().is_loopback();
    let tls = match &cfg.tls {
        Some(paths) => Some(server_tls(paths)?),
        None if !is_loopback && !cfg.insecure_dev => {
            return Err(NodeError::TlsRequired(cfg.listen));
        }
        None => None,
    };
    if tls.is_none() && !is_loopback {
        tracing::warn!(addr = %cfg.listen, "--insecure-dev: serving PLAINTEXT beyond loopback; never do this in production");
    }

    // Installed before anything records, so no early count is lost.
    let _ = crate::metrics::handle();
    let ready = Arc::new(Readiness::default());
    let (roster, roster_text) = match &cfg.federation.roster {
        Some(p) => Roster::read(p)?,
        None => (Roster::default(), String::new()),
    };
    ready.roster_loaded.store(true, Ordering::SeqCst);
    let peers: Vec<String> = match &cfg.federation.peers {
        Some(p) => p.clone(),
        None => roster_peers(&roster, &borough),
    };
    // Before any link connects: plaintext beyond loopback only with --insecure-dev.
    for url in &peers {
        crate::transport::check_url(url, cfg.insecure_dev).map_err(|source| NodeError::Peer {
            url: url.chars().take(200).collect(),
            source,
        })?;
    }
    let (key, created) = NodeKey::load_or_create(&cfg.key_path())?;
    if created {
        tracing::info!(key_id = key.key_id(), path = %cfg.key_path().display(), "created origin key");
    }
    crate::preflight::check_roster(
        &cfg,
        &roster,
        &borough,
        &key.public_hex(),
        key.key_id(),
        chrono::Utc::now().timestamp_millis(),
    )?;
    crate::preflight::check_certificate(&cfg, &roster, &borough, chrono::Utc::now().timestamp())?;
    let store = Arc::new(Store::open_with_cache(
        &dir,
        &borough,
        key,
        cfg.store_cache_mb.saturating_mul(1024 * 1024),
    )?);
    ready.store_open.store(true, Ordering::SeqCst);
    store.add_observer(Arc::new(crate::metrics::AppliedCounter));
    std::fs::write(dir.join("borough"), format!("{borough}\n")).map_err(dir_err)?;

    let admin_token_file = dir.join("admin-token");
    if !store.has_admin_token()? {
        let (token, token_id) = store.create_token(Scope::Admin, "first-start admin token")?;
        let _ = std::fs::remove_file(&admin_token_file);
        prospectus_store::write_private(&admin_token_file, format!("{token}\n").as_bytes())
            .map_err(dir_err)?;
        tracing::info!(%token_id, path = %admin_token_file.display(), "wrote admin token");
    }

    // The join gate, at every start: publishing waits until the peers have answered what
    // they hold of this origin (a restored copy or a lost disk must never reuse a position).
    // Nothing can be signed with a key made just now; `--new-member` declares the first
    // borough of a federation, and only counts while this data dir holds nothing of it.
    let own_held = store.origin_info(&borough)?;
    let own_empty = (own_held.epoch, own_held.seq) == (0, 0);
    if cfg.new_member && !own_empty {
        tracing::warn!(
            epoch = own_held.epoch,
            seq = own_held.seq,
            "--new-member ignored: this data dir already holds entries of this borough; publishing waits for peers"
        );
    }
    let join = Join::new(&peers, created || (cfg.new_member && own_empty));
    if !join.is_open() {
        tracing::warn!(
            key_id = store.key().key_id(),
            peers = peers.len(),
            fresh = store.is_fresh(),
            "publishing waits until the peers answer what they hold of this borough (see `prospectus status`)"
        );
    }
    // An empty data dir restoring its origin must end in a new epoch even if this start is
    // interrupted half-way: the marker outlives it until the gate opens.
    let marker = dir.join("restoring-lost-disk");
    if store.is_fresh() && !join.is_open() {
        std::fs::write(
            &marker,
            b"this data dir started empty; publishing resumes in a new epoch\n",
        )
        .map_err(dir_err)?;
    }
    let lost_disk = marker.exists().then_some(marker);
    let client_tls = client_tls(&cfg)?;
    crate::roster_watch::record(&roster, &store);
    let fed = Arc::new(Fed {
        store: store.clone(),
        roster: Arc::new(SharedRoster::new(roster)),
        roster_changed: watch::channel(0).0,
        heads: Default::default(),
        join: std::sync::Mutex::new(join),
        lost_disk,
        links: Default::default(),
        tls: client_tls,
        insecure_dev: cfg.insecure_dev,
        sources: Default::default(),
        sources_changed: watch::channel(0).0,
    });

    // Subscribes to the store, then reopens the index kept in the data dir and catches it up
    // from the store's change feed, or rebuilds it (logging why).
    let index = Index::open_in(&store, &dir.join("index"))?;
    ready.index_built.store(true, Ordering::SeqCst);
    let (notify, _) = tokio::sync::broadcast::channel(16);
    let (stopping, _) = watch::channel(false);
    store.add_observer(Arc::new(Notifier(notify.clone())));

    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_serving::<PublisherServer<PublisherService>>()
        .await;
    health
        .set_serving::<DirectoryServer<DirectoryService>>()
        .await;
    health.set_serving::<AdminServer<AdminService>>().await;
    health
        .set_serving::<FederationServer<FederationService>>()
        .await;
    // v1alpha beside v1: Python's grpcio-reflection, older grpcurl and GUI clients speak only it.
    let reflection_of = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(prospectus_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_of().build_v1()?;
    let reflection_v1alpha = reflection_of().build_v1alpha()?;

    let publisher = PublisherServer::new(PublisherService {
        store: store.clone(),
        fed: fed.clone(),
        index: index.clone(),
    })
    .max_decoding_message_size(cfg.limits.grpc_max_message_bytes);
    let streams = crate::streams::Streams::new(cfg.stream_limits());
    // With TLS on, Federation is for roster members presenting a client certificate, unless
    // the admin runs a public read mirror.
    let require_peer_cert = cfg.tls.is_some() && !cfg.federation.public;
    if require_peer_cert && cfg.tls.as_ref().is_some_and(|t| t.client_ca.is_none()) {
        tracing::warn!(
            "TLS without a client CA: Federation calls will be refused (no client can present a roster certificate); set --tls-client-ca, or --public-federation for a public read mirror"
        );
    }
    let federation = FederationServer::new(FederationService {
        store: store.clone(),
        roster: fed.roster.clone(),
        notify: notify.clone(),
        stopping: stopping.subscribe(),
        require_peer_cert,
        streams: streams.clone(),
    })
    .max_encoding_message_size(cfg.limits.grpc_max_message_bytes);
    let directory = DirectoryServer::new(DirectoryService {
        store: store.clone(),
        index: index.clone(),
        stale_after: std::time::Duration::from_secs(cfg.stale_after_secs),
        notify: notify.clone(),
        stopping: stopping.subscribe(),
        streams,
    });
    let admin = AdminServer::new(AdminService {
        store: store.clone(),
        fed: fed.clone(),
    });

    // gRPC and HTTP on one port: HTTP/1.1 is accepted for ORUK clients, curl and Prometheus.
    // The gRPC half of `cfg.limits` (the HTTP half is in `http::routes`).
    let mut builder = Server::builder()
        .accept_http1(true)
        .timeout(std::time::Duration::from_millis(
            cfg.limits.grpc_timeout_ms.max(1),
        ))
        .concurrency_limit_per_connection(cfg.limits.grpc_concurrency_per_connection.max(1))
        .trace_fn(|req| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                // A client's id goes into every log line of the request: bounded.
                .map(|v| v.chars().take(64).collect::<String>())
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
            tracing::info_span!(
                "rpc",
                path = %req.uri().path(),
                request_id = %request_id,
                token_id = tracing::field::Empty,
                peer = tracing::field::Empty
            )
        });
    let addr_file = dir.join("node.addr");
    let _ = std::fs::remove_file(&addr_file);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let http_state = HttpState {
        store: store.clone(),
        index: index.clone(),
        fed: fed.clone(),
        ready: ready.clone(),
        public_url: public_url(cfg.public_url.as_deref(), tls.is_some(), addr)?,
        boot: rand::random(),
        stale_after: std::time::Duration::from_secs(cfg.stale_after_secs),
        blocking: crate::http::Blocking::new(cfg.limits.http_concurrency),
        overview: crate::http::OverviewCache::default(),
        projected: crate::http::ProjectedCache::default(),
    };
    let app = Routes::new(health_svc)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(publisher)
        .add_service(directory)
        .add_service(admin)
        .add_service(federation)
        .prepare()
        .into_axum_router()
        .merge(crate::http::routes(http_state, &cfg.limits))
        .fallback(crate::http::fallback)
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(crate::http::cors());
    let router = builder.add_routes(Routes::from(app));

    // Small request/response RPCs stall ~40 ms per call on delayed ACKs without TCP_NODELAY.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(std::time::Duration::from_secs(60)));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stop_rx.await;
    };
    let task = match tls {
        Some(config) => {
            let tls_incoming = tls_incoming(incoming, TlsAcceptor::from(Arc::new(config)));
            tokio::spawn(router.serve_with_incoming_shutdown(tls_incoming, shutdown))
        }
        None => tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown)),
    };
    // Written last and atomically: its presence means the node answers.
    let tmp = dir.join("node.addr.tmp");
    std::fs::write(&tmp, format!("{addr}\n")).map_err(dir_err)?;
    std::fs::rename(&tmp, &addr_file).map_err(dir_err)?;
    tracing::info!(
        origin = %borough, borough = info.name, %addr, tls = cfg.tls.is_some(),
        key_id = store.key().key_id(), peers = peers.len(), "node ready"
    );
    let links = Links::new(fed.clone(), stopping.subscribe());
    links.set(&peers);
    // SIGHUP and (every few seconds) a changed file re-read the roster; links follow its
    // endpoints unless peers were given explicitly.
    let reloader = cfg.federation.roster.clone().map(|path| {
        Arc::new(crate::roster_watch::RosterWatch::new(
            path,
            fed.clone(),
            links,
            cfg.federation.peers.is_none(),
            cfg.insecure_dev,
            roster_text.into_bytes(),
        ))
    });
    let poll = cfg
        .federation
        .roster_poll_secs
        .unwrap_or(crate::config::DEFAULT_ROSTER_POLL_SECS);
    crate::roster_watch::spawn(
        reloader,
        (poll > 0).then(|| std::time::Duration::from_secs(poll)),
        stopping.subscribe(),
    );
    spawn_tombstone_purge(
        store.clone(),
        cfg.tombstone_grace_secs,
        stopping.subscribe(),
    );
    Ok(RunningNode {
        addr,
        origin: borough,
        admin_token_file,
        stop: Some(stop_tx),
        stopping,
        task,
    })
}

/// The base of absolute links: the configured URL (checked, without a trailing `/`), else the
/// bound address with the scheme the listener speaks.
fn public_url(configured: Option<&str>, tls: bool, addr: SocketAddr) -> Result<String, NodeError> {
    let Some(u) = configured else {
        let scheme = if tls { "https" } else { "http" };
        return Ok(format!("{scheme}://{addr}"));
    };
    let u = u.trim().trim_end_matches('/');
    let host = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match host {
        Some(h) if !h.is_empty() && !u.contains(['?', '#', ' ', '"', '<', '>']) => {
            Ok(u.to_string())
        }
        _ => Err(NodeError::PublicUrl(u.chars().take(100).collect())),
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, NodeError> {
    std::fs::read(p).map_err(|source| NodeError::TlsFile {
        path: p.display().to_string(),
        source,
    })
}

/// The listener's TLS: our own rustls config rather than tonic's, because tonic offers only
/// `h2` in ALPN, and HTTP/1.1 clients that offer `http/1.1` alone (Python, Node) would fail
/// the handshake. Client certificates are optional at the TLS layer so link workers can read
/// without one; the Federation service itself requires a roster member's certificate.
fn server_tls(paths: &crate::config::TlsPaths) -> Result<rustls::ServerConfig, NodeError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let bad = |p: &Path, e: &dyn std::fmt::Display| NodeError::TlsConfig {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_file(&paths.cert)?)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&paths.cert, &e))?;
    if certs.is_empty() {
        return Err(bad(&paths.cert, &"no certificate in the file"));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&read_file(&paths.key)?).map_err(|e| bad(&paths.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&paths.cert, &e))?;
    let builder = match &paths.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_file(ca)?) {
                roots
                    .add(c.map_err(|e| bad(ca, &e))?)
                    .map_err(|e| bad(ca, &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| bad(ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| bad(&paths.key, &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// TLS handshakes off the accept loop (a slow client cannot stall others), each bounded.
fn tls_incoming(
    incoming: tonic::transport::server::TcpIncoming,
    acceptor: TlsAcceptor,
) -> ReceiverStream<Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>>
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        tokio::pin!(incoming);
        loop {
            let conn = tokio::select! {
                c = incoming.next() => c,
                _ = tx.closed() => break,
            };
            let tcp = match conn {
                Some(Ok(tcp)) => tcp,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
                None => break,
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            let remote = tcp
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "unknown".into());
            tokio::spawn(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    // An admin debugging a peer needs the reason (expired, unknown issuer,
                    // wrong name) at the default level.
                    Ok(Err(e)) => tracing::warn!(%remote, reason = %e, "TLS handshake failed"),
                    Err(_) => tracing::warn!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

fn load_identity(cert: &Path, key: &Path) -> Result<Identity, NodeError> {
    Ok(Identity::from_pem(read_file(cert)?, read_file(key)?))
}

/// TLS for links to https peers: trust the federation CA, present our certificate (mTLS).
fn client_tls(cfg: &NodeConfig) -> Result<Option<ClientTlsConfig>, NodeError> {
    let mut t = ClientTlsConfig::new().with_webpki_roots();
    let mut any = false;
    if let Some(ca) = &cfg.federation.ca {
        t = t.ca_certificate(Certificate::from_pem(read_file(ca)?));
        any = true;
    }
    if let Some(paths) = &cfg.tls {
        t = t.identity(load_identity(&paths.cert, &paths.key)?);
        any = true;
    }
    Ok(any.then_some(t))
}

/// Purges expired tombstones periodically (every tenth of the grace, between 1 s and 1 h).
fn spawn_tombstone_purge(store: Arc<Store>, grace_secs: u64, mut stopping: watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs((grace_secs / 10).clamp(1, 3600));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => return,
            }
            let cutoff =
                chrono::Utc::now().timestamp_millis() - (grace_secs as i64).saturating_mul(1000);
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.purge_tombstones(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(purged = n, grace_secs, "expired tombstones purged"),
                Ok(Err(e)) => tracing::error!(error = %e, "tombstone purge failed"),
                Err(e) => tracing::error!(error = %e, "tombstone purge task failed"),
            }
        }
    });
}
