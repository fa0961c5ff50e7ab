//! The roster: the federation's members, their endpoints and the public keys that may sign
//! for each borough, with validity windows and revocation. A node accepts an entry only if its
//! origin and key are here, the key is not revoked, and the signature verifies.
//!
//! The roster is re-read while the node runs ([`SharedRoster`]): whoever verifies takes the
//! current one with [`SharedRoster::current`] and keeps that snapshot for the work in hand,
//! so a reload is never seen half-applied.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use prospectus_store::Trust;
use serde::Deserialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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
    /// A compromised key: nothing it signs is accepted, whatever time the entry claims
    /// (validity windows trust the signer's clock; revocation does not).
    #[serde(default)]
    pub revoked: bool,
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

/// Bounds on a roster (a local file, but every member becomes a link task, metric labels and
/// a key scan at each reload): London has 33 boroughs.
pub const MAX_ROSTER_BYTES: usize = 1 << 20;
pub const MAX_MEMBERS: usize = 256;
pub const MAX_KEYS_PER_MEMBER: usize = 16;

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
    revoked: bool,
}

/// A parsed roster with decoded keys.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    members: Vec<Member>,
    keys: Vec<TrustedKey>,
}

impl Roster {
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        Self::read(path).map(|(r, _)| r)
    }

    /// Loads the roster at `path`; also returns the text it was parsed from.
    pub fn read(path: &Path) -> Result<(Self, String), RosterError> {
        let text = std::fs::read_to_string(path).map_err(|e| RosterError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let roster = Self::parse(&text).map_err(|e| match e {
            RosterError::Read { message, .. } => RosterError::Read {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })?;
        Ok((roster, text))
    }

    pub fn parse(text: &str) -> Result<Self, RosterError> {
        if text.len() > MAX_ROSTER_BYTES {
            return Err(RosterError::Read {
                path: String::new(),
                message: format!(
                    "{} bytes; a roster is at most {MAX_ROSTER_BYTES} bytes",
                    text.len()
                ),
            });
        }
        let file: RosterFile = toml::from_str(text).map_err(|e| RosterError::Read {
            path: String::new(),
            message: e.to_string(),
        })?;
        Self::from_members(file.members)
    }

    pub fn from_members(members: Vec<Member>) -> Result<Self, RosterError> {
        if members.len() > MAX_MEMBERS {
            return Err(RosterError::Read {
                path: String::new(),
                message: format!(
                    "{} members; a roster lists at most {MAX_MEMBERS}",
                    members.len()
                ),
            });
        }
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
            if m.keys.len() > MAX_KEYS_PER_MEMBER {
                return Err(bad(format!(
                    "{} keys; at most {MAX_KEYS_PER_MEMBER} (retire old ones)",
                    m.keys.len()
                )));
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
                    revoked: k.revoked,
                });
            }
        }
        Ok(Roster { members, keys })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Number of keys listed, over all members.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of keys marked `revoked = true`.
    pub fn revoked_count(&self) -> usize {
        self.keys.iter().filter(|k| k.revoked).count()
    }

    /// Key ids of `origin`'s revoked keys.
    pub fn revoked_ids(&self, origin: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.revoked && k.origin == origin)
            .map(|k| k.key_id.clone())
            .collect()
    }

    /// How `origin`'s key `key_id` stands in this roster.
    pub fn key_standing(&self, origin: &str, key_id: &str, unix_millis: i64) -> KeyStanding {
        match self
            .keys
            .iter()
            .find(|k| k.origin == origin && k.key_id == key_id)
        {
            None => KeyStanding::NotListed,
            Some(k) if k.revoked => KeyStanding::Revoked,
            Some(k) if k.from.is_some_and(|f| unix_millis < f) => KeyStanding::NotYetValid,
            Some(k) if k.until.is_some_and(|u| unix_millis >= u) => KeyStanding::Expired,
            Some(_) => KeyStanding::Valid,
        }
    }

    /// Per origin with a revoked key: how many entries `store` holds that such a key signed.
    /// They were accepted while the key was trusted and are kept (see ARCHITECTURE.md); the
    /// count says how much the origin still has to re-sign by republishing.
    pub fn held_by_revoked(
        &self,
        store: &prospectus_store::Store,
    ) -> Result<Vec<(String, u64)>, prospectus_store::StoreError> {
        let mut out = Vec::new();
        for m in &self.members {
            let revoked = self.revoked_ids(&m.origin);
            if revoked.is_empty() {
                continue;
            }
            let mut n = 0u64;
            for item in store.log_after(&m.origin, 0, 0) {
                let (_, _, bytes) = item?;
                let (signed, _) = prospectus_store::open_entry(&bytes)?;
                if revoked.contains(&signed.key_id) {
                    n += 1;
                }
            }
            out.push((m.origin.clone(), n));
        }
        Ok(out)
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

/// Where a key stands in a roster at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStanding {
    Valid,
    NotListed,
    Revoked,
    NotYetValid,
    Expired,
}

impl Trust for Roster {
    fn key_for(&self, origin: &str, key_id: &str, unix_millis: i64) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|k| {
                k.origin == origin
                    && k.key_id == key_id
                    && !k.revoked
                    && k.from.is_none_or(|f| unix_millis >= f)
                    && k.until.is_none_or(|u| unix_millis < u)
            })
            .map(|k| k.key)
    }

    fn listed_key(&self, origin: &str, key_id: &str) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|k| k.origin == origin && k.key_id == key_id)
            .map(|k| k.key)
    }

    fn revoked(&self, origin: &str, key_id: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.revoked && k.origin == origin && k.key_id == key_id)
    }
}

/// The roster in force, replaceable while the node runs. A reader takes one snapshot
/// (`current`) and uses it whole; `replace` swaps in a fully parsed roster in one step.
#[derive(Debug, Default)]
pub struct SharedRoster {
    current: RwLock<Arc<Roster>>,
    generation: AtomicU64,
}

impl SharedRoster {
    pub fn new(roster: Roster) -> Self {
        SharedRoster {
            current: RwLock::new(Arc::new(roster)),
            generation: AtomicU64::new(0),
        }
    }

    /// The roster in force now.
    pub fn current(&self) -> Arc<Roster> {
        match self.current.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `roster` in force; returns the new generation (0 is the roster loaded at start).
    pub fn replace(&self, roster: Roster) -> u64 {
        let new = Arc::new(roster);
        match self.current.write() {
            Ok(mut r) => *r = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many times the roster was replaced since start.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_beyond_its_bounds_is_refused_whole() {
        let huge = "#".repeat(MAX_ROSTER_BYTES + 1);
        assert!(
            Roster::parse(&huge)
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
        let key = prospectus_store::NodeKey::generate();
        let member = |i: usize| {
            format!(
                "[[member]]\norigin = \"E0900{i:04}\"\nname = \"m{i}\"\nendpoint = \"https://m{i}.example:7400\"\n[[member.keys]]\npublic_key = \"{}\"\n",
                key.public_hex()
            )
        };
        let many: String = (0..=MAX_MEMBERS).map(member).collect();
        let err = Roster::parse(&many).unwrap_err().to_string();
        assert!(err.contains("at most 256"), "{err}");
        let keys: String = std::iter::once(member(0))
            .chain(
                (0..MAX_KEYS_PER_MEMBER)
                    .map(|_| format!("[[member.keys]]\npublic_key = \"{}\"\n", key.public_hex())),
            )
            .collect();
        let err = Roster::parse(&keys).unwrap_err().to_string();
        assert!(err.contains("at most 16"), "{err}");
    }

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
    fn a_revoked_key_is_refused_at_any_time_and_reported_as_revoked() {
        let key = prospectus_store::NodeKey::generate();
        let text = format!(
            "[[member]]\norigin='E09000028'\nname='S'\nendpoint='http://a:1'\n[[member.keys]]\npublic_key='{}'\nvalid_until='2030-01-01T00:00:00Z'\nrevoked=true\n",
            key.public_hex()
        );
        let r = Roster::parse(&text).unwrap();
        for t in [0, 1_700_000_000_000, i64::MAX] {
            assert!(r.key_for("E09000028", key.key_id(), t).is_none());
        }
        assert!(r.revoked("E09000028", key.key_id()));
        assert!(!r.revoked("E09000001", key.key_id()));
        assert_eq!(
            r.key_standing("E09000028", key.key_id(), 0),
            KeyStanding::Revoked
        );
        assert_eq!(r.revoked_count(), 1);
        let shared = SharedRoster::new(Roster::default());
        assert_eq!(shared.generation(), 0);
        assert_eq!(shared.replace(r), 1);
        assert_eq!(shared.current().key_count(), 1);
    }

    #[test]
    fn a_bad_key_is_reported_with_its_member() {
        let e = Roster::parse("[[member]]\norigin='E09000001'\nname='x'\nendpoint='http://a:1'\n[[member.keys]]\npublic_key='zz'\n").unwrap_err();
        assert!(e.to_string().contains("E09000001"), "{e}");
    }
}
