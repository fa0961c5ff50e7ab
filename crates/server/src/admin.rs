//! `prospectus.v1.Admin`: the borough admin's calls, all behind the admin token.

use crate::{auth, errors};
use prospectus_model::{RecordKind, Uuid};
use prospectus_proto::v1::{self as w, admin_server::Admin};
use prospectus_store::{Scope, Store};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub store: Arc<Store>,
}

#[tonic::async_trait]
impl Admin for AdminService {
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
}
