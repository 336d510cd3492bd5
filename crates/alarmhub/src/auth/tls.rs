//! TLS for the API listeners (rustls with the ring provider): the certificate and key from
//! `[tls]`, optional client certificates checked against `client_ca` (mutual TLS), and a
//! certificate resolver whose key pair [`Tls::reload`] swaps on SIGHUP — new handshakes get
//! the new certificate (and are checked against the client CA file as it is now), sessions
//! already open continue untouched, and panel listeners never see any of it.
//!
//! A client certificate only proves the client machine; who the caller is (and its role)
//! still comes from its token, so with `client_ca` set a client needs both.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

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

/// The client certificate check, swappable on SIGHUP like the server's own certificate.
///
/// It names no acceptable CAs in the handshake (an empty hint list is allowed by TLS and
/// clients then offer the certificate they have), because the hint list would have to be
/// borrowed across a reload.
struct ClientCa {
    current: RwLock<Arc<dyn ClientCertVerifier>>,
}

impl fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientCa")
    }
}

impl ClientCa {
    fn now(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl ClientCertVerifier for ClientCa {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.now()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.now().supported_verify_schemes()
    }
}

fn load_client_ca(ca: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in read_certs("client_ca", ca)? {
        roots.add(c).map_err(|e| file_err("client_ca", ca, e))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| file_err("client_ca", ca, e))
}

/// TLS configuration of the running daemon.
pub struct Tls {
    paths: TlsConfig,
    resolver: Arc<Resolver>,
    client_ca: Option<Arc<ClientCa>>,
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
        let client_ca = match &cfg.client_ca {
            Some(ca) => Some(Arc::new(ClientCa {
                current: RwLock::new(load_client_ca(ca)?),
            })),
            None => None,
        };
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
            let builder = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let builder = match &client_ca {
                Some(v) => builder.with_client_cert_verifier(Arc::clone(v) as _),
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
            client_ca,
        })
    }

    /// Read the certificate, key and client CA again and use them for new handshakes. All
    /// files are read before anything is swapped: on any error the old ones all stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (Some(cert), Some(key)) = (&self.paths.cert, &self.paths.key) else {
            return Ok(());
        };
        let pair = load_key_pair(cert, key)?;
        let verifier = match (&self.paths.client_ca, &self.client_ca) {
            (Some(path), Some(slot)) => Some((load_client_ca(path)?, slot)),
            _ => None,
        };
        if let Some((v, slot)) = verifier {
            *slot.current.write().unwrap_or_else(|p| p.into_inner()) = v;
        }
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = pair;
        Ok(())
    }
}
