//! TLS for the API listeners (rustls with the ring provider): the certificate and key from
//! `[tls]`, optional client certificates checked against `client_ca` (mutual TLS), and a
//! certificate resolver whose key pair [`Tls::reload`] swaps on SIGHUP — new handshakes get
//! the new certificate, sessions already open continue untouched, and panel listeners never
//! see any of it.
//!
//! A client certificate only proves the client machine; who the caller is (and its role)
//! still comes from its token, so with `client_ca` set a client needs both.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// Why TLS could not be set up, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("[tls] {what} {}: {message}", .path.display())]
    File {
        /// `cert`, `key` or `client_ca`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key material).
        message: String,
    },
    /// rustls refused the combination.
    #[error("[tls] {0}")]
    Config(String),
}

/// The swappable certificate.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver(****)")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// TLS configuration of the running daemon.
pub struct Tls {
    paths: TlsConfig,
    resolver: Arc<Resolver>,
    /// For the gRPC listener (ALPN h2).
    pub grpc: Arc<ServerConfig>,
    /// For the HTTP listener (ALPN http/1.1).
    pub http: Arc<ServerConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("paths", &self.paths).finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(what: &'static str, path: &Path, message: impl fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(what, path, e))?;
    if certs.is_empty() {
        return Err(file_err(what, path, "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

fn load_key_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_certs("cert", cert)?;
    // The key's parse error is reported without its content.
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err("key", key, format!("no usable private key ({e})")))?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| file_err("key", key, e))?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .map_err(|e| file_err("key", key, format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(ck))
}

impl Tls {
    /// Load the certificate, key and client CA named by `cfg` (which must be enabled).
    pub fn load(cfg: &TlsConfig) -> Result<Tls, TlsError> {
        let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else {
            return Err(TlsError::Config("cert and key are both needed".into()));
        };
        let resolver = Arc::new(Resolver {
            current: RwLock::new(load_key_pair(cert, key)?),
        });
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
            let builder = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let builder = match &cfg.client_ca {
                Some(ca) => {
                    let mut roots = RootCertStore::empty();
                    for c in read_certs("client_ca", ca)? {
                        roots.add(c).map_err(|e| file_err("client_ca", ca, e))?;
                    }
                    let v =
                        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                            .build()
                            .map_err(|e| file_err("client_ca", ca, e))?;
                    builder.with_client_cert_verifier(v)
                }
                None => builder.with_no_client_auth(),
            };
            let mut sc = builder.with_cert_resolver(Arc::clone(&resolver) as _);
            sc.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(sc))
        };
        Ok(Tls {
            grpc: build(&[b"h2"])?,
            http: build(&[b"http/1.1"])?,
            paths: cfg.clone(),
            resolver,
        })
    }

    /// Read the certificate and key again and use them for new handshakes. On error the
    /// old pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (Some(cert), Some(key)) = (&self.paths.cert, &self.paths.key) else {
            return Ok(());
        };
        let pair = load_key_pair(cert, key)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = pair;
        Ok(())
    }
}
