//! The roster: the federation's members, their endpoints and the public keys that may sign
//! for each borough, with validity windows. A node accepts an entry only if its origin and key
//! are here and the signature verifies.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use prospectus_store::Trust;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("roster {path}: {message}")]
    Read { path: String, message: String },
    #[error("roster member {origin}: {message}")]
    Member { origin: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterKey {
    /// Ed25519 public key, hex (what `prospectus keygen` prints).
    pub public_key: String,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// GSS code of the borough.
    pub origin: String,
    pub name: String,
    /// Where its node answers, e.g. https://node.southwark.example:7400
    pub endpoint: String,
    /// DNS name its TLS certificate carries (for mutual TLS); defaults to the endpoint's host.
    #[serde(default)]
    pub tls_name: Option<String>,
    pub keys: Vec<RosterKey>,
}

impl Member {
    pub fn tls_name(&self) -> String {
        self.tls_name.clone().unwrap_or_else(|| {
            let rest = self.endpoint.split("://").nth(1).unwrap_or(&self.endpoint);
            let host = rest.split('/').next().unwrap_or(rest);
            match host.rsplit_once(':') {
                Some((h, _)) => h.trim_matches(['[', ']']).to_string(),
                None => host.to_string(),
            }
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default, rename = "member")]
    members: Vec<Member>,
}

/// One decoded key: who it signs for, its id, and its validity window in millis.
#[derive(Debug, Clone)]
struct TrustedKey {
    origin: String,
    key_id: String,
    key: VerifyingKey,
    from: Option<i64>,
    until: Option<i64>,
}

/// A parsed roster with decoded keys.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    members: Vec<Member>,
    keys: Vec<TrustedKey>,
}

impl Roster {
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let text = std::fs::read_to_string(path).map_err(|e| RosterError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|e| match e {
            RosterError::Read { message, .. } => RosterError::Read {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Self, RosterError> {
        let file: RosterFile = toml::from_str(text).map_err(|e| RosterError::Read {
            path: String::new(),
            message: e.to_string(),
        })?;
        Self::from_members(file.members)
    }

    pub fn from_members(members: Vec<Member>) -> Result<Self, RosterError> {
        let mut keys = Vec::new();
        for m in &members {
            let bad = |message: String| RosterError::Member {
                origin: m.origin.clone(),
                message,
            };
            if members.iter().filter(|x| x.origin == m.origin).count() > 1 {
                return Err(bad("listed twice".into()));
            }
            if m.keys.is_empty() {
                return Err(bad("has no keys".into()));
            }
            for k in &m.keys {
                let bytes = hex::decode(k.public_key.trim())
                    .map_err(|_| bad("public_key is not hex".into()))?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| bad("public_key is not 32 bytes".into()))?;
                let vk = VerifyingKey::from_bytes(&arr)
                    .map_err(|_| bad("public_key is not an Ed25519 key".into()))?;
                keys.push(TrustedKey {
                    origin: m.origin.clone(),
                    key_id: prospectus_store::key_id(&vk),
                    key: vk,
                    from: k.valid_from.map(|t| t.timestamp_millis()),
                    until: k.valid_until.map(|t| t.timestamp_millis()),
                });
            }
        }
        Ok(Roster { members, keys })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn member(&self, origin: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.origin == origin)
    }

    /// The member whose TLS name is `name` (for mapping a client certificate to a borough).
    pub fn member_by_tls_name(&self, name: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.tls_name().eq_ignore_ascii_case(name))
    }
}

impl Trust for Roster {
    fn key_for(&self, origin: &str, key_id: &str, unix_millis: i64) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|k| {
                k.origin == origin
                    && k.key_id == key_id
                    && k.from.is_none_or(|f| unix_millis >= f)
                    && k.until.is_none_or(|u| unix_millis < u)
            })
            .map(|k| k.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_matched_by_origin_id_and_window() {
        let key = prospectus_store::NodeKey::generate();
        let text = format!(
            r#"
[[member]]
origin = "E09000028"
name = "Southwark"
endpoint = "https://node.southwark.example:7400"
[[member.keys]]
public_key = "{}"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2027-01-01T00:00:00Z"
"#,
            key.public_hex()
        );
        let r = Roster::parse(&text).unwrap();
        let in_window = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let after = chrono::DateTime::parse_from_rfc3339("2027-06-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert!(r.key_for("E09000028", key.key_id(), in_window).is_some());
        assert!(r.key_for("E09000028", key.key_id(), after).is_none());
        assert!(r.key_for("E09000001", key.key_id(), in_window).is_none());
        assert!(
            r.key_for("E09000028", "0000000000000000", in_window)
                .is_none()
        );
        assert_eq!(r.members()[0].tls_name(), "node.southwark.example");
    }

    #[test]
    fn a_bad_key_is_reported_with_its_member() {
        let e = Roster::parse("[[member]]\norigin='E09000001'\nname='x'\nendpoint='http://a:1'\n[[member.keys]]\npublic_key='zz'\n").unwrap_err();
        assert!(e.to_string().contains("E09000001"), "{e}");
    }
}
