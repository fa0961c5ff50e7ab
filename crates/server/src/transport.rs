//! One rule for every connection this code opens (peer links, the CLI, benchmarks): plaintext
//! `http://` only to a loopback host, unless the operator passed `--insecure-dev`. Bearer
//! tokens and replicated entries must never cross a network in the clear by accident. The
//! check is a pure function of the URL, run before anything is resolved or connected.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("URL {0:?} is not valid (expected http://host:port or https://host:port)")]
    BadUrl(String),
    #[error(
        "refusing plaintext http:// to non-loopback host {host:?}: use https:// (TLS), or --insecure-dev for a local demo"
    )]
    Plaintext { host: String },
}

/// Whether `host` (as written in a URL authority, IPv6 in brackets or not) is loopback.
/// Names other than `localhost` are not resolved: a name is not loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks `url` against the transport policy: `https://` anywhere; `http://` to a loopback
/// host; `http://` elsewhere only with `insecure_dev`. Anything else is not a node URL.
pub fn check_url(url: &str, insecure_dev: bool) -> Result<(), TransportError> {
    let bad = || TransportError::BadUrl(url.chars().take(200).collect());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if insecure_dev || is_loopback_host(host) => Ok(()),
        Some("http") => Err(TransportError::Plaintext {
            host: host.chars().take(200).collect(),
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_allowed_to_loopback_only() {
        for ok in [
            "http://127.0.0.1:7400",
            "http://127.12.0.3:7400",
            "http://localhost:7400",
            "http://LOCALHOST",
            "http://[::1]:7400",
            "https://node.example:7400",
            "https://10.0.0.1:7400",
        ] {
            assert_eq!(check_url(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:7400",
            "http://node.example:7400",
            "http://0.0.0.0:7400",
            "http://[2001:db8::1]:7400",
            "http://localhost.example.com:7400",
            "http://127.0.0.1.example:7400",
        ] {
            assert!(
                matches!(
                    check_url(refused, false),
                    Err(TransportError::Plaintext { .. })
                ),
                "{refused}"
            );
            assert_eq!(
                check_url(refused, true),
                Ok(()),
                "--insecure-dev allows {refused}"
            );
        }
    }

    #[test]
    fn anything_but_http_and_https_is_not_a_node_url() {
        for bad in [
            "",
            "node.example:7400",
            "ftp://127.0.0.1",
            "http://",
            "/relative",
        ] {
            assert!(
                matches!(check_url(bad, true), Err(TransportError::BadUrl(_))),
                "{bad:?}"
            );
        }
    }
}
