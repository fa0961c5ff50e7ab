//! `prospectus.v1.Admin`: the borough admin's calls, all behind the admin token.

use crate::{auth, errors};
use prospectus_model::{RecordKind, Uuid};
use prospectus_proto::v1::{self as w, Checkpoint, SignedCheckpoint, admin_server::Admin};
use prospectus_store::{Scope, Store};
use prost::Message;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub store: Arc<Store>,
    pub fed: Arc<crate::peers::Fed>,
}

/// Bytes per streamed backup chunk.
const BACKUP_CHUNK: usize = 1 << 20;

type BackupStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<w::BackupChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Admin for AdminService {
    type BackupStream = BackupStream;

    /// The copy is taken whole under the store's writer lock (a few seconds of paused writes
    /// for a large borough), then streamed from memory: no publish is half in it.
    async fn backup(
        &self,
        req: Request<w::BackupRequest>,
    ) -> Result<Response<BackupStream>, Status> {
        auth::require_admin(&self.store, &req)?;
        let store = self.store.clone();
        let bytes = tokio::task::spawn_blocking(move || store.backup())
            .await
            .map_err(errors::join)?
            .map_err(errors::store)?;
        tracing::info!(bytes = bytes.len(), "backup taken");
        let chunks: Vec<Result<w::BackupChunk, Status>> = bytes
            .chunks(BACKUP_CHUNK)
            .map(|c| Ok(w::BackupChunk { data: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn enable_token(
        &self,
        req: Request<w::EnableTokenRequest>,
    ) -> Result<Response<w::EnableTokenResponse>, Status> {
        auth::require_admin(&self.store, &req)?;
        let id = req.into_inner().token_id;
        let enabled = self.store.enable_token(id.trim()).map_err(errors::store)?;
        tracing::info!(token_id = %id.chars().take(64).collect::<String>(), enabled, "token enable");
        Ok(Response::new(w::EnableTokenResponse { enabled }))
    }

    async fn create_provider_token(
        &self,
        req: Request<w::CreateProviderTokenRequest>,
    ) -> Result<Response<w::CreateProviderTokenResponse>, Status> {
        auth::require_admin(&self.store, &req)?;
        let r = req.into_inner();
        let provider = Uuid::parse_str(r.provider_id.trim())
            .map_err(|_| errors::invalid_field("provider_id", "is not a UUID"))?;
        if r.label.len() > 200 {
            return Err(errors::invalid_field(
                "label",
                "must be at most 200 characters",
            ));
        }
        let (token, token_id) = self
            .store
            .create_token(Scope::Provider(provider), &r.label)
            .map_err(errors::store)?;
        tracing::info!(%provider, %token_id, "provider token created");
        Ok(Response::new(w::CreateProviderTokenResponse {
            token,
            token_id,
        }))
    }

    async fn revoke_token(
        &self,
        req: Request<w::RevokeTokenRequest>,
    ) -> Result<Response<w::RevokeTokenResponse>, Status> {
        auth::require_admin(&self.store, &req)?;
        let id = req.into_inner().token_id;
        let revoked = self.store.revoke_token(id.trim()).map_err(errors::store)?;
        tracing::info!(token_id = %id, revoked, "token revoke");
        Ok(Response::new(w::RevokeTokenResponse { revoked }))
    }

    async fn node_info(
        &self,
        req: Request<w::NodeInfoRequest>,
    ) -> Result<Response<w::NodeInfoResponse>, Status> {
        auth::require_admin(&self.store, &req)?;
        let s = &self.store;
        let (epoch, seq) = s.head().map_err(errors::store)?;
        let count = |k| s.count_live(k).map_err(errors::store);
        Ok(Response::new(w::NodeInfoResponse {
            origin: s.origin().to_string(),
            borough_name: prospectus_geo::borough(s.origin())
                .map(|b| b.name.to_string())
                .unwrap_or_default(),
            public_key: s.key().public_hex(),
            key_id: s.key().key_id().to_string(),
            epoch,
            seq,
            providers: count(RecordKind::Provider)?,
            venues: count(RecordKind::Venue)?,
            courses: count(RecordKind::Course)?,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    async fn status(
        &self,
        req: Request<w::StatusRequest>,
    ) -> Result<Response<w::StatusResponse>, Status> {
        auth::require_admin(&self.store, &req)?;
        let fed = self.fed.clone();
        let r = tokio::task::spawn_blocking(
            move || -> Result<w::StatusResponse, prospectus_store::StoreError> {
                let store = &fed.store;
                let best = fed.heads.all();
                let mut origins = Vec::new();
                for o in store.origins()? {
                    let (lag, behind_epoch) = match best.get(&o.origin) {
                        Some(&(e, s)) if e == o.epoch => (s.saturating_sub(o.seq), false),
                        Some(&(e, _)) if e > o.epoch => (0, true),
                        _ => (0, false),
                    };
                    let checkpoint_seq = SignedCheckpoint::decode(o.checkpoint.as_slice())
                        .ok()
                        .and_then(|s| Checkpoint::decode(s.checkpoint_bytes.as_slice()).ok())
                        .map_or(0, |c| c.seq);
                    origins.push(w::OriginStatus {
                        name: prospectus_geo::borough(&o.origin)
                            .map(|b| b.name.to_string())
                            .unwrap_or_default(),
                        origin: o.origin,
                        epoch: o.epoch,
                        seq: o.seq,
                        live_count: o.live_count,
                        checkpoint_verified: o.checkpoint_verified,
                        checkpoint_seq,
                        diverged: o.diverged,
                        last_heard_millis: o.last_heard_millis,
                        lag,
                        behind_epoch,
                        forks: o.forks,
                    });
                }
                let peers = fed
                    .link_statuses()
                    .into_iter()
                    .map(|l| w::PeerStatus {
                        url: l.url,
                        connected: l.connected,
                        last_error: l.last_error,
                        last_connected_millis: l.last_connected_millis,
                        applied: l.applied,
                        received: l.received,
                        rejected: l.rejected,
                        every_origin: l.entry_origins.is_none(),
                        entry_origins: l.entry_origins.unwrap_or_default(),
                    })
                    .collect();
                let forks = store
                    .forks()?
                    .into_iter()
                    .map(|f| w::Fork {
                        origin: f.origin,
                        epoch: f.epoch,
                        seq: f.seq,
                        refused_signed_entry: f.refused,
                        refused_signed_checkpoint: f.refused_checkpoint,
                    })
                    .collect();
                let gate = fed.gate();
                Ok(w::StatusResponse {
                    origin: store.origin().to_string(),
                    recovering: gate != prospectus_federation::JoinState::Open,
                    origins,
                    peers,
                    forks,
                    waiting_for: gate.describe(),
                })
            },
        )
        .await
        .map_err(errors::join)?
        .map_err(errors::store)?;
        Ok(Response::new(r))
    }
}
