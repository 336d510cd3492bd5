//! The MQTT client's options from `[mqtt]`: broker address, client id, credentials, the
//! bridge's last will, clean session, and TLS with the configured CA for `mqtts://`.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

use super::topics::Topics;
use crate::config::{parse_broker_url, MqttConfig};

/// Why the bridge cannot start (a configuration the validation could not fully check).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// The url does not parse.
    #[error("mqtt.url: {0}")]
    Url(String),
    /// The CA file cannot be used.
    #[error("mqtt.ca_file {path}: {message}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The client id: the configured one, else `alarmhub-<host name>` (one per node).
pub fn client_id(cfg: &MqttConfig) -> String {
    if let Some(id) = &cfg.client_id {
        return id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("alarmhub-{h}"),
        None => "alarmhub".to_string(),
    }
}

/// Client options for `cfg`.
pub fn build(cfg: &MqttConfig, topics: &Topics) -> Result<MqttOptions, OptionsError> {
    let url = parse_broker_url(&cfg.url).map_err(OptionsError::Url)?;
    let mut o = MqttOptions::new(client_id(cfg), url.host.clone(), url.port);
    o.set_keep_alive(Duration::from_secs(cfg.keep_alive_secs));
    // A clean session: the broker keeps nothing for us while we are away, so no stale
    // command is ever delivered on reconnect; what we publish is re-read from the log.
    o.set_clean_session(true);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_last_will(LastWill::new(
        topics.bridge_status(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &cfg.username {
        let pass = cfg.password.as_ref().map(|p| p.expose().to_string());
        o.set_credentials(user.clone(), pass.unwrap_or_default());
    }
    if url.tls {
        o.set_transport(Transport::tls_with_config(tls(cfg)?));
    }
    Ok(o)
}

fn tls(cfg: &MqttConfig) -> Result<TlsConfiguration, OptionsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &cfg.ca_file {
        let err = |message: String| OptionsError::Ca {
            path: path.display().to_string(),
            message,
        };
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
        for cert in certs {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(err("no certificate in the file".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OptionsError::Url(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}
