//! TLS on the API listeners with certificates made in the test (rcgen): gRPC from tonic,
//! from the CLI and from the Python grpcio client; HTTPS for /healthz and /metrics; mutual
//! TLS refusing clients without a certificate from the configured CA (and following a new CA
//! file after SIGHUP); SIGHUP reloading the certificate without dropping a TLS session or a
//! panel; and a non-loopback listener without TLS refusing to start.
#![allow(clippy::unwrap_used)]

mod auth_util;
mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alarmhub::proto::v1 as pb;
use alarmhub::proto::v1::alarm_hub_client::AlarmHubClient;
use auth_util::{bearer, rt, tls_channel, token, Pki};
use common::python::python;
use common::Daemon;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls_toml(pki: &Pki, extra: &str) -> String {
    format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n{extra}\n",
        pki.path("cert.pem").display(),
        pki.path("key.pem").display()
    )
}

/// A daemon with TLS and access control on, and an admin token made before it started.
fn start(pki: &Pki, tls_extra: &str) -> (Daemon, String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let t = token(&tmp.path().join("data"), "admin", "admin");
    let extra = format!("{}[auth]\nrequired = true\n", tls_toml(pki, tls_extra));
    let d = Daemon::start_in(tmp.path(), "", &extra, &[]);
    (d, t, tmp)
}

fn ca_pem(pki: &Pki) -> String {
    pki.ca.pem()
}

async fn list(ch: auth_util::Ch) -> Result<(), tonic::Status> {
    AlarmHubClient::new(ch)
        .list_machines(pb::ListMachinesRequest::default())
        .await
        .map(drop)
}

/// A raw TLS connection trusting the test CA: (the server's leaf certificate, the stream).
async fn tls_connect(
    addr: SocketAddr,
    ca: &str,
) -> (
    CertificateDer<'static>,
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Both: the gRPC port speaks only h2, the HTTP port only http/1.1.
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let leaf = s.get_ref().1.peer_certificates().unwrap()[0].clone();
    (leaf.into_owned(), s)
}

/// GET over HTTPS: (status, body).
async fn https_get(addr: SocketAddr, ca: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let (_, mut s) = tls_connect(addr, ca).await;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let resp = String::from_utf8_lossy(&resp).to_string();
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

#[test]
fn grpc_https_and_the_cli_work_over_tls_and_plain_text_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "ca");
    pki.write_server("server-1");
    let (d, t, _keep) = start(&pki, "");
    rt().block_on(async {
        let ch = tls_channel(d.grpc, &ca_pem(&pki), None, bearer(&t))
            .await
            .unwrap();
        list(ch).await.unwrap();
        let ch = tls_channel(d.grpc, &ca_pem(&pki), None, None)
            .await
            .unwrap();
        assert_eq!(
            list(ch).await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        // Plain text to a TLS port: the call fails, nothing is served.
        let plain = auth_util::channel(d.grpc, None, bearer(&t)).await;
        assert!(list(plain).await.is_err());
        assert_eq!(
            https_get(d.http, &ca_pem(&pki), "/healthz", None).await,
            (200, "ok\n".into())
        );
        assert_eq!(
            https_get(d.http, &ca_pem(&pki), "/metrics", None).await.0,
            401
        );
        assert_eq!(
            https_get(d.http, &ca_pem(&pki), "/metrics", Some(&t))
                .await
                .0,
            200
        );
    });
    let out = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["machines", "--grpc", &d.grpc.to_string(), "--ca"])
        .arg(pki.path("ca.pem"))
        .env("ALARMHUB_TOKEN", &t)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate_from_the_client_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "ca");
    pki.write_server("server");
    let clients = Pki::new(&tmp.path().join("clients"), "clients-ca");
    let strangers = Pki::new(&tmp.path().join("strangers"), "strangers-ca");
    let ca_line = format!(
        "client_ca = \"{}\"",
        clients.path("clients-ca.pem").display()
    );
    let (d, t, _keep) = start(&pki, &ca_line);
    rt().block_on(async {
        let ca = ca_pem(&pki);
        let refused = |r: Result<auth_util::Ch, tonic::transport::Error>| async move {
            match r {
                Err(_) => true,
                Ok(ch) => list(ch).await.is_err(),
            }
        };
        assert!(
            refused(tls_channel(d.grpc, &ca, None, bearer(&t)).await).await,
            "no client certificate"
        );
        let stranger = strangers.leaf("intruder", &[], true);
        assert!(
            refused(tls_channel(d.grpc, &ca, Some(stranger), bearer(&t)).await).await,
            "unknown CA"
        );
        let good = clients.leaf("app-server", &[], true);
        let ch = tls_channel(d.grpc, &ca, Some(good.clone()), bearer(&t))
            .await
            .unwrap();
        list(ch).await.unwrap();

        // The client CA file is replaced and SIGHUP sent: new handshakes are checked
        // against the new CA, the old one's clients are refused.
        #[cfg(unix)]
        {
            std::fs::copy(
                strangers.path("strangers-ca.pem"),
                clients.path("clients-ca.pem"),
            )
            .unwrap();
            common::unsafe_free_sighup(d.child.id());
            assert!(d
                .wait_log("TLS certificate reloaded", Duration::from_secs(10))
                .is_some());
            assert!(
                refused(tls_channel(d.grpc, &ca, Some(good), bearer(&t)).await).await,
                "a client of the replaced CA after SIGHUP"
            );
            let now_trusted = strangers.leaf("new-app-server", &[], true);
            let ch = tls_channel(d.grpc, &ca, Some(now_trusted), bearer(&t))
                .await
                .unwrap();
            list(ch).await.unwrap();
        }
    });
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate_without_dropping_tls_sessions_or_panels() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "ca");
    let first = pki.write_server("first");
    let (d, t, _keep) = start(&pki, "");
    // A Hengbo host reporting: its session must survive the reload.
    let mut host = d.host();
    host.report(1400, 0); // ACKed before the reload
    rt().block_on(async {
        let ca = ca_pem(&pki);
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(tls_connect(d.grpc, &ca).await.0, der(&first));
        let open = tls_channel(d.grpc, &ca, None, bearer(&t)).await.unwrap();
        list(open.clone()).await.unwrap();

        let second = pki.write_server("second");
        common::unsafe_free_sighup(d.child.id());
        assert!(d
            .wait_log("TLS certificate reloaded", Duration::from_secs(10))
            .is_some());
        assert_eq!(
            tls_connect(d.grpc, &ca).await.0,
            der(&second),
            "new handshakes get the new certificate"
        );
        assert_eq!(tls_connect(d.http, &ca).await.0, der(&second));
        list(open)
            .await
            .expect("the session opened before the reload still works");

        // A broken file on the next SIGHUP keeps the current certificate.
        std::fs::write(pki.path("key.pem"), "not a key").unwrap();
        common::unsafe_free_sighup(d.child.id());
        assert!(d
            .wait_log("not reloaded", Duration::from_secs(10))
            .is_some());
        assert_eq!(tls_connect(d.grpc, &ca).await.0, der(&second));
    });
    host.report(1400, 0); // ACKed on the same connection after SIGHUP
}

#[test]
fn a_non_loopback_api_listener_without_tls_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("alarmhub.toml");
    // 0.0.0.0:0 is never served: the check runs before anything binds.
    std::fs::write(
        &cfg,
        format!(
            "[panel]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[grpc]\nlisten = \"0.0.0.0:0\"\n[store]\ndata_dir = \"{}\"\n",
            tmp.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alarmhub"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("alarmhub kept running with an exposed plain-text listener");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(!err.contains("alarmhub ready"), "{err}");
    assert!(
        err.contains("grpc.listen = 0.0.0.0:0")
            && err.contains("--insecure")
            && err.contains("--tls-cert"),
        "{err}"
    );
}

#[test]
fn python_grpcio_client_polls_over_tls_with_a_token() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), "ca");
    pki.write_server("server");
    let (d, _admin, keep) = start(&pki, "");
    let viewer = token(&keep.path().join("data"), "php", "viewer");
    // The daemon reloads credentials within a second.
    std::thread::sleep(Duration::from_millis(2100));
    let ca = pki.path("ca.pem").display().to_string();
    let run = |token: Option<&str>| {
        let mut args = vec!["--wait-seconds", "0", "--ca", &ca];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        py.compat_client(d.grpc, &args)
    };
    let out = run(Some(&viewer));
    assert!(out.status.success(), "{out:?}");
    let first = &out.stdout;
    assert!(first.contains("\"changedMachineCount\": 0"), "{first}");
    // Anonymous compat calls from loopback are allowed by default, over TLS too.
    let out = run(None);
    assert!(out.status.success(), "{out:?}");
    let out = run(Some("ahk_wrong"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("UNAUTHENTICATED"), "{out:?}");
}
