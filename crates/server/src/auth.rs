//! Bearer tokens on writes. Reads are open: the directory is public information.

use prospectus_store::{Scope, Store};
use tonic::{Request, Status};

/// The scope of the request's `authorization: Bearer …` token, or `UNAUTHENTICATED`.
pub fn scope<T>(store: &Store, req: &Request<T>) -> Result<Scope, Status> {
    let header = req
        .metadata()
        .get("authorization")
        .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?;
    let value = header
        .to_str()
        .map_err(|_| Status::unauthenticated("authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
    match store.check_token(token) {
        Ok(Some(info)) if info.suspended => {
            tracing::Span::current().record("token_id", info.token_id.as_str());
            Err(Status::permission_denied(format!(
                "token {} is suspended: this node was restored from a backup, and tokens revoked \
                 since cannot be told apart; the admin re-enables it with `prospectus token enable --token-id {}`",
                info.token_id, info.token_id
            )))
        }
        Ok(Some(info)) => {
            tracing::Span::current().record("token_id", info.token_id.as_str());
            Ok(info.scope)
        }
        Ok(None) => Err(Status::unauthenticated("unknown or revoked token")),
        Err(e) => Err(crate::errors::store(e)),
    }
}

pub fn require_admin<T>(store: &Store, req: &Request<T>) -> Result<(), Status> {
    match scope(store, req)? {
        Scope::Admin => Ok(()),
        Scope::Provider(_) => Err(Status::permission_denied(
            "this call needs the node's admin token",
        )),
    }
}
