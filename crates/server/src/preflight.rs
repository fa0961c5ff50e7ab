//! Start-up checks that name the admin's mistake. A node that would start and then fail
//! quietly at run time (peers refusing every entry as `unknown_key`, handshakes failing as
//! `transport error`) is worse than one that refuses to start: each check here runs before
//! the store, the admin token or anything else is written, and its error names the file, the
//! option and, for keys, what to paste into the roster.

use crate::config::NodeConfig;
use prospectus_federation::{KeyStanding, Roster};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("{option} {path}: file not found")]
    Missing { option: &'static str, path: String },
    #[error("{option} {path}: {message}")]
    Unreadable {
        option: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "{option} {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` \
         (and make it owned by the user the node runs as)"
    )]
    Exposed {
        option: &'static str,
        path: String,
        mode: u32,
    },
    #[error("borough {borough} is not in the roster {roster}: add a [[member]] for it")]
    NotInRoster { borough: String, roster: String },
    #[error(
        "the origin key {key_path} (key id {key_id}) is not listed for {borough} in the roster \
         {roster}; peers would refuse everything this node publishes. Paste under its \
         [[member]]:\n  [[member.keys]]\n  public_key = \"{public_hex}\"\n(or start with \
         --key pointing at the key the roster lists)"
    )]
    KeyNotInRoster {
        borough: String,
        roster: String,
        key_path: String,
        key_id: String,
        public_hex: String,
    },
    #[error(
        "the origin key {key_path} (key id {key_id}) is marked revoked = true for {borough} in \
         the roster {roster}: it must never sign again. Make a new key with `prospectus key \
         rotate --key {key_path}`, put the lines it prints into the roster, and start again"
    )]
    KeyRevoked {
        borough: String,
        roster: String,
        key_path: String,
        key_id: String,
    },
    #[error(
        "the origin key {key_path} (key id {key_id}) is outside its validity window for \
         {borough} in the roster {roster} ({why}); peers would refuse what it signs"
    )]
    KeyOutsideWindow {
        borough: String,
        roster: String,
        key_path: String,
        key_id: String,
        why: &'static str,
    },
    #[error("--tls-cert {path}: certificate expired on {when}")]
    CertExpired { path: String, when: String },
    #[error("--tls-cert {path}: certificate is not valid before {when}")]
    CertNotYetValid { path: String, when: String },
    #[error(
        "--tls-cert {path}: certificate names {presented}, but the roster's tls_name for \
         {borough} is {expected:?}; peers would refuse it"
    )]
    CertWrongName {
        path: String,
        presented: String,
        expected: String,
        borough: String,
    },
    #[error(
        "--tls-cert {path}: certificate lacks the clientAuth extended key usage, which \
         federation mutual TLS (--tls-client-ca) needs: the node's certificate is also its \
         client certificate when it connects to peers. Issue it with \
         extendedKeyUsage = serverAuth, clientAuth"
    )]
    CertNoClientAuth { path: String },
}

/// Every file the configuration names, checked for presence before anything is written.
pub fn check_files(cfg: &NodeConfig) -> Result<(), PreflightError> {
    let mut files: Vec<(&'static str, &PathBuf)> = Vec::new();
    if let Some(t) = &cfg.tls {
        files.push(("--tls-cert ([tls] cert)", &t.cert));
        files.push(("--tls-key ([tls] key)", &t.key));
        if let Some(ca) = &t.client_ca {
            files.push(("--tls-client-ca ([tls] client_ca)", ca));
        }
    }
    if let Some(ca) = &cfg.federation.ca {
        files.push(("--federation-ca ([federation] ca)", ca));
    }
    if let Some(r) = &cfg.federation.roster {
        files.push(("--roster ([federation] roster)", r));
    }
    for (option, path) in files {
        match std::fs::metadata(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PreflightError::Missing {
                    option,
                    path: path.display().to_string(),
                });
            }
            Err(e) => {
                return Err(PreflightError::Unreadable {
                    option,
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    if let Some(t) = &cfg.tls {
        private(&t.key, "--tls-key ([tls] key)")?;
    }
    Ok(())
}

/// A secret must not be readable by group or others.
fn private(path: &Path, option: &'static str) -> Result<(), PreflightError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| PreflightError::Unreadable {
                option,
                path: path.display().to_string(),
                message: e.to_string(),
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(PreflightError::Exposed {
                option,
                path: path.display().to_string(),
                mode: mode & 0o777,
            });
        }
    }
    let _ = (path, option);
    Ok(())
}

/// With a roster: this borough is a member, and the origin key is one of its keys, not
/// revoked and inside its validity window now.
pub fn check_roster(
    cfg: &NodeConfig,
    roster: &Roster,
    borough: &str,
    public_hex: &str,
    key_id: &str,
    now_millis: i64,
) -> Result<(), PreflightError> {
    let Some(roster_path) = &cfg.federation.roster else {
        return Ok(());
    };
    let roster_name = roster_path.display().to_string();
    let member = roster
        .member(borough)
        .ok_or_else(|| PreflightError::NotInRoster {
            borough: borough.to_string(),
            roster: roster_name.clone(),
        })?;
    let key_path = cfg.key_path().display().to_string();
    if !member
        .keys
        .iter()
        .any(|k| k.public_key.trim().eq_ignore_ascii_case(public_hex))
    {
        return Err(PreflightError::KeyNotInRoster {
            borough: borough.to_string(),
            roster: roster_name,
            key_path,
            key_id: key_id.to_string(),
            public_hex: public_hex.to_string(),
        });
    }
    let why = match roster.key_standing(borough, key_id, now_millis) {
        KeyStanding::Valid | KeyStanding::NotListed => return Ok(()),
        KeyStanding::Revoked => {
            return Err(PreflightError::KeyRevoked {
                borough: borough.to_string(),
                roster: roster_name,
                key_path,
                key_id: key_id.to_string(),
            });
        }
        KeyStanding::NotYetValid => "its valid_from is later than now",
        KeyStanding::Expired => "its valid_until has passed",
    };
    Err(PreflightError::KeyOutsideWindow {
        borough: borough.to_string(),
        roster: roster_name,
        key_path,
        key_id: key_id.to_string(),
        why,
    })
}

/// The node's own certificate: in date, named as the roster says, usable as a client
/// certificate when federation mutual TLS is on.
pub fn check_certificate(
    cfg: &NodeConfig,
    roster: &Roster,
    borough: &str,
    now_unix: i64,
) -> Result<(), PreflightError> {
    let Some(t) = &cfg.tls else {
        return Ok(());
    };
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let path = t.cert.display().to_string();
    let unreadable = |message: String| PreflightError::Unreadable {
        option: "--tls-cert ([tls] cert)",
        path: path.clone(),
        message,
    };
    let pem = std::fs::read(&t.cert).map_err(|e| unreadable(e.to_string()))?;
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| unreadable("no certificate in the file".into()))?
        .map_err(|e| unreadable(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| unreadable(format!("not an X.509 certificate: {e}")))?;
    let validity = cert.validity();
    if now_unix > validity.not_after.timestamp() {
        return Err(PreflightError::CertExpired {
            path,
            when: validity.not_after.to_string(),
        });
    }
    if now_unix < validity.not_before.timestamp() {
        return Err(PreflightError::CertNotYetValid {
            path,
            when: validity.not_before.to_string(),
        });
    }
    let names = cert_names(&cert);
    if let Some(m) = roster.member(borough)
        && cfg.federation.roster.is_some()
    {
        let expected = m.tls_name();
        if !names.iter().any(|n| name_matches(n, &expected)) {
            return Err(PreflightError::CertWrongName {
                path,
                presented: if names.is_empty() {
                    "no DNS or IP name".to_string()
                } else {
                    names.join(", ")
                },
                expected,
                borough: borough.to_string(),
            });
        }
    }
    if t.client_ca.is_some()
        && let Ok(Some(eku)) = cert.extended_key_usage()
        && !eku.value.any
        && !eku.value.client_auth
    {
        return Err(PreflightError::CertNoClientAuth { path });
    }
    Ok(())
}

/// DNS and IP subject alternative names (the subject CN is not a name to TLS clients).
fn cert_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::Ipv4Addr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::Ipv6Addr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// RFC 6125 matching as webpki does it: exact (case-insensitive), or a `*.` wildcard for one
/// left-most label.
fn name_matches(presented: &str, expected: &str) -> bool {
    if presented.eq_ignore_ascii_case(expected) {
        return true;
    }
    match (presented.strip_prefix("*."), expected.split_once('.')) {
        (Some(suffix), Some((label, rest))) => {
            !label.is_empty() && suffix.eq_ignore_ascii_case(rest)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn names_match_exactly_or_by_one_wildcard_label() {
        assert!(name_matches("a.example", "A.EXAMPLE"));
        assert!(name_matches("*.example", "a.example"));
        assert!(!name_matches("*.example", "a.b.example"));
        assert!(!name_matches("*.example", "example"));
        assert!(!name_matches("b.example", "a.example"));
    }
}
