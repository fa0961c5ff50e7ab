//! Start-up mistakes a borough admin makes, each refused by the real binary with a non-zero
//! exit and a message naming the file, option or key — before anything is written — and a
//! failed TLS handshake at run time logged at warn with its reason.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const TLS_NAME: &str = "southwark.prospectus.test";

/// A CA, an origin key listed in a roster for Southwark, and a way to run `serve`.
struct Setup {
    tmp: tempfile::TempDir,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    ca_pem: PathBuf,
    roster: PathBuf,
    key: PathBuf,
    public_hex: String,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        let ca_pem = tmp.path().join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let key = tmp.path().join("origin.key");
        let (k, _) = prospectus_server::NodeKey::load_or_create(&key).unwrap();
        let public_hex = k.public_hex();
        let roster = tmp.path().join("roster.toml");
        std::fs::write(
            &roster,
            format!(
                "[[member]]\norigin = \"{SOUTHWARK}\"\nname = \"Southwark\"\nendpoint = \"https://127.0.0.1:1\"\ntls_name = \"{TLS_NAME}\"\n[[member.keys]]\npublic_key = \"{public_hex}\"\n"
            ),
        )
        .unwrap();
        Setup {
            tmp,
            ca,
            ca_pem,
            roster,
            key,
            public_hex,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A certificate and its (private) key signed by the CA; `edit` adjusts the parameters.
    fn issue(
        &self,
        name: &str,
        edit: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p =
            rcgen::CertificateParams::new(vec![TLS_NAME.to_string(), "localhost".to_string()])
                .unwrap();
        edit(&mut p);
        let cert = p.signed_by(&key, &*self.ca).unwrap();
        let (c, k) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        write_secret(&k, key.serialize_pem().as_bytes());
        (c.display().to_string(), k.display().to_string())
    }

    /// `serve` with the roster and key, plus `extra`; returns (success, stderr, data dir).
    fn serve(&self, extra: &[&str]) -> (bool, String, PathBuf) {
        let data = self.path("data");
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--borough", SOUTHWARK])
            .arg("--data-dir")
            .arg(&data)
            .arg("--roster")
            .arg(&self.roster)
            .arg("--key")
            .arg(&self.key)
            .args(extra)
            .output()
            .expect("run prospectus");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            data,
        )
    }
}

fn nothing_written(data: &Path) -> bool {
    !data.join("admin-token").exists() && !data.join("db").exists()
}

#[test]
fn an_origin_key_the_roster_does_not_list_is_refused_with_the_lines_to_paste() {
    let s = Setup::new();
    let other = s.path("other.key");
    let (k, _) = prospectus_server::NodeKey::load_or_create(&other).unwrap();
    let data = s.path("data");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--borough", SOUTHWARK])
        .arg("--data-dir")
        .arg(&data)
        .arg("--roster")
        .arg(&s.roster)
        .arg("--key")
        .arg(&other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(k.key_id()), "names the key id: {err}");
    assert!(
        err.contains(&format!("public_key = \"{}\"", k.public_hex())),
        "prints what to paste: {err}"
    );
    assert!(err.contains("roster.toml"), "names the roster: {err}");
    assert!(nothing_written(&data), "{err}");
    // And the listed key starts (the check is not a blanket refusal).
    assert_ne!(k.public_hex(), s.public_hex);
}

#[test]
fn a_borough_missing_from_the_roster_is_refused() {
    let s = Setup::new();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--borough", "E09000025"])
        .arg("--data-dir")
        .arg(s.path("data"))
        .arg("--roster")
        .arg(&s.roster)
        .arg("--key")
        .arg(&s.key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("E09000025") && err.contains("not in the roster"),
        "{err}"
    );
}

#[test]
fn an_expired_certificate_is_refused_naming_its_expiry() {
    let s = Setup::new();
    let (c, k) = s.issue("old", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let (ok, err, data) = s.serve(&["--tls-cert", &c, "--tls-key", &k]);
    assert!(!ok);
    assert!(
        err.contains("--tls-cert") && err.contains("expired on") && err.contains("2021"),
        "{err}"
    );
    assert!(nothing_written(&data), "{err}");
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    let s = Setup::new();
    let (c, k) = s.issue("future", |p| {
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
        p.not_after = rcgen::date_time_ymd(2091, 1, 1);
    });
    let (ok, err, _) = s.serve(&["--tls-cert", &c, "--tls-key", &k]);
    assert!(!ok);
    assert!(
        err.contains("not valid before") && err.contains("2090"),
        "{err}"
    );
}

#[test]
fn a_certificate_for_another_name_than_the_rosters_tls_name_is_refused() {
    let s = Setup::new();
    let (c, k) = s.issue("wrong", |p| {
        p.subject_alt_names = vec![rcgen::SanType::DnsName(
            "lambeth.prospectus.test".try_into().unwrap(),
        )];
    });
    let (ok, err, _) = s.serve(&["--tls-cert", &c, "--tls-key", &k]);
    assert!(!ok);
    assert!(
        err.contains("lambeth.prospectus.test") && err.contains(TLS_NAME),
        "names both the presented and the expected name: {err}"
    );
}

#[test]
fn a_server_only_certificate_is_refused_when_federation_mtls_is_on() {
    let s = Setup::new();
    let (c, k) = s.issue("serveronly", |p| {
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    });
    let ca = s.ca_pem.display().to_string();
    let (ok, err, _) = s.serve(&["--tls-cert", &c, "--tls-key", &k, "--tls-client-ca", &ca]);
    assert!(!ok);
    assert!(err.contains("clientAuth"), "{err}");
    // The same certificate is fine without federation mTLS (clients only need serverAuth)...
    // and one with both usages is fine with it: the check is precise.
    let (c2, k2) = s.issue("both", |p| {
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
    });
    let node = Node::start_with(
        &s.path("ok"),
        SOUTHWARK,
        &[
            "--roster",
            s.roster.to_str().unwrap(),
            "--key",
            s.key.to_str().unwrap(),
            "--tls-cert",
            &c2,
            "--tls-key",
            &k2,
            "--tls-client-ca",
            &ca,
        ],
    );
    assert!(!node.addr.is_empty());
}

#[test]
fn a_missing_ca_file_is_refused_naming_the_option_before_anything_is_written() {
    let s = Setup::new();
    let (c, k) = s.issue("node", |_| {});
    let missing = s.path("no-such-ca.pem").display().to_string();
    let (ok, err, data) = s.serve(&[
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
        "--tls-client-ca",
        &missing,
    ]);
    assert!(!ok);
    assert!(
        err.contains("--tls-client-ca") && err.contains("no-such-ca.pem"),
        "{err}"
    );
    assert_eq!(
        err.matches("not found").count(),
        1,
        "the error is said once: {err}"
    );
    assert!(nothing_written(&data), "{err}");
    assert!(!data.exists(), "the data dir is not even created: {err}");
}

#[test]
fn a_tls_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new();
    let (c, k) = s.issue("node", |_| {});
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err, data) = s.serve(&["--tls-cert", &c, "--tls-key", &k]);
    assert!(!ok);
    assert!(
        err.contains("--tls-key") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(nothing_written(&data), "{err}");
}

#[test]
fn an_origin_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new();
    std::fs::set_permissions(&s.key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (ok, err, _) = s.serve(&[]);
    assert!(!ok);
    assert!(err.contains("origin.key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_presenting_an_expired_certificate_is_logged_at_warn_with_the_expiry() {
    let s = Setup::new();
    let (c, k) = s.issue("node", |_| {});
    let ca = s.ca_pem.display().to_string();
    let node = Node::start_with(
        &s.path("node"),
        SOUTHWARK,
        &["--tls-cert", &c, "--tls-key", &k, "--tls-client-ca", &ca],
    );
    let (pc, pk) = s.issue("expired-peer", |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 6, 30);
    });
    let port = node.addr.rsplit(':').next().unwrap();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(&s.ca_pem).unwrap(),
        ))
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(&pc).unwrap(),
            std::fs::read(&pk).unwrap(),
        ))
        .domain_name("localhost");
    let attempt = tonic::transport::Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = attempt {
        let r = prospectus_server::client::DirectoryClient::new(ch)
            .search(prospectus_proto::v1::SearchRequest::default())
            .await;
        assert!(
            r.is_err(),
            "an expired client certificate must not be accepted"
        );
    }
    let line = wait_for("a warn line naming the expired certificate", || {
        node.log()
            .lines()
            .find(|l| l.contains("WARN") && l.contains("TLS handshake failed"))
            .map(str::to_string)
    });
    assert!(line.to_lowercase().contains("expired"), "{line}");
}
