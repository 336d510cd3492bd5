//! Access-control benchmark helper (used by `bench/grpc.sh`):
//! * `auth_bench certs DIR` writes a test CA and a server certificate for localhost /
//!   127.0.0.1 (`ca.pem`, `cert.pem`, `key.pem`), made with rcgen;
//! * `auth_bench connect --grpc ADDR [--ca FILE] [--token T] [--n N]` opens N fresh
//!   connections one after another, each followed by one `IsNeedSync`, and prints the
//!   latency of connect (+ TLS handshake) + first call as JSON (p50 / p99 / max, ms).
//!
//! Loopback only; bounded by N.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use alarmhub::proto::alarm_server::alarm_server_client::AlarmServerClient;
use alarmhub::proto::alarm_server::IsNeedSyncRequest;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn certs(dir: &str) {
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "alarmhub bench CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn connect_latency() {
    let grpc = arg("--grpc").unwrap();
    let n: usize = arg("--n").map_or(200, |s| s.parse().unwrap());
    let ca = arg("--ca").map(|f| std::fs::read(f).unwrap());
    let token = arg("--token");
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let mut ep = Endpoint::from_shared(if ca.is_some() {
            format!("https://{grpc}")
        } else {
            format!("http://{grpc}")
        })
        .unwrap();
        if let Some(ca) = &ca {
            ep = ep
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(ca))
                        .domain_name("localhost"),
                )
                .unwrap();
        }
        let ch = ep.connect().await.unwrap();
        let mut req = tonic::Request::new(IsNeedSyncRequest {
            empty: String::new(),
        });
        if let Some(t) = &token {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        AlarmServerClient::new(ch).is_need_sync(req).await.unwrap();
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({ "n": n, "p50_ms": pct(&ms, 0.5), "p99_ms": pct(&ms, 0.99), "max_ms": ms[ms.len() - 1] })
    );
}

#[tokio::main]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("certs") => certs(&std::env::args().nth(2).unwrap()),
        Some("connect") => connect_latency().await,
        _ => eprintln!("usage: auth_bench certs DIR | auth_bench connect --grpc ADDR [--ca FILE] [--token T] [--n N]"),
    }
}
