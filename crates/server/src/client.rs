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
    #[error("cannot connect to {url}: {source}")]
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
