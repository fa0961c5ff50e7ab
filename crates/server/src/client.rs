//! Connecting to a node as a client (the CLI, tests, benchmarks): one place that knows how a
//! URL, an optional CA file and a token become a tonic channel and request metadata.

use std::path::Path;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use prospectus_proto::v1::{
    admin_client::AdminClient, directory_client::DirectoryClient, publisher_client::PublisherClient,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("node URL {0:?} is not valid (expected http://host:port or https://host:port)")]
    BadUrl(String),
    #[error("CA file {path}: {source}")]
    Ca {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {url}: {source}{}", tls_hint(source))]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("token is not valid header text")]
    BadToken,
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
}

/// Connects to `url`; `https://` uses TLS, trusting `ca` if given, else the public web roots.
/// Plaintext `http://` is refused beyond loopback (see [`connect_with`]).
pub async fn connect(url: &str, ca: Option<&Path>) -> Result<Channel, ClientError> {
    connect_with(url, ca, false).await
}

/// [`connect`], allowing plaintext beyond loopback when `insecure_dev` (`--insecure-dev`). The
/// transport policy is checked before anything is resolved or connected.
pub async fn connect_with(
    url: &str,
    ca: Option<&Path>,
    insecure_dev: bool,
) -> Result<Channel, ClientError> {
    crate::transport::check_url(url, insecure_dev)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut ep =
        Endpoint::from_shared(url.to_string()).map_err(|_| ClientError::BadUrl(url.to_string()))?;
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|source| ClientError::Ca {
                path: ca.display().to_string(),
                source,
            })?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        ep = ep.tls_config(tls).map_err(|source| ClientError::Connect {
            url: url.to_string(),
            source,
        })?;
    }
    ep.connect().await.map_err(|source| ClientError::Connect {
        url: url.to_string(),
        source,
    })
}

/// Wraps `msg` in a request carrying `authorization: Bearer <token>`.
pub fn authorized<T>(msg: T, token: &str) -> Result<tonic::Request<T>, ClientError> {
    let mut req = tonic::Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {}", token.trim())
        .parse()
        .map_err(|_| ClientError::BadToken)?;
    req.metadata_mut().insert("authorization", v);
    Ok(req)
}

/// What to do about a TLS failure found anywhere in `e`'s chain ("" when it is not one): the
/// client's fix for an unknown issuer, the node admin's for an expired or misnamed certificate.
pub fn tls_hint(e: &(dyn std::error::Error + 'static)) -> &'static str {
    use rustls::{CertificateError as C, Error as R};
    let mut next = Some(e);
    while let Some(e) = next {
        // tokio-rustls wraps the rustls error in an io::Error, whose `source` skips it.
        let tls = e.downcast_ref::<R>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<R>())
        });
        if let Some(R::InvalidCertificate(c)) = tls {
            return match c {
                C::UnknownIssuer | C::BadSignature => {
                    " (the node's certificate is not signed by a CA this client trusts: pass the federation CA with --ca FILE)"
                }
                C::Expired | C::ExpiredContext { .. } => {
                    " (the node's certificate has expired, or this machine's clock is wrong: the node's admin must renew it)"
                }
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    " (the node's certificate is not valid yet: check this machine's clock)"
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    " (the node's certificate is not issued for this host name: connect with a name the certificate lists)"
                }
                _ => " (the node's certificate was refused)",
            };
        }
        next = e.source();
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::tls_hint;
    use rustls::{CertificateError, Error};

    /// As tokio-rustls reports them: the rustls error inside an io::Error.
    fn wrapped(c: CertificateError) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Error::InvalidCertificate(c),
        )
    }

    #[test]
    fn each_certificate_failure_names_its_fix() {
        assert!(tls_hint(&wrapped(CertificateError::UnknownIssuer)).contains("--ca"));
        assert!(tls_hint(&wrapped(CertificateError::Expired)).contains("expired"));
        assert!(tls_hint(&wrapped(CertificateError::NotValidForName)).contains("host name"));
        assert_eq!(tls_hint(&std::io::Error::other("connection refused")), "");
    }
}
