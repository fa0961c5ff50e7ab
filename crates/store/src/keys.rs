//! The node's Ed25519 origin key: created on first start, kept in a 0600 file, used to sign
//! every entry this borough originates. Verification lives here too so that signing and
//! checking can never disagree about which bytes are signed.
//!
//! `rotate` replaces the key in its file and records the replaced key's *public* half there
//! (`previous PUBLIC-HEX RETIRED-AT` lines after the secret), so the node still recognises its
//! own older entries — from its data dir, and when restoring from peers after a lost disk —
//! and the data dir created with the old key opens with the new one. Older binaries read the
//! first two words only.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const HEADER: &str = "prospectus-ed25519-secret-v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is not a prospectus key ({reason})")]
    Malformed { path: String, reason: &'static str },
    #[error("key file {path} has mode {mode:o}: readable by others; run `chmod 600 {path}`")]
    Permissions { path: String, mode: u32 },
    #[error(
        "key file {path} does not exist: nothing to rotate (create a key with `prospectus keygen`)"
    )]
    NoKeyToRotate { path: String },
}

/// A key this node signed with before a rotation: its public half and when it was retired.
#[derive(Debug, Clone)]
pub struct PreviousKey {
    pub public: VerifyingKey,
    pub key_id: String,
    /// Entries this key signed are this node's own up to here (millis, as the entry claims).
    pub retired_unix_millis: i64,
}

/// The secret key plus its public identity, and the public halves of the keys it replaced.
pub struct NodeKey {
    signing: SigningKey,
    key_id: String,
    previous: Vec<PreviousKey>,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.key_id)
    }
}

/// Short public id of a verifying key: hex of the first 8 bytes of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

impl NodeKey {
    pub fn generate() -> Self {
        Self::from_signing(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let key_id = key_id(&signing.verifying_key());
        NodeKey {
            signing,
            key_id,
            previous: Vec::new(),
        }
    }

    /// Replaces the key at `path` with a new one, keeping the old one's public half as a
    /// previous key retired at `retired_unix_millis`. The file is replaced atomically (a new
    /// 0600 file with the old one's owner, renamed over it). Returns `(new, old)`. A running node keeps signing with the
    /// key it loaded until it restarts.
    pub fn rotate(path: &Path, retired_unix_millis: i64) -> Result<(Self, Self), KeyError> {
        let p = path.display().to_string();
        if !path.exists() {
            return Err(KeyError::NoKeyToRotate { path: p });
        }
        let (old, _) = Self::load_or_create(path)?;
        let mut new = Self::generate();
        new.previous.push(PreviousKey {
            public: old.public(),
            key_id: old.key_id.clone(),
            retired_unix_millis,
        });
        new.previous.extend(old.previous.iter().cloned());
        let io = |source| KeyError::Io {
            path: p.clone(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".rotating");
        let tmp = std::path::PathBuf::from(tmp);
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        write_private(&tmp, new.to_file_text().as_bytes()).map_err(io)?;
        // The node's user must still own it when an admin rotates as root.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(path).map_err(io)?;
            std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid())).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok((new, old))
    }

    /// Loads the key at `path`, creating it (mode 0600) if absent. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        let p = path.display().to_string();
        let io = |source| KeyError::Io {
            path: p.clone(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path).map_err(|e| match e {
                    Ok(mode) => KeyError::Permissions {
                        path: p.clone(),
                        mode,
                    },
                    Err(source) => io(source),
                })?;
                Ok((Self::parse(&text, &p)?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, key.to_file_text().as_bytes()).map_err(io)?;
                Ok((key, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn parse(text: &str, path: &str) -> Result<Self, KeyError> {
        let bad = |reason| KeyError::Malformed {
            path: path.to_string(),
            reason,
        };
        let mut words = text.split_whitespace();
        if words.next() != Some(HEADER) {
            return Err(bad("missing header"));
        }
        let hex_seed = words.next().ok_or_else(|| bad("missing secret"))?;
        let bytes = hex::decode(hex_seed).map_err(|_| bad("secret is not hex"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("secret is not 32 bytes"))?;
        let mut key = Self::from_signing(SigningKey::from_bytes(&seed));
        while let Some(word) = words.next() {
            if word != "previous" {
                return Err(bad("unexpected text after the secret"));
            }
            let public = words
                .next()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .ok_or_else(|| bad("a previous key is not an Ed25519 public key"))?;
            let retired_unix_millis = words
                .next()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| bad("a previous key has no retirement time"))?;
            key.previous.push(PreviousKey {
                key_id: key_id(&public),
                public,
                retired_unix_millis,
            });
        }
        Ok(key)
    }

    fn to_file_text(&self) -> String {
        let mut text = format!("{HEADER} {}\n", hex::encode(self.signing.to_bytes()));
        for p in &self.previous {
            text.push_str(&format!(
                "previous {} {}\n",
                hex::encode(p.public.as_bytes()),
                p.retired_unix_millis
            ));
        }
        text
    }

    /// The keys this one replaced, newest first.
    pub fn previous(&self) -> &[PreviousKey] {
        &self.previous
    }

    /// The key with `key_id` that signed this node's own entry at (claimed) `unix_millis`:
    /// the current key, or a previous one up to its retirement.
    pub fn own_key(&self, key_id: &str, unix_millis: i64) -> Option<VerifyingKey> {
        if key_id == self.key_id {
            return Some(self.public());
        }
        self.previous
            .iter()
            .find(|p| p.key_id == key_id && unix_millis < p.retired_unix_millis)
            .map(|p| p.public)
    }

    /// True when `public_hex` is the public half of a key this one replaced.
    pub fn replaced(&self, public_hex: &str) -> bool {
        self.previous
            .iter()
            .any(|p| hex::encode(p.public.as_bytes()).eq_ignore_ascii_case(public_hex.trim()))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Public key as hex, the form a roster line carries.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public().as_bytes())
    }

    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        self.signing.sign(bytes).to_bytes().to_vec()
    }
}

/// Checks `signature` over exactly `bytes` with `public`.
pub fn verify(public: &VerifyingKey, bytes: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| public.verify(bytes, &s).is_ok())
}

/// Signatures checked per batch equation: big enough for the multiscalar speed-up, small
/// enough that a bad signature costs its batch's single re-checks only.
pub const VERIFY_BATCH: usize = 128;

/// Checks each `(public, bytes, signature)` like [`verify`], answering in order. Batches of
/// [`VERIFY_BATCH`] are checked with one Ed25519 batch equation each; a batch that fails is
/// checked again one signature at a time, so the answer names exactly the bad ones and is
/// what [`verify`] says of each. One thread; callers spread parts over cores.
pub fn verify_each(items: &[(VerifyingKey, &[u8], &[u8])]) -> Vec<bool> {
    let mut out = Vec::with_capacity(items.len());
    for batch in items.chunks(VERIFY_BATCH) {
        let sigs: Option<Vec<Signature>> = batch
            .iter()
            .map(|(_, _, sig)| Signature::from_slice(sig).ok())
            .collect();
        let all_good = sigs.is_some_and(|sigs| {
            let msgs: Vec<&[u8]> = batch.iter().map(|(_, m, _)| *m).collect();
            let keys: Vec<VerifyingKey> = batch.iter().map(|(k, _, _)| *k).collect();
            ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
        });
        if all_good {
            out.extend(std::iter::repeat_n(true, batch.len()));
        } else {
            out.extend(batch.iter().map(|(k, m, sig)| verify(k, m, sig)));
        }
    }
    out
}

/// Writes a file readable only by its owner, creating it with mode 0600 from the start so the
/// secret is never briefly world-readable.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `Err(Ok(mode))` when group/other can read the file.
fn check_private(path: &Path) -> Result<(), Result<u32, std::io::Error>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(Err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Ok(mode));
        }
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_key_file_names_the_keys_it_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("node.key");
        let (first, _) = NodeKey::load_or_create(&path).unwrap();
        let (second, old) = NodeKey::rotate(&path, 1_000).unwrap();
        assert_eq!(old.key_id(), first.key_id());
        let (third, _) = NodeKey::rotate(&path, 2_000).unwrap();
        let (loaded, created) = NodeKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(loaded.key_id(), third.key_id());
        let ids: Vec<&str> = loaded
            .previous()
            .iter()
            .map(|p| p.key_id.as_str())
            .collect();
        assert_eq!(ids, [second.key_id(), first.key_id()]);
        assert!(loaded.replaced(&first.public_hex()));
        assert!(loaded.own_key(first.key_id(), 999).is_some());
        assert!(loaded.own_key(first.key_id(), 1_000).is_none(), "retired");
        assert!(loaded.own_key(third.key_id(), i64::MAX).is_some());
        assert!(!loaded.replaced(&NodeKey::generate().public_hex()));
        assert!(matches!(
            NodeKey::rotate(&tmp.path().join("absent"), 0),
            Err(KeyError::NoKeyToRotate { .. })
        ));
    }

    #[test]
    fn a_data_dir_opens_with_its_rotated_key_and_keeps_its_tokens() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("node.key");
        let dir = tmp.path().join("data");
        let (key, _) = NodeKey::load_or_create(&path).unwrap();
        let token = {
            let store = crate::Store::open(&dir, "E09000028", key).unwrap();
            let provider = prospectus_model::Uuid::from_u128(7);
            store
                .create_token(crate::Scope::Provider(provider), "p")
                .unwrap()
                .0
        };
        let (new, _) = NodeKey::rotate(&path, i64::MAX).unwrap();
        let new_id = new.key_id().to_string();
        let store = crate::Store::open(&dir, "E09000028", new).unwrap();
        assert_eq!(store.key().key_id(), new_id);
        assert!(store.check_token(&token).unwrap().is_some(), "token kept");
        drop(store);
        let e = crate::Store::open(&dir, "E09000028", NodeKey::generate()).unwrap_err();
        assert!(matches!(e, crate::StoreError::WrongKey { .. }), "{e}");
    }

    /// Trusts nothing and revokes what it is told to: the node's own keys must carry it.
    struct Revoking(Option<String>);

    impl crate::Trust for Revoking {
        fn key_for(&self, _: &str, _: &str, _: i64) -> Option<VerifyingKey> {
            None
        }
        fn revoked(&self, _: &str, key_id: &str) -> bool {
            self.0.as_deref() == Some(key_id)
        }
    }

    #[test]
    fn after_a_rotation_the_old_keys_own_checkpoint_still_verifies_unless_revoked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("node.key");
        let (key, _) = NodeKey::load_or_create(&path).unwrap();
        let old_id = key.key_id().to_string();
        let checkpoint = {
            let store = crate::Store::open(&tmp.path().join("a"), "E09000028", key).unwrap();
            let p = prospectus_model::Provider {
                id: prospectus_model::Uuid::from_u128(1),
                name: "P".into(),
                ukprn: None,
                charity_number: None,
                description: None,
                email: None,
                phone: None,
                website: None,
                last_verified: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            };
            let change = crate::Change::Upsert(prospectus_model::Record::Provider(p));
            store
                .publish(&crate::Scope::Admin, None, &[change])
                .unwrap();
            store.origin_info("E09000028").unwrap().checkpoint
        };
        let (new, _) = NodeKey::rotate(&path, i64::MAX).unwrap();
        // A lost disk: an empty data dir with the rotated key, restoring from peers.
        let store = crate::Store::open(&tmp.path().join("b"), "E09000028", new).unwrap();
        assert!(
            store
                .verified_checkpoint(&Revoking(None), &checkpoint)
                .is_ok()
        );
        assert_eq!(
            store
                .verified_checkpoint(&Revoking(Some(old_id)), &checkpoint)
                .unwrap_err(),
            crate::Rejection::RevokedKey
        );
        // Revoked or not, the position was signed with a key of ours (the join gate moves
        // past it); a stranger's key signs nothing of ours.
        assert_eq!(store.own_signed_position(&checkpoint), Some((1, 1)));
        let stranger =
            crate::Store::open(&tmp.path().join("c"), "E09000028", NodeKey::generate()).unwrap();
        assert_eq!(stranger.own_signed_position(&checkpoint), None);
    }
}
