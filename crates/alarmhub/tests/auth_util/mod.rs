//! Helpers of the access-control tests: tokens made with the real CLI, gRPC channels that
//! send a token (optionally from a chosen loopback source address, so the failed-auth
//! limiter of one test does not spill into another), and certificates made with rcgen.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// `alarmhub ARGS…` to completion.
pub fn alarmhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(args)
        .output()
        .unwrap()
}

/// `alarmhub token create` on `data_dir`: the token from the last stdout line.
pub fn token(data_dir: &Path, name: &str, role: &str) -> String {
    let dir = data_dir.to_str().unwrap();
    let out = alarmhub(&[
        "token",
        "create",
        "--name",
        name,
        "--role",
        role,
        "--data-dir",
        dir,
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let t = stdout.lines().last().unwrap().trim().to_string();
    assert!(t.starts_with("ahk_"), "{stdout}");
    t
}

/// Adds `authorization` (when set) to every call.
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            r.metadata_mut().insert("authorization", v.parse().unwrap());
        }
        Ok(r)
    }
}

pub type Ch = InterceptedService<Channel, Bearer>;

/// A plain channel from `from` (a 127.0.0.x address) sending `authorization` verbatim.
pub async fn channel(addr: SocketAddr, from: Option<IpAddr>, authorization: Option<String>) -> Ch {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .local_address(from)
        .connect()
        .await
        .unwrap();
    InterceptedService::new(ch, Bearer(authorization))
}

/// `Bearer TOKEN`.
pub fn bearer(t: &str) -> Option<String> {
    Some(format!("Bearer {t}"))
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, as PEM files
/// in `dir`: `ca.pem`, `cert.pem`, `key.pem`. `tag` goes into the server certificate's
/// common name, so a reloaded certificate can be told apart.
pub struct Pki {
    pub ca: rcgen::Certificate,
    pub ca_issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub dir: std::path::PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, ca_name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key).unwrap();
        let ca_issuer = rcgen::Issuer::new(params, key);
        std::fs::create_dir_all(dir).unwrap();
        let pki = Pki {
            ca,
            ca_issuer,
            dir: dir.to_path_buf(),
        };
        std::fs::write(pki.path(&format!("{ca_name}.pem")), pki.ca.pem()).unwrap();
        pki
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    /// A leaf certificate signed by this CA: (cert PEM, key PEM).
    pub fn leaf(&self, cn: &str, sans: &[&str], client: bool) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.ca_issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Write a server certificate for localhost/127.0.0.1 as `cert.pem` + `key.pem`.
    pub fn write_server(&self, cn: &str) -> String {
        let (cert, key) = self.leaf(cn, &["localhost", "127.0.0.1"], false);
        std::fs::write(self.path("cert.pem"), &cert).unwrap();
        std::fs::write(self.path("key.pem"), key).unwrap();
        cert
    }
}

/// A TLS channel trusting `ca_pem`, optionally with a client identity.
pub async fn tls_channel(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<(String, String)>,
    authorization: Option<String>,
) -> Result<Ch, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(InterceptedService::new(ch, Bearer(authorization)))
}

/// Tokens made before the daemon starts (so it knows them from its first call), then the
/// daemon with `extra` config. Keep the `TempDir` alive as long as the daemon.
pub fn start_with_tokens(
    extra: &str,
    tokens: &[(&str, &str)],
) -> (super::common::Daemon, Vec<String>, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let made = tokens.iter().map(|(n, r)| token(&data, n, r)).collect();
    let d = super::common::Daemon::start_in(tmp.path(), "", extra, &[]);
    (d, made, tmp)
}
