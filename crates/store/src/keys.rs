//! The node's Ed25519 origin key: created on first start, kept in a 0600 file, used to sign
//! every entry this borough originates. Verification lives here too so that signing and
//! checking can never disagree about which bytes are signed.

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
}

/// The secret key plus its public identity.
pub struct NodeKey {
    signing: SigningKey,
    key_id: String,
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
        NodeKey { signing, key_id }
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
        Ok(Self::from_signing(SigningKey::from_bytes(&seed)))
    }

    fn to_file_text(&self) -> String {
        format!("{HEADER} {}\n", hex::encode(self.signing.to_bytes()))
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
