//! Write tokens. A token is shown once and stored only as its SHA-256 (tokens are 256 random
//! bits, so a fast hash is enough); its scope says whose records it may write.

use crate::codec::TokenRecord;
use crate::{Store, StoreError, now_millis};
use base64::Engine;
use prospectus_model::Uuid;
use prost::Message;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a token may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The node's admin: any record of this borough, and token management.
    Admin,
    /// One provider's own records only.
    Provider(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token_id: String,
    pub scope: Scope,
    pub label: String,
    /// Suspended by a restore from a backup: refused until the admin re-enables it.
    pub suspended: bool,
}

const TOKEN_PREFIX: &str = "pst_";

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl Store {
    /// Creates a token; returns `(secret token, public token id)`.
    pub fn create_token(&self, scope: Scope, label: &str) -> Result<(String, String), StoreError> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let token_id = hex::encode(id);
        let rec = TokenRecord {
            token_id: token_id.clone(),
            admin: scope == Scope::Admin,
            provider: match &scope {
                Scope::Provider(p) => p.as_bytes().to_vec(),
                Scope::Admin => vec![],
            },
            label: label.to_string(),
            created_unix_millis: now_millis(),
            suspended: false,
        };
        self.auth.insert(hash(&token), rec.encode_to_vec())?;
        self.auth.flush()?;
        Ok((token, token_id))
    }

    /// The scope of a presented token, or `None` if it is unknown or revoked. A suspended
    /// token is returned with `suspended` set: callers refuse it, saying why.
    pub fn check_token(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        if !token.trim().starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(v) = self.auth.get(hash(token))? else {
            return Ok(None);
        };
        let rec = TokenRecord::decode(v.as_ref())
            .map_err(|e| StoreError::Corrupt(format!("token record: {e}")))?;
        let scope = if rec.admin {
            Scope::Admin
        } else {
            Scope::Provider(
                Uuid::from_slice(&rec.provider)
                    .map_err(|_| StoreError::Corrupt("token provider id".into()))?,
            )
        };
        Ok(Some(TokenInfo {
            token_id: rec.token_id,
            scope,
            label: rec.label,
            suspended: rec.suspended,
        }))
    }

    /// Lifts a restore's suspension of the token with public id `token_id`; true if a
    /// suspended token was found.
    pub fn enable_token(&self, token_id: &str) -> Result<bool, StoreError> {
        for item in self.auth.iter() {
            let (k, v) = item?;
            let mut rec = TokenRecord::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("token record: {e}")))?;
            if rec.token_id == token_id && rec.suspended {
                rec.suspended = false;
                self.auth.insert(k, rec.encode_to_vec())?;
                self.auth.flush()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Revokes by public id; true if a token was removed.
    pub fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        for item in self.auth.iter() {
            let (k, v) = item?;
            let rec = TokenRecord::decode(v.as_ref())
                .map_err(|e| StoreError::Corrupt(format!("token record: {e}")))?;
            if rec.token_id == token_id {
                self.auth.remove(k)?;
                self.auth.flush()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// True once any admin token exists (first start creates one).
    pub fn has_admin_token(&self) -> Result<bool, StoreError> {
        for item in self.auth.iter() {
            let (_, v) = item?;
            if TokenRecord::decode(v.as_ref()).is_ok_and(|r| r.admin) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
